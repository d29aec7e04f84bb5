"""Namespaces of the container (OCI runtime-spec config-linux.md#namespaces):
new ones are unshare(2)d, those with a ``path`` are setns(2)-joined. The
user namespace is joined/created first so the others belong to it.
"""

from __future__ import annotations

import os

from skiff.errors import InvalidArgument, SystemError_
from skiff.runtime.linux import syscalls as sc

#: spec type -> CLONE_NEW* flag
FLAGS: dict[str, int] = {
    "pid": sc.CLONE_NEWPID, "network": sc.CLONE_NEWNET, "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS, "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP, "time": sc.CLONE_NEWTIME,
}

#: the order in which namespaces with a path are joined (user first, mount last)
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def parse(namespaces: list[dict] | None) -> tuple[int, list[tuple[str, str]]]:
    """linux.namespaces -> (flags to unshare, [(type, path) to join] in JOIN_ORDER).
    Raises InvalidArgument on an unknown or repeated type."""
    flags = 0
    joins: dict[str, str] = {}
    seen = set()
    for ns in namespaces or ():
        t = ns.get("type")
        if t not in FLAGS:
            raise InvalidArgument(f"unknown namespace type {t!r}")
        if t in seen:
            raise InvalidArgument(f"namespace {t} given twice")
        seen.add(t)
        if ns.get("path"):
            joins[t] = ns["path"]
        else:
            flags |= FLAGS[t]
    return flags, [(t, joins[t]) for t in JOIN_ORDER if t in joins]


def join(ns_type: str, path: str) -> None:
    """setns(2) into the namespace file ``path`` (/proc/PID/ns/X, /run/skiff/netns/ID)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise SystemError_(f"open {ns_type} namespace {path}: {os.strerror(e.errno).lower()}",
                           errno=e.errno or 0, path=path) from None
    try:
        sc.setns(fd, FLAGS[ns_type], path)
    finally:
        os.close(fd)


NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1)


def join_order(joins: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``joins`` (JOIN_ORDER, user first) reordered as runc's nsexec: a
    namespace NOT owned by the user namespace being joined is joined before
    it, while we still hold the runtime's capabilities (after the switch we
    would have none over it)."""
    user = [p for t, p in joins if t == "user"]
    if not user or len(joins) < 2:
        return joins
    import fcntl
    try:
        target = os.stat(user[0])
    except OSError:
        return joins
    before, after = [], []
    for t, p in joins:
        if t == "user":
            continue
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            after.append((t, p))
            continue
        try:
            ufd = fcntl.ioctl(fd, NS_GET_USERNS)
            try:
                st = os.fstat(ufd)
            finally:
                os.close(ufd)
            owned = (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino)
        except OSError:
            owned = True
        finally:
            os.close(fd)
        (after if owned else before).append((t, p))
    return before + [("user", user[0])] + after


def id_map_text(mappings: list[dict] | None) -> str:
    """linux.uidMappings/gidMappings -> /proc/PID/uid_map text
    ("containerID hostID size" lines)."""
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings or ())


def write_id_maps(pid: int, uid_maps: list[dict] | None, gid_maps: list[dict] | None) -> None:
    """Write the uid/gid maps of ``pid`` (which has just unshared a user
    namespace). setgroups is set to "deny" first when the writer lacks
    CAP_SETGID in the parent namespace (not root), as the kernel requires."""
    if os.geteuid() != 0:
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    if uid_maps:
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(id_map_text(uid_maps))
    if gid_maps:
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(id_map_text(gid_maps))


# ------------------------------------------------ linux.netDevices (rtnetlink)

_RTM_NEWLINK, _RTM_NEWADDR, _RTM_GETADDR = 16, 20, 22
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_DUMP = 0x1, 0x4, 0x300
_NLM_F_EXCL, _NLM_F_CREATE = 0x200, 0x400
_IFLA_IFNAME, _IFLA_NET_NS_FD = 3, 28
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_IFF_UP = 0x1


def parse_net_addresses(devices: dict | None) -> dict[str, list[tuple[int, bytes, int]]]:
    """linux.netDevices -> {host name: [(family, address bytes, prefix)]} for
    the "addresses" given. Raises InvalidArgument "invalid network IP address"."""
    import socket
    out: dict[str, list[tuple[int, bytes, int]]] = {}
    for name, dev in (devices or {}).items():
        addrs = []
        for a in (dev or {}).get("addresses") or ():
            ip, sep, plen = str(a).partition("/")
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            try:
                raw = socket.inet_pton(fam, ip)
                prefix = int(plen) if sep else (32 if fam == socket.AF_INET else 128)
            except (OSError, ValueError):
                raise InvalidArgument(f"invalid network IP address {a!r} for device "
                                      f"{name}") from None
            if not 0 <= prefix <= (32 if fam == socket.AF_INET else 128):
                raise InvalidArgument(f"invalid network IP address {a!r} for device {name}")
            addrs.append((fam, raw, prefix))
        out[name] = addrs
    return out


