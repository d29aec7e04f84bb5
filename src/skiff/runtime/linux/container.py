"""create / start / state / kill / delete of OCI bundles (the library
interface of skiff.runtime.api; OCI runtime-spec runtime.md, runc's
behaviour). State lives in ``root``/<id>/: state.json and exec.fifo.

The caller of create() becomes the parent of the container's init only if
it is a subreaper (prctl(PR_SET_CHILD_SUBREAPER), see
skiff.runtime.linux.syscalls.set_child_subreaper); it must then reap it.
"""

from __future__ import annotations

import _signal  # not ``signal`` (enum): start-up time
import os
import select
import time

from skiff.errors import (Conflict, ExecError, InvalidArgument, NotFound, NotModified,
                          SkiffError, SystemError_)
from skiff.runtime import fastjson
from skiff.runtime.cgroups.detect import default_path, new_manager
from skiff.runtime.linux import init as _init

OCI_VERSION = "1.1.0"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


def _state_dir(root: str, container_id: str) -> str:
    if (not container_id or len(container_id) > 1024 or not container_id[0].isalnum()
            or not _ID_CHARS.issuperset(container_id)):
        raise InvalidArgument(f"invalid container id {container_id!r}", id=container_id)
    return os.path.join(root, container_id)


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks); None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def _write_json(path: str, obj: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(fastjson.dumps(obj))
    os.replace(tmp, path)


def load_config(bundle: str) -> dict:
    """Read ``bundle``/config.json. Raises NotFound / InvalidArgument."""
    path = os.path.join(bundle, "config.json")
    try:
        return fastjson.load_file(path)
    except FileNotFoundError:
        raise NotFound(f"no config.json in bundle {bundle}", path=path) from None
    except (ValueError, OSError) as e:
        raise InvalidArgument(f"cannot read {path}: {e}", path=path) from None


def _manager(st: dict):
    return new_manager(st["cgroupsPath"])


_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def _own_namespace(spec: dict, ns_type: str, proc_name: str) -> bool:
    """Does the container get a namespace of ``ns_type`` that is not the
    host's (a new one, or a path to another one)?"""
    for ns in (spec.get("linux") or {}).get("namespaces") or ():
        if ns.get("type") != ns_type:
            continue
        path = ns.get("path")
        if not path:
            return True
        try:
            return os.stat(path).st_ino != os.stat(f"/proc/1/ns/{proc_name}").st_ino
        except OSError:
            return False
    return False


def check_sysctls(spec: dict) -> None:
    """runc's rule (libcontainer/configs/validate): a sysctl may only be set
    in a namespace the container owns: IPC ones and fs.mqueue.* need an IPC
    namespace, net.* a network one, kernel.hostname/domainname a UTS one.
    Anything else would change the host. InvalidArgument otherwise."""
    for key in ((spec.get("linux") or {}).get("sysctl") or {}):
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            ok = _own_namespace(spec, "ipc", "ipc")
        elif key.startswith("net."):
            ok = _own_namespace(spec, "network", "net")
        elif key in ("kernel.hostname", "kernel.domainname"):
            ok = _own_namespace(spec, "uts", "uts")
        else:
            ok = False
        if not ok:
            raise InvalidArgument(f"sysctl {key!r} is not in a separate kernel namespace")


#: runc's AllowedDevices (libcontainer/specconv): mknod of anything, the
#: standard character devices, the pty ones and /dev/net/tun; appended to the
#: spec's device rules so that a "deny all" in linux.resources.devices (as
#: ``runc spec`` writes) still leaves /dev/null, /dev/ptmx, /dev/pts/N usable
_ALLOWED_DEVICES = (("c", None, None, "m"), ("b", None, None, "m"),
                    ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"),
                    ("c", 5, 0, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"),
                    ("c", 136, None, "rwm"), ("c", 5, 2, "rwm"), ("c", 10, 200, "rwm"))


def _with_default_devices(linux: dict) -> dict:
    """linux.resources with the device rules runc ends up with: the spec's
    rules, then an allow rule for each linux.devices entry and runc's
    AllowedDevices (later rules win in the devices cgroup)."""
    res = dict(linux.get("resources") or {})
    rules = list(res.get("devices") or ())
    if not rules:
        return res  # nothing denied: the cgroup allows everything already
    for d in linux.get("devices") or ():
        t = d.get("type")
        if t in ("c", "b", "u") and d.get("major") is not None:
            rules.append({"allow": True, "type": "b" if t == "b" else "c",
                          "major": d.get("major"), "minor": d.get("minor"), "access": "rwm"})
    for t, major, minor, access in _ALLOWED_DEVICES:
        rules.append({"allow": True, "type": t, "major": major, "minor": minor,
                      "access": access})
    res["devices"] = rules
    return res


def create(root: str, container_id: str, bundle: str, *, stdio=None, console_socket=None,
           pid_file=None, no_pivot: bool = False, preserve_fds: int = 0) -> int:
    """Make the container's init, set up and blocked on exec.fifo; return its
    host pid. See skiff.runtime.api for the contract. Raises Conflict (id
    exists), NotFound (bundle/config), InvalidArgument, ExecError (runc's
    wording and exit_code), SystemError_/SkiffError for other setup failures
    (the half-made container is removed)."""
    sdir = _state_dir(root, container_id)
    bundle = os.path.abspath(bundle)
    spec = load_config(bundle)
    proc = spec.get("process") or {}
    if not proc.get("args"):
        raise InvalidArgument("process.args must not be empty", id=container_id)
    from skiff.runtime.linux.namespaces import parse as _parse_ns
    ns_types = {n.get("type") for n in (spec.get("linux") or {}).get("namespaces") or ()}
    _parse_ns((spec.get("linux") or {}).get("namespaces"))  # InvalidArgument if malformed
    if "mount" not in ns_types:
        # every mount below would land in the host's mount namespace
        raise InvalidArgument("a mount namespace is required (linux.namespaces has no mount)",
                              id=container_id)
    check_sysctls(spec)
    hooks_cfg = spec.get("hooks") or {}
    if hooks_cfg:
        from skiff.runtime.linux.hooks import validate
        validate(hooks_cfg)
    linux = spec.get("linux") or {}
    if (proc.get("apparmorProfile") or proc.get("selinuxLabel") or proc.get("ioPriority")
            or proc.get("scheduler") or linux.get("personality") or linux.get("memoryPolicy")
            or linux.get("intelRdt") or linux.get("mountLabel")):
        from skiff.runtime.linux.procattr import check
        check(spec)
    seccomp_cfg = linux.get("seccomp")
    if seccomp_cfg and seccomp_cfg.get("listenerPath"):
        raise InvalidArgument("seccomp listenerPath is not supported by skiff-runtime "
                              f"({seccomp_cfg['listenerPath']!r})", id=container_id)
    cg_in = linux.get("cgroupsPath") or ""
    if cg_in.count(":") == 2 and not cg_in.startswith("/"):
        raise InvalidArgument(f"cgroupsPath {cg_in!r} is a systemd slice:prefix:name path; "
                              "skiff-runtime does not support the systemd cgroup driver",
                              id=container_id)
    root_path = (spec.get("root") or {}).get("path") or "rootfs"
    rootfs_dir = os.path.realpath(os.path.join(bundle, root_path))
    if not os.path.isdir(rootfs_dir):
        raise NotFound(f"rootfs {rootfs_dir} of bundle {bundle} not found", path=rootfs_dir)
    os.makedirs(root, mode=0o711, exist_ok=True)
    try:
        os.mkdir(sdir, 0o711)
    except FileExistsError:
        raise Conflict(f"container {container_id} already exists", id=container_id) from None

    cg_path = linux.get("cgroupsPath") or default_path(container_id)
    state = {"ociVersion": OCI_VERSION, "id": container_id, "status": "creating", "pid": 0,
             "bundle": bundle, "rootfs": rootfs_dir, "created": _now(),
             "annotations": spec.get("annotations") or {}, "cgroupsPath": cg_path,
             "owner": "root" if os.geteuid() == 0 else str(os.geteuid())}
    if hooks_cfg.get("poststart") or hooks_cfg.get("poststop"):
        state["hooks"] = {k: hooks_cfg[k] for k in ("poststart", "poststop") if hooks_cfg.get(k)}
    _write_json(os.path.join(sdir, "state.json"), state)

    mgr = None
    init_pid = 0
    console = None
    fds: list[int] = []
    try:
        os.mkfifo(os.path.join(sdir, "exec.fifo"), 0o622)
        # umask-independent: a non-root init without CAP_DAC_OVERRIDE opens it (runc)
        os.chmod(os.path.join(sdir, "exec.fifo"), 0o622)
        mgr = new_manager(cg_path)
        mgr.create()
        mgr.set(_with_default_devices(linux))
        if proc.get("terminal"):
            if not console_socket:
                raise InvalidArgument("process.terminal needs a console socket", id=container_id)
            import socket
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                console.connect(console_socket)
            except OSError as e:
                raise SystemError_(f"connect to console socket {console_socket}: "
                                   f"{os.strerror(e.errno).lower()}", errno=e.errno or 0) from None
        c2p_r, c2p_w = os.pipe()
        fds += (c2p_r, c2p_w)
        p2c_r, p2c_w = os.pipe()
        fds += (p2c_r, p2c_w)
        cfg = _init.InitConfig(
            container_id=container_id, spec=spec, bundle=bundle, rootfs=rootfs_dir,
            state_dir=sdir, sync_fd=c2p_w, ack_fd=p2c_r, cgroup=mgr,
            stdio=tuple(stdio) if stdio else None,
            console_fd=console.fileno() if console else None,
            no_pivot=no_pivot, preserve_fds=preserve_fds)
        mid = os.fork()
        if mid == 0:  # the intermediate process: never returns
            try:
                os.close(c2p_r)
                os.close(p2c_w)
            finally:
                _init.intermediate(cfg)
        for fd in (c2p_w, p2c_r):
            os.close(fd)
            fds.remove(fd)
        if console:
            console.close()
            console = None
        reader = _init.Reader(c2p_r)
        err = None
        ready = False
        hooks_pending = False
        while True:
            msg = reader.next()
            if msg is None:
                break
            t = msg.get("type")
            if t == "userns":
                from skiff.runtime.linux.namespaces import write_id_maps
                write_id_maps(mid, linux.get("uidMappings"), linux.get("gidMappings"))
                _init.send(p2c_w, {"type": "ack"})
            elif t == "pid":
                init_pid = int(msg["pid"])
            elif t == "hooks":
                hooks_pending = True
            elif t == "error":
                err = _init.rebuild_error(msg)
                break
            elif t == "ready":
                ready = True
                break
            if hooks_pending and init_pid:
                # the init waits before pivot_root: prestart and createRuntime
                # run here, in the runtime's namespaces (runtime-spec)
                hooks_pending = False
                hstate = {"ociVersion": OCI_VERSION, "id": container_id, "status": "creating",
                          "pid": init_pid, "bundle": bundle,
                          "annotations": spec.get("annotations") or {}}
                if hooks_cfg.get("prestart") or hooks_cfg.get("createRuntime"):
                    from skiff.runtime.linux import hooks as _hooks
                    _hooks.run(hooks_cfg, "prestart", hstate)
                    _hooks.run(hooks_cfg, "createRuntime", hstate)
                _init.send(p2c_w, {"type": "ack", "state": hstate})
        _reap(mid)
        if err is not None:
            raise err
        if not ready:
            raise SkiffError(f"container {container_id}: init exited during setup", id=container_id)
        state.update(status="created", pid=init_pid, init_start=_start_time(init_pid))
        _write_json(os.path.join(sdir, "state.json"), state)
        if pid_file:
            tmp = pid_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(init_pid))
            os.replace(tmp, pid_file)
        return init_pid
    except BaseException as exc:
        if init_pid:
            try:
                os.kill(init_pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(init_pid, block=False)
        if mgr is not None:
            _kill_cgroup(mgr)
            try:
                mgr.remove()
            except SkiffError:
                pass
        _remove_state_dir(sdir)
        if isinstance(exc, OSError) and not isinstance(exc, SkiffError):
            where = f" {exc.filename}" if exc.filename else ""
            raise SystemError_(f"create container {container_id}:{where} "
                               f"{os.strerror(exc.errno or 0).lower()}", errno=exc.errno or 0,
                               id=container_id) from exc
        raise
    finally:
        for fd in fds:
            os.close(fd)
        if console is not None:
            console.close()


def _remove_state_dir(sdir: str) -> None:
    """rm -r of a state directory (flat: state.json, exec.fifo, temp files)."""
    try:
        names = os.listdir(sdir)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        try:
            os.unlink(os.path.join(sdir, name))
        except IsADirectoryError:
            import shutil
            shutil.rmtree(os.path.join(sdir, name), ignore_errors=True)
        except FileNotFoundError:
            pass
    try:
        os.rmdir(sdir)
    except FileNotFoundError:
        pass


def _reap(pid: int, block: bool = True) -> None:
    """waitpid ``pid`` if it is our child (no error when it is not)."""
    deadline = time.monotonic() + 1
    while True:
        try:
            r, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if r or block or time.monotonic() > deadline:
            return
        time.sleep(0.005)


def _kill_cgroup(mgr, sig: int = _signal.SIGKILL, wait: float = 2.0) -> None:
    """Send ``sig`` to every process in the cgroup; with SIGKILL wait until empty."""
    deadline = time.monotonic() + wait
    while True:
        pids = mgr.pids()
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        if sig != _signal.SIGKILL or time.monotonic() > deadline:
            return
        for p in pids:
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.005)


def _load(root: str, container_id: str) -> tuple[str, dict]:
    sdir = _state_dir(root, container_id)
    try:
        return sdir, fastjson.load_file(os.path.join(sdir, "state.json"))
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"container {container_id} does not exist", id=container_id) from None
    except ValueError:
        raise SkiffError(f"container {container_id}: corrupt state.json", id=container_id) from None


