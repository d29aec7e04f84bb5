"""Port binding parsing and the inspect/ps shapes of published ports (no root)."""
import pytest

from skiff.errors import InvalidArgument
from skiff.network.api import summary_ports
from skiff.network.portmap import Binding, parse_key, ports_view, wanted


def test_parse_key():
    assert parse_key("80") == (80, 80, "tcp")
    assert parse_key("53/udp") == (53, 53, "udp")
    assert parse_key("8000-8010/sctp") == (8000, 8010, "sctp")
    for bad in ("x/tcp", "80/icmp", "0", "90-80"):
        with pytest.raises(InvalidArgument):
            parse_key(bad)


def test_wanted_forms():
    pb = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
          "81/tcp": [{"HostIp": "", "HostPort": ""}],
          "82/udp": [{"HostPort": "9000-9010"}]}
    assert wanted(pb) == [("tcp", "127.0.0.1", 8080, 8080, 80), ("tcp", "", 0, 0, 81),
                          ("udp", "", 9000, 9010, 82)]
    # a range onto a range maps port by port
    assert wanted({"80-82/tcp": [{"HostPort": "8000-8002"}]}) == [
        ("tcp", "", 8000, 8000, 80), ("tcp", "", 8001, 8001, 81), ("tcp", "", 8002, 8002, 82)]
    # -P: every exposed port not bound gets a random host port
    assert wanted({"80/tcp": [{"HostPort": "1"}]}, {"80/tcp": {}, "443/tcp": {}}, True) == [
        ("tcp", "", 1, 1, 80), ("tcp", "", 0, 0, 443)]
    assert wanted(None, {"80/tcp": {}}, False) == []


def test_ports_view_and_summary():
    b = [Binding("tcp", "", 8080, 80), Binding("tcp", "127.0.0.1", 8081, 80)]
    v = ports_view({"80/tcp": {}, "53/udp": {}}, b)
    assert v == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                            {"HostIp": "127.0.0.1", "HostPort": "8081"}], "53/udp": None}
    s = summary_ports({"Ports": v})
    assert {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"} in s
    assert {"PrivatePort": 53, "Type": "udp"} in s
