"""skiff-runtime's seccomp, hooks and process attributes on the real kernel
(OCI runtime-spec config-linux.md#seccomp, config.md#posix-platform-hooks,
config.md#linux-process). Busybox bundles from test_runtime's fixtures;
every test deletes its container and checks nothing is left."""
from __future__ import annotations

import json
import os
import stat
import textwrap
import time

import pytest

from skiff.errors import InvalidArgument, SkiffError
from skiff.runtime.linux import container as rt
from skiff.runtime.seccomp_default import default_seccomp
from skiff.runtime.spec import DEFAULT_CAPABILITIES

from test_runtime import _subreaper, bundle, busybox_tar  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

ALL_CAPS_WITH_ADMIN = DEFAULT_CAPABILITIES + ["CAP_SYS_ADMIN"]


def _caps(b, caps):
    b.spec["process"]["capabilities"] = {k: list(caps) for k in
                                         ("bounding", "effective", "permitted")}


# ---------------------------------------------------------------- seccomp

def test_default_profile_blocks_unshare_and_mount(bundle):
    # CAP_SYS_ADMIN is held, so only seccomp can refuse unshare and mount
    _caps(bundle, ALL_CAPS_WITH_ADMIN)
    bundle.spec["linux"]["seccomp"] = default_seccomp(DEFAULT_CAPABILITIES)
    code, out = bundle.run(["sh", "-c", "grep Seccomp: /proc/self/status; "
                                        "unshare -m true; echo unshare=$?; "
                                        "mount -t tmpfs x /tmp; echo mount=$?"])
    assert code == 0, out
    assert "Seccomp:\t2" in out
    assert "unshare=1" in out, out
    assert "mount=1" in out and "permission denied" in out, out


def test_without_seccomp_the_same_calls_work(bundle):
    # the control: same capabilities, no filter
    _caps(bundle, ALL_CAPS_WITH_ADMIN)
    bundle.spec["linux"].pop("seccomp", None)
    code, out = bundle.run(["sh", "-c", "grep Seccomp: /proc/self/status; "
                                        "unshare -m true; echo unshare=$?; "
                                        "mount -t tmpfs x /tmp && echo mount=0"])
    assert code == 0, out
    assert "Seccomp:\t0" in out
    assert "unshare=0" in out and "mount=0" in out, out


def test_profile_with_sys_admin_allows_unshare(bundle):
    _caps(bundle, ALL_CAPS_WITH_ADMIN)
    bundle.spec["linux"]["seccomp"] = default_seccomp(ALL_CAPS_WITH_ADMIN)
    code, out = bundle.run(["sh", "-c", "unshare -m true; echo unshare=$?"])
    assert "unshare=0" in out, out


def test_custom_rule_with_args_and_errno(bundle):
    # kill(2) refused with ENOSPC (28) only for signal 10 (arg 1): args, op, errnoRet
    bundle.spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28,
             "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}]},
            {"names": ["no_such_syscall_skifftest"], "action": "SCMP_ACT_ERRNO"},
        ]}
    code, out = bundle.run(["sh", "-c", "trap '' USR1; kill -USR1 $$; echo a=$?; "
                                        "kill -0 $$; echo b=$?"])
    assert "a=1" in out and "No space left on device" in out, out
    assert "b=0" in out, out


def test_no_new_privileges_loads_filter_late(bundle):
    bundle.spec["process"]["noNewPrivileges"] = True
    bundle.spec["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.spec["linux"]["seccomp"] = default_seccomp(DEFAULT_CAPABILITIES)
    code, out = bundle.run(["sh", "-c", "grep -E 'Seccomp:|NoNewPrivs:' /proc/self/status; "
                                        "unshare -m true; echo unshare=$?"])
    assert code == 0, out
    assert "Seccomp:\t2" in out and "NoNewPrivs:\t1" in out and "unshare=1" in out, out


def test_listener_path_is_refused(bundle):
    bundle.spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                       "listenerPath": "/run/skifftest-agent.sock"}
    with pytest.raises(InvalidArgument, match="listenerPath"):
        bundle.run(["true"])


def test_notify_action_is_refused(bundle):
    bundle.spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    with pytest.raises(SkiffError, match="SCMP_ACT_NOTIFY"):
        bundle.run(["true"])


