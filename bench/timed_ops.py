#!/usr/bin/env python3
"""Benchmark operations that time only their own middle part, for the harness's
self-timed cases: the last line printed is the seconds to count; set-up and
clean-up are done before and after, untimed. Works with any Docker-compatible
CLI (skiff or docker), given as the command prefix after ``--``.

    timed_ops.py concurrent-run [-n 50] [--image busybox] [--daemon-pid-file F]
                 [--stats-seconds 10] -- CLI [-H SOCK]
        starts N `CLI run -d IMAGE sleep 600` at once and times until every one
        has returned its id (`run -d` returns once the container runs); with
        --daemon-pid-file, then measures the idle memory cost and the CPU cost
        of `stats` (below) and prints a JSON object; then removes them
        (`CLI rm -f ...`), untimed
    timed_ops.py net-rps --port P [--image web] [--seconds 5] -- CLI [-H SOCK]
        `CLI run -d -p 127.0.0.1:P:80 IMAGE` (busybox httpd), waits until it
        answers, then wrk (Debian's) for SECONDS; prints {"rps": requests/s}
    timed_ops.py net-bulk [--mib 512] [--times 4] -- CLI [-H SOCK]
        a server container (busybox httpd serving a MIB file it wrote) and a
        client container on the same default bridge: the client fetches the
        file TIMES times with busybox wget, timed inside the client with
        `time -p`; prints {"mb_per_s": 10^6 bytes/s, "seconds": s}
    timed_ops.py cpu-work [--mb 200] [--host] -- CLI [-H SOCK]
        `head -c MB*10^6 /dev/zero | sha256sum` timed by busybox `time -p`
        inside `CLI run --rm busybox`, or with --host the same busybox
        binary on the host; prints the seconds

Memory (concurrent-run): per container, the processes that exist for it
besides its own (the parent of its init process: skiff's shim, Docker's
containerd-shim-runc-v2) plus the growth of the daemon's process tree (the
daemon and its descendants other than shims and containers: skiffd and its
shim fork server; dockerd and its containerd), RSS and PSS from
/proc/PID/smaps_rollup, measured after 2 s of idling. Stats CPU: the CPU time
(utime + stime, /proc/PID/stat) of the daemon's tree, the shims and one
streaming `CLI stats` over STATS_SECONDS while all N containers idle.
    timed_ops.py pull --ref REF [--remove IMAGE]... -- CLI [-H SOCK]
        removes REF and each IMAGE if present (untimed: images sharing REF's
        layers would make the pull download nothing), times `CLI pull REF`,
        removes REF again

Exit status 1 (and the reason on stderr) when any of the timed commands fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

QUIET = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _ppid_map() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc/PID/stat."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        out[int(name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def _tree(root: int, exclude: set[int], ppids: dict[int, int]) -> set[int]:
    """``root`` and its descendants, without the subtrees of ``exclude``."""
    children: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen or pid in exclude:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, []))
    return seen


def _mem(pids: set[int]) -> tuple[int, int]:
    """Sum of (RSS, PSS) in bytes over ``pids`` (/proc/PID/smaps_rollup)."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            pass
    return rss, pss


