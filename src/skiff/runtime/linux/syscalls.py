"""Thin ctypes wrappers of the Linux system calls the runtime needs and Python
3.11's ``os`` lacks: unshare(2), setns(2), mount(2), umount2(2),
pivot_root(2), prctl(2), capget/capset(2), sethostname(2), setdomainname(2).

Every wrapper raises :class:`skiff.errors.SystemError_` carrying ``errno``
and a lower-case message naming the call and its path, e.g.
``mount proc on /x/proc: operation not permitted``. Standard library only:
the shim imports this module, and start-up time counts.
"""

from __future__ import annotations

import ctypes
import os

from skiff.errors import SystemError_

# --- clone(2) / namespace flags (linux/sched.h) ---
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# --- mount(2) flags (linux/mount.h) ---
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_FORCE = 1
MNT_DETACH = 2

# --- prctl(2) options (linux/prctl.h) ---
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# syscall numbers of calls glibc may not wrap (x86_64, aarch64)
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "ioprio_set": 251,
               "sched_setattr": 314, "set_mempolicy": 238, "open_tree": 428,
               "move_mount": 429, "mount_setattr": 442, "clone3": 435},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "ioprio_set": 30,
                "sched_setattr": 274, "set_mempolicy": 237, "open_tree": 428,
                "move_mount": 429, "mount_setattr": 442, "clone3": 435},
}

# --- new mount API (linux/mount.h) ---
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x00000004
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

_libc = None


def libc() -> ctypes.CDLL:
    """The process's libc, loaded once with ``use_errno``."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_ulong, ctypes.c_char_p)
        _libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
        _libc.unshare.argtypes = (ctypes.c_int,)
        _libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)
        _libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                                ctypes.c_ulong, ctypes.c_ulong)
        _libc.sethostname.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
        _libc.setdomainname.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
    return _libc


_MACHINE = os.uname().machine  # before any personality(2) change (LINUX32 says i686)


def _nr(name: str) -> int:
    try:
        return _SYSCALLS[_MACHINE][name]
    except KeyError:
        raise SystemError_(f"{name}: unsupported architecture {_MACHINE}") from None


def _fail(what: str, err: int | None = None) -> SystemError_:
    err = ctypes.get_errno() if err is None else err
    return SystemError_(f"{what}: {os.strerror(err).lower()}", errno=err)


def _b(s: str | bytes | None) -> bytes | None:
    if s is None:
        return None
    return s if isinstance(s, bytes) else os.fsencode(s)


def unshare(flags: int) -> None:
    """unshare(2) with CLONE_NEW* ``flags``. Raises SystemError_."""
    if libc().unshare(flags) != 0:
        raise _fail(f"unshare 0x{flags:x}")


def setns(fd: int, nstype: int = 0, path: str = "") -> None:
    """setns(2): join the namespace ``fd`` refers to (an open /proc/PID/ns/X or
    bind-mounted nsfs file). Raises SystemError_."""
    if libc().setns(fd, nstype) != 0:
        raise _fail(f"setns {path or fd}")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2). Raises SystemError_ naming the type and target."""
    if libc().mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        raise _fail(f"mount {fstype or source or ''} on {target}".replace("  ", " "))


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2); ``flags`` MNT_DETACH etc. Raises SystemError_."""
    if libc().umount2(_b(target), flags) != 0:
        raise _fail(f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2) via syscall(2) (glibc has no wrapper). Raises SystemError_."""
    if libc().syscall(_nr("pivot_root"), _b(new_root), _b(put_old)) != 0:
        raise _fail(f"pivot_root {new_root}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2); returns its result. Raises SystemError_ on -1."""
    r = libc().prctl(option, arg2, arg3, arg4, arg5)
    if r == -1:
        raise _fail(f"prctl {option}")
    return r


def set_child_subreaper() -> None:
    """prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants (the container's
    init once the intermediate process exits) are reparented to this process."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def sethostname(name: str) -> None:
    """sethostname(2). Raises SystemError_."""
    b = name.encode()
    if libc().sethostname(b, len(b)) != 0:
        raise _fail(f"sethostname {name}")


def setdomainname(name: str) -> None:
    """setdomainname(2). Raises SystemError_."""
    b = name.encode()
    if libc().setdomainname(b, len(b)) != 0:
        raise _fail(f"setdomainname {name}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capget(pid: int = 0) -> tuple[int, int, int]:
    """capget(2): (effective, permitted, inheritable) as 64-bit masks."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    if libc().syscall(_nr("capget"), ctypes.byref(hdr), ctypes.byref(data)) != 0:
        raise _fail("capget")
    return (data[0].effective | data[1].effective << 32,
            data[0].permitted | data[1].permitted << 32,
            data[0].inheritable | data[1].inheritable << 32)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) of this thread with 64-bit masks (version 3 header)."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        sh = 32 * i
        data[i].effective = (effective >> sh) & 0xFFFFFFFF
        data[i].permitted = (permitted >> sh) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> sh) & 0xFFFFFFFF
    if libc().syscall(_nr("capset"), ctypes.byref(hdr), ctypes.byref(data)) != 0:
        raise _fail("capset")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def open_tree(path: str, flags: int) -> int:
    """open_tree(AT_FDCWD, path, flags): with OPEN_TREE_CLONE a detached copy
    of the mount (tree with AT_RECURSIVE) at ``path``. Returns the fd."""
    fd = libc().syscall(_nr("open_tree"), ctypes.c_int(AT_FDCWD), _b(path),
                        ctypes.c_uint(flags))
    if fd < 0:
        raise _fail(f"open_tree {path}")
    return fd


