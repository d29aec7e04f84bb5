"""Container file-system operations: ``cp`` (archive GET/HEAD/PUT), ``export``
and ``diff`` (changes), as Engine API v1.44 and dockerd's daemon/archive.go.

Endpoints served through :class:`ContainerFS`:

- ``HEAD /containers/{id}/archive?path=`` -> :meth:`ContainerFS.stat`: the
  ``X-Docker-Container-Path-Stat`` header, base64 of JSON
  ``{"name", "size", "mode", "mtime", "linkTarget"}`` (``mode`` is a Go
  ``os.FileMode``, ``mtime`` RFC 3339).
- ``GET /containers/{id}/archive?path=``: a tar of the path, its entries
  rebased on the path's base name (dockerd's ``TarResourceRebase``).
- ``PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=``:
  extract a tar (plain, gzip, bzip2 or xz) into the directory ``path``.
- ``GET /containers/{id}/export``: a tar of the container's root file system.
- ``GET /containers/{id}/changes``: ``[{"Path", "Kind"}]`` with Kind 0
  modified, 1 added, 2 deleted, from the overlay upperdir.

Where the container's tree is read from:

- running: ``/proc/<init pid>/root`` -- the container's own mount tree, so
  bind mounts, volumes and tmpfs mounts are seen as the container sees them
  (dockerd mounts the volumes into the rootfs for the same effect);
- not running: its snapshot mounted on a temporary directory under the exec
  root, with the container's bind mounts (HostConfig.Binds with a host path
  source, HostConfig.Mounts of type bind) mounted over it as dockerd does;
  everything is unmounted afterwards.

Security (moby CVE-2018-15664 / ../shared/cases/003): every path from the
client is resolved inside the container root with
:func:`skiff.snapshots.safepath.secure_join`, symlinks followed as if the
container root were "/". Path names never reach the kernel with a symlink
still in them to follow (the last component is opened or created with
O_NOFOLLOW/O_EXCL); tar entries of a PUT are cleaned (``..`` that climbs out
is refused with UnsafePath), their parents resolved inside the root, and
symlink and hardlink entries checked as pkg/archive's ``createTarFile``
("invalid symlink" / "invalid hardlink" breakouts). A running container
is frozen (:meth:`ContainerFS.frozen`) while the API resolves and uses its
paths, so no process in it can swap a directory for a symlink meanwhile
(the kernel would follow an absolute one under /proc/<pid>/root on the host).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import logging
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import time
from typing import BinaryIO, Callable, Iterator

from ..errors import Conflict, Forbidden, InvalidArgument, NotFound, SkiffError, SystemError_, UnsafePath
from ..snapshots.layer import create_node
from ..snapshots.safepath import clean_name, secure_join

log = logging.getLogger("skiff.container_fs")

#: Go os.FileMode type bits (io/fs)
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_NAMED_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHAR_DEVICE = 1 << 21
GO_MODE_STICKY = 1 << 20

KIND_MODIFIED, KIND_ADDED, KIND_DELETED = 0, 1, 2

#: container paths not descended into when archiving a running container's
#: tree (kernel file systems the runtime mounts there)
_PSEUDO = ("/proc", "/sys", "/dev")


# --------------------------------------------------------------------- stat
def go_file_mode(st_mode: int) -> int:
    """A Unix st_mode as Go's os.FileMode (what dockerd's JSON carries)."""
    m = stat.S_IMODE(st_mode) & 0o777
    fmt = stat.S_IFMT(st_mode)
    if fmt == stat.S_IFDIR:
        m |= GO_MODE_DIR
    elif fmt == stat.S_IFLNK:
        m |= GO_MODE_SYMLINK
    elif fmt == stat.S_IFBLK:
        m |= GO_MODE_DEVICE
    elif fmt == stat.S_IFCHR:
        m |= GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE
    elif fmt == stat.S_IFIFO:
        m |= GO_MODE_NAMED_PIPE
    elif fmt == stat.S_IFSOCK:
        m |= GO_MODE_SOCKET
    if st_mode & stat.S_ISUID:
        m |= GO_MODE_SETUID
    if st_mode & stat.S_ISGID:
        m |= GO_MODE_SETGID
    if st_mode & stat.S_ISVTX:
        m |= GO_MODE_STICKY
    return m


def rfc3339_ns(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC (trailing zeros of the fraction dropped)."""
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return s + ("." + frac if frac else "") + "Z"


