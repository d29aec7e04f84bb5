"""The networking building blocks against the real kernel: named netns,
bridge + veth through netlink, the nft table, held host ports, the
embedded DNS server inside a namespace. Everything is named skifftest* and
removed at the end."""
from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess

import pytest

from skiff.errors import Conflict
from skiff.network import dns, firewall, netlink, netns
from skiff.network.portmap import PortHolder, ports_view, wanted

pytestmark = pytest.mark.integration

BR = "skifftestbr9"
PID = os.getpid()


@pytest.fixture
def nsdir(tmp_path):
    d = f"/run/skifftest-netk-{PID}"
    os.makedirs(d, exist_ok=True)
    made = []
    yield d, made
    for p in made:
        netns.delete(p)
    netlink.delete_link(BR)
    os.rmdir(d) if os.path.isdir(d) and not os.listdir(d) else None


def test_netns_create_join_delete(nsdir):
    d, made = nsdir
    p = netns.create(os.path.join(d, "a"))
    made.append(p)
    assert netns.is_netns(p)
    assert netns.inode(p) != os.stat("/proc/self/ns/net").st_ino
    # the namespace has only lo, down until set up
    assert netlink.link_names(p) == ["lo"]
    netlink.setup_lo(p)
    ino = netns.run_in(p, lambda: os.stat(f"/proc/self/task/{__import__('threading').get_native_id()}/ns/net").st_ino)
    assert ino == netns.inode(p)
    # the caller's thread stayed in the host namespace
    assert os.stat("/proc/thread-self/ns/net").st_ino != netns.inode(p)
    netns.delete(p)
    made.remove(p)
    assert not os.path.exists(p)


def test_bridge_veth_and_traffic(nsdir):
    d, made = nsdir
    netlink.ensure_bridge(BR, ["10.213.7.1/24"], alias="skiff:skifftest")
    netlink.ensure_bridge(BR, ["10.213.7.1/24"])  # idempotent
    a = netns.create(os.path.join(d, "a"))
    b = netns.create(os.path.join(d, "b"))
    made += [a, b]
    netlink.add_veth("vethskt0001", BR, a, "eth0", "02:42:0a:d5:07:02", ["10.213.7.2/24"], "10.213.7.1")
    netlink.add_veth("vethskt0002", BR, b, "eth0", "02:42:0a:d5:07:03", ["10.213.7.3/24"], "10.213.7.1")
    addrs = netlink.addresses_of(a)
    assert "10.213.7.2/24" in addrs["eth0"]
    assert netlink.bridges_by_alias("skiff:skifftest") == {BR: "skiff:skifftest"}
    # a TCP round trip between the two namespaces over the bridge
    srv = netns.run_in(b, lambda: socket.create_server(("10.213.7.3", 7777)))
    try:
        cli = netns.run_in(a, lambda: socket.create_connection(("10.213.7.3", 7777), timeout=5))
        conn, peer = srv.accept()
        assert peer[0] == "10.213.7.2"
        cli.sendall(b"ping")
        assert conn.recv(4) == b"ping"
        conn.close()
        cli.close()
    finally:
        srv.close()
    assert netlink.delete_link("vethskt0001") is True
    assert netlink.delete_link("vethskt0001") is False
    assert "vethskt0001" not in netlink.link_names()


def test_firewall_table_replaced_atomically_and_removed():
    fw = firewall.Firewall("skifftest-fw", "skiff:/nonexistent/skifftest")
    try:
        fw.apply([firewall.BridgeRule("skifftestbrA", ["10.213.8.0/24"]),
                  firewall.BridgeRule("skifftestbrB", ["10.213.9.0/24"], internal=True)],
                 [firewall.PortRule("tcp", "127.0.0.1", 18080, "10.213.8.2", 80)])
        out = firewall.nft(args=["list", "table", "inet", "skifftest-fw"])
        rules = [i["rule"] for i in out["nftables"] if "rule" in i]
        dnat = [r for r in rules if r["chain"] == "dnat"]
        assert len(dnat) == 1 and dnat[0]["expr"][-1]["dnat"] == {"family": "ip", "addr": "10.213.8.2", "port": 80}
        drops = [r for r in rules if r["chain"] == "forward" and "drop" in r["expr"][-1]]
        assert len(drops) == 4  # two isolation drops + internal in/out
        assert [t for t in firewall.tables() if t["name"] == "skifftest-fw"]
        assert firewall.table_owner("inet", "skifftest-fw") == "skiff:/nonexistent/skifftest"
        fw.apply([], [])  # replaced: no rule left but the jumps
        out = firewall.nft(args=["list", "table", "inet", "skifftest-fw"])
        assert not [i for i in out["nftables"] if "rule" in i and (i["rule"]["chain"] == "dnat" or
                    i["rule"]["chain"] == "forward" and "drop" in i["rule"]["expr"][-1])]
    finally:
        fw.remove()
    assert not fw.exists()


