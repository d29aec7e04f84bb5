"""Links, addresses and routes through netlink (pyroute2). The only module
of skiff that imports pyroute2.

pyroute2's synchronous IPRoute runs its own event loop, which cannot run
inside the daemon's; every function here therefore does its work in a
short-lived thread (skiff.network.netns.run_in), which also lets it act
inside a container's network namespace. All functions are blocking and
raise SystemError_ (with the errno) when the kernel refuses.
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import logging
import os
import socket
from typing import Iterable

from ..errors import SystemError_
from . import netns as _ns

logging.getLogger("pyroute2").setLevel(logging.WARNING)


IFA_F_NODAD = 0x02  # no duplicate address detection: an IPv6 address is usable at once


def _ipr():
    from pyroute2 import IPRoute
    lg = logging.getLogger("pyroute2")
    if lg.level != logging.WARNING:  # pyroute2 resets it at import; its debug output is huge
        lg.setLevel(logging.WARNING)
    return IPRoute()


def _err(what: str, e: Exception) -> SystemError_:
    code = getattr(e, "code", 0) or 0
    return SystemError_(f"{what}: {os.strerror(code).lower() if code else e}", errno=code)


def _idx(ipr, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def link_exists(name: str, netns: str | None = None) -> bool:
    """True when a link ``name`` exists (in ``netns``, default the host's)."""
    def f():
        with _ipr() as ipr:
            return _idx(ipr, name) is not None
    return _ns.run_in(netns, f)


def link_names(netns: str | None = None) -> list[str]:
    """Names of every link (in ``netns``)."""
    def f():
        with _ipr() as ipr:
            return [l.get("IFLA_IFNAME") for l in ipr.get_links()]
    return _ns.run_in(netns, f)


def ensure_bridge(name: str, addresses: Iterable[str], mtu: int = 0, alias: str = "") -> None:
    """Create the bridge ``name`` if missing, give it each address
    ("10.1.0.1/16"), set its MTU (0: leave it), its ifalias and bring it up."""
    addrs = list(addresses)

    def f():
        with _ipr() as ipr:
            i = _idx(ipr, name)
            if i is None:
                try:
                    ipr.link("add", ifname=name, kind="bridge")
                except Exception as e:
                    raise _err(f"create bridge {name}", e) from None
                i = _idx(ipr, name)
            have = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=i)}
            for a in addrs:
                iface = ipaddress.ip_interface(a)
                if (str(iface.ip), iface.network.prefixlen) in have:
                    continue
                try:
                    kw = {"flags": IFA_F_NODAD} if iface.version == 6 else {}
                    ipr.addr("add", index=i, address=str(iface.ip), prefixlen=iface.network.prefixlen,
                             family=socket.AF_INET6 if iface.version == 6 else socket.AF_INET, **kw)
                except Exception as e:
                    if getattr(e, "code", 0) != _errno.EEXIST:
                        raise _err(f"add address {a} to {name}", e) from None
            kw = {"mtu": mtu} if mtu else {}
            if alias:
                kw["ifalias"] = alias
            ipr.link("set", index=i, state="up", **kw)
    _ns.run_in(None, f)


def bridges_by_alias(prefix: str) -> dict[str, str]:
    """{bridge name: ifalias} of the bridges whose ifalias starts with ``prefix``."""
    def f():
        out = {}
        with _ipr() as ipr:
            for l in ipr.get_links():
                a = l.get("IFLA_IFALIAS") or ""
                if a.startswith(prefix):
                    out[l.get("IFLA_IFNAME")] = a
        return out
    return _ns.run_in(None, f)


def delete_link(name: str, netns: str | None = None) -> bool:
    """Delete link ``name``; False when there was none."""
    def f():
        with _ipr() as ipr:
            i = _idx(ipr, name)
            if i is None:
                return False
            try:
                ipr.link("del", index=i)
            except Exception as e:
                if getattr(e, "code", 0) == _errno.ENODEV:
                    return False
                raise _err(f"delete link {name}", e) from None
            return True
    return _ns.run_in(netns, f)


def host_networks() -> list[ipaddress._BaseNetwork]:
    """Every network routed or assigned on the host (main table routes
    other than the default route, and interface addresses), for choosing
    a free subnet."""
    def f():
        out = []
        with _ipr() as ipr:
            for fam in (socket.AF_INET, socket.AF_INET6):
                for r in ipr.get_routes(family=fam, table=254):
                    dst = r.get("RTA_DST")
                    if dst is None or not r["dst_len"]:
                        continue
                    try:
                        out.append(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False))
                    except ValueError:
                        pass
            for a in ipr.get_addr():
                addr = a.get("IFA_ADDRESS")
                if addr:
                    try:
                        out.append(ipaddress.ip_network(f"{addr}/{a['prefixlen']}", strict=False))
                    except ValueError:
                        pass
        return out
    return _ns.run_in(None, f)


