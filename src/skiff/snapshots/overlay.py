"""The overlay snapshotter (after containerd's snapshots/overlay).

Each snapshot is ``root/<n>/fs`` (its own layer: the upperdir while active,
a lowerdir once committed) and ``root/<n>/work`` (overlay's workdir); ``<n>``
is a short numeric id so that lowerdir strings stay short. Mounts:

- active, no parent: ``bind`` of fs, options ("rbind", "rw")
- active on a parent: one ``overlay`` with lowerdir = the parent chain
  top-first, upperdir = fs, workdir = work (plus index=off when the kernel
  has the index feature, as Docker and containerd)
- view, no parent: ``bind`` of its (empty) fs, ("rbind", "ro")
- view of a base snapshot: ``bind`` of the parent's fs, ("rbind", "ro")
- view of a longer chain: ``overlay`` with lowerdir only, "ro"

``skiff.snapshots.mount.mount_all`` mounts chains whose options exceed a page
from the layers' common directory with relative paths.
"""

from __future__ import annotations

import os
import shutil

from ..types import Mount
from .api import KIND_ACTIVE
from .base import DirSnapshotter


def _index_off() -> tuple[str, ...]:
    return ("index=off",) if os.path.exists("/sys/module/overlay/parameters/index") else ()


class OverlaySnapshotter(DirSnapshotter):
    """Snapshotter on overlayfs (skiff.snapshots.api.Snapshotter contracts)."""

    driver = "overlay"

    def _populate(self, tmpdir: str, kind: str, parents: list[int]) -> None:
        fs = os.path.join(tmpdir, "fs")
        os.mkdir(fs, 0o755)
        if kind == KIND_ACTIVE:
            os.mkdir(os.path.join(tmpdir, "work"), 0o711)
        if parents:
            # the merged root takes the upper root's owner
            st = os.stat(self.fs(parents[0]))
            os.chown(fs, st.st_uid, st.st_gid)
            os.chmod(fs, st.st_mode & 0o7777)

    def _mounts(self, sid: int, kind: str, parents: list[int]) -> list[Mount]:
        if not parents:
            rw = "rw" if kind == KIND_ACTIVE else "ro"
            return [Mount(type="bind", source=self.fs(sid), options=("rbind", rw))]
        lower = ":".join(self.fs(p) for p in parents)
        if kind == KIND_ACTIVE:
            opts = _index_off() + (f"lowerdir={lower}", f"upperdir={self.fs(sid)}",
                                   f"workdir={self.work(sid)}")
            return [Mount(type="overlay", source="overlay", options=opts)]
        if len(parents) == 1:
            return [Mount(type="bind", source=self.fs(parents[0]), options=("rbind", "ro"))]
        return [Mount(type="overlay", source="overlay",
                      options=("ro",) + _index_off() + (f"lowerdir={lower}",))]


def supports_overlay(root: str) -> bool:
    """Probe once: can an overlay (with a whiteout in its upper layer) be
    mounted with its layers under ``root``? Leaves nothing behind."""
    import tempfile

    from .mount import mount, unmount

    os.makedirs(root, mode=0o700, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="probe-", dir=root)
    merged = os.path.join(tmp, "merged")
    try:
        for d in ("l1", "l2", "u", "w", "merged"):
            os.mkdir(os.path.join(tmp, d))
        open(os.path.join(tmp, "l2", "f"), "w").close()
        os.mknod(os.path.join(tmp, "u", "f"), 0o20600, os.makedev(0, 0))
        data = f"lowerdir={tmp}/l1:{tmp}/l2,upperdir={tmp}/u,workdir={tmp}/w"
        try:
            mount("overlay", merged, "overlay", 0, data)
        except Exception:
            return False
        try:
            return not os.path.lexists(os.path.join(merged, "f"))
        finally:
            unmount(merged, detach=True)
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
