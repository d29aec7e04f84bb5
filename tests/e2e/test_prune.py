"""``container prune`` (POST /containers/prune with until/label filters),
``system df`` (GET /system/df) and ``system prune`` end to end."""
from __future__ import annotations

import json
import time

import pytest

from skiff.client import Client

pytestmark = pytest.mark.e2e


def _ids(skiffd) -> set[str]:
    return set(skiffd.cli("ps", "-aq", "--no-trunc", check=True).stdout.split())


def test_container_prune_filters(skiffd, busybox):
    skiffd.cleanup_containers()
    keep_running = skiffd.cli("run", "-d", "busybox", "sleep", "300", check=True).stdout.strip()
    skiffd.cli("run", "-l", "skifftest=yes", "busybox", "sh", "-c", "echo x > /big", check=True)
    labelled = skiffd.cli("ps", "-aq", "--no-trunc", "--filter", "label=skifftest=yes",
                          check=True).stdout.strip()
    assert len(labelled) == 64
    plain = skiffd.cli("create", "busybox", "true", check=True).stdout.strip()
    try:
        c = Client(skiffd.host)
        # until: nothing is older than an hour ago
        r = c.post_json("/containers/prune", {"filters": json.dumps({"until": ["1h"]})})
        assert r == {"ContainersDeleted": None, "SpaceReclaimed": 0}
        # label!= keeps the labelled one
        r = c.post_json("/containers/prune", {"filters": json.dumps({"label!": ["skifftest"]})})
        assert r["ContainersDeleted"] == [plain]
        r = skiffd.cli("container", "prune", "-f", "--filter", "label=skifftest=yes", check=True)
        assert r.stdout.startswith(f"Deleted Containers:\n{labelled}\n\nTotal reclaimed space: ")
        assert not r.stdout.rstrip().endswith(" 0B")  # its writable layer held /big
        assert _ids(skiffd) == {keep_running}
        r = skiffd.docker("container", "prune", "-f", check=True)
        assert r.stdout == "Total reclaimed space: 0B\n"
        with pytest.raises(Exception, match="invalid filter"):
            c.post_json("/containers/prune", {"filters": json.dumps({"bogus": ["1"]})})
    finally:
        skiffd.cli("rm", "-f", keep_running, plain, labelled)


def test_container_prune_prompt(skiffd, busybox):
    cid = skiffd.cli("create", "busybox", "true", check=True).stdout.strip()
    try:
        r = skiffd.cli("container", "prune", input="n\n")
        assert r.returncode == 0 and "Are you sure you want to continue? [y/N]" in r.stdout
        assert cid in _ids(skiffd)
        r = skiffd.cli("container", "prune", input="y\n")
        assert cid in r.stdout and cid not in _ids(skiffd)
    finally:
        skiffd.cli("rm", "-f", cid)


def test_system_df(skiffd, busybox):
    cid = skiffd.cli("run", "-d", "busybox", "sh", "-c", "echo hello > /f; sleep 300", check=True).stdout.strip()
    try:
        skiffd.cli("exec", cid, "true", check=True)
        d = Client(skiffd.host).get_json("/system/df")
        assert set(d) >= {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
        assert d["LayersSize"] > 1_000_000  # busybox is about 2 MB
        img = [i for i in d["Images"] if any(t.endswith("busybox:latest") for t in i["RepoTags"] or [])][0]
        assert img["Containers"] >= 1 and img["Size"] > 1_000_000 and img["SharedSize"] >= 0
        ctr = [x for x in d["Containers"] if x["Id"] == cid][0]
        assert ctr["SizeRw"] > 0 and ctr["SizeRootFs"] > ctr["SizeRw"] and ctr["State"] == "running"
        assert ctr["Status"].startswith("Up ")
        for run in (skiffd.cli, skiffd.docker):
            r = run("system", "df")
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            assert lines[1].split()[0] == "Images" and lines[2].split()[:1] == ["Containers"]
            assert lines[3].startswith("Local Volumes") and lines[4].startswith("Build Cache")
        r = skiffd.cli("system", "df", "-v", check=True)
        assert "Images space usage:" in r.stdout and cid[:12] in r.stdout
    finally:
        skiffd.cli("rm", "-f", cid)


def test_system_prune_removes_stopped(skiffd, busybox):
    cid = skiffd.cli("create", "busybox", "true", check=True).stdout.strip()
    r = skiffd.cli("system", "prune", "-f")
    assert r.returncode == 0, r.stderr
    assert cid in r.stdout and "Total reclaimed space:" in r.stdout
    assert cid not in _ids(skiffd)
    # images used by tagged references stay
    r = skiffd.cli("image", "inspect", "busybox")
    assert r.returncode == 0


def test_events_cli(skiffd, busybox):
    since = str(int(time.time()) - 1)
    cid = skiffd.cli("run", "--name", "skifftest-evcli", "busybox", "true", check=True) and \
        skiffd.cli("ps", "-aq", "--no-trunc", "--filter", "name=skifftest-evcli", check=True).stdout.strip()
    skiffd.cli("rm", cid, check=True)
    until = str(int(time.time()) + 1)
    for run in (skiffd.cli, skiffd.docker):
        r = run("events", "--since", since, "--until", until, "--filter", f"container={cid}")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        actions = [l.split()[2] for l in lines]
        # an attached `run` is create, attach, start, die, destroy (Docker's order)
        assert actions[:3] == ["create", "attach", "start"] and actions[-1] == "destroy", lines
        die = [l for l in lines if l.split()[2] == "die"][0]
        # "TIME container die ID (exitCode=0, image=busybox, name=skifftest-evcli)"
        assert die.split()[1] == "container" and die.split()[3] == cid
        assert die.endswith("(exitCode=0, image=busybox, name=skifftest-evcli)"), die
    r = skiffd.cli("events", "--since", since, "--until", until, "--filter", f"container={cid}",
                   "--format", "{{.Action}} {{.Actor.Attributes.name}}", check=True)
    assert r.stdout.splitlines()[0] == "create skifftest-evcli"