def setup_lo(netns: str) -> None:
    """Bring ``lo`` up inside ``netns``."""
    def f():
        with _ipr() as ipr:
            ipr.link("set", index=_idx(ipr, "lo"), state="up")
    _ns.run_in(netns, f)


def add_veth(host_name: str, bridge: str, netns: str, ifname: str, mac: str,
             addresses: Iterable[str], gateway: str | None, mtu: int = 0,
             gateway6: str | None = None, hairpin: bool = True) -> None:
    """A veth pair: ``host_name`` on ``bridge`` (up, hairpin on), the peer
    moved into ``netns`` as ``ifname`` with MAC ``mac``, ``addresses``
    ("172.18.0.2/16"), MTU and a default route via ``gateway`` (None: no
    default route, as an internal network's). Undone on failure."""
    addrs = list(addresses)
    tmp = "skt" + host_name[3:]

    def host():
        with _ipr() as ipr:
            br = _idx(ipr, bridge)
            if br is None:
                raise SystemError_(f"bridge {bridge} not found", errno=_errno.ENODEV)
            kw = {"mtu": mtu} if mtu else {}
            # the peer is made inside the namespace (IFLA_NET_NS_FD in the peer's
            # info), as `ip link add ... peer name X netns NS`: moving it there
            # afterwards costs the kernel an RCU grace period (20-45 ms a start)
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                for attempt in (0, 1):
                    try:
                        ipr.link("add", ifname=host_name, kind="veth",
                                 peer={"ifname": tmp, "net_ns_fd": fd})
                        break
                    except Exception as e:
                        # a stale one of a namespace the kernel is still tearing down
                        if attempt == 0 and getattr(e, "code", 0) == _errno.EEXIST:
                            i = _idx(ipr, host_name)
                            if i is not None:
                                try:
                                    ipr.link("del", index=i)
                                except Exception:
                                    pass
                            continue
                        raise _err(f"create veth {host_name}", e) from None
            finally:
                os.close(fd)
            h = _idx(ipr, host_name)
            ipr.link("set", index=h, master=br, **kw)
            ipr.link("set", index=h, state="up")
        if hairpin:
            try:
                with open(f"/sys/class/net/{host_name}/brport/hairpin_mode", "w") as fh:
                    fh.write("1")
            except OSError:
                pass

    def inside():
        with _ipr() as ipr:
            i = _idx(ipr, tmp)
            kw = {"mtu": mtu} if mtu else {}
            ipr.link("set", index=i, ifname=ifname, address=mac, **kw)
            for a in addrs:
                iface = ipaddress.ip_interface(a)
                kw = {"flags": IFA_F_NODAD} if iface.version == 6 else {}
                ipr.addr("add", index=i, address=str(iface.ip), prefixlen=iface.network.prefixlen,
                         family=socket.AF_INET6 if iface.version == 6 else socket.AF_INET, **kw)
            ipr.link("set", index=i, state="up")
            lo = _idx(ipr, "lo")
            ipr.link("set", index=lo, state="up")
            if gateway:
                try:
                    ipr.route("add", dst="0.0.0.0/0", gateway=gateway, oif=i)
                except Exception as e:
                    if getattr(e, "code", 0) != _errno.EEXIST:
                        raise
            if gateway6:
                try:
                    ipr.route("add", dst="::/0", gateway=gateway6, oif=i, family=socket.AF_INET6)
                except Exception as e:
                    if getattr(e, "code", 0) != _errno.EEXIST:
                        raise
    try:
        _ns.run_in(None, host)
        _ns.run_in(netns, inside)
    except SystemError_:
        delete_link(host_name)
        raise
    except Exception as e:
        delete_link(host_name)
        raise _err(f"set up {ifname} of {host_name}", e) from None


def set_sysctl(key: str, value: str, netns: str | None = None) -> None:
    """Write /proc/sys/<key with dots as slashes> (in ``netns``)."""
    def f():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as fh:
            fh.write(value)
    _ns.run_in(netns, f) if netns else f()


def get_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as fh:
        return fh.read().strip()


def addresses_of(netns: str | None = None) -> dict[str, list[str]]:
    """{ifname: ["addr/prefix", ...]} (in ``netns``); for tests and inspect."""
    def f():
        with _ipr() as ipr:
            names = {l["index"]: l.get("IFLA_IFNAME") for l in ipr.get_links()}
            out: dict[str, list[str]] = {n: [] for n in names.values()}
            for a in ipr.get_addr():
                out.setdefault(names.get(a["index"], "?"), []).append(
                    f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}")
            return out
    return _ns.run_in(netns, f)
