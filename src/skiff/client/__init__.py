"""The skiff API client: the Docker Engine API (v1.44) over a unix socket or TCP (+TLS).

::

    c = Client("unix:///run/skiff/skiff.sock")
    c.get_json("/containers/json", {"all": True})          # -> list of dicts
    status, headers, body = c.request("POST", "/containers/x/start")
    for msg in c.stream_json("POST", "/images/create", {"fromImage": "busybox", "tag": "latest"}):
        ...
    sock, pending = c.hijack("/containers/x/attach", {"stream": 1, "stdout": 1})

Paths are given without the version prefix; the client adds ``/v1.44`` (or
the version from ``SKIFF_API_VERSION``; it downgrades once to the daemon's
maximum when the daemon answers "client version X is too new"). Error
responses (status >= 400, JSON ``{"message": ...}``) are raised as the
``skiff.errors`` class for the status (``BY_STATUS``), with
``details["status"]`` and ``details["response"] = True``; an unreachable
daemon raises :class:`skiff.errors.Unavailable` with Docker's wording
("Cannot connect to the skiff daemon at HOST. Is the skiff daemon running?").
"""

from __future__ import annotations

import json
import os
import re
import socket

from skiff.errors import BY_STATUS, SkiffError, Unavailable, InvalidArgument
from skiff.client.http import Response, connect, send_request

__all__ = ["Client", "DEFAULT_HOST", "API_VERSION", "parse_host", "TLSConfig", "error_from_response",
           "encode_filters"]

DEFAULT_HOST = "unix:///run/skiff/skiff.sock"
API_VERSION = "1.44"
_TOO_NEW = re.compile(r"client version \S+ is too new\. Maximum supported API version is (\d+\.\d+)")


