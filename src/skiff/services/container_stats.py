"""Container inspection and housekeeping: ``stats``, ``top``, ``pause`` /
``unpause``, ``container prune`` and ``system df``, as Engine API v1.44
(GET /containers/{id}/stats, GET /containers/{id}/top, POST
/containers/{id}/pause|unpause, POST /containers/prune, GET /system/df) and
dockerd's daemon/stats*.go, top_unix.go, pause.go, prune.go, disk_usage.go.

Statistics come from the container's cgroup ("<cgroup_parent>/<id>", v1
hierarchies on this host, v2 when the host is unified), read directly from
the cgroup files; CPU times are nanoseconds, memory bytes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import time
from typing import Callable

from ..errors import Conflict, InvalidArgument, NotFound, SkiffError
from ..runtime.cgroups._runcstats import read_or_none

log = logging.getLogger("skiff.container_stats")

ZERO_TIME = "0001-01-01T00:00:00Z"
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def rfc3339_now() -> str:
    """Now as Go's RFC3339Nano (UTC, 9 fraction digits kept: Docker prints them all)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + \
        f".{ns % 1_000_000_000:09d}Z"


def _int(path: str) -> int | None:
    s = read_or_none(path)
    if s is None:
        return None
    s = s.strip()
    if s == "max":
        return None
    try:
        return int(s)
    except ValueError:
        return None


def system_cpu_usage() -> int:
    """Host CPU time (ns) from /proc/stat's first line, as dockerd's
    getSystemCPUUsage (user+nice+system+idle+iowait+irq+softirq+steal)."""
    s = read_or_none("/proc/stat") or ""
    for line in s.splitlines():
        if line.startswith("cpu "):
            f = [int(x) for x in line.split()[1:8 + 1]]
            return sum(f[:8]) * 1_000_000_000 // _CLK_TCK
    return 0


def online_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def _blkio_list(path: str) -> list[dict] | None:
    """blkio.throttle.io_service_bytes lines "8:0 Read 123" -> Docker's
    BlkioStatEntry list (None when the file is absent or empty, as dockerd)."""
    s = read_or_none(path)
    if not s:
        return None
    out = []
    for line in s.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            ma, mi = parts[0].split(":")
            out.append({"major": int(ma), "minor": int(mi), "op": parts[1], "value": int(parts[2])})
    return out or None


