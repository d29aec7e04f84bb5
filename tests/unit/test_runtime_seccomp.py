"""Docker's default seccomp profile and its resolution into OCI linux.seccomp
(skiff.runtime.seccomp_default, skiff.runtime.spec.seccomp_profile), and the
libseccomp compiler's validation (skiff.runtime.seccomp; compiling needs no root)."""
from __future__ import annotations

import json

import pytest

from skiff.errors import InvalidArgument
from skiff.runtime import seccomp, seccomp_default
from skiff.runtime.spec import DEFAULT_CAPABILITIES, build_spec, seccomp_profile


def _names(prof, action="SCMP_ACT_ALLOW"):
    return {n for s in prof["syscalls"] if s["action"] == action and not s.get("args")
            for n in s["names"]}


def test_default_profile_for_default_caps():
    p = seccomp_default.default_seccomp(DEFAULT_CAPABILITIES, arch="amd64", kernel="6.1.0")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == 1
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = _names(p)
    for blocked in ("unshare", "mount", "keyctl", "add_key", "request_key", "setns", "bpf",
                    "ptrace" if False else "reboot", "init_module", "clock_settime"):
        assert blocked not in allowed, blocked
    assert {"read", "execve", "arch_prctl", "chroot", "ptrace"} <= allowed  # chroot: SYS_CHROOT
    # clone only without namespace flags, clone3 -> ENOSYS
    clone = [s for s in p["syscalls"] if s["names"] == ["clone"]]
    assert clone[0]["args"] == [{"index": 0, "value": seccomp_default.CLONE_NS_MASK,
                                 "op": "SCMP_CMP_MASKED_EQ"}]
    c3 = [s for s in p["syscalls"] if s["names"] == ["clone3"]][0]
    assert c3["action"] == "SCMP_ACT_ERRNO" and c3["errnoRet"] == 38


def test_sys_admin_opens_the_mount_family():
    p = seccomp_default.default_seccomp(DEFAULT_CAPABILITIES + ["CAP_SYS_ADMIN"], arch="amd64",
                                        kernel="6.1.0")
    allowed = _names(p)
    assert {"unshare", "mount", "setns", "clone", "clone3"} <= allowed
    assert not [s for s in p["syscalls"] if s["names"] == ["clone3"] and
                s["action"] != "SCMP_ACT_ALLOW"]


def test_arch_and_kernel_filters():
    p = seccomp_default.default_seccomp([], arch="arm64", kernel="4.4.0")
    allowed = _names(p)
    assert "arch_prctl" not in allowed and "cacheflush" in allowed
    assert "ptrace" not in allowed  # minKernel 4.8
    assert p["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]


def test_spec_puts_the_default_profile_unless_unconfined_or_privileged():
    assert seccomp_profile({}, DEFAULT_CAPABILITIES)["defaultAction"] == "SCMP_ACT_ERRNO"
    assert seccomp_profile({"SecurityOpt": ["seccomp=unconfined"]}, []) is None
    assert seccomp_profile({"SecurityOpt": ["seccomp:unconfined"]}, []) is None
    assert seccomp_profile({"Privileged": True}, [], privileged=True) is None
    custom = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_X"]}},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]}
    p = seccomp_profile({"SecurityOpt": ["seccomp=" + json.dumps(custom)]}, [])
    assert p["defaultAction"] == "SCMP_ACT_ALLOW"
    assert [s["names"] for s in p["syscalls"]] == [["rmdir"]]
    with pytest.raises(InvalidArgument):
        seccomp_profile({"SecurityOpt": ["seccomp={not json"]}, [])


def test_build_spec_has_seccomp():
    spec = build_spec(container_id="c" * 64, image_config={"Cmd": ["sh"]}, create={},
                      rootfs="/x")
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    spec = build_spec(container_id="c" * 64, image_config={"Cmd": ["sh"]},
                      create={"HostConfig": {"Privileged": True}}, rootfs="/x")
    assert "seccomp" not in spec["linux"]


def test_compile_default_profile():
    f = seccomp.compile_filter(seccomp_default.default_seccomp(DEFAULT_CAPABILITIES))
    try:
        assert f.rules > 300
    finally:
        f.release()


@pytest.mark.parametrize("cfg,match", [
    ({"defaultAction": "SCMP_ACT_NOPE"}, "unknown action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x"}, "listenerPath"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}, "architecture"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}, "flag"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}, "index"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}, "argument"),
])
def test_compile_refuses_malformed(cfg, match):
    with pytest.raises(InvalidArgument, match=match):
        seccomp.compile_filter(cfg)


def test_same_index_twice_splits_rules():
    conds = seccomp._conditions([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                 {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}])
    assert len(conds) == 2 and all(len(c) == 1 for c in conds)
    conds = seccomp._conditions([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                 {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}])
    assert len(conds) == 1 and len(conds[0]) == 2
