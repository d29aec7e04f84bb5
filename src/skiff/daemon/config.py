"""skiffd's configuration: command-line flags (dockerd's names) over
``/etc/skiff/daemon.json`` (dockerd's daemon.json keys), over defaults.

Flags and keys follow dockerd(8) and
https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field

from ..errors import InvalidArgument

DEFAULT_CONFIG_FILE = "/etc/skiff/daemon.json"
DEFAULT_DATA_ROOT = "/var/lib/skiff"
DEFAULT_EXEC_ROOT = "/run/skiff"

#: daemon.json keys skiffd understands (others are refused, as dockerd does)
KNOWN_KEYS = {
    "data-root", "exec-root", "hosts", "debug", "registry-mirrors", "insecure-registries",
    "log-driver", "log-opts", "default-runtime", "runtimes", "pidfile", "storage-driver",
    "live-restore", "default-ulimits", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey",
    "group", "bip", "fixed-cidr", "default-address-pools", "mtu", "iptables", "ip-forward",
    "ipv6", "dns", "dns-search", "dns-opts", "features", "builder", "detach-keys",
    "default-shm-size", "cgroup-parent", "userns-remap", "max-concurrent-downloads",
    "registry-mirror-fallback",
}


@dataclass
class Config:
    """The merged configuration. Paths are absolute; sizes are in bytes."""

    config_file: str = DEFAULT_CONFIG_FILE
    data_root: str = DEFAULT_DATA_ROOT
    exec_root: str = DEFAULT_EXEC_ROOT
    hosts: list[str] = field(default_factory=list)
    debug: bool = False
    pidfile: str = ""
    registry_mirrors: list[str] = field(default_factory=list)
    #: skiff's own key: after every mirror failed, try Docker Hub (Docker does; default true)
    registry_mirror_fallback: bool = True
    insecure_registries: list[str] = field(default_factory=list)
    log_driver: str = "json-file"
    log_opts: dict = field(default_factory=dict)
    default_runtime: str = "skiff"
    runtimes: dict = field(default_factory=dict)
    storage_driver: str = ""
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    group: str = ""
    cgroup_parent: str = "/skiff"
    raw: dict = field(default_factory=dict)

    @property
    def socket_path(self) -> str:
        """The default unix socket: ``<exec-root>/skiff.sock``."""
        return os.path.join(self.exec_root, "skiff.sock")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skiffd", description="the skiff daemon (Docker Engine API)")
    p.add_argument("--config-file", default=DEFAULT_CONFIG_FILE)
    p.add_argument("--data-root", default=None)
    p.add_argument("--exec-root", default=None)
    p.add_argument("-H", "--host", action="append", default=None,
                   help="unix:///path or tcp://host:port (repeatable)")
    p.add_argument("-D", "--debug", action="store_true", default=None)
    p.add_argument("-p", "--pidfile", default=None)
    p.add_argument("--registry-mirror", action="append", default=None)
    p.add_argument("--insecure-registry", action="append", default=None)
    p.add_argument("--log-driver", default=None)
    p.add_argument("--default-runtime", default=None)
    p.add_argument("--tls", action="store_true", default=None)
    p.add_argument("--tlsverify", action="store_true", default=None)
    p.add_argument("--tlscacert", default=None)
    p.add_argument("--tlscert", default=None)
    p.add_argument("--tlskey", default=None)
    p.add_argument("-G", "--group", default=None)
    p.add_argument("--cgroup-parent", default=None)
    p.add_argument("-v", "--version", action="store_true")
    return p


def load(argv: list[str] | None = None) -> Config:
    """Parse flags, read the config file (absent is fine unless given
    explicitly), merge. Raises InvalidArgument for a malformed file or an
    unknown key, or a key given both as flag and in the file (as dockerd)."""
    args = build_parser().parse_args(argv)
    if args.version:
        from .. import __version__
        print(f"skiffd version {__version__}")
        raise SystemExit(0)
    cfg = Config(config_file=args.config_file)
    raw: dict = {}
    explicit = argv is not None and any(a.startswith("--config-file") for a in argv)
    try:
        with open(args.config_file) as f:
            text = f.read()
        raw = json.loads(text) if text.strip() else {}
        if not isinstance(raw, dict):
            raise InvalidArgument(f"{args.config_file}: top level must be an object")
    except FileNotFoundError:
        if explicit:
            raise InvalidArgument(f"config file {args.config_file} not found")
    except json.JSONDecodeError as e:
        raise InvalidArgument(f"{args.config_file}: invalid json: {e}")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise InvalidArgument(f"{args.config_file}: unknown configuration keys: {', '.join(unknown)}")
    cfg.raw = raw

    given = {"data-root": args.data_root, "exec-root": args.exec_root, "hosts": args.host,
             "debug": args.debug, "pidfile": args.pidfile, "registry-mirrors": args.registry_mirror,
             "insecure-registries": args.insecure_registry, "log-driver": args.log_driver,
             "default-runtime": args.default_runtime, "tls": args.tls, "tlsverify": args.tlsverify,
             "tlscacert": args.tlscacert, "tlscert": args.tlscert, "tlskey": args.tlskey,
             "group": args.group, "cgroup-parent": args.cgroup_parent}
    both = [f"{k}: (from flag: {_show(v)}, from file: {_show(raw[k])})"
            for k, v in given.items() if v is not None and k in raw]
    if both:
        raise InvalidArgument("the following directives are specified both as a flag and in the "
                              "configuration file: " + ", ".join(both))

    def pick(flag, key, default):
        if flag is not None:
            return flag
        return raw.get(key, default)

    cfg.data_root = os.path.abspath(pick(args.data_root, "data-root", DEFAULT_DATA_ROOT))
    cfg.exec_root = os.path.abspath(pick(args.exec_root, "exec-root", DEFAULT_EXEC_ROOT))
    cfg.hosts = pick(args.host, "hosts", []) or [f"unix://{cfg.socket_path}"]
    cfg.debug = bool(pick(args.debug, "debug", False))
    cfg.pidfile = pick(args.pidfile, "pidfile", "")
    cfg.registry_mirrors = list(pick(args.registry_mirror, "registry-mirrors", []))
    cfg.insecure_registries = list(pick(args.insecure_registry, "insecure-registries", []))
    cfg.registry_mirror_fallback = bool(raw.get("registry-mirror-fallback", True))
    cfg.log_driver = pick(args.log_driver, "log-driver", "json-file")
    cfg.log_opts = dict(raw.get("log-opts", {}))
    cfg.default_runtime = pick(args.default_runtime, "default-runtime", "skiff")
    cfg.runtimes = dict(raw.get("runtimes", {}))
    cfg.storage_driver = raw.get("storage-driver", "")
    cfg.tls = bool(pick(args.tls, "tls", False))
    cfg.tlsverify = bool(pick(args.tlsverify, "tlsverify", False))
    cfg.tlscacert = pick(args.tlscacert, "tlscacert", "")
    cfg.tlscert = pick(args.tlscert, "tlscert", "")
    cfg.tlskey = pick(args.tlskey, "tlskey", "")
    cfg.group = pick(args.group, "group", "")
    cfg.cgroup_parent = pick(args.cgroup_parent, "cgroup-parent", "/skiff")
    for m in cfg.registry_mirrors:
        if not m.startswith(("http://", "https://")):
            raise InvalidArgument(f"invalid mirror: {m!r}: must start with http:// or https://")
    return cfg


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(str(x) for x in v) + "]"
    return str(v)
