"""``skiff system df [-v] [--format]`` (GET /system/df) and ``skiff system
prune [-a] [-f] [--volumes] [--filter]`` (client side, as docker/cli: POST
/containers/prune, /networks/prune, /images/prune, /volumes/prune).
The sub-command comes from the dispatch table (``cli.extra["sub"]``)."""

from __future__ import annotations

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet
from skiff.errors import NotFound, SkiffError


def main(cli, argv):
    sub = cli.extra.get("sub") or "df"
    if sub == "df":
        return df(cli, argv)
    if sub == "prune":
        return prune(cli, argv)
    raise StatusError(f"{PROG}: unknown command: {PROG} system {sub}", 1)


def _pct(part: int, total: int) -> str:
    from skiff.cli.units import human_size
    if total > 0:
        return f"{human_size(part, 4)} ({part * 100 // total}%)"
    return human_size(part, 4)


def df(cli, argv):
    fs = FlagSet("[OPTIONS]", "Show docker disk usage", [
        Flag("format", None, "string", help="Format output using a custom template"),
        Flag("verbose", "v", "bool", help="Show detailed information on space usage"),
    ], args=(0, 0), aliases=[f"{PROG} system df"])
    opts, _ = cli.parse(fs, argv)
    from skiff.cli.output import format_rows
    from skiff.cli.units import human_size
    d = cli.client.get_json("/system/df") or {}
    images = d.get("Images") or []
    containers = d.get("Containers") or []
    volumes = d.get("Volumes") or []
    cache = d.get("BuildCache") or []
    total = int(d.get("LayersSize") or 0)
    used = sum(int(i.get("Size", 0)) - int(i.get("SharedSize", 0)) for i in images if i.get("Containers"))
    active_c = [c for c in containers if c.get("State") in ("running", "paused")]
    c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_recl = sum(int(c.get("SizeRw") or 0) for c in containers if c not in active_c)
    v_size = sum(int((v.get("UsageData") or {}).get("Size") or 0) for v in volumes)
    b_size = sum(int(b.get("Size") or 0) for b in cache)
    if opts.verbose and not opts.format:
        return _verbose(cli, images, containers, volumes, cache)
    rows = [
        {"Type": "Images", "TotalCount": str(len(images)),
         "Active": str(sum(1 for i in images if i.get("Containers"))),
         "Size": human_size(total, 4), "Reclaimable": _pct(total - used, total)},
        {"Type": "Containers", "TotalCount": str(len(containers)), "Active": str(len(active_c)),
         "Size": human_size(c_size, 4), "Reclaimable": _pct(c_recl, c_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
         "Active": str(sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount"))),
         "Size": human_size(v_size, 4), "Reclaimable": human_size(v_size, 4)},
        {"Type": "Build Cache", "TotalCount": str(len(cache)), "Active": "0",
         "Size": human_size(b_size, 4), "Reclaimable": human_size(b_size, 4)},
    ]
    fmt = opts.format or "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    cli.out.write(format_rows(fmt, rows, {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                                          "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}))
    return 0


