"""Pure parts of skiff-runtime's issue 3 features: process attribute
validation (procattr.check), hooks (validate, run_one with a real /bin/sh
hook), idmapped mounts refused, and the command line's helpers (runc's --log
line format, sizes, update flags -> resources, events --stats shape)."""
from __future__ import annotations

import argparse
import json

import pytest

from skiff.errors import InvalidArgument, SkiffError
from skiff.runtime import cli
from skiff.runtime.linux import hooks, procattr, rootfs


@pytest.mark.parametrize("spec,match", [
    ({"linux": {"intelRdt": {"closID": "x"}}}, "intelRdt"),
    ({"process": {"ioPriority": {"class": "IOPRIO_CLASS_FAST"}}}, "io priority class"),
    ({"process": {"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 9}}}, "0-7"),
    ({"process": {"scheduler": {"policy": "SCHED_FIFO"}}}, "1-99"),
    ({"process": {"scheduler": {"policy": "SCHED_OTHER", "nice": 40}}}, "nice"),
    ({"process": {"scheduler": {"policy": "SCHED_NOPE"}}}, "policy"),
    ({"linux": {"personality": {"domain": "SVR4"}}}, "LINUX and LINUX32"),
    ({"linux": {"memoryPolicy": {"mode": "MPOL_BIND"}}}, "nodes"),
    ({"linux": {"memoryPolicy": {"mode": "MPOL_LOCAL", "nodes": "0"}}}, "no nodes"),
    ({"linux": {"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "3-1"}}}, "nodes"),
])
def test_procattr_check_refuses(spec, match):
    with pytest.raises(InvalidArgument, match=match):
        procattr.check(spec)


def test_procattr_check_accepts():
    procattr.check({"process": {"ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 0},
                                "scheduler": {"policy": "SCHED_RR", "priority": 10}},
                    "linux": {"personality": {"domain": "LINUX32"},
                              "memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "0-1,3",
                                               "flags": ["MPOL_F_STATIC_NODES"]}}})
    assert procattr.parse_nodes("0-2,5") == [0, 1, 2, 5]


def test_lsm_refused_without_lsm():
    if procattr.apparmor_enabled():
        pytest.skip("AppArmor is enabled here")
    with pytest.raises(InvalidArgument, match="apparmor is not enabled"):
        procattr.check({"process": {"apparmorProfile": "docker-default"}})


def test_idmapped_mounts_need_the_prepared_tree():
    # idmap/ridmap are mount extensions (the intermediate prepares the tree)
    assert rootfs.parse_options(["rbind", "idmap"]) == (rootfs.sc.MS_BIND | rootfs.sc.MS_REC,
                                                         [], "")
    with pytest.raises(InvalidArgument, match="id-mapped mount was not prepared"):
        rootfs.mount_entry("/nonexistent-root", "/b", {
            "destination": "/x", "type": "bind", "source": "/y",
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]})


def test_hooks_validate():
    hooks.validate({"prestart": [{"path": "/bin/true"}], "unknownKind": [{"path": "rel"}]})
    with pytest.raises(InvalidArgument, match="absolute"):
        hooks.validate({"poststop": [{"path": "true"}]})
    with pytest.raises(InvalidArgument, match="timeout"):
        hooks.validate({"poststop": [{"path": "/bin/true", "timeout": 0}]})


def test_hook_gets_state_args_env(tmp_path):
    out = tmp_path / "out"
    hooks.run_one({"path": "/bin/sh", "args": ["sh", "-c", f'cat > {out}; echo >> {out}; echo "$0 $X" >> {out}',
                                                "name0"],
                   "env": ["X=42"]}, {"id": "c1", "status": "creating"})
    lines = out.read_text().splitlines()
    assert json.loads(lines[0]) == {"id": "c1", "status": "creating"}
    assert lines[1] == "name0 42"


def test_hook_failure_and_timeout():
    with pytest.raises(SkiffError, match="exit status 4, stdout: oops"):
        hooks.run_one({"path": "/bin/sh", "args": ["sh", "-c", "echo oops; exit 4"]}, {})
    with pytest.raises(SkiffError, match="timeout"):
        hooks.run_one({"path": "/bin/sh", "args": ["sh", "-c", "sleep 5"], "timeout": 1}, {})
    # non-fatal kinds only log
    hooks.run({"poststop": [{"path": "/bin/false"}]}, "poststop", {}, fatal=False)


def test_log_line_is_runcs():
    line = json.loads(cli.log_line("error", "boom", "json", t=0.5))
    assert line == {"level": "error", "msg": "boom", "time": "1970-01-01T00:00:00.500000000Z"}
    assert cli.log_line("warning", "w", "text", t=0).startswith('time="1970-01-01T00:00:00')


def test_sizes_and_update_flags(tmp_path):
    assert cli._size("512m") == 512 << 20 and cli._size("1g") == 1 << 30
    assert cli._size("100") == 100 and cli._size("-1") == -1 and cli._size("2kb") == 2048
    with pytest.raises(InvalidArgument):
        cli._size("many")
    args = cli._parser().parse_args(["update", "--memory", "64m", "--cpu-quota", "1000",
                                     "--cpuset-cpus", "0", "--pids-limit", "7", "c1"])
    assert cli._update_resources(args) == {"memory": {"limit": 64 << 20},
                                           "cpu": {"quota": 1000, "cpus": "0"},
                                           "pids": {"limit": 7}}
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"memory": {"limit": 1}, "blockIO": {"weight": 100}}))
    # runc: with -r the flags are ignored
    args = cli._parser().parse_args(["update", "-r", str(f), "--memory", "2", "c1"])
    assert cli._update_resources(args) == {"memory": {"limit": 1}, "blockIO": {"weight": 100}}
    f.write_text("[1]")
    with pytest.raises(InvalidArgument, match="not a JSON object"):
        cli._update_resources(cli._parser().parse_args(["update", "-r", str(f), "c1"]))


def test_stats_event_shape():
    ev = cli.stats_event("c1", {"memory": {"usage": 10, "limit": 20, "max_usage": 15,
                                           "failcnt": 0, "stat": {"cache": 3}},
                                "pids": {"current": 2, "limit": None},
                                "cpu": {"usage_ns": 99, "percpu_ns": [50, 49]}})
    assert ev["type"] == "stats" and ev["id"] == "c1"
    assert ev["data"]["memory"]["usage"] == {"limit": 20, "usage": 10, "max": 15, "failcnt": 0}
    assert ev["data"]["cpu"]["usage"]["percpu"] == [50, 49]
    assert ev["data"]["pids"] == {"current": 2, "limit": 0}


def test_v2_fake_root_burst_idle_hugetlb_and_refusals(tmp_path):
    # the v2 code path against a FAKE cgroup root (this host's cgroup2 has no
    # controllers): files written as the kernel would be asked to
    from skiff.runtime.cgroups.v2 import V2Manager
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids hugetlb\n")
    (root / "cgroup.subtree_control").write_text("")
    m = V2Manager("/skifftest/c1", root=str(root))
    m.create()
    m.set({"cpu": {"burst": 1000, "idle": 1},
           "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}],
           "devices": [{"allow": False, "access": "rwm"}]})  # not a cgroupfs: skipped
    d = root / "skifftest" / "c1"
    assert (d / "cpu.max.burst").read_text() == "1000"
    assert (d / "cpu.idle").read_text() == "1"
    assert (d / "hugetlb.2MB.max").read_text() == str(4 << 21)
    with pytest.raises(InvalidArgument, match="realtime"):
        m.set({"cpu": {"realtimeRuntime": 1000}})
    with pytest.raises(InvalidArgument, match="net_cls"):
        m.set({"network": {"classID": 5}})


def test_v1_refuses_unified():
    from skiff.runtime.cgroups.v1 import V1Manager
    m = V1Manager("/skifftest/none", root="/nonexistent-cgroot")
    with pytest.raises(InvalidArgument, match="cgroup v2"):
        m.set({"unified": {"memory.high": "1"}})


def test_command_line_parser_is_runcs():
    a = cli.parse_args(["--root", "/r", "--log=/l", "--log-format", "json", "exec", "-t",
                        "--env", "A=1", "-e", "B=2", "--cap", "CAP_KILL", "c1", "sh", "-c",
                        "echo --not-ours"])
    assert (a.cmd, a.root, a.log, a.log_format, a.tty, a.id) == ("exec", "/r", "/l", "json",
                                                                 True, "c1")
    assert a.env == ["A=1", "B=2"] and a.cap == ["CAP_KILL"]
    assert a.args == ["sh", "-c", "echo --not-ours"]
    k = cli.parse_args(["kill", "--all", "c1"])
    assert (k.all, k.id, k.signal) == (True, "c1", "TERM")
    assert cli.parse_args(["kill", "c1", "9"]).signal == "9"
    d = cli.parse_args(["delete", "c1", "--force"])  # flags after the id are accepted
    assert d.force is True
    c = cli.parse_args(["create", "-b", "/b", "--pid-file", "/p", "--preserve-fds", "2", "c1"])
    assert (c.bundle, c.pid_file, c.preserve_fds, c.console_socket) == ("/b", "/p", 2, "")
    assert cli.parse_args(["--systemd-cgroup", "list"]).systemd_cgroup is True
    for bad in (["--nope", "list"], ["kill"], ["frob"], ["list", "--format", "yaml"],
                ["create", "--preserve-fds", "x", "c1"], ["state", "a", "b"]):
        with pytest.raises(cli.UsageError):
            cli.parse_args(bad)
    assert cli.main(["--nope"]) == 2


def test_command_flags_win_over_global_ones_of_the_same_name():
    # runc: `spec --rootless` is the spec command's switch, not the global
    # --rootless VALUE option
    a = cli._parser().parse_args(["spec", "--rootless", "--bundle", "d"])
    assert a.rootless is True and a.bundle == "d"
    a = cli._parser().parse_args(["spec", "-b", "d"])
    assert a.rootless is False
    a = cli._parser().parse_args(["--rootless", "true", "state", "x"])
    assert a.rootless == "true" and a.id == "x"


def test_default_root_is_not_skiffds():
    a = cli._parser().parse_args(["list"])
    assert a.root == "/run/skiff-runtime"