class _Netlink:
    """A NETLINK_ROUTE socket of the network namespace it was opened in."""

    def __init__(self):
        import socket
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    @staticmethod
    def attr(kind: int, payload: bytes) -> bytes:
        import struct
        data = struct.pack("=HH", 4 + len(payload), kind) + payload
        return data + b"\0" * (-len(data) % 4)

    def request(self, mtype: int, flags: int, body: bytes, what: str) -> list[bytes]:
        """Send one message; returns the payloads of the answers (dump) or []
        after the ACK. Raises SystemError_ with the kernel's errno."""
        import struct
        self.seq += 1
        msg = struct.pack("=LHHLL", 16 + len(body), mtype, flags | _NLM_F_REQUEST, self.seq, 0)
        self.sock.send(msg + body)
        out = []
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                ln, typ, _fl, seq, _pid = struct.unpack_from("=LHHLL", data, off)
                payload = data[off + 16: off + ln]
                off += (ln + 3) & ~3
                if seq != self.seq:
                    continue
                if typ == 2:  # NLMSG_ERROR
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise SystemError_(f"{what}: {os.strerror(err).lower()}", errno=err)
                    return out
                if typ == 3:  # NLMSG_DONE
                    return out
                out.append(payload)

    def addresses(self, index: int) -> list[tuple[int, bytes, int]]:
        """The global addresses of link ``index`` (IPv6 link-local skipped)."""
        import socket
        import struct
        out = []
        for p in self.request(_RTM_GETADDR, _NLM_F_DUMP, struct.pack("=BBBBI", 0, 0, 0, 0, 0),
                              "list addresses"):
            fam, plen, _fl, scope, idx = struct.unpack_from("=BBBBI", p)
            if idx != index or scope == 253 or fam not in (socket.AF_INET, socket.AF_INET6):
                continue
            off, found = 8, {}
            while off + 4 <= len(p):
                ln, kind = struct.unpack_from("=HH", p, off)
                found[kind] = p[off + 4: off + ln]
                off += (ln + 3) & ~3
            raw = found.get(_IFA_LOCAL) or found.get(_IFA_ADDRESS)
            if raw:
                out.append((fam, raw, plen))
        return out


def move_net_devices(devices: dict | None, host_nl: "_Netlink", host_index: dict[str, int],
                     host_addrs: dict[str, list], wanted: dict[str, list],
                     target: str = "/proc/self/ns/net") -> None:
    """Move each host device of linux.netDevices into the network namespace
    ``target`` (default: the one we are in now; ``host_nl`` was opened in the
    host's), renamed to its "name", with its "addresses" (else the host's
    ones) and up, as runc. With another ``target`` we setns() into it for
    the last part."""
    import socket
    import struct
    nsfd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for name, dev in (devices or {}).items():
            new = (dev or {}).get("name") or name
            body = struct.pack("=BxHiII", 0, 0, host_index[name], 0, 0)
            body += host_nl.attr(_IFLA_NET_NS_FD, struct.pack("=I", nsfd))
            body += host_nl.attr(_IFLA_IFNAME, new.encode() + b"\0")
            host_nl.request(_RTM_NEWLINK, _NLM_F_ACK, body,
                            f"move network device {name} into the container")
        if target != "/proc/self/ns/net":
            sc.setns(nsfd, sc.CLONE_NEWNET, target)
    finally:
        os.close(nsfd)
    nl = _Netlink()
    try:
        for name, dev in (devices or {}).items():
            new = (dev or {}).get("name") or name
            index = socket.if_nametoindex(new)
            for fam, raw, plen in wanted.get(name) or host_addrs.get(name) or ():
                body = struct.pack("=BBBBI", fam, plen, 0, 0, index)
                body += nl.attr(_IFA_LOCAL, raw) + nl.attr(_IFA_ADDRESS, raw)
                nl.request(_RTM_NEWADDR, _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL, body,
                           f"add address to network device {new}")
            nl.request(_RTM_NEWLINK, _NLM_F_ACK,
                       struct.pack("=BxHiII", 0, 0, index, _IFF_UP, _IFF_UP),
                       f"set network device {new} up")
    finally:
        nl.close()


def net_devices_helper(devices: dict | None, index: dict, addrs: dict, wanted: dict):
    """For a container with a user namespace: once we have entered it, the
    kernel wants CAP_NET_ADMIN over the host's netns from us as well as from
    the netlink socket, so a child forked now (still the host's root) does
    the move when told. Returns (go_fd, result_fd, pid); see run_net_helper."""
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    ppid = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(go_w)
            os.close(res_r)
            if os.read(go_r, 1) == b"1":
                try:
                    nl = _Netlink()
                    try:
                        move_net_devices(devices, nl, index, addrs, wanted,
                                         target=f"/proc/{ppid}/ns/net")
                    finally:
                        nl.close()
                    os.write(res_w, b"ok")
                    code = 0
                except BaseException as e:  # noqa: BLE001
                    os.write(res_w, str(getattr(e, "message", e)).encode()[:4000])
        finally:
            os._exit(code)
    os.close(go_r)
    os.close(res_w)
    return go_w, res_r, pid


def run_net_helper(helper) -> None:
    """Let the helper of net_devices_helper() move the devices into our
    (now made) network namespace; raises SystemError_ with its error."""
    go_w, res_r, pid = helper
    try:
        os.write(go_w, b"1")
        os.close(go_w)
        go_w = -1
        out = b""
        while True:
            chunk = os.read(res_r, 4096)
            if not chunk:
                break
            out += chunk
    finally:
        if go_w >= 0:
            os.close(go_w)
        os.close(res_r)
        os.waitpid(pid, 0)
    if out != b"ok":
        raise SystemError_(out.decode(errors="replace") or "network devices helper failed")


def prepare_net_devices(devices: dict | None):
    """In the host's network namespace, before the container's: the netlink
    socket, each device's index and addresses. Raises SystemError_ for a
    device that does not exist."""
    import socket
    nl = _Netlink()
    index, addrs = {}, {}
    try:
        for name in devices or {}:
            try:
                index[name] = socket.if_nametoindex(name)
            except OSError:
                raise SystemError_(f"network device {name} not found", path=name) from None
            addrs[name] = nl.addresses(index[name])
    except BaseException:
        nl.close()
        raise
    return nl, index, addrs
