"""containerd drives skiff-runtime as its runc (issue 3 acceptance): Debian's
containerd, started here with its own root, state and socket (CRI disabled),
imports the fixture busybox and runs it through ``ctr run --runc-binary
skiff-runtime``; containerd-shim-runc-v2 then calls create (--pid-file,
--log --log-format json), start, state, kill, delete, exec --process
--detach --pid-file, pause/resume, ps --format json, and reads metrics from
the cgroup. containerd is stopped by pid and its directories removed after."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path("/var/lib/skifftest-containerd")
STATE = Path("/run/skifftest-containerd")
SOCK = STATE / "containerd.sock"
NS = "skifftest"
IMAGE = "docker.io/library/busybox:latest"


def _runtime_binary() -> str:
    # the console script next to this interpreter (not a pyenv shim: the
    # shim re-resolves it through bash on every call)
    cand = Path(sys.executable).parent / "skiff-runtime"
    if cand.exists():
        return str(cand)
    found = shutil.which("skiff-runtime")
    if not found:
        pytest.skip("skiff-runtime is not installed")
    return found


def _umount_under(path: Path) -> None:
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f if line.split()[4].startswith(str(path))]
    for t in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", t], check=False)


@pytest.fixture(scope="module")
def containerd(fixtures_dir):
    if not shutil.which("containerd") or not shutil.which("ctr"):
        pytest.skip("containerd is not installed (apt-get install containerd)")
    for d in (ROOT, STATE):
        d.mkdir(parents=True, exist_ok=True)
    cfg = STATE / "config.toml"
    cfg.write_text(f'''version = 2
root = "{ROOT}"
state = "{STATE}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{SOCK}"
[ttrpc]
  address = "{SOCK}.ttrpc"
''')
    log = open(STATE / "containerd.log", "wb")
    proc = subprocess.Popen(["containerd", "--config", str(cfg)], stdout=log, stderr=log,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not SOCK.exists():
            assert proc.poll() is None, (STATE / "containerd.log").read_text()
            assert time.monotonic() < deadline, "containerd did not start"
            time.sleep(0.05)
        r = ctr("images", "import", str(fixtures_dir / "archives" / "busybox.docker.tar"))
        assert r.returncode == 0, r.stderr
        yield proc
    finally:
        ctr_ok = proc.poll() is None
        if ctr_ok:
            for line in ctr("tasks", "ls", "-q").stdout.split():
                ctr("tasks", "kill", "-s", "KILL", line)
                ctr("tasks", "rm", "-f", line)
            for line in ctr("containers", "ls", "-q").stdout.split():
                ctr("containers", "rm", line)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        _umount_under(STATE)
        _umount_under(ROOT)
        shutil.rmtree(STATE, ignore_errors=True)
        shutil.rmtree(ROOT, ignore_errors=True)
        for ctrl in os.listdir("/sys/fs/cgroup"):
            d = f"/sys/fs/cgroup/{ctrl}/{NS}"
            if os.path.isdir(d):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


def ctr(*args, timeout=60, input=None):
    return subprocess.run(["ctr", "-a", str(SOCK), "-n", NS, *args], capture_output=True,
                          text=True, timeout=timeout, input=input)


def _run(cid, *cmd, detach=False):
    args = ["run", "--runc-binary", _runtime_binary()]
    args += ["-d"] if detach else ["--rm"]
    return ctr(*args, IMAGE, cid, *cmd)


def _task_status(cid) -> str:
    for line in ctr("tasks", "ls").stdout.splitlines()[1:]:
        parts = line.split()
        if parts and parts[0] == cid:
            return parts[2]
    return ""


def test_run_output_and_exit_code(containerd):
    r = _run("skifftest-echo", "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"
    r = _run("skifftest-exit", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7, r.stderr
    assert "out" in r.stdout and "err" in r.stderr


def test_exec_failure_is_reported(containerd):
    r = _run("skifftest-nocmd", "/no/such/binary")
    assert r.returncode != 0
    assert "no such file or directory" in r.stderr, r.stderr


def test_task_lifecycle(containerd):
    cid = "skifftest-life"
    r = _run(cid, "sleep", "300", detach=True)
    assert r.returncode == 0, r.stderr
    try:
        assert _task_status(cid) == "RUNNING"
        # exec: a second process in every namespace of the container
        r = ctr("tasks", "exec", "--exec-id", "e1", cid, "sh", "-c",
                "echo in-exec; cat /proc/1/cmdline; echo; exit 3")
        assert r.returncode == 3, r.stderr
        assert r.stdout.startswith("in-exec\nsleep\x00300")
        # pause / resume through the freezer
        assert ctr("tasks", "pause", cid).returncode == 0
        assert _task_status(cid) == "PAUSED"
        assert ctr("tasks", "resume", cid).returncode == 0
        assert _task_status(cid) == "RUNNING"
        # metrics from the container's cgroup
        r = ctr("tasks", "metrics", cid)
        assert r.returncode == 0, r.stderr
        assert "memory.usage_in_bytes" in r.stdout and "pids.current" in r.stdout
        # ps: runc ps --format json
        r = ctr("tasks", "ps", cid)
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.strip().splitlines()) == 2
        # kill
        assert ctr("tasks", "kill", "-s", "KILL", cid).returncode == 0
        deadline = time.monotonic() + 10
        while _task_status(cid) != "STOPPED":
            assert time.monotonic() < deadline, ctr("tasks", "ls").stdout
            time.sleep(0.05)
    finally:
        ctr("tasks", "rm", "-f", cid)
        ctr("containers", "rm", cid)
    assert _task_status(cid) == ""
    # delete left nothing: no cgroup, no runtime state
    for ctrl in ("memory", "pids", "freezer"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctrl}/{NS}/{cid}"), ctrl
    assert not any(STATE.glob(f"**/{cid}/state.json"))


def test_run_with_terminal(containerd):
    # ctr run -t needs a terminal on its stdin: script(1) gives it one; the
    # shim hands skiff-runtime a --console-socket and receives the pty master
    if not shutil.which("script"):
        pytest.skip("script(1) is not installed")
    cmd = (f"ctr -a {SOCK} -n {NS} run -t --rm --runc-binary {_runtime_binary()} {IMAGE} "
           "skifftest-tty sh -c '[ -t 0 ] && [ -t 1 ] && echo tty-ok; tty; exit 4'")
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert "tty-ok" in r.stdout, r.stdout + r.stderr
    assert "/dev/pts/" in r.stdout or "/dev/console" in r.stdout, r.stdout
    assert r.returncode == 4, r.stdout + r.stderr


def test_exec_with_terminal(containerd):
    if not shutil.which("script"):
        pytest.skip("script(1) is not installed")
    cid = "skifftest-exectty"
    r = _run(cid, "sleep", "300", detach=True)
    assert r.returncode == 0, r.stderr
    try:
        cmd = (f"ctr -a {SOCK} -n {NS} tasks exec -t --exec-id t1 {cid} "
               "sh -c '[ -t 0 ] && echo exec-tty-ok; exit 5'")
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert "exec-tty-ok" in r.stdout, r.stdout + r.stderr
        assert r.returncode == 5
    finally:
        ctr("tasks", "kill", "-s", "KILL", cid)
        deadline = time.monotonic() + 10
        while _task_status(cid) not in ("STOPPED", "") and time.monotonic() < deadline:
            time.sleep(0.05)
        ctr("tasks", "rm", "-f", cid)
        ctr("containers", "rm", cid)
