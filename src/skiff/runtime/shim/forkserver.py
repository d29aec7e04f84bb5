"""The shim fork server: a warm, single-threaded process that forks shims.

Starting a shim by exec'ing a new interpreter costs its start-up and imports
(about 35 ms here) on every container start. skiffd starts this server once;
it imports the shim and the runtime, then forks a shim per request. It has
no threads, so forking it is safe (DESIGN.md "Keeping it fast"); the forked
child detaches exactly as an exec'd shim does (double fork, setsid), so
shims never depend on the server or the daemon.

Protocol on the unix socket (mode 0600): the client sends one message, a
JSON object {"argv": [shim arguments without --report-fd]}, with one file
descriptor attached (SCM_RIGHTS): the write end of the report pipe. The
server answers one JSON line {"pid": N} (the forked child, already reaped
by the server) or {"error": "..."}; the shim's own report arrives on the
pipe, as from an exec'd shim.

Run: ``python -m skiff.runtime.shim.forkserver SOCKET``. It exits when its
parent (the daemon) dies (PR_SET_PDEATHSIG) or on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

MAX_MSG = 1 << 16


def _preload() -> None:
    # what every shim needs, imported once here instead of once per container
    import skiff.runtime.shim.__main__  # noqa: F401
    import skiff.runtime.shim.server  # noqa: F401
    try:
        import skiff.runtime.linux.container  # noqa: F401
        import skiff.runtime.linux.init  # noqa: F401
    except ImportError:
        pass
    # what a shim and the in-process runtime import lazily: once here, shared
    # by every shim (less start time and less memory of its own per container)
    import importlib
    for name in ("asyncio", "subprocess", "traceback", "shutil", "fcntl", "struct", "termios", "ctypes", "resource",
                 "skiff.logs.jsonfile", "skiff.runtime.linux.namespaces",
                 "skiff.runtime.linux.hooks", "skiff.runtime.linux.procattr",
                 "skiff.runtime.cgroups", "skiff.runtime.cgroups.v1",
                 "skiff.runtime.seccomp", "skiff.runtime.seccomp_default",
                 "skiff.runtime.linux.validate", "skiff.runtime.user",
                 "skiff.runtime.cgroups._runcstats", "skiff.runtime.cgroups.detect"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _set_pdeathsig(sig: int) -> None:
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(path: str) -> int:
    """Listen on ``path`` and fork a shim per request until killed."""
    _set_pdeathsig(signal.SIGTERM)
    # the shims share the preloaded modules' pages with this process: no
    # collection here leaves holes in them, and frozen objects are never
    # touched by a shim's collector (Python docs, gc.freeze), so fewer pages
    # are copied on write: ~1 MB less PSS per container
    import gc
    gc.disable()
    _preload()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        srv.bind(path)
    finally:
        os.umask(old)
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        fds: list[int] = []
        try:
            msg, fds, _flags, _addr = socket.recv_fds(conn, MAX_MSG, 4)
            req = json.loads(msg or b"{}")
            argv = [str(a) for a in req.get("argv") or []]
            if len(fds) != 1 or not argv:
                raise ValueError("expected argv and one report fd")
            pid = os.fork()
            if pid == 0:  # the shim-to-be
                code = 1
                try:
                    srv.close()
                    conn.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    _set_pdeathsig(0)
                    gc.enable()
                    from skiff.runtime.shim.__main__ import main
                    code = main(argv + ["--report-fd", str(fds[0])])
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else 1
                except BaseException:  # noqa: BLE001 - report and never return into the loop
                    import traceback
                    traceback.print_exc()
                finally:
                    os._exit(code if isinstance(code, int) else 1)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        except Exception as e:  # a bad request must not end the server
            try:
                conn.sendall(json.dumps({"error": str(e)}).encode() + b"\n")
            except OSError:
                pass
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            conn.close()


def request(path: str, argv: list[str], report_fd: int, timeout: float = 5.0) -> int:
    """Ask the server at ``path`` for a shim with ``argv`` reporting on
    ``report_fd``. Returns the forked pid; OSError when the server is not
    there or refused."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        socket.send_fds(s, [json.dumps({"argv": argv}).encode()], [report_fd])
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    rep = json.loads(data or b"{}")
    if "pid" not in rep:
        raise OSError(f"shim fork server: {rep.get('error') or 'no answer'}")
    return int(rep["pid"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m skiff.runtime.shim.forkserver SOCKET\n")
        sys.exit(2)
    sys.exit(serve(sys.argv[1]))
