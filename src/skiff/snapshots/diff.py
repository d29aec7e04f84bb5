"""Writing a layer tar (a changeset) from an active snapshot: the inverse of
:func:`skiff.snapshots.layer.apply_layer`, for ``docker commit``, builds and
saves. Follows OCI image-spec layer.md (changesets, whiteouts, opaque
whiteouts) and what containerd's diff.Compare / Docker's overlay2 Diff emit.

- Overlay active snapshot (one overlay Mount with an upperdir), no
  ``parent_mounts`` needed: the upperdir is the changeset. A 0:0 character
  device becomes ``.wh.NAME``; a directory with ``trusted.overlay.opaque=y``
  is followed by ``DIR/.wh..wh..opq`` (as Docker's overlay2 does).
- Anything else (a native snapshot's bind mount): the tree is compared with
  the parent's tree (``parent_mounts``, e.g. a view of the parent; none for a
  base layer). Added or changed entries are written (a file is changed when
  its type, mode, owner, size, mtime, xattrs, link target or device differ,
  or its bytes differ); an entry gone from the tree becomes ``.wh.NAME``
  (only the top-most one of a deleted subtree).

Entries are sorted (parents first), mtimes in whole seconds, PAX format with numeric owners and no
user/group names, xattrs as SCHILY.xattr.* (overlay's own and
security.selinux left out), hardlinks within the changeset as tar hardlinks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
import tempfile
from typing import BinaryIO, Iterator

from ..errors import InvalidArgument, SystemError_
from ..types import Mount
from .layer import OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX, _is_whiteout

_SKIP_XATTRS = ("trusted.overlay.", "security.selinux")
_CHUNK = 1 << 20


class _Out:
    """Counts and hashes what is written."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.size = 0
        self.h = hashlib.sha256()

    def write(self, b) -> int:
        self.out.write(b)
        self.size += len(b)
        self.h.update(b)
        return len(b)


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in sorted(names):
        if n.startswith(_SKIP_XATTRS):
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False).decode("utf-8", "surrogateescape")
        except OSError:
            continue
    return out


@contextlib.contextmanager
def _tree(mounts: list[Mount] | None) -> Iterator[str | None]:
    """A directory holding the tree of ``mounts``: a bind mount's source as is,
    anything else mounted read-only on a temp dir for the duration."""
    if not mounts:
        yield None
        return
    if len(mounts) == 1 and (mounts[0].type == "bind" or "rbind" in mounts[0].options
                             or "bind" in mounts[0].options):
        yield mounts[0].source
        return
    from .mount import mount_all, unmount

    mp = tempfile.mkdtemp(prefix="skiff-diff-")
    try:
        mount_all([Mount(m.type, m.source, tuple(o for o in m.options if o != "rw") + ("ro",),
                         m.target) for m in mounts], mp)
        try:
            yield mp
        finally:
            unmount(mp, detach=True)
    finally:
        os.rmdir(mp)


class _Writer:
    def __init__(self, out: _Out):
        self.tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self.links: dict[tuple[int, int], str] = {}

    def add(self, path: str, name: str, st: os.stat_result) -> None:
        ti = tarfile.TarInfo(name)
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = st.st_uid, st.st_gid
        ti.uname = ti.gname = ""
        ti.mtime = st.st_mtime_ns // 1_000_000_000  # whole seconds, as Docker's tars
        mode = st.st_mode
        xattrs = _xattrs(path)
        if xattrs:
            ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = self.links.get(key)
            if first is not None:
                ti.type = tarfile.LNKTYPE
                ti.linkname = first
                self.tf.addfile(ti)
                return
            self.links[key] = name
        if stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            ti.type = tarfile.SYMTYPE
            ti.linkname = os.readlink(path)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
        elif stat.S_ISREG(mode):
            ti.type = tarfile.REGTYPE
            ti.size = st.st_size
            with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as f:
                self.tf.addfile(ti, f)
            return
        else:
            return  # sockets are not carried by layers
        self.tf.addfile(ti)

    def whiteout(self, name: str) -> None:
        d, _, base = name.rpartition("/")
        ti = tarfile.TarInfo((d + "/" if d else "") + WHITEOUT_PREFIX + base)
        ti.mode = 0o644
        ti.uname = ti.gname = ""
        ti.mtime = 0
        self.tf.addfile(ti)

    def close(self) -> None:
        self.tf.close()


def _entries(root: str) -> list[str]:
    """Sorted names of ``root``'s directory (bytes order, as Go's sort)."""
    return sorted(os.listdir(root), key=os.fsencode)


