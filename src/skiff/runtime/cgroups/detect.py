"""Choose the cgroup implementation once: v2 when ``root`` is a cgroup2
mount holding controllers (``cgroup.controllers`` non-empty), v1 otherwise
(per-controller hierarchies under ``root``/<controller>, this host's hybrid
layout). ``root`` is injectable for tests (default /sys/fs/cgroup).
"""

from __future__ import annotations

import os

from skiff.runtime.cgroups.v1 import V1Manager

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost)
if TYPE_CHECKING:
    from skiff.runtime.cgroups.api import CgroupManager

DEFAULT_ROOT = "/sys/fs/cgroup"

_mode_cache: dict[str, str] = {}


def mode(root: str = DEFAULT_ROOT) -> str:
    """"v2" (unified) or "v1" (legacy/hybrid) for the cgroup tree at ``root``."""
    m = _mode_cache.get(root)
    if m is None:
        m = "v1"
        try:
            with open(os.path.join(root, "cgroup.controllers")) as f:
                if f.read().split():
                    m = "v2"
        except OSError:
            pass
        _mode_cache[root] = m
    return m


def new_manager(path: str, root: str = DEFAULT_ROOT, container_id: str = "",
                resolved: dict | None = None) -> CgroupManager:
    """The CgroupManager for cgroupsPath ``path`` ("/skiff/<id>"; a relative path
    is taken relative to the caller's own cgroup, as runc) under ``root``.
    ``resolved``: the directories a manager's resolved() gave at create time
    (kept in the container's state so that a relative path still names the
    same cgroups when a later command runs from another cgroup)."""
    if mode(root) == "v2":
        from skiff.runtime.cgroups.v2 import V2Manager
        return V2Manager(path, root=root, resolved=resolved)
    return V1Manager(path, root=root, resolved=resolved)


def default_path(container_id: str) -> str:
    """The cgroupsPath used when the spec gives none: "/skiff/<id>"."""
    return f"/skiff/{container_id}"
