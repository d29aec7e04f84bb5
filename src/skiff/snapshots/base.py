"""What the overlay and native snapshotters share: metadata in sqlite and
snapshot directories ``root/<n>/`` named by a short numeric id.

Crash safety (as containerd's overlay snapshotter):

- prepare/view: the directory is made under a temporary name
  (``root/new-XXXX``), then, inside the sqlite transaction that inserts the
  row, renamed to ``root/<n>``. A crash leaves either a ``new-*`` directory
  or a ``root/<n>`` without a row; both are removed by :meth:`cleanup`.
- commit: only the row changes (one transaction); the directory keeps its id.
- remove: the row is deleted (one transaction), then the directory is
  renamed to ``root/rm-<n>`` and deleted; a crash in between leaves a
  directory without a row, which :meth:`cleanup` removes.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from typing import Iterator

from ..errors import Conflict, InvalidArgument, NotFound
from ..metadata.db import Database
from ..types import Mount
from .api import KIND_ACTIVE, KIND_COMMITTED, KIND_VIEW, Info, Usage


def _labels(labels: dict | None) -> str:
    labels = dict(labels or {})
    for k, v in labels.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidArgument(f"snapshot label {k!r} must map a string to a string")
    return json.dumps(labels, sort_keys=True)


class DirSnapshotter:
    """Base class; subclasses set ``driver`` and implement ``_populate`` and
    ``_mounts``. ``root`` is made (mode 0700) if absent; ``db`` holds the
    table ``snapshots_<driver>``."""

    driver = "base"

    def __init__(self, root: str, db: Database):
        self.root = os.path.abspath(root)
        self.db = db
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.table = f"snapshots_{self.driver}"
        t = self.table
        db.ensure(f"""
            CREATE TABLE IF NOT EXISTS {t} (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
                parent INTEGER REFERENCES {t}(id),
                created REAL NOT NULL,
                labels TEXT NOT NULL DEFAULT '{{}}'
            );
            CREATE INDEX IF NOT EXISTS {t}_parent ON {t}(parent);
        """)

    # ---- paths -----------------------------------------------------------
    def dir(self, sid: int) -> str:
        """``root/<n>``: the snapshot's directory."""
        return os.path.join(self.root, str(sid))

    def fs(self, sid: int) -> str:
        """``root/<n>/fs``: the snapshot's own tree (overlay: its upperdir)."""
        return os.path.join(self.root, str(sid), "fs")

    def work(self, sid: int) -> str:
        return os.path.join(self.root, str(sid), "work")

    # ---- rows ------------------------------------------------------------
    def _row(self, cur, key: str):
        return cur.execute(f"SELECT * FROM {self.table} WHERE key = ?", (key,)).fetchone()

    def _chain(self, cur, sid: int | None) -> list[int]:
        """Ids from ``sid`` down to the base, top-first."""
        out = []
        while sid is not None:
            out.append(sid)
            r = cur.execute(f"SELECT parent FROM {self.table} WHERE id = ?", (sid,)).fetchone()
            sid = r["parent"] if r else None
        return out

    def _info(self, cur, row) -> Info:
        parent = ""
        if row["parent"] is not None:
            p = cur.execute(f"SELECT key FROM {self.table} WHERE id = ?", (row["parent"],)).fetchone()
            parent = p["key"] if p else ""
        labels = tuple(sorted(json.loads(row["labels"] or "{}").items()))
        return Info(key=row["key"], kind=row["kind"], parent=parent, created=row["created"],
                    labels=labels)

    # ---- subclass hooks ----------------------------------------------------
    def _populate(self, tmpdir: str, kind: str, parents: list[int]) -> None:
        """Fill a new snapshot directory (``tmpdir`` = the future root/<n>)."""
        raise NotImplementedError

    def _mounts(self, sid: int, kind: str, parents: list[int]) -> list[Mount]:
        raise NotImplementedError

    # ---- Snapshotter -------------------------------------------------------
    def _create(self, kind: str, key: str, parent: str, labels: dict | None) -> list[Mount]:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        lab = _labels(labels)
        with self.db.tx() as cur:
            if self._row(cur, key) is not None:
                raise Conflict(f"snapshot {key} already exists", key=key)
            parent_id = None
            parents: list[int] = []
            if parent:
                p = self._row(cur, parent)
                if p is None or p["kind"] != KIND_COMMITTED:
                    raise NotFound(f"parent snapshot {parent} does not exist or is not committed",
                                   key=parent)
                parent_id = p["id"]
                parents = self._chain(cur, parent_id)
        # slow part (a full copy for native) outside the write transaction
        tmp = tempfile.mkdtemp(prefix="new-", dir=self.root)
        try:
            self._populate(tmp, kind, parents)
            with self.db.tx() as cur:
                if self._row(cur, key) is not None:
                    raise Conflict(f"snapshot {key} already exists", key=key)
                if parent:
                    p = self._row(cur, parent)
                    if p is None or p["id"] != parent_id or p["kind"] != KIND_COMMITTED:
                        raise NotFound(f"parent snapshot {parent} does not exist or is not committed",
                                       key=parent)
                cur.execute(f"INSERT INTO {self.table} (key, kind, parent, created, labels) "
                            "VALUES (?, ?, ?, ?, ?)", (key, kind, parent_id, time.time(), lab))
                sid = cur.lastrowid
                final = self.dir(sid)
                if os.path.lexists(final):  # left by a crash whose insert rolled back
                    shutil.rmtree(final)
                os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self._mounts(sid, kind, parents)

    def prepare(self, key: str, parent: str = "", labels: dict | None = None) -> list[Mount]:
        """An active (writable) snapshot ``key`` on top of committed ``parent``;
        returns its mounts. Conflict if ``key`` exists, NotFound if ``parent``
        is not committed. (containerd Snapshotter.Prepare)"""
        return self._create(KIND_ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str = "", labels: dict | None = None) -> list[Mount]:
        """A read-only snapshot ``key`` of committed ``parent``; returns its
        (read-only) mounts. Errors as :meth:`prepare`. (containerd View)"""
        return self._create(KIND_VIEW, key, parent, labels)

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of active or view ``key``; NotFound otherwise."""
        with self.db.tx() as cur:
            r = self._row(cur, key)
            if r is None or r["kind"] == KIND_COMMITTED:
                raise NotFound(f"snapshot {key} is not an active or view snapshot", key=key)
            parents = self._chain(cur, r["parent"])
        return self._mounts(r["id"], r["kind"], parents)

    def commit(self, name: str, key: str, labels: dict | None = None) -> None:
        """Turn active ``key`` into committed ``name`` (``key`` is gone after).
        Conflict if ``name`` exists; NotFound if ``key`` is not active. One
        transaction: the directory keeps its id. (containerd Commit)"""
        if not name:
            raise InvalidArgument("snapshot name must not be empty")
        lab = _labels(labels)
        with self.db.tx() as cur:
            r = self._row(cur, key)
            if r is None or r["kind"] != KIND_ACTIVE:
                raise NotFound(f"snapshot {key} is not an active snapshot", key=key)
            if self._row(cur, name) is not None:
                raise Conflict(f"snapshot {name} already exists", key=name)
            cur.execute(f"UPDATE {self.table} SET key = ?, kind = ?, labels = ?, created = ? "
                        "WHERE id = ?", (name, KIND_COMMITTED, lab, time.time(), r["id"]))
        self._committed(r["id"])

    def _committed(self, sid: int) -> None:
        """Hook after a commit (overlay drops its work dir's leftovers)."""

    def remove(self, key: str) -> None:
        """Remove snapshot ``key`` of any kind and its directory. Conflict if
        another snapshot has it as parent; NotFound if absent."""
        with self.db.tx() as cur:
            r = self._row(cur, key)
            if r is None:
                raise NotFound(f"snapshot {key} does not exist", key=key)
            child = cur.execute(f"SELECT key FROM {self.table} WHERE parent = ? LIMIT 1",
                                (r["id"],)).fetchone()
            if child is not None:
                raise Conflict(f"snapshot {key} has children (e.g. {child['key']})", key=key)
            cur.execute(f"DELETE FROM {self.table} WHERE id = ?", (r["id"],))
        self._discard(str(r["id"]))

    def _discard(self, name: str) -> None:
        path = os.path.join(self.root, name)
        if not os.path.lexists(path):
            return
        gone = os.path.join(self.root, "rm-" + name)
        if os.path.lexists(gone):
            shutil.rmtree(gone, ignore_errors=True)
        os.rename(path, gone)
        shutil.rmtree(gone, ignore_errors=True)

    def stat(self, key: str) -> Info:
        """Info of ``key``; NotFound if absent."""
        with self.db.tx() as cur:
            r = self._row(cur, key)
            if r is None:
                raise NotFound(f"snapshot {key} does not exist", key=key)
            return self._info(cur, r)

    def usage(self, key: str) -> Usage:
        """Disk use of ``key``'s own tree (root/<n>/fs): bytes allocated
        (st_blocks * 512, each inode once) and the number of inodes."""
        with self.db.tx() as cur:
            r = self._row(cur, key)
            if r is None:
                raise NotFound(f"snapshot {key} does not exist", key=key)
        return disk_usage(self.fs(r["id"]))

    def walk(self) -> Iterator[Info]:
        """Every snapshot's Info, oldest id first."""
        with self.db.tx() as cur:
            rows = cur.execute(f"SELECT * FROM {self.table} ORDER BY id").fetchall()
            infos = [self._info(cur, r) for r in rows]
        return iter(infos)

    def cleanup(self) -> None:
        """Remove what a crash left: ``new-*``/``rm-*``/``probe-*`` directories
        and ``root/<n>`` directories that have no row (mounts left under them
        are detached first, so nothing is deleted through a mount)."""
        with self.db.tx() as cur:
            ids = {str(r["id"]) for r in cur.execute(f"SELECT id FROM {self.table}")}
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            if name.startswith(("new-", "rm-", "probe-")) or (name.isdigit() and name not in ids):
                if os.path.isdir(path) and not os.path.islink(path):
                    _unmount_under(path)
                    shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        """Nothing to release (the Database is the caller's)."""


def _unmount_under(path: str) -> None:
    """Detach every mount at or below ``path`` (deepest first)."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            points = [line.split(b" ")[4].decode("unicode_escape") for line in f]
    except OSError:
        return
    mine = [p for p in points if p == path or p.startswith(path + "/")]
    if not mine:
        return
    from .mount import unmount

    for p in sorted(mine, key=len, reverse=True):
        try:
            unmount(p, detach=True)
        except Exception:  # noqa: BLE001 - best effort, rmtree reports nothing either
            pass


def disk_usage(path: str) -> Usage:
    """Walk ``path`` without following symlinks: (bytes allocated, inodes),
    each inode counted once (hardlinks), as containerd fs.DiskUsage."""
    seen: set[tuple[int, int]] = set()
    size = 0
    stack = [path]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Usage(0, 0)
    seen.add((st.st_dev, st.st_ino))
    size += st.st_blocks * 512
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                ino = (st.st_dev, st.st_ino)
                if ino not in seen:
                    seen.add(ino)
                    size += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
    return Usage(size=size, inodes=len(seen))