def move_mount(fd: int, target: str) -> None:
    """move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH): attach
    the detached tree ``fd`` at ``target``."""
    if libc().syscall(_nr("move_mount"), ctypes.c_int(fd), b"", ctypes.c_int(AT_FDCWD),
                      _b(target), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)) != 0:
        raise _fail(f"move_mount {target}")


def mount_setattr(target: str, attr_set: int, attr_clr: int, recursive: bool = True,
                  dirfd: int = AT_FDCWD, userns_fd: int = 0) -> None:
    """mount_setattr(2) on ``target`` (with AT_RECURSIVE: the whole tree); with
    ``dirfd`` and target "" the detached tree ``dirfd`` (AT_EMPTY_PATH);
    ``userns_fd`` for MOUNT_ATTR_IDMAP."""
    attr = _MountAttr(attr_set, attr_clr, 0, userns_fd)
    flags = AT_RECURSIVE if recursive else 0
    if not target:
        flags |= AT_EMPTY_PATH
    if libc().syscall(_nr("mount_setattr"), ctypes.c_int(dirfd), _b(target),
                      ctypes.c_uint(flags), ctypes.byref(attr),
                      ctypes.c_size_t(ctypes.sizeof(attr))) != 0:
        raise _fail(f"mount_setattr {target}")


CLONE_INTO_CGROUP = 0x200000000


def fork_into_cgroup(cgroup_fd: int) -> int:
    """fork(), with the child born in the cgroup2 directory open as
    ``cgroup_fd`` (clone3(2) CLONE_INTO_CGROUP, Linux 5.7): no migration
    afterwards, so none of cgroup.procs' threadgroup-rwsem write lock and its
    RCU grace period (5-20 ms). Returns the child's pid in the parent, 0 in
    the child. Raises SystemError_ (e.g. ENOSYS, EINVAL, EPERM) with nothing
    forked: the caller falls back to os.fork().

    Python's own after-fork work (PyOS_AfterFork_Child: its locks, thread
    state, os.register_at_fork hooks) does not run in the child, and glibc's
    cached tid is the parent's: only for a single-threaded caller whose child
    soon execs (the runtime's intermediate forking the container's init)."""
    import struct
    # struct clone_args (linux/sched.h): flags, pidfd, child_tid, parent_tid,
    # exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup
    args = struct.pack("=11Q", CLONE_INTO_CGROUP, 0, 0, 0, 17, 0, 0, 0, 0, 0, cgroup_fd)
    buf = ctypes.create_string_buffer(args, len(args))
    pid = libc().syscall(_nr("clone3"), buf, ctypes.c_size_t(len(args)))
    if pid < 0:
        raise _fail("clone3 into cgroup")
    return pid


def syscall(name: str, *args) -> int:
    """syscall(2) by name (numbers in _SYSCALLS: ioprio_set, sched_setattr,
    set_mempolicy...); integer or ctypes arguments. Raises SystemError_."""
    r = libc().syscall(_nr(name), *args)
    if r == -1:
        raise _fail(name)
    return r
