"""Manifests, indexes, platform selection, compression, configs and chainIDs."""

from __future__ import annotations

import hashlib
import json

import pytest

from skiff.errors import InvalidArgument, NotFound
from skiff.images import manifest as mf
from skiff.types import Platform

FIXTURE_DIFFS = [
    "sha256:e21e0df1068b681393b66af3fb288433fac1ce7df65b96d1ffb9dc457cfbf121",
    "sha256:413ec1e27f227170fe4385a05f292dd775caea00100b8cd2ac163ca2ecf89530",
]


def desc(digest_char: str, mt: str, plat: dict | None = None) -> dict:
    d = {"mediaType": mt, "digest": "sha256:" + digest_char * 64, "size": 100}
    if plat:
        d["platform"] = plat
    return d


def index(entries, mt=mf.MEDIA_TYPE_OCI_INDEX) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": mt, "manifests": entries}).encode()


MULTI = index([
    desc("1", mf.MEDIA_TYPE_OCI_MANIFEST, {"os": "linux", "architecture": "arm", "variant": "v7"}),
    desc("2", mf.MEDIA_TYPE_OCI_MANIFEST, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
    desc("3", mf.MEDIA_TYPE_OCI_MANIFEST, {"os": "unknown", "architecture": "unknown"}),
    desc("4", mf.MEDIA_TYPE_OCI_MANIFEST, {"os": "linux", "architecture": "amd64"}),
    desc("5", mf.MEDIA_TYPE_OCI_MANIFEST, {"os": "windows", "architecture": "amd64"}),
    desc("6", mf.MEDIA_TYPE_OCI_MANIFEST, {"os": "linux", "architecture": "arm", "variant": "v6"}),
])


def test_parse_oci_manifest_from_fixture(fixtures_dir):
    idx = json.loads((fixtures_dir / "oci" / "index.json").read_text())
    d = idx["manifests"][1]["digest"]
    raw = (fixtures_dir / "oci" / "blobs" / "sha256" / d[7:]).read_bytes()
    m = mf.parse(raw, mf.MEDIA_TYPE_OCI_MANIFEST)
    assert isinstance(m, mf.Manifest)
    assert m.config.media_type == mf.MEDIA_TYPE_OCI_CONFIG
    assert len(m.layers) == 4
    assert all(mf.layer_compression(x.media_type) == "gzip" for x in m.layers)
    cfg = mf.parse_config((fixtures_dir / "oci" / "blobs" / "sha256" / m.config.digest[7:]).read_bytes())
    assert len(mf.diff_ids(cfg)) == 4
    assert cfg["config"]["WorkingDir"] == "/app"


def test_parse_docker_manifest_and_list():
    man = json.dumps({"schemaVersion": 2, "mediaType": mf.MEDIA_TYPE_DOCKER_MANIFEST,
                      "config": desc("a", mf.MEDIA_TYPE_DOCKER_CONFIG),
                      "layers": [desc("b", mf.MEDIA_TYPE_DOCKER_LAYER_GZIP)]}).encode()
    m = mf.parse(man, mf.MEDIA_TYPE_DOCKER_MANIFEST)
    assert isinstance(m, mf.Manifest) and m.media_type == mf.MEDIA_TYPE_DOCKER_MANIFEST
    assert m.layers[0].digest == "sha256:" + "b" * 64
    lst = mf.parse(index([desc("c", mf.MEDIA_TYPE_DOCKER_MANIFEST, {"os": "linux", "architecture": "amd64"})],
                         mf.MEDIA_TYPE_DOCKER_MANIFEST_LIST), mf.MEDIA_TYPE_DOCKER_MANIFEST_LIST)
    assert isinstance(lst, mf.Index)
    assert lst.manifests[0].platform == Platform("linux", "amd64")


def test_parse_without_media_type_uses_shape():
    m = mf.parse(json.dumps({"schemaVersion": 2, "config": desc("a", mf.MEDIA_TYPE_OCI_CONFIG),
                             "layers": []}).encode(), "application/octet-stream")
    assert isinstance(m, mf.Manifest)
    i = mf.parse(json.dumps({"schemaVersion": 2, "manifests": []}).encode())
    assert isinstance(i, mf.Index)


@pytest.mark.parametrize("raw", [b"not json", b"[]", json.dumps({"schemaVersion": 1, "name": "x"}).encode(),
                                 json.dumps({"mediaType": mf.MEDIA_TYPE_OCI_MANIFEST}).encode(),
                                 json.dumps({"mediaType": "application/x-weird"}).encode()])
def test_parse_rejects(raw):
    with pytest.raises(InvalidArgument):
        mf.parse(raw)


def test_schema1_message():
    with pytest.raises(InvalidArgument, match="schema 1"):
        mf.parse(json.dumps({"schemaVersion": 1}).encode(), mf.MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED)


def test_select_host_platform_on_index():
    i = mf.parse(MULTI)
    assert mf.select_platform(i, Platform("linux", "amd64")).digest == "sha256:" + "4" * 64
    assert mf.select_platform(i, Platform("linux", "arm64", "v8")).digest == "sha256:" + "2" * 64
    assert mf.select_platform(i, Platform("linux", "arm", "v7")).digest == "sha256:" + "1" * 64
    assert mf.select_platform(i, Platform("linux", "arm", "v6")).digest == "sha256:" + "6" * 64
    assert mf.select_platform(i, Platform("windows", "amd64")).digest == "sha256:" + "5" * 64
    # default: the host's (linux/amd64 on this machine)
    assert mf.host_platform() == Platform("linux", "amd64")
    assert mf.select_platform(i).digest == "sha256:" + "4" * 64


def test_select_platform_missing():
    i = mf.parse(MULTI)
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x in the manifest list entries"):
        mf.select_platform(i, Platform("linux", "s390x"))


def test_select_prefers_exact_variant():
    i = mf.parse(index([
        desc("1", mf.MEDIA_TYPE_OCI_MANIFEST, {"os": "linux", "architecture": "arm"}),
        desc("2", mf.MEDIA_TYPE_OCI_MANIFEST, {"os": "linux", "architecture": "arm", "variant": "v7"}),
    ]))
    assert mf.select_platform(i, Platform("linux", "arm", "v7")).digest == "sha256:" + "2" * 64


def test_parse_platform():
    assert mf.parse_platform("linux/amd64") == Platform("linux", "amd64")
    assert mf.parse_platform("linux/arm64") == Platform("linux", "arm64", "v8")
    assert mf.parse_platform("linux/arm/v7") == Platform("linux", "arm", "v7")
    assert mf.parse_platform("") == mf.host_platform()
    assert mf.parse_platform(None) == mf.host_platform()
    assert mf.parse_platform("linux/x86_64") == Platform("linux", "amd64")
    with pytest.raises(InvalidArgument):
        mf.parse_platform("linux//x")


@pytest.mark.parametrize("mt,comp", [
    (mf.MEDIA_TYPE_DOCKER_LAYER_GZIP, "gzip"),
    (mf.MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP, "gzip"),
    (mf.MEDIA_TYPE_OCI_LAYER_GZIP, "gzip"),
    (mf.MEDIA_TYPE_OCI_LAYER_ZSTD, "zstd"),
    (mf.MEDIA_TYPE_OCI_LAYER, "none"),
    (mf.MEDIA_TYPE_DOCKER_LAYER, "none"),
    (mf.MEDIA_TYPE_OCI_LAYER_ND_GZIP, "gzip"),
    (mf.MEDIA_TYPE_OCI_LAYER_ND_ZSTD, "zstd"),
])
def test_layer_compression(mt, comp):
    assert mf.layer_compression(mt) == comp


def test_layer_compression_rejects_non_layer():
    with pytest.raises(InvalidArgument):
        mf.layer_compression(mf.MEDIA_TYPE_OCI_CONFIG)


def test_sniff_compression():
    import gzip
    import zstandard
    assert mf.sniff_compression(gzip.compress(b"x")[:8]) == "gzip"
    assert mf.sniff_compression(zstandard.ZstdCompressor().compress(b"x")[:8]) == "zstd"
    assert mf.sniff_compression(b"ustar\0\0\0") == "none"


def test_chain_ids_spec():
    assert mf.chain_ids([]) == []
    assert mf.chain_ids(FIXTURE_DIFFS[:1]) == FIXTURE_DIFFS[:1]
    c = mf.chain_ids(FIXTURE_DIFFS)
    assert c[1] == "sha256:" + hashlib.sha256(f"{FIXTURE_DIFFS[0]} {FIXTURE_DIFFS[1]}".encode()).hexdigest()
    three = mf.chain_ids(FIXTURE_DIFFS + [FIXTURE_DIFFS[0]])
    assert three[2] == "sha256:" + hashlib.sha256(f"{c[1]} {FIXTURE_DIFFS[0]}".encode()).hexdigest()


def test_parse_config_validates():
    with pytest.raises(InvalidArgument):
        mf.parse_config(b"{")
    with pytest.raises(InvalidArgument):
        mf.parse_config(json.dumps({"rootfs": {"diff_ids": ["md5:x"]}}).encode())
    assert mf.parse_config(json.dumps({"rootfs": {"type": "layers", "diff_ids": FIXTURE_DIFFS}}).encode())


def test_make_manifest_roundtrip():
    from skiff.types import Descriptor
    raw = mf.make_manifest("sha256:" + "c" * 64, 10, [Descriptor(mf.MEDIA_TYPE_OCI_LAYER, "sha256:" + "d" * 64, 5)])
    m = mf.parse(raw)
    assert isinstance(m, mf.Manifest) and m.layers[0].size == 5 and m.config.size == 10
