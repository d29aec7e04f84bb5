"""``skiff kill [-s SIG] CONTAINER...``: POST /containers/{id}/kill."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import for_each, quote


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers", [
        Flag("signal", "s", "string", help="Signal to send to the container"),
    ], args=(1, None), aliases=[f"{PROG} container kill", f"{PROG} kill"])
    opts, args = cli.parse(fs, argv)
    params = {"signal": opts.signal or None}
    return for_each(cli, args, lambda n: cli.client.request("POST", f"/containers/{quote(n)}/kill", params))
