"""Shared pytest fixtures: the fixture images and the loopback registry.

``fixtures_dir``  Path of make_images.py's output (oci/, archives/, expected/),
                  cached in /var/cache/skiff-test-fixtures between runs.
``registry``      "127.0.0.1:5000", a running registry filled with the fixture
                  images (library/busybox:latest, :zstd, layered, web).
``shared_dir``    Path of ../shared (SKIFF_SHARED overrides).
"""
from __future__ import annotations

import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SKIFF_SHARED", ROOT.parent / "shared"))
FIXTURES = Path(os.environ.get("SKIFF_FIXTURES", "/var/cache/skiff-test-fixtures"))
REGISTRY_PORT = int(os.environ.get("SKIFF_TEST_REGISTRY_PORT", "5000"))


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root")
        for item in items:
            if "integration" in item.keywords or "e2e" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not (FIXTURES / "oci" / "index.json").exists():
        FIXTURES.mkdir(parents=True, exist_ok=True)
        subprocess.run(["python3", str(SHARED / "fixtures" / "make_images.py"), str(FIXTURES)],
                       check=True, stdout=subprocess.DEVNULL)
    return FIXTURES


def _registry_has(port: int, repo: str, tag: str) -> bool:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/{repo}/manifests/{tag}", method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json,"
                           "application/vnd.oci.image.index.v1+json,"
                           "application/vnd.docker.distribution.manifest.v2+json"})
    try:
        with urllib.request.urlopen(req, timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def registry(fixtures_dir):
    """127.0.0.1:PORT, the fixture registry filled with the fixture images;
    stopped at the end of the session if this session started it."""
    script = str(SHARED / "fixtures" / "registry")
    started = False
    if not _registry_has(REGISTRY_PORT, "library/busybox", "zstd"):
        pidfile = f"/tmp/fixture-registry-{REGISTRY_PORT}/pid"
        started = not (os.path.exists(pidfile) and _alive(pidfile))
        subprocess.run([script, "start", str(REGISTRY_PORT)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([script, "push", str(fixtures_dir), str(REGISTRY_PORT)], check=True,
                       stdout=subprocess.DEVNULL)
    yield f"127.0.0.1:{REGISTRY_PORT}"
    if started:
        subprocess.run([script, "stop", str(REGISTRY_PORT)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        import shutil
        shutil.rmtree(f"/tmp/fixture-registry-{REGISTRY_PORT}", ignore_errors=True)


def _alive(pidfile: str) -> bool:
    try:
        os.kill(int(open(pidfile).read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


_CGROUP_ROOT = "/sys/fs/cgroup"


def _cgroup_tops() -> set[str]:
    """Every top-level directory of every cgroup hierarchy (v1 and v2)."""
    out: set[str] = set()
    try:
        mounts = os.listdir(_CGROUP_ROOT)
    except OSError:
        return out
    for m in mounts:
        base = os.path.join(_CGROUP_ROOT, m)
        if os.path.islink(base) or not os.path.isfile(os.path.join(base, "cgroup.procs")):
            continue
        for name in os.listdir(base):
            if os.path.isdir(os.path.join(base, name)):
                out.add(os.path.join(base, name))
    return out


@pytest.fixture(scope="session", autouse=True)
def _no_cgroup_left_behind():
    """Parent cgroups the suite's runtimes and peers make on their way
    (skiff-runtime's default /skiff, dockerd's /docker, containerd's
    /default...) are removed at the end if the session made them and they
    are empty: rmdir only, bottom-up, so nothing in use is touched."""
    before = _cgroup_tops()
    yield
    for top in sorted(_cgroup_tops() - before):
        for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(d)
            except OSError:
                pass


def pytest_unconfigure(config):
    """tmp_path's base (/tmp/pytest-of-USER) once the session's own
    directories are gone (tmp_path_retention_policy = "none"): rmdir only if
    empty, so a concurrent session's directories are left alone."""
    factory = getattr(config, "_tmp_path_factory", None)
    base = getattr(factory, "_basetemp", None)
    for d in (base, base.parent if base is not None else None):
        if d is None:
            continue
        try:
            os.rmdir(d)
        except OSError:
            pass
