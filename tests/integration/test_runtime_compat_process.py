"""skiff-runtime against the process/rootfs side of runc's integration suite
(tests/integration/{mounts,mounts_recursive,mask,dev,hooks,seccomp,userns,
timens,memorypolicy,capabilities}.bats): what the container sees and runc's
error texts. Busybox bundles from test_runtime, in-process create/start."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from skiff.errors import SkiffError
from skiff.runtime import seccomp
from skiff.runtime.linux import container as rt
from skiff.runtime.linux import namespaces
from skiff.runtime.linux import syscalls as sc

from test_runtime import _subreaper, bundle, busybox_tar, wait_exit  # noqa: F401

pytestmark = pytest.mark.integration


def _again(b):
    """Delete the previous run's container so the bundle can run once more."""
    rt.delete(str(b.root), b.id, force=True)


def _mounts_line(out: str, mountpoint: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.split()[1:2] == [mountpoint]]
    assert lines, out
    return lines[-1]


# ------------------------------------------------------------------ hooks.bats

def test_hook_failures_read_as_runcs(bundle):
    bundle.spec["hooks"] = {"createRuntime": [{"path": "/bin/true"}, {"path": "/bin/false"}]}
    with pytest.raises(SkiffError) as e:
        bundle.run(["true"])
    assert ("error running createRuntime hook #1: error running hook: exit status 1, "
            "stdout: , stderr: ") in e.value.message
    _again(bundle)
    bundle.spec["hooks"] = {"createContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "echo out; echo err >&2; kill -SYS $$"]}]}
    with pytest.raises(SkiffError) as e:
        bundle.run(["true"])
    assert re.search(r"error running createContainer hook #0: error running hook: "
                     r"signal: bad system call( \(core dumped\))?, stdout: out\n, stderr: err\n",
                     e.value.message), e.value.message


def test_start_container_hook_failure_fails_start(bundle):
    # the error used to vanish into exec.fifo (the closed sync fd's number was reused)
    bundle.spec["hooks"] = {"startContainer": [{"path": "/bin/true"}, {"path": "/bin/false"}]}
    with pytest.raises(SkiffError) as e:
        bundle.run(["true"])
    assert "error running startContainer hook #1: error running hook: exit status 1" \
        in e.value.message


def test_start_container_hook_inherits_process_env_and_runs_under_seccomp(bundle):
    (bundle.rootfs / "check-env.sh").write_text(
        "#!/bin/sh -ue\ntest $ONE = two\necho \"$HOME\" > /tmp/hook-home\n")
    (bundle.rootfs / "check-env.sh").chmod(0o755)
    bundle.spec["process"]["env"] = ["ONE=two", "PATH=/bin"]
    bundle.spec["hooks"] = {"startContainer": [{"path": "/check-env.sh"}]}
    assert bundle.run(["true"])[0] == 0
    assert (bundle.rootfs / "tmp" / "hook-home").read_text() == "/root\n"
    _again(bundle)
    # the noNewPrivileges filter is on before the startContainer hooks (runc)
    bundle.spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}
    bundle.spec["hooks"] = {"startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/foo"]}]}
    with pytest.raises(SkiffError) as e:
        bundle.run(["true"])
    assert "error running startContainer hook #0" in e.value.message
    assert "bad system call" in e.value.message


def test_home_defaults_to_the_users_passwd_entry(bundle):
    bundle.spec["process"]["env"] = ["PATH=/bin"]
    assert bundle.run(["sh", "-c", "echo $HOME"]) == (0, "/root\n")
    _again(bundle)
    bundle.spec["process"]["user"] = {"uid": 4242, "gid": 4242}
    assert bundle.run(["sh", "-c", "echo $HOME"]) == (0, "/\n")


# ----------------------------------------------------------------- mounts.bats

