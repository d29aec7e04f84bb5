"""``skiff-runtime``: an OCI runtime with runc's command line, over the same
code the shim calls in-process (skiff.runtime.linux.container).

    skiff-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug]
        create [-b DIR] [--console-socket S] [--pidfd-socket S] [--pid-file F]
               [--no-pivot] [--preserve-fds N] ID
        start ID
        pause ID / resume ID
        ps [-f table|json] ID [PS OPTIONS]  ps(1) (default -ef) filtered to the container
        run [-d] [--keep] (create's flags) ID
        state ID                            runc's field order
        exec [-d] [-p F] [-t] [--cwd D] [-e K=V] [-u UID[:GID]] [-c CAP]
             [--no-new-privs] [-g GID] [--apparmor P] [--process-label L]
             [--console-socket S] [--pidfd-socket S] [--pid-file F]
             [--preserve-fds N] [--cgroup [CTRL:]PATH] [--ignore-paused]
             [--exec-wait-fifo F] ID [ARGS...]
        update [-r FILE|-] [--memory B] [--memory-reservation B] [--memory-swap B]
               [--cpu-share N] [--cpu-quota US] [--cpu-period US] [--cpu-rt-period US]
               [--cpu-rt-runtime US] [--cpuset-cpus L] [--cpuset-mems L]
               [--pids-limit N] [--blkio-weight N] ID
        events [--stats] [--interval 5s] ID  compact JSON lines as runc ("stats", "oom")
        kill [--all] ID [SIGNAL]           SIGNAL: TERM, SIGKILL, 9 ... (default TERM)
        delete [--force] ID
        list [--format table|json] [-q]
        spec [--bundle DIR] [--rootless]   writes runc spec's config.json
        features
        -h / --help / CMD -h / help [CMD], -v / --version

Options follow urfave/cli as runc uses it: long and short aliases, flags
after the id (except exec and ps, whose trailing words are the process's
command line / ps(1)'s options). --systemd-cgroup is refused (no systemd
cgroup driver). With --log-format json, log lines are runc's: {"level":
"error", "msg": "...", "time": RFC 3339} (containerd's runc shim reads the
last error from --log); without --log, warnings (and with --debug, debug
lines) go to stderr in logrus' text format.
Errors are printed to stderr (and as a JSON line to --log) and exit 1 (exec:
255, as runc); ``run`` and ``exec`` exit with the process's exit status
(128+N when killed by N). Imports only the standard library and
skiff.runtime.linux.
"""

from __future__ import annotations

import _signal  # not ``signal``: its enum wrappers import enum (start-up time)
import os
import sys
import time

from skiff.runtime import fastjson  # not ``json``: it imports re and enum

#: runc's is /run/runc; not skiffd's own runtime state (<exec-root>/runtime)
DEFAULT_ROOT = "/run/skiff-runtime"

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
    """A malformed command line (exit status 2, as argparse; 3 for an
    unknown command, as runc's "No help topic")."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class _Help(Exception):
    """-h/--help/-v/--version/help: print ``text`` to stdout, exit 0."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


# option kinds: "s" string, "i" int, "b" bool, "a" append
_GLOBAL = {"root": ("s", DEFAULT_ROOT), "log": ("s", ""), "log-format": ("s", "text"),
           "debug": ("b", False), "systemd-cgroup": ("b", False), "rootless": ("s", "auto"),
           "criu": ("s", "")}
_CREATE = {"bundle": ("s", "."), "b": "bundle", "console-socket": ("s", ""),
           "pidfd-socket": ("s", ""), "pid-file": ("s", ""), "no-pivot": ("b", False),
           "no-new-keyring": ("b", False), "preserve-fds": ("i", 0)}
_UPDATE_FLAGS = ("memory", "memory-reservation", "memory-swap", "kernel-memory",
                 "kernel-memory-tcp", "cpu-share", "cpu-quota", "cpu-period", "cpu-rt-period",
                 "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight",
                 "cpu-burst", "cpu-idle", "l3-cache-schema", "mem-bw-schema")
