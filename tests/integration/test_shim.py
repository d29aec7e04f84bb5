"""The shim on a real busybox bundle, driven by runc and by skiff's runtime."""
from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from skiff.errors import Conflict, ExecError, Unavailable
from skiff.logs.jsonfile import read_logs
from skiff.runtime.shim import protocol as P
from skiff.runtime.shim.client import ShimClient, read_exit, spawn_shim
from skiff.runtime.spec import build_exec_process, build_spec, host_bounding_capabilities

pytestmark = pytest.mark.integration

CGROUP_PARENT = "skifftest-shim"
BUSYBOX_MANIFEST = "d92fa7fcb97ff2923a9dd9e66ff554e1f1930aca2392599a9723e8e4e2dd8117"


def _skiff_runtime_available() -> bool:
    try:
        from skiff.runtime.linux import container  # noqa: F401
        return all(hasattr(container, n) for n in ("create", "start", "kill", "delete"))
    except Exception:  # noqa: BLE001
        return False


RUNTIMES = [
    pytest.param("runc", marks=pytest.mark.skipif(not shutil.which("runc"), reason="runc not installed")),
    pytest.param("skiff", marks=pytest.mark.skipif(not _skiff_runtime_available(),
                                                   reason="skiff.runtime.linux.container not importable")),
]


@pytest.fixture(scope="session", autouse=True)
def _cgroup_parent_cleanup():
    yield
    for d in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}"):
        try:
            d.rmdir()
        except OSError:
            pass


@pytest.fixture(scope="session")
def busybox_rootfs(fixtures_dir, tmp_path_factory) -> Path:
    blobs = fixtures_dir / "oci" / "blobs" / "sha256"
    manifest = json.loads((blobs / BUSYBOX_MANIFEST).read_text())
    layer = manifest["layers"][0]["digest"].split(":")[1]
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    root.mkdir()
    with tarfile.open(blobs / layer, "r:gz") as t:
        t.extractall(root)
    return root


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class Bundle:
    def __init__(self, base: Path, rootfs: Path, runtime: str):
        self.id = "skifftest-" + uuid.uuid4().hex[:12]
        self.dir = base / self.id
        self.dir.mkdir()
        self.rootfs = rootfs
        self.runtime_root = base / "rtroot"
        self.runtime_root.mkdir(exist_ok=True)
        self.log = self.dir / f"{self.id}-json.log"
        self.runtime = shutil.which("runc") if runtime == "runc" else "skiff"

    def config(self, cmd, *, tty=False, stdin=False, env=None):
        spec = build_spec(container_id=self.id, image_config={"Env": ["PATH=/bin"], "Cmd": ["sh"]},
                          create={"Cmd": cmd, "Tty": tty, "OpenStdin": stdin, "Env": env or []},
                          rootfs=str(self.rootfs), netns="", cgroups_path=f"/{CGROUP_PARENT}/{self.id}",
                          available_capabilities=host_bounding_capabilities())
        spec["root"]["readonly"] = True  # the rootfs is shared between tests
        (self.dir / "config.json").write_text(json.dumps(spec))

    async def spawn(self, **kw) -> ShimClient:
        return await spawn_shim(id=self.id, bundle=str(self.dir), runtime_root=str(self.runtime_root),
                                log_path=str(self.log), runtime=self.runtime, **kw)

    def shim_pid(self) -> int | None:
        try:
            return int((self.dir / "shim.pid").read_text())
        except (OSError, ValueError):
            return None

    def cleanup(self):
        pid = self.shim_pid()
        if pid:
            # wait for the shim to finish on its own; then make sure
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.05)
        if self.runtime != "skiff":
            subprocess.run([self.runtime, "--root", str(self.runtime_root), "delete", "--force", self.id],
                           capture_output=True)
        for cg in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}/{self.id}"):
            try:
                cg.rmdir()
            except OSError:
                pass


