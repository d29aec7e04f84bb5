"""The OCI runtime on the real kernel: busybox bundles (the fixture image's
single layer extracted with tarfile), Docker-like config.json from
skiff.runtime.linux.defaults, real namespaces, mounts and v1 cgroups.
Every test deletes its container and checks nothing is left."""
from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from skiff.errors import Conflict, ExecError, NotFound, NotModified
from skiff.runtime.linux import container as rt
from skiff.runtime.linux import syscalls as sc
from skiff.runtime.linux.defaults import default_spec

pytestmark = pytest.mark.integration

CG = "/sys/fs/cgroup"


def _busybox_layer(fixtures_dir: Path) -> Path:
    oci = fixtures_dir / "oci"
    index = json.loads((oci / "index.json").read_text())
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "busybox:latest":
            manifest = json.loads((oci / "blobs" / "sha256" / m["digest"].split(":")[1]).read_text())
            return oci / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    raise AssertionError("busybox:latest not in the fixture layout")


@pytest.fixture(scope="session")
def busybox_tar(fixtures_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("skifftest-layer") / "layer.tar"
    with gzip.open(_busybox_layer(fixtures_dir)) as src, open(out, "wb") as dst:
        dst.write(src.read())
    return out


@pytest.fixture(autouse=True, scope="module")
def _subreaper():
    # the test process is the creator: it must be the init's parent to reap it
    sc.set_child_subreaper()


class Bundle:
    def __init__(self, path: Path, root: Path, cid: str):
        self.path, self.root, self.id = path, root, cid
        self.rootfs = path / "rootfs"
        self.spec = default_spec(["true"])

    def write(self):
        (self.path / "config.json").write_text(json.dumps(self.spec))

    def run(self, args, timeout=20, **kw):
        """create + start + wait; returns (exit code, output)."""
        self.spec["process"]["args"] = args
        self.write()
        r, w = os.pipe()
        try:
            pid = rt.create(str(self.root), self.id, str(self.path),
                            stdio=(_devnull(), w, w), **kw)
        finally:
            os.close(w)
        try:
            rt.start(str(self.root), self.id)
            code = wait_exit(pid, timeout)
            out = b""
            while True:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                out += chunk
        finally:
            os.close(r)
        return code, out.decode()


_DEVNULL = None


def _devnull():
    global _DEVNULL
    if _DEVNULL is None:
        _DEVNULL = os.open("/dev/null", os.O_RDONLY)
    return _DEVNULL


REAPED = "reaped by the runtime"


def wait_exit(pid, timeout=20, reaped_ok=False):
    """The exit code of our child ``pid``; with ``reaped_ok``, REAPED when
    delete --force already reaped it (it kills the cgroup and reaps)."""
    deadline = time.monotonic() + timeout
    while True:
        # reap any child, not only ``pid``: an init (PID 1 of its namespace)
        # cannot finish exiting while a zombie of ours is still in its
        # namespace (a failed exec's process), so waiting on it alone deadlocks
        try:
            p, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            if reaped_ok:
                return REAPED
            raise
        if p == pid:
            return os.waitstatus_to_exitcode(status)
        if p:
            continue
        if reaped_ok and not os.path.exists(f"/proc/{pid}"):
            return REAPED  # reaped elsewhere while other children of ours live on
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("container did not exit in time")
        time.sleep(0.005)


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if path in line.split()[4]]


@pytest.fixture
def bundle(tmp_path, busybox_tar, request):
    name = "".join(ch if ch.isalnum() else "-" for ch in request.node.name)[:40].strip("-")
    cid = f"skifftest-{name}-{os.getpid()}"
    path = tmp_path / "bundle"
    (path / "rootfs").mkdir(parents=True)
    with tarfile.open(busybox_tar) as t:
        t.extractall(path / "rootfs")
    root = tmp_path / "state"
    b = Bundle(path, root, cid)
    yield b
    try:
        rt.delete(str(root), cid, force=True)
    except NotFound:
        pass
    # nothing left behind: state, cgroups, mounts
    assert not (root / cid).exists()
    for ctrl in ("memory", "pids", "cpu", "freezer", "devices"):
        assert not os.path.exists(f"{CG}/{ctrl}/skiff/{cid}"), ctrl
    assert _mounts_under(str(path)) == []


