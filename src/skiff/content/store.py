"""Content-addressable blob store (after containerd's content store).

Layout under ``root``::

    blobs/sha256/<hex>      committed blobs: whole and verified, or absent
    ingest/<random>/data    blobs being written (removed by :meth:`ContentStore.cleanup`)

A :class:`Writer` hashes what it is given, and :meth:`Writer.commit` checks
the digest and size, fsyncs and renames atomically into ``blobs/``; on a
mismatch it raises :class:`~skiff.errors.DataCorruption` and leaves nothing.
Digests are "sha256:<64 hex>" (OCI image-spec descriptor.md#digests).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from typing import BinaryIO, Iterator

from ..errors import DataCorruption, InvalidArgument, NotFound

_ALGORITHMS = {"sha256": 64, "sha512": 128, "sha384": 96}


def _split(digest: str) -> tuple[str, str]:
    alg, sep, hexpart = digest.partition(":")
    if (not sep or alg not in _ALGORITHMS or len(hexpart) != _ALGORITHMS[alg]
            or any(c not in "0123456789abcdef" for c in hexpart)):
        raise InvalidArgument(f"invalid digest {digest!r}", digest=digest)
    return alg, hexpart


def sha256_digest(data: bytes) -> str:
    """"sha256:<hex>" of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Writer:
    """An ingest in progress. ``write(bytes)``; ``digest``/``size`` so far;
    ``commit()`` verifies against the expected digest/size (if given), fsyncs
    and renames into place, returning the digest; ``abort()`` removes the temp
    file. A context manager: leaving with an exception aborts."""

    def __init__(self, store: "ContentStore", expected_digest: str | None, expected_size: int | None):
        self._store = store
        self.expected_digest = expected_digest
        self.expected_size = expected_size
        alg = "sha256"
        if expected_digest:
            alg, _ = _split(expected_digest)
        self._alg = alg
        self._hash = hashlib.new(alg)
        self.size = 0
        self.dir = os.path.join(store.root, "ingest", secrets.token_hex(16))
        os.makedirs(self.dir, mode=0o700)
        #: path of the temp file being written (readable while it grows)
        self.path = os.path.join(self.dir, "data")
        self._f = open(self.path, "wb")
        self.done = False

    @property
    def digest(self) -> str:
        """Digest of what was written so far."""
        return f"{self._alg}:{self._hash.hexdigest()}"

    def write(self, data: bytes) -> int:
        if self.done:
            raise InvalidArgument("write to a finished content writer", path=self.path)
        self._f.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Make what was written visible to readers of :attr:`path`."""
        self._f.flush()

    def commit(self) -> str:
        """Verify, fsync and atomically rename into ``blobs/``; returns the digest.
        Raises DataCorruption (size or digest mismatch; nothing is left behind).
        Committing a blob that already exists keeps the existing one."""
        if self.done:
            raise InvalidArgument("content writer already finished", path=self.path)
        digest = self.digest
        try:
            if self.expected_size is not None and self.size != self.expected_size:
                raise DataCorruption(
                    f"unexpected blob size for {self.expected_digest or digest}: "
                    f"got {self.size} bytes, expected {self.expected_size}",
                    digest=self.expected_digest or digest, size=self.size)
            if self.expected_digest is not None and digest != self.expected_digest:
                raise DataCorruption(
                    f"digest mismatch: expected {self.expected_digest}, got {digest}",
                    digest=self.expected_digest, actual=digest)
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            target = self._store.path(digest)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.chmod(self.path, 0o444)
            os.rename(self.path, target)
            dfd = os.open(os.path.dirname(target), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except BaseException:
            self.abort()
            raise
        self.done = True
        shutil.rmtree(self.dir, ignore_errors=True)
        return digest

    def abort(self) -> None:
        """Drop the temp file (idempotent)."""
        self.done = True
        try:
            self._f.close()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self.done:
            if not self.done:
                self.abort()


class ContentStore:
    """Blobs by digest under ``root`` (see module docstring). Thread-safe:
    every operation is a rename or a read of an immutable file."""

    def __init__(self, root: str):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        os.makedirs(os.path.join(root, "ingest"), exist_ok=True)

    def path(self, digest: str) -> str:
        """Path the blob has (or would have). InvalidArgument on a malformed digest."""
        alg, hexpart = _split(digest)
        return os.path.join(self.root, "blobs", alg, hexpart)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        """Blob size in bytes; NotFound if absent."""
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found", digest=digest) from None

    def open(self, digest: str) -> BinaryIO:
        """Open the blob for reading; NotFound if absent."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found", digest=digest) from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def writer(self, expected_digest: str | None = None, expected_size: int | None = None) -> Writer:
        """A new ingest (see :class:`Writer`)."""
        return Writer(self, expected_digest, expected_size)

    def put(self, data: bytes, expected_digest: str | None = None) -> str:
        """Write a whole blob; returns its digest. DataCorruption on mismatch."""
        if expected_digest and self.exists(expected_digest):
            if sha256_digest(data) != expected_digest:
                raise DataCorruption(f"digest mismatch: expected {expected_digest}, got {sha256_digest(data)}",
                                     digest=expected_digest)
            return expected_digest
        w = self.writer(expected_digest)
        w.write(data)
        return w.commit()

    def put_file(self, src: str | BinaryIO, expected_digest: str | None = None,
                 expected_size: int | None = None) -> str:
        """Copy a file (path or readable object) into the store, verifying it."""
        f = open(src, "rb") if isinstance(src, str) else src
        try:
            with self.writer(expected_digest, expected_size) as w:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    w.write(chunk)
                return w.commit()
        finally:
            if isinstance(src, str):
                f.close()

    def delete(self, digest: str) -> None:
        """Remove a blob; NotFound if absent."""
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found", digest=digest) from None

    def walk(self) -> Iterator[tuple[str, int]]:
        """Every committed blob as (digest, size in bytes)."""
        base = os.path.join(self.root, "blobs")
        for alg in sorted(os.listdir(base)):
            d = os.path.join(base, alg)
            if alg not in _ALGORITHMS or not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                try:
                    yield f"{alg}:{name}", os.stat(os.path.join(d, name)).st_size
                except FileNotFoundError:
                    continue

    def cleanup(self) -> int:
        """Remove every ingest leftover (call at daemon start, when no writer is
        live); returns how many were removed."""
        base = os.path.join(self.root, "ingest")
        n = 0
        for name in os.listdir(base):
            p = os.path.join(base, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
            n += 1
        return n
