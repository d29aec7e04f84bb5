"""The conformance suite every Snapshotter implementation passes
(skiff.snapshots.api contracts, after containerd's snapshots/testsuite).

Each check is a function ``check_x(make)`` where ``make(root, db)`` builds the
snapshotter under test on a snapshot directory ``root`` with its metadata in
``db`` (a skiff.metadata.db.Database). A check makes its own temp directory
(prefix ``skifftest-conformance-``), mounts with
``skiff.snapshots.mount.mount_all`` (so it needs root), and removes everything
it made. ``CHECKS`` lists them all; use it to parametrize a test::

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_conformance(check):
        check(lambda root, db: OverlaySnapshotter(root, db))
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from typing import Callable, Iterator

from ..errors import Conflict, NotFound
from ..metadata.db import Database
from ..snapshots.api import KIND_ACTIVE, KIND_COMMITTED, KIND_VIEW, Snapshotter
from ..types import Mount

Factory = Callable[[str, Database], Snapshotter]


class _Raises:
    def __init__(self, exc):
        self.exc = exc

    def __enter__(self):
        return self

    def __exit__(self, tp, val, tb):
        if tp is None:
            raise AssertionError(f"{self.exc.__name__} not raised")
        if not issubclass(tp, self.exc):
            return False
        self.value = val
        return True


def raises(exc) -> _Raises:
    """Minimal pytest.raises (the suite does not depend on pytest)."""
    return _Raises(exc)


@contextlib.contextmanager
def environment(make: Factory) -> Iterator[tuple[Snapshotter, str, Callable[[], Snapshotter]]]:
    """(snapshotter, scratch dir, reopen) in a fresh temp dir; removed after,
    with any mount left under it."""
    tmp = tempfile.mkdtemp(prefix="skifftest-conformance-")
    dbs: list[Database] = []

    def reopen() -> Snapshotter:
        db = Database(os.path.join(tmp, "metadata.db"))
        dbs.append(db)
        return make(os.path.join(tmp, "snapshots"), db)

    try:
        yield reopen(), tmp, reopen
    finally:
        for db in dbs:
            db.close()
        with open("/proc/self/mountinfo") as f:
            mps = [line.split()[4] for line in f if tmp in line.split()[4]]
        for mp in reversed(mps):
            subprocess.run(["umount", "-l", mp], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", tmp], check=False)


@contextlib.contextmanager
def mounted(mounts: list[Mount], scratch: str) -> Iterator[str]:
    """Mount ``mounts`` on a new directory under ``scratch``; unmount after."""
    from ..snapshots.mount import mount_all, unmount

    mp = tempfile.mkdtemp(prefix="mnt-", dir=scratch)
    mount_all(mounts, mp)
    try:
        yield mp
    finally:
        unmount(mp)
        os.rmdir(mp)


def _write(mounts, scratch, files: dict[str, bytes | None]) -> None:
    """Write (bytes) or delete (None) files in the tree given by ``mounts``."""
    with mounted(mounts, scratch) as mp:
        for rel, data in files.items():
            p = os.path.join(mp, rel)
            if data is None:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            else:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.write(data)


def _tree(mounts, scratch) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    with mounted(mounts, scratch) as mp:
        for dp, dns, fns in os.walk(mp):
            for n in dns:
                out[os.path.relpath(os.path.join(dp, n), mp)] = "dir"
            for n in fns:
                p = os.path.join(dp, n)
                out[os.path.relpath(p, mp)] = open(p, "rb").read() if os.path.isfile(p) else "other"
    return out


# ---- checks ----------------------------------------------------------------

def check_prepare_base(make: Factory) -> None:
    """prepare without parent: an empty writable tree; stat says active."""
    with environment(make) as (sn, tmp, _):
        mounts = sn.prepare("a", labels={"l": "1"})
        assert mounts and all(isinstance(m, Mount) for m in mounts)
        info = sn.stat("a")
        assert (info.key, info.kind, info.parent, info.labels) == ("a", KIND_ACTIVE, "", (("l", "1"),))
        assert info.created > 0
        assert _tree(mounts, tmp) == {}
        _write(mounts, tmp, {"f": b"1"})
        assert _tree(sn.mounts("a"), tmp) == {"f": b"1"}


def check_prepare_existing_key_conflict(make: Factory) -> None:
    """prepare/view on an existing key (active, view or committed) -> Conflict."""
    with environment(make) as (sn, tmp, _):
        sn.prepare("a")
        with raises(Conflict):
            sn.prepare("a")
        with raises(Conflict):
            sn.view("a")
        sn.commit("c", "a")
        sn.view("v", "c")
        for key in ("c", "v"):
            with raises(Conflict):
                sn.prepare(key)
            with raises(Conflict):
                sn.view(key, "c")
        assert sorted(i.key for i in sn.walk()) == ["c", "v"]


def check_parent_must_be_committed(make: Factory) -> None:
    """prepare/view with an absent or non-committed parent -> NotFound, and
    nothing is made."""
    with environment(make) as (sn, tmp, _):
        with raises(NotFound):
            sn.prepare("x", "nope")
        with raises(NotFound):
            sn.view("x", "nope")
        sn.prepare("active")
        with raises(NotFound):
            sn.prepare("x", "active")
        sn.commit("c", "active")
        sn.view("v", "c")
        with raises(NotFound):
            sn.prepare("x", "v")
        assert sorted(i.key for i in sn.walk()) == ["c", "v"]
        with raises(NotFound):
            sn.stat("x")


def check_commit(make: Factory) -> None:
    """commit: key becomes name (committed, labels replaced); key is gone;
    committing again -> NotFound; onto an existing name -> Conflict (key stays
    active); a view or committed key cannot be committed."""
    with environment(make) as (sn, tmp, _):
        mounts = sn.prepare("a", labels={"old": "x"})
        _write(mounts, tmp, {"f": b"data"})
        sn.commit("A", "a", labels={"new": "y"})
        info = sn.stat("A")
        assert (info.kind, info.parent, info.labels) == (KIND_COMMITTED, "", (("new", "y"),))
        with raises(NotFound):
            sn.stat("a")
        with raises(NotFound):
            sn.commit("A2", "a")
        with raises(NotFound):
            sn.mounts("A")
        sn.prepare("b", "A")
        with raises(Conflict):
            sn.commit("A", "b")
        assert sn.stat("b").kind == KIND_ACTIVE
        sn.view("v", "A")
        with raises(NotFound):
            sn.commit("V", "v")
        with raises(NotFound):
            sn.commit("A3", "A")
        sn.commit("B", "b")
        assert sn.stat("B").parent == "A"


def check_layers_stack(make: Factory) -> None:
    """A child sees its parent's tree; its writes and deletions stay in it;
    the parent is unchanged; views of any depth show the merged tree."""
    with environment(make) as (sn, tmp, _):
        _write(sn.prepare("a"), tmp, {"keep": b"1", "gone": b"2", "d/x": b"3", "over": b"old"})
        sn.commit("A", "a")
        m = sn.prepare("b", "A")
        assert _tree(m, tmp) == {"keep": b"1", "gone": b"2", "d": "dir", "d/x": b"3", "over": b"old"}
        _write(m, tmp, {"gone": None, "d": None, "over": b"new", "added": b"4"})
        sn.commit("B", "b")
        assert _tree(sn.view("va", "A"), tmp) == {"keep": b"1", "gone": b"2", "d": "dir",
                                                   "d/x": b"3", "over": b"old"}
        want = {"keep": b"1", "over": b"new", "added": b"4"}
        assert _tree(sn.view("vb", "B"), tmp) == want
        m = sn.prepare("c", "B")
        assert _tree(m, tmp) == want
        _write(m, tmp, {"deep/er": b"5"})
        sn.commit("C", "c")
        assert _tree(sn.view("vc", "C"), tmp) == dict(want, **{"deep": "dir", "deep/er": b"5"})


def check_view_is_read_only(make: Factory) -> None:
    """A view's mounts are read-only (EROFS), with or without parents."""
    with environment(make) as (sn, tmp, _):
        _write(sn.prepare("a"), tmp, {"f": b"1"})
        sn.commit("A", "a")
        _write(sn.prepare("b", "A"), tmp, {"g": b"2"})
        sn.commit("B", "b")
        for key, parent in (("v0", ""), ("v1", "A"), ("v2", "B")):
            mounts = sn.view(key, parent)
            assert sn.stat(key).kind == KIND_VIEW
            assert sn.mounts(key) == mounts
            with mounted(mounts, tmp) as mp:
                try:
                    open(os.path.join(mp, "new"), "wb").close()
                except OSError as e:
                    assert e.errno == errno.EROFS, e
                else:
                    raise AssertionError(f"view {key} is writable")


