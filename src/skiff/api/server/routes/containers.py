"""Container routes: Engine API v1.44 "Container" section (create, list,
inspect, start, stop, restart, kill, wait, attach, logs, rename, delete).
The backend is skiff.services.containers.ContainerService."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from typing import Protocol

from aiohttp import web

from ....errors import SkiffError
from ..app import json_body, qbool, qfilters, qint, route
from ..hijack import hijack, release

MUX = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


class ContainerBackend(Protocol):
    def create(self, body: dict, name: str | None = None) -> dict: ...
    async def start(self, ref: str) -> None: ...
    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None: ...
    async def kill(self, ref: str, sig: str | None = None) -> None: ...
    async def wait(self, ref: str, condition: str = "not-running") -> dict: ...
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None: ...
    async def attach_streams(self, ref: str): ...
    def get(self, ref: str) -> dict: ...
    def inspect(self, ref: str, size: bool = False) -> dict: ...
    def list(self, all: bool = False, limit: int = -1, filters: dict | None = None, size: bool = False) -> list: ...
    def log_source(self, ref: str) -> tuple[dict, str]: ...
    def is_running(self, cid: str) -> bool: ...


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed frame: [stream, 0, 0, 0, len (uint32 BE)] + data."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def setup(app: web.Application, svc: ContainerBackend) -> None:
    async def create(request):
        body = await json_body(request)
        return web.json_response(svc.create(body, request.query.get("name") or None), status=201)

    async def list_(request):
        filters = qfilters(request)
        return web.json_response(svc.list(all=qbool(request, "all"), limit=qint(request, "limit", -1),
                                          filters=filters, size=qbool(request, "size")))

    async def inspect(request):
        return web.json_response(svc.inspect(request.match_info["id"], size=qbool(request, "size")))

    async def start(request):
        await svc.start(request.match_info["id"])
        return web.Response(status=204)

    async def stop(request):
        await svc.stop(request.match_info["id"], qint(request, "t"), request.query.get("signal"))
        return web.Response(status=204)

    async def restart(request):
        cid = request.match_info["id"]
        try:
            await svc.stop(cid, qint(request, "t"), request.query.get("signal"))
        except Exception as e:
            if getattr(e, "status", 0) != 304:
                raise
        await svc.start(cid)
        return web.Response(status=204)

    async def kill(request):
        await svc.kill(request.match_info["id"], request.query.get("signal"))
        return web.Response(status=204)

    async def wait(request):
        cid = request.match_info["id"]
        svc.get(cid)  # 404 before the headers go out
        cond = request.query.get("condition", "not-running")
        task = asyncio.ensure_future(svc.wait(cid, cond))
        await asyncio.sleep(0)
        if task.done():
            return web.json_response(task.result())
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        try:
            result = await task
        except Exception as e:
            result = {"StatusCode": -1, "Error": {"Message": str(e)}}
        try:
            await resp.write(json.dumps(result).encode() + b"\n")
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away while waiting: nothing to answer
        return resp

    async def delete(request):
        await svc.remove(request.match_info["id"], force=qbool(request, "force"),
                         volumes=qbool(request, "v"))
        return web.Response(status=204)

    async def rename(request):
        svc.rename(request.match_info["id"], request.query.get("name", ""))
        return web.Response(status=204)

    async def resize(request):
        await svc.resize(request.match_info["id"], qint(request, "h", 0), qint(request, "w", 0))
        return web.Response(status=200)

    async def attach(request):
        cid = request.match_info["id"]
        c = svc.get(cid)
        tty = bool(c["Config"].get("Tty"))
        want_in, want_out, want_err = (qbool(request, "stdin"), qbool(request, "stdout"),
                                       qbool(request, "stderr"))
        # as moby container/stream: the detach sequence is only looked for with a tty
        keys = parse_detach_keys(request.query.get("detachKeys") or DEFAULT_DETACH_KEYS) if tty else b""
        resp, raw = await hijack(request, RAW if tty else MUX)
        try:
            if qbool(request, "logs") and c.get("LogPath"):
                from ....logs.jsonfile import read_logs
                for stream, line, _t in read_logs(c["LogPath"], stdout=want_out, stderr=want_err):
                    raw.write(line if tty else frame(1 if stream == "stdout" else 2, line))
            if qbool(request, "stream", True):
                shim = await svc.attach_streams(c["Id"])
                if shim is not None:
                    await pipe_attach(raw, shim, want_in, want_out, want_err, keys)
        finally:
            raw.close()
            release(request)
        return resp

    async def logs(request):
        c, path = svc.log_source(request.match_info["id"])
        from ....logs.jsonfile import follow, read_logs
        want_out, want_err = qbool(request, "stdout"), qbool(request, "stderr")
        if not (want_out or want_err):
            raise web.HTTPBadRequest(text="Bad parameters: you must choose at least one stream")
        tty = bool(c["Config"].get("Tty"))
        ts = qbool(request, "timestamps")
        since = _float(request.query.get("since"))
        until = _float(request.query.get("until"))
        tail_s = request.query.get("tail", "all")
        # as dockerd: anything that is not a non-negative number means "all"
        tail = int(tail_s) if tail_s.isdigit() else None
        resp = web.StreamResponse()
        resp.content_type = RAW if tty else MUX
        await resp.prepare(request)

        def fmt(stream, line, t):
            if ts:
                line = t.encode() + b" " + line
            return line if tty else frame(1 if stream == "stdout" else 2, line)

        kw = dict(stdout=want_out, stderr=want_err, since=since, until=until, tail=tail)
        if qbool(request, "follow") and svc.is_running(c["Id"]):
            async for stream, line, t in follow(path, is_running=lambda: svc.is_running(c["Id"]), **kw):
                await resp.write(fmt(stream, line, t))
        else:
            for stream, line, t in read_logs(path, **kw):
                await resp.write(fmt(stream, line, t))
        await resp.write_eof()
        return resp

    async def exec_create(request):
        return web.json_response(svc.exec_create(request.match_info["id"], await json_body(request)),
                                 status=201)

    async def exec_start(request):
        eid = request.match_info["id"]
        body = await json_body(request)
        e = svc.exec_get(eid)
        tty = bool(e["ProcessConfig"]["tty"])
        if body.get("Detach"):
            await svc.exec_start(eid, detach=True)
            return web.Response(status=200)
        if e["_started"] or not svc.is_running(e["ContainerID"]):
            await svc.exec_start(eid)  # raises the Conflict before the upgrade
        resp, raw = await hijack(request, RAW if tty else MUX)
        try:
            try:
                reader, writer = await svc.exec_start(eid)
            except SkiffError as err:
                # as dockerd: the upgrade went through, the error is the stream's
                # content and the exit code (126/127) is in GET /exec/{id}/json
                msg = f"OCI runtime exec failed: {err}\r\n".encode()
                raw.write(msg if tty else frame(1, msg))
                reader = None
            if reader is not None:
                await pipe_streams(raw, reader, writer, e["OpenStdin"],
                                   parse_detach_keys(e.get("DetachKeys") or DEFAULT_DETACH_KEYS)
                                   if tty else b"")
                await svc.exec_wait(eid)
        finally:
            raw.close()
            release(request)
        return resp

    async def exec_inspect(request):
        return web.json_response(svc.exec_inspect(request.match_info["id"]))

    async def exec_resize(request):
        await svc.exec_resize(request.match_info["id"], qint(request, "h", 0), qint(request, "w", 0))
        return web.Response(status=200)

    route(app, "POST", "/containers/{id}/exec", exec_create)
    route(app, "POST", "/exec/{id}/start", exec_start)
    route(app, "GET", "/exec/{id}/json", exec_inspect)
    route(app, "POST", "/exec/{id}/resize", exec_resize)
    route(app, "POST", "/containers/create", create)
    route(app, "GET", "/containers/json", list_)
    route(app, "GET", "/containers/{id}/json", inspect)
    route(app, "POST", "/containers/{id}/start", start)
    route(app, "POST", "/containers/{id}/stop", stop)
    route(app, "POST", "/containers/{id}/restart", restart)
    route(app, "POST", "/containers/{id}/kill", kill)
    route(app, "POST", "/containers/{id}/wait", wait)
    route(app, "POST", "/containers/{id}/attach", attach)
    route(app, "POST", "/containers/{id}/rename", rename)
    route(app, "POST", "/containers/{id}/resize", resize)
    route(app, "GET", "/containers/{id}/logs", logs)
    route(app, "DELETE", "/containers/{id}", delete)


def _float(v: str | None) -> float | None:
    if v in (None, "", "0"):
        return None
    try:
        return float(v)
    except ValueError:
        from ....errors import InvalidArgument
        raise InvalidArgument(f"invalid time value: {v!r}")


DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def parse_detach_keys(spec: str) -> bytes:
    """Docker's detach-keys syntax ("ctrl-p,ctrl-q", "a", "ctrl-@", "ctrl-[")
    -> the byte sequence; InvalidArgument when malformed (moby term.ToBytes)."""
    from ....errors import InvalidArgument
    out = bytearray()
    for key in spec.split(","):
        k = key.strip()
        if len(k) == 1:
            out.append(ord(k))
        elif k.lower().startswith("ctrl-") and len(k) == 6:
            c = k[5].lower()
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[c])
            else:
                raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


class EscapeScanner:
    """Finds a detach sequence in the client's stdin bytes (moby
    term.NewEscapeProxy): ``feed(data)`` returns (bytes to pass on, detached)."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            if b == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return bytes(out), True
                continue
            if self.matched:
                out += self.keys[:self.matched]
                self.matched = 0
                if b == self.keys[0]:
                    self.matched = 1
                    continue
            out.append(b)
        return bytes(out), False


