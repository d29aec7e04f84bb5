"""safepath: cleaning tar names and resolving paths inside a root (as runc's
filepath-securejoin). Pure path logic on a temp tree; no root needed."""
from __future__ import annotations

import os

import pytest

from skiff.errors import UnsafePath
from skiff.snapshots.safepath import clean_name, is_within, secure_join, secure_parent


@pytest.mark.parametrize("name,want", [
    ("a", "a"), ("./a", "a"), ("a/", "a"), ("a//b/./c", "a/b/c"), ("a/b/../c", "a/c"),
    ("/etc/passwd", "etc/passwd"), ("//etc//passwd", "etc/passwd"), ("/../../x", "x"),
    ("/..", ""), (".", ""), ("./", ""), ("/", ""), ("a/..", ""),
    ("...", "..."), ("..a", "..a"), ("a/..b", "a/..b"),
])
def test_clean_name(name, want):
    assert clean_name(name) == want


@pytest.mark.parametrize("name", ["..", "../", "../x", "a/../../x", "./../x", "a/b/../../../x", "",
                                  "a\x00b"])
def test_clean_name_refuses_escapes(name):
    with pytest.raises(UnsafePath) as ei:
        clean_name(name)
    assert ei.value.details["path"] == name


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "a" / "b").mkdir(parents=True)
    (r / "file").write_text("x")
    os.symlink("/", r / "toroot")
    os.symlink("../../../../../..", r / "a" / "up")
    os.symlink("/a/b", r / "abs")
    os.symlink("b", r / "a" / "rel")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    os.symlink("/etc", r / "etc2")  # /etc is absent in the root
    os.symlink("../a/./b/../b", r / "a" / "messy")
    os.symlink("nowhere/../../x", r / "dangling")
    return str(r)


@pytest.mark.parametrize("unsafe,want", [
    ("", ""), ("/", ""), ("..", ""), ("../../..", ""), ("a/b", "a/b"), ("/a/b", "a/b"),
    ("a/../a/b", "a/b"), ("toroot", ""), ("toroot/a", "a"), ("toroot/../../a/b", "a/b"),
    ("a/up", ""), ("a/up/a/b", "a/b"), ("abs", "a/b"), ("abs/c", "a/b/c"), ("a/rel", "a/b"),
    ("a/rel/x/y", "a/b/x/y"), ("etc2/passwd", "etc/passwd"), ("a/messy", "a/b"),
    ("missing/../a/rel", "a/b"), ("dangling", "x"), ("file/x", "file/x"),
    ("a/b/../../toroot/../a", "a"),
])
def test_secure_join_stays_inside(root, unsafe, want):
    got = secure_join(root, unsafe)
    assert got == (os.path.join(root, want) if want else root)
    assert is_within(root, got)


def test_secure_join_does_not_resolve_the_root(tmp_path):
    os.symlink(tmp_path / "real", tmp_path / "link")
    (tmp_path / "real").mkdir()
    assert secure_join(str(tmp_path / "link"), "x") == str(tmp_path / "link" / "x")


@pytest.mark.parametrize("unsafe", ["loop1/x", "loop2"])
def test_secure_join_symlink_loop(root, unsafe):
    with pytest.raises(UnsafePath) as ei:
        secure_join(root, unsafe)
    assert "too many levels of symbolic links" in str(ei.value)


def test_secure_join_self_loop(root):
    os.symlink("/me", os.path.join(root, "me"))
    with pytest.raises(UnsafePath):
        secure_join(root, "me/x")


def test_secure_join_limit(root):
    # a chain of 10 symlinks resolves, but not with a budget of 5
    prev = "a"
    for i in range(10):
        os.symlink(prev, os.path.join(root, f"l{i}"))
        prev = f"l{i}"
    assert secure_join(root, "l9/b") == os.path.join(root, "a/b")
    with pytest.raises(UnsafePath):
        secure_join(root, "l9/b", max_symlinks=5)


def test_secure_parent_keeps_last_component(root):
    assert secure_parent(root, "toroot/a/rel") == (os.path.join(root, "a"), "rel")
    assert secure_parent(root, "abs") == (root, "abs")
    with pytest.raises(UnsafePath):
        secure_parent(root, "")


def test_is_within():
    assert is_within("/r", "/r") and is_within("/r", "/r/x")
    assert not is_within("/r", "/rx") and not is_within("/r", "/")