def test_pid1_hostname_network_cgroup(bundle):
    bundle.spec["hostname"] = "skifftest-host"
    code, out = bundle.run(["sh", "-c", "echo pid=$$; ps -o pid,args; hostname; "
                                        "echo net=$(ls /sys/class/net); cat /proc/self/cgroup"])
    assert code == 0, out
    assert "pid=1\n" in out
    lines = [l.split(None, 1) for l in out.splitlines() if l.strip().startswith("1 ")]
    assert lines and lines[0][1].startswith("sh -c echo pid"), out
    assert "skifftest-host\n" in out
    assert "net=lo\n" in out
    assert f"memory:/skiff/{bundle.id}" in out
    assert f"pids:/skiff/{bundle.id}" in out


def test_dev_and_mounts(bundle):
    code, out = bundle.run(["sh", "-c", "ls /dev; echo ---; cat /proc/mounts; echo ---; "
                                        "readlink /dev/ptmx; echo x > /sys/skifftest || echo sys-ro"])
    assert code == 0, out
    dev, mounts, rest = out.split("---\n")
    names = set(dev.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
            "mqueue", "fd", "stdin", "stdout", "stderr"} <= names
    assert "pts/ptmx" in rest
    assert "sys-ro" in rest
    by_dest = {l.split()[1]: l.split() for l in mounts.splitlines()}
    assert by_dest["/proc"][2] == "proc"
    assert by_dest["/sys"][2] == "sysfs" and "ro" in by_dest["/sys"][3].split(",")
    assert by_dest["/dev"][2] == "tmpfs" and "mode=755" in by_dest["/dev"][3]
    assert by_dest["/dev/pts"][2] == "devpts"
    assert by_dest["/dev/shm"][2] == "tmpfs"
    assert by_dest["/dev/mqueue"][2] == "mqueue"
    # masked: /proc/kcore (when present) is /dev/null; /proc/sys is read-only
    assert "ro" in by_dest["/proc/sys"][3].split(",")


def test_device_nodes_are_real(bundle):
    code, out = bundle.run(["sh", "-c", "echo hi > /dev/null && head -c 4 /dev/zero | wc -c; "
                                        "ls -l /dev/null"])
    assert code == 0, out
    assert "4\n" in out
    assert out.splitlines()[-1].startswith("crw-rw-rw-")


def test_exit_code_propagates(bundle):
    code, _ = bundle.run(["sh", "-c", "exit 42"])
    assert code == 42


@pytest.mark.parametrize("arg0,code,text", [
    ("nosuchcmd", 127, 'exec: "nosuchcmd": executable file not found in $PATH'),
    ("/bin/nosuch", 127, "no such file or directory"),
    ("/etc", 126, "is a directory"),
    ("/etc/passwd", 126, "permission denied"),
])
def test_exec_errors(bundle, arg0, code, text):
    bundle.spec["process"]["args"] = [arg0]
    bundle.write()
    with pytest.raises(ExecError) as ei:
        rt.create(str(bundle.root), bundle.id, str(bundle.path))
    assert ei.value.exit_code == code
    assert text in str(ei.value)
    # the half-made container is gone
    assert not (bundle.root / bundle.id).exists()
    assert not os.path.exists(f"{CG}/memory/skiff/{bundle.id}")


def test_setup_error_is_reported_and_cleaned(bundle):
    # a missing cwd is created (as runc); a cwd that is a file cannot be entered
    bundle.spec["process"]["cwd"] = "/etc/passwd"
    bundle.spec["process"]["args"] = ["true"]
    bundle.write()
    with pytest.raises(Exception) as ei:
        rt.create(str(bundle.root), bundle.id, str(bundle.path))
    assert "/etc/passwd" in str(ei.value) and "not a directory" in str(ei.value)
    assert not (bundle.root / bundle.id).exists()