def abs_path(path: str) -> str:
    """dockerd's ``PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)``:
    the clean container-absolute path, keeping a trailing "/" or "/."."""
    p = posixpath.normpath("/" + (path or ""))
    if p.startswith("//"):
        p = "/" + p.lstrip("/")
    if path.endswith("/.") or path == ".":
        if p != "/":
            p += "/."
        else:
            p = "/."
    elif path.endswith("/") and p != "/":
        p += "/"
    return p


def _rel(root: str, host: str) -> str:
    root = root.rstrip("/") or "/"
    if host == root:
        return ""
    return host[len(root) + 1:]


def _node(root: str, host: str) -> str:
    """``host`` as a name that lstat() takes for the node itself; the root
    gets a trailing "/" (``/proc/<pid>/root`` is a magic symlink to the
    container's root directory, which is what is meant)."""
    return host.rstrip("/") + "/" if host.rstrip("/") == root.rstrip("/") else host


def resolve(root: str, path: str) -> tuple[str, str]:
    """dockerd's ``container.ResolvePath``: (host path, container abs path).
    The directory part is resolved inside ``root`` (symlinks followed as if
    ``root`` were "/"); the last component is kept as is (so a symlink there
    is not followed) unless the path ends with "/" or "/." (then the whole
    path is resolved)."""
    absp = abs_path(path)
    if absp.endswith("/") or absp.endswith("/.") or absp == "/":
        return secure_join(root, absp), absp
    d, base = posixpath.split(absp)
    return secure_join(root, d).rstrip("/") + "/" + base, absp


def stat_path(root: str, path: str) -> dict:
    """ContainerPathStat of ``path`` in the tree at ``root``:
    {"name", "size", "mode" (Go FileMode), "mtime" (RFC 3339), "linkTarget"
    (container-absolute, fully resolved, for a symlink)}. NotFound "Could not
    find the file PATH in container" as dockerd."""
    host, absp = resolve(root, path)
    try:
        st = os.lstat(_node(root, host))
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container", path=path) from None
    except NotADirectoryError:
        raise NotFound(f"Could not find the file {path} in container", path=path) from None
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = "/" + _rel(root, secure_join(root, absp))
    name = posixpath.basename(absp.rstrip("/")) if absp not in ("/", "/.") else "/"
    if absp.endswith("/."):
        name = "."
    return {"name": name, "size": st.st_size, "mode": go_file_mode(st.st_mode),
            "mtime": rfc3339_ns(st.st_mtime_ns), "linkTarget": link}


def encode_stat(st: dict) -> str:
    """The X-Docker-Container-Path-Stat header value (base64 of the JSON)."""
    return base64.b64encode(json.dumps(st).encode()).decode()


# --------------------------------------------------------------------- tar out
def _open_nofollow(path: str) -> BinaryIO:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _add(tf: tarfile.TarFile, host: str, name: str) -> os.stat_result | None:
    """One entry (never following a symlink); None for what tar cannot hold."""
    try:
        ti = tf.gettarinfo(host, arcname=name)
    except FileNotFoundError:
        return None  # gone meanwhile
    if ti is None:  # a socket
        return None
    ti.name = name  # gettarinfo strips a leading "/" (dockerd's root rebase keeps it)
    ti.uname = ti.gname = ""
    if ti.isreg():
        with _open_nofollow(host) as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            ti.size = st.st_size
            tf.addfile(ti, _Exact(f, st.st_size))
    else:
        tf.addfile(ti)
    return os.lstat(host) if ti.isdir() else None


class _Exact:
    """A file read as exactly ``size`` bytes (zero-filled if it shrank)."""

    def __init__(self, f, size: int):
        self.f, self.left = f, size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            n = self.left
        b = self.f.read(n)
        if len(b) < n:
            b += b"\0" * (n - len(b))
        self.left -= len(b)
        return b

    def readinto(self, buf) -> int:
        b = self.read(len(buf))
        buf[:len(b)] = b
        return len(b)


