"""The network manager: networks (bridge/host/null), container sandboxes
(named netns, veths, addresses, routes, published ports, DNS, /etc files)
and their restore after a daemon restart.

Records:
* table ``networks``: Docker's network inspect shape (without
  "Containers", which is computed from the live sandboxes);
* table ``sandboxes``: per running container its netns path, mode,
  endpoints (network id, veth, address, MAC, aliases) and held ports, so a
  restarted daemon keeps running containers connected and removes what
  belonged to containers that are gone;
* table ``ipam`` (skiff.network.ipam): address allocations.

Names on the host are per daemon: the default daemon (exec-root
/run/skiff) owns bridge ``skiff0`` and nft table ``inet skiff``; a daemon
with another exec-root uses ``skiff0-<h>``/``skiff-<h>`` (h: 6 hex of a
hash of its exec-root) so test daemons can run beside it.

Engine API v1.44: /networks, NetworkSettings, EndpointSettings.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field

from ..errors import Conflict, Forbidden, InvalidArgument, NotFound, SkiffError
from . import dns as _dns
from . import netlink, netns as _ns
from .api import empty_endpoint, empty_settings
from .drivers import bridge as _bridge
from .firewall import BridgeRule, Firewall, PortRule
from .ipam import IPAM, mac_for, pick_subnet
from .portmap import Binding, PortHolder, ports_view, wanted

log = logging.getLogger("skiff.network")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sandboxes (
    container TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
"""

PREDEFINED = ("bridge", "host", "none")
BR_NAME_OPT = "com.docker.network.bridge.name"


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


def _ifindex(name: str) -> int | None:
    """The ifindex of host link ``name`` (/sys/class/net), None when absent."""
    try:
        with open(f"/sys/class/net/{name}/ifindex") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


@dataclass
class Sandbox:
    """A running container's network state. ``path`` is the netns file
    (None: the host's namespace); ``owned`` when we made it."""

    cid: str
    mode: str
    path: str | None
    owned: bool
    endpoints: dict = field(default_factory=dict)  # network id -> endpoint dict
    ports: list = field(default_factory=list)  # [Binding]
    resolver: object = None

    def to_json(self) -> dict:
        return {"cid": self.cid, "mode": self.mode, "path": self.path, "owned": self.owned,
                "endpoints": self.endpoints, "ports": [b.__dict__ for b in self.ports]}


