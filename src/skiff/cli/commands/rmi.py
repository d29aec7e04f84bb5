"""``skiff rmi [-f] [--no-prune] IMAGE...``: DELETE /images/{name}; prints
"Untagged: REF" and "Deleted: ID" lines as Docker's."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import for_each, quote


def main(cli, argv):
    fs = FlagSet("[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", [
        Flag("force", "f", "bool", help="Force removal of the image"),
        Flag("no-prune", None, "bool", help="Do not delete untagged parents"),
    ], args=(1, None), aliases=[f"{PROG} image rm", f"{PROG} image remove", f"{PROG} rmi"])
    opts, args = cli.parse(fs, argv)
    params = {"force": opts.force, "noprune": opts.no_prune}

    def one(name):
        items = cli.client.call("DELETE", f"/images/{quote(name)}", params) or []
        lines = []
        for item in items:
            if item.get("Untagged"):
                lines.append(f"Untagged: {item['Untagged']}")
            if item.get("Deleted"):
                lines.append(f"Deleted: {item['Deleted']}")
        return "\n".join(lines) if lines else ""
    return for_each(cli, args, one, echo=False)
