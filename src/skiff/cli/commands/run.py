"""``skiff run``: create, attach, wait, start, exit with the container's status
(docker/cli cli/command/container/run.go).

Exit statuses: 125 for flag, daemon and pull errors; 126 when start fails
with "permission denied"/"is a directory"; 127 with "executable file not
found"/"no such file or directory"; the container's status otherwise.
"""

from __future__ import annotations

import sys
import threading

from skiff.cli.base import StatusError, error_text, PROG
from skiff.cli.containeropts import FLAGS, USAGE, build
from skiff.cli.flags import FlagSet, FlagError
from skiff.errors import SkiffError


def start_error_status(message: str) -> int:
    """docker/cli toStatusError: 127 / 126 / 125 from the start error's text."""
    if "executable file not found" in message or "no such file or directory" in message \
            or "system cannot find the file specified" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def flagset() -> FlagSet:
    return FlagSet(USAGE, "Create and run a new container from an image", FLAGS, interspersed=False,
                   args=(1, None), aliases=[f"{PROG} container run", f"{PROG} run"])


def main(cli, argv: list[str]) -> int:
    opts, args = cli.parse(flagset(), argv)
    from skiff.cli.pulling import create_container, validate_pull
    from skiff.cli.tty import isatty
    try:
        validate_pull(opts.pull)
        image, body, params = build(opts, args, for_run=True)
    except FlagError as e:
        raise StatusError(f"{e}\n\nUsage:  {cli.prog} {USAGE}\n\n"
                          f"Run '{cli.prog} --help' for more information", 125) from None
    except ValueError as e:
        raise cli.run_error(e) from None
    if opts.detach_keys:
        from skiff.cli.attach import parse_detach_keys
        try:
            parse_detach_keys(opts.detach_keys)
        except ValueError as e:
            raise cli.run_error(e) from None
    detach = opts.detach
    if detach:
        if opts.attach:
            raise cli.run_error(ValueError("Conflicting options: -a and -d"))
        body["AttachStdin"] = body["AttachStdout"] = body["AttachStderr"] = False
        body["StdinOnce"] = False
    else:
        if body["AttachStdin"] and body["Tty"] and not isatty(sys.stdin):
            raise StatusError(f"{PROG}: the input device is not a TTY", 1)
        if body["OpenStdin"] and body["AttachStdin"]:
            body["StdinOnce"] = True
    client = cli.client
    try:
        resp = create_container(cli, image, body, params, pull=opts.pull, quiet=opts.quiet)
    except SkiffError as e:
        raise cli.run_error(e) from None
    cid = resp["Id"]
    if opts.cidfile:
        try:
            with open(opts.cidfile, "x") as f:
                f.write(cid)
        except OSError as e:
            raise cli.run_error(ValueError(f"failed to create the container ID file: {e}")) from None
    attach = not detach and (body["AttachStdin"] or body["AttachStdout"] or body["AttachStderr"])
    tty = body["Tty"]
    attachment = None
    waiter = None
    try:
        if attach:
            from skiff.cli.attach import Attachment
            attachment = Attachment(client, cid, stdin=body["AttachStdin"], stdout=body["AttachStdout"],
                                    stderr=body["AttachStderr"], tty=tty, detach_keys=opts.detach_keys or None)
        if not detach:
            from skiff.cli.attach import Waiter
            waiter = Waiter(client, cid, "removed" if opts.rm else "next-exit")
    except SkiffError as e:
        if attachment:
            attachment.close()
        raise cli.run_error(e) from None
    raw = None
    if attachment and tty and body["AttachStdin"] and isatty(sys.stdin):
        from skiff.cli.tty import RawMode
        raw = RawMode(sys.stdin.fileno())
        raw.__enter__()
    try:
        if attachment:
            attachment.start_io()
        try:
            client.request("POST", f"/containers/{cid}/start")
        except SkiffError as e:
            if attachment:
                attachment.close()
            if opts.rm and waiter is not None:
                _await_removal(client, cid, waiter)
            msg = error_text(e)
            raise StatusError(f"{PROG}: {msg}\n\nRun '{cli.prog} --help' for more information",
                              start_error_status(msg)) from None
        if detach:
            cli.out.write(cid + "\n")
            return 0
        restore = None
        if tty:
            from skiff.cli.attach import monitor_resize
            monitor_resize(client, cid)
        elif opts.sig_proxy:
            from skiff.cli.attach import proxy_signals
            restore = proxy_signals(client, cid)
        try:
            if attachment:
                attachment.wait_output()
                if attachment.detached:
                    return 0
                if attachment.error is not None and not isinstance(attachment.error, OSError):
                    cli.err.write(f"{PROG}: {attachment.error}\n")
            try:
                status = waiter.result()
            except SkiffError as e:
                raise cli.run_error(e) from None
        finally:
            if restore:
                restore()
        return status
    finally:
        if raw is not None:
            raw.__exit__(None, None, None)


def _await_removal(client, cid: str, waiter) -> None:
    """With --rm, wait (bounded) for the daemon to remove the container that
    failed to start; remove it ourselves if it does not."""
    done = threading.Event()

    def wait():
        try:
            waiter.result()
        except Exception:  # noqa: BLE001
            pass
        done.set()
    threading.Thread(target=wait, daemon=True).start()
    if not done.wait(10):
        try:
            client.request("DELETE", f"/containers/{cid}", {"force": True, "v": True})
        except SkiffError:
            pass
