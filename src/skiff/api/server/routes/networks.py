"""Network routes, Engine API v1.44 "Network" section: GET /networks,
GET /networks/{id}, POST /networks/create, POST /networks/{id}/connect,
POST /networks/{id}/disconnect, DELETE /networks/{id}, POST /networks/prune."""

from __future__ import annotations

import json

from aiohttp import web

from ....errors import InvalidArgument
from ..app import json_body, route


def _filters(request) -> dict:
    raw = request.query.get("filters") or "{}"
    try:
        f = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filters: {raw}") from None
    out = {}
    for k, v in (f or {}).items():
        out[k] = list(v) if isinstance(v, list) else [x for x, on in (v or {}).items() if on]
    return out


def setup(app: web.Application, mgr) -> None:
    """``mgr`` is a skiff.network.manager.NetworkManager."""

    async def list_(request):
        return web.json_response(mgr.list(_filters(request)))

    async def inspect(request):
        return web.json_response(mgr.inspect(request.match_info["id"]))

    async def create(request):
        body = await json_body(request)
        return web.json_response(mgr.create(body or {}), status=201)

    async def connect(request):
        body = await json_body(request) or {}
        await mgr.connect(request.match_info["id"], body.get("Container") or "",
                          body.get("EndpointConfig") or {})
        return web.Response(status=200)

    async def disconnect(request):
        body = await json_body(request) or {}
        await mgr.disconnect(request.match_info["id"], body.get("Container") or "",
                             bool(body.get("Force")))
        return web.Response(status=200)

    async def delete(request):
        mgr.remove(request.match_info["id"])
        return web.Response(status=204)

    async def prune(request):
        return web.json_response(mgr.prune(_filters(request)))

    route(app, "GET", "/networks", list_)
    route(app, "GET", "/networks/", list_)
    route(app, "POST", "/networks/create", create)
    route(app, "POST", "/networks/prune", prune)
    route(app, "GET", "/networks/{id}", inspect)
    route(app, "POST", "/networks/{id}/connect", connect)
    route(app, "POST", "/networks/{id}/disconnect", disconnect)
    route(app, "DELETE", "/networks/{id}", delete)
