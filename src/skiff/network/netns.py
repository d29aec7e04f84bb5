"""Named network namespaces: a netns kept alive by a bind mount of its nsfs
file (as ``ip netns add`` does, but at a path of our choosing,
``<exec-root>/netns/<id>``), and running code inside one.

Each namespace switch happens in a short-lived thread (setns(2) with
CLONE_NEWNET changes only the calling thread), so the daemon's own threads
never leave the host's namespace. Sockets opened inside keep their namespace
after the thread ends: that is how the embedded DNS server listens inside a
container's namespace while served from the daemon's event loop.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from ..errors import SystemError_
from ..runtime.linux import syscalls as sc

CLONE_NEWNET = 0x40000000
MNT_DETACH = 2


def run_in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn()`` in a new thread and return its result (re-raising its
    exception). Used for blocking netlink calls from inside an event loop."""
    box: dict = {}

    def body():
        try:
            box["r"] = fn()
        except BaseException as e:  # handed to the caller
            box["e"] = e

    t = threading.Thread(target=body, name="skiff-netns", daemon=True)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box.get("r")


def run_in(path: str | None, fn: Callable[[], Any]) -> Any:
    """Run ``fn()`` in a new thread that first joins the network namespace at
    ``path`` (None: the host's). Returns fn's result. SystemError_ when the
    namespace cannot be joined."""
    if not path:
        return run_in_thread(fn)

    def inner():
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(fd, CLONE_NEWNET, path)
        finally:
            os.close(fd)
        return fn()
    return run_in_thread(inner)


def create(path: str) -> str:
    """Make a new network namespace and bind-mount it at ``path`` (its
    parent is created 0711). Returns ``path``. Its ``lo`` is brought up by
    the caller (skiff.network.netlink.setup_lo). SystemError_ on failure."""
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)

    def inner():
        sc.unshare(CLONE_NEWNET)
        sc.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, sc.MS_BIND)
    try:
        run_in_thread(inner)
    except BaseException:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    return path


def is_netns(path: str) -> bool:
    """True when ``path`` is a mounted namespace file."""
    try:
        return os.path.ismount(path) or _on_nsfs(path)
    except OSError:
        return False


def _on_nsfs(path: str) -> bool:
    NSFS_MAGIC = 0x6E736673
    try:
        import ctypes
        buf = ctypes.create_string_buffer(120)
        lib = sc.libc()
        lib.statfs.argtypes = (ctypes.c_char_p, ctypes.c_void_p)
        if lib.statfs(os.fsencode(path), buf) != 0:
            return False
        return int.from_bytes(buf.raw[:8], "little") == NSFS_MAGIC
    except Exception:
        return False


def delete(path: str) -> None:
    """Unmount (lazily) and remove a namespace made by :func:`create`; a
    missing one is fine. The namespace itself ends when its last user goes."""
    for _ in range(4):
        try:
            sc.umount2(path, MNT_DETACH)
        except SystemError_:
            break
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        os.rmdir(path)


def inode(path: str) -> int:
    """The namespace inode number (to compare namespaces)."""
    return os.stat(path).st_ino
