"""cgroup v1: one directory per controller hierarchy,
``root``/<controller>/<cgroupsPath> (the kernel's
Documentation/admin-guide/cgroup-v1/*, as runc's libcontainer/cgroups/fs).
Resources are OCI runtime-spec config-linux.md#control-groups, written with
runc's rules (0 = unset, ordering of dependent writes, retries on EINVAL).

On a hybrid host (a cgroup2 tree without controllers at ``root``/unified)
the container also gets a directory there and its processes join it, as
runc's fs driver does; that tree is never bound into the container.
"""

from __future__ import annotations

import errno
import os
import posixpath
import time

from skiff.errors import Conflict, InvalidArgument, SystemError_

# hierarchies handled apart (the v2 tree of a hybrid host)
_SKIP = {"unified"}

#: OCI linux.resources keys per object. Go's encoding/json matches object
#: keys case-insensitively, so runc accepts {"CPU": {"Cpus": "0"}} and
#: {"pagesize": "2MB"}; normalize() gives them their canonical spelling.
_KEYS = {
    "": ("devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma",
         "unified"),
    "memory": ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness",
               "disableOOMKiller", "useHierarchy", "checkBeforeUpdate"),
    "cpu": ("shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus",
            "mems", "idle"),
    "pids": ("limit",),
    "blockIO": ("weight", "leafWeight", "weightDevice", "throttleReadBpsDevice",
                "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"),
    "network": ("classID", "priorities"),
    "devices": ("allow", "type", "major", "minor", "access"),
    "hugepageLimits": ("pageSize", "limit"),
    "weightDevice": ("major", "minor", "weight", "leafWeight"),
    "throttle": ("major", "minor", "rate"),
    "priorities": ("name", "priority"),
}
_LOWER = {k: {n.lower(): n for n in v} for k, v in _KEYS.items()}
#: (object kind, key) -> kind of the value (an object or a list of objects)
_CHILD = {("", "memory"): "memory", ("", "cpu"): "cpu", ("", "pids"): "pids",
          ("", "blockIO"): "blockIO", ("", "network"): "network", ("", "devices"): "devices",
          ("", "hugepageLimits"): "hugepageLimits", ("blockIO", "weightDevice"): "weightDevice",
          ("blockIO", "throttleReadBpsDevice"): "throttle",
          ("blockIO", "throttleWriteBpsDevice"): "throttle",
          ("blockIO", "throttleReadIOPSDevice"): "throttle",
          ("blockIO", "throttleWriteIOPSDevice"): "throttle",
          ("network", "priorities"): "priorities"}


def _norm(obj, kind: str):
    if not isinstance(obj, dict):
        return obj
    names = _KEYS.get(kind, ())
    lower = _LOWER.get(kind, {})
    out: dict = {}
    for k, v in obj.items():
        name = k if k in names else lower.get(str(k).lower(), k)
        sub = _CHILD.get((kind, name))
        if sub is not None:
            v = [_norm(x, sub) for x in v] if isinstance(v, list) else _norm(v, sub)
        if isinstance(v, dict) and isinstance(out.get(name), dict) and name != "unified":
            v = dict(out[name], **v)  # Go decodes a repeated key into the same struct
        out[name] = v
    return out


def normalize(resources) -> dict:
    """OCI linux.resources with every known key in its canonical spelling."""
    return _norm(resources or {}, "")


def _possible_cpus() -> range:
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            last = f.read().strip().replace(",", "-").split("-")[-1]
        return range(int(last) + 1)
    except (OSError, ValueError):
        return range(os.cpu_count() or 1)


