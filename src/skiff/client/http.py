"""A small HTTP/1.1 client over AF_UNIX or TCP (optionally TLS) sockets.

Only what the Docker Engine API needs: one request per connection (the
client sends ``Connection: close`` unless it wants an upgrade), bodies as
bytes or as a file-like object sent with chunked transfer-encoding,
responses read by Content-Length, chunked, or until close, and the raw
socket after a ``101 Switching Protocols`` (RFC 7230, RFC 7231 #6.2.2).

Written on ``socket`` alone so that the CLI does not pay for importing
``http.client`` (and ``email``, ``ssl``) on every start.
"""

from __future__ import annotations

import socket

from skiff.errors import Unavailable

_CHUNK = 65536


class Response:
    """A response: ``status`` (int), ``reason``, ``headers`` (dict, lower-case
    names), and the body read with :meth:`read`, :meth:`read1`,
    :meth:`iter_lines`. ``sock`` is the connection's socket; :meth:`close`
    closes it."""

    def __init__(self, sock: socket.socket, method: str):
        self.sock = sock
        self._buf = b""
        self._eof = False
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self._read_head()
        te = self.headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        self._chunk_left = 0
        self._chunk_done = False
        cl = self.headers.get("content-length")
        self._length: int | None = int(cl) if cl is not None and not self._chunked else None
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._length = 0
            self._chunked = False

    # -- raw socket reads -------------------------------------------------
    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self.sock.recv(_CHUNK)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _read_head(self) -> None:
        while b"\r\n\r\n" not in self._buf:
            if not self._fill():
                raise Unavailable("connection closed before the response headers")
            if len(self._buf) > 1 << 20:
                raise Unavailable("response headers too long")
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise Unavailable(f"malformed status line {lines[0]!r}")
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            value = value.strip()
            if key in self.headers:
                self.headers[key] += ", " + value
            else:
                self.headers[key] = value

    def _take(self, n: int) -> bytes:
        """Up to n bytes of the raw stream (at least 1 unless EOF)."""
        if not self._buf:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _readline_raw(self) -> bytes:
        while b"\r\n" not in self._buf:
            if not self._fill():
                data, self._buf = self._buf, b""
                return data
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    # -- body ------------------------------------------------------------
    def read1(self, n: int = _CHUNK) -> bytes:
        """Some body bytes (at most n), as soon as any arrive; b"" at the end."""
        if self._chunked:
            if self._chunk_done:
                return b""
            if self._chunk_left == 0:
                size_line = self._readline_raw()
                if not size_line and self._eof:
                    # the daemon went away before the last chunk: the body is cut
                    self._chunk_done = True
                    raise Unavailable("error reading from server: unexpected EOF")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the empty line
                    while self._readline_raw():
                        pass
                    self._chunk_done = True
                    return b""
                self._chunk_left = size
            data = self._take(min(n, self._chunk_left))
            if not data:
                self._chunk_done = True
                raise Unavailable("error reading from server: unexpected EOF")
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self._readline_raw()  # the CRLF after the chunk
            return data
        if self._length is not None:
            if self._length <= 0:
                return b""
            data = self._take(min(n, self._length))
            if not data:
                self._length = 0
                raise Unavailable("error reading from server: unexpected EOF")
            self._length -= len(data)
            return data
        return self._take(n)

    def read(self) -> bytes:
        """The whole (rest of the) body."""
        parts = []
        while True:
            data = self.read1()
            if not data:
                break
            parts.append(data)
        return b"".join(parts)

    def readexactly(self, n: int) -> bytes:
        """n body bytes, or fewer at the end of the body."""
        parts = []
        while n > 0:
            data = self.read1(n)
            if not data:
                break
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def iter_lines(self):
        """The body split into lines (without the newline), as they arrive."""
        pending = b""
        while True:
            data = self.read1()
            if not data:
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line
        if pending:
            yield pending

    def detach(self) -> tuple[socket.socket, bytes]:
        """The socket and the bytes already read past the headers (after a 101)."""
        buf, self._buf = self._buf, b""
        return self.sock, buf

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(scheme: str, address: str, *, ssl_context=None, server_hostname: str | None = None,
            timeout: float | None = None) -> socket.socket:
    """A connected socket: scheme "unix" (address is a path) or "tcp"
    ("host:port"). Raises ConnectionError/OSError as the kernel does."""
    if scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        return sock
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.settimeout(None)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname or host)
    return sock


def send_request(sock: socket.socket, method: str, target: str, host_header: str,
                 headers: dict[str, str], body=None) -> None:
    """Write one request. ``body``: None, bytes, or a file-like object with
    ``read(n)`` (sent chunked unless a Content-Length header is given)."""
    hdrs = {"Host": host_header, "User-Agent": "skiff-cli"}
    hdrs.update(headers)
    chunked = False
    if body is None:
        if method in ("POST", "PUT"):
            hdrs.setdefault("Content-Length", "0")
    elif isinstance(body, (bytes, bytearray, memoryview)):
        hdrs["Content-Length"] = str(len(body))
    elif not any(k.lower() == "content-length" for k in hdrs):
        hdrs["Transfer-Encoding"] = "chunked"
        chunked = True
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    if isinstance(body, (bytes, bytearray, memoryview)) and len(body) < 65536:
        sock.sendall(head.encode("latin-1") + bytes(body))
        return
    sock.sendall(head.encode("latin-1"))
    if body is None:
        return
    if isinstance(body, (bytes, bytearray, memoryview)):
        sock.sendall(body)
        return
    read = getattr(body, "read1", None) or body.read
    while True:
        data = read(_CHUNK)
        if not data:
            break
        if chunked:
            sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            sock.sendall(data)
    if chunked:
        sock.sendall(b"0\r\n\r\n")
