"""skiff's packet filter and NAT rules, in nftables tables of its own,
through ``nft -j -f -`` with JSON input (libnftables-json(5)); output is
only ever read as JSON, never as text.

The whole table ``inet <name>`` is rebuilt in one nft transaction from the
wanted state (:class:`Firewall.apply`), so rules never drift from the
records and a crash mid-way leaves the old or the new set, never half.

Chains of ``inet <name>``:

* ``prerouting``/``output`` (nat, dstnat): packets to a local address jump
  to ``dnat``, which holds one DNAT rule per published port (kernel DNAT,
  no userland proxy; ``route_localnet`` on the bridge lets 127.0.0.1 in);
* ``postrouting`` (nat, srcnat): masquerade of each non-internal network's
  subnet leaving by another interface; of loopback sources entering a
  bridge (127.0.0.1 publishing); of DNAT'd traffic that re-enters the
  bridge it came from (hairpin);
* ``forward`` (filter): drops between two skiff bridges and in/out of
  internal networks (a drop in any base chain is final).

Beside Debian's dockerd (iptables-nft, FORWARD policy DROP), an accept in
our chain does not help: the packet still meets Docker's chain. Docker's
answer is its ``DOCKER-USER`` chain, jumped to first from FORWARD; when
``ip filter DOCKER-USER`` exists we insert accept rules for our bridges
there, each tagged with the comment ``skiff:<table>`` so we can find and
remove exactly ours.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass, field

from ..errors import SystemError_


@dataclass(frozen=True)
class PortRule:
    """One published port: ``proto`` tcp|udp|sctp, ``host_ip`` "" for every
    local address, ``host_port``, the container's ``ip``/``port``."""

    proto: str
    host_ip: str
    host_port: int
    ip: str
    port: int


@dataclass
class BridgeRule:
    """One bridge network: its link name, IPv4 subnets, and flags."""

    bridge: str
    subnets: list[str] = field(default_factory=list)
    internal: bool = False
    masquerade: bool = True


def nft(commands: list[dict] | None = None, args: list[str] | None = None) -> dict:
    """Run nft with JSON in (``commands``: the list under "nftables") or the
    given ``args`` (e.g. ["list", "table", "inet", "skiff"]); returns the
    parsed JSON output ({} when none). SystemError_ with nft's message."""
    cmd = ["nft", "-j"]
    if commands is not None:
        cmd += ["-f", "-"]
        data = json.dumps({"nftables": commands})
    else:
        cmd += list(args or [])
        data = None
    p = subprocess.run(cmd, input=data, capture_output=True, text=True)
    if p.returncode != 0:
        msg = (p.stderr or "").strip().splitlines()
        raise SystemError_(f"nft: {msg[0] if msg else 'exit ' + str(p.returncode)}".lower())
    out = (p.stdout or "").strip()
    return json.loads(out) if out else {}


def _m(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _prefix(net: str) -> dict:
    n = ipaddress.ip_network(net, strict=False)
    return {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}}


