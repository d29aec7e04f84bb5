"""Applying a layer tar (a changeset) to an active snapshot, safely.

Follows OCI image-spec layer.md (changesets, whiteouts, opaque whiteouts)
and what containerd's archive.Apply / Docker's pkg/archive do:

- Onto an **overlay** mount (one ``Mount`` of type overlay with an
  ``upperdir``): entries are written into the upperdir; ``.wh.NAME`` becomes
  the overlay whiteout (a 0:0 character device NAME) and ``.wh..wh..opq`` the
  xattr ``trusted.overlay.opaque=y`` on its directory. Missing parent
  directories are made with the metadata of the same directory in the lower
  layers (so the merged view keeps it), and a hardlink whose target is only
  in a lower layer copies that file up first.
- Onto a **bind** mount (a plain directory holding the whole tree: the native
  snapshotter, or a base overlay snapshot): whiteouts are deletions, and an
  opaque whiteout deletes everything in its directory that this layer did not
  write (wherever the marker sits in the stream: it applies to lower layers
  only).

Security: no entry ever writes outside the snapshot's root. Names are
cleaned (:func:`skiff.snapshots.safepath.clean_name`: absolute names are
taken inside the root as Docker does, a ``..`` that climbs out is refused
with UnsafePath, as Docker's "breakout" error); every parent directory is
resolved inside the root with symlinks followed as if the root were "/"
(:func:`secure_join`); the last component is replaced, never followed
(O_NOFOLLOW|O_EXCL, lchown, no-follow utime/xattrs); hardlink targets must
resolve inside the root (or a lower layer, for overlay); device nodes need
root; ``trusted.overlay.*`` xattrs from the tar are dropped.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import shutil
import stat
import tarfile
from typing import BinaryIO

from ..errors import DataCorruption, Forbidden, InvalidArgument, SkiffError, SystemError_, UnsafePath
from ..types import Mount
from .copy import copy_node
from .safepath import clean_name, secure_join, secure_parent

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20


class _Counter:
    """A read-only stream wrapper counting the bytes read."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        b = self.stream.read(n)
        self.count += len(b)
        return b

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def layer_target(mounts: list[Mount]) -> tuple[str, list[str], bool]:
    """Where a layer goes for these mounts: (root directory, lower dirs
    top-first, is_overlay). Raises InvalidArgument for read-only or other
    mounts."""
    if len(mounts) != 1:
        raise InvalidArgument(f"cannot apply a layer to {len(mounts)} mounts")
    m = mounts[0]
    opts = list(m.options)
    if "ro" in opts:
        raise InvalidArgument(f"cannot apply a layer to a read-only mount of {m.source}")
    if m.type == "overlay":
        upper = ""
        lowers: list[str] = []
        for o in opts:
            k, _, v = o.partition("=")
            if k == "upperdir":
                upper = v
            elif k == "lowerdir":
                lowers = [p for p in v.split(":") if p]
        if not upper:
            raise InvalidArgument("cannot apply a layer to an overlay without upperdir")
        return upper, lowers, True
    if m.type == "bind" or "bind" in opts or "rbind" in opts:
        return m.source, [], False
    raise InvalidArgument(f"cannot apply a layer to a {m.type} mount")


def apply_layer(stream: BinaryIO, mounts: list[Mount]) -> int:
    """Apply the uncompressed layer tar read from ``stream`` (streamed, tarfile
    mode "r|") to the active snapshot given by ``mounts`` (see the module
    docstring). Returns the number of bytes read from ``stream`` (the whole
    stream: it is read to its end). Raises UnsafePath for an entry that would
    leave the root, Forbidden for device nodes when not root, DataCorruption
    for a malformed tar, InvalidArgument for unusable mounts or a missing
    hardlink target, SystemError_ (with errno) for a kernel error."""
    root, lowers, overlay = layer_target(mounts)
    counter = _Counter(stream)
    applier = _Applier(root, lowers, overlay)
    try:
        tf = tarfile.open(fileobj=counter, mode="r|", errorlevel=1)
        for ti in tf:
            applier.entry(tf, ti)
        applier.finish()
        counter.drain()
    except tarfile.TarError as e:
        raise DataCorruption(f"invalid layer tar: {e}") from e
    except OSError as e:
        raise SystemError_(f"apply layer to {root}: {e.strerror}", errno=e.errno or 0,
                           path=e.filename or root) from e
    return counter.count


