"""Issue 5's lifecycle: stop signals and timeouts, --init, restart policies,
healthchecks, exec, rename (skiff CLI and the docker CLI against skiffd)."""
from __future__ import annotations

import json
import signal
import tempfile
import time
from pathlib import Path

import pytest

from skiffd_harness import Skiffd

pytestmark = pytest.mark.e2e


def _wait_for(fn, timeout=20.0, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def test_stop_with_trap_exits_before_timeout(skiffd, busybox):
    cid = skiffd.cli("run", "-d", "busybox", "sh", "-c",
                     'trap "exit 7" TERM; while :; do sleep 1; done').stdout.strip()
    try:
        time.sleep(0.3)
        t0 = time.time()
        skiffd.cli("stop", "-t", "10", cid, check=True)
        assert time.time() - t0 < 5
        assert skiffd.cli("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "7"
    finally:
        skiffd.cli("rm", "-f", cid)


def test_stop_signal_option(skiffd, busybox):
    cid = skiffd.cli("run", "-d", "--stop-signal", "USR1", "busybox", "sh", "-c",
                     'trap "exit 9" USR1; while :; do sleep 1; done').stdout.strip()
    try:
        time.sleep(0.3)
        skiffd.cli("stop", cid, check=True)
        assert skiffd.cli("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "9"
    finally:
        skiffd.cli("rm", "-f", cid)


def test_init_reaps_orphaned_zombies(skiffd, busybox):
    # the child sh exits at once; its own child (sleep) is orphaned, then exits:
    # without a reaping PID 1 it would stay a zombie
    cid = skiffd.cli("run", "-d", "--init", "busybox", "sh", "-c",
                     "sh -c 'sleep 0.2 &' ; sleep 2; ps -o pid,stat,args; sleep 30").stdout.strip()
    try:
        out = _wait_for(lambda: "sleep 30" in skiffd.cli("logs", cid).stdout and skiffd.cli("logs", cid).stdout,
                        timeout=15)
        assert out, skiffd.cli("logs", cid).stdout
        rows = [l.split(None, 2) for l in out.strip().splitlines()[1:]]
        assert rows[0][2].startswith("/sbin/docker-init"), rows
        assert not [r for r in rows if r[1].startswith("Z")], rows
    finally:
        skiffd.cli("rm", "-f", cid)


def test_restart_on_failure_three_times(skiffd, busybox):
    cid = skiffd.cli("run", "-d", "--restart", "on-failure:3", "busybox", "sh", "-c",
                     "echo run; exit 1").stdout.strip()
    try:
        def done():
            r = skiffd.cli("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", cid).stdout.split()
            return r == ["3", "exited"] and r
        assert _wait_for(done, timeout=30), skiffd.cli("inspect", cid).stdout
        time.sleep(1.5)
        assert skiffd.cli("inspect", "-f", "{{.RestartCount}}", cid).stdout.strip() == "3"
        assert skiffd.cli("logs", cid).stdout.count("run") == 4
    finally:
        skiffd.cli("rm", "-f", cid)


def test_restart_always_survives_daemon_restart(registry):
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-always-")), registry, name="always")
    d.start()
    try:
        ref = f"{registry}/library/busybox"
        d.cli("pull", ref, check=True)
        a = d.cli("run", "-d", "--restart", "always", ref, "sleep", "300").stdout.strip()
        u = d.cli("run", "-d", "--restart", "unless-stopped", ref, "sleep", "300").stdout.strip()
        d.cli("stop", "-t", "1", u, check=True)
        pid = d.cli("inspect", "-f", "{{.State.Pid}}", a).stdout.strip()
        d.stop()
        # a host reboot in miniature: the container ends while no daemon runs
        import os
        os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.5)
        d.start()
        assert _wait_for(lambda: d.cli("inspect", "-f", "{{.State.Running}}", a).stdout.strip() == "true")
        assert d.cli("inspect", "-f", "{{.State.Running}}", u).stdout.strip() == "false"
        # a stopped always container is not restarted
        d.cli("stop", "-t", "1", a, check=True)
        time.sleep(1)
        assert d.cli("inspect", "-f", "{{.State.Running}}", a).stdout.strip() == "false"
    finally:
        d.destroy()


def test_healthcheck_states_and_events(skiffd, busybox):
    since = str(int(time.time()) - 1)
    cid = skiffd.cli("run", "-d", "--health-cmd", "test -e /tmp/ok", "--health-interval", "0.3s",
                     "--health-retries", "2", "busybox", "sleep", "60").stdout.strip()
    try:
        st = lambda: skiffd.cli("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip()
        assert st() in ("starting", "unhealthy")
        assert _wait_for(lambda: st() == "unhealthy", timeout=15), st()
        skiffd.cli("exec", cid, "touch", "/tmp/ok", check=True)
        assert _wait_for(lambda: st() == "healthy", timeout=15), st()
        assert "(healthy)" in skiffd.cli("ps", "--format", "{{.Status}}", "-f", f"id={cid}").stdout
        log = json.loads(skiffd.cli("inspect", "-f", "{{json .State.Health.Log}}", cid).stdout)
        assert log and log[-1]["ExitCode"] == 0 and len(log) <= 5
        ev = skiffd.docker("events", "--since", since, "--until", str(int(time.time()) + 1),
                           "--filter", f"container={cid}", "--format", "{{.Action}}").stdout
        assert "health_status: unhealthy" in ev and "health_status: healthy" in ev, ev
    finally:
        skiffd.cli("rm", "-f", cid)


def test_no_healthcheck_overrides_image(skiffd, busybox):
    cid = skiffd.cli("run", "-d", "--no-healthcheck", "busybox", "sleep", "30").stdout.strip()
    try:
        assert skiffd.cli("inspect", "-f", "{{json .State.Health}}", cid).stdout.strip() in ("null", "")
    finally:
        skiffd.cli("rm", "-f", cid)


@pytest.mark.parametrize("client", ["cli", "docker"])
def test_exec(skiffd, busybox, client):
    run = skiffd.cli if client == "cli" else skiffd.docker
    cid = run("run", "-d", "busybox", "sleep", "60").stdout.strip()
    try:
        r = run("exec", cid, "sh", "-c", "echo out; echo err >&2; exit 4")
        assert (r.returncode, r.stdout, r.stderr) == (4, "out\n", "err\n")
        r = run("exec", "-u", "app", "-w", "/tmp", "-e", "X=1", cid, "sh", "-c", "echo $(id -u) $(pwd) $X")
        assert r.stdout.strip() == "1000 /tmp 1", r.stdout + r.stderr
        r = run("exec", "-i", cid, "cat", input="piped\n")
        assert r.stdout == "piped\n"
        assert run("exec", cid, "nosuchcmd").returncode == 127
        assert run("exec", "-d", cid, "sleep", "3").returncode == 0
    finally:
        skiffd.cli("rm", "-f", cid)
    r = run("exec", cid, "true")
    assert r.returncode != 0


@pytest.mark.parametrize("client", ["cli", "docker"])
def test_rename_and_restart(skiffd, busybox, client):
    run = skiffd.cli if client == "cli" else skiffd.docker
    name = f"skifftest-rn-{client}"
    cid = run("run", "-d", "--name", name, "busybox", "sleep", "60").stdout.strip()
    try:
        assert run("rename", name, name + "2").returncode == 0
        assert skiffd.cli("inspect", "-f", "{{.Name}}", cid).stdout.strip() == "/" + name + "2"
        pid1 = skiffd.cli("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        assert run("restart", "-t", "1", cid).returncode == 0
        pid2 = skiffd.cli("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        assert pid1 != pid2 and skiffd.cli("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
    finally:
        skiffd.cli("rm", "-f", cid)


def test_logs_are_bounded_and_rotate(skiffd, busybox):
    import glob
    import os
    cid = skiffd.cli("run", "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
                     "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done").stdout.strip()
    try:
        skiffd.cli("wait", cid)
        path = skiffd.cli("inspect", "-f", "{{.LogPath}}", cid).stdout.strip()
        files = glob.glob(path + "*")
        assert 1 < len(files) <= 2, files
        assert all(os.path.getsize(f) <= 2048 + 200 for f in files), [os.path.getsize(f) for f in files]
        out = skiffd.cli("logs", cid).stdout.split()
        assert out[-1] == "line-399" and "line-0" not in out
        assert skiffd.cli("logs", "--tail", "2", cid).stdout.split() == ["line-398", "line-399"]
    finally:
        skiffd.cli("rm", "-f", cid)


@pytest.mark.slow
def test_default_log_cap_is_set(skiffd, busybox):
    """Without log-opts the json-file log rotates at 20 MiB (skiff's default cap)."""
    import glob
    import os
    cid = skiffd.cli("run", "-d", "busybox", "sh", "-c",
                     "awk 'BEGIN { s = sprintf(\"%15000s\", \"\"); gsub(/ /, \"a\", s); for (i = 0; i < 1550; i++) print s }'").stdout.strip()
    try:
        assert skiffd.cli("wait", cid, timeout=300).stdout.strip() == "0"
        path = skiffd.cli("inspect", "-f", "{{.LogPath}}", cid).stdout.strip()
        files = glob.glob(path + "*")
        assert len(files) == 2, files
        assert max(os.path.getsize(f) for f in files) <= (20 << 20) + 64 * 1024
    finally:
        skiffd.cli("rm", "-f", cid)