#: command -> (options, positionals); a positional ending in "*" takes the rest,
#: one ending in "?" is optional (default after "=")
_COMMANDS: dict = {
    "create": (_CREATE, ["id"]),
    "run": (dict(_CREATE, detach=("b", False), d="detach", keep=("b", False),
                 **{"no-subreaper": ("b", False)}), ["id"]),
    "start": ({}, ["id"]), "pause": ({}, ["id"]), "resume": ({}, ["id"]),
    "state": ({}, ["id"]),
    "ps": ({"format": ("s", "table"), "f": "format"}, ["id", "ps_args*"]),
    "exec": ({"process": ("s", ""), "p": "process", "tty": ("b", False), "t": "tty",
              "cwd": ("s", ""), "env": ("a", None), "e": "env", "user": ("s", ""), "u": "user",
              "detach": ("b", False), "d": "detach", "console-socket": ("s", ""),
              "pid-file": ("s", ""), "preserve-fds": ("i", 0), "cap": ("a", None), "c": "cap",
              "no-new-privs": ("b", False), "additional-gids": ("a", None),
              "g": "additional-gids", "apparmor": ("s", ""), "process-label": ("s", ""),
              "ignore-paused": ("b", False), "cgroup": ("a", None), "pidfd-socket": ("s", ""),
              "exec-wait-fifo": ("s", "")}, ["id", "args*"]),
    "kill": ({"all": ("b", False), "a": "all"}, ["id", "signal?=TERM"]),
    "delete": ({"force": ("b", False), "f": "force"}, ["id"]),
    "list": ({"format": ("s", "table"), "f": "format", "quiet": ("b", False), "q": "quiet"}, []),
    "spec": ({"bundle": ("s", "."), "b": "bundle", "rootless": ("b", False)}, []),
    "features": ({}, []),
    "update": (dict({"resources": ("s", ""), "r": "resources"},
                    **{f: ("s", None) for f in _UPDATE_FLAGS}, **{"cpu-shares": "cpu-share"}),
               ["id"]),
    "events": ({"stats": ("b", False), "interval": ("s", "5s")}, ["id"]),
    # no CRIU here: accepted for the help text, refused when run
    "checkpoint": ({}, ["id", "rest*"]), "restore": ({}, ["id", "rest*"]),
}
#: commands whose options end at the container id: what follows is the
#: process's command line (exec) or ps(1)'s options (runc's SkipArgReorder)
_RAW_TAIL = ("exec", "ps", "checkpoint", "restore")

#: command -> (summary, usage after "runc CMD") for -h (urfave/cli's layout)
_HELP = {
    "checkpoint": ("checkpoint a running container", "[command options] <container-id>"),
    "create": ("create a container", "[command options] <container-id>"),
    "delete": ("delete any resources held by the container often used with detached "
               "container", "[command options] <container-id>"),
    "events": ("display container events such as OOM notifications, cpu, memory, and IO "
               "usage statistics", "[command options] <container-id>"),
    "exec": ("execute new process inside the container",
             "[command options] <container-id> <command> [command options]  || "
             "-p process.json <container-id>"),
    "features": ("show the enabled features", ""),
    "kill": ("kill sends the specified signal (default: SIGTERM) to the container's init "
             "process", "[command options] <container-id> [signal]"),
    "list": ("lists containers started by runc with the given root", "[command options]"),
    "pause": ("pause suspends all processes inside the container", "<container-id>"),
    "ps": ("ps displays the processes running inside a container",
           "[command options] <container-id> [ps options]"),
    "restore": ("restore a container from a previous checkpoint",
                "[command options] <container-id>"),
    "resume": ("resumes all processes that have been previously paused", "<container-id>"),
    "run": ("create and run a container", "[command options] <container-id>"),
    "spec": ("create a new specification file", "[command options]"),
    "start": ("executes the user defined process in a created container", "<container-id>"),
    "state": ("output the state of a container", "<container-id>"),
    "update": ("update container resource constraints", "[command options] <container-id>"),
}
VERSION = "0.1.0"
#: the runc release whose command line this one follows
RUNC_COMPAT = "1.2.0"


