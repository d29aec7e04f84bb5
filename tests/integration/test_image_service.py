"""ImageService against a real snapshotter: load, import, resolve, list,
inspect, tag and remove with Docker's semantics, and case 019 end to end at
the service level."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest
import zstandard

from skiff.content.store import ContentStore
from skiff.errors import Conflict, InvalidArgument, InvalidReference, NotFound
from skiff.metadata.db import Database
from skiff.services.images import ImageService
from skiff.snapshots import open_snapshotter

pytestmark = pytest.mark.integration

BUSYBOX_ID = "sha256:912b387f618c436724da365997f66c164f4ed8766302c658f881ea93ea785a44"
BUSYBOX_DIFF = "sha256:e21e0df1068b681393b66af3fb288433fac1ce7df65b96d1ffb9dc457cfbf121"
LAYERED_ID = "sha256:4b9a303fe98cd21811d6251042be11272e617cc5bdb63e07b3fad9e4b8286883"
WEB_ID = "sha256:24d49dd9baba3de42af79f91528b77cfcc5dd770fbffdf20be95977dff74e7c4"
Z64 = "0" * 64


class Env:
    def __init__(self, root: str):
        self.root = root
        self.db = Database(os.path.join(root, "metadata.db"))
        self.content = ContentStore(os.path.join(root, "content"))
        self.sn = open_snapshotter(os.path.join(root, "snapshots"), self.db)
        self.users: dict[str, list[str]] = {}
        self.svc = ImageService(self.db, self.content, self.sn, in_use=lambda i: self.users.get(i, []))

    def keys(self) -> dict[str, str]:
        return {i.key: i.kind for i in self.sn.walk()}

    def load(self, path) -> list[str]:
        with open(path, "rb") as f:
            return asyncio.run(self.svc.load(f))


@pytest.fixture
def env():
    root = tempfile.mkdtemp(prefix="skifftest-imgsvc-")
    e = Env(root)
    yield e
    e.db.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def busybox(env, fixtures_dir):
    env.load(fixtures_dir / "archives" / "busybox.docker.tar")
    return env


def view_check(env: Env, chain: str, shared_dir, fixtures_dir) -> subprocess.CompletedProcess:
    from skiff.snapshots.mount import mount_all, unmount
    key = "skifftest-view"
    mounts = env.sn.view(key, chain)
    target = tempfile.mkdtemp(prefix="skifftest-mnt-")
    mount_all(mounts, target)
    try:
        return subprocess.run([sys.executable, str(shared_dir / "fixtures" / "check_tree.py"),
                               str(fixtures_dir / "expected" / "layered.json"), target],
                              capture_output=True, text=True)
    finally:
        unmount(target)
        os.rmdir(target)
        env.sn.remove(key)


# --- load -------------------------------------------------------------------------

@pytest.mark.parametrize("name,image_id", [("busybox", BUSYBOX_ID), ("layered", LAYERED_ID), ("web", WEB_ID)])
@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_load_fixture_archives(env, fixtures_dir, name, image_id, fmt):
    lines = env.load(fixtures_dir / "archives" / f"{name}.{fmt}.tar")
    assert lines == [f"Loaded image: {name}:latest"]
    rec = env.svc.resolve(f"{name}:latest")
    assert rec.id == image_id
    assert rec.repo_tags == [f"{name}:latest"]
    assert all(env.keys().get(c) == "committed" for c in rec.chain_ids)
    assert not any(k.startswith("extract-") for k in env.keys())
    assert os.listdir(os.path.join(env.content.root, "ingest")) == []
    assert env.content.exists(rec.id)


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_loaded_layered_tree_matches_fixture(env, fixtures_dir, shared_dir, fmt):
    env.load(fixtures_dir / "archives" / f"layered.{fmt}.tar")
    rec = env.svc.resolve("layered")
    p = view_check(env, rec.top_chain_id, shared_dir, fixtures_dir)
    assert p.returncode == 0, p.stdout + p.stderr


def test_load_twice_and_shared_layers(env, fixtures_dir):
    env.load(fixtures_dir / "archives" / "busybox.docker.tar")
    assert env.load(fixtures_dir / "archives" / "busybox.oci.tar") == ["Loaded image: busybox:latest"]
    env.load(fixtures_dir / "archives" / "web.docker.tar")
    committed = [k for k, v in env.keys().items() if v == "committed"]
    assert len(committed) == 2  # busybox's layer + web's
    assert len(env.svc.list()) == 2


def test_load_compressed_stream(env, fixtures_dir):
    raw = (fixtures_dir / "archives" / "busybox.docker.tar").read_bytes()
    lines = asyncio.run(env.svc.load(io.BytesIO(gzip.compress(raw))))
    assert lines == ["Loaded image: busybox:latest"]


def test_load_and_import_from_async_streams(env, fixtures_dir):
    """The API hands aiohttp's request.content: an asyncio stream, spooled first."""
    class AsyncStream:
        def __init__(self, data: bytes):
            self.buf = io.BytesIO(data)

        async def read(self, n: int = -1) -> bytes:
            return self.buf.read(n)

    raw = (fixtures_dir / "archives" / "web.oci.tar").read_bytes()
    assert asyncio.run(env.svc.load(AsyncStream(raw))) == ["Loaded image: web:latest"]

    async def chunks():
        tar = rootfs_tar({"etc/z": b"z"})
        for i in range(0, len(tar), 1000):
            yield tar[i:i + 1000]
    image_id = asyncio.run(env.svc.import_tar(chunks(), "skifftest/async", [], ""))
    assert env.svc.resolve("skifftest/async").id == image_id
    assert os.listdir(os.path.join(env.content.root, "ingest")) == []


