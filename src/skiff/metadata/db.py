"""The metadata database: one sqlite file (WAL) shared by the stores.

Each store (images, containers, snapshots...) registers its own schema with
:meth:`Database.ensure` and runs every operation in one transaction
(:meth:`Database.tx`), so a daemon killed at any point restarts into a
consistent state. Thread-safe: one connection per thread.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from typing import Iterator


class Database:
    """sqlite3 at ``path`` (created with mode 0600). ``tx()`` yields a cursor
    inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception)."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._local = threading.local()
        self._lock = threading.RLock()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            os.chmod(self.path, 0o600)
            self._local.conn = conn
        return conn

    def ensure(self, ddl: str) -> None:
        """Run a schema script (CREATE TABLE IF NOT EXISTS ...)."""
        with self._lock:
            self._conn().executescript(ddl)

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Cursor]:
        """One transaction; nested calls join the outer one."""
        conn = self._conn()
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield conn.cursor()
            finally:
                self._local.depth = depth
            return
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            try:
                yield conn.cursor()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._local.depth = 0

    def query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """A read outside any explicit transaction."""
        return self._conn().execute(sql, args).fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
