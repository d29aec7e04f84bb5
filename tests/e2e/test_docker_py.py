"""docker-py (the ``docker`` package) against skiffd: each call asserts the
values it gets back (issue 5, "Clients written for Docker")."""
from __future__ import annotations

import io
import tarfile
import time

import pytest

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dc(skiffd, busybox):
    c = docker.DockerClient(base_url=skiffd.host, timeout=120)
    yield c
    c.close()


@pytest.fixture
def gone(dc):
    """Containers to remove at the end of a test."""
    made = []
    yield made
    for ct in made:
        try:
            ct.remove(force=True)
        except docker.errors.NotFound:
            pass


def test_version_and_ping(dc):
    assert dc.ping() is True
    v = dc.version()
    assert v["ApiVersion"] == "1.44" and v["Os"] == "linux"


def test_run_foreground(dc):
    out = dc.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"], remove=True)
    assert out == b"hello\n"
    with pytest.raises(docker.errors.ContainerError) as ei:
        dc.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    assert ei.value.exit_status == 3


def test_run_detached_lifecycle(dc, gone):
    ct = dc.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; trap 'exit 7' TERM; "
                                       "while :; do sleep 0.1; done"],
                           detach=True, name="skifftest-dp1", labels={"skifftest": "dp"})
    gone.append(ct)
    ct.reload()
    assert ct.status == "running" and ct.name == "skifftest-dp1"
    assert ct.labels["skifftest"] == "dp"
    assert dc.containers.get("skifftest-dp1").id == ct.id
    assert ct.id in [c.id for c in dc.containers.list(filters={"label": "skifftest=dp"})]
    time.sleep(0.3)
    assert ct.logs() == b"out\nerr\n"
    assert ct.logs(stderr=False) == b"out\n"
    ct.rename("skifftest-dp2")
    ct.reload()
    assert ct.name == "skifftest-dp2"
    ct.stop(timeout=5)
    assert ct.wait() == {"StatusCode": 7, "Error": None}
    ct.reload()
    assert ct.status == "exited" and ct.attrs["State"]["ExitCode"] == 7
    ct.remove()
    with pytest.raises(docker.errors.NotFound):
        dc.containers.get(ct.id)


def test_create_start_kill_wait(dc, gone):
    ct = dc.containers.create("busybox", "sleep 300")
    gone.append(ct)
    assert ct.status == "created"
    ct.start()
    ct.reload()
    assert ct.status == "running" and ct.attrs["State"]["Pid"] > 0
    ct.kill(signal="SIGKILL")
    assert ct.wait(timeout=30)["StatusCode"] == 137


def test_logs_stream(dc, gone):
    ct = dc.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"],
                           detach=True)
    gone.append(ct)
    lines = list(ct.logs(stream=True, follow=True))
    assert b"".join(lines) == b"line1\nline2\nline3\n"


def test_exec_run(dc, gone):
    ct = dc.containers.run("busybox", "sleep 300", detach=True)
    gone.append(ct)
    r = ct.exec_run("echo hi")
    assert (r.exit_code, r.output) == (0, b"hi\n")
    r = ct.exec_run(["sh", "-c", "echo $FOO; pwd; exit 3"], environment={"FOO": "bar"}, workdir="/tmp")
    assert (r.exit_code, r.output) == (3, b"bar\n/tmp\n")
    r = ct.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert r.output == (b"o\n", b"e\n")


def test_attach_socket(dc, gone):
    ct = dc.containers.create("busybox", "cat", stdin_open=True)
    gone.append(ct)
    sock = ct.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
    raw = getattr(sock, "_sock", sock)
    ct.start()
    raw.sendall(b"ping\n")
    raw.settimeout(10)
    data = b""
    while len(data) < 13:
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    # a multiplexed frame: stdout (1), length 5
    assert data[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x05" and data[8:13] == b"ping\n"
    raw.close()


def test_put_and_get_archive(dc, gone):
    ct = dc.containers.run("busybox", "sleep 300", detach=True)
    gone.append(ct)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("hello.txt")
        ti.size, ti.mode, ti.mtime = 5, 0o640, 1_600_000_000
        tf.addfile(ti, io.BytesIO(b"world"))
    assert ct.put_archive("/tmp", buf.getvalue()) is True
    assert ct.exec_run("cat /tmp/hello.txt").output == b"world"
    bits, st = ct.get_archive("/tmp/hello.txt")
    assert st == {"name": "hello.txt", "size": 5, "mode": 0o640, "mtime": "2020-09-13T12:26:40Z",
                  "linkTarget": ""}
    with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tf:
        assert tf.extractfile("hello.txt").read() == b"world"
    with pytest.raises(docker.errors.NotFound):
        ct.get_archive("/nope")
    with pytest.raises(docker.errors.NotFound):
        ct.put_archive("/nope", buf.getvalue())


def test_stats_top_pause(dc, gone):
    ct = dc.containers.run("busybox", "sleep 300", detach=True, mem_limit="32m")
    gone.append(ct)
    s = ct.stats(stream=False)
    assert s["id"] == ct.id and s["memory_stats"]["limit"] == 32 * 1024 * 1024
    assert s["pids_stats"]["current"] == 1 and s["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    stream = ct.stats(decode=True)
    first = next(stream)
    assert first["id"] == ct.id
    top = ct.top()
    assert top["Titles"][1] == "PID" and [p[-1] for p in top["Processes"]] == ["sleep 300"]
    ct.pause()
    ct.reload()
    assert ct.status == "paused"
    ct.unpause()
    ct.reload()
    assert ct.status == "running"
    assert ct.diff() is None or all(set(c) == {"Path", "Kind"} for c in ct.diff())


def test_prune_and_df(dc):
    ct = dc.containers.create("busybox", "true")
    r = dc.containers.prune()
    assert ct.id in r["ContainersDeleted"] and r["SpaceReclaimed"] >= 0
    df = dc.df()
    assert df["LayersSize"] > 0 and any(i["Containers"] >= 0 for i in df["Images"])


def test_images(dc, registry):
    img = dc.images.pull(f"{registry}/library/busybox", tag="latest")
    assert f"{registry}/library/busybox:latest" in img.tags
    assert img.id.startswith("sha256:")
    assert dc.images.get("busybox").id == img.id
    assert img.id in [i.id for i in dc.images.list()]
    assert img.tag("skifftest/dpy", "v1") is True
    assert "skifftest/dpy:v1" in dc.images.get(img.id).tags
    assert [i.id for i in dc.images.list("skifftest/dpy")] == [img.id]
    dc.images.remove("skifftest/dpy:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        dc.images.get("skifftest/dpy:v1")
    assert dc.images.get("busybox").id == img.id


def test_events_since_until(dc):
    since = time.time() - 0.5
    ct = dc.containers.create("busybox", "true", name="skifftest-ev")
    ct.start()
    ct.wait()
    ct.remove()
    until = time.time() + 0.5
    evs = [e for e in dc.events(since=since, until=until, decode=True,
                                filters={"container": ct.id})]
    actions = [e["Action"] for e in evs]
    for want in ("create", "start", "die", "destroy"):
        assert want in actions, actions
    assert actions.index("create") < actions.index("start") < actions.index("die") < actions.index("destroy")
    die = [e for e in evs if e["Action"] == "die"][0]
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
    assert die["Actor"]["Attributes"]["name"] == "skifftest-ev"
    assert all(e["Type"] == "container" and e["id"] == ct.id for e in evs)
