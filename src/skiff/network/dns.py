"""The embedded DNS server of containers on user-defined networks, as
Docker's (libnetwork resolver): it listens on 127.0.0.11:53 (UDP and TCP)
INSIDE the container's network namespace, answers A queries for the names,
aliases and hostnames of the containers on the same networks, and forwards
other names to upstream resolvers (RFC 1035 message format).

The sockets are opened in the namespace by a short-lived thread
(skiff.network.netns.run_in) and then served from the daemon's event loop.
Forwarding: only to non-loopback resolvers; never for single-label names
(no public resolver knows them: they stay on the host), and not at all when
there is no upstream or SKIFF_DNS_FORWARD=0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import struct
from typing import Callable

from . import netns as _ns

log = logging.getLogger("skiff.network.dns")

ADDRESS = "127.0.0.11"
QTYPE_A, QTYPE_AAAA, QTYPE_ANY = 1, 28, 255
TTL = 600


def parse_query(data: bytes) -> tuple[int, int, str, int, int, int]:
    """(id, flags, qname lower-case without the final dot, qtype, qclass,
    end offset of the question). ValueError on a malformed message."""
    if len(data) < 12:
        raise ValueError("short message")
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd != 1:
        raise ValueError("one question expected")
    labels, i = [], 12
    while True:
        if i >= len(data):
            raise ValueError("truncated name")
        n = data[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0:
            raise ValueError("compressed question")
        labels.append(data[i:i + n].decode("ascii", "replace"))
        i += n
    if i + 4 > len(data):
        raise ValueError("truncated question")
    qtype, qclass = struct.unpack("!HH", data[i:i + 4])
    return qid, flags, ".".join(labels).lower(), qtype, qclass, i + 4


def build_response(query: bytes, addresses: list[str], rcode: int = 0) -> bytes:
    """The answer to ``query`` with A records ``addresses`` (rcode 0) or an
    error (3 NXDOMAIN, 2 SERVFAIL)."""
    qid, flags, _, qtype, qclass, end = parse_query(query)
    rd = flags & 0x0100
    out_flags = 0x8000 | 0x0400 | rd | 0x0080 | (rcode & 0xF)  # QR AA RD RA
    answers = b""
    n = 0
    if rcode == 0:
        for a in addresses:
            ip = ipaddress.ip_address(a)
            if ip.version == 4 and qtype in (QTYPE_A, QTYPE_ANY):
                answers += struct.pack("!HHHIH", 0xC00C, QTYPE_A, 1, TTL, 4) + ip.packed
                n += 1
            elif ip.version == 6 and qtype in (QTYPE_AAAA, QTYPE_ANY):
                answers += struct.pack("!HHHIH", 0xC00C, QTYPE_AAAA, 1, TTL, 16) + ip.packed
                n += 1
    return struct.pack("!HHHHHH", qid, out_flags, 1, n, 0, 0) + query[12:end] + answers


def host_upstreams(path: str = "/etc/resolv.conf") -> list[str]:
    """The host's non-loopback nameservers (Docker filters loopback ones)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) > 1 and p[0] == "nameserver":
                    try:
                        ip = ipaddress.ip_address(p[1].split("%")[0])
                    except ValueError:
                        continue
                    if not ip.is_loopback:
                        out.append(str(ip))
    except OSError:
        pass
    return out


class Resolver:
    """One container's DNS server. ``lookup(name) -> [address]`` (empty:
    not one of ours); ``upstreams`` the resolvers to forward to."""

    def __init__(self, lookup: Callable[[str], list[str]], upstreams: list[str] | None = None):
        self.lookup = lookup
        self.upstreams = [] if os.environ.get("SKIFF_DNS_FORWARD") == "0" else list(upstreams or [])
        self._udp = None
        self._tcp = None

    async def answer(self, data: bytes) -> bytes | None:
        try:
            _, _, name, qtype, _, _ = parse_query(data)
        except ValueError:
            return None
        addrs = self.lookup(name)
        if addrs:
            return build_response(data, addrs)
        if self.upstreams and "." in name.strip("."):
            r = await self._forward(data)
            if r is not None:
                return r
            return build_response(data, [], rcode=2)
        return build_response(data, [], rcode=3)

    async def _forward(self, data: bytes) -> bytes | None:
        loop = asyncio.get_running_loop()
        for up in self.upstreams:
            fut = loop.create_future()

            class P(asyncio.DatagramProtocol):
                def datagram_received(self, d, addr):
                    if not fut.done():
                        fut.set_result(d)

                def error_received(self, exc):
                    if not fut.done():
                        fut.set_exception(exc)
            try:
                tr, _ = await loop.create_datagram_endpoint(P, remote_addr=(up, 53))
            except OSError:
                continue
            try:
                tr.sendto(data)
                return await asyncio.wait_for(fut, 4)
            except (asyncio.TimeoutError, OSError):
                continue
            finally:
                tr.close()
        return None

    async def start(self, netns: str) -> None:
        """Listen on 127.0.0.11:53 (UDP, TCP) inside ``netns``."""
        def open_sockets():
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                u.bind((ADDRESS, 53))
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind((ADDRESS, 53))
                t.listen(64)
            except BaseException:
                u.close()
                t.close()
                raise
            u.setblocking(False)
            t.setblocking(False)
            return u, t
        u, t = _ns.run_in(netns, open_sockets)
        loop = asyncio.get_running_loop()
        resolver = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.tr = transport

            def datagram_received(self, d, addr):
                async def reply():
                    r = await resolver.answer(d)
                    if r is not None:
                        self.tr.sendto(r, addr)
                loop.create_task(reply())
        self._udp, _ = await loop.create_datagram_endpoint(Udp, sock=u)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            try:
                while True:
                    hdr = await reader.readexactly(2)
                    d = await reader.readexactly(struct.unpack("!H", hdr)[0])
                    r = await resolver.answer(d)
                    if r is None:
                        break
                    writer.write(struct.pack("!H", len(r)) + r)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()
        self._tcp = await asyncio.start_server(handle, sock=t)

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