def test_lifecycle_state_kill_delete(bundle):
    root = str(bundle.root)
    bundle.spec["process"]["args"] = ["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.05; done"]
    bundle.write()
    pid = rt.create(root, bundle.id, str(bundle.path), stdio=(_devnull(), _devnull(), _devnull()))
    st = rt.state(root, bundle.id)
    assert st["status"] == "created" and st["pid"] == pid and st["bundle"] == str(bundle.path)
    # the init is in the cgroup already, before start
    with open(f"{CG}/pids/skiff/{bundle.id}/cgroup.procs") as f:
        assert str(pid) in f.read().split()
    with pytest.raises(Conflict):
        rt.create(root, bundle.id, str(bundle.path))
    rt.start(root, bundle.id)
    assert rt.state(root, bundle.id)["status"] == "running"
    with pytest.raises(NotModified):
        rt.start(root, bundle.id)
    with pytest.raises(Conflict):
        rt.delete(root, bundle.id)
    time.sleep(0.1)
    rt.kill(root, bundle.id, signal.SIGTERM)
    assert wait_exit(pid) == 7
    st = rt.state(root, bundle.id)
    assert st["status"] == "stopped" and st["pid"] == 0
    rt.delete(root, bundle.id)
    with pytest.raises(NotFound):
        rt.state(root, bundle.id)


def test_delete_created_container_kills_it(bundle):
    root = str(bundle.root)
    bundle.write()
    pid = rt.create(root, bundle.id, str(bundle.path), stdio=(_devnull(), _devnull(), _devnull()))
    rt.delete(root, bundle.id)
    assert wait_exit(pid) == -signal.SIGKILL


def _procs(cid):
    return open(f"{CG}/pids/skiff/{cid}/cgroup.procs").read().split()


def test_kill_all_and_force_delete(bundle):
    root = str(bundle.root)
    bundle.spec["process"]["args"] = ["sh", "-c", "sleep 100 & sleep 100 & wait"]
    bundle.write()
    null = _devnull()
    pid = rt.create(root, bundle.id, str(bundle.path), stdio=(null, null, null))
    rt.start(root, bundle.id)
    deadline = time.monotonic() + 5
    while len(_procs(bundle.id)) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # SIGTERM to every process: the sleeps die, then sh's wait returns
    rt.kill(root, bundle.id, signal.SIGTERM, all=True)
    wait_exit(pid)
    assert _procs(bundle.id) == []
    rt.delete(root, bundle.id)
    # a running container goes only with force, which kills everything
    pid = rt.create(root, bundle.id, str(bundle.path), stdio=(null, null, null))
    rt.start(root, bundle.id)
    with pytest.raises(Conflict):
        rt.delete(root, bundle.id)
    rt.delete(root, bundle.id, force=True)
    assert wait_exit(pid, reaped_ok=True) in (-signal.SIGKILL, REAPED)
    assert not os.path.exists(f"/proc/{pid}")


def test_memory_and_pids_limits(bundle):
    bundle.spec["linux"]["resources"].update(
        memory={"limit": 64 * 1024 * 1024, "swap": 128 * 1024 * 1024},
        pids={"limit": 50}, cpu={"shares": 512, "quota": 50000, "period": 100000})
    bundle.spec["process"]["args"] = [
        "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                    "/sys/fs/cgroup/pids/pids.max; sleep 0.3"]
    bundle.write()
    r, w = os.pipe()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path), stdio=(_devnull(), w, w))
    os.close(w)
    base = f"{CG}/memory/skiff/{bundle.id}"
    assert Path(base, "memory.limit_in_bytes").read_text().strip() == str(64 * 1024 * 1024)
    assert Path(base, "memory.memsw.limit_in_bytes").read_text().strip() == str(128 * 1024 * 1024)
    assert Path(f"{CG}/pids/skiff/{bundle.id}/pids.max").read_text().strip() == "50"
    assert Path(f"{CG}/cpu/skiff/{bundle.id}/cpu.shares").read_text().strip() == "512"
    assert Path(f"{CG}/cpu/skiff/{bundle.id}/cpu.cfs_quota_us").read_text().strip() == "50000"
    rt.start(str(bundle.root), bundle.id)
    assert wait_exit(pid) == 0
    out = os.read(r, 4096).decode().split()
    os.close(r)
    # the container sees its own limits in /sys/fs/cgroup
    assert out == [str(64 * 1024 * 1024), "50"]