class CgroupReader:
    """Reads one container's cgroup counters (v1 hierarchies or v2)."""

    def __init__(self, path: str, root: str = "/sys/fs/cgroup"):
        from ..runtime.cgroups.detect import mode, new_manager
        self.path = path
        self.root = root
        self.mode = mode(root)
        self.mgr = new_manager(path, root=root)

    def _dir(self, controller: str) -> str | None:
        if self.mode == "v2":
            return os.path.join(self.root, self.path.lstrip("/"))
        for name, d in self.mgr.paths().items():
            if controller in name.split(","):
                return d if os.path.isdir(d) else None
        return None

    def pids(self) -> list[int]:
        return list(self.mgr.pids())

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.mgr.paths().values())

    def sample(self) -> dict:
        """Docker's cpu_stats, memory_stats, pids_stats and blkio_stats."""
        return self._v2() if self.mode == "v2" else self._v1()

    def _v1(self) -> dict:
        cpu = {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
               "system_cpu_usage": system_cpu_usage(), "online_cpus": online_cpus(),
               "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
        d = self._dir("cpuacct")
        if d:
            cpu["cpu_usage"]["total_usage"] = _int(os.path.join(d, "cpuacct.usage")) or 0
            per = read_or_none(os.path.join(d, "cpuacct.usage_percpu"))
            if per:
                cpu["cpu_usage"]["percpu_usage"] = [int(x) for x in per.split()]
            st = read_or_none(os.path.join(d, "cpuacct.stat")) or ""
            kv = dict(line.split() for line in st.splitlines() if len(line.split()) == 2)
            ns = 1_000_000_000 // _CLK_TCK
            cpu["cpu_usage"]["usage_in_usermode"] = int(kv.get("user", 0)) * ns
            cpu["cpu_usage"]["usage_in_kernelmode"] = int(kv.get("system", 0)) * ns
        d = self._dir("cpu")
        if d:
            st = read_or_none(os.path.join(d, "cpu.stat")) or ""
            kv = dict(line.split() for line in st.splitlines() if len(line.split()) == 2)
            cpu["throttling_data"] = {"periods": int(kv.get("nr_periods", 0)),
                                      "throttled_periods": int(kv.get("nr_throttled", 0)),
                                      "throttled_time": int(kv.get("throttled_time", 0))}
        mem: dict = {}
        d = self._dir("memory")
        if d:
            mem = {"usage": _int(os.path.join(d, "memory.usage_in_bytes")) or 0,
                   "max_usage": _int(os.path.join(d, "memory.max_usage_in_bytes")) or 0,
                   "failcnt": _int(os.path.join(d, "memory.failcnt")) or 0,
                   "limit": _int(os.path.join(d, "memory.limit_in_bytes")) or 0}
            st = read_or_none(os.path.join(d, "memory.stat")) or ""
            mem["stats"] = {k: int(v) for k, v in (line.split() for line in st.splitlines()
                                                   if len(line.split()) == 2)}
            # dockerd caps the "no limit" value at the host's memory
            host = _host_memory()
            if host and (not mem["limit"] or mem["limit"] > host):
                mem["limit"] = host
        pids: dict = {}
        d = self._dir("pids")
        if d:
            pids = {"current": _int(os.path.join(d, "pids.current")) or 0}
            lim = _int(os.path.join(d, "pids.max"))
            if lim:
                pids["limit"] = lim
        blk = {k: None for k in ("io_service_bytes_recursive", "io_serviced_recursive",
                                 "io_queue_recursive", "io_service_time_recursive",
                                 "io_wait_time_recursive", "io_merged_recursive",
                                 "io_time_recursive", "sectors_recursive")}
        d = self._dir("blkio")
        if d:
            blk["io_service_bytes_recursive"] = _blkio_list(
                os.path.join(d, "blkio.throttle.io_service_bytes_recursive")) or \
                _blkio_list(os.path.join(d, "blkio.throttle.io_service_bytes"))
            blk["io_serviced_recursive"] = _blkio_list(
                os.path.join(d, "blkio.throttle.io_serviced_recursive")) or \
                _blkio_list(os.path.join(d, "blkio.throttle.io_serviced"))
        return {"cpu_stats": cpu, "memory_stats": mem, "pids_stats": pids, "blkio_stats": blk}

    def _v2(self) -> dict:
        d = self._dir("")
        cpu = {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
               "system_cpu_usage": system_cpu_usage(), "online_cpus": online_cpus(),
               "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
        st = read_or_none(os.path.join(d, "cpu.stat")) or ""
        kv = dict(line.split() for line in st.splitlines() if len(line.split()) == 2)
        cpu["cpu_usage"] = {"total_usage": int(kv.get("usage_usec", 0)) * 1000,
                            "usage_in_kernelmode": int(kv.get("system_usec", 0)) * 1000,
                            "usage_in_usermode": int(kv.get("user_usec", 0)) * 1000}
        cpu["throttling_data"] = {"periods": int(kv.get("nr_periods", 0)),
                                  "throttled_periods": int(kv.get("nr_throttled", 0)),
                                  "throttled_time": int(kv.get("throttled_usec", 0)) * 1000}
        mem = {"usage": _int(os.path.join(d, "memory.current")) or 0,
               "limit": _int(os.path.join(d, "memory.max")) or _host_memory()}
        ms = read_or_none(os.path.join(d, "memory.stat")) or ""
        mem["stats"] = {k: int(v) for k, v in (line.split() for line in ms.splitlines()
                                               if len(line.split()) == 2)}
        pids = {"current": _int(os.path.join(d, "pids.current")) or 0}
        lim = _int(os.path.join(d, "pids.max"))
        if lim:
            pids["limit"] = lim
        blk = {k: None for k in ("io_service_bytes_recursive", "io_serviced_recursive",
                                 "io_queue_recursive", "io_service_time_recursive",
                                 "io_wait_time_recursive", "io_merged_recursive",
                                 "io_time_recursive", "sectors_recursive")}
        return {"cpu_stats": cpu, "memory_stats": mem, "pids_stats": pids, "blkio_stats": blk}


def _host_memory() -> int:
    s = read_or_none("/proc/meminfo") or ""
    m = re.search(r"^MemTotal:\s+(\d+) kB", s, re.M)
    return int(m.group(1)) * 1024 if m else 0


def empty_cpu() -> dict:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def parse_ps_output(output: str, pids: list[int]) -> dict:
    """dockerd's parsePSOutput: {"Titles", "Processes"}, keeping the lines
    whose PID column is one of ``pids``; the last column (the command) takes
    the rest of the line. InvalidArgument when there is no PID column."""
    lines = output.split("\n")
    titles = lines[0].split()
    try:
        idx = titles.index("PID")
    except ValueError:
        raise SkiffError("Couldn't find PID field in ps output")
    want = set(pids)
    procs = []
    for line in lines[1:]:
        if not line.strip():
            continue
        fields = line.split()
        try:
            p = int(fields[idx])
        except (ValueError, IndexError):
            raise SkiffError(f"Unexpected pid '{fields[idx] if idx < len(fields) else ''}'")
        if p in want:
            n = len(titles) - 1
            procs.append(fields[:n] + [" ".join(fields[n:])])
    return {"Titles": titles, "Processes": procs}


def validate_ps_args(ps_args: str) -> None:
    """dockerd's validatePSArgs: only "pid=PID..." may rename the PID column."""
    for k, v in re.findall(r"\s+([^\s]*)=\s*(PID[^\s]*)", ps_args):
        if k != "pid":
            raise InvalidArgument(f'specifying "{k}={v}" is not allowed')


class ContainerStats:
    """stats/top/pause/unpause/prune/df. Needs from the daemon:
    ``get(ref) -> record``, ``records() -> list of records``, ``save(record)``,
    ``shim_of(cid) -> ShimClient | None``, ``remove(cid)`` (async, as
    ContainerService.remove), ``usage(cid) -> bytes`` of the writable layer,
    the ``images`` service, the ``snapshotter``, the ``events`` bus and the
    ``cgroup_parent`` ("/skiff")."""

    def __init__(self, *, get: Callable[[str], dict], records: Callable[[], list],
                 save: Callable[[dict], None], shim_of: Callable[[str], object],
                 remove, usage: Callable[[str], int], images, snapshotter, events,
                 cgroup_parent: str = "/skiff", cgroup_root: str = "/sys/fs/cgroup",
                 summaries: Callable[[], list] | None = None):
        self.get = get
        self.summaries = summaries
        self.records = records
        self.save = save
        self.shim_of = shim_of
        self.remove = remove
        self.usage = usage
        self.images = images
        self.snapshotter = snapshotter
        self.events = events
        self.cgroup_parent = cgroup_parent.rstrip("/") or ""
        self.cgroup_root = cgroup_root

    def cgroup(self, cid: str) -> CgroupReader:
        return CgroupReader(f"{self.cgroup_parent}/{cid}", root=self.cgroup_root)

    # ---- stats ----
    def sample(self, ref: str, pre: dict | None = None) -> dict:
        """One Docker stats object (types.StatsJSON) of the container;
        ``pre`` is the previous sample (its cpu_stats become precpu_stats)."""
        c = self.get(ref)
        now = rfc3339_now()
        base = {"name": c["Name"], "id": c["Id"], "read": now,
                "preread": pre["read"] if pre else ZERO_TIME,
                "num_procs": 0, "storage_stats": {}, "networks": {}}
        if not c["State"]["Running"]:
            base.update(read=ZERO_TIME, preread=ZERO_TIME, cpu_stats=empty_cpu(),
                        precpu_stats=empty_cpu(), memory_stats={}, pids_stats={},
                        blkio_stats={k: None for k in (
                            "io_service_bytes_recursive", "io_serviced_recursive",
                            "io_queue_recursive", "io_service_time_recursive",
                            "io_wait_time_recursive", "io_merged_recursive",
                            "io_time_recursive", "sectors_recursive")})
            return base
        s = self.cgroup(c["Id"]).sample()
        base.update(s)
        base["precpu_stats"] = pre["cpu_stats"] if pre else empty_cpu()
        return base

    async def stats(self, ref: str, stream: bool = True, one_shot: bool = False):
        """Async iterator of stats objects: one per second while ``stream``;
        else one, whose precpu_stats are a sample taken a second earlier
        unless ``one_shot`` (dockerd's behaviour)."""
        c = self.get(ref)
        if not stream:
            pre = None
            if not one_shot and c["State"]["Running"]:
                pre = self.sample(ref)
                await asyncio.sleep(1)
            yield self.sample(ref, pre)
            return
        pre = None
        while True:
            try:
                cur = self.sample(ref, pre)
            except NotFound:
                return
            yield cur
            if not self.get(ref)["State"]["Running"]:
                return
            pre = cur
            await asyncio.sleep(1)

    # ---- top ----
    async def top(self, ref: str, ps_args: str = "") -> dict:
        """GET /containers/{id}/top: host ``ps`` (default "-ef") on the pids
        of the container's cgroup. Conflict when it is not running."""
        c = self.get(ref)
        if not c["State"]["Running"]:
            raise Conflict(f"Container {c['Id']} is not running")
        ps_args = ps_args or "-ef"
        validate_ps_args(ps_args)
        pids = self.cgroup(c["Id"]).pids()
        args = ps_args.split(" ")
        loop = asyncio.get_running_loop()

        def run(argv):
            return subprocess.run(["ps", *argv], capture_output=True, text=True,
                                  errors="replace", timeout=30)

        r = await loop.run_in_executor(None, run, args + ["-q" + ",".join(map(str, pids))])
        if r.returncode != 0:
            r = await loop.run_in_executor(None, run, args)
            if r.returncode != 0:
                first = (r.stderr.splitlines() or [f"exit status {r.returncode}"])[0]
                raise SkiffError(f"ps: {first}")
        return parse_ps_output(r.stdout, pids)

    # ---- pause ----
    async def pause(self, ref: str) -> None:
        """POST /containers/{id}/pause: freeze through the shim. Conflict when
        not running or already paused."""
        c = self.get(ref)
        cid = c["Id"]
        st = c["State"]
        if not st["Running"]:
            raise Conflict(f"Container {cid} is not running")
        if st.get("Paused"):
            raise Conflict(f"Container {cid} is already paused")
        shim = self.shim_of(cid)
        if shim is None:
            raise Conflict(f"Container {cid} is not running")
        await shim.pause()
        st.update(Paused=True, Status="paused")
        self.save(c)
        self.events.publish("container", "pause", cid, self._attrs(c))

    async def unpause(self, ref: str) -> None:
        """POST /containers/{id}/unpause. Conflict when not paused."""
        c = self.get(ref)
        cid = c["Id"]
        st = c["State"]
        if not st.get("Paused"):
            raise Conflict(f"Container {cid} is not paused")
        shim = self.shim_of(cid)
        if shim is not None:
            await shim.resume()
        st.update(Paused=False, Status="running" if st["Running"] else st["Status"])
        self.save(c)
        self.events.publish("container", "unpause", cid, self._attrs(c))

    @staticmethod
    def _attrs(c: dict) -> dict:
        a = {"image": c["Config"].get("Image", ""), "name": c["Name"].lstrip("/")}
        a.update(c["Config"].get("Labels") or {})
        return a

    # ---- prune ----
    async def prune(self, filters: dict | None = None) -> dict:
        """POST /containers/prune: remove every stopped container matching
        ``filters`` (until=<timestamp|duration>, label=k[=v], label!=k[=v]).
        Returns {"ContainersDeleted", "SpaceReclaimed" (bytes)}."""
        from .containers import normalise_filters, parse_rfc3339
        f = normalise_filters(filters)
        for k in f:
            if k not in ("until", "label", "label!"):
                raise InvalidArgument(f"invalid filter '{k}'")
        until = None
        if f.get("until"):
            until = parse_until(f["until"][-1])
        deleted, reclaimed = [], 0
        for c in list(self.records()):
            st = c["State"]
            if st["Running"] or st.get("Paused") or st.get("Restarting") or \
                    st["Status"] in ("running", "paused", "restarting", "removing"):
                continue
            if until is not None and parse_rfc3339(c["Created"]) >= until:
                continue
            if not match_labels(c["Config"].get("Labels") or {}, f.get("label", []),
                                f.get("label!", [])):
                continue
            try:
                size = self.usage(c["Id"])
            except Exception:
                size = 0
            try:
                await self.remove(c["Id"])
            except NotFound:
                continue
            except SkiffError as e:
                log.warning("prune %s: %s", c["Id"], e)
                continue
            deleted.append(c["Id"])
            reclaimed += size
        self.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # ---- df ----
    def df(self, types: list[str] | None = None) -> dict:
        """GET /system/df: {"LayersSize", "Images", "Containers", "Volumes",
        "BuildCache"} as dockerd (sizes in bytes; an image's SharedSize is the
        size of its layers that other images use too)."""
        from ..snapshots.api import KIND_COMMITTED
        layer_size: dict[str, int] = {}
        for info in self.snapshotter.walk():
            if info.kind == KIND_COMMITTED:
                try:
                    layer_size[info.key] = self.snapshotter.usage(info.key).size
                except Exception:
                    layer_size[info.key] = 0
        recs = list(self.records())
        images = self.images.list(all=False)
        chains: dict[str, list[str]] = {}
        for im in images:
            try:
                chains[im["Id"]] = list(self.images.resolve(im["Id"]).chain_ids)
            except SkiffError:
                chains[im["Id"]] = []
        users: dict[str, int] = {}
        for ch in chains.values():
            for k in set(ch):
                users[k] = users.get(k, 0) + 1
        out_images = []
        for im in images:
            ch = chains.get(im["Id"], [])
            d = dict(im)
            d["Size"] = sum(layer_size.get(k, 0) for k in set(ch)) or im.get("Size", 0)
            d["SharedSize"] = sum(layer_size.get(k, 0) for k in set(ch) if users.get(k, 0) > 1)
            d["VirtualSize"] = d["Size"]
            d["Containers"] = sum(1 for c in recs if c["Image"] == im["Id"])
            out_images.append(d)
        status = {}
        if self.summaries is not None:
            try:
                status = {s["Id"]: s.get("Status", "") for s in self.summaries()}
            except Exception as e:  # noqa: BLE001
                log.debug("df: container summaries: %s", e)
        out_containers = []
        for c in sorted(recs, key=lambda c: c["Created"], reverse=True):
            from .containers import parse_rfc3339
            try:
                rw = self.usage(c["Id"])
            except Exception:
                rw = 0
            img_size = sum(layer_size.get(k, 0) for k in set(chains.get(c["Image"], [])))
            st = c["State"]
            out_containers.append({
                "Id": c["Id"], "Names": [c["Name"]], "Image": c["Config"].get("Image", ""),
                "ImageID": c["Image"], "Command": " ".join(([c["Path"]] + c["Args"]) if c["Path"] else []),
                "Created": int(parse_rfc3339(c["Created"])), "Ports": [],
                "SizeRw": rw, "SizeRootFs": rw + img_size,
                "Labels": c["Config"].get("Labels") or {}, "State": st["Status"],
                "Status": status.get(c["Id"]) or st["Status"], "HostConfig": {"NetworkMode": c["HostConfig"].get("NetworkMode", "default")},
                "NetworkSettings": {"Networks": c["NetworkSettings"].get("Networks", {})},
                "Mounts": c.get("Mounts", [])})
        return {"LayersSize": sum(layer_size.values()), "Images": out_images,
                "Containers": out_containers, "Volumes": [], "BuildCache": []}


def parse_until(v: str) -> float:
    """A filter's until value: unix seconds, RFC 3339, or a Go duration ago ("10m", "1h30m")."""
    from .containers import parse_rfc3339
    v = v.strip()
    if re.fullmatch(r"\d+(\.\d+)?", v):
        return float(v)
    m = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)", v)
    if m:
        total = 0.0
        unit = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        for num, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", v):
            total += float(num) * unit[u]
        return time.time() - total
    t = parse_rfc3339(v if re.search(r"(Z|[+-]\d\d:\d\d)$", v) else v + "Z")
    if not t:
        raise InvalidArgument(f"invalid until filter value: {v}")
    return t


def match_labels(labels: dict, want: list[str], not_want: list[str]) -> bool:
    """Docker's label filters: every ``want`` (k or k=v) present, no ``not_want``."""
    for v in want:
        k, eq, val = v.partition("=")
        if k not in labels or (eq and labels[k] != val):
            return False
    for v in not_want:
        k, eq, val = v.partition("=")
        if k in labels and (not eq or labels[k] == val):
            return False
    return True
