import ipaddress

import pytest

from skiff.errors import Conflict, InvalidArgument, Unavailable
from skiff.metadata.db import Database
from skiff.network.ipam import IPAM, mac_for, pick_subnet


@pytest.fixture
def ipam(tmp_path):
    return IPAM(Database(str(tmp_path / "m.db")))


def test_pick_subnet_skips_routed_and_docker0():
    s = pick_subnet(["172.17.0.0/16", "192.0.2.0/24", "127.0.0.0/8"])
    assert s == ipaddress.ip_network("172.18.0.0/16")
    assert pick_subnet(["172.16.0.0/12"]) == ipaddress.ip_network("192.168.0.0/20")
    assert pick_subnet([], [{"base": "10.10.0.0/16", "size": 24}]) == ipaddress.ip_network("10.10.0.0/24")
    with pytest.raises(Unavailable):
        pick_subnet(["10.10.0.0/16"], [{"base": "10.10.0.0/16", "size": 24}])


def test_pick_subnet_skips_overlap_with_smaller_route():
    s = pick_subnet(["172.18.5.0/24"], [{"base": "172.18.0.0/15", "size": 16}])
    assert s == ipaddress.ip_network("172.19.0.0/16")


def test_mac_from_ip():
    assert mac_for("172.17.0.2") == "02:42:ac:11:00:02"


def test_allocate_lowest_free_never_twice(ipam):
    ipam.reserve("n1", "10.1.0.1", "gateway")
    a = ipam.allocate("n1", "10.1.0.0/29", "c1")
    b = ipam.allocate("n1", "10.1.0.0/29", "c2")
    assert (a, b) == ("10.1.0.2", "10.1.0.3")
    ipam.release_owner("c1")
    assert ipam.allocate("n1", "10.1.0.0/29", "c3") == "10.1.0.2"
    for i in range(3):
        ipam.allocate("n1", "10.1.0.0/29", f"x{i}")
    with pytest.raises(Unavailable):  # .7 is broadcast, .0 the network
        ipam.allocate("n1", "10.1.0.0/29", "full")
    assert sorted(ipam.allocated("n1")) == [f"10.1.0.{i}" for i in range(1, 7)]


def test_allocate_specific_and_range(ipam):
    assert ipam.allocate("n", "10.2.0.0/16", "c1", want="10.2.3.4") == "10.2.3.4"
    with pytest.raises(Conflict):
        ipam.allocate("n", "10.2.0.0/16", "c2", want="10.2.3.4")
    with pytest.raises(InvalidArgument):
        ipam.allocate("n", "10.2.0.0/16", "c2", want="10.3.0.1")
    assert ipam.allocate("n", "10.2.0.0/16", "c3", ip_range="10.2.8.0/24") == "10.2.8.1"


def test_allocations_persist(tmp_path):
    db = str(tmp_path / "m.db")
    IPAM(Database(db)).allocate("n", "10.5.0.0/24", "c1")
    again = IPAM(Database(db))
    assert again.allocated("n") == {"10.5.0.1": "c1"}
    assert again.allocate("n", "10.5.0.0/24", "c2") == "10.5.0.2"
    again.drop_network("n")
    assert again.allocated("n") == {}


def test_allocate_rejects_malformed_address(ipam):
    with pytest.raises(InvalidArgument, match="invalid IP address"):
        ipam.allocate("n", "10.2.0.0/16", "c1", want="10.2.0.0.77")
