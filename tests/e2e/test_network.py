"""Networking end to end (issue 4): published ports, modes, user-defined
networks with DNS, the API through the docker CLI, cases 014 and 016,
daemon restart, and nothing left on the host afterwards."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from skiffd_harness import Skiffd

pytestmark = [pytest.mark.e2e]


def _get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def _host_ip() -> str:
    """A non-loopback address of this host (the one routing to the outside)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.254", 9))  # no packet is sent for a UDP connect
        return s.getsockname()[0]
    finally:
        s.close()


def _wait_http(url: str, want: str, tries: int = 40) -> str:
    last = ""
    for _ in range(tries):
        try:
            last = _get(url, 2)
            if want in last:
                return last
        except OSError as e:
            last = str(e)
        time.sleep(0.25)
    return last


@pytest.fixture
def web(skiffd, registry):
    ref = f"{registry}/library/web"
    skiffd.cli("pull", ref, check=True)
    return ref


@pytest.fixture
def cleanup(skiffd):
    names: list[str] = []
    nets: list[str] = []
    yield names, nets
    if names:
        skiffd.cli("rm", "-f", *names)
    for n in nets:
        skiffd.cli("network", "rm", n)


def test_publish_reachable_on_loopback_and_host_address(skiffd, web, cleanup):
    names, _ = cleanup
    names.append("skifftest-pub")
    r = skiffd.cli("run", "-d", "--name", "skifftest-pub", "-p", "18480:80", web)
    assert r.returncode == 0, r.stderr
    assert "hello from web" in _wait_http("http://127.0.0.1:18480/", "hello from web")
    assert "hello from web" in _get(f"http://{_host_ip()}:18480/")
    assert skiffd.cli("port", "skifftest-pub").stdout.strip() == "80/tcp -> 0.0.0.0:18480"
    ins = json.loads(skiffd.cli("inspect", "skifftest-pub").stdout)[0]["NetworkSettings"]
    assert ins["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18480"}]}
    ip = ins["Networks"]["bridge"]["IPAddress"]
    assert ins["IPAddress"] == ip and ins["Gateway"]
    assert ins["MacAddress"] == "02:42:" + ":".join(f"{int(x):02x}" for x in ip.split("."))
    # hairpin: the container reaches its own published port through the host address
    r = skiffd.cli("exec", "skifftest-pub", "wget", "-qO-", f"http://{_host_ip()}:18480/", timeout=20)
    assert "hello from web" in r.stdout, r.stderr
    # from another container through the host address
    r = skiffd.cli("run", "--rm", "busybox", "wget", "-qO-", f"http://{_host_ip()}:18480/", timeout=30)
    assert "hello from web" in r.stdout, r.stderr
    ps = skiffd.docker("ps", "--filter", "name=skifftest-pub", "--format", "{{.Ports}}").stdout
    assert "0.0.0.0:18480->80/tcp" in ps
    # the rules go with the container, and come back with a restart
    skiffd.cli("stop", "-t", "1", "skifftest-pub", check=True)
    with pytest.raises(OSError):
        _get("http://127.0.0.1:18480/", 2)
    skiffd.cli("start", "skifftest-pub", check=True)
    assert "hello from web" in _wait_http("http://127.0.0.1:18480/", "hello from web")


def test_random_port_on_loopback(skiffd, web, cleanup):
    names, _ = cleanup
    names += ["skifftest-rnd"]
    assert skiffd.cli("run", "-d", "--name", "skifftest-rnd", "-p", "127.0.0.1::80", web).returncode == 0
    hp = skiffd.cli("port", "skifftest-rnd", "80").stdout.strip()
    assert hp.startswith("127.0.0.1:") and int(hp.split(":")[1]) > 0
    assert "hello from web" in _wait_http(f"http://{hp}/", "hello from web")
    # bound to 127.0.0.1: not published on the host's other addresses
    with pytest.raises(OSError):
        _get(f"http://{_host_ip()}:{hp.split(':')[1]}/", 2)
    # (UDP publishing is tested in tests/integration/test_network_kernel.py:
    # the fixture busybox's nc has no -u)


