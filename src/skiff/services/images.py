"""ImageService: the image operations of the Docker Engine API (v1.44).

``POST /images/create`` (pull and import), ``GET /images/json``,
``GET /images/{name}/json``, ``POST /images/{name}/tag``,
``DELETE /images/{name}``, ``POST /images/load``, ``POST /images/prune``.
It is given only the stores it needs: the metadata database, the content
store and the snapshotter, plus ``in_use(image_id) -> [container ids]`` from
the container side.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import secrets
import shutil
from typing import BinaryIO, Callable

from ..errors import Conflict, InvalidArgument, InvalidReference, NotFound, SkiffError
from ..images import archive
from ..images import manifest as mf
from ..images import pull as pull_mod
from ..images.reference import (Reference, familiar, familiar_match, is_full_id, is_short_id,
                                parse_normalized_named, short_id, with_default_tag)
from ..images.registry import RegistryClient
from ..images.store import ImageRecord, ImageStore
from ..metadata.db import Database

__all__ = ["ImageService", "ImageRecord"]

EPOCH_ZERO = "0001-01-01T00:00:00Z"

# Docker's container.Config JSON with its zero values (api/types/container/config.go)
_CONFIG_DEFAULTS = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}


def rfc3339_to_unix(s: str) -> int:
    """"2024-01-01T00:00:00.123456789Z" -> unix seconds (0 when empty or malformed)."""
    if not s:
        return 0
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", s)
    if not m:
        return 0
    tz = m.group(3) or "Z"
    dt = datetime.datetime.fromisoformat(m.group(1) + ("+00:00" if tz == "Z" else tz))
    return int(dt.timestamp())


def _filter_values(filters: dict | None, key: str) -> list[str]:
    """Docker filters come as {"k": ["v"]} or the old {"k": {"v": true}}."""
    if not filters or key not in filters:
        return []
    v = filters[key]
    if isinstance(v, dict):
        return [k for k, on in v.items() if on]
    if isinstance(v, str):
        return [v]
    return list(v)


class ImageService:
    """Image operations. ``mirrors``/``insecure`` are daemon.json's
    ``registry-mirrors``/``insecure-registries``; ``in_use(image_id)`` lists the
    containers using an image (blocks removal unless forced); ``apply_layer``
    overrides skiff.snapshots.layer.apply_layer (tests)."""

    def __init__(self, db: Database, content, snapshotter, *, mirrors: list[str] | tuple[str, ...] = (),
                 insecure: list[str] | tuple[str, ...] = (),
                 in_use: Callable[[str], list[str]] = lambda image_id: [],
                 apply_layer: Callable | None = None, events=None, hub_fallback: bool = True):
        self.db = db
        self.hub_fallback = hub_fallback
        self.events = events
        self.content = content
        self.snapshotter = snapshotter
        self.mirrors = list(mirrors)
        self.insecure = list(insecure)
        self.in_use = in_use
        self.apply_layer = apply_layer
        self.store = ImageStore(db)

    # --- helpers --------------------------------------------------------------

    def _event(self, action: str, actor: str, **attrs) -> None:
        """Publish a Docker image event ("pull", "tag", "untag", "delete", "import",
        "load") when an event bus was given."""
        if self.events is not None:
            try:
                self.events.publish("image", action, actor, attrs)
            except Exception:
                pass

    def _size(self, chain_ids: list[str]) -> int:
        total = 0
        for c in chain_ids:
            try:
                total += self.snapshotter.usage(c).size
            except SkiffError:
                pass
        return total

    def _record_from(self, image_id: str, config: dict, diffs: list[str], chains: list[str],
                     manifest_digest: str, blobs: list[str], parent: str = "", comment: str = "") -> ImageRecord:
        if self.store.exists(image_id):  # the same image by another manifest (gzip and zstd): keep both
            blobs = self.store.get(image_id).blobs + list(blobs)
        rec = ImageRecord(id=image_id, config=config, chain_ids=chains, diff_ids=diffs,
                          size=self._size(chains), created=config.get("created") or "",
                          manifest_digest=manifest_digest, parent=parent,
                          comment=comment or config.get("comment", ""), blobs=list(dict.fromkeys(blobs)))
        self.store.put(rec)
        return rec

    @staticmethod
    def _tag_name(ref: Reference) -> str:
        return f"{ref.name}:{ref.tag or 'latest'}"

    # --- pull -------------------------------------------------------------------

    async def pull(self, ref: str, *, auth: dict | None = None, platform: str | None = None,
                   progress: Callable[[dict], None] | None = None) -> ImageRecord:
        """``POST /images/create?fromImage=``: pull ``ref`` ("busybox", "host:5000/a:b",
        "name@sha256:..."), tag it, record its repo digest and emit Docker's progress
        messages ending with "Status: Downloaded newer image for busybox:latest" or
        "Status: Image is up to date for busybox:latest". Raises InvalidReference,
        NotFound, Unauthorized, Unavailable, DataCorruption."""
        emit = progress or (lambda m: None)
        r = with_default_tag(parse_normalized_named(ref))
        plat = mf.parse_platform(platform)
        async with RegistryClient(mirrors=self.mirrors, insecure=self.insecure, auth=auth,
                                  hub_fallback=self.hub_fallback) as rc:
            pulled = await pull_mod.pull(r, registry=rc, content=self.content, snapshotter=self.snapshotter,
                                         platform=plat, progress=emit, apply_layer=self.apply_layer,
                                         require_platform=bool(platform))
        image_id = pulled.config_digest
        tag_name = self._tag_name(r) if not r.digest else ""
        previous = self.store.get_tag(tag_name) if tag_name else ""
        existed = self.store.exists(image_id)
        self._record_from(image_id, pulled.config, pulled.diff_ids, pulled.chain_ids, pulled.manifest_digest,
                          pulled.blobs)
        self.store.set_digest(f"{r.name}@{pulled.index_digest or pulled.manifest_digest}", image_id)
        if tag_name:
            self.store.set_tag(tag_name, image_id)
        shown = r.familiar() if not r.digest else Reference(r.domain, r.path, "", r.digest).familiar()
        if existed and pulled.downloaded == 0 and (not tag_name or previous == image_id):
            emit({"status": f"Status: Image is up to date for {shown}"})
        else:
            emit({"status": f"Status: Downloaded newer image for {shown}"})
        self._event("pull", shown, name=r.familiar_name())
        return self.store.get(image_id)

    # --- lookups ----------------------------------------------------------------

    def _lookup(self, ref_or_id: str) -> tuple[ImageRecord, bool]:
        """(record, found by id?)"""
        s = ref_or_id
        if is_full_id(s):
            full = s if s.startswith("sha256:") else "sha256:" + s
            if self.store.exists(full):
                return self.store.get(full), True
            raise NotFound(f"No such image: {s}", id=s)
        try:
            ref = parse_normalized_named(s)
        except InvalidReference:
            if is_short_id(s):
                ref = None
            else:
                raise
        if ref is not None:
            image_id = ""
            if ref.digest:
                image_id = self.store.get_digest(f"{ref.name}@{ref.digest}")
                if not image_id:
                    for cand in self.store.images_with_manifest(ref.digest):
                        tags, digests = self.store.refs(cand)
                        if any(n.startswith(ref.name + ":") or n.startswith(ref.name + "@") for n in tags + digests):
                            image_id = cand
                            break
            else:
                image_id = self.store.get_tag(self._tag_name(ref))
            if image_id:
                return self.store.get(image_id), False
        if is_short_id(s):
            ids = self.store.search(s)
            if len(ids) == 1:
                return self.store.get(ids[0]), True
        if ref is not None:
            shown = with_default_tag(ref).familiar()
            raise NotFound(f"No such image: {shown}", ref=s)
        raise NotFound(f"No such image: {s}", ref=s)

    async def login(self, auth: dict) -> dict:
        """POST /auth: check credentials (AuthConfig: username, password,
        serveraddress) with the registry. Returns {"Status": "Login Succeeded",
        "IdentityToken": ""}; Unauthorized when refused."""
        from ..images.registry import RegistryClient
        if not isinstance(auth, dict) or not (auth.get("username") or auth.get("identitytoken")):
            raise InvalidArgument("username and password are required")
        async with RegistryClient(mirrors=self.mirrors, insecure=self.insecure, auth=auth,
                                  hub_fallback=self.hub_fallback) as rc:
            status = await rc.login(auth.get("serveraddress") or "")
        return {"Status": status, "IdentityToken": ""}

    def resolve(self, ref_or_id: str) -> ImageRecord:
        """The image named by a reference ("busybox", "busybox:latest",
        "docker.io/library/busybox", "busybox@sha256:<manifest digest>"), a full id
        ("sha256:<hex>" or 64 hex) or a unique id prefix. NotFound "No such image:
        busybox:latest"; InvalidReference for a malformed reference."""
        return self._lookup(ref_or_id)[0]

    def list(self, all: bool = False, filters: dict | None = None) -> list[dict]:
        """``GET /images/json``: a list of {Id, ParentId, RepoTags, RepoDigests,
        Created (unix s), Size, SharedSize, VirtualSize, Labels, Containers},
        newest first. ``filters``: reference (Go path.Match on the familiar
        name[:tag]), dangling (true/false), label (key or key=value), before/since
        (an image reference)."""
        ref_patterns = _filter_values(filters, "reference")
        dangling = _filter_values(filters, "dangling")
        labels = _filter_values(filters, "label")
        before = _filter_values(filters, "before")
        since = _filter_values(filters, "since")
        before_t = min((rfc3339_to_unix(self.resolve(b).created) for b in before), default=None)
        since_t = max((rfc3339_to_unix(self.resolve(b).created) for b in since), default=None)
        recs = self.store.all()
        parents = {r.parent for r in recs if r.parent}
        out = []
        for rec in recs:
            created = rfc3339_to_unix(rec.created)
            if before_t is not None and created >= before_t:
                continue
            if since_t is not None and created <= since_t:
                continue
            if dangling:
                want = dangling[-1].lower() in ("true", "1")
                if want != (not rec.repo_tags):
                    continue
            img_labels = (rec.config.get("config") or {}).get("Labels") or {}
            ok = True
            for lf in labels:
                k, sep, v = lf.partition("=")
                if k not in img_labels or (sep and img_labels[k] != v):
                    ok = False
            if not ok:
                continue
            repo_tags, repo_digests = list(rec.repo_tags), list(rec.repo_digests)
            if ref_patterns:
                def matches(name: str) -> bool:
                    r = parse_normalized_named(name)
                    return any(familiar_match(p, r) for p in ref_patterns)
                repo_tags = [t for t in repo_tags if matches(t)]
                repo_digests = [d for d in repo_digests if matches(d)]
                if not repo_tags and not repo_digests:
                    continue
            if not repo_tags and not repo_digests:
                if all or rec.id not in parents:
                    repo_tags, repo_digests = ["<none>:<none>"], ["<none>@<none>"]
                else:
                    continue
            out.append({"Id": rec.id, "ParentId": rec.parent, "RepoTags": repo_tags,
                        "RepoDigests": repo_digests, "Created": created, "Size": rec.size,
                        "SharedSize": -1, "VirtualSize": rec.size, "Labels": img_labels or {},
                        "Containers": -1})
        out.sort(key=lambda i: i["Created"], reverse=True)  # newest first, as dockerd; stable for ties
        return out

    def inspect(self, ref_or_id: str) -> dict:
        """``GET /images/{name}/json``: Id, RepoTags, RepoDigests, Parent, Comment,
        Created (RFC3339), Config, Architecture, Os, Size, RootFS {Type: layers,
        Layers: diffIDs}, GraphDriver, Metadata... NotFound as :meth:`resolve`."""
        rec = self.resolve(ref_or_id)
        cfg = rec.config
        config = dict(_CONFIG_DEFAULTS)
        config.update(cfg.get("config") or {})
        out = {
            "Id": rec.id,
            "RepoTags": rec.repo_tags,
            "RepoDigests": rec.repo_digests,
            "Parent": rec.parent,
            "Comment": cfg.get("comment", rec.comment),
            "Created": rec.created or EPOCH_ZERO,
            "Container": cfg.get("container", ""),
            "ContainerConfig": dict(_CONFIG_DEFAULTS, **(cfg.get("container_config") or {})),
            "DockerVersion": cfg.get("docker_version", ""),
            "Author": cfg.get("author", ""),
            "Config": config,
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", ""),
            "Size": rec.size,
            "VirtualSize": rec.size,
            "GraphDriver": {"Name": self._driver_name(), "Data": None},
            "RootFS": {"Type": "layers", "Layers": list(rec.diff_ids)},
            "Metadata": {"LastTagTime": rec.last_tag_time or EPOCH_ZERO},
        }
        if cfg.get("variant"):
            out["Variant"] = cfg["variant"]
        if cfg.get("os.version"):
            out["OsVersion"] = cfg["os.version"]
        return out

    def _driver_name(self) -> str:
        name = getattr(self.snapshotter, "driver_name", "") or type(self.snapshotter).__name__.lower()
        return "overlay2" if "overlay" in name else ("vfs" if "native" in name else name)

    def history(self, ref_or_id: str) -> list[dict]:
        """``GET /images/{name}/history``: newest first {Id, Created, CreatedBy, Tags, Size, Comment}."""
        rec = self.resolve(ref_or_id)
        hist = list(rec.config.get("history") or [])
        out = []
        layer = len(rec.diff_ids) - 1
        for i, h in enumerate(reversed(hist)):
            empty = bool(h.get("empty_layer"))
            size = 0
            if not empty and layer >= 0:
                try:
                    size = self.snapshotter.usage(rec.chain_ids[layer]).size
                except SkiffError:
                    size = 0
                layer -= 1
            out.append({"Id": rec.id if i == 0 else "<missing>", "Created": rfc3339_to_unix(h.get("created", "")),
                        "CreatedBy": h.get("created_by", ""), "Tags": rec.repo_tags if i == 0 else None,
                        "Size": size, "Comment": h.get("comment", "")})
        return out

    # --- tag and remove -------------------------------------------------------------

    def tag(self, source: str, repo: str, tag: str = "") -> None:
        """``POST /images/{name}/tag?repo=&tag=``: tag ``source`` as ``repo[:tag]``
        (tag "latest" when none). InvalidReference ("invalid reference format...",
        "refusing to create a tag with a digest reference", "invalid tag format");
        NotFound for the source."""
        target = parse_normalized_named(repo)
        if target.digest:
            raise InvalidReference("refusing to create a tag with a digest reference", ref=repo)
        target = target.with_tag(tag) if tag else with_default_tag(target)
        rec = self.resolve(source)
        self.store.set_tag(self._tag_name(target), rec.id)
        self._event("tag", rec.id, name=target.familiar())

    @staticmethod
    def _is_single_reference(refs: list[str]) -> bool:
        if len(refs) <= 1:
            return len(refs) == 1
        single = None
        canonical = set()
        for r in refs:
            ref = parse_normalized_named(r)
            if ref.digest:
                canonical.add(ref.name)
            elif single is None:
                single = ref
            else:
                return False
        if single is None:
            single = parse_normalized_named(refs[0])
        return len(canonical) == 1 and single.name in canonical

    def remove(self, ref_or_id: str, force: bool = False, prune: bool = True) -> list[dict]:
        """``DELETE /images/{name}`` with Docker's semantics: removing a reference
        untags it ([{"Untagged": "busybox:latest"}]) and deletes the image when it
        was the last one ({"Deleted": "sha256:..."} plus the removed layers'
        chainIDs); removing by id untags everything when the image is in one
        repository. Conflict "conflict: unable to delete <id> (must be forced) -
        image is being used by stopped container <id>" / "... image is referenced
        in multiple repositories" / "(cannot be forced) - image has dependent child
        images". Layer snapshots and blobs no other image needs are removed."""
        rec, by_id = self._lookup(ref_or_id)
        records: list[dict] = []
        tags, digests = self.store.refs(rec.id)
        users = self.in_use(rec.id)
        if not by_id:
            ref = parse_normalized_named(ref_or_id)
            if not force and self._is_single_reference(tags + digests) and users:
                raise Conflict(f'conflict: unable to remove repository reference "{ref_or_id}" (must force) - '
                               f"container {short_id(users[0])} is using its referenced image {short_id(rec.id)}",
                               id=rec.id)
            if ref.digest:
                full = f"{ref.name}@{ref.digest}"
                if not self.store.remove_digest(full):
                    # found through its manifest digest only: nothing to untag but the image itself
                    full = ""
            else:
                full = self._tag_name(ref)
                self.store.remove_tag(full)
            if full:
                records.append({"Untagged": familiar(full)})
            tags, digests = self.store.refs(rec.id)
            if not ref.digest and not any(parse_normalized_named(t).name == ref.name for t in tags):
                for d in list(digests):
                    if parse_normalized_named(d).name == ref.name:
                        self.store.remove_digest(d)
                        records.append({"Untagged": familiar(d)})
                tags, digests = self.store.refs(rec.id)
            if tags or digests:
                return self._untag_events(rec.id, records)
        else:
            if self._is_single_reference(tags + digests):
                self._check_conflict(rec.id, hard_only=force, ignore_refs=True)
                for n in tags + digests:
                    (self.store.remove_digest if "@" in n else self.store.remove_tag)(n)
                    records.append({"Untagged": familiar(n)})
        # after untagging by reference, conflicts end the removal quietly (moby's
        # imageDeleteHelper "quiet" mode) unless the image is dangling and unused
        self._delete(rec.id, records, force, prune, quiet=not by_id)
        return self._untag_events(rec.id, records)

    def _untag_events(self, image_id: str, records: list[dict]) -> list[dict]:
        for r in records:
            if "Untagged" in r:
                self._event("untag", image_id, name=image_id)
        return records

    def _conflict(self, image_id: str, hard_only: bool, ignore_refs: bool = False) -> tuple[str, bool] | None:
        if self.store.children(image_id):
            return "image has dependent child images", True
        if hard_only:
            return None
        users = self.in_use(image_id)
        if users:
            return f"image is being used by stopped container {short_id(users[0])}", False
        tags, digests = self.store.refs(image_id)
        if (tags or digests) and not ignore_refs:
            return "image is referenced in multiple repositories", False
        return None

    def _check_conflict(self, image_id: str, hard_only: bool, ignore_refs: bool = False) -> None:
        c = self._conflict(image_id, hard_only, ignore_refs)
        if c:
            msg, hard = c
            raise Conflict(f"conflict: unable to delete {short_id(image_id)} "
                           f"({'cannot be forced' if hard else 'must be forced'}) - {msg}", id=image_id)

    def _delete(self, image_id: str, records: list[dict], force: bool, prune: bool, quiet: bool) -> None:
        c = self._conflict(image_id, hard_only=force)
        if c:
            tags, digests = self.store.refs(image_id)
            dangling = not tags and not digests and not self.store.children(image_id)
            used = "being used" in c[0]
            if quiet and (not dangling or used):
                return
            self._check_conflict(image_id, hard_only=force)
        rec = self.store.get(image_id)
        tags, digests = self.store.refs(image_id)
        for n in tags + digests:
            records.append({"Untagged": familiar(n)})
        self.store.delete(image_id)
        records.append({"Deleted": image_id})
        self._event("delete", image_id, name=image_id)
        for chain in self._release_layers(rec):
            records.append({"Deleted": chain})
        self._release_blobs(rec)
        if prune and rec.parent and self.store.exists(rec.parent):
            self._delete(rec.parent, records, False, True, quiet=True)

    def _release_layers(self, rec: ImageRecord) -> list[str]:
        """Remove the image's layer snapshots no remaining image needs, top first;
        stops at one still in use (e.g. a container's parent)."""
        needed = set()
        for other in self.store.all():
            needed.update(other.chain_ids)
        removed = []
        for chain in reversed(rec.chain_ids):
            if chain in needed:
                break
            try:
                self.snapshotter.remove(chain)
            except NotFound:
                continue
            except Conflict:
                break
            removed.append(chain)
        return removed

    def _release_blobs(self, rec: ImageRecord) -> None:
        needed = set()
        for other in self.store.all():
            needed.update(other.blobs)
            needed.add(other.id)
        for b in dict.fromkeys(rec.blobs + [rec.id]):
            if b not in needed:
                try:
                    self.content.delete(b)
                except (NotFound, SkiffError):
                    pass

    def prune(self, all: bool = False, filters: dict | None = None) -> dict:
        """``POST /images/prune``: remove dangling images (every unused one with
        ``all``) not used by containers. {"ImagesDeleted": [...], "SpaceReclaimed": bytes}."""
        deleted: list[dict] = []
        reclaimed = 0
        for rec in self.store.all():
            if not self.store.exists(rec.id):
                continue
            if self.in_use(rec.id) or self.store.children(rec.id):
                continue
            tags, digests = self.store.refs(rec.id)
            if tags and not all:
                continue
            labels = (rec.config.get("config") or {}).get("Labels") or {}
            skip = False
            for lf in _filter_values(filters, "label"):
                k, sep, v = lf.partition("=")
                if k not in labels or (sep and labels[k] != v):
                    skip = True
            if skip:
                continue
            for n in tags + digests:
                (self.store.remove_digest if "@" in n else self.store.remove_tag)(n)
                deleted.append({"Untagged": familiar(n)})
            before = len(deleted)
            self._delete(rec.id, deleted, True, False, quiet=True)
            if len(deleted) > before:
                reclaimed += rec.size
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # --- import and load ---------------------------------------------------------

    def _tmpdir(self) -> str:
        d = os.path.join(self.content.root, "ingest", "load-" + secrets.token_hex(8))
        os.makedirs(d, mode=0o700)
        return d

    async def _sync_stream(self, stream, tmp: str):
        """``stream`` as a blocking file object: an asyncio stream (aiohttp's
        StreamReader, anything whose ``read`` is a coroutine function, or an async
        iterator of bytes) is spooled to a file under ``tmp`` first."""
        read = getattr(stream, "read", None)
        if read is not None and not asyncio.iscoroutinefunction(read):
            return stream
        path = os.path.join(tmp, "spool")
        f = open(path, "wb")
        try:
            if read is not None:
                while True:
                    chunk = await read(1 << 20)
                    if not chunk:
                        break
                    await asyncio.to_thread(f.write, chunk)
            else:
                async for chunk in stream:
                    await asyncio.to_thread(f.write, chunk)
        finally:
            f.close()
        return open(path, "rb")

    async def import_tar(self, stream: BinaryIO, repo_tag: str | None = None, changes: list[str] | None = None,
                         message: str = "", platform: str | None = None) -> str:
        """``POST /images/create?fromSrc=-``: a root file system tar read from
        ``stream`` (a blocking file object, or an asyncio stream which is spooled
        to disk first; plain, gzip, zstd, bzip2 or xz) becomes a
        one-layer image, tagged ``repo_tag`` if given. ``changes`` are Dockerfile
        instructions (CMD, ENV, EXPOSE...). Returns the image id. InvalidReference,
        InvalidArgument (bad change), DataCorruption."""
        target = None
        if repo_tag:
            target = parse_normalized_named(repo_tag)
            if target.digest:
                raise InvalidReference("refusing to create a tag with a digest reference", ref=repo_tag)
            target = with_default_tag(target)
        archive.apply_changes({}, changes or [])  # validate before reading anything
        plat = mf.parse_platform(platform)
        tmp = self._tmpdir()
        try:
            src = await self._sync_stream(stream, tmp)
            try:
                loaded = await asyncio.to_thread(archive.import_rootfs, src, self.content, self.snapshotter,
                                                 self.apply_layer, platform=plat, changes=changes, message=message)
            finally:
                if src is not stream:
                    src.close()
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
        self._record_from(loaded.id, loaded.config, loaded.diff_ids, loaded.chain_ids, loaded.manifest_digest,
                          loaded.blobs, comment=loaded.config.get("comment", ""))
        if target is not None:
            self.store.set_tag(self._tag_name(target), loaded.id)
        self._event("import", loaded.id, name=loaded.id)
        return loaded.id

    async def load(self, stream: BinaryIO, quiet: bool = False) -> list[str]:
        """``POST /images/load``: a docker-save or OCI archive (optionally compressed)
        read from ``stream`` (a blocking file object, or an asyncio stream such as
        aiohttp's ``request.content``, spooled to disk first). Returns Docker's lines:
        "Loaded image: busybox:latest" per tag, "Loaded image ID: sha256:..." for an
        untagged image, preceded by "The image X already exists, renaming the old
        one with ID Y to empty string" when a tag moves."""
        tmp = self._tmpdir()
        try:
            src = await self._sync_stream(stream, tmp)
            try:
                await asyncio.to_thread(archive.extract_archive, src, os.path.join(tmp, "archive"))
            finally:
                if src is not stream:
                    src.close()
                    os.unlink(os.path.join(tmp, "spool"))
            tmp_archive = os.path.join(tmp, "archive")
            loaded = await asyncio.to_thread(archive.load_dir, tmp_archive, self.content, self.snapshotter,
                                             self.apply_layer, mf.host_platform())
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
        lines: list[str] = []
        for img in loaded:
            self._record_from(img.id, img.config, img.diff_ids, img.chain_ids, img.manifest_digest, img.blobs)
            if not img.names:
                lines.append(f"Loaded image ID: {img.id}")
                continue
            for name in img.names:
                old = self.store.set_tag(name, img.id)
                if old and old != img.id:
                    lines.append(f"The image {familiar(name)} already exists, renaming the old one with ID "
                                 f"{old} to empty string")
                lines.append(f"Loaded image: {familiar(name)}")
            self._event("load", img.id, name=img.id)
        return lines

    # --- images made here (build, commit) -------------------------------------------

    def register_image(self, config: dict, *, parent: str = "", repo_tag: str | None = None,
                       layers: list | None = None, comment: str = "") -> ImageRecord:
        """Record an image whose layer snapshots are already committed under the
        chainIDs of ``config["rootfs"]["diff_ids"]`` (``docker build``, ``docker
        commit``). ``config`` is the whole image config (OCI config.md); it is
        stored in the content store and its digest is the image id. ``layers``:
        optional layer blob Descriptors already in the content store (for save/push);
        ``parent``: the parent image id (Docker's "Parent"); ``repo_tag`` tags it.
        Raises NotFound when a layer snapshot is missing, InvalidReference for a bad tag."""
        import json as _json
        from ..types import Descriptor as _D
        target = None
        if repo_tag:
            target = parse_normalized_named(repo_tag)
            if target.digest:
                raise InvalidReference("refusing to create a tag with a digest reference", ref=repo_tag)
            target = with_default_tag(target)
        diffs = mf.diff_ids(config)
        chains = mf.chain_ids(diffs)
        for c in chains:
            if not pull_mod.snapshot_exists(self.snapshotter, c):
                raise NotFound(f"layer snapshot {c} not found", chain_id=c)
        raw = _json.dumps(config, separators=(",", ":")).encode()
        image_id = self.content.put(raw)
        blobs = [image_id]
        man_digest = ""
        if layers is not None:
            descs = [d if isinstance(d, _D) else _D.from_json(d) for d in layers]
            man_digest = self.content.put(mf.make_manifest(image_id, len(raw), descs))
            blobs += [man_digest] + [d.digest for d in descs]
        rec = self._record_from(image_id, config, diffs, chains, man_digest, blobs, parent=parent,
                                comment=comment)
        if target is not None:
            self.store.set_tag(self._tag_name(target), image_id)
            self._event("tag", image_id, name=target.familiar())
        return self.store.get(rec.id)

    # --- maintenance ----------------------------------------------------------------

    def cleanup(self) -> None:
        """At daemon start: drop ingest leftovers and half-made layer snapshots
        (active "extract-..." keys) of interrupted pulls, loads and imports."""
        self.content.cleanup()
        for info in list(self.snapshotter.walk()):
            if info.key.startswith(pull_mod.EXTRACT_PREFIX) and info.kind != "committed":
                try:
                    self.snapshotter.remove(info.key)
                except SkiffError:
                    pass

    def gc(self) -> dict:
        """Remove what no image references: committed layer snapshots named by a
        chainID ("sha256:...") that no image needs and nothing is built on, and
        content blobs no image lists (left by a daemon killed between a pull's
        layer commits and its image record). Call only when no pull, load, import
        or build is running. Returns {"snapshots": [...], "blobs": [...]} removed."""
        recs = self.store.all()
        needed_chains = {c for r in recs for c in r.chain_ids}
        needed_blobs = {b for r in recs for b in r.blobs} | {r.id for r in recs}
        removed_snaps: list[str] = []
        changed = True
        while changed:  # top layers first: a parent becomes removable once its child is gone
            changed = False
            infos = list(self.snapshotter.walk())
            parents = {i.parent for i in infos if i.parent}
            for info in infos:
                if (info.kind == "committed" and info.key.startswith("sha256:")
                        and info.key not in needed_chains and info.key not in parents):
                    try:
                        self.snapshotter.remove(info.key)
                    except SkiffError:
                        continue
                    removed_snaps.append(info.key)
                    changed = True
        removed_blobs = []
        for digest, _ in list(self.content.walk()):
            if digest not in needed_blobs:
                try:
                    self.content.delete(digest)
                    removed_blobs.append(digest)
                except SkiffError:
                    pass
        return {"snapshots": removed_snaps, "blobs": removed_blobs}
