"""skiffd: the skiff daemon. ``skiffd [--config-file F] [--data-root D]
[--exec-root E] [-H unix:///path|tcp://host:port]... [--debug]``.

Serves the Docker Engine API (v1.44) until SIGTERM/SIGINT; containers keep
running when it stops (their shims hold them) and are picked up again at
the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    from ..errors import SkiffError
    from .config import load
    try:
        cfg = load(sys.argv[1:] if argv is None else argv)
    except SkiffError as e:
        print(f"skiffd: {e}", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.DEBUG if cfg.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return asyncio.run(_serve(cfg))
    except SkiffError as e:
        logging.getLogger("skiffd").error("%s", e)
        return 1


async def _serve(cfg) -> int:
    from aiohttp import web

    from .wiring import Daemon

    log = logging.getLogger("skiffd")
    if os.geteuid() != 0:
        log.error("skiffd must run as root")
        return 1
    lock = _lock_data_root(cfg.data_root)  # held for the daemon's life
    if lock is None:
        return 1
    if cfg.pidfile:
        _write_pidfile(cfg.pidfile)
    daemon = Daemon(cfg)
    forkserver = _start_forkserver(os.path.join(cfg.exec_root, "shim-forkserver.sock"))
    if forkserver:
        daemon.containers.forkserver = forkserver[1]
    await daemon.restore()
    app = daemon.make_app()
    runner = web.AppRunner(app, access_log=log if cfg.debug else None, handle_signals=False,
                           shutdown_timeout=1)
    await runner.setup()
    sites = []
    for host in cfg.hosts:
        if host.startswith("unix://") or host.startswith("/"):
            path = host[len("unix://"):] if host.startswith("unix://") else host
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            site = web.UnixSite(runner, path)
            await site.start()
            os.chmod(path, 0o660)
        elif host.startswith("tcp://"):
            hp = host[len("tcp://"):]
            h, _, p = hp.rpartition(":")
            ssl_ctx = _tls_context(cfg) if (cfg.tls or cfg.tlsverify) else None
            if ssl_ctx is None and h not in ("127.0.0.1", "localhost", "::1", "[::1]"):
                log.warning("listening on %s without TLS: anyone reaching it controls skiffd", host)
            site = web.TCPSite(runner, h.strip("[]") or "127.0.0.1", int(p or 2375), ssl_context=ssl_ctx)
            await site.start()
        else:
            log.error("unsupported host %s", host)
            return 1
        sites.append(site)
        log.info("API listening on %s", host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    log.info("shutting down; containers keep running")
    await daemon.containers.shutdown()
    if getattr(daemon, "network", None) is not None:
        await daemon.network.shutdown()
    await runner.cleanup()
    if forkserver:
        _stop_forkserver(*forkserver)
    for host in cfg.hosts:  # the sockets go with the daemon, as dockerd's
        if host.startswith("unix://") or host.startswith("/"):
            try:
                os.unlink(host[len("unix://"):] if host.startswith("unix://") else host)
            except OSError:
                pass
    if cfg.pidfile:
        try:
            os.unlink(cfg.pidfile)
        except FileNotFoundError:
            pass
    return 0


def _lock_data_root(data_root: str):
    """An exclusive lock on <data-root>/skiffd.lock: one daemon per data root
    (two would corrupt each other's records). Returns the open file, or None
    (with the reason logged) when another skiffd holds it."""
    import fcntl
    os.makedirs(data_root, mode=0o711, exist_ok=True)
    f = open(os.path.join(data_root, "skiffd.lock"), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        other = f.read().strip()
        logging.getLogger("skiffd").error(
            "another skiffd (pid %s) uses the data root %s", other or "?", data_root)
        f.close()
        return None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def _start_forkserver(path: str) -> tuple[int, str] | None:
    """Start the shim fork server (skiff.runtime.shim.forkserver) and wait
    for its socket; None when it does not come up (shims are exec'd then)."""
    import sys
    import time
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    null = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "skiff.runtime.shim.forkserver", path],
                             os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, null, 0),
                                                       (os.POSIX_SPAWN_DUP2, null, 1)])
    except OSError as e:
        logging.getLogger("skiffd").warning("shim fork server: %s", e)
        return None
    finally:
        os.close(null)
    for _ in range(200):
        if os.path.exists(path):
            return pid, path
        done, _st = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    logging.getLogger("skiffd").warning("shim fork server did not start; shims will be exec'd")
    _stop_forkserver(pid, path)
    return None


def _stop_forkserver(pid: int, path: str) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _tls_context(cfg):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tlscert, cfg.tlskey)
    if cfg.tlsverify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cfg.tlscacert)
    return ctx


def _write_pidfile(path: str) -> None:
    try:
        with open(path) as f:
            old = int(f.read().strip() or 0)
        if old and os.path.exists(f"/proc/{old}"):
            from ..errors import Conflict
            raise Conflict(f"pid file found, ensure skiffd is not running or delete {path}")
    except (FileNotFoundError, ValueError):
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(str(os.getpid()))


if __name__ == "__main__":
    sys.exit(main())
