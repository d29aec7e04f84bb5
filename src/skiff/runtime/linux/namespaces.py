"""Namespaces of the container (OCI runtime-spec config-linux.md#namespaces):
new ones are unshare(2)d, those with a ``path`` are setns(2)-joined. The
user namespace is joined/created first so the others belong to it.
"""

from __future__ import annotations

import os

from skiff.errors import InvalidArgument, SystemError_
from skiff.runtime.linux import syscalls as sc

#: spec type -> CLONE_NEW* flag
FLAGS: dict[str, int] = {
    "pid": sc.CLONE_NEWPID, "network": sc.CLONE_NEWNET, "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS, "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP, "time": sc.CLONE_NEWTIME,
}

#: the order in which namespaces with a path are joined (user first, mount last)
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def parse(namespaces: list[dict] | None) -> tuple[int, list[tuple[str, str]]]:
    """linux.namespaces -> (flags to unshare, [(type, path) to join] in JOIN_ORDER).
    Raises InvalidArgument on an unknown or repeated type."""
    flags = 0
    joins: dict[str, str] = {}
    seen = set()
    for ns in namespaces or ():
        t = ns.get("type")
        if t not in FLAGS:
            raise InvalidArgument(f"unknown namespace type {t!r}")
        if t in seen:
            raise InvalidArgument(f"namespace {t} given twice")
        seen.add(t)
        if ns.get("path"):
            joins[t] = ns["path"]
        else:
            flags |= FLAGS[t]
    return flags, [(t, joins[t]) for t in JOIN_ORDER if t in joins]


def join(ns_type: str, path: str) -> None:
    """setns(2) into the namespace file ``path`` (/proc/PID/ns/X, /run/skiff/netns/ID)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise SystemError_(f"open {ns_type} namespace {path}: {os.strerror(e.errno).lower()}",
                           errno=e.errno or 0, path=path) from None
    try:
        sc.setns(fd, FLAGS[ns_type], path)
    finally:
        os.close(fd)


def id_map_text(mappings: list[dict] | None) -> str:
    """linux.uidMappings/gidMappings -> /proc/PID/uid_map text
    ("containerID hostID size" lines)."""
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings or ())


def write_id_maps(pid: int, uid_maps: list[dict] | None, gid_maps: list[dict] | None) -> None:
    """Write the uid/gid maps of ``pid`` (which has just unshared a user
    namespace). setgroups is set to "deny" first when the writer lacks
    CAP_SETGID in the parent namespace (not root), as the kernel requires."""
    if os.geteuid() != 0:
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    if uid_maps:
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(id_map_text(uid_maps))
    if gid_maps:
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(id_map_text(gid_maps))
