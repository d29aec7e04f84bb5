"""docker-compose 1.29 (Debian's) against skiffd: a web service from the
fixture image and a client that fetches from it by service name (issue 5)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPOSE = """version: "3"
services:
  web:
    image: {registry}/library/web
  client:
    image: {registry}/library/busybox
    command: sh -c 'while true; do wget -qO- http://web/ && sleep 1; done'
    depends_on: [web]
"""


def test_compose_up_ps_logs_exec_down(skiffd, registry, tmp_path):
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed: .ci/run installs it (scripts/install.sh --test)")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.format(registry=registry))
    env = skiffd.env()

    def dc(*args, timeout=120):
        return subprocess.run(["docker-compose", "-p", "skifftestcompose", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)
    try:
        r = dc("up", "-d")
        assert r.returncode == 0, r.stderr
        r = dc("ps")
        rows = [l for l in r.stdout.splitlines() if l.startswith("skifftestcompose_")]
        assert len(rows) == 2 and all(" Up " in l or l.rstrip().endswith("Up") or " Up" in l for l in rows), r.stdout
        deadline = time.time() + 30
        logs = ""
        while time.time() < deadline:
            logs = dc("logs", "--no-color", "client").stdout
            if "hello from web" in logs:
                break
            time.sleep(0.5)
        assert "<h1>hello from web</h1>" in logs, logs
        r = dc("exec", "-T", "web", "cat", "/www/index.html")
        assert r.stdout.strip() == "<h1>hello from web</h1>", r.stderr
    finally:
        r = dc("down")
    assert r.returncode == 0, r.stderr
    assert "skifftestcompose" not in skiffd.cli("ps", "-a", "--format", "{{.Names}}").stdout
    assert "skifftestcompose_default" not in skiffd.cli("network", "ls", "--format", "{{.Name}}").stdout
