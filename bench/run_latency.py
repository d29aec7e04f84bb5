#!/usr/bin/env python3
"""Run latency and its neighbours: skiff against Docker (and runc), side by side.

    bench/run_latency.py [--runs 20] [--warmup 3] [--smoke] [--cases a,b] [--keep]

Cases (issue 6's list; the others appear as "not implemented yet" rows):

  run_latency   `skiff run --rm busybox true` vs `docker run --rm busybox true`,
                end to end through each CLI. Target: skiff <= 0.5 of Docker.
  cli_version   CLI start-up and one round trip: `skiff version` vs `docker version`
  runtime       `skiff-runtime run` vs `runc run` of one bundle (busybox, `true`)
  concurrent_run  50 `run -d busybox sleep 60` at once, timed until all have
                returned (bench/timed_ops.py; removal untimed); 10 with --smoke
  cpu_bound     `run --rm busybox sh -c "head -c 300000000 /dev/zero | md5sum"`:
                a CPU-bound workload end to end, so the ratio shows overhead
  pull          `pull 127.0.0.1:5000/library/busybox` from the loopback test
                registry (scripts/fixtures.sh start), local copies removed
                first, untimed

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
import json
import os
import shutil
import subprocess
import sys
import tarfile
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
SKIFF_SOCK = f"{SKIFF_EXEC_ROOT}/skiff.sock"
SKIFF_CONFIG = "/run/skiff-bench.json"
RUNC_ROOT = "/run/skiff-bench-runc"
SKIFF_RUNTIME_ROOT = "/run/skiff-bench-runtime"

SKIFFD_ENV = {
    "SKIFFD_EXEC_ROOT": SKIFF_EXEC_ROOT,
    "SKIFFD_DATA_ROOT": SKIFF_DATA_ROOT,
    "SKIFFD_CONFIG": SKIFF_CONFIG,
    "SKIFFD_LOG": "/var/log/skiff-bench-skiffd.log",
    "SKIFFD_PIDFILE": "/run/skiff-bench-skiffd.pid",
}

ALL_CASES = ["run_latency", "cli_version", "runtime", "concurrent_run", "cpu_bound", "pull"]
DAEMON_CASES = {"run_latency", "cli_version", "concurrent_run", "cpu_bound", "pull"}
REGISTRY_PORT = int(os.environ.get("SKIFF_TEST_REGISTRY_PORT", "5000"))
PULL_REF = f"127.0.0.1:{REGISTRY_PORT}/library/busybox:latest"
TIMED_OPS = str(Path(__file__).resolve().parent / "timed_ops.py")

#: issue 6's other benchmarks, reported as rows until written
PENDING = [
    ("pull_debian", "pull debian:bookworm (loopback registry)"),
    ("net_throughput", "network throughput, container to container"),
    ("stats_cpu", "daemon CPU while streaming stats"),
    ("build", "build of a small Dockerfile"),
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


class Setup:
    """Starts the peers the chosen cases need; ``stop`` undoes all of it."""

    def __init__(self, keep: bool):
        self.keep = keep
        self.docker_error: str | None = None
        self.skiff_error: str | None = None
        self.bundle: Path | None = None
        self.bundle_error: str | None = None
        self.started_docker = False
        self.started_skiffd = False
        self.started_registry = False
        self.registry_error: str | None = None

    def daemons(self) -> None:
        if not ARCHIVE.exists():
            err = _run([str(SCRIPTS / "fixtures.sh"), "images"])
            if err:
                self.docker_error = self.skiff_error = f"no fixture archive: {err}"
                return
        log("starting the private dockerd (scripts/docker-peer.sh)")
        self.started_docker = True
        self.docker_error = (_run([str(SCRIPTS / "docker-peer.sh"), "start"])
                             or _run([str(SCRIPTS / "docker-peer.sh"), "load", str(ARCHIVE)]))
        log("starting the private skiffd (scripts/skiffd.sh)")
        Path(SKIFF_CONFIG).write_text("{}\n")
        self.started_skiffd = True
        self.skiff_error = _run([str(SCRIPTS / "skiffd.sh"), "start"], env=SKIFFD_ENV)
        if self.skiff_error is None:
            skiff = [_which("skiff"), "-H", f"unix://{SKIFF_SOCK}"]
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

    def make_bundle(self) -> None:
        """An OCI bundle (busybox rootfs, `true`) from the fixture archive and
        `runc spec`, shared by runc and skiff-runtime."""
        try:
            d = Path(tempfile.mkdtemp(prefix="skifftest-bench-bundle-"))
            self.bundle = d
            rootfs = d / "rootfs"
            rootfs.mkdir()
            with tarfile.open(ARCHIVE) as outer:
                manifest = json.load(outer.extractfile("manifest.json"))
                for layer in manifest[0]["Layers"]:
                    # GNU tar: owners, modes and symlinks as written (Python
                    # 3.11.2's tarfile has no extraction filters yet)
                    p = subprocess.run(["tar", "-x", "-p", "--numeric-owner", "-C", str(rootfs)],
                                       input=outer.extractfile(layer).read(),
                                       capture_output=True)
                    if p.returncode != 0:
                        raise RuntimeError(f"tar: {p.stderr.decode(errors='replace').strip()}")
            err = _run(["runc", "spec", "--bundle", str(d)])
            if err:
                raise RuntimeError(err)
            cfg = json.loads((d / "config.json").read_text())
            cfg["process"]["terminal"] = False
            cfg["process"]["args"] = ["true"]
            cfg["process"]["env"] = ["PATH=/bin"]
            cfg["hostname"] = "skifftest-bench"
            (d / "config.json").write_text(json.dumps(cfg, indent=2))
        except Exception as e:  # reported in the row, the other cases still run
            self.bundle_error = f"bundle: {e}"
            log(self.bundle_error)

    def stop(self) -> None:
        if self.keep:
            log("--keep: leaving the daemons running (scripts/docker-peer.sh stop; "
                "SKIFFD_EXEC_ROOT=... scripts/skiffd.sh stop)")
        else:
            if self.started_skiffd:
                _run([str(SCRIPTS / "skiffd.sh"), "stop"], env=SKIFFD_ENV)
                Path(SKIFF_CONFIG).unlink(missing_ok=True)
                # its exec root, unless something is still mounted under it
                mounts = Path("/proc/self/mounts").read_text()
                if f" {SKIFF_EXEC_ROOT}/" not in mounts and f" {SKIFF_EXEC_ROOT} " not in mounts:
                    shutil.rmtree(SKIFF_EXEC_ROOT, ignore_errors=True)
            if self.started_docker:
                err = _run([str(SCRIPTS / "docker-peer.sh"), "stop"])
                if err:
                    log(f"stopping dockerd: {err}")
        if self.started_registry:
            _run([str(SCRIPTS / "fixtures.sh"), "stop"])
        if self.bundle is not None:
            shutil.rmtree(self.bundle, ignore_errors=True)
        for root in (RUNC_ROOT, SKIFF_RUNTIME_ROOT):
            shutil.rmtree(root, ignore_errors=True)


def build_cases(names: list[str], setup: Setup, smoke: bool = False) -> list[harness.Case]:
    skiff = [_which("skiff"), "-H", f"unix://{SKIFF_SOCK}"]
    docker = [DOCKER_CLI, "-H", f"unix://{DOCKER_SOCK}"]
    cases = []
    if "run_latency" in names:
        cases.append(harness.Case(
            "run_latency", "run --rm busybox true",
            skiff + ["run", "--rm", "busybox", "true"],
            docker + ["run", "--rm", "busybox", "true"],
            target=0.5, skiff_error=setup.skiff_error, peer_error=setup.docker_error,
            note="Debian's docker.io 20.10 with its own containerd and runc"))
    if "cli_version" in names:
        cases.append(harness.Case(
            "cli_version", "CLI start-up: version",
            skiff + ["version"], docker + ["version"],
            skiff_error=setup.skiff_error, peer_error=setup.docker_error))
    if "runtime" in names:
        cid = "skifftest-bench"
        b = str(setup.bundle) if setup.bundle else "/nonexistent"
        cases.append(harness.Case(
            "runtime", "OCI runtime: run of a bundle (true)",
            [_which("skiff-runtime"), "--root", SKIFF_RUNTIME_ROOT, "run", "--bundle", b, cid],
            ["runc", "--root", RUNC_ROOT, "run", "--bundle", b, cid],
            peer_name="runc", skiff_error=setup.bundle_error, peer_error=setup.bundle_error))
    if "concurrent_run" in names:
        n = 10 if smoke else 50
        cases.append(harness.Case(
            "concurrent_run", f"{n} concurrent run -d",
            [sys.executable, TIMED_OPS, "concurrent-run", "-n", str(n), "--"] + skiff,
            [sys.executable, TIMED_OPS, "concurrent-run", "-n", str(n), "--"] + docker,
            self_timed=True, max_runs=5, max_warmup=1, timeout=600,
            skiff_error=setup.skiff_error, peer_error=setup.docker_error,
            note="time until every `run -d busybox sleep 60` has returned; removal not timed"))
    if "cpu_bound" in names:
        work = ["run", "--rm", "busybox", "sh", "-c", "head -c 300000000 /dev/zero | md5sum"]
        cases.append(harness.Case(
            "cpu_bound", "CPU-bound: md5sum of 300 MB in a container",
            skiff + work, docker + work, max_runs=10, max_warmup=1,
            skiff_error=setup.skiff_error, peer_error=setup.docker_error))
    if "pull" in names:
        pull = ["pull", "--ref", PULL_REF, "--remove", "busybox:latest", "--"]
        cases.append(harness.Case(
            "pull", "pull busybox from the loopback registry",
            [sys.executable, TIMED_OPS] + pull + skiff,
            [sys.executable, TIMED_OPS] + pull + docker,
            self_timed=True, skiff_error=setup.skiff_error or setup.registry_error,
            peer_error=setup.docker_error or setup.registry_error,
            note="busybox:latest and the pulled image removed before each pull (untimed)"))
    for name, title in PENDING:
        cases.append(harness.Case(name, title, None, None))
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
            print(f"{c.name:16} {c.title}" + ("" if c.skiff or c.peer else f"  ({harness.NOT_IMPLEMENTED})"))
        return 0
    if os.geteuid() != 0:
        log("run_latency.py needs root (it starts dockerd and skiffd)")
        return 1
    runs, warmup = (1, 0) if args.smoke else (args.runs, args.warmup)
    setup = Setup(keep=args.keep)
    results = []
    load_at_start = harness.load_average()
    try:
        if DAEMON_CASES & set(names):
            setup.daemons()
        if "pull" in names:
            setup.registry()
        if "runtime" in names:
            setup.make_bundle()
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
            results.append(harness.run_case(case, runs, warmup, progress=log))
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
