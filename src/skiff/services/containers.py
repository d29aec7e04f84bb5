"""ContainerService: the container operations of the Engine API.

create, start, stop, kill, remove, wait, attach, logs, inspect and list, as
Engine API v1.44 (POST /containers/create ... DELETE /containers/{id}) and
dockerd's daemon/ package behave. It is given only what it needs: the
metadata database, the image service (to resolve images), the snapshotter
(the writable layer), the event bus, and paths. Each running container has
a shim (skiff.runtime.shim); this service talks to it through ShimClient
and never forks a container itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import secrets
import shutil
import signal as _signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import (Conflict, ExecError, InvalidArgument, NotFound, NotModified,
                      SkiffError, Unavailable)
from ..metadata.containers import ContainerStore

log = logging.getLogger("skiff.containers")

ZERO_TIME = "0001-01-01T00:00:00Z"
#: json-file logs are capped unless log-opts say otherwise: 5 files of 20 MiB
DEFAULT_LOG_MAX_SIZE = "20m"
DEFAULT_LOG_MAX_FILE = "5"
NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_LEFT = ["admiring", "bold", "brave", "busy", "calm", "clever", "cool", "eager", "elegant",
         "festive", "focused", "gallant", "happy", "hungry", "jolly", "keen", "kind", "lucid",
         "modest", "nifty", "quirky", "relaxed", "serene", "sharp", "stoic", "sweet", "tender",
         "trusting", "vibrant", "wizardly", "zealous", "youthful"]
_RIGHT = ["albattani", "babbage", "bell", "curie", "darwin", "einstein", "euclid", "fermi",
          "galileo", "hopper", "hypatia", "johnson", "kepler", "lamarr", "lovelace", "mayer",
          "mccarthy", "newton", "noether", "pascal", "ritchie", "shannon", "thompson", "torvalds",
          "turing", "wozniak", "yalow", "zhukovsky"]


def now_rfc3339() -> str:
    """Current time as RFC 3339 with nanoseconds, UTC, as Docker prints it."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + \
        f".{ns % 1_000_000_000:09d}Z"


def parse_rfc3339(s: str) -> float:
    """Unix seconds of an RFC 3339 time (nanoseconds truncated to µs)."""
    if not s or s.startswith("0001-"):
        return 0.0
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        return 0.0
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    frac = float(m.group(2) or 0)
    return base.timestamp() + frac


# docker/go-units HumanDuration: one implementation, a standard-library module
# the CLI shares (ps's "Up 3 seconds" is built here, images' "2 years ago" there)
from ..cli.units import human_duration  # noqa: E402,F401


def signal_number(sig: str | int | None, default: int = _signal.SIGKILL) -> int:
    """'SIGTERM', 'TERM', 'term', '15' -> 15; InvalidArgument if unknown."""
    if sig is None or sig == "":
        return int(default)
    if isinstance(sig, int):
        return sig
    s = str(sig).strip()
    if s.isdigit():
        n = int(s)
        if not 0 < n < 65:
            raise InvalidArgument(f"invalid signal: {sig}")
        return n
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
        base = _signal.SIGRTMIN if name.startswith("SIGRTMIN") else _signal.SIGRTMAX
        off = int(name[9:])
        return int(base) + off if "+" in name else int(base) - off
    try:
        return int(getattr(_signal, name))
    except AttributeError:
        raise InvalidArgument(f"invalid signal: {sig}")


