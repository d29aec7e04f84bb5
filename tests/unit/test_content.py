"""Content store: atomic verified commits, DataCorruption leaving nothing, cleanup."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from skiff.content.store import ContentStore, sha256_digest
from skiff.errors import DataCorruption, InvalidArgument, NotFound


def dg(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


@pytest.fixture
def cs(tmp_path):
    return ContentStore(str(tmp_path / "content"))


def ingest_entries(cs):
    return os.listdir(os.path.join(cs.root, "ingest"))


def test_put_read_exists_path(cs):
    data = b"hello blob"
    d = cs.put(data)
    assert d == dg(data) == sha256_digest(data)
    assert cs.exists(d)
    assert cs.read(d) == data
    assert cs.size(d) == len(data)
    assert cs.path(d) == os.path.join(cs.root, "blobs", "sha256", d[7:])
    with cs.open(d) as f:
        assert f.read() == data
    assert ingest_entries(cs) == []


def test_writer_streams_and_reports_digest(cs):
    w = cs.writer(dg(b"abcdef"), 6)
    w.write(b"abc")
    assert w.digest == dg(b"abc")
    assert os.path.exists(w.path)  # the temp file lives under ingest/
    assert w.path.startswith(os.path.join(cs.root, "ingest"))
    assert not cs.exists(dg(b"abcdef"))  # not visible before commit
    w.write(b"def")
    assert w.commit() == dg(b"abcdef")
    assert cs.read(dg(b"abcdef")) == b"abcdef"
    assert ingest_entries(cs) == []


def test_digest_mismatch_leaves_nothing(cs):
    want = dg(b"the real thing")
    w = cs.writer(want)
    w.write(b"tampered thing")
    with pytest.raises(DataCorruption, match="digest mismatch"):
        w.commit()
    assert not cs.exists(want)
    assert not cs.exists(dg(b"tampered thing"))
    assert ingest_entries(cs) == []
    assert list(cs.walk()) == []


def test_size_mismatch_leaves_nothing(cs):
    data = b"12345"
    w = cs.writer(dg(data), 4)
    w.write(data)
    with pytest.raises(DataCorruption, match="size"):
        w.commit()
    assert not cs.exists(dg(data))
    assert ingest_entries(cs) == []


def test_put_with_wrong_expected_digest(cs):
    with pytest.raises(DataCorruption):
        cs.put(b"x", dg(b"y"))
    assert list(cs.walk()) == []


def test_abort_and_context_manager(cs):
    w = cs.writer()
    w.write(b"partial")
    w.abort()
    assert ingest_entries(cs) == []
    with pytest.raises(RuntimeError):
        with cs.writer() as w2:
            w2.write(b"boom")
            raise RuntimeError("x")
    assert ingest_entries(cs) == []


def test_commit_existing_blob_is_idempotent(cs):
    d1 = cs.put(b"same")
    d2 = cs.put(b"same")
    w = cs.writer(d1)
    w.write(b"same")
    assert w.commit() == d1 == d2
    assert [x for x, _ in cs.walk()] == [d1]


def test_put_file_and_walk_and_delete(cs, tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"x" * 100000)
    d = cs.put_file(str(p))
    d2 = cs.put_file(io.BytesIO(b"other"), dg(b"other"), 5)
    assert sorted(cs.walk()) == sorted([(d, 100000), (d2, 5)])
    cs.delete(d)
    assert not cs.exists(d)
    with pytest.raises(NotFound):
        cs.delete(d)
    with pytest.raises(NotFound):
        cs.read(d)
    with pytest.raises(NotFound):
        cs.open(d)


def test_cleanup_removes_ingest_leftovers(cs):
    w = cs.writer()
    w.write(b"half")
    w.flush()
    stray = os.path.join(cs.root, "ingest", "stray-file")
    open(stray, "w").close()
    assert cs.cleanup() == 2
    assert ingest_entries(cs) == []
    # committed blobs survive
    d = cs.put(b"keep")
    cs.cleanup()
    assert cs.exists(d)


@pytest.mark.parametrize("bad", ["sha256:xyz", "md5:" + "0" * 32, "sha256:" + "A" * 64, "nocolon",
                                 "sha256:../../etc/passwd"])
def test_malformed_digests_rejected(cs, bad):
    with pytest.raises(InvalidArgument):
        cs.path(bad)


def test_committed_blob_is_read_only(cs):
    d = cs.put(b"ro")
    assert os.stat(cs.path(d)).st_mode & 0o222 == 0