def test_port_holder_refuses_taken_ports():
    h = PortHolder()
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    taken = other.getsockname()[1]
    try:
        with pytest.raises(Conflict, match="port is already allocated"):
            h.take("c1", [("tcp", "127.0.0.1", taken, taken, 80)])
        got = h.take("c1", wanted({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}))
        assert got[0].host_port > 0 and got[0].host_ip == "127.0.0.1"
        # the same ip:port for another owner, and the wildcard over it, are refused
        with pytest.raises(Conflict):
            h.take("c2", [("tcp", "127.0.0.1", got[0].host_port, got[0].host_port, 81)])
        with pytest.raises(Conflict):
            h.take("c2", [("tcp", "", got[0].host_port, got[0].host_port, 81)])
        # udp on the same number is another binding
        u = h.take("c2", [("udp", "127.0.0.1", got[0].host_port, got[0].host_port, 81)])
        assert u[0].proto == "udp"
        # all or nothing: a duplicate within one request frees what it took
        p2 = got[0].host_port
        h.release("c1")
        with pytest.raises(Conflict):
            h.take("c3", [("tcp", "127.0.0.1", p2, p2, 80), ("tcp", "127.0.0.1", p2, p2, 81)])
        assert h.bindings("c3") == []
        s = socket.socket()
        s.bind(("127.0.0.1", p2))  # free again
        s.close()
        view = ports_view({"80/tcp": {}, "53/udp": {}}, h.bindings("c2"))
        assert view["53/udp"] is None and view[f"81/udp"][0]["HostIp"] == "127.0.0.1"
    finally:
        other.close()
        h.release("c1")
        h.release("c2")


def _query(name: str, qtype: int = 1) -> bytes:
    q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", qtype, 1)


def test_dns_server_inside_namespace(nsdir):
    d, made = nsdir
    p = netns.create(os.path.join(d, "dns"))
    made.append(p)
    netlink.setup_lo(p)
    names = {"skifftest-srv": ["10.213.7.9"], "svc-alias": ["10.213.7.9"]}

    async def main():
        r = dns.Resolver(lambda n: names.get(n, []), upstreams=[])
        await r.start(p)
        try:
            loop = asyncio.get_running_loop()

            def ask(name, qtype=1, tcp=False):
                def f():
                    if tcp:
                        s = socket.create_connection((dns.ADDRESS, 53), timeout=3)
                        m = _query(name, qtype)
                        s.sendall(struct.pack("!H", len(m)) + m)
                        n = struct.unpack("!H", s.recv(2))[0]
                        data = s.recv(n)
                    else:
                        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        s.settimeout(3)
                        s.sendto(_query(name, qtype), (dns.ADDRESS, 53))
                        data = s.recv(512)
                    s.close()
                    return data
                return await_in(f)

            def await_in(f):
                return loop.run_in_executor(None, lambda: netns.run_in(p, f))
            ans = await ask("skifftest-srv")
            assert ans[3] & 0x0F == 0 and struct.unpack("!H", ans[6:8])[0] == 1
            assert ans[-4:] == socket.inet_aton("10.213.7.9")
            ans = await ask("SVC-Alias", tcp=True)
            assert ans[-4:] == socket.inet_aton("10.213.7.9")
            ans = await ask("no-such-name")
            assert ans[3] & 0x0F == 3  # NXDOMAIN, nothing forwarded
            ans = await ask("skifftest-srv", qtype=28)
            assert ans[3] & 0x0F == 0 and struct.unpack("!H", ans[6:8])[0] == 0
        finally:
            r.close()
    asyncio.run(main())
    # the server is not reachable from the host's namespace
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    s.sendto(_query("skifftest-srv"), (dns.ADDRESS, 53))
    with pytest.raises((socket.timeout, ConnectionRefusedError)):
        s.recv(512)
    s.close()


def test_dns_message_parsing():
    qid, flags, name, qtype, qclass, end = dns.parse_query(_query("a.b.example"))
    assert (qid, name, qtype, qclass) == (0x1234, "a.b.example", 1, 1)
    with pytest.raises(ValueError):
        dns.parse_query(b"\x00\x01")
    r = dns.build_response(_query("x"), ["10.0.0.1", "10.0.0.2"])
    assert struct.unpack("!H", r[6:8])[0] == 2


def test_dnat_tcp_udp_from_loopback_and_host_address(nsdir):
    """The published-port rules as the manager builds them: a server inside
    a namespace behind a bridge, reached from the host on 127.0.0.1 (TCP
    and UDP) through kernel DNAT; a 127.0.0.1 binding is not reachable on
    another host address."""
    d, made = nsdir
    fw = firewall.Firewall("skifftest-dnat")
    netlink.ensure_bridge(BR, ["10.213.11.1/24"])
    with open(f"/proc/sys/net/ipv4/conf/{BR}/route_localnet", "w") as f:
        f.write("1")
    p = netns.create(os.path.join(d, "srv"))
    made.append(p)
    netlink.add_veth("vethskt0003", BR, p, "eth0", "02:42:0a:d5:0b:02", ["10.213.11.2/24"], "10.213.11.1")
    tcp = netns.run_in(p, lambda: socket.create_server(("0.0.0.0", 8080)))
    udp = netns.run_in(p, lambda: _udp_bound(5353))
    try:
        fw.apply([firewall.BridgeRule(BR, ["10.213.11.0/24"])],
                 [firewall.PortRule("tcp", "127.0.0.1", 18490, "10.213.11.2", 8080),
                  firewall.PortRule("udp", "", 18491, "10.213.11.2", 5353)])
        c = socket.create_connection(("127.0.0.1", 18490), timeout=5)
        conn, peer = tcp.accept()
        conn.sendall(b"hi")
        assert c.recv(2) == b"hi"
        c.close()
        conn.close()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"hello-udp", ("127.0.0.1", 18491))
        udp.settimeout(5)
        data, src = udp.recvfrom(100)
        assert data == b"hello-udp"
        s.close()
        # the loopback-only binding does not answer on a non-loopback address
        other = _host_addr()
        if other:
            with pytest.raises(OSError):
                socket.create_connection((other, 18490), timeout=1)
    finally:
        tcp.close()
        udp.close()
        fw.remove()
        netlink.delete_link("vethskt0003")


def _udp_bound(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", port))
    return u


def _host_addr() -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.254", 9))
        a = s.getsockname()[0]
        return "" if a.startswith("127.") else a
    except OSError:
        return ""
    finally:
        s.close()