@pytest.fixture(params=RUNTIMES)
def bundle(request, busybox_rootfs, tmp_path):
    b = Bundle(tmp_path, busybox_rootfs, request.param)
    yield b
    b.cleanup()


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def collect_frames(reader):
    out = {1: b"", 2: b""}
    while True:
        try:
            hdr = await reader.readexactly(8)
        except asyncio.IncompleteReadError as e:
            assert e.partial == b""
            return out
        stream, n = P.parse_header(hdr)
        out[stream] += await reader.readexactly(n)


def test_attach_start_frames_exit_and_log(bundle):
    bundle.config(["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"])

    async def main():
        c = await bundle.spawn()
        assert c.pid > 0
        st = await c.state()
        assert st["status"] == "created" and st["pid"] == c.pid
        reader, writer = await c.attach(stdout=True, stderr=True)
        await c.start()
        frames = await collect_frames(reader)
        status = await c.wait()
        return frames, status

    frames, status = run(main())
    assert frames[1] == b"out1\nout2\n"
    assert frames[2] == b"err1\n"
    assert status.exit_code == 3 and status.oom_killed is False
    assert status.exited_at.endswith("Z")
    exit_json = json.loads((bundle.dir / "exit.json").read_text())
    assert exit_json["exit_code"] == 3
    assert read_exit(str(bundle.dir)).exit_code == 3
    recs = [(s, d) for s, d, _ in read_logs(str(bundle.log))]
    assert ("stdout", b"out1\n") in recs and ("stderr", b"err1\n") in recs
    assert [d for s, d in recs if s == "stdout"] == [b"out1\n", b"out2\n"]
    line = json.loads(bundle.log.read_text().splitlines()[0])
    assert set(line) == {"log", "stream", "time"}
    # the shim goes away shortly after it told us, removing its socket
    for _ in range(50):
        if not (bundle.dir / "shim.sock").exists():
            break
        time.sleep(0.1)
    assert not (bundle.dir / "shim.sock").exists()
    with pytest.raises(Unavailable):
        run(ShimClient.connect(str(bundle.dir)))


def test_stdin_half_close_reaches_cat(bundle):
    bundle.config(["cat"], stdin=True)

    async def main():
        c = await bundle.spawn(stdin=True, stdin_once=True)
        reader, writer = await c.attach(stdin=True, stdout=True, stderr=True)
        await c.start()
        writer.write(b"hello from stdin\nsecond line")
        await writer.drain()
        writer.write_eof()
        frames = await collect_frames(reader)
        return frames, await c.wait()

    frames, status = run(main())
    assert frames[1] == b"hello from stdin\nsecond line"
    assert frames[2] == b""
    assert status.exit_code == 0
    assert [d for _, d, _ in read_logs(str(bundle.log))] == [b"hello from stdin\n", b"second line"]


def test_kill_and_wait(bundle):
    bundle.config(["sleep", "1000"])

    async def main():
        c = await bundle.spawn()
        await c.start()
        st = await c.state()
        assert st["status"] == "running"
        # an idle connection keeps the shim around (up to a second) after it told the waiter
        _, idle = await asyncio.open_unix_connection(str(bundle.dir / "shim.sock"))
        waiter = asyncio.ensure_future(c.wait())
        await asyncio.sleep(0.2)
        assert not waiter.done()
        await c.kill(signal.SIGKILL)
        status = await waiter
        with pytest.raises(Conflict):
            await c.kill(signal.SIGTERM)
        idle.close()
        return status

    status = run(main())
    assert status.exit_code == 128 + signal.SIGKILL
    assert json.loads((bundle.dir / "exit.json").read_text())["exit_code"] == 137


def test_exec_error_not_found(bundle):
    bundle.config(["/no/such/binary"])
    with pytest.raises(ExecError) as ei:
        run(bundle.spawn())
    assert ei.value.exit_code == 127
    assert "no such file or directory" in str(ei.value) or "not found" in str(ei.value)
    bundle.config(["nosuchcmd"])
    bundle.dir.joinpath("exit.json").unlink(missing_ok=True)
    with pytest.raises(ExecError) as ei:
        run(bundle.spawn())
    assert ei.value.exit_code == 127
    bundle.config(["/etc"])
    with pytest.raises(ExecError) as ei:
        run(bundle.spawn())
    assert ei.value.exit_code == 126


