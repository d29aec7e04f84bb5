"""``skiff rename CONTAINER NEW_NAME``: POST /containers/{id}/rename?name=."""

from __future__ import annotations

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import FlagSet
from skiff.cli.multi import quote


def main(cli, argv):
    fs = FlagSet("CONTAINER NEW_NAME", "Rename a container", [], args=(2, 2),
                 aliases=[f"{PROG} container rename", f"{PROG} rename"])
    _, (old, new) = cli.parse(fs, argv)
    old, new = old.strip(), new.strip()
    if not old or not new:
        raise StatusError("Error: Neither old nor new names may be empty", 1)
    cli.client.request("POST", f"/containers/{quote(old)}/rename", {"name": new})
    return 0
