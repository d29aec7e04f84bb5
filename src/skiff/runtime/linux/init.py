"""The container init sequence, in order, as runc's nsexec + init
(OCI runtime-spec runtime.md#lifecycle, config.md, config-linux.md).

Three processes take part:

    creator (the shim, or skiff-runtime create)       container.create()
      |  fork
      +-- intermediate                                  intermediate()
      |     joins the cgroup, setns()es the namespaces with a path, unshares
      |     the new ones (user first: the creator writes its id maps), then
      |     forks again because CLONE_NEWPID applies to children only,
      |     reports the grandchild's host pid and exits
      |     fork
      +-- init (PID 1 of the new pid namespace)        init_process()
            mounts, devices, pivot_root, hostname, sysctl, masked/readonly
            paths, rlimits, capabilities, user, cwd, resolves the executable,
            says "ready", blocks opening exec.fifo until start(), then execve

The intermediate exits, so the init is reparented to the nearest subreaper:
the caller of create() must have called prctl(PR_SET_CHILD_SUBREAPER)
(skiff.runtime.linux.syscalls.set_child_subreaper) to become its parent.

Messages on the sync pipes (one JSON object per line; answers on a second pipe):
  intermediate -> creator  {"type": "userns"}           write my id maps
  creator -> intermediate  {"type": "ack"}
  intermediate -> creator  {"type": "pid", "pid": N}     the init's host pid
  init -> creator          {"type": "ready"}             blocked on exec.fifo next
  either -> creator        {"type": "error", "kind": "ExecError", "message": ..., ...}

On exec.fifo the init writes b"0" once start() opened it, keeps the
(close-on-exec) write end open across execve, so start() sees EOF exactly
when the exec happened; a late execve failure is written as b"E" + JSON.

container.exec_process() (runc exec) uses the same shape: exec_intermediate()
joins the init's cgroup and namespaces and forks exec_child(), which runs
finalize_process() and execs; its sync pipe is close-on-exec, so EOF without
an error message means the exec happened.

Everything imported after pivot_root (or after joining the mount namespace)
must already be loaded: the host's Python library is out of reach there.
"""

from __future__ import annotations

import _signal as signal  # not ``signal`` (enum): start-up time
import os
import stat

from skiff import errors
from skiff.runtime import fastjson as json
from skiff.runtime.linux import capabilities, namespaces, rootfs
from skiff.runtime.linux import syscalls as sc

from skiff.runtime.linux._log import log  # noqa: E402


class InitConfig:
    """Everything the intermediate and init processes need (inherited through fork).

    container_id, spec (the config.json dict), bundle (absolute directory),
    rootfs (absolute, already mounted), state_dir (<root>/<id>, holds
    exec.fifo), sync_fd (write end of the sync pipe to the creator), ack_fd
    (read end of the creator's answers), cgroup (a
    CgroupManager), stdio ((in, out, err) fds or None), console_fd (a
    connected console socket for process.terminal), no_pivot, preserve_fds.
    """

    def __init__(self, container_id: str, spec: dict, bundle: str, rootfs: str,
                 state_dir: str, sync_fd: int, cgroup, stdio=None, console_fd=None,
                 no_pivot: bool = False, preserve_fds: int = 0, ack_fd: int | None = None):
        self.container_id = container_id
        self.spec = spec
        self.bundle = bundle
        self.rootfs = rootfs
        self.state_dir = state_dir
        self.sync_fd = sync_fd
        self.cgroup = cgroup
        self.stdio = stdio
        self.console_fd = console_fd
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.ack_fd = ack_fd
        self.extra: dict = {}


# ---------------------------------------------------------------- sync channel

def send(fd: int, msg: dict) -> None:
    """Write one JSON line on the sync socket."""
    data = (json.dumps(msg) + "\n").encode()
    while data:
        n = os.write(fd, data)
        data = data[n:]


def report(cfg: "InitConfig", level: str, msg: str) -> None:
    """A log record from the intermediate/init/exec'd process for the creator
    to log (runc's init log pipe): {"type": "log", "level", "msg"} on the sync
    pipe; dropped once that pipe is closed."""
    if cfg.sync_fd is None or cfg.sync_fd < 0:
        return
    try:
        send(cfg.sync_fd, {"type": "log", "level": level, "msg": msg})
    except OSError:
        pass


