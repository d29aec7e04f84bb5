"""skiff-runtime's command line as runc's own integration suite drives it
(create/start/run/state/list/ps/kill/delete/exec/events/spec/help/version/
debug, tty and console socket, --pidfd-socket, exec --cgroup): flags, exit
codes, output formats and the error texts those tests look for. Busybox
bundles from test_runtime, edited the way the suite edits `runc spec`."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from test_runtime import _subreaper, bundle, busybox_tar, wait_exit  # noqa: F401

pytestmark = pytest.mark.integration

CG = "/sys/fs/cgroup"


def _cli(b, *args, check=True, input=None, env=None, pass_fds=(), cwd=None):
    argv = [sys.executable, "-m", "skiff.runtime.cli", "--root", str(b.root)]
    # files, not pipes: a detached init keeps the runtime's stdout/stderr open
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        r = subprocess.run(argv + list(args), stdout=out, stderr=err, text=True, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL, timeout=60,
                           env=env, pass_fds=pass_fds, cwd=cwd)
        out.seek(0)
        err.seek(0)
        r.stdout, r.stderr = out.read().decode(), err.read().decode()
    if check:
        assert r.returncode == 0, r.stderr
    return r


def _runc_spec(b):
    """`skiff-runtime spec` in the bundle, then loaded for edits (as the suite's setup)."""
    cfg = b.path / "config.json"
    if cfg.exists():
        cfg.unlink()
    _cli(b, "spec", "--bundle", str(b.path))
    b.spec = json.loads(cfg.read_text())
    return b.spec


def _reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


class _ConsoleSocket:
    """A recvtty stand-in: accepts pty masters and keeps (and drains) them."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.fds: list[int] = []
        self.received: list[bytes] = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
            self.received.append(msg)
            self.fds += fds
            conn.close()
            for fd in fds:
                threading.Thread(target=self._drain, args=(fd,), daemon=True).start()

    @staticmethod
    def _drain(fd):
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass

    def close(self):
        self.sock.close()


@pytest.fixture
def console(tmp_path):
    c = _ConsoleSocket(tmp_path / "tty.sock")
    yield c
    c.close()


def _run_d(b, console, *extra):
    b.write()
    _cli(b, "run", "-d", "--console-socket", console.path, *extra, b.id, cwd=str(b.path))
    st = json.loads(_cli(b, "state", b.id).stdout)
    assert st["status"] == "running"
    return st["pid"]


def _kill_and_wait(b, pid):
    _cli(b, "kill", b.id, "KILL")
    wait_exit(pid, reaped_ok=True)
    _reap()


def test_spec_is_runcs_and_terminal_bundle_runs(bundle, console):
    spec = _runc_spec(bundle)
    p = spec["process"]
    assert (p["terminal"], p["args"], spec["root"]["readonly"], spec["hostname"]) == (
        True, ["sh"], True, "runc")
    assert p["capabilities"]["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL",
                                             "CAP_NET_BIND_SERVICE"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    again = _cli(bundle, "spec", "--bundle", str(bundle.path), check=False)
    assert again.returncode == 1 and "exists. Remove it first" in again.stderr
    # devices "deny all" + terminal: the runtime adds runc's default device
    # rules (/dev/ptmx, /dev/pts/N, /dev/null...), else the console fails
    pid = _run_d(bundle, console)
    assert console.fds and console.received
    # exec -t: stdio is the new pty even when our stdin is not a tty
    r = _cli(bundle, "exec", "-t", bundle.id, "sh", "-c",
             "for f in /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; do readlink $f; done")
    assert re.fullmatch(r"(/dev/pts/\d+\n){3}", r.stdout), r.stdout
    r = _cli(bundle, "exec", "-t", bundle.id, "sh", "-c", "stat -c %u:%g $(tty)")
    assert r.stdout.strip() == "0:5"
    _kill_and_wait(bundle, pid)


def test_state_list_ps_formats(bundle, console):
    _runc_spec(bundle)
    pid = _run_d(bundle, console)
    st = _cli(bundle, "state", bundle.id).stdout
    assert list(json.loads(st)) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs",
                                    "created", "owner"]
    # list --format json is matched textually by runc's suite: compact, pid before status
    out = _cli(bundle, "list", "--format", "json").stdout.strip()
    assert out.startswith(f'[{{"ociVersion":"1.1.0","id":"{bundle.id}","pid":{pid},'
                          f'"status":"running","bundle":"{bundle.path}","rootfs":"'), out
    table = _cli(bundle, "list").stdout.splitlines()
    assert re.match(r"ID +PID +STATUS +BUNDLE +CREATED +OWNER$", table[0])
    assert re.match(rf"{bundle.id} +{pid} +running +{bundle.path} +\d{{4}}-.*Z +root$", table[1])
    assert _cli(bundle, "list", "-q").stdout == bundle.id + "\n"
    # ps: ps(1) -ef filtered to the container; options after the id are ps's
    ps = _cli(bundle, "ps", bundle.id).stdout.splitlines()
    assert re.match(r"UID +PID +PPID +C +STIME +TTY +TIME +CMD", ps[0])
    assert len(ps) == 2 and ps[1].split()[1] == str(pid) and ps[1].startswith("root")
    ps = _cli(bundle, "ps", bundle.id, "-e", "-x").stdout.splitlines()
    assert re.match(r" *PID +TTY +STAT +TIME +COMMAND", ps[0]) and ps[1].split()[0] == str(pid)
    assert json.loads(_cli(bundle, "ps", "-f", "json", bundle.id).stdout) == [pid]
    # stopped: kill fails with runc's text, kill -a does not, ps still works
    _kill_and_wait(bundle, pid)
    assert json.loads(_cli(bundle, "state", bundle.id).stdout)["status"] == "stopped"
    r = _cli(bundle, "kill", bundle.id, "0", check=False)
    assert r.returncode == 1 and "container not running" in r.stderr
    _cli(bundle, "kill", "-a", bundle.id, "0")
    assert _cli(bundle, "ps", bundle.id).stdout.startswith("UID")
    _cli(bundle, "delete", bundle.id)
    assert _cli(bundle, "state", bundle.id, check=False).returncode == 1
    assert _cli(bundle, "delete", "--force", "skifftest-notexists").returncode == 0


def test_help_version_and_unknown_command(bundle):
    for flag in ("-h", "--help"):
        lines = _cli(bundle, flag).stdout.splitlines()
        assert lines[0] == "NAME:" and re.search(r"runc - Open Container Initiative runtime",
                                                 lines[1])
    for cmd in ("checkpoint", "delete", "events", "exec", "kill", "list", "pause", "restore",
                "resume", "spec", "start", "run", "state", "update"):
        lines = _cli(bundle, cmd, "-h").stdout.splitlines()
        assert lines[0] == "NAME:" and lines[1].startswith(f"   runc {cmd} - "), (cmd, lines)
    r = _cli(bundle, "foo", "-h", check=False)
    assert r.returncode == 3 and "No help topic for 'foo'" in r.stderr
    v = _cli(bundle, "-v").stdout.splitlines()
    assert re.match(r"runc version \d+\.\d+\.\d+", v[0]) and v[1].startswith("commit:")
    assert re.match(r"spec: \d+\.\d+\.\d+", v[2])
    assert _cli(bundle, "--version").stdout.splitlines() == v
    r = _cli(bundle, "checkpoint", "x", check=False)
    assert r.returncode == 1 and "not supported" in r.stderr


def test_run_keep_preserve_fds_and_debug(bundle, tmp_path):
    spec = _runc_spec(bundle)
    spec["process"]["args"] = ["/bin/echo", "Hello World"]
    bundle.write()
    # terminal run without a console socket: the pty is proxied to our stdout
    r = _cli(bundle, "--debug", "run", bundle.id, cwd=str(bundle.path))
    assert r.stdout == "Hello World\n"  # ONLCR off, as runc's foreground tty: no "\r"
    for marker in ("nsexec container setup", "child process in init()",
                   "init: closing the pipe to signal completion"):
        assert re.search(rf'level=debug msg="{re.escape(marker)}"', r.stderr), r.stderr
    # a forked init's debug records never reach the container's output
    assert "level=debug" not in r.stdout
    log = tmp_path / "log.out"
    r = _cli(bundle, "--log", str(log), "--log-format", "json", "--debug", "run", bundle.id,
             cwd=str(bundle.path))
    assert "level=debug" not in r.stderr and '"level":"debug"' in log.read_text()
    assert _cli(bundle, "state", bundle.id, check=False).returncode == 1
    # --keep: left "stopped" (and its cgroup) for state/delete
    _cli(bundle, "run", "--keep", bundle.id, cwd=str(bundle.path))
    assert json.loads(_cli(bundle, "state", bundle.id).stdout)["status"] == "stopped"
    assert os.path.isdir(f"{CG}/pids/skiff/{bundle.id}")
    _cli(bundle, "delete", bundle.id)
    assert _cli(bundle, "state", bundle.id, check=False).returncode == 1
    # --preserve-fds with nothing inherited at fd 3
    r = _cli(bundle, "run", "--preserve-fds=1", bundle.id, check=False, cwd=str(bundle.path))
    assert r.returncode != 0 and "preserved-fd 0" in r.stderr


def test_exec_exit_codes_and_failures(bundle, console, tmp_path):
    _runc_spec(bundle)
    pid = _run_d(bundle, console)
    assert _cli(bundle, "exec", bundle.id, "false", check=False).returncode == 1
    assert _cli(bundle, "exec", bundle.id, "sh", "-c", "exit 42", check=False).returncode == 42
    r = _cli(bundle, "exec", "--pid-file", "/non-existent/directory", bundle.id, "sleep", "77",
             check=False)
    assert r.returncode == 255
    # the process of a failed exec command does not live on
    assert "sleep 77" not in _cli(bundle, "exec", bundle.id, "ps").stdout
    assert _cli(bundle, "exec", bundle.id, "no-such-binary", check=False).returncode == 255
    r = _cli(bundle, "exec", "skifftest-no-such-container", "true", check=False)
    assert r.returncode == 255 and "does not exist" in r.stderr
    r = _cli(bundle, "--debug", "exec", bundle.id, "true")
    assert 'level=debug msg="setns_init: about to exec"' in r.stderr
    # --preserve-fds=2 passes fds 3 and 4
    (tmp_path / "pf").write_text("hello\n")
    pf = tmp_path / "pf"
    out = subprocess.run(
        ["bash", "-c", 'exec 3<"$1" 4<"$1"; shift; exec "$@"', "bash", str(pf), sys.executable,
         "-m", "skiff.runtime.cli", "--root", str(bundle.root), "exec", "--preserve-fds=2",
         bundle.id, "cat", "/proc/self/fd/4"],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    assert out.returncode == 0 and out.stdout == b"hello\n", out.stderr
    # --exec-wait-fifo path checks
    notfifo = tmp_path / "not-a-fifo"
    notfifo.write_text("")
    r = _cli(bundle, "exec", "--exec-wait-fifo", str(notfifo), bundle.id, "true", check=False)
    assert r.returncode != 0 and "is not a fifo" in r.stderr
    r = _cli(bundle, "exec", "--exec-wait-fifo", str(tmp_path / "nope.fifo"), bundle.id, "true",
             check=False)
    assert r.returncode != 0 and "failed to open exec wait fifo" in r.stderr
    _kill_and_wait(bundle, pid)


def test_kill_host_pidns_and_created_term(bundle, console):
    spec = _runc_spec(bundle)
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "pid"]
    pid = _run_d(bundle, console)
    for _ in range(3):
        _cli(bundle, "exec", "-d", bundle.id, "sleep", "1h")
    procs = f"{CG}/pids/skiff/{bundle.id}/cgroup.procs"
    with open(procs) as f:
        pids = [int(x) for x in f.read().split()]
    assert len(pids) == 4
    os.kill(pid, signal.SIGKILL)  # the init gone, its siblings live on
    wait_exit(pid, reaped_ok=True)
    assert json.loads(_cli(bundle, "state", bundle.id).stdout)["status"] == "stopped"
    _cli(bundle, "kill", bundle.id, "KILL")  # reaches every process of the cgroup
    with open(procs) as f:
        assert f.read().split() == []
    _reap()
    _cli(bundle, "delete", bundle.id)
    # a created container dies on TERM (runc's init is Go until start)
    spec = _runc_spec(bundle)
    spec["process"]["args"] = ["/bin/sleep", "1d"]
    bundle.write()
    _cli(bundle, "create", "--console-socket", console.path, "--pid-file",
         str(bundle.path / "pid"), bundle.id, cwd=str(bundle.path))
    pid = int((bundle.path / "pid").read_text())
    assert json.loads(_cli(bundle, "state", bundle.id).stdout)["status"] == "created"
    _cli(bundle, "kill", bundle.id, "TERM")
    wait_exit(pid, reaped_ok=True)
    assert json.loads(_cli(bundle, "state", bundle.id).stdout)["status"] == "stopped"
    _cli(bundle, "delete", bundle.id)


def test_events_compact_lines_until_deleted(bundle, console):
    _runc_spec(bundle)
    pid = _run_d(bundle, console)
    line = _cli(bundle, "events", "--stats", bundle.id).stdout.splitlines()[0]
    assert line.startswith(f'{{"type":"stats","id":"{bundle.id}",') and '"data"' in line
    ev = subprocess.Popen([sys.executable, "-m", "skiff.runtime.cli", "--root", str(bundle.root),
                           "events", "--interval", "100ms", bundle.id],
                          stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    first = ev.stdout.readline()
    assert first.startswith(f'{{"type":"stats","id":"{bundle.id}",')
    _cli(bundle, "delete", "-f", bundle.id)
    assert ev.wait(timeout=10) == 0  # it ends with the container
    ev.stdout.close()
    wait_exit(pid, reaped_ok=True)


@pytest.mark.skipif(not os.path.isfile(f"{CG}/cpu/cgroup.procs"), reason="needs cgroup v1 cpu")
def test_exec_sub_cgroups_v1(bundle, console):
    spec = _runc_spec(bundle)
    spec["mounts"] = [dict(m, options=[o for o in m.get("options", []) if o != "ro"])
                      if m["type"] == "cgroup" else m for m in spec["mounts"]]
    pid = _run_d(bundle, console)
    rel = f"/skiff/{bundle.id}"
    for bad in ("..", f"../{bundle.id}-sibling", "cpu:../x"):
        r = _cli(bundle, "exec", "--cgroup", bad, bundle.id, "true", check=False)
        assert r.returncode == 255 and "bad sub cgroup path" in r.stderr, r.stderr
    for missing in ("nonexistent", "cpu:nonexistent"):
        r = _cli(bundle, "exec", "--cgroup", missing, bundle.id, "true", check=False)
        assert re.search(r" adding pid .*o such file or directory", r.stderr), r.stderr
    r = _cli(bundle, "exec", "--cgroup", "whaaat:/", bundle.id, "true", check=False)
    assert "unknown controller " in r.stderr
    for extra in ((), ("--cgroup", "/")):
        out = _cli(bundle, "exec", *extra, bundle.id, "cat", "/proc/self/cgroup").stdout
        assert all(line.endswith(":" + rel) for line in out.splitlines()), out
    _cli(bundle, "exec", bundle.id, "sh", "-euc", "mkdir -p /sys/fs/cgroup/memory/submem "
         "/sys/fs/cgroup/cpu/subcpu /sys/fs/cgroup/cpuacct/subcpu")
    out = _cli(bundle, "exec", "--cgroup", "memory:submem", "--cgroup", "cpu,cpuacct:subcpu",
               bundle.id, "cat", "/proc/self/cgroup").stdout
    assert f":memory:{rel}/submem" in out and re.search(rf":cpu[^:]*:{rel}/subcpu", out)
    _cli(bundle, "delete", "--force", bundle.id)
    wait_exit(pid, reaped_ok=True)
    assert not os.path.exists(f"{CG}/memory{rel}")


def test_pidfd_socket(bundle, console, tmp_path):
    spec = _runc_spec(bundle)
    spec["process"]["args"] = ["/bin/sleep", "1d"]
    path = str(tmp_path / "pidfd.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def accept():
        conn, _ = srv.accept()
        got["msg"], got["fds"], _, _ = socket.recv_fds(conn, 4096, 1)
        conn.close()
    t = threading.Thread(target=accept)
    t.start()
    pid = _run_d(bundle, console, "--pidfd-socket", path)
    t.join(10)
    srv.close()
    assert len(got["fds"]) == 1
    signal.pidfd_send_signal(got["fds"][0], signal.SIGKILL)
    os.close(got["fds"][0])
    wait_exit(pid, reaped_ok=True)
    deadline = time.monotonic() + 5
    while json.loads(_cli(bundle, "state", bundle.id).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _cli(bundle, "delete", bundle.id)


@pytest.mark.skipif(not os.path.exists("/usr/bin/script"), reason="needs script(1)")
def test_terminal_run_gets_our_window_size(bundle):
    spec = _runc_spec(bundle)
    spec["process"]["args"] = ["sh", "-c", "stty -a | head -1"]
    bundle.write()
    cmd = (f"stty rows 33 cols 99; {sys.executable} -m skiff.runtime.cli --root {bundle.root} "
           f"run {bundle.id}")
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60, cwd=str(bundle.path))
    assert r.returncode == 0 and "rows 33; columns 99" in r.stdout, (r.stdout, r.stderr)
    # exec -t: the new pty starts with our size too
    spec["process"]["args"] = ["sleep", "100"]
    bundle.write()
    with tempfile.TemporaryDirectory() as d:
        c = _ConsoleSocket(os.path.join(d, "tty.sock"))
        _cli(bundle, "run", "-d", "--console-socket", c.path, bundle.id, cwd=str(bundle.path))
        pid = json.loads(_cli(bundle, "state", bundle.id).stdout)["pid"]
        cmd = (f"stty rows 21 cols 77; {sys.executable} -m skiff.runtime.cli --root {bundle.root} "
               f"exec -t {bundle.id} stty -a")
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "rows 21; columns 77" in r.stdout, (r.stdout, r.stderr)
        _kill_and_wait(bundle, pid)
        c.close()


def test_device_rules_poststart_and_update_texts(bundle, console, tmp_path):
    # linux.devices gets no cgroup rule of its own (runc's createDevices): a
    # device denied in resources.devices stays denied
    spec = _runc_spec(bundle)
    spec["linux"]["resources"]["devices"].append(
        {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwm"})
    spec["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
    pid = _run_d(bundle, console)
    rules = open(f"{CG}/devices/skiff/{bundle.id}/devices.list").read().split("\n")
    assert "c 1:11 rwm" not in rules and "c 1:3 rwm" in rules and "c 5:2 rwm" in rules
    # update: runc's flag names and Go's parse errors, before anything is changed
    _cli(bundle, "update", "--cpu-share", "200", bundle.id)
    assert open(f"{CG}/cpu/skiff/{bundle.id}/cpu.shares").read().strip() == "200"
    r = _cli(bundle, "update", "--cpu-period", "-1", bundle.id, check=False)
    assert r.returncode == 1 and 'invalid value for cpu-period: strconv.ParseUint: parsing "-1"' \
        in r.stderr
    r = _cli(bundle, "update", "--memory", "10X", bundle.id, check=False)
    assert "invalid value for memory: invalid size: '10X'" in r.stderr
    _kill_and_wait(bundle, pid)
    r = _cli(bundle, "update", "--cpu-share", "300", bundle.id, check=False)
    assert r.returncode == 1 and "container not running" in r.stderr
    _cli(bundle, "delete", bundle.id)
    # a failing poststart hook fails `run` (runc), the process does not live on
    spec = _runc_spec(bundle)
    spec["process"].update(terminal=False, args=["sleep", "100"])
    spec["hooks"] = {"poststart": [{"path": "/bin/true"}, {"path": "/bin/false"}]}
    bundle.write()
    r = _cli(bundle, "run", bundle.id, check=False, cwd=str(bundle.path))
    assert r.returncode == 1 and "error running poststart hook #1:" in r.stderr, r.stderr
    assert _cli(bundle, "state", bundle.id, check=False).returncode == 1
    _reap()


def test_relative_cgroups_path_found_from_another_cgroup(bundle, console):
    spec = _runc_spec(bundle)
    spec["linux"]["cgroupsPath"] = f"skifftest-rel-{os.getpid()}"
    pid = _run_d(bundle, console)
    own = [line.split(":", 2) for line in open("/proc/self/cgroup").read().splitlines()]
    mem = next(p for _, c, p in own if "memory" in c.split(","))
    created = f"{CG}/memory{mem.rstrip('/')}/skifftest-rel-{os.getpid()}"
    assert os.path.isdir(created)
    # delete from a process sitting in another memory cgroup (the root one)
    argv = [sys.executable, "-m", "skiff.runtime.cli", "--root", str(bundle.root), "delete",
            "-f", bundle.id]
    r = subprocess.run(["sh", "-c", f'echo $$ > {CG}/memory/cgroup.procs && exec "$@"', "sh",
                        *argv], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    wait_exit(pid, reaped_ok=True)
    assert not os.path.exists(created)


def test_created_init_holds_no_inherited_fds(bundle, console, tmp_path):
    _runc_spec(bundle)
    bundle.write()
    # the caller has an extra fd open (as bats' fd 3): the init must not keep it
    leak = tmp_path / "leak"
    r = subprocess.run(["bash", "-c", 'exec 7>"$1"; shift; exec "$@"', "bash", str(leak),
                        sys.executable, "-m", "skiff.runtime.cli", "--root", str(bundle.root),
                        "create", "--console-socket", console.path, bundle.id],
                       cwd=str(bundle.path), capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    pid = json.loads(_cli(bundle, "state", bundle.id).stdout)["pid"]
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        assert re.fullmatch(r"/dev/pts/\d+|anon_inode:\[.+\]|/(proc)?|socket:\[\d+\]|"
                            r"pipe:\[\d+\]|.*/exec\.fifo", target), (fd, target)
    _cli(bundle, "delete", bundle.id)
    wait_exit(pid, reaped_ok=True)


def test_exec_user_flags_keep_the_specs_user_fields(bundle, console):
    spec = _runc_spec(bundle)
    spec["process"]["user"]["umask"] = 63
    pid = _run_d(bundle, console)
    out = _cli(bundle, "exec", "-u", "1000", bundle.id, "sh", "-c",
               "id -u; id -g; grep Umask /proc/self/status").stdout.split()
    assert out == ["1000", "0", "Umask:", "0077"]  # gid and umask stay the spec's
    out = _cli(bundle, "exec", "--user", "1000:1000", "--additional-gids", "100",
               "--additional-gids", "65534", bundle.id, "id", "-G").stdout
    assert out == "1000 100 65534\n"
    r = _cli(bundle, "exec", "-u", "app", bundle.id, "true", check=False)
    assert r.returncode == 255 and 'bad uid: strconv.Atoi: parsing "app"' in r.stderr
    _kill_and_wait(bundle, pid)


def test_spec_without_device_rules_gets_runcs_defaults(bundle):
    spec = _runc_spec(bundle)
    del spec["linux"]["resources"]
    spec["process"].update(terminal=False,
                           args=["sh", "-c", "cat /sys/fs/cgroup/devices/devices.list"])
    bundle.write()
    r = _cli(bundle, "run", bundle.id, cwd=str(bundle.path))
    assert sorted(r.stdout.split("\n")[:-1]) == sorted([
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm",
        "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"])


def test_foreground_terminal_keeps_output_processing_on_our_tty(bundle):
    """run with process.terminal on a real terminal: our side goes raw for
    input but keeps OPOST, so the container's "\\n" (its pty has onlcr off,
    as runc's) reaches the screen as "\\r\\n" - no staircase (runc's console)."""
    import pty
    import termios
    spec = _runc_spec(bundle)
    spec["process"]["args"] = ["sh", "-c", "echo one; echo two"]
    bundle.write()
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - child on the pty's slave side
        os.execv(sys.executable, [sys.executable, "-m", "skiff.runtime.cli", "--root",
                                  str(bundle.root), "run", "--bundle", str(bundle.path),
                                  bundle.id])
    out = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the slave side is closed
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"one\r\ntwo\r\n" in out, out
    assert termios.OPOST  # (the flag this is about)