def test_load_moves_tag(env, fixtures_dir):
    env.load(fixtures_dir / "archives" / "web.docker.tar")
    env.svc.tag("web", "busybox", "latest")
    lines = env.load(fixtures_dir / "archives" / "busybox.docker.tar")
    assert lines == [f"The image busybox:latest already exists, renaming the old one with ID {WEB_ID} "
                     "to empty string", "Loaded image: busybox:latest"]


def test_load_garbage(env):
    with pytest.raises(InvalidArgument):
        asyncio.run(env.svc.load(io.BytesIO(b"this is not a tar archive at all" * 100)))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("hello")
        ti.size = 2
        tf.addfile(ti, io.BytesIO(b"hi"))
    with pytest.raises(InvalidArgument, match="manifest.json or index.json"):
        asyncio.run(env.svc.load(io.BytesIO(buf.getvalue())))
    assert os.listdir(os.path.join(env.content.root, "ingest")) == []


# --- import -------------------------------------------------------------------------

def rootfs_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        d = tarfile.TarInfo("etc")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        tf.addfile(d)
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("comp", ["none", "gzip", "zstd"])
def test_import(env, comp):
    tar = rootfs_tar({"etc/motd": b"imported\n"})
    data = {"none": tar, "gzip": gzip.compress(tar), "zstd": zstandard.ZstdCompressor().compress(tar)}[comp]
    image_id = asyncio.run(env.svc.import_tar(io.BytesIO(data), "skifftest/imp:v1",
                                              ['CMD ["/bin/sh"]', "ENV A=b C=d", "EXPOSE 80", "WORKDIR /etc",
                                               "LABEL x=y"], "my message"))
    rec = env.svc.resolve("skifftest/imp:v1")
    assert rec.id == image_id
    cfg = rec.config["config"]
    assert cfg["Cmd"] == ["/bin/sh"]
    assert cfg["Env"] == ["A=b", "C=d"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}}
    assert cfg["WorkingDir"] == "/etc"
    assert cfg["Labels"] == {"x": "y"}
    import hashlib
    assert rec.diff_ids == ["sha256:" + hashlib.sha256(tar).hexdigest()]
    assert env.keys() == {rec.diff_ids[0]: "committed"}
    ins = env.svc.inspect(image_id)
    assert ins["Comment"] == "my message"
    assert ins["RootFS"] == {"Type": "layers", "Layers": rec.diff_ids}
    assert ins["Os"] == "linux" and ins["Architecture"] == "amd64"
    assert env.content.exists(rec.diff_ids[0])  # the uncompressed layer blob


def test_import_untagged_and_default_message(env):
    image_id = asyncio.run(env.svc.import_tar(io.BytesIO(rootfs_tar({"etc/a": b"a"})), None, [], ""))
    assert env.svc.inspect(image_id)["Comment"] == "Imported from -"
    assert env.svc.list()[0]["RepoTags"] == ["<none>:<none>"]


def test_import_bad_change(env):
    with pytest.raises(InvalidArgument, match="not a valid change command"):
        asyncio.run(env.svc.import_tar(io.BytesIO(rootfs_tar({})), None, ["RUN echo hi"], ""))
    with pytest.raises(InvalidReference):
        asyncio.run(env.svc.import_tar(io.BytesIO(rootfs_tar({})), "Bad/Name", [], ""))


