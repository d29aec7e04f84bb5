"""``runc events --stats`` data: runc's types.Stats (types/events.go) built
from the cgroup files, with Go's encoding rules applied (``omitempty``
fields left out when zero, structs always present):

    {"cpu": {"usage": {"total", "percpu", "percpu_kernel", "percpu_user",
                       "kernel", "user"},
             "throttling": {"periods", "throttledPeriods", "throttledTime"}},
     "cpuset": {"cpus": [..], "cpu_exclusive", "mems": [..], ...},
     "memory": {"cache", "usage": {"limit", "usage", "max", "failcnt"},
                "swap": {...}, "kernel": {...}, "kernelTCP": {...}, "raw": {...}},
     "pids": {"current", "limit"},
     "blkio": {"ioServiceBytesRecursive": [{"major", "minor", "op", "value"}], ...},
     "hugetlb": {"2MB": {"usage", "max", "failcnt"}},
     "intel_rdt": {}, "network_interfaces": null}

Loaded only by ``events`` (never on the run path).
"""

from __future__ import annotations

import os

#: "max" / unlimited as the kernel prints it, read as Go's MaxUint64 by runc
_MAX = (1 << 64) - 1


def read_or_none(path: str) -> str | None:
    """The text of a cgroup (or /proc) file, None if it cannot be read."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _num(path: str) -> int:
    s = read_or_none(path)
    if s is None:
        return 0
    s = s.strip()
    if s == "max":
        return _MAX
    try:
        return int(s)
    except ValueError:
        return 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (read_or_none(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def _omit(d: dict, *keys: str) -> dict:
    """Drop ``keys`` whose value is zero/empty (Go's omitempty)."""
    return {k: v for k, v in d.items() if not (k in keys and not v)}


def _entry(limit: int, usage: int, mx: int, failcnt: int) -> dict:
    return _omit({"limit": limit, "usage": usage, "max": mx, "failcnt": failcnt},
                 "usage", "max")


def _cpu_list(text: str | None) -> list[int]:
    out: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        try:
            out += list(range(int(a), int(b or a) + 1))
        except ValueError:
            pass
    return out


def _blkio_entries(path: str) -> list[dict]:
    out = []
    for line in (read_or_none(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            ma, _, mi = parts[0].partition(":")
            try:
                e = {"major": int(ma), "minor": int(mi), "op": parts[1], "value": int(parts[2])}
            except ValueError:
                continue
            out.append(_omit(e, "major", "minor", "op", "value"))
        elif len(parts) == 2 and ":" in parts[0]:  # blkio.time_recursive, sectors
            ma, _, mi = parts[0].partition(":")
            try:
                e = {"major": int(ma), "minor": int(mi), "op": "", "value": int(parts[1])}
            except ValueError:
                continue
            out.append(_omit(e, "major", "minor", "op", "value"))
    return out


def _base() -> dict:
    return {"cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
            "cpuset": {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0,
                       "memory_migrate": 0, "memory_spread_page": 0, "memory_spread_slab": 0,
                       "memory_pressure": 0, "sched_load_balance": 0,
                       "sched_relax_domain_level": 0},
            "memory": {"usage": {"limit": 0, "failcnt": 0}, "swap": {"limit": 0, "failcnt": 0},
                       "kernel": {"limit": 0, "failcnt": 0},
                       "kernelTCP": {"limit": 0, "failcnt": 0}, "event_count": {}},
            "pids": {}, "blkio": {}, "hugetlb": {}, "intel_rdt": {},
            "network_interfaces": None}


def v1_stats(find) -> dict:
    """``find(controller)`` -> the container's directory in that v1 hierarchy."""
    hz = os.sysconf("SC_CLK_TCK") or 100
    out = _base()
    d = find("cpuacct")
    if d:
        usage = {"total": _num(os.path.join(d, "cpuacct.usage"))}
        usage["percpu"] = [int(x) for x in (read_or_none(os.path.join(d, "cpuacct.usage_percpu"))
                                            or "").split()]
        pk, pu = [], []
        for line in (read_or_none(os.path.join(d, "cpuacct.usage_all")) or "").splitlines()[1:]:
            parts = line.split()
            if len(parts) == 3:
                pu.append(int(parts[1]))
                pk.append(int(parts[2]))
        usage["percpu_kernel"], usage["percpu_user"] = pk, pu
        st = _kv(os.path.join(d, "cpuacct.stat"))
        usage["kernel"] = st.get("system", 0) * 10**9 // hz
        usage["user"] = st.get("user", 0) * 10**9 // hz
        out["cpu"]["usage"] = _omit(usage, "total", "percpu", "percpu_kernel", "percpu_user")
    d = find("cpu")
    if d:
        st = _kv(os.path.join(d, "cpu.stat"))
        out["cpu"]["throttling"] = _omit({"periods": st.get("nr_periods", 0),
                                          "throttledPeriods": st.get("nr_throttled", 0),
                                          "throttledTime": st.get("throttled_time", 0)},
                                         "periods", "throttledPeriods", "throttledTime")
    d = find("cpuset")
    if d:
        cs = {"cpus": _cpu_list(read_or_none(os.path.join(d, "cpuset.cpus")))}
        for key in ("cpu_exclusive",):
            cs[key] = _num(os.path.join(d, f"cpuset.{key}"))
        cs["mems"] = _cpu_list(read_or_none(os.path.join(d, "cpuset.mems")))
        for key in ("mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
                    "memory_spread_slab", "memory_pressure", "sched_load_balance"):
            cs[key] = _num(os.path.join(d, f"cpuset.{key}"))
        try:
            cs["sched_relax_domain_level"] = int(
                (read_or_none(os.path.join(d, "cpuset.sched_relax_domain_level")) or "0").strip())
        except ValueError:
            cs["sched_relax_domain_level"] = 0
        out["cpuset"] = _omit(cs, "cpus", "mems")
    d = find("memory")
    if d:
        mem: dict = {}
        raw = _kv(os.path.join(d, "memory.stat"))
        mem["cache"] = raw.get("cache", 0)
        for key, prefix in (("usage", "memory"), ("swap", "memory.memsw"),
                            ("kernel", "memory.kmem"), ("kernelTCP", "memory.kmem.tcp")):
            mem[key] = _entry(_num(os.path.join(d, f"{prefix}.limit_in_bytes")),
                              _num(os.path.join(d, f"{prefix}.usage_in_bytes")),
                              _num(os.path.join(d, f"{prefix}.max_usage_in_bytes")),
                              _num(os.path.join(d, f"{prefix}.failcnt")))
        mem["raw"] = raw
        mem["event_count"] = {}
        out["memory"] = _omit(mem, "cache", "raw")
    d = find("pids")
    if d:
        lim = _num(os.path.join(d, "pids.max"))
        out["pids"] = _omit({"current": _num(os.path.join(d, "pids.current")),
                             "limit": 0 if lim == _MAX else lim}, "current", "limit")
    d = find("blkio")
    if d:
        blk: dict = {}
        if os.path.exists(os.path.join(d, "blkio.io_serviced_recursive")):  # CFQ
            names = (("ioServiceBytesRecursive", "blkio.io_service_bytes_recursive"),
                     ("ioServicedRecursive", "blkio.io_serviced_recursive"),
                     ("ioQueueRecursive", "blkio.io_queued_recursive"),
                     ("ioServiceTimeRecursive", "blkio.io_service_time_recursive"),
                     ("ioWaitTimeRecursive", "blkio.io_wait_time_recursive"),
                     ("ioMergedRecursive", "blkio.io_merged_recursive"),
                     ("ioTimeRecursive", "blkio.time_recursive"),
                     ("sectorsRecursive", "blkio.sectors_recursive"))
        elif os.path.exists(os.path.join(d, "blkio.bfq.io_serviced_recursive")):  # BFQ
            names = (("ioServiceBytesRecursive", "blkio.bfq.io_service_bytes_recursive"),
                     ("ioServicedRecursive", "blkio.bfq.io_serviced_recursive"),
                     ("ioQueueRecursive", "blkio.bfq.io_queued_recursive"),
                     ("ioServiceTimeRecursive", "blkio.bfq.io_service_time_recursive"),
                     ("ioWaitTimeRecursive", "blkio.bfq.io_wait_time_recursive"),
                     ("ioMergedRecursive", "blkio.bfq.io_merged_recursive"),
                     ("ioTimeRecursive", "blkio.bfq.time_recursive"),
                     ("sectorsRecursive", "blkio.bfq.sectors_recursive"))
        else:  # throttling only
            names = (("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
                     ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive"))
        for key, f in names:
            entries = _blkio_entries(os.path.join(d, f))
            if entries:
                blk[key] = entries
        out["blkio"] = blk
    d = find("hugetlb")
    if d:
        for name in sorted(os.listdir(d)):
            if name.startswith("hugetlb.") and name.endswith(".limit_in_bytes") \
                    and ".rsvd." not in name:
                size = name[len("hugetlb."):-len(".limit_in_bytes")]
                out["hugetlb"][size] = _omit(
                    {"usage": _num(os.path.join(d, f"hugetlb.{size}.usage_in_bytes")),
                     "max": _num(os.path.join(d, f"hugetlb.{size}.max_usage_in_bytes")),
                     "failcnt": _num(os.path.join(d, f"hugetlb.{size}.failcnt"))},
                    "usage", "max")
    return out


def v2_stats(d: str) -> dict:
    """The container's cgroup2 directory ``d`` -> runc's types.Stats."""
    out = _base()
    st = _kv(os.path.join(d, "cpu.stat"))
    out["cpu"]["usage"] = _omit({"total": st.get("usage_usec", 0) * 1000,
                                 "kernel": st.get("system_usec", 0) * 1000,
                                 "user": st.get("user_usec", 0) * 1000}, "total")
    out["cpu"]["throttling"] = _omit({"periods": st.get("nr_periods", 0),
                                      "throttledPeriods": st.get("nr_throttled", 0),
                                      "throttledTime": st.get("throttled_usec", 0) * 1000},
                                     "periods", "throttledPeriods", "throttledTime")
    cs = out["cpuset"]
    cpus = _cpu_list(read_or_none(os.path.join(d, "cpuset.cpus.effective")))
    mems = _cpu_list(read_or_none(os.path.join(d, "cpuset.mems.effective")))
    out["cpuset"] = dict(({"cpus": cpus} if cpus else {}), **cs, **({"mems": mems} if mems else {}))
    raw = _kv(os.path.join(d, "memory.stat"))
    mem: dict = {"cache": raw.get("file", 0)}
    mem["usage"] = _entry(_num(os.path.join(d, "memory.max")),
                          _num(os.path.join(d, "memory.current")),
                          _num(os.path.join(d, "memory.peak")), 0)
    sw_usage = _num(os.path.join(d, "memory.swap.current"))
    mem["swap"] = _entry(_num(os.path.join(d, "memory.swap.max")),
                         sw_usage + mem["usage"].get("usage", 0) if sw_usage else 0,
                         _num(os.path.join(d, "memory.swap.peak")), 0)
    mem["kernel"] = {"limit": 0, "failcnt": 0}
    mem["kernelTCP"] = {"limit": 0, "failcnt": 0}
    mem["raw"] = raw
    ev = _kv(os.path.join(d, "memory.events"))
    mem["event_count"] = _omit({k: ev.get(k, 0) for k in ("low", "high", "max", "oom",
                                                          "oom_kill")},
                               "low", "high", "max", "oom", "oom_kill")
    out["memory"] = _omit(mem, "cache", "raw")
    lim = _num(os.path.join(d, "pids.max"))
    out["pids"] = _omit({"current": _num(os.path.join(d, "pids.current")),
                         "limit": 0 if lim == _MAX else lim}, "current", "limit")
    blk: dict = {}
    sb, sv = [], []
    for line in (read_or_none(os.path.join(d, "io.stat")) or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        ma, _, mi = parts[0].partition(":")
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op, dst in (("rbytes", "Read", sb), ("wbytes", "Write", sb),
                             ("rios", "Read", sv), ("wios", "Write", sv)):
            if key in kv:
                dst.append(_omit({"major": int(ma), "minor": int(mi), "op": op,
                                  "value": int(kv[key])}, "major", "minor", "op", "value"))
    if sb:
        blk["ioServiceBytesRecursive"] = sb
    if sv:
        blk["ioServicedRecursive"] = sv
    out["blkio"] = blk
    try:
        names = sorted(os.listdir(d))
    except OSError:
        names = []
    for name in names:
        if name.startswith("hugetlb.") and name.endswith(".max") and ".rsvd." not in name:
            size = name[len("hugetlb."):-len(".max")]
            ev = _kv(os.path.join(d, f"hugetlb.{size}.events"))
            out["hugetlb"][size] = _omit({"usage": _num(os.path.join(d, f"hugetlb.{size}.current")),
                                          "max": 0, "failcnt": ev.get("max", 0)}, "usage", "max")
    return out
