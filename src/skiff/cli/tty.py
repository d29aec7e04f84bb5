"""Terminal helpers: is a file a terminal, its size, raw mode (termios) for
``run -it`` (restored on exit)."""

from __future__ import annotations

import os


def isatty(f) -> bool:
    try:
        return os.isatty(f.fileno())
    except (AttributeError, ValueError, OSError):
        return False


def size(fd: int = 1) -> tuple[int, int]:
    """(rows, columns) of the terminal on fd, (0, 0) when not a terminal."""
    try:
        sz = os.get_terminal_size(fd)
        return sz.lines, sz.columns
    except OSError:
        return 0, 0


class RawMode:
    """Context manager putting fd in raw mode (cfmakeraw) and restoring it."""

    def __init__(self, fd: int):
        self.fd = fd
        self.saved = None

    def __enter__(self):
        import termios
        import tty
        try:
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        except termios.error:
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
