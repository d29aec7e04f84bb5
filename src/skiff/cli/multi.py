"""Commands acting on several containers or images (stop, kill, rm, wait...):
print each name that succeeded, then the collected errors, exit 1 if any
(docker/cli's errors.Join-style reporting)."""

from __future__ import annotations

from skiff.cli.base import StatusError, error_text
from skiff.errors import SkiffError


def quote(name: str) -> str:
    """A container or image name for a URL path ("/" and ":" kept, as Docker's)."""
    from urllib.parse import quote as q
    return q(name, safe="/:@")


def for_each(cli, names: list[str], fn, *, echo: bool = True) -> int:
    """Call fn(name) for each name; print the name on success (or what fn
    returns when it returns a string); collect the errors and raise
    StatusError(joined errors, 1) at the end."""
    errors = []
    for name in names:
        try:
            res = fn(name)
        except SkiffError as e:
            errors.append(error_text(e))
            continue
        if isinstance(res, str):
            if res:
                cli.out.write(res + "\n")
        elif echo:
            cli.out.write(name + "\n")
        cli.out.flush()
    if errors:
        raise StatusError("\n".join(errors), 1)
    return 0