def _status(sdir: str, st: dict) -> str:
    if st.get("status") == "creating":
        return "creating"
    pid = st.get("pid") or 0
    if not pid or _start_time(pid) is None or (
            st.get("init_start") is not None and _start_time(pid) != st["init_start"]):
        return "stopped"
    if os.path.exists(os.path.join(sdir, "exec.fifo")):
        return "created"
    if st.get("paused"):
        return "paused"
    return "running"


def state(root: str, container_id: str) -> dict:
    """runtime-spec state JSON: {ociVersion, id, status (creating, created,
    running, paused, stopped), pid (0 when stopped), bundle, annotations} plus
    "rootfs", "created" (RFC 3339) and "owner" as runc. Raises NotFound."""
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    out = {"ociVersion": st.get("ociVersion", OCI_VERSION), "id": st["id"], "status": status,
           "pid": st.get("pid", 0) if status != "stopped" else 0, "bundle": st["bundle"],
           "rootfs": st.get("rootfs", ""), "created": st.get("created", ""),
           "owner": st.get("owner", ""), "annotations": st.get("annotations") or {}}
    return out


def start(root: str, container_id: str, timeout: float | None = None) -> None:
    """Release the init blocked on exec.fifo and return once it has exec'd
    process.args (the fifo's close-on-exec write end closed). Raises
    NotFound, NotModified (already running), Conflict (stopped), ExecError
    (the execve itself failed), Unavailable on ``timeout`` seconds."""
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    if status == "running":
        raise NotModified(f"container {container_id} is already running", id=container_id)
    if status != "created":
        raise Conflict(f"cannot start a container that is {status}", id=container_id)
    fifo = os.path.join(sdir, "exec.fifo")
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotModified(f"container {container_id} is already running", id=container_id) from None
    data = b""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        while True:
            ev = poller.poll(100)
            if ev:
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    break  # the writer closed: exec'd (or died)
                data += chunk
                continue
            if _start_time(st["pid"]) is None:
                if data:
                    break
                raise Conflict(f"container {container_id} init exited before start",
                               id=container_id)
            if deadline is not None and time.monotonic() > deadline:
                from skiff.errors import Unavailable
                raise Unavailable(f"container {container_id} did not start in time",
                                  id=container_id)
    finally:
        os.close(fd)
        try:
            os.unlink(fifo)
        except FileNotFoundError:
            pass
    if data[1:].startswith(b"E"):
        info = fastjson.loads(data[2:])
        raise ExecError(info["message"], exit_code=int(info.get("exit_code", 127)),
                        id=container_id)
    if (st.get("hooks") or {}).get("poststart"):
        from skiff.runtime.linux import hooks as _hooks
        _hooks.run(st["hooks"], "poststart", _hook_state(st, "running"), fatal=False)


