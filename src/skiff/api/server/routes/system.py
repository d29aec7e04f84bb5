"""System routes: GET/HEAD /_ping, GET /version, GET /info, GET /events.
Engine API v1.44 "System" section."""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Protocol

from aiohttp import web

from ..app import API_VERSION, MIN_API_VERSION, qfilters, route


class SystemBackend(Protocol):
    """What these routes need from the daemon."""

    def info(self) -> dict: ...
    def events(self): ...


def setup(app: web.Application, backend: SystemBackend) -> None:
    async def ping(request: web.Request) -> web.Response:
        headers = {"Api-Version": API_VERSION, "Ostype": "linux", "Builder-Version": "1",
                   "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
                   "Docker-Experimental": "false", "Swarm": "inactive"}
        if request.method == "HEAD":
            return web.Response(headers=headers, content_type="text/plain")
        return web.Response(text="OK", headers=headers, content_type="text/plain")

    async def version(request: web.Request) -> web.Response:
        from .... import __version__
        kernel = platform.release()
        return web.json_response({
            "Platform": {"Name": "skiff"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": {
                "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
                "Arch": _arch(), "KernelVersion": kernel, "PythonVersion": platform.python_version()}}],
            "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": "python" + platform.python_version(), "Os": "linux",
            "Arch": _arch(), "KernelVersion": kernel, "BuildTime": "",
        })

    async def info(request: web.Request) -> web.Response:
        return web.json_response(backend.info())

    async def events(request: web.Request) -> web.StreamResponse:
        from ....errors import InvalidArgument
        from ....services.events import _parse_time
        since = request.query.get("since")
        until = request.query.get("until")
        for name, v in (("since", since), ("until", until)):
            if v and _parse_time(v) is None:
                raise InvalidArgument(f"invalid value for {name}: {v!r}")
        filters = qfilters(request)
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        async for ev in backend.events(since=since, until=until, filters=filters):
            await resp.write(json.dumps(ev).encode() + b"\n")
        return resp

    route(app, "GET", "/_ping", ping)
    route(app, "HEAD", "/_ping", ping)
    route(app, "GET", "/version", version)
    route(app, "GET", "/info", info)
    route(app, "GET", "/events", events)


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def host_info() -> dict:
    """Facts about the host for GET /info: NCPU, MemTotal (bytes), kernel, OS."""
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    osname = "Linux"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"NCPU": os.cpu_count() or 1, "MemTotal": mem, "KernelVersion": platform.release(),
            "OperatingSystem": osname, "OSType": "linux", "Architecture": platform.machine(),
            "Name": platform.node(), "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())}
