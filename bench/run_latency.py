#!/usr/bin/env python3
"""Run latency and its neighbours: skiff against Docker (and runc), side by side.

    bench/run_latency.py [--runs 20] [--warmup 3] [--smoke] [--cases a,b] [--keep]

Cases (issue 6's list, numbered as there; targets from the issue):

  run_latency   (1) `skiff run --rm busybox true` vs `docker run --rm busybox true`,
                end to end through each CLI. Target: skiff <= 0.3 of Docker.
  concurrent_run  (2) 50 `run -d busybox sleep 600` at once, timed until all
                have returned (bench/timed_ops.py; removal untimed; 10 with
                --smoke); then, with the 50 idle, the memory per container
                (shim + daemon growth, RSS and PSS) and (7) the CPU time of
                daemon, shims and a streaming `stats` over 10 s
  runtime       (3) `skiff-runtime run` vs `runc run` of one bundle (busybox,
                `true`): bench/runtime.py, run here
  cli_version   (4) CLI start-up and one round trip: `skiff version` vs `docker version`
  net           (6) requests/s through a published port (wrk against busybox
                httpd of the web image, `run -d -p 127.0.0.1:PORT:80`) and bulk
                TCP throughput between two containers on the default bridge
                (busybox httpd and wget)
  cpu_bound     (9) sha256sum of 200 MB of zeros, timed inside the container
                (busybox `time -p`) against the same busybox on the host: the
                overhead of isolation; Docker's container against the host too
  pull          (5) `pull 127.0.0.1:5000/library/busybox` and `.../debian:bookworm`
                from the loopback test registry (scripts/fixtures.sh start;
                debian is pushed by `scripts/fixtures.sh debian`), cold: local
                copies removed first, untimed
  build         (8) not implemented yet in skiff: a row saying so

Set-up, all private to the benchmark and stopped by pid at the end (unless
--keep): a dockerd (scripts/docker-peer.sh: Debian's docker.io, data root
/var/lib/skiff-bench-docker, socket /run/skiff-bench-docker.sock) and a skiffd
(scripts/skiffd.sh with --data-root /var/lib/skiff-bench --exec-root
/run/skiff-bench -H unix:///run/skiff-bench/skiff.sock), each loaded with the
fixture archive busybox.docker.tar as busybox:latest. A side whose set-up fails
is reported as failed with the reason; the other side is still measured.

Results: bench/results/<date>.json and docs/benchmarks.md (full runs); smoke
runs (--smoke: one round, no warm-up) write /tmp/skiff-bench-smoke/smoke-<date>.json
and leave the docs alone. Needs root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

REPO = harness.REPO
SCRIPTS = REPO / "scripts"
FIXTURES = Path(os.environ.get("SKIFF_FIXTURES", "/var/cache/skiff-test-fixtures"))
ARCHIVE = FIXTURES / "archives" / "busybox.docker.tar"

DOCKER_SOCK = "/run/skiff-bench-docker.sock"
DOCKER_CLI = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
SKIFF_EXEC_ROOT = "/run/skiff-bench"
SKIFF_DATA_ROOT = "/var/lib/skiff-bench"
#: scripts/docker-peer.sh's data root (PEER_DATA_ROOT)
DOCKER_DATA_ROOT = os.environ.get("PEER_DATA_ROOT", "/var/lib/skiff-bench-docker")


def _remove_unmounted(path: str) -> None:
    """rm -r ``path`` (a daemon's root this run made), unless anything is
    still mounted at or under it: a run leaves nothing behind."""
    mounts = Path("/proc/self/mounts").read_text()
    if f" {path}/" not in mounts and f" {path} " not in mounts:
        shutil.rmtree(path, ignore_errors=True)
SKIFF_SOCK = f"{SKIFF_EXEC_ROOT}/skiff.sock"
SKIFF_CONFIG = "/run/skiff-bench.json"

SKIFFD_ENV = {
    "SKIFFD_EXEC_ROOT": SKIFF_EXEC_ROOT,
    "SKIFFD_DATA_ROOT": SKIFF_DATA_ROOT,
    "SKIFFD_CONFIG": SKIFF_CONFIG,
    "SKIFFD_LOG": "/var/log/skiff-bench-skiffd.log",
    "SKIFFD_PIDFILE": "/run/skiff-bench-skiffd.pid",
}

ALL_CASES = ["run_latency", "cli_version", "runtime", "concurrent_run", "net", "cpu_bound",
             "pull"]
DAEMON_CASES = {"run_latency", "cli_version", "concurrent_run", "net", "cpu_bound", "pull"}
REGISTRY_PORT = int(os.environ.get("SKIFF_TEST_REGISTRY_PORT", "5000"))
PULL_REF = f"127.0.0.1:{REGISTRY_PORT}/library/busybox:latest"
DEBIAN_REF = f"127.0.0.1:{REGISTRY_PORT}/library/debian:bookworm"
WEB_ARCHIVE = FIXTURES / "archives" / "web.docker.tar"
TIMED_OPS = str(Path(__file__).resolve().parent / "timed_ops.py")
SKIFFD_PIDFILE = SKIFFD_ENV["SKIFFD_PIDFILE"]
DOCKERD_PIDFILE = "/run/skiff-bench-docker.pid"
#: the published ports of the requests/s case (skiff, docker)
RPS_PORTS = (28080, 28081)

#: issue 6's benchmarks whose feature skiff lacks: rows saying so
PENDING = [
    ("build", "(8) build: cold, then cached rebuild of a multi-stage Dockerfile"),
]


def _which(name: str) -> str:
    for d in ("/usr/local/bin", "/opt/skiff/venv/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name) or name


def _run(cmd: list[str], env: dict | None = None, timeout: float = 300) -> str | None:
    """Run a set-up command; None on success, else the error text."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        p = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{' '.join(cmd)}: {e}"
    if p.returncode != 0:
        tail = [ln for ln in (p.stderr or p.stdout).strip().splitlines() if ln.strip(" ^~")][-4:]
        return f"{' '.join(cmd)} exited {p.returncode}: " + " / ".join(tail)
    return None


def _check_echo(cli: list[str]) -> str | None:
    """None if `CLI run --rm busybox echo ...` prints what it was told to."""
    word = "skiff-bench-check"
    try:
        p = subprocess.run(cli + ["run", "--rm", "busybox", "echo", word], capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"check run: {e}"
    if p.returncode != 0 or p.stdout.strip() != word:
        return (f"check run `run --rm busybox echo {word}` gave exit {p.returncode}, "
                f"stdout {p.stdout.strip()[:80]!r}, stderr {p.stderr.strip()[-200:]!r}")
    return None


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def precompile() -> None:
    """Bytecode for skiff's sources, as an install has it (`make install`
    compiles ahead): with PYTHONDONTWRITEBYTECODE set and no .pyc, every
    skiff command would recompile its modules and be timed doing so."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], env=env,
                   **QUIET)


QUIET = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def runtime_runner(runs: int, warmup: int) -> dict:
    """bench/runtime.py's own alternating loop (its 3 warm-ups, ``runs``
    timed rounds): {"skiff": [s...], "peer": [s...]}."""
    import runtime  # bench/runtime.py, beside this file
    return runtime.run(runs)


def _reap_leftovers() -> None:
    """After skiffd stopped: kill what its shims left (a shim and an init not
    yet exec'd keep the fork server's command line, naming our exec root; a
    failed start has been seen to leave them), by pid, and remove their
    now empty cgroups. Logs what it found: that is a skiff bug to report."""
    mark = f"{SKIFF_EXEC_ROOT}/shim-forkserver.sock".encode()
    found: dict[int, list[str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if mark not in f.read():
                    continue
            with open(f"/proc/{name}/cgroup") as f:
                found[int(name)] = [ln.split(":", 2)[2].strip() for ln in f if ln.count(":") >= 2]
        except OSError:
            continue
    if not found:
        return
    log(f"left behind by skiffd: processes {sorted(found)}: killing them")
    for pid in found:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    import time
    time.sleep(0.5)
    # only a container's own cgroup: its last component is the 64-hex id
    dirs = {d for paths in found.values() for d in paths
            if len(d.rsplit("/", 1)[-1]) == 64
            and all(ch in "0123456789abcdef" for ch in d.rsplit("/", 1)[-1])}
    for root in Path("/sys/fs/cgroup").iterdir():
        for d in dirs:
            cg = root / d.lstrip("/")
            if cg.is_dir() and cg != root:
                try:
                    cg.rmdir()
                except OSError:
                    pass


class Setup:
    """Starts the peers the chosen cases need; ``stop`` undoes all of it."""

    def __init__(self, keep: bool):
        self.keep = keep
        self.docker_error: str | None = None
        self.skiff_error: str | None = None
        self.started_docker = False
        self.started_skiffd = False
        self.started_registry = False
        self.registry_error: str | None = None
        self.debian_error: str | None = None
        self.web_error_docker: str | None = "web image not loaded"
        self.web_error_skiff: str | None = "web image not loaded"

    def daemons(self) -> None:
        if not ARCHIVE.exists():
            err = _run([str(SCRIPTS / "fixtures.sh"), "images"])
            if err:
                self.docker_error = self.skiff_error = f"no fixture archive: {err}"
                return
        precompile()
        log("starting the private dockerd (scripts/docker-peer.sh)")
        self.started_docker = True
        self.docker_error = (_run([str(SCRIPTS / "docker-peer.sh"), "start"])
                             or _run([str(SCRIPTS / "docker-peer.sh"), "load", str(ARCHIVE)]))
        if self.docker_error is None and WEB_ARCHIVE.exists():
            self.web_error_docker = _run([str(SCRIPTS / "docker-peer.sh"), "load",
                                          str(WEB_ARCHIVE)])
        log("starting the private skiffd (scripts/skiffd.sh)")
        Path(SKIFF_CONFIG).write_text("{}\n")
        self.started_skiffd = True
        self.skiff_error = _run([str(SCRIPTS / "skiffd.sh"), "start"], env=SKIFFD_ENV)
        if self.skiff_error is None:
            skiff = [_which("skiff"), "-H", f"unix://{SKIFF_SOCK}"]
            self.web_error_skiff = _run(skiff + ["load", "-i", str(WEB_ARCHIVE)])
            self.skiff_error = _run(skiff + ["load", "-i", str(ARCHIVE)])
            if self.skiff_error:
                # the same image through the loopback registry, then tagged
                log(f"skiff load failed ({self.skiff_error}); pulling {PULL_REF} instead")
                self.registry()
                self.skiff_error = (self.registry_error
                                    or _run(skiff + ["pull", PULL_REF])
                                    or _run(skiff + ["tag", PULL_REF, "busybox:latest"]))
        # a side that answers 0 without running anything would measure nothing:
        # check that each runs a container and hands its output back
        if self.docker_error is None:
            self.docker_error = _check_echo([DOCKER_CLI, "-H", f"unix://{DOCKER_SOCK}"])
        if self.skiff_error is None:
            self.skiff_error = _check_echo([_which("skiff"), "-H", f"unix://{SKIFF_SOCK}"])
        for who, err in (("docker", self.docker_error), ("skiff", self.skiff_error)):
            if err:
                log(f"set-up of {who} failed: {err}")

    def registry(self) -> None:
        """The loopback registry with the fixture images (left running if it was)."""
        if self.started_registry:
            return
        pidfile = Path(f"/tmp/fixture-registry-{REGISTRY_PORT}/pid")
        running = False
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().strip()), 0)
                running = True
            except (ValueError, OSError):
                pass
        self.started_registry = not running
        self.registry_error = _run([str(SCRIPTS / "fixtures.sh"), "start"])
        if self.registry_error:
            log(f"registry: {self.registry_error}")
            self.debian_error = self.registry_error
            return
        # debian:bookworm: built once (mmdebstrap, minutes) and cached, then pushed
        self.debian_error = _run([str(SCRIPTS / "fixtures.sh"), "debian"], timeout=1800)
        if self.debian_error:
            log(f"registry: no debian:bookworm: {self.debian_error}")

    def stop(self) -> None:
        if self.keep:
            log("--keep: leaving the daemons running (scripts/docker-peer.sh stop; "
                "SKIFFD_EXEC_ROOT=... scripts/skiffd.sh stop)")
        else:
            if self.started_skiffd:
                # its containers first (a run cut short leaves some): a stopping
                # skiffd keeps them running, with their shims, mounts and links
                skiff = [_which("skiff"), "-H", f"unix://{SKIFF_SOCK}"]
                try:
                    ids = subprocess.run(skiff + ["ps", "-aq"], capture_output=True, text=True,
                                         timeout=60, stdin=subprocess.DEVNULL).stdout.split()
                    if ids:
                        _run(skiff + ["rm", "-f"] + ids)
                except (OSError, subprocess.SubprocessError):
                    pass
                _run([str(SCRIPTS / "skiffd.sh"), "stop"], env=SKIFFD_ENV)
                _reap_leftovers()
                Path(SKIFF_CONFIG).unlink(missing_ok=True)
                # its exec and data roots, unless something is still mounted there
                for d in (SKIFF_EXEC_ROOT, SKIFF_DATA_ROOT):
                    _remove_unmounted(d)
            if self.started_docker:
                err = _run([str(SCRIPTS / "docker-peer.sh"), "stop"])
                if err:
                    log(f"stopping dockerd: {err}")
                _remove_unmounted(DOCKER_DATA_ROOT)
        if self.started_registry:
            _run([str(SCRIPTS / "fixtures.sh"), "stop"])


def build_cases(names: list[str], setup: Setup, smoke: bool = False) -> list[harness.Case]:
    skiff = [_which("skiff"), "-H", f"unix://{SKIFF_SOCK}"]
    docker = [DOCKER_CLI, "-H", f"unix://{DOCKER_SOCK}"]
    ops = [sys.executable, TIMED_OPS]
    serr, derr = setup.skiff_error, setup.docker_error
    cases = []
    if "run_latency" in names:
        cases.append(harness.Case(
            "run_latency", "(1) run --rm busybox true",
            skiff + ["run", "--rm", "busybox", "true"],
            docker + ["run", "--rm", "busybox", "true"],
            target=0.3, skiff_error=serr, peer_error=derr,
            note="Debian's docker.io 20.10 with its own containerd and runc"))
    if "concurrent_run" in names:
        n = 10 if smoke else 50
        secs = 2 if smoke else 10
        conc = ["concurrent-run", "-n", str(n), "--stats-seconds", str(secs)]
        cases.append(harness.Case(
            "concurrent_run", f"(2) {n} concurrent run -d",
            ops + conc + ["--daemon-pid-file", SKIFFD_PIDFILE, "--"] + skiff,
            ops + conc + ["--daemon-pid-file", DOCKERD_PIDFILE, "--"] + docker,
            self_timed=True, max_runs=5, max_warmup=1, timeout=900,
            skiff_error=serr, peer_error=derr,
            metrics=[
                harness.Metric("seconds", "concurrent_run", f"(2) {n} concurrent run -d",
                               "s", 0.5, note="time until every `run -d busybox sleep 600` "
                               "has returned (the container runs); removal not timed"),
                harness.Metric("rss_per_container", "idle_rss", f"(2) idle RSS per container",
                               "B", 1.0, note="shim (Docker: containerd-shim-runc-v2) + growth "
                               "of the daemon's tree (skiffd + shim fork server; dockerd + "
                               "containerd), divided by the containers, after 2 s idle"),
                harness.Metric("pss_per_container", "idle_pss", f"(2) idle PSS per container",
                               "B", 1.0, note="as RSS, proportional set size "
                               "(/proc/PID/smaps_rollup): shared pages split between sharers"),
                harness.Metric("shim_pss", "idle_shim_pss", "(2) shim PSS per container",
                               "B", None),
                harness.Metric("failed_starts", "concurrent_failed", f"(2) failed `run -d` of {n}",
                               "", None, note="starts that failed in a round (the round's "
                               "other figures are over the containers that started; more "
                               "than 10 % fails the case); the first error is in the log"),
                harness.Metric("stats_cpu", "stats_cpu",
                               f"(7) stats of {n} idle containers, CPU over {secs} s",
                               "CPU s", 1.0, note="utime+stime of the daemon's tree, the shims "
                               f"and one streaming `stats` over {secs} s (/proc/PID/stat)"),
            ]))
    if "runtime" in names:
        cases.append(harness.Case(
            "runtime", "(3) OCI runtime: run of a bundle (true)",
            [_which("skiff-runtime"), "run", "..."], ["runc", "run", "..."],
            peer_name="runc", target=1.5, runner=runtime_runner,
            note="bench/runtime.py: the fixture busybox rootfs, `runc spec` (args `true`), "
                 "a private --root each; its own 3 warm-ups"))
    if "cli_version" in names:
        cases.append(harness.Case(
            "cli_version", "(4) CLI start-up: version",
            skiff + ["version"], docker + ["version"], target=1.0,
            skiff_error=serr, peer_error=derr))
    if "net" in names:
        secs = 2 if smoke else 5
        cases.append(harness.Case(
            "net_rps", "(6) requests/s through a published port",
            ops + ["net-rps", "--port", str(RPS_PORTS[0]), "--seconds", str(secs), "--"] + skiff,
            ops + ["net-rps", "--port", str(RPS_PORTS[1]), "--seconds", str(secs), "--"] + docker,
            self_timed=True, max_runs=5, max_warmup=1, timeout=180,
            skiff_error=serr or setup.web_error_skiff, peer_error=derr or setup.web_error_docker,
            metrics=[harness.Metric("rps", "net_rps", "(6) requests/s through a published port",
                                    "req/s", 1.0, higher_is_better=True,
                                    note=f"wrk -t2 -c32 -d{secs}s against busybox httpd (web "
                                         "image) published on 127.0.0.1; Docker's path is its "
                                         "docker-proxy")]))
        mib, times = (64, 2) if smoke else (512, 6)
        bulk = ["net-bulk", "--mib", str(mib), "--times", str(times), "--"]
        cases.append(harness.Case(
            "net_bulk", "(6) TCP throughput container to container",
            ops + bulk + skiff, ops + bulk + docker,
            self_timed=True, max_runs=5, max_warmup=1, timeout=300,
            skiff_error=serr, peer_error=derr,
            metrics=[harness.Metric("mb_per_s", "net_bulk",
                                    "(6) TCP throughput container to container", "MB/s", 1.0,
                                    higher_is_better=True,
                                    note=f"busybox wget of a {mib} MiB file {times} times from "
                                         "busybox httpd in another container on the default "
                                         "bridge, timed inside the client")]))
    if "cpu_bound" in names:
        mb = "20" if smoke else "200"
        work = ["cpu-work", "--mb", mb]
        host = ops + work + ["--host", "--"]
        cases.append(harness.Case(
            "cpu_bound", f"(9) CPU-bound: sha256sum {mb} MB, container vs host",
            ops + work + ["--"] + skiff, host, peer_name="host", target=1.02,
            self_timed=True, max_runs=10, max_warmup=1, skiff_error=serr,
            note="`head -c N /dev/zero | sha256sum` timed by busybox `time -p` inside "
                 "`skiff run --rm busybox` against the same busybox binary on the host: "
                 "target: under 2 % overhead"))
        cases.append(harness.Case(
            "cpu_bound_docker", f"(9) CPU-bound: sha256sum {mb} MB, Docker container vs host",
            ops + work + ["--"] + docker, host, peer_name="host",
            self_timed=True, max_runs=10, max_warmup=1, skiff_error=derr,
            note="for comparison: the same in Docker's container (the skiff column is Docker's)"))
    if "pull" in names:
        pull = ["pull", "--ref", PULL_REF, "--remove", "busybox:latest", "--"]
        cases.append(harness.Case(
            "pull", "(5) pull busybox from the loopback registry",
            ops + pull + skiff, ops + pull + docker, target=0.8,
            self_timed=True, skiff_error=serr or setup.registry_error,
            peer_error=derr or setup.registry_error,
            note="busybox:latest and the pulled image removed before each pull (untimed)"))
        pull = ["pull", "--ref", DEBIAN_REF, "--"]
        cases.append(harness.Case(
            "pull_debian", "(5) pull debian:bookworm from the loopback registry, cold",
            ops + pull + skiff, ops + pull + docker, target=0.8,
            self_timed=True, max_runs=5, max_warmup=1, timeout=600,
            skiff_error=serr or setup.debian_error, peer_error=derr or setup.debian_error,
            note="an mmdebstrap minbase of Debian 12 (one layer, about 60 MB gzip); removed "
                 "before each pull (untimed)"))
    for name, title in PENDING:
        cases.append(harness.Case(name, title, None, None,
                                  note="skiff has no builder yet"))
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "20")))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("BENCH_WARMUP", "3")))
    ap.add_argument("--smoke", action="store_true", help="one round, no warm-up, docs untouched")
    ap.add_argument("--cases", default=",".join(ALL_CASES),
                    help=f"comma-separated, of {', '.join(ALL_CASES)}")
    ap.add_argument("--keep", action="store_true", help="leave the daemons running")
    ap.add_argument("--results-dir", type=Path, default=None,
                    help="default: bench/results (smoke runs: /tmp/skiff-bench-smoke)")
    ap.add_argument("--docs", type=Path, default=harness.DOCS)
    ap.add_argument("--list", action="store_true", help="print the cases and exit")
    args = ap.parse_args(argv)
    names = [n for n in args.cases.split(",") if n]
    unknown = set(names) - set(ALL_CASES)
    if unknown:
        ap.error(f"unknown cases: {', '.join(sorted(unknown))}")
    if args.list:
        for c in build_cases(names, Setup(keep=True)):
            print(f"{c.name:16} {c.title}" + ("" if c.skiff or c.peer or c.runner
                                              else f"  ({harness.NOT_IMPLEMENTED})"))
        return 0
    if os.geteuid() != 0:
        log("run_latency.py needs root (it starts dockerd and skiffd)")
        return 1
    runs, warmup = (1, 0) if args.smoke else (args.runs, args.warmup)
    # SIGTERM (and SIGINT, which a background job ignores) end the run through
    # the clean-up below: no dockerd, skiffd, container or mount left behind
    def _stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    setup = Setup(keep=args.keep)
    results = []
    load_at_start = harness.load_average()
    try:
        if DAEMON_CASES & set(names):
            setup.daemons()
        if "pull" in names:
            setup.registry()
        extra = {"load_average_at_start": load_at_start}
        v = subprocess.run([DOCKER_CLI, "--version"], capture_output=True, text=True)
        if v.returncode == 0:
            extra["docker"] = v.stdout.strip()
        v = subprocess.run(["runc", "--version"], capture_output=True, text=True)
        if v.returncode == 0:
            extra["runc"] = v.stdout.splitlines()[0]
        # the pull case removes busybox:latest: it runs last
        for case in build_cases(names, setup, smoke=args.smoke):
            if case.skiff or case.peer:
                log(f"{case.name}: {case.title} ({min(warmup, case.max_warmup or warmup)} warm-up"
                    f" + {min(runs, case.max_runs or runs)} rounds)")
            results.extend(harness.run_case_rows(case, runs, warmup, progress=log))
    finally:
        setup.stop()
    doc = harness.make_document(results, runs, warmup, "smoke" if args.smoke else "full",
                                harness.machine_info(extra))
    results_dir = args.results_dir or (Path(tempfile.gettempdir()) / "skiff-bench-smoke"
                                       if args.smoke else harness.RESULTS_DIR)
    path = harness.write_results(doc, results_dir)
    harness.print_table(doc)
    print(f"results: {path}")
    if not args.smoke:
        print(f"report: {harness.regenerate_docs(path, args.docs, args.docs.with_suffix('.png'))}")
    # a benchmark run succeeds when it measured; failed sides are in the report
    return 0


if __name__ == "__main__":
    sys.exit(main())
