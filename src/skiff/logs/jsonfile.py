"""Docker's json-file log driver: the writer the shim uses and the reader the
daemon uses (moby daemon/logger/jsonfilelog, daemon/logger/copier.go).

Format: one JSON object per line::

    {"log":"hello\\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}

``time`` is RFC3339Nano as Go prints it (UTC, trailing zeros of the fraction
dropped). Output is split at newlines; a line longer than 16 KiB is written as
16 KiB records without the trailing "\\n" (Docker's partial messages) and the
last piece carries the "\\n"; output left without a newline when the stream
closes is written without one.

Rotation (``max_size`` bytes, ``max_file`` files): Docker's default for
json-file is NO rotation (max-size unlimited = -1, max-file 1), and so is
ours; with max-size set, before a record is written to a file that has
reached max-size, ``F`` becomes ``F.1``, ``F.1`` becomes ``F.2``... keeping
``max_file`` files in all (max_file 1: the file is truncated).
"""

from __future__ import annotations

import json
import os
import time
from typing import AsyncIterator, Callable, Iterator

MAX_LINE = 16 * 1024  # bytes; Docker's copier buffer: longer lines become partial records


def rfc3339nano(ns: int | None = None) -> str:
    """``ns`` (nanoseconds since the epoch, default now) as Go's time.RFC3339Nano in UTC."""
    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def parse_rfc3339(s: str) -> float:
    """RFC3339(Nano) -> seconds since the epoch (float). Accepts "Z" and +hh:mm offsets."""
    import calendar
    main, frac, off = s, "", 0
    if s.endswith("Z"):
        main = s[:-1]
    elif len(s) > 6 and s[-6] in "+-" and s[-3] == ":":
        sign = 1 if s[-6] == "+" else -1
        off = sign * (int(s[-5:-3]) * 3600 + int(s[-2:]) * 60)
        main = s[:-6]
    if "." in main:
        main, frac = main.split(".", 1)
    t = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) - off
    return t + (int(frac) / 10 ** len(frac) if frac else 0.0)


