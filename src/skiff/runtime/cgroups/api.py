"""The CgroupManager protocol: one container's cgroup, v1 or v2 behind the
same small interface (after youki's libcgroups). Resources follow OCI
runtime-spec config-linux.md#control-groups (the ``linux.resources`` dict:
memory, cpu, pids, blockIO, devices...), values in bytes, microseconds and
shares as the spec says.
"""

from __future__ import annotations

from typing import Protocol


class CgroupManager(Protocol):
    """One container's cgroup (all v1 hierarchies, or one v2 directory).

    ``path`` is the cgroupsPath ("/skiff/<id>"). Methods raise
    skiff.errors.SystemError_ (kernel refused a write) or InvalidArgument
    (malformed resources).
    """

    path: str

    def create(self) -> None:
        """Make the cgroup directories (idempotent)."""

    def apply(self, pid: int, unified: bool = True) -> None:
        """Move process ``pid`` into the cgroup (cgroup.procs; v1: the
        hybrid cgroup2 tree too unless ``unified`` is False)."""

    def set(self, resources: dict) -> None:
        """Write OCI ``linux.resources`` into the cgroup files."""

    def freeze(self) -> None:
        """Freeze every process of the cgroup."""

    def thaw(self) -> None:
        """Thaw a frozen cgroup."""

    def stats(self) -> dict:
        """{"memory": {"usage": bytes, "limit": bytes, ...}, "pids": {"current": n,
        "limit": n}, "cpu": {"usage_ns": ns}} as available."""

    def pids(self) -> list[int]:
        """Host pids of the processes in the cgroup."""

    def remove(self) -> None:
        """Remove the cgroup directories (must be empty of processes; retries
        briefly on EBUSY; missing directories are fine)."""

    def paths(self) -> dict[str, str]:
        """Controller ("" for v2) -> host directory of this cgroup."""


from skiff.runtime.cgroups.v1 import parse_pids  # noqa: E402,F401


#: OCI int64 value meaning "no limit"
UNLIMITED = -1
