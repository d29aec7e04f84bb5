"""The skiff CLI against a REAL Docker daemon (which speaks the same Engine API).

Starts a private dockerd (data root /var/lib/skifftest-dockerd-pytest, socket
/run/skifftest-dockerd-pytest.sock, no bridge, no iptables), loads the fixture
busybox image with ``skiff load`` and drives it with ``skiff``; stops dockerd
by its pid and removes its directories at the end. Skipped when dockerd is not
installed (CI runs the same CLI against skiffd in tests/e2e)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "skifftest-dockerd-pytest"
DATA = Path(f"/var/lib/{NAME}")
EXEC = Path(f"/run/{NAME}")
SOCK = f"/run/{NAME}.sock"
PIDFILE = f"/run/{NAME}.pid"
HOST = f"unix://{SOCK}"


def _ping() -> bool:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        s.connect(SOCK)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        ok = s.recv(100).startswith(b"HTTP/1.1 200")
        s.close()
        return ok
    except OSError:
        return False


@pytest.fixture(scope="module")
def dockerd(fixtures_dir):
    if shutil.which("dockerd") is None:
        pytest.skip("dockerd is not installed")
    log = open(f"/tmp/{NAME}.log", "wb")
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(DATA), "--exec-root", str(EXEC), "-H", HOST, "--pidfile", PIDFILE,
         "--bridge=none", "--iptables=false", "--ip6tables=false"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while not _ping():
            if proc.poll() is not None or time.time() > deadline:
                pytest.skip("dockerd did not start: see /tmp/" + NAME + ".log")
            time.sleep(0.2)
        p = skiff("load", "-i", str(fixtures_dir / "archives" / "busybox.docker.tar"))
        assert p.returncode == 0, p.stderr
        assert "Loaded image: busybox:latest" in p.stdout
        yield HOST
    finally:
        # remove what the tests may have left, then stop dockerd by its pid
        if _ping():
            ids = skiff("ps", "-aq", "--filter", "name=skifftest").stdout.split()
            if ids:
                skiff("rm", "-f", *ids)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        subprocess.run(["umount", "-R", str(DATA)], stderr=subprocess.DEVNULL)
        shutil.rmtree(DATA, ignore_errors=True)
        shutil.rmtree(EXEC, ignore_errors=True)
        for f in (SOCK, PIDFILE, f"/tmp/{NAME}.log"):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass


def skiff(*args, input=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "skiff.cli", "-H", HOST, *args], input=input,
                          capture_output=True, text=isinstance(input, str) or input is None, timeout=timeout)


@pytest.fixture
def engine_bin(tmp_path, dockerd):
    """A `skiff` executable on PATH for the shared case scripts."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "skiff").write_text(f"#!/bin/sh\nexec {sys.executable} -m skiff.cli -H {HOST} \"$@\"\n")
    (d / "skiff").chmod(0o755)
    return d


