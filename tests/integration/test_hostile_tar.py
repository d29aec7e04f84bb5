"""Hostile layer tars: no entry ever writes outside the snapshot's root.

Each case runs against the three places a layer is applied to: an overlay
base snapshot (a bind mount), an overlay upperdir on a lower layer, and a
native copy. A canary directory next to the snapshot root (and the host's
/etc/passwd) must be unchanged afterwards, and a refused entry must raise a
clear UnsafePath (or say the hardlink target is not in the layer root).

Safety of the test host even if the code regresses: every escape target is
inside the test's temp dir (never /etc or other host files), and each
apply_layer runs in a forked child in its own mount namespace where "/" is
remounted read-only and only the temp dir is writable.

Policy (as Docker's pkg/archive): absolute names are taken inside the root,
``..`` that climbs out of the root is refused, symlinks met on the way are
resolved as if the root were "/" (so they stay inside).
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
from skiff.errors import Forbidden, InvalidArgument, SkiffError, UnsafePath
from skiff.metadata.db import Database
from skiff.snapshots import layer as layer_mod
from skiff.snapshots import open_snapshotter
from skiff.snapshots.layer import apply_layer, layer_target
from skiff.snapshots.mount import MS_BIND, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, mount

CLONE_NEWNS = 0x00020000


def apply_sandboxed(data: bytes, mounts, writable: str) -> int:
    """apply_layer in a forked child whose mount namespace has "/" read-only
    and only ``writable`` writable; its exception (a SkiffError) is re-raised
    here. A bug that escapes the root then fails with EROFS instead of
    changing the host."""
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
                out = ("ok", apply_layer(io.BytesIO(data), mounts))
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
        raise AssertionError(f"apply_layer crashed: {out[1]}")
    _, cls, msg, details = out
    raise getattr(errors_mod, cls)(msg, **details)


def test_sandbox_protects_the_host(tmp_path):
    """The safety net itself: a write outside the writable dir fails."""
    d = tempfile.mkdtemp(prefix="skifftest-sandbox-")
    try:
        os.mkdir(os.path.join(d, "root"))
        os.symlink("/", os.path.join(d, "root", "a"))
        from skiff.types import Mount
        # a plain tar whose entry goes through the symlink: refused by the
        # kernel in the sandbox even if it were followed (here it is not)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            ti = tarfile.TarInfo("x")
            tf.addfile(ti, io.BytesIO(b""))
        assert apply_sandboxed(buf.getvalue(), [Mount("bind", os.path.join(d, "root"),
                                                      ("rbind", "rw"))], d) > 0
        assert os.path.exists(os.path.join(d, "root", "x"))
        pid = os.fork()
        if pid == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.unshare(CLONE_NEWNS) == 0
            mount("", "/", "", MS_REC | MS_PRIVATE)
            mount(d, d, "", MS_BIND | MS_REC)
            mount("", "/", "", MS_REMOUNT | MS_BIND | MS_RDONLY)
            try:
                open("/skifftest-should-not-exist", "w")
                ok = False
            except OSError:
                pass
            open(os.path.join(d, "writable"), "w").close()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not os.path.exists("/skifftest-should-not-exist")
        assert os.path.exists(os.path.join(d, "writable"))
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", d], check=False)

pytestmark = pytest.mark.integration


def _tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kw, data in entries:
            kw = dict(kw)
            ti = tarfile.TarInfo(kw.pop("name"))
            for k, v in kw.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def D(name, mode=0o755):
    return dict(name=name, type=tarfile.DIRTYPE, mode=mode), None


def F(name, data=b"pwned", mode=0o644):
    return dict(name=name, type=tarfile.REGTYPE, mode=mode), data


def L(name, target):
    return dict(name=name, type=tarfile.SYMTYPE, linkname=target, mode=0o777), None


def H(name, target):
    return dict(name=name, type=tarfile.LNKTYPE, linkname=target, mode=0o644), None


def _state(path: str) -> dict:
    """Everything observable about a tree: names, types, modes, owners,
    mtimes, contents, link counts, symlink targets, xattrs."""
    out = {}
    for dp, dns, fns in os.walk(path):
        for n in [""] + dns + fns:
            p = os.path.join(dp, n) if n else dp
            st = os.lstat(p)
            rec = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_nlink, st.st_size,
                   tuple(sorted(os.listxattr(p, follow_symlinks=False))))
            if stat.S_ISREG(st.st_mode):
                rec += (hashlib.sha256(open(p, "rb").read()).hexdigest(),)
            elif stat.S_ISLNK(st.st_mode):
                rec += (os.readlink(p),)
            out[os.path.relpath(p, path)] = rec
    return out


def _host() -> dict:
    st = os.stat("/etc/passwd")
    return {"passwd": (st.st_nlink, st.st_mtime_ns, st.st_mode,
                       hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest())}


class Env:
    def __init__(self, kind: str):
        self.tmp = tempfile.mkdtemp(prefix="skifftest-hostile-")
        self.outside = os.path.join(self.tmp, "outside")
        os.mkdir(self.outside)
        with open(os.path.join(self.outside, "canary"), "w") as f:
            f.write("canary\n")
        os.mkdir(os.path.join(self.outside, "dir"))
        with open(os.path.join(self.outside, "dir", "file"), "w") as f:
            f.write("inner\n")
        driver = "native" if kind == "native" else "overlay"
        self.sn = open_snapshotter(os.path.join(self.tmp, "s"),
                                   Database(os.path.join(self.tmp, "m.db")), driver=driver)
        parent = ""
        if kind in ("overlay-upper", "native"):
            base = self.sn.prepare("base")
            apply_layer(io.BytesIO(_tar([D("etc"), F("etc/hostname", b"box\n"), D("lib")])), base)
            self.sn.commit("B", "base")
            parent = "B"
        self.kind = kind
        self.mounts = self.sn.prepare("top", parent)
        self.root = layer_target(self.mounts)[0]
        self.before = (_state(self.outside), _host(), sorted(os.listdir(self.tmp)))

    def apply(self, *layers):
        """Apply layers in turn (each but the last committed)."""
        for i, entries in enumerate(layers):
            if i:
                self.sn.commit(f"L{i}", "top")
                self.mounts = self.sn.prepare("top", f"L{i}")
                self.root = layer_target(self.mounts)[0]
            apply_sandboxed(_tar(entries), self.mounts, self.tmp)

    def unchanged(self):
        assert (_state(self.outside), _host(), sorted(os.listdir(self.tmp))) == self.before

    def inside(self, rel: str) -> str:
        return os.path.join(self.root, rel.lstrip("/"))

    def close(self):
        subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], check=False)


@pytest.fixture(params=["overlay-base", "overlay-upper", "native"])
def env(request):
    e = Env(request.param)
    yield e
    e.close()


def test_dotdot_names_refused(env):
    for name in ["../../../outside/canary", "a/../../../../outside/canary", "..", "../x"]:
        with pytest.raises(UnsafePath) as ei:
            env.apply([F(name)])
        assert "outside of the root" in str(ei.value)
        env.unchanged()


def test_dotdot_inside_is_cleaned(env):
    env.apply([D("a"), F("a/b/../c", b"in")])
    assert open(env.inside("a/c"), "rb").read() == b"in"
    env.unchanged()


def test_absolute_names_kept_inside(env):
    env.apply([F(env.outside + "/canary"), F(env.outside + "/dir/file"),
               F("/../../outside/x")])
    assert open(env.inside(env.outside + "/canary"), "rb").read() == b"pwned"
    assert os.path.exists(env.inside("outside/x"))
    env.unchanged()


def test_symlink_to_root_then_etc_passwd(env):
    """The literal attack: ``a -> /`` then ``a/etc/passwd`` (safe to run: the
    apply is sandboxed with "/" read-only, see apply_sandboxed)."""
    env.apply([L("a", "/"), D("a/etc"), F("a/etc/passwd", b"root::0:0::/:/bin/sh\n")])
    assert open(env.inside("etc/passwd"), "rb").read().startswith(b"root::")
    env.unchanged()


def test_hardlink_to_etc_passwd(env):
    """A hardlink to ``/etc/passwd`` names the root's own /etc/passwd: absent
    here, so refused; the host's is not linked."""
    with pytest.raises(InvalidArgument) as ei:
        env.apply([H("h", "/etc/passwd")])
    assert "not found in the layer root" in str(ei.value)
    with pytest.raises(UnsafePath):
        env.apply([H("h", "../../../../../../../etc/passwd")])
    env.unchanged()


