"""The one exception tree of skiff.

::

    SkiffError                      anything skiff raises on purpose
    ├── NotFound                    no such image / container / blob / snapshot (HTTP 404)
    ├── Conflict                    name in use, container running, already exists (HTTP 409)
    ├── InvalidArgument             malformed request, bad reference, bad flag value (HTTP 400)
    │   └── InvalidReference        an image reference that does not parse
    ├── Forbidden                   not allowed for this caller (HTTP 403)
    ├── Unauthorized                registry refused the credentials (HTTP 401)
    ├── Unavailable                 registry or shim unreachable, daemon shutting down (HTTP 503)
    ├── NotModified                 already started / already stopped (HTTP 304)
    ├── DataCorruption              digest or size mismatch of a blob (HTTP 500)
    ├── UnsafePath                  a tar entry or path that would leave its root (HTTP 400)
    ├── ExecError                   the container's command cannot be executed (HTTP 400)
    │                               message follows runc's wording so that Docker's CLI
    │                               maps it to 126 ("permission denied", "is a directory")
    │                               or 127 ("executable file not found", "no such file")
    └── SystemError_                a kernel call failed (HTTP 500); carries errno

Library modules raise these with the id or path they concern, lower-case
messages and no final period. The API server turns them into HTTP statuses
in one table (skiff.api.server.errors); the client turns statuses back into
the same classes (skiff.client).
"""

from __future__ import annotations


class SkiffError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status = 500

    def __init__(self, message: str = "", **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class NotFound(SkiffError):
    status = 404


class Conflict(SkiffError):
    status = 409


class InvalidArgument(SkiffError):
    status = 400


class InvalidReference(InvalidArgument):
    pass


class Forbidden(SkiffError):
    status = 403


class Unauthorized(SkiffError):
    status = 401


class Unavailable(SkiffError):
    status = 503


class NotModified(SkiffError):
    status = 304


class DataCorruption(SkiffError):
    status = 500


class UnsafePath(SkiffError):
    status = 400


class ExecError(SkiffError):
    """The process cannot be executed; ``exit_code`` is 126 or 127 as Docker's."""

    status = 400

    def __init__(self, message: str = "", exit_code: int = 126, **details):
        super().__init__(message, **details)
        self.exit_code = exit_code


class SystemError_(SkiffError):
    """A kernel call failed; ``errno`` is the errno value."""

    status = 500

    def __init__(self, message: str = "", errno: int = 0, **details):
        super().__init__(message, **details)
        self.errno = errno


#: status -> class, for rebuilding errors in the client
BY_STATUS: dict[int, type[SkiffError]] = {
    404: NotFound,
    409: Conflict,
    400: InvalidArgument,
    403: Forbidden,
    401: Unauthorized,
    503: Unavailable,
    304: NotModified,
    500: SkiffError,
}