def _app_help() -> str:
    cmds = "\n".join(f"   {n:<11}{d[0]}" for n, d in sorted(_HELP.items()))
    return ("NAME:\n   runc - Open Container Initiative runtime (skiff-runtime)\n\n"
            "USAGE:\n   skiff-runtime [global options] command [command options] [arguments...]\n\n"
            f"VERSION:\n   {VERSION} (runc {RUNC_COMPAT} command line)\n\n"
            f"COMMANDS:\n{cmds}\n   help, h    Shows a list of commands or help for one command\n\n"
            "GLOBAL OPTIONS:\n   --debug                 enable debug logging\n"
            "   --log value             set the log file to write runc logs to\n"
            "   --log-format value      set the log format ('text' (default), or 'json')\n"
            f"   --root value            root directory for storage of container state (default: "
            f"\"{DEFAULT_ROOT}\")\n"
            "   --systemd-cgroup        refused: no systemd cgroup driver\n"
            "   --help, -h              show help\n   --version, -v           print the version\n")


def _command_help(cmd: str) -> str:
    summary, usage = _HELP.get(cmd, ("", ""))
    table = _COMMANDS[cmd][0]
    opts = []
    aliases = {v: k for k, v in table.items() if isinstance(v, str)}
    for k, v in table.items():
        if isinstance(v, str):
            continue
        names = f"--{k}" + (f", -{aliases[k]}" if k in aliases else "")
        opts.append(f"   {names}{' value' if v[0] != 'b' else ''}")
    return (f"NAME:\n   runc {cmd} - {summary}\n\nUSAGE:\n   runc {cmd} {usage}\n" +
            ("\nOPTIONS:\n" + "\n".join(opts) + "\n" if opts else ""))


def version_text() -> str:
    """``runc --version``'s three lines (runc's layout, skiff's numbers)."""
    return (f"runc version {RUNC_COMPAT} (skiff-runtime {VERSION})\n"
            f"commit: skiff-runtime-{VERSION}\nspec: 1.1.0\n")
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
        if a in ("-h", "--help", "-help"):
            raise _Help(_command_help(out["cmd"]) if out.get("cmd") else _app_help())
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
    if any(a in ("-v", "--version", "-version") for a in argv[:1]):
        raise _Help(version_text())
    i = _parse_opts(argv, 0, dict(_GLOBAL, v=("b", False), version=("b", False)), out, True,
                    rest)
    if out.pop("v", False) or out.pop("version", False):
        raise _Help(version_text())
    if i >= len(argv):
        raise _Help(_app_help())  # runc without a command shows its help
    cmd = argv[i]
    if cmd in ("help", "h"):
        topic = argv[i + 1] if i + 1 < len(argv) else ""
        if not topic:
            raise _Help(_app_help())
        if topic not in _COMMANDS:
            raise UsageError(f"No help topic for '{topic}'", code=3)
        raise _Help(_command_help(topic))
    if cmd not in _COMMANDS:
        raise UsageError(f"No help topic for '{cmd}'", code=3)
    table, pos_names = _COMMANDS[cmd]
    for k, v in table.items():
        if not isinstance(v, str):
            out[_dest(k)] = list(v[1] or []) if v[0] == "a" else v[1]
    out["cmd"] = cmd
    positionals: list[str] = []
    # options come before the positionals; exec's trailing words are the
    # process's arguments, never options of ours. The command's own flags
    # win over a global one of the same name (spec --rootless is a switch)
    j = _parse_opts(argv, i + 1, dict(_GLOBAL, **table), out, True, positionals)
    tail = argv[j:]
    if cmd in _RAW_TAIL:
        positionals = tail
    else:
        _parse_opts(tail, 0, dict(_GLOBAL, **table), out, False, positionals)
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
    if cmd in ("create", "run", "exec") and out.get("preserve_fds", 0) < 0:
        raise UsageError(f"invalid value {out['preserve_fds']!r} for flag --preserve-fds")
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

    me = os.getpid()

    def sink(level: str, msg: str) -> None:
        if os.getpid() != me:
            # a forked init or exec'd process: its stderr is the container's
            # and --log's path may not even be reachable from its mounts
            return
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (log_line(level, msg, fmt) + "\n").encode())
            finally:
                os.close(fd)
        elif level in ("debug", "info", "warning"):
            # runc (logrus) writes to stderr in the text format without --log
            # (errors are printed by main() itself)
            sys.stderr.write(log_line(level, msg, "text") + "\n")

    _log.sink = sink


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skiff-runtime`` console script."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else list(argv))
    except _Help as h:
        sys.stdout.write(h.text)
        return 0
    except UsageError as e:
        sys.stderr.write(f"skiff-runtime: {e}\n")
        return e.code
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
        # runc exec exits 255 when it could not run the process (its own
        # failures are then told from the process's exit status)
        return 255 if args.cmd == "exec" else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `skiff-runtime features | head`: end as a SIGPIPE'd runc would,
        # without a traceback (and without flushing into the closed pipe)
        os._exit(128 + _signal.SIGPIPE)
    return rc or 0


