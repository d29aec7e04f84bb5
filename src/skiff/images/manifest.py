"""Manifests, indexes and image configs: OCI image-spec and Docker schema2.

- OCI image-spec manifest.md, image-index.md, config.md (incl.
  config.md#layer-chainid), media-types.md;
- Docker Image Manifest V2 Schema 2 and manifest list.

:func:`parse` turns bytes + media type into a :class:`Manifest` or
:class:`Index`; :func:`select_platform` picks the host's entry of an index;
:func:`layer_compression` maps a layer media type to "gzip", "zstd" or "none";
:func:`chain_ids` computes chainIDs from diffIDs.
"""

from __future__ import annotations

import hashlib
import json
import platform as _platform
from dataclasses import dataclass, field

from ..errors import InvalidArgument, NotFound
from ..types import Descriptor, Platform

# Manifests and indexes
MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_TYPE_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = (MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_MANIFEST)
INDEX_TYPES = (MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX)
#: what a registry client sends in Accept
ACCEPT = (MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
          MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST)

# Configs
MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_TYPE_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

# Layers
MEDIA_TYPE_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
MEDIA_TYPE_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_TYPE_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_TYPE_OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MEDIA_TYPE_OCI_LAYER_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MEDIA_TYPE_OCI_LAYER_ND_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

_COMPRESSION = {
    MEDIA_TYPE_DOCKER_LAYER_GZIP: "gzip",
    MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP: "gzip",
    MEDIA_TYPE_DOCKER_LAYER: "none",
    MEDIA_TYPE_OCI_LAYER: "none",
    MEDIA_TYPE_OCI_LAYER_GZIP: "gzip",
    MEDIA_TYPE_OCI_LAYER_ZSTD: "zstd",
    MEDIA_TYPE_OCI_LAYER_ND: "none",
    MEDIA_TYPE_OCI_LAYER_ND_GZIP: "gzip",
    MEDIA_TYPE_OCI_LAYER_ND_ZSTD: "zstd",
}

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"


def layer_compression(media_type: str) -> str:
    """"gzip", "zstd" or "none" for a layer media type (Docker or OCI).
    InvalidArgument for a media type that is not a layer."""
    c = _COMPRESSION.get(media_type)
    if c is None:
        # tolerate unknown vendors' "+gzip"/"+zstd" suffixes as containerd does
        if media_type.endswith("+gzip") or media_type.endswith(".gzip"):
            return "gzip"
        if media_type.endswith("+zstd"):
            return "zstd"
        if media_type.endswith(".tar") or media_type.endswith("tar"):
            return "none"
        raise InvalidArgument(f"unsupported layer media type {media_type!r}", media_type=media_type)
    return c


def sniff_compression(head: bytes) -> str:
    """"gzip", "zstd", "bzip2", "xz" or "none" from a stream's first bytes
    (as Docker's archive.DetectCompression)."""
    if head.startswith(b"\x1f\x8b\x08"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return "none"


@dataclass(frozen=True)
class Manifest:
    """An image manifest: ``config`` and ``layers`` descriptors, ``raw`` bytes."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict = field(default_factory=dict, hash=False, compare=False)
    raw: bytes = field(default=b"", repr=False, hash=False, compare=False)


@dataclass(frozen=True)
class Index:
    """A manifest list / image index: ``manifests`` descriptors with platforms."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict = field(default_factory=dict, hash=False, compare=False)
    raw: bytes = field(default=b"", repr=False, hash=False, compare=False)


def parse(data: bytes, media_type: str = "") -> Manifest | Index:
    """Parse a manifest or index. ``media_type`` is the Content-Type (may be
    empty or generic: then the document's ``mediaType`` or shape decides).
    InvalidArgument on schema1, malformed JSON or missing fields."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"invalid manifest: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid manifest: not a JSON object")
    mt = doc.get("mediaType") or ""
    if media_type in MANIFEST_TYPES + INDEX_TYPES:
        mt = mt or media_type
    if not mt:
        if "manifests" in doc:
            mt = MEDIA_TYPE_OCI_INDEX
        elif "config" in doc and "layers" in doc:
            mt = MEDIA_TYPE_OCI_MANIFEST
    if mt in (MEDIA_TYPE_DOCKER_SCHEMA1, MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED) or doc.get("schemaVersion") == 1:
        raise InvalidArgument("unsupported manifest format: Docker Image manifest version 2, "
                              "schema 1 is no longer supported")
    try:
        if mt in INDEX_TYPES:
            return Index(mt, tuple(Descriptor.from_json(d) for d in doc.get("manifests") or ()),
                         dict(doc.get("annotations") or {}), data)
        if mt in MANIFEST_TYPES:
            return Manifest(mt, Descriptor.from_json(doc["config"]),
                            tuple(Descriptor.from_json(d) for d in doc.get("layers") or ()),
                            dict(doc.get("annotations") or {}), data)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise InvalidArgument(f"invalid manifest: missing or bad field {e}") from None
    raise InvalidArgument(f"unsupported manifest media type {mt or media_type!r}", media_type=mt)


_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_platform() -> Platform:
    """The platform of this machine (linux/amd64 here), as containerd's platforms.DefaultSpec."""
    m = _platform.machine()
    arch = _ARCH.get(m, m)
    variant = ""
    if arch == "arm64":
        variant = "v8"
    elif m == "armv7l":
        variant = "v7"
    elif m == "armv6l":
        variant = "v6"
    return Platform("linux", arch, variant)


def parse_platform(s: str | None) -> Platform:
    """"os[/arch[/variant]]" or "arch" -> Platform; "" or None -> the host's.
    InvalidArgument when malformed."""
    if not s:
        return host_platform()
    parts = s.lower().split("/")
    if any(not p for p in parts) or len(parts) > 3:
        raise InvalidArgument(f"invalid platform {s!r}: expected os[/arch[/variant]]", platform=s)
    if len(parts) == 1:
        if parts[0] in ("linux", "windows", "darwin", "freebsd"):
            return Platform(parts[0], host_platform().architecture, host_platform().variant)
        return Platform("linux", _ARCH.get(parts[0], parts[0]), "")
    os_, arch = parts[0], _ARCH.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    if arch == "arm64" and variant in ("", "8"):
        variant = "v8"
    return Platform(os_, arch, variant)


def platform_matches(want: Platform, have: Platform | None) -> bool:
    """containerd's platforms.Only: same os and architecture; the variant must match
    when both have one (arm64 "" == "v8")."""
    if have is None:
        return False
    if have.os.lower() != want.os.lower() or _ARCH.get(have.architecture, have.architecture) != want.architecture:
        return False
    hv = have.variant or ("v8" if want.architecture == "arm64" else "")
    wv = want.variant or ("v8" if want.architecture == "arm64" else "")
    return not hv or not wv or hv == wv


def select_platform(index: Index, want: Platform | None = None) -> Descriptor:
    """The manifest of ``index`` for ``want`` (the host's by default): an exact
    variant match first, then one without a variant. Attestation entries
    (platform unknown/unknown) are skipped. NotFound as Docker's "no matching
    manifest for linux/amd64 in the manifest list entries"."""
    want = want or host_platform()
    best, best_score = None, -1
    for d in index.manifests:
        if d.media_type and d.media_type not in MANIFEST_TYPES and d.media_type not in INDEX_TYPES:
            continue
        if d.platform is None or not platform_matches(want, d.platform):
            continue
        score = 2 if d.platform.variant == want.variant else 1
        if score > best_score:
            best, best_score = d, score
    if best is None:
        spec = "/".join(p for p in (want.os, want.architecture, want.variant) if p)
        raise NotFound(f"no matching manifest for {spec} in the manifest list entries", platform=spec)
    return best


def parse_config(data: bytes) -> dict:
    """An image config (OCI config.md / Docker image JSON) as a dict, checked to
    have ``rootfs.diff_ids``. InvalidArgument otherwise."""
    try:
        cfg = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"invalid image config: {e}") from None
    if not isinstance(cfg, dict):
        raise InvalidArgument("invalid image config: not a JSON object")
    check_config_types(cfg)
    rootfs = cfg.get("rootfs") or {}
    ids = rootfs.get("diff_ids")
    if ids is None:
        ids = []
    if not isinstance(ids, list) or not all(isinstance(x, str) and x.startswith("sha256:") for x in ids):
        raise InvalidArgument("invalid image config: bad rootfs.diff_ids")
    return cfg


