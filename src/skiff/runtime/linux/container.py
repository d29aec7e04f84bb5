"""create / start / state / kill / delete of OCI bundles (the library
interface of skiff.runtime.api; OCI runtime-spec runtime.md, runc's
behaviour). State lives in ``root``/<id>/: state.json and exec.fifo.

The caller of create() becomes the parent of the container's init only if
it is a subreaper (prctl(PR_SET_CHILD_SUBREAPER), see
skiff.runtime.linux.syscalls.set_child_subreaper); it must then reap it.
"""

from __future__ import annotations

import errno
import _signal  # not ``signal`` (enum): start-up time
import os
import select
import time

from skiff.errors import (Conflict, ExecError, InvalidArgument, NotFound, NotModified,
                          SkiffError, SystemError_)
from skiff.runtime import fastjson
from skiff.runtime.cgroups.detect import default_path, new_manager
from skiff.runtime.linux import init as _init
from skiff.runtime.linux._log import log

OCI_VERSION = "1.1.0"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


def _state_dir(root: str, container_id: str) -> str:
    # runc's ValidateID: letters, digits and "_+-.", at most 1024, not "." / "..";
    # and no leading "-" (it could only ever be read as an option)
    if (not container_id or len(container_id) > 1024 or container_id in (".", "..")
            or container_id[0] == "-" or not _ID_CHARS.issuperset(container_id)):
        raise InvalidArgument(f"invalid container ID format: {container_id!r}", id=container_id)
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
    """Read ``bundle``/config.json (a JSON object). Raises NotFound /
    InvalidArgument."""
    path = os.path.join(bundle, "config.json")
    try:
        spec = fastjson.load_file(path)
        if not isinstance(spec, dict):
            raise InvalidArgument("invalid configuration: config.json must be an object",
                                  path=path)
        return spec
    except FileNotFoundError:
        raise NotFound(f"no config.json in bundle {bundle}", path=path) from None
    except (ValueError, OSError) as e:
        raise InvalidArgument(f"cannot read {path}: {e}", path=path) from None


def _manager(st: dict):
    # the directories resolved at create time: a relative cgroupsPath was
    # taken relative to the creator's cgroups, not this caller's (runc keeps
    # them in its state too)
    return new_manager(st["cgroupsPath"], resolved=st.get("cgroupPaths"))


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
#: standard character devices, the pty ones and /dev/net/tun, as (path or
#: None, type, major, minor, access); appended to the spec's device rules so
#: that a "deny all" in linux.resources.devices (as ``runc spec`` writes)
#: still leaves /dev/null, /dev/ptmx, /dev/pts/N usable
_ALLOWED_DEVICES = ((None, "c", None, None, "m"), (None, "b", None, None, "m"),
                    ("/dev/null", "c", 1, 3, "rwm"), ("/dev/random", "c", 1, 8, "rwm"),
                    ("/dev/full", "c", 1, 7, "rwm"), ("/dev/tty", "c", 5, 0, "rwm"),
                    ("/dev/zero", "c", 1, 5, "rwm"), ("/dev/urandom", "c", 1, 9, "rwm"),
                    (None, "c", 136, None, "rwm"), (None, "c", 5, 2, "rwm"),
                    (None, "c", 10, 200, "rwm"))