def _go_json_string(text: str) -> str:
    # json.dumps, plus the HTML escapes Go's encoder applies
    return (json.dumps(text, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def encode_record(stream: str, data: bytes, ts: str) -> bytes:
    """One json-file line (with its "\\n") for ``data`` (invalid UTF-8 becomes U+FFFD, as Go)."""
    return ('{"log":' + _go_json_string(data.decode("utf-8", "replace")) + ',"stream":"'
            + stream + '","time":"' + ts + '"}\n').encode()


class JSONFileWriter:
    """Appends records to a json-file log, rotating as described in the module
    docstring. ``max_size`` in bytes (-1 or 0: unlimited), ``max_file`` >= 1.
    Not thread-safe; the shim has one."""

    def __init__(self, path: str, max_size: int = -1, max_file: int = 1):
        self.path = path
        self.max_size = max_size if max_size and max_size > 0 else -1
        self.max_file = max(1, int(max_file or 1))
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self._fd).st_size

    def write(self, stream: str, data: bytes, ts: str | None = None) -> None:
        """Write one record (``data`` already split: a line or a partial piece)."""
        rec = encode_record(stream, data, ts or rfc3339nano())
        if self.max_size > 0 and self.size >= self.max_size:
            self._rotate()
        os.write(self._fd, rec)
        self.size += len(rec)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_file > 1:
            last = f"{self.path}.{self.max_file - 1}"
            if os.path.exists(last):
                os.unlink(last)
            for i in range(self.max_file - 2, 0, -1):
                src = f"{self.path}.{i}"
                if os.path.exists(src):
                    os.rename(src, f"{self.path}.{i + 1}")
            os.rename(self.path, f"{self.path}.1")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        else:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self.size = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LineSplitter:
    """Splits one stream's output into log records as Docker's copier: complete
    lines (with "\\n"), 16 KiB partial pieces of longer lines, and on
    :meth:`flush` the unterminated rest. ``emit(stream, data)`` gets each record."""

    def __init__(self, stream: str, emit: Callable[[str, bytes], None], max_line: int = MAX_LINE):
        self.stream = stream
        self.emit = emit
        self.max_line = max_line
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data
        start = 0
        buf = self.buf
        while True:
            nl = buf.find(b"\n", start, start + self.max_line)
            if nl >= 0:
                self.emit(self.stream, bytes(buf[start:nl + 1]))
                start = nl + 1
            elif len(buf) - start >= self.max_line:
                self.emit(self.stream, bytes(buf[start:start + self.max_line]))
                start += self.max_line
            else:
                break
        del buf[:start]

    def flush(self) -> None:
        if self.buf:
            self.emit(self.stream, bytes(self.buf))
            self.buf.clear()


def log_files(path: str) -> list[str]:
    """The files of a (possibly rotated) log, oldest first: F.N ... F.1, F."""
    out = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        out.append(f"{path}.{i}")
        i += 1
    out.reverse()
    if os.path.exists(path):
        out.append(path)
    return out


def _decode(line: bytes):
    try:
        d = json.loads(line)
        return d.get("stream", "stdout"), d.get("log", "").encode(), d.get("time", "")
    except (ValueError, AttributeError):
        return None


def fixed_nano(ts: str) -> str:
    """RFC3339Nano with exactly 9 fraction digits (Docker's RFC3339NanoFixed,
    used for the ``timestamps`` prefix of the logs API)."""
    if not ts.endswith("Z"):
        return ts
    main, _, frac = ts[:-1].partition(".")
    return f"{main}.{(frac + '000000000')[:9]}Z"


def _select(records, *, stdout, stderr, since, until, timestamps):
    for stream, data, ts in records:
        if since is not None or until is not None:
            try:
                t = parse_rfc3339(ts)
            except ValueError:
                t = 0.0
            if since is not None and t < since:
                continue
            if until is not None and t >= until:
                return
        if (stream == "stdout" and not stdout) or (stream == "stderr" and not stderr):
            continue
        yield stream, (fixed_nano(ts).encode() + b" " + data if timestamps else data), ts


def _file_lines(path: str) -> Iterator[bytes]:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # a record being written
            yield line


def _complete_end(f) -> int:
    """Offset just after the last newline of the open file ``f`` (0 if none)."""
    pos = f.seek(0, os.SEEK_END)
    while pos > 0:
        step = min(64 * 1024, pos)
        f.seek(pos - step)
        chunk = f.read(step)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0


def _complete_end_keep(f) -> int:
    pos = f.tell()
    try:
        return _complete_end(f)
    finally:
        f.seek(pos)


def _tail_lines(paths: list[str], n: int, limits: dict[str, int] | None = None) -> list[bytes]:
    """The last ``n`` complete lines of the files (oldest first), reading
    backwards; ``limits`` caps how far into a file (bytes) is read."""
    out: list[bytes] = []
    for path in reversed(paths):
        if len(out) >= n:
            break
        need = n - len(out)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            continue
        with f:
            pos = f.seek(0, os.SEEK_END)
            if limits and path in limits:
                pos = min(pos, limits[path])
            buf = b""
            while pos > 0 and buf.count(b"\n") <= need:
                step = min(64 * 1024, pos)
                pos -= step
                f.seek(pos)
                buf = f.read(step) + buf
        parts = buf.split(b"\n")
        parts.pop()              # after the last newline: b"" or a record being written
        if pos > 0:
            parts.pop(0)         # cut in the middle of a line
        lines = [x + b"\n" for x in parts if x]
        out[:0] = lines[-need:]
    return out[-n:] if n else []


def read_logs(path: str, *, stdout: bool = True, stderr: bool = True, since: float | None = None,
              until: float | None = None, tail: int | None = None,
              timestamps: bool = False) -> Iterator[tuple[str, bytes, str]]:
    """Records of the json-file log at ``path`` and its rotated files, oldest
    first, as (stream "stdout"|"stderr", data bytes, time RFC3339Nano).

    ``since``/``until`` are seconds since the epoch (since inclusive, until
    exclusive); ``tail`` keeps the last N records (None or < 0: all), counted
    before the stream and time filters, as Docker does, and read from the end
    of the files; with ``timestamps`` the data is prefixed with the time in
    Docker's fixed 9-digit RFC3339Nano and a space, as Docker's logs API does.
    A missing log yields nothing."""
    files = log_files(path)
    if tail is not None and tail >= 0:
        lines = iter(_tail_lines(files, tail))
    else:
        lines = (line for p in files for line in _file_lines(p))
    recs = (r for r in map(_decode, lines) if r)
    yield from _select(recs, stdout=stdout, stderr=stderr, since=since, until=until,
                       timestamps=timestamps)


def _file_records(path: str) -> Iterator[tuple[str, bytes, str]]:
    return (r for r in map(_decode, _file_lines(path)) if r)


async def follow(path: str, *, stdout: bool = True, stderr: bool = True, since: float | None = None,
                 until: float | None = None, tail: int | None = None, timestamps: bool = False,
                 is_running: Callable[[], bool], poll_interval: float = 0.1
                 ) -> AsyncIterator[tuple[str, bytes, str]]:
    """``docker logs -f``: the records :func:`read_logs` gives, then new ones as
    they are written (following rotation), until ``is_running()`` is false and
    the file is drained (or a record reaches ``until``)."""
    import asyncio

    f = None
    while f is None:
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            if not is_running():
                return
            await asyncio.sleep(poll_interval)
    try:
        end = _complete_end(f)
        rotated = log_files(path)[:-1]
        if tail is not None and tail >= 0:
            lines = _tail_lines(rotated + [path], tail, limits={path: end})
        else:
            lines = [line for p in rotated for line in _file_lines(p)]
            f.seek(0)
            lines += [line for line in f.read(end).splitlines(True) if line.endswith(b"\n")]
        f.seek(end)
        pending = [r for r in map(_decode, lines) if r]
        opts = dict(stdout=stdout, stderr=stderr, since=since, until=until, timestamps=timestamps)
        for r in _select(pending, **opts):
            yield r
        if until is not None and pending and pending[-1][2] and \
                parse_rfc3339(pending[-1][2]) >= until:
            return
        while True:
            running = is_running()
            got = False
            while True:
                pos = f.tell()
                line = f.readline()
                if not line:
                    break
                if not line.endswith(b"\n"):
                    f.seek(pos)
                    break
                got = True
                r = _decode(line)
                if r is None:
                    continue
                if until is not None and r[2] and parse_rfc3339(r[2]) >= until:
                    return
                for out in _select([r], **opts):
                    yield out
            # rotated away? continue with the new file once the old one is drained
            try:
                st = os.stat(path)
                if st.st_ino != os.fstat(f.fileno()).st_ino:
                    if got or f.tell() < _complete_end_keep(f):
                        continue  # written to before the rotation: drain it first
                    nf = open(path, "rb")
                    f.close()
                    f = nf
                    continue
                if st.st_size < f.tell():  # truncated (max-file 1)
                    f.seek(0)
                    continue
            except FileNotFoundError:
                pass
            if not running and not got:
                return
            if not got:
                await asyncio.sleep(poll_interval)
    finally:
        if f is not None:
            f.close()
