"""The protocol between the daemon and a shim, on the unix socket
``<bundle>/shim.sock`` and on the spawn report pipe.

Report (spawn)
    The shim writes ONE JSON line on the pipe inherited from its spawner (fd
    given by ``--report-fd``) once the container is created and the socket
    listens, then closes it::

        {"ok": true, "pid": 1234}                                 # init's host pid
        {"ok": false, "error": "exec: \\"nope\\": executable file not found in $PATH",
         "kind": "exec", "exit_code": 127}                         # ExecError, 126|127
        {"ok": false, "error": "...", "kind": "Conflict"}          # other SkiffError class name

Requests (shim.sock)
    A connection carries requests, each ONE JSON line, each answered by ONE
    JSON line, in order. Errors are ``{"ok": false, "error": MSG, "kind": CLASS}``
    (CLASS a skiff.errors class name, "exec" for ExecError).

    ``{"op":"start"}``                      -> ``{"ok":true}``; release the container's init
    ``{"op":"kill","signal":15,"all":false}`` -> ``{"ok":true}``; Conflict when not running
    ``{"op":"wait"}``                       -> blocks until the init exits, then
        ``{"ok":true,"exit_code":N,"exited_at":"RFC3339Nano","oom_killed":false}``
        (exit_code is 128+signal when killed by a signal)
    ``{"op":"state"}``                      -> ``{"ok":true,"id","pid","status":"created"|
        "running"|"paused"|"stopped","bundle","tty"}`` plus the exit fields once stopped
    ``{"op":"resize","height":H,"width":W}`` -> ``{"ok":true}`` (no-op without a tty)
    ``{"op":"close_stdin"}``                -> ``{"ok":true}``; EOF on the container's stdin
    ``{"op":"pause"}`` / ``{"op":"resume"}``  -> ``{"ok":true}``; freeze / thaw (the runtime's
        pause/resume); Conflict when not running / not paused
    ``{"op":"attach","stdin":b,"stdout":b,"stderr":b}`` -> ``{"ok":true}``, then the
        connection is a raw stream: container output as Docker's multiplexed frames
        (8-byte header: stream 1 stdout / 2 stderr, 3 zero bytes, big-endian uint32
        length; see :func:`frame`) when the container has no tty, raw bytes with a
        tty; bytes the client sends are the container's stdin; the client's
        half-close (SHUT_WR) closes the container's stdin when the shim runs with
        ``--stdin-once``. The shim closes the stream after the container exited and
        its output was drained. An attach made before ``start`` sees all output; a
        later one only what comes after it.

Execs (``docker exec``)
    ``{"op":"exec","exec_id":E,"process":{OCI process},"stdin":b,"stdout":b,"stderr":b,
    "attach":b,"stdin_once":b}`` -> ``{"ok":true,"pid":N}``; runs the process in the
    running container (the runtime's exec); with ``"attach":true`` the connection
    then is the exec's raw stream, exactly as ``attach``'s, opened before the
    process could write. ``wait``, ``kill``, ``state``, ``resize``, ``close_stdin``
    and ``attach`` take ``"exec_id":E`` to address an exec instead of the init
    (NotFound for an unknown id). An exec's output is not logged; its status is
    kept while the shim lives (not in exit.json).

After the container exits the shim writes ``<bundle>/exit.json``
(``{"exit_code", "exited_at", "oom_killed"}``, atomically), answers every
waiter, runs the runtime's delete, removes shim.sock and exits: about a second
after a waiter was answered, or after 5 s if nobody asked.
"""

from __future__ import annotations

import json
import struct

SOCKET_NAME = "shim.sock"
PID_NAME = "shim.pid"
EXIT_NAME = "exit.json"
LOG_NAME = "shim.log"

STDIN, STDOUT, STDERR = 0, 1, 2
STREAM_IDS = {"stdout": STDOUT, "stderr": STDERR}

_HDR = struct.Struct(">BxxxI")
HEADER_SIZE = _HDR.size


def frame(stream: int, data: bytes) -> bytes:
    """One Docker multiplexed-stream frame (Engine API "Attach to a container":
    stream type byte, 3 zero bytes, big-endian uint32 payload length, payload)."""
    return _HDR.pack(stream, len(data)) + data


def parse_header(header: bytes) -> tuple[int, int]:
    """(stream type, payload length) of an 8-byte frame header."""
    return _HDR.unpack(header)


def dumps(obj: dict) -> bytes:
    """A message as one JSON line (compact, "\\n"-terminated)."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def error_reply(exc: BaseException) -> dict:
    """The wire form of an exception (see the module docstring)."""
    from skiff.errors import ExecError, SkiffError
    if isinstance(exc, ExecError):
        return {"ok": False, "error": exc.message, "kind": "exec", "exit_code": exc.exit_code}
    if isinstance(exc, SkiffError):
        return {"ok": False, "error": exc.message, "kind": type(exc).__name__}
    return {"ok": False, "error": str(exc) or type(exc).__name__, "kind": "SkiffError"}


def raise_reply(reply: dict) -> dict:
    """Return ``reply`` when ok, else raise the skiff.errors exception it carries."""
    if reply.get("ok"):
        return reply
    from skiff import errors
    msg = reply.get("error") or "shim request failed"
    kind = reply.get("kind") or "SkiffError"
    if kind == "exec":
        raise errors.ExecError(msg, exit_code=int(reply.get("exit_code") or 126))
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.SkiffError)):
        cls = errors.SkiffError
    raise cls(msg)
