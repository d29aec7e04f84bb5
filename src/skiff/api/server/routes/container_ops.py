"""Container file-system and inspection routes, Engine API v1.44:
HEAD/GET/PUT /containers/{id}/archive, GET /containers/{id}/export,
GET /containers/{id}/changes, GET /containers/{id}/top, GET
/containers/{id}/stats, POST /containers/{id}/pause|unpause, POST
/containers/prune, GET /system/df.

Backends: skiff.services.container_fs.ContainerFS (``fs``) and
skiff.services.container_stats.ContainerStats (``ops``). Tar building and
extraction run in a worker thread; bytes flow through a bounded queue so a
large archive is never held in memory.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading

from aiohttp import web

from ....errors import InvalidArgument, SkiffError
from ..app import qbool, route

_STAT_HEADER = "X-Docker-Container-Path-Stat"
_EOF = object()


class _QueueWriter:
    """A file-like written by a worker thread; chunks go to an asyncio queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, size: int = 1 << 16):
        self.loop, self.queue, self.size = loop, queue, size
        self.buf = bytearray()
        self.cancelled = threading.Event()

    def write(self, b) -> int:
        if self.cancelled.is_set():
            raise BrokenPipeError("client went away")
        self.buf += b
        if len(self.buf) >= self.size:
            self._put(bytes(self.buf))
            self.buf.clear()
        return len(b)

    def _put(self, item) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop)
        while True:
            try:
                fut.result(timeout=1)
                return
            except TimeoutError:
                if self.cancelled.is_set():
                    fut.cancel()
                    raise BrokenPipeError("client went away")
            except Exception:
                if self.cancelled.is_set():
                    raise BrokenPipeError("client went away")
                raise

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.buf:
            self._put(bytes(self.buf))
            self.buf.clear()


