"""Pull an image: resolve, fetch manifest and config, download and unpack layers.

Layers download in parallel (at most :data:`MAX_CONCURRENT_DOWNLOADS`). Each
download is written to the content store's ingest file; the layer's unpack
runs in a thread that reads that file as it grows, decompresses it (gzip via
zlib, zstd via zstandard, or none) and applies the tar to an active snapshot
(``skiff.snapshots.layer.apply_layer``), so download, decompression and unpack
are one pass. A layer's unpack starts as soon as its parent's snapshot is
committed. The snapshot is committed under the layer's chainID only after the
blob's digest (and the tar's diffID) verified; otherwise it is removed and
DataCorruption raised, and the blob is never committed.

Progress messages are Docker's JSON progress stream (Engine API
``POST /images/create``): "Pulling from library/busybox", "Pulling fs layer",
"Downloading" (with progressDetail and a bar), "Verifying Checksum",
"Download complete", "Extracting", "Pull complete", "Already exists",
"Digest: sha256:...". The final "Status: ..." line is the caller's (it knows
whether the tag moved).
"""

from __future__ import annotations

import asyncio
import bz2
import hashlib
import lzma
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from ..errors import Conflict, DataCorruption, InvalidArgument, NotFound, SkiffError
from ..types import Descriptor, Platform
from . import manifest as mf
from .reference import Reference

MAX_CONCURRENT_DOWNLOADS = 3
EXTRACT_PREFIX = "extract-"
PROGRESS_INTERVAL = 0.1  # seconds between two progress messages of one layer
READ_SIZE = 1 << 16

Progress = Callable[[dict], None]


# --- formatting as Docker's pkg/jsonmessage -----------------------------------

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def human_size(n: float) -> str:
    """go-units HumanSize: decimal units, 4 significant digits ("1.036MB", "699B")."""
    i = 0
    while n >= 1000 and i < len(_UNITS) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{_UNITS[i]}"