def _hook_state(st: dict, status: str) -> dict:
    return {"ociVersion": st.get("ociVersion", OCI_VERSION), "id": st["id"], "status": status,
            "pid": st.get("pid", 0) if status != "stopped" else 0, "bundle": st["bundle"],
            "annotations": st.get("annotations") or {}}


def kill(root: str, container_id: str, signal: int, all: bool = False) -> None:
    """Send ``signal`` to the init, or with ``all`` to every process of the
    cgroup. Raises NotFound, Conflict (stopped and not ``all``)."""
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    if all:
        _kill_cgroup(_manager(st), signal)
        return
    if status not in ("created", "running", "paused"):
        raise Conflict(f"container {container_id} is not running", id=container_id)
    try:
        os.kill(st["pid"], signal)
    except ProcessLookupError:
        pass


def delete(root: str, container_id: str, force: bool = False) -> None:
    """Remove the container's cgroup and state directory. A created
    container is killed first (as runc); a running one needs ``force``
    (SIGKILL to every process of the cgroup). Idempotent on what is already
    gone (cgroup, fifo). Raises NotFound (no such container), Conflict
    (running without force). As runc, a missing container is no error with
    ``force`` (remnants of an aborted create are removed)."""
    try:
        sdir, st = _load(root, container_id)
    except NotFound:
        _remove_state_dir(_state_dir(root, container_id))
        if force:
            return
        raise
    status = _status(sdir, st)
    if status in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {container_id} that is not stopped: running",
                       id=container_id)
    mgr = _manager(st)
    if status == "paused":
        try:
            mgr.thaw()
        except SkiffError:
            pass
    if status in ("created", "running", "paused", "creating") or force:
        if st.get("pid") and status != "stopped":
            try:
                os.kill(st["pid"], _signal.SIGKILL)
            except ProcessLookupError:
                pass
    _kill_cgroup(mgr)
    mgr.remove()
    _remove_state_dir(sdir)
    if (st.get("hooks") or {}).get("poststop"):
        from skiff.runtime.linux import hooks as _hooks
        _hooks.run(st["hooks"], "poststop", _hook_state(st, "stopped"), fatal=False)


