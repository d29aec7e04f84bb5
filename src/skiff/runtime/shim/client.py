"""The daemon's side of the shim: spawn one per container and talk to it over
``<bundle>/shim.sock`` with asyncio (no threads). Wire protocol:
skiff.runtime.shim.protocol.

    client = await spawn_shim(id=cid, bundle=b, runtime_root=r, log_path=l, runtime="skiff")
    reader, writer = await client.attach(stdin=True, stdout=True, stderr=True)
    await client.start()
    status = await client.wait()          # ExitStatus(exit_code, exited_at, oom_killed)

After a daemon restart: ``await ShimClient.connect(bundle)`` (Unavailable when
the shim is gone: then ``read_exit(bundle)``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass

from skiff.errors import SkiffError, Unavailable
from skiff.runtime.shim import protocol as P

SPAWN_TIMEOUT = 120.0  # s for the shim to create the container and report


@dataclass
class ExitStatus:
    """How a container's init ended: ``exit_code`` (128+signal when killed),
    ``exited_at`` (RFC3339Nano, UTC), ``oom_killed``."""

    exit_code: int
    exited_at: str
    oom_killed: bool = False

    @classmethod
    def from_json(cls, d: dict) -> "ExitStatus":
        return cls(int(d.get("exit_code", 255)), str(d.get("exited_at", "")),
                   bool(d.get("oom_killed", False)))


def read_exit(bundle: str) -> ExitStatus | None:
    """The exit status the shim recorded in ``bundle``/exit.json, or None."""
    try:
        with open(os.path.join(bundle, P.EXIT_NAME)) as f:
            return ExitStatus.from_json(json.load(f))
    except (OSError, ValueError):
        return None


def parse_size(v) -> int:
    """Docker's log-opt size ("10m", "1k", "512", "1g") -> bytes; -1 for none."""
    if v is None or v == "" or v == -1:
        return -1
    if isinstance(v, int):
        return v
    s = str(v).strip().lower().removesuffix("b").removesuffix("i")
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


async def _open(path: str):
    if len(path.encode()) < 100:
        return await asyncio.open_unix_connection(path, limit=1 << 20)
    d, name = os.path.split(path)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return await asyncio.open_unix_connection(f"/proc/self/fd/{fd}/{name}", limit=1 << 20)
    finally:
        os.close(fd)


def _with_exec(req: dict, exec_id: str | None) -> dict:
    if exec_id:
        req["exec_id"] = exec_id
    return req


