"""skiff-runtime refuses what runc refuses, before making anything: config
fields of the wrong JSON type or out of range (a uid of -1 would be root to
setresuid), cgroupsPath climbing out of the hierarchy (cleaned as runc's
CleanPath), bad signals; and leaves nothing behind."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from test_runtime import _subreaper, bundle, busybox_tar  # noqa: F401  (fixtures)

from skiff.errors import InvalidArgument
from skiff.runtime.cgroups.v1 import clean_path
from skiff.runtime.linux import container as rt
from skiff.runtime.linux.validate import check_config, check_process

pytestmark = pytest.mark.integration

BASE = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
        "process": {"args": ["true"], "env": ["PATH=/bin"], "cwd": "/",
                    "user": {"uid": 0, "gid": 0}},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}}


def _with(path: str, value):
    spec = copy.deepcopy(BASE)
    node = spec
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return spec


BAD = [
    ("process.args", "true", "process.args must be an array"),
    ("process.args", [], "process.args must not be empty"),
    ("process.args", ["sh", 5], r"process.args\[1\] must be a string"),
    ("process.env", "PATH=/bin", "process.env must be an array"),
    ("process.env", ["NOEQUALS"], "missing '='"),
    ("process.env", ["=x"], "empty name"),
    ("process.env", ["A=b\0c"], "NUL"),
    ("process.cwd", "tmp", "must be an absolute path"),
    ("process.user.uid", -1, "uids and gids must be in range 0-2147483647"),
    ("process.user.uid", 4294967295, "uids and gids must be in range"),
    ("process.user.gid", 2 ** 31, "uids and gids must be in range"),
    ("process.user.uid", "0", "must be an integer"),
    ("process.user.uid", 1.5, "must be an integer"),
    ("process.user.uid", True, "must be an integer"),
    ("process.user.additionalGids", "57", "must be an array"),
    ("process.user.additionalGids", [5, -1], "uids and gids must be in range"),
    ("process.user.umask", -1, "non-negative integer"),
    ("process.oomScoreAdj", "100", "-1000..1000"),
    ("process.oomScoreAdj", 1001, "-1000..1000"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}],
     "soft limit 2048 is above the hard limit 1024"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                         {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}], "repeats"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 2 ** 70, "hard": 2 ** 70}],
     "0..2"),
    ("process.terminal", "yes", "must be a boolean"),
    ("process", "x", "process must be an object"),
    ("linux", "x", "linux must be an object"),
    ("root.path", 5, "root.path must be a string"),
    ("mounts.0.options", "ro", "must be an array"),
    ("mounts.0.destination", "", "is required"),
    ("linux.cgroupsPath", 5, "cgroupsPath must be a string"),
    ("linux.seccomp", "x", "seccomp must be an object"),
    ("linux.devices", [{"type": "c", "major": 1, "minor": 3}], r"devices\[0\].path is required"),
    ("linux.devices", [{"path": "/dev/x", "type": "c", "major": "1", "minor": 3}],
     "major must be an integer"),
    ("linux.sysctl", {"net.ipv4.ip_forward": 1}, "must be a string"),
    ("linux.resources", {"memory": {"limit": "abc"}}, "memory.limit must be an integer"),
    ("linux.resources", {"pids": {"limit": "x"}}, "pids.limit must be an integer"),
    ("hooks", {"prestart": "x"}, "hooks.prestart must be an array"),
    ("hooks", {"prestart": [{"path": "/bin/true", "timeout": "x"}]}, "positive integer"),
    ("annotations", ["a"], "annotations must be an object"),
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[f"{b[0]}={b[1]!r}"[:60] for b in BAD])
def test_bad_config_is_refused_with_the_field_named(path, value, message):
    with pytest.raises(InvalidArgument, match=message):
        check_config(_with(path, value))


def test_good_config_passes():
    check_config(BASE)
    check_config(_with("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": -1,
                                            "hard": 2 ** 64 - 1}]))
    check_config(_with("process.user.uid", 2 ** 31 - 1))
    with pytest.raises(InvalidArgument, match="must be an object"):
        check_config([])


def test_exec_process_checked_too():
    with pytest.raises(InvalidArgument, match="uids and gids must be in range"):
        check_process({"args": ["id"], "user": {"uid": -1, "gid": -1}})
    with pytest.raises(InvalidArgument, match="missing '='"):
        check_process({"args": ["id"], "env": ["FOO"]})


@pytest.mark.parametrize("path,want", [
    ("/../x", "/x"), ("/../../../../../tmp/c/cg", "/tmp/c/cg"), ("../../x", "x"),
    ("a/../../b", "b"), ("/", "/"), ("/skiff/abc", "/skiff/abc"), ("//x", "/x"),
    ("/a/./b/", "/a/b"),
])
def test_cgroups_path_is_cleaned_as_rooted(path, want):
    assert clean_path(path) == want


def test_cgroups_path_naming_our_own_cgroup_is_refused():
    with pytest.raises(InvalidArgument, match="own cgroup"):
        clean_path("a/..")


def _host_snapshot():
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    return mounts, sorted(os.listdir("/sys/fs/cgroup"))


def test_cli_refuses_uid_minus_one_and_leaves_nothing(bundle):
    bundle.spec["process"]["user"] = {"uid": 4294967295, "gid": 4294967295}
    bundle.spec["process"]["args"] = ["id"]
    bundle.write()
    before = _host_snapshot()
    r = subprocess.run([sys.executable, "-m", "skiff.runtime.cli", "--root", str(bundle.root),
                        "run", "--bundle", str(bundle.path), bundle.id],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 1
    assert "uids and gids must be in range 0-2147483647" in r.stderr
    assert "uid=0" not in r.stdout
    assert not (bundle.root / bundle.id).exists()
    assert _host_snapshot() == before


def test_cli_malformed_config_is_an_error_not_a_traceback(bundle):
    (bundle.path / "config.json").write_text('{"a" 1}')
    r = subprocess.run([sys.executable, "-m", "skiff.runtime.cli", "--root", str(bundle.root),
                        "run", "--bundle", str(bundle.path), bundle.id],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "cannot read" in r.stderr and "Expecting ':' delimiter" in r.stderr


def test_cgroups_path_with_dotdot_stays_in_the_hierarchy(bundle):
    name = f"skifftest-esc-{os.getpid()}"
    bundle.spec["linux"]["cgroupsPath"] = f"/../{name}"
    top = set(os.listdir("/sys/fs/cgroup"))
    code, out = bundle.run(["cat", "/proc/self/cgroup"])
    assert code == 0
    assert f"memory:/{name}" in out.split("\n") or any(
        line.endswith(f":memory:/{name}") for line in out.splitlines())
    assert set(os.listdir("/sys/fs/cgroup")) == top  # nothing written on the cgroup tmpfs
    rt.delete(str(bundle.root), bundle.id, force=True)
    assert not os.path.exists(f"/sys/fs/cgroup/memory/{name}")


def test_kill_with_a_signal_that_does_not_exist(bundle):
    bundle.spec["process"]["args"] = ["sleep", "100"]
    bundle.write()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path))
    try:
        for sig in (99, -1, 65):
            with pytest.raises(InvalidArgument, match="unable to signal init: invalid argument"):
                rt.kill(str(bundle.root), bundle.id, sig)
        assert rt.state(str(bundle.root), bundle.id)["status"] == "created"
    finally:
        rt.delete(str(bundle.root), bundle.id, force=True)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def test_exec_label_without_the_lsm_is_refused_with_runcs_words(bundle):
    from skiff.runtime.linux.procattr import selinux_enabled
    if selinux_enabled():
        pytest.skip("this host has SELinux")
    bundle.spec["process"]["args"] = ["sleep", "100"]
    bundle.write()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path))
    try:
        with pytest.raises(InvalidArgument, match="selinux label is specified in config, but "
                                                  "selinux is disabled or not supported"):
            rt.exec_process(str(bundle.root), bundle.id,
                            {"args": ["true"], "cwd": "/", "selinuxLabel": "system_u:x:y:s0"})
    finally:
        rt.delete(str(bundle.root), bundle.id, force=True)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


# --- the rootfs changing under us (a volume shared with a running container):
# a symlink swapped in after secure_join resolved the path must not lead out

def _swapped(tmp_path):
    """rootfs/a is a symlink to an outside directory, as if an attacker had
    exchanged it for the directory secure_join saw."""
    root, outside = tmp_path / "rootfs", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "a").symlink_to(outside)
    return root, outside


def test_mkdir_and_touch_never_follow_a_swapped_in_symlink(tmp_path):
    from skiff.errors import SystemError_
    from skiff.runtime.linux import rootfs
    root, outside = _swapped(tmp_path)
    with pytest.raises(SystemError_, match="not a directory"):
        rootfs._mkdir_all(str(root / "a" / "x" / "y"))
    with pytest.raises(SystemError_, match="not a directory"):
        rootfs._touch(str(root / "a" / "file"))
    assert list(outside.iterdir()) == []
    # the ordinary case still works, and is idempotent
    rootfs._mkdir_all(str(root / "b" / "c"))
    rootfs._mkdir_all(str(root / "b" / "c"))
    rootfs._touch(str(root / "b" / "c" / "f"))
    assert (root / "b" / "c" / "f").is_file()


def test_device_node_never_lands_outside(tmp_path):
    from skiff.errors import SystemError_
    from skiff.runtime.linux import rootfs
    root, outside = _swapped(tmp_path)
    # secure_join would have resolved /a inside; call the creation step the
    # way a raced resolution hands it a path through the symlink
    orig = rootfs.secure_join
    try:
        rootfs.secure_join = lambda r, p: os.path.join(r, p.lstrip("/"))
        with pytest.raises(SystemError_):
            rootfs.create_device(str(root), "/a/null", "c", 1, 3)
    finally:
        rootfs.secure_join = orig
    assert list(outside.iterdir()) == []


def test_mount_target_is_pinned_without_following_symlinks(tmp_path):
    from skiff.errors import SystemError_
    from skiff.runtime.linux import rootfs
    root, outside = _swapped(tmp_path)
    with pytest.raises(SystemError_, match="not a directory"):
        with rootfs._Pinned(str(root / "a" / "mnt")):
            pytest.fail("a mount target reached through a symlink was handed out")
    (root / "real").mkdir()
    with rootfs._Pinned(str(root / "real")) as p:
        assert p.startswith("/proc/self/fd/") and os.readlink(p) == str(root / "real")


def test_update_with_a_bad_field_changes_nothing(bundle):
    bundle.spec["process"]["args"] = ["sleep", "100"]
    bundle.write()
    pid = rt.create(str(bundle.root), bundle.id, str(bundle.path))
    try:
        mem = rt._manager(rt._load(str(bundle.root), bundle.id)[1])._find("memory")
        before = open(f"{mem}/memory.limit_in_bytes").read()
        for res, msg in (({"memory": {"limit": 1 << 30}, "pids": {"limit": "5"}},
                          "pids.limit must be an integer"),
                         ({"memory": {"limit": "x"}}, "memory.limit must be an integer"),
                         ({"cpu": 5}, "cpu must be an object"),
                         ([1], "resources must be an object")):
            with pytest.raises(InvalidArgument, match=msg):
                rt.update(str(bundle.root), bundle.id, res)
        assert open(f"{mem}/memory.limit_in_bytes").read() == before  # nothing half-applied
        rt.update(str(bundle.root), bundle.id, {"CPU": {"Cpus": "0", "shares": 512},
                                                "memory": {"limit": 64 << 20}})
        assert int(open(f"{mem}/memory.limit_in_bytes").read()) == 64 << 20
    finally:
        rt.delete(str(bundle.root), bundle.id, force=True)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


@pytest.mark.parametrize("doc", ["[1]", "null", "5", '"s"'])
def test_run_with_a_config_that_is_not_an_object(bundle, doc):
    (bundle.path / "config.json").write_text(doc)
    r = subprocess.run([sys.executable, "-m", "skiff.runtime.cli", "--root", str(bundle.root),
                        "run", "--bundle", str(bundle.path), bundle.id],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "config.json must be an object" in r.stderr


@pytest.mark.parametrize("cid", ["a" * 256, "a" * 1024, "../x", "a/b", "", "-x"])
def test_bad_container_ids_are_refused_cleanly(bundle, cid):
    bundle.write()
    for cmd in (["run", "--bundle", str(bundle.path), cid], ["state", cid], ["delete", cid]):
        r = subprocess.run([sys.executable, "-m", "skiff.runtime.cli", "--root",
                            str(bundle.root), *cmd], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        assert r.returncode != 0 and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert r.stderr.startswith("skiff-runtime: "), r.stderr
    assert not bundle.root.exists() or os.listdir(bundle.root) == []


def test_longest_container_id_works(bundle):
    bundle.id = "a" * 255
    try:
        code, out = bundle.run(["echo", "ok"])
        assert code == 0 and out.strip() == "ok"
    finally:
        rt.delete(str(bundle.root), bundle.id, force=True)
    assert not os.path.exists(f"/sys/fs/cgroup/memory/skiff/{bundle.id}")


def test_copyup_never_follows_an_entry_swapped_for_a_symlink(tmp_path, monkeypatch):
    """tmpcopyup's copy, with the race made deterministic: right after the
    copy looked at src/d (a directory), d becomes a symlink to a host
    directory holding a secret. The copy must fail, not pull the secret in."""
    from skiff.runtime.linux import rootfs
    src, dst, outside = tmp_path / "src", tmp_path / "dst", tmp_path / "outside"
    for d in (src / "d", dst, outside):
        d.mkdir(parents=True)
    (src / "d" / "f").write_text("inside")
    (outside / "secret").write_text("SECRET")
    real_stat = os.stat

    def racing_stat(path, *a, **kw):
        st = real_stat(path, *a, **kw)
        if path == "d" and kw.get("dir_fd") is not None and (src / "d").is_dir() \
                and not (src / "d").is_symlink():
            (src / "d").rename(src / "d-real")
            (src / "d").symlink_to(outside)
        return st

    monkeypatch.setattr(rootfs.os, "stat", racing_stat)
    with pytest.raises(OSError):
        rootfs._copy_tree(str(src), str(dst))
    monkeypatch.undo()
    assert not any(p.name == "secret" for p in dst.rglob("*"))


def test_copyup_copies_content_modes_and_symlinks(tmp_path):
    from skiff.runtime.linux import rootfs
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    dst.mkdir()
    (src / "sub" / "f").write_text("x" * 100000)
    os.chmod(src / "sub" / "f", 0o640)
    os.chmod(src / "sub", 0o750)
    os.chmod(src, 0o711)
    (src / "l").symlink_to("/etc/passwd")
    os.mkfifo(src / "p")
    rootfs._copy_tree(str(src), str(dst))
    assert (dst / "sub" / "f").read_text() == "x" * 100000
    assert oct((dst / "sub" / "f").stat().st_mode & 0o777) == oct(0o640)
    assert oct((dst / "sub").stat().st_mode & 0o777) == oct(0o750)
    assert oct(dst.stat().st_mode & 0o777) == oct(0o711)
    assert os.readlink(dst / "l") == "/etc/passwd"
    import stat as _stat
    assert _stat.S_ISFIFO(os.lstat(dst / "p").st_mode)
    assert (dst / "sub" / "f").stat().st_mtime_ns == (src / "sub" / "f").stat().st_mtime_ns


def test_copyup_stages_in_the_state_directory(bundle):
    bundle.spec["mounts"].append({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                                  "options": ["tmpcopyup"]})
    before = {n for n in os.listdir("/tmp") if n.startswith(".skiff-copyup-")}
    code, out = bundle.run(["sh", "-c", "cat /etc/passwd | head -1; grep ' /etc ' /proc/mounts"])
    assert code == 0 and out.startswith("root:") and "tmpfs" in out
    assert {n for n in os.listdir("/tmp") if n.startswith(".skiff-copyup-")} == before
