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


def _walk_files(path):
    out = []
    for dp, dn, fn in os.walk(path):
        out += [os.path.join(dp, f) for f in fn]
    return out


class StallingProxy:
    """A registry proxy on 127.0.0.1 that forwards to the fixture registry but,
    while ``stall`` is set, sends only the first KiB of each blob and then
    hangs, so a pull is reliably in flight when the daemon is killed."""

    def __init__(self, upstream: str):
        import threading
        self.upstream = upstream
        self.stall = threading.Event()
        self.stall.set()
        self.port = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self):
        import asyncio

        from aiohttp import ClientSession, web

        async def handler(request):
            async with ClientSession() as s:
                async with s.request(request.method, f"http://{self.upstream}{request.path_qs}",
                                     headers={k: v for k, v in request.headers.items()
                                              if k.lower() in ("accept", "authorization")},
                                     allow_redirects=True) as r:
                    resp = web.StreamResponse(status=r.status)
                    for k in ("Content-Type", "Docker-Content-Digest", "Content-Length"):
                        if k in r.headers:
                            resp.headers[k] = r.headers[k]
                    await resp.prepare(request)
                    if request.method == "HEAD":
                        return resp
                    body = await r.read()
                    if "/blobs/" in request.path and self.stall.is_set():
                        await resp.write(body[:1024])
                        while self.stall.is_set():
                            await asyncio.sleep(0.05)
                        return resp
                    await resp.write(body)
                    return resp

        async def main():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handler)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]
            self._ready.set()
            while True:
                await asyncio.sleep(3600)

        asyncio.run(main())


def test_killed_mid_pull_is_cleaned_at_start(registry, fixtures_dir):
    """A daemon killed during a pull restarts with no ingest files, no
    half-made layer snapshots and no orphan blobs, and the pull works again."""
    import sqlite3
    import subprocess
    import sys
    proxy = StallingProxy(registry)
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-midpull-")), registry, name="midpull")
    d.start()
    try:
        ref = f"127.0.0.1:{proxy.port}/library/layered"
        p = subprocess.Popen([sys.executable, "-m", "skiff.cli", "-H", d.host, "pull", ref],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=d.env())
        ingest = os.path.join(d.data_root, "content", "ingest")
        deadline = time.time() + 30
        while time.time() < deadline and not _walk_files(ingest):
            time.sleep(0.02)
        assert _walk_files(ingest), "the pull never started writing"
        time.sleep(0.3)
        d.stop(signal.SIGKILL)
        p.wait(30)
        assert p.returncode != 0
        proxy.stall.clear()
        d.start()
        assert _walk_files(ingest) == []
        con = sqlite3.connect(os.path.join(d.data_root, "metadata.db"))
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        for t in tables:
            cols = [r[1] for r in con.execute(f"pragma table_info({t})")]
            if "key" in cols:
                keys = [r[0] for r in con.execute(f"select key from {t}")]
                assert not [k for k in keys if k.startswith("extract-")], (t, keys)
        con.close()
        assert _walk_files(os.path.join(d.data_root, "content", "blobs")) == [], \
            "blobs of a pull that never finished remain"
        assert d.cli("image", "inspect", ref).returncode != 0
        r = d.cli("run", "--rm", ref)
        assert (r.returncode, r.stdout) == (0, "hello v2\n"), r.stderr
    finally:
        proxy.stall.clear()
        d.destroy()


def test_killed_during_start_leaves_no_forgotten_container(registry):
    """Containers whose shim outlived a crash are adopted (running) or ended; a
    bundle no record owns is removed with whatever ran in it."""
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-adopt-")), registry, name="adopt")
    d.start()
    try:
        ref = f"{registry}/library/busybox"
        d.cli("pull", ref, check=True)
        cid = d.cli("run", "-d", ref, "sleep", "300").stdout.strip()
        pid = int(d.cli("inspect", "-f", "{{.State.Pid}}", cid).stdout)
        d.stop(signal.SIGKILL)
        # make the record look as if the daemon died before recording the start
        import json
        import sqlite3
        con = sqlite3.connect(os.path.join(d.data_root, "metadata.db"))
        data = json.loads(con.execute("select data from containers where id=?", (cid,)).fetchone()[0])
        data["State"].update(Status="created", Running=False, Pid=0)
        con.execute("update containers set data=? where id=?", (json.dumps(data), cid))
        con.commit()
        con.close()
        d.start()
        assert d.cli("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "running"
        assert os.path.exists(f"/proc/{pid}")
        d.cli("rm", "-f", cid, check=True)
        for _ in range(50):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{pid}")
    finally:
        d.destroy()


def test_second_daemon_on_one_data_root_is_refused(registry):
    import subprocess
    import sys
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-lock-")), registry, name="lock")
    d.start()
    try:
        r = subprocess.run([sys.executable, "-m", "skiff.daemon", "--config-file", d.config,
                            "--data-root", d.data_root, "--exec-root", d.exec_root + "-2",
                            "-H", f"unix://{d.exec_root}-2/skiff.sock"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "another skiffd" in r.stderr, r.stderr
        assert d.ping()
    finally:
        d.destroy()
        import shutil
        shutil.rmtree(d.exec_root + "-2", ignore_errors=True)


def test_logs_have_no_gap_across_a_daemon_crash(registry):
    """A -d container keeps running while skiffd is SIGKILLed and started
    again; its log has every line (the shim writes it), `logs -f` and `stop`
    work on it afterwards, and stop gives its exit code."""
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-gap-")), registry, name="gap")
    d.start()
    try:
        ref = f"{registry}/library/busybox"
        d.cli("pull", ref, check=True)
        cid = d.cli("run", "-d", ref, "sh", "-c",
                    "trap 'exit 3' TERM; i=0; while true; do echo n$i; i=$((i+1)); sleep 0.05; done").stdout.strip()
        time.sleep(0.5)
        d.stop(signal.SIGKILL)
        time.sleep(1.0)
        d.start()
        time.sleep(0.5)
        assert d.cli("stop", "-t", "5", cid).returncode == 0
        assert d.cli("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "3"
        lines = d.cli("logs", cid).stdout.split()
        nums = [int(x[1:]) for x in lines]
        assert nums == list(range(len(nums))) and len(nums) > 30, lines[:5]
        r = d.cli("logs", "-f", cid, timeout=20)  # the container is gone: -f ends at once
        assert r.stdout.split() == lines
    finally:
        d.destroy()


def test_clean_stop_leaves_no_socket_bridge_or_table(registry):
    import hashlib
    import subprocess
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-clean-")), registry, name="clean")
    d.start()
    try:
        assert d.cli("run", "--rm", f"{registry}/library/busybox", "true").returncode == 0
        h = hashlib.sha256(d.exec_root.encode()).hexdigest()[:6]
        ip_links = lambda: subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        nft_tables = lambda: subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert f"skiff0-{h}" in ip_links() and f"skiff-{h}" in nft_tables()
        d.stop()
        assert not os.path.exists(d.sock)
        assert f"skiff0-{h}" not in ip_links() and f"skiff-{h}" not in nft_tables()
    finally:
        d.destroy()