def check_mounts(make: Factory) -> None:
    """mounts(key) equals what prepare/view returned; NotFound for a
    committed or absent key."""
    with environment(make) as (sn, tmp, _):
        m = sn.prepare("a")
        assert sn.mounts("a") == m
        sn.commit("A", "a")
        m2 = sn.prepare("b", "A")
        assert sn.mounts("b") == m2
        with raises(NotFound):
            sn.mounts("A")
        with raises(NotFound):
            sn.mounts("zzz")


def check_remove(make: Factory) -> None:
    """remove: Conflict while children exist; NotFound when absent; removes
    active, view and committed snapshots and their directories."""
    with environment(make) as (sn, tmp, _):
        sn.prepare("a")
        sn.commit("A", "a")
        sn.prepare("b", "A")
        sn.view("v", "A")
        with raises(Conflict):
            sn.remove("A")
        sn.remove("b")
        with raises(Conflict):
            sn.remove("A")
        sn.remove("v")
        sn.remove("A")
        with raises(NotFound):
            sn.remove("A")
        with raises(NotFound):
            sn.stat("b")
        assert list(sn.walk()) == []
        root = os.path.join(tmp, "snapshots")
        assert [n for n in os.listdir(root) if not n.startswith(".")] == []


def check_usage(make: Factory) -> None:
    """usage counts the snapshot's own bytes and inodes; a hardlink is one
    inode; NotFound for an absent key."""
    with environment(make) as (sn, tmp, _):
        m = sn.prepare("a")
        u0 = sn.usage("a")
        assert u0.inodes >= 1 and u0.size >= 0
        with mounted(m, tmp) as mp:
            with open(os.path.join(mp, "big"), "wb") as f:
                f.write(os.urandom(1 << 20))
            os.link(os.path.join(mp, "big"), os.path.join(mp, "big2"))
            os.mkdir(os.path.join(mp, "d"))
        u1 = sn.usage("a")
        assert u1.size - u0.size >= 1 << 20
        assert u1.size - u0.size < 3 << 20
        assert u1.inodes == u0.inodes + 2
        sn.commit("A", "a")
        assert sn.usage("A") == u1
        with raises(NotFound):
            sn.usage("a")


