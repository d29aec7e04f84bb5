"""``skiff unpause CONTAINER...``: POST /containers/{id}/unpause."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import FlagSet
from skiff.cli.multi import for_each, quote


def main(cli, argv):
    fs = FlagSet("CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", [],
                 args=(1, None), aliases=[f"{PROG} container unpause", f"{PROG} unpause"])
    _, args = cli.parse(fs, argv)
    return for_each(cli, args, lambda n: cli.client.request("POST", f"/containers/{quote(n)}/unpause"))
