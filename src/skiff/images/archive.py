"""Image archives: ``docker load`` (docker-save and OCI layout archives) and
``docker import`` (a root file system tar -> a one-layer image).

- docker-save format (moby image/spec/v1.2.md, "Combined Image JSON +
  Filesystem Changeset Format"): ``manifest.json`` = [{"Config", "RepoTags",
  "Layers"}], layer tars possibly behind symlinks, possibly compressed.
- OCI image layout (image-spec image-layout.md): ``oci-layout``, ``index.json``,
  ``blobs/<alg>/<hex>``; image names from the ``io.containerd.image.name``
  annotation, else ``org.opencontainers.image.ref.name`` when it is a full
  "name:tag".

Everything here is synchronous (run it in a thread). Layers are applied
through :func:`skiff.images.pull.unpack_layer` and verified against the
config's diffIDs; blobs (config, layers, a generated OCI manifest) go into the
content store.
"""

from __future__ import annotations

import json
import os
import shutil
import posixpath
import shlex
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from ..errors import DataCorruption, InvalidArgument, InvalidReference, UnsafePath
from ..types import Descriptor, Platform
from . import manifest as mf
from .pull import DecompressReader, snapshot_exists, unpack_layer
from .reference import TAG_RE, parse_normalized_named, with_default_tag


@dataclass
class LoadedImage:
    """An image made by load or import: ``id`` (config digest), ``config`` dict,
    diffIDs/chainIDs, the generated or loaded ``manifest_digest``, every blob
    digest, and ``names`` (full "domain/path:tag" strings) it should be tagged with."""

    id: str
    config: dict
    diff_ids: list[str]
    chain_ids: list[str]
    manifest_digest: str
    blobs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


class _Peek:
    """A read-only stream with its first bytes peeked."""

    def __init__(self, inner: BinaryIO, n: int = 8):
        self.inner = inner
        self.head = b""
        while len(self.head) < n:
            chunk = inner.read(n - len(self.head))
            if not chunk:
                break
            self.head += chunk
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if self._pos < len(self.head):
            if n is None or n < 0:
                out = self.head[self._pos:] + self.inner.read()
                self._pos = len(self.head)
                return out
            out = self.head[self._pos:self._pos + n]
            self._pos += len(out)
            return out
        return self.inner.read(n)

    def readable(self) -> bool:
        return True


def extract_archive(stream: BinaryIO, dest: str) -> None:
    """Unpack an (optionally gzip/zstd/bzip2/xz compressed) tar stream into ``dest``
    with tarfile's "data" filter (nothing outside ``dest``, no devices).
    InvalidArgument when it is not a tar."""
    os.makedirs(dest, mode=0o700, exist_ok=True)
    peek = _Peek(stream, 8)
    comp = mf.sniff_compression(peek.head)
    src = DecompressReader(peek, comp) if comp != "none" else peek
    try:
        with tarfile.open(fileobj=src, mode="r|") as tf:
            for m in tf:
                _extract_member(tf, m, dest)
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from None


def _extract_member(tf: tarfile.TarFile, m: tarfile.TarInfo, dest: str) -> None:
    """One entry of an image archive, resolved inside ``dest`` (symlinks as if
    ``dest`` were /; no devices, no owners, no setuid): what tarfile's "data"
    filter does, done here since Debian 12's Python 3.11.2 lacks filters.
    Raises UnsafePath for a name that leaves ``dest``."""
    from ..snapshots.safepath import clean_name, secure_join, secure_parent
    name = clean_name(m.name)
    if not name:
        return
    parent, base = secure_parent(dest, name)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    target = os.path.join(parent, base)
    if m.isdir():
        if not os.path.isdir(target) or os.path.islink(target):
            _unlink(target)
            os.mkdir(target, 0o755)
        return
    _unlink(target)
    if m.isreg():
        f = tf.extractfile(m)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
    elif m.issym():
        link = m.linkname
        if link.startswith("/"):
            # would be followed on the host when the archive's files are read
            raise UnsafePath(f"invalid archive: absolute symlink {m.name} -> {link}", path=m.name)
        # a relative target must stay inside dest, seen from the link's directory
        clean_name(posixpath.join(posixpath.dirname(name), link))
        os.symlink(link, target)
    elif m.islnk():
        src = secure_join(dest, clean_name(m.linkname))
        if not os.path.isfile(src) or os.path.islink(src):
            raise InvalidArgument(f"invalid archive: hardlink {m.name} to a missing file {m.linkname}")
        os.link(src, target)
    # devices, fifos and anything else have no place in an image archive: skipped


