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
        exec [-d] [--process F] [-t] [--cwd D] [-e K=V] [-u UID[:GID]]
             [--console-socket S] [--pid-file F] ID [ARGS...]
        kill [--all] ID [SIGNAL]           SIGNAL: TERM, SIGKILL, 9 ... (default TERM)
        delete [--force] ID
        list [--format table|json] [-q]
        spec [--bundle DIR] [--rootless]   writes config.json (Docker-like defaults)
        features

Errors are printed to stderr (and as a JSON line to --log) and exit 1;
``run`` exits with the container's exit status (128+N when killed by N).
Imports only the standard library and skiff.runtime.linux.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal as _signal
import sys
import time

DEFAULT_ROOT = "/run/skiff/runtime"

log = logging.getLogger("skiff.runtime")


class _JsonFormatter(logging.Formatter):
    def format(self, record):
        return json.dumps({"level": record.levelname.lower(), "msg": record.getMessage(),
                           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))})


def parse_signal(s: str) -> int:
    """"TERM", "SIGTERM", "term" or "15" -> 15. Raises InvalidArgument."""
    from skiff.errors import InvalidArgument
    if s.isdigit():
        return int(s)
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(getattr(_signal.Signals, name))
    except AttributeError:
        raise InvalidArgument(f"unknown signal {s!r}") from None


def _parser():
    p = argparse.ArgumentParser(prog="skiff-runtime", description="skiff's OCI runtime")
    p.add_argument("--root", default=DEFAULT_ROOT)
    p.add_argument("--log", default="")
    p.add_argument("--log-format", default="text", choices=("text", "json"))
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true", help="accepted, ignored")
    p.add_argument("--rootless", default="auto", help="accepted, ignored")
    sub = p.add_subparsers(dest="cmd", required=True)

    def with_create_opts(sp):
        sp.add_argument("--bundle", "-b", default=".")
        sp.add_argument("--console-socket", default="")
        sp.add_argument("--pid-file", default="")
        sp.add_argument("--no-pivot", action="store_true")
        sp.add_argument("--no-new-keyring", action="store_true")
        sp.add_argument("--preserve-fds", type=int, default=0)
        sp.add_argument("id")

    with_create_opts(sub.add_parser("create"))
    r = sub.add_parser("run")
    r.add_argument("--detach", "-d", action="store_true")
    with_create_opts(r)
    sub.add_parser("start").add_argument("id")
    sub.add_parser("pause").add_argument("id")
    sub.add_parser("resume").add_argument("id")
    ps = sub.add_parser("ps")
    ps.add_argument("--format", "-f", default="table", choices=("table", "json"))
    ps.add_argument("id")
    sub.add_parser("state").add_argument("id")
    e = sub.add_parser("exec")
    e.add_argument("--process", "-p", default="")
    e.add_argument("--tty", "-t", action="store_true")
    e.add_argument("--cwd", default="")
    e.add_argument("--env", "-e", action="append", default=[])
    e.add_argument("--user", "-u", default="")
    e.add_argument("--detach", "-d", action="store_true")
    e.add_argument("--console-socket", default="")
    e.add_argument("--pid-file", default="")
    e.add_argument("--preserve-fds", type=int, default=0)
    e.add_argument("id")
    e.add_argument("args", nargs=argparse.REMAINDER)
    k = sub.add_parser("kill")
    k.add_argument("--all", "-a", action="store_true")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="TERM")
    d = sub.add_parser("delete")
    d.add_argument("--force", "-f", action="store_true")
    d.add_argument("id")
    ls = sub.add_parser("list")
    ls.add_argument("--format", "-f", default="table", choices=("table", "json"))
    ls.add_argument("--quiet", "-q", action="store_true")
    s = sub.add_parser("spec")
    s.add_argument("--bundle", "-b", default=".")
    s.add_argument("--rootless", action="store_true")
    sub.add_parser("features")
    return p


def _setup_logging(args) -> None:
    level = logging.DEBUG if args.debug else logging.WARNING
    log.setLevel(level)
    if args.log:
        h = logging.FileHandler(args.log)
        h.setFormatter(_JsonFormatter() if args.log_format == "json"
                       else logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(h)
    elif args.debug:
        h = logging.StreamHandler(sys.stderr)
        log.addHandler(h)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skiff-runtime`` console script."""
    args = _parser().parse_args(argv)
    _setup_logging(args)
    from skiff.errors import SkiffError
    try:
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
            print(json.dumps(pids))
        else:
            print("PID")
            for p in pids:
                print(p)
        return 0
    if args.cmd == "state":
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
            print(json.dumps(states))
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
        with open(path, "w") as f:
            json.dump(default_spec(), f, indent=2)
            f.write("\n")
        return 0
    if args.cmd == "features":
        print(json.dumps(features(), indent=2))
        return 0
    return 1


def features() -> dict:
    """runc's ``features`` JSON (runtime-spec features.md)."""
    from skiff.runtime.linux.capabilities import CAPS
    from skiff.runtime.linux.namespaces import FLAGS
    from skiff.runtime.linux.rootfs import MOUNT_FLAGS, PROPAGATION
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": [],
        "mountOptions": sorted(set(MOUNT_FLAGS) | set(PROPAGATION)),
        "linux": {
            "namespaces": sorted(FLAGS),
            "capabilities": sorted("CAP_" + n for n in CAPS),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
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
        with open(args.process) as f:
            process = json.load(f)
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
