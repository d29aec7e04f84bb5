"""``skiff-runtime run`` against ``runc run`` on one OCI bundle (issue 3).

    python3 bench/runtime.py [-n 20]      # as root; prints medians and the ratio

The bundle is the fixture busybox rootfs (/var/cache/skiff-test-fixtures/oci)
with ``runc spec``'s config (args ``true``, no terminal), in a temp directory;
each runtime gets a private ``--root``. Runs alternate (skiff, runc, then
runc, skiff, ...), 3 warm-up rounds uncounted, then ``n`` timed rounds, each
timed end to end (wall clock, process start to exit, Python start-up
included). Bytecode is compiled first (``compileall``): PYTHONDONTWRITEBYTECODE
would otherwise make every start recompile. Target: skiff at most 1.5x runc.

``run(n) -> {"name": "runtime", "skiff": [s, ...], "peer": [s, ...],
"skiff_nosite": [s...], "python_startup": [s...], "python_startup_nosite": [s...]}`` is the
importable entry point for the bench harness (the last two: the bare
interpreter's start-up with and without ``site``, for context).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

FIXTURES = Path("/var/cache/skiff-test-fixtures")
WARMUP = 3
TARGET = 1.5


def _runtime_binary() -> str:
    cand = Path(sys.executable).parent / "skiff-runtime"
    if cand.exists():
        return str(cand)  # not a pyenv shim: those re-resolve through bash every call
    found = shutil.which("skiff-runtime")
    if not found:
        raise SystemExit("skiff-runtime is not installed (pip install -e .)")
    return found


def _runc() -> str:
    found = shutil.which("runc") or "/usr/sbin/runc"
    if not os.path.exists(found):
        raise SystemExit("runc is not installed")
    return found


def _busybox_layer() -> Path:
    oci = FIXTURES / "oci"
    index = json.loads((oci / "index.json").read_text())
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "busybox:latest":
            blob = oci / "blobs" / "sha256" / m["digest"].split(":")[1]
            manifest = json.loads(blob.read_text())
            return oci / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    raise SystemExit("busybox:latest not in the fixture layout")


def make_bundle(base: Path) -> Path:
    """A bundle under ``base``: rootfs/ (busybox) and runc spec's config.json."""
    bundle = base / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    with gzip.open(_busybox_layer()) as raw, tarfile.open(fileobj=raw, mode="r|") as t:
        t.extractall(bundle / "rootfs")
    subprocess.run([_runc(), "spec", "--bundle", str(bundle)], check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


def _precompile() -> None:
    src = Path(__file__).resolve().parent.parent / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=False,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})


def _time(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env, timeout=60)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr.decode().strip()}")
    return dt


def run(n: int = 20) -> dict:
    """3 warm-ups, then ``n`` alternating timed runs of each runtime.
    Returns {"name": "runtime", "skiff": [seconds...], "peer": [seconds...]}."""
    _precompile()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base = Path(tempfile.mkdtemp(prefix="skifftest-bench-runtime-"))
    try:
        bundle = make_bundle(base)
        sides = {
            "skiff": [_runtime_binary(), "--root", str(base / "skiff-root"), "run",
                      "--bundle", str(bundle)],
            "peer": [_runc(), "--root", str(base / "runc-root"), "run", "--bundle", str(bundle)],
        }
        # informational third side: the same runtime code with the interpreter
        # started without ``site`` (this machine's site-packages .pth hooks cost
        # ~30 ms per start, outside skiff's code)
        src = str(Path(__file__).resolve().parent.parent / "src")
        sides["skiff_nosite"] = [sys.executable, "-S", "-m", "skiff.runtime.cli", "--root",
                                 str(base / "skiff-root"), "run", "--bundle", str(bundle)]
        out: dict = {"name": "runtime", "skiff": [], "peer": [], "skiff_nosite": []}
        for i in range(WARMUP + n):
            order = ("skiff", "peer", "skiff_nosite") if i % 2 == 0 else \
                ("skiff_nosite", "peer", "skiff")
            for side in order:
                side_env = dict(env, PYTHONPATH=src) if side == "skiff_nosite" else env
                cid = f"skifftest-bench-{side}-{os.getpid()}-{i}"
                dt = _time(sides[side] + [cid], side_env)
                if i >= WARMUP:
                    out[side].append(dt)
        # context: the interpreter's own start-up on this machine (site-packages
        # .pth hooks included), which no runtime code can avoid
        out["python_startup"] = [_time([sys.executable, "-c", "pass"], env) for _ in range(5)]
        out["python_startup_nosite"] = [_time([sys.executable, "-S", "-c", "pass"], env)
                                        for _ in range(5)]
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--runs", type=int, default=20)
    args = p.parse_args(argv)
    res = run(args.runs)
    ms, mp = statistics.median(res["skiff"]), statistics.median(res["peer"])
    ratio = ms / mp
    print(f"skiff-runtime run: median {ms * 1000:.1f} ms (n={len(res['skiff'])})")
    print(f"runc run:          median {mp * 1000:.1f} ms (n={len(res['peer'])})")
    print(f"ratio skiff/runc:  {ratio:.2f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'NOT met'})")
    mn = statistics.median(res["skiff_nosite"])
    print(f"skiff, python -S:  median {mn * 1000:.1f} ms, ratio {mn / mp:.2f} (informational)")
    print(f"python3 -c pass:   median {statistics.median(res['python_startup']) * 1000:.1f} ms, "
          f"without site: {statistics.median(res['python_startup_nosite']) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
