"""The CLI's extraction of what `cp` brings out of a container: content the
container controls, so nothing may land outside the destination."""
import io
import os
import tarfile

import pytest

from skiff.cli.base import StatusError
from skiff.cli.commands.cp import extract_safely


def _tar(entries) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for kind, name, arg in entries:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(arg)
                t.addfile(ti, io.BytesIO(arg))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = arg
                t.addfile(ti)
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = arg
                t.addfile(ti)
    buf.seek(0)
    return tarfile.open(fileobj=buf, mode="r:")


def same(m, dest):
    return m


def test_symlink_then_write_through_it_stays_inside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    tf = _tar([("sym", "evil", str(outside)), ("file", "evil/pwned", b"x"),
               ("sym", "rel", "../outside"), ("file", "rel/pwned2", b"y")])
    extract_safely(tf, str(dest), same, False)
    assert os.listdir(outside) == []
    assert os.path.islink(dest / "evil") or (dest / "evil").is_dir()


@pytest.mark.parametrize("name", ["../escape", "a/../../escape"])
def test_dotdot_names_refused(tmp_path, name):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(StatusError):
        extract_safely(_tar([("file", name, b"x")]), str(dest), same, False)
    assert not (tmp_path / "escape").exists()


def test_hardlink_to_outside_is_not_made(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s")
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_safely(_tar([("hard", "h", str(secret))]), str(dest), same, False)
    assert not (dest / "h").exists() or (dest / "h").stat().st_ino != secret.stat().st_ino


def test_plain_tree_is_extracted(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_safely(_tar([("dir", "d", None), ("file", "d/f", b"hello"), ("sym", "d/l", "f"),
                         ("hard", "d/h", "d/f")]), str(dest), same, False)
    assert (dest / "d" / "f").read_bytes() == b"hello"
    assert os.readlink(dest / "d" / "l") == "f"
    assert (dest / "d" / "h").stat().st_ino == (dest / "d" / "f").stat().st_ino