_CONFIG_TYPES = {  # OCI config.md "config" object, as Go decodes it
    "User": str, "WorkingDir": str, "StopSignal": str, "Env": "S", "Entrypoint": "S", "Cmd": "S",
    "Shell": "S", "OnBuild": "S", "Labels": "M", "ExposedPorts": dict, "Volumes": dict,
    "Healthcheck": dict, "ArgsEscaped": bool, "Hostname": str, "Domainname": str,
}


def check_config_types(cfg: dict) -> None:
    """Refuse an image config whose fields have the wrong JSON types (Go's
    json.Unmarshal would refuse it): a bad image must not be stored, where
    it would break listing and inspecting every image. InvalidArgument."""
    def bad(where, want):
        raise InvalidArgument(f"invalid image config: {where} must be {want}")
    for key, want in (("config", dict), ("rootfs", dict), ("history", list), ("architecture", str),
                      ("os", str), ("created", str), ("author", str), ("variant", str)):
        if cfg.get(key) is not None and not isinstance(cfg[key], want):
            bad(key, want.__name__)
    for h in cfg.get("history") or []:
        if not isinstance(h, dict):
            bad("history[]", "an object")
    inner = cfg.get("config") or {}
    for key, want in _CONFIG_TYPES.items():
        v = inner.get(key)
        if v is None:
            continue
        if want == "S":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                bad(f"config.{key}", "a list of strings")
        elif want == "M":
            if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
                bad(f"config.{key}", "a map of strings")
        elif not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
            bad(f"config.{key}", want.__name__)
    hc = inner.get("Healthcheck") or {}
    if hc.get("Test") is not None and (not isinstance(hc["Test"], list) or
                                       not all(isinstance(x, str) for x in hc["Test"])):
        bad("config.Healthcheck.Test", "a list of strings")


def diff_ids(config: dict) -> list[str]:
    """The config's rootfs.diff_ids (uncompressed layer digests), bottom first."""
    return list((config.get("rootfs") or {}).get("diff_ids") or [])


def chain_ids(diffs: list[str]) -> list[str]:
    """OCI image-spec config.md#layer-chainid: ChainID(L0) = DiffID(L0);
    ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diffs:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def image_platform(config: dict) -> Platform:
    return Platform(config.get("os", "linux"), config.get("architecture", ""), config.get("variant", ""))


def make_manifest(config_digest: str, config_size: int, layers: list[Descriptor],
                  config_media_type: str = MEDIA_TYPE_OCI_CONFIG) -> bytes:
    """The bytes of an OCI manifest for a config and layers (used for imported and loaded images)."""
    doc = {"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_MANIFEST,
           "config": {"mediaType": config_media_type, "digest": config_digest, "size": config_size},
           "layers": [{"mediaType": d.media_type, "digest": d.digest, "size": d.size} for d in layers]}
    return json.dumps(doc, separators=(",", ":")).encode()