def test_taken_host_port_fails_with_125_and_nothing_runs(skiffd, busybox, cleanup):
    names, _ = cleanup
    names += ["skifftest-dup1", "skifftest-dup2", "skifftest-dup3"]
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(1)
    taken = other.getsockname()[1]
    try:
        r = skiffd.cli("run", "-d", "--name", "skifftest-dup1", "-p", f"127.0.0.1:{taken}:80", "busybox", "sleep", "30")
        assert r.returncode == 125, (r.returncode, r.stderr)
        assert "port is already allocated" in r.stderr
        assert skiffd.cli("inspect", "-f", "{{.State.Running}}", "skifftest-dup1").stdout.strip() == "false"
    finally:
        other.close()
    r = skiffd.cli("run", "-d", "--name", "skifftest-dup2", "-p", "18482:80", "busybox", "sleep", "30")
    assert r.returncode == 0
    r = skiffd.docker("run", "-d", "--name", "skifftest-dup3", "-p", "18482:81", "busybox", "sleep", "30")
    assert r.returncode == 125 and "port is already allocated" in r.stderr


def test_modes_none_host_container(skiffd, busybox, web, cleanup):
    names, _ = cleanup
    names.append("skifftest-modes")
    r = skiffd.cli("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert r.stdout.split() == ["lo"], r.stdout + r.stderr
    before = {n for n in os.listdir("/sys/class/net") if not n.startswith("veth")}
    r = skiffd.cli("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    after = {n for n in os.listdir("/sys/class/net") if not n.startswith("veth")}
    assert before & after <= set(r.stdout.split()), r.stdout  # links other daemons make may come and go
    assert "eth0" not in set(r.stdout.split()) or "eth0" in before
    assert skiffd.cli("run", "-d", "--name", "skifftest-modes", web).returncode == 0
    time.sleep(0.5)
    r = skiffd.cli("run", "--rm", "--network", "container:skifftest-modes", "busybox",
                   "wget", "-qO-", "http://localhost/", timeout=30)
    assert "hello from web" in r.stdout, r.stderr


def test_user_defined_networks_dns_and_isolation(skiffd, busybox, cleanup):
    names, nets = cleanup
    nets += ["skifftest-neta", "skifftest-netb"]
    names += ["skifftest-srv"]
    for n in nets:
        assert skiffd.cli("network", "create", n).returncode == 0
    assert skiffd.cli("network", "create", "skifftest-neta").returncode == 1  # name in use
    r = skiffd.cli("run", "-d", "--name", "skifftest-srv", "--network", "skifftest-neta",
                   "--network-alias", "skifftest-svc", "--hostname", "skifftest-h", "busybox", "sh", "-c",
                   "mkdir -p /www && echo from-srv > /www/index.html && exec httpd -f -p 80 -h /www")
    assert r.returncode == 0, r.stderr
    ip = skiffd.cli("inspect", "-f", '{{(index .NetworkSettings.Networks "skifftest-neta").IPAddress}}',
                    "skifftest-srv").stdout.strip()
    assert ip
    script = ("for h in skifftest-srv skifftest-svc skifftest-h; do ping -c1 -W3 $h | sed -n 's/^PING [^ ]* (\\([0-9.]*\\)).*/\\1/p'; done;"
              " wget -qO- http://skifftest-svc/; cat /etc/resolv.conf")
    r = skiffd.cli("run", "--rm", "--network", "skifftest-neta", "busybox", "sh", "-c", script, timeout=60)
    lines = r.stdout.split("\n")
    assert lines[:3] == [ip, ip, ip], r.stdout + r.stderr
    assert "from-srv" in r.stdout
    assert "nameserver 127.0.0.11" in r.stdout and "options ndots:0" in r.stdout
    r = skiffd.cli("run", "--rm", "--network", "skifftest-neta", "busybox", "ping", "-c1", "-W2", "skifftest-nosuch")
    assert r.returncode != 0
    # another network neither resolves nor reaches it
    r = skiffd.cli("run", "--rm", "--network", "skifftest-netb", "busybox", "sh", "-c",
                   f"ping -c1 -W2 {ip} >/dev/null && echo REACHED; ping -c1 -W2 skifftest-srv >/dev/null 2>&1 && echo RESOLVED; true",
                   timeout=30)
    assert "REACHED" not in r.stdout and "RESOLVED" not in r.stdout
    # connect puts a running container on a second network, disconnect takes it off
    assert skiffd.cli("network", "connect", "--alias", "skifftest-b-alias", "skifftest-netb", "skifftest-srv").returncode == 0
    ipb = skiffd.cli("inspect", "-f", '{{(index .NetworkSettings.Networks "skifftest-netb").IPAddress}}',
                     "skifftest-srv").stdout.strip()
    r = skiffd.cli("run", "--rm", "--network", "skifftest-netb", "busybox", "wget", "-qO-",
                   "http://skifftest-b-alias/", timeout=30)
    assert "from-srv" in r.stdout and ipb != ip
    ins = json.loads(skiffd.docker("network", "inspect", "skifftest-netb").stdout)[0]
    assert any(c["IPv4Address"].startswith(ipb + "/") for c in ins["Containers"].values())
    assert skiffd.cli("network", "disconnect", "skifftest-netb", "skifftest-srv").returncode == 0
    assert skiffd.cli("network", "rm", "skifftest-neta").returncode != 0  # in use
    ls = skiffd.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}").stdout.split("\n")
    assert "skifftest-neta bridge" in ls and "bridge bridge" in ls and "host host" in ls and "none null" in ls


def test_network_create_options_and_static_ip(skiffd, busybox, cleanup):
    names, nets = cleanup
    nets.append("skifftest-sub")
    names.append("skifftest-fixed")
    r = skiffd.docker("network", "create", "--subnet", "10.213.40.0/24", "--gateway", "10.213.40.254",
                      "--ip-range", "10.213.40.128/25", "--internal", "--label", "skifftest=1",
                      "-o", "com.docker.network.bridge.name=skifftestbr40", "skifftest-sub")
    assert r.returncode == 0, r.stderr
    assert "skifftestbr40" in os.listdir("/sys/class/net")
    ins = json.loads(skiffd.cli("network", "inspect", "skifftest-sub").stdout)[0]
    assert ins["IPAM"]["Config"][0] == {"Subnet": "10.213.40.0/24", "Gateway": "10.213.40.254",
                                        "IPRange": "10.213.40.128/25"}
    assert ins["Internal"] is True and ins["Labels"] == {"skifftest": "1"}
    r = skiffd.cli("run", "--rm", "--network", "skifftest-sub", "busybox", "ip", "-o", "-4", "addr", "show", "eth0")
    assert "10.213.40.128/24" in r.stdout or "10.213.40.129/24" in r.stdout, r.stdout
    r = skiffd.cli("run", "-d", "--name", "skifftest-fixed", "--network", "skifftest-sub", "--ip", "10.213.40.7",
                   "busybox", "sleep", "30")
    assert r.returncode == 0, r.stderr
    assert skiffd.cli("inspect", "-f", "{{.NetworkSettings.Networks.skifftest-sub.IPAddress}}",
                      "skifftest-fixed").returncode in (0, 1)
    r = skiffd.cli("run", "--rm", "--network", "skifftest-sub", "--ip", "10.213.40.7", "busybox", "true")
    assert r.returncode == 125 and "in use" in r.stderr.lower()
    # internal: no default route out
    r = skiffd.cli("run", "--rm", "--network", "skifftest-sub", "busybox", "ip", "route")
    assert "default" not in r.stdout
    r = skiffd.docker("run", "--rm", "--ip", "172.30.0.9", "busybox", "true")
    assert r.returncode == 125 and "user defined networks" in r.stderr
    r = skiffd.cli("network", "rm", "skifftest-sub")
    assert r.returncode != 0  # skifftest-fixed holds it
    skiffd.cli("rm", "-f", "skifftest-fixed")
    names.clear()
    assert skiffd.cli("network", "rm", "skifftest-sub").returncode == 0
    nets.clear()
    assert "skifftestbr40" not in os.listdir("/sys/class/net")


def test_etc_files_as_docker(skiffd, busybox):
    r = skiffd.cli("run", "--rm", "--hostname", "skifftest-hn", "--add-host", "skifftest-extra:10.1.2.3",
                   "--dns", "10.9.9.9", "--dns-search", "example.test", "--dns-option", "ndots:2",
                   "busybox", "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf", timeout=30)
    hosts, _, resolv = r.stdout.partition("---\n")
    lines = hosts.strip().split("\n")
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.1.2.3\tskifftest-extra" in lines
    assert lines[-1].endswith("\tskifftest-hn") and lines[-1].split("\t")[0].count(".") == 3
    assert resolv == "nameserver 10.9.9.9\nsearch example.test\noptions ndots:2\n"


@pytest.mark.parametrize("case", ["014-port-publish-loopback-duplicate.sh", "016-container-dns-user-network.sh"])
@pytest.mark.parametrize("engine", ["skiff", "docker"])
@pytest.mark.slow
def test_shared_cases(skiffd, busybox, shared_dir, case, engine):
    path = Path(shared_dir) / "cases" / case
    if not path.exists():
        pytest.skip(f"{path} not found")
    r = subprocess.run(["sh", str(path)], capture_output=True, text=True, timeout=240,
                       env=dict(skiffd.env(), ENGINE=engine))
    assert r.stdout.strip().endswith("PASS"), r.stdout + r.stderr


def _default_bridge(exec_root: str) -> str:
    import hashlib
    return "skiff0-" + hashlib.sha256(os.path.abspath(exec_root).encode()).hexdigest()[:6]


def _veth(d, name: str, network_id: str) -> str:
    import hashlib
    cid = d.cli("inspect", "-f", "{{.Id}}", name).stdout.strip()
    return "veth" + hashlib.sha256((cid + network_id).encode()).hexdigest()[:7]


@pytest.mark.slow
def test_restart_keeps_connectivity_and_destroy_leaves_nothing(registry):
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-netrs-")), registry, name="netrs")
    ours: set[str] = set()
    d.start()
    try:
        web = f"{registry}/library/web"
        d.cli("pull", web, check=True)
        d.cli("pull", f"{registry}/library/busybox", check=True)
        d.cli("network", "create", "skifftest-rsnet", check=True)
        d.cli("run", "-d", "--name", "skifftest-rs", "--network", "skifftest-rsnet", "-p", "127.0.0.1:18483:80",
              web, check=True)
        d.cli("run", "-d", "--name", "skifftest-gone", "-p", "127.0.0.1:18484:80", web, check=True)
        assert "hello from web" in _wait_http("http://127.0.0.1:18483/", "hello from web")
        ours = {_default_bridge(d.exec_root)}
        for name in ("skifftest-rs", "skifftest-gone"):
            for net in json.loads(d.cli("inspect", name).stdout)[0]["NetworkSettings"]["Networks"].values():
                ours.add(_veth(d, name, net["NetworkID"]))
        ours.add(json.loads(d.cli("network", "inspect", "skifftest-rsnet").stdout)[0]["Options"][
            "com.docker.network.bridge.name"])
        assert ours <= set(os.listdir("/sys/class/net")), ours
        gone_pid = int(d.cli("inspect", "-f", "{{.State.Pid}}", "skifftest-gone").stdout)
        d.stop(signal.SIGKILL)
        os.kill(gone_pid, signal.SIGKILL)  # a container that ends while the daemon is down
        time.sleep(1)
        d.start()
        assert "hello from web" in _wait_http("http://127.0.0.1:18483/", "hello from web")
        with pytest.raises(OSError):
            _get("http://127.0.0.1:18484/", 2)
        r = d.cli("run", "--rm", "--network", "skifftest-rsnet", "busybox" if False else f"{registry}/library/busybox",
                  "wget", "-qO-", "http://skifftest-rs/", timeout=30)
        assert "hello from web" in r.stdout, r.stderr
        # the port of the gone container is free again
        s = socket.socket()
        s.bind(("127.0.0.1", 18484))
        s.close()
    finally:
        log = d.tail_log(200)
        d.destroy()
    for _ in range(40):  # a namespace's links go with it, asynchronously in the kernel
        left = set(os.listdir("/sys/class/net")) & ours
        if not left:
            break
        time.sleep(0.25)
    print(log)
    assert not left, left
    tables = json.loads(subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True).stdout)
    import hashlib
    h = hashlib.sha256(os.path.abspath(d.exec_root).encode()).hexdigest()[:6]
    assert not [t for t in tables["nftables"] if "table" in t and t["table"]["name"] == f"skiff-{h}"]


