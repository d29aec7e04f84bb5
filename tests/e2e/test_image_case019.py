"""Image references end to end against a live skiffd: case 019 with the skiff
CLI (and the real docker CLI when installed), and docker.io pulls served by
the configured registry mirror (the loopback registry)."""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def _run_case(skiffd, shared_dir, engine: str) -> subprocess.CompletedProcess:
    case = sorted((shared_dir / "cases").glob("019-*.sh"))[0]
    env = dict(skiffd.env(), ENGINE=engine)
    return subprocess.run(["sh", str(case)], capture_output=True, text=True, env=env, timeout=300)


def test_case_019_with_skiff_cli(skiffd, busybox, shared_dir):
    engine = " ".join(shlex.quote(x) for x in (sys.executable, "-m", "skiff.cli", "-H", skiffd.host))
    r = _run_case(skiffd, shared_dir, engine)
    assert r.returncode == 0 and r.stdout.strip().endswith("PASS"), r.stdout + r.stderr


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
def test_case_019_with_docker_cli(skiffd, busybox, shared_dir):
    r = _run_case(skiffd, shared_dir, "docker")
    assert r.returncode == 0 and r.stdout.strip().endswith("PASS"), r.stdout + r.stderr


def test_docker_io_pull_goes_through_the_mirror(skiffd, busybox):
    """The daemon's registry-mirrors points docker.io at the loopback registry:
    `pull layered` resolves to docker.io/library/layered and is served by it."""
    r = skiffd.cli("pull", "layered")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Pulling from library/layered" in r.stdout
    assert "Status: Downloaded newer image for layered:latest" in r.stdout or \
        "Status: Image is up to date for layered:latest" in r.stdout
    assert "docker.io/library/layered:latest" in r.stdout or r.stdout.strip().endswith("layered:latest")
    r = skiffd.cli("image", "inspect", "-f", "{{.Id}}", "docker.io/library/layered")
    assert r.stdout.strip() == "sha256:4b9a303fe98cd21811d6251042be11272e617cc5bdb63e07b3fad9e4b8286883"
    r = skiffd.cli("rmi", "layered")
    assert r.returncode == 0 and "Untagged: layered:latest" in r.stdout, r.stdout + r.stderr
