"""The ONE table from skiff.errors classes to HTTP statuses, and the JSON
error body ``{"message": "..."}`` of the Engine API (v1.44 "ErrorResponse")."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from ... import errors

log = logging.getLogger("skiff.api")

#: the status each class answers with; subclasses inherit their parent's row
STATUS: dict[type, int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidArgument: 400,
    errors.UnsafePath: 400,
    errors.ExecError: 400,
    errors.Forbidden: 403,
    errors.Unauthorized: 401,
    errors.Unavailable: 503,
    errors.NotModified: 304,
    errors.DataCorruption: 500,
    errors.SystemError_: 500,
    errors.SkiffError: 500,
}


def status_of(exc: BaseException) -> int:
    """HTTP status for an exception: the first row matching its MRO, else 500."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(status: int, message: str) -> web.Response:
    if status == 304:
        return web.Response(status=304)
    # exactly "application/json": Docker's client only decodes {"message"} then
    return web.Response(body=json.dumps({"message": message}).encode(), status=status,
                        content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Turn skiff errors and aiohttp's HTTP errors into JSON error bodies."""
    try:
        return await handler(request)
    except errors.SkiffError as e:
        st = status_of(e)
        if st >= 500:
            log.error("%s %s: %s", request.method, request.path, e)
        return error_response(st, str(e))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        msg = e.text if e.text and not e.text.startswith(str(e.status)) else None
        if e.status == 404 and not msg:
            msg = "page not found"
        if e.status == 405 and not msg:
            msg = f"method {request.method} not allowed for {request.path}"
        return error_response(e.status, msg or e.reason)
    except Exception as e:  # a bug: log it whole, answer 500 in the API's shape
        log.exception("%s %s", request.method, request.path)
        return error_response(500, f"internal error: {type(e).__name__}: {e}")