def test_run_echo(dockerd):
    p = skiff("run", "--rm", "busybox", "echo", "hi")
    assert (p.returncode, p.stdout, p.stderr) == (0, "hi\n", "")
    p = skiff("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (p.returncode, p.stdout, p.stderr) == (5, "out\n", "err\n")


def test_case_009_exit_codes(dockerd, engine_bin, shared_dir, tmp_path):
    # the missing-image line goes to a loopback registry port instead of Docker Hub
    script = (shared_dir / "cases" / "009-run-exit-codes.sh").read_text()
    script = script.replace("busybox:no-such-tag-$$", "127.0.0.1:9/skifftest-nosuch:tag")
    (tmp_path / "009.sh").write_text(script)
    env = dict(os.environ, ENGINE="skiff", PATH=f"{engine_bin}:{os.environ['PATH']}")
    p = subprocess.run(["sh", str(tmp_path / "009.sh")], capture_output=True, text=True, env=env, timeout=300)
    assert p.stdout.strip().splitlines()[-1] == "PASS", p.stdout + p.stderr


def test_case_011_stdin_eof(dockerd, engine_bin, shared_dir):
    env = dict(os.environ, ENGINE="skiff", PATH=f"{engine_bin}:{os.environ['PATH']}")
    p = subprocess.run(["sh", str(shared_dir / "cases" / "011-stdin-eof-large-input.sh")],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.stdout.strip().splitlines()[-1] == "PASS", p.stdout + p.stderr


def test_case_017_memory_swap_inspect(dockerd):
    m = 67108864
    for flags, want in ((["-m", "64m"], f"{m} {2 * m}"), (["-m", "64m", "--memory-swap", "-1"], f"{m} -1"),
                        (["-m", "64m", "--memory-swap", "100m"], f"{m} 104857600")):
        p = skiff("create", "--name", "skifftest-017", *flags, "busybox", "true")
        assert p.returncode == 0, p.stderr
        assert len(p.stdout.strip()) == 64
        got = skiff("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "skifftest-017")
        skiff("rm", "skifftest-017")
        assert got.stdout.strip() == want
    p = skiff("run", "--rm", "-m", "64m", "--memory-swap", "32m", "busybox", "true")
    assert p.returncode == 125 and p.stderr.startswith("skiff: Error response from daemon: ")


def test_ps_logs_inspect_stop_rm(dockerd):
    p = skiff("run", "-d", "--name", "skifftest-ps", "-l", "k=v", "busybox",
              "sh", "-c", "echo out; echo err >&2; sleep 60")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    assert len(cid) == 64
    try:
        p = skiff("ps")
        lines = p.stdout.splitlines()
        assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        row = [ln for ln in lines if ln.startswith(cid[:12])]
        assert row and row[0].endswith("skifftest-ps") and " Up " in row[0]
        assert '"sh -c \'echo out; ec…"' in row[0]
        p = skiff("ps", "-q", "--no-trunc", "--filter", "name=skifftest-ps")
        assert p.stdout == cid + "\n"
        p = skiff("ps", "--filter", "label=k=v", "--format", "{{.Names}} {{.Label \"k\"}} {{.State}}")
        assert p.stdout == "skifftest-ps v running\n"
        for _ in range(50):
            p = skiff("logs", "skifftest-ps")
            if p.stdout and p.stderr:
                break
            time.sleep(0.1)
        assert (p.stdout, p.stderr) == ("out\n", "err\n")
        p = skiff("logs", "-t", "--tail", "1", "skifftest-ps")
        assert len((p.stdout + p.stderr).splitlines()) == 1
        p = skiff("inspect", "-f", "{{.State.Running}} {{.Name}} {{json .Config.Cmd}} {{index .Config.Labels \"k\"}}",
                  "skifftest-ps")
        assert p.stdout == 'true /skifftest-ps ["sh","-c","echo out; echo err >&2; sleep 60"] v\n'
        p = skiff("inspect", "skifftest-ps")
        assert p.stdout.startswith('[\n    {\n        "Id": "' + cid + '",\n')
        p = skiff("rm", "skifftest-ps")
        assert p.returncode == 1
        assert "cannot remove" in p.stderr.lower() or "stop the container" in p.stderr
        p = skiff("stop", "-t", "1", "skifftest-ps")
        assert (p.returncode, p.stdout) == (0, "skifftest-ps\n")
        p = skiff("wait", "skifftest-ps")
        assert p.stdout.strip() in ("137", "143")
        p = skiff("ps", "-a", "--filter", "name=skifftest-ps", "--format", "{{.Status}}")
        assert p.stdout.startswith("Exited (")
    finally:
        p = skiff("rm", "-f", "skifftest-ps", "skifftest-nosuch")
    assert p.returncode == 1
    assert p.stdout == "skifftest-ps\n"
    assert p.stderr.strip() == "Error response from daemon: No such container: skifftest-nosuch"


def test_images_tag_rmi_and_inspect_types(dockerd):
    p = skiff("images")
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(ln.split()[:2] == ["busybox", "latest"] and ln.endswith("MB") for ln in lines[1:])
    assert skiff("tag", "busybox", "skifftest/bb:v1").returncode == 0
    p = skiff("images", "skifftest/bb", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    bid = skiff("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    assert p.stdout == f"skifftest/bb:v1 {bid[7:19]}\n"
    p = skiff("inspect", "--type", "image", "-f", "{{.Config.Cmd}} {{.Os}}", "skifftest/bb:v1")
    assert p.stdout == "[sh] linux\n"
    p = skiff("rmi", "skifftest/bb:v1")
    assert (p.returncode, p.stdout) == (0, "Untagged: skifftest/bb:v1\n")
    p = skiff("inspect", "skifftest-nothing")
    assert (p.returncode, p.stdout, p.stderr) == (1, "[]\n", "Error: No such object: skifftest-nothing\n")


def test_create_start_attach_and_version(dockerd):
    p = skiff("create", "--name", "skifftest-sa", "busybox", "sh", "-c", "echo started; exit 4")
    assert p.returncode == 0
    try:
        p = skiff("start", "-a", "skifftest-sa")
        assert (p.returncode, p.stdout) == (4, "started\n")
        p = skiff("start", "skifftest-sa")
        assert (p.returncode, p.stdout) == (0, "skifftest-sa\n")
    finally:
        skiff("rm", "-f", "skifftest-sa")
    p = skiff("version")
    assert p.returncode == 0
    assert "\nServer:\n Engine:\n  Version:          " in p.stdout
    p = skiff("version", "-f", "{{.Server.Os}}")
    assert p.stdout == "linux\n"
    p = skiff("info", "-f", "{{.OSType}}")
    assert p.stdout == "linux\n"
