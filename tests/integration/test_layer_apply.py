"""Acceptance: the fixture image layered:latest (an OCI layout written by
other tools) applied layer by layer through each snapshotter, keyed by
chainID, then mounted with mount_all, matches what Docker unpacks
(expected/layered.json, checked by shared/fixtures/check_tree.py). Plus the
layer-application semantics the fixture does not cover."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import tempfile

import pytest

from skiff.metadata.db import Database
from skiff.snapshots import open_snapshotter
from skiff.snapshots.layer import apply_layer
from skiff.snapshots.mount import mount_all, unmount

pytestmark = pytest.mark.integration


class _Hashing:
    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def read(self, n=-1):
        b = self.f.read(n)
        self.h.update(b)
        self.n += len(b)
        return b


def image_layers(oci: str, ref: str) -> list[str]:
    """Blob paths of the gzip layers of ``ref`` in the OCI layout ``oci``."""
    index = json.load(open(os.path.join(oci, "index.json")))
    desc = next(m for m in index["manifests"]
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref)
    blob = lambda d: os.path.join(oci, "blobs", *d.split(":"))  # noqa: E731
    manifest = json.load(open(blob(desc["digest"])))
    return [blob(l["digest"]) for l in manifest["layers"]]


def unpack(sn, layers: list[str]) -> str:
    """prepare/apply/commit each layer keyed by chainID; returns the top chainID."""
    chain = ""
    for i, path in enumerate(layers):
        key = f"skifftest-extract-{i}"
        mounts = sn.prepare(key, chain)
        with gzip.open(path, "rb") as gz:
            h = _Hashing(gz)
            n = apply_layer(h, mounts)
        assert n == h.n and n > 0
        diff_id = "sha256:" + h.h.hexdigest()
        chain = diff_id if not chain else \
            "sha256:" + hashlib.sha256(f"{chain} {diff_id}".encode()).hexdigest()
        sn.commit(chain, key)
    return chain


@pytest.fixture
def tmp(tmp_path_factory):
    d = tempfile.mkdtemp(prefix="skifftest-layer-")
    yield d
    with open("/proc/self/mountinfo") as f:
        mps = [l.split()[4] for l in f if d in l]
    for mp in reversed(mps):
        subprocess.run(["umount", "-l", mp], check=False)
    subprocess.run(["rm", "-rf", "--one-file-system", d], check=False)


@pytest.mark.parametrize("driver", ["overlay", "native"])
@pytest.mark.parametrize("how", ["view", "prepare"])
def test_layered_image_matches_docker(fixtures_dir, shared_dir, tmp, driver, how):
    sn = open_snapshotter(os.path.join(tmp, "snapshots"), Database(os.path.join(tmp, "m.db")),
                          driver=driver)
    assert type(sn).__name__.lower().startswith(driver)
    top = unpack(sn, image_layers(str(fixtures_dir / "oci"), "layered:latest"))
    mounts = sn.view("skifftest-c", top) if how == "view" else sn.prepare("skifftest-c", top)
    mp = os.path.join(tmp, "rootfs")
    os.mkdir(mp)
    mount_all(mounts, mp)
    try:
        r = subprocess.run([sys.executable, str(shared_dir / "fixtures" / "check_tree.py"),
                            str(fixtures_dir / "expected" / "layered.json"), mp],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "tree ok" in r.stdout
        # nothing the whiteouts stand for shows through
        assert not os.path.lexists(os.path.join(mp, "gone.txt"))
        assert sorted(os.listdir(os.path.join(mp, "data/old"))) == ["z"]
        assert not os.path.lexists(os.path.join(mp, "app/sub"))
        with open(os.path.join(mp, "app/hello.txt")) as f:
            assert f.read().strip() == "hello v2"
    finally:
        unmount(mp)
    assert [i.key for i in sn.walk()][-1] == "skifftest-c"


def _tar(entries) -> bytes:
    """entries: (TarInfo kwargs, data or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kw, data in entries:
            ti = tarfile.TarInfo(kw.pop("name"))
            for k, v in kw.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def D(name, mode=0o755, **kw):
    return dict(name=name, type=tarfile.DIRTYPE, mode=mode, **kw), None


def F(name, data=b"x", mode=0o644, **kw):
    return dict(name=name, type=tarfile.REGTYPE, mode=mode, **kw), data


def L(name, target, **kw):
    return dict(name=name, type=tarfile.SYMTYPE, linkname=target, mode=0o777, **kw), None


def H(name, target, **kw):
    return dict(name=name, type=tarfile.LNKTYPE, linkname=target, mode=0o644, **kw), None


def _stack(sn, layers, mp):
    chain = ""
    for i, entries in enumerate(layers):
        mounts = sn.prepare(f"l{i}", chain)
        apply_layer(io.BytesIO(_tar(entries)), mounts)
        sn.commit(f"c{i}", f"l{i}")
        chain = f"c{i}"
    mount_all(sn.view("v", chain), mp)


@pytest.mark.parametrize("driver", ["overlay", "native"])
def test_opaque_marker_after_entries_and_rm_mkdir(tmp, driver):
    """shared case 001: the opaque marker hides lower entries only, wherever it
    sits in the stream; a plain whiteout removes one entry."""
    sn = open_snapshotter(os.path.join(tmp, "s"), Database(os.path.join(tmp, "m.db")), driver=driver)
    mp = os.path.join(tmp, "mp")
    os.mkdir(mp)
    _stack(sn, [
        [D("d"), F("d/old1"), D("d/sub"), F("d/sub/old2"), D("k"), F("k/kept"), F("k/gone")],
        [D("d"), F("d/new"), F("d/.wh..wh..opq", b""), D("k"), F("k/.wh.gone", b"")],
        [D("e"), F("e/keep")],
    ], mp)
    try:
        found = sorted(os.path.relpath(os.path.join(dp, n), mp)
                       for dp, dns, fns in os.walk(mp) for n in dns + fns)
        assert found == ["d", "d/new", "e", "e/keep", "k", "k/kept"]
    finally:
        unmount(mp)


@pytest.mark.parametrize("driver", ["overlay", "native"])
def test_entry_kinds_and_metadata(tmp, driver):
    sn = open_snapshotter(os.path.join(tmp, "s"), Database(os.path.join(tmp, "m.db")), driver=driver)
    mp = os.path.join(tmp, "mp")
    os.mkdir(mp)
    long = "d/" + "n" * 200
    _stack(sn, [
        [D("d", mode=0o750, uid=5, gid=6, mtime=1000), F("d/base", b"base"),
         F("d/rewrite", b"one"), H("d/rewrite.hard", "d/rewrite")],
        [F("d/lower.hard.new", b"zz"),
         H("d/copyup", "d/base"),
         F("d/rewrite", b"two"),
         F("d/suid", b"#!", mode=0o4755, uid=1000, gid=1000, mtime=12345),
         D("d/sticky", mode=0o1777),
         (dict(name="d/fifo", type=tarfile.FIFOTYPE, mode=0o640), None),
         (dict(name="d/null", type=tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3), None),
         (dict(name="d/blk", type=tarfile.BLKTYPE, mode=0o600, devmajor=7, devminor=0), None),
         F(long, b"long"),
         (dict(name="d/x", type=tarfile.REGTYPE, mode=0o644,
               pax_headers={"SCHILY.xattr.user.k": "v",
                            "SCHILY.xattr.trusted.overlay.opaque": "y"}), b""),
         L("d/abs", "/etc/passwd")],
    ], mp)
    try:
        d = os.path.join(mp, "d")
        st = os.lstat(d)
        # d was not in layer 2's tar: overlay keeps layer 1's metadata
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 5, 6)
        if driver == "overlay":  # a copy's dir changes as the layer adds to it
            assert st.st_mtime == 1000
        st = os.lstat(os.path.join(d, "suid"))
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o4755, 1000, 1000, 12345)
        assert stat.S_IMODE(os.lstat(os.path.join(d, "sticky")).st_mode) == 0o1777
        assert stat.S_ISFIFO(os.lstat(os.path.join(d, "fifo")).st_mode)
        st = os.lstat(os.path.join(d, "null"))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
        st = os.lstat(os.path.join(d, "blk"))
        assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(7, 0)
        assert open(os.path.join(mp, long), "rb").read() == b"long"
        x = os.path.join(d, "x")
        assert os.getxattr(x, "user.k") == b"v"
        assert "trusted.overlay.opaque" not in os.listxattr(x)
        assert os.readlink(os.path.join(d, "abs")) == "/etc/passwd"
        # rewriting a file does not write through an earlier hardlink to it
        assert open(os.path.join(d, "rewrite"), "rb").read() == b"two"
        assert open(os.path.join(d, "rewrite.hard"), "rb").read() == b"one"
        # a hardlink to a lower layer's file: copied up, same content
        assert open(os.path.join(d, "copyup"), "rb").read() == b"base"
        assert os.lstat(os.path.join(d, "copyup")).st_nlink == 2
    finally:
        unmount(mp)