@dataclass
class _Live:
    """In-memory state of one container: its shim, and who waits for it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    shim: object | None = None
    watcher: asyncio.Task | None = None
    exit_waiters: list = field(default_factory=list)      # futures -> (code, error)
    removed_waiters: list = field(default_factory=list)   # futures -> (code, error)
    pending_attach: list = field(default_factory=list)    # futures -> shim client or None
    stopping: bool = False
    restart_task: asyncio.Task | None = None
    health_task: asyncio.Task | None = None
    restart_delay: float = 0.0                            # s, the last back-off used


class ContainerService:
    """The container operations; see the module docstring.

    ``images`` must provide ``resolve(ref) -> ImageRecord`` (id, config,
    chain_ids, repo_tags); ``snapshotter`` is a skiff.snapshots.api.Snapshotter.
    Paths: ``data_root``/containers/<id>/ keeps the log and the etc files;
    ``exec_root``/containers/<id>/ is the bundle; ``runtime_root`` the
    runtime's state dir.
    """

    def __init__(self, *, db, images, snapshotter, events, data_root: str, exec_root: str,
                 runtime: str = "skiff", log_driver: str = "json-file", log_opts: dict | None = None,
                 cgroup_parent: str = "/skiff", network=None):
        self.store = ContainerStore(db)
        self.network = network  # skiff.network.manager.NetworkManager (None: no networking)
        self.images = images
        self.snapshotter = snapshotter
        self.events = events
        self.data_root = data_root
        self.exec_root = exec_root
        self.runtime_root = os.path.join(exec_root, "runtime")
        self.runtime = runtime
        self.log_driver = log_driver
        self.log_opts = dict(log_opts or {})
        self.cgroup_parent = cgroup_parent
        self._live: dict[str, _Live] = {}
        self._caps: list[str] | None = None  # the host's bounding set, read once
        self._execs: dict[str, dict] = {}  # exec id -> record (kept in memory, as dockerd)
        #: socket of the shim fork server (skiff.runtime.shim.forkserver), set by the daemon
        self.forkserver: str | None = None
        self._cache: dict[str, dict] = {c["Id"]: c for c in self.store.all()}
        for d in (os.path.join(data_root, "containers"), os.path.join(exec_root, "containers"),
                  self.runtime_root):
            os.makedirs(d, mode=0o711, exist_ok=True)

    # ---------------------------------------------------------------- lookup
    def _live_of(self, cid: str) -> _Live:
        live = self._live.get(cid)
        if live is None:
            live = self._live[cid] = _Live()
        return live

    def get(self, ref: str) -> dict:
        """The record by full id, name ("/x" or "x") or unique id prefix.
        NotFound "No such container: REF"; InvalidArgument on an ambiguous prefix."""
        if not ref:
            raise NotFound("No such container: ")
        c = self._cache.get(ref)
        if c:
            return c
        name = "/" + ref.lstrip("/")
        for c in self._cache.values():
            if c["Name"] == name:
                return c
        if re.fullmatch(r"[0-9a-f]+", ref):
            found = [c for c in self._cache.values() if c["Id"].startswith(ref)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}", id=ref)

    def _save(self, c: dict) -> None:
        self.store.put(c["Id"], c)
        self._cache[c["Id"]] = c

    def in_use(self, image_id: str) -> list[str]:
        """Ids of containers using ``image_id`` (for image removal)."""
        return [c["Id"] for c in self._cache.values() if c["Image"] == image_id]

    def counts(self) -> dict:
        st = [c["State"]["Status"] for c in self._cache.values()]
        return {"Containers": len(st), "ContainersRunning": st.count("running"),
                "ContainersPaused": st.count("paused"),
                "ContainersStopped": len(st) - st.count("running") - st.count("paused")}

    def runtime_binary(self, name: str | None) -> str:
        """A runtime name (HostConfig.Runtime, default-runtime) -> what the shim
        runs: "skiff" (in-process skiff runtime), else a runc-compatible
        binary's path: "runc" (Debian's /usr/sbin/runc), "skiff-runtime", a
        daemon.json "runtimes" entry ({"path": ...}, ``self.runtimes``), or
        an absolute path. Raises InvalidArgument as dockerd: "unknown or
        invalid runtime name: X"."""
        import shutil
        name = name or "skiff"
        if name == "skiff":
            return "skiff"
        entry = (getattr(self, "runtimes", None) or {}).get(name)
        if isinstance(entry, dict) and entry.get("path"):
            path = entry["path"]
            return path if path.startswith("/") else (shutil.which(path) or path)
        if name in ("runc", "skiff-runtime"):
            found = shutil.which(name) or (f"/usr/sbin/{name}" if name == "runc" else None)
            if found and os.path.exists(found):
                return found
        if name.startswith("/") and os.access(name, os.X_OK):
            return name
        raise InvalidArgument(f"unknown or invalid runtime name: {name}")

    # ---------------------------------------------------------------- create
    def create(self, body: dict, name: str | None = None) -> dict:
        """POST /containers/create. Returns {"Id", "Warnings"}.
        NotFound "No such image: REF" (the CLI then pulls), Conflict for a
        name in use, InvalidArgument for bad values."""
        from ..api.types import check_create
        check_create(body)  # Go's JSON typing, as dockerd decodes the request
        image_ref = body.get("Image") or ""
        if not image_ref:
            raise InvalidArgument("no image specified")  # Docker: "No command specified" / image
        hc = body.get("HostConfig") or {}
        if not isinstance(hc, dict):
            raise InvalidArgument("invalid HostConfig")
        warnings = validate_host_config(hc)
        if hc.get("Runtime"):
            self.runtime_binary(hc["Runtime"])  # InvalidArgument for an unknown name
        if name:
            if not NAME_RE.match(name):
                raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
            name = name.lstrip("/")
            owner = self.store.name_owner(name)
            if owner:
                raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                               f'"{owner}". You have to remove (or rename) that container to be able to reuse that name.')
        else:
            name = self._random_name()
        img = self.images.resolve(image_ref)
        config = merge_config(body, img.config.get("config") or {})
        if not config.get("Cmd") and not config.get("Entrypoint"):
            raise InvalidArgument("no command specified")
        net_settings = (self.network.create_settings(hc, body.get("NetworkingConfig"), config)
                        if self.network is not None else None)
        cid = secrets.token_hex(32)
        while cid in self._cache or cid[:12].isdigit():
            cid = secrets.token_hex(32)
        if not config.get("Hostname"):
            config["Hostname"] = cid[:12]
        top = img.chain_ids[-1] if img.chain_ids else ""
        self.snapshotter.prepare(cid, top, labels={"skiff.container": cid})
        cdir = os.path.join(self.data_root, "containers", cid)
        try:
            os.makedirs(cdir, mode=0o710, exist_ok=True)
            argv = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
            hc = normalise_host_config(hc)
            rec = {
                "Id": cid, "Created": now_rfc3339(), "Path": argv[0] if argv else "",
                "Args": argv[1:],
                "State": {"Status": "created", "Running": False, "Paused": False,
                          "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": 0,
                          "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME},
                "Image": img.id,
                "ResolvConfPath": os.path.join(cdir, "resolv.conf"),
                "HostnamePath": os.path.join(cdir, "hostname"),
                "HostsPath": os.path.join(cdir, "hosts"),
                "LogPath": os.path.join(cdir, f"{cid}-json.log") if self._log_driver(hc) == "json-file" else "",
                "Name": "/" + name, "RestartCount": 0, "Driver": "overlay2", "Platform": "linux",
                "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
                "HostConfig": hc,
                "GraphDriver": {"Name": "overlay2", "Data": None},
                "Mounts": [], "Config": config,
                "NetworkSettings": net_settings or {"Bridge": "", "SandboxID": "", "SandboxKey": "",
                                                    "Ports": {}, "Networks": {}},
            }
            self.store.add(cid, name, time.time(), rec)
        except BaseException:
            shutil.rmtree(cdir, ignore_errors=True)
            self.snapshotter.remove(cid)
            raise
        self._cache[cid] = rec
        self.events.publish("container", "create", cid, {"image": image_ref, "name": name})
        return {"Id": cid, "Warnings": warnings}

    def _random_name(self) -> str:
        for _ in range(100):
            n = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
            if not self.store.name_owner(n):
                return n
        return f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}{random.randint(0, 99999)}"

    def _log_driver(self, hc: dict) -> str:
        return ((hc.get("LogConfig") or {}).get("Type") or self.log_driver)

    # ---------------------------------------------------------------- start
    def _bundle(self, cid: str) -> str:
        return os.path.join(self.exec_root, "containers", cid)

    async def start(self, ref: str) -> None:
        """POST /containers/{id}/start. NotModified if running; ExecError when
        the command cannot be executed (the record keeps ExitCode 126/127)."""
        c = self.get(ref)
        cid = c["Id"]
        live = self._live_of(cid)
        async with live.lock:
            c = self.get(cid)
            if c["State"]["Running"]:
                raise NotModified(f"container {cid} already started")
            if c["State"]["Status"] in ("removing", "dead"):
                raise Conflict(f"container {cid} is marked for removal and cannot be started")
            try:
                shim = await self._launch(c)
            except BaseException as e:
                self._cleanup_runtime(cid)
                code = e.exit_code if isinstance(e, ExecError) else 128
                c["State"].update(Error=str(e), ExitCode=code)
                self._save(c)
                for fut in live.pending_attach:
                    if not fut.done():
                        fut.set_result(None)
                live.pending_attach.clear()
                if c["HostConfig"].get("AutoRemove"):
                    asyncio.get_running_loop().create_task(self._auto_remove(cid, code, str(e)))
                if isinstance(e, SkiffError):
                    raise
                raise SkiffError(f"failed to start container {cid}: {e}") from e
            live.shim = shim
            # attaches made before start get their streams now, before the process runs
            for fut in live.pending_attach:
                if not fut.done():
                    fut.set_result(shim)
            live.pending_attach.clear()
            await asyncio.sleep(0)
            try:
                await shim.start()
                pid = shim.pid
            except BaseException as e:
                # the shim and the container's init exist: end them, never
                # leave a container running that the record says is not
                await self._abort_start(cid, shim)
                c["State"].update(Error=str(e), ExitCode=128)
                self._save(c)
                raise SkiffError(f"failed to start container {cid}: {e}") from e
            st = c["State"]
            st.update(Status="running", Running=True, Restarting=False, Pid=int(pid or 0), ExitCode=0,
                      Error="", StartedAt=now_rfc3339(), FinishedAt=ZERO_TIME, OOMKilled=False)
            c.setdefault("_skiff", {})["manually_stopped"] = False
            self._save(c)
            live.watcher = asyncio.get_running_loop().create_task(self._watch(cid, shim))
            self._start_health(cid)
        self.events.publish("container", "start", cid, self._attrs(c))

    async def _launch(self, c: dict):
        """Mount the rootfs, write the etc files and config.json, spawn the shim
        (which creates the container). Returns the ShimClient."""
        from ..runtime.shim.client import spawn_shim
        from ..runtime.spec import build_spec, host_bounding_capabilities
        from ..runtime.user import resolve_groups, resolve_user, user_home
        from ..snapshots.mount import mount_all
        cid = c["Id"]
        cfg, hc = c["Config"], c["HostConfig"]
        t0 = time.perf_counter()
        bundle = self._bundle(cid)
        rootfs = os.path.join(bundle, "rootfs")
        os.makedirs(rootfs, mode=0o711, exist_ok=True)
        if not os.path.ismount(rootfs):
            mount_all(self.snapshotter.mounts(cid), rootfs)
        hostname = cfg.get("Hostname") or cid[:12]
        if self.network is not None:
            netns = await self.network.attach(c, hostname)  # also writes hosts/resolv.conf
        else:
            write_etc_files(c, hostname)
            netns = self._netns(hc)
        t1 = time.perf_counter()
        uid, gid, groups = resolve_user(rootfs, cfg.get("User") or "")
        groups = list(groups) + [g for g in resolve_groups(rootfs, hc.get("GroupAdd") or [])
                                 if g not in groups]
        if self._caps is None:
            self._caps = host_bounding_capabilities()
        spec = build_spec(
            container_id=cid, image_config={}, create=dict(cfg, HostConfig=hc), rootfs=rootfs,
            etc_files={"/etc/hostname": c["HostnamePath"], "/etc/hosts": c["HostsPath"],
                       "/etc/resolv.conf": c["ResolvConfPath"]},
            netns=netns, cgroups_path=f"{self.cgroup_parent.rstrip('/')}/{cid}",
            user=(uid, gid, groups), home=user_home(rootfs, uid),
            available_capabilities=self._caps,
            init_path=init_binary() if hc.get("Init") else None)
        import json
        tmp = os.path.join(bundle, "config.json.tmp")
        with open(tmp, "w") as f:
            json.dump(spec, f)
        os.replace(tmp, os.path.join(bundle, "config.json"))
        for name in ("exit.json",):
            try:
                os.unlink(os.path.join(bundle, name))
            except FileNotFoundError:
                pass
        log_opts = dict(self.log_opts)
        lc = hc.get("LogConfig") or {}
        log_opts.update(lc.get("Config") or {})
        if "max-size" not in log_opts:
            # bounded by default (Docker's json-file is not): DEFAULT_LOG_MAX_SIZE x DEFAULT_LOG_MAX_FILE
            log_opts["max-size"] = DEFAULT_LOG_MAX_SIZE
            log_opts.setdefault("max-file", DEFAULT_LOG_MAX_FILE)
        runtime = self.runtime_binary(hc.get("Runtime") or self.runtime)
        t2 = time.perf_counter()
        shim = await spawn_shim(
            id=cid, bundle=bundle, runtime_root=self.runtime_root,
            log_path=c["LogPath"] or os.devnull, runtime=runtime, tty=bool(cfg.get("Tty")),
            stdin=bool(cfg.get("OpenStdin")), stdin_once=bool(cfg.get("StdinOnce")),
            log_opts=dict(log_opts, driver=self._log_driver(hc)), forkserver=self.forkserver)
        log.debug("launch %s: rootfs+network %.1f ms, spec %.1f ms, shim+create %.1f ms", cid[:12],
                  1000 * (t1 - t0), 1000 * (t2 - t1), 1000 * (time.perf_counter() - t2))
        return shim

    def _netns(self, hc: dict) -> str | None:
        mode = hc.get("NetworkMode") or "default"
        if mode == "host":
            return None
        return ""  # a new namespace with only lo, until networking lands

    def _cleanup_runtime(self, cid: str) -> None:
        """Unmount the rootfs and remove the bundle (the runtime state is the shim's)."""
        from ..snapshots.mount import unmount
        if self.network is not None:
            c = self._cache.get(cid)
            try:
                self.network.release_sync(cid, c)
            except Exception as e:
                log.warning("releasing network of %s: %s", cid, e)
            if c is not None:
                self.store.put(cid, c)
        bundle = self._bundle(cid)
        rootfs = os.path.join(bundle, "rootfs")
        try:
            if os.path.ismount(rootfs):
                unmount(rootfs, detach=True)
        except SkiffError as e:
            log.warning("unmount %s: %s", rootfs, e)
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.rmtree(os.path.join(self.runtime_root, cid), ignore_errors=True)

    async def _watch(self, cid: str, shim) -> None:
        """Await the container's exit through its shim and record it."""
        from ..runtime.shim.client import read_exit
        try:
            st = await shim.wait()
            code, finished, oom = st.exit_code, st.exited_at, st.oom_killed
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("lost shim of %s: %s", cid, e)
            st = read_exit(self._bundle(cid))
            code, finished, oom = (st.exit_code, st.exited_at, st.oom_killed) if st else (255, now_rfc3339(), False)
        try:
            await shim.close()
        except Exception:
            pass
        await self._on_exit(cid, code, finished, oom)

    async def _on_exit(self, cid: str, code: int, finished: str, oom: bool) -> None:
        c = self._cache.get(cid)
        if c is None:
            return
        live = self._live_of(cid)
        live.shim = None
        st = c["State"]
        st.update(Status="exited", Running=False, Paused=False, Pid=0, ExitCode=int(code),
                  FinishedAt=finished or now_rfc3339(), OOMKilled=bool(oom))
        self._save(c)
        self._cleanup_runtime(cid)
        if oom:
            self.events.publish("container", "oom", cid, self._attrs(c))
        self.events.publish("container", "die", cid, dict(self._attrs(c), exitCode=code))
        if live.stopping:
            live.stopping = False
        for fut in live.exit_waiters:
            if not fut.done():
                fut.set_result((int(code), None))
        live.exit_waiters.clear()
        if live.health_task:
            live.health_task.cancel()
            live.health_task = None
        if c["HostConfig"].get("AutoRemove"):
            await self._auto_remove(cid, int(code), None)
            return
        self._maybe_restart(c, int(code))

    def _maybe_restart(self, c: dict, code: int) -> None:
        """Apply the restart policy after an exit (moby restartmanager)."""
        from .health import decide_restart
        cid = c["Id"]
        live = self._live_of(cid)
        st = c["State"]
        uptime = parse_rfc3339(st["FinishedAt"]) - parse_rfc3339(st["StartedAt"])
        d = decide_restart(c["HostConfig"].get("RestartPolicy") or {}, exit_code=code,
                           restart_count=int(c.get("RestartCount") or 0),
                           manually_stopped=bool(c.get("_skiff", {}).get("manually_stopped")),
                           uptime=uptime, last_delay=live.restart_delay)
        if not d.restart:
            return
        live.restart_delay = d.delay
        st.update(Restarting=True, Status="restarting")
        self._save(c)

        async def later():
            await asyncio.sleep(d.delay)
            cur = self._cache.get(cid)
            if cur is None or not cur["State"].get("Restarting"):
                return
            cur["RestartCount"] = int(cur.get("RestartCount") or 0) + 1
            try:
                await self.start(cid)
            except Exception as e:
                log.warning("restarting %s: %s", cid, e)
                cur = self._cache.get(cid)
                if cur is not None:
                    cur["State"].update(Restarting=False, Status="exited", Error=str(e))
                    self._save(cur)
                    self._maybe_restart(cur, 128)
        live.restart_task = asyncio.get_running_loop().create_task(later())

    # ---------------------------------------------------------------- health
    def _start_health(self, cid: str) -> None:
        from .health import parse_healthcheck
        c = self._cache.get(cid)
        if c is None:
            return
        probe = parse_healthcheck(c["Config"].get("Healthcheck"))
        live = self._live_of(cid)
        if live.health_task:
            live.health_task.cancel()
            live.health_task = None
        if probe is None:
            c["State"].pop("Health", None)
            return
        c["State"]["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self._save(c)
        live.health_task = asyncio.get_running_loop().create_task(self._health_loop(cid, probe))

    async def _health_loop(self, cid: str, probe) -> None:
        from .health import record_result
        t0 = time.monotonic()
        while True:
            c = self._cache.get(cid)
            if c is None or not c["State"]["Running"]:
                return
            health = c["State"].setdefault("Health", {"Status": "starting", "FailingStreak": 0, "Log": []})
            in_start = time.monotonic() - t0 < probe.start_period
            await asyncio.sleep(probe.start_interval if in_start and health["Status"] == "starting"
                                else probe.interval)
            c = self._cache.get(cid)
            if c is None or not c["State"]["Running"]:
                return
            result = await self._probe(cid, probe)
            health = c["State"].setdefault("Health", {"Status": "starting", "FailingStreak": 0, "Log": []})
            changed = record_result(health, result, probe, time.monotonic() - t0 < probe.start_period)
            if self._cache.get(cid) is c:
                self._save(c)
            if changed:
                self.events.publish("container", f"health_status: {changed}", cid, self._attrs(c))

    async def _probe(self, cid: str, probe) -> dict:
        """Run one healthcheck command in the container (as an exec) and
        return its Log entry {Start, End, ExitCode, Output}."""
        import json as _json
        from ..runtime.spec import build_exec_process, host_bounding_capabilities
        from .health import MAX_OUTPUT
        start = now_rfc3339()
        live = self._live_of(cid)
        shim = live.shim
        out = bytearray()
        code = -1
        if shim is None:
            return {"Start": start, "End": now_rfc3339(), "ExitCode": -1, "Output": "container not running"}
        eid = "health-" + secrets.token_hex(16)
        try:
            with open(os.path.join(self._bundle(cid), "config.json")) as f:
                cproc = _json.load(f)["process"]
            if self._caps is None:
                self._caps = host_bounding_capabilities()
            proc = build_exec_process(cproc, {"Cmd": probe.argv}, available_capabilities=self._caps)
            _pid, reader, writer = await shim.exec(eid, proc, stdin=False, stdout=True, stderr=True)

            async def collect():
                while True:
                    head = await reader.readexactly(8)
                    n = int.from_bytes(head[4:], "big")
                    data = await reader.readexactly(n)
                    if len(out) < MAX_OUTPUT:
                        out.extend(data[:MAX_OUTPUT - len(out)])
            try:
                await asyncio.wait_for(collect(), probe.timeout)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            except asyncio.TimeoutError:
                try:
                    await shim.kill(_signal.SIGKILL, exec_id=eid)
                except Exception:
                    pass
                writer.close()
                return {"Start": start, "End": now_rfc3339(), "ExitCode": -1,
                        "Output": f"Health check exceeded timeout ({probe.timeout:g}s)"}
            writer.close()
            st = await asyncio.wait_for(shim.wait(exec_id=eid), probe.timeout)
            code = st.exit_code
        except ExecError as e:
            code, out = e.exit_code, bytearray(str(e).encode())
        except Exception as e:
            code, out = -1, bytearray(str(e).encode())
        return {"Start": start, "End": now_rfc3339(), "ExitCode": code,
                "Output": out.decode("utf-8", "replace")}

    async def _auto_remove(self, cid: str, code: int, err: str | None) -> None:
        try:
            await self.remove(cid, force=True, volumes=True, _code=code, _err=err)
        except NotFound:
            pass
        except Exception as e:
            log.warning("auto-remove %s: %s", cid, e)

    def _attrs(self, c: dict) -> dict:
        a = {"image": c["Config"].get("Image", ""), "name": c["Name"].lstrip("/")}
        a.update(c["Config"].get("Labels") or {})
        return a

    # ---------------------------------------------------------------- signals
    def _mark_manual_stop(self, c: dict) -> None:
        """Stopped or killed by hand: no restart, and unless-stopped stays down."""
        c.setdefault("_skiff", {})["manually_stopped"] = True
        self._save(c)

    async def kill(self, ref: str, sig: str | None = None) -> None:
        """POST /containers/{id}/kill (default SIGKILL). Conflict if not running."""
        c = self.get(ref)
        n = signal_number(sig, _signal.SIGKILL)
        live = self._live_of(c["Id"])
        if not c["State"]["Running"] or live.shim is None:
            raise Conflict(f"Cannot kill container: {ref}: Container {c['Id']} is not running")
        self._mark_manual_stop(c)
        await live.shim.kill(n)
        if n == _signal.SIGKILL:
            await self._thaw_if_paused(c)
        self.events.publish("container", "kill", c["Id"], dict(self._attrs(c), signal=n))

    async def _thaw_if_paused(self, c: dict) -> None:
        """A frozen container cannot die: thaw it after SIGKILL (as dockerd)."""
        shim = self._live_of(c["Id"]).shim
        if c["State"].get("Paused") and shim is not None:
            try:
                await shim.resume()
            except Exception as e:
                log.debug("resume %s: %s", c["Id"], e)
                return
            c["State"].update(Paused=False, Status="running")
            self._save(c)

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        """POST /containers/{id}/stop: the stop signal (request, container's
        StopSignal, SIGTERM), then SIGKILL after ``timeout`` s (request,
        StopTimeout, 10; -1 waits for ever). NotModified if not running."""
        c = self.get(ref)
        cid = c["Id"]
        live = self._live_of(cid)
        if c["State"].get("Restarting"):  # stopping a container between restarts ends them
            self._mark_manual_stop(c)
            c["State"].update(Restarting=False, Status="exited")
            self._save(c)
            if live.restart_task:
                live.restart_task.cancel()
            return
        if not c["State"]["Running"] or live.shim is None:
            raise NotModified(f"container {cid} is not running")
        self._mark_manual_stop(c)
        n = signal_number(sig or c["Config"].get("StopSignal") or "SIGTERM", _signal.SIGTERM)
        if timeout is None:
            timeout = c["Config"].get("StopTimeout")
            if timeout is None:
                timeout = 10
        fut = asyncio.get_running_loop().create_future()
        live.exit_waiters.append(fut)
        live.stopping = True
        try:
            await live.shim.kill(n)
        except Exception as e:
            log.debug("stop signal to %s: %s", cid, e)
        await self._thaw_if_paused(c)
        try:
            if timeout is None or timeout < 0:
                await asyncio.shield(fut)
            else:
                await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            shim = live.shim
            if shim is not None:
                try:
                    await shim.kill(_signal.SIGKILL, all=True)
                except Exception as e:
                    log.debug("sigkill to %s: %s", cid, e)
                await self._thaw_if_paused(c)
            try:
                await asyncio.wait_for(asyncio.shield(fut), 30)
            except asyncio.TimeoutError:
                raise SkiffError(f"container {cid} did not exit after SIGKILL")
        self.events.publish("container", "stop", cid, self._attrs(c))

    # ---------------------------------------------------------------- wait
    async def wait(self, ref: str, condition: str = "not-running") -> dict:
        """POST /containers/{id}/wait. Returns {"StatusCode", "Error"}."""
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}")
        c = self.get(ref)
        cid = c["Id"]
        live = self._live_of(cid)
        fut = asyncio.get_running_loop().create_future()
        if condition == "removed":
            live.removed_waiters.append(fut)
        elif condition in ("", "not-running") and not c["State"]["Running"]:
            return {"StatusCode": c["State"]["ExitCode"], "Error": None}
        else:
            live.exit_waiters.append(fut)
        code, err = await fut
        return {"StatusCode": code, "Error": {"Message": err} if err else None}

    # ---------------------------------------------------------------- remove
    async def remove(self, ref: str, force: bool = False, volumes: bool = False,
                     _code: int | None = None, _err: str | None = None) -> None:
        """DELETE /containers/{id}. Conflict if running and not ``force``.
        Serialised with start on the container's lock (as moby's container
        lock): a removal never runs under a start that is making the container."""
        c = self.get(ref)
        live = self._live_of(c["Id"])
        async with live.lock:
            await self._remove_locked(ref, force, volumes, _code, _err)

    async def _remove_locked(self, ref: str, force: bool, volumes: bool,
                             _code: int | None, _err: str | None) -> None:
        c = self.get(ref)
        cid = c["Id"]
        live = self._live_of(cid)
        if c["State"]["Running"]:
            if not force:
                raise Conflict(f"You cannot remove a running container {cid}. Stop the container "
                               f"before attempting removal or force remove")
            fut = asyncio.get_running_loop().create_future()
            live.exit_waiters.append(fut)
            if live.shim is not None:
                try:
                    await live.shim.kill(_signal.SIGKILL, all=True)
                except Exception as e:
                    log.debug("kill %s: %s", cid, e)
                await self._thaw_if_paused(c)
                try:
                    await asyncio.wait_for(asyncio.shield(fut), 30)
                except asyncio.TimeoutError:
                    raise SkiffError(f"could not kill running container {cid}, cannot remove")
            c = self._cache.get(cid)
            if c is None:
                return  # auto-removed meanwhile
        if cid not in self._cache:
            raise NotFound(f"No such container: {ref}")
        if live.restart_task:
            live.restart_task.cancel()
        if live.health_task:
            live.health_task.cancel()
        c["State"].update(Status="removing", Restarting=False)
        self._save(c)  # a daemon killed from here on finishes the removal at its next start
        self._cleanup_runtime(cid)
        try:
            self.snapshotter.remove(cid)
        except NotFound:
            pass
        shutil.rmtree(os.path.join(self.data_root, "containers", cid), ignore_errors=True)
        self.store.remove(cid)
        self._cache.pop(cid, None)
        live = self._live.pop(cid, live)
        code = c["State"]["ExitCode"] if _code is None else _code
        for fut in live.removed_waiters + live.exit_waiters:
            if not fut.done():
                fut.set_result((code, _err))
        for fut in live.pending_attach:
            if not fut.done():
                fut.set_result(None)
        self.events.publish("container", "destroy", cid, self._attrs(c))

    # ---------------------------------------------------------------- attach
    async def attach_streams(self, ref: str):
        """The shim to attach to: at once when running, else when the
        container next starts (None if it is removed or fails first)."""
        c = self.get(ref)
        live = self._live_of(c["Id"])
        self.events.publish("container", "attach", c["Id"], self._attrs(c))
        if c["State"]["Running"] and live.shim is not None:
            return live.shim
        fut = asyncio.get_running_loop().create_future()
        live.pending_attach.append(fut)
        return await fut

    # ---------------------------------------------------------------- exec
    def exec_create(self, ref: str, body: dict) -> dict:
        """POST /containers/{id}/exec. Returns {"Id"}; Conflict if the
        container is not running; InvalidArgument without Cmd."""
        from ..api.types import check_exec
        check_exec(body)
        c = self.get(ref)
        cid = c["Id"]
        if not c["State"]["Running"]:
            raise Conflict(f"Container {cid} is not running")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidArgument("No exec command specified")
        eid = secrets.token_hex(32)
        self._execs[eid] = {
            "ID": eid, "ContainerID": cid, "Running": False, "ExitCode": None, "Pid": 0,
            "OpenStdin": bool(body.get("AttachStdin")), "OpenStdout": bool(body.get("AttachStdout")),
            "OpenStderr": bool(body.get("AttachStderr")), "CanRemove": False,
            "DetachKeys": body.get("DetachKeys") or "",
            "ProcessConfig": {"tty": bool(body.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:],
                              "privileged": bool(body.get("Privileged")), "user": body.get("User") or ""},
            "_config": dict(body, Cmd=cmd), "_started": False,
        }
        c.setdefault("ExecIDs", None)
        c["ExecIDs"] = (c["ExecIDs"] or []) + [eid]
        self.events.publish("container", "exec_create: " + " ".join(cmd), cid,
                            dict(self._attrs(c), execID=eid))
        return {"Id": eid}

    def exec_get(self, eid: str) -> dict:
        """The exec record; NotFound "No such exec instance: ID"."""
        e = self._execs.get(eid)
        if e is None:
            raise NotFound(f"No such exec instance: {eid}")
        return e

    def exec_inspect(self, eid: str) -> dict:
        """GET /exec/{id}/json."""
        return {k: v for k, v in self.exec_get(eid).items() if not k.startswith("_")}

    async def exec_start(self, eid: str, *, detach: bool = False):
        """Start an exec (POST /exec/{id}/start). Returns the shim stream
        (reader, writer) when attached, else (None, None). Conflict when the
        exec already ran or the container stopped; ExecError for a command
        that cannot run (the record keeps ExitCode 126/127)."""
        import json as _json
        from ..runtime.spec import build_exec_process
        from ..runtime.user import resolve_user, user_home
        e = self.exec_get(eid)
        if e["_started"]:
            raise Conflict(f"Error: Exec command {eid} has already run")
        cid = e["ContainerID"]
        c = self._cache.get(cid)
        live = self._live_of(cid)
        if c is None or not c["State"]["Running"] or live.shim is None:
            raise Conflict(f"Container {cid} is not running")
        e["_started"] = True
        cfg = e["_config"]
        with open(os.path.join(self._bundle(cid), "config.json")) as f:
            cproc = _json.load(f)["process"]
        rootfs = os.path.join(self._bundle(cid), "rootfs")
        user = None
        home = None
        if cfg.get("User"):
            user = resolve_user(rootfs, cfg["User"])
            home = user_home(rootfs, user[0])
        if self._caps is None:
            from ..runtime.spec import host_bounding_capabilities
            self._caps = host_bounding_capabilities()
        proc = build_exec_process(cproc, cfg, user=user, home=home, available_capabilities=self._caps)
        attach = not detach and (e["OpenStdin"] or e["OpenStdout"] or e["OpenStderr"])
        try:
            pid, reader, writer = await live.shim.exec(
                eid, proc, stdin=e["OpenStdin"], stdout=e["OpenStdout"], stderr=e["OpenStderr"],
                attach=attach)
        except SkiffError as err:
            e.update(ExitCode=err.exit_code if isinstance(err, ExecError) else 126, Running=False)
            raise
        e.update(Running=True, Pid=pid)
        self.events.publish("container", "exec_start: " + " ".join(cfg["Cmd"]), cid,
                            dict(self._attrs(c), execID=eid))
        asyncio.get_running_loop().create_task(self._exec_watch(eid, live.shim))
        return reader, writer

    async def _exec_watch(self, eid: str, shim) -> None:
        e = self._execs.get(eid)
        try:
            st = await shim.wait(exec_id=eid)
            code = st.exit_code
        except Exception as err:
            log.debug("exec %s: %s", eid, err)
            code = 126 if e and e["ExitCode"] is None else (e["ExitCode"] if e else 126)
        if e is not None:
            e.update(Running=False, ExitCode=code, Pid=0)
            fut = e.get("_done")
            if fut and not fut.done():
                fut.set_result(code)
            c = self._cache.get(e["ContainerID"])
            if c is not None:
                self.events.publish("container", "exec_die", e["ContainerID"],
                                    dict(self._attrs(c), execID=eid, exitCode=code))

    async def exec_wait(self, eid: str, timeout: float = 10.0) -> None:
        """Wait (a little) until the exec's exit code is recorded."""
        e = self.exec_get(eid)
        if e["ExitCode"] is not None and not e["Running"]:
            return
        fut = e.get("_done")
        if fut is None:
            fut = e["_done"] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            pass

    async def exec_resize(self, eid: str, h: int, w: int) -> None:
        e = self.exec_get(eid)
        live = self._live_of(e["ContainerID"])
        if live.shim is not None and h and w:
            await live.shim.resize(h, w, exec_id=eid)

    async def resize(self, ref: str, h: int, w: int) -> None:
        """POST /containers/{id}/resize: the container's tty size."""
        c = self.get(ref)
        live = self._live_of(c["Id"])
        if not c["State"]["Running"] or live.shim is None:
            raise Conflict(f"Container {c['Id']} is not running")
        if h and w:
            await live.shim.resize(h, w)

    def rename(self, ref: str, new: str) -> None:
        """POST /containers/{id}/rename."""
        c = self.get(ref)
        if not new or not NAME_RE.match(new):
            raise InvalidArgument(f"Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        new = new.lstrip("/")
        if c["Name"] == "/" + new:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        owner = self.store.name_owner(new)
        if owner:
            raise Conflict(f'Conflict. The container name "/{new}" is already in use by container "{owner}". '
                           f'You have to remove (or rename) that container to be able to reuse that name.')
        old = c["Name"]
        c["Name"] = "/" + new
        self._save(c)
        self.events.publish("container", "rename", c["Id"], dict(self._attrs(c), oldName=old))

    # ---------------------------------------------------------------- read
    def inspect(self, ref: str, size: bool = False) -> dict:
        """GET /containers/{id}/json."""
        c = self.get(ref)
        out = {k: v for k, v in c.items() if not k.startswith("_")}
        out["State"] = dict(c["State"])
        if size:
            try:
                u = self.snapshotter.usage(c["Id"])
                out["SizeRw"] = u.size
            except Exception:
                out["SizeRw"] = 0
        return out

    def list(self, all: bool = False, limit: int = -1, filters: dict | None = None,
             size: bool = False) -> list[dict]:
        """GET /containers/json, newest first, with Docker's filters
        (id, name, label, status, ancestor, exited, before, since)."""
        out = []
        recs = sorted(self._cache.values(), key=lambda c: c["Created"], reverse=True)
        filters = normalise_filters(filters)
        if not all and limit <= 0 and not filters.get("status") and not filters.get("exited"):
            recs = [c for c in recs if c["State"]["Running"]]
        for c in recs:
            if not self._match(c, filters):
                continue
            out.append(self._summary(c, size))
            if limit > 0 and len(out) >= limit:
                break
        return out

    def _match(self, c: dict, f: dict) -> bool:
        st = c["State"]
        for v in f.get("id", []):
            if not c["Id"].startswith(v):
                return False
        if f.get("name") and not any(re.search(v.lstrip("/"), c["Name"].lstrip("/")) for v in f["name"]):
            return False
        if f.get("status") and st["Status"] not in f["status"]:
            return False
        if f.get("exited"):
            if st["Running"] or st["Status"] == "created" or str(st["ExitCode"]) not in f["exited"]:
                return False
        labels = c["Config"].get("Labels") or {}
        for v in f.get("label", []):
            k, eq, want = v.partition("=")
            if k not in labels or (eq and labels[k] != want):
                return False
        if f.get("ancestor"):
            ok = False
            for a in f["ancestor"]:
                try:
                    if self.images.resolve(a).id == c["Image"]:
                        ok = True
                except SkiffError:
                    pass
                if a == c["Config"].get("Image") or c["Image"].startswith(a) or \
                        c["Image"].replace("sha256:", "").startswith(a):
                    ok = True
            if not ok:
                return False
        return True

    def _summary(self, c: dict, size: bool) -> dict:
        st = c["State"]
        created = parse_rfc3339(c["Created"])
        if st["Status"] in ("running", "paused"):
            from .health import status_suffix
            status = "Up " + human_duration(time.time() - parse_rfc3339(st["StartedAt"])) + \
                status_suffix(st.get("Health"))
            if st.get("Paused"):
                status += " (Paused)"
        elif st["Status"] == "restarting":
            fin = parse_rfc3339(st["FinishedAt"])
            status = f"Restarting ({st['ExitCode']}) {human_duration(time.time() - fin)} ago"
        elif st["Status"] == "created":
            status = "Created"
        elif st["Status"] == "removing":
            status = "Removal In Progress"
        elif st["Status"] == "exited":
            fin = parse_rfc3339(st["FinishedAt"])
            status = f"Exited ({st['ExitCode']}) {human_duration(time.time() - fin)} ago"
        else:
            status = st["Status"].capitalize()
        # moby daemon/list.go: arguments with a space are single-quoted
        args = [f"'{a}'" if " " in a else a for a in c["Args"]]
        command = " ".join([c["Path"]] + args) if c["Path"] else ""
        d = {"Id": c["Id"], "Names": [c["Name"]], "Image": c["Config"].get("Image", ""),
             "ImageID": c["Image"], "Command": command, "Created": int(created),
             "Ports": _summary_ports(c.get("NetworkSettings") or {}),
             "Labels": c["Config"].get("Labels") or {}, "State": st["Status"],
             "Status": status, "HostConfig": {"NetworkMode": c["HostConfig"].get("NetworkMode", "default")},
             "NetworkSettings": {"Networks": c["NetworkSettings"].get("Networks", {})},
             "Mounts": c.get("Mounts", [])}
        if size:
            try:
                d["SizeRw"] = self.snapshotter.usage(c["Id"]).size
            except Exception:
                d["SizeRw"] = 0
            d["SizeRootFs"] = d["SizeRw"]
        return d

    def log_source(self, ref: str) -> tuple[dict, str]:
        """(record, log path) for GET /containers/{id}/logs; InvalidArgument
        when the log driver keeps nothing to read."""
        c = self.get(ref)
        if not c["LogPath"]:
            raise InvalidArgument('configured logging driver does not support reading')
        return c, c["LogPath"]

    def is_running(self, cid: str) -> bool:
        c = self._cache.get(cid)
        return bool(c and c["State"]["Running"])

    # ---------------------------------------------------------------- restart safety
    async def restore(self) -> None:
        """At daemon start: reconnect to the shims of running containers;
        record the exit of those whose shim is gone (255 when nothing was
        recorded); remove writable layers no record owns (a create cut short)."""
        from ..runtime.shim.client import ShimClient, read_exit
        for c in list(self._cache.values()):
            cid = c["Id"]
            if c["State"]["Running"]:
                try:
                    shim = await ShimClient.connect(self._bundle(cid))
                except (Unavailable, OSError, SkiffError):
                    st = read_exit(self._bundle(cid))
                    if st:
                        await self._on_exit(cid, st.exit_code, st.exited_at, st.oom_killed)
                    else:
                        await self._on_exit(cid, 255, now_rfc3339(), False)
                    continue
                live = self._live_of(cid)
                live.shim = shim
                live.watcher = asyncio.get_running_loop().create_task(self._watch(cid, shim))
                self._start_health(cid)
                await self._thaw_if_left_frozen(c, shim)
            elif c["State"]["Status"] == "removing":
                try:
                    await self.remove(cid, force=True)
                except SkiffError as e:
                    log.warning("finishing removal of %s: %s", cid, e)
            else:
                await self._adopt_or_clean(cid)
        self._remove_orphan_bundles()
        self._remove_orphan_cgroups()
        from .health import starts_with_daemon
        for c in list(self._cache.values()):
            if not c["State"]["Running"] and c["State"]["Status"] != "removing" and starts_with_daemon(
                    c["HostConfig"].get("RestartPolicy") or {},
                    bool(c.get("_skiff", {}).get("manually_stopped"))):
                c["State"]["Restarting"] = False
                try:
                    await self.start(c["Id"])
                except Exception as e:
                    log.warning("starting %s (restart policy) at daemon start: %s", c["Id"], e)
        try:
            from ..snapshots.api import KIND_ACTIVE
            for info in list(self.snapshotter.walk()):
                if info.kind == KIND_ACTIVE and re.fullmatch(r"[0-9a-f]{64}", info.key) \
                        and info.key not in self._cache:
                    log.info("removing orphaned writable layer %s", info.key)
                    self.snapshotter.remove(info.key)
                    shutil.rmtree(os.path.join(self.data_root, "containers", info.key), ignore_errors=True)
        except Exception as e:
            log.warning("cleaning orphaned snapshots: %s", e)

    async def _abort_start(self, cid: str, shim) -> None:
        """A start that failed after the shim made the container: kill what
        runs (through the shim, then the runtime's forced delete, which ends
        whatever is left in the cgroup), close the shim, clean the bundle."""
        try:
            await shim.kill(_signal.SIGKILL, all=True)
        except Exception as e:
            log.debug("abort %s: kill: %s", cid, e)
        try:
            await asyncio.wait_for(shim.wait(), 5)
        except Exception:
            pass
        try:
            await shim.close()
        except Exception:
            pass
        self._force_delete(cid)
        self._kill_orphan_shim(cid)
        self._cleanup_runtime(cid)

    async def _thaw_if_left_frozen(self, c: dict, shim) -> None:
        """A daemon that died during `cp` (which freezes the container) leaves
        it frozen although the record says it is not paused: thaw it."""
        if c["State"].get("Paused"):
            return
        try:
            if (await shim.state()).get("status") == "paused":
                log.info("thawing %s, left frozen by an interrupted copy", c["Id"])
                await shim.resume()
        except Exception as e:
            log.debug("thaw %s: %s", c["Id"], e)

    async def _adopt_or_clean(self, cid: str) -> None:
        """A container recorded as not running: if the daemon died during its
        start, a shim may hold it running; adopt it then (never leave a
        container the daemon has forgotten), else end that shim and clean."""
        from ..runtime.shim.client import ShimClient
        c = self._cache[cid]
        try:
            shim = await ShimClient.connect(self._bundle(cid))
        except (Unavailable, OSError, SkiffError):
            self._cleanup_runtime(cid)
            return
        try:
            st = await shim.state()
        except (Unavailable, OSError, SkiffError):
            st = {}
        if st.get("status") == "running":
            log.info("adopting running container %s", cid)
            c["State"].update(Status="running", Running=True, Pid=int(st.get("pid") or shim.pid or 0),
                              ExitCode=0, Error="", StartedAt=c["State"].get("StartedAt") if
                              not c["State"]["StartedAt"].startswith("0001") else now_rfc3339(),
                              FinishedAt=ZERO_TIME)
            self._save(c)
            live = self._live_of(cid)
            live.shim = shim
            live.watcher = asyncio.get_running_loop().create_task(self._watch(cid, shim))
            return
        try:
            await shim.kill(_signal.SIGKILL, all=True)
        except (Unavailable, OSError, SkiffError):
            pass
        try:
            await asyncio.wait_for(shim.wait(), 10)
        except Exception:
            pass
        await shim.close()
        self._force_delete(cid)
        self._cleanup_runtime(cid)

    def _remove_orphan_bundles(self) -> None:
        """Bundles and runtime state of containers no record owns."""
        for d in (os.path.join(self.exec_root, "containers"), self.runtime_root):
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            for cid in names:
                if re.fullmatch(r"[0-9a-f]{64}", cid) and cid not in self._cache:
                    log.info("removing orphaned bundle %s", cid)
                    self._kill_orphan_shim(cid)
                    self._force_delete(cid)
                    self._cleanup_runtime(cid)

    def _remove_orphan_cgroups(self) -> None:
        """Empty cgroups under the cgroup parent named like a container that
        no record owns (a runtime killed before its delete): rmdir'ed. A
        cgroup with processes is left alone (rmdir refuses it anyway)."""
        parent = self.cgroup_parent.strip("/")
        if not parent:
            return
        roots = []
        try:
            roots = [os.path.join("/sys/fs/cgroup", d, parent) for d in os.listdir("/sys/fs/cgroup")]
        except OSError:
            pass
        roots.append(os.path.join("/sys/fs/cgroup", parent))
        for root in roots:
            try:
                names = os.listdir(root)
            except OSError:
                continue
            for name in names:
                if re.fullmatch(r"[0-9a-f]{64}", name) and name not in self._cache:
                    try:
                        os.rmdir(os.path.join(root, name))
                    except OSError:
                        pass

    def _force_delete(self, cid: str) -> None:
        """runtime delete --force: kills what is left in the container's cgroup."""
        try:
            from ..runtime.linux import container as rt
            rt.delete(self.runtime_root, cid, force=True)
        except Exception as e:
            log.debug("runtime delete %s: %s", cid, e)

    def _kill_orphan_shim(self, cid: str) -> None:
        try:
            with open(os.path.join(self._bundle(cid), "shim.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"skiff" not in f.read() or cid.encode() not in open(f"/proc/{pid}/cmdline", "rb").read():
                    return
            os.kill(pid, _signal.SIGKILL)
        except (OSError, ValueError):
            pass

    async def shutdown(self) -> None:
        """Daemon stop: leave containers running (their shims hold them)."""
        for live in self._live.values():
            if live.watcher:
                live.watcher.cancel()
            if live.shim is not None:
                try:
                    await live.shim.close()
                except Exception:
                    pass


# -------------------------------------------------------------------- helpers
def init_binary() -> str:
    """The host init bind-mounted as /sbin/docker-init for HostConfig.Init:
    docker-init or Debian's static tini. InvalidArgument when there is none."""
    for cand in ("/usr/libexec/docker/docker-init", "/usr/bin/docker-init", "/usr/bin/tini-static",
                 "/usr/sbin/tini-static"):
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("docker-init") or shutil.which("tini-static")
    if found:
        return found
    raise InvalidArgument("--init: no init binary found (install Debian's tini: /usr/bin/tini-static)")


def _summary_ports(ns: dict) -> list[dict]:
    from ..network.api import summary_ports
    return summary_ports(ns)


def normalise_filters(filters) -> dict[str, list[str]]:
    """Docker's filters JSON ({"k": ["v"]} or the old {"k": {"v": true}}) -> {k: [v]}."""
    out: dict[str, list[str]] = {}
    for k, v in (filters or {}).items():
        if isinstance(v, dict):
            v = [x for x, on in v.items() if on]
        elif isinstance(v, str):
            v = [v]
        out[k] = list(v)
    return out


def merge_config(body: dict, image: dict) -> dict:
    """The container's Config as Docker records it: the request's fields over
    the image's (daemon/create.go merge): Env by key, Cmd from the image only
    when neither Cmd nor Entrypoint was given, Entrypoint, WorkingDir, User,
    Labels, ExposedPorts, StopSignal, Healthcheck, Volumes."""
    cfg = {k: body.get(k) for k in (
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
        "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped",
        "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild",
        "Labels", "StopSignal", "StopTimeout", "Shell")}
    for k in ("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"):
        cfg[k] = bool(cfg.get(k))
    cfg["Hostname"] = cfg.get("Hostname") or ""
    cfg["Domainname"] = cfg.get("Domainname") or ""
    for k in ("Cmd", "Entrypoint"):
        v = cfg.get(k)
        if isinstance(v, str):
            cfg[k] = [v]
    env_img = list(image.get("Env") or [])
    env = list(cfg.get("Env") or [])
    keys = {e.split("=", 1)[0] for e in env}
    cfg["Env"] = [e for e in env_img if e.split("=", 1)[0] not in keys] + env
    ep = cfg.get("Entrypoint")
    if not ep:  # nil or empty: the image's Cmd when none given, its Entrypoint when nil
        if not cfg.get("Cmd"):
            cfg["Cmd"] = image.get("Cmd")
        if ep is None:
            cfg["Entrypoint"] = image.get("Entrypoint")
    if cfg.get("Entrypoint") == [""]:
        cfg["Entrypoint"] = None
    if not cfg.get("WorkingDir"):
        cfg["WorkingDir"] = image.get("WorkingDir") or ""
    if not cfg.get("User"):
        cfg["User"] = image.get("User") or ""
    labels = dict(image.get("Labels") or {})
    labels.update(cfg.get("Labels") or {})
    cfg["Labels"] = labels
    ports = dict(image.get("ExposedPorts") or {})
    ports.update(cfg.get("ExposedPorts") or {})
    cfg["ExposedPorts"] = ports or None
    if not cfg.get("StopSignal") and image.get("StopSignal"):
        cfg["StopSignal"] = image["StopSignal"]
    if not cfg.get("Healthcheck") and image.get("Healthcheck"):
        cfg["Healthcheck"] = image["Healthcheck"]
    vols = dict(image.get("Volumes") or {})
    vols.update(cfg.get("Volumes") or {})
    cfg["Volumes"] = vols or None
    if cfg.get("OnBuild") is None:
        cfg["OnBuild"] = None
    for k in ("StopSignal", "StopTimeout", "Healthcheck", "MacAddress", "NetworkDisabled",
              "ArgsEscaped", "Shell"):
        if cfg.get(k) in (None, ""):
            cfg.pop(k, None)
    return cfg


def validate_host_config(hc: dict) -> list[str]:
    """Docker's checks on resources (daemon/daemon_unix.go
    verifyPlatformContainerResources); InvalidArgument with its messages."""
    warnings: list[str] = []
    mem = int(hc.get("Memory") or 0)
    swap = int(hc.get("MemorySwap") or 0)
    if mem < 0:
        raise InvalidArgument("invalid memory limit")
    if 0 < mem < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if swap > 0 and mem == 0:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if mem > 0 and swap > 0 and swap < mem:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    res = int(hc.get("MemoryReservation") or 0)
    if mem > 0 and res > 0 and res > mem:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if 0 < res < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if hc.get("NanoCpus") and (hc.get("CpuQuota") or hc.get("CpuPeriod")):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    nano = int(hc.get("NanoCpus") or 0)
    if nano < 0 or nano > (os.cpu_count() or 1) * 1_000_000_000:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {os.cpu_count() or 1}.00, as there are only "
                              f"{os.cpu_count() or 1} CPUs available")
    per = int(hc.get("CpuPeriod") or 0)
    if per and not 1000 <= per <= 1000000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    quota = int(hc.get("CpuQuota") or 0)
    if quota and quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if 0 < nano < 10_000_000:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {os.cpu_count() or 1}.00, as there are only "
                              f"{os.cpu_count() or 1} CPUs available")
    shares = int(hc.get("CpuShares") or 0)
    if shares < 0:
        raise InvalidArgument("invalid CPU shares: must not be negative")
    for key, what in (("CpusetCpus", "CPUs"), ("CpusetMems", "MEMs")):
        if hc.get(key):
            _check_cpuset(hc[key], what)
    oom = hc.get("OomScoreAdj")
    if oom is not None and not -1000 <= int(oom) <= 1000:
        raise InvalidArgument(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    sw = hc.get("MemorySwappiness")
    if sw is not None and sw != -1 and not 0 <= int(sw) <= 100:
        raise InvalidArgument(f"Invalid value: {sw}, valid memory swappiness range is 0-100")
    if int(hc.get("PidsLimit") or 0) < -1:
        pass  # Docker treats any negative as unlimited
    if hc.get("BlkioWeight") and not 10 <= int(hc["BlkioWeight"]) <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    for u in hc.get("Ulimits") or []:
        if u.get("Name") not in _ULIMIT_NAMES:
            raise InvalidArgument(f"invalid ulimit type: {u.get('Name')}")
        if int(u.get("Soft") or 0) > int(u.get("Hard") or 0):
            raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: "
                                  f"{u.get('Soft')} > {u.get('Hard')}")
    for key in (hc.get("Sysctls") or {}):
        _check_sysctl(key, hc.get("NetworkMode") or "", hc.get("IpcMode") or "")
    lc = (hc.get("LogConfig") or {})
    if (lc.get("Type") or "json-file") not in ("json-file", "none", "local", ""):
        raise InvalidArgument(f'failed to create task: logger: no log driver named \'{lc.get("Type")}\' is registered')
    for key in ("max-size",):
        v = (lc.get("Config") or {}).get(key)
        if v is not None and not re.fullmatch(r"(?i)-1|\d+(\.\d+)?\s*([kmgtp]i?b?|b)?", v.strip()):
            raise InvalidArgument(f"invalid {key} value {v!r}: invalid size")
    mf = (lc.get("Config") or {}).get("max-file")
    if mf is not None and (not str(mf).isdigit() or int(mf) < 1):
        raise InvalidArgument(f"invalid value for max-file: {mf}")
    rp = hc.get("RestartPolicy") or {}
    name = rp.get("Name") or ""
    if name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if hc.get("AutoRemove") and name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if name != "on-failure" and rp.get("MaximumRetryCount"):
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    return warnings


_ULIMIT_NAMES = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                 "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}
_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def _check_sysctl(key: str, network_mode: str, ipc_mode: str) -> None:
    """Only sysctls of namespaces the container owns (moby opts.ValidateSysctl,
    runc's check): IPC ones unless --ipc=host, net.* unless --network=host;
    everything else would change the host. InvalidArgument otherwise."""
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if ipc_mode == "host":
            raise InvalidArgument(f"sysctl {key!r} is not allowed in host IPC namespace")
        return
    if key.startswith("net."):
        if network_mode == "host":
            raise InvalidArgument(f"sysctl {key!r} is not allowed in host network namespace")
        return
    raise InvalidArgument(f"sysctl {key!r} is not whitelisted: it is not in a separate kernel namespace")


def _check_cpuset(spec: str, what: str) -> None:
    """"0-1,3" within the host's CPUs (or NUMA nodes for MEMs)."""
    n = os.cpu_count() or 1
    if what == "MEMs":
        try:
            n = len([d for d in os.listdir("/sys/devices/system/node") if re.fullmatch(r"node\d+", d)]) or 1
        except OSError:
            n = 1
    vals = set()
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:-(\d+))?\s*", part)
        if not m:
            raise InvalidArgument(f"Invalid value {spec} for cpuset {what.lower()}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise InvalidArgument(f"Invalid value {spec} for cpuset {what.lower()}")
        vals.update(range(lo, hi + 1))
    if max(vals) >= n:
        raise InvalidArgument(f"Requested {what} are not available - requested {spec}, available: 0-{n - 1}")


def normalise_host_config(hc: dict) -> dict:
    """HostConfig as inspect shows it, with Docker's defaults filled in."""
    out = dict(hc)
    out.setdefault("NetworkMode", "default")
    if not out.get("NetworkMode"):
        out["NetworkMode"] = "default"
    out.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    if not (out.get("RestartPolicy") or {}).get("Name"):
        out["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    out.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    for k in ("Memory", "MemorySwap", "MemoryReservation", "CpuShares", "CpuQuota", "CpuPeriod",
              "NanoCpus", "BlkioWeight", "ShmSize"):
        out.setdefault(k, 0)
    # daemon/daemon_unix.go adaptContainerSettings: CPU shares below 2 become 2
    if 0 < int(out.get("CpuShares") or 0) < 2:
        out["CpuShares"] = 2
    # daemon/daemon_unix.go adaptContainerSettings: unset swap is twice the memory
    if int(out.get("Memory") or 0) > 0 and int(out.get("MemorySwap") or 0) == 0:
        out["MemorySwap"] = int(out["Memory"]) * 2
    out.setdefault("AutoRemove", False)
    out.setdefault("Privileged", False)
    out.setdefault("ReadonlyRootfs", False)
    out.setdefault("Binds", None)
    out.setdefault("PortBindings", {})
    return out


def write_etc_files(c: dict, hostname: str) -> None:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf of the container as
    Docker writes them (libnetwork etchosts/resolvconf): loopback
    nameservers of the host are dropped; none left -> Google's, as Docker."""
    cfg = c["Config"]
    with open(c["HostnamePath"] + ".tmp", "w") as f:
        f.write(hostname + "\n")
    os.replace(c["HostnamePath"] + ".tmp", c["HostnamePath"])
    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    for extra in c["HostConfig"].get("ExtraHosts") or []:
        name, _, ip = extra.partition(":")
        hosts.append(f"{ip}\t{name}")
    with open(c["HostsPath"] + ".tmp", "w") as f:
        f.write("\n".join(hosts) + "\n")
    os.replace(c["HostsPath"] + ".tmp", c["HostsPath"])
    lines, ns = [], []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "nameserver":
                    if len(parts) > 1 and not (parts[1].startswith("127.") or parts[1] == "::1"):
                        ns.append(parts[1])
                elif parts and parts[0] in ("search", "options", "domain"):
                    lines.append(line.strip())
    except OSError:
        pass
    hc = c["HostConfig"]
    if hc.get("Dns"):
        ns = list(hc["Dns"])
    if not ns:
        ns = ["8.8.8.8", "8.8.4.4"]
    if hc.get("DnsSearch"):
        lines = [l for l in lines if not l.startswith(("search", "domain"))] + \
            ["search " + " ".join(hc["DnsSearch"])]
    if hc.get("DnsOptions"):
        lines = [l for l in lines if not l.startswith("options")] + ["options " + " ".join(hc["DnsOptions"])]
    body = "".join(f"nameserver {n}\n" for n in ns) + "".join(l + "\n" for l in lines)
    with open(c["ResolvConfPath"] + ".tmp", "w") as f:
        f.write(body)
    os.replace(c["ResolvConfPath"] + ".tmp", c["ResolvConfPath"])
