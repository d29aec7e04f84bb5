"""The streaming pieces of a pull: decompression, the growing-file feed,
Docker's progress formatting."""

from __future__ import annotations

import gzip
import io
import os
import threading

import pytest
import zstandard

from skiff.errors import DataCorruption
from skiff.images.pull import DecompressReader, Feed, HashingReader, human_size, progress_bar

DATA = os.urandom(50000) + b"tail" * 10000


def read_all(r, n=4096) -> bytes:
    out = b""
    while True:
        c = r.read(n)
        if not c:
            return out
        out += c


@pytest.mark.parametrize("comp,blob", [
    ("none", DATA),
    ("gzip", gzip.compress(DATA)),
    ("zstd", zstandard.ZstdCompressor().compress(DATA)),
])
def test_decompress(comp, blob):
    assert read_all(DecompressReader(io.BytesIO(blob), comp)) == DATA
    assert DecompressReader(io.BytesIO(blob), comp).read() == DATA


def test_gzip_multi_member_and_zero_padding():
    blob = gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]) + b"\0" * 512
    assert read_all(DecompressReader(io.BytesIO(blob), "gzip")) == DATA


def test_zstd_multi_frame():
    z = zstandard.ZstdCompressor()
    blob = z.compress(DATA[:1000]) + z.compress(DATA[1000:])
    assert read_all(DecompressReader(io.BytesIO(blob), "zstd")) == DATA


@pytest.mark.parametrize("comp,blob", [
    ("gzip", gzip.compress(DATA)[:-100]),
    ("gzip", b"\x1f\x8b\x08" + b"garbage" * 100),
    ("zstd", b"\x28\xb5\x2f\xfd" + b"garbage" * 100),
])
def test_corrupt_or_truncated(comp, blob):
    with pytest.raises(DataCorruption):
        read_all(DecompressReader(io.BytesIO(blob), comp))


def test_hashing_reader_and_tee():
    seen = []
    r = HashingReader(io.BytesIO(b"abc" * 1000), seen.append)
    r.read(10)
    r.drain()
    import hashlib
    assert r.digest == "sha256:" + hashlib.sha256(b"abc" * 1000).hexdigest()
    assert b"".join(seen) == b"abc" * 1000 and r.size == 3000


def test_feed_follows_a_growing_file(tmp_path):
    p = tmp_path / "ingest"
    w = open(p, "wb")
    feed = Feed(str(p))
    got = []

    def reader():
        got.append(read_all(feed, 7))

    t = threading.Thread(target=reader)
    t.start()
    total = 0
    for i in range(50):
        chunk = bytes([i]) * 100
        w.write(chunk)
        w.flush()
        total += len(chunk)
        feed.advance(total)
    feed.finish()
    t.join(5)
    assert not t.is_alive()
    assert got[0] == b"".join(bytes([i]) * 100 for i in range(50))
    w.close()
    feed.close()


def test_feed_error_unblocks_reader(tmp_path):
    p = tmp_path / "ingest"
    p.write_bytes(b"")
    feed = Feed(str(p))
    errors = []

    def reader():
        try:
            feed.read(10)
        except DataCorruption as e:
            errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    feed.finish(DataCorruption("digest mismatch"))
    t.join(5)
    assert not t.is_alive()
    assert str(errors[0]) == "digest mismatch"
    feed.close()


def test_human_size_and_bar():
    assert human_size(699) == "699B"
    assert human_size(1036119) == "1.036MB"
    assert human_size(65536) == "65.54kB"
    assert human_size(2_000_000_000) == "2GB"
    assert progress_bar(0, 0) == ""
    bar = progress_bar(518059, 1036119)
    assert bar.startswith("[" + "=" * 24 + ">" + " " * 26 + "] ")
    assert bar.endswith(" 518.1kB/1.036MB")
    full = progress_bar(1036119, 1036119)
    assert full == "[" + "=" * 50 + ">] " + " 1.036MB/1.036MB"
