"""Hostile tars for PUT /containers/{id}/archive (skiff.services.container_fs
.extract_archive) and overlay changes; these need root (mount namespaces,
whiteout device nodes, trusted.* xattrs).

Safety of the test host even if the code regresses: the only thing outside
the container root is a canary directory inside the test's temp dir, and
every extraction runs in a forked child in its own mount namespace where "/"
is read-only and only the temp dir is writable (as
tests/integration/test_hostile_tar.py does for layers).
"""
from __future__ import annotations

import ctypes
import hashlib
import io
import os
import pickle
import stat
import subprocess
import tarfile
import tempfile

import pytest

from skiff import errors as errors_mod
from skiff.errors import SkiffError
from skiff.services import container_fs as cfs
from skiff.snapshots.mount import MS_BIND, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, mount

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

CLONE_NEWNS = 0x00020000


def sandboxed(fn, writable: str):
    """fn() in a forked child whose "/" is read-only except ``writable``;
    returns its result or re-raises its SkiffError here."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
            mount("", "/", "", MS_REC | MS_PRIVATE)
            mount(writable, writable, "", MS_BIND | MS_REC)
            mount("", "/", "", MS_REMOUNT | MS_BIND | MS_RDONLY)
            try:
                out = ("ok", fn())
            except SkiffError as e:
                out = ("err", type(e).__name__, e.message, e.details)
            except BaseException as e:  # noqa: BLE001
                out = ("crash", repr(e))
            os.write(w, pickle.dumps(out))
        except BaseException:  # noqa: BLE001
            code = 3
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "sandbox child failed"
    out = pickle.loads(b"".join(chunks))
    if out[0] == "ok":
        return out[1]
    if out[0] == "crash":
        raise AssertionError(f"extraction crashed: {out[1]}")
    _, cls, msg, details = out
    raise getattr(errors_mod, cls)(msg, **details)


def _state(path: str) -> dict:
    out = {}
    for dp, dns, fns in os.walk(path):
        for n in [""] + dns + fns:
            p = os.path.join(dp, n) if n else dp
            st = os.lstat(p)
            rec = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_nlink, st.st_size)
            if stat.S_ISREG(st.st_mode):
                rec += (hashlib.sha256(open(p, "rb").read()).hexdigest(),)
            elif stat.S_ISLNK(st.st_mode):
                rec += (os.readlink(p),)
            out[os.path.relpath(p, path)] = rec
    return out


def _tar(*entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
                tf.addfile(ti)
            else:
                ti.mode, ti.size = 0o644, len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Box:
    """tmp/root (the container root, with hostile symlinks already made by
    "the container") and tmp/outside (the canary)."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="skifftest-cp-")
        self.root = os.path.join(self.tmp, "root")
        self.outside = os.path.join(self.tmp, "outside")
        os.makedirs(os.path.join(self.root, "dst"))
        os.makedirs(os.path.join(self.outside, "dir"))
        with open(os.path.join(self.outside, "canary"), "w") as f:
            f.write("canary\n")
        os.symlink(self.outside, os.path.join(self.root, "abs_host"))  # host path, absolute
        os.symlink("../outside", os.path.join(self.root, "up"))  # climbs above the root
        os.symlink("../outside/canary", os.path.join(self.root, "pw"))
        self.before = _state(self.outside)

    def put(self, data: bytes, dest: str = "/dst", **kw):
        return sandboxed(lambda: cfs.extract_archive(io.BytesIO(data), self.root, dest, **kw), self.tmp)

    def unchanged(self):
        assert _state(self.outside) == self.before
        assert sorted(os.listdir(self.tmp)) == ["outside", "root"]

    def close(self):
        subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], check=False)


@pytest.fixture
def box():
    b = Box()
    try:
        yield b
    finally:
        b.close()


def test_sandbox_is_effective(box):
    def escape():
        with open(os.path.join(os.path.dirname(box.tmp), "skifftest-should-not-exist"), "w"):
            pass
    with pytest.raises(AssertionError, match="crashed"):
        sandboxed(escape, box.tmp)
    assert not os.path.exists(os.path.join(os.path.dirname(box.tmp), "skifftest-should-not-exist"))


def test_dotdot_names_refused(box):
    with pytest.raises(errors_mod.UnsafePath):
        box.put(_tar(("../../outside/canary", "file", b"pwned")))
    with pytest.raises(errors_mod.UnsafePath):
        box.put(_tar(("a/../../../outside/canary", "file", b"pwned")))
    box.unchanged()


def test_absolute_names_stay_inside(box):
    box.put(_tar((box.outside + "/canary", "file", b"pwned")))
    box.unchanged()
    assert open(os.path.join(box.root, "dst", box.outside.lstrip("/"), "canary")).read() == "pwned"


