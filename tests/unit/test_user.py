"""resolve_user: passwd/group lookup inside a rootfs, never following links out of it."""
from __future__ import annotations

import os

import pytest

from skiff.errors import NotFound
from skiff.runtime.user import resolve_user, user_home

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
wheel:x:10:app,root
audio:x:29:app
app:x:1000:
nogroup:x:65534:
"""


@pytest.fixture
def rootfs(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return str(tmp_path)


@pytest.mark.parametrize("spec,expected", [
    ("", (0, 0, [10])),
    ("root", (0, 0, [10])),
    ("app", (1000, 1000, [10, 29])),
    ("1000", (1000, 1000, [10, 29])),
    ("app:audio", (1000, 29, [])),
    ("1000:29", (1000, 29, [])),
    ("app:4242", (1000, 4242, [])),
    ("4242", (4242, 0, [])),
    ("4242:4343", (4242, 4343, [])),
    ("nobody", (65534, 65534, [])),
])
def test_resolve(rootfs, spec, expected):
    assert resolve_user(rootfs, spec) == expected


def test_unknown_names(rootfs):
    with pytest.raises(NotFound, match="unable to find user bob: no matching entries in passwd file"):
        resolve_user(rootfs, "bob")
    with pytest.raises(NotFound, match="unable to find group nope: no matching entries in group file"):
        resolve_user(rootfs, "app:nope")


def test_no_etc_files(tmp_path):
    assert resolve_user(str(tmp_path), "") == (0, 0, [])
    assert resolve_user(str(tmp_path), "123:45") == (123, 45, [])
    with pytest.raises(NotFound):
        resolve_user(str(tmp_path), "app")


def test_symlink_out_of_root_is_not_followed(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "passwd").write_text("evil:x:4321:4321::/:/bin/sh\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    # absolute and relative escapes both resolve inside the rootfs
    os.symlink(str(host / "passwd"), root / "etc" / "passwd")
    with pytest.raises(NotFound):
        resolve_user(str(root), "evil")
    os.remove(root / "etc" / "passwd")
    os.symlink("../../host/passwd", root / "etc" / "passwd")
    with pytest.raises(NotFound):
        resolve_user(str(root), "evil")
    # a symlinked /etc directory pointing at an absolute path is resolved in the rootfs
    os.remove(root / "etc" / "passwd")
    os.rmdir(root / "etc")
    (root / "real").mkdir()
    (root / "real" / "passwd").write_text("good:x:77:88::/home/good:/bin/sh\n")
    os.symlink("/real", root / "etc")
    assert resolve_user(str(root), "good") == (77, 88, [])
    assert user_home(str(root), 77) == "/home/good"
    assert user_home(str(root), 5) == "/"


def test_symlink_loop(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("passwd", tmp_path / "etc" / "passwd")
    from skiff.errors import UnsafePath
    with pytest.raises(UnsafePath):
        resolve_user(str(tmp_path), "x")


def test_resolve_groups(rootfs):
    from skiff.runtime.user import resolve_groups
    assert resolve_groups(rootfs, ["audio", "4000", "wheel", "29"]) == [29, 4000, 10]
    with pytest.raises(NotFound, match="unable to find group nope"):
        resolve_groups(rootfs, ["nope"])
