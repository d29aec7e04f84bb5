"""``skiff logs [-f] [--tail N] [-t] [--since] [--until] [--details] CONTAINER``:
GET /containers/{id}/logs; the stream is multiplexed frames unless the
container has a tty (docker/cli container/logs.go)."""

from __future__ import annotations

import sys

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import quote


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER", "Fetch the logs of a container", [
        Flag("details", None, "bool", help="Show extra details provided to logs"),
        Flag("follow", "f", "bool", help="Follow log output"),
        Flag("since", None, "string", help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'),
        Flag("tail", "n", "string", default="all", help='Number of lines to show from the end of the logs (default "all")'),
        Flag("timestamps", "t", "bool", help="Show timestamps"),
        Flag("until", None, "string", help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'),
    ], args=(1, 1), aliases=[f"{PROG} container logs", f"{PROG} logs"])
    opts, (name,) = cli.parse(fs, argv)
    from skiff.cli.units import time_range_params
    params = {"stdout": 1, "stderr": 1, "follow": opts.follow, "timestamps": opts.timestamps,
              "details": opts.details, "tail": opts.tail}
    try:
        params.update(time_range_params(opts.since, opts.until))
    except ValueError as e:
        raise StatusError(str(e), 1) from None
    client = cli.client
    info = client.get_json(f"/containers/{quote(name)}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    cli.out.flush()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    with client.open("GET", f"/containers/{quote(name)}/logs", params) as resp:
        if tty:
            while True:
                data = resp.read1()
                if not data:
                    break
                out.write(data)
                out.flush()
        else:
            from skiff.client.stream import copy_demuxed
            copy_demuxed(resp.read1, out, err)
    return 0
