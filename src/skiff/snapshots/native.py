"""The native snapshotter: full copies, for when overlay is not available
(after containerd's snapshots/native).

Each snapshot is ``root/<n>/fs``. An active snapshot on a parent starts as a
full copy of the parent's tree (``cp -a`` semantics: owners, modes, xattrs,
hardlinks, devices, mtimes: :func:`skiff.snapshots.copy.copy_tree`) and is
given as a ``bind`` mount ("rbind", "rw"); a view is a read-only bind of the
parent's tree (committed trees never change, so no copy is needed), or of its
own empty tree without a parent. Layers are applied to it with whiteouts as
deletions.
"""

from __future__ import annotations

import os

from ..types import Mount
from .api import KIND_ACTIVE
from .base import DirSnapshotter
from .copy import copy_tree


class NativeSnapshotter(DirSnapshotter):
    """Copying snapshotter (skiff.snapshots.api.Snapshotter contracts)."""

    driver = "native"

    def _populate(self, tmpdir: str, kind: str, parents: list[int]) -> None:
        fs = os.path.join(tmpdir, "fs")
        if kind == KIND_ACTIVE and parents:
            copy_tree(self.fs(parents[0]), fs)
        else:
            os.mkdir(fs, 0o755)

    def _mounts(self, sid: int, kind: str, parents: list[int]) -> list[Mount]:
        if kind == KIND_ACTIVE:
            return [Mount(type="bind", source=self.fs(sid), options=("rbind", "rw"))]
        src = self.fs(parents[0]) if parents else self.fs(sid)
        return [Mount(type="bind", source=src, options=("rbind", "ro"))]
