"""``skiff restart [-t N] [-s SIG] CONTAINER...``: POST /containers/{id}/restart."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import for_each, quote


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers", [
        Flag("signal", "s", "string", help="Signal to send to the container"),
        Flag("time", "t", "int", help="Seconds to wait before killing the container"),
    ], args=(1, None), aliases=[f"{PROG} container restart", f"{PROG} restart"])
    opts, args = cli.parse(fs, argv)
    params = {"signal": opts.signal or None, "t": opts.time if "time" in opts.given else None}
    return for_each(cli, args, lambda n: cli.client.request("POST", f"/containers/{quote(n)}/restart", params))
