"""``diff`` (GET /containers/{id}/changes) and ``export`` (GET
/containers/{id}/export) end to end, with the skiff and docker CLIs."""
from __future__ import annotations

import io
import subprocess
import sys
import tarfile

import pytest

pytestmark = pytest.mark.e2e


def test_diff_added_changed_deleted(skiffd, busybox):
    cid = skiffd.cli("run", "-d", "busybox", "sh", "-c",
                     "mkdir -p /data/sub && echo x > /data/sub/f && rm /bin/ls && echo y >> /etc/group"
                     " && sleep 300", check=True).stdout.strip()
    try:
        skiffd.cli("exec", cid, "true", check=True)
        want = ["C /bin", "D /bin/ls", "A /data", "A /data/sub", "A /data/sub/f", "C /etc", "C /etc/group"]
        r = skiffd.cli("diff", cid, check=True)
        assert r.stdout.splitlines() == want, r.stdout
        r = skiffd.docker("diff", cid, check=True)
        assert r.stdout.splitlines() == want, r.stdout
        # the runtime's mount points (/proc, /sys, /dev, /etc/hosts...) are not changes
        skiffd.cli("stop", "-t", "0", cid, check=True)
        r = skiffd.cli("diff", cid, check=True)
        assert r.stdout.splitlines() == want, r.stdout
    finally:
        skiffd.cli("rm", "-f", cid)


def test_diff_of_untouched_container_is_empty(skiffd, busybox):
    cid = skiffd.cli("create", "busybox", "true", check=True).stdout.strip()
    try:
        r = skiffd.cli("diff", cid, check=True)
        assert r.stdout == ""
        r = skiffd.cli("diff", "skifftest-no-such")
        assert r.returncode == 1 and "No such container: skifftest-no-such" in r.stderr
    finally:
        skiffd.cli("rm", "-f", cid)


def _export(skiffd, cid, via_docker=False) -> tarfile.TarFile:
    argv = (["docker"] if via_docker else [sys.executable, "-m", "skiff.cli", "-H", skiffd.host]) + \
        ["export", cid]
    r = subprocess.run(argv, capture_output=True, timeout=120, env=skiffd.env())
    assert r.returncode == 0, r.stderr
    return tarfile.open(fileobj=io.BytesIO(r.stdout))


@pytest.mark.parametrize("running", [True, False])
def test_export(skiffd, busybox, tmp_path, running):
    cmd = "echo exported > /marker && rm /bin/ls"
    if running:
        cid = skiffd.cli("run", "-d", "busybox", "sh", "-c", cmd + " && sleep 300", check=True).stdout.strip()
        skiffd.cli("exec", cid, "true", check=True)
    else:
        cid = skiffd.cli("run", "-d", "busybox", "sh", "-c", cmd, check=True).stdout.strip()
        skiffd.cli("wait", cid, check=True)
    try:
        for via_docker in (False, True):
            tf = _export(skiffd, cid, via_docker)
            names = tf.getnames()
            assert tf.extractfile("marker").read() == b"exported\n"
            assert "bin/sh" in names and "bin/ls" not in names
            assert not any(n.startswith("proc/") for n in names)
        out = tmp_path / "fs.tar"
        skiffd.cli("export", "-o", str(out), cid, check=True)
        with tarfile.open(out) as tf:
            assert "marker" in tf.getnames()
    finally:
        skiffd.cli("rm", "-f", cid)
