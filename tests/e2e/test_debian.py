"""A real distribution: debian:bookworm from make_images.py --debian, pushed to
the loopback registry, runs bash and apt (slow: mmdebstrap takes minutes)."""
from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEBIAN_FIXTURES = Path(os.environ.get("SKIFF_DEBIAN_FIXTURES", "/var/cache/skiff-test-fixtures-debian"))


@pytest.fixture(scope="module")
def debian_image(registry, shared_dir) -> str:
    if not (DEBIAN_FIXTURES / "oci" / "index.json").exists():
        if shutil.which("mmdebstrap") is None:
            pytest.fail("mmdebstrap is not installed: .ci/run and `make test` install it")
        DEBIAN_FIXTURES.mkdir(parents=True, exist_ok=True)
        subprocess.run(["python3", str(shared_dir / "fixtures" / "make_images.py"),
                        str(DEBIAN_FIXTURES), "--debian"], check=True, stdout=subprocess.DEVNULL)
    port = registry.rsplit(":", 1)[1]
    req = urllib.request.Request(f"http://{registry}/v2/library/debian/manifests/bookworm", method="HEAD",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    try:
        urllib.request.urlopen(req, timeout=5)
    except Exception:
        subprocess.run([str(shared_dir / "fixtures" / "registry"), "push", str(DEBIAN_FIXTURES), port],
                       check=True, stdout=subprocess.DEVNULL)
    return f"{registry}/library/debian:bookworm"


def test_debian_runs_bash_and_apt(skiffd, debian_image):
    r = skiffd.cli("run", "--rm", debian_image, "bash", "-c", "apt --version", timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("apt "), r.stdout
    r = skiffd.cli("run", "--rm", debian_image, "bash", "-c", "id -un; dpkg -s coreutils | grep -c Status")
    assert r.stdout.split() == ["root", "1"], r.stdout + r.stderr