def _unlink(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _read_json(path: str, what: str):
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InvalidArgument(f"invalid archive: {what} not found") from None
    except ValueError as e:
        raise InvalidArgument(f"invalid archive: {what}: {e}") from None


def _inside(root: str, rel: str) -> str:
    """``rel`` resolved under ``root``; InvalidArgument if it leaves it."""
    p = os.path.realpath(os.path.join(root, rel))
    r = os.path.realpath(root)
    if p != r and not p.startswith(r + os.sep):
        raise InvalidArgument(f"invalid archive: path {rel!r} leaves the archive")
    return p


def _names_from(tags: list[str]) -> list[str]:
    out = []
    for t in tags or []:
        ref = with_default_tag(parse_normalized_named(t))
        if ref.digest:
            continue
        out.append(str(ref))
    return out


def _apply_layers(content, snapshotter, apply_layer, diffs: list[str], open_layer: Callable[[int], tuple],
                  ) -> list[str]:
    """Apply each layer not already present; returns chainIDs. ``open_layer(i)``
    -> (file object, compression)."""
    chains = mf.chain_ids(diffs)
    for i, chain in enumerate(chains):
        if snapshot_exists(snapshotter, chain):
            continue
        f, comp = open_layer(i)
        with f:
            unpack_layer(snapshotter, f, comp, chains[i - 1] if i else "", chain, diffs[i], apply_layer)
    return chains


def load_docker(root: str, content, snapshotter, apply_layer=None) -> list[LoadedImage]:
    """Load a docker-save directory (with ``manifest.json``)."""
    entries = _read_json(os.path.join(root, "manifest.json"), "manifest.json")
    if not isinstance(entries, list):
        raise InvalidArgument("invalid archive: manifest.json is not a list")
    out = []
    for e in entries:
        cfg_path = _inside(root, e["Config"])
        with open(cfg_path, "rb") as f:
            raw = f.read()
        config = mf.parse_config(raw)
        diffs = mf.diff_ids(config)
        layer_paths = [_inside(root, p) for p in e.get("Layers") or []]
        if len(layer_paths) != len(diffs):
            raise InvalidArgument(f"invalid archive: {len(layer_paths)} layers for {len(diffs)} diffIDs")
        comps = []
        for p in layer_paths:
            if not os.path.isfile(p):
                raise InvalidArgument(f"invalid archive: layer {os.path.relpath(p, root)} not found")
            with open(p, "rb") as f:
                comps.append(mf.sniff_compression(f.read(8)))

        chains = _apply_layers(content, snapshotter, apply_layer, diffs,
                               lambda i: (open(layer_paths[i], "rb"), comps[i]))
        config_digest = content.put(raw)  # after the layers verified: a bad archive leaves no blob
        descs = []
        blobs = [config_digest]
        for p, comp in zip(layer_paths, comps):
            digest = content.put_file(p)
            media = {"none": mf.MEDIA_TYPE_OCI_LAYER, "gzip": mf.MEDIA_TYPE_OCI_LAYER_GZIP,
                     "zstd": mf.MEDIA_TYPE_OCI_LAYER_ZSTD}.get(comp, mf.MEDIA_TYPE_OCI_LAYER)
            descs.append(Descriptor(media, digest, os.path.getsize(p)))
            blobs.append(digest)
        man = mf.make_manifest(config_digest, len(raw), descs)
        man_digest = content.put(man)
        blobs.append(man_digest)
        out.append(LoadedImage(config_digest, config, diffs, chains, man_digest, blobs,
                               _names_from(e.get("RepoTags") or [])))
    return out


def _oci_blob(root: str, digest: str) -> str:
    alg, _, hexpart = digest.partition(":")
    if not hexpart or "/" in hexpart or "/" in alg or ".." in (alg, hexpart):
        raise InvalidArgument(f"invalid archive: bad digest {digest!r}")
    p = os.path.join(root, "blobs", alg, hexpart)
    if not os.path.isfile(p):
        raise InvalidArgument(f"invalid archive: blob {digest} not found")
    return p


def _oci_name(annotations: dict) -> list[str]:
    name = annotations.get(mf.ANNOTATION_CONTAINERD_NAME)
    if name:
        try:
            return _names_from([name])
        except InvalidReference:
            return []
    ref_name = annotations.get(mf.ANNOTATION_REF_NAME, "")
    if ref_name and not TAG_RE.match(ref_name):
        try:
            return _names_from([ref_name])
        except InvalidReference:
            return []
    return []


def load_oci(root: str, content, snapshotter, apply_layer=None, platform: Platform | None = None,
             ) -> list[LoadedImage]:
    """Load an OCI image layout directory (with ``index.json``)."""
    index = _read_json(os.path.join(root, "index.json"), "index.json")
    out = []
    for d in index.get("manifests") or []:
        desc = Descriptor.from_json(d)
        annotations = dict(desc.annotations)
        if desc.media_type in mf.INDEX_TYPES:
            p = _oci_blob(root, desc.digest)
            content.put_file(p, desc.digest)
            sub = mf.parse(content.read(desc.digest), desc.media_type)
            assert isinstance(sub, mf.Index)
            desc = mf.select_platform(sub, platform)
        man_digest = content.put_file(_oci_blob(root, desc.digest), desc.digest)
        man = mf.parse(content.read(man_digest), desc.media_type)
        if not isinstance(man, mf.Manifest):
            raise InvalidArgument(f"invalid archive: {desc.digest} is not an image manifest")
        content.put_file(_oci_blob(root, man.config.digest), man.config.digest)
        config = mf.parse_config(content.read(man.config.digest))
        diffs = mf.diff_ids(config)
        if len(diffs) != len(man.layers):
            raise InvalidArgument(f"invalid archive: {len(man.layers)} layers for {len(diffs)} diffIDs")
        blobs = [man_digest, man.config.digest]
        for ld in man.layers:
            content.put_file(_oci_blob(root, ld.digest), ld.digest, ld.size or None)
            blobs.append(ld.digest)
        chains = _apply_layers(
            content, snapshotter, apply_layer, diffs,
            lambda i: (content.open(man.layers[i].digest), mf.layer_compression(man.layers[i].media_type)))
        out.append(LoadedImage(man.config.digest, config, diffs, chains, man_digest, blobs,
                               _oci_name(annotations)))
    return out


def load_dir(root: str, content, snapshotter, apply_layer=None, platform: Platform | None = None,
             ) -> list[LoadedImage]:
    """Load an unpacked archive: docker-save when it has manifest.json, else OCI layout."""
    if os.path.exists(os.path.join(root, "manifest.json")):
        return load_docker(root, content, snapshotter, apply_layer)
    if os.path.exists(os.path.join(root, "index.json")):
        return load_oci(root, content, snapshotter, apply_layer, platform)
    raise InvalidArgument("invalid archive: no manifest.json or index.json found")


# --- import -------------------------------------------------------------------

CHANGE_COMMANDS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER",
                   "VOLUME", "WORKDIR")