class Reader:
    """Reads JSON lines from the sync socket; ``next()`` returns None at EOF."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = b""

    def next(self) -> dict | None:
        while b"\n" not in self.buf:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def error_message(exc: BaseException, step: str) -> dict:
    """An exception -> the "error" sync message (class name, message, details)."""
    if isinstance(exc, errors.ExecError):
        return {"type": "error", "kind": "ExecError", "message": exc.message,
                "exit_code": exc.exit_code}
    if isinstance(exc, errors.SkiffError):
        msg = exc.message if exc.message.startswith(step) else f"{step}: {exc.message}"
        return {"type": "error", "kind": type(exc).__name__, "message": msg,
                "errno": getattr(exc, "errno", 0)}
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        text = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        return {"type": "error", "kind": "SystemError_", "message": f"{step}:{where} {text}",
                "errno": exc.errno or 0}
    return {"type": "error", "kind": "SkiffError", "message": f"{step}: {exc}"}


def rebuild_error(msg: dict) -> errors.SkiffError:
    """The "error" sync message -> the skiff.errors exception to raise."""
    kind = msg.get("kind", "SkiffError")
    if kind == "ExecError":
        return errors.ExecError(msg["message"], exit_code=int(msg.get("exit_code", 126)))
    if kind == "SystemError_":
        return errors.SystemError_(msg["message"], errno=int(msg.get("errno") or 0))
    cls = getattr(errors, kind, errors.SkiffError)
    if not (isinstance(cls, type) and issubclass(cls, errors.SkiffError)):
        cls = errors.SkiffError
    return cls(msg["message"])


# ----------------------------------------------------------- the intermediate

def intermediate(cfg: InitConfig) -> None:
    """Runs in the first child; never returns (os._exit)."""
    step = "intermediate"
    code = 1
    try:
        linux = cfg.spec.get("linux") or {}
        # 0. time offsets need a new time namespace (runc's validator)
        ns_list = linux.get("namespaces") or ()
        has_time = any(n.get("type") == "time" for n in ns_list)
        if linux.get("timeOffsets") is not None:
            if not has_time:
                raise errors.InvalidArgument("time namespace offsets specified, but time "
                                             "namespace isn't enabled in the config")
            if any(n.get("type") == "time" and n.get("path") for n in ns_list):
                raise errors.InvalidArgument("time namespace enabled, but both namespace path "
                                             "and time offsets specified -- you may only "
                                             "provide one")
        # 0b. linux.netDevices: checked, and looked up in the host's namespace
        netdev = None
        if linux.get("netDevices"):
            step = "network devices"
            wanted = namespaces.parse_net_addresses(linux["netDevices"])
            net = [n for n in ns_list if n.get("type") == "network"]
            if not net or (net[0].get("path") and _same_file(net[0]["path"], "/proc/self/ns/net")):
                raise errors.InvalidArgument("unable to move network devices without a private "
                                             "NET namespace")
            netdev = namespaces.prepare_net_devices(linux["netDevices"]) + (wanted,)
            if any(n.get("type") == "user" for n in ns_list):
                # moved by a child that stays the host's root (see the helper)
                host_nl, index, addrs, _ = netdev
                host_nl.close()
                netdev = namespaces.net_devices_helper(linux["netDevices"], index, addrs,
                                                       wanted)
        # 1. join the container's cgroup, so everything after is accounted
        #    there; the hybrid cgroup2 tree (slow: see join_unified) may wait
        #    until the init is forked unless a cgroup or user namespace is
        #    made or joined from here, or hooks may look at the init first
        step = "join cgroup"
        flags, joins = namespaces.parse(linux.get("namespaces"))
        defer_unified = (hasattr(cfg.cgroup, "join_unified")
                         and not flags & (sc.CLONE_NEWUSER | sc.CLONE_NEWCGROUP)
                         and not any(t in ("user", "cgroup") for t, _ in joins)
                         and not wants_hook_sync(cfg.spec))
        cfg.cgroup.apply(os.getpid(), unified=not defer_unified)
        if defer_unified:
            # opened now: a mount namespace joined below may hide the path
            cfg.extra["cgroup2_fd"] = _open_cgroup2_dir(cfg)
        # 2. join the namespaces that have a path (user first, mount last)
        non_dumpable(flags & sc.CLONE_NEWUSER or any(t == "user" for t, _ in joins))
        if any(rootfs.is_idmapped(m) for m in cfg.spec.get("mounts") or ()):
            step = "prepare id-mapped mounts"
            cfg.extra["mount_fds"] = open_mount_sources(cfg, userns=False, joins=joins)
        if flags & sc.CLONE_NEWUSER or any(t == "user" for t, _ in joins):
            # bind sources the container's root may not reach: detached
            # copies opened now, as the runtime's user (runc's mount fds)
            step = "open bind mount sources"
            cfg.extra["mount_fds"] = {**open_mount_sources(cfg, userns=True),
                                      **cfg.extra.get("mount_fds", {})}
            # its root may not read the host's Python library: load now
            step = "load modules"
            preload(cfg.spec)
        for ns_type, path in namespaces.join_order(joins):
            step = f"join {ns_type} namespace"
            namespaces.join(ns_type, path)
            if ns_type == "user":
                # become the joined namespace's root (runc's nsexec)
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        # 3. a new user namespace first; the creator writes our id maps
        if flags & sc.CLONE_NEWUSER:
            step = "unshare user namespace"
            sc.unshare(sc.CLONE_NEWUSER)
            send(cfg.sync_fd, {"type": "userns"})
            ack = Reader(cfg.ack_fd).next()
            if not ack or ack.get("type") != "ack":
                raise errors.SkiffError("no id maps from the creator")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            flags &= ~sc.CLONE_NEWUSER
        # 4. the other new namespaces in one call
        if flags:
            step = "unshare namespaces"
            sc.unshare(flags)
        # 4a. host network devices into the container's network namespace
        if netdev is not None:
            step = "move network devices"
            if len(netdev) == 3:
                namespaces.run_net_helper(netdev)
            else:
                host_nl, index, addrs, wanted = netdev
                try:
                    namespaces.move_net_devices(linux["netDevices"], host_nl, index, addrs,
                                                wanted)
                finally:
                    host_nl.close()
        # 4b. a new time namespace takes its offsets before any process enters it
        offsets = linux.get("timeOffsets") or {}
        if flags & sc.CLONE_NEWTIME and offsets:
            step = "write time offsets"
            with open("/proc/self/timens_offsets", "w") as f:
                for clock in ("monotonic", "boottime"):
                    o = offsets.get(clock)
                    if o:
                        f.write(f"{clock} {int(o.get('secs', 0))} {int(o.get('nanosecs', 0))}\n")
        # 5. CLONE_NEWPID applies to children: fork the init, report its pid
        step = "fork init"
        if cfg.ack_fd is not None and not wants_hook_sync(cfg.spec):
            os.close(cfg.ack_fd)
            cfg.ack_fd = None
        pid = _fork_init(cfg) if defer_unified else os.fork()
        if pid == 0:
            fd = cfg.extra.pop("cgroup2_fd", -1)
            if fd >= 0:
                os.close(fd)  # the init keeps no stray fds
            init_process(cfg)  # never returns
        send(cfg.sync_fd, {"type": "pid", "pid": pid})
        fd = cfg.extra.pop("cgroup2_fd", -1)
        if fd >= 0:
            if not cfg.extra.get("born_in_cgroup2"):
                # while the init sets up; the creator reaps us before start()
                step = "join cgroup"
                _join_cgroup2_dir(fd, pid)
            os.close(fd)
        code = 0
    except BaseException as e:  # noqa: BLE001 - everything goes to the creator
        try:
            send(cfg.sync_fd, error_message(e, step))
        except Exception:
            pass
    finally:
        os._exit(code)


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def non_dumpable(userns) -> None:
    """prctl(PR_SET_DUMPABLE, 0) as runc's init: until execve (which resets
    it) the container cannot open /proc/<pid>/exe (the host's interpreter)
    or ptrace us once we run under its uid. Not with a user namespace: the
    mapped root could then no longer open its own /proc files (timens
    offsets, setgroups); not for a non-root runtime either."""
    if userns or os.geteuid() != 0:
        return
    try:
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
    except errors.SkiffError:
        pass


def open_mount_sources(cfg: InitConfig, userns: bool, joins=()) -> dict[int, int]:
    """{index in spec mounts: open_tree(OPEN_TREE_CLONE) fd}: with ``userns``
    the plain bind mounts whose source is outside the rootfs (a source inside
    it may be an earlier mount of this container: it is bound by path
    later); without, the id-mapped bind mounts (MOUNT_ATTR_IDMAP set on the
    detached tree with a user namespace holding the mount's mappings, or the
    container's, as runc)."""
    out: dict[int, int] = {}
    root = cfg.rootfs.rstrip("/") + "/"
    linux = cfg.spec.get("linux") or {}
    for i, m in enumerate(cfg.spec.get("mounts") or ()):
        opts = m.get("options") or ()
        idmapped = rootfs.is_idmapped(m)
        if idmapped == userns:
            continue
        is_bind = m.get("type") == "bind" or "bind" in opts or "rbind" in opts
        if not is_bind:
            if idmapped:
                raise errors.InvalidArgument("id-mapped mounts are only supported for "
                                             "bind-mounts")
            continue
        src = m.get("source") or ""
        if not src:
            continue
        src = src if os.path.isabs(src) else os.path.join(cfg.bundle, src)
        if not idmapped and (os.path.abspath(src) + "/").startswith(root):
            continue
        flags = sc.OPEN_TREE_CLONE | os.O_CLOEXEC | (sc.AT_RECURSIVE if "rbind" in opts else 0)
        if not idmapped:
            try:
                out[i] = sc.open_tree(src, flags)
            except errors.SkiffError:
                pass  # by path later, with the error it gives then
            continue
        uids = m.get("uidMappings") or linux.get("uidMappings")
        gids = m.get("gidMappings") or linux.get("gidMappings")
        ns_fd = None
        if not (m.get("uidMappings") or m.get("gidMappings")):
            user_path = [p for t, p in joins if t == "user"]
            if user_path and not (uids or gids):
                ns_fd = os.open(user_path[0], os.O_RDONLY | os.O_CLOEXEC)
        if ns_fd is None:
            if not uids or not gids:
                raise errors.InvalidArgument("id-mapped mounts must have both uid and gid "
                                             "mappings specified")
            ns_fd = _mapped_userns(uids, gids)
        if (os.path.abspath(src) + "/").startswith(root):
            # the source may be an earlier mount of this container: the init
            # clones it in its own mount namespace (idmap_tree())
            cfg.extra.setdefault("idmap_late", {})[i] = (ns_fd, src, flags, "ridmap" in opts)
            continue
        try:
            tree = sc.open_tree(src, flags)
            try:
                sc.mount_setattr("", sc.MOUNT_ATTR_IDMAP, 0, recursive="ridmap" in opts,
                                 dirfd=tree, userns_fd=ns_fd)
            except BaseException:
                os.close(tree)
                raise
            out[i] = tree
        finally:
            os.close(ns_fd)
    return out


def idmap_tree(late: tuple) -> int:
    """In the init: the id-mapped clone of a source inside the rootfs."""
    ns_fd, src, flags, recursive = late
    try:
        tree = sc.open_tree(src, flags)
        try:
            sc.mount_setattr("", sc.MOUNT_ATTR_IDMAP, 0, recursive=recursive, dirfd=tree,
                             userns_fd=ns_fd)
        except BaseException:
            os.close(tree)
            raise
        return tree
    finally:
        os.close(ns_fd)


def _mapped_userns(uids: list[dict], gids: list[dict]) -> int:
    """An fd of a new user namespace with these id maps (a short-lived child
    unshares it; we write its maps and keep /proc/CHILD/ns/user open)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.read(r, 1)
        finally:
            os._exit(0)
    os.close(r)
    try:
        # the child has unshared once its ns differs from ours
        import time
        mine = os.stat("/proc/self/ns/user").st_ino
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if os.stat(f"/proc/{pid}/ns/user").st_ino != mine:
                    break
            except FileNotFoundError:
                raise errors.SkiffError("id-mapped mount: the user namespace helper died") \
                    from None
            time.sleep(0.0002)
        namespaces.write_id_maps(pid, uids, gids)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(w)
        os.waitpid(pid, 0)


def _open_cgroup2_dir(cfg: InitConfig) -> int:
    """A directory fd (O_RDONLY, close-on-exec) of the container's cgroup2 directory (the
    hybrid host's unified tree), or -1 when there is none."""
    u = cfg.cgroup.unified_path() if hasattr(cfg.cgroup, "unified_path") else None
    if not u:
        return -1
    try:
        return os.open(u, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return -1


def _join_cgroup2_dir(dir_fd: int, pid: int) -> None:
    """Move ``pid`` into the cgroup2 directory ``dir_fd`` (cgroup.procs; the
    slow way, see V1Manager.join_unified). Failures are ignored, as there."""
    try:
        fd = os.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def _fork_init(cfg: InitConfig) -> int:
    """Fork the init straight into the container's cgroup2 directory
    (cfg.extra["cgroup2_fd"]; syscalls.fork_into_cgroup: no migration, no
    RCU grace period) and set cfg.extra["born_in_cgroup2"]; without that
    directory, or if clone3 is refused, a plain os.fork() (the caller then
    joins the init the slow way)."""
    fd = cfg.extra.get("cgroup2_fd", -1)
    if fd >= 0:
        try:
            pid = sc.fork_into_cgroup(fd)
        except errors.SystemError_:
            pid = -1
        if pid >= 0:
            cfg.extra["born_in_cgroup2"] = True
            return pid
    return os.fork()


# ------------------------------------------------------------------- the init

def init_process(cfg: InitConfig) -> None:
    """Runs as the container's init (PID 1 of a new pid namespace); never returns."""
    cfg.extra["step"] = "init"
    try:
        fifo_fd, path, args, env = _setup(cfg)
    except BaseException as e:  # noqa: BLE001
        msg = error_message(e, cfg.extra.get("step", "init"))
        fifo = cfg.extra.get("fifo_fd")
        if cfg.sync_fd is not None and cfg.sync_fd >= 0:
            try:
                send(cfg.sync_fd, msg)
            except Exception:
                pass
        elif fifo is not None:
            # after "ready" (startContainer hooks): start() reads it from exec.fifo
            try:
                os.write(fifo, b"E" + json.dumps({"message": msg.get("message"),
                                                  "exit_code": 1}).encode())
            except OSError:
                pass
        os._exit(1)
    # exec: the fifo's write end is close-on-exec, start() sees EOF when it happens
    try:
        os.execve(path, args, env)
    except OSError as e:
        code = 127 if e.errno == 2 else 126
        # Go's os.PathError, as runc: "exec /run.sh: no such file or directory"
        msg = f"exec {path}: {os.strerror(e.errno).lower()}"
        try:
            os.write(fifo_fd, b"E" + json.dumps({"message": msg, "exit_code": code}).encode())
        except OSError:
            pass
        os._exit(code)


def _setup(cfg: InitConfig):
    """The ordered setup steps (cfg.extra["step"] names the current one for
    error messages). Returns (exec.fifo write fd, path, args, env)."""
    spec = cfg.spec
    proc = spec.get("process") or {}
    linux = spec.get("linux") or {}
    rootfs_dir = cfg.rootfs

    # 1. signals: default dispositions and an empty mask (the creator's
    #    SIG_IGN would otherwise survive execve)
    cfg.extra['step'] = "reset signals"
    reset_signals()

    # 2. stdio and a new session
    cfg.extra['step'] = "set up stdio"
    setup_stdio(cfg.stdio)
    os.setsid()

    # 3. mount propagation: nothing we mount may reach the host
    cfg.extra['step'] = "make mounts private"
    prop = linux.get("rootfsPropagation") or "rprivate"
    if prop not in rootfs.PROPAGATION:
        raise errors.InvalidArgument(f"invalid rootfsPropagation {prop!r}")
    sc.mount(None, "/", None, rootfs.PROPAGATION[prop] | sc.MS_REC)

    # 4. the rootfs must be a mount point for pivot_root: bind it onto itself,
    #    from a private parent (pivot_root refuses shared mounts; runc's
    #    rootfsParentMountPrivate)
    cfg.extra['step'] = f"bind rootfs {rootfs_dir}"
    if prop not in ("rprivate", "rslave", "runbindable"):
        # a non-recursive "/" change leaves the rootfs's parent mount as it was
        rootfs.make_parent_mount_private(rootfs_dir)
    sc.mount(rootfs_dir, rootfs_dir, None, sc.MS_BIND | sc.MS_REC)

    # 5. spec mounts, in order, targets resolved inside the rootfs
    cgroup_paths = cfg.cgroup.paths() if cfg.cgroup is not None else {}
    rootfs.COPYUP_DIR = cfg.state_dir  # tmpcopyup's staging: gone with the state dir
    dev_bound = False
    dev_ro = None
    mount_fds = cfg.extra.pop("mount_fds", None) or {}
    idmap_late = cfg.extra.pop("idmap_late", None) or {}
    for i, m in enumerate(spec.get("mounts") or ()):
        cfg.extra['step'] = f"mount {m.get('type') or 'bind'} on {m.get('destination')}"
        fd = mount_fds.pop(i, None)
        if i in idmap_late:
            fd = idmap_tree(idmap_late.pop(i))
        try:
            rootfs.mount_entry(rootfs_dir, cfg.bundle, m, cgroup_paths, source_fd=fd)
        finally:
            if fd is not None:
                os.close(fd)
        dest = rootfs.container_dest(rootfs_dir, m.get("destination", "")).rstrip("/")
        if dest == "/dev" and (
                m.get("type") == "bind" or "bind" in (m.get("options") or ())
                or "rbind" in (m.get("options") or ())):
            dev_bound = True
        elif dest == "/dev" and m.get("type") == "tmpfs":
            dev_ro = m if "ro" in (m.get("options") or ()) else None
    for fd in mount_fds.values():
        os.close(fd)
    flags, joins = namespaces.parse(linux.get("namespaces"))
    userns = bool(flags & sc.CLONE_NEWUSER) or any(t == "user" for t, _ in joins)

    # 6. devices (unless /dev is the host's) and the /dev symlinks; a
    #    read-only /dev tmpfs goes read-only after that (runc)
    if not dev_bound:
        cfg.extra['step'] = "create devices"
        rootfs.create_devices(rootfs_dir, linux.get("devices"), userns)
        cfg.extra['step'] = "create /dev symlinks"
        rootfs.dev_symlinks(rootfs_dir)
    if dev_ro is not None:
        cfg.extra['step'] = "remount /dev read-only"
        fl, _, data = rootfs.parse_options(dev_ro.get("options"))
        rootfs.remount_readonly(rootfs.secure_join(rootfs_dir, "/dev"), fl, data)

    # 6b. the cwd exists (runc creates a missing one, resolved inside the rootfs)
    cwd = proc.get("cwd") or "/"
    if cwd != "/":
        cfg.extra['step'] = f"create cwd {cwd}"
        target = rootfs.secure_join(rootfs_dir, cwd)
        if not os.path.lexists(target):
            os.makedirs(target, mode=0o755, exist_ok=True)

    # 7. hooks: the creator runs prestart and createRuntime (runtime
    #    namespace) while we wait; createContainer runs here, in the
    #    container's mount namespace, before pivot_root (runc's order)
    hooks_cfg = spec.get("hooks") or {}
    if cfg.ack_fd is not None:
        cfg.extra['step'] = "run prestart/createRuntime hooks"
        send(cfg.sync_fd, {"type": "hooks"})
        ack = Reader(cfg.ack_fd).next()
        os.close(cfg.ack_fd)
        cfg.ack_fd = None
        if not ack or ack.get("type") != "ack":
            raise errors.SkiffError("the creator did not answer the hooks message")
        cfg.extra["state"] = ack.get("state") or {}
        if hooks_cfg.get("createContainer"):
            from skiff.runtime.linux import hooks as _hooks
            cfg.extra['step'] = "run createContainer hooks"
            _hooks.run(hooks_cfg, "createContainer", cfg.extra["state"])
    if hooks_cfg.get("startContainer"):
        from skiff.runtime.linux import hooks as _hooks  # noqa: F811 - loaded before pivot

    # 8. keep a handle on exec.fifo, opened for writing after pivot: an
    #    O_PATH fd of the fifo itself, reopened through /proc/self/fd (as
    #    runc: the created init then holds nothing but ".../exec.fifo");
    #    without a /proc in the container, a handle on the state directory
    has_proc = any(m.get("destination", "").rstrip("/") == "/proc" and m.get("type") == "proc"
                   for m in spec.get("mounts") or ())
    cfg.extra['step'] = f"open state directory {cfg.state_dir}"
    state_fd = os.open(os.path.join(cfg.state_dir, "exec.fifo") if has_proc else cfg.state_dir,
                       os.O_PATH | os.O_CLOEXEC | (0 if has_proc else os.O_DIRECTORY))

    # 9. modules used after the switch must be loaded now (the host's
    #    Python library is out of reach afterwards)
    if proc.get("rlimits"):
        import resource  # noqa: F401
    if proc.get("terminal"):
        import fcntl, socket, struct  # noqa: F401,E401
    prepare_process(cfg, proc, linux)

    # 10. switch the root
    if cfg.no_pivot:
        cfg.extra['step'] = "move root"
        rootfs.move_root(rootfs_dir)
    else:
        cfg.extra['step'] = "pivot_root"
        rootfs.pivot(rootfs_dir)
    if prop in ("shared", "rshared"):
        cfg.extra['step'] = f"make / {prop}"
        sc.mount(None, "/", None, rootfs.PROPAGATION[prop])

    # 11. the terminal: a pty from the container's devpts, master to the console socket
    if proc.get("terminal"):
        cfg.extra['step'] = "set up console"
        _setup_console(cfg, proc, console_bind=True)

    # 12. hostname and domainname (only in a new uts namespace)
    flags, joins = namespaces.parse(linux.get("namespaces"))
    own_uts = bool(flags & sc.CLONE_NEWUTS) or any(t == "uts" for t, _ in joins)
    if (spec.get("hostname") or spec.get("domainname")) and not own_uts:
        # never rename the host (runc refuses the same way)
        raise errors.InvalidArgument("unable to set hostname without a private uts namespace")
    if spec.get("hostname"):
        cfg.extra['step'] = "sethostname"
        sc.sethostname(spec["hostname"])
    if spec.get("domainname"):
        cfg.extra['step'] = "setdomainname"
        sc.setdomainname(spec["domainname"])

    # 13. sysctl (before /proc/sys goes read-only)
    for key, value in (linux.get("sysctl") or {}).items():
        cfg.extra['step'] = f"sysctl {key}"
        if "/" in key or ".." in key:
            raise errors.InvalidArgument(f"invalid sysctl key {key!r}")
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(str(value))

    # 14. readonly paths, then masked paths, then the read-only root
    for p in linux.get("readonlyPaths") or ():
        cfg.extra['step'] = f"make {p} read-only"
        rootfs.readonly_path(p)
    if linux.get("maskedPaths"):
        cfg.extra['step'] = "mask paths"
        rootfs.mask_paths(linux["maskedPaths"])
    if (spec.get("root") or {}).get("readonly"):
        cfg.extra['step'] = "make root read-only"
        rootfs.readonly_root()

    # 15-18. rlimits, oom_score_adj, capabilities, user, cwd, no_new_privs,
    #        and the executable, checked BEFORE waiting so the creator can report it
    userns = bool(flags & sc.CLONE_NEWUSER) or any(t == "user" for t, _ in joins)
    path, args, env = finalize_process(cfg, proc, linux, userns)

    # 19. stray descriptors must not leak into the container
    cfg.extra['step'] = "close descriptors"
    mark_fds(int(cfg.preserve_fds or 0), (state_fd, cfg.sync_fd))

    # 20. ready: the creator returns; then block until start() opens the fifo
    cfg.extra['step'] = "report ready"
    send(cfg.sync_fd, {"type": "ready"})
    os.close(cfg.sync_fd)
    cfg.sync_fd = -1  # its number is reused below: nothing may write there now
    cfg.extra['step'] = "open exec.fifo"
    # until start(), HUP/INT/TERM/QUIT end the waiting init (runc's init is Go
    # and dies on them; a PID 1 with default dispositions would ignore them)
    for sig in _WAIT_SIGNALS:
        signal.signal(sig, _die_on_signal)
    if has_proc:
        fifo_fd = os.open(f"/proc/self/fd/{state_fd}", os.O_WRONLY | os.O_CLOEXEC)
    else:
        fifo_fd = os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=state_fd)
    for sig in _WAIT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    os.close(state_fd)
    os.write(fifo_fd, b"0")
    cfg.extra["fifo_fd"] = fifo_fd

    # 21. the late seccomp filter, then the startContainer hooks, in the
    #     container, after start and before the user's process: they run
    #     under the filter and inherit the process's environment (runc)
    load_late_seccomp(cfg)
    if hooks_cfg.get("startContainer"):
        cfg.extra['step'] = "run startContainer hooks"
        st = dict(cfg.extra.get("state") or {}, status="created")
        _hooks.run(hooks_cfg, "startContainer", st, default_env=env)
    return fifo_fd, path, args, env


_WAIT_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)


def _die_on_signal(signum, frame) -> None:
    os._exit(128 + signum)


def wants_hook_sync(spec: dict) -> bool:
    """The init stops before pivot_root for the creator's prestart/createRuntime
    hooks (and to learn the state the in-container hooks get)."""
    h = spec.get("hooks") or {}
    return any(h.get(k) for k in ("prestart", "createRuntime", "createContainer",
                                  "startContainer"))


def preload(spec: dict) -> None:
    """Import every module the init may need later, while the host's Python
    library is readable (before a user namespace, pivot_root or joining the
    container's mount namespace)."""
    proc = spec.get("process") or {}
    linux = spec.get("linux") or {}
    if proc.get("rlimits"):
        import resource  # noqa: F401
    if proc.get("terminal"):
        import fcntl, socket, struct  # noqa: F401,E401
    if wants_hook_sync(spec):
        from skiff.runtime.linux import hooks  # noqa: F401
    if any("tmpcopyup" in (m.get("options") or ()) for m in spec.get("mounts") or ()):
        import shutil  # noqa: F401
    if linux.get("seccomp"):
        from skiff.runtime import seccomp  # noqa: F401
    if not any(kv.startswith("HOME=") and kv != "HOME=" for kv in proc.get("env") or ()):
        from skiff.runtime import user  # noqa: F401
    if (proc.get("apparmorProfile") or proc.get("selinuxLabel") or proc.get("ioPriority")
            or proc.get("scheduler") or linux.get("personality")
            or linux.get("memoryPolicy")):
        from skiff.runtime.linux import procattr  # noqa: F401


def prepare_process(cfg: InitConfig, proc: dict, linux: dict) -> None:
    """Before pivot_root / joining the mount namespace: what needs the host's
    files (libseccomp is dlopen'ed and the filter compiled here)."""
    if linux.get("seccomp"):
        cfg.extra['step'] = "compile seccomp filter"
        from skiff.runtime import seccomp
        filt = seccomp.compile_filter(linux["seccomp"])
        cfg.extra["seccomp"] = filt
        report(cfg, "debug", f"seccomp filter flags: {filt.flags}")
    if not any(kv.startswith("HOME=") and kv != "HOME=" for kv in proc.get("env") or ()):
        from skiff.runtime import user  # noqa: F401 - HOME from /etc/passwd after pivot
    if (proc.get("apparmorProfile") or proc.get("selinuxLabel") or proc.get("ioPriority")
            or proc.get("scheduler") or linux.get("personality")
            or linux.get("memoryPolicy")):
        from skiff.runtime.linux import procattr  # noqa: F401


def load_late_seccomp(cfg: InitConfig) -> None:
    """With no_new_privs the filter goes on as late as possible, right before
    execve (runc); the init's remaining syscalls are few and common."""
    f = cfg.extra.pop("seccomp_late", None)
    if f is not None:
        cfg.extra['step'] = "load seccomp filter"
        f.load()


def finalize_process(cfg: InitConfig, proc: dict, linux: dict, userns: bool):
    """The last steps before exec, shared by the init and exec'd processes:
    rlimits, oom_score_adj, capabilities, user and groups, umask, cwd,
    no_new_privs, then the executable's resolution. Returns (path, args, env)."""
    # 15. rlimits (clamped to the host's hard limits) and oom_score_adj
    for rl in proc.get("rlimits") or ():
        cfg.extra['step'] = f"setrlimit {rl.get('type')}"
        _set_rlimit(rl)
    if proc.get("oomScoreAdj") is not None:
        cfg.extra['step'] = "oom_score_adj"
        _set_oom_score_adj(int(proc["oomScoreAdj"]))

    # 16. personality, I/O priority, scheduler, memory policy, LSM labels
    #     (while still root with every capability), then seccomp: without
    #     no_new_privs loading it needs CAP_SYS_ADMIN, so before the user and
    #     capability switch (runc); with it, right before execve
    if (proc.get("apparmorProfile") or proc.get("selinuxLabel") or proc.get("ioPriority")
            or proc.get("scheduler") or linux.get("personality")
            or linux.get("memoryPolicy")):
        from skiff.runtime.linux import procattr
        if linux.get("personality"):
            cfg.extra['step'] = "personality"
            procattr.set_personality(linux["personality"])
        if proc.get("ioPriority"):
            cfg.extra['step'] = "ioprio_set"
            procattr.set_io_priority(proc["ioPriority"])
        if proc.get("scheduler"):
            cfg.extra['step'] = "sched_setattr"
            procattr.set_scheduler(proc["scheduler"], bool(
                ((linux.get("resources") or {}).get("cpu") or {}).get("cpus")))
        if linux.get("memoryPolicy"):
            cfg.extra['step'] = "set_mempolicy"
            procattr.set_memory_policy(linux["memoryPolicy"])
        cfg.extra['step'] = "apply lsm label"
        procattr.apply_lsm(proc)
    filt = cfg.extra.pop("seccomp", None)
    if filt is not None:
        if proc.get("noNewPrivileges"):
            cfg.extra["seccomp_late"] = filt
        else:
            cfg.extra['step'] = "load seccomp filter"
            filt.load()

    # 17. capabilities (bounding set first), user and groups, then the other sets
    cfg.extra['step'] = "capabilities"
    # no process.capabilities: leave them alone (runc), setuid then drops them
    caps = None
    if proc.get("capabilities") is not None:
        caps = capabilities.CapSets(proc["capabilities"])
        if caps.unknown:
            report(cfg, "warning", "ignoring unknown or unavailable capabilities: "
                   f"[{' '.join(caps.unknown)}]")
        caps.apply_bounding()
    user = proc.get("user") or {}
    uid, gid = int(user.get("uid") or 0), int(user.get("gid") or 0)
    cwd = proc.get("cwd") or "/"
    cfg.extra['step'] = f"chdir to cwd ({cwd!r}) set in config.json"
    chdir_err = None
    try:
        os.chdir(cwd)
    except OSError as e:
        chdir_err = e
    cfg.extra['step'] = f"set user {uid}:{gid}"
    if caps is not None:
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    if not userns or os.path.exists("/proc/self/setgroups") and \
            open("/proc/self/setgroups").read().strip() != "deny":
        os.setgroups([int(g) for g in user.get("additionalGids") or ()])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if caps is not None:
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
        cfg.extra['step'] = "capabilities"
        for warning in caps.apply():
            report(cfg, "warning", warning)
    if user.get("umask") is not None:
        os.umask(int(user["umask"]))
    else:
        os.umask(0o022)
    if chdir_err is not None:
        cfg.extra['step'] = f"chdir to cwd ({cwd!r}) set in config.json"
        os.chdir(cwd)  # again as the user; raises with its errno
    if proc.get("noNewPrivileges"):
        cfg.extra['step'] = "no_new_privs"
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)

    # 18. the executable, checked BEFORE waiting so the creator can report it
    cfg.extra['step'] = "resolve executable"
    args = list(proc.get("args") or ())
    if not args:
        raise errors.InvalidArgument("process.args must not be empty")
    env = {}
    for kv in proc.get("env") or ():
        k, _, v = kv.partition("=")
        env[k] = v
    if not env.get("HOME"):
        # runc: the user's home from the container's /etc/passwd, else "/"
        from skiff.runtime import user as _user
        try:
            env["HOME"] = _user.user_home("/", uid)
        except (OSError, errors.SkiffError):
            env["HOME"] = "/"
    path = find_executable(args[0], env.get("PATH"))

    return path, args, env


