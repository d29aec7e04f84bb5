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
def registry(fixtures_dir) -> str:
    script = str(SHARED / "fixtures" / "registry")
    if not _registry_has(REGISTRY_PORT, "library/busybox", "zstd"):
        subprocess.run([script, "start", str(REGISTRY_PORT)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([script, "push", str(fixtures_dir), str(REGISTRY_PORT)], check=True,
                       stdout=subprocess.DEVNULL)
    return f"127.0.0.1:{REGISTRY_PORT}"
