"""``skiff-shim``: the per-container shim process (see skiff.runtime.shim.server
and, for the wire protocol, skiff.runtime.shim.protocol).

    skiff-shim --id ID --bundle DIR --runtime-root R --log-path F [--runtime skiff|PATH]
               [--tty] [--stdin] [--stdin-once] [--log-max-size BYTES --log-max-file N]
               [--log-driver json-file|none] [--report-fd FD] [--foreground]

It detaches from its spawner (fork, setsid, fork: it is not the daemon's child
and outlives it), sends stdio to /dev/null and its own log to DIR/shim.log,
becomes child subreaper, creates the container, writes DIR/shim.pid, listens
on DIR/shim.sock, then writes its report on ``--report-fd``. Log rotation
defaults to Docker's json-file defaults: no rotation (max-size -1, max-file 1).
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="skiff-shim")
    p.add_argument("--id", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--runtime-root", required=True)
    p.add_argument("--log-path", default="")
    p.add_argument("--runtime", default="skiff")
    p.add_argument("--tty", action="store_true")
    p.add_argument("--stdin", action="store_true")
    p.add_argument("--stdin-once", action="store_true")
    p.add_argument("--log-max-size", type=int, default=-1)
    p.add_argument("--log-max-file", type=int, default=1)
    p.add_argument("--log-driver", default="json-file", choices=["json-file", "none"])
    p.add_argument("--report-fd", type=int, default=-1)
    p.add_argument("--foreground", action="store_true",
                   help="do not detach (debugging); logs go to stderr")
    return p.parse_args(argv)


def _detach(bundle: str) -> None:
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
    null = os.open("/dev/null", os.O_RDWR)
    logfd = os.open(os.path.join(bundle, "shim.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(logfd, 2)
    os.close(null)
    os.close(logfd)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def main(argv=None) -> int:
    """Console-script entry point; returns the process exit status."""
    args = parse_args(argv)
    args.bundle = os.path.abspath(args.bundle)
    args.runtime_root = os.path.abspath(args.runtime_root)
    if args.log_path:
        args.log_path = os.path.abspath(args.log_path)
    if args.runtime not in ("skiff", "") and os.sep in args.runtime:
        args.runtime = os.path.abspath(args.runtime)
    if args.report_fd >= 0:
        os.set_inheritable(args.report_fd, False)
    if not args.foreground:
        _detach(args.bundle)
    from skiff.runtime.shim.server import serve
    return serve(args, args.report_fd)


if __name__ == "__main__":
    sys.exit(main())
