"""``skiff container prune [-f] [--filter until=|label=]``: POST /containers/prune
(docker/cli container/prune.go: the warning prompt, "Deleted Containers:",
"Total reclaimed space: ...")."""

from __future__ import annotations

import sys

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet

WARNING = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "


def confirm(cli, text: str) -> bool:
    """docker/cli command.PromptForConfirmation: "y" or "Y" proceeds."""
    cli.out.write(text)
    cli.out.flush()
    line = sys.stdin.readline()
    return line.strip().lower() in ("y", "yes")


def parse_filters(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in values:
        k, sep, v = f.partition("=")
        if not sep:
            raise StatusError(f'invalid argument "{f}" for "--filter" flag: bad format of filter (expected name=value)', 125)
        k = k.strip().lower()
        if k.endswith("!"):
            pass
        out.setdefault(k, []).append(v)
    return out


def prune_containers(cli, filters: dict) -> tuple[list[str], int]:
    from skiff.client import encode_filters
    r = cli.client.post_json("/containers/prune", {"filters": encode_filters(filters)} if filters else None) or {}
    return list(r.get("ContainersDeleted") or []), int(r.get("SpaceReclaimed") or 0)


def main(cli, argv):
    fs = FlagSet("[OPTIONS]", "Remove all stopped containers", [
        Flag("filter", None, "list", help='Provide filter values (e.g. "until=<timestamp>")', type_name="filter"),
        Flag("force", "f", "bool", help="Do not prompt for confirmation"),
    ], args=(0, 0), aliases=[f"{PROG} container prune"])
    opts, _ = cli.parse(fs, argv)
    filters = parse_filters(opts.filter)
    if not opts.force and not confirm(cli, WARNING):
        return 0
    deleted, space = prune_containers(cli, filters)
    from skiff.cli.units import human_size
    if deleted:
        cli.out.write("Deleted Containers:\n" + "".join(d + "\n" for d in deleted) + "\n")
    cli.out.write(f"Total reclaimed space: {human_size(space, 4)}\n")
    return 0