def test_shim_survives_its_spawner(bundle, tmp_path):
    """Spawn from a separate Python process, kill that process, reconnect and wait."""
    bundle.config(["sh", "-c", "echo started; sleep 2; echo done; exit 7"])
    script = tmp_path / "spawner.py"
    script.write_text(
        "import asyncio, sys\n"
        "from skiff.runtime.shim.client import spawn_shim\n"
        "async def main():\n"
        f"    c = await spawn_shim(id={bundle.id!r}, bundle={str(bundle.dir)!r},"
        f" runtime_root={str(bundle.runtime_root)!r}, log_path={str(bundle.log)!r},"
        f" runtime={bundle.runtime!r})\n"
        "    await c.start()\n"
        "    print(c.pid, flush=True)\n"
        "    await asyncio.sleep(1000)\n"
        "asyncio.run(main())\n")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    try:
        init_pid = int(p.stdout.readline())
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert _alive(init_pid)
    shim_pid = bundle.shim_pid()
    # the shim is not the spawner's child and is the init's parent
    assert shim_pid and _alive(shim_pid)
    ppid = int(Path(f"/proc/{init_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid == shim_pid

    async def main():
        c = await ShimClient.connect(str(bundle.dir))
        assert c.pid == init_pid
        assert (await c.state())["status"] == "running"
        return await c.wait()

    status = run(main())
    assert status.exit_code == 7
    assert [d for _, d, _ in read_logs(str(bundle.log))] == [b"started\n", b"done\n"]


def test_late_attach_gets_only_new_output(bundle):
    bundle.config(["sh", "-c", "echo early; read x; echo late $x"], stdin=True)

    async def main():
        c = await bundle.spawn(stdin=True)
        await c.start()
        await asyncio.sleep(0.5)
        reader, writer = await c.attach(stdin=True, stdout=True, stderr=False)
        writer.write(b"go\n")
        await writer.drain()
        frames = await collect_frames(reader)
        return frames, await c.wait()

    frames, status = run(main())
    assert frames[1] == b"late go\n"
    assert status.exit_code == 0
    assert [d for _, d, _ in read_logs(str(bundle.log))] == [b"early\n", b"late go\n"]


def test_tty(bundle):
    bundle.config(["sh", "-c", "stty size; echo hi; exit 2"], tty=True)

    async def main():
        c = await bundle.spawn(tty=True)
        reader, writer = await c.attach(stdout=True)
        await c.resize(30, 100)
        await c.start()
        out = await reader.read()
        return out, await c.wait()

    out, status = run(main())
    assert b"30 100\r\n" in out  # raw tty output, no frames
    assert b"hi\r\n" in out
    assert status.exit_code == 2


def test_wait_after_exit_and_multiple_waiters(bundle):
    bundle.config(["sh", "-c", "sleep 0.3; exit 5"])

    async def main():
        c = await bundle.spawn()
        await c.start()
        w1 = asyncio.ensure_future(c.wait())
        w2 = asyncio.ensure_future(c.wait())
        s1, s2 = await asyncio.gather(w1, w2)
        s3 = await c.wait()  # answered at once while the shim lingers, or from exit.json
        return s1, s2, s3

    s1, s2, s3 = run(main())
    assert s1.exit_code == s2.exit_code == s3.exit_code == 5


def test_log_rotation_and_big_lines(bundle):
    bundle.config(["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done;"
                   " head -c 40000 /dev/zero | tr '\\0' x; echo"])

    async def main():
        c = await bundle.spawn(log_opts={"max-size": "4k", "max-file": "3"})
        await c.start()
        return await c.wait()

    assert run(main()).exit_code == 0
    assert (bundle.dir / f"{bundle.log.name}.1").exists()
    assert (bundle.dir / f"{bundle.log.name}.2").exists()
    assert not (bundle.dir / f"{bundle.log.name}.3").exists()
    recs = [d for _, d, _ in read_logs(str(bundle.log))]
    assert [len(d) for d in recs[-3:]] == [16384, 16384, 40000 - 32768 + 1]
    assert recs[-4] == b"line299\n"


def test_kill_before_start_and_start_twice(bundle):
    bundle.config(["sleep", "1000"])

    async def main():
        c = await bundle.spawn()
        _, idle = await asyncio.open_unix_connection(str(bundle.dir / "shim.sock"))
        await c.kill(signal.SIGKILL)
        status = await c.wait()
        st = await c.state()
        idle.close()
        return status, st

    status, st = run(main())
    assert status.exit_code == 137
    assert st["status"] == "stopped" and st["exit_code"] == 137


def test_kill_all_and_double_start(bundle):
    bundle.config(["sh", "-c", "sleep 1000 & sleep 1000"])

    async def main():
        from skiff.errors import NotModified
        c = await bundle.spawn()
        await c.start()
        with pytest.raises(NotModified):
            await c.start()
        await asyncio.sleep(0.2)
        await c.kill(signal.SIGKILL, all=True)
        return await c.wait()

    assert run(main()).exit_code == 137


def test_protocol_errors_and_frames(bundle):
    assert P.parse_header(P.frame(2, b"abc")[:8]) == (2, 3)
    assert P.frame(1, b"xy") == b"\x01\x00\x00\x00\x00\x00\x00\x02xy"
    bundle.config(["sleep", "1000"])

    async def main():
        c = await bundle.spawn()
        reader, writer = await asyncio.open_unix_connection(str(bundle.dir / "shim.sock"))
        writer.write(b'{"op":"bogus"}\nnot json\n{"op":"state"}\n')
        await writer.drain()
        replies = [json.loads(await reader.readline()) for _ in range(3)]
        writer.close()
        await c.kill(signal.SIGKILL)
        await c.wait()
        return replies

    r = run(main())
    assert r[0]["ok"] is False and r[0]["kind"] == "InvalidArgument"
    assert r[1]["ok"] is False and r[1]["kind"] == "InvalidArgument"
    assert r[2]["ok"] is True and r[2]["status"] == "created"


def test_tty_stdin_and_long_bundle_path(busybox_rootfs, tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    b = Bundle(deep, busybox_rootfs, "runc" if shutil.which("runc") else "skiff")
    assert len(str(b.dir / "shim.sock")) > 108
    try:
        b.config(["cat"], tty=True, stdin=True)

        async def main():
            c = await b.spawn(tty=True, stdin=True, stdin_once=True)
            reader, writer = await c.attach(stdin=True, stdout=True)
            await c.start()
            writer.write(b"ping\n")
            await writer.drain()
            buf = b""
            while buf.count(b"ping") < 2:  # the tty's echo, then cat's copy
                buf += await reader.read(100)
            # a tty's stdin is not closed by the client's EOF (moby attach.go: only
            # without a tty); ^D through the line discipline ends cat
            writer.write(b"\x04")
            await writer.drain()
            buf += await reader.read()
            c2 = await ShimClient.connect(str(b.dir))
            return buf, await c2.wait()

        out, status = run(main())
        assert out.count(b"ping\r\n") == 2
        assert status.exit_code == 0
        recs = [d for _, d, _ in read_logs(str(b.log))]
        assert b"".join(recs).count(b"ping\r\n") == 2
    finally:
        b.cleanup()


def test_oom_killed(bundle):
    spec_create = {"Cmd": ["sh", "-c", "head -c 200000000 /dev/zero | tail -c 150000000 > /dev/null"],
                   "HostConfig": {"Memory": 16 << 20, "MemorySwap": 16 << 20}}
    spec = build_spec(container_id=bundle.id, image_config={"Env": ["PATH=/bin"]}, create=spec_create,
                      rootfs=str(bundle.rootfs), netns="", cgroups_path=f"/{CGROUP_PARENT}/{bundle.id}",
                      available_capabilities=host_bounding_capabilities())
    spec["root"]["readonly"] = True
    (bundle.dir / "config.json").write_text(json.dumps(spec))

    async def main():
        c = await bundle.spawn()
        await c.start()
        return await c.wait()

    status = run(main())
    assert status.exit_code == 137
    assert status.oom_killed is True
    assert json.loads((bundle.dir / "exit.json").read_text())["oom_killed"] is True


def test_helpers_and_unavailable(tmp_path):
    from skiff.runtime.shim.client import parse_size
    from skiff.runtime.shim.server import exec_error_from_message
    assert parse_size("10m") == 10 << 20 and parse_size("1k") == 1024 and parse_size("512") == 512
    assert parse_size("2g") == 2 << 30 and parse_size(None) == -1 and parse_size("1.5k") == 1536
    e = exec_error_from_message('runc create failed: unable to start container process: '
                                'exec: "x": executable file not found in $PATH')
    assert isinstance(e, ExecError) and e.exit_code == 127
    assert e.message == 'exec: "x": executable file not found in $PATH'
    assert exec_error_from_message('exec: "/etc": is a directory').exit_code == 126
    assert exec_error_from_message("cgroup: something else") is None
    assert read_exit(str(tmp_path)) is None
    with pytest.raises(Unavailable):
        run(ShimClient.connect(str(tmp_path)))
    # a stale socket file with nobody listening
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "shim.sock"))
    s.close()
    with pytest.raises(Unavailable):
        run(ShimClient.connect(str(tmp_path)))
    (tmp_path / "exit.json").write_text('{"exit_code": 4, "exited_at": "2023-01-01T00:00:00Z", "oom_killed": false}')
    assert run(ShimClient(str(tmp_path)).wait()).exit_code == 4


def test_log_driver_none(bundle):
    bundle.config(["sh", "-c", "echo quiet"])

    async def main():
        c = await bundle.spawn(log_driver="none")
        r, w = await c.attach(stdout=True, stderr=True)
        await c.start()
        frames = await collect_frames(r)
        return frames, await c.wait()

    frames, status = run(main())
    assert frames[1] == b"quiet\n" and status.exit_code == 0
    assert not bundle.log.exists()


def test_runtime_error_from_stderr(busybox_rootfs, tmp_path):
    """A runc-compatible runtime that writes no log: its stderr is mapped."""
    fake = tmp_path / "fake-runtime"
    fake.write_text('#!/bin/sh\nfor a; do [ "$a" = create ] && '
                    '{ echo \'exec: "zzz": executable file not found in $PATH\' >&2; exit 1; }; done\n'
                    'exit 0\n')
    fake.chmod(0o755)
    b = Bundle(tmp_path, busybox_rootfs, "runc")
    b.runtime = str(fake)
    b.config(["zzz"])
    with pytest.raises(ExecError) as ei:
        run(b.spawn())
    assert ei.value.exit_code == 127
    assert 'exec: "zzz"' in str(ei.value)
    fake.write_text('#!/bin/sh\nfor a; do [ "$a" = create ] && { echo "cgroup trouble" >&2; exit 1; }; done\n')
    from skiff.errors import SkiffError
    with pytest.raises(SkiffError, match="cgroup trouble"):
        run(b.spawn())


def test_pause_resume(bundle):
    bundle.config(["sleep", "1000"])
    freezer = Path(f"/sys/fs/cgroup/freezer/{CGROUP_PARENT}/{bundle.id}/freezer.state")

    async def main():
        from skiff.errors import SkiffError
        c = await bundle.spawn()
        with pytest.raises(Conflict):
            await c.pause()  # not started yet
        await c.start()
        try:
            await c.pause()
        except SkiffError as e:
            if "not supported" in str(e):
                await c.kill(signal.SIGKILL)
                await c.wait()
                pytest.skip(str(e))
            raise
        states = [(await c.state())["status"], freezer.read_text().strip() if freezer.exists() else None]
        with pytest.raises(Conflict):
            await c.pause()
        await c.resume()
        states += [(await c.state())["status"], freezer.read_text().strip() if freezer.exists() else None]
        await c.kill(signal.SIGKILL)
        return states, await c.wait()

    states, status = run(main())
    assert states[0] == "paused" and states[2] == "running"
    if states[1] is not None:
        assert states[1] == "FROZEN" and states[3] == "THAWED"
    assert status.exit_code == 137


def _exec_capable(bundle) -> None:
    if bundle.runtime == "skiff":
        from skiff.runtime.linux import container
        if not hasattr(container, "exec_process"):
            pytest.skip("skiff runtime has no exec_process")


def test_exec(bundle):
    _exec_capable(bundle)
    bundle.config(["sh", "-c", "echo container; sleep 1000"], env=["FOO=bar"])
    proc = json.loads((bundle.dir / "config.json").read_text())["process"]

    async def main():
        c = await bundle.spawn()
        with pytest.raises(Conflict):  # not running yet
            await c.exec("e0", build_exec_process(proc, {"Cmd": ["true"]}))
        await c.start()
        # output and exit code of an exec, kept apart from the init's
        pid, reader, writer = await c.exec(
            "e1", build_exec_process(proc, {"Cmd": ["sh", "-c", "echo $FOO $BAR; echo oops >&2; exit 4"],
                                            "Env": ["BAR=baz"]}))
        assert pid > 0
        frames = await collect_frames(reader)
        st1 = await c.wait(exec_id="e1")
        # stdin to an exec, half-close ends it
        _, r2, w2 = await c.exec("e2", build_exec_process(proc, {"Cmd": ["cat"]}), stdin=True)
        w2.write(b"to exec\n")
        await w2.drain()
        w2.write_eof()
        frames2 = await collect_frames(r2)
        st2 = await c.wait(exec_id="e2")
        # errors
        with pytest.raises(ExecError) as ei:
            await c.exec("e3", build_exec_process(proc, {"Cmd": ["nosuchcmd"]}))
        with pytest.raises(Conflict):
            await c.exec("e1", build_exec_process(proc, {"Cmd": ["true"]}))
        from skiff.errors import NotFound
        with pytest.raises(NotFound):
            await c.wait(exec_id="nope")
        # a detached exec, killed
        pid4, r4, _ = await c.exec("e4", build_exec_process(proc, {"Cmd": ["sleep", "1000"]}), attach=False)
        assert r4 is None
        assert (await c.state(exec_id="e4"))["status"] == "running"
        await c.kill(signal.SIGTERM, exec_id="e4")
        st4 = await c.wait(exec_id="e4")
        assert (await c.state(exec_id="e4"))["status"] == "stopped"
        assert (await c.state())["status"] == "running"  # the init is untouched
        await c.kill(signal.SIGKILL)
        return frames, st1, frames2, st2, ei.value, st4, await c.wait()

    frames, st1, frames2, st2, err, st4, st = run(main())
    assert frames == {1: b"bar baz\n", 2: b"oops\n"}
    assert st1.exit_code == 4
    assert frames2[1] == b"to exec\n" and st2.exit_code == 0
    assert err.exit_code == 127
    assert st4.exit_code == 128 + signal.SIGTERM
    assert st.exit_code == 137
    # exec output is not in the container's log
    assert [d for _, d, _ in read_logs(str(bundle.log))] == [b"container\n"]


def test_exec_tty(bundle):
    _exec_capable(bundle)
    bundle.config(["sleep", "1000"])
    proc = json.loads((bundle.dir / "config.json").read_text())["process"]

    async def main():
        c = await bundle.spawn()
        await c.start()
        _, reader, writer = await c.exec("t1", build_exec_process(
            proc, {"Cmd": ["sh", "-c", "stty size; tty; exit 3"], "Tty": True}))
        await c.resize(20, 70, exec_id="t1")  # may race with stty: only the stream matters
        out = await reader.read()
        st = await c.wait(exec_id="t1")
        await c.kill(signal.SIGKILL)
        await c.wait()
        return out, st

    out, st = run(main())
    assert b"/dev/pts/" in out and b"\r\n" in out
    assert st.exit_code == 3


def test_second_shim_for_same_id_is_refused(bundle):
    bundle.config(["sleep", "1000"])

    async def main():
        c = await bundle.spawn()
        await c.start()
        with pytest.raises(Conflict):
            await bundle.spawn()
        st = await c.state()  # the first one is untouched
        await c.kill(signal.SIGKILL)
        return st, await c.wait()

    st, status = run(main())
    assert st["status"] == "running" and status.exit_code == 137