def _json_or_shell(rest: str) -> list[str]:
    rest = rest.strip()
    if rest.startswith("["):
        try:
            v = json.loads(rest)
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return v
        except ValueError:
            pass
    return ["/bin/sh", "-c", rest]


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    words = shlex.split(rest)
    if words and "=" not in words[0]:
        # legacy "ENV key value"
        return [(words[0], rest.strip()[len(words[0]):].strip())]
    out = []
    for w in words:
        k, sep, v = w.partition("=")
        if not sep or not k:
            raise InvalidArgument(f"{what} names can not be blank" if not k else f"{what}: syntax error - "
                                  f"can't find = in {w!r}. Must be of the form: name=value")
        out.append((k, v))
    return out


def apply_changes(config: dict, changes: list[str]) -> dict:
    """Apply Dockerfile-style ``changes`` ("CMD [\"sh\"]", "ENV A=b", "EXPOSE 80"...)
    to a container config dict (the image config's "config"), as ``docker import
    --change``. InvalidArgument for an unknown or malformed instruction."""
    for change in changes or []:
        change = change.strip()
        if not change:
            continue
        instr, _, rest = change.partition(" ")
        instr = instr.upper()
        rest = rest.strip()
        if instr not in CHANGE_COMMANDS:
            raise InvalidArgument(f"{instr} is not a valid change command")
        if instr in ("CMD", "ENTRYPOINT"):
            config["Cmd" if instr == "CMD" else "Entrypoint"] = _json_or_shell(rest)
        elif instr == "ENV":
            env = list(config.get("Env") or [])
            for k, v in _pairs(rest, "ENV"):
                env = [e for e in env if e.split("=", 1)[0] != k] + [f"{k}={v}"]
            config["Env"] = env
        elif instr == "LABEL":
            labels = dict(config.get("Labels") or {})
            labels.update(_pairs(rest, "LABEL"))
            config["Labels"] = labels
        elif instr == "EXPOSE":
            ports = dict(config.get("ExposedPorts") or {})
            for p in rest.split():
                ports[p if "/" in p else p + "/tcp"] = {}
            config["ExposedPorts"] = ports
        elif instr == "VOLUME":
            vols = dict(config.get("Volumes") or {})
            paths = _json_or_shell(rest) if rest.startswith("[") else rest.split()
            if paths[:2] == ["/bin/sh", "-c"]:
                paths = rest.split()
            for p in paths:
                vols[p] = {}
            config["Volumes"] = vols
        elif instr == "ONBUILD":
            config["OnBuild"] = list(config.get("OnBuild") or []) + [rest]
        else:
            config[{"STOPSIGNAL": "StopSignal", "USER": "User", "WORKDIR": "WorkingDir"}[instr]] = rest
    return config


