"""The bridge driver's link work: a Linux bridge per network, with its
gateway address, MTU and ``route_localnet`` (so DNAT from 127.0.0.1 into
the bridge is routed, as Docker without userland proxy)."""

from __future__ import annotations

import ipaddress

from .. import netlink


def ensure(bridge: str, subnets_gateways: list[tuple[str, str]], mtu: int = 0, owner: str = "") -> None:
    """Create/refresh ``bridge`` with each (subnet, gateway) pair's gateway
    address and bring it up. SystemError_ on failure."""
    addrs = []
    for subnet, gw in subnets_gateways:
        if gw:
            addrs.append(f"{gw}/{ipaddress.ip_network(subnet, strict=False).prefixlen}")
    netlink.ensure_bridge(bridge, addrs, mtu, alias=owner)
    for path, val in ((f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet", "1"),):
        try:
            with open(path, "w") as f:
                f.write(val)
        except OSError:
            pass


def remove(bridge: str) -> None:
    """Delete the bridge (its ports go with their veths)."""
    netlink.delete_link(bridge)
