"""``skiff stats [-a] [--no-stream] [--no-trunc] [--format] [CONTAINER...]``:
GET /containers/{id}/stats rendered as docker/cli's stats table (CPU % from
the cpu/precpu deltas, memory without the inactive page cache)."""

from __future__ import annotations

import sys
import threading
import time

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import quote

DEFAULT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
           "\t{{.BlockIO}}\t{{.PIDs}}")
HEADER = {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
          "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
          "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def calculate(s: dict) -> dict:
    """The numbers docker/cli derives from one stats object."""
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - \
        (pre.get("cpu_usage") or {}).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_pct = cpu_delta / sys_delta * online * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    usage = mem.get("usage") or 0
    st = mem.get("stats") or {}
    for k in ("total_inactive_file", "inactive_file"):
        if k in st and st[k] < usage:
            usage -= st[k]
            break
    limit = mem.get("limit") or 0
    mem_pct = usage / limit * 100.0 if limit else 0.0
    rd = wr = 0
    for e in ((s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []):
        op = (e.get("op") or "").lower()
        if op == "read":
            rd += e.get("value", 0)
        elif op == "write":
            wr += e.get("value", 0)
    rx = tx = 0
    for n in (s.get("networks") or {}).values():
        rx += n.get("rx_bytes", 0)
        tx += n.get("tx_bytes", 0)
    return {"cpu": cpu_pct, "mem": usage, "limit": limit, "mem_pct": mem_pct, "read": rd,
            "write": wr, "rx": rx, "tx": tx, "pids": (s.get("pids_stats") or {}).get("current", 0)}


def row(s: dict, name: str, no_trunc: bool) -> dict:
    from skiff.cli.units import bytes_size, human_size
    v = calculate(s)
    cid = s.get("id", "")
    running = s.get("read", "").startswith("0001") is False
    return {
        "ID": cid if no_trunc else cid[:12], "Container": name, "Name": (s.get("name") or "").lstrip("/") or "--",
        "CPUPerc": f"{v['cpu']:.2f}%" if running else "--",
        "MemUsage": f"{bytes_size(v['mem'])} / {bytes_size(v['limit'])}" if running else "-- / --",
        "MemPerc": f"{v['mem_pct']:.2f}%" if running else "--",
        "NetIO": f"{human_size(v['rx'])} / {human_size(v['tx'])}" if running else "--",
        "BlockIO": f"{human_size(v['read'])} / {human_size(v['write'])}" if running else "--",
        "PIDs": str(v["pids"]) if running else "--",
    }


def main(cli, argv):
    fs = FlagSet("[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics", [
        Flag("all", "a", "bool", help="Show all containers (default shows just running)"),
        Flag("format", None, "string", help="Format output using a custom template"),
        Flag("no-stream", None, "bool", help="Disable streaming stats and only pull the first result"),
        Flag("no-trunc", None, "bool", help="Do not truncate output"),
    ], args=(0, None), aliases=[f"{PROG} container stats", f"{PROG} stats"])
    opts, names = cli.parse(fs, argv)
    from skiff.cli.output import format_rows
    client = cli.client
    if not names:
        lst = client.get_json("/containers/json", {"all": "1" if opts.all else "0"}) or []
        names = [c["Id"] for c in lst]
    else:
        for n in names:
            client.get_json(f"/containers/{quote(n)}/json")  # "No such container" up front
    fmt = opts.format or DEFAULT
    latest: dict[str, dict] = {}
    errors: dict[str, str] = {}

    def one(n):
        try:
            latest[n] = client.get_json(f"/containers/{quote(n)}/stats", {"stream": "0"})
        except Exception as e:  # noqa: BLE001
            errors[n] = str(e)

    def render() -> str:
        rows = [row(latest[n], n, opts.no_trunc) for n in names if n in latest]
        return format_rows(fmt, rows, HEADER)

    if opts.no_stream:
        ts = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors and not latest:
            raise StatusError("\n".join(errors.values()), 1)
        cli.out.write(render())
        return 0

    def follow(n):
        try:
            for s in client.stream_json("GET", f"/containers/{quote(n)}/stats", {"stream": "1"}):
                latest[n] = s
        except Exception as e:  # noqa: BLE001
            errors[n] = str(e)

    for n in names:
        threading.Thread(target=follow, args=(n,), daemon=True).start()
    try:
        while True:
            time.sleep(1)
            out = render()
            if sys.stdout.isatty():
                cli.out.write("\033[2J\033[H")
            cli.out.write(out)
            cli.out.flush()
    except KeyboardInterrupt:
        return 0
