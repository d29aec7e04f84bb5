"""mount(2) and umount2(2) through ctypes, with fstab-style options.

``mount_all`` mounts a list of :class:`skiff.types.Mount` (what a snapshotter
returns) at a target, as containerd's mount.All: each option is a flag
(``ro``, ``nosuid``, ``rbind``...), a propagation (``rprivate``...) or file
system data (``lowerdir=...``). A bind mount with flags is remounted to apply
them (the kernel ignores them on the first MS_BIND). An overlay whose data
would not fit one page (many layers) is mounted from a forked child that
chdir'd into the layers' common directory, with relative paths, as
containerd does.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import os
import posixpath

from ..errors import InvalidArgument, SystemError_
from ..types import Mount
from .safepath import secure_join

# mount(2) flags: one table, in the runtime's syscall layer (linux/mount.h)
from ..runtime.linux.syscalls import (MNT_DETACH, MNT_FORCE, MS_BIND, MS_DIRSYNC,  # noqa: E402,F401
                                      MS_MANDLOCK, MS_MOVE, MS_NOATIME, MS_NODEV, MS_NODIRATIME,
                                      MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_PRIVATE, MS_RDONLY,
                                      MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SLAVE,
                                      MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE)
from ..runtime.linux.syscalls import libc as _lib  # noqa: E402

UMOUNT_NOFOLLOW = 8

#: option -> (clear?, flag), as containerd mount_linux.go
_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
}

_PROPAGATION: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

_BROKEN_BIND_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | \
    MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW

_PAGE = os.sysconf("SC_PAGESIZE")

def parse_options(options) -> tuple[int, int, str]:
    """fstab-style options -> (mount flags, propagation flags, data string).
    Unknown options go to the data, comma-separated, in order."""
    flags = 0
    prop = 0
    data = []
    for opt in options:
        if opt in _FLAGS:
            clear, f = _FLAGS[opt]
            flags = (flags & ~f) if clear else (flags | f)
        elif opt in _PROPAGATION:
            prop |= _PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    """One mount(2). Raises SystemError_ carrying errno and the target."""
    rc = _lib().mount(_b(source), _b(target), _b(fstype), flags, _b(data) if data else None)
    if rc != 0:
        e = ctypes.get_errno()
        raise SystemError_(f"mount {fstype or 'none'} {source} on {target}: {os.strerror(e)}",
                           errno=e, path=target, source=source)


def unmount(target: str, detach: bool = False) -> None:
    """umount2(2) ``target`` (MNT_DETACH when ``detach``; the last component is
    not followed). Raises SystemError_ with errno (EINVAL: not a mount point)."""
    flags = UMOUNT_NOFOLLOW | (MNT_DETACH if detach else 0)
    rc = _lib().umount2(_b(target), flags)
    if rc != 0:
        e = ctypes.get_errno()
        raise SystemError_(f"unmount {target}: {os.strerror(e)}", errno=e, path=target)


def unmount_all(target: str, detach: bool = False) -> None:
    """Unmount every mount stacked at ``target`` (until EINVAL: not mounted)."""
    for _ in range(64):
        try:
            unmount(target, detach=detach)
        except SystemError_ as e:
            if e.errno == errno_mod.EINVAL:
                return
            raise


def _overlay_paths(data: str) -> list[tuple[str, list[str]]]:
    out = []
    for item in data.split(","):
        key, _, value = item.partition("=")
        if key in ("lowerdir", "upperdir", "workdir"):
            out.append((key, value.split(":")))
    return out


def _compact_overlay(data: str) -> tuple[str, str]:
    """Make the overlay paths relative to their common directory (as
    containerd compactLowerdirOption). Returns (dir, new data)."""
    items = data.split(",")
    paths = [p for _, ps in _overlay_paths(data) for p in ps]
    common = posixpath.commonpath(paths) if paths else "/"
    if common in paths:
        common = posixpath.dirname(common)
    new = []
    for item in items:
        key, _, value = item.partition("=")
        if key in ("lowerdir", "upperdir", "workdir"):
            value = ":".join(posixpath.relpath(p, common) for p in value.split(":"))
            item = f"{key}={value}"
        new.append(item)
    return common, ",".join(new)


def _mount_in_dir(chdir: str, source: str, target: str, fstype: str, flags: int,
                  data: str) -> None:
    """mount(2) from a forked child whose cwd is ``chdir`` (relative data paths)."""
    lib = _lib()
    args = (_b(source), _b(target), _b(fstype), flags, _b(data))
    bdir = _b(chdir)
    pid = os.fork()
    if pid == 0:  # child: only syscalls, then _exit
        try:
            os.chdir(bdir)
            rc = lib.mount(*args)
            os._exit(0 if rc == 0 else (ctypes.get_errno() or 255))
        except BaseException:
            os._exit(255)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        e = code if code > 0 else errno_mod.EIO
        raise SystemError_(f"mount {fstype} on {target}: {os.strerror(e)}", errno=e,
                           path=target)


def _mount_one(m: Mount, target: str) -> None:
    flags, prop, data = parse_options(m.options)
    if m.type == "bind" or flags & MS_BIND:
        flags |= MS_BIND
        mount(m.source, target, m.type or "none", flags & (MS_BIND | MS_REC), "")
        if flags & _BROKEN_BIND_FLAGS:
            try:
                mount("", target, "", (flags & ~MS_REC) | MS_REMOUNT | MS_BIND, "")
            except SystemError_:
                unmount(target, detach=True)
                raise
    elif m.type == "overlay" and len(data) >= _PAGE:
        chdir, short = _compact_overlay(data)
        if len(short) >= _PAGE:
            raise InvalidArgument(f"overlay options too long ({len(short)} bytes) for {target}",
                                  path=target)
        _mount_in_dir(chdir, m.source, target, m.type, flags, short)
    else:
        mount(m.source, target, m.type, flags, data)
    if prop:
        mount("", target, "", prop, "")


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount ``mounts`` in order at ``target`` (each ``Mount.target`` is resolved
    inside ``target`` without leaving it). On failure the mounts already made
    are undone and SystemError_ (with errno) is raised. Follows OCI
    runtime-spec config.md#mounts option semantics."""
    done: list[str] = []
    try:
        for m in mounts:
            dest = secure_join(target, m.target) if m.target else target
            _mount_one(m, dest)
            done.append(dest)
    except BaseException:
        for dest in reversed(done):
            try:
                unmount(dest, detach=True)
            except SystemError_:
                pass
        raise


def is_mountpoint(path: str) -> bool:
    """Is ``path`` a mount point (per /proc/self/mountinfo)?"""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ")
            mp = fields[4].decode("unicode_escape") if b"\\" in fields[4] else fields[4].decode()
            if mp == path:
                return True
    return False