def check_walk_and_stat(make: Factory) -> None:
    """walk yields every snapshot with its kind, parent and labels."""
    with environment(make) as (sn, tmp, _):
        sn.prepare("a", labels={"k": "v"})
        sn.commit("A", "a", labels={"c": "1"})
        sn.prepare("b", "A")
        sn.view("v", "A", labels={"x": "y"})
        got = {i.key: (i.kind, i.parent, i.labels) for i in sn.walk()}
        assert got == {"A": (KIND_COMMITTED, "", (("c", "1"),)),
                       "b": (KIND_ACTIVE, "A", ()),
                       "v": (KIND_VIEW, "A", (("x", "y"),))}
        assert sn.stat("v").parent == "A"
        with raises(NotFound):
            sn.stat("a")


def check_persistence(make: Factory) -> None:
    """A snapshotter reopened on the same root and database sees the same
    snapshots and trees."""
    with environment(make) as (sn, tmp, reopen):
        _write(sn.prepare("a"), tmp, {"f": b"1"})
        sn.commit("A", "a")
        m = sn.prepare("b", "A")
        sn2 = reopen()
        assert sorted(i.key for i in sn2.walk()) == ["A", "b"]
        assert sn2.mounts("b") == m
        assert _tree(sn2.mounts("b"), tmp) == {"f": b"1"}


def check_cleanup(make: Factory) -> None:
    """cleanup removes half-made directories (no metadata) and keeps the
    snapshots."""
    with environment(make) as (sn, tmp, _):
        _write(sn.prepare("a"), tmp, {"f": b"1"})
        sn.commit("A", "a")
        sn.prepare("b", "A")
        root = os.path.join(tmp, "snapshots")
        before = sorted(os.listdir(root))
        for junk in ("new-123", "rm-7", "9999", "probe-x"):
            os.makedirs(os.path.join(root, junk, "fs", "sub"))
            open(os.path.join(root, junk, "fs", "sub", "file"), "w").close()
        # a mount left in a half-made directory: detached, its source kept
        src = os.path.join(tmp, "mounted-src")
        os.mkdir(src)
        open(os.path.join(src, "precious"), "w").close()
        from ..snapshots.mount import mount_all
        mount_all([Mount("bind", src, ("rbind", "rw"))], os.path.join(root, "9999", "fs", "sub"))
        sn.cleanup()
        assert sorted(os.listdir(root)) == before
        assert os.path.exists(os.path.join(src, "precious"))
        assert _tree(sn.mounts("b"), tmp) == {"f": b"1"}


def check_crash_leftovers_mended(make: Factory) -> None:
    """A directory renamed into place whose row was never committed (a crash
    inside prepare) does not block a later prepare that gets its id, and is
    removed by cleanup."""
    with environment(make) as (sn, tmp, reopen):
        sn.prepare("a")
        sn.remove("a")  # its id may be handed out again
        root = os.path.join(tmp, "snapshots")
        for n in range(1, 4):
            os.makedirs(os.path.join(root, str(n), "fs"), exist_ok=True)
            open(os.path.join(root, str(n), "fs", "stale"), "w").close()
        m = sn.prepare("b")
        assert _tree(m, tmp) == {}
        sn2 = reopen()
        sn2.cleanup()
        assert _tree(sn2.mounts("b"), tmp) == {}
        assert len([n for n in os.listdir(root) if n.isdigit()]) == 1