def write_tree(out: BinaryIO, root: str, host: str, rebase: str, *,
               skip_pseudo: bool = False) -> None:
    """Write a tar (PAX) of ``host`` (a path inside ``root``) to ``out``:
    the entry itself named ``rebase`` and, for a directory, everything below
    it (symlinks archived as links, never followed), named ``rebase/...``.
    With ``skip_pseudo``, the container's /proc, /sys and /dev mount points
    are archived as empty directories."""
    tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 16)
    try:
        st = os.lstat(_node(root, host))
        name0 = rebase if rebase in ("/", ".") else (rebase.strip("/") or ".")
        _add(tf, _node(root, host), name0)
        if stat.S_ISDIR(st.st_mode):
            _walk(tf, root, host, name0, skip_pseudo)
    finally:
        tf.close()


def _walk(tf: tarfile.TarFile, root: str, host: str, name: str, skip_pseudo: bool) -> None:
    try:
        entries = sorted(os.listdir(host), key=os.fsencode)
    except (FileNotFoundError, NotADirectoryError):
        return
    for n in entries:
        h = host + "/" + n
        en = name.rstrip("/") + "/" + n
        try:
            dst = _add(tf, h, en)
        except (FileNotFoundError, PermissionError) as e:
            log.debug("archive: skipping %s: %s", h, e)
            continue
        if dst is None:
            continue
        if skip_pseudo and "/" + _rel(root, h) in _PSEUDO:
            continue
        _walk(tf, root, h, en, skip_pseudo)


def archive_names(root: str, path: str) -> tuple[str, str]:
    """(host path to archive, rebase name) for GET archive, as dockerd's
    archivePath: a trailing "/" or "/." archives the resolved directory;
    entries are named after the requested base name ("./x" for "/.", "/x"
    for the root)."""
    host, absp = resolve(root, path)
    if absp == "/":
        return root, "/"  # entries "/", "/bin", ... as dockerd's rebase on "/"
    if absp.endswith("/."):
        return host, "."
    return host.rstrip("/") if host != "/" else host, posixpath.basename(absp.rstrip("/"))


