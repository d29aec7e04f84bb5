"""``skiff wait CONTAINER...``: POST /containers/{id}/wait, print each status."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import FlagSet
from skiff.cli.multi import for_each, quote


def main(cli, argv):
    fs = FlagSet("CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes",
                 [], args=(1, None), aliases=[f"{PROG} container wait", f"{PROG} wait"])
    _, args = cli.parse(fs, argv)

    def one(name):
        doc = cli.client.post_json(f"/containers/{quote(name)}/wait") or {}
        return str(doc.get("StatusCode", 0))
    return for_each(cli, args, one)