def _verbose(cli, images, containers, volumes, cache):
    import time
    from skiff.cli.output import tabwrite, truncate_id
    from skiff.cli.units import human_duration, human_size
    now = time.time()
    lines = ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"]
    for i in images:
        tags = i.get("RepoTags") or ["<none>:<none>"]
        for t in tags:
            repo, _, tag = t.rpartition(":")
            lines.append("\t".join([repo, tag, truncate_id(i["Id"]),
                                    human_duration(now - int(i.get("Created", 0))) + " ago",
                                    human_size(i.get("Size", 0)), human_size(i.get("SharedSize", 0)),
                                    human_size(int(i.get("Size", 0)) - int(i.get("SharedSize", 0))),
                                    str(i.get("Containers", 0))]))
    cli.out.write("Images space usage:\n\n" + tabwrite("\n".join(lines) + "\n"))
    lines = ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES"]
    for c in containers:
        cmd = c.get("Command", "")
        cmd = '"' + (cmd if len(cmd) <= 19 else cmd[:19] + "…") + '"'
        lines.append("\t".join([truncate_id(c["Id"]), c.get("Image", ""), cmd, "0",
                                human_size(c.get("SizeRw", 0)),
                                human_duration(now - int(c.get("Created", 0))) + " ago",
                                c.get("Status", ""), ",".join(n.lstrip("/") for n in c.get("Names") or [])]))
    cli.out.write("\nContainers space usage:\n\n" + tabwrite("\n".join(lines) + "\n"))
    lines = ["VOLUME NAME\tLINKS\tSIZE"]
    for v in volumes:
        u = v.get("UsageData") or {}
        lines.append(f"{v.get('Name', '')}\t{u.get('RefCount', 0)}\t{human_size(u.get('Size', 0))}")
    cli.out.write("\nLocal Volumes space usage:\n\n" + tabwrite("\n".join(lines) + "\n"))
    cli.out.write(f"\nBuild cache usage: {human_size(sum(int(b.get('Size') or 0) for b in cache))}\n\n")
    cli.out.write(tabwrite("CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n"))
    return 0


def prune(cli, argv):
    fs = FlagSet("[OPTIONS]", "Remove unused data", [
        Flag("all", "a", "bool", help="Remove all unused images not just dangling ones"),
        Flag("filter", None, "list", help='Provide filter values (e.g. "label=<key>=<value>")', type_name="filter"),
        Flag("force", "f", "bool", help="Do not prompt for confirmation"),
        Flag("volumes", None, "bool", help="Prune anonymous volumes"),
    ], args=(0, 0), aliases=[f"{PROG} system prune"])
    opts, _ = cli.parse(fs, argv)
    from skiff.cli.commands.prune import confirm, parse_filters, prune_containers
    from skiff.cli.units import human_size
    from skiff.client import encode_filters
    filters = parse_filters(opts.filter)
    warn = "WARNING! This will remove:\n  - all stopped containers\n"
    if opts.volumes:
        warn += "  - all anonymous volumes not used by at least one container\n"
    warn += "  - all networks not used by at least one container\n"
    warn += ("  - all images without at least one container associated to them\n" if opts.all
             else "  - all dangling images\n")
    warn += "  - unused build cache\n\nAre you sure you want to continue? [y/N] "
    if not opts.force and not confirm(cli, warn):
        return 0
    space = 0
    deleted, s = prune_containers(cli, filters)
    space += s
    if deleted:
        cli.out.write("Deleted Containers:\n" + "".join(d + "\n" for d in deleted) + "\n")
    if opts.volumes:
        try:
            r = cli.client.post_json("/volumes/prune", {"filters": encode_filters(filters)} if filters else None) or {}
            if r.get("VolumesDeleted"):
                cli.out.write("Deleted Volumes:\n" + "".join(v + "\n" for v in r["VolumesDeleted"]) + "\n")
            space += int(r.get("SpaceReclaimed") or 0)
        except NotFound:
            pass
    try:
        r = cli.client.post_json("/networks/prune", {"filters": encode_filters(filters)} if filters else None) or {}
        if r.get("NetworksDeleted"):
            cli.out.write("Deleted Networks:\n" + "".join(n + "\n" for n in r["NetworksDeleted"]) + "\n")
    except (NotFound, SkiffError) as e:
        if not isinstance(e, NotFound):
            raise
    imf = dict(filters)
    imf["dangling"] = ["false" if opts.all else "true"]
    r = cli.client.post_json("/images/prune", {"filters": encode_filters(imf)}) or {}
    if r.get("ImagesDeleted"):
        cli.out.write("Deleted Images:\n")
        for d in r["ImagesDeleted"]:
            if d.get("Untagged"):
                cli.out.write(f"untagged: {d['Untagged']}\n")
            if d.get("Deleted"):
                cli.out.write(f"deleted: {d['Deleted']}\n")
        cli.out.write("\n")
    space += int(r.get("SpaceReclaimed") or 0)
    cli.out.write(f"Total reclaimed space: {human_size(space, 4)}\n")
    return 0
