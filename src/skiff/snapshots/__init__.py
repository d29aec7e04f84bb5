"""Snapshotters: where image layers are unpacked and containers' writable
layers live (skiff.snapshots.api for the contracts).

``open_snapshotter(root, db)`` picks overlay when the file system under
``root`` supports it (probed once by mounting a tiny overlay there), else the
native (copying) one. Layer tars are applied with
``skiff.snapshots.layer.apply_layer`` and mounts made with
``skiff.snapshots.mount.mount_all``.
"""

from __future__ import annotations

from ..errors import InvalidArgument
from .api import Info, Snapshotter, Usage

__all__ = ["open_snapshotter", "Snapshotter", "Info", "Usage"]


def open_snapshotter(root: str, db, driver: str | None = None) -> Snapshotter:
    """The snapshotter for ``root`` (a directory, made 0700 if absent) with its
    metadata in ``db`` (skiff.metadata.db.Database). ``driver`` forces
    "overlay" or "native"; by default overlay if a probe mount under ``root``
    works, else native. Stale half-made directories are cleaned on open.
    Raises InvalidArgument for an unknown driver."""
    from .native import NativeSnapshotter
    from .overlay import OverlaySnapshotter, supports_overlay

    if driver is None:
        driver = "overlay" if supports_overlay(root) else "native"
    if driver == "overlay":
        sn = OverlaySnapshotter(root, db)
    elif driver == "native":
        sn = NativeSnapshotter(root, db)
    else:
        raise InvalidArgument(f"unknown snapshotter {driver!r}")
    sn.cleanup()
    return sn