def _close_inherited_fds(keep: int, log_path: str = "") -> None:
    """Close what our caller left open above stdio and the --preserve-fds
    range: a forked init would hold it until its execve (runc's children
    only ever get 0-2 and the preserved fds; a test harness waiting for its
    output pipe to close would hang on a created container). An fd named
    by --log (/proc/self/fd/N, /dev/fd/N) stays."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return
    spared = -1
    for prefix in ("/proc/self/fd/", "/dev/fd/"):
        if log_path.startswith(prefix) and log_path[len(prefix):].isdigit():
            spared = int(log_path[len(prefix):])
    for fd in fds:
        if fd >= 3 + keep and fd != spared:
            try:
                os.close(fd)
            except OSError:
                pass  # the listdir's own fd, already gone


def _dispatch(args) -> int:
    from skiff.runtime.linux import container as c
    root = args.root
    if args.cmd in ("create", "run", "exec"):
        _check_preserved_fds(args.preserve_fds)
        _close_inherited_fds(args.preserve_fds, args.log)
    if args.cmd == "create":
        pid = c.create(root, args.id, args.bundle, console_socket=args.console_socket or None,
                       pid_file=args.pid_file or None, no_pivot=args.no_pivot,
                       preserve_fds=args.preserve_fds)
        if args.pidfd_socket:
            _send_pidfd_or_destroy(root, args.id, pid, args.pidfd_socket)
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
        return _ps(args)
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
            # runc's compact encoding (no blanks), field order as state()
            print(fastjson.dumps(states, separators=(",", ":")))
        else:
            rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
            rows += [[s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"],
                      s["owner"]] for s in states]
            sys.stdout.write(_tabwriter(rows))
        return 0
    if args.cmd == "spec":
        from skiff.errors import Conflict
        path = os.path.join(args.bundle, "config.json")
        if os.path.exists(path):
            raise Conflict(f"File {path} exists. Remove it first", path=path)
        import json
        with open(path, "w") as f:
            json.dump(runc_spec(rootless=args.rootless), f, indent="\t")
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
    if args.cmd in ("checkpoint", "restore"):
        from skiff.errors import InvalidArgument
        raise InvalidArgument(f"{args.cmd} is not supported by skiff-runtime (no CRIU)")
    return 1


def runc_spec(rootless: bool = False) -> dict:
    """What ``runc spec`` writes (libcontainer/specconv's example): a
    terminal sh, read-only rootfs, three capabilities, devices denied (the
    runtime adds its default devices), a cgroup namespace only on a cgroup v2
    host. Tools (runc's own integration tests among them) edit this
    baseline, so it is runc's, not Docker's (skiff.runtime.linux.defaults)."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        namespaces.append({"type": "cgroup"})
    spec = {
        "ociVersion": "1.1.0",
        "process": {
            "terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": list(caps), "effective": list(caps),
                             "permitted": list(caps)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": mounts,
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                            "/sys/devices/virtual/tpm"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        linux = spec["linux"]
        linux["namespaces"] = [n for n in namespaces if n["type"] not in ("network", "user")]
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        for m in mounts:
            if m["destination"] == "/sys":
                m.update(type="none", source="/sys",
                         options=["rbind", "nosuid", "noexec", "nodev", "ro"])
            elif m.get("options"):
                m["options"] = [o for o in m["options"]
                                if not o.startswith(("gid=", "uid="))]
        del linux["resources"]
    return spec


def _tabwriter(rows: list[list[str]]) -> str:
    """Go's text/tabwriter as runc list uses it (minwidth 12, padding 3,
    the last column unpadded)."""
    widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]) - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths)) + r[-1] + "\n" for r in rows)


