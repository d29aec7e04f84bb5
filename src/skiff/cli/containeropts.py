"""The flags of ``run`` and ``create`` and the POST /containers/create body
they make (docker/cli cli/command/container/opts.go; Engine API v1.44
ContainerConfig + HostConfig + NetworkingConfig)."""

from __future__ import annotations

import os

from skiff.cli.flags import Flag, FlagError
from skiff.cli import units


def _mem(v: str) -> int:
    return units.mem_bytes(v)


def _swap(v: str) -> int:
    return units.mem_swap_bytes(v)


def _cpus(v: str) -> int:
    return units.nano_cpus(v)


def _duration_ns(v: str) -> int:
    return int(round(units.parse_go_duration(v) * 1e9))


def _restart(v: str) -> str:
    name = v.split(":", 1)[0]
    if name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise ValueError(f"invalid restart policy format: {v}")
    return v


FLAGS = [
    Flag("add-host", None, "list", help="Add a custom host-to-IP mapping (host:ip)", type_name="list"),
    Flag("attach", "a", "list", help="Attach to STDIN, STDOUT or STDERR", type_name="list"),
    Flag("cap-add", None, "list", help="Add Linux capabilities"),
    Flag("cap-drop", None, "list", help="Drop Linux capabilities"),
    Flag("cgroupns", None, "string", help="Cgroup namespace to use (host|private)"),
    Flag("cidfile", None, "string", help="Write the container ID to the file"),
    Flag("cpu-period", None, "int", help="Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag("cpu-quota", None, "int", help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag("cpu-shares", "c", "int", help="CPU shares (relative weight)"),
    Flag("cpus", None, _cpus, help="Number of CPUs", type_name="decimal"),
    Flag("cpuset-cpus", None, "string", help="CPUs in which to allow execution (0-3, 0,1)"),
    Flag("cpuset-mems", None, "string", help="MEMs in which to allow execution (0-3, 0,1)"),
    Flag("detach", "d", "bool", help="Run container in background and print container ID"),
    Flag("detach-keys", None, "string", help="Override the key sequence for detaching a container"),
    Flag("device", None, "list", help="Add a host device to the container"),
    Flag("dns", None, "list", help="Set custom DNS servers"),
    Flag("dns-option", None, "list", help="Set DNS options"),
    Flag("dns-search", None, "list", help="Set custom DNS search domains"),
    Flag("entrypoint", None, "string", help="Overwrite the default ENTRYPOINT of the image"),
    Flag("env", "e", "list", help="Set environment variables"),
    Flag("env-file", None, "list", help="Read in a file of environment variables"),
    Flag("expose", None, "list", help="Expose a port or a range of ports"),
    Flag("group-add", None, "list", help="Add additional groups to join"),
    Flag("health-cmd", None, "string", help="Command to run to check health"),
    Flag("health-interval", None, _duration_ns, help="Time between running the check (ms|s|m|h) (default 0s)",
         type_name="duration"),
    Flag("health-retries", None, "int", help="Consecutive failures needed to report unhealthy"),
    Flag("health-start-period", None, _duration_ns, help="Start period for the container to initialize",
         type_name="duration"),
    Flag("health-timeout", None, _duration_ns, help="Maximum time to allow one check to run",
         type_name="duration"),
    Flag("hostname", "h", "string", help="Container host name"),
    Flag("init", None, "bool", help="Run an init inside the container that forwards signals and reaps processes"),
    Flag("interactive", "i", "bool", help="Keep STDIN open even if not attached"),
    Flag("ip", None, "string", help="IPv4 address (e.g., 172.30.100.104)"),
    Flag("mac-address", None, "string", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    Flag("ipc", None, "string", help="IPC mode to use"),
    Flag("label", "l", "list", help="Set meta data on a container"),
    Flag("label-file", None, "list", help="Read in a line delimited file of labels"),
    Flag("log-driver", None, "string", help="Logging driver for the container"),
    Flag("log-opt", None, "list", help="Log driver options"),
    Flag("memory", "m", _mem, help="Memory limit", type_name="bytes"),
    Flag("memory-reservation", None, _mem, help="Memory soft limit", type_name="bytes"),
    Flag("memory-swap", None, _swap, help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
         type_name="bytes"),
    Flag("memory-swappiness", None, "int", default=-1, help="Tune container memory swappiness (0 to 100)"),
    Flag("mount", None, "list", help="Attach a filesystem mount to the container", type_name="mount"),
    Flag("name", None, "string", help="Assign a name to the container"),
    Flag("network", None, "string", help="Connect a container to a network"),
    Flag("net", None, "string", help="Connect a container to a network", hidden=True, dest="network"),
    Flag("network-alias", None, "list", help="Add network-scoped alias for the container"),
    Flag("no-healthcheck", None, "bool", help="Disable any container-specified HEALTHCHECK"),
    Flag("oom-kill-disable", None, "bool", help="Disable OOM Killer"),
    Flag("oom-score-adj", None, "int", help="Tune host's OOM preferences (-1000 to 1000)"),
    Flag("pid", None, "string", help="PID namespace to use"),
    Flag("pids-limit", None, "int", help="Tune container pids limit (set -1 for unlimited)"),
    Flag("platform", None, "string", help="Set platform if server is multi-platform capable"),
    Flag("privileged", None, "bool", help="Give extended privileges to this container"),
    Flag("publish", "p", "list", help="Publish a container's port(s) to the host"),
    Flag("publish-all", "P", "bool", help="Publish all exposed ports to random ports"),
    Flag("pull", None, "string", default="missing",
         help='Pull image before running ("always", "missing", "never")'),
    Flag("quiet", "q", "bool", help="Suppress the pull output"),
    Flag("read-only", None, "bool", help="Mount the container's root filesystem as read only"),
    Flag("restart", None, _restart, default="no", help="Restart policy to apply when a container exits",
         type_name="string"),
    Flag("rm", None, "bool", help="Automatically remove the container and its associated anonymous volumes when it exits"),
    Flag("runtime", None, "string", help="Runtime to use for this container"),
    Flag("security-opt", None, "list", help="Security Options"),
    Flag("shm-size", None, _mem, help="Size of /dev/shm", type_name="bytes"),
    Flag("sig-proxy", None, "bool", default=True, help="Proxy received signals to the process"),
    Flag("stop-signal", None, "string", help="Signal to stop the container"),
    Flag("stop-timeout", None, "int", help="Timeout (in seconds) to stop a container"),
    Flag("sysctl", None, "list", help="Sysctl options", type_name="map"),
    Flag("tmpfs", None, "list", help="Mount a tmpfs directory"),
    Flag("tty", "t", "bool", help="Allocate a pseudo-TTY"),
    Flag("ulimit", None, "list", help="Ulimit options", type_name="ulimit"),
    Flag("user", "u", "string", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag("userns", None, "string", help="User namespace to use"),
    Flag("uts", None, "string", help="UTS namespace to use"),
    Flag("volume", "v", "list", help="Bind mount a volume"),
    Flag("volumes-from", None, "list", help="Mount volumes from the specified container(s)"),
    Flag("workdir", "w", "string", help="Working directory inside the container"),
]

USAGE = "[OPTIONS] IMAGE [COMMAND] [ARG...]"


def _bad(flag: str, value: str, msg: str) -> FlagError:
    return FlagError(f'invalid argument "{value}" for "{flag}" flag: {msg}')


def read_env_file(path: str) -> list[str]:
    """docker/cli opts.ParseEnvFile: KEY=VAL lines, '#' comments, bare KEY
    taken from the environment (dropped when unset)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise FlagError(f"open {path}: {e.strerror.lower() if e.strerror else e}") from None
    out = []
    for line in text.splitlines():
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        if "=" in line:
            k, v = line.split("=", 1)
            if not k.strip() or " " in k.strip():
                raise FlagError(f"variable '{k}' contains whitespaces")
            out.append(f"{k}={v}")
        else:
            k = line.strip()
            if k in os.environ:
                out.append(f"{k}={os.environ[k]}")
    return out


def _env_list(values: list[str]) -> list[str]:
    out = []
    for v in values:
        if "=" in v:
            if v.startswith("="):
                raise FlagError(f'invalid argument "{v}" for "-e, --env" flag: invalid environment variable: {v}')
            out.append(v)
        elif v in os.environ:
            out.append(f"{v}={os.environ[v]}")
    return out


def _split_port_spec(spec: str) -> tuple[str, str, str, str]:
    """"[ip:]hostPort:containerPort[/proto]" -> (ip, host, container, proto)."""
    proto = "tcp"
    if "/" in spec:
        spec, proto = spec.rsplit("/", 1)
    ip = ""
    if spec.startswith("["):
        end = spec.find("]")
        ip = spec[1:end]
        spec = spec[end + 2:]
        parts = spec.split(":")
        host, cont = (parts + [""])[:2] if len(parts) == 2 else ("", parts[0])
        return ip, host, cont, proto
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0], proto
    if len(parts) == 2:
        return "", parts[0], parts[1], proto
    return ":".join(parts[:-2]), parts[-2], parts[-1], proto


def _port_range(s: str, spec: str) -> list[int]:
    try:
        if "-" in s:
            a, b = s.split("-", 1)
            lo, hi = int(a), int(b)
            if hi < lo:
                raise ValueError
            return list(range(lo, hi + 1))
        return [int(s)]
    except ValueError:
        raise FlagError(f'invalid argument "{spec}" for "-p, --publish" flag: invalid containerPort: {s}') from None


def parse_ports(publish: list[str], expose: list[str]):
    """-p and --expose -> (ExposedPorts, PortBindings)."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list] = {}
    for spec in publish:
        ip, host, cont, proto = _split_port_spec(spec)
        if not cont:
            raise FlagError(f'invalid argument "{spec}" for "-p, --publish" flag: no port specified: {spec}<empty>')
        cports = _port_range(cont, spec)
        hports = _port_range(host, spec) if host else []
        if hports and len(hports) != len(cports):
            if len(hports) == 1 or len(cports) == 1:
                pass
            else:
                raise FlagError(f'invalid argument "{spec}" for "-p, --publish" flag: invalid ranges specified '
                                f'for container and host Ports: {cont} and {host}')
        for i, cp in enumerate(cports):
            key = f"{cp}/{proto}"
            exposed[key] = {}
            if hports and len(hports) == len(cports):
                hp = str(hports[i])
            elif hports:
                hp = host
            else:
                hp = ""
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": hp})
    for spec in expose:
        proto = "tcp"
        p = spec
        if "/" in p:
            p, proto = p.rsplit("/", 1)
        for cp in _port_range(p, spec):
            exposed[f"{cp}/{proto}"] = {}
    return exposed, bindings


def _parse_mount(spec: str) -> dict:
    m: dict = {"Type": "volume"}
    for field in spec.split(","):
        k, eq, v = field.partition("=")
        k = k.strip().lower()
        if k == "type":
            m["Type"] = v
        elif k in ("source", "src"):
            m["Source"] = v
        elif k in ("target", "destination", "dst"):
            m["Target"] = v
        elif k in ("readonly", "ro"):
            m["ReadOnly"] = (v.lower() in ("", "1", "true"))
        elif k == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = v
        elif k == "tmpfs-size":
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = units.ram_in_bytes(v)
        elif k == "tmpfs-mode":
            m.setdefault("TmpfsOptions", {})["Mode"] = int(v, 8)
        elif k == "volume-nocopy":
            m.setdefault("VolumeOptions", {})["NoCopy"] = v.lower() in ("", "1", "true")
        else:
            raise FlagError(f'invalid argument "{spec}" for "--mount" flag: unexpected key \'{k}\' in \'{field}\'')
    if "Target" not in m:
        raise FlagError(f'invalid argument "{spec}" for "--mount" flag: target is required')
    return m


def _ulimit(spec: str) -> dict:
    name, _, rng = spec.partition("=")
    soft, _, hard = rng.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise FlagError(f'invalid argument "{spec}" for "--ulimit" flag: invalid ulimit argument: {spec}') from None
    return {"Name": name, "Soft": s, "Hard": h}


def build(opts, args: list[str], *, for_run: bool) -> tuple[str, dict, dict]:
    """Options and positional args (IMAGE [CMD...]) -> (image, create body,
    query params {"name", "platform"}). Raises FlagError / ValueError(msg)."""
    image, cmd = args[0], args[1:]
    attach = [a.lower() for a in opts.attach]
    for a in attach:
        if a not in ("stdin", "stdout", "stderr"):
            raise FlagError(f'invalid argument "{a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR')
    attach_stdin = "stdin" in attach or opts.interactive
    attach_stdout = "stdout" in attach or not attach
    attach_stderr = "stderr" in attach or not attach
    env = []
    for f in opts.env_file:
        env += read_env_file(f)
    env += _env_list(opts.env)
    labels: dict[str, str] = {}
    for path in opts.label_file:
        for line in read_env_file(path):
            k, _, v = line.partition("=")
            labels[k] = v
    for lab in opts.label:
        k, _, v = lab.partition("=")
        labels[k] = v
    exposed, bindings = parse_ports(opts.publish, opts.expose)
    entrypoint = None
    if opts.entrypoint:
        entrypoint = [opts.entrypoint]
    elif "entrypoint" in opts.given:
        entrypoint = [""]
    binds = []
    volumes = {}
    for v in opts.volume:
        parts = v.split(":")
        if len(parts) == 1 or (len(parts) == 2 and parts[1] in ("ro", "rw")):
            volumes[parts[0]] = {}
        else:
            binds.append(v)
    tmpfs = {}
    for t in opts.tmpfs:
        path, _, o = t.partition(":")
        tmpfs[path] = o
    restart_name, _, retries = opts.restart.partition(":")
    if restart_name == "":
        restart_name = "no"
    if opts.rm and restart_name not in ("no",):
        raise ValueError("Conflicting options: --restart and --rm")
    try:
        max_retry = int(retries) if retries else 0
    except ValueError:
        raise ValueError("invalid restart policy format: maximum retry count must be an integer") from None
    healthcheck = None
    if opts.no_healthcheck:
        healthcheck = {"Test": ["NONE"]}
    elif opts.health_cmd or any(k in opts.given for k in ("health_interval", "health_timeout",
                                                          "health_retries", "health_start_period")):
        healthcheck = {}
        if opts.health_cmd:
            healthcheck["Test"] = ["CMD-SHELL", opts.health_cmd]
        for key, dest in (("Interval", "health_interval"), ("Timeout", "health_timeout"),
                          ("StartPeriod", "health_start_period")):
            if opts[dest]:
                healthcheck[key] = opts[dest]
        if opts.health_retries:
            healthcheck["Retries"] = opts.health_retries
    sysctls = {}
    for s in opts.sysctl:
        k, eq, v = s.partition("=")
        if not eq:
            raise FlagError(f'invalid argument "{s}" for "--sysctl" flag: sysctl \'{s}\' is not allowed')
        sysctls[k] = v
    log_opts = {}
    for s in opts.log_opt:
        k, _, v = s.partition("=")
        log_opts[k] = v
    devices = []
    for d in opts.device:
        parts = d.split(":")
        src = parts[0]
        dst = parts[1] if len(parts) > 1 and parts[1] else src
        perms = parts[2] if len(parts) > 2 else "rwm"
        if len(parts) == 2 and set(parts[1]) <= set("rwm") and parts[1]:
            dst, perms = src, parts[1]
        devices.append({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms})
    network = opts.network or "default"
    config = {
        "Hostname": opts.hostname or "",
        "Domainname": "",
        "User": opts.user or "",
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        "ExposedPorts": exposed or None,
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": False,
        "Env": env,
        "Cmd": cmd or None,
        "Image": image,
        "Volumes": volumes or None,
        "WorkingDir": opts.workdir or "",
        "Entrypoint": entrypoint,
        "OnBuild": None,
        "Labels": labels,
    }
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if "stop_timeout" in opts.given:
        config["StopTimeout"] = opts.stop_timeout
    host = {
        "Binds": binds or None,
        "ContainerIDFile": opts.cidfile or "",
        "LogConfig": {"Type": opts.log_driver or "", "Config": log_opts or None},
        "NetworkMode": network,
        "PortBindings": bindings or {},
        "RestartPolicy": {"Name": restart_name, "MaximumRetryCount": max_retry},
        "AutoRemove": opts.rm,
        "VolumeDriver": "",
        "VolumesFrom": opts.volumes_from or None,
        "CapAdd": opts.cap_add or None,
        "CapDrop": opts.cap_drop or None,
        "CgroupnsMode": opts.cgroupns or "",
        "Dns": opts.dns,
        "DnsOptions": opts.dns_option,
        "DnsSearch": opts.dns_search,
        "ExtraHosts": opts.add_host or None,
        "GroupAdd": opts.group_add or None,
        "IpcMode": opts.ipc or "",
        "OomScoreAdj": opts.oom_score_adj or 0,
        "PidMode": opts.pid or "",
        "Privileged": opts.privileged,
        "PublishAllPorts": opts.publish_all,
        "ReadonlyRootfs": opts.read_only,
        "SecurityOpt": opts.security_opt or None,
        "UTSMode": opts.uts or "",
        "UsernsMode": opts.userns or "",
        "ShmSize": opts.shm_size or 0,
        "Runtime": opts.runtime or "",
        "CpuShares": opts.cpu_shares or 0,
        "Memory": opts.memory or 0,
        "NanoCpus": opts.cpus or 0,
        "CpuPeriod": opts.cpu_period or 0,
        "CpuQuota": opts.cpu_quota or 0,
        "CpusetCpus": opts.cpuset_cpus or "",
        "CpusetMems": opts.cpuset_mems or "",
        "Devices": devices,
        "MemoryReservation": opts.memory_reservation or 0,
        "MemorySwap": opts.memory_swap or 0,
        "MemorySwappiness": None if opts.memory_swappiness == -1 else opts.memory_swappiness,
        "OomKillDisable": opts.oom_kill_disable,
        "PidsLimit": opts.pids_limit if "pids_limit" in opts.given else None,
        "Ulimits": [_ulimit(u) for u in opts.ulimit] or None,
        "Mounts": [_parse_mount(m) for m in opts.mount] or None,
        "Tmpfs": tmpfs or None,
        "Sysctls": sysctls or None,
    }
    if opts.init:
        host["Init"] = True
    body = dict(config)
    body["HostConfig"] = host
    endpoint = {}
    if opts.network_alias:
        endpoint["Aliases"] = opts.network_alias
    if opts.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": opts.ip}
    if opts.mac_address:
        endpoint["MacAddress"] = opts.mac_address
        body["MacAddress"] = opts.mac_address  # the pre-1.44 field, which dockerd still reads
    # as docker's CLI: endpoint settings go to the chosen network, "default" when none
    # was named (the daemon then refuses what the default bridge cannot do)
    body["NetworkingConfig"] = {"EndpointsConfig": {network or "default": endpoint} if endpoint else {}}
    params = {"name": opts.name or None, "platform": opts.platform or None}
    return image, body, params