def mark_fds(preserve_fds: int, keep: tuple = ()) -> None:
    """0-2 and 3..3+preserve_fds-1 inherit across execve; every other fd is
    close-on-exec (``keep`` ones are closed by the caller later)."""
    inherit = set(range(3 + preserve_fds))
    for fd in _open_fds():
        if fd in inherit:
            os.set_inheritable(fd, True)
        elif fd not in keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def reset_signals() -> None:
    """Default dispositions and an empty signal mask (the creator's SIG_IGN
    would otherwise survive execve)."""
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    for s in range(1, signal.NSIG):
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def setup_stdio(stdio) -> None:
    """dup2 (in, out, err) onto 0, 1, 2 (None entries keep ours), through
    fresh copies first so that e.g. (1, 0, 2) cannot clobber itself."""
    if not stdio:
        return
    copies = [None if fd is None else os.dup(fd) for fd in stdio]
    for target, fd in enumerate(copies):
        if fd is not None:
            os.dup2(fd, target, inheritable=True)
            os.close(fd)


# ------------------------------------------------------ exec into a container

def exec_intermediate(cfg: InitConfig, joins: list[tuple[str, str]]) -> None:
    """First child of container.exec_process(); never returns. Joins the
    container's cgroup and namespaces (``joins``: (type, /proc/INIT/ns/X)
    in JOIN_ORDER), forks the process (CLONE_NEWPID applies to children),
    reports its pid and exits."""
    step = "exec"
    code = 1
    proc = cfg.spec.get("process") or {}
    try:
        non_dumpable(any(t == "user" for t, _ in joins))
        step = "join cgroup"
        # the hybrid cgroup2 directory: the process is born there (see
        # intermediate), unless a user or cgroup namespace joined below
        # would refuse it
        from skiff.runtime.cgroups.v1 import V1Manager
        defer_unified = (type(cfg.cgroup) is V1Manager
                         and not any(t in ("user", "cgroup") for t, _ in joins))
        if defer_unified:
            cfg.cgroup.apply(os.getpid(), unified=False)
            cfg.extra["cgroup2_fd"] = _open_cgroup2_dir(cfg)  # before the mount namespace
        else:
            cfg.cgroup.apply(os.getpid())
        # modules used after joining the mount namespace must be loaded now
        if proc.get("rlimits"):
            import resource  # noqa: F401
        if proc.get("terminal"):
            import fcntl, socket, struct  # noqa: F401,E401
        prepare_process(cfg, proc, cfg.spec.get("linux") or {})
        for ns_type, path in namespaces.join_order(joins):
            step = f"join {ns_type} namespace"
            namespaces.join(ns_type, path)
        step = "fork process"
        pid = _fork_init(cfg) if defer_unified else os.fork()
        if pid == 0:
            fd = cfg.extra.pop("cgroup2_fd", -1)
            if fd >= 0:
                os.close(fd)  # the process keeps no stray fds
            exec_child(cfg, userns=any(t == "user" for t, _ in joins))  # never returns
        send(cfg.sync_fd, {"type": "pid", "pid": pid})
        fd = cfg.extra.pop("cgroup2_fd", -1)
        if fd >= 0:
            if not cfg.extra.get("born_in_cgroup2"):
                _join_cgroup2_dir(fd, pid)
            os.close(fd)
        code = 0
    except BaseException as e:  # noqa: BLE001
        try:
            send(cfg.sync_fd, error_message(e, step))
        except Exception:
            pass
    finally:
        os._exit(code)


