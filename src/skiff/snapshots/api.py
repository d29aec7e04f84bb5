"""The Snapshotter interface (after containerd core/snapshots/snapshotter.go).

A snapshot is a directory tree identified by a string ``key``. Committed
snapshots are read-only and named (skiff names image layers by their
chainID); active snapshots are writable and made by ``prepare`` on top of a
committed parent. Every implementation passes one conformance suite
(skiff.testing.snapshotter_conformance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

from ..types import Mount

KIND_ACTIVE = "active"
KIND_VIEW = "view"
KIND_COMMITTED = "committed"


@dataclass(frozen=True)
class Info:
    """What ``stat`` returns: ``kind`` is one of active/view/committed,
    ``parent`` the committed parent's name or "" for a base snapshot."""

    key: str
    kind: str
    parent: str = ""
    created: float = 0.0  # unix seconds
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Usage:
    """Disk use of one snapshot's own layer: ``size`` in bytes, ``inodes``."""

    size: int
    inodes: int


class Snapshotter(Protocol):
    """Contracts (each implementation must honour them exactly):

    - ``prepare(key, parent)``: make an active (writable) snapshot on top of the
      committed snapshot ``parent`` ("" for none) and return the mounts that
      give its tree. Raises Conflict if ``key`` exists; NotFound if ``parent``
      is not a committed snapshot.
    - ``view(key, parent)``: like prepare, but read-only mounts.
    - ``mounts(key)``: the mounts of an active or view snapshot; NotFound otherwise.
    - ``commit(name, key)``: turn active ``key`` into committed ``name``; ``key``
      is gone afterwards. Conflict if ``name`` exists; NotFound if ``key`` is not
      active. Atomic: a crash leaves either the active or the committed one.
    - ``remove(key)``: remove any snapshot; Conflict if a snapshot has it as
      parent; NotFound if absent.
    - ``stat(key)`` -> Info; ``usage(key)`` -> Usage; ``walk()`` -> every Info.
    - ``cleanup()``: remove half-made directories left by a crash.
    """

    def prepare(self, key: str, parent: str = "", labels: dict | None = None) -> list[Mount]: ...
    def view(self, key: str, parent: str = "", labels: dict | None = None) -> list[Mount]: ...
    def mounts(self, key: str) -> list[Mount]: ...
    def commit(self, name: str, key: str, labels: dict | None = None) -> None: ...
    def remove(self, key: str) -> None: ...
    def stat(self, key: str) -> Info: ...
    def usage(self, key: str) -> Usage: ...
    def walk(self) -> Iterator[Info]: ...
    def cleanup(self) -> None: ...
