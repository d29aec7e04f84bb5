"""Beside Debian's dockerd (issue 4): with Docker's FORWARD chain at policy
DROP, skiff containers still reach each other, the outside through NAT
(a namespace standing for it, routed from the host), and published ports,
because skiff keeps accept rules for its bridges in Docker's DOCKER-USER
chain. The dockerd here is a private one (own roots and socket), stopped
by its pid at the end; the Docker tables it made are removed if they were
not there before."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from skiffd_harness import Skiffd
from skiff.network import firewall, netlink, netns

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUT_NS_ADDR, OUT_HOST_ADDR = "10.213.97.2", "10.213.97.1"


def _tables() -> set[tuple[str, str]]:
    return {(t["family"], t["name"]) for t in firewall.tables()}


def _forward_policy() -> str | None:
    try:
        out = firewall.nft(args=["list", "chain", "ip", "filter", "FORWARD"])
    except Exception:
        return None
    for i in out["nftables"]:
        if "chain" in i:
            return i["chain"].get("policy")
    return None


def _set_forward_policy(policy: str) -> None:
    firewall.nft([{"add": {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "type": "filter",
                                     "hook": "forward", "prio": 0, "policy": policy}}}])


@pytest.fixture
def dockerd():
    if not shutil.which("dockerd") or not shutil.which("containerd"):
        pytest.skip("dockerd not installed")
    if os.path.exists("/sys/class/net/docker0"):
        pytest.skip("another dockerd owns docker0")
    before = _tables()
    base = Path(tempfile.mkdtemp(prefix="skifftest-dockerd-"))
    run = Path(f"/run/skifftest-dockerd-{os.getpid()}")
    run.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(base / "data"), "--exec-root", str(run / "exec"),
         "-H", f"unix://{run}/docker.sock", "--pidfile", str(run / "docker.pid"),
         "--bip", "10.213.96.1/24", "--containerd-namespace", "skifftest",
         "--containerd-plugins-namespace", "skifftest-plugins", "--log-level", "warn"],
        stdout=open(base / "log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    policy = None
    try:
        for _ in range(60):
            if _forward_policy() is not None and firewall.Firewall("x").docker_user_rules() is not None:
                break
            time.sleep(0.5)
        else:
            pytest.skip("dockerd did not set up its chains: " + (base / "log").read_text()[-500:])
        policy = _forward_policy()
        if policy != "drop":  # dockerd sets DROP only when it enabled ip_forward itself
            _set_forward_policy("drop")
        yield proc
    finally:
        if policy is not None and policy != "drop":
            _set_forward_policy(policy)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for fam, name in _tables() - before:
            if name in ("filter", "nat") and fam in ("ip", "ip6"):
                firewall.delete_table(fam, name)
        subprocess.run(["umount", "-R", str(base / "data")], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
        netlink.delete_link("docker0")


@pytest.fixture
def outside():
    """A namespace standing for the outside world, routed from the host."""
    d = f"/run/skifftest-outside-{os.getpid()}"
    p = netns.create(os.path.join(d, "out"))

    def host():
        from pyroute2 import IPRoute  # test-only: the library keeps pyroute2 in skiff.network.netlink
        with IPRoute() as ipr:
            ipr.link("add", ifname="skifftestout1", kind="veth", peer="skifftestoutp")
            i = ipr.link_lookup(ifname="skifftestout1")[0]
            ipr.addr("add", index=i, address=OUT_HOST_ADDR, prefixlen=30)
            ipr.link("set", index=i, state="up")
            fd = os.open(p, os.O_RDONLY)
            try:
                ipr.link("set", index=ipr.link_lookup(ifname="skifftestoutp")[0], net_ns_fd=fd)
            finally:
                os.close(fd)

    def inside():
        from pyroute2 import IPRoute
        with IPRoute() as ipr:
            i = ipr.link_lookup(ifname="skifftestoutp")[0]
            ipr.addr("add", index=i, address=OUT_NS_ADDR, prefixlen=30)
            ipr.link("set", index=i, state="up")
    try:
        netns.run_in_thread(host)
        netns.run_in(p, inside)
        netlink.setup_lo(p)
        yield p
    finally:
        netlink.delete_link("skifftestout1")
        netns.delete(p)
        shutil.rmtree(d, ignore_errors=True)


def test_beside_docker_forward_drop(registry, dockerd, outside):
    d = Skiffd(Path(tempfile.mkdtemp(prefix="skifftest-besidedocker-")), registry, name="bd")
    d.start()
    try:
        bb, web = f"{registry}/library/busybox", f"{registry}/library/web"
        d.cli("pull", bb, check=True)
        d.cli("pull", web, check=True)
        assert _forward_policy() == "drop"
        d.cli("network", "create", "skifftest-bdnet", check=True)
        d.cli("run", "-d", "--name", "skifftest-bdsrv", "--network", "skifftest-bdnet", "-p", "18485:80", web,
              check=True)
        # our bridges are let through Docker's chain (the watcher adds them within seconds)
        for _ in range(40):
            rules = firewall.Firewall("x").docker_user_rules() or []
            have = json.dumps(firewall.nft(args=["list", "chain", "ip", "filter", "DOCKER-USER"]))
            br = json.loads(d.cli("network", "inspect", "skifftest-bdnet").stdout)[0]["Options"][
                "com.docker.network.bridge.name"]
            if f'"{br}"' in have:
                break
            time.sleep(0.25)
        else:
            pytest.fail("no DOCKER-USER rule for " + br)
        # container to container on one bridge (bridged traffic meets FORWARD through br_netfilter)
        r = d.cli("run", "--rm", "--network", "skifftest-bdnet", bb, "wget", "-qO-", "http://skifftest-bdsrv/",
                  timeout=60)
        assert "hello from web" in r.stdout, r.stderr
        # the outside through NAT
        r = d.cli("run", "--rm", bb, "ping", "-c1", "-W3", OUT_NS_ADDR, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        # a published port, from the host and from a container through the host's address
        from test_network import _get, _host_ip, _wait_http
        assert "hello from web" in _wait_http("http://127.0.0.1:18485/", "hello from web")
        r = d.cli("run", "--rm", bb, "wget", "-qO-", f"http://{_host_ip()}:18485/", timeout=60)
        assert "hello from web" in r.stdout, r.stderr
    finally:
        d.destroy()