def exec_child(cfg: InitConfig, userns: bool) -> None:
    """The process exec'd in a running container (runc exec's setns init).
    The sync pipe is close-on-exec: the creator sees EOF once execve worked."""
    cfg.extra["step"] = "exec"
    proc = cfg.spec.get("process") or {}
    try:
        cfg.extra["step"] = "reset signals"
        reset_signals()
        cfg.extra["step"] = "set up stdio"
        setup_stdio(cfg.stdio)
        if proc.get("terminal"):
            os.setsid()
            cfg.extra["step"] = "set up console"
            _setup_console(cfg, proc)
        path, args, env = finalize_process(cfg, proc, cfg.spec.get("linux") or {}, userns)
        cfg.extra["step"] = "close descriptors"
        mark_fds(int(cfg.preserve_fds or 0), (cfg.sync_fd,))
        wfd = cfg.extra.get("exec_wait_fifo_fd")
        if wfd is not None:
            # --exec-wait-fifo: block until someone opens its read end
            cfg.extra["step"] = "open exec wait fifo"
            os.open(f"/proc/self/fd/{wfd}", os.O_WRONLY | os.O_CLOEXEC)
        load_late_seccomp(cfg)
        cfg.extra["step"] = "exec"
        try:
            os.execve(path, args, env)
        except OSError as e:
            raise errors.ExecError(f"exec {path}: {os.strerror(e.errno).lower()}",
                                   exit_code=127 if e.errno == 2 else 126) from None
    except BaseException as e:  # noqa: BLE001
        try:
            send(cfg.sync_fd, error_message(e, cfg.extra.get("step", "exec")))
        except Exception:
            pass
        os._exit(1)


