"""``skiff events [--since] [--until] [--filter k=v] [--format]``: GET /events
streamed, printed as docker/cli's prettyPrintEvent:
"TIME TYPE ACTION ID (k=v, ...)" with TIME in RFC3339NanoFixed, local time."""

from __future__ import annotations

import time

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet


def fixed_time(ns: int) -> str:
    """Go's "2006-01-02T15:04:05.000000000Z07:00" in local time."""
    secs = ns // 1_000_000_000
    lt = time.localtime(secs)
    off = lt.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", lt) + f".{ns % 1_000_000_000:09d}" + zone


def pretty(ev: dict) -> str:
    ns = int(ev.get("timeNano") or 0) or int(ev.get("time") or 0) * 1_000_000_000
    actor = ev.get("Actor") or {}
    s = f"{fixed_time(ns)} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        s += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return s + "\n"


def main(cli, argv):
    fs = FlagSet("[OPTIONS]", "Get real time events from the server", [
        Flag("filter", "f", "list", help="Filter output based on conditions provided", type_name="filter"),
        Flag("format", None, "string", help="Format output using a custom template"),
        Flag("since", None, "string", help="Show all events created since timestamp"),
        Flag("until", None, "string", help="Stream events until this timestamp"),
    ], args=(0, 0), aliases=[f"{PROG} system events", f"{PROG} events"])
    opts, _ = cli.parse(fs, argv)
    from skiff.cli.units import time_range_params
    from skiff.client import encode_filters
    try:
        params = time_range_params(opts.since, opts.until)
    except ValueError as e:
        raise StatusError(str(e), 1) from None
    filters: dict[str, list[str]] = {}
    for f in opts.filter:
        k, sep, v = f.partition("=")
        if not sep:
            raise StatusError(f'invalid argument "{f}" for "-f, --filter" flag: bad format of filter (expected name=value)', 125)
        filters.setdefault(k.strip().lower(), []).append(v)
    if filters:
        params["filters"] = encode_filters(filters)
    tmpl = None
    if opts.format and opts.format.strip() != "json":
        from skiff.cli.template import Template
        tmpl = Template(opts.format.replace("\\t", "\t").replace("\\n", "\n"))
    try:
        for ev in cli.client.stream_json("GET", "/events", params):
            if opts.format and opts.format.strip() == "json":
                import json
                cli.out.write(json.dumps(ev, separators=(",", ":")) + "\n")
            elif tmpl is not None:
                cli.out.write(tmpl.execute(ev) + "\n")
            else:
                cli.out.write(pretty(ev))
            cli.out.flush()
    except KeyboardInterrupt:
        return 0
    return 0
