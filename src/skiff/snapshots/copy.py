"""Copying trees and files with everything a layer carries (``cp -a``):
owners, modes incl. setuid/setgid/sticky, mtimes, xattrs, hardlinks (kept as
hardlinks within the copy), symlinks (not followed), devices and FIFOs. Used
by the native snapshotter and for overlay copy-up of hardlink targets.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from ..errors import SystemError_

FICLONE = 0x40049409
_CHUNK = 1 << 20


def copy_xattrs(src: str, dst: str) -> None:
    """Copy every xattr of ``src`` to ``dst`` (neither followed) but overlay's
    ``trusted.overlay.*``; file systems that refuse one (ENOTSUP, EPERM) are
    skipped, as cp -a does."""
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return
        raise
    for name in names:
        if name.startswith("trusted.overlay."):
            continue  # overlay's own bookkeeping, meaningless in a copy
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False),
                        follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL):
                raise


def copy_data(src: str, dst: str) -> None:
    """Create ``dst`` (must not exist; O_EXCL|O_NOFOLLOW) with ``src``'s bytes:
    a reflink when the file system can, else copy_file_range."""
    sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o600)
        try:
            try:
                fcntl.ioctl(dfd, FICLONE, sfd)
                return
            except OSError:
                pass
            while True:
                try:
                    n = os.copy_file_range(sfd, dfd, _CHUNK * 16)
                except OSError as e:
                    if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                        raise
                    n = -1
                if n == 0:
                    break
                if n < 0:  # fall back to read/write
                    while True:
                        buf = os.read(sfd, _CHUNK)
                        if not buf:
                            break
                        view = memoryview(buf)
                        while view:
                            view = view[os.write(dfd, view):]
                    break
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def copy_meta(st: os.stat_result, src: str, dst: str, times: bool = True) -> None:
    """Apply ``src``'s owner, then mode (setuid bits survive: chmod after
    chown), xattrs and mtime/atime (ns) to ``dst``; symlinks are not followed."""
    os.lchown(dst, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    copy_xattrs(src, dst)
    if times:
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_node(src: str, dst: str, st: os.stat_result | None = None) -> None:
    """Copy one non-directory entry (file, symlink, device, FIFO, socket) with
    its metadata; ``dst`` must not exist."""
    st = st or os.lstat(src)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        copy_data(src, dst)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        os.mknod(dst, stat.S_IFMT(mode) | 0o600, st.st_rdev)
    else:
        raise SystemError_(f"cannot copy {src}: unknown file type", errno=errno.EINVAL, path=src)
    copy_meta(st, src, dst)


def copy_tree(src: str, dst: str) -> None:
    """Copy the tree at directory ``src`` into directory ``dst`` (created if
    absent; its own metadata becomes ``src``'s), as ``cp -a src/. dst/``.
    Hardlinks within ``src`` stay hardlinks within ``dst``. Never follows a
    symlink and does not cross into other mounts' contents (st_dev checked).
    Raises SystemError_ on a kernel error."""
    try:
        _copy_tree(src, dst)
    except OSError as e:
        raise SystemError_(f"copy {src} to {dst}: {e.strerror}", errno=e.errno or 0,
                           path=e.filename or src) from e


def _copy_tree(src: str, dst: str) -> None:
    root_st = os.lstat(src)
    if not os.path.isdir(dst):
        os.mkdir(dst, 0o700)
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[os.stat_result, str, str]] = [(root_st, src, dst)]
    stack = [(src, dst)]
    while stack:
        s_dir, d_dir = stack.pop()
        with os.scandir(s_dir) as it:
            entries = list(it)
        for ent in entries:
            s = os.path.join(s_dir, ent.name)
            d = os.path.join(d_dir, ent.name)
            st = os.lstat(s)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(d, 0o700)
                dirs.append((st, s, d))
                if st.st_dev == root_st.st_dev:
                    stack.append((s, d))
                continue
            if st.st_nlink > 1:
                ino = (st.st_dev, st.st_ino)
                first = links.get(ino)
                if first is not None:
                    os.link(first, d, follow_symlinks=False)
                    continue
                links[ino] = d
            copy_node(s, d, st)
    # directories last (children change their mtime), deepest first
    for st, s, d in reversed(dirs):
        copy_meta(st, s, d)
