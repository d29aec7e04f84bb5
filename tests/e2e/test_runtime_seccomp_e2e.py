"""Docker's default seccomp profile through skiffd (issue 3): a container gets
it unless --privileged or --security-opt seccomp=unconfined; a custom profile
file is applied (the docker CLI sends its content)."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e


def test_default_profile_blocks_unshare(skiffd, busybox):
    r = skiffd.docker("run", "--rm", "busybox", "sh", "-c",
                      "grep Seccomp: /proc/self/status; unshare -m true; echo rc=$?")
    assert "Seccomp:\t2" in r.stdout, r.stdout + r.stderr
    assert "rc=1" in r.stdout


def test_unconfined_and_privileged(skiffd, busybox):
    r = skiffd.docker("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox",
                      "grep", "Seccomp:", "/proc/self/status")
    assert "Seccomp:\t0" in r.stdout, r.stdout + r.stderr
    r = skiffd.docker("run", "--rm", "--privileged", "busybox", "grep", "Seccomp:",
                      "/proc/self/status")
    assert "Seccomp:\t0" in r.stdout, r.stdout + r.stderr


def test_custom_profile_file(skiffd, busybox, tmp_path):
    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 28}]}
    f = tmp_path / "profile.json"
    f.write_text(json.dumps(prof))
    r = skiffd.docker("run", "--rm", "--security-opt", f"seccomp={f}", "busybox", "sh", "-c",
                      "mkdir /tmp/x; echo rc=$?")
    assert "No space left on device" in r.stdout + r.stderr and "rc=1" in r.stdout, \
        r.stdout + r.stderr