def reset_affinity(pid: int = 0) -> None:
    """Allow ``pid`` every CPU again; the kernel narrows the mask to the
    cgroup's cpuset. As runc (tryResetCPUAffinity): an affinity inherited from
    the caller (``taskset -c 0 runc run``) must not leak into the container."""
    try:
        os.sched_setaffinity(pid, _possible_cpus())
    except OSError:
        pass


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path in the hierarchy holding ``controller``
    ("" = the cgroup2 tree)."""
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


def clean_path(path: str) -> str:
    """A cgroupsPath cleaned lexically as if rooted (runc's utils.CleanPath):
    ".." can never climb above the hierarchy's root (absolute paths) or the
    caller's own cgroup (relative ones): "/../x" -> "/x", "a/../../b" -> "b".
    Raises InvalidArgument for a relative path that cleans to nothing (it
    would name the caller's own cgroup)."""
    cleaned = posixpath.normpath("/" + path).lstrip("/")
    if path.startswith("/"):
        return "/" + cleaned
    if not cleaned:
        raise InvalidArgument(f"invalid cgroupsPath {path!r}: it names the runtime's own cgroup")
    return cleaned


def keyed_int(path: str, key: str) -> int | None:
    """The value of ``key`` in a flat-keyed cgroup file ("key value" lines,
    e.g. memory.oom_control, memory.events); None if unreadable or absent."""
    try:
        for line in _read(path).splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return None


def parse_pids(text: str) -> list[int]:
    """cgroup.procs content -> list of pids."""
    return [int(x) for x in text.split()]


def all_pids(d: str) -> list[int]:
    """Pids in cgroup directory ``d`` and every sub-cgroup below it (runc's
    GetAllPids); a missing directory has none."""
    out: list[int] = []
    for cur, dirs, _ in os.walk(d):
        try:
            out += parse_pids(_read(os.path.join(cur, "cgroup.procs")))
        except (FileNotFoundError, ProcessLookupError, OSError):
            pass
    return out


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
    # the kernel knows r, w and m only: runc tolerates others ("rwa") in rules
    # that never reach the kernel; keep the valid letters
    access = "".join(ch for ch in "rwm" if ch in (d.get("access") or "rwm"))
    return f"{t} {major}:{minor} {access}" if access else ""


def _refuse_unusable(pids: list[int], frozen: bool) -> None:
    """runc's checks before creating a container in an existing cgroup."""
    if pids:
        raise Conflict(f"container's cgroup is not empty: {len(pids)} process(es) found")
    if frozen:
        raise Conflict("container's cgroup unexpectedly frozen")


class V1Manager:
    """A container's cgroup on every mounted v1 hierarchy under ``root``.

    ``path`` is the cgroupsPath: absolute paths are below each hierarchy's
    root, relative ones below this process's own cgroup (as runc).
    """

    def __init__(self, path: str, root: str = "/sys/fs/cgroup",
                 resolved: dict[str, str] | None = None):
        self.path = clean_path(path)
        self.root = root
        self._paths: dict[str, str] | None = None
        self._unified: str | None = None
        self._refused = False  # create() found someone else's cgroup: hands off
        if resolved:  # directories saved by resolved() at create time
            self._paths = {k: v for k, v in resolved.items() if k != "unified"}
            self._unified = resolved.get("unified", "")

    def resolved(self) -> dict[str, str]:
        """Every directory of this cgroup (controller -> dir, "unified" ->
        the hybrid cgroup2 dir), for the container's state: a relative
        cgroupsPath is resolved against the CREATOR's cgroups, so later
        commands run from elsewhere must reuse these (runc's state.json
        cgroup_paths)."""
        out = dict(self.paths())
        u = self.unified_path()
        if u:
            out["unified"] = u
        return out

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
        """Controller -> host directory of this cgroup (v1 hierarchies only)."""
        if self._paths is None:
            p = {}
            for name, mnt in self.controllers().items():
                rel = self.path if self.path.startswith("/") else \
                    os.path.join(_own_cgroup(name.split(",")[0]), self.path)
                p[name] = os.path.join(mnt, rel.lstrip("/"))
            self._paths = p
        return self._paths

    def unified_path(self) -> str | None:
        """The container's directory in the hybrid host's cgroup2 tree
        (``root``/unified), or None when there is no such tree."""
        if self._unified is None:
            mnt = os.path.join(self.root, "unified")
            if os.path.isfile(os.path.join(mnt, "cgroup.controllers")):
                rel = self.path if self.path.startswith("/") else \
                    os.path.join(_own_cgroup(""), self.path)
                self._unified = os.path.join(mnt, rel.lstrip("/"))
            else:
                self._unified = ""
        return self._unified or None

    def _find(self, controller: str) -> str | None:
        for name, d in self.paths().items():
            if controller in name.split(","):
                return d
        return None

    # --- lifecycle ---
    def create(self) -> None:
        """mkdir -p every controller's directory; new cpuset directories get
        their parent's cpus/mems first (an empty cpuset cannot hold tasks).

        As runc, an existing cgroup that holds processes or is frozen is
        refused (Conflict); this manager then never kills nor removes it."""
        self._check_usable()
        for name, d in self.paths().items():
            if "cpuset" in name.split(","):
                self._mkdir_cpuset(d)
            else:
                try:
                    os.makedirs(d, exist_ok=True)
                except OSError as e:
                    raise SystemError_(f"create cgroup {d}: {os.strerror(e.errno).lower()}",
                                       errno=e.errno or 0, path=d) from None
        u = self.unified_path()
        if u:
            try:
                os.makedirs(u, exist_ok=True)
            except OSError:
                pass  # best effort: no controllers live there

    def _check_usable(self) -> None:
        d = self._find("devices") or self._find("pids") or self._find("memory")
        pids = all_pids(d) if d and os.path.isdir(d) else []
        frozen = False
        f = self._find("freezer")
        if f:
            try:
                frozen = _read(os.path.join(f, "freezer.state")).strip() != "THAWED"
            except OSError:
                pass
        try:
            _refuse_unusable(pids, frozen)
        except Conflict:
            self._refused = True
            raise

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

    def apply(self, pid: int, unified: bool = True) -> None:
        """Move process ``pid`` into this cgroup on every hierarchy (and, if
        ``unified``, the hybrid cgroup2 tree: see join_unified); a process
        moving itself then resets its CPU affinity to the cgroup's cpuset.

        A single-threaded caller moving itself writes "0" to each ``tasks``
        file instead of its pid to ``cgroup.procs``: moving the current
        thread alone skips the kernel's cgroup_threadgroup_rwsem write lock,
        whose RCU grace period costs 5-20 ms per container start (kernel
        cgroup_procs_write_start(), 6.0+). With one thread the whole process
        moves either way (cgroup-v1/cgroups.rst "tasks" and "cgroup.procs").
        """
        me = pid == os.getpid()
        if me and _single_threaded():
            for d in self.paths().values():
                _write(os.path.join(d, "tasks"), 0)
        else:
            for d in self.paths().values():
                _write(os.path.join(d, "cgroup.procs"), pid)
        if unified:
            self.join_unified(0 if me else pid)
        if me:
            reset_affinity(0)

    def join_unified(self, pid: int) -> None:
        """Move ``pid`` (0: the caller) into the container's directory of the
        hybrid host's cgroup2 tree, as runc does; nothing without that tree,
        and a failure is ignored (the tree has no controllers: nothing is
        limited there). cgroup2 has no per-thread ``tasks`` file, so this
        write takes the threadgroup rwsem and its RCU grace period (5-20
        ms): the runtime does it from the intermediate for the init's pid,
        while the init sets up its rootfs, when no cgroup or user namespace
        depends on it being done first."""
        u = self.unified_path()
        if u:
            try:
                _write(os.path.join(u, "cgroup.procs"), pid)
            except SystemError_:
                pass

    def set(self, resources: dict) -> None:
        """Write OCI linux.resources (memory, cpu, pids, blockIO, devices,
        hugepageLimits, network) as runc's fs driver does."""
        r = normalize(resources)
        if r.get("unified"):
            raise InvalidArgument("invalid configuration: cannot use unified on cgroup v1 "
                                  "(linux.resources.unified needs cgroup v2)")
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

    def _set_hugetlb(self, limits) -> None:
        d = self._find("hugetlb")
        for h in limits:
            if not d:
                raise InvalidArgument("hugepageLimits given but no hugetlb cgroup is mounted "
                                      "(cannot set hugetlb limit: container could not join "
                                      "or create cgroup)")
            size = h.get("pageSize") or ""
            limit = int(h.get("limit") or 0)
            _write(os.path.join(d, f"hugetlb.{size}.limit_in_bytes"), limit)
            rsvd = os.path.join(d, f"hugetlb.{size}.rsvd.limit_in_bytes")
            if os.path.exists(rsvd):
                _write(rsvd, limit)

    def _set_network(self, n: dict) -> None:
        if n.get("classID"):
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
            text = device_rule(rule)
            if text:
                _write(os.path.join(d, f), text)

    def _set_memory(self, m: dict) -> None:
        """runc's setMemoryAndSwap: 0 means unset; with both limits given
        the write order keeps memsw >= limit at every step."""
        d = self._find("memory")
        if not m or not d:
            return
        limit = int(m.get("limit") or 0)
        swap = int(m.get("swap") or 0)
        lim_f = os.path.join(d, "memory.limit_in_bytes")
        sw_f = os.path.join(d, "memory.memsw.limit_in_bytes")
        has_sw = os.path.exists(sw_f)
        if limit == -1 and not swap and has_sw:
            swap = -1  # unlimited memory means unlimited memory+swap too
        if not has_sw:
            swap = 0
        done = False
        if limit and swap:
            try:
                cur = int(_read(lim_f).strip())
            except (OSError, ValueError):
                cur = 0
            if swap == -1 or cur < swap:
                _write(sw_f, swap)
                self._set_limit(lim_f, limit)
                done = True
        if not done:
            if limit:
                self._set_limit(lim_f, limit)
            if swap:
                _write(sw_f, swap)
        if m.get("reservation"):
            _write(os.path.join(d, "memory.soft_limit_in_bytes"), m["reservation"])
        sw = m.get("swappiness")
        if sw is not None and int(sw) != -1:
            if not 0 <= int(sw) <= 100:
                raise InvalidArgument(f"invalid value:{int(sw)}. valid memory swappiness "
                                      "range is 0-100")
            _write(os.path.join(d, "memory.swappiness"), int(sw))
        if m.get("disableOOMKiller"):
            _write(os.path.join(d, "memory.oom_control"), 1)
        if m.get("useHierarchy") and os.path.exists(os.path.join(d, "memory.use_hierarchy")):
            try:
                _write(os.path.join(d, "memory.use_hierarchy"), 1)
            except SystemError_:
                pass  # fixed at 1 on recent kernels
        # kernel memory limits: deprecated upstream, runc ignores "kernel" too
        if m.get("kernelTCP"):
            f = os.path.join(d, "memory.kmem.tcp.limit_in_bytes")
            if os.path.exists(f):
                _write(f, m["kernelTCP"])

    @staticmethod
    def _set_limit(path: str, limit: int) -> None:
        try:
            _write(path, limit)
        except SystemError_ as e:
            if e.errno != errno.EBUSY:
                raise
            d = os.path.dirname(path)

            def num(name):
                try:
                    return int(_read(os.path.join(d, name)).strip())
                except (OSError, ValueError):
                    return 0
            raise SystemError_(f"unable to set memory limit to {limit} (current usage: "
                               f"{num('memory.usage_in_bytes')}, peak usage: "
                               f"{num('memory.max_usage_in_bytes')})",
                               errno=errno.EBUSY, path=path) from None

    def _set_cpu(self, c: dict) -> None:
        """runc's CpuGroup.Set: shares (checked by reading back), period and
        quota (a period the kernel refuses against the old quota is retried
        after the quota), burst, realtime period then runtime, idle."""
        if not c:
            return
        d = self._find("cpu")
        if d:
            shares = int(c.get("shares") or 0)
            if shares:
                f = os.path.join(d, "cpu.shares")
                _write(f, shares)
                got = int(_read(f).strip())
                if shares > got:
                    raise InvalidArgument(f"the maximum allowed cpu-shares is {got}")
                if shares < got:
                    raise InvalidArgument(f"the minimum allowed cpu-shares is {got}")
            period = int(c.get("period") or 0)
            quota = int(c.get("quota") or 0)
            retry_period = False
            if period:
                try:
                    _write(os.path.join(d, "cpu.cfs_period_us"), period)
                except SystemError_ as e:
                    if e.errno != errno.EINVAL or not quota:
                        raise
                    retry_period = True
            burst = c.get("burst")
            retry_burst = False
            if burst is not None:
                try:
                    _write(os.path.join(d, "cpu.cfs_burst_us"), int(burst))
                except SystemError_ as e:
                    if e.errno == errno.ENOENT:
                        pass  # no burst knob on this kernel: ignored, as runc
                    elif e.errno != errno.EINVAL or not quota:
                        raise
                    else:
                        retry_burst = True
            if quota:
                _write(os.path.join(d, "cpu.cfs_quota_us"), quota)
                if retry_burst:
                    _write(os.path.join(d, "cpu.cfs_burst_us"), int(burst))
                if retry_period:
                    _write(os.path.join(d, "cpu.cfs_period_us"), period)
            for key, f in (("realtimePeriod", "cpu.rt_period_us"),
                           ("realtimeRuntime", "cpu.rt_runtime_us")):
                if c.get(key):
                    _write(os.path.join(d, f), int(c[key]))
            if c.get("idle") is not None:
                f = os.path.join(d, "cpu.idle")
                if not os.path.exists(f):
                    raise InvalidArgument("cpu.idle is not supported by this kernel")
                _write(f, int(c["idle"]))
        elif any(c.get(k) for k in ("shares", "quota", "period", "realtimePeriod",
                                    "realtimeRuntime")):
            raise InvalidArgument("cannot set cpu limit: container could not join or create "
                                  "cgroup (no cpu hierarchy)")
        d = self._find("cpuset")
        if d:
            if c.get("cpus"):
                _write(os.path.join(d, "cpuset.cpus"), c["cpus"])
            if c.get("mems"):
                _write(os.path.join(d, "cpuset.mems"), c["mems"])

    def _set_blkio(self, b: dict) -> None:
        """runc's BlkioGroup.Set: blkio.weight(_device), or the bfq files when
        the kernel has no CFQ (blkio.bfq.weight, blkio.bfq.weight_device)."""
        d = self._find("blkio")
        if not b or not d:
            return
        if os.path.exists(os.path.join(d, "blkio.weight")):
            wf, wdf = "blkio.weight", "blkio.weight_device"
        else:
            wf, wdf = "blkio.bfq.weight", "blkio.bfq.weight_device"
        if b.get("weight"):
            _write(os.path.join(d, wf), b["weight"])
        if b.get("leafWeight"):
            _write(os.path.join(d, "blkio.leaf_weight"), b["leafWeight"])
        for wd in b.get("weightDevice") or ():
            if wd.get("weight"):
                _write(os.path.join(d, wdf), _dev(wd, wd["weight"]))
            if wd.get("leafWeight"):
                _write(os.path.join(d, "blkio.leaf_weight_device"), _dev(wd, wd["leafWeight"]))
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

    def runc_stats(self) -> dict:
        """The ``data`` of ``runc events --stats`` (runc's types.Stats, with
        Go's omitempty rules) read from the v1 files."""
        from skiff.runtime.cgroups import _runcstats as rs
        return rs.v1_stats(self._find)

    def oom_kill_count(self) -> int | None:
        """How many processes the OOM killer has killed in this cgroup
        (memory.oom_control "oom_kill"), None without a memory hierarchy."""
        d = self._find("memory")
        return keyed_int(os.path.join(d, "memory.oom_control"), "oom_kill") if d else None

    def pids(self) -> list[int]:
        """Pids in the cgroup and its sub-cgroups (from the pids, memory or
        freezer hierarchy; a container may move processes into sub-cgroups
        of some hierarchies only)."""
        if self._refused:
            return []
        seen: list[int] = []
        for c in ("pids", "memory", "freezer", "devices"):
            d = self._find(c)
            if d:
                for p in all_pids(d):
                    if p not in seen:
                        seen.append(p)
        if not seen and not any(self._find(c) for c in ("pids", "memory", "freezer",
                                                         "devices")):
            ds = list(self.paths().values())
            if ds:
                seen = all_pids(ds[0])
        return seen

    def remove(self) -> None:
        """rmdir the cgroup (and its sub-cgroups) in every hierarchy,
        retrying EBUSY for ~1 s. A cgroup create() refused is left alone."""
        if self._refused:
            return
        for d in self.paths().values():
            _rmdir(d)
        u = self.unified_path()
        if u:
            try:
                _rmdir(u)
            except SystemError_:
                pass


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
