"""Attaching to a container and waiting for it, as Docker's ``run``/``start -a``.

:class:`Waiter` sends ``POST /containers/{id}/wait?condition=...`` before the
container starts (the daemon sends the headers at once and the body
``{"StatusCode": N}`` at exit). :class:`Attachment` hijacks
``POST /containers/{id}/attach?stream=1&stdout=1&stderr=1[&stdin=1]``
(101 upgrade), copies stdin to the socket and half-closes it
(``shutdown(SHUT_WR)``) at EOF, and copies the output to stdout/stderr,
demultiplexing the 8-byte frames when there is no tty.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading

from skiff.errors import SkiffError


class Waiter:
    """The wait request, sent now and read at :meth:`result`."""

    def __init__(self, client, container_id: str, condition: str = "next-exit"):
        self.client = client
        self.id = container_id
        self._resp = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._sock = None
        # send synchronously so that it reaches the daemon before start
        from skiff.client.http import send_request
        self._sock = client._connect()
        send_request(self._sock, "POST", client.url(f"/containers/{container_id}/wait",
                                                    {"condition": condition}),
                     client._host_header(), {"Connection": "close"})
        t = threading.Thread(target=self._read_head, daemon=True)
        t.start()
        # the daemon answers with headers at once; do not depend on it forever
        self._ready.wait(2.0)

    def _read_head(self):
        from skiff.client.http import Response
        try:
            self._resp = Response(self._sock, "POST")
        except BaseException as e:  # noqa: BLE001 - reported in result()
            self._error = e
        self._ready.set()

    def result(self) -> int:
        """The exit status (125 with a message on stderr when the wait failed).
        Raises the daemon's error for an error response."""
        self._ready.wait()
        if self._error is not None:
            raise SkiffError(f"error waiting for container: {self._error}")
        resp = self._resp
        with resp:
            data = resp.read()
        if resp.status >= 400:
            from skiff.client import error_from_response
            raise error_from_response(resp.status, data)
        try:
            doc = json.loads(data)
        except ValueError:
            raise SkiffError(f"error waiting for container: unexpected response {data[:100]!r}") from None
        err = doc.get("Error")
        if err and err.get("Message"):
            sys.stderr.write(f"Error waiting for container: {err['Message']}\n")
            return 125
        return int(doc.get("StatusCode", 0))


class Attachment:
    """A hijacked attach stream. ``start_io()`` begins copying in threads;
    ``wait_output()`` blocks until the daemon closes the output."""

    def __init__(self, client, container_id: str, *, stdin: bool, stdout: bool, stderr: bool,
                 tty: bool, logs: bool = False, in_fd: int | None = None, out=None, err=None,
                 detach_keys: str | None = None):
        params = {"stream": 1, "stdin": 1 if stdin else None, "stdout": 1 if stdout else None,
                  "stderr": 1 if stderr else None, "logs": 1 if logs else None,
                  "detachKeys": detach_keys or None}
        if detach_keys:
            self.detach_keys = parse_detach_keys(detach_keys)
        sock, pending = client.hijack(f"/containers/{container_id}/attach", params,
                                      headers={"Content-Type": "text/plain"})
        self.init_from_socket(sock, pending, tty=tty, stdin=stdin, in_fd=in_fd, out=out, err=err)

    def init_from_socket(self, sock, pending: bytes, *, tty: bool, stdin: bool, in_fd: int | None = None,
                         out=None, err=None) -> None:
        """Set up from an already hijacked socket (exec start uses this)."""
        self.sock, self.pending = sock, pending
        self.tty = tty
        self.stdin = stdin
        self.in_fd = 0 if in_fd is None else in_fd
        self.out = out if out is not None else sys.stdout.buffer
        self.err = err if err is not None else sys.stderr.buffer
        self._out_done = threading.Event()
        self.error: BaseException | None = None

    def start_io(self) -> None:
        if self.stdin:
            threading.Thread(target=self._pump_in, daemon=True).start()
        threading.Thread(target=self._pump_out, daemon=True).start()

    detach_keys: bytes = b"\x10\x11"  # ctrl-p ctrl-q, Docker's default
    detached = False

    def _pump_in(self):
        keys = self.detach_keys if self.tty else b""
        matched = b""
        try:
            while True:
                try:
                    data = os.read(self.in_fd, 65536)
                except InterruptedError:
                    continue
                if not data:
                    break
                if keys:
                    # hold back a possible escape sequence (moby term.EscapeProxy)
                    out = bytearray()
                    for b in data:
                        if b == keys[len(matched)]:
                            matched += bytes([b])
                            if matched == keys:
                                if out:
                                    self.sock.sendall(bytes(out))
                                self.detached = True
                                self.close()
                                return
                            continue
                        out += matched
                        matched = b""
                        out.append(b)
                    data = bytes(out)
                    if not data:
                        continue
                self.sock.sendall(data)
        except OSError:
            pass
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _pump_out(self):
        try:
            def read():
                try:
                    return self.sock.recv(65536)
                except OSError:
                    return b""
            if self.tty:
                data = self.pending
                while True:
                    if data:
                        self.out.write(data)
                        self.out.flush()
                    data = read()
                    if not data:
                        break
            else:
                from skiff.client.stream import copy_demuxed
                copy_demuxed(read, self.out, self.err, self.pending)
        except BaseException as e:  # noqa: BLE001
            self.error = e
        finally:
            self._out_done.set()

    def wait_output(self, timeout: float | None = None) -> bool:
        return self._out_done.wait(timeout)

    def close(self):
        # shutdown first: it wakes a recv() blocked in the output thread
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


_FORWARD = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def proxy_signals(client, container_id: str):
    """Forward the usual signals to the container (``--sig-proxy``); returns
    a function restoring the previous handlers."""
    import signal
    saved = {}

    def handler(signum, _frame):
        def send():
            try:
                client.request("POST", f"/containers/{container_id}/kill", {"signal": str(signum)})
            except Exception:  # noqa: BLE001 - best effort as Docker's
                pass
        threading.Thread(target=send, daemon=True).start()

    for name in _FORWARD:
        sig = getattr(signal, name)
        try:
            saved[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass

    def restore():
        for sig, h in saved.items():
            try:
                signal.signal(sig, h)
            except (ValueError, OSError):
                pass
    return restore


def resize(client, container_id: str, fd: int = 1) -> None:
    """POST /containers/{id}/resize with the terminal's size (errors ignored)."""
    from skiff.cli.tty import size
    h, w = size(fd)
    if h and w:
        try:
            client.request("POST", f"/containers/{container_id}/resize", {"h": h, "w": w})
        except SkiffError:
            pass


def monitor_resize(client, container_id: str, fd: int = 1) -> None:
    """Resize now and on every SIGWINCH."""
    import signal
    resize(client, container_id, fd)

    def on_winch(_s, _f):
        threading.Thread(target=resize, args=(client, container_id, fd), daemon=True).start()
    try:
        signal.signal(signal.SIGWINCH, on_winch)
    except (ValueError, OSError):
        pass


def parse_detach_keys(spec: str) -> bytes:
    """Docker's --detach-keys ("ctrl-p,ctrl-q", "a", "ctrl-@"...) -> bytes.
    Raises ValueError("invalid detach keys ...")."""
    out = bytearray()
    for part in spec.split(","):
        if part.startswith("ctrl-") and len(part) == 6:
            c = part[5].lower()
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
                continue
            special = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if c in special:
                out.append(special[c])
                continue
        elif len(part) == 1:
            out.append(ord(part))
            continue
        raise ValueError(f"Invalid detach keys ({part}) provided")
    return bytes(out)
