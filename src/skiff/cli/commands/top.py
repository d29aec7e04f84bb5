"""``skiff top CONTAINER [ps OPTIONS]``: GET /containers/{id}/top?ps_args=,
printed as docker/cli does (tabwriter minwidth 20, padding 3)."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import FlagSet
from skiff.cli.multi import quote
from skiff.cli.output import tabwrite


def main(cli, argv):
    fs = FlagSet("CONTAINER [ps OPTIONS]", "Display the running processes of a container", [],
                 args=(1, None), aliases=[f"{PROG} container top", f"{PROG} top"], interspersed=False)
    _, args = cli.parse(fs, argv)
    name, ps_args = args[0], " ".join(args[1:])
    body = cli.client.get_json(f"/containers/{quote(name)}/top", {"ps_args": ps_args} if ps_args else None)
    lines = ["\t".join(body.get("Titles") or [])]
    for p in body.get("Processes") or []:
        lines.append("\t".join(p))
    cli.out.write(tabwrite("\n".join(lines) + "\n", minwidth=20, padding=3))
    return 0