def _upper_diff(w: _Writer, upper: str, rel: str = "") -> None:
    d = os.path.join(upper, rel) if rel else upper
    for n in _entries(d):
        name = f"{rel}/{n}" if rel else n
        path = os.path.join(upper, name)
        st = os.lstat(path)
        if _is_whiteout(st):
            w.whiteout(name)
            continue
        w.add(path, name, st)
        if stat.S_ISDIR(st.st_mode):
            try:
                opaque = os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
            except OSError:
                opaque = False
            if opaque:
                w.whiteout(f"{name}/{WHITEOUT_OPAQUE[len(WHITEOUT_PREFIX):]}")
            _upper_diff(w, upper, name)


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as fa, \
            open(b, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as fb:
        while True:
            x, y = fa.read(_CHUNK), fb.read(_CHUNK)
            if x != y:
                return False
            if not x:
                return True


def _changed(new: str, nst: os.stat_result, old: str, ost: os.stat_result) -> bool:
    if (nst.st_mode, nst.st_uid, nst.st_gid) != (ost.st_mode, ost.st_uid, ost.st_gid):
        return True
    if _xattrs(new) != _xattrs(old):
        return True
    m = nst.st_mode
    if stat.S_ISDIR(m):
        return nst.st_mtime_ns != ost.st_mtime_ns
    if stat.S_ISLNK(m):
        return os.readlink(new) != os.readlink(old) or nst.st_mtime_ns != ost.st_mtime_ns
    if stat.S_ISCHR(m) or stat.S_ISBLK(m):
        return nst.st_rdev != ost.st_rdev
    if stat.S_ISREG(m):
        if nst.st_size != ost.st_size or nst.st_mtime_ns != ost.st_mtime_ns:
            return True
        if (nst.st_dev, nst.st_ino) == (ost.st_dev, ost.st_ino):
            return False
        return not _same_bytes(new, old)
    return nst.st_mtime_ns != ost.st_mtime_ns


def _compare(w: _Writer, new_root: str, old_root: str | None, rel: str = "") -> None:
    nd = os.path.join(new_root, rel) if rel else new_root
    od = (os.path.join(old_root, rel) if rel else old_root) if old_root else None
    new_names = _entries(nd)
    old_names: list[str] = []
    if od is not None:
        try:
            if stat.S_ISDIR(os.lstat(od).st_mode):
                old_names = _entries(od)
        except FileNotFoundError:
            pass
    new_set = set(new_names)
    for n in sorted(set(old_names) - new_set, key=os.fsencode):
        w.whiteout(f"{rel}/{n}" if rel else n)
    old_set = set(old_names)
    for n in new_names:
        name = f"{rel}/{n}" if rel else n
        path = os.path.join(new_root, name)
        nst = os.lstat(path)
        ost = None
        if n in old_set:
            ost = os.lstat(os.path.join(old_root, name))
        if ost is None or stat.S_IFMT(ost.st_mode) != stat.S_IFMT(nst.st_mode):
            w.add(path, name, nst)
            if stat.S_ISDIR(nst.st_mode):
                _compare(w, new_root, None, name)
            continue
        if _changed(path, nst, os.path.join(old_root, name), ost):
            w.add(path, name, nst)
        if stat.S_ISDIR(nst.st_mode):
            _compare(w, new_root, old_root, name)


def write_diff(out: BinaryIO, mounts: list[Mount],
               parent_mounts: list[Mount] | None = None) -> tuple[int, str]:
    """Write the uncompressed layer tar of the snapshot given by ``mounts``
    (an active snapshot's, or any tree) to the binary stream ``out``; see the
    module docstring for the two ways. ``parent_mounts`` give the parent's
    tree (ignored for an overlay with an upperdir; None or [] for a base
    layer). Returns (bytes written, diffID "sha256:<hex>"). Raises
    InvalidArgument for unusable mounts, SystemError_ on a kernel error."""
    sink = _Out(out)
    w = _Writer(sink)
    try:
        upper = None
        if len(mounts) == 1 and mounts[0].type == "overlay":
            for o in mounts[0].options:
                if o.startswith("upperdir="):
                    upper = o[len("upperdir="):]
        if upper:
            _upper_diff(w, upper)
        else:
            with _tree(mounts) as new_root, _tree(parent_mounts) as old_root:
                if new_root is None:
                    raise InvalidArgument("no mounts to diff")
                _compare(w, new_root, old_root)
        w.close()
    except OSError as e:
        raise SystemError_(f"write diff: {e.strerror}", errno=e.errno or 0,
                           path=e.filename or "") from e
    return sink.size, "sha256:" + sink.h.hexdigest()