def test_tmpfs_ro_dev_copyup_and_inherited_mode(bundle):
    for m in bundle.spec["mounts"]:
        if m["destination"] == "/dev":
            m["options"] = m["options"] + ["ro"]
    (bundle.rootfs / "dir1" / "dir2").mkdir(parents=True)
    (bundle.rootfs / "dir1" / "dir2").chmod(0o777)
    (bundle.rootfs / "tmpfs").mkdir()
    (bundle.rootfs / "tmpfs").chmod(0o710)
    bundle.spec["mounts"] += [
        {"source": "tmpfs", "destination": "/dir1", "type": "tmpfs", "options": ["tmpcopyup"]},
        {"source": "tmpfs", "destination": "/tmpfs", "type": "tmpfs",
         "options": ["rw", "nodev", "nosuid"]},
        {"source": "tmpfs", "destination": "/new/a/b", "type": "tmpfs",
         "options": ["ro", "nodev", "nosuid"]}]
    code, out = bundle.run(["sh", "-c", "stat -c %a /dir1/dir2 /tmpfs /new/a/b; "
                                        "cat /proc/self/mounts"])
    assert code == 0, out
    assert out.splitlines()[:3] == ["777", "710", "1777"]
    assert _mounts_line(out, "/dev").startswith("tmpfs /dev tmpfs ro,")
    assert "mode=710" in _mounts_line(out, "/tmpfs").split()[3].split(",")
    assert not re.search(r"\bmode=", _mounts_line(out, "/new/a/b"))
    assert _mounts_line(out, "/new/a/b").split()[3].startswith("ro,")
    assert oct(os.stat(bundle.rootfs / "tmpfs").st_mode & 0o7777) == "0o710"


def test_destination_given_as_host_path_under_rootfs(bundle, tmp_path):
    src = tmp_path / "src"
    (src / "x").mkdir(parents=True)
    (src / "x" / "file").write_text("a/x\n")
    (bundle.rootfs / "mnt").mkdir()
    (bundle.rootfs / "final").mkdir()
    root = str(bundle.rootfs)
    bundle.spec["mounts"] += [
        {"source": str(src), "destination": "/mnt", "type": "bind", "options": ["bind"]},
        {"source": f"{root}/mnt", "destination": f"{root}/final", "type": "bind",
         "options": ["rbind"]}]
    assert bundle.run(["cat", "/final/x/file"]) == (0, "a/x\n")


def test_proc_through_a_symlink_is_refused(bundle):
    os.rmdir(bundle.rootfs / "proc")
    (bundle.rootfs / "bad-proc").mkdir()
    os.symlink("/bad-proc", bundle.rootfs / "proc")
    with pytest.raises(SkiffError, match='filesystem "proc" must be mounted on ordinary '
                                         'directory'):
        bundle.run(["true"])


