"""Build a container's OCI runtime config (config.json) from the image config
and Docker's create request: a pure function, no I/O.

Follows OCI runtime-spec config.md / config-linux.md and Docker's defaults
(moby oci/defaults.go ``DefaultLinuxSpec``, daemon/oci_linux.go,
container/container.go ``CreateDaemonEnvironment``, daemon/commit.go ``merge``).

Seccomp: Docker's default profile (skiff.runtime.seccomp_default) unless
Privileged or SecurityOpt "seccomp=unconfined"; an inline profile is used as is.

What is not done here (the daemon's job or not supported yet): AppArmor profiles, HostConfig.Devices and host devices for Privileged (they need
the host's /dev), Blkio*Device limits, named-volume creation (pass
``volume_paths``), links, GroupAdd (resolve with skiff.runtime.user.resolve_groups
into ``user``'s additional gids), CgroupParent (choose ``cgroups_path``).
"""

from __future__ import annotations

import posixpath
from typing import Iterable

from skiff.errors import InvalidArgument

OCI_VERSION = "1.0.2-dev"

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: moby oci/caps/defaults.go DefaultCapabilities
DEFAULT_CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

#: every capability of Linux 6.x, in number order (CAP_LAST_CAP = 40)
ALL_CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

#: moby oci/defaults.go maskedPaths
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]

#: moby oci/defaults.go readonlyPaths
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

#: device cgroup rules: deny all, then runc's/moby's default allow list
DEFAULT_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},    # /dev/null
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},    # /dev/random
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},    # /dev/full
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},    # /dev/tty
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},    # /dev/zero
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},    # /dev/urandom
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},    # /dev/console
    {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"},  # /dev/pts/*
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},    # /dev/ptmx
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # /dev/net/tun
]

DEFAULT_SHM_SIZE = 64 << 20  # bytes, Docker's default ShmSize

