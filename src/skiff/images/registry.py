"""Registry client: the Docker Registry HTTP API v2 / OCI distribution-spec (pull side).

- HTTPS by default; plain HTTP for loopback hosts (127.0.0.0/8, ::1,
  localhost); ``insecure`` registries ("host[:port]" or a CIDR) try HTTPS
  without verification, then HTTP, as Docker does.
- ``mirrors`` ("https://mirror.example") are tried first for docker.io,
  falling back to the origin (registry-1.docker.io) on any failure.
- Auth: anonymous, Bearer tokens (``WWW-Authenticate: Bearer realm=,service=,scope=``,
  with or without credentials; docker/distribution token spec) and Basic.
  Tokens are cached per (realm, service, scope).
- Manifests: GET with Accept for OCI/Docker manifests and indexes; when fetched
  by digest the bytes are verified. Blobs stream with redirects followed and
  their digest and size verified at the end (DataCorruption otherwise).

Errors: Unauthorized ("unauthorized: authentication required",
"unauthorized: incorrect username or password"), NotFound ("manifest unknown"),
Unavailable (connection refused, 5xx), DataCorruption.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import AsyncIterator

import aiohttp

from ..errors import DataCorruption, InvalidArgument, NotFound, SkiffError, Unauthorized, Unavailable
from ..types import Descriptor
from . import manifest as mf
from .reference import DEFAULT_DOMAIN, Reference

DOCKER_HUB_ORIGIN = "https://registry-1.docker.io"
MAX_MANIFEST_SIZE = 4 << 20
CHUNK = 1 << 16


@dataclass(frozen=True)
class Endpoint:
    """One place to pull from: ``base`` URL ("https://host:port"), ``mirror`` flag,
    ``insecure`` (TLS not verified / HTTP fallback allowed)."""

    base: str
    mirror: bool = False
    insecure: bool = False


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest or index as served: bytes, Content-Type, digest, and the endpoint
    that served it (blobs are then fetched from the same one)."""

    data: bytes
    media_type: str
    digest: str
    endpoint: Endpoint


