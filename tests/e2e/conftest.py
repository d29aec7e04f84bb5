"""A private skiffd for end-to-end tests, and helpers to drive it with the
skiff CLI and the real docker CLI.

``skiffd`` (session): a daemon with its own --data-root (under /tmp), --exec-root
(/run/skifftest-<pid>) and socket, configured with the loopback registry as
the docker.io mirror. It is stopped, and everything it mounted removed, at the end.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from skiffd_harness import Skiffd


@pytest.fixture(scope="session")
def skiffd(registry):
    base = Path(tempfile.mkdtemp(prefix="skifftest-e2e-"))
    d = Skiffd(base, registry)
    d.start()
    try:
        yield d
    finally:
        d.destroy()


@pytest.fixture(scope="session")
def busybox(skiffd, registry) -> str:
    """The fixture busybox pulled and tagged ``busybox`` in the daemon."""
    ref = f"{registry}/library/busybox:latest"
    skiffd.cli("pull", ref, check=True)
    skiffd.cli("tag", ref, "busybox", check=True)
    return ref