def create_node(tf: tarfile.TarFile, ti: tarfile.TarInfo, path: str,
                link_target: str | None = None, dir_exists: bool = False) -> bool:
    """Make the filesystem object of tar entry ``ti`` at ``path``: a
    directory (unless ``dir_exists``), a regular file with its content
    (streamed in 1 MiB chunks, O_EXCL|O_NOFOLLOW), a symlink, a hard link to
    ``link_target`` (already resolved inside the root by the caller), a
    character/block device or a fifo. Modes start at 0700/0600; owner, mode,
    xattrs and times are the caller's. ``path`` must not exist (except a
    directory when ``dir_exists``): it is never followed. Returns False,
    making nothing, for any other entry type. Raises OSError.
    (POSIX ustar/pax entry types, tarfile.TarInfo.)"""
    if ti.isdir():
        if not dir_exists:
            os.mkdir(path, 0o700)
    elif ti.isreg():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            src = tf.extractfile(ti)
            while True:
                buf = src.read(_CHUNK)
                if not buf:
                    break
                view = memoryview(buf)
                while view:
                    view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    elif ti.issym():
        os.symlink(ti.linkname, path)
    elif ti.islnk():
        os.link(link_target, path, follow_symlinks=False)
    elif ti.ischr() or ti.isblk():
        kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(ti.devmajor, ti.devminor))
    elif ti.isfifo():
        os.mkfifo(path, 0o600)
    else:
        return False
    return True


