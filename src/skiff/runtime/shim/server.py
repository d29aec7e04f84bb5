"""The shim's server: one single-threaded ``selectors`` event loop that holds
the container's stdio, writes its json-file log, fans output out to attached
clients, reaps (as child subreaper) and records the exit status. The wire
protocol is in :mod:`skiff.runtime.shim.protocol`.

Runtimes: ``"skiff"`` runs skiff.runtime.linux.container in-process (see
skiff.runtime.api); any other value is the path of a runc-compatible binary
driven by its command line (``R --root ROOT --log F --log-format json create
--bundle B --pid-file P [--console-socket S] ID``, ``start``, ``kill``,
``delete``, ``exec --detach --process F``, ``pause``, ``resume``).

Processes: the container's init and any number of exec'd processes (``docker
exec``), each a :class:`Proc` with its own stdio, attach streams, waiters and
exit status; only the init's output goes to the json-file log and only the
init's exit is recorded in exit.json and ends the shim.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import signal
import socket
import sys
import time

from skiff.errors import Conflict, ExecError, InvalidArgument, NotModified, SkiffError
from skiff.runtime.shim import protocol as P

DRAIN_TIMEOUT = 2.0        # s to drain output after the init exited
LINGER_TOLD = 1.0          # s to stay after a waiter was answered
LINGER_ALONE = 5.0         # s to stay when nobody asked for the exit status
MAX_CLIENT_BUFFER = 64 << 20  # bytes queued for a slow attach client before dropping it


def log(msg: str) -> None:
    """One line to the shim's own log (its stderr is bundle/shim.log)."""
    try:
        os.write(2, f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {msg}\n".encode())
    except OSError:
        pass


def short_path(path: str) -> tuple[str, int | None]:
    """A path usable in sockaddr_un (108 bytes): long paths go through
    /proc/self/fd/N of their directory. Returns (path, fd to close or None)."""
    if len(path.encode()) < 100:
        return path, None
    d, name = os.path.split(path)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{name}", fd


def exec_error_from_message(msg: str) -> ExecError | None:
    """runc's wording -> ExecError with Docker's exit code (127 not found, 126 not executable)."""
    low = msg.lower()
    if "executable file not found" in low or "no such file or directory" in low:
        code = 127
    elif "permission denied" in low or "is a directory" in low or "exec format error" in low:
        code = 126
    else:
        return None
    i = msg.find("exec: ")
    return ExecError(msg[i:] if i >= 0 else msg, exit_code=code)


# --------------------------------------------------------------------------- runtimes

class RuncRuntime:
    """A runc-compatible binary driven by its command line."""

    GENERIC_FAILURE = " failed without a message"

    def __init__(self, binary: str, root: str, container_id: str, bundle: str):
        self.binary, self.root, self.id, self.bundle = binary, root, container_id, bundle
        self.log_file = os.path.join(bundle, "runtime-log.json")

    def _run(self, *args: str, stdio=(None, None, None), check: bool = True):
        import subprocess
        argv = [self.binary, "--root", self.root, "--log", self.log_file, "--log-format", "json",
                *args]
        r = subprocess.run(argv, stdin=stdio[0] if stdio[0] is not None else subprocess.DEVNULL,
                           stdout=stdio[1] if stdio[1] is not None else subprocess.DEVNULL,
                           stderr=stdio[2] if stdio[2] is not None else subprocess.PIPE,
                           close_fds=True)
        if r.returncode != 0 and check:
            msg = self._last_error() or (r.stderr or b"").decode(errors="replace").strip() \
                or f"{os.path.basename(self.binary)} {args[0]}{self.GENERIC_FAILURE}"
            raise self._error(msg)
        return r

    def _last_error(self) -> str:
        try:
            with open(self.log_file, "rb") as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("level") in ("error", "fatal"):
                return str(d.get("msg", "")).strip()
        return ""

    def _error(self, msg: str) -> SkiffError:
        e = exec_error_from_message(msg)
        if e:
            return e
        low = msg.lower()
        from skiff.errors import NotFound
        if "already exists" in low:
            return Conflict(msg)
        if "does not exist" in low or "not found" in low:
            return NotFound(msg)
        return SkiffError(msg)

    def create(self, stdio, console_socket, pid_file) -> int:
        try:
            os.unlink(self.log_file)
        except FileNotFoundError:
            pass
        args = ["create", "--bundle", self.bundle, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        self._run(*args, self.id, stdio=stdio)
        with open(pid_file) as f:
            return int(f.read().strip())

    def start(self) -> None:
        self._run("start", self.id)

    def kill(self, sig: int, all: bool = False) -> None:
        self._run("kill", *(["--all"] if all else []), self.id, str(sig))

    def delete(self, force: bool = False) -> None:
        self._run("delete", *(["--force"] if force else []), self.id, check=False)

    def exec(self, process: dict, stdio, console_socket, pid_file) -> int:
        pfile = pid_file + ".process.json"
        with open(pfile, "w") as f:
            json.dump(process, f)
        try:
            args = ["exec", "--detach", "--process", pfile, "--pid-file", pid_file]
            if console_socket:
                args += ["--console-socket", console_socket]
            self._run(*args, self.id, stdio=stdio)
            with open(pid_file) as f:
                return int(f.read().strip())
        finally:
            for p in (pfile, pid_file):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    def pause(self) -> None:
        self._run("pause", self.id)

    def resume(self) -> None:
        self._run("resume", self.id)


class SkiffRuntime:
    """skiff.runtime.linux.container, in-process (skiff.runtime.api)."""

    def __init__(self, root: str, container_id: str, bundle: str):
        from skiff.runtime.linux import container as lib
        self.lib, self.root, self.id, self.bundle = lib, root, container_id, bundle

    def create(self, stdio, console_socket, pid_file) -> int:
        return self.lib.create(self.root, self.id, self.bundle, stdio=stdio,
                               console_socket=console_socket, pid_file=pid_file)

    def start(self) -> None:
        self.lib.start(self.root, self.id)

    def kill(self, sig: int, all: bool = False) -> None:
        self.lib.kill(self.root, self.id, sig, all=all)

    def delete(self, force: bool = False) -> None:
        try:
            self.lib.delete(self.root, self.id, force=force)
        except SkiffError as e:
            log(f"runtime delete: {e}")

    def exec(self, process: dict, stdio, console_socket, pid_file) -> int:
        try:
            return self.lib.exec_process(self.root, self.id, process, stdio=stdio,
                                         console_socket=console_socket, pid_file=pid_file)
        finally:
            try:
                os.unlink(pid_file)
            except FileNotFoundError:
                pass

    def pause(self) -> None:
        self._call("pause")

    def resume(self) -> None:
        self._call("resume")

    def _call(self, name: str) -> None:
        fn = getattr(self.lib, name, None)
        if fn is None:
            raise SkiffError(f"{name} is not supported by the skiff runtime")
        fn(self.root, self.id)


def make_runtime(name: str, root: str, container_id: str, bundle: str):
    """``"skiff"`` -> SkiffRuntime, anything else -> RuncRuntime(binary path)."""
    if name in ("skiff", "", None):
        return SkiffRuntime(root, container_id, bundle)
    return RuncRuntime(name, root, container_id, bundle)


# --------------------------------------------------------------------------- loop

class Conn:
    """One client connection: request/response lines, then maybe an attach stream."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.proc: "Proc | None" = None  # set once the connection is an attach stream
        self.want = {"stdin": False, "stdout": False, "stderr": False}
        self.read_eof = False
        self.closing = False  # close once outbuf is flushed
        self.closed = False


class Proc:
    """A process the shim holds: the init ("" key) or an exec (its exec id).

    Owns the process's stdio (pipes or a pty master), its attach streams, its
    waiters and its exit status; ``log`` (init only) gets its output records."""

    def __init__(self, shim: "Shim", key: str, *, tty: bool, stdin: bool, stdin_once: bool):
        self.shim = shim
        self.key = key
        self.tty, self.stdin_open, self.stdin_once = tty, stdin, stdin_once
        self.pid = 0
        self.outputs: dict[int, str] = {}     # fd -> "stdout"|"stderr"
        self.splitters: dict[str, object] = {}
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_closing = False
        self.pty_master = -1
        self.exit: dict | None = None
        self.finalized = False
        self.waiters: list[Conn] = []
        self._out_r = self._err_r = -1
        self._console = None
        self._console_path = None
        self._child_fds: list[int] = []

    @property
    def label(self) -> str:
        return f"exec {self.key}" if self.key else "init"

    # ---- stdio
    def prepare_stdio(self) -> tuple[tuple[int, int, int], str | None]:
        """Make the process's stdio; returns (the child's (in, out, err), console socket path)."""
        if self.tty:
            path = os.path.join("/tmp", f"skiff-console-{os.getpid()}-{len(self.shim.procs)}.sock")
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(1)
            self._console, self._console_path = sock, path
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            self._child_fds.append(null)
            return (null, null, null), path
        if self.stdin_open:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            self._child_fds.append(in_r)
            self.stdin_fd = in_w
            os.set_blocking(in_w, False)
        else:
            in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            self._child_fds.append(in_r)
        self._out_r, out_w = os.pipe2(os.O_CLOEXEC)
        self._err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self._child_fds += [out_w, err_w]
        return (in_r, out_w, err_w), None

    def adopt_stdio(self, emit=None) -> None:
        """After the runtime made the process: take the pty master or the pipes'
        read ends into the loop; ``emit(stream, record)`` gets log records."""
        if self.tty:
            self._console.settimeout(10)
            conn, _ = self._console.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            if not fds:
                raise SkiffError(f"no console received for the {self.label} of container {self.shim.id}")
            self.pty_master = fds[0]
            os.set_blocking(self.pty_master, False)
            self.outputs[self.pty_master] = "stdout"
            if self.stdin_open:
                self.stdin_fd = self.pty_master
            self._close_console()
        else:
            os.set_blocking(self._out_r, False)
            os.set_blocking(self._err_r, False)
            self.outputs[self._out_r] = "stdout"
            self.outputs[self._err_r] = "stderr"
            self._out_r = self._err_r = -1
        if emit is not None:
            from skiff.logs.jsonfile import LineSplitter
            for name in set(self.outputs.values()):
                self.splitters[name] = LineSplitter(name, emit)
        for fd in self.outputs:
            self.shim.on_read(fd, self._on_output)

    def release_setup(self) -> None:
        """Close the child's ends of the stdio (after create/exec, failed or not)."""
        for fd in self._child_fds:
            os.close(fd)
        self._child_fds = []

    def _close_console(self) -> None:
        if self._console is not None:
            self._console.close()
            self._console = None
            try:
                os.unlink(self._console_path)
            except OSError:
                pass

    def abandon(self) -> None:
        """After a failed create/exec: close everything the process would have used."""
        self.release_setup()
        self._close_console()
        for fd in (self._out_r, self._err_r, self.stdin_fd):
            if fd >= 0:
                os.close(fd)
        self._out_r = self._err_r = self.stdin_fd = -1

    def runtime_stderr(self) -> str:
        """What a runc-like runtime printed on the (not yet adopted) stderr pipe."""
        if self._err_r < 0:
            return ""
        return Shim._drain_nonblocking(self._err_r).decode(errors="replace").strip()

    # ---- output
    def _on_output(self, fd):
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: pty with no slave left
                log(f"read output of {self.label}: {e}")
            data = b""
        if not data:
            self._close_output(fd)
            if not self.outputs and self.exit is not None:
                self.finalize()
            return
        self._output(fd, data)

    def _output(self, fd: int, data: bytes) -> None:
        stream = self.outputs.get(fd, "stdout")
        sp = self.splitters.get(stream)
        if sp:
            sp.feed(data)
        chunk = data if self.tty else P.frame(P.STREAM_IDS[stream], data)
        for c in list(self.shim.conns.values()):
            if c.proc is self and c.want[stream] and not c.closed:
                c.outbuf += chunk
                if len(c.outbuf) > MAX_CLIENT_BUFFER:
                    log("dropping a slow attach client")
                    self.shim._close_conn(c)
                    continue
                self.shim._flush_conn(c)

    def _close_output(self, fd: int) -> None:
        if fd in self.outputs:
            self.shim.off_read(fd)
            del self.outputs[fd]
            if fd == self.pty_master:
                if self.stdin_fd == fd:
                    self.shim.off_write(fd)
                    self.stdin_fd = -1
                self.pty_master = -1
            os.close(fd)

    # ---- stdin
    def stdin_write(self, data: bytes) -> None:
        if self.stdin_fd < 0 or self.stdin_closing:
            return
        self.stdin_buf += data
        self._flush_stdin(self.stdin_fd)

    def _flush_stdin(self, fd):
        while self.stdin_buf and self.stdin_fd >= 0:
            try:
                n = os.write(self.stdin_fd, self.stdin_buf[:65536])
            except BlockingIOError:
                break
            except OSError:  # EPIPE: nobody reads stdin any more
                self.stdin_buf.clear()
                break
            del self.stdin_buf[:n]
        if self.stdin_fd < 0:
            return
        if self.stdin_buf:
            self.shim.on_write(self.stdin_fd, self._flush_stdin)
        else:
            self.shim.off_write(self.stdin_fd)
            if self.stdin_closing:
                self.close_stdin_now()

    def close_stdin(self) -> None:
        """EOF on the process's stdin once what is queued was written."""
        if self.stdin_fd < 0:
            return
        self.stdin_closing = True
        if not self.stdin_buf:
            self.close_stdin_now()

    def close_stdin_now(self) -> None:
        fd = self.stdin_fd
        if fd < 0:
            return
        self.stdin_buf.clear()
        self.shim.off_write(fd)
        if fd == self.pty_master:
            try:
                os.write(fd, b"\x04")  # VEOF: the tty's end of input
            except OSError:
                pass
        else:
            os.close(fd)
        self.stdin_fd = -1

    def resize(self, h: int, w: int) -> None:
        if self.pty_master < 0:
            return
        if h <= 0 or w <= 0:
            raise InvalidArgument(f"invalid size {h}x{w}")
        import fcntl
        import struct
        import termios
        fcntl.ioctl(self.pty_master, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))

    # ---- exit
    def on_exit(self, status: int | None, code: int | None = None) -> None:
        if status is None:
            pass
        elif os.WIFSIGNALED(status):
            code = 128 + os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
        from skiff.logs.jsonfile import rfc3339nano
        self.exit = {"exit_code": code, "exited_at": rfc3339nano(), "oom_killed": False}
        log(f"{self.label} (pid {self.pid}) exited: {code}")
        self.shim.on_proc_exit(self)
        if not self.outputs:
            self.finalize()
        else:
            self.shim.call_later(DRAIN_TIMEOUT, self.finalize)

    def finalize(self) -> None:
        """Drain and close the output, close stdin and the attach streams, let the
        shim record the exit, answer the waiters."""
        if self.finalized:
            return
        self.finalized = True
        for fd in list(self.outputs):
            try:
                while True:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    self._output(fd, data)
            except OSError:
                pass
            self._close_output(fd)
        for sp in self.splitters.values():
            Shim._guard(sp.flush)
        Shim._guard(self.close_stdin_now)
        for c in list(self.shim.conns.values()):
            if c.proc is self:
                c.closing = True
                self.shim._flush_conn(c)
        Shim._guard(self.shim.on_proc_finalized, self)
        for c in self.waiters:
            self.shim._reply(c, {"ok": True, **self.exit})
            if not self.key:
                self.shim.told_at = time.monotonic()
        self.waiters.clear()