def progress_bar(current: int, total: int) -> str:
    """JSONProgress.String() at the daemon's width: "[====>     ]  1.2MB/2.3MB"."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    pct = min(int(current / total * 100) // 2, 50)
    bar = "[" + "=" * pct + ">" + " " * (50 - pct) + "] "
    if current > total:
        return bar + f"{human_size(current):>8}"
    return bar + f"{human_size(current):>8}/{human_size(total)}"


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


# --- streams ------------------------------------------------------------------

class DecompressReader:
    """A file-like ``read(n)`` giving the decompressed bytes of ``raw``
    ("gzip", "zstd", "bzip2", "xz" or "none"). Reads may be short (as a raw
    stream's); ``b""`` means the end. Concatenated gzip members and zero padding
    after the last one are accepted. Truncated or corrupt input raises DataCorruption."""

    def __init__(self, raw: BinaryIO, compression: str):
        self.raw = raw
        self.compression = compression
        self._cur = b""
        self._pos = 0
        self._pending = b""
        self._eof = False
        self._zr = None
        if compression == "gzip":
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif compression == "bzip2":
            self._d = bz2.BZ2Decompressor()
        elif compression == "xz":
            self._d = lzma.LZMADecompressor()
        elif compression == "zstd":
            import zstandard
            self._zr = zstandard.ZstdDecompressor().stream_reader(raw, read_size=READ_SIZE,
                                                                  read_across_frames=True, closefd=False)
        elif compression != "none":
            raise InvalidArgument(f"unsupported compression {compression!r}")

    def _next(self, limit: int) -> bytes:
        """The next piece of output (maybe empty before the end); sets ``_eof``."""
        if self.compression == "none":
            out = self.raw.read(limit)
            if not out:
                self._eof = True
            return out
        if self._zr is not None:
            try:
                out = self._zr.read(limit)
            except SkiffError:
                raise
            except Exception as e:  # zstandard.ZstdError
                raise DataCorruption(f"invalid zstd layer data: {e}") from None
            if not out:
                self._eof = True
            return out
        if self._pending:
            data, self._pending = self._pending, b""
        else:
            data = self.raw.read(READ_SIZE)
            if not data:
                if not self._d.eof:
                    raise DataCorruption(f"unexpected end of {self.compression} layer data")
                self._eof = True
                return b""
        if self._d.eof:
            if self.compression == "gzip" and data.strip(b"\0"):
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next gzip member
            else:
                return b""  # padding after the end: ignored
        try:
            if self.compression == "gzip":
                out = self._d.decompress(data, limit)
                self._pending = self._d.unconsumed_tail or (self._d.unused_data if self._d.eof else b"")
            else:
                out = self._d.decompress(data)
                if self._d.eof:
                    self._pending = self._d.unused_data
        except (zlib.error, OSError, lzma.LZMAError, EOFError) as e:
            raise DataCorruption(f"invalid {self.compression} layer data: {e}") from None
        return out

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._cur[self._pos:]]
            self._cur, self._pos = b"", 0
            while not self._eof:
                parts.append(self._next(1 << 20))
            return b"".join(parts)
        while True:
            if self._pos < len(self._cur):
                out = self._cur[self._pos:self._pos + n]
                self._pos += len(out)
                return out
            if self._eof or n == 0:
                return b""
            self._cur, self._pos = self._next(max(n, READ_SIZE)), 0

    def readable(self) -> bool:
        return True


class HashingReader:
    """Counts and sha256-hashes what is read through it; :meth:`drain` reads to EOF."""

    def __init__(self, inner, tee: Callable[[bytes], object] | None = None):
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0
        self.tee = tee

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.hash.update(data)
        self.size += len(data)
        if self.tee is not None and data:
            self.tee(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(READ_SIZE):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


class Feed:
    """A file being written by the event loop (a content ingest) read by a thread
    as it grows: ``advance(size)`` after each flushed write, ``finish(error)``
    at the end; ``read(n)`` blocks for data and raises the error given to finish."""

    def __init__(self, path: str):
        self._f = open(path, "rb")
        self._cond = threading.Condition()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self.pos = 0

    def advance(self, size: int) -> None:
        with self._cond:
            self._size = size
            self._cond.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        with self._cond:
            # an error after a clean finish (another layer failed) still stops the reader
            if error is not None and self._error is None:
                self._error = error
            self._done = True
            self._cond.notify_all()

    @property
    def done(self) -> bool:
        return self._done

    def read(self, n: int = -1) -> bytes:
        with self._cond:
            while self.pos >= self._size and not self._done:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            avail = self._size - self.pos
            if avail <= 0:
                return b""
        if n is None or n < 0 or n > avail:
            n = avail
        data = self._f.read(n)
        self.pos += len(data)
        return data

    def close(self) -> None:
        self._f.close()


class CountingReader:
    """Calls ``on_read(total)`` as bytes are read from ``inner``."""

    def __init__(self, inner, on_read: Callable[[int], None]):
        self.inner, self.on_read, self.total = inner, on_read, 0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.total += len(data)
        self.on_read(self.total)
        return data


# --- one layer's unpack (sync, runs in a thread) ------------------------------

def default_apply_layer():
    """skiff.snapshots.layer.apply_layer, imported when first needed."""
    from ..snapshots.layer import apply_layer
    return apply_layer


def unpack_layer(snapshotter, raw: BinaryIO, compression: str, parent: str, chain_id: str,
                 diff_id: str | None, apply_layer: Callable | None = None,
                 labels: dict | None = None, tee: Callable[[bytes], object] | None = None) -> tuple[int, str]:
    """Apply one compressed layer ``raw`` as snapshot ``chain_id`` on ``parent``
    ("" for none): prepare an active "extract-..." snapshot, decompress and apply
    the tar, read to EOF (so the source's own verification runs), check the diffID
    (if given), then commit. Returns (uncompressed tar size in bytes, diffID).
    On any failure the active snapshot is removed and the error re-raised
    (DataCorruption for a diffID mismatch). If another pull committed ``chain_id``
    meanwhile, ours is dropped and theirs kept. ``chain_id`` "" (only for a base
    layer) commits under the computed diffID. ``tee`` receives the uncompressed tar."""
    if not chain_id and parent:
        raise InvalidArgument("chain_id needed for a layer with a parent")
    apply = apply_layer or default_apply_layer()
    key = f"{EXTRACT_PREFIX}{secrets.token_hex(6)}-{short(chain_id) if chain_id else 'new'}"
    mounts = snapshotter.prepare(key, parent, labels=labels)
    try:
        reader = HashingReader(DecompressReader(raw, compression), tee)
        apply(reader, mounts)
        reader.drain()
        if diff_id and reader.digest != diff_id:
            raise DataCorruption(f"layer diffID mismatch: expected {diff_id}, got {reader.digest}",
                                 digest=diff_id, actual=reader.digest)
        name = chain_id or reader.digest
        try:
            snapshotter.commit(name, key)
        except Conflict:
            snapshotter.remove(key)  # committed concurrently by someone else: keep theirs
        return reader.size, reader.digest
    except BaseException:
        try:
            snapshotter.remove(key)
        except Exception:
            pass
        raise


def snapshot_exists(snapshotter, key: str) -> bool:
    """True when ``key`` is a committed snapshot."""
    try:
        info = snapshotter.stat(key)
    except NotFound:
        return False
    return info.kind == "committed"


# --- the pull -----------------------------------------------------------------

@dataclass
class PulledImage:
    """What a pull produced: the names it was resolved by, the manifest chosen
    (``manifest_digest``; ``index_digest`` if it came from an index), the config
    (parsed ``config`` and its digest = the image id), layers, diffIDs, chainIDs,
    every blob digest it involves, and ``downloaded`` (layers fetched)."""

    ref: Reference
    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    config: dict
    layers: list[Descriptor]
    diff_ids: list[str]
    chain_ids: list[str]
    index_digest: str = ""
    blobs: list[str] = field(default_factory=list)
    downloaded: int = 0


async def pull(ref: Reference | str, *, registry, content, snapshotter, platform: Platform | None = None,
               progress: Progress | None = None, apply_layer: Callable | None = None,
               require_platform: bool = False) -> PulledImage:
    """Pull ``ref`` (a Reference, or a string parsed with reference.parse) through ``registry`` (a
    :class:`~skiff.images.registry.RegistryClient`) into ``content`` and
    ``snapshotter``, for ``platform`` (the host's by default). ``progress``
    receives Docker's JSON progress messages. With ``require_platform`` (the user
    asked for one) a single-platform image of another platform is refused (NotFound
    "image with reference X was found but does not match the specified platform...").
    Raises NotFound, Unauthorized, Unavailable, DataCorruption (nothing of a
    corrupt layer is kept)."""
    if isinstance(ref, str):
        from .reference import parse as _parse
        ref = _parse(ref)
    emit = progress or (lambda m: None)
    loop = asyncio.get_running_loop()
    platform = platform or mf.host_platform()
    # resolved before the first message, so that a missing image or refused
    # credentials are an HTTP error (404, 401) as dockerd answers, not a stream
    fetched = await registry.resolve(ref)
    emit({"status": f"Pulling from {ref.path}", "id": ref.digest or ref.tag or "latest"})
    doc = mf.parse(fetched.data, fetched.media_type)
    index_digest = ""
    blobs: list[str] = []
    if isinstance(doc, mf.Index):
        index_digest = fetched.digest
        content.put(fetched.data, fetched.digest)
        blobs.append(fetched.digest)
        chosen = mf.select_platform(doc, platform)
        fetched = await registry.get_manifest(ref, chosen.digest, fetched.endpoint)
        doc = mf.parse(fetched.data, fetched.media_type)
        if not isinstance(doc, mf.Manifest):
            raise InvalidArgument(f"manifest {chosen.digest} of {ref} is not an image manifest")
    assert isinstance(doc, mf.Manifest)
    ep = fetched.endpoint
    content.put(fetched.data, fetched.digest)
    blobs.append(fetched.digest)

    if content.exists(doc.config.digest):
        config_raw = content.read(doc.config.digest)
    else:
        config_raw = await registry.get_blob(ref, doc.config, ep)
        content.put(config_raw, doc.config.digest)
    blobs.append(doc.config.digest)
    config = mf.parse_config(config_raw)
    if require_platform and not index_digest:
        have = mf.image_platform(config)
        if not mf.platform_matches(platform, have):
            def fmt(p):
                return "/".join(x for x in (p.os, p.architecture, p.variant) if x)
            raise NotFound(f"image with reference {ref.familiar()} was found but does not match the specified "
                           f"platform: wanted {fmt(platform)}, actual: {fmt(have)}", ref=str(ref))
    diffs = mf.diff_ids(config)
    if len(diffs) != len(doc.layers):
        raise InvalidArgument(f"image {ref}: {len(doc.layers)} layers in the manifest but "
                              f"{len(diffs)} diffIDs in the config")
    chains = mf.chain_ids(diffs)
    for d in doc.layers:
        mf.layer_compression(d.media_type)  # reject unknown layer types before starting
        blobs.append(d.digest)

    n = len(doc.layers)
    committed: list[asyncio.Future] = [loop.create_future() for _ in range(n)]
    feeds: list[Feed | None] = [None] * n
    aborted: list[BaseException] = []
    sem = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)
    downloaded = 0

    def abort_all(exc: BaseException) -> None:
        if not aborted:
            aborted.append(exc)
        for f in feeds:
            if f is not None:
                f.finish(DataCorruption("pull aborted") if not isinstance(exc, SkiffError) else exc)

    present = [snapshot_exists(snapshotter, c) for c in chains]
    for i, d in enumerate(doc.layers):
        if present[i]:
            emit({"status": "Already exists", "progressDetail": {}, "id": short(d.digest)})
            committed[i].set_result(True)
        else:
            emit({"status": "Pulling fs layer", "progressDetail": {}, "id": short(d.digest)})

    def emit_threadsafe(msg: dict) -> None:
        loop.call_soon_threadsafe(emit, msg)

    async def download(i: int, desc: Descriptor, writer, feed: Feed) -> None:
        lid = short(desc.digest)
        try:
            if sem.locked():
                emit({"status": "Waiting", "progressDetail": {}, "id": lid})
            async with sem:
                last = 0.0
                async for chunk in registry.fetch_blob(ref, desc, ep):
                    if aborted:
                        raise aborted[0]
                    writer.write(chunk)
                    writer.flush()
                    feed.advance(writer.size)
                    now = time.monotonic()
                    if now - last >= PROGRESS_INTERVAL:
                        last = now
                        emit({"status": "Downloading",
                              "progressDetail": {"current": writer.size, "total": desc.size},
                              "progress": progress_bar(writer.size, desc.size), "id": lid})
            emit({"status": "Verifying Checksum", "progressDetail": {}, "id": lid})
            # verifies digest and size (DataCorruption leaves nothing); fsync off the loop
            await asyncio.to_thread(writer.commit)
            emit({"status": "Download complete", "progressDetail": {}, "id": lid})
            feed.finish(None)
        except BaseException as e:
            writer.abort()
            feed.finish(e if isinstance(e, SkiffError) else DataCorruption(f"download of {desc.digest} failed"))
            raise

    async def layer(i: int) -> None:
        desc = doc.layers[i]
        nonlocal downloaded
        if present[i]:
            return
        lid = short(desc.digest)
        dl = None
        fut = None
        raw = None
        try:
            if content.exists(desc.digest):
                raw = content.open(desc.digest)
                emit({"status": "Download complete", "progressDetail": {}, "id": lid})
                done_flag = lambda: True  # noqa: E731
            else:
                writer = content.writer(desc.digest, desc.size)
                feed = feeds[i] = Feed(writer.path)
                raw = feed
                done_flag = lambda: feed.done  # noqa: E731
                dl = asyncio.ensure_future(download(i, desc, writer, feed))
                downloaded += 1
            if i > 0:
                await asyncio.shield(committed[i - 1])
            if aborted:
                raise aborted[0]
            last = [0.0, -1]

            def on_read(total: int) -> None:
                now = time.monotonic()
                if total == last[1]:
                    return
                if done_flag() and (now - last[0] >= PROGRESS_INTERVAL or total >= desc.size):
                    last[0], last[1] = now, total
                    emit_threadsafe({"status": "Extracting",
                                     "progressDetail": {"current": total, "total": desc.size},
                                     "progress": progress_bar(total, desc.size), "id": lid})

            counted = CountingReader(raw, on_read)
            fut = loop.run_in_executor(None, unpack_layer, snapshotter, counted,
                                       mf.layer_compression(desc.media_type),
                                       chains[i - 1] if i else "", chains[i], diffs[i], apply_layer,
                                       None)
            await asyncio.shield(fut)
            if dl is not None:
                await dl
            emit({"status": "Pull complete", "progressDetail": {}, "id": lid})
            committed[i].set_result(True)
        except BaseException as e:
            abort_all(e)
            if not committed[i].done():
                committed[i].set_exception(e if isinstance(e, Exception) else DataCorruption("pull aborted"))
                committed[i].exception()  # mark retrieved
            if dl is not None:
                await asyncio.wait({dl})
                if dl.done() and not dl.cancelled():
                    dl.exception()
            if fut is not None:
                await asyncio.wait({fut})  # the thread removes its own active snapshot
                if not fut.cancelled():
                    fut.exception()  # retrieved: the error that matters is re-raised below
            raise
        finally:
            if raw is not None:
                raw.close()

    results = await asyncio.gather(*(layer(i) for i in range(n)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        first = aborted[0] if aborted else errors[0]
        raise first
    emit({"status": f"Digest: {index_digest or fetched.digest}"})
    return PulledImage(ref=ref, manifest_digest=fetched.digest, manifest_media_type=doc.media_type,
                       config_digest=doc.config.digest, config=config, layers=list(doc.layers),
                       diff_ids=diffs, chain_ids=chains, index_digest=index_digest, blobs=blobs,
                       downloaded=downloaded)

