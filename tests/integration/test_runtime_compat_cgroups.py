"""skiff-runtime against the behaviour runc's own bats suite checks in
cgroups.bats, update.bats, cpu_affinity.bats, events.bats and delete.bats,
on this host's cgroup v1 (hybrid) hierarchies: the values written to the v1
files, runc's write ordering and "0 = unset" rules, the refusal of a
non-empty or frozen cgroup, the hybrid cgroup2 join, the CPU affinity reset,
resources keys matched case-insensitively (Go's JSON), sub-cgroups on
delete, and the stats/OOM data behind ``events``. Busybox bundles from
test_runtime; every test removes what it made."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from skiff.errors import Conflict, InvalidArgument, SkiffError
from skiff.runtime.cgroups import v1 as cgv1
from skiff.runtime.cgroups.detect import new_manager
from skiff.runtime.linux import container as rt

from test_runtime import _devnull, _subreaper, bundle, busybox_tar, wait_exit  # noqa: F401

pytestmark = pytest.mark.integration

CG = "/sys/fs/cgroup"


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


@pytest.fixture
def cgpath(bundle):
    """An absolute cgroupsPath below a per-test parent (bats' set_cgroups_path)."""
    parent = f"/skifftest-rtB-{os.getpid()}-{bundle.id[-12:]}"
    bundle.spec["linux"]["cgroupsPath"] = f"{parent}/test-cgroup"
    yield f"{parent}/test-cgroup"
    for c in os.listdir(CG):
        d = f"{CG}/{c}{parent}"
        if os.path.isdir(d):
            # sub-directories a test made by hand, then the parent
            for cur, dirs, _ in sorted(os.walk(d), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(cur)
                except OSError:
                    pass
        assert not os.path.exists(d), d


def _start(bundle, args=("sleep", "300")) -> int:
    bundle.spec["process"]["args"] = list(args)
    bundle.write()
    null = _devnull()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path), stdio=(null, null, null))
    rt.start(str(bundle.root), bundle.id)
    return pid


def _stop(bundle, pid):
    rt.delete(str(bundle.root), bundle.id, force=True)
    wait_exit(pid, reaped_ok=True)


