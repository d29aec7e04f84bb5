"""The shared cases from public bug reports (../shared/cases), each run with
the skiff CLI and with the docker CLI against skiffd; the last line must be
PASS. Cases join this list as the features they need land."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

CASES = ["003-cp-through-symlinks", "009-run-exit-codes", "011-stdin-eof-large-input", "017-memory-swap-semantics",
         "019-image-reference-parsing"]


@pytest.fixture(scope="module")
def skiff_wrapper(skiffd, tmp_path_factory):
    path = tmp_path_factory.mktemp("skiffbin") / "skiff"
    path.write_text(f"#!/bin/sh\nexec {sys.executable} -m skiff.cli -H {skiffd.host} \"$@\"\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("engine", ["skiff", "docker"])
@pytest.mark.parametrize("case", CASES)
def test_shared_case(skiffd, busybox, shared_dir, skiff_wrapper, case, engine):
    script = shared_dir / "cases" / f"{case}.sh"
    env = dict(skiffd.env(), ENGINE=skiff_wrapper if engine == "skiff" else "docker")
    r = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=600,
                       cwd=str(shared_dir / "cases"))
    lines = r.stdout.strip().splitlines()
    assert lines and lines[-1] == "PASS", (r.stdout[-2000:], r.stderr[-2000:])
