"""The container's root file system: spec mounts resolved inside the rootfs,
device nodes, /dev symlinks, pivot_root, masked and read-only paths.
Follows OCI runtime-spec config.md#mounts, config-linux.md#default-filesystems,
#default-devices, #masked-paths, #readonly-paths and runc's
libcontainer/rootfs_linux.go.

All functions run inside the container's new mount namespace (the init
process) and raise skiff.errors.SystemError_ / UnsafePath carrying the path.
"""

from __future__ import annotations

import errno
import os
import stat

from skiff.errors import InvalidArgument, SystemError_, UnsafePath
from skiff.runtime.linux import syscalls as sc

from skiff.runtime.linux._log import log  # noqa: E402

_MAX_SYMLINKS = 255

#: fstab option -> (clear?, flag) as runc's parseMountOptions
MOUNT_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, sc.MS_SYNCHRONOUS), "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND), "defaults": (False, 0), "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME), "dirsync": (False, sc.MS_DIRSYNC),
    "exec": (True, sc.MS_NOEXEC), "mand": (False, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME), "nodev": (False, sc.MS_NODEV),
    "nodiratime": (False, sc.MS_NODIRATIME), "noexec": (False, sc.MS_NOEXEC),
    "nomand": (True, sc.MS_MANDLOCK), "norelatime": (True, sc.MS_RELATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME), "nosuid": (False, sc.MS_NOSUID),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW), "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME), "remount": (False, sc.MS_REMOUNT),
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "strictatime": (False, sc.MS_STRICTATIME), "suid": (True, sc.MS_NOSUID),
    "sync": (False, sc.MS_SYNCHRONOUS), "lazytime": (False, sc.MS_LAZYTIME),
    "nolazytime": (True, sc.MS_LAZYTIME),
}