#: Docker's ulimit names -> OCI rlimit types
_RLIMITS = {
    "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}


def _default_mounts(shm_size: int | str) -> list[dict]:
    """Docker's default mounts; ``shm_size`` in bytes or as "65536k"."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]


def normalize_capability(name: str) -> str:
    """"net_admin" / "NET_ADMIN" / "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; "ALL" stays "ALL".
    Raises InvalidArgument for an unknown capability (as Docker)."""
    n = name.strip().upper()
    if n == "ALL":
        return n
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in ALL_CAPABILITIES:
        raise InvalidArgument(f"unknown capability: {name!r}")
    return n


def capabilities(cap_add: Iterable[str] | None, cap_drop: Iterable[str] | None,
                 privileged: bool = False) -> list[str]:
    """Docker's capability set (moby oci/caps TweakCapabilities): the defaults,
    minus CapDrop, plus CapAdd (an add wins over a drop); "ALL" in CapAdd means
    every capability but those in CapDrop; "ALL" in CapDrop means only CapAdd.
    Privileged: all."""
    if privileged:
        return list(ALL_CAPABILITIES)
    adds = [normalize_capability(c) for c in (cap_add or [])]
    drops = [normalize_capability(c) for c in (cap_drop or [])]
    if "ALL" in adds:
        return [c for c in ALL_CAPABILITIES if c not in drops]
    if "ALL" in drops:
        caps: list[str] = []
    else:
        caps = [c for c in DEFAULT_CAPABILITIES if c not in drops]
    for c in adds:
        if c not in caps:
            caps.append(c)
    return caps


def env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def replace_or_append_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """moby container/env.go ReplaceOrAppendEnvValues: entries of ``overrides``
    replace the same key in ``defaults`` or are appended; "KEY" without "="
    removes KEY."""
    out = list(defaults)
    index = {env_key(e): i for i, e in enumerate(out)}
    removed = set()
    for e in overrides:
        k = env_key(e)
        if "=" not in e:
            if k in index:
                removed.add(index[k])
            continue
        if k in index and index[k] not in removed:
            out[index[k]] = e
        else:
            index[k] = len(out)
            out.append(e)
    return [e for i, e in enumerate(out) if i not in removed]


def merge_env(image_env: list[str] | None, create_env: list[str] | None) -> list[str]:
    """daemon/commit.go merge: the container's Env, then the image's entries
    whose key the container does not set."""
    user = list(create_env or [])
    if not user:
        return list(image_env or [])
    keys = {env_key(e) for e in user}
    return user + [e for e in (image_env or []) if env_key(e) not in keys]


def process_args(image_config: dict, create: dict) -> list[str]:
    """Docker's Entrypoint/Cmd precedence (daemon/commit.go merge): a non-empty
    Entrypoint in the request replaces the image's Entrypoint AND Cmd (only the
    request's Cmd follows it); Entrypoint [""] or [] clears the image's
    Entrypoint but keeps its Cmd; otherwise the image's Entrypoint followed by
    the request's Cmd, or the image's Cmd when the request has none.
    Raises InvalidArgument("no command specified") when nothing is left."""
    ep = create.get("Entrypoint")
    cmd = create.get("Cmd")
    if isinstance(ep, str):
        ep = [ep]
    if isinstance(cmd, str):
        cmd = [cmd]
    if ep is not None and len(ep) == 1 and ep[0] == "":
        ep = []
    if not ep:
        if not cmd:
            cmd = image_config.get("Cmd")
        if ep is None:
            ep = image_config.get("Entrypoint")
    args = list(ep or []) + list(cmd or [])
    if not args:
        raise InvalidArgument("no command specified")
    return args


def _bind_options(mode: str, readonly: bool) -> tuple[list[str], str]:
    opts = ["rbind"]
    propagation = "rprivate"
    ro = readonly
    for o in [m for m in mode.split(",") if m]:
        if o == "ro":
            ro = True
        elif o == "rw":
            ro = False
        elif o in ("private", "rprivate", "shared", "rshared", "slave", "rslave"):
            propagation = o
        elif o in ("z", "Z", "nocopy", "consistent", "cached", "delegated"):
            pass
        else:
            raise InvalidArgument(f"invalid mode: {o}")
    opts.append(propagation)
    if ro:
        opts.append("ro")
    return opts, propagation


def _host_source(src: str, volume_paths: dict[str, str] | None, what: str) -> str:
    if src.startswith("/"):
        return src
    if volume_paths and src in volume_paths:
        return volume_paths[src]
    raise InvalidArgument(f"{what}: no such volume or invalid bind source {src!r}")


def _check_dest(dest: str) -> str:
    if not dest.startswith("/"):
        raise InvalidArgument(f"invalid mount config for type \"bind\": invalid mount path: '{dest}' mount path must be absolute")
    return posixpath.normpath(dest)


def user_mounts(host_config: dict, volume_paths: dict[str, str] | None = None) -> list[dict]:
    """HostConfig.Binds ("src:dst[:opts]"), HostConfig.Mounts (bind, volume,
    tmpfs) and HostConfig.Tmpfs ({dst: "opts"}) as OCI mounts. A source that is
    not an absolute path is a volume name looked up in ``volume_paths``.
    Raises InvalidArgument for malformed entries."""
    out: list[dict] = []
    for b in host_config.get("Binds") or []:
        parts = b.split(":")
        if len(parts) == 2:
            src, dst, mode = parts[0], parts[1], ""
        elif len(parts) == 3:
            src, dst, mode = parts
        else:
            raise InvalidArgument(f"invalid volume specification: '{b}'")
        if not src:
            raise InvalidArgument(f"invalid volume specification: '{b}'")
        opts, _ = _bind_options(mode, False)
        out.append({"destination": _check_dest(dst), "type": "bind",
                    "source": _host_source(src, volume_paths, b), "options": opts})
    for m in host_config.get("Mounts") or []:
        typ = (m.get("Type") or "volume").lower()
        dst = _check_dest(m.get("Target") or m.get("Destination") or "")
        ro = bool(m.get("ReadOnly"))
        if typ in ("bind", "volume"):
            src = m.get("Source") or ""
            prop = ((m.get("BindOptions") or {}).get("Propagation") or "")
            opts, _ = _bind_options(prop, ro)
            out.append({"destination": dst, "type": "bind",
                        "source": _host_source(src, volume_paths, dst), "options": opts})
        elif typ == "tmpfs":
            t = m.get("TmpfsOptions") or {}
            opts = ["nosuid", "nodev", "noexec"]
            if t.get("SizeBytes"):
                opts.append(f"size={int(t['SizeBytes'])}")
            if t.get("Mode"):
                opts.append(f"mode={int(t['Mode']):o}")
            if ro:
                opts.append("ro")
            out.append({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": opts})
        else:
            raise InvalidArgument(f"mount type {typ!r} is not supported")
    for dst, data in (host_config.get("Tmpfs") or {}).items():
        opts = ["noexec", "nosuid", "nodev"]
        for o in [o for o in (data or "").split(",") if o]:
            # user options override the defaults (exec wins over noexec...)
            if o in ("exec", "suid", "dev"):
                opts = [x for x in opts if x != "no" + o]
            opts.append(o)
        out.append({"destination": _check_dest(dst), "type": "tmpfs", "source": "tmpfs",
                    "options": opts})
    return out


def parse_device_rule(rule: str) -> dict:
    """A --device-cgroup-rule ("c 1:3 mr", "a *:* rwm", "b 8:* r") as an OCI
    linux.resources.devices entry. Raises InvalidArgument."""
    parts = rule.split()
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or ":" not in parts[1] \
            or not parts[2] or set(parts[2]) - set("rwm"):
        raise InvalidArgument(f"invalid device cgroup format '{rule}'")
    major_s, _, minor_s = parts[1].partition(":")

    def num(x: str) -> int:
        if x == "*":
            return -1
        if not x.isdigit():
            raise InvalidArgument(f"invalid device cgroup format '{rule}'")
        return int(x)
    d = {"allow": True, "type": parts[0], "major": num(major_s), "minor": num(minor_s),
         "access": parts[2]}
    if d["type"] == "a":
        d = {"allow": True, "type": "a", "access": parts[2]}
    return d


def resources(host_config: dict, privileged: bool = False) -> dict:
    """HostConfig resource fields -> OCI linux.resources (config-linux.md).

    Memory/MemorySwap/MemoryReservation in bytes (MemorySwap is memory+swap;
    0 with Memory set -> 2 x Memory, as Docker; -1 unlimited), CpuShares,
    CpuQuota/CpuPeriod (us), NanoCpus (1e-9 CPUs -> quota over a 100 ms period),
    CpusetCpus/CpusetMems, PidsLimit (>0), BlkioWeight, OomKillDisable."""
    hc = host_config
    res: dict = {"devices": [{"allow": True, "access": "rwm"}] if privileged
                 else [dict(d) for d in DEFAULT_DEVICE_RULES]}
    mem: dict = {}
    if hc.get("Memory"):
        mem["limit"] = int(hc["Memory"])
        swap = int(hc.get("MemorySwap") or 0)
        if swap == 0:
            swap = 2 * mem["limit"]
        mem["swap"] = swap
    elif hc.get("MemorySwap"):
        mem["swap"] = int(hc["MemorySwap"])
    if hc.get("MemoryReservation"):
        mem["reservation"] = int(hc["MemoryReservation"])
    sw = hc.get("MemorySwappiness")
    if sw is not None and int(sw) >= 0:
        mem["swappiness"] = int(sw)
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if mem:
        res["memory"] = mem
    cpu: dict = {}
    if hc.get("CpuShares"):
        cpu["shares"] = int(hc["CpuShares"])
    if hc.get("NanoCpus"):
        if hc.get("CpuQuota") or hc.get("CpuPeriod"):
            raise InvalidArgument("conflicting options: Nano CPUs and CPU Period cannot both be set")
        cpu["period"] = 100000
        cpu["quota"] = int(hc["NanoCpus"]) * 100000 // 1_000_000_000
    if hc.get("CpuQuota"):
        cpu["quota"] = int(hc["CpuQuota"])
    if hc.get("CpuPeriod"):
        cpu["period"] = int(hc["CpuPeriod"])
    if hc.get("CpuRealtimeRuntime"):
        cpu["realtimeRuntime"] = int(hc["CpuRealtimeRuntime"])
    if hc.get("CpuRealtimePeriod"):
        cpu["realtimePeriod"] = int(hc["CpuRealtimePeriod"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    if cpu:
        res["cpu"] = cpu
    if not privileged:
        for rule in hc.get("DeviceCgroupRules") or []:
            res["devices"].append(parse_device_rule(rule))
    pl = hc.get("PidsLimit")
    if pl is not None and int(pl) > 0:
        res["pids"] = {"limit": int(pl)}
    if hc.get("BlkioWeight"):
        res["blockIO"] = {"weight": int(hc["BlkioWeight"])}
    return res


def _sort_mounts(mounts: list[dict]) -> list[dict]:
    # later mounts with the same destination replace earlier ones; parents before children
    by_dest: dict[str, dict] = {}
    for m in mounts:
        by_dest.pop(m["destination"], None)
        by_dest[m["destination"]] = m
    ms = list(by_dest.values())
    return sorted(ms, key=lambda m: len([p for p in m["destination"].split("/") if p]))


def seccomp_profile(host_config: dict, caps: Iterable[str], privileged: bool = False,
                    arch: str | None = None, kernel: str | None = None) -> dict | None:
    """The OCI ``linux.seccomp`` for a container (moby daemon/seccomp_linux.go):
    None when Privileged or HostConfig.SecurityOpt has "seccomp=unconfined";
    the profile given inline as "seccomp=<JSON>" (Docker's CLI sends the file's
    content; Docker's or OCI's schema); else Docker's default profile resolved
    for ``caps`` (skiff.runtime.seccomp_default). Raises InvalidArgument for a
    malformed profile."""
    from skiff.runtime import seccomp_default
    custom = None
    for opt in host_config.get("SecurityOpt") or []:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if key != "seccomp":
            continue
        if value == "unconfined":
            return None
        if value in ("", "builtin", "default"):
            continue
        import json
        try:
            custom = json.loads(value)
        except ValueError:
            raise InvalidArgument(f"invalid seccomp profile in SecurityOpt: {value[:40]!r}") from None
    if privileged and custom is None:
        return None
    profile = custom if custom is not None else seccomp_default.docker_profile()
    return seccomp_default.to_oci(profile, caps, arch, kernel)


def build_spec(*, container_id: str, image_config: dict, create: dict, rootfs: str,
               etc_files: dict[str, str] | None = None, netns: str | None = "",
               cgroups_path: str = "", user: tuple[int, int, list[int]] = (0, 0, []),
               home: str | None = None, volume_paths: dict[str, str] | None = None,
               init_path: str | None = None,
               available_capabilities: Iterable[str] | None = None,
               namespace_paths: dict[str, str] | None = None) -> dict:
    """The OCI runtime config (config.json, runtime-spec config.md) for a container.

    ``image_config`` is the image config JSON's "config" object; ``create`` is
    Docker's POST /containers/create body (Engine API v1.44); ``rootfs`` the
    bundle's rootfs path; ``etc_files`` maps container paths (/etc/hostname,
    /etc/hosts, /etc/resolv.conf) to host files bind-mounted there (read-only
    with ReadonlyRootfs); ``netns``: None = the host's network namespace, ''
    = a new empty one, a path = join it; ``cgroups_path`` goes to
    linux.cgroupsPath; ``user`` = (uid, gid, additional_gids) from
    skiff.runtime.user.resolve_user; ``home`` = HOME when Env has none;
    ``volume_paths`` resolves named volumes in Binds/Mounts; ``init_path`` is the
    host init binary (tini/docker-init) used for HostConfig.Init; with
    ``available_capabilities`` (e.g. the host's bounding set) capabilities the
    host lacks are left out; ``namespace_paths`` ({"pid": "/proc/N/ns/pid", "ipc": ...})
    joins existing namespaces (PidMode/IpcMode "container:X"). Raises
    InvalidArgument for bad requests."""
    create = create or {}
    image_config = image_config or {}
    hc = create.get("HostConfig") or {}
    privileged = bool(hc.get("Privileged"))
    tty = bool(create.get("Tty"))

    hostname = create.get("Hostname") or container_id[:12]
    args = process_args(image_config, create)
    env_cfg = merge_env(image_config.get("Env"), create.get("Env"))
    defaults = ["PATH=" + DEFAULT_PATH, "HOSTNAME=" + hostname]
    if tty:
        defaults.append("TERM=xterm")
    env = replace_or_append_env(defaults, env_cfg)
    if home and not any(env_key(e) == "HOME" for e in env):
        env.append("HOME=" + home)

    cwd = create.get("WorkingDir") or image_config.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")

    caps = capabilities(hc.get("CapAdd"), hc.get("CapDrop"), privileged)
    if available_capabilities is not None:
        avail = set(available_capabilities)
        caps = [c for c in caps if c in avail]

    mounts = _default_mounts(int(hc.get("ShmSize") or DEFAULT_SHM_SIZE))
    if privileged:
        for m in mounts:
            if m["type"] in ("sysfs", "cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
    ro_root = bool(hc.get("ReadonlyRootfs"))
    for dest, src in (etc_files or {}).items():
        opts = ["rbind", "rprivate"] + (["ro"] if ro_root else [])
        mounts.append({"destination": dest, "type": "bind", "source": src, "options": opts})
    mounts.extend(user_mounts(hc, volume_paths))
    if hc.get("Init"):
        if not init_path:
            raise InvalidArgument("init requested but no init binary is configured")
        mounts.append({"destination": "/sbin/docker-init", "type": "bind", "source": init_path,
                       "options": ["bind", "ro"]})
        args = ["/sbin/docker-init", "--"] + args

    uid, gid, add_gids = user
    process: dict = {
        "terminal": tty,
        "user": {"uid": int(uid), "gid": int(gid)},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": list(caps), "effective": list(caps),
                         "permitted": list(caps)},
        "noNewPrivileges": False,
    }
    if add_gids:
        process["user"]["additionalGids"] = [int(g) for g in add_gids]
    cs = hc.get("ConsoleSize")
    if tty and cs and len(cs) == 2 and cs[0] and cs[1]:
        process["consoleSize"] = {"height": int(cs[0]), "width": int(cs[1])}
    if hc.get("OomScoreAdj"):
        process["oomScoreAdj"] = int(hc["OomScoreAdj"])
    rlimits = []
    for u in hc.get("Ulimits") or []:
        name = (u.get("Name") or "").lower()
        if name not in _RLIMITS:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        rlimits.append({"type": _RLIMITS[name], "hard": int(u.get("Hard", 0)),
                        "soft": int(u.get("Soft", 0))})
    if rlimits:
        process["rlimits"] = rlimits
    for opt in hc.get("SecurityOpt") or []:
        if opt in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"):
            process["noNewPrivileges"] = True

    namespaces = [{"type": "mount"}]
    if (hc.get("PidMode") or "") != "host":
        namespaces.append({"type": "pid"})
    if (hc.get("IpcMode") or "") != "host":
        namespaces.append({"type": "ipc"})
    uts_host = (hc.get("UTSMode") or "") == "host"
    if not uts_host:
        namespaces.append({"type": "uts"})
    if netns is not None:
        namespaces.append({"type": "network", "path": netns} if netns else {"type": "network"})
    if (hc.get("CgroupnsMode") or "") == "private":
        namespaces.append({"type": "cgroup"})
    for typ, path in (namespace_paths or {}).items():
        # join another container's namespace (PidMode/IpcMode "container:X"...)
        namespaces = [n for n in namespaces if n["type"] != typ]
        namespaces.append({"type": typ, "path": path})

    linux: dict = {
        "namespaces": namespaces,
        "resources": resources(hc, privileged),
    }
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    if not privileged:
        mp, rp = hc.get("MaskedPaths"), hc.get("ReadonlyPaths")
        linux["maskedPaths"] = list(MASKED_PATHS if mp is None else mp)
        linux["readonlyPaths"] = list(READONLY_PATHS if rp is None else rp)
    if hc.get("Sysctls"):
        linux["sysctl"] = {str(k): str(v) for k, v in hc["Sysctls"].items()}
    seccomp = seccomp_profile(hc, caps, privileged)
    if seccomp is not None:
        linux["seccomp"] = seccomp

    spec: dict = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": ro_root},
        "mounts": _sort_mounts(mounts),
        "linux": linux,
    }
    if not uts_host:
        spec["hostname"] = hostname
        if create.get("Domainname"):
            spec["domainname"] = create["Domainname"]
    return spec


def host_bounding_capabilities() -> list[str]:
    """The capability names in this process's bounding set (/proc/self/status
    CapBnd), for ``build_spec(available_capabilities=...)``. Not pure: reads /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return [c for i, c in enumerate(ALL_CAPABILITIES) if mask >> i & 1]
    return list(ALL_CAPABILITIES)