def _open_fds() -> list[int]:
    try:
        return [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 1024))


def find_executable(arg0: str, path_env: str | None) -> str:
    """Resolve process.args[0] as execve will see it: a name with a "/" as
    is, else the first executable regular file in ``path_env`` (Go's
    exec.LookPath). Raises ExecError with runc's wording:
    'exec: "X": executable file not found in $PATH' (127),
    'exec: "X": stat X: no such file or directory' (127),
    'exec: "X": is a directory' / 'exec: "X": permission denied' (126)."""
    if "/" in arg0:
        try:
            st = os.stat(arg0)
        except (FileNotFoundError, NotADirectoryError):
            raise errors.ExecError(f'exec: "{arg0}": stat {arg0}: no such file or directory',
                                   exit_code=127, path=arg0) from None
        except PermissionError:
            raise errors.ExecError(f'exec: "{arg0}": stat {arg0}: permission denied',
                                   exit_code=126, path=arg0) from None
        if stat.S_ISDIR(st.st_mode):
            raise errors.ExecError(f'exec: "{arg0}": is a directory', exit_code=126, path=arg0)
        if not stat.S_ISREG(st.st_mode) or not os.access(arg0, os.X_OK, effective_ids=True):
            raise errors.ExecError(f'exec: "{arg0}": permission denied', exit_code=126, path=arg0)
        return arg0
    if arg0:
        for d in (path_env or "").split(":") if path_env is not None else ():
            cand = os.path.join(d or ".", arg0)
            try:
                st = os.stat(cand)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and os.access(cand, os.X_OK, effective_ids=True):
                return cand
    raise errors.ExecError(f'exec: "{arg0}": executable file not found in $PATH',
                           exit_code=127, path=arg0)