#: recursive mount attributes (mount_setattr(2) with AT_RECURSIVE), runc's
#: "rro", "rnosuid"...: option -> (attr_set, attr_clr)
REC_ATTRS: dict[str, tuple[int, int]] = {
    "rro": (sc.MOUNT_ATTR_RDONLY, 0), "rrw": (0, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (sc.MOUNT_ATTR_NOSUID, 0), "rsuid": (0, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (sc.MOUNT_ATTR_NODEV, 0), "rdev": (0, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (sc.MOUNT_ATTR_NOEXEC, 0), "rexec": (0, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (sc.MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, sc.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (sc.MOUNT_ATTR_RELATIME, sc.MOUNT_ATTR__ATIME), "rnorelatime": (0, 0),
    "rnoatime": (sc.MOUNT_ATTR_NOATIME, sc.MOUNT_ATTR__ATIME),
    "ratime": (0, sc.MOUNT_ATTR_NOATIME),
    "rstrictatime": (sc.MOUNT_ATTR_STRICTATIME, sc.MOUNT_ATTR__ATIME),
    "rnostrictatime": (0, sc.MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (sc.MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, sc.MOUNT_ATTR_NOSYMFOLLOW),
}

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE, "shared": sc.MS_SHARED, "slave": sc.MS_SLAVE,
    "unbindable": sc.MS_UNBINDABLE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC, "rshared": sc.MS_SHARED | sc.MS_REC,
    "rslave": sc.MS_SLAVE | sc.MS_REC, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# statvfs f_flag bits that a bind remount must keep (they may be locked)
_ST_TO_MS = ((1, sc.MS_RDONLY), (2, sc.MS_NOSUID), (4, sc.MS_NODEV), (8, sc.MS_NOEXEC),
             (1024, sc.MS_NOATIME), (2048, sc.MS_NODIRATIME), (4096, sc.MS_RELATIME))


def parse_options(options) -> tuple[int, list[int], str]:
    """fstab options -> (mount flags, propagation flags list, data string)."""
    flags = 0
    prop: list[int] = []
    data: list[str] = []
    for o in options or ():
        if o in MOUNT_FLAGS:
            clear, f = MOUNT_FLAGS[o]
            flags = flags & ~f if clear else flags | f
        elif o in PROPAGATION:
            prop.append(PROPAGATION[o])
        elif o in REC_ATTRS:
            pass  # mount_setattr after the mount (rec_attrs())
        elif o in ("idmap", "ridmap", "tmpcopyup"):
            log.debug("mount option %s ignored", o)
        else:
            data.append(o)
    return flags, prop, ",".join(data)


def rec_attrs(options) -> tuple[int, int]:
    """The recursive attributes of ``options`` as (attr_set, attr_clr)."""
    aset = aclr = 0
    for o in options or ():
        if o in REC_ATTRS:
            st, cl = REC_ATTRS[o]
            aset = (aset & ~cl) | st
            aclr = (aclr & ~st) | cl
    return aset, aclr


def secure_join(root: str, unsafe: str) -> str:
    """Resolve ``unsafe`` (a path in the container) inside ``root`` without ever
    leaving it: ".." stops at the root and symlinks are resolved as if
    ``root`` were "/" (filepath-securejoin's semantics). Missing trailing
    components are kept as they are. Returns a host path under ``root``.
    Raises UnsafePath after 255 symlinks."""
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        p = parts.pop(0)
        if p == "..":
            if resolved:
                resolved.pop()
            continue
        cand = os.path.join(root, *resolved, p)
        try:
            st = os.lstat(cand)
        except FileNotFoundError:
            resolved.append(p)
            continue
        except NotADirectoryError:
            resolved.append(p)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_SYMLINKS:
                raise UnsafePath(f"too many symlinks resolving {unsafe} in {root}", path=unsafe)
            target = os.readlink(cand)
            if target.startswith("/"):
                resolved = []
            parts = [x for x in target.split("/") if x not in ("", ".")] + parts
            continue
        resolved.append(p)
    return os.path.join(root, *resolved)


#: where tmpcopyup stages its tmpfs: the init sets the container's state
#: directory, which delete removes even when the init was killed mid-copy
COPYUP_DIR = "/tmp"

_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _walk(path: str, create: bool = False, mode: int = 0o755) -> int:
    """An O_PATH fd of the directory ``path`` (absolute, already resolved by
    secure_join: no ".." and no symlink in it), reached component by
    component from "/" with O_NOFOLLOW, so that a symlink swapped in after
    the resolution (a rootfs shared with a running container) makes it fail
    instead of leading out of the rootfs; with ``create``, missing
    directories are made on the way (mkdirat on the parent's fd). Raises
    SystemError_ (ENOTDIR / ELOOP: "not a directory")."""
    fd = os.open("/", _DIR_FLAGS)
    try:
        for part in path.strip("/").split("/"):
            if not part:
                continue
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return fd
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            raise SystemError_(f"mkdir {path}: not a directory", errno=errno.ENOTDIR,
                               path=path) from None
        raise SystemError_(f"mkdir {path}: {os.strerror(e.errno).lower()}",
                           errno=e.errno or 0, path=path) from None


def _mkdir_all(path: str, mode: int = 0o755) -> None:
    """mkdir -p ``path`` without following any symlink (see _walk)."""
    os.close(_walk(path, create=True, mode=mode))


def _touch(path: str) -> None:
    """An empty file at ``path`` (its directories made, nothing followed),
    unless something is there already."""
    parent, name = os.path.split(path.rstrip("/"))
    pfd = _walk(parent, create=True)
    try:
        try:
            os.stat(name, dir_fd=pfd, follow_symlinks=False)
            return  # something is there already (never opened: it may be a device)
        except FileNotFoundError:
            pass
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o755, dir_fd=pfd))
        except FileExistsError:
            return
        except OSError as e:
            raise SystemError_(f"create {path}: {os.strerror(e.errno).lower()}",
                               errno=e.errno or 0, path=path) from None
    finally:
        os.close(pfd)


class _Pinned:
    """``with _Pinned(path) as p:`` p is "/proc/self/fd/N" for an O_PATH fd
    of ``path`` reached without following symlinks (_walk): a mount onto p
    lands exactly on what was checked, whatever is renamed meanwhile (runc's
    WithProcfd, CVE-2021-30465). Falls back to ``path`` itself when /proc is
    not there."""

    def __init__(self, path: str):
        self.path = path
        self.fd = -1

    def __enter__(self) -> str:
        if not os.path.isdir("/proc/self/fd"):
            return self.path
        parent, name = os.path.split(self.path.rstrip("/") or "/")
        if not name:
            self.fd = _walk("/")
        else:
            pfd = _walk(parent)
            try:
                self.fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            except OSError as e:
                raise SystemError_(f"open mount target {self.path}: "
                                   f"{os.strerror(e.errno).lower()}", errno=e.errno or 0,
                                   path=self.path) from None
            finally:
                os.close(pfd)
        return f"/proc/self/fd/{self.fd}"

    def __exit__(self, *exc) -> None:
        if self.fd >= 0:
            os.close(self.fd)


def _mount_at(source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
    """mount(2) of a new mount onto ``target`` through _Pinned (no symlink
    followed, nothing renamed in between can redirect it). Raises
    SystemError_ naming ``target``."""
    with _Pinned(target) as t:
        try:
            sc.mount(source, t, fstype, flags, data)
        except SystemError_ as e:
            if t == target:
                raise
            raise SystemError_(e.message.replace(t, target), errno=e.errno,
                               path=target) from None


def _locked_flags(path: str) -> int:
    try:
        f = os.statvfs(path).f_flag
    except OSError:
        return 0
    out = 0
    for st_bit, ms in _ST_TO_MS:
        if f & st_bit and ms != sc.MS_RDONLY:
            out |= ms
    return out


def bind_remount(target: str, flags: int) -> None:
    """Remount the bind mount at ``target`` with ``flags`` (ro, nosuid...),
    keeping flags the kernel may have locked (nosuid/nodev/noexec/atime)."""
    want = sc.MS_BIND | sc.MS_REMOUNT | (flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT))
    try:
        sc.mount(None, target, None, want)
    except SystemError_ as e:
        if e.errno != errno.EPERM:
            raise
        sc.mount(None, target, None, want | _locked_flags(target))


def _bind_source(bundle: str, src: str) -> str:
    return src if os.path.isabs(src) else os.path.join(bundle, src)


def is_idmapped(m: dict) -> bool:
    """An id-mapped mount: uid/gidMappings or the "idmap"/"ridmap" option."""
    opts = m.get("options") or ()
    return bool(m.get("uidMappings") or m.get("gidMappings") or "idmap" in opts
                or "ridmap" in opts)


def container_dest(rootfs: str, dest: str) -> str:
    """A destination given as a host path under the rootfs (runc accepts
    "$rootfs/mnt") -> the path inside the container."""
    root = rootfs.rstrip("/")
    if dest == root:
        return "/"
    if dest.startswith(root + "/"):
        return dest[len(root):]
    return dest


def mount_entry(rootfs: str, bundle: str, m: dict, cgroup_paths: dict[str, str] | None = None,
                source_fd: int | None = None) -> None:
    """Perform one spec mount (config.md#mounts) under ``rootfs``: the
    destination is resolved inside the rootfs and created if missing (a file
    for a bind of a file, a directory otherwise). ``source_fd``: a detached
    copy of a bind source (open_tree), opened before the user namespace was
    entered (runc's mount source fds: the source may be out of the
    container root's reach)."""
    dest = m.get("destination") or ""
    if not dest.startswith("/"):
        raise InvalidArgument(f"mount destination {dest!r} is not absolute", path=dest)
    dest = container_dest(rootfs, dest)
    mtype = m.get("type") or ""
    opts = m.get("options") or []
    if is_idmapped(m) and source_fd is None:
        raise InvalidArgument(f"mount {dest}: the id-mapped mount was not prepared", path=dest)
    flags, prop, data = parse_options(opts)
    src = m.get("source") or mtype or "none"
    if mtype in ("proc", "sysfs"):
        # never through a symlink (CVE-2019-19921 / CVE-2023-27561)
        unresolved = os.path.join(rootfs, dest.lstrip("/"))
        if os.path.lexists(unresolved) and (os.path.islink(unresolved)
                                            or not os.path.isdir(unresolved)):
            raise InvalidArgument(f'error mounting "{src}" to rootfs at "{dest}": filesystem '
                                  f'"{mtype}" must be mounted on ordinary directory', path=dest)
    target = secure_join(rootfs, dest)
    is_bind = bool(flags & sc.MS_BIND) or mtype == "bind"
    if is_bind:
        src = _bind_source(bundle, src)
        try:
            st = os.stat(f"/proc/self/fd/{source_fd}" if source_fd is not None else src)
        except OSError as e:
            raise SystemError_(f"bind mount source {src}: {os.strerror(e.errno).lower()}",
                               errno=e.errno or 0, path=src) from None
        if stat.S_ISDIR(st.st_mode):
            _mkdir_all(target)
        else:
            _touch(target)
        target = secure_join(rootfs, dest)
        if source_fd is not None:
            sc.move_mount(source_fd, target)
        else:
            _mount_at(src, target, None, sc.MS_BIND | (flags & sc.MS_REC))
        if flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT):
            bind_remount(target, flags)
    elif mtype == "cgroup":
        _mount_cgroup(target, flags, cgroup_paths or {})
    elif mtype == "tmpfs":
        _mount_tmpfs(target, src, flags, data, "tmpcopyup" in opts,
                     delay_ro=dest.rstrip("/") == "/dev")
    else:
        _mkdir_all(target)
        target = secure_join(rootfs, dest)
        try:
            _mount_at(src, target, mtype, flags, data or None)
        except SystemError_ as e:
            if mtype == "sysfs" and e.errno == errno.EPERM:
                # no new network namespace of our own: bind the host's /sys (runc)
                _mount_at("/sys", target, None, sc.MS_BIND | sc.MS_REC)
                bind_remount(target, flags)
            else:
                raise
    aset, aclr = rec_attrs(opts)
    if aset or aclr:
        sc.mount_setattr(target, aset, aclr, recursive=True)
    for p in prop:
        sc.mount(None, target, None, p)


def _mount_tmpfs(target: str, src: str, flags: int, data: str, copyup: bool,
                 delay_ro: bool = False) -> None:
    """A tmpfs, mounted read-write first and remounted read-only afterwards
    (runc: its content, a copy-up or /dev's nodes, is made in between; /dev
    is remounted read-only by remount_dev_readonly() once the devices exist).
    Without an explicit mode= it takes the mode of the directory it covers,
    when that existed (runc >= 1.3)."""
    existed = os.path.isdir(target)
    if existed and not any(o.startswith("mode=") for o in data.split(",")):
        mode = os.stat(target).st_mode & 0o7777
        data = f"{data},mode={mode:o}" if data else f"mode={mode:o}"
    _mkdir_all(target)
    rw = flags & ~sc.MS_RDONLY
    if copyup and existed:
        # a name nobody can guess or pre-create (our pid is 1 in every
        # container); the directory lives in the host's /tmp (runc's too)
        tmp = os.path.join(COPYUP_DIR if os.access(COPYUP_DIR, os.W_OK) else "/tmp",
                           f".skiff-copyup-{os.urandom(8).hex()}")
        os.mkdir(tmp, 0o700)
        try:
            sc.mount(src, tmp, "tmpfs", rw, data or None)
            try:
                _copy_tree(target, tmp)
                _mount_at(tmp, target, None, sc.MS_MOVE)
            except BaseException:
                sc.umount2(tmp, sc.MNT_DETACH)
                raise
        finally:
            os.rmdir(tmp)
    else:
        _mount_at(src, target, "tmpfs", rw, data or None)
    if flags & sc.MS_RDONLY and not delay_ro:
        remount_readonly(target, flags, data)


def remount_readonly(target: str, flags: int, data: str = "") -> None:
    """Remount a (tmpfs) mount read-only with its flags and data."""
    try:
        sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_RDONLY | flags, data or None)
    except SystemError_:
        bind_remount(target, flags | sc.MS_RDONLY)


def _copy_tree(src: str, dst: str) -> None:
    """tmpcopyup: copy the directory ``src``'s content into ``dst``, keeping
    modes, owners, times and symlinks (as symlinks); ``dst`` itself takes
    ``src``'s mode and owner. Everything goes through directory fds and
    O_NOFOLLOW, from ``src`` reached by _walk: an entry swapped for a symlink
    during the copy (a rootfs shared with a running container) fails the
    copy instead of pulling host files in."""
    rd = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    spath, dpath = _walk(src), _walk(dst)
    try:
        sfd, dfd = os.open(".", rd, dir_fd=spath), os.open(".", rd, dir_fd=dpath)
    finally:
        os.close(spath)
        os.close(dpath)
    try:
        _copy_dir_fd(sfd, dfd)
        st = os.fstat(sfd)
        _copy_meta(dfd, None, st)
    finally:
        os.close(sfd)
        os.close(dfd)


def _copy_meta(dir_fd: int, name: str | None, st: os.stat_result) -> None:
    """Owner, mode (after chown, which clears setuid) and times of ``st`` on
    ``name`` in ``dir_fd`` (or on ``dir_fd`` itself), never following a symlink."""
    kw = {"dir_fd": dir_fd, "follow_symlinks": False} if name is not None else {}
    target = name if name is not None else dir_fd
    try:
        os.chown(target, st.st_uid, st.st_gid, **kw)
    except OSError:
        pass
    if not stat.S_ISLNK(st.st_mode):
        if name is None:
            os.chmod(dir_fd, stat.S_IMODE(st.st_mode))
        else:
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)
    try:
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), **kw)
    except (OSError, NotImplementedError):
        pass