#: spec namespace type -> /proc/PID/ns/ name
_NS_PROC = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
            "user": "user", "cgroup": "cgroup", "time": "time"}


def exec_process(root: str, container_id: str, process: dict, *, stdio=None,
                 console_socket=None, pid_file=None, preserve_fds: int = 0) -> int:
    """Run ``process`` (an OCI config.md#process object: args, env, cwd, user,
    capabilities, terminal...) inside a created or running container (runc
    exec): it joins the init's cgroup and namespaces and execs. Returns its
    host pid once execve succeeded. As with create(), the caller should be a
    subreaper to become its parent. Raises NotFound, Conflict (stopped),
    ExecError (runc's wording), SystemError_ for other failures."""
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    if status not in ("created", "running"):
        raise Conflict(f"cannot exec in a {status} container", id=container_id)
    if not (process or {}).get("args"):
        raise InvalidArgument("process.args must not be empty", id=container_id)
    spec = dict(load_config(st["bundle"]))
    spec["process"] = process
    init_pid = st["pid"]
    from skiff.runtime.linux.namespaces import JOIN_ORDER
    present = {ns.get("type") for ns in (spec.get("linux") or {}).get("namespaces") or ()}
    joins = []
    for t in JOIN_ORDER:
        if t not in present:
            continue
        name = _NS_PROC[t]
        target = f"/proc/{init_pid}/ns/{name}"
        try:
            if os.stat(target).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
        except FileNotFoundError:
            continue
        joins.append((t, target))
    mgr = _manager(st)
    console = None
    fds: list[int] = []
    try:
        if process.get("terminal"):
            if not console_socket:
                raise InvalidArgument("process.terminal needs a console socket", id=container_id)
            import socket
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            console.connect(console_socket)
        r, w = os.pipe()
        fds += (r, w)
        cfg = _init.InitConfig(
            container_id=container_id, spec=spec, bundle=st["bundle"], rootfs=st.get("rootfs", ""),
            state_dir=sdir, sync_fd=w, cgroup=mgr, stdio=tuple(stdio) if stdio else None,
            console_fd=console.fileno() if console else None, preserve_fds=preserve_fds)
        mid = os.fork()
        if mid == 0:
            try:
                os.close(r)
            finally:
                _init.exec_intermediate(cfg, joins)
        os.close(w)
        fds.remove(w)
        if console:
            console.close()
            console = None
        reader = _init.Reader(r)
        pid = 0
        err = None
        while True:
            msg = reader.next()
            if msg is None:
                break
            if msg.get("type") == "pid":
                pid = int(msg["pid"])
            elif msg.get("type") == "error":
                err = _init.rebuild_error(msg)
                break
        _reap(mid)
        if err is not None:
            if pid:
                _reap(pid, block=False)
            raise err
        if not pid:
            raise SkiffError(f"exec in container {container_id} failed", id=container_id)
        if pid_file:
            tmp = pid_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(pid))
            os.replace(tmp, pid_file)
        return pid
    except OSError as e:
        raise SystemError_(f"exec in container {container_id}: {os.strerror(e.errno or 0).lower()}",
                           errno=e.errno or 0, id=container_id) from None
    finally:
        for fd in fds:
            os.close(fd)
        if console is not None:
            console.close()


