"""The runtime's logger without importing ``logging`` on the hot path.

``log.debug/info/warning/error(fmt, *args)`` go to ``sink`` when the
``skiff-runtime`` command set one (it writes runc's --log lines itself),
otherwise to ``logging.getLogger("skiff.runtime")`` (the shim and the daemon
configure logging). A record that cannot be delivered (``logging`` not
importable after pivot_root) is dropped rather than failing the caller.
"""

from __future__ import annotations

import sys

#: callable(level: str, message: str) or None; set by skiff.runtime.cli
sink = None
#: with a sink: whether debug records are wanted
debug_enabled = False


class _Log:
    def _emit(self, level: str, fmt: str, args: tuple) -> None:
        if sink is not None:
            if level == "debug" and not debug_enabled:
                return
            try:
                sink(level, fmt % args if args else fmt)
            except Exception:  # noqa: BLE001 - logging never fails the caller
                pass
            return
        logging = sys.modules.get("logging")
        if logging is None:
            if level == "debug":
                return  # nobody configured logging: nobody listens
            try:
                import logging
            except ImportError:
                return
        logging.getLogger("skiff.runtime").log(
            {"debug": 10, "info": 20, "warning": 30, "error": 40}[level], fmt, *args)

    def debug(self, fmt: str, *args) -> None:
        self._emit("debug", fmt, args)

    def info(self, fmt: str, *args) -> None:
        self._emit("info", fmt, args)

    def warning(self, fmt: str, *args) -> None:
        self._emit("warning", fmt, args)

    def error(self, fmt: str, *args) -> None:
        self._emit("error", fmt, args)


log = _Log()