def test_import_corrupt_gzip_leaves_nothing(env):
    data = gzip.compress(rootfs_tar({"etc/a": b"a" * 10000}))[:-20]
    with pytest.raises(Exception):
        asyncio.run(env.svc.import_tar(io.BytesIO(data), "skifftest/bad", [], ""))
    assert env.keys() == {}
    assert os.listdir(os.path.join(env.content.root, "ingest")) == []
    assert env.svc.list() == []


# --- resolve / inspect / list -------------------------------------------------------------

def test_resolve_forms(busybox):
    svc = busybox.svc
    for s in ("busybox", "busybox:latest", "docker.io/library/busybox:latest", "docker.io/busybox",
              "index.docker.io/library/busybox", BUSYBOX_ID, BUSYBOX_ID[7:], BUSYBOX_ID[7:19], BUSYBOX_ID[:19],
              BUSYBOX_ID[7:10]):
        assert svc.resolve(s).id == BUSYBOX_ID, s
    with pytest.raises(NotFound, match="^No such image: busybox:1.0$"):
        svc.resolve("busybox:1.0")
    with pytest.raises(NotFound, match="^No such image: nothing:latest$"):
        svc.resolve("nothing")
    with pytest.raises(InvalidReference):
        svc.resolve("Bad/UPPER")


def test_inspect_shape(busybox):
    ins = busybox.svc.inspect("busybox")
    assert ins["Id"] == BUSYBOX_ID
    assert ins["RepoTags"] == ["busybox:latest"]
    assert ins["Config"]["Cmd"] == ["sh"]
    assert ins["Config"]["Env"] == ["PATH=/bin"]
    assert ins["Config"]["Entrypoint"] is None and ins["Config"]["User"] == ""
    assert ins["Created"].startswith("2024-01-01T00:00:00")
    assert ins["RootFS"] == {"Type": "layers", "Layers": [BUSYBOX_DIFF]}
    assert ins["Size"] > 1_000_000
    assert ins["Os"] == "linux" and ins["Architecture"] == "amd64"
    assert ins["GraphDriver"]["Name"] in ("overlay2", "vfs")
    assert ins["Metadata"]["LastTagTime"]
    assert set(ins) >= {"Parent", "Comment", "RepoDigests"}


def test_list_shape_and_filters(busybox, fixtures_dir):
    env = busybox
    env.load(fixtures_dir / "archives" / "layered.docker.tar")
    env.svc.tag("busybox", "localhost:5000/skifftest/a/b")
    out = env.svc.list()
    assert {i["Id"] for i in out} == {BUSYBOX_ID, LAYERED_ID}
    bb = next(i for i in out if i["Id"] == BUSYBOX_ID)
    assert sorted(bb["RepoTags"]) == ["busybox:latest", "localhost:5000/skifftest/a/b:latest"]
    assert bb["Created"] == 1704067200 and bb["Size"] > 0 and bb["Containers"] == -1
    assert set(bb) == {"Id", "ParentId", "RepoTags", "RepoDigests", "Created", "Size", "SharedSize",
                       "VirtualSize", "Labels", "Containers"}
    only = env.svc.list(filters={"reference": ["localhost:5000/skifftest/a/b"]})
    assert [i["RepoTags"] for i in only] == [["localhost:5000/skifftest/a/b:latest"]]
    assert [i["Id"] for i in env.svc.list(filters={"reference": ["bus*"]})] == [BUSYBOX_ID]
    assert env.svc.list(filters={"reference": {"nomatch": True}}) == []
    assert [i["Id"] for i in env.svc.list(filters={"label": ["org.example.fixture=layered"]})] == [LAYERED_ID]
    assert [i["Id"] for i in env.svc.list(filters={"label": ["org.example.fixture"]})] == [LAYERED_ID]
    assert env.svc.list(filters={"label": ["org.example.fixture=other"]}) == []
    assert env.svc.list(filters={"dangling": ["true"]}) == []
    env.svc.remove("layered:latest")
    assert [i["Id"] for i in env.svc.list(filters={"dangling": ["false"]})] == [BUSYBOX_ID]


# --- tag ------------------------------------------------------------------------------

R = "case019-42"


@pytest.mark.parametrize("target", [f"localhost:5000/{R}/a/b", f"Localhost:5000/{R}/x:v1", f"{R}/a__b:ok",
                                    f"{R}/a.b-c:1.0_RC-2"])
