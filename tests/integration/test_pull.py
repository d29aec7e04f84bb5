"""Real pulls from the loopback registries into a real snapshotter.

- 127.0.0.1:5000 (plain registry, fixture images): busybox:latest, busybox:zstd,
  layered:latest (checked against expected/layered.json with check_tree.py);
- a tiny aiohttp registry on 127.0.0.1 serving a tampered blob, a wrong
  diffID and an index, to check that nothing corrupt is kept;
- the token-auth registry (start-auth 5010): anonymous pull of library/*,
  wrong password -> Unauthorized;
- mirrors: an unreachable mirror falls through to the next.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

from skiff.content.store import ContentStore
from skiff.errors import DataCorruption, NotFound, Unauthorized, Unavailable
from skiff.images import manifest as mf
from skiff.images.pull import pull
from skiff.images.reference import parse
from skiff.images.registry import RegistryClient, is_insecure, is_loopback, parse_www_authenticate
from skiff.metadata.db import Database
from skiff.services.images import ImageService
from skiff.snapshots import open_snapshotter

pytestmark = pytest.mark.integration

BUSYBOX_ID = "sha256:912b387f618c436724da365997f66c164f4ed8766302c658f881ea93ea785a44"
BUSYBOX_MANIFEST = "sha256:d92fa7fcb97ff2923a9dd9e66ff554e1f1930aca2392599a9723e8e4e2dd8117"
BUSYBOX_LAYER = "sha256:299a66d31fda764584f10d8ed8de56c358f2c16a7b3c9a2016d5c89a2ac9740a"
BUSYBOX_DIFF = "sha256:e21e0df1068b681393b66af3fb288433fac1ce7df65b96d1ffb9dc457cfbf121"
LAYERED_ID = "sha256:4b9a303fe98cd21811d6251042be11272e617cc5bdb63e07b3fad9e4b8286883"


class Env:
    def __init__(self, root: str):
        self.root = root
        self.db = Database(os.path.join(root, "metadata.db"))
        self.content = ContentStore(os.path.join(root, "content"))
        self.sn = open_snapshotter(os.path.join(root, "snapshots"), self.db)
        self.svc = ImageService(self.db, self.content, self.sn)

    def keys(self) -> dict[str, str]:
        return {i.key: i.kind for i in self.sn.walk()}

    def ingest(self) -> list[str]:
        return os.listdir(os.path.join(self.content.root, "ingest"))


@pytest.fixture
def env():
    root = tempfile.mkdtemp(prefix="skifftest-pull-")
    e = Env(root)
    yield e
    e.db.close()
    shutil.rmtree(root, ignore_errors=True)


def run(coro):
    return asyncio.run(coro)


def mounted(env: Env, chain: str):
    """Context manager: the snapshot ``chain`` mounted read-only at a temp dir."""
    import contextlib

    from skiff.snapshots.mount import mount_all, unmount

    @contextlib.contextmanager
    def cm():
        key = "skifftest-view-" + chain[7:19]
        mounts = env.sn.view(key, chain)
        target = tempfile.mkdtemp(prefix="skifftest-mnt-")
        mount_all(mounts, target)
        try:
            yield target
        finally:
            unmount(target)
            os.rmdir(target)
            env.sn.remove(key)
    return cm()


# --- the plain registry -----------------------------------------------------------

def test_pull_busybox(env, registry):
    msgs: list[dict] = []
    rec = run(env.svc.pull(f"{registry}/library/busybox:latest", progress=msgs.append))
    assert rec.id == BUSYBOX_ID
    assert rec.diff_ids == [BUSYBOX_DIFF]
    assert rec.chain_ids == [BUSYBOX_DIFF]
    assert rec.repo_tags == [f"{registry}/library/busybox:latest"]
    assert rec.repo_digests == [f"{registry}/library/busybox@{BUSYBOX_MANIFEST}"]
    assert rec.config["config"]["Cmd"] == ["sh"]
    assert rec.size > 1_000_000
    assert env.keys() == {BUSYBOX_DIFF: "committed"}
    for d in (BUSYBOX_MANIFEST, BUSYBOX_ID, BUSYBOX_LAYER):
        assert env.content.exists(d)
    assert env.ingest() == []

    statuses = [m["status"] for m in msgs]
    assert msgs[0] == {"status": "Pulling from library/busybox", "id": "latest"}
    assert {"status": "Pulling fs layer", "progressDetail": {}, "id": "299a66d31fda"} in msgs
    for s in ("Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"):
        assert s in statuses, s
    assert statuses.index("Pulling fs layer") < statuses.index("Download complete") < statuses.index("Pull complete")
    dl = next(m for m in msgs if m["status"] == "Downloading")
    assert dl["progressDetail"]["total"] == 1036119 and dl["progress"].startswith("[")
    assert msgs[-2] == {"status": f"Digest: {BUSYBOX_MANIFEST}"}
    assert msgs[-1] == {"status": f"Status: Downloaded newer image for {registry}/library/busybox:latest"}

    with mounted(env, BUSYBOX_DIFF) as root:
        assert os.path.isfile(os.path.join(root, "bin", "busybox"))
        assert os.readlink(os.path.join(root, "bin", "sh")) == "busybox"
        assert "app:x:1000" in open(os.path.join(root, "etc", "passwd")).read()

    # again: nothing downloaded, up to date
    msgs.clear()
    rec2 = run(env.svc.pull(f"{registry}/library/busybox", progress=msgs.append))
    assert rec2.id == rec.id
    assert {"status": "Already exists", "progressDetail": {}, "id": "299a66d31fda"} in msgs
    assert msgs[-1] == {"status": f"Status: Image is up to date for {registry}/library/busybox:latest"}


def test_pull_zstd_gives_same_image(env, registry):
    msgs: list[dict] = []
    rec = run(env.svc.pull(f"{registry}/library/busybox:zstd", progress=msgs.append))
    assert rec.id == BUSYBOX_ID  # same config: the diffID of the zstd layer is the same tar
    assert rec.chain_ids == [BUSYBOX_DIFF]
    zstd_layer = [d for d in rec.blobs if d not in (BUSYBOX_ID,) and env.content.exists(d)]
    man = mf.parse(env.content.read(rec.repo_digests[0].split("@")[1]))
    assert mf.layer_compression(man.layers[0].media_type) == "zstd"
    assert man.layers[0].digest in zstd_layer
    with mounted(env, BUSYBOX_DIFF) as root:
        assert os.path.isfile(os.path.join(root, "bin", "busybox"))


def test_same_image_from_two_manifests_keeps_both_blob_sets(env, registry):
    run(env.svc.pull(f"{registry}/library/busybox:zstd"))
    zstd_blobs = set(env.svc.resolve(BUSYBOX_ID).blobs)
    run(env.svc.pull(f"{registry}/library/busybox:latest"))
    rec = env.svc.resolve(BUSYBOX_ID)
    assert zstd_blobs <= set(rec.blobs) and BUSYBOX_MANIFEST in rec.blobs
    env.svc.remove(BUSYBOX_ID, force=True)
    assert list(env.content.walk()) == []
    assert env.keys() == {}


def test_pull_layered_matches_fixture_tree(env, registry, fixtures_dir, shared_dir):
    rec = run(env.svc.pull(f"{registry}/library/layered"))
    assert rec.id == LAYERED_ID
    assert len(rec.chain_ids) == 4
    assert rec.chain_ids == mf.chain_ids(rec.diff_ids)
    kinds = env.keys()
    assert all(kinds.get(c) == "committed" for c in rec.chain_ids)
    assert not any(k.startswith("extract-") for k in kinds)
    with mounted(env, rec.top_chain_id) as root:
        p = subprocess.run([sys.executable, str(shared_dir / "fixtures" / "check_tree.py"),
                            str(fixtures_dir / "expected" / "layered.json"), root],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr


def test_pull_shares_layers(env, registry):
    run(env.svc.pull(f"{registry}/library/busybox"))
    msgs: list[dict] = []
    rec = run(env.svc.pull(f"{registry}/library/web", progress=msgs.append))
    assert {"status": "Already exists", "progressDetail": {}, "id": "299a66d31fda"} in msgs
    assert rec.chain_ids[0] == BUSYBOX_DIFF
    assert len([k for k, v in env.keys().items() if v == "committed"]) == 2


def test_pull_platform_mismatch(env, registry):
    with pytest.raises(NotFound, match="does not match the specified platform: wanted linux/arm64/v8, "
                                       "actual: linux/amd64"):
        run(env.svc.pull(f"{registry}/library/busybox", platform="linux/arm64"))
    assert env.keys() == {}
    assert run(env.svc.pull(f"{registry}/library/busybox", platform="linux/amd64")).id == BUSYBOX_ID


def test_pull_unknown_tag_and_repo(env, registry):
    with pytest.raises(NotFound, match="manifest unknown"):
        run(env.svc.pull(f"{registry}/library/busybox:nope"))
    with pytest.raises(NotFound):
        run(env.svc.pull(f"{registry}/library/nothing-here"))
    assert env.keys() == {} and env.ingest() == []


def test_pull_connection_refused(env):
    with pytest.raises(Unavailable, match="127.0.0.1:1"):
        run(env.svc.pull("127.0.0.1:1/library/busybox"))


def test_mirror_fallback(env, registry):
    """docker.io pulls go to the mirrors first; a dead mirror falls through."""
    async def go():
        async with RegistryClient(mirrors=["http://127.0.0.1:1", f"http://{registry}"]) as rc:
            return await pull(parse("busybox"), registry=rc, content=env.content, snapshotter=env.sn)
    pulled = run(go())
    assert pulled.config_digest == BUSYBOX_ID
    assert pulled.manifest_digest == BUSYBOX_MANIFEST


def test_endpoint_rules():
    rc = RegistryClient(mirrors=["mirror.example"], insecure=["10.0.0.0/8", "myreg:5000"])
    assert [e.base for e in rc.endpoints("docker.io")] == ["https://mirror.example",
                                                           "https://registry-1.docker.io"]
    # loopback: HTTPS without verification first, then HTTP (Docker's 127.0.0.0/8 rule)
    assert rc.endpoints("127.0.0.1:5000")[0].base == "https://127.0.0.1:5000"
    assert rc.endpoints("127.0.0.1:5000")[0].insecure
    assert RegistryClient(mirrors=["127.0.0.1:5000/"]).endpoints("docker.io")[0].base == "http://127.0.0.1:5000"
    assert rc.endpoints("localhost:5000")[0].base == "https://localhost:5000"
    assert rc.endpoints("[::1]:5000")[0].insecure
    assert rc.endpoints("ghcr.io")[0].base == "https://ghcr.io"
    assert rc.endpoints("10.1.2.3:5000")[0].insecure
    assert rc.endpoints("myreg:5000")[0].insecure
    assert not rc.endpoints("myreg:5001")[0].insecure
    assert is_loopback("127.8.9.1") and not is_loopback("128.0.0.1")
    assert is_insecure("10.9.9.9", ["10.0.0.0/8"]) and not is_insecure("11.0.0.1", ["10.0.0.0/8"])
    scheme, params = parse_www_authenticate(
        'Bearer realm="http://127.0.0.1:5011/token",service="fixture-registry",scope="repository:library/busybox:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "http://127.0.0.1:5011/token", "service": "fixture-registry",
                      "scope": "repository:library/busybox:pull"}


# --- a tiny hostile registry --------------------------------------------------------

def _gz_tar(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, mtime=0)


def _d(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


class FakeRegistry:
    """Serves /v2/test/img manifests and blobs from dicts; ``tamper`` maps a blob
    digest to the bytes actually served."""

    def __init__(self):
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.tamper: dict[str, bytes] = {}
        self.cut: set[str] = set()  # blobs whose connection drops half-way
        self.slow: set[str] = set()  # blobs served in small pieces with pauses
        self.port = 0

    def add_image(self, layers: list[tuple[bytes, bytes]], tag: str, diff_ids: list[str] | None = None) -> dict:
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids or [_d(t) for t, _ in layers]}}).encode()
        self.blobs[_d(cfg)] = cfg
        for _, gz in layers:
            self.blobs[_d(gz)] = gz
        man = json.dumps({"schemaVersion": 2, "mediaType": mf.MEDIA_TYPE_OCI_MANIFEST,
                          "config": {"mediaType": mf.MEDIA_TYPE_OCI_CONFIG, "digest": _d(cfg), "size": len(cfg)},
                          "layers": [{"mediaType": mf.MEDIA_TYPE_OCI_LAYER_GZIP, "digest": _d(gz), "size": len(gz)}
                                     for _, gz in layers]}).encode()
        self.manifests[tag] = self.manifests[_d(man)] = (mf.MEDIA_TYPE_OCI_MANIFEST, man)
        return {"config": _d(cfg), "manifest": _d(man), "man_bytes": man,
                "layers": [_d(gz) for _, gz in layers], "diffs": [_d(t) for t, _ in layers]}

    async def start(self):
        from aiohttp import web

        async def manifest(req):
            ref = req.match_info["ref"]
            if ref not in self.manifests:
                return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                                         status=404)
            mt, data = self.manifests[ref]
            return web.Response(body=data, headers={"Content-Type": mt, "Docker-Content-Digest": _d(data)})

        async def blob(req):
            d = req.match_info["digest"]
            if d not in self.blobs:
                return web.json_response({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]},
                                         status=404)
            body = self.tamper.get(d, self.blobs[d])
            if d in self.slow:
                resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                                   "Content-Length": str(len(body))})
                await resp.prepare(req)
                for i in range(0, len(body), 16384):
                    await resp.write(body[i:i + 16384])
                    await asyncio.sleep(0.05)
                await resp.write_eof()
                return resp
            if d in self.cut:
                resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                                   "Content-Length": str(len(body))})
                await resp.prepare(req)
                await resp.write(body[:len(body) // 2])
                req.transport.close()
                return resp
            return web.Response(body=body, headers={"Content-Type": "application/octet-stream"})

        async def basic_manifest(req):
            import base64
            want = "Basic " + base64.b64encode(b"u:p").decode()
            if req.headers.get("Authorization") != want:
                return web.json_response(
                    {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}, status=401,
                    headers={"WWW-Authenticate": 'Basic realm="fake"'})
            return await manifest(req)

        async def basic_blob(req):
            import base64
            if req.headers.get("Authorization") != "Basic " + base64.b64encode(b"u:p").decode():
                return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="fake"'})
            # redirect to the open blob route, as registries backed by object storage do
            raise web.HTTPTemporaryRedirect(f"/v2/test/img/blobs/{req.match_info['digest']}")

        app = web.Application()
        app.router.add_get("/v2/basic/img/manifests/{ref}", basic_manifest)
        app.router.add_get("/v2/basic/img/blobs/{digest}", basic_blob)
        app.router.add_get("/v2/test/img/manifests/{ref}", manifest)
        app.router.add_get("/v2/test/img/blobs/{digest}", blob)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self):
        await self.runner.cleanup()


def _with_fake(fn):
    async def go():
        fake = FakeRegistry()
        await fake.start()
        try:
            return await fn(fake)
        finally:
            await fake.stop()
    return run(go())


def test_tampered_blob_leaves_no_snapshot_and_no_blob(env):
    l1 = _gz_tar({"a.txt": b"first layer\n"})
    l2 = _gz_tar({"b.txt": b"second layer\n" * 1000})
    l3 = _gz_tar({"c.txt": b"third\n"})

    async def go(fake: FakeRegistry):
        info = fake.add_image([l1, l2, l3], "bad")
        # a valid gzip tar of another content: only the digest check can catch it
        good = fake.blobs[info["layers"][1]]
        bad_tar, bad_gz = _gz_tar({"b.txt": b"SECOND layer\n" * 1000})
        fake.tamper[info["layers"][1]] = bad_gz
        assert bad_gz != good
        with pytest.raises(DataCorruption):
            await env.svc.pull(f"127.0.0.1:{fake.port}/test/img:bad")
        return info
    info = _with_fake(go)
    chains = mf.chain_ids(info["diffs"])
    kinds = env.keys()
    assert chains[1] not in kinds and chains[2] not in kinds
    assert not any(k.startswith("extract-") for k in kinds), kinds
    assert not env.content.exists(info["layers"][1])
    assert env.ingest() == []
    with pytest.raises(NotFound):
        env.svc.resolve(f"127.0.0.1:1/test/img:bad")


def test_tampered_single_layer_same_size(env):
    l1 = _gz_tar({"a.txt": b"x" * 5000})

    async def go(fake: FakeRegistry):
        info = fake.add_image([l1], "t")
        good = bytearray(fake.blobs[info["layers"][0]])
        good[len(good) // 2] ^= 0xFF
        fake.tamper[info["layers"][0]] = bytes(good)
        with pytest.raises(DataCorruption):
            await env.svc.pull(f"127.0.0.1:{fake.port}/test/img:t")
        return info
    info = _with_fake(go)
    assert env.keys() == {}
    assert not env.content.exists(info["layers"][0])
    assert env.ingest() == []
    assert env.svc.list() == []


def test_connection_dropped_mid_blob(env):
    l1 = _gz_tar({"a.txt": os.urandom(300000)})

    async def go(fake: FakeRegistry):
        info = fake.add_image([l1], "cut")
        fake.cut.add(info["layers"][0])
        with pytest.raises(Unavailable, match="error pulling blob"):
            await env.svc.pull(f"127.0.0.1:{fake.port}/test/img:cut")
        return info
    info = _with_fake(go)
    assert env.keys() == {}
    assert not env.content.exists(info["layers"][0])
    assert env.ingest() == []


def test_cancelled_pull_leaves_nothing_half_made(env):
    l1 = _gz_tar({"a.txt": b"base\n"})
    l2 = _gz_tar({"b.bin": os.urandom(400000)})

    async def go(fake: FakeRegistry):
        info = fake.add_image([l1, l2], "slow")
        fake.slow.add(info["layers"][1])
        task = asyncio.ensure_future(env.svc.pull(f"127.0.0.1:{fake.port}/test/img:slow"))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if any(k.startswith("extract-") for k in env.keys()):
                break
        assert any(k.startswith("extract-") for k in env.keys()), "the second layer never started"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return info
    info = _with_fake(go)
    kinds = env.keys()
    assert not any(k.startswith("extract-") for k in kinds), kinds
    assert mf.chain_ids(info["diffs"])[1] not in kinds
    assert not env.content.exists(info["layers"][1])
    assert env.ingest() == []


def test_wrong_diff_id_rejected(env):
    l1 = _gz_tar({"a.txt": b"content\n"})

    async def go(fake: FakeRegistry):
        fake.add_image([l1], "wrongdiff", diff_ids=["sha256:" + "0" * 64])
        with pytest.raises(DataCorruption, match="diffID"):
            await env.svc.pull(f"127.0.0.1:{fake.port}/test/img:wrongdiff")
    _with_fake(go)
    assert env.keys() == {}
    assert env.ingest() == []


def test_hostile_layer_stays_inside(env):
    """A layer naming ../../.. paths and absolute paths never writes outside its snapshot."""
    import secrets
    tag = secrets.token_hex(4)
    outside = [f"/tmp/skifftest-escape-{tag}-a", f"/tmp/skifftest-escape-{tag}-b"]
    hostile = _gz_tar({"../../../../../../../../tmp/" + os.path.basename(outside[0]): b"pwned",
                       outside[1]: b"pwned", "ok.txt": b"fine"})

    async def go(fake: FakeRegistry):
        fake.add_image([hostile], "hostile")
        try:
            return await env.svc.pull(f"127.0.0.1:{fake.port}/test/img:hostile")
        except Exception as e:  # refusing is fine too
            return e
    try:
        got = _with_fake(go)
        assert not any(os.path.exists(p) for p in outside)
        if isinstance(got, Exception):
            assert not any(k.startswith("extract-") for k in env.keys())
            assert env.keys() == {}
    finally:
        for p in outside:
            if os.path.exists(p):
                os.unlink(p)


def test_tampered_manifest_by_digest(env):
    l1 = _gz_tar({"a.txt": b"content\n"})

    async def go(fake: FakeRegistry):
        info = fake.add_image([l1], "m")
        other = fake.add_image([_gz_tar({"z": b"z"})], "other")
        fake.manifests[info["manifest"]] = fake.manifests["other"]
        with pytest.raises(DataCorruption, match="manifest digest mismatch"):
            await env.svc.pull(f"127.0.0.1:{fake.port}/test/img@{info['manifest']}")
        return other
    _with_fake(go)
    assert env.keys() == {}


def test_index_selects_host_platform(env):
    l_amd = _gz_tar({"arch": b"amd64\n"})
    l_arm = _gz_tar({"arch": b"arm64\n"})

    async def go(fake: FakeRegistry):
        amd = fake.add_image([l_amd], "amd")
        arm = fake.add_image([l_arm], "arm")
        idx = json.dumps({"schemaVersion": 2, "mediaType": mf.MEDIA_TYPE_OCI_INDEX, "manifests": [
            {"mediaType": mf.MEDIA_TYPE_OCI_MANIFEST, "digest": arm["manifest"], "size": len(arm["man_bytes"]),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": mf.MEDIA_TYPE_OCI_MANIFEST, "digest": amd["manifest"], "size": len(amd["man_bytes"]),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]}).encode()
        fake.manifests["multi"] = (mf.MEDIA_TYPE_OCI_INDEX, idx)
        msgs: list[dict] = []
        rec = await env.svc.pull(f"127.0.0.1:{fake.port}/test/img:multi", progress=msgs.append)
        assert {"status": f"Digest: {_d(idx)}"} in msgs
        rec_arm = await env.svc.pull(f"127.0.0.1:{fake.port}/test/img:multi", platform="linux/arm64")
        return amd, arm, idx, rec, rec_arm
    amd, arm, idx, rec, rec_arm = _with_fake(go)
    assert rec.id == amd["config"]
    assert rec_arm.id == arm["config"]
    assert rec.diff_ids == amd["diffs"]
    assert env.content.exists(_d(idx))
    # the repo digest is the index's, as Docker records it
    assert any(d.endswith("@" + _d(idx)) for d in rec.repo_digests)


def test_basic_auth_and_blob_redirect(env):
    l1 = _gz_tar({"a.txt": b"basic\n"})

    async def go(fake: FakeRegistry):
        info = fake.add_image([l1], "b")
        with pytest.raises(Unauthorized, match="authentication required"):
            await env.svc.pull(f"127.0.0.1:{fake.port}/basic/img:b")
        with pytest.raises(Unauthorized):
            await env.svc.pull(f"127.0.0.1:{fake.port}/basic/img:b", auth={"username": "u", "password": "bad"})
        rec = await env.svc.pull(f"127.0.0.1:{fake.port}/basic/img:b", auth={"username": "u", "password": "p"})
        return info, rec
    info, rec = _with_fake(go)
    assert rec.id == info["config"]
    assert env.content.exists(info["layers"][0])


def test_concurrent_pulls_of_one_image(env, registry):
    async def go():
        return await asyncio.gather(env.svc.pull(f"{registry}/library/layered"),
                                    env.svc.pull(f"{registry}/library/layered"),
                                    env.svc.pull(f"{registry}/library/web"))
    a, b, c = run(go())
    assert a.id == b.id == LAYERED_ID
    kinds = env.keys()
    assert all(kinds.get(x) == "committed" for x in a.chain_ids + c.chain_ids)
    assert not any(k.startswith("extract-") for k in kinds)
    assert len(kinds) == 5
    assert env.ingest() == []


def test_pull_by_digest(env, registry):
    rec = run(env.svc.pull(f"{registry}/library/busybox@{BUSYBOX_MANIFEST}"))
    assert rec.id == BUSYBOX_ID
    assert rec.repo_tags == []
    assert rec.repo_digests == [f"{registry}/library/busybox@{BUSYBOX_MANIFEST}"]
    assert env.svc.resolve(f"{registry}/library/busybox@{BUSYBOX_MANIFEST}").id == BUSYBOX_ID


def test_cleanup_removes_half_made(env, registry):
    env.sn.prepare("extract-deadbeef-000000000000", "")
    w = env.content.writer()
    w.write(b"half")
    env.svc.cleanup()
    assert "extract-deadbeef-000000000000" not in env.keys()
    assert env.ingest() == []


# --- the token-auth registry --------------------------------------------------------

AUTH_PORT = 5010


@pytest.fixture(scope="module")
def auth_registry(fixtures_dir, shared_dir):
    script = str(shared_dir / "fixtures" / "registry")
    renv = dict(os.environ, REGISTRY_DIR=f"/tmp/skifftest-authreg-{AUTH_PORT}")
    subprocess.run([script, "start-auth", str(AUTH_PORT)], check=True, stdout=subprocess.DEVNULL, env=renv)
    try:
        # the script does not wait for its token server (PORT+1) when cert.pem already exists
        import socket
        import time
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", AUTH_PORT + 1), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run([script, "push", str(fixtures_dir), str(AUTH_PORT)], check=True,
                       stdout=subprocess.DEVNULL, env=dict(renv, REGISTRY_CREDS="tester:secret"))
        yield f"127.0.0.1:{AUTH_PORT}"
    finally:
        subprocess.run([script, "stop", str(AUTH_PORT)], stdout=subprocess.DEVNULL, env=renv)
        shutil.rmtree(renv["REGISTRY_DIR"], ignore_errors=True)


@pytest.mark.slow
def test_auth_anonymous_pull_of_library(env, auth_registry):
    rec = run(env.svc.pull(f"{auth_registry}/library/busybox"))
    assert rec.id == BUSYBOX_ID


@pytest.mark.slow
def test_auth_credentials_pull(env, auth_registry):
    rec = run(env.svc.pull(f"{auth_registry}/library/web", auth={"username": "tester", "password": "secret"}))
    assert rec.repo_tags == [f"{auth_registry}/library/web:latest"]


@pytest.mark.slow
def test_auth_wrong_password(env, auth_registry):
    with pytest.raises(Unauthorized, match="incorrect username or password") as ei:
        run(env.svc.pull(f"{auth_registry}/library/busybox", auth={"username": "tester", "password": "nope"}))
    assert ei.value.status == 401
    assert env.keys() == {}


@pytest.mark.slow
def test_auth_anonymous_denied_outside_library(env, auth_registry):
    with pytest.raises(Unauthorized, match="authentication required|denied"):
        run(env.svc.pull(f"{auth_registry}/private/thing"))


@pytest.mark.slow
def test_auth_basic_b64_auth_field(env, auth_registry):
    import base64
    rec = run(env.svc.pull(f"{auth_registry}/library/busybox:zstd",
                           auth={"auth": base64.b64encode(b"tester:secret").decode()}))
    assert rec.id == BUSYBOX_ID


def test_insecure_registry_falls_back_to_http(registry):
    """An insecure (non-loopback) registry is tried with HTTPS first, then HTTP."""
    from skiff.images.registry import Endpoint

    async def go():
        async with RegistryClient() as rc:
            ep = Endpoint(f"https://{registry}", insecure=True)
            got = await rc.get_manifest(parse(f"{registry}/library/busybox"), "latest", ep)
            return got, rc._scheme_of
    got, schemes = run(go())
    assert got.digest == BUSYBOX_MANIFEST
    assert schemes == {f"https://{registry}": f"http://{registry}"}