async def pipe_attach(raw, shim, want_in: bool, want_out: bool, want_err: bool,
                      detach_keys: bytes = b"") -> None:
    """Join a hijacked client connection to the shim's attach stream: the
    shim's bytes (frames or raw tty output) to the client, the client's bytes
    to the container's stdin, the client's half-close to a half-close."""
    reader, writer = await shim.attach(stdin=want_in, stdout=want_out, stderr=want_err)
    await pipe_streams(raw, reader, writer, want_in, detach_keys)


async def pipe_streams(raw, reader, writer, want_in: bool, detach_keys: bytes = b"") -> None:
    """Copy ``reader`` (the shim's side) to the client until EOF or the client
    leaves, and the client's bytes to ``writer`` (half-close passed on). The
    detach sequence in the client's bytes ends the attach and leaves the
    container running."""
    scanner = EscapeScanner(detach_keys if want_in else b"")
    detached = asyncio.Event()

    async def upstream():
        while True:
            data = await raw.read()
            if data and scanner.keys:
                data, hit = scanner.feed(data)
                if hit:
                    if data:
                        writer.write(data)
                    detached.set()
                    return
            if not data and not raw.eof:
                continue
            if not data:
                if want_in:
                    try:
                        writer.write_eof()
                    except (OSError, RuntimeError):
                        pass
                return
            if want_in:
                writer.write(data)
                try:
                    await writer.drain()
                except (ConnectionError, OSError):
                    return

    up = asyncio.ensure_future(upstream())
    closed = asyncio.ensure_future(_first(raw.closed.wait(), detached.wait()))
    try:
        while True:
            read = asyncio.ensure_future(reader.read(65536))
            done, _ = await asyncio.wait({read, closed}, return_when=asyncio.FIRST_COMPLETED)
            if read not in done:
                read.cancel()
                break
            data = read.result()
            if not data:
                break
            raw.write(data)
            await raw.drain()
    finally:
        up.cancel()
        closed.cancel()
        try:
            writer.close()
        except Exception:
            pass


async def _first(*aws) -> None:
    """Return when the first of ``aws`` completes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