def _with_default_devices(linux: dict) -> dict:
    """linux.resources with the device rules runc ends up with: the spec's
    rules (or "deny all" when it has none), then runc's AllowedDevices except
    those whose path linux.devices redefines (specconv createDevices: the
    spec's devices get no rule of their own; later rules win)."""
    res = dict(linux.get("resources") or {})
    # runc's device emulator starts from "deny everything": a spec without
    # device rules still only gets the default devices
    rules = list(res.get("devices") or ()) or [{"allow": False, "access": "rwm"}]
    spec_paths = {d.get("path") for d in linux.get("devices") or ()}
    for path, t, major, minor, access in _ALLOWED_DEVICES:
        if path is None or path not in spec_paths:
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
    from skiff.runtime.linux.validate import check_config
    check_config(spec)  # InvalidArgument naming the field, before anything is made
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
        raise Conflict(f"container with given ID already exists: {container_id}",
                       id=container_id) from None
    except OSError as e:  # e.g. ENAMETOOLONG: an id longer than the filesystem's NAME_MAX
        raise SystemError_(f"mkdir {sdir}: {os.strerror(e.errno or 0).lower()}",
                           errno=e.errno or 0, id=container_id) from None

    cg_path = linux.get("cgroupsPath") or default_path(container_id)
    state = {"ociVersion": OCI_VERSION, "id": container_id, "status": "creating", "pid": 0,
             "bundle": bundle, "rootfs": rootfs_dir, "created": _now(),
             "annotations": spec.get("annotations") or {}, "cgroupsPath": cg_path,
             "owner": "root" if os.geteuid() == 0 else str(os.geteuid()),
             "host_pidns": not _own_namespace(spec, "pid", "pid")}
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
        resolved = getattr(mgr, "resolved", None)
        if resolved is not None:
            state["cgroupPaths"] = resolved()
            _write_json(os.path.join(sdir, "state.json"), state)
        mgr.set(_with_default_devices(linux))
        if proc.get("terminal"):
            if not console_socket:
                raise InvalidArgument("cannot allocate tty if runc will detach without setting "
                                      "console socket (process.terminal needs one)",
                                      id=container_id)
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
        log.debug("nsexec container setup")
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
                log.debug("child process in init()")
            elif t == "hooks":
                hooks_pending = True
            elif t == "log":
                _relay_log(msg)
            elif t == "error":
                err = _init.rebuild_error(msg)
                break
            elif t == "ready":
                ready = True
                log.debug("init: closing the pipe to signal completion")
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
            _write_pid_file(pid_file, init_pid)
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


def _relay_log(msg: dict) -> None:
    """A {"type": "log", "level", "msg"} record of the init or an exec'd
    process (runc's init log pipe) -> our log."""
    level = msg.get("level")
    fn = getattr(log, level if level in ("debug", "info", "warning", "error") else "info")
    fn("%s", str(msg.get("msg", "")))