def _ps(args) -> int:
    """runc ps: ``ps(1)`` (default ``-ef``) filtered to the container's
    processes by the PID column, or their host pids as JSON."""
    from skiff.errors import SkiffError
    from skiff.runtime.linux import container as c
    pids = c.pids(args.root, args.id)
    if args.format == "json":
        print(fastjson.dumps(pids, separators=(",", ":")))  # json.Encoder: no blanks
        return 0
    import subprocess
    try:
        r = subprocess.run(["ps"] + (list(args.ps_args) or ["-ef"]), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        raise SkiffError(f"exec ps: {os.strerror(e.errno or 0).lower()}") from None
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise SkiffError(f"ps exited with status {r.returncode}: {out.strip()}")
    lines = out.split("\n")
    header = lines[0].split()
    if "PID" not in header:
        raise SkiffError("couldn't find PID field in ps output")
    idx = header.index("PID")
    want = set(pids)
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= idx:
            continue
        try:
            p = int(fields[idx])
        except ValueError:
            raise SkiffError(f"unexpected pid {fields[idx]!r}") from None
        if p in want:
            print(line)
    return 0


def _check_preserved_fds(n: int) -> None:
    """--preserve-fds N: fds 3..3+N-1 must be open here (runc's check)."""
    from skiff.errors import InvalidArgument
    for i in range(n):
        try:
            os.fstat(3 + i)
        except OSError as e:
            raise InvalidArgument(f"unable to stat preserved-fd {i} (of {n}): fstat {3 + i}: "
                                  f"{os.strerror(e.errno or 0).lower()}") from None


def _send_pidfd(path: str, pid: int) -> None:
    """--pidfd-socket: a pidfd of ``pid`` over the unix socket at ``path``
    (SCM_RIGHTS, the message being a name, as runc's utils.SendFile)."""
    import socket
    from skiff.errors import SystemError_
    fd = -1
    try:
        fd = os.pidfd_open(pid)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            socket.send_fds(s, [b"pidfd"], [fd])
    except OSError as e:
        raise SystemError_(f"pidfd socket {path}: {os.strerror(e.errno or 0).lower()}",
                           errno=e.errno or 0) from None
    finally:
        if fd >= 0:
            os.close(fd)


def _send_pidfd_or_destroy(root: str, cid: str, pid: int, path: str) -> None:
    from skiff.runtime.linux import container as c
    try:
        _send_pidfd(path, pid)
    except BaseException:
        try:
            c.delete(root, cid, force=True)
        except Exception:  # noqa: BLE001
            pass
        raise


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
    """runc update: -r FILE ("-" = stdin) holding OCI linux.resources, or
    else the flags (with -r the flags are ignored, as runc's update.go)."""
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
        if not isinstance(res, dict):
            raise InvalidArgument(f"cannot read resources {args.resources}: "
                                  "not a JSON object (OCI linux.resources)")
        return res
    if args.l3_cache_schema or args.mem_bw_schema:
        raise InvalidArgument("intel rdt is not supported by skiff-runtime")
    mem = res.setdefault("memory", {})
    cpu = res.setdefault("cpu", {})
    for flag, key in (("memory", "limit"), ("memory_reservation", "reservation"),
                      ("memory_swap", "swap")):
        v = getattr(args, flag)
        if v is not None:
            try:
                mem[key] = _size(v)
            except InvalidArgument:
                raise InvalidArgument(f"invalid value for {flag.replace('_', '-')}: "
                                      f"invalid size: '{v}'") from None
    if args.kernel_memory is not None or args.kernel_memory_tcp is not None:
        log.warning("Kernel memory settings are ignored and will be removed")
    # runc: ParseUint for these, ParseInt for quota/rt-runtime/idle (Go's texts)
    for flag, key, signed in (("cpu_share", "shares", False), ("cpu_quota", "quota", True),
                              ("cpu_period", "period", False),
                              ("cpu_rt_period", "realtimePeriod", False),
                              ("cpu_rt_runtime", "realtimeRuntime", True),
                              ("cpu_burst", "burst", False), ("cpu_idle", "idle", True)):
        v = getattr(args, flag)
        if v is not None:
            ok = v.isdigit() or (signed and v[:1] in "-+" and v[1:].isdigit())
            if not ok:
                fn = "ParseInt" if signed else "ParseUint"
                raise InvalidArgument(f"invalid value for {flag.replace('_', '-')}: strconv."
                                      f"{fn}: parsing {fastjson.dumps(v)}: invalid syntax")
            cpu[key] = int(v)
    for flag, key in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        v = getattr(args, flag)
        if v:
            cpu[key] = v
    for flag in ("pids_limit", "blkio_weight"):
        v = getattr(args, flag)
        if v is not None and not (v.isdigit() or v[:1] == "-" and v[1:].isdigit()):
            raise InvalidArgument(f"invalid value {fastjson.dumps(v)} for flag "
                                  f"-{flag.replace('_', '-')}: parse error")
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


def _stats_obj(root: str, cid: str) -> dict:
    """One ``events`` stats object: runc's types.Stats from the cgroup driver
    when it has them, else the CgroupManager.stats() translation."""
    from skiff.runtime.linux import container as c
    data = c.runc_stats(root, cid)
    if data is None:
        return stats_event(cid, c.stats(root, cid))
    return {"type": "stats", "id": cid, "data": data}


def _events(args) -> int:
    """runc events: with --stats one stats object; else a stats object every
    --interval and {"type":"oom","id"} when the OOM killer struck, as compact
    JSON lines, until the container is stopped or deleted (then exit 0)."""
    from skiff.errors import NotFound
    from skiff.runtime.linux import container as c

    def emit(obj: dict) -> None:
        sys.stdout.write(fastjson.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    if args.stats:
        emit(_stats_obj(args.root, args.id))
        return 0
    every = _interval(args.interval)
    if every <= 0:
        from skiff.errors import InvalidArgument
        raise InvalidArgument("duration interval must be greater than 0")
    ooms = c.oom_count(args.root, args.id)
    next_stats = 0.0
    while True:
        try:
            if c.state(args.root, args.id)["status"] == "stopped":
                return 0
            now = time.monotonic()
            n = c.oom_count(args.root, args.id)
            if n is not None and ooms is not None and n > ooms:
                emit({"type": "oom", "id": args.id})
            ooms = n
            if now >= next_stats:
                emit(_stats_obj(args.root, args.id))
                next_stats = now + every
        except NotFound:
            return 0  # deleted meanwhile
        except BrokenPipeError:
            return 0
        time.sleep(min(every, 0.2))


def features() -> dict:
    """runc's ``features`` JSON (runtime-spec features.md)."""
    from skiff.runtime import seccomp as _sc
    from skiff.runtime.linux.capabilities import CAPS
    from skiff.runtime.linux.hooks import NAMES as HOOKS
    from skiff.runtime.linux.namespaces import FLAGS
    from skiff.runtime.linux.procattr import apparmor_enabled, selinux_enabled
    from skiff.runtime.linux import rootfs as _rootfs
    from skiff.runtime.linux.rootfs import MOUNT_FLAGS, PROPAGATION
    REC_ATTRS = getattr(_rootfs, "REC_ATTRS", {})
    seccomp_on = _sc.available()
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": list(HOOKS),
        "mountOptions": sorted(set(MOUNT_FLAGS) | set(PROPAGATION) | set(REC_ATTRS)),
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
            # idmapped bind mounts (mount_setattr MOUNT_ATTR_IDMAP, Linux 5.12)
            "mountExtensions": {"idmap": {"enabled": _kernel_at_least(5, 12)}},
        },
        "annotations": {"org.skiff.runtime.version": "0.1.0"},
    }