def pause(root: str, container_id: str) -> None:
    """Freeze every process of a running container (cgroup freezer); state
    then reports "paused". Raises NotFound, Conflict (not running)."""
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    if status != "running":
        raise Conflict(f"container {container_id} is not running: {status}", id=container_id)
    _manager(st).freeze()
    st["paused"] = True
    _write_json(os.path.join(sdir, "state.json"), st)


def resume(root: str, container_id: str) -> None:
    """Thaw a paused container. Raises NotFound, Conflict (not paused)."""
    sdir, st = _load(root, container_id)
    if _status(sdir, st) != "paused":
        raise Conflict(f"container {container_id} is not paused", id=container_id)
    _manager(st).thaw()
    st["paused"] = False
    _write_json(os.path.join(sdir, "state.json"), st)


def pids(root: str, container_id: str) -> list[int]:
    """Host pids of every process in the container's cgroup. Raises NotFound."""
    _, st = _load(root, container_id)
    return _manager(st).pids()


def list_containers(root: str) -> list[dict]:
    """state() of every container under ``root`` (unreadable ones skipped)."""
    out = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return out
    for name in names:
        if not os.path.isdir(os.path.join(root, name)):
            continue
        try:
            out.append(state(root, name))
        except (SkiffError, OSError):
            continue
    return out


def update(root: str, container_id: str, resources: dict) -> None:
    """Write OCI ``linux.resources`` (memory, cpu, pids, blockIO, ...) into a
    live container's cgroup (runc update). Raises NotFound, Conflict
    (stopped), InvalidArgument, SystemError_ (kernel refused)."""
    sdir, st = _load(root, container_id)
    if _status(sdir, st) == "stopped":
        raise Conflict(f"container {container_id} is stopped", id=container_id)
    _manager(st).set(resources or {})


def stats(root: str, container_id: str) -> dict:
    """The container's cgroup counters (CgroupManager.stats()). Raises NotFound."""
    _, st = _load(root, container_id)
    return _manager(st).stats()