class ShimClient:
    """A connection to one container's shim. Each request uses its own unix
    connection, so a pending ``wait()`` does not block other calls."""

    def __init__(self, bundle: str, pid: int = 0):
        self.bundle = os.path.abspath(bundle)
        self.socket_path = os.path.join(self.bundle, P.SOCKET_NAME)
        self.pid = pid  # the container init's host pid (from the spawn report or state)
        self._streams: list[asyncio.StreamWriter] = []

    @classmethod
    async def connect(cls, bundle: str) -> "ShimClient":
        """A client for the shim serving ``bundle``; raises Unavailable if no shim listens."""
        c = cls(bundle)
        st = await c.state()
        c.pid = int(st.get("pid") or 0)
        return c

    async def _conn(self):
        try:
            return await _open(self.socket_path)
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError) as e:
            raise Unavailable(f"shim for {self.bundle} is not running: {(e.strerror or str(e)).lower()}",
                              bundle=self.bundle) from None

    async def _call(self, req: dict) -> dict:
        reader, writer = await self._conn()
        try:
            writer.write(P.dumps(req))
            await writer.drain()
            line = await reader.readline()
        except (ConnectionError, OSError) as e:
            raise Unavailable(f"shim for {self.bundle} went away: {str(e).lower()}",
                              bundle=self.bundle) from None
        finally:
            writer.close()
        if not line:
            raise Unavailable(f"shim for {self.bundle} closed the connection", bundle=self.bundle)
        return P.raise_reply(json.loads(line))

    async def start(self) -> None:
        """Release the container's init (it execs process.args)."""
        await self._call({"op": "start"})

    async def kill(self, signal: int, all: bool = False, exec_id: str | None = None) -> None:
        """Send ``signal`` to the init (``all``: every process of the container),
        or to the exec ``exec_id``. Conflict when it is not running."""
        await self._call(_with_exec({"op": "kill", "signal": int(signal), "all": bool(all)}, exec_id))

    async def wait(self, exec_id: str | None = None) -> ExitStatus:
        """Block until the container's init (or the exec ``exec_id``) exited. If
        the shim is gone, the init's status it recorded in exit.json;
        Unavailable when there is none (or for an exec)."""
        try:
            return ExitStatus.from_json(await self._call(_with_exec({"op": "wait"}, exec_id)))
        except Unavailable:
            if exec_id:
                raise
            st = read_exit(self.bundle)
            if st is None:
                # the shim may be writing it right now
                await asyncio.sleep(0.1)
                st = read_exit(self.bundle)
            if st is None:
                raise
            return st

    async def state(self, exec_id: str | None = None) -> dict:
        """{"id", "pid", "status": created|running|paused|stopped, "bundle", "tty"}
        (+ exit fields once stopped); for an exec {"id", "exec_id", "pid", "status":
        running|stopped, "tty"} (+ exit fields)."""
        return await self._call(_with_exec({"op": "state"}, exec_id))

    async def resize(self, height: int, width: int, exec_id: str | None = None) -> None:
        """Set the tty size (rows, columns) of the init or an exec; no-op without a tty."""
        await self._call(_with_exec({"op": "resize", "height": int(height), "width": int(width)},
                                    exec_id))

    async def pause(self) -> None:
        """Freeze every process of the container (the runtime's pause)."""
        await self._call({"op": "pause"})

    async def resume(self) -> None:
        """Thaw a paused container."""
        await self._call({"op": "resume"})

    async def close_stdin(self, exec_id: str | None = None) -> None:
        """EOF on the container's (or an exec's) stdin."""
        await self._call(_with_exec({"op": "close_stdin"}, exec_id))

    async def exec(self, exec_id: str, process: dict, *, stdin: bool = False, stdout: bool = True,
                   stderr: bool = True, attach: bool = True, stdin_once: bool = True
                   ) -> tuple[int, asyncio.StreamReader | None, asyncio.StreamWriter | None]:
        """Run ``process`` (an OCI process object, see
        skiff.runtime.spec.build_exec_process) in the running container as
        exec ``exec_id`` (``docker exec``). Returns (host pid, reader, writer):
        with ``attach`` the stream is as :meth:`attach`'s, opened before the
        process can write anything; without, (pid, None, None). ``wait(exec_id=)``
        gives its exit. Raises ExecError (126/127), Conflict (not running or
        exec id in use)."""
        reader, writer = await self._conn()
        writer.write(P.dumps({"op": "exec", "exec_id": exec_id, "process": process,
                              "stdin": stdin, "stdout": stdout, "stderr": stderr,
                              "attach": attach, "stdin_once": stdin_once}))
        await writer.drain()
        line = await reader.readline()
        if not line:
            writer.close()
            raise Unavailable(f"shim for {self.bundle} closed the connection", bundle=self.bundle)
        try:
            rep = P.raise_reply(json.loads(line))
        except SkiffError:
            writer.close()
            raise
        if not attach:
            writer.close()
            return int(rep.get("pid") or 0), None, None
        self._streams.append(writer)
        return int(rep.get("pid") or 0), reader, writer

    async def attach(self, stdin: bool = False, stdout: bool = True, stderr: bool = True,
                     exec_id: str | None = None
                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A raw stream to the container: the reader gives Docker's multiplexed
        frames (raw bytes with a tty), what is written goes to its stdin and
        ``writer.write_eof()`` closes its stdin (with --stdin-once). The shim
        closes the stream once the container exited and its output was drained."""
        reader, writer = await self._conn()
        writer.write(P.dumps(_with_exec({"op": "attach", "stdin": stdin, "stdout": stdout,
                                         "stderr": stderr}, exec_id)))
        await writer.drain()
        line = await reader.readline()
        if not line:
            writer.close()
            raise Unavailable(f"shim for {self.bundle} closed the connection", bundle=self.bundle)
        try:
            P.raise_reply(json.loads(line))
        except SkiffError:
            writer.close()
            raise
        self._streams.append(writer)
        return reader, writer

    async def close(self) -> None:
        """Close the attach streams this client opened."""
        for w in self._streams:
            w.close()
        self._streams.clear()


async def spawn_shim(*, id: str, bundle: str, runtime_root: str, log_path: str,
                     runtime: str = "skiff", tty: bool = False, stdin: bool = False,
                     stdin_once: bool = False, log_opts: dict | None = None,
                     log_driver: str = "json-file", forkserver: str | None = None) -> ShimClient:
    """Start a shim for the bundle (``config.json`` and rootfs ready) and wait
    until it created the container. ``log_opts`` are Docker's json-file options
    {"max-size": "10m", "max-file": "3"} (default: no rotation). The shim is
    exec'd fresh (``sys.executable -m skiff.runtime.shim``), detaches, and
    outlives the caller. Raises ExecError (exit_code 126/127) when the command
    cannot be executed, or the SkiffError the shim reported. With
    ``forkserver`` (the socket of skiff.runtime.shim.forkserver), the shim is
    forked from that warm process instead; exec'ing is the fallback."""
    log_opts = log_opts or {}
    opts = ["--id", id, "--bundle", bundle,
            "--runtime-root", runtime_root, "--log-path", log_path, "--runtime", runtime,
            "--log-driver", log_driver]
    if tty:
        opts.append("--tty")
    if stdin:
        opts.append("--stdin")
    if stdin_once:
        opts.append("--stdin-once")
    max_size = parse_size(log_opts.get("max-size"))
    if max_size > 0:
        opts += ["--log-max-size", str(max_size),
                 "--log-max-file", str(int(log_opts.get("max-file") or 1))]
    if forkserver and os.path.exists(forkserver):
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = await _forkserver_request(forkserver, opts, w)
        except OSError:
            os.close(r)
            os.close(w)
        else:
            os.close(w)
            return await _await_report(id, bundle, r, pid=None)
    argv = [sys.executable, "-m", "skiff.runtime.shim", *opts, "--report-fd", "3"]
    r, w = os.pipe2(os.O_CLOEXEC)
    wfd = w
    if w == 3:  # posix_spawn's dup2 onto itself would keep O_CLOEXEC
        wfd = os.dup(w)
        os.close(w)
    try:
        pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, wfd, 3),
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0),
            (os.POSIX_SPAWN_DUP2, 0, 1),
            (os.POSIX_SPAWN_DUP2, 0, 2),
        ], setsid=True)
    except OSError:
        os.close(r)
        os.close(wfd)
        raise
    os.close(wfd)
    return await _await_report(id, bundle, r, pid=pid)


