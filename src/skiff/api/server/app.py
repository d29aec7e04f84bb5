"""The Engine API application: routing, ``/vX.Y`` prefixes, version
negotiation. Serves Engine API v1.44; accepts prefixes from v1.24 up to it.

Routes are added with :func:`route`, which registers each path both bare and
under ``/v{X.Y}``; :func:`version_middleware` checks the version and stores
it in ``request[API_VERSION_KEY]``.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from .errors import error_middleware, error_response

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the API version a request asked for ("1.44" when it had no /vX.Y prefix)
API_VERSION_KEY = web.RequestKey("api_version", str) if hasattr(web, "RequestKey") else "api_version"


def _vt(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Add ``method path`` and ``method /v{X.Y}path`` for ``handler``."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, r"/v{_api:[0-9]+\.[0-9]+}" + path, handler)


@web.middleware
async def version_middleware(request: web.Request, handler: Handler):
    version = request.match_info.get("_api") if request.match_info else None
    if version:
        vt = _vt(version)
        if vt < _vt(MIN_API_VERSION):
            return error_response(
                400, f"client version {version} is too old. Minimum supported API version is "
                     f"{MIN_API_VERSION}, please upgrade your client to a newer version")
        if vt > _vt(API_VERSION):
            return error_response(
                400, f"client version {version} is too new. Maximum supported API version is {API_VERSION}")
    request[API_VERSION_KEY] = version or API_VERSION
    resp = await handler(request)
    if isinstance(resp, web.StreamResponse) and not resp.prepared:
        resp.headers.setdefault("Api-Version", API_VERSION)
        resp.headers.setdefault("Server", "skiff")
    return resp


def make_app(setups: list[Callable[[web.Application], None]]) -> web.Application:
    """Build the app; each ``setup(app)`` (from routes/*.py) adds its routes.
    Unknown paths answer 404 ``{"message": "page not found"}``."""
    app = web.Application(middlewares=[error_middleware, version_middleware],
                          client_max_size=1 << 40)
    for setup in setups:
        setup(app)

    async def not_found(request: web.Request) -> web.Response:
        return error_response(404, "page not found")

    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as dockerd reads them ("1", "true", "True")."""
    v = request.query.get(name)
    if v is None or v == "":
        return default
    return v.lower() not in ("0", "false", "no")


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    from ...errors import InvalidArgument
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {v!r}")


async def json_body(request: web.Request) -> dict:
    """The request's JSON object body ({} when empty); InvalidArgument if malformed."""
    from ...errors import InvalidArgument
    import json
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"invalid JSON: {e}")
    except RecursionError:
        raise InvalidArgument("invalid JSON: nested too deeply")
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    return body


def qfilters(request: web.Request) -> dict[str, list[str]]:
    """The ``filters`` query parameter (JSON {"key": ["v", ...]} or the old
    {"key": {"v": true}}) as {key: [values]}; InvalidArgument when malformed,
    as dockerd's filters.FromJSON."""
    import json
    from ...errors import InvalidArgument
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        d = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidArgument(f"invalid filter: {raw!r} is not valid JSON")
    if not isinstance(d, dict):
        raise InvalidArgument("invalid filter: expected an object")
    out: dict[str, list[str]] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            vals = [x for x, on in v.items() if on]
        elif isinstance(v, list):
            vals = v
        elif isinstance(v, str):
            vals = [v]
        else:
            raise InvalidArgument(f"invalid filter '{k}': values must be a list of strings")
        if not all(isinstance(x, str) for x in vals):
            raise InvalidArgument(f"invalid filter '{k}': values must be strings")
        out[k] = list(vals)
    return out
