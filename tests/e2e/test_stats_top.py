"""``stats``, ``top``, ``pause``/``unpause`` end to end (cgroup counters of
a real container, host ps on its pids, the freezer through the shim)."""
from __future__ import annotations

import json
import time

import pytest

from skiff.client import Client

pytestmark = pytest.mark.e2e


@pytest.fixture
def sleeper(skiffd, busybox):
    cid = skiffd.cli("run", "-d", "--memory", "64m", "--pids-limit", "50", "busybox", "sh", "-c",
                     "sleep 300 & i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; wait",
                     check=True).stdout.strip()
    try:
        yield cid
    finally:
        skiffd.cli("rm", "-f", cid)


def test_stats_one_shot_values(skiffd, sleeper):
    c = Client(skiffd.host)
    s = c.get_json(f"/containers/{sleeper}/stats", {"stream": "0"})
    assert s["id"] == sleeper and s["name"].startswith("/")
    assert s["memory_stats"]["limit"] == 64 * 1024 * 1024
    assert s["memory_stats"]["usage"] > 0 and "stats" in s["memory_stats"]
    assert s["pids_stats"] == {"current": 2, "limit": 50}
    cpu = s["cpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] > 0 and cpu["system_cpu_usage"] > 0
    assert cpu["online_cpus"] >= 1 and len(cpu["cpu_usage"]["percpu_usage"]) >= 1
    # not one-shot: precpu is a sample taken a second earlier
    assert s["precpu_stats"]["cpu_usage"]["total_usage"] <= cpu["cpu_usage"]["total_usage"]
    assert s["preread"] != "0001-01-01T00:00:00Z"
    s1 = c.get_json(f"/containers/{sleeper}/stats", {"stream": "0", "one-shot": "1"})
    assert s1["preread"] == "0001-01-01T00:00:00Z"
    assert "networks" in s1 and "blkio_stats" in s1


def test_stats_stream(skiffd, sleeper):
    c = Client(skiffd.host)
    got = []
    for s in c.stream_json("GET", f"/containers/{sleeper}/stats"):
        got.append(s)
        if len(got) == 2:
            break
    assert got[1]["preread"] == got[0]["read"]
    assert got[1]["precpu_stats"] == got[0]["cpu_stats"]


def test_stats_cli(skiffd, sleeper):
    for run in (skiffd.cli, skiffd.docker):
        r = run("stats", "--no-stream", sleeper)
        assert r.returncode == 0, r.stderr
        head, row = r.stdout.splitlines()
        assert head.split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT",
                                "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS"]
        assert row.startswith(sleeper[:12]) and "/ 64MiB" in row and row.split()[-1] == "2"
    r = skiffd.cli("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", sleeper, check=True)
    assert r.stdout.split()[1] == "2"


def test_top(skiffd, sleeper):
    c = Client(skiffd.host)
    t = c.get_json(f"/containers/{sleeper}/top")
    assert t["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    cmds = sorted(p[-1] for p in t["Processes"])
    assert len(cmds) == 2 and "sleep 300" in cmds, cmds
    t = c.get_json(f"/containers/{sleeper}/top", {"ps_args": "-o pid,comm"})
    assert t["Titles"] == ["PID", "COMMAND"] and sorted(p[1] for p in t["Processes"]) == ["sh", "sleep"]
    for run in (skiffd.cli, skiffd.docker):
        r = run("top", sleeper)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0].split() == t["Titles"][:0] + ["UID", "PID", "PPID", "C", "STIME",
                                                                     "TTY", "TIME", "CMD"]
        assert "sleep 300" in r.stdout
    r = skiffd.docker("top", sleeper, "aux")
    assert r.returncode == 0 and "%CPU" in r.stdout.splitlines()[0], r.stderr


def test_top_not_running(skiffd, busybox):
    cid = skiffd.cli("create", "busybox", "true", check=True).stdout.strip()
    try:
        r = skiffd.docker("top", cid)
        assert r.returncode == 1 and "is not running" in r.stderr
    finally:
        skiffd.cli("rm", "-f", cid)


def test_pause_unpause(skiffd, busybox):
    cid = skiffd.cli("run", "-d", "busybox", "sh", "-c",
                     "while :; do date +%s%N > /tmp/t; sleep 0.05; done", check=True).stdout.strip()
    try:
        time.sleep(0.3)
        skiffd.cli("pause", cid, check=True)
        r = skiffd.cli("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", cid, check=True)
        assert r.stdout.split() == ["paused", "true", "true"]
        r = skiffd.cli("ps", "--filter", f"id={cid}", "--format", "{{.Status}}", check=True)
        assert r.stdout.strip().endswith("(Paused)")
        with open(f"/sys/fs/cgroup/freezer{skiffd_cgroup(skiffd, cid)}/freezer.state") as f:
            assert f.read().strip() == "FROZEN"
        r = skiffd.cli("pause", cid)
        assert r.returncode == 1 and "is already paused" in r.stderr
        skiffd.cli("unpause", cid, check=True)
        r = skiffd.docker("inspect", "-f", "{{.State.Status}}", cid, check=True)
        assert r.stdout.strip() == "running"
        r = skiffd.cli("unpause", cid)
        assert r.returncode == 1 and "is not paused" in r.stderr
        # a paused container can still be stopped (thawed after SIGKILL)
        skiffd.docker("pause", cid, check=True)
        t0 = time.monotonic()
        skiffd.cli("stop", "-t", "1", cid, check=True)
        assert time.monotonic() - t0 < 10
        r = skiffd.cli("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", cid, check=True)
        assert r.stdout.split() == ["exited", "false"]
    finally:
        skiffd.cli("rm", "-f", cid)


def skiffd_cgroup(skiffd, cid: str) -> str:
    with open(f"{skiffd.exec_root}/containers/{cid}/config.json") as f:
        return json.load(f)["linux"]["cgroupsPath"]
