"""Process attributes applied by the init just before exec, each following
OCI runtime-spec config.md / config-linux.md and runc's behaviour:

    process.apparmorProfile   AppArmor "exec" transition; error when the host has
                              no AppArmor (runc: "apparmor is not enabled")
    process.selinuxLabel      SELinux exec label; error when the host has no SELinux
                              (runc's validator wording)
    process.ioPriority        ioprio_set(2) {class IOPRIO_CLASS_RT|BE|IDLE, priority}
    process.scheduler         sched_setattr(2) {policy, nice, priority, flags,
                              runtime, deadline, period (ns)}
    linux.personality         personality(2) {domain LINUX|LINUX32, flags}
    linux.memoryPolicy        set_mempolicy(2) {mode, nodes "0-3,5", flags}
    linux.intelRdt            refused (no resctrl support)

Every function raises skiff.errors.InvalidArgument for malformed values and
SystemError_ when the kernel refuses. ``check(spec)`` validates before the
container is made (in the creator), so errors come out of ``create`` early.
"""

from __future__ import annotations

import ctypes
import os

from skiff.errors import InvalidArgument, SystemError_
from skiff.runtime.linux import syscalls as sc

IOPRIO_CLASS = {"IOPRIO_CLASS_NONE": 0, "IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2,
                "IOPRIO_CLASS_IDLE": 3}
SCHED_POLICY = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
PERSONALITY = {"LINUX": 0x0000, "LINUX32": 0x0008}
MPOL_MODE = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
             "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_STATIC_NODES": 1 << 15}


def apparmor_enabled() -> bool:
    """The host runs AppArmor (runc's apparmor.IsEnabled)."""
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().startswith("Y")
    except OSError:
        return False


def selinux_enabled() -> bool:
    """The host runs SELinux (selinuxfs mounted)."""
    return os.path.exists("/sys/fs/selinux/enforce")


def check(spec: dict) -> None:
    """Validate the attributes above before anything is made. Raises
    InvalidArgument with runc-like wording."""
    proc = spec.get("process") or {}
    linux = spec.get("linux") or {}
    if proc.get("apparmorProfile") and not apparmor_enabled():
        raise InvalidArgument(f"apparmor profile {proc['apparmorProfile']!r} is specified in "
                              "config, but apparmor is not enabled on this host")
    if proc.get("selinuxLabel") and not selinux_enabled():
        raise InvalidArgument("selinux label is specified in config, but selinux is disabled "
                              "or not supported")
    if linux.get("intelRdt"):
        raise InvalidArgument("linux.intelRdt is not supported by skiff-runtime "
                              "(no resctrl filesystem support)")
    if linux.get("mountLabel") and not selinux_enabled():
        raise InvalidArgument("selinux mount label is specified in config, but selinux is "
                              "disabled or not supported")
    io = proc.get("ioPriority")
    if io is not None:
        _ioprio_value(io)
    if proc.get("scheduler") is not None:
        _sched_attr(proc["scheduler"])
    if linux.get("personality") is not None:
        _personality_value(linux["personality"])
    if linux.get("memoryPolicy") is not None:
        _mempolicy(linux["memoryPolicy"])


def _ioprio_value(io: dict) -> int:
    cls = IOPRIO_CLASS.get((io or {}).get("class", ""))
    if cls is None:
        raise InvalidArgument(f"invalid io priority class {(io or {}).get('class')!r}")
    prio = int(io.get("priority") or 0)
    if not 0 <= prio <= 7:
        raise InvalidArgument(f"invalid io priority {prio}: must be 0-7")
    return (cls << 13) | prio


def set_io_priority(io: dict) -> None:
    """ioprio_set(IOPRIO_WHO_PROCESS, 0, class<<13 | priority)."""
    sc.syscall("ioprio_set", 1, 0, _ioprio_value(io))


class _SchedAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64)]