def clamp_rlimit(soft: int, hard: int, host_hard: int) -> tuple[int, int]:
    """Clamp a requested rlimit to the hard limit this process may not raise
    (no CAP_SYS_RESOURCE in the bounding set). -1 and 2**64-1 mean
    infinity, returned as -1 (resource.RLIM_INFINITY)."""
    inf = -1

    def norm(v):
        return inf if v in (-1, 2**64 - 1) or v >= 2**63 - 1 else v

    soft, hard, host_hard = norm(soft), norm(hard), norm(host_hard)

    def le(a, b):  # a <= b with infinity
        return b == inf or (a != inf and a <= b)

    if not le(hard, host_hard):
        hard = host_hard
    if not le(soft, hard):
        soft = hard
    return soft, hard


def _set_rlimit(rl: dict) -> None:
    import resource
    name = rl.get("type", "")
    res = getattr(resource, name, None)
    if not name.startswith("RLIMIT_") or res is None:
        raise errors.InvalidArgument(f"unknown rlimit {name!r}")
    soft, hard = int(rl.get("soft", 0)), int(rl.get("hard", 0))
    try:
        resource.setrlimit(res, clamp_rlimit(soft, hard, hard))
    except (ValueError, OSError):
        cur_soft, cur_hard = resource.getrlimit(res)
        s, h = clamp_rlimit(soft, hard, cur_hard)
        log.debug("%s clamped to %s:%s (host hard limit %s)", name, s, h, cur_hard)
        resource.setrlimit(res, (s, h))