def _kernel_at_least(major: int, minor: int) -> bool:
    """Whether the running kernel's release is at least major.minor."""
    try:
        parts = os.uname().release.split(".")
        return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) >= \
            (major, minor)
    except (ValueError, IndexError):
        return False


def _exec(args) -> int:
    """runc exec: the process from --process, or the container's own
    process with ARGS, --env, --cwd, --user, --tty applied; waits for it
    unless -d and exits with its status."""
    from skiff.errors import InvalidArgument
    from skiff.runtime.linux import container as c
    from skiff.runtime.linux import syscalls as sc
    if args.process:
        try:
            process = fastjson.load_file(args.process)
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"process {args.process}: {e}") from None
        if not isinstance(process, dict) or not process.get("args"):
            raise InvalidArgument("args must not be empty")
        if not str(process.get("cwd") or "").startswith("/"):
            raise InvalidArgument("cwd must be an absolute path")
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
        user = dict(process.get("user") or {})
        if args.user:
            # runc: "<uid>[:<gid>]", numbers only; the spec's gid stays without one
            uid, sep, gid = args.user.partition(":")
            user["uid"] = _atoi(uid, "bad uid")
            if sep:
                user["gid"] = _atoi(gid, "bad gid")
        for g in args.additional_gids:
            n = _atoi(g, "invalid value for flag -additional-gids")
            if n < 0:
                raise InvalidArgument(f"additional-gids must be a positive number {n}")
            user.setdefault("additionalGids", [])
            user["additionalGids"] = list(user["additionalGids"]) + [n]
        process["user"] = user
        if args.cap:
            # as runc: ambient only when the spec has inheritable capabilities
            caps = dict(process.get("capabilities") or {})
            for k in ("bounding", "effective", "permitted", "ambient"):
                if k == "ambient" and caps.get("inheritable") is None:
                    continue
                caps[k] = list(caps.get(k) or []) + list(args.cap)
            process["capabilities"] = caps
        if args.no_new_privs:
            process["noNewPrivileges"] = True
        if args.apparmor:
            process["apparmorProfile"] = args.apparmor
        if args.process_label:
            process["selinuxLabel"] = args.process_label
    wait_fifo = _open_wait_fifo(args.exec_wait_fifo) if args.exec_wait_fifo else None
    sc.set_child_subreaper()
    console_path = args.console_socket or None
    listener = None
    if process.get("terminal") and not console_path and not args.detach:
        listener, console_path = _console_listener()
        if "consoleSize" not in process:
            size = _winsize()
            if size:  # the pty starts with our terminal's size
                process = dict(process, consoleSize={"height": size[0], "width": size[1]})
    acceptor = _ConsoleAcceptor(listener, console_path) if listener is not None else None
    gate = None
    if acceptor is not None and wait_fifo is None:
        # our own pty: the process waits before execve until ONLCR is off on
        # it, else its first lines could still come out as "\r\n"
        gate = _ExecGate(acceptor)
        wait_fifo = gate.fd
    try:
        pid = c.exec_process(args.root, args.id, process, console_socket=console_path,
                             pid_file=args.pid_file or None, preserve_fds=args.preserve_fds,
                             exec_wait_fifo=wait_fifo, cgroups=args.cgroup or None,
                             ignore_paused=args.ignore_paused,
                             on_waiting=gate.release if gate is not None else None)
    except BaseException:
        if acceptor is not None:
            acceptor.abandon()
        raise
    finally:
        if gate is not None:
            gate.close()
    if args.pidfd_socket:
        _send_pidfd(args.pidfd_socket, pid)
    if args.detach:
        return 0
    master = acceptor.wait() if acceptor is not None else None
    _forward_signals(pid)
    return _proxy_pty(master, pid) if master is not None else _wait(pid)


