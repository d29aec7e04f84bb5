"""Frozen dataclasses shared by every part of skiff.

``Mount`` is the lingua franca between the image side and the runtime (as in
containerd): a snapshotter returns a list of them and the runtime mounts them.
``Descriptor`` and ``Platform`` follow the OCI image-spec (descriptor.md,
image-index.md#platform).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mount:
    """One mount(2): ``type`` ("overlay", "bind", "tmpfs"...), ``source``,
    ``options`` as in fstab (``"ro"``, ``"rbind"``, ``"lowerdir=a:b"``...).
    ``target`` is relative to the mount point given to :func:`mount_all`
    ("" for the root itself). Follows OCI runtime-spec config.md#mounts."""

    type: str
    source: str
    options: tuple[str, ...] = ()
    target: str = ""

    def to_oci(self, destination: str) -> dict:
        """The runtime-spec form: {"destination", "type", "source", "options"}."""
        return {"destination": destination, "type": self.type,
                "source": self.source, "options": list(self.options)}


@dataclass(frozen=True)
class Platform:
    """OCI image-index.md#platform."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    def to_json(self) -> dict:
        d = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            d["variant"] = self.variant
        return d


@dataclass(frozen=True)
class Descriptor:
    """OCI descriptor.md: media type, digest ("sha256:<64 hex>"), size in bytes."""

    media_type: str
    digest: str
    size: int
    annotations: dict = field(default_factory=dict, hash=False, compare=False)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: dict) -> "Descriptor":
        p = d.get("platform")
        return cls(
            media_type=d.get("mediaType", ""),
            digest=d["digest"],
            size=int(d.get("size", 0)),
            annotations=dict(d.get("annotations") or {}),
            platform=Platform(p.get("os", ""), p.get("architecture", ""), p.get("variant", "")) if p else None,
            urls=tuple(d.get("urls") or ()),
        )

    def to_json(self) -> dict:
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform:
            d["platform"] = self.platform.to_json()
        return d