def test_symlink_to_root_then_entry_through_it(env):
    env.apply([L("a", "/"), F("a" + env.outside + "/canary"), F("a" + env.outside + "/new")])
    assert open(env.inside(env.outside + "/canary"), "rb").read() == b"pwned"
    assert os.path.islink(env.inside("a"))
    env.unchanged()


def test_absolute_symlink_to_outside_then_entry(env):
    env.apply([L("o", env.outside), F("o/canary"), F("o/dir/file"), D("o/newdir")])
    assert open(env.inside(env.outside + "/canary"), "rb").read() == b"pwned"
    env.unchanged()


def test_relative_symlink_climbing_then_entry(env):
    # root is TMP/s/<n>/fs: three ".." reach TMP (where the canary is), more reach "/"
    env.apply([L("up", "../../.."), F("up/outside/canary"),
               L("upup", "../../../../../../.." + env.outside), F("upup/canary2"),
               D("x"), L("x/up2", "../../../../outside"), F("x/up2/canary"),
               L("chain", "x/up2"), F("chain/dir/file")])
    assert open(env.inside("outside/canary"), "rb").read() == b"pwned"
    assert open(env.inside(env.outside + "/canary2"), "rb").read() == b"pwned"
    env.unchanged()


def test_symlink_loop_refused(env):
    with pytest.raises(UnsafePath) as ei:
        env.apply([L("a", "b"), L("b", "a"), F("a/x")])
    assert "symbolic links" in str(ei.value)
    env.unchanged()


