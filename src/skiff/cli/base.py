"""What every command module gets: the :class:`Cli` (streams, lazy API
client, the command's name) and :class:`StatusError` (message + exit status).

A command module ``skiff.cli.commands.<verb>`` defines
``main(cli: Cli, argv: list[str]) -> int``; it parses its flags with
``cli.parse(FlagSet(...), argv)`` and returns the exit status (or raises
StatusError / a skiff.errors class, which ``skiff.cli.__main__`` prints as
Docker's CLI does: "Error response from daemon: MSG", exit 1).
"""

from __future__ import annotations

import sys

from skiff.cli.flags import ArgsError, FlagError, FlagSet, HelpRequested

PROG = "skiff"


class StatusError(Exception):
    """Exit with ``code`` after printing ``message`` (if any) to stderr."""

    def __init__(self, message: str = "", code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


def error_text(e: BaseException) -> str:
    """How the CLI prints an error: daemon responses get Docker's
    "Error response from daemon: " prefix."""
    details = getattr(e, "details", None) or {}
    msg = getattr(e, "message", None) or str(e)
    if details.get("response"):
        return f"Error response from daemon: {msg}"
    return msg


class Cli:
    """State shared by the commands. ``command`` is the command path after the
    program name ("run", "container ls"); ``extra`` holds what the dispatch
    table adds (e.g. {"type": "image"} for ``image inspect``)."""

    def __init__(self, host: str | None = None, tls=None, debug: bool = False,
                 stdin=None, stdout=None, stderr=None):
        self.host = host
        self.tls = tls
        self.debug = debug
        self.stdin = stdin or sys.stdin
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.command = ""
        self.extra: dict = {}
        self._client = None

    @property
    def prog(self) -> str:
        return f"{PROG} {self.command}".strip()

    @property
    def client(self):
        """The skiff.client.Client for --host/SKIFF_HOST (made on first use)."""
        if self._client is None:
            from skiff.client import Client
            self._client = Client(self.host, tls=self.tls)
        return self._client

    def parse(self, flagset: FlagSet, argv: list[str]):
        """flagset.parse(argv), turning flag and argument errors into
        StatusError with Docker's text (125 for flags, 1 for argument count)
        and --help into printing the help (StatusError with code 0)."""
        try:
            return flagset.parse(argv)
        except HelpRequested:
            self.out.write(flagset.help_text(self.prog) + "\n")
            raise StatusError("", 0) from None
        except FlagError as e:
            raise StatusError(f"{e}\n\nUsage:  {self.prog} {flagset.usage}\n\n"
                              f"Run '{self.prog} --help' for more information", 125) from None
        except ArgsError as e:
            raise StatusError(f"{PROG}: '{self.prog}' {e}\n\nUsage:  {self.prog} {flagset.usage}\n\n"
                              f"See '{self.prog} --help' for more information", 1) from None

    def run_error(self, e: BaseException, code: int = 125) -> StatusError:
        """Docker's run/create error style: "skiff: MSG" + a help hint, exit 125."""
        return StatusError(f"{PROG}: {error_text(e)}\n\nRun '{self.prog} --help' for more information", code)

    def write(self, text: str) -> None:
        self.out.write(text)

    def warn(self, text: str) -> None:
        self.err.write(text if text.endswith("\n") else text + "\n")