def test_019_tag_accepts(busybox, target):
    busybox.svc.tag("busybox", target)
    assert busybox.svc.resolve(target).id == BUSYBOX_ID


@pytest.mark.parametrize("target", [f"registry.example.org/{R}/MyApp", f"{R}/UPPER", f"{R}//double",
                                    f"{R}/a___b", f"{R}/t:-bad", f"{R}/t:" + "a" * 129,
                                    f"{R}/x:tag@sha256:{Z64}"])
def test_019_tag_rejects(busybox, target):
    with pytest.raises(InvalidReference):
        busybox.svc.tag("busybox", target)
    assert len(busybox.svc.list()[0]["RepoTags"]) == 1


def test_019_service_level(busybox):
    svc = busybox.svc
    svc.tag("busybox", f"localhost:5000/{R}/a/b")
    assert svc.inspect(f"localhost:5000/{R}/a/b:latest")["Id"] == BUSYBOX_ID  # default tag latest
    lst = svc.list(filters={"reference": [f"localhost:5000/{R}/a/b"]})
    assert lst[0]["RepoTags"] == [f"localhost:5000/{R}/a/b:latest"]
    with pytest.raises(InvalidReference, match="lowercase"):
        svc.tag("busybox", f"{R}/UPPER")
    with pytest.raises(NotFound) as ei:
        svc.inspect(f"busybox:1.0@sha256:{Z64}")
    assert "invalid reference" not in str(ei.value)
    assert str(ei.value) == f"No such image: busybox:1.0@sha256:{Z64}"
    assert svc.inspect("docker.io/library/busybox:latest")["Id"] == svc.inspect("busybox")["Id"]


def test_tag_separate_tag_argument(busybox):
    svc = busybox.svc
    svc.tag("busybox", "skifftest/x", "v2")
    assert svc.resolve("skifftest/x:v2").id == BUSYBOX_ID
    with pytest.raises(InvalidReference, match="invalid tag format"):
        svc.tag("busybox", "skifftest/x", "-v")
    with pytest.raises(InvalidReference, match="digest"):
        svc.tag("busybox", f"skifftest/x@sha256:{Z64}")
    with pytest.raises(NotFound):
        svc.tag("nothing", "skifftest/x")


# --- remove ------------------------------------------------------------------------------

def test_remove_by_tag_with_other_tags_only_untags(busybox):
    svc = busybox.svc
    svc.tag("busybox", "skifftest/other")
    assert svc.remove("skifftest/other") == [{"Untagged": "skifftest/other:latest"}]
    assert svc.resolve("busybox").id == BUSYBOX_ID
    assert BUSYBOX_DIFF in busybox.keys()


def test_remove_last_tag_deletes_image_layers_and_blobs(busybox):
    svc = busybox.svc
    rec = svc.resolve("busybox")
    out = svc.remove("busybox")
    assert out == [{"Untagged": "busybox:latest"}, {"Deleted": BUSYBOX_ID}, {"Deleted": BUSYBOX_DIFF}]
    assert busybox.keys() == {}
    assert not busybox.content.exists(BUSYBOX_ID)
    assert not any(busybox.content.exists(b) for b in rec.blobs)
    assert list(busybox.content.walk()) == []
    with pytest.raises(NotFound):
        svc.resolve("busybox")
    with pytest.raises(NotFound, match="No such image: busybox:latest"):
        svc.remove("busybox")


def test_remove_keeps_layers_other_images_need(busybox, fixtures_dir):
    busybox.load(fixtures_dir / "archives" / "web.docker.tar")
    out = busybox.svc.remove("web")
    assert out[:2] == [{"Untagged": "web:latest"}, {"Deleted": WEB_ID}]
    assert {"Deleted": BUSYBOX_DIFF} not in out
    assert BUSYBOX_DIFF in busybox.keys()
    assert len(busybox.keys()) == 1
    assert busybox.svc.resolve("busybox").id == BUSYBOX_ID


def test_remove_by_id_multiple_repos_needs_force(busybox):
    svc = busybox.svc
    svc.tag("busybox", "skifftest/other")
    with pytest.raises(Conflict, match=r"unable to delete 912b387f618c \(must be forced\) - image is referenced "
                                       r"in multiple repositories"):
        svc.remove(BUSYBOX_ID[7:19])
    out = svc.remove(BUSYBOX_ID[7:19], force=True)
    assert {"Untagged": "busybox:latest"} in out and {"Untagged": "skifftest/other:latest"} in out
    assert {"Deleted": BUSYBOX_ID} in out