def import_rootfs(stream: BinaryIO, content, snapshotter, apply_layer=None, *, platform: Platform | None = None,
                  changes: list[str] | None = None, message: str = "", created: str = "") -> LoadedImage:
    """``docker import``: a root file system tar (plain, gzip, zstd, bzip2 or xz) ->
    a one-layer image. The uncompressed tar is stored as the layer blob (its
    digest is the diffID). Returns the LoadedImage (no names)."""
    from .store import now_rfc3339

    platform = platform or mf.host_platform()
    peek = _Peek(stream, 8)
    comp = mf.sniff_compression(peek.head)
    if not peek.head:
        raise InvalidArgument("import: empty input")
    writer = content.writer()
    try:
        size, diff_id = unpack_layer(snapshotter, peek, comp, "", "", None, apply_layer, tee=writer.write)
        layer_digest = writer.commit()
    except BaseException:
        writer.abort()
        raise
    if layer_digest != diff_id:
        raise DataCorruption(f"import: layer digest {layer_digest} != diffID {diff_id}")
    created = created or now_rfc3339()
    comment = message or "Imported from -"
    cfg: dict = {}
    apply_changes(cfg, changes or [])
    config = {"architecture": platform.architecture, "os": platform.os, "created": created,
              "comment": comment, "config": cfg,
              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "history": [{"created": created, "comment": comment}]}
    if platform.variant:
        config["variant"] = platform.variant
    raw = json.dumps(config, separators=(",", ":")).encode()
    config_digest = content.put(raw)
    man = mf.make_manifest(config_digest, len(raw), [Descriptor(mf.MEDIA_TYPE_OCI_LAYER, layer_digest, size)])
    man_digest = content.put(man)
    return LoadedImage(config_digest, config, [diff_id], [diff_id], man_digest,
                       [man_digest, config_digest, layer_digest], [])


__all__ = ["LoadedImage", "extract_archive", "load_dir", "load_docker", "load_oci", "import_rootfs",
           "apply_changes"]