class Shim:
    """The shim of one container. ``run()`` returns when it is done."""

    def __init__(self, *, container_id: str, bundle: str, runtime_root: str, log_path: str,
                 runtime: str = "skiff", tty: bool = False, stdin: bool = False,
                 stdin_once: bool = False, log_max_size: int = -1, log_max_file: int = 1,
                 log_driver: str = "json-file"):
        self.id = container_id
        self.bundle = os.path.abspath(bundle)
        self.runtime_root = runtime_root
        self.runtime_name = runtime
        self.log_path = log_path
        self.log_opts = (log_max_size, log_max_file)
        self.log_driver = log_driver
        self.sel = selectors.DefaultSelector()
        self._readers: dict[int, object] = {}
        self._writers: dict[int, object] = {}
        self.timers: list[tuple[float, object]] = []
        self.conns: dict[int, Conn] = {}
        self.procs: dict[str, Proc] = {}
        self.by_pid: dict[int, Proc] = {}
        self.init = Proc(self, "", tty=tty, stdin=stdin, stdin_once=stdin_once)
        self.procs[""] = self.init
        self.status = "creating"
        self.finalized = False
        self.finalized_at = 0.0
        self.told_at = 0.0
        self.done = False
        self.listener: socket.socket | None = None
        self.runtime = None
        self.writer = None

    @property
    def pid(self) -> int:
        return self.init.pid

    @property
    def exit(self) -> dict | None:
        return self.init.exit

    # ---- selector plumbing
    def _update(self, fd: int) -> None:
        ev = (selectors.EVENT_READ if fd in self._readers else 0) | \
             (selectors.EVENT_WRITE if fd in self._writers else 0)
        try:
            key = self.sel.get_key(fd)
        except KeyError:
            key = None
        if ev and key is None:
            self.sel.register(fd, ev)
        elif ev and key.events != ev:
            self.sel.modify(fd, ev)
        elif not ev and key is not None:
            self.sel.unregister(fd)

    def on_read(self, fd, cb):
        self._readers[fd] = cb
        self._update(fd)

    def off_read(self, fd):
        self._readers.pop(fd, None)
        self._update(fd)

    def on_write(self, fd, cb):
        self._writers[fd] = cb
        self._update(fd)

    def off_write(self, fd):
        self._writers.pop(fd, None)
        self._update(fd)

    def call_later(self, delay: float, cb) -> None:
        self.timers.append((time.monotonic() + delay, cb))

    # ---- setup
    def setup(self) -> int:
        """Create the container and listen; returns the init's pid. Raises SkiffError."""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise SkiffError("prctl(PR_SET_CHILD_SUBREAPER) failed", errno=ctypes.get_errno())
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        self.on_read(r, self._on_signal)
        for stale in (P.EXIT_NAME, P.EXIT_NAME + ".tmp"):  # from an earlier run of the bundle
            try:
                os.unlink(os.path.join(self.bundle, stale))
            except FileNotFoundError:
                pass
        self.runtime = make_runtime(self.runtime_name, self.runtime_root, self.id, self.bundle)

        init = self.init
        pid_file = os.path.join(self.bundle, "init.pid")
        try:
            stdio, console = init.prepare_stdio()
            try:
                init.pid = self.runtime.create(stdio, console, pid_file)
            except SkiffError as e:
                raise self._better_error(e, init) from None
            finally:
                init.release_setup()
            emit = None
            if self.log_driver == "json-file" and self.log_path:
                from skiff.logs.jsonfile import JSONFileWriter
                self.writer = JSONFileWriter(self.log_path, *self.log_opts)
                emit = self._log_write
            init.adopt_stdio(emit)
        except BaseException:
            init.abandon()
            raise
        self.by_pid[init.pid] = init
        self.status = "created"

        with open(os.path.join(self.bundle, P.PID_NAME), "w") as f:
            f.write(str(os.getpid()))
        sock_path = os.path.join(self.bundle, P.SOCKET_NAME)
        try:
            os.unlink(sock_path)
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path, dfd = short_path(sock_path)
        try:
            self.listener.bind(path)
        finally:
            if dfd is not None:
                os.close(dfd)
        os.chmod(sock_path, 0o600)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.on_read(self.listener.fileno(), self._on_accept)
        # the init may already be gone (reaped in the loop)
        self._reap()
        return init.pid

    def _better_error(self, e: SkiffError, proc: Proc) -> SkiffError:
        """A runc-like runtime also prints its error on its stderr (the process's):
        use it when its log had nothing better."""
        if proc.tty or isinstance(e, ExecError) or not isinstance(self.runtime, RuncRuntime):
            return e
        extra = proc.runtime_stderr()
        if extra:
            mapped = self.runtime._error(extra.splitlines()[-1])
            if isinstance(mapped, ExecError) or e.message.endswith(RuncRuntime.GENERIC_FAILURE):
                return mapped
        return e

    def _log_write(self, stream: str, data: bytes) -> None:
        try:
            self.writer.write(stream, data)
        except OSError as e:  # ENOSPC...: the output still reaches attached clients
            if not getattr(self, "_log_failed", False):
                log(f"writing {self.log_path}: {e}")
            self._log_failed = True

    @staticmethod
    def _drain_nonblocking(fd: int) -> bytes:
        os.set_blocking(fd, False)
        out = b""
        try:
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                out += b
        except BlockingIOError:
            pass
        return out

    def cleanup_failed(self) -> None:
        """After a failed setup: remove what the runtime may have left."""
        if self.runtime is not None:
            try:
                self.runtime.delete(force=True)
            except Exception as e:  # noqa: BLE001
                log(f"delete after failed create: {e}")

    # ---- loop
    def run(self) -> None:
        while not self.done:
            timeout = None
            if self.timers:
                timeout = max(0.0, min(t for t, _ in self.timers) - time.monotonic())
            if self.finalized:
                timeout = 0.1 if timeout is None else min(timeout, 0.1)
            for key, ev in self.sel.select(timeout):
                fd = key.fd
                if ev & selectors.EVENT_READ and fd in self._readers:
                    self._guard(self._readers[fd], fd)
                if ev & selectors.EVENT_WRITE and fd in self._writers:
                    self._guard(self._writers[fd], fd)
            now = time.monotonic()
            due = [t for t in self.timers if t[0] <= now]
            if due:
                self.timers = [t for t in self.timers if t[0] > now]
                for _, cb in due:
                    self._guard(cb)
            self._check_done()
        self._shutdown()

    @staticmethod
    def _guard(cb, *args) -> None:
        # a bug in one callback must not take the container's stdio and exit status down
        try:
            cb(*args)
        except Exception:  # noqa: BLE001
            import traceback
            log("unexpected error:\n" + traceback.format_exc())

    def _check_done(self) -> None:
        if not self.finalized or self.done:
            return
        now = time.monotonic()
        flushed = all(not c.outbuf for c in self.conns.values())
        if self.told_at and flushed and (not self.conns or now - self.told_at >= LINGER_TOLD):
            self.done = True
        elif now - self.finalized_at >= LINGER_ALONE and flushed:
            self.done = True
        elif now - self.finalized_at >= LINGER_ALONE + 5:
            self.done = True

    def _shutdown(self) -> None:
        for c in list(self.conns.values()):
            self._close_conn(c)
        for name in (P.SOCKET_NAME, P.PID_NAME):
            try:
                os.unlink(os.path.join(self.bundle, name))
            except OSError:
                pass
        if self.listener:
            self.listener.close()
        log("exiting")

    # ---- children
    def _on_signal(self, fd):
        try:
            while os.read(fd, 4096):
                pass
        except BlockingIOError:
            pass
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.by_pid.pop(pid, None)
            if proc is not None and proc.exit is None:
                proc.on_exit(status)

    def _check_lost(self, proc: Proc, sig: int) -> None:
        """A runtime that reaps what it kills (kill --all) may take a status from
        us: then record it as killed by ``sig``."""
        self._reap()
        if proc.exit is not None or not proc.pid:
            return
        try:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                self.by_pid.pop(pid, None)
                proc.on_exit(status)
        except ChildProcessError:
            log(f"{proc.label} {proc.pid} was reaped by someone else; assuming signal {sig}")
            self.by_pid.pop(proc.pid, None)
            proc.on_exit(None, code=128 + sig)

    def on_proc_exit(self, proc: Proc) -> None:
        if proc is self.init:
            self.status = "stopped"

    def on_proc_finalized(self, proc: Proc) -> None:
        if proc is not self.init:
            return
        if self.writer:
            self._guard(self.writer.close)
        self._guard(self._record_oom)
        self._guard(self._write_exit)
        try:
            self.runtime.delete(force=False)
        except Exception as e:  # noqa: BLE001
            log(f"runtime delete: {e}")
        self.finalized = True
        self.finalized_at = time.monotonic()

    def _oom_killed(self) -> bool:
        try:
            with open(os.path.join(self.bundle, "config.json")) as f:
                cg = (json.load(f).get("linux") or {}).get("cgroupsPath") or ""
        except (OSError, ValueError):
            return False
        if not cg or ":" in cg:
            return False
        cg = cg.lstrip("/")
        for path, key in ((f"/sys/fs/cgroup/memory/{cg}/memory.oom_control", "oom_kill"),
                          (f"/sys/fs/cgroup/{cg}/memory.events", "oom_kill"),
                          (f"/sys/fs/cgroup/unified/{cg}/memory.events", "oom_kill")):
            try:
                with open(path) as f:
                    for line in f:
                        k, _, v = line.partition(" ")
                        if k == key and int(v) > 0:
                            return True
            except (OSError, ValueError):
                continue
        return False

    def _record_oom(self) -> None:
        self.init.exit["oom_killed"] = self._oom_killed()

    def _write_exit(self) -> None:
        path = os.path.join(self.bundle, P.EXIT_NAME)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.init.exit, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)

    # ---- clients
    def _on_accept(self, fd):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            c = Conn(sock)
            self.conns[c.fd] = c
            self.on_read(c.fd, self._on_conn_read)

    def _on_conn_read(self, fd):
        c = self.conns.get(fd)
        if c is None:
            return
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
            c.closing = True
        if not data:
            c.read_eof = True
            self.off_read(fd)
            if c.proc is not None:
                # as moby container/stream/attach.go: an attach ending closes a
                # stdin-once stdin, but never a tty's (detach must not end the shell)
                if c.want["stdin"] and c.proc.stdin_once and not c.proc.tty:
                    c.proc.close_stdin()
                if c.proc.finalized:
                    c.closing = True
                    self._flush_conn(c)
            else:
                for p in self.procs.values():
                    if c in p.waiters:
                        p.waiters.remove(c)
                c.closing = True
                self._flush_conn(c)
            return
        if c.proc is not None:
            if c.want["stdin"]:
                c.proc.stdin_write(data)
            return
        c.inbuf += data
        while c.proc is None and b"\n" in c.inbuf:
            line, _, rest = bytes(c.inbuf).partition(b"\n")
            c.inbuf = bytearray(rest)
            self._handle(c, line)
        if c.proc is not None and c.inbuf:
            rest, c.inbuf = bytes(c.inbuf), bytearray()
            if c.want["stdin"]:
                c.proc.stdin_write(rest)
        elif len(c.inbuf) > 1 << 20:
            self._close_conn(c)

    def _reply(self, c: Conn, obj: dict) -> None:
        c.outbuf += P.dumps(obj)
        self._flush_conn(c)

    def _flush_conn(self, c: Conn, fd=None) -> None:
        if c.closed:
            return
        while c.outbuf:
            try:
                n = c.sock.send(c.outbuf[:1 << 20])
            except BlockingIOError:
                break
            except OSError:
                self._close_conn(c)
                return
            del c.outbuf[:n]
        if c.outbuf:
            self.on_write(c.fd, lambda fd, c=c: self._flush_conn(c))
        else:
            self.off_write(c.fd)
            if c.closing:
                self._close_conn(c)

    def _close_conn(self, c: Conn) -> None:
        if c.closed:
            return
        c.closed = True
        self.off_read(c.fd)
        self.off_write(c.fd)
        self.conns.pop(c.fd, None)
        for p in self.procs.values():
            if c in p.waiters:
                p.waiters.remove(c)
        try:
            c.sock.close()
        except OSError:
            pass

    def _proc(self, req: dict) -> Proc:
        key = req.get("exec_id") or ""
        p = self.procs.get(key)
        if p is None:
            from skiff.errors import NotFound
            raise NotFound(f"no such exec: {key}", exec_id=key)
        return p

    def _attach(self, c: Conn, proc: Proc, req: dict) -> None:
        c.want = {k: bool(req.get(k)) for k in ("stdin", "stdout", "stderr")}
        c.proc = proc

    def _handle(self, c: Conn, line: bytes) -> None:
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            self._reply(c, P.error_reply(InvalidArgument("malformed request")))
            return
        op = req.get("op")
        try:
            if op == "wait":
                p = self._proc(req)
                if p.finalized:
                    self._reply(c, {"ok": True, **p.exit})
                    if p is self.init:
                        self.told_at = time.monotonic()
                else:
                    p.waiters.append(c)
                return
            if op == "start":
                self._op_start()
            elif op == "kill":
                self._op_kill(self._proc(req), int(req.get("signal", signal.SIGTERM)),
                              bool(req.get("all")))
            elif op == "state":
                p = self._proc(req)
                if p is self.init:
                    st = {"ok": True, "id": self.id, "pid": p.pid, "status": self.status,
                          "bundle": self.bundle, "tty": p.tty}
                else:
                    st = {"ok": True, "id": self.id, "exec_id": p.key, "pid": p.pid,
                          "status": "stopped" if p.exit else "running", "tty": p.tty}
                if p.exit:
                    st.update(p.exit)
                self._reply(c, st)
                return
            elif op == "resize":
                self._proc(req).resize(int(req.get("height", 0)), int(req.get("width", 0)))
            elif op in ("pause", "resume"):
                self._op_pause(op)
            elif op == "close_stdin":
                self._proc(req).close_stdin()
            elif op == "attach":
                p = self._proc(req)
                self._attach(c, p, req)
                self._reply(c, {"ok": True})
                if p.finalized:
                    c.closing = True
                    self._flush_conn(c)
                return
            elif op == "exec":
                pid = self._op_exec(c, req)
                self._reply(c, {"ok": True, "pid": pid})
                return
            else:
                raise InvalidArgument(f"unknown op {op!r}")
        except SkiffError as e:
            self._reply(c, P.error_reply(e))
            return
        except Exception as e:  # noqa: BLE001
            log(f"op {op}: {e!r}")
            self._reply(c, P.error_reply(SkiffError(f"{op}: {e}")))
            return
        self._reply(c, {"ok": True})

    def _op_start(self) -> None:
        if self.status in ("running", "paused"):
            raise NotModified(f"container {self.id} is already running")
        if self.status != "created":
            raise Conflict(f"container {self.id} cannot be started: it is {self.status}")
        self.runtime.start()
        if self.exit is None:
            self.status = "running"

    def _op_exec(self, c: Conn, req: dict) -> int:
        key = str(req.get("exec_id") or "")
        process = req.get("process")
        if not key:
            raise InvalidArgument("exec needs an exec_id")
        if key in self.procs:
            raise Conflict(f"exec {key} already exists in container {self.id}")
        if not isinstance(process, dict) or not process.get("args"):
            raise InvalidArgument("exec needs a process with args")
        if self.exit is not None or self.status not in ("running",):
            raise Conflict(f"container {self.id} is not running")
        p = Proc(self, key, tty=bool(process.get("terminal")), stdin=bool(req.get("stdin")),
                 stdin_once=bool(req.get("stdin_once", True)))
        try:
            stdio, console = p.prepare_stdio()
            try:
                p.pid = self.runtime.exec(process, stdio, console,
                                          os.path.join(self.bundle, f"exec-{os.getpid()}.pid"))
            except SkiffError as e:
                raise self._better_error(e, p) from None
            finally:
                p.release_setup()
            p.adopt_stdio()
        except BaseException:
            p.abandon()
            raise
        self.procs[key] = p
        self.by_pid[p.pid] = p
        if req.get("attach"):
            # the connection becomes the exec's stream before any output is read
            self._attach(c, p, req)
        self._reap()  # it may be gone already
        return p.pid

    def _op_pause(self, op: str) -> None:
        if self.exit is not None or self.status not in ("running", "paused"):
            raise Conflict(f"container {self.id} is not running")
        if op == "pause":
            if self.status == "paused":
                raise Conflict(f"container {self.id} is already paused")
            self.runtime.pause()
            self.status = "paused"
        else:
            if self.status != "paused":
                raise Conflict(f"container {self.id} is not paused")
            self.runtime.resume()
            self.status = "running"

    def _op_kill(self, proc: Proc, sig: int, all: bool) -> None:
        if proc.exit is not None or self.exit is not None:
            raise Conflict(f"container {self.id} is not running" if proc is self.init
                           else f"exec {proc.key} is not running")
        if all and proc is self.init:
            self.runtime.kill(sig, all=True)
            self._check_lost(proc, sig)
            for p in list(self.procs.values()):
                if p is not proc:
                    self._check_lost(p, sig)
        else:
            # our child and not reaped yet: its pid cannot have been reused
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                raise Conflict(f"{proc.label} of container {self.id} is not running") from None


