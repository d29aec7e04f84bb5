"""``skiff-runtime``: an OCI runtime with runc's command line, over the same
code the shim calls in-process (skiff.runtime.linux.container).

    skiff-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug]
        create --bundle DIR [--console-socket S] [--pid-file F] [--no-pivot]
               [--preserve-fds N] ID
        start ID
        pause ID / resume ID
        ps [--format table|json] ID        host pids in the container's cgroup
        run [-d] --bundle DIR [--console-socket S] [--pid-file F] [--no-pivot] ID
        state ID
        exec [-d] [--process F] [-t] [--cwd D] [-e K=V] [-u UID[:GID]] [--cap CAP]
             [--no-new-privs] [-g GID] [--apparmor P] [--process-label L]
             [--console-socket S] [--pid-file F] [--preserve-fds N] ID [ARGS...]
        update [-r FILE|-] [--memory B] [--memory-reservation B] [--memory-swap B]
               [--cpu-shares N] [--cpu-quota US] [--cpu-period US] [--cpu-rt-period US]
               [--cpu-rt-runtime US] [--cpuset-cpus L] [--cpuset-mems L]
               [--pids-limit N] [--blkio-weight N] ID
        events [--stats] [--interval 5s] ID  JSON lines ({"type","id","data"}) as runc
        kill [--all] ID [SIGNAL]           SIGNAL: TERM, SIGKILL, 9 ... (default TERM)
        delete [--force] ID
        list [--format table|json] [-q]
        spec [--bundle DIR] [--rootless]   writes config.json (Docker-like defaults)
        features

--systemd-cgroup is refused (no systemd cgroup driver). With --log-format
json, log lines are runc's: {"level": "error", "msg": "...", "time": RFC 3339}
(containerd's runc shim reads the last error from --log).
Errors are printed to stderr (and as a JSON line to --log) and exit 1;
``run`` exits with the container's exit status (128+N when killed by N).
Imports only the standard library and skiff.runtime.linux.
"""

from __future__ import annotations

import _signal  # not ``signal``: its enum wrappers import enum (start-up time)
import os
import sys
import time

from skiff.runtime import fastjson  # not ``json``: it imports re and enum

DEFAULT_ROOT = "/run/skiff/runtime"

from skiff.runtime.linux._log import log  # noqa: E402  (no logging import: start-up time)


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def log_line(level: str, msg: str, fmt: str = "json", t: float | None = None) -> str:
    """One --log line as runc writes it: JSON {"level", "msg", "time"} (RFC 3339)
    or logrus-like text ``time="..." level=error msg="..."``."""
    t = time.time() if t is None else t
    if fmt == "json":
        return fastjson.dumps({"level": level, "msg": msg, "time": _rfc3339(t)}, separators=(",", ":"))
    return f"time={fastjson.dumps(_rfc3339(t))} level={level} msg={fastjson.dumps(msg)}"


def parse_signal(s: str) -> int:
    """"TERM", "SIGTERM", "term" or "15" -> 15. Raises InvalidArgument."""
    from skiff.errors import InvalidArgument
    if s.isdigit():
        return int(s)
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    num = getattr(_signal, name, None)
    if not isinstance(num, int) or name.startswith("SIG_"):
        raise InvalidArgument(f"unknown signal {s!r}")
    return num


