"""IP address management: choosing subnets from the address pools and
handing out addresses, persisted in the metadata store.

Subnets follow dockerd's ``default-address-pools`` (daemon.json): each pool
``{"base": CIDR, "size": N}`` is cut into /N subnets, tried in order; a
subnet overlapping anything routed or assigned on the host, or another
network of ours, is skipped (so skiff runs beside Docker, whose docker0 is
usually 172.17.0.0/16). Addresses: the lowest free one of the subnet (or of
``ip-range``), never the network, gateway or broadcast address, and never
one already held; allocations are rows of table ``ipam`` and so survive a
daemon restart.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

from ..errors import Conflict, InvalidArgument, Unavailable

#: Docker's default-address-pools (libnetwork/ipamutils)
DEFAULT_POOLS = [
    {"base": "172.17.0.0/16", "size": 16}, {"base": "172.18.0.0/16", "size": 16},
    {"base": "172.19.0.0/16", "size": 16}, {"base": "172.20.0.0/14", "size": 16},
    {"base": "172.24.0.0/14", "size": 16}, {"base": "172.28.0.0/14", "size": 16},
    {"base": "192.168.0.0/16", "size": 20},
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ipam (
    network TEXT NOT NULL,
    address TEXT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (network, address)
);
CREATE INDEX IF NOT EXISTS ipam_owner ON ipam(owner);
"""


def candidate_subnets(pools: list[dict] | None = None) -> Iterable[ipaddress.IPv4Network]:
    """The subnets of ``pools`` ([{"base", "size"}]) in order."""
    for p in pools or DEFAULT_POOLS:
        base = ipaddress.ip_network(p["base"], strict=False)
        size = int(p.get("size") or base.prefixlen)
        if size < base.prefixlen:
            raise InvalidArgument(f"invalid pool size {size} for base {base}")
        yield from base.subnets(new_prefix=size)


def pick_subnet(used: Iterable, pools: list[dict] | None = None) -> ipaddress.IPv4Network:
    """The first subnet of ``pools`` overlapping none of ``used`` (networks).
    Unavailable "could not find an available, non-overlapping IPv4 address
    pool among the defaults to assign to the network" (Docker's message)."""
    used = [ipaddress.ip_network(u, strict=False) for u in used]
    used = [u for u in used if u.version == 4 and not u.is_loopback and u.prefixlen > 0]
    for s in candidate_subnets(pools):
        if not any(s.overlaps(u) for u in used):
            return s
    raise Unavailable("could not find an available, non-overlapping IPv4 address pool among "
                      "the defaults to assign to the network")


def mac_for(ip: str) -> str:
    """Docker's MAC for an IPv4 address: 02:42 then the four address bytes."""
    b = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)


class IPAM:
    """Address allocations per network id, in table ``ipam`` of ``db``
    (a skiff.metadata.db.Database)."""

    def __init__(self, db):
        self.db = db
        db.ensure(_SCHEMA)

    def allocated(self, network: str) -> dict[str, str]:
        """{address: owner} of ``network``."""
        with self.db.tx() as cur:
            rows = cur.execute("SELECT address, owner FROM ipam WHERE network=?", (network,)).fetchall()
        return {r[0]: r[1] for r in rows}

    def owners(self) -> dict[tuple[str, str], str]:
        """{(network, address): owner} of every allocation."""
        with self.db.tx() as cur:
            rows = cur.execute("SELECT network, address, owner FROM ipam").fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def reserve(self, network: str, address: str, owner: str) -> None:
        """Hold ``address`` for ``owner`` (the gateway is held by "gateway").
        Conflict "Address already in use" if someone else holds it."""
        with self.db.tx() as cur:
            row = cur.execute("SELECT owner FROM ipam WHERE network=? AND address=?",
                              (network, address)).fetchone()
            if row is not None:
                if row[0] == owner:
                    return
                raise Conflict("Address already in use", address=address)
            cur.execute("INSERT INTO ipam(network, address, owner) VALUES (?,?,?)",
                        (network, address, owner))

    def allocate(self, network: str, subnet: str, owner: str, want: str | None = None,
                 ip_range: str | None = None) -> str:
        """An address of ``subnet`` for ``owner``: ``want`` if given (it must
        lie in the subnet: InvalidArgument; and be free: Conflict), else the
        lowest free one of ``ip_range`` (or the subnet). Unavailable when
        the range is full. Returns the address as a string."""
        net = ipaddress.ip_network(subnet, strict=False)
        if want:
            try:
                a = ipaddress.ip_address(want)
            except ValueError:
                raise InvalidArgument(f"invalid IP address: {want}") from None
            if a not in net:
                raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {want}")
            self.reserve(network, str(a), owner)
            return str(a)
        rng = ipaddress.ip_network(ip_range, strict=False) if ip_range else net
        with self.db.tx() as cur:
            taken = {r[0] for r in cur.execute("SELECT address FROM ipam WHERE network=?",
                                               (network,)).fetchall()}
            bad = {net.network_address, net.broadcast_address} if net.version == 4 else {net.network_address}
            for a in rng.hosts() if rng.num_addresses > 2 else rng:
                if a in bad or str(a) in taken:
                    continue
                cur.execute("INSERT INTO ipam(network, address, owner) VALUES (?,?,?)",
                            (network, str(a), owner))
                return str(a)
        raise Unavailable(f"no available IPv4 addresses on this network's address pools: {network}")

    def release(self, network: str, address: str) -> None:
        with self.db.tx() as cur:
            cur.execute("DELETE FROM ipam WHERE network=? AND address=?", (network, address))

    def release_owner(self, owner: str, network: str | None = None) -> None:
        """Free every address ``owner`` holds (on ``network`` only, if given)."""
        with self.db.tx() as cur:
            if network:
                cur.execute("DELETE FROM ipam WHERE owner=? AND network=?", (owner, network))
            else:
                cur.execute("DELETE FROM ipam WHERE owner=?", (owner,))

    def drop_network(self, network: str) -> None:
        with self.db.tx() as cur:
            cur.execute("DELETE FROM ipam WHERE network=?", (network,))
