"""Restart safety: stopping and killing skiffd loses nothing (issue 2 #7)."""
from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

from skiffd_harness import Skiffd

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_daemon_restart_keeps_containers(registry):
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-restart-")), registry, name="restart")
    d.start()
    try:
        ref = f"{registry}/library/busybox"
        assert d.cli("pull", ref).returncode == 0
        long = d.cli("run", "-d", "--name", "skifftest-long", ref, "sleep", "300").stdout.strip()
        short = d.cli("run", "-d", "--name", "skifftest-short", ref, "sh", "-c", "sleep 2; exit 7").stdout.strip()
        assert len(long) == 64 and len(short) == 64
        d.cli("create", "--name", "skifftest-created", ref, "true", check=True)
        pid = int(d.cli("inspect", "-f", "{{.State.Pid}}", long).stdout)
        d.stop(signal.SIGKILL)          # a crash, not a clean stop
        assert os.path.exists(f"/proc/{pid}"), "container died with the daemon"
        time.sleep(3)                   # the short one exits while the daemon is down
        d.start()
        names = d.cli("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split("\n")
        assert "skifftest-long running" in names, names
        assert "skifftest-created created" in names, names
        assert d.cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", short).stdout.strip() == "exited 7"
        assert ref in d.cli("images", "--format", "{{.Repository}}").stdout.replace(":latest", "") or \
            d.cli("image", "inspect", ref).returncode == 0
        # the re-attached container is still controlled by the daemon
        assert d.cli("stop", "-t", "1", long).returncode == 0
        assert d.cli("inspect", "-f", "{{.State.Running}}", long).stdout.strip() == "false"
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
        # a clean stop and start keeps the lot too
        d.stop()
        d.start()
        assert set(d.cli("ps", "-aq", "--no-trunc").stdout.split()) >= {long, short}
    finally:
        d.destroy()