def _atoi(v: str, what: str) -> int:
    """Go's strconv.Atoi with runc's error wrapping."""
    from skiff.errors import InvalidArgument
    t = v.strip()
    if not (t.lstrip("+-").isdigit() and t == v):
        raise InvalidArgument(f"{what}: strconv.Atoi: parsing {fastjson.dumps(v)}: "
                              "invalid syntax")
    return int(t)


def _open_wait_fifo(path: str) -> int:
    """--exec-wait-fifo PATH: an O_PATH fd of the fifo; the exec'd process
    reopens it for writing right before execve, so it blocks until
    someone opens the read end."""
    import stat
    from skiff.errors import InvalidArgument
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as e:
        raise InvalidArgument(f"failed to open exec wait fifo {path}: "
                              f"{os.strerror(e.errno or 0).lower()}") from None
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidArgument(f"exec wait fifo {path} is not a fifo")
    return fd


def _winsize() -> tuple[int, int] | None:
    """(rows, columns) of the terminal on our stdin, None without one."""
    if not os.isatty(0):
        return None
    import fcntl
    import struct
    import termios
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return rows, cols


def _copy_winsize(master: int) -> None:
    """Our terminal's size onto the pty (runc resizes the console likewise)."""
    if not os.isatty(0):
        return
    import fcntl
    import termios
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass


