#!/usr/bin/env python3
"""Benchmark operations that time only their own middle part, for the harness's
self-timed cases: the last line printed is the seconds to count; set-up and
clean-up are done before and after, untimed. Works with any Docker-compatible
CLI (skiff or docker), given as the command prefix after ``--``.

    timed_ops.py concurrent-run [-n 50] [--image busybox] -- CLI [-H SOCK]
        starts N `CLI run -d IMAGE sleep 60` at once and times until every one
        has returned its id; then removes them (`CLI rm -f ...`), untimed
    timed_ops.py pull --ref REF [--remove IMAGE]... -- CLI [-H SOCK]
        removes REF and each IMAGE if present (untimed: images sharing REF's
        layers would make the pull download nothing), times `CLI pull REF`,
        removes REF again

Exit status 1 (and the reason on stderr) when any of the timed commands fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def concurrent_run(cli: list[str], n: int, image: str) -> int:
    procs = []
    t0 = time.perf_counter_ns()
    for _ in range(n):
        procs.append(subprocess.Popen(cli + ["run", "-d", image, "sleep", "60"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
    outs = [p.communicate() for p in procs]
    elapsed = (time.perf_counter_ns() - t0) / 1e9
    ids = [o[0].decode().strip() for o, p in zip(outs, procs) if p.returncode == 0]
    failed = [(p.returncode, o[1].decode(errors="replace").strip()) for o, p in zip(outs, procs)
              if p.returncode != 0]
    if ids:
        subprocess.run(cli + ["rm", "-f"] + ids, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    if failed:
        print(f"{len(failed)} of {n} `run -d` failed; first: exit {failed[0][0]}: {failed[0][1]}",
              file=sys.stderr)
        return 1
    print(f"{elapsed:.6f}")
    return 0


def pull(cli: list[str], ref: str, remove: list[str]) -> int:
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    ap.add_argument("op", choices=["concurrent-run", "pull"])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--image", default="busybox")
    ap.add_argument("--ref")
    ap.add_argument("--remove", action="append", default=[])
    args = ap.parse_args(own)
    if not cli:
        ap.error("no CLI after --")
    if args.op == "concurrent-run":
        return concurrent_run(cli, args.n, args.image)
    if not args.ref:
        ap.error("pull needs --ref")
    return pull(cli, args.ref, args.remove)


if __name__ == "__main__":
    sys.exit(main())