def test_update_values_and_ordering(bundle, cgpath):
    """update.bats "update cgroup v1/v2 common limits" and "update cgroup cpu
    limits": initial values, memory/swap ordering, -1 = unlimited (memory -1
    also lifts swap), 0 = unchanged, burst/idle 0 written."""
    bundle.spec["linux"]["resources"] = {
        "memory": {"limit": 33554432, "reservation": 25165824},
        "cpu": {"shares": 100, "quota": 500000, "period": 1000000},
        "pids": {"limit": 20}}
    pid = _start(bundle)
    root, cid = str(bundle.root), bundle.id
    mem, cpu, pids = (f"{CG}/{c}{cgpath}" for c in ("memory", "cpu", "pids"))
    unlimited = _read(f"{CG}/memory/memory.limit_in_bytes")
    try:
        assert _read(f"{mem}/memory.limit_in_bytes") == "33554432"
        assert _read(f"{mem}/memory.soft_limit_in_bytes") == "25165824"
        assert _read(f"{pids}/pids.max") == "20"
        assert _read(f"{cpu}/cpu.shares") == "100"
        assert (_read(f"{cpu}/cpu.cfs_quota_us"), _read(f"{cpu}/cpu.cfs_period_us")) == \
            ("500000", "1000000")
        rt.update(root, cid, {"memory": {"swap": -1}})
        assert _read(f"{mem}/memory.memsw.limit_in_bytes") == unlimited
        rt.update(root, cid, {"memory": {"swap": 96468992}})
        assert _read(f"{mem}/memory.memsw.limit_in_bytes") == "96468992"
        rt.update(root, cid, {"memory": {"limit": -1}})  # swap follows (runc)
        assert _read(f"{mem}/memory.limit_in_bytes") == unlimited
        assert _read(f"{mem}/memory.memsw.limit_in_bytes") == unlimited
        # both given: the order keeps memsw >= limit at every step
        rt.update(root, cid, {"memory": {"limit": 30 << 20, "swap": 50 << 20}})
        assert _read(f"{mem}/memory.limit_in_bytes") == str(30 << 20)
        assert _read(f"{mem}/memory.memsw.limit_in_bytes") == str(50 << 20)
        rt.update(root, cid, {"memory": {"limit": 60 << 20, "swap": 80 << 20}})
        assert _read(f"{mem}/memory.limit_in_bytes") == str(60 << 20)
        assert _read(f"{mem}/memory.memsw.limit_in_bytes") == str(80 << 20)
        # 0 means "not given" for memory, cpu and pids values
        rt.update(root, cid, {"memory": {"limit": 0, "reservation": 0},
                              "cpu": {"shares": 0, "quota": 0, "period": 0}})
        assert _read(f"{mem}/memory.limit_in_bytes") == str(60 << 20)
        assert _read(f"{cpu}/cpu.cfs_quota_us") == "500000"
        rt.update(root, cid, {"pids": {"limit": -1}})
        assert _read(f"{pids}/pids.max") == "max"
        # period alone, quota alone, quota -1
        rt.update(root, cid, {"cpu": {"period": 900000}})
        assert (_read(f"{cpu}/cpu.cfs_quota_us"), _read(f"{cpu}/cpu.cfs_period_us")) == \
            ("500000", "900000")
        rt.update(root, cid, {"cpu": {"quota": -1}})
        assert _read(f"{cpu}/cpu.cfs_quota_us") == "-1"
        # burst and idle: 0 is a value to write, not "unset"
        rt.update(root, cid, {"cpu": {"quota": 500000, "burst": 500000}})
        assert _read(f"{cpu}/cpu.cfs_burst_us") == "500000"
        rt.update(root, cid, {"cpu": {"burst": 0}})
        assert _read(f"{cpu}/cpu.cfs_burst_us") == "0"
        if os.path.exists(f"{cpu}/cpu.idle"):
            rt.update(root, cid, {"cpu": {"idle": 1}})
            assert _read(f"{cpu}/cpu.idle") == "1"
            rt.update(root, cid, {"cpu": {"idle": 0}})
            assert _read(f"{cpu}/cpu.idle") == "0"
            with pytest.raises(SkiffError):
                rt.update(root, cid, {"cpu": {"idle": 2}})  # the kernel refuses
        with pytest.raises(InvalidArgument, match="swappiness"):
            rt.update(root, cid, {"memory": {"swappiness": 101}})
    finally:
        _stop(bundle, pid)


def test_period_retried_after_quota_under_pod_limit(bundle, cgpath):
    """update.bats "update cpu period in a pod cgroup with pod limit set": a
    smaller period first refused against the old quota is written after
    the new quota; a quota above the parent's is an error."""
    parent = os.path.dirname(cgpath)
    os.makedirs(f"{CG}/cpu{parent}", exist_ok=True)
    with open(f"{CG}/cpu{parent}/cpu.cfs_quota_us", "w") as f:
        f.write("50000")
    bundle.spec["linux"]["resources"] = {"cpu": {"quota": 500000, "period": 1000000}}
    pid = _start(bundle)
    cpu = f"{CG}/cpu{cgpath}"
    try:
        with pytest.raises(SkiffError):
            rt.update(str(bundle.root), bundle.id, {"cpu": {"quota": 600000}})
        rt.update(str(bundle.root), bundle.id, {"cpu": {"period": 10000, "quota": 3000}})
        assert (_read(f"{cpu}/cpu.cfs_quota_us"), _read(f"{cpu}/cpu.cfs_period_us")) == \
            ("3000", "10000")
    finally:
        _stop(bundle, pid)


