"""Published ports: Docker's PortBindings turned into concrete host
bindings, and the host ports held for them.

A host port is taken by binding a socket to it (not listening): the kernel
then refuses it to any other process, and refuses it to us when someone
else (skiff's other containers included) has it, which is how "port is
already allocated" is detected for every kind of user. The traffic itself
never reaches these sockets: it is DNAT'd to the container in
prerouting/output (skiff.network.firewall) before any socket lookup.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from ..errors import Conflict, InvalidArgument

PROTOS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class Binding:
    """A concrete published port: ``proto``, ``host_ip`` ("" = every
    address, shown as "0.0.0.0"), ``host_port``, ``port`` in the container."""

    proto: str
    host_ip: str
    host_port: int
    port: int


def parse_key(key: str) -> tuple[int, int, str]:
    """"80/tcp" or "8000-8010/udp" -> (first, last, proto). InvalidArgument."""
    p, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOS:
        raise InvalidArgument(f"invalid proto: {proto}")
    lo, _, hi = p.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise InvalidArgument(f"invalid containerPort: {p}") from None
    if not (0 < a <= b <= 65535):
        raise InvalidArgument(f"invalid port range: {p}")
    return a, b, proto


def wanted(port_bindings: dict | None, exposed: dict | None = None,
           publish_all: bool = False) -> list[tuple[str, str, int, int, int]]:
    """Docker's HostConfig.PortBindings (and, with PublishAllPorts, every
    exposed port not bound) -> [(proto, host_ip, host_lo, host_hi, port)]
    where host_lo == host_hi == 0 means "any free port"."""
    out = []
    seen = set()
    for key, lst in (port_bindings or {}).items():
        a, b, proto = parse_key(key)
        for cport in range(a, b + 1):
            seen.add((cport, proto))
            for hb in lst or [{}]:
                hip = (hb or {}).get("HostIp") or ""
                hp = str((hb or {}).get("HostPort") or "")
                if hp:
                    lo, _, hi = hp.partition("-")
                    try:
                        lo_i, hi_i = int(lo), int(hi or lo)
                    except ValueError:
                        raise InvalidArgument(f"invalid hostPort: {hp}") from None
                    if b > a and hi_i > lo_i:  # a range onto a range: port by port
                        lo_i = hi_i = lo_i + (cport - a)
                else:
                    lo_i = hi_i = 0
                out.append((proto, hip, lo_i, hi_i, cport))
    if publish_all:
        for key in exposed or {}:
            a, b, proto = parse_key(key)
            for cport in range(a, b + 1):
                if (cport, proto) not in seen:
                    out.append((proto, "", 0, 0, cport))
    return out


class PortHolder:
    """Host ports held per owner (a container id)."""

    def __init__(self):
        self._held: dict[str, list[tuple[Binding, socket.socket | None]]] = {}

    def _try(self, proto: str, host_ip: str, port: int) -> socket.socket | None:
        fam = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
        if proto == "sctp":
            try:
                s = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
            except OSError:
                return None  # no sctp in this kernel: only our own table guards it
        else:
            s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        try:
            s.bind((host_ip or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), port))
        except OSError:
            s.close()
            raise
        return s

    def _ours(self, proto: str, host_ip: str, port: int) -> bool:
        for lst in self._held.values():
            for b, _ in lst:
                if b.proto == proto and b.host_port == port and \
                        (not b.host_ip or not host_ip or b.host_ip == host_ip):
                    return True
        return False

    def take(self, owner: str, wants: list[tuple[str, str, int, int, int]]) -> list[Binding]:
        """Hold a host port for each wanted binding; all or nothing. Conflict
        "Bind for IP:PORT failed: port is already allocated" (Docker's words)
        when a fixed port is taken; for a range, the first free port of it;
        for 0, a free port chosen by the kernel."""
        got: list[tuple[Binding, socket.socket | None]] = []
        self._held.setdefault(owner, [])
        try:
            for proto, hip, lo, hi, cport in wants:
                if hip and hip not in ("0.0.0.0",):
                    try:
                        socket.inet_pton(socket.AF_INET6 if ":" in hip else socket.AF_INET, hip)
                    except OSError:
                        raise InvalidArgument(f"invalid IP address: {hip}") from None
                hip = "" if hip in ("0.0.0.0",) else hip
                last: Exception | None = None
                cands = [0] if lo == 0 else range(lo, hi + 1)
                for hp in cands:
                    if hp and self._ours(proto, hip, hp):
                        last = OSError(errno.EADDRINUSE, "in use")
                        continue
                    try:
                        s = self._try(proto, hip, hp)
                    except OSError as e:
                        last = e
                        continue
                    port = s.getsockname()[1] if s is not None and hp == 0 else hp
                    b = Binding(proto, hip, port, cport)
                    got.append((b, s))
                    self._held[owner].append((b, s))
                    break
                else:
                    shown = f"{hip or '0.0.0.0'}:{lo}" + (f"-{hi}" if hi != lo else "")
                    if isinstance(last, OSError) and last.errno not in (errno.EADDRINUSE, None):
                        raise Conflict(f"Bind for {shown} failed: {last.strerror or last}".rstrip("."))
                    raise Conflict(f"Bind for {shown} failed: port is already allocated")
        except BaseException:
            for b, s in got:
                if s is not None:
                    s.close()
                self._held[owner].remove((b, s))
            if not self._held[owner]:
                del self._held[owner]
            raise
        return [b for b, _ in got]

    def release(self, owner: str) -> None:
        for _, s in self._held.pop(owner, []):
            if s is not None:
                s.close()

    def bindings(self, owner: str) -> list[Binding]:
        return [b for b, _ in self._held.get(owner, [])]

    def all(self) -> dict[str, list[Binding]]:
        return {o: [b for b, _ in lst] for o, lst in self._held.items()}


def ports_view(exposed: dict | None, bindings: list[Binding]) -> dict:
    """NetworkSettings.Ports as Docker's inspect: {"80/tcp": [{"HostIp",
    "HostPort"}] or None for an exposed, unpublished port}."""
    out: dict = {}
    for key in exposed or {}:
        try:
            a, b, proto = parse_key(key)
        except InvalidArgument:
            continue
        for p in range(a, b + 1):
            out.setdefault(f"{p}/{proto}", None)
    for b in bindings:
        k = f"{b.port}/{b.proto}"
        if out.get(k) is None:
            out[k] = []
        out[k].append({"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)})
    return out