def test_user_and_groups(bundle):
    bundle.spec["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
    code, out = bundle.run(["sh", "-c", "id -u; id -g; id -G; grep CapEff /proc/self/status; "
                                        "umask; touch /tmp/x && stat -c %u /tmp/x"])
    assert code == 0, out
    lines = out.split()
    assert lines[0] == "1000" and lines[1] == "1000"
    assert set(out.splitlines()[2].split()) == {"1000", "10", "20"}
    # non-root: effective caps are cleared by setuid unless ambient
    assert "CapEff:\t0000000000000000" in out
    assert "0022" in out


def test_capabilities(bundle):
    caps = bundle.spec["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = caps[k] + ["CAP_SYS_RESOURCE"]  # not in this host's bounding set: skipped
    code, out = bundle.run(["sh", "-c", "grep -E 'Cap(Bnd|Eff|Prm)|NoNewPrivs' /proc/self/status"])
    assert code == 0, out
    fields = dict(l.split(":\t") for l in out.splitlines())
    # Docker's 14 default capabilities: 0x00000000a80425fb
    assert fields["CapBnd"] == "00000000a80425fb"
    assert fields["CapEff"] == "00000000a80425fb"
    assert fields["NoNewPrivs"] == "1"


def test_rlimits_clamped_to_host(bundle):
    import resource
    _, host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    bundle.spec["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 1 << 30, "hard": 1 << 30},
        {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600},
    ]
    code, out = bundle.run(["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u"])
    assert code == 0, out
    assert out.split() == [str(host_hard), str(host_hard), "500"]


def test_readonly_root_masked_and_readonly_paths(bundle):
    bundle.spec["root"]["readonly"] = True
    code, out = bundle.run(["sh", "-c", "touch /x 2>/dev/null || echo root-ro; "
                                        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo sys-ro; "
                                        "touch /dev/shm/ok && echo shm-rw; "
                                        "wc -c < /proc/timer_list; ls /sys/firmware | wc -l"])
    assert code == 0, out
    assert "root-ro" in out and "sys-ro" in out and "shm-rw" in out
    tail = out.split()[-2:]
    assert tail == ["0", "0"]


def test_bind_mounts_and_securejoin(bundle, tmp_path):
    host = tmp_path / "skifftest-data"
    host.mkdir()
    (host / "f.txt").write_text("from host\n")
    outside = tmp_path / "skifftest-outside"
    # a symlink in the rootfs pointing out of it must resolve inside it
    os.symlink(str(outside), bundle.rootfs / "escape")
    bundle.spec["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(host), "options": ["rbind", "ro"]},
        {"destination": "/rw/file.txt", "type": "bind", "source": str(host / "f.txt"),
         "options": ["bind", "nosuid"]},
        {"destination": "/escape/inner", "type": "tmpfs", "source": "tmpfs", "options": []},
    ]
    code, out = bundle.run(["sh", "-c", "cat /data/f.txt; echo y > /data/g 2>/dev/null || echo ro; "
                                        "cat /rw/file.txt; grep ' /escape/inner\\| " +
                            str(outside) + "/inner ' /proc/mounts | cut -d' ' -f2"])
    assert code == 0, out
    assert out.count("from host") == 2 and "ro\n" in out
    assert not outside.exists()
    assert (bundle.rootfs / str(outside).lstrip("/") / "inner").is_dir()


def test_no_pivot(bundle):
    code, out = bundle.run(["sh", "-c", "echo pid=$$; ls /"], no_pivot=True)
    assert code == 0, out
    assert "pid=1" in out and "bin" in out


def test_terminal_console_socket(bundle, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    bundle.spec["process"]["terminal"] = True
    bundle.spec["process"]["consoleSize"] = {"height": 33, "width": 101}
    bundle.spec["process"]["args"] = ["sh", "-c", "tty; stty size; [ -t 0 ] && echo isatty; "
                                                  "[ -c /dev/console ] && echo console"]
    bundle.write()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path), console_socket=sock_path)
    conn, _ = listener.accept()
    msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    listener.close()
    master = fds[0]
    assert msg.startswith(b"/dev/pts/")
    rt.start(str(bundle.root), bundle.id)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert wait_exit(pid) == 0
    text = out.decode()
    assert "/dev/pts/0" in text and "33 101" in text and "isatty" in text and "console" in text


def test_cli_spec_run_and_lifecycle(bundle, tmp_path):
    env = dict(os.environ)
    cli = ["python3", "-m", "skiff.runtime.cli", "--root", str(bundle.root)]
    subprocess.run(cli + ["spec", "--bundle", str(bundle.path)], check=True)
    spec = json.loads((bundle.path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    assert spec["process"]["terminal"] is True  # runc spec's template
    spec["process"]["terminal"] = False
    again = subprocess.run(cli + ["spec", "--bundle", str(bundle.path)], capture_output=True, text=True)
    assert again.returncode == 1 and "exists" in again.stderr
    spec["process"]["args"] = ["sh", "-c", "exit 5"]
    (bundle.path / "config.json").write_text(json.dumps(spec))
    r = subprocess.run(cli + ["run", "--bundle", str(bundle.path), bundle.id], env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 5
    assert not (bundle.root / bundle.id).exists()
    # create / state / start / kill / delete through the command line
    spec["process"]["args"] = ["sleep", "100"]
    (bundle.path / "config.json").write_text(json.dumps(spec))
    pidfile = tmp_path / "pid"
    subprocess.run(cli + ["create", "--bundle", str(bundle.path), "--pid-file", str(pidfile),
                          bundle.id], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    st = json.loads(subprocess.run(cli + ["state", bundle.id], check=True, capture_output=True).stdout)
    assert st["status"] == "created" and st["pid"] == int(pidfile.read_text())
    subprocess.run(cli + ["start", bundle.id], check=True)
    ls = subprocess.run(cli + ["list"], check=True, capture_output=True, text=True).stdout
    assert bundle.id in ls and "running" in ls
    subprocess.run(cli + ["kill", bundle.id, "KILL"], check=True)
    # we are the subreaper the init was reparented to
    assert wait_exit(int(pidfile.read_text())) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while json.loads(subprocess.run(cli + ["state", bundle.id], capture_output=True).stdout)[
            "status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    subprocess.run(cli + ["delete", bundle.id], check=True)
    bad = subprocess.run(cli + ["state", bundle.id], capture_output=True, text=True)
    assert bad.returncode == 1 and "does not exist" in bad.stderr
    spec["process"]["args"] = ["nosuchcmd"]
    (bundle.path / "config.json").write_text(json.dumps(spec))
    r = subprocess.run(cli + ["run", "--bundle", str(bundle.path), bundle.id], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "executable file not found in $PATH" in r.stderr


def test_user_and_cgroup_namespaces(bundle):
    ns = bundle.spec["linux"]["namespaces"]
    ns += [{"type": "user"}, {"type": "cgroup"}]
    bundle.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    bundle.spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    code, out = bundle.run(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; "
                                        "readlink /proc/self/ns/user; cat /proc/self/cgroup; "
                                        "echo hi > /dev/null && echo devnull-ok"])
    assert code == 0, out
    assert out.count("0          0      65536") == 2
    assert f"user:[{os.stat('/proc/self/ns/user').st_ino}]" not in out
    # a cgroup namespace rooted at the container's cgroup
    assert "memory:/\n" in out and "skiff" not in out
    assert "devnull-ok" in out


def test_join_network_namespace_by_path(bundle):
    name = f"skifftest-ns-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ino = os.stat(f"/run/netns/{name}").st_ino
        bundle.spec["linux"]["namespaces"] = [
            n for n in bundle.spec["linux"]["namespaces"] if n["type"] != "network"
        ] + [{"type": "network", "path": f"/run/netns/{name}"}]
        code, out = bundle.run(["readlink", "/proc/self/ns/net"])
        assert code == 0, out
        assert out.strip() == f"net:[{ino}]"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.mark.parametrize("prop", ["rshared", "rslave", "private"])
def test_rootfs_propagation(bundle, prop):
    bundle.spec["linux"]["rootfsPropagation"] = prop
    code, out = bundle.run(["sh", "-c", "echo pid=$$"])
    assert code == 0 and "pid=1" in out, out


def test_cli_run_with_terminal(bundle):
    """`run` of a process.terminal container proxies the pty to our own tty."""
    import pty
    spec = default_spec(["sh", "-c", "tty; echo done"], terminal=True)
    (bundle.path / "config.json").write_text(json.dumps(spec))
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp("python3", ["python3", "-m", "skiff.runtime.cli", "--root", str(bundle.root),
                                  "run", "--bundle", str(bundle.path), bundle.id])
        finally:
            os._exit(99)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"/dev/pts/0" in out and b"done" in out


def test_pause_resume_and_pids(bundle):
    root = str(bundle.root)
    bundle.spec["process"]["args"] = ["sh", "-c", "sleep 100 & wait"]
    bundle.write()
    null = _devnull()
    pid = rt.create(root, bundle.id, str(bundle.path), stdio=(null, null, null))
    rt.start(root, bundle.id)
    deadline = time.monotonic() + 5
    while len(rt.pids(root, bundle.id)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert pid in rt.pids(root, bundle.id)
    rt.pause(root, bundle.id)
    assert rt.state(root, bundle.id)["status"] == "paused"
    assert Path(f"{CG}/freezer/skiff/{bundle.id}/freezer.state").read_text().strip() == "FROZEN"
    with pytest.raises(Conflict):
        rt.pause(root, bundle.id)
    rt.resume(root, bundle.id)
    assert rt.state(root, bundle.id)["status"] == "running"
    rt.pause(root, bundle.id)
    rt.delete(root, bundle.id, force=True)  # thaws, then kills
    assert wait_exit(pid, reaped_ok=True) in (-signal.SIGKILL, REAPED)
    assert not os.path.exists(f"/proc/{pid}")


def test_exec_joins_the_container(bundle):
    root = str(bundle.root)
    bundle.spec["hostname"] = "skifftest-exec"
    bundle.spec["process"]["args"] = ["sh", "-c", "echo marker > /tmp/m; sleep 100"]
    bundle.write()
    null = _devnull()
    init_pid = rt.create(root, bundle.id, str(bundle.path), stdio=(null, null, null))
    rt.start(root, bundle.id)
    deadline = time.monotonic() + 5
    while not (bundle.rootfs / "tmp" / "m").exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc = dict(bundle.spec["process"], args=["sh", "-c", "echo pid=$$; hostname; cat /tmp/m; "
                                                       "ps -o pid,args | grep -c sleep; id -u; exit 9"],
                user={"uid": 1000, "gid": 1000})
    r, w = os.pipe()
    pid = rt.exec_process(root, bundle.id, proc, stdio=(null, w, w))
    os.close(w)
    assert wait_exit(pid) == 9
    out = os.read(r, 65536).decode()
    os.close(r)
    assert "pid=1\n" not in out and "skifftest-exec" in out and "marker" in out
    assert out.split()[-1] == "1000"
    assert f"{init_pid}" in open(f"{CG}/pids/skiff/{bundle.id}/cgroup.procs").read().split()
    with pytest.raises(ExecError) as ei:
        rt.exec_process(root, bundle.id, dict(proc, args=["nosuchcmd"]))
    assert ei.value.exit_code == 127 and "executable file not found in $PATH" in str(ei.value)
    r = subprocess.run(["python3", "-m", "skiff.runtime.cli", "--root", root, "exec", "-e", "X=42",
                        bundle.id, "sh", "-c", "echo $X; exit 4"], capture_output=True, text=True)
    assert r.returncode == 4 and r.stdout == "42\n"
    rt.delete(root, bundle.id, force=True)
    # delete --force may have reaped it already (it kills and reaps its own children)
    wait_exit(init_pid, reaped_ok=True)
    assert not os.path.exists(f"/proc/{init_pid}") or \
        open(f"/proc/{init_pid}/stat").read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    # the CLI: exec in a stopped container fails
    r = subprocess.run(["python3", "-m", "skiff.runtime.cli", "--root", root, "exec", bundle.id,
                        "true"], capture_output=True, text=True)
    assert r.returncode == 255  # runc exits 255 on every exec failure


def test_no_capabilities_field_keeps_roots_caps(bundle):
    del bundle.spec["process"]["capabilities"]
    code, out = bundle.run(["grep", "CapEff", "/proc/self/status"])
    assert code == 0, out
    with open("/proc/self/status") as f:
        mine = next(l for l in f if l.startswith("CapEff")).split()[1]
    assert out.split()[1] == mine


def test_runs_what_build_spec_writes(bundle):
    """The contract with skiff.runtime.spec: its config.json runs as is."""
    from skiff.runtime.spec import build_spec
    spec = build_spec(container_id=bundle.id, image_config={"Env": ["PATH=/bin"], "Cmd": ["sh"]},
                      create={"Cmd": ["sh", "-c", "hostname; cat /sys/fs/cgroup/memory/"
                                                  "memory.limit_in_bytes; echo $PATH; id -u"],
                              "HostConfig": {"Memory": 32 * 1024 * 1024, "PidsLimit": 30}},
                      rootfs=str(bundle.rootfs), netns="",
                      cgroups_path=f"/skiff/{bundle.id}", user=(1000, 1000, []))
    bundle.spec = spec
    code, out = bundle.run(spec["process"]["args"])
    assert code == 0, out
    assert out.split() == [bundle.id[:12], str(32 * 1024 * 1024), "/bin", "1000"]


def test_exec_failure_after_start_is_reported_by_start(bundle):
    """A script whose interpreter is missing passes the pre-check (it is an
    executable file) but execve fails with ENOENT: start() reports it."""
    script = bundle.rootfs / "bin" / "badscript"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    bundle.spec["process"]["args"] = ["/bin/badscript"]
    bundle.write()
    null = _devnull()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path), stdio=(null, null, null))
    with pytest.raises(ExecError) as ei:
        rt.start(str(bundle.root), bundle.id)
    assert ei.value.exit_code == 127 and "no such file or directory" in str(ei.value)
    assert wait_exit(pid) == 127


def test_time_namespace_offsets(bundle):
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("no time namespaces in this kernel")
    bundle.spec["linux"]["namespaces"].append({"type": "time"})
    bundle.spec["linux"]["timeOffsets"] = {"boottime": {"secs": 10 * 86400, "nanosecs": 0}}
    code, out = bundle.run(["cat", "/proc/uptime"])
    assert code == 0, out
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    assert float(out.split()[0]) - host > 10 * 86400 - 60


@pytest.mark.parametrize("value", [500, -500])
def test_oom_score_adj(bundle, value):
    with open("/proc/self/oom_score_adj") as f:
        mine = int(f.read())
    bundle.spec["process"]["oomScoreAdj"] = value
    code, out = bundle.run(["cat", "/proc/self/oom_score_adj"])
    assert code == 0, out
    got = int(out)
    # raising always works; lowering needs CAP_SYS_RESOURCE, which this host may lack:
    # then the current value is kept instead of failing
    assert got == value or (value < mine and got == mine)


def test_preserve_fds(bundle, tmp_path):
    out = tmp_path / "fd3.txt"
    bundle.spec["process"]["args"] = ["sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd"]
    bundle.write()
    r = subprocess.run(["bash", "-c", f"exec 3>{out}; exec python3 -m skiff.runtime.cli --root "
                        f"{bundle.root} run --preserve-fds 1 --bundle {bundle.path} {bundle.id}"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "via-fd3\n"
    # 0-3 and the one ls opens: no other descriptor leaked in
    assert sorted(int(x) for x in r.stdout.split()) == [0, 1, 2, 3, 4]
