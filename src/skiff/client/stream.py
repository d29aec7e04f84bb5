"""Docker's multiplexed stream format (attach, logs and exec without a tty).

Each frame is an 8-byte header ``[STREAM, 0, 0, 0, SIZE1..SIZE4]`` (SIZE is a
big-endian uint32, the payload length in bytes) followed by the payload.
STREAM is 0 stdin, 1 stdout, 2 stderr, 3 systemerr (Engine API
"Stream format" under POST /containers/{id}/attach).
"""

from __future__ import annotations

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3


def frame(stream: int, payload: bytes) -> bytes:
    """Encode one frame (used by tests and fakes)."""
    return bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


class Demuxer:
    """Incremental decoder: :meth:`feed` bytes as they arrive, get back the
    complete frames as (stream, payload) pairs; partial frames wait for more.
    Raises ValueError on a header whose stream byte is not 0..3."""

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 8:
            stream = buf[pos]
            if stream > 3 or buf[pos + 1] or buf[pos + 2] or buf[pos + 3]:
                raise ValueError(f"bad stream frame header {bytes(buf[pos:pos + 8])!r}")
            size = int.from_bytes(buf[pos + 4:pos + 8], "big")
            if len(buf) - pos - 8 < size:
                break
            out.append((stream, bytes(buf[pos + 8:pos + 8 + size])))
            pos += 8 + size
        del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes buffered of an incomplete frame."""
        return len(self._buf)


def copy_demuxed(read, stdout, stderr, first: bytes = b"") -> None:
    """Read the multiplexed stream with ``read()`` (returns b"" at EOF) and
    write each payload to ``stdout`` or ``stderr`` (binary files, flushed per
    frame). Payloads of systemerr are raised as RuntimeError."""
    dm = Demuxer()
    data = first
    while True:
        if data:
            for stream, payload in dm.feed(data):
                if stream == SYSTEMERR:
                    raise RuntimeError(payload.decode("utf-8", "replace").strip())
                target = stderr if stream == STDERR else stdout
                target.write(payload)
                target.flush()
        data = read()
        if not data:
            return
