"""Resolve a container's ``User`` ("name", "uid", "name:group", "uid:gid") against
the rootfs's /etc/passwd and /etc/group, as Docker does through runc's
``user.GetExecUser`` (libcontainer/user/user.go).

Files are read SAFELY inside the rootfs: every path component is opened with
O_NOFOLLOW relative to its parent directory fd and symlinks are resolved by
hand as if the rootfs were ``/`` (absolute targets restart at the rootfs,
``..`` never climbs above it), so a hostile image cannot make the daemon read
a host file.
"""

from __future__ import annotations

import errno
import os
import stat

from skiff.errors import InvalidArgument, NotFound, UnsafePath

_MAX_LINKS = 40


def _open_in_root(rootfs: str, path: str) -> int | None:
    """Open ``path`` (container absolute path) read-only inside ``rootfs``.

    Returns an fd, or None when the file does not exist. Raises UnsafePath on
    symlink loops (more than 40 hops)."""
    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fds = [root_fd]  # stack of directory fds, fds[0] = root
    try:
        parts = [p for p in path.split("/") if p]
        hops = 0
        while parts:
            name = parts.pop(0)
            if name == ".":
                continue
            if name == "..":
                if len(fds) > 1:
                    os.close(fds.pop())
                continue
            try:
                st = os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
            except FileNotFoundError:
                return None
            except NotADirectoryError:
                return None
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > _MAX_LINKS:
                    raise UnsafePath(f"too many levels of symbolic links resolving {path} in {rootfs}",
                                     path=path)
                target = os.readlink(name, dir_fd=fds[-1])
                if target.startswith("/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                parts = [p for p in target.split("/") if p] + parts
                continue
            if parts:
                if not stat.S_ISDIR(st.st_mode):
                    return None
                fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                   dir_fd=fds[-1]))
            else:
                if not stat.S_ISREG(st.st_mode):
                    return None
                try:
                    return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                                   dir_fd=fds[-1])
                except OSError as e:
                    if e.errno in (errno.ENOENT, errno.ELOOP):
                        return None
                    raise
        return None
    finally:
        for fd in fds:
            os.close(fd)


def read_file_in_root(rootfs: str, path: str, limit: int = 16 << 20) -> str | None:
    """The text of ``path`` resolved inside ``rootfs`` (None if absent); at most
    ``limit`` bytes are read."""
    fd = _open_in_root(rootfs, path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def _parse(text: str | None, nfields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        fields += [""] * (nfields - len(fields))
        rows.append(fields)
    return rows


def _int(s: str) -> int | None:
    try:
        v = int(s)
    except ValueError:
        return None
    return v if v >= 0 else None


def resolve_user(rootfs: str, spec: str) -> tuple[int, int, list[int]]:
    """Resolve Docker's ``User`` string to (uid, gid, additional_gids).

    ``spec`` is "", "name", "uid", "name:group", "uid:gid" (and the mixed forms).
    As runc's GetExecUser: "" is uid 0, looked up like "0"; a name must exist in the rootfs's
    /etc/passwd; a numeric uid not in passwd is fine (gid 0); without an explicit
    group the gid is the passwd entry's and additional_gids are the groups of
    /etc/group listing the user's name; with an explicit group, additional_gids
    is empty. Raises NotFound("unable to find user NAME: no matching entries in
    passwd file") / ("unable to find group NAME: no matching entries in group
    file") and InvalidArgument for a malformed spec."""
    spec = (spec or "").strip()
    user_part, _, group_part = spec.partition(":")
    if spec.count(":") > 1:
        raise InvalidArgument(f"invalid user spec {spec!r}")
    passwd = _parse(read_file_in_root(rootfs, "/etc/passwd"), 7)
    uid, gid, name = 0, 0, None
    matched_name = False
    # "" is uid 0, looked up like "0" (for its gid and groups), as runc
    num = _int(user_part) if user_part else 0
    entry = None
    for f in passwd:
        if (num is None and f[0] == user_part) or (num is not None and _int(f[2]) == num):
            entry = f
            break
    if entry is None:
        if num is None:
            raise NotFound(f"unable to find user {user_part}: no matching entries in passwd file",
                           user=user_part)
        uid = num
    else:
        uid = _int(entry[2]) or 0
        gid = _int(entry[3]) or 0
        name = entry[0]
        matched_name = True
    additional: list[int] = []
    if group_part or matched_name:
        groups = _parse(read_file_in_root(rootfs, "/etc/group"), 4)
        if group_part:
            gnum = _int(group_part)
            for f in groups:
                if (gnum is None and f[0] == group_part) or (gnum is not None and _int(f[2]) == gnum):
                    gid = _int(f[2]) or 0
                    break
            else:
                if gnum is None:
                    raise NotFound(f"unable to find group {group_part}: no matching entries in group file",
                                   group=group_part)
                gid = gnum
        else:
            for f in groups:
                members = [m.strip() for m in f[3].split(",") if m.strip()]
                g = _int(f[2])
                if name in members and g is not None and g not in additional:
                    additional.append(g)
    return uid, gid, additional


def user_home(rootfs: str, uid: int) -> str:
    """The home directory of ``uid`` in the rootfs's /etc/passwd ("/" if none),
    which runc puts in HOME when the environment has none."""
    for f in _parse(read_file_in_root(rootfs, "/etc/passwd"), 7):
        if _int(f[2]) == uid:
            return f[5] or "/"
    return "/"


def resolve_groups(rootfs: str, groups: list[str]) -> list[int]:
    """HostConfig.GroupAdd entries (names or numeric gids) -> gids, names looked up
    in the rootfs's /etc/group. Raises NotFound("unable to find group NAME:
    no matching entries in group file")."""
    out: list[int] = []
    table = None
    for g in groups or []:
        gid = _int(g)
        if gid is None:
            if table is None:
                table = _parse(read_file_in_root(rootfs, "/etc/group"), 4)
            for f in table:
                if f[0] == g and _int(f[2]) is not None:
                    gid = _int(f[2])
                    break
            else:
                raise NotFound(f"unable to find group {g}: no matching entries in group file", group=g)
        if gid not in out:
            out.append(gid)
    return out