def _console_listener():
    import socket
    import tempfile
    tmpdir = tempfile.mkdtemp(prefix="skiff-console-")
    path = os.path.join(tmpdir, "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    return listener, path


def _drop_listener(listener, path) -> None:
    """Close a console listener nobody connected to and remove its directory."""
    listener.close()
    try:
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass


def _accept_console(listener, path) -> int:
    """The pty master the container's process sends to our listener, with
    ONLCR off: like runc's foreground tty, the output is passed on as the
    process wrote it ("\n", not "\r\n")."""
    import socket
    import termios
    try:
        conn, _ = listener.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        conn.close()
    finally:
        _drop_listener(listener, path)
    master = fds[0]
    try:
        attrs = termios.tcgetattr(master)
        attrs[1] &= ~termios.ONLCR
        termios.tcsetattr(master, termios.TCSANOW, attrs)
    except termios.error:
        pass
    return master


class _ExecGate:
    """A private --exec-wait-fifo for a foreground ``exec -t``: released once
    the pty master has arrived (ONLCR off) or the process has died."""

    def __init__(self, acceptor: "_ConsoleAcceptor"):
        import tempfile
        self.acceptor = acceptor
        self.dir = tempfile.mkdtemp(prefix="skiff-exec-gate-")
        self.path = os.path.join(self.dir, "gate")
        os.mkfifo(self.path, 0o600)
        self.fd = os.open(self.path, os.O_PATH | os.O_CLOEXEC)
        self.read_fd = -1

    def release(self, pid: int) -> None:
        while self.acceptor.thread.is_alive():
            self.acceptor.thread.join(0.02)
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break  # died before sending its console
            except ChildProcessError:
                break
        # the read end: the process's blocking open for writing returns
        self.read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def close(self) -> None:
        for fd in (self.fd, self.read_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.read_fd = -1
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


class _ConsoleAcceptor:
    """_accept_console in a thread while exec_process() runs: the exec'd
    process sends its pty before execve and may write at once, so ONLCR
    must be off before exec_process() returns (as far as possible)."""

    def __init__(self, listener, path):
        import socket  # noqa: F401  (imported here, not in the thread, while forking)
        import termios  # noqa: F401
        import threading
        self.listener, self.path = listener, path
        self.master = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.master = _accept_console(self.listener, self.path)
        except BaseException as e:  # noqa: BLE001
            self.error = e

    def wait(self) -> int:
        self.thread.join()
        if self.master is None:
            from skiff.errors import SystemError_
            raise SystemError_(f"receiving the console: {self.error}")
        return self.master

    def abandon(self) -> None:
        import socket
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(1)
        if self.master is not None:
            os.close(self.master)


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
    sc.set_child_subreaper()  # --no-subreaper is accepted; we must reap the init
    console_path = args.console_socket or None
    listener = None
    if terminal and not console_path and not args.detach:
        listener, console_path = _console_listener()
    # create() connects to the listener (queued, not yet accepted) and the
    # init sends the pty master into that connection; we accept it afterwards
    try:
        pid = c.create(args.root, args.id, args.bundle, console_socket=console_path,
                       pid_file=args.pid_file or None, no_pivot=args.no_pivot,
                       preserve_fds=args.preserve_fds)
    except BaseException:
        if listener is not None:
            _drop_listener(listener, console_path)
        raise
    master = _accept_console(listener, console_path) if listener is not None else None
    if master is not None:
        _copy_winsize(master)  # before the process runs (it may read it at once)
    try:
        if args.pidfd_socket:
            _send_pidfd(args.pidfd_socket, pid)
        c.start(args.root, args.id)
    except BaseException:
        try:
            c.delete(args.root, args.id, force=True)
        except Exception as e:  # noqa: BLE001 - the start error is the one to report
            log.debug("delete after a failed start: %s", e)
        raise
    if args.detach:
        return 0

    _forward_signals(pid)
    if master is not None:
        code = _proxy_pty(master, pid)
    else:
        code = _wait(pid)
    if args.keep:
        return code  # --keep: left "stopped" for state/delete
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
        # raw input, but keep output processing (OPOST/ONLCR) on our
        # terminal as runc's console does: the container's pty has onlcr
        # off, so without it lines would staircase
        attrs = termios.tcgetattr(0)
        attrs[1] |= termios.OPOST
        termios.tcsetattr(0, termios.TCSANOW, attrs)
        # the pty follows our terminal's size on every SIGWINCH (the kernel
        # then signals the container's foreground process group)
        _signal.signal(_signal.SIGWINCH, lambda *_: _copy_winsize(master))
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
