"""Resolving untrusted paths inside a root directory.

Two pieces, used by layer application (skiff.snapshots.layer) and by
``mount_all`` for a mount's relative target:

- :func:`clean_name` normalises a tar entry name (or hardlink target) the way
  Docker's pkg/archive does: ``filepath.Clean``, an absolute name is taken as
  relative to the root (``/etc/passwd`` -> ``etc/passwd``, ``/../x`` -> ``x``),
  and a relative name whose ``..`` climbs above the root is refused with
  UnsafePath (Docker's "breakout" error).
- :func:`secure_join` resolves a path inside ``root`` as runc's
  filepath-securejoin ``SecureJoin`` does: walk the components one by one,
  follow symlinks found on the way *relative to the root* (an absolute target
  restarts at the root, ``..`` never climbs above it), and return a host path
  inside ``root`` whose existing components are no symlinks. Components that
  do not exist yet are appended lexically.

The result is only race-free against a tree that nobody else changes
meanwhile (true of a snapshot being unpacked); callers still create or open
the last component with O_NOFOLLOW / O_EXCL.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from ..errors import UnsafePath

#: as Linux's MAXSYMLINKS and filepath-securejoin
MAX_SYMLINKS = 255


def clean_name(name: str) -> str:
    """Normalise an untrusted relative name (a tar entry): the cleaned path
    relative to the root without leading or trailing "/", or "" for the root
    itself. Raises UnsafePath for an empty name, a NUL byte or a relative name
    whose ``..`` leaves the root (e.g. ``../x``, ``a/../../x``)."""
    if not name or "\x00" in name:
        raise UnsafePath(f"invalid path name {name!r}", path=name)
    absolute = name.startswith("/")
    cleaned = posixpath.normpath(name)
    if absolute:
        # normpath already clamps ".." at "/" for absolute names
        cleaned = cleaned.lstrip("/")
        return "" if cleaned in ("", ".") else cleaned
    if cleaned == ".." or cleaned.startswith("../"):
        raise UnsafePath(f"path {name!r} is outside of the root", path=name)
    return "" if cleaned == "." else cleaned


def secure_join(root: str, unsafe: str, max_symlinks: int = MAX_SYMLINKS) -> str:
    """Resolve ``unsafe`` (relative or absolute, taken as relative to ``root``)
    inside ``root``, following symlinks as if ``root`` were "/" (as
    filepath-securejoin SecureJoin). Returns ``root`` joined with the resolved
    relative path (``root`` itself for ""/"/"/".."). Raises UnsafePath after
    ``max_symlinks`` symlinks (a loop). ``root`` is trusted and itself not
    resolved."""
    root = root.rstrip("/") or "/"
    pending = [c for c in unsafe.split("/") if c not in ("", ".")]
    pending.reverse()  # a stack: next component at the end
    current: list[str] = []  # resolved components, none a symlink
    links = 0
    missing = False  # once a component is absent, the rest is lexical
    while pending:
        comp = pending.pop()
        if comp in ("", "."):
            continue
        if comp == "..":
            if current:
                current.pop()
            # ".." may climb back into existing territory
            missing = False
            continue
        nxt = current + [comp]
        if missing:
            current = nxt
            continue
        full = posixpath.join(root, *nxt)
        try:
            st = os.lstat(full)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                missing = True
                current = nxt
                continue
            raise
        if not stat.S_ISLNK(st.st_mode):
            current = nxt
            continue
        links += 1
        if links > max_symlinks:
            raise UnsafePath(f"too many levels of symbolic links resolving {unsafe!r}",
                             path=unsafe)
        target = os.readlink(full)
        if target.startswith("/"):
            current = []
        parts = [c for c in target.split("/") if c not in ("", ".")]
        pending.extend(reversed(parts))
    return posixpath.join(root, *current) if current else root


def secure_parent(root: str, name: str) -> tuple[str, str]:
    """Split a cleaned relative ``name`` (see :func:`clean_name`) into its
    parent resolved inside ``root`` with :func:`secure_join` and its last
    component, which is *not* resolved (so it can be created or replaced
    without following a symlink). Raises UnsafePath for the root itself."""
    if not name:
        raise UnsafePath("the root has no parent", path=name)
    parent, base = posixpath.split(name)
    if base in ("", ".", ".."):
        raise UnsafePath(f"invalid path name {name!r}", path=name)
    return secure_join(root, parent), base


def is_within(root: str, path: str) -> bool:
    """Lexically, is ``path`` ``root`` or below it (both absolute, clean)?"""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/") or root == "/"
