"""``cp`` end to end: GET/HEAD/PUT /containers/{id}/archive through skiffd with
the skiff CLI, the docker CLI and raw API calls; shared case 003 (symlinks
that point outside the container root); running and stopped containers; bind
mounts; hostile tars whose only possible victim is a canary in a temp dir."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import pytest

from skiff.client import Client
from skiff.errors import InvalidArgument, NotFound, SkiffError, UnsafePath

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def skiff_wrapper(skiffd, tmp_path_factory):
    path = tmp_path_factory.mktemp("skiffbin") / "skiff"
    path.write_text(f"#!/bin/sh\nexec {sys.executable} -m skiff.cli -H {skiffd.host} \"$@\"\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("engine", ["skiff", "docker"])
def test_case_003_cp_through_symlinks(skiffd, busybox, shared_dir, skiff_wrapper, engine):
    script = shared_dir / "cases" / "003-cp-through-symlinks.sh"
    env = dict(skiffd.env(), ENGINE=skiff_wrapper if engine == "skiff" else "docker")
    r = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=300,
                       cwd=str(shared_dir / "cases"))
    lines = r.stdout.strip().splitlines()
    assert lines and lines[-1] == "PASS", (r.stdout[-2000:], r.stderr[-2000:])


@pytest.fixture
def work(tmp_path):
    return tmp_path


def _run_d(skiffd, *args) -> str:
    r = skiffd.cli("run", "-d", *args, check=True)
    return r.stdout.strip()


def test_cp_out_and_in_running(skiffd, busybox, work):
    cid = _run_d(skiffd, "busybox", "sh", "-c",
                 "mkdir -p /data/sub && echo hi > /data/sub/f && ln -s sub/f /data/lnk && sleep 300")
    try:
        skiffd.cli("exec", cid, "true", check=True)  # the setup ran
        out = work / "out"
        out.mkdir()
        skiffd.cli("cp", f"{cid}:/data", str(out), check=True)
        assert (out / "data/sub/f").read_text() == "hi\n"
        assert os.readlink(out / "data/lnk") == "sub/f"
        # a file to a new name; -L follows the link
        skiffd.cli("cp", f"{cid}:/data/sub/f", str(out / "renamed"), check=True)
        assert (out / "renamed").read_text() == "hi\n"
        skiffd.cli("cp", "-L", f"{cid}:/data/lnk", str(out / "followed"), check=True)
        assert (out / "followed").read_text() == "hi\n" and not (out / "followed").is_symlink()
        # contents of a directory with "/."
        skiffd.cli("cp", f"{cid}:/data/.", str(out / "contents"), check=True)
        assert sorted(os.listdir(out / "contents")) == ["lnk", "sub"]
        # into the container: a file into a dir, a file to a new name, a dir
        src = work / "src.txt"
        src.write_text("payload\n")
        skiffd.cli("cp", str(src), f"{cid}:/data/sub/", check=True)
        skiffd.cli("cp", str(src), f"{cid}:/data/new.txt", check=True)
        tree = work / "tree"
        (tree / "a/b").mkdir(parents=True)
        (tree / "a/b/c").write_text("deep")
        skiffd.cli("cp", str(tree / "a"), f"{cid}:/data/", check=True)
        r = skiffd.cli("exec", cid, "cat", "/data/sub/src.txt", "/data/new.txt", "/data/a/b/c", check=True)
        assert r.stdout == "payload\npayload\ndeep"
        # a tar on stdin, and a tar to stdout
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            ti = tarfile.TarInfo("from-stdin")
            ti.size = 3
            tf.addfile(ti, io.BytesIO(b"abc"))
        r = skiffd.cli("cp", "-", f"{cid}:/data", input=buf.getvalue())
        assert r.returncode == 0, r.stderr
        r = subprocess.run([sys.executable, "-m", "skiff.cli", "-H", skiffd.host, "cp",
                            f"{cid}:/data/from-stdin", "-"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
            assert tf.extractfile("from-stdin").read() == b"abc"
        # errors: missing source, missing destination directory
        r = skiffd.cli("cp", f"{cid}:/nope", str(out))
        assert r.returncode == 1 and "Could not find the file /nope in container" in r.stderr
        r = skiffd.docker("cp", f"{cid}:/nope", str(out))
        assert r.returncode == 1 and "Could not find the file /nope in container" in r.stderr
    finally:
        skiffd.cli("rm", "-f", cid)


def test_cp_stopped_container_and_bind(skiffd, busybox, work):
    vol = work / "vol"
    vol.mkdir()
    (vol / "x").write_text("from the host\n")
    r = skiffd.cli("create", "-v", f"{vol}:/vol", "busybox", "sh", "-c", "cat /etc/in.txt /vol/in.txt")
    cid = r.stdout.strip()
    try:
        src = work / "in.txt"
        src.write_text("copied\n")
        for engine in (skiffd.cli, skiffd.docker):
            r = engine("cp", str(src), f"{cid}:/etc/")
            assert r.returncode == 0, r.stderr
        r = skiffd.docker("cp", str(src), f"{cid}:/vol/")
        assert r.returncode == 0, r.stderr
        assert (vol / "in.txt").read_text() == "copied\n"  # the write went into the bind's source
        out = work / "out"
        out.mkdir()
        r = skiffd.docker("cp", f"{cid}:/vol/x", str(out / "x"))
        assert r.returncode == 0, r.stderr
        assert (out / "x").read_text() == "from the host\n"
        r = skiffd.cli("start", "-a", cid)
        assert r.returncode == 0 and r.stdout == "copied\ncopied\n", r.stderr
        # nothing left mounted for the temporary copies
        with open("/proc/self/mountinfo") as f:
            assert os.path.join(skiffd.exec_root, "cp") not in f.read()
        assert os.listdir(os.path.join(skiffd.exec_root, "cp")) == []
    finally:
        skiffd.cli("rm", "-f", cid)


def test_head_stat_header(skiffd, busybox):
    cid = _run_d(skiffd, "busybox", "sh", "-c", "ln -s /etc /etclink && sleep 300")
    try:
        skiffd.cli("exec", cid, "true", check=True)
        c = Client(skiffd.host)
        _, hdrs, _ = c.request("HEAD", f"/containers/{cid}/archive", {"path": "/etclink"})
        st = json.loads(base64.b64decode(hdrs["x-docker-container-path-stat"]))
        assert st["name"] == "etclink" and st["linkTarget"] == "/etc"
        assert st["mode"] & (1 << 27)
        _, hdrs, _ = c.request("HEAD", f"/containers/{cid}/archive", {"path": "/etc/"})
        st = json.loads(base64.b64decode(hdrs["x-docker-container-path-stat"]))
        assert st["mode"] & (1 << 31) and st["name"] == "etc"
        with pytest.raises(NotFound):
            c.request("HEAD", f"/containers/{cid}/archive", {"path": "/nope"})
        with pytest.raises(InvalidArgument):
            c.request("GET", f"/containers/{cid}/archive", {"path": ""})
    finally:
        skiffd.cli("rm", "-f", cid)


def _tar(*entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _digest(path: str) -> dict:
    out = {}
    for dp, dns, fns in os.walk(path):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns,
                      hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.isfile(p) and not
                      os.path.islink(p) else "")
    return out


@pytest.mark.parametrize("running", [True, False])
def test_hostile_put_stays_in_container(skiffd, busybox, running):
    """The only host paths these tars aim at are a canary directory under a
    fresh temp dir: a regression can only ever damage that directory."""
    canary_dir = tempfile.mkdtemp(prefix="skifftest-canary-")
    try:
        with open(os.path.join(canary_dir, "canary"), "w") as f:
            f.write("canary\n")
        before = _digest(canary_dir)
        script = (f"mkdir -p /dst && ln -s {canary_dir} /dst/abs && ln -s ../../../../../..{canary_dir} /dst/rel"
                  f" && ln -s {canary_dir}/canary /dst/pw")
        if running:
            cid = _run_d(skiffd, "busybox", "sh", "-c", script + " && sleep 300")
            skiffd.cli("exec", cid, "true", check=True)
        else:
            cid = skiffd.cli("run", "-d", "busybox", "sh", "-c", script, check=True).stdout.strip()
            skiffd.cli("wait", cid, check=True)
        c = Client(skiffd.host)
        url = f"/containers/{cid}/archive"
        hostile = [
            ((("../../../../../.." + canary_dir + "/canary", "file", b"pwned"),), UnsafePath),
            ((("l", "sym", "../../../../../.." + canary_dir), ("l/canary", "file", b"pwned")), UnsafePath),
            ((("h", "hard", "../../../../.." + canary_dir + "/canary"),), UnsafePath),
            ((("abs/canary", "file", b"inside"),), None),   # through the container's symlinks
            ((("rel/canary", "file", b"inside"),), None),
            ((("pw", "file", b"replaced"),), None),          # replaces the link, never follows it
            ((("x", "sym", "/"), ("x" + canary_dir + "/canary", "file", b"inside")), None),
        ]
        # as destinations (before anything made those paths inside the container)
        for dest in ("/dst/abs", "/dst/rel/"):
            with pytest.raises(NotFound):
                c.request("PUT", url, {"path": dest}, _tar(("canary", "file", b"pwned")))
        for entries, err in hostile:
            if err is None:
                c.request("PUT", url, {"path": "/dst"}, _tar(*entries))
            else:
                with pytest.raises(SkiffError):
                    c.request("PUT", url, {"path": "/dst"}, _tar(*entries))
        assert _digest(canary_dir) == before
        # the writes that were accepted landed inside the container
        r = subprocess.run([sys.executable, "-m", "skiff.cli", "-H", skiffd.host, "cp",
                            f"{cid}:{canary_dir}/canary", "-"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
            assert tf.extractfile("canary").read() == b"inside"
        r = subprocess.run([sys.executable, "-m", "skiff.cli", "-H", skiffd.host, "cp",
                            f"{cid}:/dst/pw", "-"], capture_output=True, timeout=60)
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
            m = tf.getmember("pw")
            assert m.isfile() and tf.extractfile(m).read() == b"replaced"
        skiffd.cli("rm", "-f", cid)
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", canary_dir], check=False)


def test_cp_read_only_rootfs_refused(skiffd, busybox, work):
    cid = _run_d(skiffd, "--read-only", "busybox", "sleep", "300")
    try:
        src = work / "f"
        src.write_text("x")
        r = skiffd.cli("cp", str(src), f"{cid}:/tmp/")
        assert r.returncode == 1 and "read-only" in r.stderr, r.stderr
    finally:
        skiffd.cli("rm", "-f", cid)


def test_cp_running_container_bind(skiffd, busybox, work):
    vol = work / "vol"
    vol.mkdir()
    (vol / "x").write_text("from the host\n")
    cid = _run_d(skiffd, "-v", f"{vol}:/vol", "busybox", "sleep", "300")
    try:
        src = work / "in.txt"
        src.write_text("copied\n")
        r = skiffd.docker("cp", str(src), f"{cid}:/vol/")
        assert r.returncode == 0, r.stderr
        assert (vol / "in.txt").read_text() == "copied\n"
        out = work / "x"
        skiffd.cli("cp", f"{cid}:/vol/x", str(out), check=True)
        assert out.read_text() == "from the host\n"
    finally:
        skiffd.cli("rm", "-f", cid)


def test_cp_root_and_dot_both_clis(skiffd, busybox, work):
    cid = _run_d(skiffd, "busybox", "sh", "-c", "mkdir -p /d/x && echo 1 > /d/x/y && sleep 300")
    try:
        skiffd.cli("exec", cid, "true", check=True)
        for name, run in (("skiff", skiffd.cli), ("docker", skiffd.docker)):
            base = work / name
            base.mkdir()
            r = run("cp", f"{cid}:/", str(base / "root"))  # new directory named after dest
            assert r.returncode == 0, r.stderr
            assert {"bin", "etc", "d"} <= set(os.listdir(base / "root"))
            assert os.listdir(base / "root/proc") == []  # the kernel's file systems are not copied
            r = run("cp", f"{cid}:/d/.", str(base / "dd"))
            assert r.returncode == 0, r.stderr
            assert (base / "dd/x/y").read_text() == "1\n"
            (base / "exists").mkdir()
            r = run("cp", f"{cid}:/d/.", str(base / "exists"))  # contents merged into it
            assert r.returncode == 0, r.stderr
            assert os.listdir(base / "exists") == ["x"]
            tree = work / f"{name}-tree"
            (tree / "x").mkdir(parents=True)
            (tree / "x/f").write_text(name)
            r = run("cp", str(tree), f"{cid}:/new-{name}")  # to a new name
            assert r.returncode == 0, r.stderr
            r = skiffd.cli("exec", cid, "cat", f"/new-{name}/x/f", check=True)
            assert r.stdout == name
            r = run("cp", str(tree), f"{cid}:/d/x/y")
            assert r.returncode == 1 and "cannot copy" in r.stderr
    finally:
        skiffd.cli("rm", "-f", cid)
