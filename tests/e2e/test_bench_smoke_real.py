"""`make bench-smoke` inside `make test`: every benchmark of bench/run_latency.py
runs once, skiff against Docker (and runc), so the harness and its set-up
cannot rot. No timing is asserted: only that every side ran."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_bench_smoke_runs_every_case(registry, tmp_path):
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is not installed: .ci/run installs docker.io (scripts/install.sh --test)")
    r = subprocess.run([sys.executable, str(REPO / "bench" / "run_latency.py"), "--smoke",
                        "--results-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, cwd=str(REPO),
                       env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    rows = [l for l in r.stdout.splitlines() if re.match(r"^\(\d\)", l)]
    assert len(rows) >= 10, r.stdout[-3000:]
    # the harness must give every case a verdict; a side that failed on this
    # busy machine (other daemons of the suite run beside it) is reported in
    # its row, as `make bench` reports it, and is not the harness rotting
    unjudged = [l for l in rows if not l.rstrip().endswith((" ok", " failed", "not implemented yet"))]
    assert not unjudged, unjudged
    for case in ("(1) run --rm busybox true", "(4) CLI start-up: version"):
        row = next(l for l in rows if l.startswith(case))
        assert row.rstrip().endswith(" ok"), row