# --------------------------------------------------------------------- tar in
class Extractor:
    """Extract a tar into directory ``dest`` (container path) of the tree at
    ``root`` as dockerd's PUT archive (pkg/archive Untar with
    NoOverwriteDirNonDir; no whiteout handling: ``.wh.`` names are plain
    files). ``chown`` (uid, gid) overrides every entry's owner (copyUIDGID).
    Raises NotFound if ``dest`` does not exist, InvalidArgument if it is not
    a directory or for an overwrite that ``no_overwrite_dir_non_dir`` forbids,
    UnsafePath for entries that would leave ``dest`` (names, symlinks,
    hardlinks), SystemError_ for kernel errors."""

    def __init__(self, root: str, dest: str, *, no_overwrite_dir_non_dir: bool = False,
                 chown: tuple[int, int] | None = None):
        self.root = root.rstrip("/") or "/"
        host = secure_join(self.root, abs_path(dest))
        try:
            st = os.lstat(_node(self.root, host))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"Could not find the file {dest} in container", path=dest) from None
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument("extraction point is not a directory", path=dest)
        self.dest_rel = _rel(self.root, host)  # resolved, relative to root
        self.no_overwrite = no_overwrite_dir_non_dir
        self.chown = chown
        self.dir_times: list[tuple[str, int]] = []
        self.count = 0

    def _in_dest(self, name: str) -> str:
        return posixpath.join(self.dest_rel, name) if self.dest_rel else name

    def _ensure_dir(self, rel: str) -> str:
        """Resolve directory ``rel`` (relative to root) inside root, making
        missing components 0755. Returns its host path."""
        host = secure_join(self.root, rel)
        cur = self.root
        for comp in [c for c in _rel(self.root, host).split("/") if c]:
            cur = cur + "/" + comp
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                os.mkdir(cur, 0o755)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise SystemError_(f"{'/' + _rel(self.root, cur)}: not a directory",
                                   errno=errno.ENOTDIR, path=rel)
        return host

    def extract(self, stream: BinaryIO) -> int:
        """Read the whole tar from ``stream``; returns the number of entries."""
        try:
            tf = tarfile.open(fileobj=stream, mode="r|*", errorlevel=1)
            for ti in tf:
                self._entry(tf, ti)
        except tarfile.TarError as e:
            raise InvalidArgument(f"invalid tar archive: {e}") from e
        except OSError as e:
            if e.errno == errno.EROFS:
                raise Forbidden(f"cannot write into a read-only file system: {e.filename or ''}".rstrip(": "))
            raise SystemError_(f"extract archive: {e.strerror}", errno=e.errno or 0,
                               path=e.filename or "") from e
        for rel, ns in reversed(self.dir_times):
            p = secure_join(self.root, rel)
            try:
                if stat.S_ISDIR(os.lstat(p).st_mode):
                    os.utime(p, ns=(ns, ns), follow_symlinks=False)
            except OSError:
                pass
        return self.count

    def _entry(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        name = clean_name(ti.name)  # UnsafePath for ../ breakouts
        if not name:
            return  # "." or "/": the destination itself, left alone
        dirname, base = posixpath.split(name)
        parent = self._ensure_dir(self._in_dest(dirname))
        path = parent + "/" + base
        # the extraction directory as resolved, for pkg/archive's breakout checks
        extract_dir = secure_join(self.root, self.dest_rel)
        if ti.issym():
            # pkg/archive createTarFile: filepath.Join(dir(path), linkname) must stay in dest
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ti.linkname)) \
                if not ti.linkname.startswith("/") else \
                posixpath.normpath(posixpath.join(parent, ti.linkname.lstrip("/")))
            if not (target == extract_dir or target.startswith(extract_dir.rstrip("/") + "/")):
                raise UnsafePath(f"invalid symlink {'/' + _rel(self.root, path)!r} -> {ti.linkname!r}",
                                 path=ti.name)
        link_src = None
        if ti.islnk():
            try:
                lrel = clean_name(ti.linkname)
            except UnsafePath:
                lrel = ""
            if not lrel:
                raise UnsafePath(f"invalid hardlink {ti.name!r} -> {ti.linkname!r}", path=ti.name)
            ld, lb = posixpath.split(lrel)
            link_src = secure_join(self.root, self._in_dest(ld)).rstrip("/") + "/" + lb
            if not link_src.startswith(extract_dir.rstrip("/") + "/"):
                raise UnsafePath(f"invalid hardlink {ti.name!r} -> {ti.linkname!r}", path=ti.name)
            try:
                lst = os.lstat(link_src)
            except FileNotFoundError:
                raise InvalidArgument(f"hardlink {ti.name!r}: target {ti.linkname!r} not found",
                                      path=ti.name) from None
            if stat.S_ISDIR(lst.st_mode):
                raise UnsafePath(f"invalid hardlink {ti.name!r} -> directory {ti.linkname!r}",
                                 path=ti.name)
            if link_src == path:
                return
        try:
            old = os.lstat(path)
        except FileNotFoundError:
            old = None
        if old is not None:
            if self.no_overwrite:
                if stat.S_ISDIR(old.st_mode) and not ti.isdir():
                    raise InvalidArgument(f"cannot overwrite directory {'/' + _rel(self.root, path)!r} "
                                          f"with non-directory {ti.name!r}", path=ti.name)
                if not stat.S_ISDIR(old.st_mode) and ti.isdir():
                    raise InvalidArgument(f"cannot overwrite non-directory {'/' + _rel(self.root, path)!r} "
                                          f"with directory {ti.name!r}", path=ti.name)
            if not (stat.S_ISDIR(old.st_mode) and ti.isdir()):
                if stat.S_ISDIR(old.st_mode):
                    if os.path.ismount(path):
                        raise Conflict(f"cannot replace mount point {'/' + _rel(self.root, path)}",
                                       path=ti.name)
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
        dir_exists = old is not None and stat.S_ISDIR(old.st_mode) and ti.isdir()
        if not create_node(tf, ti, path, link_src, dir_exists=dir_exists):
            log.warning("skipping tar entry %s of unsupported type %r", ti.name, ti.type)
            return
        self.count += 1
        if ti.islnk():
            return
        uid, gid = self.chown if self.chown else (ti.uid, ti.gid)
        os.lchown(path, uid, gid)
        for key, value in ti.pax_headers.items():
            if key.startswith("SCHILY.xattr.") and not key.startswith("SCHILY.xattr.trusted.overlay."):
                try:
                    os.setxattr(path, key[13:], value.encode("utf-8", "surrogateescape"),
                                follow_symlinks=False)
                except OSError as e:
                    if e.errno not in (errno.ENOTSUP, errno.EPERM):
                        raise
        ns = int(ti.mtime * 1e9)
        if not ti.issym():
            os.chmod(path, ti.mode & 0o7777)
        if ti.isdir():
            self.dir_times.append((_rel(self.root, path), ns))
        else:
            os.utime(path, ns=(ns, ns), follow_symlinks=False)


