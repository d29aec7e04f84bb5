"""Issue 2's acceptance, end to end: skiffd + the skiff CLI (and the docker
CLI) running real containers from the fixture registry."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

pytestmark = pytest.mark.e2e


def test_run_echo_hello(skiffd, registry):
    r = skiffd.cli("run", "--rm", f"{registry}/library/busybox", "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello\n"


def test_mirror_and_exit_code(skiffd, registry):
    # busybox means docker.io/library/busybox: fetched through the mirror 127.0.0.1:5000
    r = skiffd.cli("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert r.returncode == 3, r.stderr
    r = skiffd.cli("image", "inspect", "-f", "{{json .RepoTags}}", "busybox")
    assert "busybox:latest" in json.loads(r.stdout), r.stdout + r.stderr


def test_stdout_stderr_separate(skiffd, busybox):
    r = skiffd.cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")


def test_stdin_to_container(skiffd, busybox):
    data = "".join(f"line {i}\n" for i in range(20000))
    r = skiffd.cli("run", "--rm", "-i", "busybox", "wc", "-l", input=data)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "20000"


def test_isolation_seen_from_inside(skiffd, busybox):
    r = skiffd.cli("run", "--rm", "busybox", "ps", "-o", "pid,args")
    assert r.returncode == 0, r.stderr
    rows = [l.split(None, 1) for l in r.stdout.strip().splitlines()[1:]]
    assert rows[0] == ["1", "ps -o pid,args"], rows
    assert len(rows) == 1, rows  # no host process visible
    r = skiffd.cli("run", "--rm", "-h", "skifftest-host", "busybox", "hostname")
    assert r.stdout.strip() == "skifftest-host"
    r = skiffd.cli("run", "-d", "busybox", "sleep", "30")
    cid = r.stdout.strip()
    try:
        r = skiffd.cli("exec", cid, "hostname") if False else None
        out = skiffd.cli("logs", cid)
        assert out.returncode == 0
    finally:
        skiffd.cli("rm", "-f", cid)
    r = skiffd.cli("run", "--name", "skifftest-hn", "busybox", "hostname")
    cid = skiffd.cli("inspect", "-f", "{{.Id}}", "skifftest-hn").stdout.strip()
    assert r.stdout.strip() == cid[:12]
    skiffd.cli("rm", "skifftest-hn")
    r = skiffd.cli("run", "--rm", "--network", "none", "busybox", "ip", "link")
    names = [l.split(":")[1].strip() for l in r.stdout.splitlines() if l[:1].isdigit()]
    assert names == ["lo"], r.stdout
    r = skiffd.cli("run", "--name", "skifftest-cg", "busybox", "cat", "/proc/self/cgroup")
    cid = skiffd.cli("inspect", "-f", "{{.Id}}", "skifftest-cg").stdout.strip()
    skiffd.cli("rm", "skifftest-cg")
    assert f"{skiffd.cgroup_parent}/{cid}" in r.stdout, r.stdout


def test_dev_and_proc(skiffd, busybox):
    r = skiffd.cli("run", "--rm", "busybox", "ls", "/dev")
    for name in ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm"):
        assert name in r.stdout.split(), r.stdout
    r = skiffd.cli("run", "--rm", "busybox", "sh", "-c", "touch /sys/x 2>&1; echo $?")
    assert r.stdout.strip().endswith("1"), r.stdout
    r = skiffd.cli("run", "--rm", "busybox", "cat", "/etc/hostname", "/etc/hosts")
    assert "localhost" in r.stdout


def test_layered_image_tree(skiffd, registry, fixtures_dir, shared_dir):
    r = skiffd.cli("run", "--rm", f"{registry}/library/layered")
    assert (r.returncode, r.stdout) == (0, "hello v2\n"), r.stderr
    r = skiffd.cli("run", "-d", f"{registry}/library/layered", "sleep", "60")
    cid = r.stdout.strip()
    try:
        pid = skiffd.cli("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        chk = subprocess.run(["python3", str(shared_dir / "fixtures" / "check_tree.py"),
                              str(fixtures_dir / "expected" / "layered.json"), f"/proc/{pid}/root"],
                             capture_output=True, text=True)
        assert chk.returncode == 0, chk.stdout + chk.stderr
    finally:
        skiffd.cli("rm", "-f", cid)


def test_zstd_image_runs(skiffd, registry):
    r = skiffd.cli("run", "--rm", f"{registry}/library/busybox:zstd", "echo", "zstd ok")
    assert (r.returncode, r.stdout) == (0, "zstd ok\n"), r.stderr


def test_env_workdir_user_entrypoint(skiffd, busybox, registry):
    r = skiffd.cli("run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "app", "busybox",
                   "sh", "-c", "echo $A $(pwd) $(id -u):$(id -g)")
    assert r.stdout.strip() == "1 /tmp 1000:1000", r.stdout + r.stderr
    r = skiffd.cli("run", "--rm", "-u", "4242:4243", "busybox", "id")
    assert "uid=4242" in r.stdout and "gid=4243" in r.stdout, r.stdout
    r = skiffd.cli("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert r.stdout == "via entrypoint\n"
    r = skiffd.cli("run", "--rm", f"{registry}/library/layered", "sh", "-c", "echo $GREETING; pwd")
    assert r.stdout.split() == ["hello", "/app"]


def test_detached_logs_stop_kill_wait(skiffd, busybox):
    r = skiffd.cli("run", "-d", "busybox", "sh", "-c",
                   "trap 'echo got TERM; exit 42' TERM; echo started; while true; do sleep 0.1; done")
    cid = r.stdout.strip()
    assert len(cid) == 64, r.stdout + r.stderr
    try:
        for _ in range(50):
            if "started" in skiffd.cli("logs", cid).stdout:
                break
            time.sleep(0.1)
        assert skiffd.cli("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "running"
        assert cid[:12] in skiffd.cli("ps", "-q").stdout
        r = skiffd.cli("stop", "-t", "5", cid)
        assert r.returncode == 0, r.stderr
        assert skiffd.cli("wait", cid).stdout.strip() == "42"
        assert "got TERM" in skiffd.cli("logs", cid).stdout
        assert skiffd.cli("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "42"
    finally:
        skiffd.cli("rm", "-f", cid)
    # stop escalates to SIGKILL after the timeout
    cid = skiffd.cli("run", "-d", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done").stdout.strip()
    try:
        t0 = time.time()
        skiffd.cli("stop", "-t", "1", cid, check=True)
        assert time.time() - t0 < 15
        assert skiffd.cli("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "137"
    finally:
        skiffd.cli("rm", "-f", cid)


def test_docker_cli_basics(skiffd, busybox, registry):
    r = skiffd.docker("version", "--format", "{{.Server.APIVersion}}")
    assert r.returncode == 0 and r.stdout.strip() >= "1.44", r.stdout + r.stderr
    r = skiffd.docker("run", "--rm", "busybox", "echo", "hi from docker cli")
    assert (r.returncode, r.stdout) == (0, "hi from docker cli\n"), r.stderr
    r = skiffd.docker("run", "--name", "skifftest-dk", "busybox", "sh", "-c", "echo x; exit 5")
    assert r.returncode == 5
    assert skiffd.docker("logs", "skifftest-dk").stdout == "x\n"
    assert "skifftest-dk" in skiffd.docker("ps", "-a").stdout
    assert skiffd.docker("inspect", "-f", "{{.State.ExitCode}}", "skifftest-dk").stdout.strip() == "5"
    assert skiffd.docker("rm", "skifftest-dk").returncode == 0
    assert skiffd.docker("pull", f"{registry}/library/web").returncode == 0
    assert f"{registry}/library/web" in skiffd.docker("images").stdout
    assert skiffd.docker("rmi", f"{registry}/library/web").returncode == 0
    r = skiffd.docker("info", "--format", "{{.OSType}}")
    assert r.stdout.strip() == "linux", r.stdout + r.stderr


def test_api_basics(skiffd):
    import socket
    def get(path):
        s = socket.socket(socket.AF_UNIX)
        s.connect(skiffd.sock)
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return head.decode(), body
    head, body = get("/_ping")
    assert "Api-Version: 1.44" in head and body == b"OK"
    head, body = get("/v1.24/version")
    assert " 200 " in head.splitlines()[0] and json.loads(body)["ApiVersion"] == "1.44"
    head, body = get("/v1.44/no/such/endpoint")
    assert " 404 " in head.splitlines()[0] and "message" in json.loads(body)
    head, body = get("/v1.12/version")
    assert " 400 " in head.splitlines()[0]
