"""Both snapshotters pass the conformance suite
(skiff.testing.snapshotter_conformance); plus what is specific to each:
overlay's mount shapes, long lowerdir chains, the probe, mount options."""
from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

from skiff.errors import SystemError_
from skiff.metadata.db import Database
from skiff.snapshots import open_snapshotter
from skiff.snapshots.mount import MS_BIND, MS_NODEV, MS_NOSUID, MS_RDONLY, MS_REC, MS_PRIVATE, \
    is_mountpoint, mount_all, parse_options, unmount
from skiff.snapshots.native import NativeSnapshotter
from skiff.snapshots.overlay import OverlaySnapshotter, supports_overlay
from skiff.testing.snapshotter_conformance import CHECKS, mounted
from skiff.types import Mount

pytestmark = pytest.mark.integration

FACTORIES = {"overlay": OverlaySnapshotter, "native": NativeSnapshotter}


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__[6:])
@pytest.mark.parametrize("driver", sorted(FACTORIES))
def test_conformance(driver, check):
    check(FACTORIES[driver])


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="skifftest-snap-")
    yield d
    with open("/proc/self/mountinfo") as f:
        mps = [line.split()[4] for line in f if d in line.split()[4]]
    for mp in reversed(mps):
        subprocess.run(["umount", "-l", mp], check=False)
    subprocess.run(["rm", "-rf", "--one-file-system", d], check=False)


def test_open_snapshotter_picks_overlay_and_leaves_no_probe(tmp):
    root = os.path.join(tmp, "s")
    sn = open_snapshotter(root, Database(os.path.join(tmp, "m.db")))
    assert isinstance(sn, OverlaySnapshotter)
    assert os.listdir(root) == []
    assert oct(os.stat(root).st_mode & 0o777) == oct(0o700)


def test_probe_fails_on_overlay_backing(tmp):
    """An overlayfs cannot be an upperdir: a root on overlay gets native."""
    for d in ("l", "u", "w", "m"):
        os.mkdir(os.path.join(tmp, d))
    mount_all([Mount("overlay", "overlay", (f"lowerdir={tmp}/l", f"upperdir={tmp}/u",
                                            f"workdir={tmp}/w"))], f"{tmp}/m")
    try:
        assert not supports_overlay(os.path.join(tmp, "m", "s"))
        sn = open_snapshotter(os.path.join(tmp, "m", "s"), Database(os.path.join(tmp, "m.db")))
        assert isinstance(sn, NativeSnapshotter)
    finally:
        unmount(f"{tmp}/m")


def test_overlay_mount_shapes(tmp):
    sn = OverlaySnapshotter(os.path.join(tmp, "s"), Database(os.path.join(tmp, "m.db")))
    root = sn.root
    base = sn.prepare("a")
    assert base == [Mount("bind", f"{root}/1/fs", ("rbind", "rw"))]
    sn.commit("A", "a")
    assert sn.view("v1", "A") == [Mount("bind", f"{root}/1/fs", ("rbind", "ro"))]
    [m] = sn.prepare("b", "A")
    assert m.type == "overlay"
    assert f"lowerdir={root}/1/fs" in m.options
    assert f"upperdir={root}/3/fs" in m.options and f"workdir={root}/3/work" in m.options
    sn.commit("B", "b")
    [v] = sn.view("v2", "B")
    assert v.type == "overlay" and "ro" in v.options
    assert f"lowerdir={root}/3/fs:{root}/1/fs" in v.options
    assert not any(o.startswith("upperdir") for o in v.options)


def test_long_lowerdir_chain_mounts(tmp):
    """More layers than one page of lowerdir= holds: mounted from the layers'
    directory with relative paths (containerd's trick)."""
    root = os.path.join(tmp, "a-rather-long-directory-name-to-make-paths-long" * 2, "snapshots")
    sn = OverlaySnapshotter(root, Database(os.path.join(tmp, "m.db")))
    parent = ""
    n = 45
    for i in range(n):
        m = sn.prepare(f"l{i}", parent)
        with mounted(m, tmp) as mp:
            with open(os.path.join(mp, f"f{i}"), "w") as f:
                f.write(str(i))
        sn.commit(f"L{i}", f"l{i}")
        parent = f"L{i}"
    [m] = sn.prepare("top", parent)
    assert len(",".join(m.options)) > os.sysconf("SC_PAGESIZE")
    with mounted([m], tmp) as mp:
        assert sorted(os.listdir(mp)) == sorted(f"f{i}" for i in range(n))
        with open(os.path.join(mp, "f0")) as f:
            assert f.read() == "0"
        with open(os.path.join(mp, "new"), "w") as f:
            f.write("x")
    assert os.path.exists(os.path.join(sn.fs(n + 1), "new"))


