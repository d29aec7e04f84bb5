"""skiff.services.container_fs: path stat, archive out, extraction in, and
the changes of an upperdir, on plain directories (no daemon)."""
from __future__ import annotations

import base64
import io
import json
import os
import stat
import tarfile

import pytest

from skiff.errors import InvalidArgument, NotFound, UnsafePath
from skiff.services import container_fs as cfs


@pytest.fixture
def root(tmp_path):
    """A small container tree: /abs -> /tmp, /rel -> ../../../etc,
    /dirlink -> /inside, /etc/passwd, /inside/f, /data/sub/f, /data/lnk -> sub/f."""
    r = tmp_path / "root"
    for d in ("tmp", "etc", "inside", "data/sub"):
        (r / d).mkdir(parents=True)
    (r / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (r / "inside/f").write_text("inside\n")
    (r / "data/sub/f").write_text("hi\n")
    os.symlink("/tmp", r / "abs")
    os.symlink("../../../../etc", r / "rel")
    os.symlink("/inside", r / "dirlink")
    os.symlink("sub/f", r / "data/lnk")
    return str(r)


def test_go_file_mode():
    assert cfs.go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert cfs.go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert cfs.go_file_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert cfs.go_file_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666
    assert cfs.go_file_mode(stat.S_IFREG | 0o644) == 0o644


def test_abs_path_keeps_trailing_markers():
    assert cfs.abs_path("etc/passwd") == "/etc/passwd"
    assert cfs.abs_path("/a/../../b/") == "/b/"
    assert cfs.abs_path("/a/.") == "/a/."
    assert cfs.abs_path("/") == "/"
    assert cfs.abs_path("../../x") == "/x"


def test_rfc3339_ns():
    assert cfs.rfc3339_ns(0) == "1970-01-01T00:00:00Z"
    assert cfs.rfc3339_ns(1_500_000_000) == "1970-01-01T00:00:01.5Z"


def test_stat_resolves_dir_part_inside_root(root):
    st = cfs.stat_path(root, "/rel/passwd")
    assert st["name"] == "passwd" and st["size"] == len("root:x:0:0::/root:/bin/sh\n")
    assert st["mode"] == 0o644 and st["linkTarget"] == ""


def test_stat_of_symlink_gives_resolved_target(root):
    st = cfs.stat_path(root, "/abs")
    assert st["mode"] & (1 << 27)
    assert st["linkTarget"] == "/tmp"
    st = cfs.stat_path(root, "/rel")
    assert st["linkTarget"] == "/etc"  # ".." stops at the container root
    st = cfs.stat_path(root, "/abs/")
    assert st["mode"] & (1 << 31) and st["name"] == "abs" and st["linkTarget"] == ""


def test_stat_missing_is_not_found(root):
    with pytest.raises(NotFound, match="Could not find the file /nope in container"):
        cfs.stat_path(root, "/nope")
    with pytest.raises(NotFound):
        cfs.stat_path(root, "/etc/passwd/x")


def test_encode_stat_roundtrip(root):
    st = cfs.stat_path(root, "/etc")
    assert json.loads(base64.b64decode(cfs.encode_stat(st))) == st


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.name for m in tf]


def _archive(root, path) -> bytes:
    host, rebase = cfs.archive_names(root, path)
    buf = io.BytesIO()
    cfs.write_tree(buf, root, host, rebase)
    return buf.getvalue()


def test_archive_directory_rebased_on_base_name(root):
    assert _archive(root, "/data") == _archive(root, "/data")  # deterministic
    assert _names(_archive(root, "/data")) == ["data", "data/lnk", "data/sub", "data/sub/f"]


def test_archive_through_symlinked_dir_keeps_requested_name(root):
    # "/dirlink/" resolves to /inside but entries start with the requested name
    assert _names(_archive(root, "/dirlink/")) == ["dirlink", "dirlink/f"]
    # without the trailing slash the link itself is archived, not followed
    data = _archive(root, "/dirlink")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        (m,) = list(tf)
        assert m.issym() and m.linkname == "/inside"


def test_archive_contents_with_dot(root):
    assert _names(_archive(root, "/data/.")) == [".", "./lnk", "./sub", "./sub/f"]


def test_archive_of_the_root_keeps_leading_slash(root):
    names = _names(_archive(root, "/"))
    # the first entry is "/" (Python's reader strips a directory's trailing "/")
    assert names[0] == "" and all(n.startswith("/") for n in names[1:])
    assert "/etc/passwd" in names and "/data/sub/f" in names


def test_archive_file_through_escaping_symlink_reads_container_file(root):
    data = _archive(root, "/rel/passwd")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.extractfile("passwd").read().startswith(b"root:x:0:0")


