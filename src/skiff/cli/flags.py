"""Command-line flags with the semantics of spf13/pflag (what Docker's CLI uses).

``--name=value``, ``--name value``, ``-x value``, ``-xvalue``, ``-x=value``,
grouped short booleans (``-it``), ``--flag=false`` for booleans, ``--`` ends
flags; with ``interspersed=False`` (run, create, exec) the first positional
argument ends the flags, so ``run busybox ls -l`` keeps ``-l`` for the command.
Errors are raised as :class:`FlagError` with pflag's wording (the CLI prints
them with the usage line and exits 125).
"""

from __future__ import annotations


class FlagError(Exception):
    """A bad flag or value; exit status 125 as Docker's CLI."""


class ArgsError(Exception):
    """Wrong number of positional arguments (cobra's Args check); exit status 1."""


class HelpRequested(Exception):
    """--help was given."""


class Flag:
    """One flag. ``kind``: "bool", "string", "list" (repeatable), "int",
    "float", or a callable ``str -> value`` raising ValueError(msg) on a bad
    value. ``type_name`` is what --help shows after the flag ("string", "list",
    "bytes", "int", "decimal"...)."""

    def __init__(self, name: str, short: str | None = None, kind="bool", default=None,
                 help: str = "", type_name: str | None = None, dest: str | None = None,
                 hidden: bool = False):
        self.name = name
        self.short = short
        self.kind = kind
        self.help = help
        self.hidden = hidden
        self.dest = dest or name.replace("-", "_")
        if default is None:
            default = {"bool": False, "list": None}.get(kind) if isinstance(kind, str) else None
        self.default = default
        if type_name is None:
            type_name = kind if isinstance(kind, str) else "string"
            type_name = {"bool": "", "float": "decimal"}.get(type_name, type_name)
        self.type_name = type_name

    @property
    def label(self) -> str:
        """'-m, --memory' or '--cpus' as pflag names the flag in errors."""
        return f"-{self.short}, --{self.name}" if self.short else f"--{self.name}"

    def convert(self, value: str):
        kind = self.kind
        try:
            if kind == "bool":
                v = value.lower()
                if v in ("1", "t", "true"):
                    return True
                if v in ("0", "f", "false"):
                    return False
                raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')
            if kind in ("string", "list"):
                return value
            if kind == "int":
                try:
                    return int(value, 0) if value.strip().lower().startswith(("0x", "0o", "0b")) else int(value)
                except ValueError:
                    raise ValueError(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
            if kind == "float":
                try:
                    return float(value)
                except ValueError:
                    raise ValueError(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None
            return kind(value)
        except ValueError as e:
            raise FlagError(f'invalid argument "{value}" for "{self.label}" flag: {e}') from None


class Options(dict):
    """Parsed flag values by ``dest``, also as attributes; ``given`` is the set of
    dests that appeared on the command line."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    given: set


class FlagSet:
    """The flags of one command. ``usage``: "run [OPTIONS] IMAGE [COMMAND] [ARG...]";
    ``args``: (min, max) positional count (max None = unbounded)."""

    def __init__(self, usage: str, description: str, flags: list[Flag], *,
                 interspersed: bool = True, args: tuple[int, int | None] = (0, None),
                 aliases: list[str] | None = None):
        self.usage = usage
        self.description = description
        self.flags = list(flags) + [Flag("help", None, "bool", help="Print usage", hidden=True)]
        self.interspersed = interspersed
        self.args = args
        self.aliases = aliases or []
        self.by_long = {f.name: f for f in self.flags}
        self.by_short = {f.short: f for f in self.flags if f.short}

    def parse(self, argv: list[str]) -> tuple[Options, list[str]]:
        """Parse argv -> (Options, positional args). Raises FlagError,
        HelpRequested, ArgsError."""
        opts = Options()
        opts.given = set()
        for f in self.flags:
            opts[f.dest] = list(f.default) if f.kind == "list" and f.default else (
                [] if f.kind == "list" else f.default)
        args: list[str] = []
        i = 0
        n = len(argv)

        def set_value(f: Flag, raw: str):
            value = f.convert(raw)
            if f.kind == "list":
                opts[f.dest].append(value)
            else:
                opts[f.dest] = value
            opts.given.add(f.dest)

        while i < n:
            a = argv[i]
            i += 1
            if a == "--":
                args.extend(argv[i:])
                break
            if a.startswith("--") and len(a) > 2:
                name, eq, value = a[2:].partition("=")
                f = self.by_long.get(name)
                if f is None:
                    raise FlagError(f"unknown flag: --{name}")
                if f.kind == "bool":
                    set_value(f, value if eq else "true")
                elif eq:
                    set_value(f, value)
                elif i < n:
                    set_value(f, argv[i])
                    i += 1
                else:
                    raise FlagError(f"flag needs an argument: --{name}")
                continue
            if a.startswith("-") and len(a) > 1:
                shorts = a[1:]
                j = 0
                while j < len(shorts):
                    c = shorts[j]
                    f = self.by_short.get(c)
                    if f is None:
                        if c == "h" and "help" in self.by_long and "h" not in self.by_short:
                            raise HelpRequested()
                        raise FlagError(f"unknown shorthand flag: '{c}' in -{shorts}")
                    rest = shorts[j + 1:]
                    if f.kind == "bool":
                        if rest.startswith("="):
                            set_value(f, rest[1:])
                            break
                        set_value(f, "true")
                        j += 1
                        continue
                    if rest.startswith("="):
                        set_value(f, rest[1:])
                    elif rest:
                        set_value(f, rest)
                    elif i < n:
                        set_value(f, argv[i])
                        i += 1
                    else:
                        raise FlagError(f"flag needs an argument: '{c}' in -{c}")
                    break
                continue
            args.append(a)
            if not self.interspersed:
                args.extend(argv[i:])
                break
        if opts.get("help"):
            raise HelpRequested()
        lo, hi = self.args
        if len(args) < lo:
            if lo == 1:
                raise ArgsError("requires at least 1 argument")
            raise ArgsError(f"requires at least {lo} arguments")
        if hi is not None and len(args) > hi:
            if hi == 0:
                raise ArgsError("accepts no arguments")
            if lo == hi:
                raise ArgsError(f"requires exactly {hi} argument{'s' if hi != 1 else ''}")
            raise ArgsError(f"requires at most {hi} argument{'s' if hi != 1 else ''}")
        return opts, args

    def help_text(self, prog: str) -> str:
        """Docker-style --help: usage, description, aliases, options table."""
        lines = [f"Usage:  {prog} {self.usage}", "", self.description, ""]
        if self.aliases:
            lines += ["Aliases:", "  " + ", ".join(self.aliases), ""]
        rows = []
        for f in self.flags:
            if f.hidden:
                continue
            left = (f"  -{f.short}, " if f.short else "      ") + f"--{f.name}"
            if f.type_name:
                left += " " + f.type_name
            rows.append((left, f.help))
        if rows:
            width = max(len(r[0]) for r in rows) + 3
            lines.append("Options:")
            for left, h in rows:
                lines.append(left.ljust(width) + h)
            lines.append("")
        return "\n".join(lines)