async def _forkserver_request(path: str, opts: list[str], report_fd: int) -> int:
    """One request to the fork server (see skiff.runtime.shim.forkserver)."""
    import socket
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, path)
        socket.send_fds(s, [json.dumps({"argv": opts}).encode()], [report_fd])
        data = b""
        while not data.endswith(b"\n"):
            chunk = await asyncio.wait_for(loop.sock_recv(s, 4096), 10)
            if not chunk:
                break
            data += chunk
    except asyncio.TimeoutError:
        raise OSError("shim fork server did not answer") from None
    finally:
        s.close()
    rep = json.loads(data or b"{}")
    if "pid" not in rep:
        raise OSError(f"shim fork server: {rep.get('error') or 'no answer'}")
    return int(rep["pid"])


async def _await_report(id: str, bundle: str, r: int, pid: int | None) -> ShimClient:
    """Read the shim's one-line report from pipe ``r``; ``pid`` is our own
    child to reap (None when the fork server is its parent)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(r, "rb", buffering=0))
    try:
        line = await asyncio.wait_for(reader.readline(), SPAWN_TIMEOUT)
    except asyncio.TimeoutError:
        raise Unavailable(f"shim for {id} did not report within {SPAWN_TIMEOUT:.0f}s") from None
    finally:
        transport.close()
        if pid is not None:
            await _reap(pid)
    if not line:
        raise SkiffError(f"shim for {id} exited without reporting{_shim_log_tail(bundle)}")
    rep = json.loads(line)
    P.raise_reply(rep)
    return ShimClient(bundle, pid=int(rep.get("pid") or 0))


async def _reap(pid: int) -> None:
    # the spawned process exits right after its first fork
    for _ in range(2000):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        await asyncio.sleep(0.005)


def _shim_log_tail(bundle: str) -> str:
    try:
        with open(os.path.join(bundle, P.LOG_NAME), "rb") as f:
            tail = f.read()[-500:].decode(errors="replace").strip()
        return f": {tail}" if tail else ""
    except OSError:
        return ""
