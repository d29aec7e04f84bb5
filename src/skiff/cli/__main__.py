"""``skiff``: the command line, Docker's verbs and flags.

``main()`` reads the global flags (-H/--host, --tls*, -D, -l, -v), finds the
command in the dispatch table, imports only that one module
(``skiff.cli.commands.<module>``) and runs its ``main(cli, argv)``. Exit
statuses as Docker's CLI: 125 for flag errors, 1 for command errors, the
command's own status otherwise.
"""

from __future__ import annotations

import os
import sys

# verb -> module in skiff.cli.commands (open for exec, attach, cp, ...)
COMMANDS: dict[str, str] = {
    "run": "run",
    "create": "create",
    "start": "start",
    "stop": "stop",
    "restart": "restart",
    "kill": "kill",
    "wait": "wait",
    "rm": "rm",
    "rename": "rename",
    "ps": "ps",
    "logs": "logs",
    "inspect": "inspect",
    "pull": "pull",
    "images": "images",
    "rmi": "rmi",
    "tag": "tag",
    "import": "import",
    "load": "load",
    "version": "version",
    "info": "info",
    "exec": "exec",
    "attach": "attach",
    "login": "login",
    "logout": "logout",
    "network": "network",
    "port": "port",
    "cp": "cp", "export": "export", "diff": "diff", "top": "top", "stats": "stats",
    "pause": "pause", "unpause": "unpause", "events": "events",
}

# management commands: group -> sub -> module or (module, extra)
GROUPS: dict[str, dict[str, object]] = {
    "container": {
        "ls": "ps", "list": "ps", "ps": "ps",
        "inspect": ("inspect", {"type": "container"}),
        "rm": "rm", "remove": "rm",
        "run": "run", "create": "create", "start": "start", "stop": "stop", "restart": "restart",
        "kill": "kill", "wait": "wait", "logs": "logs", "rename": "rename",
        "exec": "exec", "attach": "attach", "port": "port",
        "cp": "cp", "export": "export", "diff": "diff", "top": "top", "stats": "stats",
        "pause": "pause", "unpause": "unpause", "prune": "prune",
    },
    "image": {
        "ls": "images", "list": "images",
        "inspect": ("inspect", {"type": "image"}),
        "rm": "rmi", "remove": "rmi",
        "tag": "tag", "pull": "pull", "import": "import", "load": "load",
    },
    "system": {"info": "info", "df": ("system", {"sub": "df"}),
               "prune": ("system", {"sub": "prune"}), "events": "events"},
}

_SHORT = {
    "run": "Create and run a new container from an image",
    "cp": "Copy files/folders between a container and the local filesystem",
    "export": "Export a container's filesystem as a tar archive",
    "diff": "Inspect changes to files or directories on a container's filesystem",
    "top": "Display the running processes of a container",
    "stats": "Display a live stream of container(s) resource usage statistics",
    "pause": "Pause all processes within one or more containers",
    "unpause": "Unpause all processes within one or more containers",
    "events": "Get real time events from the server",
    "create": "Create a new container",
    "start": "Start one or more stopped containers",
    "stop": "Stop one or more running containers",
    "restart": "Restart one or more containers",
    "kill": "Kill one or more running containers",
    "wait": "Block until one or more containers stop, then print their exit codes",
    "rm": "Remove one or more containers",
    "rename": "Rename a container",
    "ps": "List containers",
    "logs": "Fetch the logs of a container",
    "inspect": "Return low-level information on Docker objects",
    "pull": "Download an image from a registry",
    "images": "List images",
    "rmi": "Remove one or more images",
    "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    "import": "Import the contents from a tarball to create a filesystem image",
    "load": "Load an image from a tar archive or STDIN",
    "version": "Show the skiff version information",
    "info": "Display system-wide information",
    "exec": "Execute a command in a running container",
    "attach": "Attach local standard input, output, and error streams to a running container",
    "login": "Authenticate to a registry",
    "logout": "Log out from a registry",
    "network": "Manage networks",
    "port": "List port mappings or a specific mapping for the container",
}

_GLOBAL_HELP = """Usage:  skiff [OPTIONS] COMMAND

A container engine that speaks the Docker Engine API

Commands:
{commands}

Management Commands:
  container   Manage containers
  image       Manage images
  system      Manage skiff

Global Options:
      --config string      Location of client config files
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (default unix:///run/skiff/skiff.sock, env SKIFF_HOST)
  -l, --log-level string   Set the logging level ("debug", "info", "warn", "error", "fatal")
      --tls                Use TLS; implied by --tlsverify
      --tlscacert string   Trust certs signed only by this CA
      --tlscert string     Path to TLS certificate file
      --tlskey string      Path to TLS key file
      --tlsverify          Use TLS and verify the remote
  -v, --version            Print version information and quit

Run 'skiff COMMAND --help' for more information on a command.
"""


def _global_help() -> str:
    cmds = "\n".join(f"  {k:<11} {_SHORT.get(k, '')}" for k in COMMANDS)
    return _GLOBAL_HELP.format(commands=cmds)


