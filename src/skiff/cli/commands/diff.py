"""``skiff diff CONTAINER``: GET /containers/{id}/changes printed as
"C /path", "A /path", "D /path" (docker/cli container/diff.go)."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import FlagSet
from skiff.cli.multi import quote

KINDS = {0: "C", 1: "A", 2: "D"}


def main(cli, argv):
    fs = FlagSet("CONTAINER", "Inspect changes to files or directories on a container's filesystem",
                 [], args=(1, 1), aliases=[f"{PROG} container diff", f"{PROG} diff"])
    _, (name,) = cli.parse(fs, argv)
    changes = cli.client.get_json(f"/containers/{quote(name)}/changes") or []
    for c in changes:
        cli.out.write(f"{KINDS.get(c.get('Kind'), '?')} {c.get('Path')}\n")
    return 0
