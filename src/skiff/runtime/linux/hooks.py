"""OCI hooks (runtime-spec config.md#posix-platform-hooks): each hook is
{path, args, env, timeout (seconds)}, run with the container's state JSON
on its stdin. Who runs which, as runc:

    prestart, createRuntime   the creator (runtime namespace), after the init
                              made the namespaces and mounts, before pivot_root
    createContainer           the init (container mount namespace), before pivot_root
    startContainer            the init, after start() released it, before execve
    poststart                 start(), once the process exec'd; failures are
                              logged, not fatal (spec)
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


def run_one(hook: dict, state: dict) -> None:
    """Fork + execve ``hook`` with ``state`` (JSON) on stdin, its stdout and
    stderr captured; wait up to hook["timeout"] seconds (SIGKILL after).
    Raises SkiffError "error running hook: exit status N, stdout: ..., stderr: ..."
    or "... timeout"."""
    data = json.dumps(state).encode()
    path = hook["path"]
    args = list(hook.get("args") or [path])
    env = {}
    for kv in hook.get("env") or ():
        k, _, v = kv.partition("=")
        env[k] = v
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        pid = os.fork()
    except BaseException:
        for fd in (in_r, in_w, out_r, out_w):
            os.close(fd)
        raise
    if pid == 0:
        try:
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
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
    try:
        try:
            os.write(in_w, data)
        except BrokenPipeError:
            pass
    finally:
        os.close(in_w)
    os.set_blocking(out_r, False)
    timeout = hook.get("timeout")
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    output = b""
    status = None
    delay = 0.0005
    try:
        while True:
            try:
                chunk = os.read(out_r, 65536)
                if chunk:
                    output += chunk[: max(0, 65536 - len(output))]
                    continue
            except BlockingIOError:
                pass
            p, st = os.waitpid(pid, os.WNOHANG)
            if p == pid:
                status = st
                break
            if deadline is not None and time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise SkiffError(f"error running hook {path}: timeout after {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.01)
        try:
            output += os.read(out_r, 65536)
        except (BlockingIOError, OSError):
            pass
    finally:
        os.close(out_r)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        what = f"signal: {-code}" if code < 0 else f"exit status {code}"
        text = output.decode(errors="replace").strip()
        raise SkiffError(f"error running hook {path}: {what}, output: {text}")


def run(hooks: dict | None, name: str, state: dict, fatal: bool = True) -> None:
    """Run every hook of kind ``name`` in order with ``state`` (status set by the
    caller). ``fatal`` False (poststart, poststop): failures are logged and the
    remaining hooks still run."""
    for i, h in enumerate((hooks or {}).get(name) or ()):
        try:
            run_one(h, state)
        except (SkiffError, OSError) as e:
            msg = f"{name} hook #{i}: {getattr(e, 'message', None) or e}"
            if fatal:
                raise SkiffError(msg) from None
            log.warning("%s", msg)