def test_ipv6_network(skiffd, busybox, cleanup):
    names, nets = cleanup
    nets.append("skifftest-v6net")
    names.append("skifftest-v6srv")
    r = skiffd.cli("network", "create", "--ipv6", "--subnet", "fd13:5ea:2::/64", "skifftest-v6net")
    assert r.returncode == 0, r.stderr
    cfg = json.loads(skiffd.cli("network", "inspect", "skifftest-v6net").stdout)[0]["IPAM"]["Config"]
    assert {"Subnet": "fd13:5ea:2::/64", "Gateway": "fd13:5ea:2::1"} in cfg and len(cfg) == 2
    assert skiffd.cli("run", "-d", "--name", "skifftest-v6srv", "--network", "skifftest-v6net", "busybox",
                      "sleep", "60").returncode == 0
    ep = json.loads(skiffd.cli("inspect", "skifftest-v6srv").stdout)[0]["NetworkSettings"]["Networks"]["skifftest-v6net"]
    assert ep["GlobalIPv6Address"] == "fd13:5ea:2::2" and ep["GlobalIPv6PrefixLen"] == 64
    assert ep["IPv6Gateway"] == "fd13:5ea:2::1"
    r = skiffd.cli("run", "--rm", "--network", "skifftest-v6net", "busybox", "sh", "-c",
                   "ping -c1 -W2 fd13:5ea:2::2 >/dev/null && echo OK6; ping -6 -c1 -W2 skifftest-v6srv | head -1",
                   timeout=30)
    assert "OK6" in r.stdout and "(fd13:5ea:2::2)" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("client", ["cli", "docker"])
