"""Just enough image-reference handling for the CLI (distribution/reference
semantics): split NAME[:TAG][@DIGEST], add the default tag, normalise to
docker.io/library/NAME and back to the familiar form."""

from __future__ import annotations

DEFAULT_DOMAIN = "docker.io"


def split(ref: str) -> tuple[str, str, str]:
    """"host:5000/a/b:tag@sha256:..." -> ("host:5000/a/b", "tag", "sha256:...")."""
    name, _, digest = ref.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest


def _has_domain(name: str) -> bool:
    first, sep, _ = name.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def normalize_name(name: str) -> str:
    """"busybox" -> "docker.io/library/busybox"; names with a domain unchanged."""
    if _has_domain(name):
        return name
    if "/" not in name:
        return f"{DEFAULT_DOMAIN}/library/{name}"
    return f"{DEFAULT_DOMAIN}/{name}"


def familiar_name(name: str) -> str:
    """"docker.io/library/busybox" -> "busybox"."""
    if name.startswith(DEFAULT_DOMAIN + "/library/") and name.count("/") == 2:
        return name[len(DEFAULT_DOMAIN + "/library/"):]
    if name.startswith(DEFAULT_DOMAIN + "/"):
        return name[len(DEFAULT_DOMAIN + "/"):]
    return name


def with_default_tag(ref: str) -> str:
    """Add ":latest" when neither tag nor digest is given."""
    name, tag, digest = split(ref)
    if tag or digest:
        return ref
    return f"{ref}:latest"


def familiar_string(ref: str) -> str:
    """The familiar form of a reference (busybox:latest)."""
    name, tag, digest = split(ref)
    s = familiar_name(name)
    if tag:
        s += ":" + tag
    if digest:
        s += "@" + digest
    return s


def full_string(ref: str) -> str:
    """docker.io/library/busybox:latest as `pull` prints it last."""
    name, tag, digest = split(ref)
    s = normalize_name(name)
    if tag:
        s += ":" + tag
    if digest:
        s += "@" + digest
    return s