def test_exec_gets_the_filter(bundle):
    bundle.spec["linux"]["seccomp"] = default_seccomp(DEFAULT_CAPABILITIES)
    bundle.spec["process"]["args"] = ["sleep", "30"]
    bundle.write()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path))
    rt.start(str(bundle.root), bundle.id)
    r, w = os.pipe()
    try:
        epid = rt.exec_process(str(bundle.root), bundle.id,
                               {"args": ["grep", "Seccomp:", "/proc/self/status"], "cwd": "/",
                                "env": ["PATH=/bin"]}, stdio=(0, w, w))
    finally:
        os.close(w)
    from test_runtime import wait_exit
    assert wait_exit(epid) == 0
    assert "Seccomp:\t2" in os.read(r, 4096).decode()
    os.close(r)
    rt.kill(str(bundle.root), bundle.id, 9)
    wait_exit(pid)


# ------------------------------------------------------------------ hooks

def _hook_script(tmp_path, name, body="") -> str:
    p = tmp_path / f"hook-{name}.sh"
    p.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        cat > {tmp_path}/{name}.state
        readlink /proc/self/ns/mnt > {tmp_path}/{name}.mntns
        {body}
        """))
    p.chmod(0o755)
    return str(p)


def test_all_hooks_run_with_state_in_the_right_namespaces(bundle, tmp_path):
    names = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
             "poststop"]
    bundle.spec["hooks"] = {n: [{"path": _hook_script(tmp_path, n)}] for n in names}
    # startContainer runs after pivot_root: its script must be inside the rootfs
    inside = bundle.rootfs / "hook-start.sh"
    inside.write_text("#!/bin/sh\ncat > /tmp/start.state\nreadlink /proc/self/ns/mnt"
                      " > /tmp/start.mntns\n")
    inside.chmod(0o755)
    bundle.spec["hooks"]["startContainer"] = [{"path": "/hook-start.sh"}]
    bundle.spec["process"]["args"] = ["sh", "-c", "cat /tmp/start.state; echo; "
                                                  "readlink /proc/self/ns/mnt; sleep 30"]
    bundle.write()
    r, w = os.pipe()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path), stdio=(0, w, w))
    os.close(w)
    host_mnt = os.readlink("/proc/self/ns/mnt")
    ctr_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    assert ctr_mnt != host_mnt
    for n in ("prestart", "createRuntime"):
        st = json.loads((tmp_path / f"{n}.state").read_text())
        assert st["status"] == "creating" and st["pid"] == pid and st["id"] == bundle.id
        assert (tmp_path / f"{n}.mntns").read_text().strip() == host_mnt
    st = json.loads((tmp_path / "createContainer.state").read_text())
    assert st["pid"] == pid and st["bundle"] == str(bundle.path)
    assert (tmp_path / "createContainer.mntns").read_text().strip() == ctr_mnt
    assert not (tmp_path / "poststart.state").exists()
    rt.start(str(bundle.root), bundle.id)
    st = json.loads((tmp_path / "poststart.state").read_text())
    assert st["status"] == "running" and st["pid"] == pid
    assert (tmp_path / "poststart.mntns").read_text().strip() == host_mnt
    os.set_blocking(r, True)
    out = b""
    while out.count(b"\n") < 2:
        out += os.read(r, 4096)
    os.close(r)
    first, second = out.decode().splitlines()[:2]
    assert json.loads(first)["status"] == "created"   # startContainer's state
    assert second.strip() == ctr_mnt
    rt.kill(str(bundle.root), bundle.id, 9)
    from test_runtime import wait_exit
    wait_exit(pid)
    assert not (tmp_path / "poststop.state").exists()
    rt.delete(str(bundle.root), bundle.id)
    st = json.loads((tmp_path / "poststop.state").read_text())
    assert st["status"] == "stopped" and st["id"] == bundle.id


def test_failing_prestart_hook_fails_create_and_cleans(bundle, tmp_path):
    bundle.spec["hooks"] = {"prestart": [{"path": _hook_script(tmp_path, "p", "echo boom; exit 3")}]}
    with pytest.raises(SkiffError, match="exit status 3.*boom"):
        bundle.run(["true"])
    assert not (bundle.root / bundle.id).exists()


def test_hook_timeout(bundle, tmp_path):
    bundle.spec["hooks"] = {"createRuntime": [
        {"path": _hook_script(tmp_path, "t", "sleep 10"), "timeout": 1}]}
    with pytest.raises(SkiffError, match="timeout"):
        bundle.run(["true"])


def test_failing_poststart_is_fatal(bundle, tmp_path):
    # runc (and its hooks.bats): a failing poststart hook fails start and
    # kills the container's process
    bundle.spec["hooks"] = {"poststart": [{"path": _hook_script(tmp_path, "ps", "exit 1")}]}
    with pytest.raises(SkiffError, match="error running poststart hook #0"):
        bundle.run(["sleep", "100"])
    deadline = time.monotonic() + 10  # SIGKILL is asynchronous
    while rt.state(str(bundle.root), bundle.id)["status"] != "stopped":
        assert time.monotonic() < deadline, "the container survived its failed poststart hook"
        time.sleep(0.01)


def test_relative_hook_path_is_refused(bundle):
    bundle.spec["hooks"] = {"prestart": [{"path": "hook.sh"}]}
    with pytest.raises(InvalidArgument, match="absolute"):
        bundle.run(["true"])


# ------------------------------------------------------- process attributes

def test_apparmor_and_selinux_refused_without_the_lsm(bundle):
    if os.path.exists("/sys/module/apparmor/parameters/enabled"):
        pytest.skip("this host has AppArmor")
    bundle.spec["process"]["apparmorProfile"] = "docker-default"
    with pytest.raises(InvalidArgument, match="apparmor is not enabled"):
        bundle.run(["true"])
    del bundle.spec["process"]["apparmorProfile"]
    bundle.spec["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    with pytest.raises(InvalidArgument, match="selinux"):
        bundle.run(["true"])


def test_intel_rdt_refused(bundle):
    bundle.spec["linux"]["intelRdt"] = {"closID": "skifftest"}
    with pytest.raises(InvalidArgument, match="intelRdt"):
        bundle.run(["true"])


def test_personality_linux32(bundle):
    bundle.spec["linux"]["personality"] = {"domain": "LINUX32"}
    code, out = bundle.run(["uname", "-m"])
    assert out.strip() == "i686", out


def test_scheduler_and_io_priority(bundle):
    bundle.spec["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    bundle.spec["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
    code, out = bundle.run(["sh", "-c", "grep -E '^policy' /proc/self/sched; "
                                        "cut -d' ' -f19 /proc/self/stat"])
    assert code == 0, out
    lines = out.split("\n")
    assert lines[0].split()[-1] == "3", out      # SCHED_BATCH
    assert lines[1].strip() == "5", out          # nice


def test_memory_policy_bind(bundle):
    bundle.spec["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    code, out = bundle.run(["sh", "-c", "head -3 /proc/self/numa_maps"])
    assert code == 0, out
    assert "bind:0" in out, out


def test_invalid_memory_policy_refused(bundle):
    bundle.spec["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND"}
    with pytest.raises(InvalidArgument, match="nodes"):
        bundle.run(["true"])


def test_init_inherits_no_stray_fds(bundle, tmp_path):
    stray = os.open(str(tmp_path), os.O_RDONLY)  # inheritable on purpose
    os.set_inheritable(stray, True)
    try:
        code, out = bundle.run(["ls", "/proc/self/fd"])
    finally:
        os.close(stray)
    assert sorted(int(x) for x in out.split()) == [0, 1, 2, 3], out  # 3: ls's own dir fd


def test_sysctl_outside_the_containers_namespaces_is_refused(tmp_path):
    """runc's rule: kernel.core_pattern (and any sysctl not in a namespace the
    container owns) must never be written: it would change the host."""
    from skiff.errors import InvalidArgument
    from skiff.runtime.linux.container import check_sysctls
    import pytest as _pytest
    ns = [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network")]
    check_sysctls({"linux": {"namespaces": ns, "sysctl": {"kernel.shmmni": "1", "net.ipv4.ip_forward": "1",
                                                        "fs.mqueue.msg_max": "5"}}})
    for key in ("kernel.core_pattern", "vm.swappiness", "kernel.panic"):
        with _pytest.raises(InvalidArgument, match="not in a separate kernel namespace"):
            check_sysctls({"linux": {"namespaces": ns, "sysctl": {key: "x"}}})
    host_net = [n for n in ns if n["type"] != "network"] + [{"type": "network", "path": "/proc/1/ns/net"}]
    with _pytest.raises(InvalidArgument):
        check_sysctls({"linux": {"namespaces": host_net, "sysctl": {"net.ipv4.ip_forward": "1"}}})
    no_ipc = [n for n in ns if n["type"] != "ipc"]
    with _pytest.raises(InvalidArgument):
        check_sysctls({"linux": {"namespaces": no_ipc, "sysctl": {"kernel.shmmni": "1"}}})