def _copy_dir_fd(sfd: int, dfd: int) -> None:
    rd = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    for name in os.listdir(sfd):
        st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dfd)
            csfd = os.open(name, rd, dir_fd=sfd)  # ENOTDIR/ELOOP if swapped meanwhile
            try:
                cdfd = os.open(name, rd, dir_fd=dfd)
                try:
                    _copy_dir_fd(csfd, cdfd)
                finally:
                    os.close(cdfd)
            finally:
                os.close(csfd)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
        elif stat.S_ISREG(st.st_mode):
            fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
            try:
                fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                               | os.O_CLOEXEC, 0o600, dir_fd=dfd)
                try:
                    while True:
                        n = os.sendfile(fout, fin, None, 1 << 20)
                        if n == 0:
                            break
                finally:
                    os.close(fout)
            finally:
                os.close(fin)
        elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dfd)
        else:
            continue  # sockets are not copied (runc's copy neither)
        _copy_meta(dfd, name, st)


def _mount_cgroup(target: str, flags: int, cgroup_paths: dict[str, str]) -> None:
    """The "cgroup" mount: on v1, a tmpfs with each hierarchy's directory of
    this container bound at <target>/<controller> (as runc without a cgroup
    namespace), so that memory.limit_in_bytes there is the container's own;
    on v2 the container's unified directory bound at ``target``."""
    _mkdir_all(target)
    ro = flags & sc.MS_RDONLY
    base = flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    if "" in cgroup_paths:  # v2
        src = cgroup_paths[""]
        try:
            _mount_at("cgroup2", target, "cgroup2", base | ro)
        except SystemError_:
            _mount_at(src, target, None, sc.MS_BIND)
            bind_remount(target, base | ro)
        return
    _mount_at("tmpfs", target, "tmpfs", base, "mode=755")
    for name, host_dir in sorted(cgroup_paths.items()):
        sub = os.path.join(target, name)
        _mkdir_all(sub)
        _mount_at(host_dir, sub, None, sc.MS_BIND | sc.MS_REC)
        bind_remount(sub, base | ro)
        if "," in name:  # cpu,cpuacct -> cpu and cpuacct symlinks
            for part in name.split(","):
                link = os.path.join(target, part)
                if not os.path.lexists(link):
                    os.symlink(name, link)
    if ro:
        sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_RDONLY | base, "mode=755")