def test_parse_options():
    flags, prop, data = parse_options(["rbind", "ro", "nosuid", "nodev", "rprivate",
                                       "lowerdir=/a:/b", "index=off"])
    assert flags == MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV
    assert prop == MS_PRIVATE | MS_REC
    assert data == "lowerdir=/a:/b,index=off"
    assert parse_options(["ro", "rw"])[0] == 0
    assert parse_options(["defaults"]) == (0, 0, "")


def test_bind_ro_and_target_inside(tmp):
    src = os.path.join(tmp, "src")
    os.makedirs(os.path.join(src, "sub"))
    mp = os.path.join(tmp, "mp")
    os.makedirs(os.path.join(mp, "inner"))
    os.symlink("/", os.path.join(mp, "escape"))
    mount_all([Mount("bind", src, ("rbind", "ro", "nosuid")),
               Mount("tmpfs", "tmpfs", ("size=1m",), target="sub")], mp)
    try:
        assert is_mountpoint(mp) and is_mountpoint(os.path.join(mp, "sub"))
        with pytest.raises(OSError):
            open(os.path.join(mp, "x"), "w")
        open(os.path.join(mp, "sub", "x"), "w").close()  # the tmpfs is writable
    finally:
        unmount(os.path.join(mp, "sub"))
        unmount(mp)
    assert not is_mountpoint(mp)


def test_mount_all_undoes_on_failure(tmp):
    src = os.path.join(tmp, "src")
    os.mkdir(src)
    mp = os.path.join(tmp, "mp")
    os.mkdir(mp)
    with pytest.raises(SystemError_) as ei:
        mount_all([Mount("bind", src, ("rbind",)),
                   Mount("overlay", "overlay", ("lowerdir=/nonexistent-skifftest",))], mp)
    assert ei.value.errno != 0
    assert not is_mountpoint(mp)


def test_unmount_errors_carry_errno(tmp):
    with pytest.raises(SystemError_) as ei:
        unmount(tmp)
    assert ei.value.errno == 22  # EINVAL: not a mount point
    assert tmp in str(ei.value)


def test_native_copy_preserves_everything(tmp):
    """cp -a semantics: owners, modes incl. setuid/sticky, mtimes, xattrs,
    hardlinks, symlinks (not followed), devices, FIFOs."""
    from skiff.snapshots.copy import copy_tree

    src = os.path.join(tmp, "src")
    os.makedirs(os.path.join(src, "d", "e"))
    f = os.path.join(src, "d", "f")
    with open(f, "wb") as fh:
        fh.write(b"data" * 1000)
    os.chown(f, 1000, 1001)
    os.chmod(f, 0o4750)
    os.setxattr(f, "user.k", b"v")
    os.setxattr(f, "trusted.skifftest", b"t")
    os.link(f, os.path.join(src, "hard"))
    os.symlink("/etc/passwd", os.path.join(src, "abs"))
    os.lchown(os.path.join(src, "abs"), 7, 8)
    os.mknod(os.path.join(src, "null"), 0o20666, os.makedev(1, 3))
    os.mkfifo(os.path.join(src, "fifo"), 0o640)
    os.chmod(os.path.join(src, "d", "e"), 0o1777)
    os.chown(src, 5, 6)
    os.chmod(src, 0o750)
    for p in (f, os.path.join(src, "d", "e"), os.path.join(src, "d"), src):
        os.utime(p, ns=(1_000_000_000, 2_000_000_123))
    os.utime(os.path.join(src, "abs"), ns=(1, 3_000_000_000), follow_symlinks=False)
    dst = os.path.join(tmp, "dst")
    copy_tree(src, dst)

    def snap(root):
        out = {}
        for dp, dns, fns in os.walk(root):
            for n in [""] + dns + fns:
                p = os.path.join(dp, n) if n else dp
                st = os.lstat(p)
                out[os.path.relpath(p, root)] = (
                    st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_nlink, st.st_rdev,
                    os.readlink(p) if os.path.islink(p) else
                    open(p, "rb").read() if os.path.isfile(p) else None,
                    sorted((k, os.getxattr(p, k, follow_symlinks=False))
                           for k in os.listxattr(p, follow_symlinks=False)))
        return out

    assert snap(dst) == snap(src)
    assert os.lstat(os.path.join(dst, "hard")).st_ino == os.lstat(os.path.join(dst, "d", "f")).st_ino
    assert os.lstat(os.path.join(dst, "hard")).st_ino != os.lstat(f).st_ino