class NetworkManager:
    """Networks and sandboxes of one daemon. ``containers`` (set by the
    daemon's wiring) is the ContainerService: get(ref), is_running(cid)."""

    def __init__(self, db, exec_root: str, *, default_address_pools: list | None = None,
                 bip: str = "", fixed_cidr: str = "", mtu: int = 0, ipv6: bool = False,
                 dns: list | None = None, dns_search: list | None = None,
                 dns_opts: list | None = None, iptables: bool = True, ip_forward: bool = True):
        self.db = db
        db.ensure(_SCHEMA)
        self.exec_root = exec_root
        self.netns_dir = os.path.join(exec_root, "netns")
        self.pools = default_address_pools or None
        self.bip, self.fixed_cidr, self.mtu, self.ipv6 = bip, fixed_cidr, int(mtu or 0), ipv6
        self.dns, self.dns_search, self.dns_opts = list(dns or []), list(dns_search or []), list(dns_opts or [])
        self.iptables, self.ip_forward = iptables, ip_forward
        if os.path.abspath(exec_root) == "/run/skiff":
            self.default_bridge, table = "skiff0", "skiff"
        else:
            h = hashlib.sha256(os.path.abspath(exec_root).encode()).hexdigest()[:6]
            self.default_bridge, table = f"skiff0-{h}", f"skiff-{h}"
        self.owner = "skiff:" + os.path.abspath(exec_root)
        self.fw = Firewall(table, self.owner)
        self.ipam = IPAM(db)
        self.ports = PortHolder()
        self.sandboxes: dict[str, Sandbox] = {}
        self.containers = None
        self._lock = threading.RLock()
        self._docker_task: asyncio.Task | None = None
        self.events = None  # skiff.services.events.EventBus (set by the daemon's wiring)

    # ================================================================ records
    def _nets(self) -> list[dict]:
        with self.db.tx() as cur:
            return [json.loads(r[0]) for r in cur.execute("SELECT record FROM networks").fetchall()]

    def _put_net(self, n: dict) -> None:
        with self.db.tx() as cur:
            cur.execute("INSERT OR REPLACE INTO networks(id, name, record) VALUES (?,?,?)",
                        (n["Id"], n["Name"], json.dumps(n)))

    def _put_sandbox(self, sb: Sandbox) -> None:
        with self.db.tx() as cur:
            cur.execute("INSERT OR REPLACE INTO sandboxes(container, record) VALUES (?,?)",
                        (sb.cid, json.dumps(sb.to_json())))

    def _drop_sandbox(self, cid: str) -> None:
        with self.db.tx() as cur:
            cur.execute("DELETE FROM sandboxes WHERE container=?", (cid,))

    def get_network(self, ref: str) -> dict:
        """By name, full id or unique id prefix. NotFound "network REF not found"."""
        nets = self._nets()
        for n in nets:
            if n["Name"] == ref or n["Id"] == ref:
                return n
        found = [n for n in nets if ref and n["Id"].startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(found)} matches found based on ID prefix)")
        raise NotFound(f"network {ref} not found", id=ref)

    @staticmethod
    def _bridge_of(n: dict) -> str:
        return (n.get("Options") or {}).get(BR_NAME_OPT) or ""

    @staticmethod
    def _subnet(n: dict) -> tuple[str, str, str]:
        for c in (n.get("IPAM") or {}).get("Config") or []:
            if c.get("Subnet") and ipaddress.ip_network(c["Subnet"], strict=False).version == 4:
                return c["Subnet"], c.get("Gateway") or "", c.get("IPRange") or ""
        return "", "", ""

    @staticmethod
    def _subnet6(n: dict) -> tuple[str, str]:
        if not n.get("EnableIPv6"):
            return "", ""
        for c in (n.get("IPAM") or {}).get("Config") or []:
            if c.get("Subnet") and ipaddress.ip_network(c["Subnet"], strict=False).version == 6:
                return c["Subnet"], c.get("Gateway") or ""
        return "", ""

    # ================================================================ start
    def start(self) -> None:
        """At daemon start: predefined networks, the default bridge's subnet
        (bip / fixed-cidr / the first free pool subnet), every bridge link,
        ip_forward, the firewall table."""
        self.purge_stale()
        if self.ip_forward:
            try:
                netlink.set_sysctl("net.ipv4.ip_forward", "1")
            except OSError as e:
                log.warning("ip_forward: %s", e)
        nets = {n["Name"]: n for n in self._nets()}
        if "host" not in nets:
            self._put_net(self._record("host", "host", options={}))
        if "none" not in nets:
            self._put_net(self._record("none", "null", options={}))
        br = nets.get("bridge")
        want_subnet, want_gw, want_range = "", "", ""
        if self.bip:
            iface = ipaddress.ip_interface(self.bip)
            want_subnet, want_gw = str(iface.network), str(iface.ip)
            want_range = self.fixed_cidr or ""
        if br is None or (want_subnet and self._subnet(br)[0] != want_subnet) or \
                not self._subnet(br)[0] or not self._still_free(br):
            if br is not None:
                self.ipam.drop_network(br["Id"])
            if not want_subnet:
                # every routed network counts, the stored (stale) default one
                # included: it is being replaced because someone else holds it
                used = list(netlink.host_networks())
                used += [self._subnet(n)[0] for n in nets.values() if n["Name"] != "bridge" and self._subnet(n)[0]]
                s = pick_subnet(used, self.pools)
                want_subnet, want_gw = str(s), str(next(s.hosts()))
                want_range = self.fixed_cidr or ""
            cfg = {"Subnet": want_subnet, "Gateway": want_gw}
            if want_range:
                cfg["IPRange"] = want_range
            opts = {"com.docker.network.bridge.default_bridge": "true",
                    "com.docker.network.bridge.enable_icc": "true",
                    "com.docker.network.bridge.enable_ip_masquerade": "true",
                    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                    BR_NAME_OPT: self.default_bridge,
                    "com.docker.network.driver.mtu": str(self.mtu or 1500)}
            rec = br or self._record("bridge", "bridge", options=opts)
            rec["IPAM"]["Config"] = [cfg]
            rec["Options"] = opts
            self._put_net(rec)
            self.ipam.reserve(rec["Id"], want_gw, "gateway")
        for n in self._nets():
            if n["Driver"] == "bridge":
                try:
                    self._ensure_link(n)
                except SkiffError as e:
                    log.warning("network %s: %s", n["Name"], e)
        # the recorded sandboxes, so that the rules of running containers stay in
        # place while the container service's restore releases those that ended
        # (restore() then keeps or drops each)
        with self.db.tx() as cur:
            for r in cur.execute("SELECT record FROM sandboxes").fetchall():
                sb = self._sandbox_from(json.loads(r[0]))
                self.sandboxes.setdefault(sb.cid, sb)
        self.apply_firewall()

    def _is_ours(self, net) -> bool:
        for n in self._nets():
            s = self._subnet(n)[0]
            if s and ipaddress.ip_network(s, strict=False) == net:
                return True
        return False

    def _still_free(self, br: dict) -> bool:
        """The stored default subnet still overlaps nothing but our own bridge."""
        s = ipaddress.ip_network(self._subnet(br)[0], strict=False)
        names = set(netlink.link_names())
        if self.default_bridge in names:
            return True  # ours already holds it
        for u in netlink.host_networks():
            if u.version == 4 and not u.is_loopback and u.prefixlen and s.overlaps(u):
                return False
        return True

    def _record(self, name: str, driver: str, options: dict, labels: dict | None = None,
                internal: bool = False, ipam_config: list | None = None, nid: str | None = None,
                ipv6: bool = False, attachable: bool = False) -> dict:
        return {"Name": name, "Id": nid or secrets.token_hex(32), "Created": now_rfc3339(),
                "Scope": "local", "Driver": driver, "EnableIPv6": ipv6,
                "IPAM": {"Driver": "default", "Options": None if name in PREDEFINED else {},
                         "Config": ipam_config or []},
                "Internal": internal, "Attachable": attachable, "Ingress": False,
                "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Options": options,
                "Labels": labels or {}}

    def _ensure_link(self, n: dict) -> None:
        subnet, gw, _ = self._subnet(n)
        mtu = int((n.get("Options") or {}).get("com.docker.network.driver.mtu") or self.mtu or 0)
        pairs = [(subnet, gw)] if subnet else []
        if self._subnet6(n)[0]:
            pairs.append(self._subnet6(n))
        _bridge.ensure(self._bridge_of(n), pairs, mtu, owner=self.owner)

    def apply_firewall(self) -> None:
        """Rebuild our nft table from the networks and the held ports."""
        if not self.iptables:
            return
        with self._lock:
            bridges, ports = [], []
            for n in self._nets():
                if n["Driver"] != "bridge":
                    continue
                subnet = self._subnet(n)[0]
                masq = (n.get("Options") or {}).get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false"
                bridges.append(BridgeRule(self._bridge_of(n), [subnet] if subnet else [],
                                          internal=bool(n.get("Internal")), masquerade=masq))
            for sb in self.sandboxes.values():
                ep = self._first_endpoint(sb)
                if ep is None:
                    continue
                for b in sb.ports:
                    ports.append(PortRule(b.proto, b.host_ip, b.host_port, ep["ip"], b.port))
            # the same rules as the last transaction (a container without published
            # ports coming or going): no nft run, ~20 ms of every start and stop
            key = repr((bridges, ports))
            if key == getattr(self, "_fw_applied", None):
                return
            self._fw_applied = None
            self.fw.apply(bridges, ports)
            self._fw_applied = key

    @staticmethod
    def _first_endpoint(sb: Sandbox) -> dict | None:
        eps = sorted(sb.endpoints.values(), key=lambda e: e["ifname"])
        return eps[0] if eps else None

    # ================================================================ networks API
    def list(self, filters: dict | None = None) -> list[dict]:
        """GET /networks: filters name (substring), id (prefix), driver,
        type (custom|builtin), label (key or key=value), dangling."""
        out = []
        f = filters or {}
        for n in self._nets():
            if "name" in f and not any(v in n["Name"] for v in f["name"]):
                continue
            if "id" in f and not any(n["Id"].startswith(v) for v in f["id"]):
                continue
            if "driver" in f and n["Driver"] not in f["driver"]:
                continue
            if "type" in f:
                t = "builtin" if n["Name"] in PREDEFINED else "custom"
                if t not in f["type"]:
                    continue
            if "label" in f:
                labels = n.get("Labels") or {}
                ok = True
                for v in f["label"]:
                    k, eq, val = v.partition("=")
                    if k not in labels or (eq and labels[k] != val):
                        ok = False
                if not ok:
                    continue
            if "dangling" in f:
                dangling = n["Name"] not in PREDEFINED and not self._attached(n["Id"])
                if str(dangling).lower() not in [x.lower() for x in f["dangling"]] and \
                        not (dangling and "1" in f["dangling"]):
                    continue
            out.append(self.inspect_record(n, verbose=False))
        return out

    def _attached(self, nid: str) -> list[tuple[Sandbox, dict]]:
        return [(sb, sb.endpoints[nid]) for sb in self.sandboxes.values() if nid in sb.endpoints]

    def inspect(self, ref: str) -> dict:
        """GET /networks/{id}."""
        return self.inspect_record(self.get_network(ref))

    def inspect_record(self, n: dict, verbose: bool = True) -> dict:
        d = dict(n)
        cons = {}
        for sb, ep in self._attached(n["Id"]):
            c = self._container(sb.cid)
            cons[sb.cid] = {"Name": c["Name"].lstrip("/") if c else "", "EndpointID": ep["endpoint_id"],
                            "MacAddress": ep["mac"], "IPv4Address": f"{ep['ip']}/{ep['prefix']}",
                            "IPv6Address": f"{ep['ip6']}/{ep['prefix6']}" if ep.get("ip6") else ""}
        if n["Driver"] == "host":
            for sb in self.sandboxes.values():
                if sb.mode == "host":
                    c = self._container(sb.cid)
                    cons[sb.cid] = {"Name": c["Name"].lstrip("/") if c else "", "EndpointID": "",
                                    "MacAddress": "", "IPv4Address": "", "IPv6Address": ""}
        d["Containers"] = cons
        return d

    def _container(self, cid: str) -> dict | None:
        if self.containers is None:
            return None
        try:
            return self.containers.get(cid)
        except SkiffError:
            return None

    def create(self, body: dict) -> dict:
        """POST /networks/create: {"Name", "Driver", "Internal", "IPAM":
        {"Config": [{"Subnet", "Gateway", "IPRange"}]}, "Options", "Labels",
        "EnableIPv6", "Attachable", "CheckDuplicate"} -> {"Id", "Warning"}.
        Conflict for a name in use; Forbidden for host/null drivers (only
        one of each); InvalidArgument for a bad subnet; Unavailable when no
        subnet is free."""
        name = (body or {}).get("Name") or ""
        if not name:
            raise InvalidArgument("network name is empty")
        driver = body.get("Driver") or "bridge"
        if driver in ("host", "null"):
            raise Forbidden(f"only one instance of \"{driver}\" network is allowed")
        if driver != "bridge":
            raise NotFound(f"plugin \"{driver}\" not found")
        for n in self._nets():
            if n["Name"] == name:
                raise Conflict(f"network with name {name} already exists")
        opts = dict(body.get("Options") or {})
        nid = secrets.token_hex(32)
        br = opts.get(BR_NAME_OPT) or "br-" + nid[:12]
        if len(br) > 15:
            raise InvalidArgument(f"bridge name {br} is longer than 15 characters")
        if br in netlink.link_names():
            raise Conflict(f"bridge name {br} is already in use")
        cfgs = []
        used = netlink.host_networks() + [ipaddress.ip_network(self._subnet(n)[0])
                                         for n in self._nets() if self._subnet(n)[0]]
        for c in ((body.get("IPAM") or {}).get("Config") or []):
            if not c.get("Subnet"):
                continue
            try:
                s = ipaddress.ip_network(c["Subnet"], strict=False)
            except ValueError:
                raise InvalidArgument(f"invalid subnet {c['Subnet']}") from None
            if s.version != 4:
                if body.get("EnableIPv6"):
                    gw6 = c.get("Gateway") or str(s.network_address + 1)
                    if ipaddress.ip_address(gw6) not in s:
                        raise InvalidArgument(f"no matching subnet for gateway {gw6}")
                    cfgs.append({"Subnet": str(s), "Gateway": gw6})
                continue
            if str(s) != c["Subnet"]:
                raise InvalidArgument(f"invalid subnet {c['Subnet']}: it should be {s}")
            for u in used:
                if u.version == 4 and not u.is_loopback and u.prefixlen and s.overlaps(u):
                    raise Forbidden(f"Pool overlaps with other one on this address space")
            gw = c.get("Gateway") or str(next(s.hosts()))
            if ipaddress.ip_address(gw) not in s:
                raise InvalidArgument(f"no matching subnet for gateway {gw}")
            d = {"Subnet": str(s), "Gateway": gw}
            if c.get("IPRange"):
                r = ipaddress.ip_network(c["IPRange"], strict=False)
                if not r.subnet_of(s):
                    raise InvalidArgument(f"invalid ip-range {c['IPRange']}: not in subnet {s}")
                d["IPRange"] = str(r)
            cfgs.append(d)
        if not any(ipaddress.ip_network(c["Subnet"]).version == 4 for c in cfgs):
            s = pick_subnet(used, self.pools)
            cfgs.insert(0, {"Subnet": str(s), "Gateway": str(next(s.hosts()))})
        opts[BR_NAME_OPT] = br
        rec = self._record(name, "bridge", options=opts, labels=body.get("Labels") or {},
                           internal=bool(body.get("Internal")), ipam_config=cfgs, nid=nid,
                           ipv6=bool(body.get("EnableIPv6")), attachable=bool(body.get("Attachable")))
        self._put_net(rec)
        try:
            self.ipam.reserve(nid, self._subnet(rec)[1], "gateway")
            if self._subnet6(rec)[1]:
                self.ipam.reserve(nid, self._subnet6(rec)[1], "gateway")
            self._ensure_link(rec)
            self.apply_firewall()
        except BaseException:
            self._delete_net(rec)
            raise
        self._event("create", rec, type="bridge")
        return {"Id": nid, "Warning": ""}

    def _event(self, action: str, n: dict, **attrs) -> None:
        """A "network" event as dockerd's (Actor.Attributes name, type, container)."""
        if self.events is not None:
            try:
                self.events.publish("network", action, n["Id"], dict(name=n["Name"], **attrs))
            except Exception as e:
                log.debug("event: %s", e)

    def _delete_net(self, n: dict) -> None:
        with self.db.tx() as cur:
            cur.execute("DELETE FROM networks WHERE id=?", (n["Id"],))
        self.ipam.drop_network(n["Id"])
        if n["Driver"] == "bridge":
            try:
                _bridge.remove(self._bridge_of(n))
            except SkiffError as e:
                log.warning("remove bridge %s: %s", self._bridge_of(n), e)
        try:
            self.apply_firewall()
        except SkiffError as e:
            log.warning("firewall: %s", e)

    def remove(self, ref: str) -> None:
        """DELETE /networks/{id}. Forbidden for predefined networks; Conflict
        while running containers are attached."""
        n = self.get_network(ref)
        if n["Name"] in PREDEFINED:
            raise Forbidden(f"{n['Name']} is a pre-defined network and cannot be removed")
        att = self._attached(n["Id"])
        if att:
            raise Conflict(f"error while removing network: network {n['Name']} id {n['Id']} has active endpoints")
        self._delete_net(n)
        self._event("destroy", n, type=n["Driver"])

    def prune(self, filters: dict | None = None) -> dict:
        """POST /networks/prune -> {"NetworksDeleted": [names]}."""
        gone = []
        for n in self._nets():
            if n["Name"] in PREDEFINED or self._attached(n["Id"]):
                continue
            f = filters or {}
            if "label" in f:
                labels = n.get("Labels") or {}
                if not all(v.partition("=")[0] in labels and
                           (not v.partition("=")[1] or labels[v.partition("=")[0]] == v.partition("=")[2])
                           for v in f["label"]):
                    continue
            self._delete_net(n)
            self._event("destroy", n, type=n["Driver"])
            gone.append(n["Name"])
        return {"NetworksDeleted": gone}

    # ================================================================ container create
    def create_settings(self, hc: dict, networking_config: dict | None, config: dict | None = None) -> dict:
        """NetworkSettings for a new container record (Engine API container
        create: HostConfig.NetworkMode + NetworkingConfig.EndpointsConfig).
        NotFound for an unknown network; InvalidArgument as Docker for
        --ip/--network-alias on the default bridge."""
        mode = hc.get("NetworkMode") or "default"
        eps = dict(((networking_config or {}).get("EndpointsConfig") or {}))
        nets = {}
        if mode.startswith("container:"):
            if eps:
                raise InvalidArgument("conflicting options: networking config and container network mode")
            if not mode.split(":", 1)[1]:
                raise InvalidArgument("invalid network mode: container: needs a name or id")
            return empty_settings({})
        key = "bridge" if mode == "default" else mode
        n = self.get_network(key)
        firsts = (mode, key, n["Name"], n["Id"])
        names = [n["Name"]] + [k for k in eps if k not in firsts]
        for i, name in enumerate(names):
            nn = n if i == 0 else self.get_network(name)
            cfg = (next((eps[k] for k in firsts if eps.get(k)), None) if i == 0 else eps.get(name)) or {}
            ipam = cfg.get("IPAMConfig") or None
            aliases = list(cfg.get("Aliases") or [])
            for k in ("IPv4Address", "IPv6Address"):
                if ipam and ipam.get(k):
                    try:
                        ipaddress.ip_address(ipam[k])
                    except ValueError:
                        raise InvalidArgument(f"invalid IP address: {ipam[k]}") from None
            if nn["Name"] in PREDEFINED:
                if ipam and (ipam.get("IPv4Address") or ipam.get("IPv6Address")):
                    raise InvalidArgument("user specified IP address is supported on user defined networks only")
                if aliases:
                    raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
            elif ipam and ipam.get("IPv4Address") and ":" not in ipam["IPv4Address"]:
                subnet = self._subnet(nn)[0]
                if not subnet or ipaddress.ip_address(ipam["IPv4Address"]) not in ipaddress.ip_network(subnet):
                    raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {ipam['IPv4Address']}")
            mac = cfg.get("MacAddress") or ((config or {}).get("MacAddress") if i == 0 else "") or ""
            nets[nn["Name"]] = empty_endpoint(nn["Id"], aliases or None, ipam, mac)
        return empty_settings(nets)

    # ================================================================ sandboxes
    def netns_path(self, cid: str) -> str:
        return os.path.join(self.netns_dir, cid)

    async def attach(self, c: dict, hostname: str) -> str | None:
        """Before the container starts: make its sandbox, write its
        hostname/hosts/resolv.conf files, fill c["NetworkSettings"]. Returns
        the netns path for build_spec (None: the host's). Conflict when a
        host port is taken ("Bind for IP:PORT failed: port is already
        allocated"); on any failure nothing is left behind."""
        cid = c["Id"]
        await self.release(cid, c)
        hc = c["HostConfig"]
        mode = hc.get("NetworkMode") or "default"
        if mode == "default":
            mode = "bridge"
        if mode == "host":
            sb = Sandbox(cid, "host", None, False)
            self.sandboxes[cid] = sb
            self._put_sandbox(sb)
            self._write_host_etc(c, hostname)
            ns = c.setdefault("NetworkSettings", empty_settings())
            ns.update(SandboxID=cid, SandboxKey="")
            for ep in (ns.get("Networks") or {}).values():
                ep["NetworkID"] = self.get_network("host")["Id"]
                ep["EndpointID"] = secrets.token_hex(32)
            return None
        if mode.startswith("container:"):
            other = self.containers.get(mode.split(":", 1)[1])
            if not other["State"]["Running"]:
                raise Conflict(f"cannot join network of a non running container: {other['Id']}")
            if other["Id"] == cid:
                raise InvalidArgument("cannot join own network")
            osb = self.sandboxes.get(other["Id"])
            sb = Sandbox(cid, "container", osb.path if osb else None, False)
            self.sandboxes[cid] = sb
            self._put_sandbox(sb)
            for src, dst in ((other["HostsPath"], c["HostsPath"]), (other["ResolvConfPath"], c["ResolvConfPath"])):
                try:
                    shutil.copyfile(src, dst)
                except OSError:
                    pass
            self._write_hostname(c, hostname)
            return sb.path if osb else f"/proc/{other['State']['Pid']}/ns/net"
        path = self.netns_path(cid)
        if os.path.exists(path):
            _ns.delete(path)
        _ns.create(path)
        sb = Sandbox(cid, mode, path, True)
        self.sandboxes[cid] = sb
        try:
            netlink.setup_lo(path)
            nets = (c.get("NetworkSettings") or {}).get("Networks") or {}
            if mode != "none" and not nets:
                nets = {mode: empty_endpoint()}
            if mode != "none":
                order = [mode] + [k for k in nets if k != mode] if mode in nets else list(nets)
                for i, name in enumerate(order):
                    n = self.get_network(name)
                    await self._connect_endpoint(c, sb, n, nets[name], f"eth{i}", default_route=(i == 0))
                cfg = c.get("Config") or {}
                wants = wanted(hc.get("PortBindings"), cfg.get("ExposedPorts"), bool(hc.get("PublishAllPorts")))
                if wants:
                    sb.ports = self.ports.take(cid, wants)
            self._put_sandbox(sb)
            self.apply_firewall()
            self._fill_settings(c, sb)
            self._write_etc(c, hostname, sb)
            if any(self._user_defined(nid) for nid in sb.endpoints):
                r = _dns.Resolver(lambda name, _cid=cid: self.lookup(_cid, name),
                                  list(hc.get("Dns") or self.dns or _dns.host_upstreams()))
                await r.start(path)
                sb.resolver = r
        except BaseException:
            await self.release(cid, c)
            raise
        return path

    def _user_defined(self, nid: str) -> bool:
        try:
            return self.get_network(nid)["Name"] not in PREDEFINED
        except NotFound:
            return False

    async def _connect_endpoint(self, c: dict, sb: Sandbox, n: dict, cfg: dict, ifname: str,
                                default_route: bool) -> dict:
        cid = c["Id"]
        if n["Driver"] != "bridge":
            raise InvalidArgument(f"container cannot be connected to network {n['Name']} with driver {n['Driver']}")
        subnet, gw, rng = self._subnet(n)
        want = ((cfg or {}).get("IPAMConfig") or {}).get("IPv4Address") or None
        ip = self.ipam.allocate(n["Id"], subnet, cid, want=want, ip_range=rng or None)
        prefix = ipaddress.ip_network(subnet).prefixlen
        mac = (cfg or {}).get("MacAddress") or mac_for(ip)
        veth = "veth" + hashlib.sha256((cid + n["Id"]).encode()).hexdigest()[:7]
        ep = {"network": n["Id"], "veth": veth, "ifname": ifname, "ip": ip, "prefix": prefix,
              "gateway": gw, "mac": mac, "aliases": list((cfg or {}).get("Aliases") or []),
              "endpoint_id": secrets.token_hex(32), "ip6": "", "prefix6": 0, "gateway6": ""}
        sb.endpoints[n["Id"]] = ep
        try:
            addrs = [f"{ip}/{prefix}"]
            sub6, gw6 = self._subnet6(n)
            if sub6:
                want6 = ((cfg or {}).get("IPAMConfig") or {}).get("IPv6Address") or None
                ep["ip6"] = self.ipam.allocate(n["Id"], sub6, cid, want=want6)
                ep["prefix6"], ep["gateway6"] = ipaddress.ip_network(sub6).prefixlen, gw6
                addrs.append(f"{ep['ip6']}/{ep['prefix6']}")
            mtu = int((n.get("Options") or {}).get("com.docker.network.driver.mtu") or self.mtu or 0)
            up = default_route and not n.get("Internal")
            netlink.add_veth(veth, self._bridge_of(n), sb.path, ifname, mac, addrs,
                             gw if up else None, mtu, gateway6=gw6 if up and sub6 else None)
        except BaseException:
            sb.endpoints.pop(n["Id"], None)
            self.ipam.release(n["Id"], ip)
            if ep.get("ip6"):
                self.ipam.release(n["Id"], ep["ip6"])
            raise
        return ep

    def _fill_settings(self, c: dict, sb: Sandbox) -> None:
        ns = c.get("NetworkSettings") or empty_settings()
        nets = ns.get("Networks") or {}
        base = empty_settings(nets)
        base.update(SandboxID=hashlib.sha256(sb.cid.encode()).hexdigest(), SandboxKey=sb.path or "")
        for nid, ep in sb.endpoints.items():
            n = self.get_network(nid)
            e = nets.get(n["Name"]) or empty_endpoint(nid)
            aliases = list(e.get("Aliases") or [])
            if n["Name"] not in PREDEFINED and sb.cid[:12] not in aliases:
                aliases.append(sb.cid[:12])
            e.update(NetworkID=nid, EndpointID=ep["endpoint_id"], Gateway=ep["gateway"],
                     IPAddress=ep["ip"], IPPrefixLen=ep["prefix"], MacAddress=ep["mac"],
                     Aliases=aliases or None, GlobalIPv6Address=ep.get("ip6") or "",
                     GlobalIPv6PrefixLen=ep.get("prefix6") or 0, IPv6Gateway=ep.get("gateway6") or "")
            if n["Name"] not in PREDEFINED:
                e["DNSNames"] = self._names_of(sb.cid, ep)
            nets[n["Name"]] = e
            if n["Name"] == "bridge":
                base.update(Bridge="", EndpointID=ep["endpoint_id"], Gateway=ep["gateway"],
                            IPAddress=ep["ip"], IPPrefixLen=ep["prefix"], MacAddress=ep["mac"])
        base["Networks"] = nets
        base["Ports"] = ports_view((c.get("Config") or {}).get("ExposedPorts"), sb.ports)
        c["NetworkSettings"] = base

    def _names_of(self, cid: str, ep: dict) -> list[str]:
        c = self._container(cid)
        names = []
        if c:
            names.append(c["Name"].lstrip("/"))
        names += ep.get("aliases") or []
        names.append(cid[:12])
        if c and (c.get("Config") or {}).get("Hostname"):
            names.append(c["Config"]["Hostname"])
        return [n for i, n in enumerate(names) if n and n not in names[:i]]

    def lookup(self, cid: str, name: str) -> list[str]:
        """Addresses of ``name`` for container ``cid``'s DNS: the names,
        aliases, short ids and hostnames of containers sharing a
        user-defined network with it."""
        name = name.lower().rstrip(".")
        sb = self.sandboxes.get(cid)
        if sb is None:
            return []
        out = []
        for nid in sb.endpoints:
            if not self._user_defined(nid):
                continue
            net_name = self.get_network(nid)["Name"].lower()
            for osb, ep in self._attached(nid):
                names = [x.lower() for x in self._names_of(osb.cid, ep)]
                if name in names or any(name == f"{x}.{net_name}" for x in names):
                    for a in (ep["ip"], ep.get("ip6")):
                        if a and a not in out:
                            out.append(a)
        return out

    async def connect(self, ref: str, container_ref: str, cfg: dict | None = None) -> None:
        """POST /networks/{id}/connect {"Container", "EndpointConfig"}.
        A running container gets its ethN now; a stopped one at its next start."""
        n = self.get_network(ref)
        c = self.containers.get(container_ref)
        mode = c["HostConfig"].get("NetworkMode") or "default"
        if mode == "host" or mode.startswith("container:") or mode == "none" or n["Driver"] != "bridge":
            raise Forbidden(f"container sharing network namespace with another container or host cannot be connected to any other network"
                            if n["Driver"] == "bridge" else f"container cannot be disconnected from host network or connected to host network")
        nets = c["NetworkSettings"].setdefault("Networks", {})
        if n["Name"] in nets:
            raise Forbidden(f"endpoint with name {c['Name'].lstrip('/')} already exists in network {n['Name']}")
        cfg = cfg or {}
        ipam = cfg.get("IPAMConfig") or None
        if n["Name"] in PREDEFINED and (cfg.get("Aliases") or (ipam or {}).get("IPv4Address")):
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        e = empty_endpoint(n["Id"], cfg.get("Aliases") or None, ipam, cfg.get("MacAddress") or "")
        sb = self.sandboxes.get(c["Id"])
        if sb is not None and c["State"]["Running"] and sb.owned:
            nets[n["Name"]] = e
            ifname = f"eth{len(sb.endpoints)}"
            used = {x["ifname"] for x in sb.endpoints.values()}
            i = 0
            while f"eth{i}" in used:
                i += 1
            ifname = f"eth{i}"
            await self._connect_endpoint(c, sb, n, e, ifname, default_route=not sb.endpoints)
            self._put_sandbox(sb)
            self.apply_firewall()
            self._fill_settings(c, sb)
            self._write_etc(c, (c.get("Config") or {}).get("Hostname") or c["Id"][:12], sb)
            if sb.resolver is None and n["Name"] not in PREDEFINED:
                r = _dns.Resolver(lambda name, _cid=c["Id"]: self.lookup(_cid, name),
                                  list(c["HostConfig"].get("Dns") or self.dns or _dns.host_upstreams()))
                await r.start(sb.path)
                sb.resolver = r
        else:
            nets[n["Name"]] = e
        self.containers._save(c)
        self._event("connect", n, type=n["Driver"], container=c["Id"])

    async def disconnect(self, ref: str, container_ref: str, force: bool = False) -> None:
        """POST /networks/{id}/disconnect {"Container", "Force"}."""
        n = self.get_network(ref)
        c = self.containers.get(container_ref)
        nets = c["NetworkSettings"].setdefault("Networks", {})
        if n["Name"] not in nets:
            raise Forbidden(f"container {c['Id']} is not connected to network {n['Name']}")
        if n["Driver"] == "host":
            raise Forbidden("container cannot be disconnected from host network or connected to host network")
        sb = self.sandboxes.get(c["Id"])
        if sb is not None and n["Id"] in sb.endpoints:
            ep = sb.endpoints.pop(n["Id"])
            netlink.delete_link(ep["veth"])
            self.ipam.release(n["Id"], ep["ip"])
            self._put_sandbox(sb)
            self.apply_firewall()
        nets.pop(n["Name"], None)
        if sb is not None:
            self._fill_settings(c, sb)
        self.containers._save(c)
        self._event("disconnect", n, type=n["Driver"], container=c["Id"])

    async def release(self, cid: str, c: dict | None = None) -> None:
        """Undo a sandbox: DNS server, veths, addresses, held ports, rules,
        the netns. Clears the runtime fields of c["NetworkSettings"]."""
        self.release_sync(cid, c)

    def release_sync(self, cid: str, c: dict | None = None) -> None:
        """:meth:`release`, callable from synchronous code."""
        sb = self.sandboxes.pop(cid, None)
        if sb is None:
            sb = self._stored_sandbox(cid)
        if sb is not None:
            if sb.resolver is not None:
                sb.resolver.close()
            veths = [ep["veth"] for ep in sb.endpoints.values()]
            if sb.owned and sb.path:
                # the namespace goes first: the kernel then removes its veth pairs
                # itself; the explicit delete (an RCU grace period, ~20 ms each)
                # is left to a thread so that it is not on the exit path. By
                # ifindex: a restart may make a new veth of the same name meanwhile
                indexed = [(v, _ifindex(v)) for v in veths]
                _ns.delete(sb.path)
                indexed = [(v, i) for v, i in indexed if i is not None]
                if indexed:
                    threading.Thread(target=self._delete_links, args=(indexed,),
                                     name="skiff-veth-del", daemon=True).start()
            else:
                self._delete_links([(v, None) for v in veths])
            self.ports.release(cid)
            self._drop_sandbox(cid)
            self.ipam.release_owner(cid)
            if sb.ports or sb.endpoints:
                try:
                    self.apply_firewall()
                except SkiffError as e:
                    log.warning("firewall: %s", e)
        else:
            self.ipam.release_owner(cid)
        if c is not None and c.get("NetworkSettings"):
            nets = c["NetworkSettings"].get("Networks") or {}
            for e in nets.values():
                e.update(EndpointID="", Gateway="", IPAddress="", IPPrefixLen=0, IPv6Gateway="",
                         GlobalIPv6Address="", GlobalIPv6PrefixLen=0, DNSNames=None)
                if not (e.get("MacAddress") and (e.get("IPAMConfig") or {}).get("_mac")):
                    pass
            c["NetworkSettings"] = empty_settings(nets)

    @staticmethod
    def _delete_links(links: list[tuple[str, int | None]]) -> None:
        """Delete host links by name, or by (name, ifindex) when an index is
        given: only that link, gone already (the kernel's netns clean-up) is fine."""
        for name, index in links:
            try:
                if index is None:
                    netlink.delete_link(name)
                    continue
                with netlink._ipr() as ipr:
                    try:
                        ipr.link("del", index=index)
                    except Exception:  # ENODEV: the kernel was first
                        pass
            except SkiffError as e:
                log.warning("delete %s: %s", name, e)
            except Exception as e:
                log.debug("delete %s: %s", name, e)

    def _stored_sandbox(self, cid: str) -> Sandbox | None:
        with self.db.tx() as cur:
            row = cur.execute("SELECT record FROM sandboxes WHERE container=?", (cid,)).fetchone()
        return self._sandbox_from(json.loads(row[0])) if row else None

    @staticmethod
    def _sandbox_from(d: dict) -> Sandbox:
        return Sandbox(d["cid"], d["mode"], d["path"], d["owned"], d.get("endpoints") or {},
                       [Binding(**b) for b in d.get("ports") or []])

    def port_bindings(self, cid: str) -> list[Binding]:
        sb = self.sandboxes.get(cid)
        return list(sb.ports) if sb else []

    # ================================================================ restore
    async def restore(self) -> None:
        """After the container service's restore: keep the sandboxes of
        running containers (re-hold their ports, restart their DNS), remove
        what belonged to containers that are gone, rebuild the rules."""
        with self.db.tx() as cur:
            rows = [json.loads(r[0]) for r in cur.execute("SELECT record FROM sandboxes").fetchall()]
        keep = set()
        for d in rows:
            sb = self.sandboxes.get(d["cid"]) or self._sandbox_from(d)
            running = self.containers is not None and self.containers.is_running(sb.cid)
            if not running or (sb.owned and sb.path and not _ns.is_netns(sb.path)):
                self.sandboxes[sb.cid] = sb
                self.release_sync(sb.cid, None)
                continue
            keep.add(sb.cid)
            self.sandboxes[sb.cid] = sb
            if sb.ports:
                try:
                    sb.ports = self.ports.take(sb.cid, [(b.proto, b.host_ip, b.host_port, b.host_port, b.port)
                                                        for b in sb.ports])
                except SkiffError as e:
                    log.warning("container %s: re-holding ports: %s", sb.cid, e)
            if any(self._user_defined(nid) for nid in sb.endpoints) and sb.path:
                c = self._container(sb.cid) or {"HostConfig": {}}
                r = _dns.Resolver(lambda name, _cid=sb.cid: self.lookup(_cid, name),
                                  list(c["HostConfig"].get("Dns") or self.dns or _dns.host_upstreams()))
                try:
                    await r.start(sb.path)
                    sb.resolver = r
                except (OSError, SkiffError) as e:
                    log.warning("container %s: dns: %s", sb.cid, e)
        if self.iptables and self._docker_task is None:
            self._docker_task = asyncio.get_running_loop().create_task(self._watch_docker())
        for (nid, addr), owner in self.ipam.owners().items():
            if owner != "gateway" and owner not in keep:
                self.ipam.release(nid, addr)
        try:
            for name in os.listdir(self.netns_dir):
                if name not in keep:
                    _ns.delete(os.path.join(self.netns_dir, name))
        except FileNotFoundError:
            pass
        self.apply_firewall()

    def bridge_names(self) -> list[str]:
        return [self._bridge_of(n) for n in self._nets() if n["Driver"] == "bridge"]

    async def _watch_docker(self, interval: float = 3.0) -> None:
        """Keep our accept rules in Docker's DOCKER-USER chain: dockerd may
        start (and make the chain, with FORWARD policy DROP) after us."""
        while True:
            await asyncio.sleep(interval)
            try:
                names = self.bridge_names()
                await asyncio.to_thread(self.fw.sync_docker_user, names)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # never let the watcher die
                log.debug("DOCKER-USER sync: %s", e)

    async def shutdown(self) -> None:
        """Daemon stop: close DNS servers. Containers keep running, and with
        them their namespaces, links and rules for the next daemon; when none
        runs, the bridges and the nft table are removed too (the next start
        makes them again), so a stopped daemon leaves nothing on the host."""
        if self._docker_task is not None:
            self._docker_task.cancel()
            self._docker_task = None
        for sb in self.sandboxes.values():
            if sb.resolver is not None:
                sb.resolver.close()
                sb.resolver = None
        if not self.sandboxes:
            self.teardown_host()

    def teardown_host(self) -> None:
        """Remove our nft table, DOCKER-USER rules and bridge links."""
        self._fw_applied = None
        self.fw.remove()
        for n in self._nets():
            if n["Driver"] == "bridge":
                try:
                    _bridge.remove(self._bridge_of(n))
                except SkiffError as e:
                    log.warning("remove bridge %s: %s", self._bridge_of(n), e)

    def purge_stale(self) -> None:
        """Remove the bridges and nft tables of skiff daemons whose exec-root
        is gone (their ifalias / table comment is "skiff:<exec-root>")."""
        from . import firewall as _fw
        try:
            for br, alias in netlink.bridges_by_alias("skiff:").items():
                root = alias[len("skiff:"):]
                if root != os.path.abspath(self.exec_root) and not os.path.isdir(root):
                    log.info("removing bridge %s of a gone daemon (%s)", br, root)
                    netlink.delete_link(br)
            for t in _fw.tables():
                if t.get("family") != "inet" or not t["name"].startswith("skiff"):
                    continue
                c = _fw.table_owner("inet", t["name"])
                if c.startswith("skiff:"):
                    root = c[len("skiff:"):]
                    if root != os.path.abspath(self.exec_root) and not os.path.isdir(root):
                        log.info("removing nft table %s of a gone daemon (%s)", t["name"], root)
                        Firewall(t["name"]).remove()
        except (SkiffError, OSError) as e:
            log.warning("purging stale network state: %s", e)

    # ================================================================ etc files
    def _write_hostname(self, c: dict, hostname: str) -> None:
        _atomic(c["HostnamePath"], hostname + "\n")

    def _write_host_etc(self, c: dict, hostname: str) -> None:
        self._write_hostname(c, hostname)
        try:
            with open("/etc/hosts") as f:
                hosts = f.read()
        except OSError:
            hosts = "127.0.0.1\tlocalhost\n"
        extra = self._extra_hosts(c)
        _atomic(c["HostsPath"], hosts + "".join(f"{ip}\t{name}\n" for name, ip in extra))
        try:
            with open("/etc/resolv.conf") as f:
                rc = f.read()
        except OSError:
            rc = ""
        _atomic(c["ResolvConfPath"], rc)

    def _extra_hosts(self, c: dict) -> list[tuple[str, str]]:
        out = []
        for extra in c["HostConfig"].get("ExtraHosts") or []:
            name, sep, ip = extra.partition(":")
            if not sep:
                name, _, ip = extra.partition("=")
            if ip == "host-gateway":
                ip = self._subnet(self.get_network("bridge"))[1]
            out.append((name, ip))
        return out

    def _write_etc(self, c: dict, hostname: str, sb: Sandbox) -> None:
        """/etc/hosts and resolv.conf as Docker's (libnetwork etchosts and
        resolvconf): the container's own address and hostname line; on
        user-defined networks nameserver 127.0.0.11 with options ndots:0."""
        self._write_hostname(c, hostname)
        hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
                 "ff02::2\tip6-allrouters"]
        hosts += [f"{ip}\t{name}" for name, ip in self._extra_hosts(c)]
        ep = self._first_endpoint(sb)
        if ep is not None:
            dom = (c.get("Config") or {}).get("Domainname") or ""
            for a in (ep["ip"], ep.get("ip6")):
                if a:
                    hosts.append(f"{a}\t{hostname}.{dom}\t{hostname}" if dom else f"{a}\t{hostname}")
        _atomic(c["HostsPath"], "\n".join(hosts) + "\n")
        hc = c["HostConfig"]
        ns, search, opts = [], [], []
        try:
            with open("/etc/resolv.conf") as f:
                for line in f:
                    p = line.split()
                    if not p:
                        continue
                    if p[0] == "nameserver" and len(p) > 1:
                        try:
                            if not ipaddress.ip_address(p[1].split("%")[0]).is_loopback:
                                ns.append(p[1])
                        except ValueError:
                            pass
                    elif p[0] in ("search", "domain"):
                        search = p[1:]
                    elif p[0] == "options":
                        opts += p[1:]
        except OSError:
            pass
        ns = list(hc.get("Dns") or self.dns or ns)
        search = list(hc.get("DnsSearch") or self.dns_search or search)
        opts = list(hc.get("DnsOptions") or self.dns_opts or opts)
        if sb.resolver is not None or any(self._user_defined(n) for n in sb.endpoints):
            ns = [_dns.ADDRESS]
            opts = ["ndots:0"] + [o for o in opts if not o.startswith("ndots:")]
        elif not ns:
            ns = ["8.8.8.8", "8.8.4.4"]
        body = "".join(f"nameserver {n}\n" for n in ns)
        if search:
            body += "search " + " ".join(search) + "\n"
        if opts:
            body += "options " + " ".join(opts) + "\n"
        _atomic(c["ResolvConfPath"], body)


def _atomic(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def from_config(db, cfg) -> NetworkManager:
    """A NetworkManager from skiffd's Config (daemon.json keys bip,
    fixed-cidr, default-address-pools, mtu, ipv6, dns, dns-search,
    dns-opts, iptables, ip-forward, read from cfg.raw)."""
    raw = getattr(cfg, "raw", {}) or {}
    return NetworkManager(
        db, cfg.exec_root, default_address_pools=raw.get("default-address-pools"),
        bip=raw.get("bip", ""), fixed_cidr=raw.get("fixed-cidr", ""), mtu=raw.get("mtu", 0),
        ipv6=bool(raw.get("ipv6", False)), dns=raw.get("dns"), dns_search=raw.get("dns-search"),
        dns_opts=raw.get("dns-opts"), iptables=raw.get("iptables", True) is not False,
        ip_forward=raw.get("ip-forward", True) is not False)