#: config-linux.md#default-devices: name -> (type, major, minor)
DEFAULT_DEVICES = {
    "/dev/null": ("c", 1, 3), "/dev/zero": ("c", 1, 5), "/dev/full": ("c", 1, 7),
    "/dev/random": ("c", 1, 8), "/dev/urandom": ("c", 1, 9), "/dev/tty": ("c", 5, 0),
}


def create_device(rootfs: str, path: str, dtype: str, major: int, minor: int,
                  mode: int = 0o666, uid: int = 0, gid: int = 0, userns: bool = False) -> None:
    """mknod ``path`` inside ``rootfs`` (or, where mknod is refused, as in a
    user namespace, bind-mount the host's node over an empty file)."""
    target = secure_join(rootfs, path)
    _mkdir_all(os.path.dirname(target))
    if dtype in ("c", "u"):
        kind = stat.S_IFCHR
    elif dtype == "b":
        kind = stat.S_IFBLK
    elif dtype == "p":
        kind = stat.S_IFIFO
    else:
        raise InvalidArgument(f"device {path}: unknown type {dtype!r}", path=path)
    if os.path.lexists(target):
        st = os.lstat(target)
        if stat.S_ISDIR(st.st_mode):
            raise SystemError_(f"device {path}: a directory is in the way", path=path)
        if stat.S_IFMT(st.st_mode) == kind:
            have = (os.major(st.st_rdev), os.minor(st.st_rdev))
            if kind != stat.S_IFIFO and have != (major, minor):
                raise SystemError_(f"{path} has incorrect major:minor: {have[0]}:{have[1]} "
                                   f"doesn't match expected {major}:{minor}", path=path)
            return  # the node is already there (runc keeps it)
        if not (userns and stat.S_ISREG(st.st_mode) and st.st_size == 0):
            # runc (>= 1.3.4): an existing non-matching node is an error
            raise SystemError_(f"{path} has incorrect ftype", path=path)
        os.unlink(target)  # an empty stand-in from an earlier user-namespace run
    old = os.umask(0)
    parent, name = os.path.split(target)
    pfd = _walk(parent)  # mknodat on a directory reached without symlinks
    try:
        os.mknod(name, kind | (mode & 0o7777), os.makedev(major, minor), dir_fd=pfd)
        os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
    except PermissionError:
        _touch(target)
        _mount_at(path, target, None, sc.MS_BIND)
    except OSError as e:
        raise SystemError_(f"mknod {target}: {os.strerror(e.errno).lower()}",
                           errno=e.errno or 0, path=target) from None
    finally:
        os.close(pfd)
        os.umask(old)