def _crash_during(make: Factory, tmp: str, patch: str, action) -> None:
    """In a forked child, open the snapshotter afresh, make ``os.<patch>`` in
    skiff.snapshots.base do its work and then kill the process on the spot
    (os._exit: no rollback, no cleanup), and run ``action(sn)``."""
    pid = os.fork()
    if pid == 0:
        try:
            from ..snapshots import base

            real = getattr(os, patch)

            class _OS:
                def __getattr__(self, name):
                    return getattr(os, name)

            fake = _OS()

            def crash(*a, **kw):
                real(*a, **kw)
                os._exit(42)

            setattr(fake, patch, crash)
            base.os = fake  # only this child's copy of the module
            db = Database(os.path.join(tmp, "metadata.db"))
            action(make(os.path.join(tmp, "snapshots"), db))
            os._exit(1)  # the crash point was not reached
        except BaseException:  # noqa: BLE001
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 42, "child did not crash where planned"


def check_crash_in_prepare(make: Factory) -> None:
    """A crash after the new directory is renamed into place but before the
    row is committed leaves no snapshot; cleanup removes the directory and
    the key can be prepared again."""
    with environment(make) as (sn, tmp, reopen):
        _write(sn.prepare("a"), tmp, {"f": b"1"})
        sn.commit("A", "a")
        root = os.path.join(tmp, "snapshots")
        before = sorted(os.listdir(root))
        _crash_during(make, tmp, "rename", lambda s: s.prepare("b", "A"))
        assert sorted(os.listdir(root)) != before  # the half-made directory
        sn2 = reopen()  # opening cleans up as a daemon start would
        sn2.cleanup()
        assert sorted(os.listdir(root)) == before
        assert sorted(i.key for i in sn2.walk()) == ["A"]
        assert _tree(sn2.prepare("b", "A"), tmp) == {"f": b"1"}


def check_crash_in_remove(make: Factory) -> None:
    """A crash after the row is deleted but before the directory is gone
    leaves no snapshot; cleanup removes the directory."""
    with environment(make) as (sn, tmp, reopen):
        _write(sn.prepare("a"), tmp, {"f": b"1"})
        sn.commit("A", "a")
        sn.prepare("b", "A")
        root = os.path.join(tmp, "snapshots")
        _crash_during(make, tmp, "rename", lambda s: s.remove("b"))
        sn2 = reopen()
        assert sorted(i.key for i in sn2.walk()) == ["A"]
        sn2.cleanup()
        assert len([n for n in os.listdir(root)]) == 1
        sn2.remove("A")
        assert os.listdir(root) == []


def check_concurrent_prepare_same_key(make: Factory) -> None:
    """Racing prepares of one key from several threads: exactly one wins, the
    others get Conflict, and one directory is left."""
    import threading

    with environment(make) as (sn, tmp, _):
        sn.prepare("a")
        sn.commit("A", "a")
        results: list[str] = []

        def go():
            try:
                sn.prepare("k", "A")
                results.append("ok")
            except Conflict:
                results.append("conflict")

        threads = [threading.Thread(target=go) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["conflict"] * 7 + ["ok"]
        root = os.path.join(tmp, "snapshots")
        assert len(os.listdir(root)) == 2


def check_invalid_keys(make: Factory) -> None:
    """Empty keys and names are refused; labels must be strings."""
    from ..errors import InvalidArgument

    with environment(make) as (sn, tmp, _):
        with raises(InvalidArgument):
            sn.prepare("")
        sn.prepare("a")
        with raises(InvalidArgument):
            sn.commit("", "a")
        with raises(InvalidArgument):
            sn.prepare("b", labels={"k": 1})
        assert [i.key for i in sn.walk()] == ["a"]


CHECKS = [
    check_prepare_base,
    check_prepare_existing_key_conflict,
    check_parent_must_be_committed,
    check_commit,
    check_layers_stack,
    check_view_is_read_only,
    check_mounts,
    check_remove,
    check_usage,
    check_walk_and_stat,
    check_persistence,
    check_cleanup,
    check_crash_leftovers_mended,
    check_crash_in_prepare,
    check_crash_in_remove,
    check_concurrent_prepare_same_key,
    check_invalid_keys,
]


def run_all(make: Factory) -> None:
    """Run every check against ``make``."""
    for check in CHECKS:
        check(make)
