"""``skiff ps`` / ``container ls``: GET /containers/json rendered as Docker's
table ("CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES")
or --format (docker/cli cli/command/formatter/container.go)."""

from __future__ import annotations

import time

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet

DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

HEADER = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
    "Names": "NAMES", "Labels": "LABELS", "LocalVolumes": "LOCAL VOLUMES", "Mounts": "MOUNTS",
    "Networks": "NETWORKS", "Platform": "PLATFORM", "Label": lambda *_: "LABEL",
}


def display_ports(ports: list) -> str:
    """api/types DisplayablePorts, without range grouping:
    "0.0.0.0:8080->80/tcp, 443/tcp"."""
    out = []
    for p in sorted(ports or [], key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""),
                                                 p.get("IP", ""), p.get("PublicPort", 0))):
        typ = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = p.get("IP", "")
            if ":" in ip:
                ip = f"[{ip}]"
            out.append(f"{ip}:{p['PublicPort']}->{p.get('PrivatePort')}/{typ}")
        else:
            out.append(f"{p.get('PrivatePort')}/{typ}")
    return ", ".join(out)


def _status(c: dict, now: float) -> str:
    if c.get("Status"):
        return c["Status"]
    return c.get("State", "")


def _image(c: dict, trunc: bool) -> str:
    img = c.get("Image") or ""
    if not img:
        return "<no image>"
    if trunc:
        from skiff.cli.output import truncate_id
        if c.get("ImageID") and truncate_id(c["ImageID"]) == truncate_id(img):
            return truncate_id(img)
        if "@" in img:
            img = img.split("@", 1)[0]
    return img


def row(c: dict, trunc: bool, now: float) -> dict:
    """The template context of one container (the fields Docker's has)."""
    from skiff.cli.output import truncate_id, ellipsis, go_quote, since
    from skiff.cli.units import human_size
    names = [n[1:] if n.startswith("/") else n for n in (c.get("Names") or [])]
    if trunc:
        for n in names:
            if "/" not in n:
                names = [n]
                break
    command = c.get("Command") or ""
    if trunc:
        command = ellipsis(command, 20)
    labels = c.get("Labels") or {}
    created = c.get("Created") or 0
    srw = human_size(c.get("SizeRw") or 0)
    size = srw
    if c.get("SizeRootFs"):
        size = f"{srw} (virtual {human_size(c['SizeRootFs'])})"
    nets = sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    mounts = []
    for m in c.get("Mounts") or []:
        name = m.get("Name") or m.get("Source") or ""
        if trunc:
            name = ellipsis(name, 15)
        mounts.append(name)
    return {
        "ID": truncate_id(c.get("Id", "")) if trunc else c.get("Id", ""),
        "Image": _image(c, trunc),
        "Command": go_quote(command),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
        "RunningFor": since(created, now),
        "Ports": display_ports(c.get("Ports")),
        "State": c.get("State", ""),
        "Status": _status(c, now),
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Label": lambda key: labels.get(key, ""),
        "Mounts": ",".join(mounts),
        "Networks": ",".join(nets),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
        "Platform": None,
    }


def main(cli, argv):
    fs = FlagSet("[OPTIONS]", "List containers", [
        Flag("all", "a", "bool", help="Show all containers (default shows just running)"),
        Flag("filter", "f", "list", help="Filter output based on conditions provided", type_name="filter"),
        Flag("format", None, "string", help="Format output using a custom template"),
        Flag("last", "n", "int", default=-1, help="Show n last created containers (includes all states)"),
        Flag("latest", "l", "bool", help="Show the latest created container (includes all states)"),
        Flag("no-trunc", None, "bool", help="Don't truncate output"),
        Flag("quiet", "q", "bool", help="Only display container IDs"),
        Flag("size", "s", "bool", help="Display total file sizes"),
    ], args=(0, 0), aliases=[f"{PROG} container ls", f"{PROG} container list", f"{PROG} container ps", f"{PROG} ps"])
    opts, _ = cli.parse(fs, argv)
    from skiff.client import encode_filters
    filters: dict[str, list[str]] = {}
    for f in opts.filter:
        k, eq, v = f.partition("=")
        if not eq:
            raise StatusError(f'invalid argument "{f}" for "-f, --filter" flag: bad format of filter (expected name=value)', 125)
        filters.setdefault(k.strip().lower(), []).append(v)
    limit = opts.last
    if opts.latest and limit == -1:
        limit = 1
    fmt = opts.format or ""
    if fmt.strip() == "table":
        fmt = DEFAULT + ("\t{{.Size}}" if opts.size else "")
    if opts.quiet:
        fmt = "{{.ID}}"
    elif not fmt:
        fmt = DEFAULT + ("\t{{.Size}}" if opts.size else "")
    want_size = opts.size or (".Size" in fmt and not opts.quiet)
    params = {"all": opts.all or limit > 0, "limit": limit if limit > 0 else None,
              "size": want_size, "filters": encode_filters(filters)}
    containers = cli.client.get_json("/containers/json", params) or []
    now = time.time()
    rows = [row(c, not opts.no_trunc, now) for c in containers]
    from skiff.cli.output import format_rows
    from skiff.cli.template import TemplateError
    try:
        cli.out.write(format_rows(fmt, rows, HEADER))
    except TemplateError as e:
        raise StatusError(f"template parsing error: {e}", 1) from None
    return 0
