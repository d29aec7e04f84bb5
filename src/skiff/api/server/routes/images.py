"""Image routes: Engine API v1.44 "Image" section (create = pull or import,
list, inspect, tag, delete, load). The backend is
skiff.services.images.ImageService."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Protocol

from aiohttp import web

from ....errors import InvalidArgument
from ..app import qbool, qfilters, route


class ImageBackend(Protocol):
    async def pull(self, ref: str, *, auth: dict | None, platform: str | None, progress) -> object: ...
    def list(self, all: bool = False, filters: dict | None = None) -> list[dict]: ...
    def inspect(self, ref: str) -> dict: ...
    def tag(self, source: str, repo: str, tag: str | None) -> None: ...
    def remove(self, ref: str, force: bool = False, prune: bool = True) -> list[dict]: ...
    async def import_tar(self, stream, repo_tag: str | None, changes: list[str], message: str) -> str: ...
    async def load(self, stream) -> list[str]: ...


def decode_auth(header: str | None) -> dict | None:
    """X-Registry-Auth: base64url(JSON {username, password, serveraddress,
    identitytoken}) as the Engine API defines; None when absent or empty."""
    if not header:
        return None
    pad = "=" * (-len(header) % 4)
    try:
        raw = base64.urlsafe_b64decode(header + pad)
        d = json.loads(raw or b"{}")
    except (ValueError, json.JSONDecodeError):
        raise InvalidArgument("invalid X-Registry-Auth header")
    if not isinstance(d, dict):
        return None
    return d if (d.get("username") or d.get("identitytoken") or d.get("registrytoken")) else None


class _BodyReader:
    """A blocking file-like over an aiohttp request body, for code that runs
    in a worker thread (tar readers): ``read(n)`` fetches from the event loop."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop):
        self._content = request.content
        self._loop = loop
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        async def more(k):
            return await self._content.read(k)
        if n is None or n < 0:
            chunks = [self._buf]
            self._buf = b""
            while True:
                c = asyncio.run_coroutine_threadsafe(more(1 << 20), self._loop).result()
                if not c:
                    return b"".join(chunks)
                chunks.append(c)
        while len(self._buf) < n:
            c = asyncio.run_coroutine_threadsafe(more(max(n - len(self._buf), 1 << 16)), self._loop).result()
            if not c:
                break
            self._buf += c
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def readable(self) -> bool:
        return True


async def _stream_progress(request: web.Request, work) -> web.StreamResponse:
    """Run ``work(progress)`` while streaming its progress messages as JSON
    lines. An error before any message is an HTTP error; after, it is a
    {"errorDetail": {"message"}, "error"} line, as dockerd does."""
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.ensure_future(work(queue.put_nowait))
    resp: web.StreamResponse | None = None
    getter = None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                msg = getter.result()
                if resp is None:
                    resp = web.StreamResponse()
                    resp.content_type = "application/json"
                    await resp.prepare(request)
                await resp.write(json.dumps(msg).encode() + b"\r\n")
                continue
            getter.cancel()
            while not queue.empty():
                msg = queue.get_nowait()
                if resp is None:
                    resp = web.StreamResponse()
                    resp.content_type = "application/json"
                    await resp.prepare(request)
                await resp.write(json.dumps(msg).encode() + b"\r\n")
            exc = task.exception()
            if exc is not None:
                if resp is None:
                    raise exc
                await resp.write(json.dumps({"errorDetail": {"message": str(exc)},
                                             "error": str(exc)}).encode() + b"\r\n")
            if resp is None:
                resp = web.StreamResponse()
                resp.content_type = "application/json"
                await resp.prepare(request)
            await resp.write_eof()
            return resp
    finally:
        if not task.done():
            task.cancel()


def setup(app: web.Application, svc: ImageBackend) -> None:
    async def create(request):
        q = request.query
        if q.get("fromImage"):
            ref = q["fromImage"]
            tag = q.get("tag") or ""
            if tag:
                ref = f"{ref}@{tag}" if tag.startswith("sha256:") else f"{ref}:{tag}"
            auth = decode_auth(request.headers.get("X-Registry-Auth"))
            platform = q.get("platform") or None

            async def work(progress):
                await svc.pull(ref, auth=auth, platform=platform, progress=progress)
            return await _stream_progress(request, work)
        if q.get("fromSrc"):
            if q["fromSrc"] != "-":
                raise InvalidArgument("importing from a URL is not supported: use fromSrc=-")
            repo, tag = q.get("repo") or "", q.get("tag") or ""
            repo_tag = (f"{repo}:{tag}" if tag else repo) or None
            changes = q.getall("changes", [])
            loop = asyncio.get_running_loop()
            reader = _BodyReader(request, loop)

            async def work(progress):
                image_id = await svc.import_tar(reader, repo_tag, changes, q.get("message", ""))
                progress({"status": image_id})
            return await _stream_progress(request, work)
        raise InvalidArgument("fromImage or fromSrc is required")

    async def list_(request):
        filters = qfilters(request)
        return web.json_response(svc.list(all=qbool(request, "all"), filters=filters))

    async def inspect(request):
        return web.json_response(svc.inspect(request.match_info["name"]))

    async def tag(request):
        repo = request.query.get("repo") or ""
        if not repo:
            raise InvalidArgument("repository name must have at least one component")
        svc.tag(request.match_info["name"], repo, request.query.get("tag") or None)
        return web.Response(status=201)

    async def delete(request):
        return web.json_response(svc.remove(request.match_info["name"], force=qbool(request, "force"),
                                            prune=not qbool(request, "noprune")))

    async def load(request):
        loop = asyncio.get_running_loop()
        reader = _BodyReader(request, loop)
        quiet = qbool(request, "quiet")

        async def work(progress):
            for line in await svc.load(reader):
                progress({"stream": line.rstrip("\n") + "\n"})
        resp = await _stream_progress(request, work)
        return resp

    async def history(request):
        return web.json_response(svc.history(request.match_info["name"]))

    async def prune(request):
        filters = qfilters(request)
        dangling = filters.get("dangling")
        if isinstance(dangling, dict):
            dangling = [k for k, v in dangling.items() if v]
        all_ = bool(dangling) and str(dangling[0]).lower() in ("false", "0")
        rest = {k: v for k, v in filters.items() if k != "dangling"}
        return web.json_response(svc.prune(all=all_, filters=rest))

    async def auth(request):
        from ..app import json_body
        return web.json_response(await svc.login(await json_body(request)))

    route(app, "POST", "/auth", auth)
    route(app, "POST", "/images/prune", prune)
    route(app, "GET", "/images/{name:.+}/history", history)
    route(app, "POST", "/images/create", create)
    route(app, "GET", "/images/json", list_)
    route(app, "POST", "/images/load", load)
    route(app, "GET", "/images/{name:.+}/json", inspect)
    route(app, "POST", "/images/{name:.+}/tag", tag)
    route(app, "DELETE", "/images/{name:.+}", delete)
