"""``skiff logout [SERVER]``: forget the credentials of a registry."""

from skiff.cli.commands.login import logout as main  # noqa: F401