def test_overlay_whiteouts_are_overlay_format(tmp):
    sn = open_snapshotter(os.path.join(tmp, "s"), Database(os.path.join(tmp, "m.db")), driver="overlay")
    apply_layer(io.BytesIO(_tar([D("d"), F("d/a"), F("f")])), sn.prepare("a"))
    sn.commit("A", "a")
    mounts = sn.prepare("b", "A")
    apply_layer(io.BytesIO(_tar([F(".wh.f", b""), F("d/.wh..wh..opq", b""), F("d/b")])), mounts)
    upper = dict(o.split("=", 1) for o in mounts[0].options if "=" in o)["upperdir"]
    st = os.lstat(os.path.join(upper, "f"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(upper, "d"), "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(os.path.join(upper, ".wh.f"))
    assert sorted(os.listdir(os.path.join(upper, "d"))) == ["b"]


@pytest.mark.parametrize("driver", ["overlay", "native"])
def test_whiteout_then_recreate_in_one_layer_hides_lower(tmp, driver):
    sn = open_snapshotter(os.path.join(tmp, "s"), Database(os.path.join(tmp, "m.db")), driver=driver)
    mp = os.path.join(tmp, "mp")
    os.mkdir(mp)
    _stack(sn, [[D("d"), F("d/old")], [F(".wh.d", b""), D("d"), F("d/new")]], mp)
    try:
        assert os.listdir(os.path.join(mp, "d")) == ["new"]
    finally:
        unmount(mp)


def test_bytes_read_counts_whole_stream(tmp):
    sn = open_snapshotter(os.path.join(tmp, "s"), Database(os.path.join(tmp, "m.db")), driver="native")
    data = _tar([F("a", b"hello")]) + b"\0" * 4096
    assert apply_layer(io.BytesIO(data), sn.prepare("a")) == len(data)


def test_read_only_mounts_refused(tmp):
    from skiff.errors import InvalidArgument
    sn = open_snapshotter(os.path.join(tmp, "s"), Database(os.path.join(tmp, "m.db")), driver="overlay")
    with pytest.raises(InvalidArgument):
        apply_layer(io.BytesIO(_tar([F("a")])), sn.view("v"))


def _snapshot_tree(root: str) -> dict:
    """Comparable view of a tree (dir mtimes left out: applying a layer
    touches the directories it adds to)."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            rec = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                   sorted((k, os.getxattr(p, k, follow_symlinks=False))
                          for k in os.listxattr(p, follow_symlinks=False) if k.startswith("user."))]
            if stat.S_ISREG(st.st_mode):
                rec += [open(p, "rb").read(), st.st_mtime_ns // 10**9]
            elif stat.S_ISLNK(st.st_mode):
                rec += [os.readlink(p)]
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                rec += [st.st_rdev]
            out[os.path.relpath(p, root)] = rec
    return out


@pytest.mark.parametrize("driver", ["overlay", "native"])
def test_write_diff_round_trip(tmp, driver):
    """Changes made in a mounted active snapshot -> write_diff -> apply_layer
    onto the same parent gives the same tree (shared case 001 part B: rm -rf
    + mkdir in one step hides the old contents)."""
    from skiff.snapshots.diff import write_diff

    sn = open_snapshotter(os.path.join(tmp, "s"), Database(os.path.join(tmp, "m.db")), driver=driver)
    base = sn.prepare("b")
    apply_layer(io.BytesIO(_tar([
        D("data"), F("data/old.txt", b"old"), D("data/sub"), F("data/sub/deep.txt", b"old"),
        F("keep", b"keep", mtime=100), F("gone", b"g"), H("hard", "keep"), L("link", "keep"),
        D("dir"), F("dir/f", b"f"), F("same", b"same", mtime=100),
    ])), base)
    sn.commit("B", "b")
    mp = os.path.join(tmp, "mp")
    os.mkdir(mp)
    mount_all(sn.prepare("c", "B"), mp)
    try:
        import shutil
        shutil.rmtree(os.path.join(mp, "data"))
        os.makedirs(os.path.join(mp, "data", "sub"))
        with open(os.path.join(mp, "data", "new.txt"), "w") as f:
            f.write("new")
        os.unlink(os.path.join(mp, "gone"))
        shutil.rmtree(os.path.join(mp, "dir"))
        with open(os.path.join(mp, "keep"), "r+b") as f:  # same size, other bytes
            f.write(b"KEEP")
        os.utime(os.path.join(mp, "keep"), ns=(100 * 10**9, 100 * 10**9))
        os.unlink(os.path.join(mp, "link"))
        os.symlink("data/new.txt", os.path.join(mp, "link"))
        with open(os.path.join(mp, "suid"), "w") as f:
            f.write("#!")
        os.chown(os.path.join(mp, "suid"), 1000, 1000)
        os.chmod(os.path.join(mp, "suid"), 0o4755)
        os.setxattr(os.path.join(mp, "suid"), "user.k", b"v")
        os.link(os.path.join(mp, "suid"), os.path.join(mp, "suid.hard"))
        os.mkfifo(os.path.join(mp, "fifo"))
        os.mknod(os.path.join(mp, "null"), 0o20666, os.makedev(1, 3))
    finally:
        unmount(mp)
    buf = io.BytesIO()
    parent = sn.view("pv", "B") if driver == "native" else None  # overlay: upperdir alone
    size, diff_id = write_diff(buf, sn.mounts("c"), parent)
    sn.commit("C", "c")
    m2 = sn.prepare("c2", "B")
    data = buf.getvalue()
    assert size == len(data) and diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    names = [ti.name for ti in tarfile.open(fileobj=io.BytesIO(data), mode="r|")]
    assert "gone" not in names and ".wh.gone" in names and ".wh.dir" in names
    assert "dir/f" not in names and ".wh.dir/f" not in names
    assert "same" not in names and "keep" in names
    if driver == "overlay":
        assert "data/.wh..wh..opq" in names
    else:
        assert "data/.wh.old.txt" in names and "data/sub/.wh.deep.txt" in names
    apply_layer(io.BytesIO(data), m2)
    sn.commit("C2", "c2")
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b2")
    os.mkdir(a)
    os.mkdir(b)
    mount_all(sn.view("va", "C"), a)
    mount_all(sn.view("vb", "C2"), b)
    try:
        ta, tb = _snapshot_tree(a), _snapshot_tree(b)
        assert ta == tb
        assert sorted(os.listdir(os.path.join(b, "data"))) == ["new.txt", "sub"]
        assert os.listdir(os.path.join(b, "data", "sub")) == []
        assert os.lstat(os.path.join(b, "suid")).st_ino == os.lstat(os.path.join(b, "suid.hard")).st_ino
    finally:
        unmount(a)
        unmount(b)