class Firewall:
    """The rules of one daemon, in table ``inet <table>``."""

    def __init__(self, table: str = "skiff", owner: str = ""):
        self.table = table
        self.tag = f"skiff:{table}"
        self.owner = owner  # the table's comment: "skiff:<exec-root>", for stale-table cleanup

    # ------------------------------------------------------------- build
    def _rule(self, chain: str, expr: list[dict]) -> dict:
        return {"add": {"rule": {"family": "inet", "table": self.table, "chain": chain, "expr": expr}}}

    def build(self, bridges: list[BridgeRule], ports: list[PortRule]) -> list[dict]:
        """The nft JSON commands that (re)create the table."""
        t = {"family": "inet", "name": self.table}
        cmds: list[dict] = [{"add": {"table": t}}, {"delete": {"table": t}}, {"add": {"table": t}}]

        def chain(name, **kw):
            c = {"family": "inet", "table": self.table, "name": name}
            c.update(kw)
            cmds.append({"add": {"chain": c}})
        chain("prerouting", type="nat", hook="prerouting", prio=-100, policy="accept")
        chain("output", type="nat", hook="output", prio=-100, policy="accept")
        chain("postrouting", type="nat", hook="postrouting", prio=100, policy="accept")
        chain("forward", type="filter", hook="forward", prio=0, policy="accept")
        chain("dnat")
        if self.owner:  # nft 1.0.6 JSON drops table comments: the owner rides on a rule's
            chain("owner")
            cmds.append({"add": {"rule": {"family": "inet", "table": self.table, "chain": "owner",
                                          "comment": self.owner, "expr": [{"accept": None}]}}})
        local = _m({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
        cmds.append(self._rule("prerouting", [local, {"jump": {"target": "dnat"}}]))
        cmds.append(self._rule("output", [local, {"jump": {"target": "dnat"}}]))
        for p in ports:
            e = []
            if p.host_ip and p.host_ip not in ("0.0.0.0", "::"):
                e.append(_m({"payload": {"protocol": "ip", "field": "daddr"}}, p.host_ip))
            else:
                e.append(_m(_meta("nfproto"), "ipv4"))
            e.append(_m({"payload": {"protocol": p.proto, "field": "dport"}}, p.host_port))
            e.append({"dnat": {"family": "ip", "addr": p.ip, "port": p.port}})
            cmds.append(self._rule("dnat", e))
        names = [b.bridge for b in bridges]
        # published ports stay reachable from every network (through a host address)
        cmds.append(self._rule("forward", [_m({"ct": {"key": "status"}}, "dnat", "in"), {"accept": None}]))
        for b in bridges:
            # loopback sources DNAT'd into the bridge (route_localnet) and hairpin
            cmds.append(self._rule("postrouting", [
                _m(_meta("oifname"), b.bridge),
                _m({"payload": {"protocol": "ip", "field": "saddr"}}, _prefix("127.0.0.0/8")),
                {"masquerade": None}]))
            for s in b.subnets:  # hairpin: a container to a port published by its own bridge
                if ipaddress.ip_network(s, strict=False).version == 4:
                    cmds.append(self._rule("postrouting", [
                        _m(_meta("oifname"), b.bridge),
                        _m({"payload": {"protocol": "ip", "field": "saddr"}}, _prefix(s)),
                        _m({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None}]))
            if b.masquerade and not b.internal:
                for s in b.subnets:
                    if ipaddress.ip_network(s, strict=False).version != 4:
                        continue
                    cmds.append(self._rule("postrouting", [
                        _m({"payload": {"protocol": "ip", "field": "saddr"}}, _prefix(s)),
                        _m(_meta("oifname"), b.bridge, "!="), {"masquerade": None}]))
            if b.internal:
                cmds.append(self._rule("forward", [
                    _m(_meta("iifname"), b.bridge), _m(_meta("oifname"), b.bridge, "!="), {"drop": None}]))
                cmds.append(self._rule("forward", [
                    _m(_meta("oifname"), b.bridge), _m(_meta("iifname"), b.bridge, "!="), {"drop": None}]))
            others = [n for n in names if n != b.bridge]
            if others:
                cmds.append(self._rule("forward", [
                    _m(_meta("iifname"), b.bridge),
                    _m(_meta("oifname"), {"set": others} if len(others) > 1 else others[0]),
                    {"drop": None}]))
        return cmds

    def apply(self, bridges: list[BridgeRule], ports: list[PortRule]) -> None:
        """Replace the table with exactly these rules (one transaction), and
        keep Docker's DOCKER-USER chain letting our bridges through."""
        nft(self.build(bridges, ports))
        self.sync_docker_user([b.bridge for b in bridges])

    def remove(self) -> None:
        """Delete the table and our DOCKER-USER rules."""
        try:
            nft([{"delete": {"table": {"family": "inet", "name": self.table}}}])
        except SystemError_:
            pass
        self.sync_docker_user([])

    def exists(self) -> bool:
        try:
            nft(args=["list", "table", "inet", self.table])
            return True
        except SystemError_:
            return False

    # ------------------------------------------------------------- docker
    def docker_user_rules(self) -> list[dict] | None:
        """Our rules in ``ip filter DOCKER-USER`` (None: no such chain)."""
        try:
            out = nft(args=["list", "chain", "ip", "filter", "DOCKER-USER"])
        except SystemError_:
            return None
        return [i["rule"] for i in out.get("nftables", [])
                if "rule" in i and i["rule"].get("comment") == self.tag]

    def sync_docker_user(self, bridges: list[str]) -> None:
        """Make our accept rules in DOCKER-USER exactly: for each bridge,
        ``iifname B accept`` and ``oifname B accept``. No-op without Docker."""
        have = self.docker_user_rules()
        if have is None:
            return
        want = set(bridges)
        present: dict[str, list[int]] = {}
        for r in have:
            br = None
            for e in r.get("expr", []):
                if "match" in e and e["match"]["left"].get("meta", {}).get("key") in ("iifname", "oifname"):
                    br = e["match"]["right"]
            present.setdefault(br, []).append(r["handle"])
        cmds: list[dict] = []
        for br, handles in present.items():
            if br not in want or len(handles) != 2:
                for h in handles:
                    cmds.append({"delete": {"rule": {"family": "ip", "table": "filter",
                                                     "chain": "DOCKER-USER", "handle": h}}})
        for br in bridges:
            if br in present and len(present[br]) == 2:
                continue
            for key in ("oifname", "iifname"):
                cmds.append({"insert": {"rule": {
                    "family": "ip", "table": "filter", "chain": "DOCKER-USER", "comment": self.tag,
                    "expr": [_m(_meta(key), br), {"accept": None}]}}})
        if cmds:
            try:
                nft(cmds)
            except SystemError_:
                pass  # dockerd may be rewriting its chains; next apply retries


def tables() -> list[dict]:
    """Every nft table as {"family", "name"}."""
    out = nft(args=["list", "tables"])
    return [i["table"] for i in out.get("nftables", []) if "table" in i]


def table_owner(family: str, name: str) -> str:
    """The owner mark of one of our tables ("skiff:<exec-root>"), or ""."""
    try:
        out = nft(args=["list", "chain", family, name, "owner"])
    except SystemError_:
        return ""
    for i in out.get("nftables", []):
        if "rule" in i and i["rule"].get("comment"):
            return i["rule"]["comment"]
    return ""


def delete_table(family: str, name: str) -> None:
    try:
        nft([{"delete": {"table": {"family": family, "name": name}}}])
    except SystemError_:
        pass
