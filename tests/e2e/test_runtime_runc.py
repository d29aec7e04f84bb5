"""Issue 3's acceptance: skiffd with daemon.json "default-runtime": "runc"
passes the first issue's run tests (tests/e2e/test_run.py) with Debian's
runc (/usr/sbin/runc) driven by the shim, and HostConfig.Runtime picks a
runtime per container (``--runtime runc`` / ``--runtime skiff``)."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from skiffd_harness import Skiffd
from test_run import *  # noqa: F401,F403  - the same tests, run on this module's daemon

pytestmark = pytest.mark.e2e

if not shutil.which("runc"):
    pytest.skip("runc is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def skiffd(registry):  # overrides the session daemon for the imported tests
    base = Path(tempfile.mkdtemp(prefix="skifftest-e2e-runc-"))
    d = Skiffd(base, registry, name="runc")
    cfg = json.loads(Path(d.config).read_text())
    cfg["default-runtime"] = "runc"
    Path(d.config).write_text(json.dumps(cfg))
    d.start()
    try:
        yield d
    finally:
        d.destroy()


@pytest.fixture(scope="module")
def busybox(skiffd, registry) -> str:
    ref = f"{registry}/library/busybox:latest"
    skiffd.cli("pull", ref, check=True)
    skiffd.cli("tag", ref, "busybox", check=True)
    return ref


def test_default_runtime_is_runc(skiffd, busybox):
    r = skiffd.docker("info", "--format", "{{.DefaultRuntime}}")
    assert r.stdout.strip() == "runc", r.stderr
    r = skiffd.cli("run", "-d", "busybox", "sleep", "30")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        # runc's own state.json (not skiff's) is in the runtime root
        import glob
        states = glob.glob(f"{skiffd.exec_root}/runtime/{cid}/state.json")
        assert states, "no runtime state"
        assert "init_process_pid" in Path(states[0]).read_text()  # runc's format
    finally:
        skiffd.cli("rm", "-f", cid)


def test_runtime_per_container(skiffd, busybox):
    r = skiffd.cli("run", "-d", "--runtime", "skiff", "busybox", "sleep", "30")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        st = json.loads(Path(f"{skiffd.exec_root}/runtime/{cid}/state.json").read_text())
        assert "init_process_pid" not in st and st["id"] == cid  # skiff's format
    finally:
        skiffd.cli("rm", "-f", cid)
    r = skiffd.cli("run", "--rm", "--runtime", "nosuchruntime", "busybox", "true")
    assert r.returncode != 0
    assert "unknown or invalid runtime name: nosuchruntime" in r.stderr