def test_remove_by_id_single_repo(busybox):
    """One tag plus digests of the same repository: removing by id untags all."""
    svc = busybox.svc
    rec = svc.resolve("busybox")
    svc.store.set_digest(f"docker.io/library/busybox@{rec.manifest_digest}", rec.id)
    out = svc.remove(BUSYBOX_ID)
    assert out[:2] == [{"Untagged": "busybox:latest"}, {"Untagged": f"busybox@{rec.manifest_digest}"}]
    assert out[2] == {"Deleted": BUSYBOX_ID}


def test_remove_by_id_two_tags_is_docker_conflict(busybox):
    """Docker's isSingleReference: two tags, even of one repository, need -f."""
    svc = busybox.svc
    svc.tag("busybox", "busybox:v2")
    with pytest.raises(Conflict, match="must be forced"):
        svc.remove(BUSYBOX_ID)


def test_remove_in_use(busybox):
    svc = busybox.svc
    busybox.users[BUSYBOX_ID] = ["c0ffee" * 10 + "abcd"]
    with pytest.raises(Conflict, match=r'unable to remove repository reference "busybox" \(must force\) - '
                                       r"container c0ffeec0ffee is using its referenced image 912b387f618c"):
        svc.remove("busybox")
    with pytest.raises(Conflict, match=r"\(must be forced\) - image is being used by stopped container c0ffeec0ffee"):
        svc.remove(BUSYBOX_ID)
    assert svc.resolve("busybox").id == BUSYBOX_ID
    # a container's snapshot on top of the layer keeps the layer even when forced
    busybox.sn.prepare("skifftest-ctr", BUSYBOX_DIFF)
    out = svc.remove("busybox", force=True)
    assert {"Deleted": BUSYBOX_ID} in out
    assert {"Deleted": BUSYBOX_DIFF} not in out
    assert BUSYBOX_DIFF in busybox.keys()
    busybox.sn.remove("skifftest-ctr")


def test_remove_digest_reference(env, fixtures_dir):
    env.load(fixtures_dir / "archives" / "busybox.docker.tar")
    svc = env.svc
    rec = svc.resolve("busybox")
    svc.store.set_digest(f"docker.io/library/busybox@{rec.manifest_digest}", rec.id)
    assert svc.resolve(f"busybox@{rec.manifest_digest}").id == rec.id
    assert svc.inspect("busybox")["RepoDigests"] == [f"busybox@{rec.manifest_digest}"]
    # untagging the last tag of the repository also drops its digests, then deletes
    out = svc.remove("busybox:latest")
    assert out[:2] == [{"Untagged": "busybox:latest"}, {"Untagged": f"busybox@{rec.manifest_digest}"}]
    assert {"Deleted": rec.id} in out


def test_prune_dangling(busybox, fixtures_dir):
    svc = busybox.svc
    image_id = asyncio.run(svc.import_tar(io.BytesIO(rootfs_tar({"etc/x": b"x"})), None, [], ""))
    out = svc.prune()
    assert {"Deleted": image_id} in out["ImagesDeleted"]
    assert svc.resolve("busybox").id == BUSYBOX_ID
    assert [i["Id"] for i in svc.list()] == [BUSYBOX_ID]


def test_history(busybox, fixtures_dir):
    busybox.load(fixtures_dir / "archives" / "layered.docker.tar")
    h = busybox.svc.history("layered")
    assert len(h) == 4
    assert h[0]["Id"] == LAYERED_ID and h[0]["CreatedBy"] == "layer 4" and h[0]["Tags"] == ["layered:latest"]
    assert h[-1]["CreatedBy"] == "busybox-static rootfs" and h[-1]["Size"] > 1_000_000


# --- images made by build/commit, and events ------------------------------------------------

class Bus:
    def __init__(self):
        self.events: list[tuple] = []

    def publish(self, type_, action, actor_id, attributes=None):
        self.events.append((type_, action, actor_id, dict(attributes or {})))


