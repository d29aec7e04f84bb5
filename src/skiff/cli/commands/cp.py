"""``skiff cp [-a] [-L] [-q] CONTAINER:SRC DEST|-`` and ``skiff cp SRC|- CONTAINER:DEST``:
GET/HEAD/PUT /containers/{id}/archive, with docker/cli's client-side copy
rules (cli/command/container/cp.go, pkg/archive CopyInfo/CopyTo):

- to the host: the source is stat'ed (-L follows a symlink); the tar is
  extracted into DEST when it is an existing directory, else renamed to DEST
  (whose parent must exist); a directory never replaces a file; "-" writes
  the tar to stdout. Files get the invoking user's uid/gid unless -a.
- to the container: the destination is stat'ed (a symlink is followed); the
  tar of SRC is sent for extraction into DEST when DEST is a directory, else
  into DEST's parent with SRC renamed to DEST's base name; "-" sends a tar
  read from stdin (DEST must be a directory). -a asks the daemon to give the
  files the container user's uid/gid (copyUIDGID).
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import sys
import tarfile
import tempfile

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import quote
from skiff.errors import NotFound


def split_cp_arg(arg: str) -> tuple[str, str]:
    """docker/cli splitCpArg: ("container", "path") or ("", local path). A
    local path containing ":" must start with "/" or "." to stay local."""
    if arg.startswith("/") or arg.startswith("."):
        return "", arg
    name, sep, path = arg.partition(":")
    if not sep:
        return "", arg
    return name, path


def _stat(cli, container: str, path: str) -> dict:
    status, headers, _ = cli.client.request("HEAD", f"/containers/{quote(container)}/archive",
                                            {"path": path})
    raw = headers.get("x-docker-container-path-stat", "")
    return json.loads(base64.b64decode(raw)) if raw else {}


def _header_stat(resp) -> dict:
    raw = resp.headers.get("x-docker-container-path-stat", "")
    return json.loads(base64.b64decode(raw)) if raw else {}


def _is_dir(st: dict) -> bool:
    return bool(int(st.get("mode", 0)) & (1 << 31))


def _has_trailing(path: str) -> bool:
    return path.endswith("/") or path.endswith("/.")


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tskiff cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
                 "Copy files/folders between a container and the local filesystem", [
                     Flag("archive", "a", "bool", help="Archive mode (copy all uid/gid information)"),
                     Flag("follow-link", "L", "bool", help="Always follow symbol link in SRC_PATH"),
                     Flag("quiet", "q", "bool", help="Suppress progress output during copy. "
                                                     "Progress output is automatically suppressed if no terminal is attached"),
                 ], args=(2, 2), aliases=[f"{PROG} container cp", f"{PROG} cp"])
    opts, (src, dst) = cli.parse(fs, argv)
    if not src:
        raise StatusError("source can not be empty", 1)
    if not dst:
        raise StatusError("destination can not be empty", 1)
    sc, sp = split_cp_arg(src)
    dc, dp = split_cp_arg(dst)
    if sc and dc:
        raise StatusError("copying between containers is not supported", 1)
    if not sc and not dc:
        raise StatusError("must specify at least one container source", 1)
    if sc:
        return _from_container(cli, opts, sc, sp, dp)
    return _to_container(cli, opts, sp, dc, dp)


# ------------------------------------------------------------------ from
def _from_container(cli, opts, container: str, src: str, dst: str) -> int:
    if not src:
        src = "/"
    url = f"/containers/{quote(container)}/archive"
    resp = cli.client.open("GET", url, {"path": src})
    st = _header_stat(resp)
    if opts.follow_link and st.get("linkTarget") and int(st.get("mode", 0)) & (1 << 27):
        resp.close()
        src = st["linkTarget"]
        resp = cli.client.open("GET", url, {"path": src})
        st = _header_stat(resp)
    with resp:
        if dst == "-":
            out = sys.stdout.buffer
            while True:
                b = resp.read1()
                if not b:
                    break
                out.write(b)
            out.flush()
            return 0
        with tempfile.TemporaryFile() as spool:
            total = 0
            while True:
                b = resp.read1()
                if not b:
                    break
                spool.write(b)
                total += len(b)
            spool.seek(0)
            _extract_local(spool, st, src, dst, opts.archive)
    if not opts.quiet and sys.stderr.isatty():
        from skiff.cli.units import human_size
        sys.stderr.write(f"Successfully copied {human_size(total, 4)} to {dst}\n")
    return 0


def _extract_local(spool, st: dict, src: str, dst: str, keep_ids: bool) -> None:
    src_is_dir = _is_dir(st)
    src_name = st.get("name") or posixpath.basename(src.rstrip("/")) or "."
    contents_only = src.endswith("/.")
    try:
        os.stat(dst)
        dst_exists = True
    except FileNotFoundError:
        dst_exists = False
    except NotADirectoryError:
        raise StatusError(f"destination \"{dst}\" must be a directory", 1)
    if dst_exists and os.path.isdir(dst):
        target_dir, rename = dst, None  # entries keep their names (src_name/... or ./...)
    elif dst_exists:
        if src_is_dir:
            raise StatusError(f"cannot copy a directory to a file: {dst}", 1)
        target_dir, rename = os.path.dirname(os.path.abspath(dst)), os.path.basename(dst)
    else:
        if _has_trailing(dst) and not src_is_dir:
            raise StatusError(f"destination \"{dst}\" does not exist and is not a directory", 1)
        parent = os.path.dirname(os.path.abspath(dst.rstrip("/") or "/"))
        if not os.path.isdir(parent):
            raise StatusError(f"destination directory \"{parent}\" does not exist", 1)
        target_dir, rename = parent, os.path.basename(os.path.abspath(dst.rstrip("/")))
        if contents_only:
            os.mkdir(os.path.abspath(dst), 0o755)
            target_dir, rename = os.path.abspath(dst), None
    first = src_name if not contents_only else "."
    if src_name == "/":  # the container's root: entries "/", "/bin", ...
        first = ""
    uid, gid = os.getuid(), os.getgid()

    def fix(member: tarfile.TarInfo, path: str):
        name = member.name
        if first == "":
            rest = name.lstrip("/")
            name = (rename + "/" + rest if rest else rename) if rename is not None else (rest or ".")
        elif rename is not None:
            if name == first or name == first + "/":
                name = rename
            elif name.startswith(first + "/"):
                name = rename + name[len(first):]
        import copy
        member = copy.copy(member)  # (TarInfo.replace is newer than Debian 12's Python)
        member.name = name
        if not keep_ids:
            member.uid, member.gid, member.uname, member.gname = uid, gid, "", ""
        return member

    with tarfile.open(fileobj=spool, mode="r:") as tf:
        extract_safely(tf, target_dir, fix, keep_ids)


def extract_safely(tf: tarfile.TarFile, dest: str, rename, keep_ids: bool) -> None:
    """Extract what the daemon sent (content the container controls) into
    ``dest`` without ever writing outside it: names are cleaned ("../" that
    climbs out is refused), every parent is resolved inside ``dest`` with
    symlinks taken as if ``dest`` were "/", the last component is never
    followed; symlinks are recreated as they are, devices and FIFOs skipped.
    Debian 12's Python 3.11.2 has no tarfile extraction filters to do this.
    Raises StatusError on an entry that would leave ``dest``."""
    from skiff.errors import UnsafePath
    from skiff.snapshots.safepath import clean_name, secure_join, secure_parent
    dirs = []
    for m in tf:
        m = rename(m, dest)
        try:
            name = clean_name(m.name.lstrip("/") or ".")
        except UnsafePath as e:
            raise StatusError(f"Error: invalid path in archive: {e}", 1) from None
        if not name:
            continue
        try:
            parent, base = secure_parent(dest, name)
        except UnsafePath as e:
            raise StatusError(f"Error: invalid path in archive: {e}", 1) from None
        os.makedirs(parent, exist_ok=True)
        target = os.path.join(parent, base)
        if m.isdir():
            if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
                os.unlink(target)
            if not os.path.isdir(target):
                os.mkdir(target, 0o700)
            dirs.append((target, m))
            continue
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                raise StatusError(f"Error: cannot overwrite directory {target!r} with non-directory", 1)
            os.unlink(target)
        if m.isreg():
            src = tf.extractfile(m)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
        elif m.issym():
            os.symlink(m.linkname, target)
        elif m.islnk():
            try:
                src_path = secure_join(dest, clean_name(rename(tarfile.TarInfo(m.linkname), dest).name.lstrip("/")))
            except UnsafePath as e:
                raise StatusError(f"Error: invalid hardlink in archive: {e}", 1) from None
            if os.path.isfile(src_path) and not os.path.islink(src_path):
                os.link(src_path, target)
            continue
        else:
            continue  # devices and FIFOs are not copied out
        _apply_meta(target, m, keep_ids)
    for target, m in reversed(dirs):
        _apply_meta(target, m, keep_ids)


def _apply_meta(path: str, m: tarfile.TarInfo, keep_ids: bool) -> None:
    if keep_ids and os.geteuid() == 0:
        try:
            os.lchown(path, m.uid, m.gid)
        except OSError:
            pass
    if not m.issym():
        mode = m.mode & (0o7777 if keep_ids and os.geteuid() == 0 else 0o777)
        os.chmod(path, mode)
    try:
        os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
    except (OSError, NotImplementedError):
        pass


# ------------------------------------------------------------------ to
def _to_container(cli, opts, src: str, container: str, dst: str) -> int:
    if not dst:
        dst = "/"
    try:
        dst_st = _stat(cli, container, dst)
    except NotFound:
        dst_st = None
    if dst_st and int(dst_st.get("mode", 0)) & (1 << 27) and not _has_trailing(dst):
        # a symlink: evaluate it (its target is resolved inside the container)
        dst = dst_st.get("linkTarget") or dst
        try:
            dst_st = _stat(cli, container, dst)
        except NotFound:
            dst_st = None
    params = {"noOverwriteDirNonDir": "true", "copyUIDGID": "true" if opts.archive else "false"}
    url = f"/containers/{quote(container)}/archive"
    if src == "-":
        if dst_st is None or not _is_dir(dst_st):
            raise StatusError(f"destination \"{container}:{dst}\" must be a directory", 1)
        cli.client.request("PUT", url, dict(params, path=dst), sys.stdin.buffer,
                           {"Content-Type": "application/x-tar"})
        return 0
    src_abs = src
    try:
        lst = os.stat(src) if opts.follow_link else os.lstat(src)
    except FileNotFoundError:
        raise StatusError(f"lstat {os.path.abspath(src)}: no such file or directory", 1)
    import stat as _st
    src_is_dir = _st.S_ISDIR(lst.st_mode)
    if _has_trailing(src) and not src_is_dir:
        raise StatusError(f"lstat {os.path.abspath(src)}: not a directory", 1)
    contents_only = src.endswith("/.")
    base = os.path.basename(os.path.abspath(src))
    if dst_st is not None and _is_dir(dst_st):
        put_path, name = dst, (base if not contents_only else ".")
    elif dst_st is not None:
        if src_is_dir:
            raise StatusError("cannot copy a directory to a file", 1)
        put_path, name = posixpath.dirname(dst.rstrip("/")) or "/", posixpath.basename(dst)
    else:
        if _has_trailing(dst) and not src_is_dir:
            raise StatusError("no such directory", 1)
        put_path = posixpath.dirname(posixpath.normpath("/" + dst)) or "/"
        name = posixpath.basename(posixpath.normpath("/" + dst))
    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tf:
            if contents_only and name == ".":
                for n in sorted(os.listdir(src_abs)):
                    tf.add(os.path.join(src_abs, n), arcname=n, recursive=True)
            elif contents_only:
                tf.add(src_abs, arcname=name, recursive=False)
                for n in sorted(os.listdir(src_abs)):
                    tf.add(os.path.join(src_abs, n), arcname=f"{name}/{n}", recursive=True)
            else:
                if opts.follow_link and os.path.islink(src_abs):
                    tf.dereference = True
                    tf.add(src_abs, arcname=name, recursive=False)
                    tf.dereference = False
                    if src_is_dir:
                        for n in sorted(os.listdir(src_abs)):
                            tf.add(os.path.join(src_abs, n), arcname=f"{name}/{n}", recursive=True)
                else:
                    tf.add(src_abs, arcname=name, recursive=True)
        size = spool.tell()
        spool.seek(0)
        cli.client.request("PUT", url, dict(params, path=put_path), spool,
                           {"Content-Type": "application/x-tar"})
    if not opts.quiet and sys.stderr.isatty():
        from skiff.cli.units import human_size
        sys.stderr.write(f"Successfully copied {human_size(size, 4)} to {container}:{dst}\n")
    return 0
