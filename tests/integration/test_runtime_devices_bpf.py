"""cgroup v2 device rules as an eBPF program (skiff.runtime.cgroups.devices_bpf)
on the real kernel. This host is hybrid: its cgroup2 hierarchy
(/sys/fs/cgroup/unified) has no controllers, but device programs attach to
any cgroup2 directory, so the V2Manager's device path runs for real here: a
process moved into the directory can open what the rules allow and gets
EPERM for the rest."""
from __future__ import annotations

import os

import pytest

from skiff.runtime.cgroups import devices_bpf
from skiff.runtime.cgroups.v2 import V2Manager, _is_cgroupfs
from skiff.runtime.linux.defaults import default_device_rules

pytestmark = pytest.mark.integration

UNIFIED = "/sys/fs/cgroup/unified"


def _probe(cgdir: str, paths: list[str]) -> dict[str, int]:
    """Fork a child into ``cgdir`` that opens each path; {path: errno or 0}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            with open(os.path.join(cgdir, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            out = []
            for p in paths:
                try:
                    os.close(os.open(p, os.O_RDONLY))
                    out.append("0")
                except OSError as e:
                    out.append(str(e.errno))
            os.write(w, ",".join(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return dict(zip(paths, (int(x) for x in data.split(","))))


@pytest.fixture
def cgroup2_dir():
    if not _is_cgroupfs(UNIFIED):
        pytest.skip("no cgroup2 hierarchy at /sys/fs/cgroup/unified")
    name = f"skifftest-devbpf-{os.getpid()}"
    d = os.path.join(UNIFIED, name)
    yield d, "/" + name
    try:
        os.rmdir(d)
    except FileNotFoundError:
        pass


def test_default_rules_allow_null_deny_others(cgroup2_dir):
    d, rel = cgroup2_dir
    m = V2Manager(rel, root=UNIFIED)
    m.create()
    m.set({"devices": default_device_rules()})
    res = _probe(d, ["/dev/null", "/dev/zero", "/dev/loop-control", "/dev/kmsg"])
    assert res["/dev/null"] == 0 and res["/dev/zero"] == 0
    assert res["/dev/loop-control"] == 1 and res["/dev/kmsg"] == 1  # EPERM from the program
    m.remove()


def test_later_rule_wins_and_access_subset(cgroup2_dir):
    d, rel = cgroup2_dir
    os.mkdir(d)
    rules = [{"allow": False, "access": "rwm"},                                  # deny all
             {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # null
             {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "w"},    # zero: w only
             {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"}]   # null: no r
    devices_bpf.apply(d, rules)
    res = _probe(d, ["/dev/null", "/dev/zero"])
    assert res == {"/dev/null": 1, "/dev/zero": 1}  # read refused on both
    # replaced (not stacked) by a second apply
    devices_bpf.apply(d, [{"allow": True, "access": "rwm"}])
    assert _probe(d, ["/dev/null", "/dev/zero", "/dev/kmsg"]) == {
        "/dev/null": 0, "/dev/zero": 0, "/dev/kmsg": 0}


def test_malformed_rules():
    with pytest.raises(Exception, match="invalid device rule"):
        devices_bpf.compile_rules([{"allow": True, "type": "x"}])
    with pytest.raises(Exception, match="invalid device rule access"):
        devices_bpf.compile_rules([{"allow": True, "access": "rwx"}])