def _remove(path: str) -> None:
    """Remove whatever is at ``path`` (never following a symlink)."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


class _Applier:
    def __init__(self, root: str, lowers: list[str], overlay: bool):
        self.root = root.rstrip("/") or "/"
        self.lowers = lowers
        self.overlay = overlay
        self.touched: set[str] = set()  # rel paths written by this layer (+ ancestors)
        self.dir_times: list[tuple[str, int, int]] = []  # rel, atime_ns, mtime_ns

    # ---- helpers -------------------------------------------------------
    def _rel(self, host: str) -> str:
        return "" if host == self.root else host[len(self.root) + 1:]

    def _touch(self, rel: str) -> None:
        while rel and rel not in self.touched:
            self.touched.add(rel)
            rel = posixpath.dirname(rel)

    def _lower_dir(self, rel: str) -> tuple[str, os.stat_result] | None:
        """The same directory in the top-most lower layer that has it."""
        for lower in self.lowers:
            p = secure_join(lower, rel)
            st = _lstat(p)
            if st is not None and stat.S_ISDIR(st.st_mode):
                return p, st
        return None

    def ensure_dir(self, rel: str) -> str:
        """Resolve directory ``rel`` inside the root and make the missing
        components (0755 root, or the lower layers' metadata for overlay).
        Returns its host path."""
        host = secure_join(self.root, rel)
        st = _lstat(host)
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise SystemError_(f"{rel}: not a directory", errno=errno.ENOTDIR, path=rel)
            return host
        cur = self.root
        for comp in self._rel(host).split("/"):
            cur = cur + "/" + comp
            st = _lstat(cur)
            if st is not None:
                if not stat.S_ISDIR(st.st_mode):
                    raise SystemError_(f"{self._rel(cur)}: not a directory",
                                       errno=errno.ENOTDIR, path=rel)
                continue
            os.mkdir(cur, 0o755)
            crel = self._rel(cur)
            found = self._lower_dir(crel) if self.overlay else None
            if found:
                lpath, lst = found
                os.lchown(cur, lst.st_uid, lst.st_gid)
                os.chmod(cur, stat.S_IMODE(lst.st_mode))
                self.dir_times.append((crel, lst.st_atime_ns, lst.st_mtime_ns))
            self._touch(crel)
        return host

    def _hardlink_target(self, name: str, linkname: str) -> str:
        rel = clean_name(linkname)
        if not rel:
            raise UnsafePath(f"hardlink {name!r} to the root", path=name)
        parent, base = secure_parent(self.root, rel)
        target = parent + "/" + base
        st = _lstat(target)
        if st is not None and not (self.overlay and _is_whiteout(st)):
            if stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"hardlink {name!r} to directory {linkname!r}", path=name)
            return target
        for lower in self.lowers:
            lparent, lbase = secure_parent(lower, rel)
            lpath = lparent + "/" + lbase
            lst = _lstat(lpath)
            if lst is None or stat.S_ISDIR(lst.st_mode) or _is_whiteout(lst):
                continue
            # copy-up: the file exists only in a lower layer
            uparent = self.ensure_dir(lparent[len(lower.rstrip("/")) + 1:]
                                      if lparent != lower.rstrip("/") else "")
            dest = uparent + "/" + lbase
            if _lstat(dest) is not None:
                _remove(dest)
            copy_node(lpath, dest, lst)
            self._touch(self._rel(dest))
            return dest
        raise InvalidArgument(f"hardlink {name!r}: target {linkname!r} not found in the layer root",
                              path=name)

    # ---- entries -------------------------------------------------------
    def entry(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        name = clean_name(ti.name)
        try:
            self._entry(tf, ti, name)
        except SkiffError:
            raise
        except OSError as e:
            raise SystemError_(f"apply layer entry {ti.name!r}: {e.strerror}",
                               errno=e.errno or 0, path=ti.name) from e

    def _entry(self, tf: tarfile.TarFile, ti: tarfile.TarInfo, name: str) -> None:
        if not name:
            if not ti.isdir():
                raise UnsafePath(f"entry {ti.name!r} would replace the root", path=ti.name)
            self._meta(self.root, ti)
            self.dir_times.append(("", int(ti.mtime * 1e9), int(ti.mtime * 1e9)))
            return
        dirname, base = posixpath.split(name)
        if base.startswith(WHITEOUT_PREFIX):
            if base == WHITEOUT_OPAQUE:
                self.opaque(dirname)
            elif base.startswith(WHITEOUT_META_PREFIX):
                log.debug("skipping whiteout metadata entry %s", name)
            else:
                self.whiteout(dirname, base[len(WHITEOUT_PREFIX):], ti.name)
            return
        parent = self.ensure_dir(dirname)
        path = parent + "/" + base
        rel = self._rel(path)
        if ti.ischr() or ti.isblk():
            if os.geteuid() != 0:
                raise Forbidden(f"device node {ti.name!r} needs root", path=ti.name)
        link_target = None
        if ti.islnk():
            link_target = self._hardlink_target(ti.name, ti.linkname)
            if link_target == path:
                return
        old = _lstat(path)
        if old is not None and not (stat.S_ISDIR(old.st_mode) and ti.isdir()):
            _remove(path)
        dir_existed = old is not None and stat.S_ISDIR(old.st_mode)
        if not create_node(tf, ti, path, link_target, dir_exists=dir_existed):
            log.warning("skipping tar entry %s of unsupported type %r", ti.name, ti.type)
            return
        if ti.isdir() and not dir_existed and self.overlay and old is not None \
                and _is_whiteout(old):
            # whited out earlier in this layer, then made again: it must not
            # show the lower layers' contents
            os.setxattr(path, OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
        self._touch(rel)
        self._meta(path, ti)
        if ti.isdir():
            self.dir_times.append((rel, int(ti.mtime * 1e9), int(ti.mtime * 1e9)))
        else:
            ns = int(ti.mtime * 1e9)
            os.utime(path, ns=(ns, ns), follow_symlinks=False)

    def _meta(self, path: str, ti: tarfile.TarInfo) -> None:
        """Owner, xattrs, then mode (after chown, which clears setuid)."""
        os.lchown(path, ti.uid, ti.gid)
        for key, value in ti.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            xname = key[len("SCHILY.xattr."):]
            if xname.startswith("trusted.overlay."):
                log.warning("dropping xattr %s of %s", xname, ti.name)
                continue
            try:
                os.setxattr(path, xname, value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise
                log.warning("cannot set xattr %s on %s: %s", xname, ti.name, e.strerror)
        if not ti.issym():
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(path, ti.mode & 0o7777)

    def whiteout(self, dirname: str, target: str, entry: str) -> None:
        if target in ("", ".", "..") or "/" in target:
            raise UnsafePath(f"invalid whiteout {entry!r}", path=entry)
        parent = self.ensure_dir(dirname)
        path = parent + "/" + target
        old = _lstat(path)
        if old is not None:
            _remove(path)
        if self.overlay:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            self.touched.discard(self._rel(path))

    def opaque(self, dirname: str) -> None:
        host = self.ensure_dir(dirname)
        if self.overlay:
            os.setxattr(host, OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        self._purge(host)

    def _purge(self, host: str) -> None:
        """Delete what in directory ``host`` this layer did not write."""
        with os.scandir(host) as it:
            entries = [e.name for e in it]
        for n in entries:
            p = host + "/" + n
            if self._rel(p) in self.touched:
                st = os.lstat(p)
                if stat.S_ISDIR(st.st_mode):
                    self._purge(p)
            else:
                _remove(p)

    def finish(self) -> None:
        """Directory mtimes last (their children changed them), deepest first,
        each re-resolved inside the root and set only if still a directory."""
        for rel, atime, mtime in reversed(self.dir_times):
            p = secure_join(self.root, rel)
            st = _lstat(p)
            if st is not None and stat.S_ISDIR(st.st_mode):
                os.utime(p, ns=(atime, mtime), follow_symlinks=False)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