def extract_archive(stream: BinaryIO, root: str, dest: str, *, no_overwrite_dir_non_dir: bool = False,
                    chown: tuple[int, int] | None = None) -> int:
    """Extract the tar read from ``stream`` into container directory ``dest``
    of the tree at ``root``; see :class:`Extractor`. Returns the entry count."""
    return Extractor(root, dest, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                     chown=chown).extract(stream)


# --------------------------------------------------------------------- changes
def _overlay_dirs(mounts) -> tuple[str | None, list[str]]:
    if len(mounts) == 1 and mounts[0].type == "overlay":
        upper, lowers = None, []
        for o in mounts[0].options:
            k, _, v = o.partition("=")
            if k == "upperdir":
                upper = v
            elif k == "lowerdir":
                lowers = [p for p in v.split(":") if p]
        return upper, lowers
    return None, []


def _in_lowers(lowers: list[str], rel: str) -> os.stat_result | None:
    """The entry ``rel`` as the lower layers show it (None if absent or whited out)."""
    for lower in lowers:
        parts = rel.split("/")
        cur = lower
        hidden = False
        for i, p in enumerate(parts):
            cur = cur + "/" + p
            try:
                st = os.lstat(cur)
            except (FileNotFoundError, NotADirectoryError):
                st = None
            if st is None:
                break
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                hidden = True
                break
            if i == len(parts) - 1:
                return st
            if not stat.S_ISDIR(st.st_mode):
                hidden = True
                break
            try:
                if os.getxattr(cur, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                    # this layer hides the lower ones below this directory
                    rest = "/".join(parts[i + 1:])
                    return _lstat_or_none(cur + "/" + rest) if rest else st
            except OSError:
                pass
        if hidden:
            return None
    return None


def _lstat_or_none(p: str) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None


def overlay_changes(upper: str, lowers: list[str]) -> list[dict]:
    """Changes of an overlay upperdir against its lower dirs (top first), as
    dockerd's overlay2 Changes: a whiteout (0:0 char device) is a deletion,
    an entry absent from the lowers an addition, anything else a
    modification; an opaque directory that replaced a lower one lists the
    lower entries it hides as deleted. Sorted by path."""
    out: dict[str, int] = {}

    def walk(rel: str) -> None:
        d = upper + ("/" + rel if rel else "")
        for n in sorted(os.listdir(d), key=os.fsencode):
            r = f"{rel}/{n}" if rel else n
            st = os.lstat(upper + "/" + r)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                if _in_lowers(lowers, r) is not None:
                    out["/" + r] = KIND_DELETED
                continue
            lst = _in_lowers(lowers, r)
            out["/" + r] = KIND_ADDED if lst is None else KIND_MODIFIED
            if stat.S_ISDIR(st.st_mode):
                opaque = False
                try:
                    opaque = os.getxattr(upper + "/" + r, "trusted.overlay.opaque",
                                         follow_symlinks=False) == b"y"
                except OSError:
                    pass
                if opaque and lst is not None and stat.S_ISDIR(lst.st_mode):
                    mine = set(os.listdir(upper + "/" + r))
                    for lower in lowers:
                        lp = secure_join(lower, r)
                        if os.path.isdir(lp) and not os.path.islink(lp):
                            for ln in os.listdir(lp):
                                if ln not in mine and not ln.startswith(".wh."):
                                    out.setdefault(f"/{r}/{ln}", KIND_DELETED)
                walk(r)

    walk("")
    return [{"Path": p, "Kind": k} for p, k in sorted(out.items())]


def tree_changes(new_root: str, old_root: str | None) -> list[dict]:
    """Changes between two whole trees (native snapshots): added, deleted
    (top-most only), modified (type, mode, owner, size, mtime, link target)."""
    out: list[dict] = []

    def walk(rel: str) -> None:
        nd = new_root + ("/" + rel if rel else "")
        od = (old_root + ("/" + rel if rel else "")) if old_root else None
        new = set(os.listdir(nd))
        old = set()
        if od and os.path.isdir(od) and not os.path.islink(od):
            old = set(os.listdir(od))
        for n in sorted(new | old, key=os.fsencode):
            r = f"{rel}/{n}" if rel else n
            if n not in new:
                out.append({"Path": "/" + r, "Kind": KIND_DELETED})
                continue
            nst = os.lstat(new_root + "/" + r)
            ost = _lstat_or_none(old_root + "/" + r) if n in old else None
            if ost is None or stat.S_IFMT(ost.st_mode) != stat.S_IFMT(nst.st_mode):
                out.append({"Path": "/" + r, "Kind": KIND_ADDED})
                if stat.S_ISDIR(nst.st_mode):
                    walk_added(r)
                continue
            changed = (nst.st_mode, nst.st_uid, nst.st_gid) != (ost.st_mode, ost.st_uid, ost.st_gid) \
                or nst.st_mtime_ns != ost.st_mtime_ns \
                or (not stat.S_ISDIR(nst.st_mode) and nst.st_size != ost.st_size)
            if not changed and stat.S_ISLNK(nst.st_mode):
                changed = os.readlink(new_root + "/" + r) != os.readlink(old_root + "/" + r)
            if changed:
                out.append({"Path": "/" + r, "Kind": KIND_MODIFIED})
            if stat.S_ISDIR(nst.st_mode):
                walk(r)

    def walk_added(rel: str) -> None:
        for n in sorted(os.listdir(new_root + "/" + rel), key=os.fsencode):
            r = f"{rel}/{n}"
            out.append({"Path": "/" + r, "Kind": KIND_ADDED})
            p = new_root + "/" + r
            if os.path.isdir(p) and not os.path.islink(p):
                walk_added(r)

    walk("")
    return sorted(out, key=lambda c: c["Path"])


def filter_runtime_changes(changes: list[dict], mountpoints: list[str],
                           upper: str | None, lowers: list[str]) -> list[dict]:
    """Drop what the runtime made only as mount points (dockerd keeps those in
    its hidden "-init" layer): an added entry at a mount destination
    (/proc, /sys, /dev, /etc/hosts...) that is empty, and a modified or added
    parent directory left with no change below it whose metadata is that of
    the lower layers (only copied up to hold a mount point)."""
    mps = set(mountpoints)
    keep = []
    for c in changes:
        p = c["Path"]
        if p in mps and c["Kind"] in (KIND_ADDED, KIND_MODIFIED) and upper is not None:
            st = _lstat_or_none(upper + p)
            if st is not None and ((stat.S_ISREG(st.st_mode) and st.st_size == 0) or
                                   (stat.S_ISDIR(st.st_mode) and not os.listdir(upper + p))):
                if c["Kind"] == KIND_ADDED:
                    continue
                lst = _in_lowers(lowers, p.lstrip("/"))
                if lst is not None and stat.S_IFMT(lst.st_mode) == stat.S_IFMT(st.st_mode) and \
                        (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
                        (stat.S_IMODE(lst.st_mode), lst.st_uid, lst.st_gid):
                    continue
        keep.append(c)
    out = []
    paths = [c["Path"] for c in keep]
    for c in keep:
        p = c["Path"]
        has_child = any(q.startswith(p + "/") for q in paths)
        if not has_child and upper is not None and any(m.startswith(p + "/") for m in mps):
            st = _lstat_or_none(upper + p)
            if st is not None and stat.S_ISDIR(st.st_mode):
                if c["Kind"] == KIND_MODIFIED:
                    lst = _in_lowers(lowers, p.lstrip("/"))
                    if lst is not None and (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
                            (stat.S_IMODE(lst.st_mode), lst.st_uid, lst.st_gid):
                        continue
        out.append(c)
    return out


#: mount points the runtime always makes (spec defaults and the etc files)
DEFAULT_MOUNTPOINTS = ["/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                       "/sys/fs/cgroup", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]


# --------------------------------------------------------------------- service
class ContainerFS:
    """The file-system side of containers for the API (see the module
    docstring). Needs: ``get(ref) -> record`` (the ContainerService's),
    the ``snapshotter`` holding each container's writable snapshot (keyed by
    its id), ``bundle_of(cid) -> bundle dir``, the daemon's ``exec_root`` (for
    temporary mounts) and the ``events`` bus (optional)."""

    def __init__(self, *, get: Callable[[str], dict], snapshotter, bundle_of: Callable[[str], str],
                 exec_root: str, events=None, shim_of: Callable[[str], object] | None = None):
        self.get = get
        self.shim_of = shim_of
        self.snapshotter = snapshotter
        self.bundle_of = bundle_of
        self.tmp_root = os.path.join(exec_root, "cp")
        self.events = events

    # ---- freezing ----
    @contextlib.asynccontextmanager
    async def frozen(self, ref: str):
        """Freeze a running (not paused) container for the time of the ``with``
        (its shim's pause/resume), so that no process in it can swap a
        directory for a symlink while a path is being resolved and used
        (moby CVE-2018-15664: a kernel following an absolute symlink under
        /proc/<pid>/root would resolve it on the host). A user pause that
        happens meanwhile is left in place."""
        c = self.get(ref)
        st = c["State"]
        shim = None
        if self.shim_of is not None and st.get("Running") and not st.get("Paused"):
            shim = self.shim_of(c["Id"])
        if shim is not None:
            try:
                await shim.pause()
            except SkiffError as e:
                log.debug("freeze %s for cp: %s", c["Id"], e)
                shim = None
        try:
            yield
        finally:
            if shim is not None and not c["State"].get("Paused"):
                try:
                    await shim.resume()
                except SkiffError as e:
                    log.warning("thaw %s after cp: %s", c["Id"], e)

    # ---- roots ----
    def _running_pid(self, c: dict) -> int:
        st = c["State"]
        pid = int(st.get("Pid") or 0)
        if st.get("Running") and pid > 0 and os.path.exists(f"/proc/{pid}/root"):
            return pid
        return 0

    @contextlib.contextmanager
    def root(self, ref: str, *, with_binds: bool = True) -> Iterator[tuple[dict, str]]:
        """(record, host path of the container's "/") for the time of the
        ``with``: ``/proc/<pid>/root`` when running, else its snapshot (and
        its bind mounts, when ``with_binds``) mounted on a temporary directory,
        unmounted on exit. NotFound for an unknown container."""
        c = self.get(ref)
        pid = self._running_pid(c)
        if pid:
            yield c, f"/proc/{pid}/root"
            return
        with self._mounted(c, with_binds) as root:
            yield c, root

    @contextlib.contextmanager
    def rootfs(self, ref: str) -> Iterator[tuple[dict, str]]:
        """(record, host path of the container's own root file system,
        without volumes): the bundle's mounted rootfs while running, else its
        snapshot mounted on a temporary directory (for export)."""
        c = self.get(ref)
        rootfs = os.path.join(self.bundle_of(c["Id"]), "rootfs")
        if self._running_pid(c) and os.path.ismount(rootfs):
            yield c, rootfs
            return
        with self._mounted(c, False) as root:
            yield c, root

    @contextlib.contextmanager
    def _mounted(self, c: dict, with_binds: bool) -> Iterator[str]:
        from ..snapshots.mount import mount_all, unmount
        from ..types import Mount
        if c["State"].get("Status") in ("removing", "dead"):
            raise Conflict(f"container {c['Id']} is marked for removal")
        os.makedirs(self.tmp_root, mode=0o700, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=c["Id"][:12] + "-", dir=self.tmp_root)
        done: list[str] = []
        try:
            try:
                mounts = self.snapshotter.mounts(c["Id"])
            except NotFound:
                raise NotFound(f"No such container: {c['Id']}") from None
            mount_all(mounts, tmp)
            done.append(tmp)
            if with_binds:
                for src, dst, ro in _bind_sources(c.get("HostConfig") or {}):
                    try:
                        sst = os.stat(src)
                        target = _make_mountpoint(tmp, dst, stat.S_ISDIR(sst.st_mode))
                        tst = os.lstat(target)
                    except (OSError, SkiffError) as e:
                        log.debug("cp: bind %s on %s: %s", src, dst, e)
                        continue
                    if stat.S_ISDIR(sst.st_mode) != stat.S_ISDIR(tst.st_mode):
                        continue
                    opts = ("rbind", "ro") if ro else ("rbind",)
                    mount_all([Mount("bind", src, opts)], target)
                    done.append(target)
            yield tmp
        finally:
            for d in reversed(done):
                try:
                    unmount(d, detach=True)
                except SkiffError as e:
                    log.warning("unmount %s: %s", d, e)
            try:
                os.rmdir(tmp)
            except OSError as e:
                log.warning("removing %s: %s", tmp, e)

    # ---- operations ----
    def stat(self, ref: str, path: str) -> dict:
        """HEAD archive: the ContainerPathStat (see :func:`stat_path`)."""
        if not path:
            raise InvalidArgument("Path cannot be empty")
        with self.root(ref) as (_c, root):
            return stat_path(root, path)

    def check_writable(self, c: dict, root: str, dest: str) -> None:
        """Forbidden when ``dest`` is on a read-only root file system (dockerd's
        "container rootfs is marked read-only") and not in a writable bind."""
        if not (c.get("HostConfig") or {}).get("ReadonlyRootfs"):
            return
        absp = abs_path(dest)
        for _src, dst, ro in _bind_sources(c.get("HostConfig") or {}):
            if not ro and (absp == dst or absp.startswith(dst.rstrip("/") + "/")):
                return
        raise Forbidden("container rootfs is marked read-only")

    def container_user(self, c: dict, root: str) -> tuple[int, int]:
        """The uid/gid of the container's configured user (copyUIDGID)."""
        from ..runtime.user import resolve_user
        uid, gid, _ = resolve_user(root, (c.get("Config") or {}).get("User") or "")
        return uid, gid

    def changes(self, ref: str) -> list[dict]:
        """GET /containers/{id}/changes: [{"Path", "Kind"}] (0 C, 1 A, 2 D)."""
        c = self.get(ref)
        try:
            mounts = self.snapshotter.mounts(c["Id"])
        except NotFound:
            raise NotFound(f"No such container: {c['Id']}") from None
        upper, lowers = _overlay_dirs(mounts)
        mps = list(DEFAULT_MOUNTPOINTS)
        for _s, dst, _ro in _bind_sources(c.get("HostConfig") or {}):
            mps.append(dst)
        for dst in (c.get("HostConfig") or {}).get("Tmpfs") or {}:
            mps.append(posixpath.normpath(dst))
        try:
            with open(os.path.join(self.bundle_of(c["Id"]), "config.json")) as f:
                mps += [posixpath.normpath(m["destination"]) for m in json.load(f).get("mounts") or []]
        except (OSError, ValueError, KeyError):
            pass
        if upper:
            ch = overlay_changes(upper, lowers)
            return filter_runtime_changes(ch, mps, upper, lowers)
        info = self.snapshotter.stat(c["Id"])
        with self.rootfs(ref) as (_c, new_root):
            if not info.parent:
                return tree_changes(new_root, None)
            key = f"skiff-changes-{c['Id']}-{os.getpid()}-{time.monotonic_ns()}"
            from ..snapshots.mount import mount_all, unmount
            vm = self.snapshotter.view(key, info.parent)
            tmp = tempfile.mkdtemp(prefix="view-", dir=self.tmp_root)
            try:
                mount_all(vm, tmp)
                try:
                    ch = tree_changes(new_root, tmp)
                finally:
                    unmount(tmp, detach=True)
            finally:
                os.rmdir(tmp)
                self.snapshotter.remove(key)
        return [x for x in ch if not (x["Path"] in mps and x["Kind"] == KIND_ADDED)]


def _bind_sources(hc: dict) -> list[tuple[str, str, bool]]:
    """(host source, container destination, read-only) of the bind mounts
    with a host path source (HostConfig.Binds and Mounts of type bind)."""
    out = []
    for b in hc.get("Binds") or []:
        parts = b.split(":")
        if len(parts) < 2 or not parts[0].startswith("/"):
            continue
        mode = parts[2] if len(parts) > 2 else ""
        out.append((parts[0], posixpath.normpath(parts[1]), "ro" in mode.split(",")))
    for m in hc.get("Mounts") or []:
        if (m.get("Type") or "").lower() == "bind" and (m.get("Source") or "").startswith("/"):
            out.append((m["Source"], posixpath.normpath(m.get("Target") or "/"), bool(m.get("ReadOnly"))))
    return out


def _make_mountpoint(root: str, dst: str, is_dir: bool) -> str:
    """The mount point ``dst`` inside ``root`` (resolved there), made as the
    runtime would at start (directories 0755, an empty file for a file bind)
    when missing. Returns its host path."""
    host = secure_join(root, dst)
    rel = _rel(root, host)
    parts = [p for p in rel.split("/") if p]
    cur = root.rstrip("/")
    for i, comp in enumerate(parts):
        cur = cur + "/" + comp
        try:
            os.lstat(cur)
            continue
        except FileNotFoundError:
            pass
        if i == len(parts) - 1 and not is_dir:
            os.close(os.open(cur, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
        else:
            os.mkdir(cur, 0o755)
    return host
