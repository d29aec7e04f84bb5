"""Pulls through Docker-Hub-style bearer-token auth (fixture `registry
start-auth`): anonymous pulls of library/*, credentials through the client's
config file (X-Registry-Auth), a wrong password is a clear error and exit 125."""
from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PORT = 5020


@pytest.fixture(scope="module")
def auth_registry(shared_dir, fixtures_dir):
    script = str(shared_dir / "fixtures" / "registry")
    env = dict(os.environ, REGISTRY_DIR=f"/tmp/skifftest-authreg-{PORT}")
    subprocess.run([script, "start-auth", str(PORT)], check=True, env=env, stdout=subprocess.DEVNULL)
    try:
        subprocess.run([script, "push", str(fixtures_dir), str(PORT)], check=True, stdout=subprocess.DEVNULL,
                       env=dict(env, REGISTRY_CREDS="tester:secret"))
        yield f"127.0.0.1:{PORT}"
    finally:
        subprocess.run([script, "stop", str(PORT)], env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", env["REGISTRY_DIR"]])


def _write_auth(skiffd, server: str, user: str, password: str) -> None:
    cfg = {"auths": {server: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    with open(os.path.join(skiffd.docker_config, "config.json"), "w") as f:
        json.dump(cfg, f)


def _clear_auth(skiffd) -> None:
    try:
        os.unlink(os.path.join(skiffd.docker_config, "config.json"))
    except FileNotFoundError:
        pass


def test_anonymous_pull_of_library(skiffd, auth_registry):
    _clear_auth(skiffd)
    r = skiffd.cli("run", "--rm", f"{auth_registry}/library/busybox", "echo", "anon ok")
    assert (r.returncode, r.stdout) == (0, "anon ok\n"), r.stderr
    skiffd.cli("rmi", f"{auth_registry}/library/busybox")


@pytest.mark.parametrize("client", ["cli", "docker"])
def test_wrong_password_is_clear_error(skiffd, auth_registry, client):
    skiffd.cli("rmi", "-f", f"{auth_registry}/library/web")
    _write_auth(skiffd, auth_registry, "tester", "wrong")
    try:
        run = skiffd.cli if client == "cli" else skiffd.docker
        r = run("run", "--rm", f"{auth_registry}/library/web", "true")
        assert r.returncode == 125, (r.stdout, r.stderr)
        assert "unauthorized" in r.stderr.lower() or "incorrect username or password" in r.stderr.lower(), r.stderr
    finally:
        _clear_auth(skiffd)


@pytest.mark.parametrize("client", ["cli", "docker"])
def test_right_password_pulls(skiffd, auth_registry, client):
    _write_auth(skiffd, auth_registry, "tester", "secret")
    try:
        run = skiffd.cli if client == "cli" else skiffd.docker
        r = run("pull", f"{auth_registry}/library/web")
        assert r.returncode == 0, r.stderr
        run("rmi", f"{auth_registry}/library/web")
    finally:
        _clear_auth(skiffd)


def test_login_logout_with_the_cli(skiffd, auth_registry, tmp_path):
    env_cfg = str(tmp_path / "skiffcfg")
    def cli(*args, input=None):
        import subprocess, sys
        return subprocess.run([sys.executable, "-m", "skiff.cli", "-H", skiffd.host, "--config", env_cfg, *args],
                              input=input, capture_output=True, text=True, env=skiffd.env(), timeout=60)
    r = cli("login", "-u", "tester", "--password-stdin", auth_registry, input="wrong\n")
    assert r.returncode == 1 and "incorrect username or password" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(env_cfg, "config.json"))
    r = cli("login", "-u", "tester", "--password-stdin", auth_registry, input="secret\n")
    assert (r.returncode, r.stdout.strip()) == (0, "Login Succeeded"), r.stderr
    assert os.stat(os.path.join(env_cfg, "config.json")).st_mode & 0o077 == 0
    skiffd.cli("rmi", "-f", f"{auth_registry}/library/web")
    assert cli("pull", f"{auth_registry}/library/web").returncode == 0
    r = cli("logout", auth_registry)
    assert r.stdout.strip() == f"Removing login credentials for {auth_registry}"
    skiffd.cli("rmi", "-f", f"{auth_registry}/library/web")