def test_rro_is_recursive(bundle, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    sc.mount("none", str(vol), "tmpfs")
    try:
        (vol / "sub").mkdir()
        sc.mount("none", str(vol / "sub"), "tmpfs")
        bundle.spec["mounts"].append({"source": str(vol), "destination": "/mnt",
                                      "options": ["rbind", "ro"]})
        code, out = bundle.run(["sh", "-c", "touch /mnt/sub/x && echo ok"])
        assert (code, out) == (0, "ok\n")  # "ro" is not recursive
        _again(bundle)
        bundle.spec["mounts"][-1]["options"] = ["rbind", "rro"]
        code, out = bundle.run(["sh", "-c", "touch /mnt/y; touch /mnt/sub/y"])
        assert code == 1
        assert out.count("Read-only file system") == 2, out
    finally:
        sc.umount2(str(vol), sc.MNT_DETACH)


# ------------------------------------------------------------------- mask.bats

def test_masked_paths_deduplicated_and_directories_share_one_tmpfs(bundle):
    for d in ("testdir", "testdir2", "testdir3"):
        (bundle.rootfs / d).mkdir()
    (bundle.rootfs / "testfile").write_text("Forbidden information!\n")
    bundle.spec["linux"]["maskedPaths"] += ["/testdir", "/testfile", "/testdir", "/testfile",
                                            "/testdir2", "/testdir3"]
    code, out = bundle.run(["sh", "-c", "stat -c %d /testdir /testdir2 /testdir3; "
                                        "cat /proc/self/mounts; cat /testfile"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == lines[1] == lines[2]
    assert [ln.split()[1] for ln in lines[3:]].count("/testdir") == 1
    assert [ln.split()[1] for ln in lines[3:]].count("/testfile") == 1
    assert "Forbidden" not in out


# -------------------------------------------------------------------- dev.bats

def test_existing_device_node_matches_or_conflicts(bundle):
    (bundle.rootfs / "data").mkdir()
    os.mknod(bundle.rootfs / "data" / "null", 0o20666, os.makedev(1, 3))
    bundle.spec["linux"]["devices"] = [
        {"path": "/data/null", "type": "c", "major": 1, "minor": 3}]
    code, out = bundle.run(["ls", "-lLn", "/data/null"])
    assert code == 0 and re.match(r"^c.+1,\s+3.+/data/null", out), out
    _again(bundle)
    bundle.spec["linux"]["devices"] = [
        {"path": "/data/conflict", "type": "c", "major": 1, "minor": 3}]
    (bundle.rootfs / "data" / "conflict").touch()
    with pytest.raises(SkiffError, match="/data/conflict has incorrect ftype"):
        bundle.run(["true"])
    os.unlink(bundle.rootfs / "data" / "conflict")
    os.mknod(bundle.rootfs / "data" / "conflict", 0o20666, os.makedev(1, 5))
    with pytest.raises(SkiffError, match="/data/conflict has incorrect major:minor: 1:5 "
                                         "doesn't match expected 1:3"):
        bundle.run(["true"])


# ----------------------------------------------------------------- userns.bats

def _userns(b):
    b.spec["linux"]["namespaces"].append({"type": "user"})
    b.spec["linux"]["uidMappings"] = [{"hostID": 100000, "containerID": 0, "size": 65534}]
    b.spec["linux"]["gidMappings"] = [{"hostID": 200000, "containerID": 0, "size": 65534}]
    subprocess.run(["chown", "-R", "100000:200000", str(b.rootfs)], check=True)
    # the container's root must reach its rootfs (runc's helpers: chmod a+x)
    p = b.path
    while str(p) not in ("/", "/tmp"):
        os.chmod(p, os.stat(p).st_mode | 0o111)
        p = p.parent


def test_userns_inaccessible_bind_sources_and_joining_its_userns(bundle, tmp_path):
    _userns(bundle)
    for i in (1, 2):
        d = tmp_path / f"source-inaccessible-{i}" / "dir"
        d.mkdir(parents=True)
        (d / "foo.txt").touch()
        d.parent.chmod(0o700)
        bundle.spec["mounts"].append({"source": str(d), "destination": f"/tmp/mount-{i}",
                                      "options": ["bind"]})
    code, out = bundle.run(["stat", "-c", "%n", "/tmp/mount-1/foo.txt",
                            "/tmp/mount-2/foo.txt"])
    assert (code, out) == (0, "/tmp/mount-1/foo.txt\n/tmp/mount-2/foo.txt\n")
    _again(bundle)
    # a second container joins a running one's user namespace, without maps
    spec = json.loads(json.dumps(bundle.spec))
    bundle.spec["process"]["args"] = ["sleep", "30"]
    bundle.write()
    first = rt.create(str(bundle.root), bundle.id, str(bundle.path))
    try:
        rt.start(str(bundle.root), bundle.id)
        spec["linux"]["namespaces"] = [
            dict(n, path=f"/proc/{first}/ns/user") if n["type"] == "user" else n
            for n in spec["linux"]["namespaces"]]
        del spec["linux"]["uidMappings"], spec["linux"]["gidMappings"]
        other = type(bundle)(bundle.path, bundle.root, bundle.id + "-2")
        other.spec = spec
        code, out = other.run(["cat", "/proc/self/uid_map", "/proc/self/gid_map"])
        rt.delete(str(bundle.root), other.id, force=True)
        assert code == 0, out
        assert [ln.split() for ln in out.splitlines()] == [
            ["0", "100000", "65534"], ["0", "200000", "65534"]]
    finally:
        rt.delete(str(bundle.root), bundle.id, force=True)
        wait_exit(first, reaped_ok=True)


def test_join_order_puts_foreign_namespaces_before_the_userns():
    # the host's network namespace is not owned by a container's user namespace
    pid = os.fork()
    if pid == 0:
        try:
            sc.unshare(sc.CLONE_NEWUSER)
            import time
            time.sleep(5)
        finally:
            os._exit(0)
    try:
        import time
        for _ in range(100):
            if os.stat(f"/proc/{pid}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino:
                break
            time.sleep(0.01)
        joins = [("user", f"/proc/{pid}/ns/user"), ("network", "/proc/self/ns/net")]
        assert namespaces.join_order(joins) == [("network", "/proc/self/ns/net"),
                                                ("user", f"/proc/{pid}/ns/user")]
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


# -------------------------------------------- timens.bats, memorypolicy.bats

def test_time_offsets_need_a_time_namespace(bundle):
    bundle.spec["linux"]["timeOffsets"] = {"monotonic": {"secs": 7881, "nanosecs": 2718281}}
    with pytest.raises(SkiffError, match="time namespace offsets specified, but time "
                                         "namespace isn't enabled in the config"):
        bundle.run(["true"])


def test_memory_policy_invalid_combination_is_the_kernels(bundle):
    bundle.spec["linux"]["memoryPolicy"] = {
        "mode": "MPOL_DEFAULT", "nodes": "0-7",
        "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}
    with pytest.raises(SkiffError, match="set_mempolicy.*invalid argument"):
        bundle.run(["true"])


# ---------------------------------------------------------------- seccomp.bats

@pytest.mark.parametrize("flags,value", [(None, 4), ([], 0), (["SECCOMP_FILTER_FLAG_TSYNC"], 0),
                                         (["SECCOMP_FILTER_FLAG_LOG"], 2),
                                         (["SECCOMP_FILTER_FLAG_LOG",
                                           "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], 6)])
def test_seccomp_filter_flags_as_runc(flags, value):
    cfg = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    if flags is not None:
        cfg["flags"] = flags
    f = seccomp.compile_filter(cfg)
    try:
        assert f.flags == value
    finally:
        f.release()
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in seccomp.FLAGS


def test_ambient_caps_not_inheritable_give_runcs_warning(bundle):
    from skiff.runtime.linux import capabilities
    caps = capabilities.CapSets({"inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL", "CAP_CHOWN"],
                                 "permitted": ["CAP_KILL", "CAP_CHOWN"],
                                 "bounding": ["CAP_KILL", "CAP_CHOWN", "NO_SUCH"]})
    assert caps.unknown == ["NO_SUCH"]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, json.dumps(caps.apply()).encode())
        finally:
            os._exit(0)
    os.close(w)
    warnings = json.loads(os.read(r, 4096))
    os.close(r)
    os.waitpid(pid, 0)
    assert warnings == ["can't raise ambient capability CAP_CHOWN: operation not permitted"]
    bundle.spec["process"]["capabilities"] = {
        "bounding": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "effective": ["CAP_KILL", "CAP_CHOWN"], "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL", "CAP_CHOWN"]}
    code, out = bundle.run(["grep", "CapAmb", "/proc/self/status"])
    assert (code, out) == (0, "CapAmb:\t0000000000000020\n")


# ----------------------------------------------------------------- netdev.bats

def test_net_device_moved_renamed_with_addresses(bundle):
    # veth pairs (this kernel has no dummy driver); a pair goes with the netns
    names = [f"rtc{os.getpid() % 10000}{i}" for i in range(4)]

    def pair(i, addr):
        subprocess.run(["ip", "link", "add", names[i], "type", "veth", "peer", "name",
                        names[i] + "p"], check=True)
        subprocess.run(["ip", "addr", "add", addr, "dev", names[i]], check=True)
        return names[i]

    try:
        dev = pair(0, "169.254.169.14/32")
        bundle.spec["linux"]["netDevices"] = {dev: {"name": "ctr0",
                                                    "addresses": ["10.0.0.2/24"]}}
        code, out = bundle.run(["ip", "-o", "addr", "show", "dev", "ctr0"])
        assert code == 0, out
        assert "inet 10.0.0.2/24" in out and "169.254.169.14" not in out
        _again(bundle)
        dev = pair(1, "169.254.169.15/32")
        bundle.spec["linux"]["netDevices"] = {dev: {}}
        code, out = bundle.run(["ip", "-o", "addr", "show", "dev", dev])
        assert code == 0 and "inet 169.254.169.15/32" in out, out  # the host's address kept
        _again(bundle)
        dev = pair(2, "169.254.169.16/32")
        bundle.spec["linux"]["netDevices"] = {dev: {"addresses": ["wrong_ip"]}}
        with pytest.raises(SkiffError, match="invalid network IP address"):
            bundle.run(["true"])
        _again(bundle)
        bundle.spec["linux"]["netDevices"] = {dev: {}}
        bundle.spec["linux"]["namespaces"] = [n for n in bundle.spec["linux"]["namespaces"]
                                              if n["type"] != "network"]
        with pytest.raises(SkiffError, match="unable to move network devices without a "
                                             "private NET namespace"):
            bundle.run(["true"])
    finally:
        for n in names:
            subprocess.run(["ip", "link", "del", n], stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------ idmap.bats

def test_idmapped_bind_mounts(bundle, tmp_path):
    src, tree = tmp_path / "source-1", tmp_path / "tree"
    src.mkdir()
    (src / "foo.txt").touch()
    (tree / "sub").mkdir(parents=True)
    (tree / "foo.txt").touch()
    os.chown(tree / "foo.txt", 100, 211)
    sc.mount(str(src), str(tree / "sub"), None, sc.MS_BIND)
    try:
        def maps(c, h, n):
            return [{"containerID": c, "hostID": h, "size": n}]
        bundle.spec["mounts"] += [
            {"source": str(src), "destination": "/tmp/mount-1", "options": ["bind"],
             "uidMappings": maps(0, 100000, 65536), "gidMappings": maps(0, 100000, 65536)},
            {"source": str(src), "destination": "/tmp/bind-mount-1", "options": ["bind"]},
            {"source": str(tree), "destination": "/tmp/tree", "options": ["rbind"],
             "uidMappings": maps(100, 101000, 3), "gidMappings": maps(210, 101100, 30)}]
        code, out = bundle.run(["sh", "-c", "stat -c =%n:%u=%g= /tmp/mount-1/foo.txt "
                                            "/tmp/bind-mount-1/foo.txt /tmp/tree/foo.txt "
                                            "/tmp/tree/sub/foo.txt; touch /tmp/mount-1/bar"])
        assert out.splitlines() == [
            "=/tmp/mount-1/foo.txt:100000=100000=", "=/tmp/bind-mount-1/foo.txt:0=0=",
            "=/tmp/tree/foo.txt:101000=101101=", "=/tmp/tree/sub/foo.txt:0=0=",  # not recursive
            "touch: /tmp/mount-1/bar: Value too large for defined data type"]
        assert code == 1
        _again(bundle)
        bundle.spec["mounts"][-1]["options"] = ["rbind", "ridmap"]
        code, out = bundle.run(["stat", "-c", "%u=%g", "/tmp/tree/sub/foo.txt"])
        assert (code, out) == (0, "65534=65534\n")  # 0 is not in the mount's mappings
    finally:
        sc.umount2(str(tree / "sub"), sc.MNT_DETACH)


def test_seccomp_enosys_stub_for_syscalls_newer_than_the_profile():
    # seccomp.bats "[seccomp -ENOSYS handling]": unknown to the profile -> ENOSYS,
    # known but not allowed -> the default action's errno (EPERM)
    import ctypes
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64 syscall numbers")
    cfg = {"defaultAction": "SCMP_ACT_ERRNO",
           "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64",
                             "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
           "syscalls": [{"action": "SCMP_ACT_ALLOW",
                         "names": ["read", "write", "exit", "exit_group", "close", "openat",
                                   "brk", "mmap", "munmap", "rt_sigreturn", "futex",
                                   "getpid", "faccessat2"]}]}
    f = seccomp.compile_filter(cfg)
    assert f.last and all(v > 0 for per in f.last.values() for v in per.values())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(38, 1, 0, 0, 0)  # no_new_privs
            f.load()
            res = []
            for nr in (1000, 272):  # 1000: nothing; 272: unshare, not allowed
                rc = libc.syscall(nr, 0, 0, 0)
                res.append(ctypes.get_errno() if rc == -1 else 0)
            os.write(w, json.dumps(res).encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 100)
    os.close(r)
    os.waitpid(pid, 0)
    f.release()
    assert json.loads(out) == [38, 1]


def test_net_device_into_a_user_namespaced_container(bundle):
    # userns.bats "userns with network interface": the move needs the host's root
    _userns(bundle)
    name = f"rtcu{os.getpid() % 10000}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"],
                   check=True)
    try:
        bundle.spec["linux"]["netDevices"] = {name: {"name": "ctr0"}}
        code, out = bundle.run(["ip", "-o", "link", "show", "dev", "ctr0"])
        assert code == 0 and ": ctr0@" in out, out
    finally:
        subprocess.run(["ip", "link", "del", name], stderr=subprocess.DEVNULL)
