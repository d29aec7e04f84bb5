"""Hijacked connections: the Engine API's ``Upgrade: tcp`` streams
(POST /containers/{id}/attach, POST /exec/{id}/start).

After the 101 (or 200, for clients that did not ask for an upgrade) the
connection carries raw bytes both ways. aiohttp's protocol closes the
transport on the client's half-close, so the transport is handed to a
protocol of our own that keeps the write side open after EOF.
"""

from __future__ import annotations

import asyncio

from aiohttp import web


class RawStream(asyncio.Protocol):
    """The client side of a hijacked connection.

    ``read()`` returns the next chunk of bytes the client sent, ``b""`` at its
    half-close or disconnect. ``write(data)`` sends; ``drain()`` waits for
    the transport's buffer to empty. ``closed`` is set when the connection is lost.
    """

    HIGH_WATER = 1 << 20

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued = 0
        self._paused = False
        self._drain_waiters: list[asyncio.Future] = []
        self._write_paused = False
        self.closed = asyncio.Event()
        self.eof = False

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        self._queue.put_nowait(data)
        self._queued += len(data)
        if self._queued > self.HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._queue.put_nowait(b"")
        return True  # keep the write side open (half-close)

    def connection_lost(self, exc) -> None:
        if not self.eof:
            self.eof = True
            self._queue.put_nowait(b"")
        self.closed.set()
        for w in self._drain_waiters:
            if not w.done():
                w.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for w in self._drain_waiters:
            if not w.done():
                w.set_result(None)
        self._drain_waiters.clear()

    async def read(self) -> bytes:
        data = await self._queue.get()
        self._queued -= len(data)
        if self._paused and self._queued < self.HIGH_WATER // 2:
            self._paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()
        return data

    def write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        if self._write_paused and not self.closed.is_set():
            fut = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(fut)
            await fut

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


async def hijack(request: web.Request, content_type: str) -> tuple[web.StreamResponse, RawStream]:
    """Answer 101 UPGRADED (or 200 OK without an Upgrade header) and take the
    connection over. Returns the prepared response (return it from the
    handler when done) and the RawStream."""
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    resp = web.StreamResponse(status=101 if upgrade else 200)
    resp.headers["Content-Type"] = content_type
    if upgrade:
        resp.headers["Connection"] = "Upgrade"
        resp.headers["Upgrade"] = "tcp"
    resp.force_close()
    await resp.prepare(request)
    proto = request.protocol
    transport = request.transport
    raw = RawStream(transport)
    tail = getattr(proto, "_message_tail", b"")
    try:
        proto._message_tail = b""
    except AttributeError:
        pass
    transport.set_protocol(raw)
    if tail:
        raw.data_received(tail)
    if not upgrade:
        # no upgrade: the client sent no body beyond what it will stream
        pass
    return resp, raw


def release(request: web.Request) -> None:
    """Tell aiohttp's protocol the connection is gone once the handler ends."""
    proto = request.protocol
    loop = asyncio.get_running_loop()
    loop.call_soon(proto.connection_lost, None)