def _host_of(domain: str) -> str:
    if domain.startswith("["):
        return domain[1:domain.index("]")]
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def is_loopback(domain: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (with or without a port)."""
    host = _host_of(domain).lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_insecure(domain: str, insecure: list[str] | tuple[str, ...]) -> bool:
    """Is ``domain`` ("host[:port]") listed in ``insecure`` (host[:port] or CIDR)?"""
    host = _host_of(domain)
    for entry in insecure:
        entry = entry.strip()
        if "://" in entry:
            entry = entry.split("://", 1)[1]
        entry = entry.rstrip("/")
        if entry.lower() == domain.lower() or entry.lower() == host.lower():
            return True
        if "/" in entry:
            try:
                net = ipaddress.ip_network(entry, strict=False)
                if ipaddress.ip_address(host) in net:
                    return True
            except ValueError:
                continue
    return False


def parse_www_authenticate(value: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="x",service="y",scope="z"' -> ("bearer", {...})."""
    scheme, _, rest = value.strip().partition(" ")
    params = {}
    for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', rest):
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return scheme.lower(), params


def _error_text(body: bytes, default: str) -> str:
    """Docker's errcode formatting: "unauthorized: authentication required"."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return default
    if isinstance(doc, dict):
        errs = doc.get("errors")
        if isinstance(errs, list) and errs:
            parts = []
            for e in errs:
                if isinstance(e, dict):
                    code = str(e.get("code", "")).lower().replace("_", " ")
                    msg = e.get("message", "")
                    parts.append(f"{code}: {msg}" if code else str(msg))
            if parts:
                return "; ".join(parts)
        if doc.get("details"):
            return f"unauthorized: {doc['details']}"
        if doc.get("message"):
            return str(doc["message"])
    return default


class RegistryClient:
    """An async pull client for one pull (or one daemon), on aiohttp.

    ``auth``: Docker's AuthConfig dict (``username``/``password``, or ``auth``
    = base64 "user:pass", ``identitytoken``, ``registrytoken``) or None.
    Use as ``async with RegistryClient(...) as rc:`` or call :meth:`close`.
    """

    def __init__(self, *, mirrors: list[str] | tuple[str, ...] = (),
                 insecure: list[str] | tuple[str, ...] = (), auth: dict | None = None,
                 connect_timeout: float = 15.0, read_timeout: float = 60.0, hub_fallback: bool = True):
        self.insecure = list(insecure)
        # after the mirrors, try Docker Hub itself (Docker's behaviour); off for
        # machines and tests that must not leave the host
        self.hub_fallback = hub_fallback or not mirrors
        # "https://mirror.example" as daemon.json has them; a bare host gets https,
        # or http when it is on loopback
        self.mirrors = [m.rstrip("/") if "://" in m else
                        ("http://" if is_loopback(m.strip("/")) else "https://") + m.rstrip("/")
                        for m in mirrors]
        self.username, self.password, self.identity_token, self.registry_token = self._creds(auth)
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        # (base, scope) -> Authorization header value to send preemptively
        self._auth_for: dict[tuple[str, str], str] = {}
        # insecure endpoints: base URL actually working (https or http)
        self._scheme_of: dict[str, str] = {}

    @staticmethod
    def _creds(auth: dict | None) -> tuple[str, str, str, str]:
        if not auth:
            return "", "", "", ""
        user, pw = auth.get("username") or "", auth.get("password") or ""
        if not user and auth.get("auth"):
            try:
                user, _, pw = base64.b64decode(auth["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise InvalidArgument("invalid auth configuration") from None
        return user, pw, auth.get("identitytoken") or "", auth.get("registrytoken") or ""

    async def __aenter__(self) -> "RegistryClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False,
                                                  headers={"User-Agent": "skiff/0.1 (docker-compatible)"})
        return self._session

    # --- endpoints ----------------------------------------------------------

    def endpoints(self, domain: str) -> list[Endpoint]:
        """Where to pull ``domain`` from, in order (mirrors first for docker.io)."""
        out = []
        if domain == DEFAULT_DOMAIN:
            for m in self.mirrors:
                host = urllib.parse.urlsplit(m).netloc
                out.append(Endpoint(m, mirror=True, insecure=is_insecure(host, self.insecure)))
            if self.hub_fallback:
                out.append(Endpoint(DOCKER_HUB_ORIGIN))
            return out
        # loopback is insecure by default, as Docker's 127.0.0.0/8: HTTPS without
        # verification first, then plain HTTP (Endpoint.insecure, see _base)
        if is_loopback(domain) or is_insecure(domain, self.insecure):
            return [Endpoint("https://" + domain, insecure=True)]
        return [Endpoint("https://" + domain)]

    # --- requests with auth -------------------------------------------------

    async def _send(self, method: str, url: str, headers: dict, insecure: bool,
                    allow_redirects: bool = True) -> aiohttp.ClientResponse:
        try:
            return await self._sess().request(method, url, headers=headers, allow_redirects=allow_redirects,
                                              ssl=False if insecure else None)
        except aiohttp.ClientError as e:
            raise Unavailable(f'{method.capitalize()} "{url}": {e}', url=url) from None
        except TimeoutError:
            raise Unavailable(f'{method.capitalize()} "{url}": timeout', url=url) from None

    async def _base(self, ep: Endpoint) -> str:
        """The working base URL of an endpoint (https, or http for insecure ones)."""
        if not ep.insecure or not ep.base.startswith("https://"):
            return ep.base
        got = self._scheme_of.get(ep.base)
        if got:
            return got
        try:
            r = await self._send("GET", ep.base + "/v2/", {}, True)
            r.release()
            self._scheme_of[ep.base] = ep.base
        except Unavailable:
            self._scheme_of[ep.base] = "http://" + ep.base[len("https://"):]
        return self._scheme_of[ep.base]

    async def _token(self, params: dict[str, str], scope: str, fresh: bool = False) -> str:
        realm = params.get("realm", "")
        service = params.get("service", "")
        if not realm:
            raise Unauthorized("unauthorized: bearer challenge without realm")
        if self.registry_token:
            return self.registry_token
        key = (realm, service, scope)
        cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic() and not fresh:
            return cached[0]
        query = []
        if service:
            query.append(("service", service))
        if scope:
            query.append(("scope", scope))
        if self.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": self.identity_token,
                    "service": service, "scope": scope, "client_id": "skiff"}
            try:
                r = await self._sess().post(realm, data=form)
            except aiohttp.ClientError as e:
                raise Unavailable(f'Post "{realm}": {e}', url=realm) from None
        else:
            headers = {}
            if self.username:
                headers["Authorization"] = "Basic " + base64.b64encode(
                    f"{self.username}:{self.password}".encode()).decode()
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
            try:
                r = await self._sess().get(url, headers=headers, ssl=None)
            except aiohttp.ClientError as e:
                raise Unavailable(f'Get "{realm}": {e}', url=realm) from None
        async with r:
            body = await r.read()
            if r.status in (401, 403):
                text = _error_text(body, "unauthorized: incorrect username or password"
                                   if self.username else "unauthorized: authentication required")
                raise Unauthorized(text, realm=realm)
            if r.status != 200:
                raise Unavailable(f"token server {realm} answered {r.status}", realm=realm)
            try:
                doc = json.loads(body)
            except ValueError:
                raise Unavailable(f"token server {realm} sent invalid JSON", realm=realm) from None
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise Unauthorized(f"unauthorized: token server {realm} sent no token", realm=realm)
        ttl = int(doc.get("expires_in") or 60)
        self._tokens[key] = (token, time.monotonic() + max(ttl - 10, 5))
        return token

    async def login(self, server: str) -> str:
        """Check this client's credentials against ``server`` (a host[:port],
        or a URL such as https://index.docker.io/v1/): GET /v2/ answering a
        401 challenge with them. Returns "Login Succeeded"; Unauthorized when
        refused, Unavailable when unreachable. Engine API POST /auth."""
        host = server
        if "://" in host:
            host = urllib.parse.urlsplit(host).netloc
        host = host.strip("/")
        if host in ("", "index.docker.io", "registry-1.docker.io", DEFAULT_DOMAIN):
            host = DEFAULT_DOMAIN
        eps = self.endpoints(host)
        ep = [e for e in eps if not e.mirror][0] if host == DEFAULT_DOMAIN else eps[0]
        r = await self._request("GET", ep, "/v2/", "")
        async with r:
            if r.status == 401:
                raise Unauthorized("unauthorized: incorrect username or password" if self.username
                                   else "unauthorized: authentication required")
            if r.status >= 400:
                raise Unavailable(f"login to {host}: registry answered {r.status}")
        return "Login Succeeded"

    async def _request(self, method: str, ep: Endpoint, path: str, scope: str,
                       headers: dict | None = None, allow_redirects: bool = True) -> aiohttp.ClientResponse:
        """Send with cached credentials; answer one 401 by authenticating and retrying."""
        base = await self._base(ep)
        url = base + path
        hdrs = dict(headers or {})
        cached = self._auth_for.get((base, scope))
        if cached:
            hdrs["Authorization"] = cached
        r = await self._send(method, url, hdrs, ep.insecure, allow_redirects)
        if r.status != 401:
            return r
        challenge = r.headers.get("WWW-Authenticate", "")
        body = await r.read()
        r.release()
        scheme, params = parse_www_authenticate(challenge)
        if scheme == "bearer":
            # a cached token the registry refused (expired, revoked) is not reused
            token = await self._token(params, params.get("scope") or scope, fresh=bool(cached))
            authz = "Bearer " + token
        elif scheme == "basic":
            if not self.username:
                raise Unauthorized(_error_text(body, "unauthorized: authentication required"), url=url)
            authz = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        else:
            raise Unauthorized(_error_text(body, "unauthorized: authentication required"), url=url)
        hdrs["Authorization"] = authz
        r = await self._send(method, url, hdrs, ep.insecure, allow_redirects)
        if r.status != 401:
            self._auth_for[(base, scope)] = authz
        return r  # a second 401 is reported by _check with the repository's name

    async def _check(self, r: aiohttp.ClientResponse, what: str, ref: Reference) -> None:
        if 200 <= r.status < 300:
            return
        body = await r.read()
        r.release()
        text = _error_text(body, f"{r.status} {r.reason}")
        if r.status == 404:
            if "name unknown" in text or "NAME_UNKNOWN" in text:
                raise NotFound(f"pull access denied for {ref.familiar_name()}, repository does not exist "
                               f"or may require 'docker login': {text}", ref=str(ref))
            raise NotFound(f"{what} not found: {text}", ref=str(ref))
        if r.status in (401, 403):
            if r.status == 401 and text == f"{r.status} {r.reason}":
                text = ("unauthorized: incorrect username or password" if self.username
                        else "unauthorized: authentication required")
            raise Unauthorized(f"pull access denied for {ref.familiar_name()}, repository does not exist "
                               f"or may require 'docker login': {text}", ref=str(ref))
        if r.status == 429:
            raise Unavailable(f"toomanyrequests: {text}", ref=str(ref))
        raise Unavailable(f"{what}: registry answered {r.status}: {text}", ref=str(ref))

    # --- public API -----------------------------------------------------------

    @staticmethod
    def scope(ref: Reference) -> str:
        return f"repository:{ref.path}:pull"

    async def get_manifest(self, ref: Reference, reference: str, ep: Endpoint) -> FetchedManifest:
        """GET /v2/<name>/manifests/<reference> from ``ep``; a digest reference
        is verified against the bytes (DataCorruption)."""
        r = await self._request("GET", ep, f"/v2/{ref.path}/manifests/{reference}", self.scope(ref),
                                {"Accept": ", ".join(mf.ACCEPT)})
        shown = f"{ref.familiar_name()}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        await self._check(r, f"manifest for {shown}", ref)
        async with r:
            data = b""
            try:
                async for chunk in r.content.iter_chunked(CHUNK):
                    data += chunk
                    if len(data) > MAX_MANIFEST_SIZE:
                        raise InvalidArgument(f"manifest for {shown} is too large", ref=str(ref))
            except (aiohttp.ClientError, TimeoutError) as e:
                raise Unavailable(f"error reading manifest for {shown}: {e or type(e).__name__}",
                                  ref=str(ref)) from None
            media_type = (r.headers.get("Content-Type") or "").split(";")[0].strip()
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and actual != reference:
            raise DataCorruption(f"manifest digest mismatch for {shown}: got {actual}", digest=reference)
        return FetchedManifest(data, media_type, actual, ep)

    async def resolve(self, ref: Reference) -> FetchedManifest:
        """The manifest (or index) ``ref`` names: by digest when it has one, else by
        tag ("latest" if none). Tries each endpoint (mirrors, then origin) in turn;
        raises the origin's error when all fail."""
        reference = ref.digest or ref.tag or "latest"
        last: Exception | None = None
        for ep in self.endpoints(ref.domain):
            try:
                return await self.get_manifest(ref, reference, ep)
            except (SkiffError, aiohttp.ClientError) as e:
                last = e
                if not ep.mirror:
                    raise
        assert last is not None
        raise last

    async def fetch_blob(self, ref: Reference, desc: Descriptor, ep: Endpoint,
                         offset: int = 0) -> AsyncIterator[bytes]:
        """Stream blob ``desc`` from ``ep`` (redirects followed, credentials not sent
        to another host); the digest and size are verified after the last chunk,
        raising DataCorruption on a mismatch."""
        r = await self._request("GET", ep, f"/v2/{ref.path}/blobs/{desc.digest}", self.scope(ref),
                                allow_redirects=False)
        hops = 0
        while r.status in (301, 302, 303, 307, 308):
            loc = r.headers.get("Location", "")
            r.release()
            hops += 1
            if not loc or hops > 10:
                raise Unavailable(f"blob {desc.digest}: bad redirect", digest=desc.digest)
            target = urllib.parse.urljoin(str(r.url), loc)
            same = urllib.parse.urlsplit(target).netloc == urllib.parse.urlsplit(str(r.url)).netloc
            hdrs = {}
            if same:
                base = await self._base(ep)
                if self._auth_for.get((base, self.scope(ref))):
                    hdrs["Authorization"] = self._auth_for[(base, self.scope(ref))]
            r = await self._send("GET", target, hdrs, ep.insecure, allow_redirects=False)
        await self._check(r, f"blob {desc.digest}", ref)
        alg, _, want = desc.digest.partition(":")
        h = hashlib.new(alg)
        n = 0
        async with r:
            chunks = r.content.iter_chunked(CHUNK)
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except (aiohttp.ClientError, TimeoutError) as e:
                    raise Unavailable(f"error pulling blob {desc.digest}: {e or type(e).__name__}",
                                      digest=desc.digest) from None
                h.update(chunk)
                n += len(chunk)
                if desc.size and n > desc.size:
                    raise DataCorruption(f"blob {desc.digest}: more data than the {desc.size} bytes expected",
                                         digest=desc.digest)
                yield chunk
        if desc.size and n != desc.size:
            raise DataCorruption(f"blob {desc.digest}: got {n} bytes, expected {desc.size}", digest=desc.digest)
        if h.hexdigest() != want:
            raise DataCorruption(f"digest mismatch for blob {desc.digest}: got {alg}:{h.hexdigest()}",
                                 digest=desc.digest)

    async def get_blob(self, ref: Reference, desc: Descriptor, ep: Endpoint, limit: int = 64 << 20) -> bytes:
        """A whole (small) blob, verified (configs)."""
        if desc.size > limit:
            raise InvalidArgument(f"blob {desc.digest} is too large ({desc.size} bytes)", digest=desc.digest)
        out = bytearray()
        async for chunk in self.fetch_blob(ref, desc, ep):
            out += chunk
        return bytes(out)