def test_mac_address_and_ip_without_network(skiffd, busybox, client):
    run = skiffd.cli if client == "cli" else skiffd.docker
    r = run("run", "--rm", "--mac-address", "02:42:ac:11:00:99", "busybox", "cat", "/sys/class/net/eth0/address")
    assert r.stdout.strip() == "02:42:ac:11:00:99", r.stderr
    r = run("run", "--rm", "--ip", "10.9.9.9", "busybox", "true")
    assert r.returncode == 125 and "user defined networks only" in r.stderr, r.stderr


@pytest.mark.parametrize("client", ["cli", "docker"])
def test_udp_port_publishing(skiffd, busybox, client):
    """-p HOST:PORT/udp: a datagram from the host reaches a server in the
    container's network namespace through kernel DNAT and the answer comes
    back. The fixture busybox has neither `nc -u` nor udpsvd, so the server
    is the host's python run in the container's netns (nsenter --net)."""
    import socket as _s
    import subprocess as _sp
    import sys as _sys
    run = skiffd.cli if client == "cli" else skiffd.docker
    port = 18600 + (0 if client == "cli" else 1)
    cid = run("run", "-d", "-p", f"127.0.0.1:{port}:5353/udp", "busybox", "sleep", "60").stdout.strip()
    server = None
    try:
        assert run("port", cid).stdout.strip() == f"5353/udp -> 127.0.0.1:{port}"
        pid = skiffd.cli("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                "s.bind(('0.0.0.0', 5353)); print('ready', flush=True)\n"
                "while True:\n d, a = s.recvfrom(100); s.sendto(b'got:' + d, a)")
        server = _sp.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", _sys.executable, "-c", code],
                           stdout=_sp.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        s = _s.socket(_s.AF_INET, _s.SOCK_DGRAM)
        s.settimeout(1)
        reply = b""
        for _ in range(10):
            s.sendto(b"ping", ("127.0.0.1", port))
            try:
                reply = s.recv(100)
                break
            except _s.timeout:
                continue
        s.close()
        assert reply == b"got:ping", reply
    finally:
        if server is not None:
            server.kill()
            server.wait()
        skiffd.cli("rm", "-f", cid)


def test_stored_default_subnet_taken_by_another_is_replaced(registry, tmp_path):
    """A daemon whose stored default-bridge subnet is now routed by someone
    else (another daemon, Docker) picks a free one at start, instead of
    bringing up a second bridge on the same subnet."""
    import json as _json
    from skiffd_harness import Skiffd

    def subnet(d):
        r = d.cli("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
        return r.stdout.strip()

    b = Skiffd(tmp_path / "b", registry, name="subb")
    a = Skiffd(tmp_path / "a", registry, name="suba")
    try:
        b.start()
        taken = subnet(b)
        assert taken
        b.stop()
        cfg = _json.load(open(a.config))
        import ipaddress
        net = ipaddress.ip_network(taken)
        cfg["bip"] = f"{next(net.hosts())}/{net.prefixlen}"
        _json.dump(cfg, open(a.config, "w"))
        a.start()
        assert subnet(a) == taken
        b.start()
        assert subnet(b) != taken and subnet(b), subnet(b)
        r = b.cli("run", "--rm", f"{registry}/library/busybox", "true")
        assert r.returncode == 0, r.stderr
    finally:
        a.destroy()
        b.destroy()
