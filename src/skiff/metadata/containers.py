"""Container records in the metadata database.

A record is the container's whole description as one JSON document (the
shape of GET /containers/{id}/json less what is derived at read time),
keyed by its 64-hex id, with its name unique. One transaction per change.
"""

from __future__ import annotations

import json

from ..errors import Conflict, NotFound
from .db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    data    TEXT NOT NULL
);
"""


class ContainerStore:
    """CRUD over the ``containers`` table; ``data`` dicts in, dicts out."""

    def __init__(self, db: Database):
        self.db = db
        db.ensure(SCHEMA)

    def add(self, cid: str, name: str, created: float, data: dict) -> None:
        """Insert; Conflict if the id or name exists."""
        try:
            with self.db.tx() as cur:
                cur.execute("INSERT INTO containers (id, name, created, data) VALUES (?,?,?,?)",
                            (cid, name, created, json.dumps(data)))
        except Exception as e:
            if "UNIQUE" in str(e):
                raise Conflict(f"container {name} or {cid} already exists", id=cid)
            raise

    def put(self, cid: str, data: dict) -> None:
        """Replace the record of ``cid``; NotFound if it is gone."""
        with self.db.tx() as cur:
            cur.execute("UPDATE containers SET data=?, name=? WHERE id=?",
                        (json.dumps(data), data["Name"].lstrip("/"), cid))
            if cur.rowcount == 0:
                raise NotFound(f"No such container: {cid}", id=cid)

    def remove(self, cid: str) -> None:
        with self.db.tx() as cur:
            cur.execute("DELETE FROM containers WHERE id=?", (cid,))

    def all(self) -> list[dict]:
        return [json.loads(r["data"]) for r in
                self.db.query("SELECT data FROM containers ORDER BY created DESC")]

    def name_owner(self, name: str) -> str | None:
        rows = self.db.query("SELECT id FROM containers WHERE name=?", (name,))
        return rows[0]["id"] if rows else None
