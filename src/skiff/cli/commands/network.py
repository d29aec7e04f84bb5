"""``skiff network create|ls|inspect|rm|prune|connect|disconnect``: the
/networks endpoints (Engine API v1.44), output as Docker's CLI
(docker/cli cli/command/network)."""

from __future__ import annotations

import json
import sys

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import for_each, quote

_HELP = f"""Usage:  {PROG} network COMMAND

Manage networks

Commands:
  connect     Connect a container to a network
  create      Create a network
  disconnect  Disconnect a container from a network
  inspect     Display detailed information on one or more networks
  ls          List networks
  prune       Remove all unused networks
  rm          Remove one or more networks
"""


def main(cli, argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(_HELP)
        return 0
    sub, rest = argv[0], argv[1:]
    fn = {"create": _create, "ls": _ls, "list": _ls, "inspect": _inspect, "rm": _rm,
          "remove": _rm, "prune": _prune, "connect": _connect, "disconnect": _disconnect}.get(sub)
    if fn is None:
        sys.stderr.write(f"{PROG}: unknown command: {PROG} network {sub}\n\n"
                         f"Run '{PROG} network --help' for more information\n")
        return 1
    return fn(cli, rest)


def _kv(items, what):
    out = {}
    for it in items or []:
        k, eq, v = it.partition("=")
        out[k] = v
    return out


def _create(cli, argv):
    fs = FlagSet("[OPTIONS] NETWORK", "Create a network", [
        Flag("driver", "d", "string", default="bridge", help="Driver to manage the Network"),
        Flag("subnet", None, "list", help="Subnet in CIDR format that represents a network segment"),
        Flag("gateway", None, "list", help="IPv4 or IPv6 Gateway for the master subnet"),
        Flag("ip-range", None, "list", help="Allocate container ip from a sub-range"),
        Flag("internal", None, "bool", help="Restrict external access to the network"),
        Flag("ipv6", None, "bool", help="Enable IPv6 networking"),
        Flag("attachable", None, "bool", help="Enable manual container attachment"),
        Flag("opt", "o", "list", help="Set driver specific options"),
        Flag("label", None, "list", help="Set metadata on a network"),
        Flag("ipam-driver", None, "string", default="default", help="IP Address Management Driver"),
    ], args=(1, 1), aliases=[f"{PROG} network create"])
    opts, (name,) = cli.parse(fs, argv)
    subnets, gws, rngs = opts.subnet or [], opts.gateway or [], opts.ip_range or []
    if len(gws) > len(subnets) or len(rngs) > len(subnets):
        raise StatusError("Error: gateway and ip-range need a subnet", 1)
    cfgs = []
    for i, s in enumerate(subnets):
        c = {"Subnet": s}
        if i < len(gws):
            c["Gateway"] = gws[i]
        if i < len(rngs):
            c["IPRange"] = rngs[i]
        cfgs.append(c)
    body = {"Name": name, "Driver": opts.driver or "bridge", "CheckDuplicate": True,
            "Internal": opts.internal, "EnableIPv6": opts.ipv6, "Attachable": opts.attachable,
            "IPAM": {"Driver": opts.ipam_driver or "default", "Config": cfgs, "Options": {}},
            "Options": _kv(opts.opt, "opt"), "Labels": _kv(opts.label, "label")}
    r = cli.client.post_json("/networks/create", None, body)
    print(r["Id"])
    return 0


def _ls(cli, argv):
    fs = FlagSet("[OPTIONS]", "List networks", [
        Flag("filter", "f", "list", help="Provide filter values (e.g. 'driver=bridge')"),
        Flag("format", None, "string", help="Format output using a custom template"),
        Flag("no-trunc", None, "bool", help="Do not truncate the output"),
        Flag("quiet", "q", "bool", help="Only display network IDs"),
    ], args=(0, 0), aliases=[f"{PROG} network ls", f"{PROG} network list"])
    opts, _ = cli.parse(fs, argv)
    filters: dict = {}
    for f in opts.filter or []:
        k, _, v = f.partition("=")
        filters.setdefault(k, {})[v] = True
    nets = cli.client.get_json("/networks", {"filters": json.dumps(filters)} if filters else None)
    nets.sort(key=lambda n: n["Name"])
    tid = (lambda i: i) if opts.no_trunc else (lambda i: i[:12])
    if opts.quiet:
        for n in nets:
            print(tid(n["Id"]))
        return 0
    rows = [{"ID": tid(n["Id"]), "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
             "IPv6": str(bool(n.get("EnableIPv6"))).lower(), "Internal": str(bool(n.get("Internal"))).lower(),
             "CreatedAt": n.get("Created", ""),
             "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items())} for n in nets]
    from skiff.cli.output import format_rows
    fmt = opts.format or "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    sys.stdout.write(format_rows(fmt, rows, {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER",
                                              "Scope": "SCOPE", "IPv6": "IPV6", "Internal": "INTERNAL",
                                              "CreatedAt": "CREATED AT", "Labels": "LABELS"}))
    return 0


