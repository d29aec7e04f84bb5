"""rootfs.mount_entry without root: the mount(2) calls are recorded by a
fake in place of skiff.runtime.linux.syscalls.mount (the kernel cannot be
used without root); directories and files are really created in tmp_path.
The same paths run against the kernel in tests/integration/test_runtime.py."""
from __future__ import annotations

import os

import pytest

from skiff import errors
from skiff.runtime.linux import rootfs
from skiff.runtime.linux import syscalls as sc


@pytest.fixture
def calls(monkeypatch):
    recorded = []

    def fake_mount(source, target, fstype, flags=0, data=None):
        if target.startswith("/proc/self/fd/"):
            # a target pinned by an O_PATH fd (rootfs._Pinned): record what it is
            target = os.readlink(target)
        recorded.append((source, target, fstype, flags, data))

    monkeypatch.setattr(sc, "mount", fake_mount)
    return recorded


def test_bind_ro_is_bind_then_remount(tmp_path, calls):
    root = tmp_path / "rootfs"
    root.mkdir()
    src = tmp_path / "data"
    src.mkdir()
    rootfs.mount_entry(str(root), str(tmp_path), {
        "destination": "/mnt/data", "type": "bind", "source": str(src),
        "options": ["rbind", "ro", "nosuid", "rprivate"]})
    assert (root / "mnt" / "data").is_dir()
    target = str(root / "mnt" / "data")
    assert calls[0] == (str(src), target, None, sc.MS_BIND | sc.MS_REC, None)
    assert calls[1] == (None, target, None,
                        sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID, None)
    assert calls[2] == (None, target, None, sc.MS_PRIVATE | sc.MS_REC, None)


def test_bind_of_a_file_creates_a_file_and_relative_source(tmp_path, calls):
    root = tmp_path / "rootfs"
    root.mkdir()
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    rootfs.mount_entry(str(root), str(tmp_path), {
        "destination": "/etc/hosts", "type": "bind", "source": "hosts", "options": ["rbind"]})
    assert (root / "etc" / "hosts").is_file()
    assert calls == [(str(tmp_path / "hosts"), str(root / "etc" / "hosts"), None,
                      sc.MS_BIND | sc.MS_REC, None)]


def test_missing_bind_source_names_the_path(tmp_path, calls):
    with pytest.raises(errors.SystemError_, match="no such file or directory") as ei:
        rootfs.mount_entry(str(tmp_path), str(tmp_path), {
            "destination": "/x", "type": "bind", "source": "/nonexistent/skifftest",
            "options": ["bind"]})
    assert "/nonexistent/skifftest" in str(ei.value)


def test_filesystem_mount_resolves_symlinks_inside(tmp_path, calls):
    root = tmp_path / "rootfs"
    root.mkdir()
    os.symlink("/../../../../etc", root / "link")
    rootfs.mount_entry(str(root), str(tmp_path), {
        "destination": "/link/inner", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "mode=700", "size=1m"]})
    target = str(root / "etc" / "inner")
    assert (root / "etc" / "inner").is_dir()
    assert calls == [("tmpfs", target, "tmpfs", sc.MS_NOSUID, "mode=700,size=1m")]


def test_relative_destination_is_refused(tmp_path, calls):
    with pytest.raises(errors.InvalidArgument):
        rootfs.mount_entry(str(tmp_path), str(tmp_path), {"destination": "rel", "type": "tmpfs"})


def test_cgroup_mount_v1_binds_each_hierarchy(tmp_path, calls):
    root = tmp_path / "rootfs"
    (root / "sys" / "fs" / "cgroup").mkdir(parents=True)
    paths = {"memory": "/sys/fs/cgroup/memory/skiff/c", "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/skiff/c"}
    rootfs.mount_entry(str(root), str(tmp_path), {
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["ro", "nosuid", "noexec", "nodev"]}, paths)
    base = sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV
    cg = str(root / "sys" / "fs" / "cgroup")
    assert calls[0] == ("tmpfs", cg, "tmpfs", base, "mode=755")
    binds = [c for c in calls if c[3] == sc.MS_BIND | sc.MS_REC]
    assert [(c[0], c[1]) for c in binds] == [
        ("/sys/fs/cgroup/cpu,cpuacct/skiff/c", f"{cg}/cpu,cpuacct"),
        ("/sys/fs/cgroup/memory/skiff/c", f"{cg}/memory")]
    assert calls[-1] == (None, cg, None, sc.MS_REMOUNT | sc.MS_RDONLY | base, "mode=755")
    assert os.readlink(f"{cg}/cpu") == "cpu,cpuacct"


def test_mask_and_readonly_paths(tmp_path, calls):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    rootfs.mask_path(str(tmp_path / "dir"))
    rootfs.mask_path(str(tmp_path / "file"))
    rootfs.mask_path(str(tmp_path / "missing"))
    rootfs.readonly_path(str(tmp_path / "missing"))
    assert calls == [("tmpfs", str(tmp_path / "dir"), "tmpfs", sc.MS_RDONLY, None),
                     ("/dev/null", str(tmp_path / "file"), None, sc.MS_BIND, None)]