def test_destination_through_container_symlinks(box):
    # /abs_host -> <host tmp>/outside: taken inside the container root
    with pytest.raises(errors_mod.NotFound):
        box.put(_tar(("canary", "file", b"pwned")), dest="/abs_host")
    # /up -> ../outside: ".." stops at the container root -> /outside (absent)
    with pytest.raises(errors_mod.NotFound):
        box.put(_tar(("canary", "file", b"pwned")), dest="/up/")
    box.unchanged()


def test_entries_through_existing_symlinks(box):
    box.put(_tar(("up/canary", "file", b"pwned"), ("abs_host/canary", "file", b"pwned")), dest="/")
    box.unchanged()
    assert open(os.path.join(box.root, "outside/canary")).read() == "pwned"
    assert open(os.path.join(box.root, box.outside.lstrip("/"), "canary")).read() == "pwned"


def test_symlink_then_write_through_it(box):
    # an absolute target is re-rooted: allowed, and writes land in the container
    box.put(_tar(("l", "sym", "/"), ("l/escape", "file", b"pwned")))
    assert open(os.path.join(box.root, "escape")).read() == "pwned"
    # a relative target that climbs out of the extraction dir is refused
    with pytest.raises(errors_mod.UnsafePath, match="invalid symlink"):
        box.put(_tar(("m", "sym", "../../outside"), ("m/canary", "file", b"pwned")))
    box.unchanged()
    assert not os.path.lexists(os.path.join(box.root, "dst/m"))


def test_hardlinks_never_reach_outside(box):
    with pytest.raises(errors_mod.UnsafePath, match="invalid hardlink"):
        box.put(_tar(("h", "hard", "../pw")))
    # a hardlink to a symlink links the symlink, and a later file entry replaces it
    os.symlink("../../outside/canary", os.path.join(box.root, "dst/pw2"))
    box.put(_tar(("h", "hard", "pw2"), ("h", "file", b"pwned")))
    box.unchanged()
    assert open(os.path.join(box.root, "dst/h")).read() == "pwned"


def test_file_replacing_symlink_does_not_follow(box):
    os.symlink(os.path.join(box.outside, "canary"), os.path.join(box.root, "dst/target"))
    box.put(_tar(("target", "file", b"pwned")))
    box.unchanged()
    assert not os.path.islink(os.path.join(box.root, "dst/target"))


def test_stat_and_archive_never_leave_root(box):
    st = sandboxed(lambda: cfs.stat_path(box.root, "/pw"), box.tmp)
    assert st["linkTarget"] == "/outside/canary"
    with pytest.raises(errors_mod.NotFound):
        sandboxed(lambda: cfs.stat_path(box.root, "/up/canary"), box.tmp)


# ---------------------------------------------------------------- overlay changes
def test_overlay_changes(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in ("bin", "etc", "opq", "proc"):
        (lower / d).mkdir(parents=True)
    (lower / "bin/ls").write_text("ls")
    (lower / "etc/passwd").write_text("p")
    (lower / "opq/old1").write_text("1")
    (lower / "opq/old2").write_text("2")
    for d in ("bin", "etc", "opq", "tmp", "proc", "sys"):
        (upper / d).mkdir(parents=True)
    os.mknod(upper / "bin/ls", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (upper / "etc/passwd").write_text("changed")
    (upper / "etc/hosts").write_text("")
    (upper / "tmp/new").write_text("n")
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "opq/old2").write_text("again")
    got = cfs.overlay_changes(str(upper), [str(lower)])
    assert got == [
        {"Path": "/bin", "Kind": 0}, {"Path": "/bin/ls", "Kind": 2},
        {"Path": "/etc", "Kind": 0}, {"Path": "/etc/hosts", "Kind": 1},
        {"Path": "/etc/passwd", "Kind": 0},
        {"Path": "/opq", "Kind": 0}, {"Path": "/opq/old1", "Kind": 2}, {"Path": "/opq/old2", "Kind": 0},
        {"Path": "/proc", "Kind": 0}, {"Path": "/sys", "Kind": 1},
        {"Path": "/tmp", "Kind": 1}, {"Path": "/tmp/new", "Kind": 1},
    ]
    # the runtime's empty mount points are not the user's changes
    filtered = cfs.filter_runtime_changes(got, cfs.DEFAULT_MOUNTPOINTS, str(upper), [str(lower)])
    paths = [c["Path"] for c in filtered]
    assert "/sys" not in paths and "/etc/hosts" not in paths
    assert "/etc/passwd" in paths and "/tmp/new" in paths
    # /proc existed below and has the lower's metadata: only a mount point
    assert "/proc" not in paths
