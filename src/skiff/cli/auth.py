"""Registry credentials of the CLI, in Docker's config.json format.

The config directory is ``$SKIFF_CONFIG`` or ``~/.skiff``; when it has no
config.json, Docker's (``$DOCKER_CONFIG`` or ``~/.docker``) is read, so
logins made with the docker CLI work. ``auths`` maps a registry
("https://index.docker.io/v1/" for Docker Hub, else host[:port]) to
{"auth": base64("user:password")}; ``detachKeys`` is read by run/attach.
Credential helpers (credsStore) are not supported. The header sent with a
pull is X-Registry-Auth: base64url(JSON AuthConfig), as the Engine API says.
"""

from __future__ import annotations

import base64
import json
import os

INDEX_SERVER = "https://index.docker.io/v1/"


def config_dir(for_write: bool = False) -> str:
    own = os.environ.get("SKIFF_CONFIG") or os.path.join(os.path.expanduser("~"), ".skiff")
    if for_write or os.path.exists(os.path.join(own, "config.json")):
        return own
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def load_config() -> dict:
    """The config.json (an empty dict when absent or unreadable)."""
    try:
        with open(os.path.join(config_dir(), "config.json")) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def registry_of(image: str) -> str:
    """The auths key of an image reference: "https://index.docker.io/v1/"
    for Docker Hub names, else the registry host[:port]."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost") and first != "docker.io":
        return first
    return INDEX_SERVER


def normalize_server(server: str) -> str:
    s = server.strip()
    if not s or s in ("docker.io", "index.docker.io", "registry-1.docker.io") or "index.docker.io" in s:
        return INDEX_SERVER
    for p in ("https://", "http://"):
        if s.startswith(p):
            s = s[len(p):]
    return s.split("/", 1)[0]


def auth_config(server: str) -> dict | None:
    """Docker's AuthConfig for ``server`` from the config file, or None."""
    auths = load_config().get("auths") or {}
    entry = auths.get(server)
    if entry is None:
        for k, v in auths.items():
            if normalize_server(k) == server:
                entry = v
                break
    if not entry or not entry.get("auth"):
        return None
    try:
        user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return {"username": user, "password": pw, "serveraddress": server}


def encode(auth: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()


def header_for(image: str) -> dict:
    """{"X-Registry-Auth": ...} for a pull of ``image``, or {} without credentials."""
    a = auth_config(registry_of(image))
    return {"X-Registry-Auth": encode(a)} if a else {}


def save_login(server: str, username: str, password: str) -> str:
    """Store credentials in skiff's config.json (mode 0600); returns its path."""
    d = config_dir(for_write=True)
    os.makedirs(d, mode=0o700, exist_ok=True)
    path = os.path.join(d, "config.json")
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        cfg = {}
    cfg.setdefault("auths", {})[server] = {
        "auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent="\t")
    os.replace(tmp, path)
    return path


def remove_login(server: str) -> bool:
    path = os.path.join(config_dir(for_write=True), "config.json")
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return False
    if server not in (cfg.get("auths") or {}):
        return False
    del cfg["auths"][server]
    with open(path, "w") as f:
        json.dump(cfg, f, indent="\t")
    return True
