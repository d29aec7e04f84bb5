"""``skiff login [-u USER] [-p PASS | --password-stdin] [SERVER]`` and
``skiff logout [SERVER]``: POST /auth checks the credentials with the
registry (Engine API v1.44 SystemAuth); they are then kept in skiff's
config.json (see skiff.cli.auth)."""

from __future__ import annotations

import sys

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet


def main(cli, argv):
    fs = FlagSet("[OPTIONS] [SERVER]", "Authenticate to a registry", [
        Flag("username", "u", "string", help="Username"),
        Flag("password", "p", "string", help="Password or Personal Access Token (PAT)"),
        Flag("password-stdin", None, "bool", help="Take the Password or Personal Access Token (PAT) from stdin"),
    ], args=(0, 1), aliases=[f"{PROG} login"])
    opts, args = cli.parse(fs, argv)
    from skiff.cli import auth
    server = auth.normalize_server(args[0]) if args else auth.INDEX_SERVER
    user, pw = opts.username, opts.password
    if opts.password_stdin:
        if pw:
            raise StatusError("--password and --password-stdin are mutually exclusive", 1)
        if not user:
            raise StatusError("Must provide --username with --password-stdin", 1)
        pw = sys.stdin.read().rstrip("\r\n")
    if not user:
        cli.out.write("Username: ")
        cli.out.flush()
        user = sys.stdin.readline().strip()
    if not pw:
        import getpass
        pw = getpass.getpass("Password: ")
    if not user or not pw:
        raise StatusError("Error: Cannot perform an interactive login from a non TTY device", 1)
    resp = cli.client.post_json("/auth", None, {"username": user, "password": pw, "serveraddress": server})
    auth.save_login(server, user, pw)
    cli.out.write(((resp or {}).get("Status") or "Login Succeeded") + "\n")
    return 0


def logout(cli, argv):
    fs = FlagSet("[SERVER]", "Log out from a registry", [], args=(0, 1), aliases=[f"{PROG} logout"])
    _, args = cli.parse(fs, argv)
    from skiff.cli import auth
    server = auth.normalize_server(args[0]) if args else auth.INDEX_SERVER
    if auth.remove_login(server):
        cli.out.write(f"Removing login credentials for {server}\n")
    else:
        cli.out.write(f"Not logged in to {server}\n")
    return 0
