"""``skiff exec [-d] [-i] [-t] [-e K=V] [--env-file F] [-u USER] [-w DIR]
[--privileged] CONTAINER COMMAND [ARG...]`` (docker/cli container/exec.go):
POST /containers/{id}/exec, POST /exec/{id}/start (hijacked unless -d),
exit with GET /exec/{id}/json's ExitCode."""

from __future__ import annotations

import sys

from skiff.cli.base import PROG, StatusError, error_text
from skiff.cli.flags import Flag, FlagSet, FlagError
from skiff.cli.multi import quote
from skiff.errors import SkiffError


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container", [
        Flag("detach", "d", "bool", help="Detached mode: run command in the background"),
        Flag("detach-keys", None, "string", help="Override the key sequence for detaching a container"),
        Flag("env", "e", "list", help="Set environment variables"),
        Flag("env-file", None, "list", help="Read in a file of environment variables"),
        Flag("interactive", "i", "bool", help="Keep STDIN open even if not attached"),
        Flag("privileged", None, "bool", help="Give extended privileges to the command"),
        Flag("tty", "t", "bool", help="Allocate a pseudo-TTY"),
        Flag("user", "u", "string", help="Username or UID (format: \"<name|uid>[:<group|gid>]\")"),
        Flag("workdir", "w", "string", help="Working directory inside the container"),
    ], interspersed=False, args=(2, None), aliases=[f"{PROG} container exec", f"{PROG} exec"])
    opts, args = cli.parse(fs, argv)
    from skiff.cli.containeropts import read_env_file, _env_list
    from skiff.cli.tty import isatty
    try:
        env = []
        for f in opts.env_file:
            env += read_env_file(f)
        env += _env_list(opts.env)
    except FlagError as e:
        raise StatusError(str(e), 125) from None
    name, cmd = args[0], args[1:]
    if opts.interactive and opts.tty and not opts.detach and not isatty(sys.stdin):
        raise StatusError("the input device is not a TTY", 1)
    body = {"User": opts.user or "", "Privileged": opts.privileged, "Tty": opts.tty,
            "AttachStdin": opts.interactive and not opts.detach, "AttachStdout": not opts.detach,
            "AttachStderr": not opts.detach, "Detach": opts.detach, "DetachKeys": opts.detach_keys or "",
            "Env": env or None, "WorkingDir": opts.workdir or "", "Cmd": cmd}
    client = cli.client
    try:
        resp = client.post_json(f"/containers/{quote(name)}/exec", None, body)
    except SkiffError as e:
        raise StatusError(error_text(e), 1) from None
    eid = resp["Id"]
    if opts.detach:
        client.post_json(f"/exec/{eid}/start", None, {"Detach": True, "Tty": opts.tty})
        return 0
    import json
    from skiff.cli.attach import Attachment
    att = Attachment.__new__(Attachment)
    sock, pending = client.hijack(f"/exec/{eid}/start", None,
                                  body=json.dumps({"Detach": False, "Tty": opts.tty}).encode(),
                                  headers={"Content-Type": "application/json"})
    Attachment.init_from_socket(att, sock, pending, tty=opts.tty, stdin=body["AttachStdin"])
    raw = None
    if opts.tty and body["AttachStdin"] and isatty(sys.stdin):
        from skiff.cli.tty import RawMode
        raw = RawMode(sys.stdin.fileno())
        raw.__enter__()
    try:
        att.start_io()
        if opts.tty:
            from skiff.cli.tty import size
            h, w = size(1)
            if h and w:
                try:
                    client.request("POST", f"/exec/{eid}/resize", {"h": h, "w": w})
                except SkiffError:
                    pass
        att.wait_output()
    finally:
        if raw is not None:
            raw.__exit__(None, None, None)
    info = client.get_json(f"/exec/{eid}/json") or {}
    code = info.get("ExitCode")
    return int(code) if code is not None else 0