def test_realtime_period_and_runtime(bundle, cgpath):
    """update.bats "update rt period and runtime" (cgroups pre-created by hand)."""
    if not os.path.exists(f"{CG}/cpu/cpu.rt_period_us"):
        pytest.skip("no CONFIG_RT_GROUP_SCHED")
    period, runtime = _read(f"{CG}/cpu/cpu.rt_period_us"), _read(f"{CG}/cpu/cpu.rt_runtime_us")
    parent = os.path.dirname(cgpath)
    for d in (parent, cgpath):
        os.makedirs(f"{CG}/cpu{d}", exist_ok=True)
        for name, v in (("cpu.rt_period_us", period), ("cpu.rt_runtime_us", runtime)):
            with open(f"{CG}/cpu{d}/{name}", "w") as f:
                f.write(v)
    pid = _start(bundle)
    cpu = f"{CG}/cpu{cgpath}"
    try:
        rt.update(str(bundle.root), bundle.id, {"cpu": {"realtimeRuntime": 500001}})
        assert (_read(f"{cpu}/cpu.rt_period_us"), _read(f"{cpu}/cpu.rt_runtime_us")) == \
            (period, "500001")
        rt.update(str(bundle.root), bundle.id,
                  {"cpu": {"realtimePeriod": 900001, "realtimeRuntime": 600001}})
        assert (_read(f"{cpu}/cpu.rt_period_us"), _read(f"{cpu}/cpu.rt_runtime_us")) == \
            ("900001", "600001")
    finally:
        _stop(bundle, pid)  # the fixture rmdirs the parent (its rt budget goes with it)


def test_non_empty_and_frozen_cgroup_refused(bundle, cgpath, tmp_path):
    """cgroups.bats "run/create should error for a non-empty cgroup" and
    "should refuse pre-existing frozen cgroup": refused with runc's words,
    the other container keeps running, the frozen cgroup is left in place."""
    pid = _start(bundle)
    other = f"{bundle.id}-2"
    try:
        with pytest.raises(Conflict, match="container's cgroup is not empty: 1 process"):
            rt.create(str(bundle.root), other, str(bundle.path))
        assert rt.state(str(bundle.root), bundle.id)["status"] == "running"
        assert os.path.exists(f"/proc/{pid}")
        assert not (bundle.root / other).exists()
    finally:
        _stop(bundle, pid)
    frozen = f"{CG}/freezer{cgpath}"
    os.makedirs(frozen)
    with open(f"{frozen}/freezer.state", "w") as f:
        f.write("FROZEN")
    try:
        with pytest.raises(Conflict, match="container's cgroup unexpectedly frozen"):
            rt.create(str(bundle.root), other, str(bundle.path))
        assert os.path.isdir(frozen)  # the bats test rmdirs it afterwards
        assert not (bundle.root / other).exists()
    finally:
        with open(f"{frozen}/freezer.state", "w") as f:
            f.write("THAWED")
        os.rmdir(frozen)


def test_hybrid_unified_join_and_removal(bundle, cgpath):
    """cgroups.bats "runc exec (cgroup v1+hybrid joins correct cgroup)": the
    init and an exec'd process share the cgroup2 path; delete removes it."""
    if not os.path.isfile(f"{CG}/unified/cgroup.controllers"):
        pytest.skip("not a hybrid host")
    pid = _start(bundle)
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            last = f.read().splitlines()[-1]
        assert last == f"0::{cgpath}"
        r, w = os.pipe()
        null = _devnull()
        epid = rt.exec_process(str(bundle.root), bundle.id,
                               {"args": ["cat", "/proc/self/cgroup"], "cwd": "/",
                                "env": ["PATH=/bin:/usr/bin"]}, stdio=(null, w, w))
        os.close(w)
        out = b""
        while chunk := os.read(r, 4096):
            out += chunk
        os.close(r)
        wait_exit(epid)
        assert out.decode().splitlines()[-1] == last
    finally:
        _stop(bundle, pid)
    assert not os.path.exists(f"{CG}/unified{cgpath}")


