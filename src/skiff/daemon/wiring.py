"""The only place that builds concrete classes: stores, services, the app.

Start sequence (skiffd):
  1. directories under --data-root and --exec-root (0711);
  2. the metadata database (sqlite WAL) and the content store;
  3. the snapshotter (overlay if the backing file system can, else native),
     and its cleanup of half-made snapshots;
  4. the image service (its cleanup removes half-done pulls);
  5. the container service, and its restore: reconnect to live shims,
     record exits that happened while the daemon was down, drop orphans;
  6. the API app on every -H address.
"""

from __future__ import annotations

import os
import platform as _platform

from .config import Config


class Daemon:
    """Holds the services; ``app`` is the aiohttp application."""

    def __init__(self, cfg: Config):
        from ..content.store import ContentStore
        from ..metadata.db import Database
        from ..services.containers import ContainerService
        from ..services.events import EventBus
        from ..services.images import ImageService
        from ..snapshots import open_snapshotter

        self.cfg = cfg
        for d in (cfg.data_root, cfg.exec_root):
            os.makedirs(d, mode=0o711, exist_ok=True)
        self.db = Database(os.path.join(cfg.data_root, "metadata.db"))
        self.events = EventBus()
        self.content = ContentStore(os.path.join(cfg.data_root, "content"))
        self.snapshotter = open_snapshotter(os.path.join(cfg.data_root, "snapshots"), self.db)
        try:
            self.snapshotter.cleanup()
        except Exception:  # a damaged leftover must not stop the daemon
            import logging
            logging.getLogger("skiff.daemon").exception("snapshot cleanup")
        self.containers: ContainerService | None = None
        self.images = ImageService(self.db, self.content, self.snapshotter,
                                   mirrors=cfg.registry_mirrors, insecure=cfg.insecure_registries,
                                   hub_fallback=cfg.registry_mirror_fallback,
                                   in_use=lambda image_id: self.containers.in_use(image_id)
                                   if self.containers else [],
                                   **_maybe_events(ImageService, self.events))
        self.images.cleanup()
        try:
            gone = self.images.gc()  # nothing runs yet: what no image needs is a cut-short pull's
            if gone["snapshots"] or gone["blobs"]:
                import logging
                logging.getLogger("skiff.daemon").info(
                    "removed %d layers and %d blobs of interrupted pulls",
                    len(gone["snapshots"]), len(gone["blobs"]))
        except Exception:
            import logging
            logging.getLogger("skiff.daemon").exception("image gc")
        from ..network.manager import from_config as _network_from_config
        self.network = _network_from_config(self.db, cfg)
        self.network.start()  # default bridge, links of every network, nft table
        self.containers = ContainerService(
            db=self.db, images=self.images, snapshotter=self.snapshotter, events=self.events,
            data_root=cfg.data_root, exec_root=cfg.exec_root, runtime=cfg.default_runtime,
            log_driver=cfg.log_driver, log_opts=cfg.log_opts, cgroup_parent=cfg.cgroup_parent,
            network=self.network)
        self.containers.runtimes = dict(cfg.runtimes)  # daemon.json "runtimes"
        self.network.containers = self.containers
        self.network.events = self.events

    async def restore(self) -> None:
        await self.containers.restore()
        await self.network.restore()

    def make_app(self):
        from ..api.server import app as appmod
        from ..api.server.routes import containers, images, networks, system
        daemon = self

        class _System:
            def info(self):
                return daemon.info()

            def events(self, since=None, until=None, filters=None):
                return daemon.events.events(since=since, until=until, filters=filters)

        return appmod.make_app([
            lambda a: system.setup(a, _System()),
            lambda a: images.setup(a, self.images),
            lambda a: containers.setup(a, self.containers),
            lambda a: networks.setup(a, self.network),
            lambda a: __import__("skiff.api.server.routes.container_ops", fromlist=["setup_daemon"]).setup_daemon(a, self),
        ])

    def info(self) -> dict:
        """GET /info (Engine API v1.44 SystemInfo)."""
        from .. import __version__
        from ..api.server.routes.system import host_info
        h = host_info()
        cg_v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        images = self.images.list(all=False)
        d = {
            "ID": _daemon_id(self.cfg.data_root), **self.containers.counts(),
            "Images": len(images), "Driver": type(self.snapshotter).__name__.replace("Snapshotter", "").lower() or "overlay",
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"],
                        "Authorization": None, "Log": ["json-file", "none"]},
            "MemoryLimit": True, "SwapLimit": True, "KernelMemory": False, "CpuCfsPeriod": True,
            "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True,
            "IPv4Forwarding": True, "BridgeNfIptables": False, "BridgeNfIp6tables": False,
            "Debug": self.cfg.debug, "NFd": len(os.listdir("/proc/self/fd")), "OomKillDisable": True,
            "NGoroutines": 0, "LoggingDriver": self.cfg.log_driver,
            "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if cg_v2 else "1",
            "NEventsListener": 0, "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": None,
                               "AllowNondistributableArtifactsHostnames": None,
                               "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                               "IndexConfigs": {}, "Mirrors": list(self.cfg.registry_mirrors)},
            "DockerRootDir": self.cfg.data_root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
            "Runtimes": {"skiff": {"path": "skiff-runtime"}, "runc": {"path": "runc"}},
            "DefaultRuntime": self.cfg.default_runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                      "ControlAvailable": False, "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"] if False else [],
            "Warnings": [],
        }
        d.update(h)
        d["Architecture"] = _platform.machine()
        return d


def _maybe_events(cls, events) -> dict:
    import inspect
    try:
        return {"events": events} if "events" in inspect.signature(cls).parameters else {}
    except (TypeError, ValueError):
        return {}


def _daemon_id(root: str) -> str:
    p = os.path.join(root, "engine-id")
    try:
        with open(p) as f:
            return f.read().strip()
    except FileNotFoundError:
        import uuid
        v = str(uuid.uuid4())
        with open(p, "w") as f:
            f.write(v)
        return v