def _tar(*entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_600_000_000
            ti.uid, ti.gid = os.getuid(), os.getgid()
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o750
                tf.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
                tf.addfile(ti)
            else:
                ti.mode, ti.size = 0o640, len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_extract_through_symlinked_destination_stays_inside(root):
    ids = (os.getuid(), os.getgid())
    cfs.extract_archive(io.BytesIO(_tar(("m", "file", b"payload"))), root, "/abs/", chown=ids)
    cfs.extract_archive(io.BytesIO(_tar(("m", "file", b"payload"))), root, "/rel", chown=ids)
    assert open(os.path.join(root, "tmp/m")).read() == "payload"
    assert open(os.path.join(root, "etc/m")).read() == "payload"
    assert os.path.islink(os.path.join(root, "abs")) and os.path.islink(os.path.join(root, "rel"))


def test_extract_sets_metadata_and_makes_parents(root):
    n = cfs.extract_archive(io.BytesIO(_tar(("d", "dir", None), ("d/x/y", "file", b"1"))), root, "/data")
    assert n == 2
    st = os.stat(os.path.join(root, "data/d"))
    assert stat.S_IMODE(st.st_mode) == 0o750 and st.st_mtime == 1_600_000_000
    f = os.stat(os.path.join(root, "data/d/x/y"))
    assert stat.S_IMODE(f.st_mode) == 0o640 and f.st_mtime == 1_600_000_000


def test_extract_destination_errors(root):
    with pytest.raises(NotFound):
        cfs.extract_archive(io.BytesIO(_tar(("a", "file", b""))), root, "/missing")
    with pytest.raises(InvalidArgument, match="not a directory"):
        cfs.extract_archive(io.BytesIO(_tar(("a", "file", b""))), root, "/etc/passwd")


def test_no_overwrite_dir_non_dir(root):
    with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
        cfs.extract_archive(io.BytesIO(_tar(("sub", "file", b"x"))), root, "/data",
                            no_overwrite_dir_non_dir=True)
    with pytest.raises(InvalidArgument, match="cannot overwrite non-directory"):
        cfs.extract_archive(io.BytesIO(_tar(("passwd", "dir", None))), root, "/etc",
                            no_overwrite_dir_non_dir=True)
    # allowed without the flag: the file replaces the directory
    cfs.extract_archive(io.BytesIO(_tar(("sub", "file", b"x"))), root, "/data")
    assert open(os.path.join(root, "data/sub")).read() == "x"


def test_breakout_names_and_links_are_refused(root):
    with pytest.raises(UnsafePath):
        cfs.extract_archive(io.BytesIO(_tar(("../../x", "file", b"x"))), root, "/data")
    with pytest.raises(UnsafePath, match="invalid symlink"):
        cfs.extract_archive(io.BytesIO(_tar(("l", "sym", "../../../x"))), root, "/data")
    with pytest.raises(UnsafePath, match="invalid hardlink"):
        cfs.extract_archive(io.BytesIO(_tar(("h", "hard", "../etc/passwd"))), root, "/data")
    assert not os.path.lexists(os.path.join(root, "data/l"))


def test_whiteout_names_are_plain_files(root):
    cfs.extract_archive(io.BytesIO(_tar((".wh..wh..opq", "file", b""), (".wh.sub", "file", b""))),
                        root, "/data")
    assert os.path.isdir(os.path.join(root, "data/sub"))
    assert os.path.isfile(os.path.join(root, "data/.wh.sub"))


def test_tree_changes(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for r in (old, new):
        (r / "etc").mkdir(parents=True)
        (r / "bin").mkdir()
        (r / "bin/ls").write_text("ls")
        (r / "etc/keep").write_text("k")
        os.utime(r / "etc/keep", (1, 1))
        os.utime(r / "bin/ls", (1, 1))
    (new / "bin/ls").unlink()
    (new / "etc/new").write_text("n")
    for r in (old, new):
        os.utime(r / "etc", (5, 5))
    os.utime(new / "bin", (9, 9))
    got = cfs.tree_changes(str(new), str(old))
    assert got == [{"Path": "/bin", "Kind": 0}, {"Path": "/bin/ls", "Kind": 2},
                   {"Path": "/etc/new", "Kind": 1}]


class _RecordingShim:
    def __init__(self):
        self.calls = []

    async def pause(self):
        self.calls.append("pause")

    async def resume(self):
        self.calls.append("resume")


def _fs(rec, shim):
    return cfs.ContainerFS(get=lambda ref: rec, snapshotter=None, bundle_of=lambda cid: "/nonexistent",
                           exec_root="/nonexistent", shim_of=lambda cid: shim)


def test_frozen_pauses_running_container_only_around_the_operation():
    import asyncio
    shim = _RecordingShim()
    rec = {"Id": "c1", "State": {"Running": True, "Paused": False}}

    async def go(fail: bool):
        async with _fs(rec, shim).frozen("c1"):
            shim.calls.append("op")
            if fail:
                raise RuntimeError("boom")

    asyncio.run(go(False))
    with pytest.raises(RuntimeError):
        asyncio.run(go(True))
    assert shim.calls == ["pause", "op", "resume", "pause", "op", "resume"]
    # a paused or stopped container is left alone
    shim.calls.clear()
    for state in ({"Running": True, "Paused": True}, {"Running": False, "Paused": False}):
        rec["State"] = state
        asyncio.run(go(False))
    assert shim.calls == ["op", "op"]
