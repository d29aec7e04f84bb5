"""cgroup managers against FAKE cgroup roots (plain directories with the
files the kernel would show): this host cannot mount cgroup v2 with
controllers, so v2 is only tested this way; v1 is also tested on the real
kernel in tests/integration/test_runtime*.py."""
from __future__ import annotations

import pytest

from skiff.errors import InvalidArgument
from skiff.runtime.cgroups import detect
from skiff.runtime.cgroups.v1 import V1Manager, device_rule
from skiff.runtime.cgroups.v2 import V2Manager, blkio_to_io_weight, shares_to_weight


def _fake_v2(root):
    root.mkdir(exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("1\n")
    return root


def _fake_v1(root, controllers=("memory", "pids", "cpu", "cpuset", "freezer", "devices")):
    for c in controllers:
        d = root / c
        d.mkdir(parents=True)
        (d / "cgroup.procs").write_text("")
    (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    (root / "unified").mkdir()
    (root / "unified" / "cgroup.procs").write_text("")
    return root


def test_detect_mode(tmp_path):
    v2 = _fake_v2(tmp_path / "v2")
    v1 = _fake_v1(tmp_path / "v1")
    assert detect.mode(str(v2)) == "v2"
    assert detect.mode(str(v1)) == "v1"
    assert type(detect.new_manager("/skiff/x", root=str(v2))).__name__ == "V2Manager"
    assert type(detect.new_manager("/skiff/x", root=str(v1))).__name__ == "V1Manager"
    assert detect.default_path("abc") == "/skiff/abc"


def test_v2_set_writes_converted_values(tmp_path):
    root = _fake_v2(tmp_path / "cg")
    m = V2Manager("/skiff/c1", root=str(root))
    m.create()
    d = root / "skiff" / "c1"
    assert d.is_dir()
    # the parent got the root's controllers enabled for its children
    assert "+memory" in (root / "cgroup.subtree_control").read_text()
    m.set({
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500,
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "unified": {"memory.high": "50000000"},
    })
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "memory.low").read_text() == str(32 << 20)
    assert (d / "memory.swap.max").read_text() == str(64 << 20)  # swap alone = 128-64 MiB
    assert (d / "cpu.weight").read_text() == str(shares_to_weight(1024)) == "39"
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "cpuset.cpus").read_text() == "0-1"
    assert (d / "pids.max").read_text() == "100"
    assert (d / "io.weight").read_text() == f"default {blkio_to_io_weight(500)}"
    assert (d / "io.max").read_text() == "8:0 rbps=1048576"
    assert (d / "memory.high").read_text() == "50000000"
    m.set({"memory": {"limit": -1, "swap": -1}, "pids": {"limit": 0}, "cpu": {"quota": -1}})
    assert (d / "memory.max").read_text() == "max"
    assert (d / "memory.swap.max").read_text() == "max"
    assert (d / "pids.max").read_text() == "max"
    assert (d / "cpu.max").read_text() == "max 100000"


def test_v2_apply_pids_stats_freeze_remove(tmp_path):
    root = _fake_v2(tmp_path / "cg")
    m = V2Manager("/skiff/c2", root=str(root))
    m.create()
    d = root / "skiff" / "c2"
    m.apply(1234)
    assert (d / "cgroup.procs").read_text() == "1234"
    assert m.pids() == [1234]
    (d / "memory.current").write_text("4096\n")
    (d / "memory.max").write_text("max\n")
    (d / "pids.current").write_text("3\n")
    (d / "cpu.stat").write_text("usage_usec 10\nuser_usec 5\n")
    st = m.stats()
    assert st["memory"] == {"usage": 4096, "limit": None}
    assert st["pids"]["current"] == 3
    assert st["cpu"]["usage_ns"] == 10000
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    m.freeze()
    assert (d / "cgroup.freeze").read_text() == "1"
    with pytest.raises(Exception):
        m.set({"unified": {"../escape": "1"}})
    for f in d.iterdir():  # a real cgroupfs directory is empty to rmdir
        f.unlink()
    m.remove()
    assert not d.exists()
    m.remove()  # idempotent


def test_v1_create_copies_cpuset_and_sets_resources(tmp_path):
    root = _fake_v1(tmp_path / "cg")
    m = V1Manager("/skiff/c3", root=str(root))
    assert set(m.paths()) == {"memory", "pids", "cpu", "cpuset", "freezer", "devices"}
    m.create()
    for ctrl in ("memory", "pids", "cpu", "cpuset", "freezer", "devices"):
        assert (root / ctrl / "skiff" / "c3").is_dir()
    # new cpuset directories inherit the parent's cpus/mems at every level
    assert (root / "cpuset" / "skiff" / "cpuset.cpus").read_text() == "0-3"
    assert (root / "cpuset" / "skiff" / "c3" / "cpuset.mems").read_text() == "0"
    d = root / "memory" / "skiff" / "c3"
    (d / "memory.memsw.limit_in_bytes").write_text("")
    m.set({"memory": {"limit": 1 << 26, "swap": 1 << 27, "reservation": 1 << 25,
                      "swappiness": 10},
           "pids": {"limit": 20},
           "cpu": {"shares": 256, "quota": 20000, "period": 100000},
           "devices": [{"allow": False, "access": "rwm"},
                       {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    assert (d / "memory.limit_in_bytes").read_text() == str(1 << 26)
    assert (d / "memory.memsw.limit_in_bytes").read_text() == str(1 << 27)
    assert (d / "memory.soft_limit_in_bytes").read_text() == str(1 << 25)
    assert (d / "memory.swappiness").read_text() == "10"
    assert (root / "pids" / "skiff" / "c3" / "pids.max").read_text() == "20"
    assert (root / "cpu" / "skiff" / "c3" / "cpu.shares").read_text() == "256"
    assert (root / "cpu" / "skiff" / "c3" / "cpu.cfs_quota_us").read_text() == "20000"
    # the last write wins on a plain file: the allow rule
    assert (root / "devices" / "skiff" / "c3" / "devices.allow").read_text() == "c 1:3 rwm"
    assert (root / "devices" / "skiff" / "c3" / "devices.deny").read_text() == "a *:* rwm"
    m.apply(77)
    assert (root / "freezer" / "skiff" / "c3" / "cgroup.procs").read_text() == "77"
    assert m.pids() == [77]


def test_device_rule():
    assert device_rule({"allow": False, "access": "rwm"}) == "a *:* rwm"
    assert device_rule({"type": "c", "major": 136, "minor": None, "access": "rwm"}) == "c 136:* rwm"
    assert device_rule({"type": "b", "major": 8, "minor": 0, "access": "r"}) == "b 8:0 r"
    with pytest.raises(InvalidArgument):
        device_rule({"type": "x"})
