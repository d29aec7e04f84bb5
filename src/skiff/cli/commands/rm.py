"""``skiff rm [-f] [-v] [-l] CONTAINER...``: DELETE /containers/{id}."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import for_each, quote


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", [
        Flag("force", "f", "bool", help="Force the removal of a running container (uses SIGKILL)"),
        Flag("link", "l", "bool", help="Remove the specified link"),
        Flag("volumes", "v", "bool", help="Remove anonymous volumes associated with the container"),
    ], args=(1, None), aliases=[f"{PROG} container rm", f"{PROG} container remove", f"{PROG} rm"])
    opts, args = cli.parse(fs, argv)
    params = {"force": opts.force, "v": opts.volumes, "link": opts.link}
    return for_each(cli, args, lambda n: cli.client.request("DELETE", f"/containers/{quote(n.strip('/') if n.startswith('/') else n)}", params))
