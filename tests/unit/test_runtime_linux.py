"""Unit tests (no root) of the runtime's pure parts: securejoin, mount
options, executable resolution with runc's wording, rlimit clamping,
capability masks, namespaces, the sync protocol, the default spec and
the CLI's signal parsing."""
from __future__ import annotations

import os
import stat

import pytest

from skiff import errors
from skiff.runtime.linux import capabilities, init, namespaces, rootfs
from skiff.runtime.linux import syscalls as sc
from skiff.runtime.linux.defaults import default_spec
from skiff.runtime.spec import DEFAULT_CAPABILITIES


# ----------------------------------------------------------------- securejoin

def test_secure_join_plain_and_dotdot(tmp_path):
    root = str(tmp_path)
    assert rootfs.secure_join(root, "/a/b") == f"{root}/a/b"
    assert rootfs.secure_join(root, "../../etc/passwd") == f"{root}/etc/passwd"
    assert rootfs.secure_join(root, "/a/../../../b") == f"{root}/b"
    assert rootfs.secure_join(root, "/") == root


def test_secure_join_symlinks_stay_inside(tmp_path):
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    os.symlink("/etc", root / "abs")                  # absolute: re-rooted
    os.symlink("../../../../tmp", root / "rel")       # relative escape: clamped
    os.symlink("real", root / "ok")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert rootfs.secure_join(r, "/abs/passwd") == f"{r}/etc/passwd"
    assert rootfs.secure_join(r, "/rel/x") == f"{r}/tmp/x"
    assert rootfs.secure_join(r, "/ok/x") == f"{r}/real/x"
    with pytest.raises(errors.UnsafePath):
        rootfs.secure_join(r, "/loop1/x")


def test_parse_options():
    flags, prop, data = rootfs.parse_options(
        ["nosuid", "noexec", "nodev", "ro", "mode=755", "size=65536k", "rprivate"])
    assert flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV | sc.MS_RDONLY
    assert prop == [sc.MS_PRIVATE | sc.MS_REC]
    assert data == "mode=755,size=65536k"
    flags, _, _ = rootfs.parse_options(["rbind", "ro", "rw"])
    assert flags == sc.MS_BIND | sc.MS_REC


# ------------------------------------------------------- executable resolution