def test_hardlink_to_host_file_refused(env):
    with pytest.raises(InvalidArgument) as ei:
        env.apply([H("h", env.outside + "/canary")])
    assert "not found in the layer root" in str(ei.value)
    assert os.stat(os.path.join(env.outside, "canary")).st_nlink == 1
    env.unchanged()


def test_absolute_hardlink_links_the_roots_own(env):
    env.apply([D("own"), F("own/file", b"mine\n"), H("p", "/own/file")])
    assert open(env.inside("p"), "rb").read() == b"mine\n"
    assert os.stat(env.inside("p")).st_ino == os.stat(env.inside("own/file")).st_ino
    env.unchanged()


def test_hardlink_climbing_refused(env):
    for target in ["../../x", "../../../outside/canary", "a/../../outside/canary"]:
        with pytest.raises(UnsafePath) as ei:
            env.apply([H("h", target)])
        assert "outside of the root" in str(ei.value)
    env.unchanged()


def test_hardlink_through_symlink_stays_inside(env):
    with pytest.raises(InvalidArgument):
        env.apply([L("e", env.outside), H("h", "e/canary")])
    env.unchanged()


def test_hardlink_to_symlink_links_the_symlink(env):
    env.apply([L("s", env.outside + "/canary"), H("h", "s")])
    assert os.readlink(env.inside("h")) == env.outside + "/canary"
    env.unchanged()


def test_symlink_replacing_directory_then_file_through_it(env):
    env.apply([D("d"), F("d/f"), L("d", env.outside), F("d/canary"), D("d/dir"),
               F("d/dir/file")])
    assert os.path.islink(env.inside("d"))
    assert open(env.inside(env.outside + "/canary"), "rb").read() == b"pwned"
    env.unchanged()


def test_file_replacing_symlink_does_not_write_through(env):
    env.apply([L("c", env.outside + "/canary"), F("c", b"plain")])
    assert open(env.inside("c"), "rb").read() == b"plain"
    assert not os.path.islink(env.inside("c"))
    env.unchanged()


def test_whiteout_climbing_refused(env):
    for name in ["../.wh.canary", "a/../../.wh.canary", "../../../outside/.wh.canary",
                 "../../../outside/.wh..wh..opq"]:
        with pytest.raises(UnsafePath):
            env.apply([F(name, b"")])
    env.unchanged()


def test_whiteout_through_symlink_stays_inside(env):
    env.apply([L("l", env.outside), F("l/.wh.canary", b""), F("l/dir/.wh.file", b""),
               F("l/.wh..wh..opq", b""), F("l/dir/.wh..wh..opq", b"")])
    env.unchanged()


def test_whiteout_of_dot_names_refused(env):
    for name in [".wh..", ".wh...", "a/.wh."]:
        with pytest.raises(UnsafePath):
            env.apply([F(name, b"")])
    env.unchanged()


def test_symlink_in_lower_layer_then_entry_through_it(env):
    env.apply([L("a", env.outside), L("b", "../../..")],
              [F("a/canary"), F("b/outside/canary"), H("h", "a/canary"), F("a/.wh.dir", b"")])
    env.unchanged()


def test_root_replacement_refused(env):
    for e in [F("."), L("./", "/"), F("/")]:
        with pytest.raises(UnsafePath):
            env.apply([e])
    env.unchanged()


def test_overlay_xattrs_from_tar_dropped(env):
    ti = dict(name="d", type=tarfile.DIRTYPE, mode=0o755,
              pax_headers={"SCHILY.xattr.trusted.overlay.redirect": "/etc",
                           "SCHILY.xattr.trusted.overlay.opaque": "y"})
    env.apply([(ti, None)])
    assert not [x for x in os.listxattr(env.inside("d")) if x.startswith("trusted.overlay.")]
    env.unchanged()


def test_device_nodes_need_root(env, monkeypatch):
    monkeypatch.setattr(layer_mod.os, "geteuid", lambda: 1000)
    with pytest.raises(Forbidden):
        env.apply([(dict(name="mem", type=tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=1),
                    None)])
    assert not os.path.lexists(env.inside("mem"))
    env.unchanged()


def test_errors_are_skiff_errors_with_the_name(env):
    with pytest.raises(SkiffError) as ei:
        env.apply([F("../../evil")])
    assert "../../evil" in str(ei.value)
    assert ei.value.details.get("path") == "../../evil"
