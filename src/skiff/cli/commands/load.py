"""``skiff load [-i FILE] [-q]``: POST /images/load with the tar archive
(docker save or OCI layout), printing "Loaded image: ..." lines."""

from __future__ import annotations

import sys

from skiff.cli.base import PROG, StatusError, error_text
from skiff.cli.flags import Flag, FlagSet
from skiff.errors import SkiffError


def main(cli, argv):
    fs = FlagSet("[OPTIONS]", "Load an image from a tar archive or STDIN", [
        Flag("input", "i", "string", help="Read from tar archive file, instead of STDIN"),
        Flag("platform", None, "list", help="Load only the given platform(s)"),
        Flag("quiet", "q", "bool", help="Suppress the load output"),
    ], args=(0, 0), aliases=[f"{PROG} image load", f"{PROG} load"])
    opts, _ = cli.parse(fs, argv)
    from skiff.cli.tty import isatty
    if opts.input:
        try:
            src = open(opts.input, "rb")
        except OSError as e:
            raise StatusError(f"open {opts.input}: {(e.strerror or str(e)).lower()}", 1) from None
    else:
        if isatty(sys.stdin):
            raise StatusError("requested load from stdin, but stdin is empty", 1)
        src = sys.stdin.buffer
    from skiff.cli.progress import display_stream
    params = {"quiet": opts.quiet or not isatty(cli.out)}
    if opts.platform:
        params["platform"] = opts.platform[0]
    try:
        with src:
            stream = cli.client.stream_json("POST", "/images/load", params, body=src,
                                            headers={"Content-Type": "application/x-tar"})
            display_stream(stream, cli.out, isatty(cli.out))
    except SkiffError as e:
        raise StatusError(error_text(e), 1) from None
    return 0
