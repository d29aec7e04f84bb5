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

from skiff.errors import InvalidArgument, SystemError_
from skiff.runtime.cgroups.v1 import _own_cgroup, _read, _write, parse_pids

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

    def __init__(self, path: str, root: str = "/sys/fs/cgroup"):
        self.path = path
        self.root = root
        rel = path if path.startswith("/") else os.path.join(_own_cgroup(""), path)
        self.dir = os.path.join(root, rel.lstrip("/"))

    def paths(self) -> dict[str, str]:
        return {"": self.dir}

    def _f(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def create(self) -> None:
        """mkdir -p, enabling the root's controllers in each ancestor's
        cgroup.subtree_control (best effort: a controller the kernel refuses
        is left off)."""
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

    def apply(self, pid: int) -> None:
        """Write ``pid`` into cgroup.procs."""
        _write(self._f("cgroup.procs"), pid)

    def set(self, resources: dict) -> None:
        """Write OCI linux.resources into the v2 files."""
        r = resources or {}
        m = r.get("memory") or {}
        limit, swap = m.get("limit"), m.get("swap")
        if limit is not None:
            _write(self._f("memory.max"), "max" if limit == -1 else limit)
        if m.get("reservation") is not None:
            _write(self._f("memory.low"), "max" if m["reservation"] == -1 else m["reservation"])
        if swap is not None:
            if swap == -1:
                val = "max"
            elif limit is not None and limit > 0:
                # OCI swap is memory+swap; v2's swap.max is swap alone
                val = max(swap - limit, 0)
            else:
                val = swap
            _write(self._f("memory.swap.max"), val)
        c = r.get("cpu") or {}
        if c.get("shares"):
            _write(self._f("cpu.weight"), shares_to_weight(int(c["shares"])))
        if c.get("quota") is not None or c.get("period"):
            q = c.get("quota")
            period = c.get("period") or 100000
            _write(self._f("cpu.max"), f"{'max' if q is None or q <= 0 else q} {period}")
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
        if b.get("weight"):
            _write(self._f("io.weight"), f"default {blkio_to_io_weight(int(b['weight']))}")
        for wd in b.get("weightDevice") or ():
            if wd.get("weight"):
                _write(self._f("io.weight"),
                       f"{wd['major']}:{wd['minor']} {blkio_to_io_weight(int(wd['weight']))}")
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

    def pids(self) -> list[int]:
        """Pids in cgroup.procs."""
        try:
            return parse_pids(_read(self._f("cgroup.procs")))
        except FileNotFoundError:
            return []

    def remove(self) -> None:
        """rmdir the cgroup directory (retrying EBUSY for ~1 s)."""
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
