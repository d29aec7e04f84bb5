"""``skiff import FILE|URL|- [REPOSITORY[:TAG]] [-c CHANGE] [-m MSG]``:
POST /images/create?fromSrc=-&repo=&tag=&message=&changes= with the tarball
as the body; prints the new image id (docker/cli image/import.go)."""

from __future__ import annotations

import sys

from skiff.cli.base import PROG, StatusError, error_text
from skiff.cli.flags import Flag, FlagSet
from skiff.cli import reference
from skiff.errors import SkiffError


def main(cli, argv):
    fs = FlagSet("[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
                 "Import the contents from a tarball to create a filesystem image", [
                     Flag("change", "c", "list", help="Apply Dockerfile instruction to the created image"),
                     Flag("message", "m", "string", help="Set commit message for imported image"),
                     Flag("platform", None, "string", help="Set platform if server is multi-platform capable"),
                 ], args=(1, 2), aliases=[f"{PROG} image import", f"{PROG} import"])
    opts, args = cli.parse(fs, argv)
    source = args[0]
    params: dict = {"message": opts.message or None, "changes": opts.change or None,
                    "platform": opts.platform or None}
    if len(args) > 1:
        name, tag, digest = reference.split(args[1])
        if digest:
            raise StatusError("Error: cannot import with a digest reference", 1)
        params["repo"] = name
        params["tag"] = tag or None
    body = None
    if source == "-":
        params["fromSrc"] = "-"
        body = sys.stdin.buffer
    elif "://" in source:
        params["fromSrc"] = source
    else:
        params["fromSrc"] = "-"
        try:
            body = open(source, "rb")
        except OSError as e:
            raise StatusError(f"open {source}: {(e.strerror or str(e)).lower()}", 1) from None
    from skiff.cli.progress import display_stream
    from skiff.cli.tty import isatty
    try:
        stream = cli.client.stream_json("POST", "/images/create", params, body=body,
                                        headers={"Content-Type": "application/x-tar"} if body else None)
        display_stream(stream, cli.out, isatty(cli.out))
    except SkiffError as e:
        raise StatusError(error_text(e), 1) from None
    finally:
        if body is not None and body is not sys.stdin.buffer:
            body.close()
    return 0