@pytest.fixture
def bin_dir(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    noexec = d / "data"
    noexec.write_text("x")
    noexec.chmod(0o644)
    (d / "subdir").mkdir()
    return d


def test_find_executable_in_path(bin_dir, tmp_path):
    assert init.find_executable("tool", f"/nonexistent:{bin_dir}") == f"{bin_dir}/tool"
    # directories and non-executable files in $PATH are skipped, as Go's LookPath
    with pytest.raises(errors.ExecError) as ei:
        init.find_executable("data", str(bin_dir))
    assert str(ei.value) == 'exec: "data": executable file not found in $PATH'
    assert ei.value.exit_code == 127
    with pytest.raises(errors.ExecError) as ei:
        init.find_executable("tool", None)
    assert ei.value.exit_code == 127


def test_find_executable_paths(bin_dir):
    assert init.find_executable(f"{bin_dir}/tool", "") == f"{bin_dir}/tool"
    cases = {
        f"{bin_dir}/nosuch": (127, f'exec: "{bin_dir}/nosuch": stat {bin_dir}/nosuch: '
                                   "no such file or directory"),
        f"{bin_dir}/subdir": (126, f'exec: "{bin_dir}/subdir": is a directory'),
    }
    for arg, (code, msg) in cases.items():
        with pytest.raises(errors.ExecError) as ei:
            init.find_executable(arg, "/bin")
        assert (ei.value.exit_code, str(ei.value)) == (code, msg)
    with pytest.raises(errors.ExecError) as ei:
        init.find_executable(f"{bin_dir}/data", "/bin")
    assert ei.value.exit_code == 126 and str(ei.value).endswith("permission denied")


# ---------------------------------------------------------------- rlimits

def test_clamp_rlimit():
    inf = 2**64 - 1
    assert init.clamp_rlimit(1024, 1024, 20000) == (1024, 1024)
    assert init.clamp_rlimit(1 << 30, 1 << 30, 20000) == (20000, 20000)
    assert init.clamp_rlimit(100, 1 << 30, 20000) == (100, 20000)
    assert init.clamp_rlimit(inf, inf, -1) == (-1, -1)
    assert init.clamp_rlimit(inf, inf, 20000) == (20000, 20000)
    assert init.clamp_rlimit(5, inf, 20000) == (5, 20000)


# ---------------------------------------------------------------- capabilities

def test_capability_names_and_masks():
    assert capabilities.cap_number("CAP_NET_RAW") == 13
    assert capabilities.cap_number("net_raw") == 13
    assert capabilities.cap_number("CAP_NOPE") is None
    allowed = (1 << 41) - 1 & ~(1 << 24)   # this VM: no CAP_SYS_RESOURCE
    m = capabilities.to_mask(list(DEFAULT_CAPABILITIES) + ["CAP_SYS_RESOURCE", "CAP_NOPE"],
                             allowed)
    assert m == 0xA80425FB


# ---------------------------------------------------------------- namespaces

def test_namespaces_parse():
    flags, joins = namespaces.parse([
        {"type": "pid"}, {"type": "network", "path": "/run/skiff/netns/x"},
        {"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}])
    assert flags == sc.CLONE_NEWPID | sc.CLONE_NEWNS
    assert joins == [("user", "/proc/1/ns/user"), ("network", "/run/skiff/netns/x")]
    with pytest.raises(errors.InvalidArgument):
        namespaces.parse([{"type": "bogus"}])
    with pytest.raises(errors.InvalidArgument):
        namespaces.parse([{"type": "pid"}, {"type": "pid"}])


def test_id_map_text():
    assert namespaces.id_map_text([{"containerID": 0, "hostID": 100000, "size": 65536}]) == \
        "0 100000 65536\n"


# ---------------------------------------------------------------- sync protocol

def test_sync_messages_roundtrip():
    r, w = os.pipe()
    try:
        init.send(w, {"type": "pid", "pid": 42})
        init.send(w, init.error_message(errors.ExecError('exec: "x": permission denied',
                                                         exit_code=126), "resolve executable"))
        init.send(w, init.error_message(FileNotFoundError(2, "No such file or directory", "/p"),
                                        "mount bind on /data"))
        os.close(w)
        w = -1
        rd = init.Reader(r)
        assert rd.next() == {"type": "pid", "pid": 42}
        e = init.rebuild_error(rd.next())
        assert isinstance(e, errors.ExecError) and e.exit_code == 126
        assert str(e) == 'exec: "x": permission denied'
        e = init.rebuild_error(rd.next())
        assert isinstance(e, errors.SystemError_) and e.errno == 2
        assert str(e) == "mount bind on /data: /p no such file or directory"
        assert rd.next() is None
    finally:
        os.close(r)
        if w != -1:
            os.close(w)


def test_rebuild_error_unknown_kind_is_skiff_error():
    e = init.rebuild_error({"type": "error", "kind": "os", "message": "m"})
    assert type(e) is errors.SkiffError and str(e) == "m"
    e = init.rebuild_error({"type": "error", "kind": "InvalidArgument", "message": "bad"})
    assert isinstance(e, errors.InvalidArgument)


# ---------------------------------------------------------------- defaults / cli

def test_default_spec_is_dockerish():
    s = default_spec(["echo", "hi"])
    assert s["ociVersion"] == "1.1.0"
    assert s["process"]["args"] == ["echo", "hi"]
    assert {m["destination"] for m in s["mounts"]} >= {"/proc", "/dev", "/dev/pts", "/sys",
                                                        "/dev/shm", "/dev/mqueue"}
    sysfs = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" in sysfs["options"]
    assert {n["type"] for n in s["linux"]["namespaces"]} == {"pid", "network", "ipc", "uts",
                                                            "mount"}
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    assert len(s["process"]["capabilities"]["bounding"]) == 14


def test_cli_parse_signal():
    from skiff.runtime.cli import parse_signal
    assert parse_signal("KILL") == 9
    assert parse_signal("SIGTERM") == 15
    assert parse_signal("hup") == 1
    assert parse_signal("10") == 10
    with pytest.raises(errors.InvalidArgument):
        parse_signal("NOPE")


def test_cli_features_json():
    from skiff.runtime.cli import features
    f = features()
    assert "pid" in f["linux"]["namespaces"] and "rbind" in f["mountOptions"]
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"]


def test_container_id_validation(tmp_path):
    from skiff.runtime.linux import container
    for bad in ("", "../x", "a/b", "-x", "a b"):
        with pytest.raises(errors.InvalidArgument):
            container.state(str(tmp_path), bad)
    with pytest.raises(errors.NotFound):
        container.state(str(tmp_path), "skifftest-missing")


def test_create_without_config_is_not_found(tmp_path):
    from skiff.runtime.linux import container
    with pytest.raises(errors.NotFound):
        container.create(str(tmp_path / "root"), "skifftest-x", str(tmp_path))
    assert not (tmp_path / "root" / "skifftest-x").exists()


def test_state_status_from_pid_and_fifo(tmp_path):
    """state() derives the status: a live pid with exec.fifo is created,
    without it running, a dead pid stopped (pid 0)."""
    import json
    from skiff.runtime.linux import container
    d = tmp_path / "skifftest-s"
    d.mkdir()
    st = {"ociVersion": "1.1.0", "id": "skifftest-s", "status": "created", "pid": os.getpid(),
          "bundle": "/b", "cgroupsPath": "/skiff/skifftest-s",
          "init_start": container._start_time(os.getpid())}
    (d / "state.json").write_text(json.dumps(st))
    os.mkfifo(d / "exec.fifo")
    assert container.state(str(tmp_path), "skifftest-s")["status"] == "created"
    (d / "exec.fifo").unlink()
    assert container.state(str(tmp_path), "skifftest-s")["status"] == "running"
    st["init_start"] = 1  # a recycled pid is not our init
    (d / "state.json").write_text(json.dumps(st))
    s = container.state(str(tmp_path), "skifftest-s")
    assert s["status"] == "stopped" and s["pid"] == 0
    assert stat.S_ISDIR(os.stat(d).st_mode)


def test_runtime_imports_stay_light():
    """The shim imports the runtime in-process: standard library only, and
    none of the heavy parts (start-up time counts)."""
    import subprocess
    import sys
    code = ("import sys, skiff.runtime.linux.container, skiff.runtime.cli; "
            "print(' '.join(sorted(sys.modules)))")
    mods = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                              text=True).stdout.split())
    for heavy in ("aiohttp", "pyroute2", "asyncio", "zstandard", "sqlite3", "skiff.daemon",
                  "skiff.api", "skiff.runtime.cgroups.v2", "skiff.runtime.shim"):
        assert heavy not in mods, heavy


def test_cli_error_goes_to_stderr_and_json_log(tmp_path):
    import json
    import subprocess
    import sys
    log = tmp_path / "log.json"
    r = subprocess.run([sys.executable, "-m", "skiff.runtime.cli", "--root", str(tmp_path),
                        "--log", str(log), "--log-format", "json", "state", "skifftest-nosuch"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == "skiff-runtime: container skifftest-nosuch does not exist\n"
    entry = json.loads(log.read_text().splitlines()[0])
    assert entry["level"] == "error" and entry["msg"] == "container skifftest-nosuch does not exist"
    r = subprocess.run([sys.executable, "-m", "skiff.runtime.cli", "--root", str(tmp_path), "list",
                        "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_delete_missing_container(tmp_path):
    from skiff.runtime.linux import container
    with pytest.raises(errors.NotFound):
        container.delete(str(tmp_path), "skifftest-gone")
    # an aborted create left a directory without state.json: force removes it quietly
    (tmp_path / "skifftest-gone").mkdir()
    (tmp_path / "skifftest-gone" / "exec.fifo").write_text("")
    container.delete(str(tmp_path), "skifftest-gone", force=True)
    assert not (tmp_path / "skifftest-gone").exists()


def test_create_refuses_spec_without_mount_namespace(tmp_path):
    import json
    from skiff.runtime.linux import container
    spec = default_spec(["true"])
    spec["linux"]["namespaces"] = [{"type": "pid"}]
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(spec))
    with pytest.raises(errors.InvalidArgument, match="mount namespace"):
        container.create(str(tmp_path / "state"), "skifftest-nomnt", str(tmp_path))
    assert not (tmp_path / "state" / "skifftest-nomnt").exists()
