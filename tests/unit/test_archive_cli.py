"""Pure helpers of the cp/stats/top/events/prune commands and services."""
from __future__ import annotations

import time

import pytest

from skiff.cli.commands.cp import split_cp_arg
from skiff.cli.commands.events import fixed_time, pretty
from skiff.cli.commands.stats import calculate, row
from skiff.errors import InvalidArgument, SkiffError
from skiff.services.container_stats import match_labels, parse_ps_output, parse_until, validate_ps_args


def test_split_cp_arg():
    assert split_cp_arg("c1:/etc/passwd") == ("c1", "/etc/passwd")
    assert split_cp_arg("c1:") == ("c1", "")
    assert split_cp_arg("/tmp/a:b") == ("", "/tmp/a:b")
    assert split_cp_arg("./a:b") == ("", "./a:b")
    assert split_cp_arg("plain") == ("", "plain")
    assert split_cp_arg("-") == ("", "-")


def test_stats_calculate_and_row():
    s = {"id": "a" * 64, "name": "/web", "read": "2024-01-01T00:00:01Z",
         "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000, "percpu_usage": [1, 2]},
                       "system_cpu_usage": 20_000_000_000, "online_cpus": 2},
         "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}, "system_cpu_usage": 16_000_000_000},
         "memory_stats": {"usage": 10 * 1024 * 1024, "limit": 100 * 1024 * 1024,
                          "stats": {"total_inactive_file": 2 * 1024 * 1024}},
         "blkio_stats": {"io_service_bytes_recursive": [
             {"major": 8, "minor": 0, "op": "Read", "value": 4096},
             {"major": 8, "minor": 0, "op": "Write", "value": 1000}]},
         "pids_stats": {"current": 3}, "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 10}}}
    v = calculate(s)
    assert v["cpu"] == pytest.approx(50.0)  # 1e9 / 4e9 * 2 CPUs
    assert v["mem"] == 8 * 1024 * 1024 and v["mem_pct"] == pytest.approx(8.0)
    r = row(s, "web", False)
    assert r == {"ID": "a" * 12, "Container": "web", "Name": "web", "CPUPerc": "50.00%",
                 "MemUsage": "8MiB / 100MiB", "MemPerc": "8.00%", "NetIO": "1.5kB / 10B",
                 "BlockIO": "4.1kB / 1kB", "PIDs": "3"}
    stopped = dict(s, read="0001-01-01T00:00:00Z")
    assert row(stopped, "web", True)["CPUPerc"] == "--"


def test_parse_ps_output():
    out = ("UID   PID  PPID  C STIME TTY          TIME CMD\n"
           "root    1     0  0 10:00 ?        00:00:01 /sbin/init splash\n"
           "root   42     1  0 10:00 ?        00:00:00 sleep 300\n")
    t = parse_ps_output(out, [42])
    assert t["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert t["Processes"] == [["root", "42", "1", "0", "10:00", "?", "00:00:00", "sleep 300"]]
    with pytest.raises(SkiffError, match="Couldn't find PID field"):
        parse_ps_output("USER COMMAND\n", [1])


def test_validate_ps_args():
    validate_ps_args("-o pid=PID,comm")
    with pytest.raises(InvalidArgument, match='specifying "user=PID" is not allowed'):
        validate_ps_args("-o user=PID")


def test_parse_until_and_labels():
    assert parse_until("1700000000") == 1700000000.0
    assert abs(parse_until("1h30m") - (time.time() - 5400)) < 5
    assert parse_until("2024-01-01T00:00:00Z") == 1704067200.0
    with pytest.raises(InvalidArgument):
        parse_until("yesterday")
    labels = {"a": "1", "b": "2"}
    assert match_labels(labels, ["a", "b=2"], [])
    assert not match_labels(labels, ["a=2"], [])
    assert not match_labels(labels, [], ["b"])
    assert match_labels(labels, [], ["b=3", "c"])


def test_events_pretty(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        ev = {"Type": "container", "Action": "die", "timeNano": 1_700_000_000_000_000_123,
              "Actor": {"ID": "abc", "Attributes": {"name": "x", "exitCode": "0", "image": "busybox"}}}
        assert pretty(ev) == ("2023-11-14T22:13:20.000000123Z container die abc "
                              "(exitCode=0, image=busybox, name=x)\n")
        assert fixed_time(0) == "1970-01-01T00:00:00.000000000Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