def create_devices(rootfs: str, devices: list[dict] | None, userns: bool = False) -> None:
    """The default devices then linux.devices (config-linux.md#devices)."""
    wanted = {p: {"path": p, "type": t, "major": ma, "minor": mi, "fileMode": 0o666}
              for p, (t, ma, mi) in DEFAULT_DEVICES.items()}
    for d in devices or ():
        wanted[d["path"]] = d
    for d in wanted.values():
        mode = d.get("fileMode")
        create_device(rootfs, d["path"], d.get("type", "c"), int(d.get("major", 0)),
                      int(d.get("minor", 0)), 0o666 if mode is None else int(mode),
                      int(d.get("uid") or 0), int(d.get("gid") or 0), userns)


def dev_symlinks(rootfs: str) -> None:
    """/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr, /dev/core (when
    /proc/kcore exists) and /dev/ptmx -> pts/ptmx (config-linux.md#default-devices)."""
    links = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
             ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    for src, dst in links:
        target = secure_join(rootfs, dst)
        if not os.path.lexists(target):
            os.symlink(src, target)
    ptmx = secure_join(rootfs, "/dev/ptmx")
    if os.path.exists(secure_join(rootfs, "/dev/pts/ptmx")) or os.path.isdir(
            secure_join(rootfs, "/dev/pts")):
        if os.path.lexists(ptmx):
            os.unlink(ptmx)
        os.symlink("pts/ptmx", ptmx)


