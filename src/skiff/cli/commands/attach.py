"""``skiff attach [--no-stdin] [--sig-proxy] CONTAINER``: attach to a running
container's stdio and exit with its status (docker/cli container/attach.go)."""

from __future__ import annotations

import sys

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import quote


def main(cli, argv):
    fs = FlagSet("[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container", [
        Flag("detach-keys", None, "string", help="Override the key sequence for detaching a container"),
        Flag("no-stdin", None, "bool", help="Do not attach STDIN"),
        Flag("sig-proxy", None, "bool", default=True, help="Proxy all received signals to the process"),
    ], args=(1, 1), aliases=[f"{PROG} container attach", f"{PROG} attach"])
    opts, (name,) = cli.parse(fs, argv)
    client = cli.client
    info = client.get_json(f"/containers/{quote(name)}/json")
    state = info.get("State") or {}
    if not state.get("Running"):
        raise StatusError("You cannot attach to a stopped container, start it first", 1)
    if state.get("Paused"):
        raise StatusError("You cannot attach to a paused container, unpause it first", 1)
    cfg = info.get("Config") or {}
    tty = bool(cfg.get("Tty"))
    stdin = bool(cfg.get("OpenStdin")) and not opts.no_stdin
    from skiff.cli.attach import Attachment, Waiter, monitor_resize, proxy_signals
    from skiff.cli.tty import isatty, RawMode
    cid = info["Id"]
    waiter = Waiter(client, cid, "not-running")
    att = Attachment(client, cid, stdin=stdin, stdout=True, stderr=True, tty=tty,
                     detach_keys=opts.detach_keys or None)
    raw = None
    if tty and stdin and isatty(sys.stdin):
        raw = RawMode(sys.stdin.fileno())
        raw.__enter__()
    restore = None
    try:
        att.start_io()
        if tty:
            monitor_resize(client, cid)
        elif opts.sig_proxy:
            restore = proxy_signals(client, cid)
        att.wait_output()
        if att.detached:
            return 0
        return waiter.result()
    finally:
        if restore:
            restore()
        if raw is not None:
            raw.__exit__(None, None, None)
