"""cgroup managers on the real kernel: v1 (this host's controllers) and the
v2 manager on the hybrid host's /sys/fs/cgroup/unified (a real cgroup2
mount without controllers: procs, freeze and removal work there; limits
are unit-tested against a fake root in tests/unit/test_cgroups.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from skiff.errors import SystemError_
from skiff.runtime.cgroups.v1 import V1Manager
from skiff.runtime.cgroups.v2 import V2Manager

pytestmark = pytest.mark.integration


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "30"])
    yield p
    p.kill()
    p.wait()


def _state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_v1_manager_real(sleeper):
    m = V1Manager(f"/skifftest/cg-{os.getpid()}")
    m.create()
    try:
        m.set({"memory": {"limit": 128 << 20}, "pids": {"limit": 10},
               "cpu": {"shares": 300, "cpus": "0", "mems": "0"},
               "devices": [{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
        m.apply(sleeper.pid)
        assert m.pids() == [sleeper.pid]
        d = m.paths()
        assert open(f"{d['memory']}/memory.limit_in_bytes").read().strip() == str(128 << 20)
        assert open(f"{d['cpuset']}/cpuset.cpus").read().strip() == "0"
        assert open(f"{d['devices']}/devices.list").read().split("\n")[0] == "c 1:3 rwm"
        st = m.stats()
        assert st["memory"]["limit"] == 128 << 20 and st["pids"] == {"current": 1, "limit": 10}
        m.freeze()
        assert open(f"{d['freezer']}/freezer.state").read().strip() == "FROZEN"
        m.thaw()
        assert open(f"{d['freezer']}/freezer.state").read().strip() == "THAWED"
        # a cgroup with a process cannot be removed
        with pytest.raises(SystemError_):
            m.remove()
    finally:
        sleeper.kill()
        sleeper.wait()
        m.remove()
        parent = V1Manager("/skifftest")
        parent.remove()
    assert not any(os.path.exists(p) for p in m.paths().values())


def test_v2_manager_on_real_cgroup2(sleeper):
    root = "/sys/fs/cgroup/unified"
    m = V2Manager(f"/skifftest-{os.getpid()}", root=root)
    m.create()
    try:
        m.apply(sleeper.pid)
        assert m.pids() == [sleeper.pid]
        m.freeze()
        deadline = time.monotonic() + 5
        while _state(sleeper.pid) not in ("S", "D"):  # frozen tasks sleep in the freezer
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert "frozen 1" in open(f"{m.dir}/cgroup.events").read()
        m.thaw()
        assert "frozen 0" in open(f"{m.dir}/cgroup.events").read()
    finally:
        os.kill(sleeper.pid, signal.SIGKILL)
        sleeper.wait()
        m.remove()
    assert not os.path.exists(m.dir)


def test_v1_more_resources_real():
    # cpu burst and idle, memory swappiness/kernelTCP/useHierarchy on this kernel's v1 files
    m = V1Manager(f"/skifftest/cg-more-{os.getpid()}")
    m.create()
    try:
        d = m.paths()
        cpu = next(v for k, v in d.items() if "cpu" in k.split(","))
        mem = d["memory"]
        res = {"cpu": {"burst": 1000, "quota": 50000, "period": 100000},
               "memory": {"swappiness": 10, "useHierarchy": True, "kernelTCP": 64 << 20}}
        if os.path.exists(os.path.join(cpu, "cpu.idle")):
            res["cpu"]["idle"] = 1
        m.set(res)
        assert open(os.path.join(cpu, "cpu.cfs_burst_us")).read().strip() == "1000"
        if "idle" in res["cpu"]:
            assert open(os.path.join(cpu, "cpu.idle")).read().strip() == "1"
        assert open(os.path.join(mem, "memory.swappiness")).read().strip() == "10"
        if os.path.exists(os.path.join(mem, "memory.kmem.tcp.limit_in_bytes")):
            assert open(os.path.join(mem, "memory.kmem.tcp.limit_in_bytes")).read().strip() \
                == str(64 << 20)
        # no hugetlb hierarchy on this host: refused clearly instead of ignored
        if "hugetlb" not in d:
            from skiff.errors import InvalidArgument
            with pytest.raises(InvalidArgument, match="hugetlb"):
                m.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]})
    finally:
        m.remove()
        for ctrl in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(f"/sys/fs/cgroup/{ctrl}/skifftest")
            except OSError:
                pass


def _cgroup_of(pid: int, hierarchy: str) -> str:
    for line in open(f"/proc/{pid}/cgroup"):
        _, ctrls, path = line.rstrip("\n").split(":", 2)
        if hierarchy in ctrls.split(","):
            return path
    raise AssertionError(f"{hierarchy} not in /proc/{pid}/cgroup")


@pytest.mark.parametrize("threads", [1, 3])
def test_v1_apply_self_moves_the_whole_process(threads):
    """apply(own pid): a single-threaded process moves itself through the
    ``tasks`` files (no threadgroup lock), a multi-threaded one through
    cgroup.procs; either way every thread lands in the cgroup on every
    hierarchy, and cgroup.procs lists the process."""
    m = V1Manager(f"/skifftest/cg-self-{os.getpid()}-{threads}")
    m.create()
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            import threading
            stop = threading.Event()
            for _ in range(threads - 1):
                threading.Thread(target=stop.wait, daemon=True).start()
            m.apply(os.getpid())
            os.write(w, b"1")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    try:
        assert os.read(r, 1) == b"1"
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        assert len(tids) == threads
        for name, d in m.paths().items():
            assert m.path in _cgroup_of(pid, name if name != "systemd" else "name=systemd")
            assert [int(x) for x in open(f"{d}/cgroup.procs").read().split()] == [pid]
            assert sorted(int(x) for x in open(f"{d}/tasks").read().split()) == tids
    finally:
        os.write(go_w, b"1")
        os.waitpid(pid, 0)
        for fd in (r, w, go_r, go_w):
            os.close(fd)
        m.remove()
        V1Manager("/skifftest").remove()
    assert not any(os.path.exists(p) for p in m.paths().values())


UNIFIED = "/sys/fs/cgroup/unified"


def _children() -> set[int]:
    out: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            out.update(int(x) for x in f.read().split())
    return out


@pytest.mark.skipif(not os.path.isfile(f"{UNIFIED}/cgroup.controllers"),
                    reason="no hybrid cgroup2 tree")
def test_fork_into_cgroup_child_is_born_there(tmp_path):
    from skiff.runtime.linux import syscalls as sc
    d = f"{UNIFIED}/skifftest-born-{os.getpid()}"
    os.mkdir(d)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    r, w = os.pipe()
    try:
        pid = sc.fork_into_cgroup(fd)
        if pid == 0:  # pragma: no cover - child
            try:
                os.write(w, open("/proc/self/cgroup").read().encode())
            finally:
                os._exit(0)
        os.close(w)
        out = os.read(r, 65536).decode()
        assert os.waitpid(pid, 0)[1] == 0
        assert f"0::/skifftest-born-{os.getpid()}" in out.splitlines()
        # a directory that is not a cgroup: refused, nothing forked
        bad = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
        before = _children()
        try:
            with pytest.raises(SystemError_, match="clone3 into cgroup"):
                sc.fork_into_cgroup(bad)
        finally:
            os.close(bad)
        assert _children() == before
    finally:
        os.close(r)
        os.close(fd)
        os.rmdir(d)