def test_register_image_parent_and_prune(busybox):
    svc = busybox.svc
    base = svc.resolve("busybox")
    cfg = dict(base.config, config=dict(base.config["config"], Cmd=["echo", "child"]))
    child = svc.register_image(cfg, parent=base.id, repo_tag="skifftest/child:1")
    assert child.id != base.id and child.chain_ids == base.chain_ids
    assert svc.inspect("skifftest/child:1")["Parent"] == base.id
    assert svc.inspect(child.id)["Config"]["Cmd"] == ["echo", "child"]
    assert [i["ParentId"] for i in svc.list() if i["Id"] == child.id] == [base.id]
    with pytest.raises(Conflict, match=r"\(cannot be forced\) - image has dependent child images"):
        svc.remove(base.id, force=True)
    # untag the parent: it stays (hidden from the default list) while the child needs it
    svc.remove("busybox")
    assert svc.resolve(base.id).id == base.id
    assert {i["Id"] for i in svc.list()} == {child.id}
    assert {i["Id"] for i in svc.list(all=True)} == {child.id, base.id}
    # removing the child prunes the untagged parent, then the layer goes
    out = svc.remove("skifftest/child:1")
    assert out == [{"Untagged": "skifftest/child:1"}, {"Deleted": child.id}, {"Deleted": base.id},
                   {"Deleted": BUSYBOX_DIFF}]
    assert busybox.keys() == {}


def test_register_image_missing_layer(env):
    with pytest.raises(NotFound, match="layer snapshot"):
        env.svc.register_image({"os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}})


def test_events_published(env, fixtures_dir):
    bus = Bus()
    svc = ImageService(env.db, env.content, env.sn, events=bus)
    with open(fixtures_dir / "archives" / "busybox.docker.tar", "rb") as f:
        asyncio.run(svc.load(f))
    svc.tag("busybox", "skifftest/ev")
    svc.remove("skifftest/ev")
    svc.remove("busybox")
    actions = [e[1] for e in bus.events]
    assert actions[0] == "load" and actions[1] == "tag"
    assert "untag" in actions and actions.count("delete") == 1
    assert all(e[0] == "image" for e in bus.events)


def test_gc_removes_orphans_only(busybox, fixtures_dir):
    env = busybox
    env.load(fixtures_dir / "archives" / "layered.docker.tar")
    layered = env.svc.resolve("layered")
    # simulate a daemon killed after the layers were committed but before the record
    env.svc.store.delete(layered.id)
    orphan = env.content.put(b"orphan blob")
    env.sn.prepare("skifftest-ctr", BUSYBOX_DIFF)  # a container on busybox
    out = env.svc.gc()
    assert sorted(out["snapshots"]) == sorted(layered.chain_ids[1:])
    assert orphan in out["blobs"] and layered.id in out["blobs"]
    assert BUSYBOX_DIFF in env.keys() and "skifftest-ctr" in env.keys()
    assert env.content.exists(BUSYBOX_ID)
    assert env.svc.resolve("busybox").id == BUSYBOX_ID
    env.sn.remove("skifftest-ctr")


def _docker_archive(layers: list[bytes], config: dict, repo_tags: list[str] | None) -> bytes:
    import hashlib
    import json
    buf = io.BytesIO()
    cfg = json.dumps(config).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    names = []
    with tarfile.open(fileobj=buf, mode="w") as tf:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        add(cfg_name, cfg)
        for i, data in enumerate(layers):
            names.append(f"l{i}/layer.tar")
            add(names[-1], data)
        add("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": repo_tags, "Layers": names}]).encode())
    return buf.getvalue()


def test_load_docker_archive_with_gzip_layer_and_no_tags(env):
    import hashlib
    import json
    tar = rootfs_tar({"etc/g": b"gzipped layer\n"})
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
    data = _docker_archive([gzip.compress(tar)], config, None)
    lines = asyncio.run(env.svc.load(io.BytesIO(data)))
    assert len(lines) == 1 and lines[0].startswith("Loaded image ID: sha256:")
    image_id = lines[0].split(": ", 1)[1]
    assert env.svc.inspect(image_id)["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]
    # a wrong diffID is refused and leaves nothing
    bad = dict(config, rootfs={"type": "layers", "diff_ids": ["sha256:" + "1" * 64]})
    with pytest.raises(Exception, match="diffID"):
        asyncio.run(env.svc.load(io.BytesIO(_docker_archive([tar], bad, ["skifftest/bad:1"]))))
    assert not any(k.startswith("extract-") for k in env.keys())
    assert "sha256:" + "1" * 64 not in env.keys()
    assert not env.content.exists("sha256:" + hashlib.sha256(json.dumps(bad).encode()).hexdigest())
    with pytest.raises(NotFound):
        env.svc.resolve("skifftest/bad:1")