def _group_help(group: str) -> str:
    subs = "\n".join(f"  {k}" for k in GROUPS[group])
    return (f"Usage:  skiff {group} COMMAND\n\nManage {group}s\n\nCommands:\n{subs}\n\n"
            f"Run 'skiff {group} COMMAND --help' for more information on a command.\n")


def _parse_globals(argv: list[str]):
    """Global flags before the command -> (settings dict, rest). Raises ValueError(msg)."""
    g = {"host": None, "tls": False, "tlsverify": None, "tlscacert": None, "tlscert": None,
         "tlskey": None, "debug": False, "version": False, "help": False, "config": None,
         "log_level": None}
    takes = {"-H": "host", "--host": "host", "--tlscacert": "tlscacert", "--tlscert": "tlscert",
             "--tlskey": "tlskey", "--config": "config", "-l": "log_level", "--log-level": "log_level",
             "-c": "context", "--context": "context"}
    bools = {"--tls": "tls", "--tlsverify": "tlsverify", "-D": "debug", "--debug": "debug",
             "-v": "version", "--version": "version", "-h": "help", "--help": "help"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        name, eq, value = a.partition("=")
        if name in takes:
            if not eq:
                if name.startswith("-") and not name.startswith("--") and len(a) > 2:
                    value = a[2:]
                    name = a[:2]
                elif i + 1 < len(argv):
                    i += 1
                    value = argv[i]
                else:
                    raise ValueError(f"flag needs an argument: {name}")
            g[takes[name]] = value
        elif a[:2] in takes and not a.startswith("--"):
            g[takes[a[:2]]] = a[2:]
        elif name in bools:
            g[bools[name]] = (value.lower() in ("1", "t", "true")) if eq else True
        else:
            if a.startswith("--"):
                raise ValueError(f"unknown flag: {name}")
            raise ValueError(f"unknown shorthand flag: '{a[1:2]}' in {a}")
        i += 1
    return g, argv[i:]


def _tls_config(g):
    verify = g["tlsverify"]
    if verify is None:
        verify = os.environ.get("SKIFF_TLS_VERIFY", "") not in ("", "0", "false")
    if not (g["tls"] or verify or g["tlscacert"] or g["tlscert"] or g["tlskey"]):
        return None
    from skiff.client import TLSConfig
    return TLSConfig(verify=verify, cacert=g["tlscacert"], cert=g["tlscert"], key=g["tlskey"])


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with argv (default sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from skiff.cli.base import Cli, StatusError, error_text
    from skiff.errors import SkiffError
    try:
        g, rest = _parse_globals(argv)
    except ValueError as e:
        sys.stderr.write(f"{e}\n\nUsage:  skiff [OPTIONS] COMMAND\n\n"
                         f"Run 'skiff --help' for more information\n")
        return 125
    if g["version"]:
        from skiff import __version__
        sys.stdout.write(f"skiff version {__version__}\n")
        return 0
    if g["help"] or not rest or rest[0] == "help":
        if rest[1:2] and rest[0] == "help":
            rest = [rest[1], "--help"]
        else:
            sys.stdout.write(_global_help())
            return 0
    if g["config"]:
        os.environ["SKIFF_CONFIG"] = g["config"]  # read by skiff.cli.auth
    host = g["host"] or os.environ.get("SKIFF_HOST") or None
    cli = Cli(host=host, tls=_tls_config(g), debug=g["debug"])
    verb, args = rest[0], rest[1:]
    extra: dict = {}
    if verb in GROUPS:
        table = GROUPS[verb]
        if not args or args[0] in ("--help", "-h", "help"):
            sys.stdout.write(_group_help(verb))
            return 0
        sub = args[0]
        target = table.get(sub)
        if target is None:
            sys.stderr.write(f"skiff: unknown command: skiff {verb} {sub}\n\n"
                             f"Run 'skiff {verb} --help' for more information\n")
            return 1
        if isinstance(target, tuple):
            module, extra = target
        else:
            module = target
        cli.command = f"{verb} {sub}"
        args = args[1:]
    else:
        module = COMMANDS.get(verb)
        if module is None:
            sys.stderr.write(f"skiff: unknown command: skiff {verb}\n\n"
                             f"Run 'skiff --help' for more information\n")
            return 1
        cli.command = verb
    cli.extra = dict(extra)
    name = f"skiff.cli.commands.{module}"
    __import__(name)  # the import statement's path (visible to -X importtime)
    mod = sys.modules[name]
    try:
        rc = mod.main(cli, args)
        _flush()
        return rc or 0
    except StatusError as e:
        _flush()
        if e.message:
            sys.stderr.write(e.message.rstrip("\n") + "\n")
        return e.code
    except SkiffError as e:
        _flush()
        sys.stderr.write(error_text(e) + "\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = None  # silence the flush at exit
        except Exception:
            pass
        return 0


def _flush():
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
