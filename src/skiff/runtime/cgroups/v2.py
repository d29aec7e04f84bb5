"""cgroup v2 (unified): one directory ``root``/<cgroupsPath> (the kernel's
Documentation/admin-guide/cgroup-v2.rst), with runc's conversions of OCI
runtime-spec config-linux.md#control-groups values (libcontainer/cgroups/fs2):
memory.max/low/swap.max, cpu.weight/max, cpuset.cpus/mems, io.weight/max,
pids.max, cgroup.freeze, and linux.resources.unified written as given.
Device rules need eBPF on v2 and are not applied yet (debug log).
"""

from __future__ import annotations

import errno
import os
import time

from skiff.errors import Conflict, InvalidArgument, SystemError_
from skiff.runtime.cgroups.v1 import (_own_cgroup, _read, _refuse_unusable, _write, all_pids, clean_path,
                                      keyed_int, normalize, reset_affinity)

from skiff.runtime.linux._log import log  # noqa: E402


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000] (runc's formula)."""
    if not shares:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000] (runc's formula)."""
    if not weight:
        return 0
    return 1 + (weight - 10) * 9999 // 990


class V2Manager:
    """A container's cgroup in the unified hierarchy at ``root``."""

    def __init__(self, path: str, root: str = "/sys/fs/cgroup",
                 resolved: dict[str, str] | None = None):
        self.path = path = clean_path(path)
        self.root = root
        if resolved and resolved.get(""):
            self.dir = resolved[""]  # saved by resolved() at create time
        else:
            rel = path if path.startswith("/") else os.path.join(_own_cgroup(""), path)
            self.dir = os.path.join(root, rel.lstrip("/"))
        self._refused = False  # create() found someone else's cgroup: hands off

    def paths(self) -> dict[str, str]:
        return {"": self.dir}

    def resolved(self) -> dict[str, str]:
        """The cgroup's directory for the container's state (see V1Manager)."""
        return {"": self.dir}

    def _f(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def create(self) -> None:
        """mkdir -p, enabling the root's controllers in each ancestor's
        cgroup.subtree_control (best effort: a controller the kernel refuses
        is left off). As runc, an existing cgroup holding processes or
        frozen is refused (Conflict) and then never killed nor removed."""
        frozen = False
        try:
            frozen = _read(self._f("cgroup.freeze")).strip() == "1"
        except OSError:
            pass
        try:
            _refuse_unusable(all_pids(self.dir) if os.path.isdir(self.dir) else [], frozen)
        except Conflict:
            self._refused = True
            raise
        try:
            ctrls = _read(os.path.join(self.root, "cgroup.controllers")).split()
        except OSError:
            ctrls = []
        rel = os.path.relpath(self.dir, self.root)
        real = _is_cgroupfs(self.root)  # a fake root (tests) gets appended lines
        cur = self.root
        for part in [] if rel == "." else rel.split(os.sep):
            sub = os.path.join(cur, "cgroup.subtree_control")
            for c in ctrls:  # one by one: the kernel refuses a whole line for one bad name
                try:
                    with open(sub, "w" if real else "a") as f:
                        f.write(f"+{c}" if real else f"+{c}\n")
                except OSError:
                    pass
            cur = os.path.join(cur, part)
            try:
                os.mkdir(cur)
            except FileExistsError:
                pass
            except OSError as e:
                raise SystemError_(f"create cgroup {cur}: {os.strerror(e.errno).lower()}",
                                   errno=e.errno or 0, path=cur) from None

    def apply(self, pid: int, unified: bool = True) -> None:
        """Write ``pid`` into cgroup.procs, then reset its CPU affinity to
        the cgroup's cpuset (as runc). ``unified`` is for the v1 manager's
        hybrid tree; here the one tree is always joined."""
        _write(self._f("cgroup.procs"), pid)
        if pid == os.getpid() and _is_real_root(self.root):
            reset_affinity(0)

    def set(self, resources: dict) -> None:
        """Write OCI linux.resources into the v2 files."""
        r = normalize(resources)
        m = r.get("memory") or {}
        limit, swap = int(m.get("limit") or 0), int(m.get("swap") or 0)  # 0 = unset (runc)
        if swap and swap != -1:
            # OCI swap is memory+swap; v2's memory.swap.max is swap alone
            mem = limit or self._current_limit()
            if mem <= 0:
                raise InvalidArgument("unable to set swap limit without memory limit")
            if swap < mem:
                raise InvalidArgument(f"memory+swap limit ({swap}) should be bigger than "
                                      f"memory limit ({mem})")
        if m.get("checkBeforeUpdate"):
            self._check_before_update(limit, swap)
        if swap:
            val = "max" if swap == -1 else swap - (limit or self._current_limit())
            try:
                _write(self._f("memory.swap.max"), val)
            except SystemError_:
                if os.path.exists(self._f("memory.swap.max")) or swap != -1:
                    raise
        if limit:
            _write(self._f("memory.max"), "max" if limit == -1 else limit)
        if m.get("reservation"):
            _write(self._f("memory.low"), "max" if m["reservation"] == -1 else m["reservation"])
        c = r.get("cpu") or {}
        if c.get("shares"):
            _write(self._f("cpu.weight"), shares_to_weight(int(c["shares"])))
        q, period = int(c.get("quota") or 0), int(c.get("period") or 0)
        if q or period:
            # "$MAX $PERIOD"; a quota alone keeps the period, a period alone the quota
            cur_q, cur_p = self._current_cpu_max()
            val = "max" if q < 0 else str(q) if q else cur_q
            period_s = str(period) if period else cur_p
            _write(self._f("cpu.max"), f"{val} {period_s}" if period_s else val)
        if c.get("burst") is not None:
            _write(self._f("cpu.max.burst"), int(c["burst"]))
        if c.get("idle") is not None:
            _write(self._f("cpu.idle"), int(c["idle"]))
        if c.get("realtimeRuntime") or c.get("realtimePeriod"):
            raise InvalidArgument("cpu realtimeRuntime/realtimePeriod need cgroup v1 "
                                  "(cgroup v2 has no realtime group scheduling)")
        if m.get("disableOOMKiller"):
            raise InvalidArgument("memory.disableOOMKiller is not supported on cgroup v2")
        if m.get("swappiness") is not None and m["swappiness"] not in (-1, 60):
            log.debug("memory.swappiness ignored on cgroup v2")
        for h in r.get("hugepageLimits") or ():
            _write(self._f(f"hugetlb.{h.get('pageSize')}.max"), int(h.get("limit") or 0))
            rsvd = self._f(f"hugetlb.{h.get('pageSize')}.rsvd.max")
            if os.path.exists(rsvd):
                _write(rsvd, int(h.get("limit") or 0))
        if (r.get("network") or {}).get("classID") or (r.get("network") or {}).get("priorities"):
            raise InvalidArgument("network classID/priorities need the v1 net_cls/net_prio "
                                  "controllers")
        if c.get("cpus"):
            _write(self._f("cpuset.cpus"), c["cpus"])
        if c.get("mems"):
            _write(self._f("cpuset.mems"), c["mems"])
        p = r.get("pids") or {}
        if "limit" in p:
            lim = p["limit"]
            _write(self._f("pids.max"), "max" if lim is None or lim <= 0 else lim)
        b = r.get("blockIO") or {}
        # runc: the BFQ scheduler's io.bfq.weight takes the v1 weight as is;
        # without it io.weight gets the converted value
        bfq = os.path.exists(self._f("io.bfq.weight"))
        if b.get("weight"):
            if bfq:
                _write(self._f("io.bfq.weight"), int(b["weight"]))
            else:
                _write(self._f("io.weight"), f"default {blkio_to_io_weight(int(b['weight']))}")
        for wd in b.get("weightDevice") or ():
            if wd.get("weight"):
                if bfq:
                    _write(self._f("io.bfq.weight"), f"{wd['major']}:{wd['minor']} {wd['weight']}")
                else:
                    _write(self._f("io.weight"), f"{wd['major']}:{wd['minor']} "
                                                 f"{blkio_to_io_weight(int(wd['weight']))}")
        for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                          ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
            for td in b.get(key) or ():
                _write(self._f("io.max"), f"{td['major']}:{td['minor']} {name}={td['rate']}")
        if r.get("devices"):
            if _is_cgroupfs(self.dir):
                # v2 has no devices.allow: an eBPF program on the directory (runc)
                from skiff.runtime.cgroups import devices_bpf
                devices_bpf.apply(self.dir, r["devices"])
            else:
                log.debug("device rules not applied to %s: not a cgroup2 directory", self.dir)
        for k, v in (r.get("unified") or {}).items():
            if "/" in k or k.startswith("."):
                raise SystemError_(f"invalid unified cgroup key {k!r}", path=self.dir)
            _write(self._f(k), v)

    def _current_limit(self) -> int:
        try:
            s = _read(self._f("memory.max")).strip()
        except OSError:
            return 0
        return -1 if s == "max" else int(s or 0)

    def _current_cpu_max(self) -> tuple[str, str]:
        """cpu.max as ("max" or quota, period or "")."""
        try:
            parts = _read(self._f("cpu.max")).split()
        except OSError:
            parts = []
        return (parts[0] if parts else "max", parts[1] if len(parts) > 1 else "")

    def _check_before_update(self, limit: int, swap: int) -> None:
        """runc's memory.checkBeforeUpdate: refuse limits below the usage."""
        def num(name):
            try:
                return int(_read(self._f(name)).strip())
            except (OSError, ValueError):
                return 0
        usage = num("memory.current")
        if limit > 0 and limit < usage:
            raise InvalidArgument(f"rejecting memory limit {limit} below current usage {usage}")
        if swap > 0:
            total = usage + num("memory.swap.current")
            if swap < total:
                raise InvalidArgument(f"rejecting memory+swap limit {swap} below current "
                                      f"usage {total}")

    def freeze(self) -> None:
        """cgroup.freeze = 1, waiting for "frozen 1" in cgroup.events."""
        self._freeze("1")

    def thaw(self) -> None:
        """cgroup.freeze = 0."""
        self._freeze("0")

    def _freeze(self, v: str) -> None:
        _write(self._f("cgroup.freeze"), v)
        ev = self._f("cgroup.events")
        for _ in range(1000):
            try:
                lines = dict(line.split() for line in _read(ev).splitlines() if line.strip())
            except OSError:
                return
            if lines.get("frozen", v) == v:
                return
            time.sleep(0.001)
        raise SystemError_(f"cgroup {self.path} did not {'freeze' if v == '1' else 'thaw'}",
                           path=self.dir)

    def stats(self) -> dict:
        """memory.current/max, pids.current/max, cpu.stat usage_usec (as ns)."""
        out: dict = {}

        def val(name):
            try:
                s = _read(self._f(name)).strip()
            except OSError:
                return None
            if s == "max":
                return None
            try:
                return int(s)
            except ValueError:
                return None

        out["memory"] = {"usage": val("memory.current"), "limit": val("memory.max")}
        out["pids"] = {"current": val("pids.current"), "limit": val("pids.max")}
        try:
            st = dict(line.split() for line in _read(self._f("cpu.stat")).splitlines())
            out["cpu"] = {"usage_ns": int(st["usage_usec"]) * 1000}
        except (OSError, KeyError, ValueError):
            pass
        return out

    def runc_stats(self) -> dict:
        """The ``data`` of ``runc events --stats`` (runc's types.Stats)."""
        from skiff.runtime.cgroups import _runcstats as rs
        return rs.v2_stats(self.dir)

    def oom_kill_count(self) -> int | None:
        """memory.events "oom_kill" of the cgroup (None when unreadable)."""
        return keyed_int(self._f("memory.events"), "oom_kill")

    def pids(self) -> list[int]:
        """Pids in cgroup.procs of the cgroup and its sub-cgroups."""
        if self._refused:
            return []
        return all_pids(self.dir)

    def remove(self) -> None:
        """rmdir the cgroup directory and its sub-cgroups (retrying EBUSY
        for ~1 s). A cgroup create() refused is left alone."""
        if self._refused:
            return
        try:
            subs = [e.path for e in os.scandir(self.dir) if e.is_dir(follow_symlinks=False)]
        except OSError:
            subs = []
        for sub in subs:
            V2Manager("/", root=sub).remove()
        for i in range(100):
            try:
                os.rmdir(self.dir)
                return
            except FileNotFoundError:
                return
            except OSError as e:
                if e.errno != errno.EBUSY or i == 99:
                    raise SystemError_(f"remove cgroup {self.dir}: {os.strerror(e.errno).lower()}",
                                       errno=e.errno or 0, path=self.dir) from None
                time.sleep(0.01)


_real_roots: dict[str, bool] = {}


def _is_real_root(root: str) -> bool:
    """``root`` is the kernel's cgroup2 mount (not a test's fake tree)."""
    r = _real_roots.get(root)
    if r is None:
        r = _real_roots[root] = root == "/sys/fs/cgroup" or _is_cgroupfs(root)
    return r


def _is_cgroupfs(path: str) -> bool:
    """True when ``path`` is on a real cgroup2 file system (statfs magic)."""
    try:
        import ctypes
        buf = ctypes.create_string_buffer(256)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.statfs(os.fsencode(path), buf) != 0:
            return False
        magic = int.from_bytes(buf.raw[:8], "little")
        return magic == 0x63677270  # CGROUP2_SUPER_MAGIC
    except Exception:
        return False