def build_exec_process(container_process: dict, exec_config: dict,
                       user: tuple[int, int, list[int]] | None = None,
                       home: str | None = None,
                       available_capabilities: Iterable[str] | None = None) -> dict:
    """The OCI process object (config.md#process) for ``docker exec``, as moby
    daemon/exec.go: ``container_process`` is the container's config.json
    "process"; ``exec_config`` is Engine API v1.44 POST /containers/{id}/exec's
    body (Cmd, Env, User, WorkingDir, Tty, Privileged). The container's env
    with the exec's Env replacing/appending (TERM=xterm with a tty), the exec's
    WorkingDir or the container's cwd, ``user`` (resolved from exec User; None:
    the container's), the container's capabilities (all with Privileged).
    Raises InvalidArgument when Cmd is empty."""
    cmd = exec_config.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd:
        raise InvalidArgument("no exec command specified")
    tty = bool(exec_config.get("Tty"))
    env = list(container_process.get("env") or [])
    if tty:
        env = replace_or_append_env(env, ["TERM=xterm"])
    env = replace_or_append_env(env, list(exec_config.get("Env") or []))
    if home and not any(env_key(e) == "HOME" for e in env):
        env.append("HOME=" + home)
    cwd = exec_config.get("WorkingDir") or container_process.get("cwd") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    proc = {k: v for k, v in container_process.items()
            if k in ("capabilities", "noNewPrivileges", "apparmorProfile", "selinuxLabel",
                     "rlimits", "oomScoreAdj", "user")}
    proc.update({"terminal": tty, "args": list(cmd), "env": env, "cwd": cwd})
    if user is not None:
        uid, gid, add = user
        proc["user"] = {"uid": int(uid), "gid": int(gid)}
        if add:
            proc["user"]["additionalGids"] = [int(g) for g in add]
    if exec_config.get("Privileged"):
        caps = list(ALL_CAPABILITIES)
        if available_capabilities is not None:
            avail = set(available_capabilities)
            caps = [c for c in caps if c in avail]
        proc["capabilities"] = {"bounding": caps, "effective": list(caps), "permitted": list(caps)}
    cs = exec_config.get("ConsoleSize")
    if tty and cs and len(cs) == 2 and cs[0] and cs[1]:
        proc["consoleSize"] = {"height": int(cs[0]), "width": int(cs[1])}
    return proc