def parse_host(host: str, tls: bool = False) -> tuple[str, str]:
    """``unix:///path`` -> ("unix", "/path"); ``tcp://h[:p]`` -> ("tcp", "h:p") with
    port 2375 (2376 with TLS) by default. Raises InvalidArgument otherwise."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if not path:
            raise InvalidArgument(f"invalid bind address format: {host}")
        return "unix", path
    if host.startswith("tcp://") or host.startswith("http://") or host.startswith("https://"):
        rest = host.split("://", 1)[1].rstrip("/")
        if not rest:
            raise InvalidArgument(f"invalid bind address format: {host}")
        if rest.startswith("["):
            if "]:" not in rest:
                rest = f"{rest}:{2376 if tls else 2375}"
        elif ":" not in rest:
            rest = f"{rest}:{2376 if tls else 2375}"
        return "tcp", rest
    if host.startswith("/"):
        return "unix", host
    raise InvalidArgument(f"invalid bind address format: {host}")


def encode_filters(filters: dict[str, list[str]] | None) -> str | None:
    """{"label": ["a=b"]} -> '{"label":{"a=b":true}}' (Engine API filters form), None if empty."""
    if not filters:
        return None
    return json.dumps({k: {v: True for v in vs} for k, vs in filters.items()}, separators=(",", ":"))


class TLSConfig:
    """TLS settings for tcp:// hosts, as Docker's --tls/--tlsverify/--tlscacert/
    --tlscert/--tlskey. ``cert_path`` is the directory holding ca.pem, cert.pem,
    key.pem (SKIFF_CERT_PATH, DOCKER_CERT_PATH-style)."""

    def __init__(self, verify: bool = False, cacert: str | None = None, cert: str | None = None,
                 key: str | None = None, cert_path: str | None = None):
        self.verify = verify
        base = cert_path or os.environ.get("SKIFF_CERT_PATH") or os.path.expanduser("~/.skiff")
        self.cacert = cacert or os.path.join(base, "ca.pem")
        self.cert = cert or os.path.join(base, "cert.pem")
        self.key = key or os.path.join(base, "key.pem")

    def context(self):
        """An ssl.SSLContext (ssl is imported only here)."""
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.verify:
            ctx.load_verify_locations(self.cacert)
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.check_hostname = True
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if os.path.exists(self.cert) and os.path.exists(self.key):
            ctx.load_cert_chain(self.cert, self.key)
        return ctx


def error_from_response(status: int, body: bytes) -> SkiffError:
    """The skiff.errors instance for an error response (status >= 400)."""
    message = ""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict):
            message = str(doc.get("message", "")) or ""
    except ValueError:
        message = body.decode("utf-8", "replace").strip()
    if not message:
        message = f"status {status}"
    cls = BY_STATUS.get(status) or (InvalidArgument if 400 <= status < 500 else SkiffError)
    return cls(message, status=status, response=True)


def _query(params: dict | None) -> str:
    if not params:
        return ""
    from urllib.parse import quote
    parts = []
    for k, v in params.items():
        if v is None or v is False:
            continue
        if v is True:
            v = "1"
        if isinstance(v, (list, tuple)):
            for item in v:
                parts.append(f"{quote(str(k), safe='')}={quote(str(item), safe='')}")
            continue
        parts.append(f"{quote(str(k), safe='')}={quote(str(v), safe='')}")
    return ("?" + "&".join(parts)) if parts else ""


class Client:
    """A Docker Engine API client. ``host``: unix:///PATH or tcp://HOST:PORT
    (default: SKIFF_HOST or unix:///run/skiff/skiff.sock); ``tls``: a
    TLSConfig (tcp only); ``version``: API version of the path prefix."""

    def __init__(self, host: str | None = None, *, tls: TLSConfig | None = None,
                 version: str | None = None, timeout: float | None = None):
        self.host = host or os.environ.get("SKIFF_HOST") or DEFAULT_HOST
        self.tls = tls
        self.scheme, self.address = parse_host(self.host, tls is not None)
        self.version = version or os.environ.get("SKIFF_API_VERSION") or API_VERSION
        self.timeout = timeout
        self._ssl = None
        self._negotiated = False

    # -- connection ------------------------------------------------------
    def _connect(self):
        if self.tls is not None and self._ssl is None and self.scheme == "tcp":
            self._ssl = self.tls.context()
        try:
            return connect(self.scheme, self.address, ssl_context=self._ssl, timeout=self.timeout)
        except PermissionError as e:
            raise Unavailable(f"permission denied while trying to connect to the skiff daemon socket at "
                              f"{self.host}: {e}", host=self.host) from None
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, TimeoutError,
                socket.gaierror) as e:
            raise Unavailable(f"Cannot connect to the skiff daemon at {self.host}. "
                              f"Is the skiff daemon running?", host=self.host, cause=str(e)) from None
        except (OSError, ValueError) as e:
            raise Unavailable(f"error during connect: {e}", host=self.host) from None

    def _host_header(self) -> str:
        return "api" if self.scheme == "unix" else self.address

    def url(self, path: str, params: dict | None = None) -> str:
        """The request target: /v<version><path>?<query>."""
        if path.startswith("/_ping"):
            return path + _query(params)
        return f"/v{self.version}{path}{_query(params)}"

    def open(self, method: str, path: str, params: dict | None = None, body=None,
             headers: dict | None = None, *, check: bool = True, upgrade: bool = False) -> Response:
        """Send one request and return the Response with its body unread.
        ``body``: bytes, a dict/list (sent as JSON), a file-like object, or None.
        Raises the error for status >= 400 when ``check``; Unavailable when the
        daemon cannot be reached."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if upgrade:
            hdrs.setdefault("Connection", "Upgrade")
            hdrs.setdefault("Upgrade", "tcp")
        else:
            hdrs.setdefault("Connection", "close")
        replayable = body is None or isinstance(body, (bytes, bytearray))
        if not replayable and not self._negotiated:
            self.negotiate()
        for attempt in (0, 1):
            sock = self._connect()
            try:
                send_request(sock, method, self.url(path, params), self._host_header(), hdrs, body)
                resp = Response(sock, method)
            except (OSError, Unavailable) as e:
                sock.close()
                if isinstance(e, Unavailable):
                    raise
                raise Unavailable(f"error during connect: {e}", host=self.host) from None
            if resp.status >= 400 and check:
                data = resp.read()
                resp.close()
                err = error_from_response(resp.status, data)
                m = _TOO_NEW.search(err.message)
                if m and attempt == 0 and replayable and resp.status == 400:
                    self.version = m.group(1)
                    self._negotiated = True
                    continue
                raise err
            return resp
        raise AssertionError("unreachable")

    def negotiate(self) -> str:
        """Ping the daemon and lower ``version`` to its API-Version if older."""
        self._negotiated = True
        try:
            resp = self.open("GET", "/_ping", check=False)
        except Unavailable:
            raise
        with resp:
            resp.read()
            server = resp.headers.get("api-version")
        if server and _vtuple(server) < _vtuple(self.version):
            self.version = server
        return self.version

    # -- conveniences ----------------------------------------------------
    def request(self, method: str, path: str, params: dict | None = None, body=None,
                headers: dict | None = None, *, check: bool = True) -> tuple[int, dict, bytes]:
        """One request, body read whole: (status, headers, body bytes)."""
        with self.open(method, path, params, body, headers, check=check) as resp:
            data = resp.read()
            return resp.status, resp.headers, data

    def call(self, method: str, path: str, params: dict | None = None, body=None,
             headers: dict | None = None):
        """One request; the decoded JSON body, or None when it is empty."""
        _, hdrs, data = self.request(method, path, params, body, headers)
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    def get_json(self, path: str, params: dict | None = None):
        """GET path -> decoded JSON."""
        return self.call("GET", path, params)

    def post_json(self, path: str, params: dict | None = None, body=None, headers: dict | None = None):
        """POST path with a JSON (or bytes) body -> decoded JSON or None."""
        return self.call("POST", path, params, body, headers)

    def stream_json(self, method: str, path: str, params: dict | None = None, body=None,
                    headers: dict | None = None):
        """Iterate the JSON messages of a streaming response (one per line, as
        /images/create, /images/load and /events send them)."""
        resp = self.open(method, path, params, body, headers)
        with resp:
            dec = json.JSONDecoder()
            pending = ""
            for raw in resp.iter_lines():
                pending += raw.decode("utf-8", "replace")
                pending = pending.strip()
                while pending:
                    try:
                        obj, end = dec.raw_decode(pending)
                    except ValueError:
                        break
                    yield obj
                    pending = pending[end:].lstrip()
            if pending.strip():
                yield json.loads(pending)

    def hijack(self, path: str, params: dict | None = None, body=None,
               headers: dict | None = None):
        """POST with ``Connection: Upgrade``/``Upgrade: tcp`` and take over the
        connection (attach, exec start). Returns (socket, bytes already read
        past the headers). The daemon answers 101 (or 200 from old daemons)."""
        resp = self.open("POST", path, params, body, headers, upgrade=True)
        if resp.status not in (101, 200):
            data = resp.read()
            resp.close()
            raise error_from_response(resp.status if resp.status >= 400 else 500, data)
        return resp.detach()

    def ping(self) -> dict:
        """GET /_ping: the response headers (api-version, ostype...)."""
        _, hdrs, _ = self.request("GET", "/_ping")
        return hdrs


def _vtuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)
