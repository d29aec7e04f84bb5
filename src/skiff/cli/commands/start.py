"""``skiff start [-a] [-i] CONTAINER...`` (docker/cli container/start.go):
without -a, POST /containers/{id}/start for each and print its name; with
-a/-i, attach, wait and start one container and exit with its status."""

from __future__ import annotations

import sys

from skiff.cli.base import PROG, StatusError, error_text
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import for_each, quote
from skiff.errors import SkiffError


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers", [
        Flag("attach", "a", "bool", help="Attach STDOUT/STDERR and forward signals"),
        Flag("detach-keys", None, "string", help="Override the key sequence for detaching a container"),
        Flag("interactive", "i", "bool", help="Attach container's STDIN"),
    ], args=(1, None), aliases=[f"{PROG} container start", f"{PROG} start"])
    opts, args = cli.parse(fs, argv)
    client = cli.client
    if not (opts.attach or opts.interactive):
        def one(name):
            client.request("POST", f"/containers/{quote(name)}/start")
        try:
            return for_each(cli, args, one)
        except StatusError as e:
            raise StatusError(e.message + "\nError: failed to start containers: " + ", ".join(args), 1) from None
    if len(args) > 1:
        raise StatusError("Error: you cannot start and attach multiple containers at once", 1)
    name = args[0]
    info = client.get_json(f"/containers/{quote(name)}/json")
    cid = info["Id"]
    cfg = info.get("Config") or {}
    tty = bool(cfg.get("Tty"))
    stdin = bool(opts.interactive and cfg.get("OpenStdin"))
    from skiff.cli.attach import Attachment, Waiter, monitor_resize, proxy_signals
    from skiff.cli.tty import isatty, RawMode
    attachment = Attachment(client, cid, stdin=stdin, stdout=True, stderr=True, tty=tty,
                     detach_keys=opts.detach_keys or None)
    waiter = Waiter(client, cid, "next-exit")
    raw = None
    if tty and stdin and isatty(sys.stdin):
        raw = RawMode(sys.stdin.fileno())
        raw.__enter__()
    try:
        attachment.start_io()
        try:
            client.request("POST", f"/containers/{cid}/start")
        except SkiffError as e:
            attachment.close()
            raise StatusError(error_text(e), 1) from None
        restore = None
        if tty:
            monitor_resize(client, cid)
        else:
            restore = proxy_signals(client, cid)
        try:
            attachment.wait_output()
            if attachment.detached:
                return 0
            return waiter.result()
        finally:
            if restore:
                restore()
    finally:
        if raw is not None:
            raw.__exit__(None, None, None)
