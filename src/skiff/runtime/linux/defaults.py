"""The default OCI config (``skiff-runtime spec``): Docker's default spec
(moby oci/defaults.go) with runc's layout: rootfs "rootfs", sh, Docker's
14 capabilities, its mounts, masked and read-only paths and device rules.
"""

from __future__ import annotations

from skiff.runtime.spec import DEFAULT_CAPABILITIES as DOCKER_DEFAULT

# Docker's masked and read-only paths: one list, kept in the spec builder
from skiff.runtime.spec import MASKED_PATHS, READONLY_PATHS  # noqa: E402,F401


def default_mounts() -> list[dict]:
    """Docker's default mounts (proc, /dev tmpfs, devpts, sysfs ro, cgroup ro, mqueue, shm)."""
    from skiff.runtime.spec import _default_mounts
    return _default_mounts("65536k")


def default_device_rules() -> list[dict]:
    """Docker's device cgroup rules: deny all, then the default devices."""
    def c(major, minor, access="rwm"):
        return {"allow": True, "type": "c", "major": major, "minor": minor, "access": access}
    return [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "access": "m"},
        {"allow": True, "type": "b", "access": "m"},
        c(1, 3), c(1, 8), c(1, 7), c(5, 0), c(1, 5), c(1, 9), c(5, 1), c(136, None),
        c(5, 2), c(10, 200),
    ]


def default_spec(args: list[str] | None = None, *, terminal: bool = False,
                 hostname: str = "skiff", rootfs: str = "rootfs") -> dict:
    """A complete OCI runtime-spec v1.1 config.json like Docker's default."""
    caps = list(DOCKER_DEFAULT)
    return {
        "ociVersion": "1.1.0",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args or ["sh"]),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": False},
        "hostname": hostname,
        "mounts": default_mounts(),
        "linux": {
            "resources": {"devices": default_device_rules()},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