def _cpu(pids: set[int]) -> float:
    """Sum of utime + stime in seconds over ``pids`` (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def _init_pids(cli: list[str], ids: list[str]) -> list[int]:
    p = subprocess.run(cli + ["inspect", "-f", "{{.State.Pid}}"] + ids, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=120)
    return [int(x) for x in p.stdout.split() if x.strip().isdigit() and int(x) > 0]


def concurrent_run(cli: list[str], n: int, image: str, daemon_pid_file: str | None = None,
                   stats_seconds: float = 0.0) -> int:
    daemon = None
    if daemon_pid_file:
        with open(daemon_pid_file) as f:
            daemon = int(f.read().strip())
        before = _mem(_tree(daemon, set(), _ppid_map()))
    procs = []
    t0 = time.perf_counter_ns()
    for _ in range(n):
        procs.append(subprocess.Popen(cli + ["run", "-d", image, "sleep", "600"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
    outs = [p.communicate() for p in procs]
    elapsed = (time.perf_counter_ns() - t0) / 1e9
    ids = [o[0].decode().strip() for o, p in zip(outs, procs) if p.returncode == 0]
    failed = [(p.returncode, o[1].decode(errors="replace").strip()) for o, p in zip(outs, procs)
              if p.returncode != 0]
    result: dict = {"seconds": elapsed, "failed_starts": len(failed)}
    # a rare failed start is reported (its count is a row of its own, the first
    # error on stderr) and the rest measured; more than 10 % fails the run
    tolerated = daemon is not None and len(failed) * 10 <= n
    if failed:
        print(f"{len(failed)} of {n} `run -d` failed; first: exit {failed[0][0]}: {failed[0][1]}",
              file=sys.stderr)
    try:
        if (not failed or tolerated) and daemon is not None:
            time.sleep(2.0)  # idle: what the engine keeps per container, not start-up garbage
            m = len(ids)
            inits = _init_pids(cli, ids)
            ppids = _ppid_map()
            shims = {ppids[p] for p in inits if p in ppids} - {daemon, 1}
            if len(inits) != m or not m:
                failed.append((0, f"inspect gave {len(inits)} pids for {m} containers"))
                tolerated = False
            else:
                exclude = shims | set(inits)
                after = _mem(_tree(daemon, exclude, ppids))
                shim_rss, shim_pss = _mem(shims)
                result.update(
                    shims=len(shims),
                    shim_rss=shim_rss / m, shim_pss=shim_pss / m,
                    daemon_rss_growth=(after[0] - before[0]) / m,
                    daemon_pss_growth=(after[1] - before[1]) / m,
                    rss_per_container=(shim_rss + after[0] - before[0]) / m,
                    pss_per_container=(shim_pss + after[1] - before[1]) / m)
                if stats_seconds > 0:
                    result["stats_cpu"] = _stats_cpu(cli, daemon, exclude, shims, stats_seconds)
    finally:
        if ids:
            subprocess.run(cli + ["rm", "-f"] + ids, timeout=300, **QUIET)
    if failed and not tolerated:
        return 1
    if daemon is None:
        print(f"{elapsed:.6f}")
    else:
        print(json.dumps(result))
    return 0


def _stats_cpu(cli: list[str], daemon: int, exclude: set[int], shims: set[int],
               seconds: float) -> float:
    """CPU seconds of the daemon's tree, the shims and a streaming `CLI stats`
    over ``seconds``."""
    engine = _tree(daemon, exclude, _ppid_map()) | shims
    c0 = _cpu(engine)
    p = subprocess.Popen(cli + ["stats"], **QUIET)
    try:
        time.sleep(seconds)
        if p.poll() is not None:
            raise RuntimeError(f"`stats` exited {p.returncode} before {seconds:g} s")
        cli_cpu = _cpu({p.pid})
        # threads/children the daemon made meanwhile count too
        engine |= _tree(daemon, exclude, _ppid_map())
        c1 = _cpu(engine)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return c1 - c0 + cli_cpu


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {timeout:g} s")
            time.sleep(0.05)


def net_rps(cli: list[str], image: str, port: int, seconds: float, conns: int) -> int:
    name = f"skifftest-bench-rps-{os.getpid()}"
    p = subprocess.run(cli + ["run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", image],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    try:
        if p.returncode != 0:
            print(f"run -p: exit {p.returncode}: {p.stderr.strip()}", file=sys.stderr)
            return 1
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url)
        w = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds:g}s", url],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=seconds + 60)
        m = re.search(r"Requests/sec:\s+([\d.]+)", w.stdout)
        errors = re.search(r"Socket errors: (.*)", w.stdout)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", w.stdout)
        if w.returncode != 0 or not m:
            print(f"wrk: exit {w.returncode}: {w.stderr.strip()} {w.stdout[-300:]}",
                  file=sys.stderr)
            return 1
        out = {"rps": float(m.group(1))}
        if errors:
            out["socket_errors"] = errors.group(1)
        if non2xx:
            out["non_2xx"] = int(non2xx.group(1))
        print(json.dumps(out))
        return 0
    finally:
        subprocess.run(cli + ["rm", "-f", name], timeout=120, **QUIET)


def net_bulk(cli: list[str], image: str, mib: int, times: int) -> int:
    name = f"skifftest-bench-bulk-{os.getpid()}"
    serve = f"mkdir /w && head -c {mib * 2**20} /dev/zero > /w/big && httpd -f -p 80 -h /w"
    p = subprocess.run(cli + ["run", "-d", "--name", name, image, "sh", "-c", serve],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    try:
        if p.returncode != 0:
            print(f"server: exit {p.returncode}: {p.stderr.strip()}", file=sys.stderr)
            return 1
        ip = subprocess.run(cli + ["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            timeout=60).stdout.strip()
        if not ip:
            print("server has no IP address on the default bridge", file=sys.stderr)
            return 1
        url = f"http://{ip}/big"
        fetch = "; ".join([f"wget -q -O /dev/null {url}"] * times)
        # wait (in a client) until the file is written and httpd answers
        client = (f"i=0; until wget -q --spider {url}; do i=$((i+1)); "
                  f"[ $i -gt 400 ] && exit 3; sleep 0.05; done; "
                  f"time -p sh -c '{fetch}'")
        c = subprocess.run(cli + ["run", "--rm", image, "sh", "-c", client],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
        m = re.search(r"real\s+([\d.]+)", c.stderr)
        if c.returncode != 0 or not m:
            print(f"client: exit {c.returncode}: {c.stderr.strip()[-300:]}", file=sys.stderr)
            return 1
        secs = float(m.group(1))
        print(json.dumps({"mb_per_s": mib * 2**20 * times / max(secs, 0.01) / 1e6,
                          "seconds": secs}))
        return 0
    finally:
        subprocess.run(cli + ["rm", "-f", name], timeout=120, **QUIET)


def cpu_work(cli: list[str], image: str, mb: int, host: bool) -> int:
    work = f"time -p sh -c 'head -c {mb * 10**6} /dev/zero | sha256sum'"
    argv = (["busybox", "sh", "-c", work] if host
            else cli + ["run", "--rm", image, "sh", "-c", work])
    p = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=600)
    m = re.search(r"real\s+([\d.]+)", p.stderr)
    if p.returncode != 0 or not m:
        print(f"cpu-work: exit {p.returncode}: {p.stderr.strip()[-300:]}", file=sys.stderr)
        return 1
    print(m.group(1))
    return 0


def pull(cli: list[str], ref: str, remove: list[str]) -> int:
    quiet = QUIET
    for image in [ref] + remove:
        subprocess.run(cli + ["rmi", "-f", image], **quiet)
    t0 = time.perf_counter_ns()
    p = subprocess.run(cli + ["pull", "-q", ref], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter_ns() - t0) / 1e9
    subprocess.run(cli + ["rmi", "-f", ref], **quiet)
    if p.returncode != 0:
        print(f"pull {ref}: exit {p.returncode}: {p.stderr.decode(errors='replace').strip()}",
              file=sys.stderr)
        return 1
    print(f"{elapsed:.6f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    cut = argv.index("--")
    own, cli = argv[:cut], argv[cut + 1:]
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["concurrent-run", "pull", "net-rps", "net-bulk", "cpu-work"])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--image", default=None)
    ap.add_argument("--ref")
    ap.add_argument("--remove", action="append", default=[])
    ap.add_argument("--daemon-pid-file")
    ap.add_argument("--stats-seconds", type=float, default=0.0)
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--times", type=int, default=4)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--host", action="store_true")
    args = ap.parse_args(own)
    if not cli and not (args.op == "cpu-work" and args.host):
        ap.error("no CLI after --")
    image = args.image or ("web" if args.op == "net-rps" else "busybox")
    if args.op == "concurrent-run":
        return concurrent_run(cli, args.n, image, args.daemon_pid_file, args.stats_seconds)
    if args.op == "net-rps":
        return net_rps(cli, image, args.port, args.seconds, args.connections)
    if args.op == "net-bulk":
        return net_bulk(cli, image, args.mib, args.times)
    if args.op == "cpu-work":
        return cpu_work(cli, image, args.mb, args.host)
    if not args.ref:
        ap.error("pull needs --ref")
    return pull(cli, args.ref, args.remove)


if __name__ == "__main__":
    sys.exit(main())