def test_cpu_affinity_reset_to_cgroup_cpuset(bundle, cgpath):
    """cpu_affinity.bats "runc run [CPU affinity should reset (to cgroup
    cpuset)]": an affinity inherited from the caller does not leak in."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs 2 CPUs")
    first, second = cpus[0], cpus[1]
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {first})
    try:
        bundle.spec["linux"]["resources"] = {"cpu": {"cpus": f"{first}-{second}", "mems": "0"}}
        code, out = bundle.run(["grep", "-F", "Cpus_allowed_list:", "/proc/self/status"])
        assert code == 0
        assert out.strip() == f"Cpus_allowed_list:\t{first}-{second}"
        rt.delete(str(bundle.root), bundle.id)
        bundle.spec["linux"]["resources"] = {"cpu": {"cpus": f"{second}", "mems": "0"}}
        code, out = bundle.run(["grep", "-F", "Cpus_allowed_list:", "/proc/self/status"])
        assert out.strip() == f"Cpus_allowed_list:\t{second}"
    finally:
        os.sched_setaffinity(0, old)


def test_unified_on_v1_and_case_insensitive_keys(bundle, cgpath):
    """cgroups.bats "runc run (cgroup v1 + unified resources should fail)"
    ('invalid configuration'); update.bats' {"CPU": {"Cpus": ...}} and
    cgroups.bats' {"pagesize": ...}: keys match case-insensitively, as
    runc's Go JSON decoding."""
    bundle.spec["linux"]["resources"] = {"pids": {"limit": 100},
                                         "unified": {"memory.min": "131072"}}
    bundle.write()
    with pytest.raises(InvalidArgument, match="invalid configuration"):
        rt.create(str(bundle.root), bundle.id, str(bundle.path))
    assert not os.path.exists(f"{CG}/pids{cgpath}")
    assert cgv1.normalize({"CPU": {"Cpus": "0", "Mems": "0"}, "cpu": {"shares": 2},
                           "hugepageLimits": [{"pagesize": "2MB", "Limit": 1}],
                           "BlockIO": {"WeightDevice": [{"Major": 7, "minor": 0, "weight": 4}]}}) \
        == {"cpu": {"cpus": "0", "mems": "0", "shares": 2},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
            "blockIO": {"weightDevice": [{"major": 7, "minor": 0, "weight": 4}]}}
    bundle.spec["linux"]["resources"] = {"CPU": {"Cpus": "0", "Mems": "0"}}
    pid = _start(bundle)
    try:
        assert _read(f"{CG}/cpuset{cgpath}/cpuset.cpus") == "0"
        rt.update(str(bundle.root), bundle.id, {"CPU": {"Cpus": "0-1" if os.cpu_count() > 1
                                                        else "0"}})
        assert _read(f"{CG}/cpuset{cgpath}/cpuset.cpus") == ("0-1" if os.cpu_count() > 1
                                                              else "0")
    finally:
        _stop(bundle, pid)


