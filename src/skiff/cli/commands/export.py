"""``skiff export [-o FILE] CONTAINER``: GET /containers/{id}/export, the
container's root file system as a tar (docker/cli container/export.go)."""

from __future__ import annotations

import os
import sys

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import quote


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive", [
        Flag("output", "o", "string", help="Write to a file, instead of STDOUT"),
    ], args=(1, 1), aliases=[f"{PROG} container export", f"{PROG} export"])
    opts, (name,) = cli.parse(fs, argv)
    if not opts.output and sys.stdout.isatty():
        raise StatusError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1)
    resp = cli.client.open("GET", f"/containers/{quote(name)}/export")
    with resp:
        if opts.output:
            tmp = opts.output + ".skiff-tmp"
            try:
                with open(tmp, "wb") as f:
                    _copy(resp, f)
                os.replace(tmp, opts.output)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        else:
            cli.out.flush()
            _copy(resp, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    return 0


def _copy(resp, f) -> None:
    while True:
        b = resp.read1()
        if not b:
            break
        f.write(b)
