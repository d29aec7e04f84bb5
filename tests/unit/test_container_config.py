"""Docker's container config merge and resource validation (daemon side)."""
import pytest

from skiff.errors import InvalidArgument
from skiff.services.containers import (human_duration, merge_config, signal_number,
                                       validate_host_config, parse_rfc3339)

IMG = {"Env": ["PATH=/bin", "GREETING=hello"], "Cmd": ["cat", "/app/hello.txt"],
       "WorkingDir": "/app", "User": "app", "Labels": {"a": "1"}, "ExposedPorts": {"8080/tcp": {}}}


def test_image_defaults_apply():
    c = merge_config({"Image": "x"}, IMG)
    assert c["Cmd"] == ["cat", "/app/hello.txt"]
    assert c["Entrypoint"] is None
    assert c["WorkingDir"] == "/app" and c["User"] == "app"
    assert c["Env"] == ["PATH=/bin", "GREETING=hello"]
    assert c["ExposedPorts"] == {"8080/tcp": {}}


def test_request_wins():
    c = merge_config({"Image": "x", "Cmd": ["sh"], "Env": ["GREETING=hi", "X=1"], "WorkingDir": "/tmp",
                      "User": "0", "Labels": {"b": "2"}}, IMG)
    assert c["Cmd"] == ["sh"]
    assert c["Env"] == ["PATH=/bin", "GREETING=hi", "X=1"]
    assert (c["WorkingDir"], c["User"]) == ("/tmp", "0")
    assert c["Labels"] == {"a": "1", "b": "2"}


def test_entrypoint_resets_image_cmd():
    c = merge_config({"Image": "x", "Entrypoint": ["echo"]}, dict(IMG, Entrypoint=["/init"]))
    assert c["Entrypoint"] == ["echo"] and not c["Cmd"]
    c = merge_config({"Image": "x", "Entrypoint": [""]}, dict(IMG, Entrypoint=["/init"]))
    assert c["Entrypoint"] is None and not c["Cmd"]
    c = merge_config({"Image": "x", "Cmd": ["ls"]}, dict(IMG, Entrypoint=["/init"]))
    assert c["Entrypoint"] == ["/init"] and c["Cmd"] == ["ls"]


@pytest.mark.parametrize("hc,msg", [
    ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
    ({"MemorySwap": 100 << 20}, "always set the Memory limit"),
    ({"Memory": 100 << 20, "MemorySwap": 50 << 20}, "larger than memory limit"),
    ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy"),
    ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}}, "AutoRemove"),
    ({"CpuPeriod": 10}, "CPU cfs period"),
])
def test_validation(hc, msg):
    with pytest.raises(InvalidArgument, match=msg):
        validate_host_config(hc)


def test_valid_limits():
    assert validate_host_config({"Memory": 64 << 20, "MemorySwap": -1}) == []
    assert validate_host_config({"Memory": 64 << 20, "MemorySwap": 128 << 20}) == []


@pytest.mark.parametrize("s,n", [("SIGTERM", 15), ("term", 15), ("9", 9), ("KILL", 9), (None, 9),
                                 ("SIGRTMIN+1", 35)])
def test_signals(s, n):
    assert signal_number(s) == n


def test_bad_signal():
    with pytest.raises(InvalidArgument):
        signal_number("SIGNOPE")


@pytest.mark.parametrize("secs,text", [(0.5, "Less than a second"), (1, "1 second"), (3, "3 seconds"),
                                       (61, "About a minute"), (300, "5 minutes"),
                                       (3600, "About an hour"), (7200, "2 hours"),
                                       (3 * 86400, "3 days"), (3 * 365 * 86400, "3 years")])
def test_human_duration(secs, text):
    assert human_duration(secs) == text


def test_rfc3339():
    assert parse_rfc3339("1970-01-01T00:00:10.500000000Z") == pytest.approx(10.5)
    assert parse_rfc3339("0001-01-01T00:00:00Z") == 0.0
