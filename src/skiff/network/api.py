"""Shapes the networking code hands around (Engine API v1.44 names)."""

from __future__ import annotations


def empty_endpoint(network_id: str = "", aliases=None, ipam_config=None, mac: str = "") -> dict:
    """EndpointSettings as Docker's inspect shows a not-running container's."""
    return {"IPAMConfig": ipam_config or None, "Links": None, "Aliases": aliases or None,
            "MacAddress": mac or "", "DriverOpts": None, "NetworkID": network_id,
            "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": None}


def empty_settings(networks: dict | None = None) -> dict:
    """NetworkSettings of a container that is not running."""
    return {"Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": {},
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
            "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "", "Networks": networks or {}}


def summary_ports(network_settings: dict) -> list[dict]:
    """GET /containers/json "Ports" from NetworkSettings.Ports: [{"IP",
    "PrivatePort", "PublicPort", "Type"}], or {"PrivatePort", "Type"} for
    an exposed port that is not published (Engine API v1.44 Port)."""
    out = []
    for key, binds in ((network_settings or {}).get("Ports") or {}).items():
        p, _, proto = key.partition("/")
        try:
            port = int(p)
        except ValueError:
            continue
        if not binds:
            out.append({"PrivatePort": port, "Type": proto or "tcp"})
            continue
        for b in binds:
            try:
                out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": port,
                            "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})
            except ValueError:
                continue
    return out