def make_parent_mount_private(rootfs: str) -> None:
    """pivot_root(2) refuses a shared parent mount: make the mount holding
    ``rootfs``'s parent directory private (runc's rootfsParentMountPrivate),
    needed when rootfsPropagation is shared or slave."""
    parent = os.path.dirname(os.path.abspath(rootfs))
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if (parent == mp or parent.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    sc.mount(None, best, None, sc.MS_PRIVATE)


def pivot(rootfs: str) -> None:
    """pivot_root(".", ".") then detach the old root (runc's trick: no
    put_old directory needed). ``rootfs`` must be a mount point."""
    oldroot = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    newroot = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(newroot)
        sc.pivot_root(".", ".")
        os.fchdir(oldroot)
        # the old root may hold shared mounts: keep the unmount out of the host
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(oldroot)
        os.close(newroot)


def _full_proc_sys_mounts(rootfs: str) -> list[str]:
    """Mount points of whole procfs/sysfs mounts outside ``rootfs``."""
    out = []
    root = rootfs.rstrip("/")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype = fields[sep + 1]
            mp = fields[4].replace("\\040", " ")
            if fields[3] != "/" or fstype not in ("proc", "sysfs"):
                continue
            if mp == root or mp.startswith(root + "/"):
                continue
            out.append(mp)
    return out


def move_root(rootfs: str) -> None:
    """no_pivot: MS_MOVE the rootfs onto / and chroot (weaker than pivot_root).
    The host's full procfs/sysfs mounts stay reachable in our mount namespace
    otherwise, and their presence lets a user namespace inside mount a fresh
    procfs: detach them first, or cover them with a tmpfs (runc's msMoveRoot)."""
    for mp in _full_proc_sys_mounts(rootfs):
        try:
            sc.mount(None, mp, None, sc.MS_SLAVE | sc.MS_REC)
        except SystemError_ as e:
            if e.errno in (errno.ENOENT, errno.EINVAL):
                continue
            raise
        try:
            sc.umount2(mp, sc.MNT_DETACH)
        except SystemError_ as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                raise
            sc.mount("tmpfs", mp, "tmpfs", 0)
    os.chdir(rootfs)
    sc.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def mask_path(path: str, shared: list | None = None) -> None:
    """maskedPaths: bind /dev/null over a file, a read-only tmpfs over a
    directory; missing paths are skipped. With ``shared`` (a list kept by
    the caller) every masked directory gets the same tmpfs, as runc."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(st.st_mode):
        if shared:
            sc.mount(shared[0], path, None, sc.MS_BIND)
            bind_remount(path, sc.MS_RDONLY)
        else:
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            if shared is not None:
                shared.append(path)
    else:
        sc.mount("/dev/null", path, None, sc.MS_BIND)


def mask_paths(paths) -> None:
    """Every path of linux.maskedPaths once, directories sharing one tmpfs."""
    shared: list = []
    seen = set()
    for p in paths or ():
        if p in seen:
            continue
        seen.add(p)
        mask_path(p, shared)


def readonly_path(path: str) -> None:
    """readonlyPaths: bind the path onto itself and remount it read-only;
    missing paths are skipped."""
    if not os.path.exists(path):
        return
    sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    bind_remount(path, sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)


def readonly_root() -> None:
    """root.readonly: remount / read-only (keeping locked flags)."""
    bind_remount("/", sc.MS_RDONLY)