def _write_pid_file(path: str, pid: int) -> None:
    """Atomically (a temporary file renamed over it, as runc), relative to the cwd."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def _remove_state_dir(sdir: str) -> None:
    """rm -r of a state directory (flat: state.json, exec.fifo, temp files)."""
    try:
        names = os.listdir(sdir)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            return  # such a directory cannot exist
        raise
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
        st = fastjson.load_file(os.path.join(sdir, "state.json"))
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"container {container_id} does not exist", id=container_id) from None
    except ValueError:
        st = None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:  # no such state directory can exist
            raise NotFound(f"container {container_id} does not exist",
                           id=container_id) from None
        raise SystemError_(f"read state of {container_id}: {os.strerror(e.errno or 0).lower()}",
                           errno=e.errno or 0, id=container_id) from None
    if not isinstance(st, dict) or "id" not in st or "bundle" not in st:
        # not ours (another runtime's state under the same --root) or damaged
        raise SkiffError(f"container {container_id}: corrupt state.json", id=container_id)
    return sdir, st


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
    # runc's field order (ociVersion, id, pid, status, bundle, rootfs, created,
    # annotations when there are any, owner): ``runc list --format json`` is
    # matched textually by some tools
    out = {"ociVersion": st.get("ociVersion", OCI_VERSION), "id": st["id"],
           "pid": st.get("pid", 0) if status != "stopped" else 0, "status": status,
           "bundle": st["bundle"], "rootfs": st.get("rootfs", ""),
           "created": st.get("created", "")}
    if st.get("annotations"):
        out["annotations"] = st["annotations"]
    out["owner"] = st.get("owner", "")
    return out


def start(root: str, container_id: str, timeout: float | None = None) -> None:
    """Release the init blocked on exec.fifo and return once it has exec'd
    process.args (the fifo's close-on-exec write end closed). Raises
    NotFound, NotModified (already running), Conflict (stopped), ExecError
    (the execve itself failed), Unavailable on ``timeout`` seconds."""
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    if status == "running":
        raise NotModified("cannot start an already running container", id=container_id)
    if status != "created":
        raise Conflict(f"cannot start a container that has {_PAST.get(status, status)}",
                       id=container_id)
    fifo = os.path.join(sdir, "exec.fifo")
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotModified("cannot start an already running container", id=container_id) from None
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
        try:
            _hooks.run(st["hooks"], "poststart", _hook_state(st, "running"), fatal=True)
        except SkiffError:
            # runc: a failing poststart hook fails start and ends the container
            try:
                os.kill(st["pid"], _signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise


_PAST = {"stopped": "stopped", "paused": "been paused", "creating": "not been created"}


def _hook_state(st: dict, status: str) -> dict:
    return {"ociVersion": st.get("ociVersion", OCI_VERSION), "id": st["id"], "status": status,
            "pid": st.get("pid", 0) if status != "stopped" else 0, "bundle": st["bundle"],
            "annotations": st.get("annotations") or {}}


_FATAL_TO_RUNC_INIT = (_signal.SIGHUP, _signal.SIGINT, _signal.SIGTERM, _signal.SIGQUIT)


def kill(root: str, container_id: str, signal: int, all: bool = False) -> None:
    """Send ``signal`` to the init, or with ``all`` to every process of the
    cgroup. Raises NotFound, Conflict (stopped and not ``all``),
    InvalidArgument (no such signal)."""
    if not isinstance(signal, int) or not 0 <= signal < _signal.NSIG:
        raise InvalidArgument(f"unable to signal init: invalid argument (signal {signal!r})",
                              id=container_id)
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    if all:
        _kill_cgroup(_manager(st), signal)
        return
    if signal == _signal.SIGKILL and st.get("host_pidns"):
        # no pid namespace of its own: killing the init does not take the
        # other processes with it (pid_namespaces(7)), so SIGKILL goes to every
        # process of the cgroup, even when the init is already gone (runc)
        mgr = _manager(st)
        if status != "stopped" or mgr.pids():
            _kill_cgroup(mgr, signal)
            return
    if status not in ("created", "running", "paused"):
        raise Conflict("container not running", id=container_id)
    if status == "created" and signal in _FATAL_TO_RUNC_INIT and not st.get("host_pidns"):
        # runc's init is a Go program until start: HUP/INT/TERM/QUIT end it.
        # Ours, PID 1 of its namespace without handlers, would ignore them.
        signal = _signal.SIGKILL
    try:
        os.kill(st["pid"], signal)
    except ProcessLookupError:
        raise Conflict("container not running", id=container_id) from None
    except (OSError, ValueError, OverflowError) as e:  # e.g. EINVAL: no such signal
        raise InvalidArgument(f"unable to signal init: "
                              f"{os.strerror(getattr(e, 'errno', None) or 22).lower()}",
                              id=container_id) from None


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
        raise Conflict(f"cannot delete container {container_id} that is not stopped: {status}",
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
                 console_socket=None, pid_file=None, preserve_fds: int = 0,
                 exec_wait_fifo: int | None = None, cgroups: list[str] | None = None,
                 ignore_paused: bool = False, on_waiting=None) -> int:
    """Run ``process`` (an OCI config.md#process object: args, env, cwd, user,
    capabilities, terminal...) inside a created or running container (runc
    exec): it joins the init's cgroup and namespaces and execs. Returns its
    host pid once execve succeeded. As with create(), the caller should be a
    subreaper to become its parent. ``exec_wait_fifo``: an (O_PATH) fd of a
    fifo the process opens for writing right before execve, so it only runs
    once someone reads it; this returns as soon as its pid is known (a later
    exec failure is not reported) unless ``on_waiting(pid)`` is given: it is
    called then (it must open the fifo's read end) and the exec is awaited
    as usual. ``cgroups``: runc exec --cgroup values,
    "[controller[,controller]:]sub/path" relative to the container's cgroup
    (InvalidArgument: "bad sub cgroup path", "unknown controller").
    Raises NotFound, Conflict (stopped),
    ExecError (runc's wording), SystemError_ for other failures."""
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    if status == "paused" and not ignore_paused:
        raise Conflict("cannot exec in a paused container (use --ignore-paused to override)",
                       id=container_id)
    if status not in ("created", "running", "paused"):
        raise Conflict(f"cannot exec in a {status} container", id=container_id)
    from skiff.runtime.linux.validate import check_process
    check_process(process, "process")
    if (process.get("apparmorProfile") or process.get("selinuxLabel")
            or process.get("ioPriority") or process.get("scheduler")):
        from skiff.runtime.linux.procattr import check
        check({"process": process})  # runc's wording when the host lacks the LSM
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
    if cgroups:
        mgr = _ExecCgroup(mgr, parse_sub_cgroups(cgroups, mgr))
    console = None
    fds: list[int] = []
    try:
        if process.get("terminal"):
            if not console_socket:
                raise InvalidArgument("cannot allocate tty if runc will detach without setting "
                                      "console socket (process.terminal needs one)",
                                      id=container_id)
            import socket
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            console.connect(console_socket)
        r, w = os.pipe()
        fds += (r, w)
        cfg = _init.InitConfig(
            container_id=container_id, spec=spec, bundle=st["bundle"], rootfs=st.get("rootfs", ""),
            state_dir=sdir, sync_fd=w, cgroup=mgr, stdio=tuple(stdio) if stdio else None,
            console_fd=console.fileno() if console else None, preserve_fds=preserve_fds)
        if exec_wait_fifo is not None:
            cfg.extra["exec_wait_fifo_fd"] = exec_wait_fifo
        log.debug("nsexec container setup")
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
            if msg.get("type") == "log":
                _relay_log(msg)
            elif msg.get("type") == "pid":
                pid = int(msg["pid"])
                log.debug("child process in init()")
                if exec_wait_fifo is not None:
                    if on_waiting is None:
                        break  # it blocks on the fifo before execve
                    on_waiting(pid)
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
        log.debug("setns_init: about to exec")
        if pid_file:
            try:
                _write_pid_file(pid_file, pid)
            except OSError as e:
                # as runc: the process must not outlive a failed exec command
                try:
                    os.kill(pid, _signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _reap(pid)
                raise SystemError_(f"exec in container {container_id}: pid file {pid_file}: "
                                   f"{os.strerror(e.errno or 0).lower()}", errno=e.errno or 0,
                                   id=container_id) from None
        return pid
    except OSError as e:
        raise SystemError_(f"exec in container {container_id}: {os.strerror(e.errno or 0).lower()}",
                           errno=e.errno or 0, id=container_id) from None
    finally:
        for fd in fds:
            os.close(fd)
        if console is not None:
            console.close()


def parse_sub_cgroups(values: list[str], mgr) -> dict[str, str]:
    """runc exec --cgroup values -> {controller ("" = every one): sub path
    relative to the container's cgroup ("" = the cgroup itself)}."""
    known = {c for name in mgr.paths() for c in name.split(",")}
    out: dict[str, str] = {}
    for v in values:
        ctrls, sep, sub = v.partition(":")
        if not sep:
            ctrls, sub = "", v
        # relative to the container's cgroup ("/" is the cgroup itself);
        # nothing may lead out of it
        if _escapes(sub):
            raise InvalidArgument(f"bad sub cgroup path: {sub}")
        clean = os.path.normpath("/" + sub).lstrip("/")
        for c in (ctrls.split(",") if ctrls else [""]):
            if c and c not in known:
                raise InvalidArgument(f"unknown controller {c} in --cgroup {v}")
            out[c] = clean
    return out


def _escapes(sub: str) -> bool:
    """Does the relative path ``sub`` climb above its start at some point?"""
    depth = 0
    for part in sub.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


class _ExecCgroup:
    """The container's cgroup manager with runc exec --cgroup applied: the
    exec'd process joins sub-cgroups of it (they must exist)."""

    def __init__(self, mgr, subs: dict[str, str]):
        self._mgr, self._subs = mgr, subs

    def __getattr__(self, name):
        return getattr(self._mgr, name)

    def paths(self) -> dict[str, str]:
        out = {}
        for name, d in self._mgr.paths().items():
            sub = next((self._subs[c] for c in name.split(",") if c in self._subs),
                       self._subs.get("", ""))
            out[name] = os.path.join(d, sub) if sub else d
        return out

    def apply(self, pid: int) -> None:
        for d in self.paths().values():
            try:
                _write_pid(d, pid)
            except OSError as e:
                raise SystemError_(f"adding pid {pid} to cgroups: {d}: "
                                   f"{os.strerror(e.errno or 0).lower()}", errno=e.errno or 0) \
                    from None
        if pid == os.getpid():
            try:
                from skiff.runtime.cgroups.v1 import reset_affinity
                reset_affinity(0)  # the kernel narrows it to the cgroup's cpuset (runc)
            except ImportError:
                pass
        # a hybrid host's cgroup2 tree, as the container's own processes
        unified = getattr(self._mgr, "unified_path", lambda: None)()
        if unified:
            sub = os.path.join(unified, self._subs.get("", ""))
            for d in (sub, unified):
                try:
                    _write_pid(d, pid)
                    break
                except OSError:
                    continue


def _write_pid(cgroup_dir: str, pid: int) -> None:
    """Write ``pid`` into ``cgroup_dir``/cgroup.procs. Raises OSError."""
    fd = os.open(os.path.join(cgroup_dir, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)


def pause(root: str, container_id: str) -> None:
    """Freeze every process of a running container (cgroup freezer); state
    then reports "paused". Raises NotFound, Conflict (not running)."""
    sdir, st = _load(root, container_id)
    status = _status(sdir, st)
    if status != "running":
        raise Conflict(f"container not running: {status}", id=container_id)
    _manager(st).freeze()
    st["paused"] = True
    _write_json(os.path.join(sdir, "state.json"), st)


def resume(root: str, container_id: str) -> None:
    """Thaw a paused container. Raises NotFound, Conflict (not paused)."""
    sdir, st = _load(root, container_id)
    if _status(sdir, st) != "paused":
        raise Conflict("container not paused", id=container_id)
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
        raise Conflict("container not running", id=container_id)
    from skiff.runtime.linux.validate import check_resources
    check_resources(resources, "resources")  # all or nothing: checked before any write
    # runc update never touches the device rules (SkipDevices)
    _manager(st).set({k: v for k, v in (resources or {}).items() if k != "devices"})


def stats(root: str, container_id: str) -> dict:
    """The container's cgroup counters (CgroupManager.stats()). Raises NotFound."""
    _, st = _load(root, container_id)
    return _manager(st).stats()


def runc_stats(root: str, container_id: str) -> dict | None:
    """The ``data`` of ``runc events --stats`` (runc's types.Stats shape) when
    the cgroup driver provides it, else None. Raises NotFound."""
    _, st = _load(root, container_id)
    fn = getattr(_manager(st), "runc_stats", None)
    return fn() if fn is not None else None


def oom_count(root: str, container_id: str) -> int | None:
    """How many times the OOM killer struck in the container's cgroup (None
    when the cgroup driver cannot tell). Raises NotFound."""
    _, st = _load(root, container_id)
    fn = getattr(_manager(st), "oom_kill_count", None)
    try:
        return fn() if fn is not None else None
    except (OSError, SkiffError):
        return None
