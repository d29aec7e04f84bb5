"""Interactive use through a real terminal (tmux): `run -it`, typing, window
resize seen by `stty size`, detach with Ctrl-P Ctrl-Q, re-attach, exit code
(issue 5 acceptance), with the skiff CLI and with the docker CLI."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.e2e


# a private tmux server (its own socket), ended with the module: nothing of
# the user's tmux is touched and no socket is left in /tmp/tmux-UID
_SOCKET = f"/tmp/skifftest-tmux-{os.getpid()}"


def _tmux(*args):
    return subprocess.run(["tmux", "-S", _SOCKET, *args], capture_output=True, text=True)


@pytest.fixture(scope="module", autouse=True)
def _tmux_server():
    yield
    _tmux("kill-server")
    try:
        os.unlink(_SOCKET)
    except FileNotFoundError:
        pass


def _screen(session):
    return _tmux("capture-pane", "-p", "-t", session).stdout


def _wait_screen(session, text, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in _screen(session):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("client", ["skiff", "docker"])
def test_run_it_resize_detach_attach_exit(skiffd, busybox, client):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: .ci/run installs it")
    name = f"skifftest-tty-{client}"
    session = f"skifftest-{os.getpid()}-{client}"
    if client == "skiff":
        cmd = f"{sys.executable} -m skiff.cli -H {skiffd.host}"
    else:
        cmd = f"env DOCKER_HOST={skiffd.host} DOCKER_CONFIG={skiffd.docker_config} docker"
    skiffd.cli("rm", "-f", name)
    try:
        _tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30",
              f"{cmd} run -it --name {name} busybox sh; echo EXIT=$?; sleep 60")
        assert _wait_screen(session, "/ #"), _screen(session)
        _tmux("send-keys", "-t", session, "echo typed-$((40+2))", "Enter")
        assert _wait_screen(session, "typed-42"), _screen(session)
        _tmux("send-keys", "-t", session, "stty size", "Enter")
        assert _wait_screen(session, "30 100"), _screen(session)
        _tmux("resize-window", "-t", session, "-x", "120", "-y", "40")
        time.sleep(0.5)
        _tmux("send-keys", "-t", session, "clear; stty size", "Enter")
        assert _wait_screen(session, "40 120"), _screen(session)
        _tmux("send-keys", "-t", session, "C-p", "C-q")
        assert _wait_screen(session, "EXIT=0"), _screen(session)
        assert skiffd.cli("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"
        _tmux("kill-session", "-t", session)
        _tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30",
              f"{cmd} attach {name}; echo EXIT=$?; sleep 60")
        time.sleep(1)
        _tmux("send-keys", "-t", session, "echo back-again", "Enter")
        assert _wait_screen(session, "back-again"), _screen(session)
        _tmux("send-keys", "-t", session, "exit 5", "Enter")
        assert _wait_screen(session, "EXIT=5"), _screen(session)
    finally:
        _tmux("kill-session", "-t", session)
        skiffd.cli("rm", "-f", name)
