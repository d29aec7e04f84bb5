"""The API application's routing: /vX.Y prefixes, version bounds, the JSON
error shape, and the status table (Engine API v1.44)."""
import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from skiff import errors
from skiff.api.server.app import make_app, route
from skiff.api.server.errors import status_of
from skiff.api.server.routes import system


class _Sys:
    def info(self):
        return {"OSType": "linux"}

    async def events(self, **kw):
        if False:
            yield {}


def _run(coro_fn):
    async def main():
        def extra(app):
            async def boom(request):
                raise errors.NotFound("No such container: x")

            async def conflict(request):
                raise errors.Conflict("name in use")

            async def bug(request):
                raise RuntimeError("oops")
            route(app, "GET", "/boom", boom)
            route(app, "GET", "/conflict", conflict)
            route(app, "GET", "/bug", bug)
        app = make_app([lambda a: system.setup(a, _Sys()), extra])
        async with TestClient(TestServer(app)) as client:
            await coro_fn(client)
    asyncio.run(main())


def test_ping_and_versions():
    async def go(c):
        r = await c.get("/_ping")
        assert r.status == 200 and await r.text() == "OK"
        assert r.headers["Api-Version"] == "1.44"
        r = await c.head("/_ping")
        assert r.status == 200
        for v in ("1.24", "1.41", "1.44"):
            r = await c.get(f"/v{v}/version")
            assert r.status == 200, v
            assert (await r.json())["ApiVersion"] == "1.44"
        r = await c.get("/v1.23/version")
        assert r.status == 400 and "too old" in (await r.json())["message"]
        r = await c.get("/v1.99/version")
        assert r.status == 400 and "too new" in (await r.json())["message"]
    _run(go)


def test_unknown_endpoint_and_errors():
    async def go(c):
        r = await c.get("/v1.44/nope")
        assert r.status == 404 and "message" in await r.json()
        r = await c.post("/v1.44/containers/x/nope")
        assert r.status == 404
        r = await c.get("/v1.44/boom")
        assert r.status == 404 and (await r.json()) == {"message": "No such container: x"}
        r = await c.get("/conflict")
        assert r.status == 409
        r = await c.get("/bug")
        assert r.status == 500 and "oops" in (await r.json())["message"]
    _run(go)


def test_status_table_follows_hierarchy():
    assert status_of(errors.InvalidReference("x")) == 400
    assert status_of(errors.ExecError("x")) == 400
    assert status_of(errors.NotModified("x")) == 304
    assert status_of(ValueError()) == 500