def _inspect(cli, argv):
    cli.extra = {"type": "network"}
    from skiff.cli.commands import inspect
    return inspect.main(cli, argv)


def _rm(cli, argv):
    fs = FlagSet("NETWORK [NETWORK...]", "Remove one or more networks", [
        Flag("force", "f", "bool", help="Do not error if the network does not exist"),
    ], args=(1, None), aliases=[f"{PROG} network rm", f"{PROG} network remove"])
    opts, args = cli.parse(fs, argv)
    return for_each(cli, args, lambda n: cli.client.request("DELETE", f"/networks/{quote(n)}"))


def _prune(cli, argv):
    fs = FlagSet("[OPTIONS]", "Remove all unused networks", [
        Flag("filter", None, "list", help="Provide filter values (e.g. 'until=<timestamp>')"),
        Flag("force", "f", "bool", help="Do not prompt for confirmation"),
    ], args=(0, 0), aliases=[f"{PROG} network prune"])
    opts, _ = cli.parse(fs, argv)
    if not opts.force:
        sys.stdout.write("WARNING! This will remove all custom networks not used by at least one container.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        ans = sys.stdin.readline().strip().lower()
        if ans not in ("y", "yes"):
            return 0
    filters: dict = {}
    for f in opts.filter or []:
        k, _, v = f.partition("=")
        filters.setdefault(k, {})[v] = True
    r = cli.client.post_json("/networks/prune", {"filters": json.dumps(filters)} if filters else None)
    gone = (r or {}).get("NetworksDeleted") or []
    if gone:
        print("Deleted Networks:")
        for n in gone:
            print(n)
    return 0


def _connect(cli, argv):
    fs = FlagSet("[OPTIONS] NETWORK CONTAINER", "Connect a container to a network", [
        Flag("alias", None, "list", help="Add network-scoped alias for the container"),
        Flag("ip", None, "string", help="IPv4 address (e.g., 172.30.100.104)"),
        Flag("ip6", None, "string", help="IPv6 address (e.g., 2001:db8::33)"),
        Flag("link", None, "list", help="Add link to another container"),
        Flag("driver-opt", None, "list", help="driver options for the network"),
    ], args=(2, 2), aliases=[f"{PROG} network connect"])
    opts, (net, ctr) = cli.parse(fs, argv)
    ep: dict = {"Aliases": opts.alias or None}
    if opts.ip or opts.ip6:
        ep["IPAMConfig"] = {"IPv4Address": opts.ip or "", "IPv6Address": opts.ip6 or ""}
    cli.client.request("POST", f"/networks/{quote(net)}/connect", None,
                       {"Container": ctr, "EndpointConfig": ep})
    return 0


def _disconnect(cli, argv):
    fs = FlagSet("[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network", [
        Flag("force", "f", "bool", help="Force the container to disconnect from a network"),
    ], args=(2, 2), aliases=[f"{PROG} network disconnect"])
    opts, (net, ctr) = cli.parse(fs, argv)
    cli.client.request("POST", f"/networks/{quote(net)}/disconnect", None,
                       {"Container": ctr, "Force": opts.force})
    return 0