def _set_oom_score_adj(value: int) -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except PermissionError:
        # lowering needs CAP_SYS_RESOURCE, which this host may lack: keep ours
        log.debug("oom_score_adj %d not allowed, keeping the current value", value)


TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414


def _setup_console(cfg: InitConfig, proc: dict, console_bind: bool = False) -> None:
    """Open a pty in the container's devpts, make its slave our controlling
    terminal and 0/1/2, send the master over the console socket (SCM_RIGHTS,
    with the slave's name as data, as runc)."""
    import fcntl
    import socket
    import struct
    if cfg.console_fd is None:
        raise errors.InvalidArgument("process.terminal is set but no console socket was given")
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    name = f"/dev/pts/{n}"
    slave = os.open(name, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    size = proc.get("consoleSize") or {}
    if size.get("height") or size.get("width"):
        fcntl.ioctl(slave, TIOCSWINSZ, struct.pack("HHHH", int(size.get("height") or 0),
                                                   int(size.get("width") or 0), 0, 0))
    user = proc.get("user") or {}
    try:
        os.fchown(slave, int(user.get("uid") or 0), -1)
    except OSError:
        pass
    sock = socket.socket(fileno=os.dup(cfg.console_fd))
    try:
        socket.send_fds(sock, [name.encode()], [master])
    finally:
        sock.close()
        os.close(cfg.console_fd)
        os.close(master)
    for t in range(3):
        os.dup2(slave, t, inheritable=True)
    os.close(slave)
    fcntl.ioctl(0, TIOCSCTTY, 0)
    if console_bind:
        # /dev/console is the pty too, as runc does (best effort: /dev may be the host's)
        try:
            if not os.path.exists("/dev/console"):
                os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            sc.mount(name, "/dev/console", None, sc.MS_BIND)
        except (OSError, errors.SkiffError) as e:
            log.debug("/dev/console not bound to %s: %s", name, e)