def _sched_attr(s: dict) -> _SchedAttr:
    policy = SCHED_POLICY.get((s or {}).get("policy", ""))
    if policy is None:
        raise InvalidArgument(f"invalid scheduler policy {(s or {}).get('policy')!r}")
    flags = 0
    for f in s.get("flags") or ():
        if f not in SCHED_FLAGS:
            raise InvalidArgument(f"invalid scheduler flag {f!r}")
        flags |= SCHED_FLAGS[f]
    nice = int(s.get("nice") or 0)
    if not -20 <= nice <= 19:
        raise InvalidArgument(f"invalid scheduler nice {nice}: must be -20..19")
    prio = int(s.get("priority") or 0)
    if policy in (1, 2) and not 1 <= prio <= 99:
        raise InvalidArgument(f"scheduler priority {prio} must be 1-99 for SCHED_FIFO/SCHED_RR")
    if policy not in (1, 2) and prio:
        raise InvalidArgument("scheduler priority is only valid with SCHED_FIFO or SCHED_RR")
    return _SchedAttr(ctypes.sizeof(_SchedAttr), policy, flags, nice, prio,
                      int(s.get("runtime") or 0), int(s.get("deadline") or 0),
                      int(s.get("period") or 0))


def set_scheduler(s: dict, cpuset: bool = False) -> None:
    """sched_setattr(0, attr, 0). ``cpuset``: linux.resources.cpu.cpus is set
    (SCHED_DEADLINE needs every CPU: EPERM reads as runc's message then)."""
    attr = _sched_attr(s)
    try:
        sc.syscall("sched_setattr", 0, ctypes.byref(attr), 0)
    except SystemError_ as e:
        if e.errno == 1 and cpuset:
            raise SystemError_("process scheduler can't be used together with AllowedCPUs",
                               errno=1) from None
        raise


def _personality_value(p: dict) -> int:
    dom = PERSONALITY.get((p or {}).get("domain", ""))
    if dom is None:
        raise InvalidArgument(f"invalid personality domain {(p or {}).get('domain')!r}: "
                              "only LINUX and LINUX32 are supported")
    if p.get("flags"):
        raise InvalidArgument("personality flags are not supported")
    return dom


def set_personality(p: dict) -> None:
    """personality(2) with the domain's value."""
    libc = sc.libc()
    libc.personality.argtypes = (ctypes.c_ulong,)
    if libc.personality(_personality_value(p)) == -1:
        raise SystemError_("personality: " + os.strerror(ctypes.get_errno()).lower(),
                           errno=ctypes.get_errno())


def parse_nodes(nodes: str) -> list[int]:
    """"0-3,5" -> [0, 1, 2, 3, 5]. Raises InvalidArgument."""
    out: list[int] = []
    for part in (nodes or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise InvalidArgument(f"invalid memory policy nodes {nodes!r}") from None
        if a < 0 or b < a or b > 4095:
            raise InvalidArgument(f"invalid memory policy nodes {nodes!r}")
        out.extend(range(a, b + 1))
    return out


def _mempolicy(m: dict) -> tuple[int, list[int]]:
    mode = MPOL_MODE.get((m or {}).get("mode", ""))
    if mode is None:
        raise InvalidArgument(f"invalid memory policy mode {(m or {}).get('mode')!r}")
    for f in m.get("flags") or ():
        if f not in MPOL_FLAGS:
            raise InvalidArgument(f"invalid memory policy flag {f!r}")
        mode |= MPOL_FLAGS[f]
    nodes = parse_nodes(m.get("nodes") or "")
    base = mode & 0xFF
    # MPOL_DEFAULT with nodes is the kernel's to refuse ("set_mempolicy:
    # invalid argument"), as runc's memorypolicy.bats expects
    if base == 4 and nodes:
        raise InvalidArgument("memory policy MPOL_LOCAL takes no nodes")
    if base in (2, 3, 5, 6) and not nodes:
        raise InvalidArgument("memory policy needs nodes for this mode")
    return mode, nodes


def set_memory_policy(m: dict) -> None:
    """set_mempolicy(mode|flags, nodemask, maxnode)."""
    mode, nodes = _mempolicy(m)
    if not nodes:
        sc.syscall("set_mempolicy", mode, None, 0)
        return
    n = max(nodes) + 1
    words = (n + 63) // 64
    mask = (ctypes.c_ulong * words)()
    for node in nodes:
        mask[node // 64] |= 1 << (node % 64)
    sc.syscall("set_mempolicy", mode, mask, ctypes.c_ulong(words * 64 + 1))


def apply_lsm(proc: dict) -> None:
    """AppArmor exec transition / SELinux exec label (only reached when the
    host has them: check() refuses otherwise)."""
    prof = proc.get("apparmorProfile")
    if prof:
        for path in ("/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"):
            try:
                with open(path, "w") as f:
                    f.write(f"exec {prof}")
                break
            except FileNotFoundError:
                continue
    label = proc.get("selinuxLabel")
    if label:
        with open("/proc/self/attr/exec", "w") as f:
            f.write(label)
