"""``skiff port CONTAINER [PRIVATE_PORT[/PROTO]]``: the published ports from
GET /containers/{id}/json NetworkSettings.Ports, printed as Docker's CLI
(docker/cli cli/command/container/port.go)."""

from __future__ import annotations

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import FlagSet
from skiff.cli.multi import quote


def _addr(b: dict) -> str:
    ip = b.get("HostIp") or "0.0.0.0"
    return f"[{ip}]:{b.get('HostPort')}" if ":" in ip else f"{ip}:{b.get('HostPort')}"


def main(cli, argv):
    fs = FlagSet("CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container",
                 [], args=(1, 2), aliases=[f"{PROG} container port", f"{PROG} port"])
    _, args = cli.parse(fs, argv)
    c = cli.client.get_json(f"/containers/{quote(args[0])}/json")
    ports = (c.get("NetworkSettings") or {}).get("Ports") or {}
    if len(args) == 2:
        want = args[1]
        port, _, proto = want.partition("/")
        proto = proto or "tcp"
        try:
            int(port)
        except ValueError:
            raise StatusError(f"Error: invalid port ({port}): strconv.Atoi: parsing \"{port}\": invalid syntax", 1)
        key = f"{port}/{proto}"
        bs = ports.get(key)
        if not bs:
            raise StatusError(f"Error: No public port '{key}' published for {args[0]}", 1)
        for b in bs:
            print(_addr(b))
        return 0

    def sort_key(k):
        p, _, proto = k.partition("/")
        return (int(p) if p.isdigit() else 0, proto)
    for key in sorted(ports, key=sort_key):
        for b in ports[key] or []:
            print(f"{key} -> {_addr(b)}")
    return 0
