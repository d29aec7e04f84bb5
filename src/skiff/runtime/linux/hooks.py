"""OCI hooks (runtime-spec config.md#posix-platform-hooks): each hook is
{path, args, env, timeout (seconds)}, run with the container's state JSON
on its stdin. Who runs which, as runc:

    prestart, createRuntime   the creator (runtime namespace), after the init
                              made the namespaces and mounts, before pivot_root
    createContainer           the init (container mount namespace), before pivot_root
    startContainer            the init, after start() released it, before execve
    poststart                 start(), once the process exec'd; a failure
                              kills the container and fails start (runc)
    poststop                  delete(), after the container is gone; failures
                              are logged, not fatal (spec)

Standard library only, no subprocess (the init may run this after pivot_root,
where only already-imported modules are usable).
"""

from __future__ import annotations

import json
import os
import signal
import time

from skiff.errors import InvalidArgument, SkiffError

from skiff.runtime.linux._log import log  # noqa: E402

NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop")


def validate(hooks: dict | None) -> None:
    """Every hook has an absolute path and sane timeout. Raises InvalidArgument."""
    for name, lst in (hooks or {}).items():
        if name not in NAMES:
            continue
        for h in lst or ():
            path = (h or {}).get("path") or ""
            if not path.startswith("/"):
                raise InvalidArgument(f"hook {name}: path {path!r} must be absolute")
            t = h.get("timeout")
            if t is not None and int(t) <= 0:
                raise InvalidArgument(f"hook {name}: timeout must be positive")


def _signal_text(sig: int, core: bool) -> str:
    """Go's exec error text for a signalled child: "signal: bad system call"."""
    try:
        name = signal.strsignal(sig) or f"signal {sig}"
    except ValueError:
        name = f"signal {sig}"
    return f"signal: {name.lower()}" + (" (core dumped)" if core else "")


def run_one(hook: dict, state: dict, default_env: dict | None = None) -> None:
    """Fork + execve ``hook`` with ``state`` (JSON) on stdin, its stdout and
    stderr captured apart; wait up to hook["timeout"] seconds (SIGKILL after).
    A hook without "env" gets ``default_env`` (startContainer: the process's
    environment, as runc) or an empty one. Raises SkiffError with runc's
    wording: "error running hook: exit status N, stdout: ..., stderr: ..."
    or "hook ran past specified timeout of 1.0s"."""
    data = json.dumps(state).encode()
    path = hook["path"]
    args = list(hook.get("args") or [path])
    if hook.get("env") is not None:
        env = {}
        for kv in hook.get("env") or ():
            k, _, v = kv.partition("=")
            env[k] = v
    else:
        env = dict(default_env or {})
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.fork()
    except BaseException:
        for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    if pid == 0:
        try:
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.closerange(3, 65536)
            for s in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                try:
                    signal.signal(s, signal.SIG_DFL)
                except (ValueError, OSError):
                    pass
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execve(path, args, env)
        except BaseException as e:  # noqa: BLE001
            try:
                os.write(2, f"exec {path}: {e}".encode())
            finally:
                os._exit(127)
    os.close(in_r)
    os.close(out_w)
    os.close(err_w)
    try:
        try:
            os.write(in_w, data)
        except BrokenPipeError:
            pass
    finally:
        os.close(in_w)
    os.set_blocking(out_r, False)
    os.set_blocking(err_r, False)
    timeout = hook.get("timeout")
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    bufs = {out_r: b"", err_r: b""}
    status = None
    delay = 0.0005

    def drain() -> bool:
        got = False
        for fd in bufs:
            try:
                chunk = os.read(fd, 65536)
            except (BlockingIOError, OSError):
                continue
            if chunk:
                bufs[fd] += chunk[: max(0, 65536 - len(bufs[fd]))]
                got = True
        return got

    try:
        while True:
            if drain():
                continue
            p, st = os.waitpid(pid, os.WNOHANG)
            if p == pid:
                status = st
                break
            if deadline is not None and time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise SkiffError(f"hook ran past specified timeout of {float(timeout):.1f}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.01)
        drain()
    finally:
        os.close(out_r)
        os.close(err_r)
    if os.WIFSIGNALED(status):
        what = _signal_text(os.WTERMSIG(status), os.WCOREDUMP(status))
    elif os.WEXITSTATUS(status) != 0:
        what = f"exit status {os.WEXITSTATUS(status)}"
    else:
        return
    out = bufs[out_r].decode(errors="replace")
    err = bufs[err_r].decode(errors="replace")
    raise SkiffError(f"error running hook: {what}, stdout: {out}, stderr: {err}")


def run(hooks: dict | None, name: str, state: dict, fatal: bool = True,
        default_env: dict | None = None) -> None:
    """Run every hook of kind ``name`` in order with ``state`` (status set by the
    caller). ``fatal`` False (poststop): failures are logged and the
    remaining hooks still run. Errors read as runc's:
    "error running createRuntime hook #1: error running hook: exit status 1, ..."."""
    for i, h in enumerate((hooks or {}).get(name) or ()):
        try:
            run_one(h, state, default_env)
        except (SkiffError, OSError) as e:
            msg = f"error running {name} hook #{i}: {getattr(e, 'message', None) or e}"
            if fatal:
                raise SkiffError(msg) from None
            log.warning("%s", msg)