def report(fd: int, obj: dict) -> None:
    """Write the spawn report (one JSON line) and close the pipe."""
    if fd < 0:
        return
    try:
        os.write(fd, P.dumps(obj))
    except OSError as e:
        log(f"report: {e}")
    finally:
        os.close(fd)


def serve(args, report_fd: int) -> int:
    """Create the container, report to the spawner, serve until done. Exit status of the shim."""
    shim = Shim(container_id=args.id, bundle=args.bundle, runtime_root=args.runtime_root,
                log_path=args.log_path, runtime=args.runtime, tty=args.tty, stdin=args.stdin,
                stdin_once=args.stdin_once, log_max_size=args.log_max_size,
                log_max_file=args.log_max_file, log_driver=args.log_driver)
    try:
        pid = shim.setup()
    except SkiffError as e:
        log(f"create failed: {e}")
        if not isinstance(e, Conflict):  # never remove a container another shim may hold
            shim.cleanup_failed()
        report(report_fd, P.error_reply(e))
        return 1
    except Exception as e:  # noqa: BLE001
        log(f"create failed: {e!r}")
        shim.cleanup_failed()
        report(report_fd, P.error_reply(SkiffError(f"shim: {e}")))
        return 1
    log(f"container {args.id} created, init pid {pid}")
    report(report_fd, {"ok": True, "pid": pid})
    shim.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use python -m skiff.runtime.shim")