def test_bfq_weight_device(bundle, cgpath, tmp_path):
    """cgroups.bats "runc run (per-device io weight for bfq)": without CFQ's
    blkio.weight, weight and weightDevice go to the blkio.bfq.* files."""
    img = tmp_path / "backing.img"
    img.write_bytes(b"\0" * 4096)
    r = subprocess.run(["losetup", "--find", "--show", str(img)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("no loop device")
    dev = r.stdout.strip()
    try:
        sched = f"/sys/block/{os.path.basename(dev)}/queue/scheduler"
        if "bfq" not in _read(sched):
            pytest.skip("no bfq")
        with open(sched, "w") as f:
            f.write("bfq")
        st = os.stat(dev)
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        bundle.spec["linux"]["resources"] = {
            "blockIO": {"weight": 333, "weightDevice": [{"major": major, "minor": minor,
                                                         "weight": 444}]}}
        pid = _start(bundle)
        blk = f"{CG}/blkio{cgpath}"
        try:
            if os.path.exists(f"{blk}/blkio.weight"):
                pytest.skip("CFQ host")
            lines = _read(f"{blk}/blkio.bfq.weight_device").splitlines()
            assert "default 333" in lines and f"{major}:{minor} 444" in lines
            rt.update(str(bundle.root), bundle.id, {"blockIO": {
                "weight": 111, "weightDevice": [{"major": major, "minor": minor, "weight": 222}]}})
            lines = _read(f"{blk}/blkio.bfq.weight_device").splitlines()
            assert "default 111" in lines and f"{major}:{minor} 222" in lines
        finally:
            _stop(bundle, pid)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_sub_cgroups_pids_and_delete(bundle, cgpath):
    """delete.bats "runc delete --force in cgroupv1 with subcgroups": a
    process moved into a sub-cgroup of some hierarchies is still listed
    (ps), killed, and the sub-cgroups are removed."""
    pid = _start(bundle, ["sh", "-c", "sleep 1000 & wait"])
    try:
        deadline = time.monotonic() + 5
        while len(rt.pids(str(bundle.root), bundle.id)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        child = next(p for p in rt.pids(str(bundle.root), bundle.id) if p != pid)
        for c in ("memory", "freezer"):
            os.mkdir(f"{CG}/{c}{cgpath}/foo")
            with open(f"{CG}/{c}{cgpath}/foo/tasks", "w") as f:
                f.write(str(child))
        mgr = new_manager(cgpath)
        assert sorted(mgr.pids()) == sorted([pid, child])
        assert sorted(cgv1.all_pids(f"{CG}/memory{cgpath}")) == sorted([pid, child])
        assert _read(f"{CG}/memory{cgpath}/cgroup.procs").split() == [str(pid)]
    finally:
        _stop(bundle, pid)
    assert not os.path.exists(f"/proc/{child}") or \
        _read(f"/proc/{child}/stat").split()[2] == "Z"
    for c in ("memory", "freezer"):
        assert not os.path.exists(f"{CG}/{c}{cgpath}")


def test_runc_stats_shape_and_oom_count(bundle, cgpath):
    """events.bats "events --stats" data (runc's types.Stats field names) and
    the OOM counter behind "events oom" (memory+swap limited to 32 MiB, a
    memory hog exec'd)."""
    bundle.spec["linux"]["resources"] = {"memory": {"limit": 33554432, "swap": 33554432},
                                         "pids": {"limit": 100}}
    pid = _start(bundle)
    try:
        mgr = new_manager(cgpath)
        st = mgr.runc_stats()
        assert set(st) == {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                           "network_interfaces"}
        assert {"kernel", "user"} <= set(st["cpu"]["usage"]) and "throttling" in st["cpu"]
        assert st["memory"]["usage"]["limit"] == 33554432
        assert st["memory"]["swap"]["limit"] == 33554432
        assert {"failcnt", "limit"} <= set(st["memory"]["kernel"])
        assert st["pids"] == {"current": 1, "limit": 100}
        assert st["network_interfaces"] is None and st["intel_rdt"] == {}
        assert mgr.oom_kill_count() == 0
        null = _devnull()
        hog = rt.exec_process(str(bundle.root), bundle.id,
                              {"args": ["tail", "/dev/zero"], "cwd": "/",
                               "env": ["PATH=/bin:/usr/bin"]}, stdio=(null, null, null))
        assert wait_exit(hog, timeout=30) == -9
        assert mgr.oom_kill_count() >= 1
        assert rt.state(str(bundle.root), bundle.id)["status"] == "running"
    finally:
        _stop(bundle, pid)


def _fake_v2(root):
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids hugetlb\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def test_v2_paths_on_a_fake_root(tmp_path):
    """The cgroup v2 rules of the bats tests this host cannot run (fake
    root): quota alone keeps the period and period alone the quota (update.bats
    on v2), BFQ's io.bfq.weight takes the raw weight (cgroups.bats "blkio
    weight": 'default 750'), swap is memory+swap minus memory and needs a memory
    limit, checkBeforeUpdate ("rejecting memory limit"), hugetlb rsvd, and the
    non-empty / frozen refusals."""
    from skiff.runtime.cgroups.v2 import V2Manager
    root = _fake_v2(tmp_path / "cg")
    m = V2Manager("/pod/c", root=str(root))
    m.create()
    d = root / "pod" / "c"
    (d / "cpu.max").write_text("max 100000\n")
    m.set({"cpu": {"quota": 500000, "period": 1000000}})
    assert (d / "cpu.max").read_text() == "500000 1000000"
    m.set({"cpu": {"period": 900000}})
    assert (d / "cpu.max").read_text() == "500000 900000"
    m.set({"cpu": {"quota": 600000}})
    assert (d / "cpu.max").read_text() == "600000 900000"
    m.set({"cpu": {"quota": -1}})
    assert (d / "cpu.max").read_text() == "max 900000"
    (d / "io.bfq.weight").write_text("default 100\n")
    m.set({"blockIO": {"weight": 750}})
    assert (d / "io.bfq.weight").read_text() == "750"
    (d / "memory.max").write_text("max\n")
    with pytest.raises(InvalidArgument, match="without memory limit"):
        m.set({"memory": {"swap": 96468992}})
    m.set({"memory": {"limit": 52428800, "swap": 96468992}})
    assert (d / "memory.swap.max").read_text() == str(96468992 - 52428800)
    (d / "memory.current").write_text("4096\n")
    with pytest.raises(InvalidArgument, match="rejecting memory limit"):
        m.set({"memory": {"limit": 1024, "checkBeforeUpdate": True}})
    (d / "hugetlb.2MB.rsvd.max").write_text("max\n")
    m.set({"hugepageLimits": [{"pagesize": "2MB", "limit": 2097152}]})
    assert (d / "hugetlb.2MB.max").read_text() == (d / "hugetlb.2MB.rsvd.max").read_text() \
        == "2097152"
    (d / "cgroup.procs").write_text("4242\n")
    other = V2Manager("/pod/c", root=str(root))
    with pytest.raises(Conflict, match="not empty: 1 process"):
        other.create()
    assert other.pids() == [] and d.is_dir()
    other.remove()  # refused: hands off
    assert d.is_dir()
    (d / "cgroup.procs").write_text("")
    (d / "cgroup.freeze").write_text("1\n")
    with pytest.raises(Conflict, match="unexpectedly frozen"):
        V2Manager("/pod/c", root=str(root)).create()


def test_relative_path_resolution_is_saved(tmp_path):
    """A relative cgroupsPath is below the creator's own cgroup in each
    hierarchy (runc); resolved() keeps those directories so a manager rebuilt
    from them in a process sitting elsewhere names the same cgroups."""
    rel = f"skifftest-rtB-rel-{os.getpid()}"
    m = new_manager(rel)
    saved = m.resolved()
    own = cgv1._own_cgroup("memory")
    assert saved["memory"] == f"{CG}/memory{own.rstrip('/')}/{rel}"
    if os.path.isfile(f"{CG}/unified/cgroup.controllers"):
        assert saved["unified"] == f"{CG}/unified{cgv1._own_cgroup('').rstrip('/')}/{rel}"
        assert "unified" not in m.paths()  # never bound into the container
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child: another memory cgroup, then rebuild
        try:
            with open(f"{CG}/memory/cgroup.procs", "w") as f:
                f.write("0")
            ok = new_manager(rel, resolved=saved).resolved() == saved
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.close(r)
    os.waitpid(pid, 0)


def test_device_rule_with_letters_the_kernel_refuses(bundle, cgpath):
    """update.bats "update devices [minimal transition rules]" denies
    c 1:11 with access "rwa": runc runs it (the "a" never reaches the
    kernel); skiff keeps the valid letters instead of failing with EINVAL."""
    assert cgv1.device_rule({"type": "c", "major": 1, "minor": 11, "access": "rwa"}) == \
        "c 1:11 rw"
    assert cgv1.device_rule({"type": "c", "major": 1, "minor": 11, "access": "x"}) == ""
    bundle.spec["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}
    code, out = bundle.run(["cat", "/sys/fs/cgroup/devices/devices.list"])
    assert code == 0, out
    assert "c 1:3 rwm" in out.splitlines() and "c 1:11" not in out
