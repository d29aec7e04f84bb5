"""The image store: image records, tags and repo digests in sqlite.

Tables (own names, in the shared :class:`~skiff.metadata.db.Database`)::

    image_images   id (config digest) | config JSON | manifest digest | chain ids,
                   diff ids, blobs (JSON lists) | top chainID | size (bytes) |
                   created (RFC3339) | parent id | comment | added (unix s)
    image_tags     name ("docker.io/library/busybox:latest") -> image id
    image_digests  name ("docker.io/library/busybox@sha256:...") -> image id

Names are stored fully qualified (normalised); :class:`ImageRecord` shows them
in Docker's familiar form ("busybox:latest"). One transaction per operation.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from ..errors import NotFound
from ..metadata.db import Database
from .reference import familiar

SCHEMA = """
CREATE TABLE IF NOT EXISTS image_images (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    manifest_digest TEXT NOT NULL DEFAULT '',
    top_chain TEXT NOT NULL DEFAULT '',
    chain_ids TEXT NOT NULL DEFAULT '[]',
    diff_ids TEXT NOT NULL DEFAULT '[]',
    blobs TEXT NOT NULL DEFAULT '[]',
    size INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL DEFAULT '',
    parent TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    added REAL NOT NULL DEFAULT 0,
    last_tag_time TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS image_tags (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS image_tags_by_image ON image_tags(image_id);
CREATE TABLE IF NOT EXISTS image_digests (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS image_digests_by_image ON image_digests(image_id);
"""


@dataclass
class ImageRecord:
    """One image. ``id`` = "sha256:<config digest hex>"; ``config`` the whole image
    config JSON (dict); ``chain_ids``/``diff_ids`` bottom layer first;
    ``repo_tags``/``repo_digests`` familiar ("busybox:latest",
    "busybox@sha256:..."); ``size`` in bytes; ``created`` RFC3339."""

    id: str
    config: dict
    chain_ids: list[str]
    diff_ids: list[str]
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    size: int = 0
    created: str = ""
    manifest_digest: str = ""
    parent: str = ""
    comment: str = ""
    blobs: list[str] = field(default_factory=list)
    added: float = 0.0
    last_tag_time: str = ""

    @property
    def top_chain_id(self) -> str:
        """The chainID of the top layer ("" for an image without layers)."""
        return self.chain_ids[-1] if self.chain_ids else ""


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


class ImageStore:
    """Images, tags and repo digests over ``db``."""

    def __init__(self, db: Database):
        self.db = db
        db.ensure(SCHEMA)

    def _record(self, row, cur) -> ImageRecord:
        tags = [r["name"] for r in cur.execute(
            "SELECT name FROM image_tags WHERE image_id=? ORDER BY name", (row["id"],))]
        digests = [r["name"] for r in cur.execute(
            "SELECT name FROM image_digests WHERE image_id=? ORDER BY name", (row["id"],))]
        return ImageRecord(
            id=row["id"], config=json.loads(row["config"]), chain_ids=json.loads(row["chain_ids"]),
            diff_ids=json.loads(row["diff_ids"]), repo_tags=[familiar(t) for t in tags],
            repo_digests=[familiar(d) for d in digests], size=row["size"], created=row["created"],
            manifest_digest=row["manifest_digest"], parent=row["parent"], comment=row["comment"],
            blobs=json.loads(row["blobs"]), added=row["added"], last_tag_time=row["last_tag_time"])

    def put(self, rec: ImageRecord) -> None:
        """Insert or replace an image (not its tags)."""
        with self.db.tx() as cur:
            cur.execute(
                "INSERT INTO image_images (id, config, manifest_digest, top_chain, chain_ids, diff_ids, blobs,"
                " size, created, parent, comment, added, last_tag_time) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET config=excluded.config,"
                " manifest_digest=CASE WHEN excluded.manifest_digest!='' THEN excluded.manifest_digest"
                " ELSE image_images.manifest_digest END, top_chain=excluded.top_chain,"
                " chain_ids=excluded.chain_ids, diff_ids=excluded.diff_ids, blobs=excluded.blobs,"
                " size=excluded.size, created=excluded.created",
                (rec.id, json.dumps(rec.config), rec.manifest_digest, rec.top_chain_id,
                 json.dumps(rec.chain_ids), json.dumps(rec.diff_ids), json.dumps(rec.blobs), rec.size,
                 rec.created, rec.parent, rec.comment, rec.added or time.time(), rec.last_tag_time))

    def get(self, image_id: str) -> ImageRecord:
        """By full id ("sha256:<hex>"); NotFound "No such image: <id>"."""
        with self.db.tx() as cur:
            row = cur.execute("SELECT * FROM image_images WHERE id=?", (image_id,)).fetchone()
            if row is None:
                raise NotFound(f"No such image: {image_id}", id=image_id)
            return self._record(row, cur)

    def exists(self, image_id: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM image_images WHERE id=?", (image_id,)))

    def search(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix`` ("sha256:" optional)."""
        if not prefix.startswith("sha256:"):
            prefix = "sha256:" + prefix
        esc = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return [r["id"] for r in self.db.query(
            "SELECT id FROM image_images WHERE id LIKE ? ESCAPE '\\'", (esc + "%",))]

    def all(self) -> list[ImageRecord]:
        with self.db.tx() as cur:
            rows = cur.execute("SELECT * FROM image_images ORDER BY added DESC").fetchall()
            return [self._record(r, cur) for r in rows]

    def delete(self, image_id: str) -> None:
        """Remove an image with its tags and digests."""
        with self.db.tx() as cur:
            cur.execute("DELETE FROM image_tags WHERE image_id=?", (image_id,))
            cur.execute("DELETE FROM image_digests WHERE image_id=?", (image_id,))
            cur.execute("DELETE FROM image_images WHERE id=?", (image_id,))

    def children(self, image_id: str) -> list[str]:
        """Images whose parent is ``image_id``."""
        return [r["id"] for r in self.db.query("SELECT id FROM image_images WHERE parent=?", (image_id,))]

    # --- tags and digests (full names) --------------------------------------

    def set_tag(self, name: str, image_id: str) -> str:
        """Point tag ``name`` (full "domain/path:tag") at ``image_id``; returns the id it
        pointed at before ("" if none)."""
        with self.db.tx() as cur:
            row = cur.execute("SELECT image_id FROM image_tags WHERE name=?", (name,)).fetchone()
            cur.execute("INSERT INTO image_tags (name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE"
                        " SET image_id=excluded.image_id", (name, image_id))
            cur.execute("UPDATE image_images SET last_tag_time=? WHERE id=?", (now_rfc3339(), image_id))
            return row["image_id"] if row else ""

    def get_tag(self, name: str) -> str:
        """The image id of tag ``name``, or ""."""
        rows = self.db.query("SELECT image_id FROM image_tags WHERE name=?", (name,))
        return rows[0]["image_id"] if rows else ""

    def remove_tag(self, name: str) -> bool:
        with self.db.tx() as cur:
            return cur.execute("DELETE FROM image_tags WHERE name=?", (name,)).rowcount > 0

    def set_digest(self, name: str, image_id: str) -> None:
        """Record repo digest ``name`` ("domain/path@sha256:...") for ``image_id``."""
        with self.db.tx() as cur:
            cur.execute("INSERT INTO image_digests (name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE"
                        " SET image_id=excluded.image_id", (name, image_id))

    def get_digest(self, name: str) -> str:
        rows = self.db.query("SELECT image_id FROM image_digests WHERE name=?", (name,))
        return rows[0]["image_id"] if rows else ""

    def remove_digest(self, name: str) -> bool:
        with self.db.tx() as cur:
            return cur.execute("DELETE FROM image_digests WHERE name=?", (name,)).rowcount > 0

    def refs(self, image_id: str) -> tuple[list[str], list[str]]:
        """(full tag names, full digest names) of an image."""
        tags = [r["name"] for r in self.db.query(
            "SELECT name FROM image_tags WHERE image_id=? ORDER BY name", (image_id,))]
        digests = [r["name"] for r in self.db.query(
            "SELECT name FROM image_digests WHERE image_id=? ORDER BY name", (image_id,))]
        return tags, digests

    def images_with_manifest(self, manifest_digest: str) -> list[str]:
        return [r["id"] for r in self.db.query(
            "SELECT id FROM image_images WHERE manifest_digest=?", (manifest_digest,))]