class _Args:
    """The parsed command line (attributes as argparse would name them)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return f"_Args({self.__dict__!r})"


class UsageError(Exception):
    """A malformed command line (exit status 2, as argparse)."""


# option kinds: "s" string, "i" int, "b" bool, "a" append
_GLOBAL = {"root": ("s", DEFAULT_ROOT), "log": ("s", ""), "log-format": ("s", "text"),
           "debug": ("b", False), "systemd-cgroup": ("b", False), "rootless": ("s", "auto"),
           "criu": ("s", "")}
_CREATE = {"bundle": ("s", "."), "b": "bundle", "console-socket": ("s", ""),
           "pid-file": ("s", ""), "no-pivot": ("b", False), "no-new-keyring": ("b", False),
           "preserve-fds": ("i", 0)}
_UPDATE_FLAGS = ("memory", "memory-reservation", "memory-swap", "kernel-memory",
                 "kernel-memory-tcp", "cpu-shares", "cpu-quota", "cpu-period", "cpu-rt-period",
                 "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight",
                 "cpu-burst", "cpu-idle", "l3-cache-schema", "mem-bw-schema")
#: command -> (options, positionals); a positional ending in "*" takes the rest,
#: one ending in "?" is optional (default after "=")
_COMMANDS: dict = {
    "create": (_CREATE, ["id"]),
    "run": (dict(_CREATE, detach=("b", False), d="detach", keep=("b", False)), ["id"]),
    "start": ({}, ["id"]), "pause": ({}, ["id"]), "resume": ({}, ["id"]),
    "state": ({}, ["id"]),
    "ps": ({"format": ("s", "table"), "f": "format"}, ["id", "ps_args*"]),
    "exec": ({"process": ("s", ""), "p": "process", "tty": ("b", False), "t": "tty",
              "cwd": ("s", ""), "env": ("a", None), "e": "env", "user": ("s", ""), "u": "user",
              "detach": ("b", False), "d": "detach", "console-socket": ("s", ""),
              "pid-file": ("s", ""), "preserve-fds": ("i", 0), "cap": ("a", None), "c": "cap",
              "no-new-privs": ("b", False), "additional-gids": ("a", None),
              "g": "additional-gids", "apparmor": ("s", ""), "process-label": ("s", ""),
              "ignore-paused": ("b", False), "cgroup": ("a", None)}, ["id", "args*"]),
    "kill": ({"all": ("b", False), "a": "all"}, ["id", "signal?=TERM"]),
    "delete": ({"force": ("b", False), "f": "force"}, ["id"]),
    "list": ({"format": ("s", "table"), "f": "format", "quiet": ("b", False), "q": "quiet"}, []),
    "spec": ({"bundle": ("s", "."), "b": "bundle", "rootless": ("b", False)}, []),
    "features": ({}, []),
    "update": (dict({"resources": ("s", ""), "r": "resources"},
                    **{f: ("s", None) for f in _UPDATE_FLAGS}), ["id"]),
    "events": ({"stats": ("b", False), "interval": ("s", "5s")}, ["id"]),
}
_CHOICES = {"log_format": ("text", "json"), "format": ("table", "json")}


def _dest(name: str) -> str:
    return name.replace("-", "_")


def _parse_opts(argv: list[str], i: int, table: dict, out: dict, stop_at_positional: bool,
                positionals: list[str]) -> int:
    """Options from argv[i:] into ``out`` (urfave/cli style: -x, --x, --x=v);
    non-options go to ``positionals``. Returns the index where parsing stopped."""
    while i < len(argv):
        a = argv[i]
        if a == "--":
            positionals.extend(argv[i + 1:])
            return len(argv)
        if not a.startswith("-") or a == "-":
            if stop_at_positional:
                return i
            positionals.append(a)
            i += 1
            continue
        name, eq, value = a.lstrip("-").partition("=")
        spec = table.get(name)
        if isinstance(spec, str):  # an alias
            name, spec = spec, table[spec]
        if spec is None:
            raise UsageError(f"flag provided but not defined: {a.split('=')[0]}")
        kind = spec[0]
        dest = _dest(name)
        if kind == "b":
            out[dest] = value.lower() not in ("false", "0") if eq else True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise UsageError(f"flag needs an argument: {a}")
            value = argv[i + 1]
            i += 1
        i += 1
        if kind == "i":
            try:
                out[dest] = int(value)
            except ValueError:
                raise UsageError(f"invalid value {value!r} for flag {a}") from None
        elif kind == "a":
            out.setdefault(dest, []).append(value)
        else:
            if dest in _CHOICES and value not in _CHOICES[dest]:
                raise UsageError(f"invalid value {value!r} for flag {a}: "
                                 f"one of {', '.join(_CHOICES[dest])}")
            out[dest] = value
    return i


def parse_args(argv: list[str]) -> _Args:
    """runc's command line -> _Args (cmd, the global options, the command's
    options and positionals). Raises UsageError. No argparse: it costs ~8 ms
    of imports (re, gettext) on every runtime call."""
    out: dict = {_dest(k): v[1] for k, v in _GLOBAL.items()}
    rest: list[str] = []
    i = _parse_opts(argv, 0, _GLOBAL, out, True, rest)
    if i >= len(argv):
        raise UsageError("a command is required: " + ", ".join(_COMMANDS))
    cmd = argv[i]
    if cmd not in _COMMANDS:
        raise UsageError(f"no such command: {cmd}")
    table, pos_names = _COMMANDS[cmd]
    for k, v in table.items():
        if not isinstance(v, str):
            out[_dest(k)] = list(v[1] or []) if v[0] == "a" else v[1]
    out["cmd"] = cmd
    positionals: list[str] = []
    # options come before the positionals; exec's trailing words are the
    # process's arguments, never options of ours
    j = _parse_opts(argv, i + 1, dict(table, **_GLOBAL), out, True, positionals)
    tail = argv[j:]
    if any(n.endswith("*") and n.startswith("args") for n in pos_names):
        positionals = tail
    else:
        _parse_opts(tail, 0, dict(table, **_GLOBAL), out, False, positionals)
    for n in pos_names:
        if n.endswith("*"):
            out[_dest(n[:-1])] = positionals
            positionals = []
        elif "?" in n:
            name, _, default = n.partition("?=")
            out[_dest(name)] = positionals.pop(0) if positionals else default
        else:
            if not positionals:
                raise UsageError(f"{cmd}: missing {n}")
            out[_dest(n)] = positionals.pop(0)
    if positionals:
        raise UsageError(f"{cmd}: unexpected arguments {' '.join(positionals)}")
    return _Args(**out)


class _Parser:
    def parse_args(self, argv):
        return parse_args(list(argv))


def _parser():
    """An object with ``parse_args(argv)`` (kept for callers of the argparse era)."""
    return _Parser()


def _setup_logging(args) -> None:
    """--log FILE (appended, runc's line format per --log-format), --debug;
    without --log, debug lines go to stderr and the rest is dropped (errors
    are printed to stderr by main())."""
    from skiff.runtime.linux import _log
    _log.debug_enabled = bool(args.debug)
    path, fmt = args.log, args.log_format

    def sink(level: str, msg: str) -> None:
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (log_line(level, msg, fmt) + "\n").encode())
            finally:
                os.close(fd)
        elif level == "debug":
            sys.stderr.write(msg + "\n")

    _log.sink = sink


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skiff-runtime`` console script."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else list(argv))
    except UsageError as e:
        sys.stderr.write(f"skiff-runtime: {e}\n")
        return 2
    _setup_logging(args)
    from skiff.errors import SkiffError
    try:
        if args.systemd_cgroup:
            from skiff.errors import InvalidArgument
            raise InvalidArgument("--systemd-cgroup is not supported: skiff-runtime manages "
                                  "cgroups through cgroupfs only (use cgroupsPath "
                                  "\"/parent/name\")")
        rc = _dispatch(args)
    except SkiffError as e:
        log.error("%s", e.message)
        sys.stderr.write(f"skiff-runtime: {e.message}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return rc or 0


def _dispatch(args) -> int:
    from skiff.runtime.linux import container as c
    root = args.root
    if args.cmd == "create":
        c.create(root, args.id, args.bundle, console_socket=args.console_socket or None,
                 pid_file=args.pid_file or None, no_pivot=args.no_pivot,
                 preserve_fds=args.preserve_fds)
        return 0
    if args.cmd == "start":
        c.start(root, args.id)
        return 0
    if args.cmd == "run":
        return _run(args)
    if args.cmd == "exec":
        return _exec(args)
    if args.cmd == "pause":
        c.pause(root, args.id)
        return 0
    if args.cmd == "resume":
        c.resume(root, args.id)
        return 0
    if args.cmd == "ps":
        pids = c.pids(root, args.id)
        if args.format == "json":
            print(fastjson.dumps(pids))
        else:
            print("PID")
            for p in pids:
                print(p)
        return 0
    if args.cmd == "state":
        import json
        print(json.dumps(c.state(root, args.id), indent=2))
        return 0
    if args.cmd == "kill":
        c.kill(root, args.id, parse_signal(args.signal), all=args.all)
        return 0
    if args.cmd == "delete":
        c.delete(root, args.id, force=args.force)
        return 0
    if args.cmd == "list":
        states = c.list_containers(root)
        if args.quiet:
            for s in states:
                print(s["id"])
        elif args.format == "json":
            print(fastjson.dumps(states))
        else:
            print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} {'CREATED':<32} OWNER")
            for s in states:
                print(f"{s['id']:<20} {s['pid']:<8} {s['status']:<10} {s['bundle']:<40} "
                      f"{s['created']:<32} {s['owner']}")
        return 0
    if args.cmd == "spec":
        from skiff.errors import Conflict
        from skiff.runtime.linux.defaults import default_spec
        path = os.path.join(args.bundle, "config.json")
        if os.path.exists(path):
            raise Conflict(f"file {path} exists: remove it first", path=path)
        import json
        with open(path, "w") as f:
            json.dump(default_spec(), f, indent=2)
            f.write("\n")
        return 0
    if args.cmd == "features":
        import json
        print(json.dumps(features(), indent=2))
        return 0
    if args.cmd == "update":
        c.update(root, args.id, _update_resources(args))
        return 0
    if args.cmd == "events":
        return _events(args)
    return 1


def _size(v: str) -> int:
    """"512m", "1g", "-1", "1024" -> bytes (runc's units.RAMInBytes)."""
    from skiff.errors import InvalidArgument
    t = v.strip().lower()
    if t == "-1":
        return -1
    mult = 1
    for suffix, m in (("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40)):
        if t.endswith(suffix + "b") or t.endswith(suffix):
            t = t[: -len(suffix + "b")] if t.endswith(suffix + "b") else t[:-1]
            mult = m
            break
    else:
        if t.endswith("b"):
            t = t[:-1]
    try:
        return int(float(t) * mult)
    except ValueError:
        raise InvalidArgument(f"invalid size {v!r}") from None


def _update_resources(args) -> dict:
    """runc update: -r FILE ("-" = stdin) holding OCI linux.resources, then the
    flags on top of it."""
    from skiff.errors import InvalidArgument
    res: dict = {}
    if args.resources:
        try:
            if args.resources == "-":
                res = fastjson.loads(sys.stdin.read())
            else:
                res = fastjson.load_file(args.resources)
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"cannot read resources {args.resources}: {e}") from None
    if args.l3_cache_schema or args.mem_bw_schema:
        raise InvalidArgument("intel rdt is not supported by skiff-runtime")
    mem = res.setdefault("memory", {})
    cpu = res.setdefault("cpu", {})
    for flag, key in (("memory", "limit"), ("memory_reservation", "reservation"),
                      ("memory_swap", "swap"), ("kernel_memory", "kernel"),
                      ("kernel_memory_tcp", "kernelTCP")):
        v = getattr(args, flag)
        if v is not None:
            mem[key] = _size(v)
    for flag, key, conv in (("cpu_shares", "shares", int), ("cpu_quota", "quota", int),
                            ("cpu_period", "period", int), ("cpu_rt_period", "realtimePeriod", int),
                            ("cpu_rt_runtime", "realtimeRuntime", int),
                            ("cpu_burst", "burst", int), ("cpu_idle", "idle", int),
                            ("cpuset_cpus", "cpus", str), ("cpuset_mems", "mems", str)):
        v = getattr(args, flag)
        if v is not None:
            try:
                cpu[key] = conv(v)
            except ValueError:
                raise InvalidArgument(f"invalid value for --{flag.replace('_', '-')}: {v!r}") \
                    from None
    if args.pids_limit is not None:
        res["pids"] = {"limit": int(args.pids_limit)}
    if args.blkio_weight is not None:
        res.setdefault("blockIO", {})["weight"] = int(args.blkio_weight)
    # a memory limit raised above the current swap limit needs swap raised too (runc)
    if "limit" in mem and "swap" not in mem and mem["limit"] == -1:
        mem["swap"] = -1
    return {k: v for k, v in res.items() if v != {}}


def _interval(s: str) -> float:
    """Go duration ("5s", "500ms", "1m") -> seconds."""
    for suffix, m in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * m
    return float(s)


def stats_event(container_id: str, st: dict) -> dict:
    """CgroupManager.stats() -> runc's ``events --stats`` object
    {"type": "stats", "id", "data": {cpu, memory, pids, blkio, hugetlb}}."""
    mem = st.get("memory") or {}
    cpu = st.get("cpu") or {}
    pids = st.get("pids") or {}
    data = {
        "cpu": {"usage": {"total": cpu.get("usage_ns") or 0,
                          "percpu": cpu.get("percpu_ns") or [],
                          "kernel": cpu.get("system_ns") or 0,
                          "user": cpu.get("user_ns") or 0},
                "throttling": {"periods": (cpu.get("throttling") or {}).get("periods", 0),
                               "throttledPeriods":
                                   (cpu.get("throttling") or {}).get("throttled_periods", 0),
                               "throttledTime":
                                   (cpu.get("throttling") or {}).get("throttled_time", 0)}},
        "memory": {"usage": {"limit": mem.get("limit") or 0, "usage": mem.get("usage") or 0,
                             "max": mem.get("max_usage") or 0, "failcnt": mem.get("failcnt") or 0},
                   "cache": (mem.get("stat") or {}).get("cache", 0),
                   "raw": mem.get("stat") or {}},
        "pids": {"current": pids.get("current") or 0, "limit": pids.get("limit") or 0},
        "blkio": {},
        "hugetlb": {},
    }
    return {"type": "stats", "id": container_id, "data": data}


def _events(args) -> int:
    """runc events: with --stats one stats object; else one every --interval
    until the container stops (then exit 0)."""
    from skiff.runtime.linux import container as c
    if args.stats:
        print(fastjson.dumps(stats_event(args.id, c.stats(args.root, args.id))), flush=True)
        return 0
    every = _interval(args.interval)
    while True:
        if c.state(args.root, args.id)["status"] == "stopped":
            return 0
        print(fastjson.dumps(stats_event(args.id, c.stats(args.root, args.id))), flush=True)
        time.sleep(every)


def features() -> dict:
    """runc's ``features`` JSON (runtime-spec features.md)."""
    from skiff.runtime import seccomp as _sc
    from skiff.runtime.linux.capabilities import CAPS
    from skiff.runtime.linux.hooks import NAMES as HOOKS
    from skiff.runtime.linux.namespaces import FLAGS
    from skiff.runtime.linux.procattr import apparmor_enabled, selinux_enabled
    from skiff.runtime.linux.rootfs import MOUNT_FLAGS, PROPAGATION
    seccomp_on = _sc.available()
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": list(HOOKS),
        "mountOptions": sorted(set(MOUNT_FLAGS) | set(PROPAGATION)),
        "linux": {
            "namespaces": sorted(FLAGS),
            "capabilities": sorted("CAP_" + n for n in CAPS),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                       "rdma": False},
            "seccomp": {"enabled": seccomp_on,
                        "actions": sorted(_sc.ACTIONS) if seccomp_on else [],
                        "operators": sorted(_sc.OPS) if seccomp_on else [],
                        "archs": sorted(_sc.ARCHES) if seccomp_on else [],
                        "knownFlags": sorted(_sc.FLAGS),
                        "supportedFlags": sorted(_sc.FLAGS) if seccomp_on else []},
            "apparmor": {"enabled": apparmor_enabled()},
            "selinux": {"enabled": selinux_enabled()},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"org.skiff.runtime.version": "0.1.0"},
    }


def _exec(args) -> int:
    """runc exec: the process from --process, or the container's own
    process with ARGS, --env, --cwd, --user, --tty applied; waits for it
    unless -d and exits with its status."""
    from skiff.errors import InvalidArgument
    from skiff.runtime.linux import container as c
    from skiff.runtime.linux import syscalls as sc
    if args.process:
        process = fastjson.load_file(args.process)
    else:
        st = c.state(args.root, args.id)
        process = dict(c.load_config(st["bundle"]).get("process") or {})
        if not args.args:
            raise InvalidArgument("exec needs a command or --process")
        process["args"] = list(args.args)
        process["terminal"] = args.tty
        process["env"] = list(process.get("env") or []) + list(args.env)
        if args.cwd:
            process["cwd"] = args.cwd
        if args.user:
            uid, _, gid = args.user.partition(":")
            process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        if args.additional_gids:
            process.setdefault("user", {})["additionalGids"] = [int(g) for g in
                                                                args.additional_gids]
        if args.cap:
            caps = dict(process.get("capabilities") or {})
            for k in ("bounding", "effective", "permitted", "ambient"):
                if k == "ambient" and k not in caps:
                    continue
                caps[k] = list(dict.fromkeys(list(caps.get(k) or []) + list(args.cap)))
            process["capabilities"] = caps
        if args.no_new_privs:
            process["noNewPrivileges"] = True
        if args.apparmor:
            process["apparmorProfile"] = args.apparmor
        if args.process_label:
            process["selinuxLabel"] = args.process_label
    sc.set_child_subreaper()
    console_path = args.console_socket or None
    listener = None
    if process.get("terminal") and not console_path and not args.detach:
        listener, console_path = _console_listener()
    pid = c.exec_process(args.root, args.id, process, console_socket=console_path,
                         pid_file=args.pid_file or None, preserve_fds=args.preserve_fds)
    if args.detach:
        return 0
    master = _accept_console(listener, console_path) if listener is not None else None
    _forward_signals(pid)
    return _proxy_pty(master, pid) if master is not None else _wait(pid)


def _console_listener():
    import socket
    import tempfile
    tmpdir = tempfile.mkdtemp(prefix="skiff-console-")
    path = os.path.join(tmpdir, "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    return listener, path


def _accept_console(listener, path) -> int:
    import socket
    conn, _ = listener.accept()
    _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    listener.close()
    os.unlink(path)
    os.rmdir(os.path.dirname(path))
    return fds[0]


def _forward_signals(pid: int) -> None:
    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT,
              _signal.SIGUSR1, _signal.SIGUSR2, _signal.SIGWINCH):
        _signal.signal(s, forward)


def _run(args) -> int:
    """create + start; without -d wait for the init, forward signals, delete,
    and exit with its status. With process.terminal and no --console-socket,
    the pty is proxied to our own stdin/stdout."""
    from skiff.runtime.linux import container as c
    from skiff.runtime.linux import syscalls as sc
    spec = c.load_config(os.path.abspath(args.bundle))
    terminal = bool((spec.get("process") or {}).get("terminal"))
    sc.set_child_subreaper()
    console_path = args.console_socket or None
    listener = None
    if terminal and not console_path and not args.detach:
        listener, console_path = _console_listener()
    # create() connects to the listener (queued, not yet accepted) and the
    # init sends the pty master into that connection; we accept it afterwards
    pid = c.create(args.root, args.id, args.bundle, console_socket=console_path,
                   pid_file=args.pid_file or None, no_pivot=args.no_pivot,
                   preserve_fds=args.preserve_fds)
    master = _accept_console(listener, console_path) if listener is not None else None
    try:
        c.start(args.root, args.id)
    except BaseException:
        try:
            c.delete(args.root, args.id, force=True)
        finally:
            pass
        raise
    if args.detach:
        return 0

    _forward_signals(pid)
    if master is not None:
        code = _proxy_pty(master, pid)
    else:
        code = _wait(pid)
    try:
        c.delete(args.root, args.id, force=True)
    except Exception as e:  # noqa: BLE001
        log.debug("delete after run: %s", e)
    return code


def _wait(pid: int) -> int:
    """Reap children (we are the subreaper) until ``pid`` exits; its status."""
    while True:
        try:
            p, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
        if p == pid:
            return _code(status)


def _code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _proxy_pty(master: int, pid: int) -> int:
    """Copy stdin -> pty master and master -> stdout until the init exits."""
    import select
    import termios
    import tty
    old = None
    if os.isatty(0):
        old = termios.tcgetattr(0)
        tty.setraw(0)
    try:
        fds = [master, 0]
        while True:
            try:
                r, _, _ = select.select(fds, [], [], 0.1)
            except InterruptedError:
                continue
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                os.write(1, data)
            if 0 in r:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    fds.remove(0)
            p, status = os.waitpid(pid, os.WNOHANG)
            if p == pid:
                # drain what is left
                try:
                    while True:
                        data = os.read(master, 65536)
                        if not data:
                            break
                        os.write(1, data)
                except OSError:
                    pass
                return _code(status)
        return _wait(pid)
    finally:
        if old is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, old)
        os.close(master)


if __name__ == "__main__":
    sys.exit(main())
