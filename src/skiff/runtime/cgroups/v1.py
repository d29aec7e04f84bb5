"""cgroup v1: one directory per controller hierarchy,
``root``/<controller>/<cgroupsPath> (the kernel's
Documentation/admin-guide/cgroup-v1/*, as runc's libcontainer/cgroups/fs).
Resources are OCI runtime-spec config-linux.md#control-groups.
"""

from __future__ import annotations

import errno
import os
import time

from skiff.errors import InvalidArgument, SystemError_

# hierarchies we never join (the v2 tree of a hybrid host)
_SKIP = {"unified"}


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path in the hierarchy holding ``controller``."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                names = ctrls.split(",")
                if controller in names or f"name={controller}" in names:
                    return path
    except OSError:
        pass
    return "/"


def _single_threaded() -> bool:
    """Whether this process has exactly one thread (/proc/self/task)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def parse_pids(text: str) -> list[int]:
    """cgroup.procs content -> list of pids."""
    return [int(x) for x in text.split()]


def _write(path: str, value) -> None:
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as e:
        raise SystemError_(f"write {value!r} to {path}: {os.strerror(e.errno).lower()}",
                           errno=e.errno or 0, path=path) from None


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _dev(d: dict, value) -> str:
    return f"{d['major']}:{d['minor']} {value}"


def device_rule(d: dict) -> str:
    """OCI device cgroup rule -> "c 1:3 rwm" ("a *:* rwm" for everything)."""
    t = d.get("type") or "a"
    if t not in ("a", "c", "b"):
        raise InvalidArgument(f"invalid device cgroup type {t!r}")
    major = d.get("major")
    minor = d.get("minor")
    major = "*" if major is None or major == -1 else str(major)
    minor = "*" if minor is None or minor == -1 else str(minor)
    return f"{t} {major}:{minor} {d.get('access') or 'rwm'}"


class V1Manager:
    """A container's cgroup on every mounted v1 hierarchy under ``root``.

    ``path`` is the cgroupsPath: absolute paths are below each hierarchy's
    root, relative ones below this process's own cgroup (as runc).
    """

    def __init__(self, path: str, root: str = "/sys/fs/cgroup"):
        self.path = path
        self.root = root
        self._paths: dict[str, str] | None = None

    # --- layout ---
    def controllers(self) -> dict[str, str]:
        """Controller name -> hierarchy mount directory (deduplicated symlinks
        such as cpu -> cpu,cpuacct)."""
        out: dict[str, str] = {}
        seen: set[str] = set()
        try:
            names = sorted(os.listdir(self.root))
        except OSError:
            return out
        for name in names:
            if name in _SKIP:
                continue
            d = os.path.join(self.root, name)
            real = os.path.realpath(d)
            if real in seen or not os.path.isfile(os.path.join(d, "cgroup.procs")):
                continue
            seen.add(real)
            out[name] = d
        return out

    def paths(self) -> dict[str, str]:
        """Controller -> host directory of this cgroup."""
        if self._paths is None:
            p = {}
            for name, mnt in self.controllers().items():
                rel = self.path if self.path.startswith("/") else \
                    os.path.join(_own_cgroup(name.split(",")[0]), self.path)
                p[name] = os.path.join(mnt, rel.lstrip("/"))
            self._paths = p
        return self._paths

    def _find(self, controller: str) -> str | None:
        for name, d in self.paths().items():
            if controller in name.split(","):
                return d
        return None

    # --- lifecycle ---
    def create(self) -> None:
        """mkdir -p every controller's directory; new cpuset directories get
        their parent's cpus/mems first (an empty cpuset cannot hold tasks)."""
        for name, d in self.paths().items():
            if "cpuset" in name.split(","):
                self._mkdir_cpuset(d)
            else:
                try:
                    os.makedirs(d, exist_ok=True)
                except OSError as e:
                    raise SystemError_(f"create cgroup {d}: {os.strerror(e.errno).lower()}",
                                       errno=e.errno or 0, path=d) from None

    def _mkdir_cpuset(self, d: str) -> None:
        mnt = self._find_mount(d)
        rel = os.path.relpath(d, mnt)
        cur = mnt
        for part in [] if rel == "." else rel.split(os.sep):
            parent, cur = cur, os.path.join(cur, part)
            if not os.path.isdir(cur):
                try:
                    os.mkdir(cur)
                except FileExistsError:
                    pass
                except OSError as e:
                    raise SystemError_(f"create cgroup {cur}: {os.strerror(e.errno).lower()}",
                                       errno=e.errno or 0, path=cur) from None
            for f in ("cpuset.cpus", "cpuset.mems"):
                mine = os.path.join(cur, f)
                try:
                    current = _read(mine).strip()
                except FileNotFoundError:
                    current = ""
                if not current:
                    try:
                        _write(mine, _read(os.path.join(parent, f)).strip())
                    except FileNotFoundError:
                        pass

    def _find_mount(self, d: str) -> str:
        for name, mnt in self.controllers().items():
            if d == mnt or d.startswith(mnt + "/"):
                return mnt
        return os.path.dirname(d)

    def apply(self, pid: int) -> None:
        """Move process ``pid`` into this cgroup on every hierarchy.

        A single-threaded caller moving itself writes "0" to each ``tasks``
        file instead of its pid to ``cgroup.procs``: moving the current
        thread alone skips the kernel's cgroup_threadgroup_rwsem write lock,
        whose RCU grace period costs 5-20 ms per container start (kernel
        cgroup_procs_write_start(), 6.0+). With one thread the whole process
        moves either way (cgroup-v1/cgroups.rst "tasks" and "cgroup.procs").
        """
        if pid == os.getpid() and _single_threaded():
            for d in self.paths().values():
                _write(os.path.join(d, "tasks"), 0)
            return
        for d in self.paths().values():
            _write(os.path.join(d, "cgroup.procs"), pid)

    def set(self, resources: dict) -> None:
        """Write OCI linux.resources (memory, cpu, pids, blockIO, devices)."""
        r = resources or {}
        self._set_devices(r.get("devices"))
        self._set_memory(r.get("memory") or {})
        self._set_cpu(r.get("cpu") or {})
        pids = r.get("pids") or {}
        if "limit" in pids and self._find("pids"):
            lim = pids["limit"]
            _write(os.path.join(self._find("pids"), "pids.max"),
                   "max" if lim is None or lim <= 0 else lim)
        self._set_blkio(r.get("blockIO") or {})
        self._set_hugetlb(r.get("hugepageLimits") or ())
        self._set_network(r.get("network") or {})
        if r.get("unified"):
            raise InvalidArgument("linux.resources.unified needs cgroup v2; this host "
                                  "runs cgroup v1")

    def _set_hugetlb(self, limits) -> None:
        d = self._find("hugetlb")
        for h in limits:
            if not d:
                raise InvalidArgument("hugepageLimits given but no hugetlb cgroup is mounted")
            size = h.get("pageSize") or ""
            _write(os.path.join(d, f"hugetlb.{size}.limit_in_bytes"), int(h.get("limit") or 0))

    def _set_network(self, n: dict) -> None:
        if n.get("classID") is not None:
            d = self._find("net_cls")
            if d:
                _write(os.path.join(d, "net_cls.classid"), int(n["classID"]))
        if n.get("priorities"):
            d = self._find("net_prio")
            if d:
                for pr in n["priorities"]:
                    _write(os.path.join(d, "net_prio.ifpriomap"),
                           f"{pr['name']} {int(pr['priority'])}")

    def _set_devices(self, rules) -> None:
        d = self._find("devices")
        if not rules or not d:
            return
        for rule in rules:
            f = "devices.allow" if rule.get("allow") else "devices.deny"
            _write(os.path.join(d, f), device_rule(rule))

    def _set_memory(self, m: dict) -> None:
        d = self._find("memory")
        if not m or not d:
            return
        limit, swap = m.get("limit"), m.get("swap")
        lim_f = os.path.join(d, "memory.limit_in_bytes")
        sw_f = os.path.join(d, "memory.memsw.limit_in_bytes")
        has_sw = swap is not None and os.path.exists(sw_f)
        if limit is not None and has_sw:
            # memsw must stay >= limit: order the writes so each one is valid
            try:
                _write(lim_f, limit)
                _write(sw_f, swap)
            except SystemError_:
                _write(sw_f, swap)
                _write(lim_f, limit)
        elif limit is not None:
            _write(lim_f, limit)
        elif has_sw:
            _write(sw_f, swap)
        if m.get("reservation") is not None:
            _write(os.path.join(d, "memory.soft_limit_in_bytes"), m["reservation"])
        if m.get("swappiness") is not None and 0 <= int(m["swappiness"]) <= 100:
            _write(os.path.join(d, "memory.swappiness"), m["swappiness"])
        if m.get("disableOOMKiller"):
            _write(os.path.join(d, "memory.oom_control"), 1)
        if m.get("useHierarchy") and os.path.exists(os.path.join(d, "memory.use_hierarchy")):
            try:
                _write(os.path.join(d, "memory.use_hierarchy"), 1)
            except SystemError_:
                pass  # fixed at 1 on recent kernels
        # kernel memory limits: deprecated upstream, runc ignores "kernel" too
        if m.get("kernelTCP") is not None:
            f = os.path.join(d, "memory.kmem.tcp.limit_in_bytes")
            if os.path.exists(f):
                _write(f, m["kernelTCP"])

    def _set_cpu(self, c: dict) -> None:
        if not c:
            return
        d = self._find("cpu")
        if d:
            for key, f in (("shares", "cpu.shares"), ("period", "cpu.cfs_period_us"),
                           ("quota", "cpu.cfs_quota_us"), ("burst", "cpu.cfs_burst_us"),
                           ("realtimePeriod", "cpu.rt_period_us"),
                           ("realtimeRuntime", "cpu.rt_runtime_us"), ("idle", "cpu.idle")):
                if key in ("burst", "idle") and c.get(key) is not None and \
                        not os.path.exists(os.path.join(d, f)):
                    raise InvalidArgument(f"cpu.{key} is not supported by this kernel")
                if c.get(key) not in (None, 0) or (key == "quota" and c.get(key) == -1):
                    _write(os.path.join(d, f), c[key])
        d = self._find("cpuset")
        if d:
            if c.get("cpus"):
                _write(os.path.join(d, "cpuset.cpus"), c["cpus"])
            if c.get("mems"):
                _write(os.path.join(d, "cpuset.mems"), c["mems"])

    def _set_blkio(self, b: dict) -> None:
        d = self._find("blkio")
        if not b or not d:
            return
        if b.get("weight"):
            f = os.path.join(d, "blkio.weight")
            if not os.path.exists(f):
                f = os.path.join(d, "blkio.bfq.weight")
            _write(f, b["weight"])
        if b.get("leafWeight") and os.path.exists(os.path.join(d, "blkio.leaf_weight")):
            _write(os.path.join(d, "blkio.leaf_weight"), b["leafWeight"])
        for wd in b.get("weightDevice") or ():
            if wd.get("weight"):
                _write(os.path.join(d, "blkio.weight_device"), _dev(wd, wd["weight"]))
        for key, f in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                       ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                       ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                       ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device")):
            for td in b.get(key) or ():
                _write(os.path.join(d, f), _dev(td, td["rate"]))

    def freeze(self) -> None:
        """freezer.state = FROZEN, waiting until the kernel reports it."""
        self._freezer("FROZEN")

    def thaw(self) -> None:
        """freezer.state = THAWED."""
        self._freezer("THAWED")

    def _freezer(self, state: str) -> None:
        d = self._find("freezer")
        if not d:
            raise SystemError_(f"no freezer cgroup for {self.path}", path=self.path)
        f = os.path.join(d, "freezer.state")
        for _ in range(1000):
            _write(f, state)
            if _read(f).strip() == state:
                return
            time.sleep(0.001)
        raise SystemError_(f"cgroup {self.path} did not become {state.lower()}", path=self.path)

    def stats(self) -> dict:
        """Memory (bytes), pids, cpu (ns) counters of the cgroup."""
        out: dict = {}

        def num(p):
            try:
                return int(_read(p).strip())
            except (OSError, ValueError):
                return None

        d = self._find("memory")
        if d:
            out["memory"] = {"usage": num(os.path.join(d, "memory.usage_in_bytes")),
                             "max_usage": num(os.path.join(d, "memory.max_usage_in_bytes")),
                             "limit": num(os.path.join(d, "memory.limit_in_bytes")),
                             "failcnt": num(os.path.join(d, "memory.failcnt"))}
            try:
                out["memory"]["stat"] = {k: int(v) for k, v in (
                    line.split() for line in _read(os.path.join(d, "memory.stat")).splitlines())}
            except OSError:
                pass
        d = self._find("pids")
        if d:
            mx = None
            try:
                s = _read(os.path.join(d, "pids.max")).strip()
                mx = None if s == "max" else int(s)
            except OSError:
                pass
            out["pids"] = {"current": num(os.path.join(d, "pids.current")), "limit": mx}
        d = self._find("cpuacct")
        if d:
            out["cpu"] = {"usage_ns": num(os.path.join(d, "cpuacct.usage"))}
            try:
                out["cpu"]["percpu_ns"] = [int(x) for x in
                                           _read(os.path.join(d, "cpuacct.usage_percpu")).split()]
                st = dict(line.split() for line in
                          _read(os.path.join(d, "cpuacct.stat")).splitlines())
                hz = os.sysconf("SC_CLK_TCK")
                out["cpu"]["user_ns"] = int(st.get("user", 0)) * 10**9 // hz
                out["cpu"]["system_ns"] = int(st.get("system", 0)) * 10**9 // hz
            except (OSError, ValueError):
                pass
        d = self._find("cpu")
        if d:
            try:
                st = dict(line.split() for line in
                          _read(os.path.join(d, "cpu.stat")).splitlines())
                out.setdefault("cpu", {})["throttling"] = {
                    "periods": int(st.get("nr_periods", 0)),
                    "throttled_periods": int(st.get("nr_throttled", 0)),
                    "throttled_time": int(st.get("throttled_time", 0))}
            except (OSError, ValueError):
                pass
        return out

    def pids(self) -> list[int]:
        """Pids in the cgroup (from the pids, memory or first hierarchy)."""
        for c in ("pids", "memory", "freezer"):
            d = self._find(c)
            if d:
                break
        else:
            ds = list(self.paths().values())
            d = ds[0] if ds else None
        if not d:
            return []
        try:
            return parse_pids(_read(os.path.join(d, "cgroup.procs")))
        except FileNotFoundError:
            return []

    def remove(self) -> None:
        """rmdir the cgroup in every hierarchy (retrying EBUSY for ~1 s)."""
        for d in self.paths().values():
            _rmdir(d)


def _rmdir(d: str) -> None:
    # remove child cgroups first (a container may have made some)
    try:
        for name in os.listdir(d):
            sub = os.path.join(d, name)
            if os.path.isdir(sub) and not os.path.islink(sub):
                _rmdir(sub)
    except FileNotFoundError:
        return
    except OSError:
        pass
    for i in range(100):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or i == 99:
                raise SystemError_(f"remove cgroup {d}: {os.strerror(e.errno).lower()}",
                                   errno=e.errno or 0, path=d) from None
            time.sleep(0.01)