async def stream_from_thread(request: web.Request, resp: web.StreamResponse, produce) -> None:
    """Run ``produce(writer)`` in a thread and stream what it writes to
    ``resp`` (already prepared). Errors after the headers end the stream."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=16)
    w = _QueueWriter(loop, queue)

    def run():
        try:
            produce(w)
            w.close()
            err = None
        except BaseException as e:  # noqa: BLE001
            err = e
        try:
            asyncio.run_coroutine_threadsafe(queue.put((_EOF, err)), loop).result(timeout=30)
        except Exception:
            pass

    task = loop.run_in_executor(None, run)
    try:
        while True:
            item = await queue.get()
            if isinstance(item, tuple) and item and item[0] is _EOF:
                if item[1] is not None and not isinstance(item[1], BrokenPipeError):
                    import logging
                    logging.getLogger("skiff.api").warning("archive stream: %s", item[1])
                break
            await resp.write(item)
    except BaseException:
        w.cancelled.set()
        # unblock a writer waiting on a full queue
        while not queue.empty():
            queue.get_nowait()
        raise
    finally:
        w.cancelled.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 60)
        except Exception:
            pass


def setup(app: web.Application, fs, ops) -> None:
    """Add the routes; ``fs`` is a ContainerFS, ``ops`` a ContainerStats."""
    from ....services import container_fs as cfs

    def _path(request) -> str:
        path = request.query.get("path", "")
        if not path:
            raise InvalidArgument("Path cannot be empty")
        return path

    async def archive_head(request):
        cid, path = request.match_info["id"], _path(request)
        async with fs.frozen(cid):
            st = await asyncio.get_running_loop().run_in_executor(None, fs.stat, cid, path)
        return web.Response(status=200, headers={_STAT_HEADER: cfs.encode_stat(st),
                                                 "Content-Type": "application/json"})

    async def archive_get(request):
        cid, path = request.match_info["id"], _path(request)
        async with fs.frozen(cid):
            return await _archive_get(request, cid, path)

    async def _archive_get(request, cid, path):
        with fs.root(cid) as (c, root):
            st = cfs.stat_path(root, path)
            host, rebase = cfs.archive_names(root, path)
            resp = web.StreamResponse(status=200, headers={_STAT_HEADER: cfs.encode_stat(st)})
            resp.content_type = "application/x-tar"
            await resp.prepare(request)
            running = root.startswith("/proc/")
            await stream_from_thread(request, resp, lambda w: cfs.write_tree(
                w, root, host, rebase, skip_pseudo=running))
            await resp.write_eof()
        return resp

    async def archive_put(request):
        cid, path = request.match_info["id"], _path(request)
        no_over = qbool(request, "noOverwriteDirNonDir")
        copy_ids = qbool(request, "copyUIDGID")
        loop = asyncio.get_running_loop()
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
            async for chunk in request.content.iter_chunked(1 << 16):
                spool.write(chunk)
            spool.seek(0)
            async with fs.frozen(cid):
                with fs.root(cid) as (c, root):
                    fs.check_writable(c, root, path)
                    chown = fs.container_user(c, root) if copy_ids else None
                    await loop.run_in_executor(None, lambda: cfs.extract_archive(
                        spool, root, path, no_overwrite_dir_non_dir=no_over, chown=chown))
        return web.Response(status=200)

    async def export(request):
        cid = request.match_info["id"]
        with fs.rootfs(cid) as (c, root):
            resp = web.StreamResponse(status=200)
            resp.content_type = "application/octet-stream"
            await resp.prepare(request)

            def produce(w):
                import os
                import tarfile
                tf = tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 16)
                try:
                    for n in sorted(os.listdir(root), key=os.fsencode):
                        dst = cfs._add(tf, root + "/" + n, n)
                        if dst is not None:
                            cfs._walk(tf, root, root + "/" + n, n, False)
                finally:
                    tf.close()

            await stream_from_thread(request, resp, produce)
            await resp.write_eof()
        if getattr(fs, "events", None) is not None:
            fs.events.publish("container", "export", c["Id"],
                              {"image": c["Config"].get("Image", ""), "name": c["Name"].lstrip("/")})
        return resp

    async def changes(request):
        cid = request.match_info["id"]
        ch = await asyncio.get_running_loop().run_in_executor(None, fs.changes, cid)
        return web.json_response(ch or None)

    async def top(request):
        return web.json_response(await ops.top(request.match_info["id"],
                                               request.query.get("ps_args", "")))

    async def stats(request):
        cid = request.match_info["id"]
        ops.get(cid)  # 404 before the headers
        stream = qbool(request, "stream", True)
        one_shot = qbool(request, "one-shot")
        if not stream:
            async for s in ops.stats(cid, stream=False, one_shot=one_shot):
                return web.json_response(s)
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        try:
            async for s in ops.stats(cid, stream=True):
                await resp.write(json.dumps(s).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except SkiffError:
            pass
        await resp.write_eof()
        return resp

    async def pause(request):
        await ops.pause(request.match_info["id"])
        return web.Response(status=204)

    async def unpause(request):
        await ops.unpause(request.match_info["id"])
        return web.Response(status=204)

    async def prune(request):
        filters = json.loads(request.query.get("filters") or "{}")
        return web.json_response(await ops.prune(filters))

    async def df(request):
        types = request.query.getall("type", [])
        return web.json_response(await asyncio.get_running_loop().run_in_executor(
            None, ops.df, types))

    route(app, "HEAD", "/containers/{id}/archive", archive_head)
    route(app, "GET", "/containers/{id}/archive", archive_get)
    route(app, "PUT", "/containers/{id}/archive", archive_put)
    route(app, "GET", "/containers/{id}/export", export)
    route(app, "GET", "/containers/{id}/changes", changes)
    route(app, "GET", "/containers/{id}/top", top)
    route(app, "GET", "/containers/{id}/stats", stats)
    route(app, "POST", "/containers/{id}/pause", pause)
    route(app, "POST", "/containers/{id}/unpause", unpause)
    route(app, "POST", "/containers/prune", prune)
    route(app, "GET", "/system/df", df)


def setup_daemon(app: web.Application, daemon) -> None:
    """Build the two backends from a skiff.daemon.wiring.Daemon (its
    container service, snapshotter, images, events, config) and add the routes."""
    from ....services.container_fs import ContainerFS
    from ....services.container_stats import ContainerStats
    svc = daemon.containers
    fs = ContainerFS(get=svc.get, snapshotter=daemon.snapshotter, bundle_of=svc._bundle,
                     exec_root=daemon.cfg.exec_root, events=daemon.events,
                     shim_of=lambda cid: svc._live_of(cid).shim)
    ops = ContainerStats(
        get=svc.get, records=lambda: list(svc._cache.values()), save=svc._save,
        shim_of=lambda cid: svc._live_of(cid).shim, remove=svc.remove,
        usage=lambda cid: daemon.snapshotter.usage(cid).size, images=daemon.images,
        snapshotter=daemon.snapshotter, events=daemon.events,
        cgroup_parent=getattr(daemon.cfg, "cgroup_parent", "/skiff") or "/skiff",
        summaries=lambda: svc.list(all=True))
    setup(app, fs, ops)
