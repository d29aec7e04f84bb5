"""``skiff inspect [-f FORMAT] [-s] [--type TYPE] NAME...``: the JSON array of
the objects (4-space indent), or the template applied to each
(docker/cli cli/command/system/inspect.go). Tries container, image, network,
volume in that order unless --type is given."""

from __future__ import annotations

from skiff.cli.base import StatusError, error_text
from skiff.cli.flags import Flag, FlagSet
from skiff.cli.multi import quote
from skiff.errors import NotFound, SkiffError

_PATHS = {
    "container": "/containers/{}/json",
    "image": "/images/{}/json",
    "network": "/networks/{}",
    "volume": "/volumes/{}",
}


def main(cli, argv):
    fixed = cli.extra.get("type")
    flags = [Flag("format", "f", "string", help="Format output using a custom template"),
             Flag("size", "s", "bool", help="Display total file sizes if the type is container")]
    if not fixed:
        flags.append(Flag("type", None, "string", help="Only inspect objects of the given type"))
    usage = "[OPTIONS] NAME|ID [NAME|ID...]" if not fixed else f"[OPTIONS] {fixed.upper()} [{fixed.upper()}...]"
    fs = FlagSet(usage, "Return low-level information on skiff objects", flags, args=(1, None))
    opts, args = cli.parse(fs, argv)
    kind = fixed or opts.get("type") or ""
    if kind and kind not in _PATHS:
        raise StatusError(f'"{kind}" is not a valid value for --type', 1)
    tmpl = None
    if opts.format:
        from skiff.cli.template import Template, TemplateError
        fmt = opts.format
        if fmt == "json":
            fmt = "{{json .}}"
        try:
            tmpl = Template(fmt)
        except TemplateError as e:
            raise StatusError(f"template parsing error: {e}", 1) from None
    client = cli.client
    found = []
    errors = []
    for name in args:
        kinds = [kind] if kind else ["container", "image", "network", "volume"]
        obj = None
        last = None
        for k in kinds:
            params = {"size": True} if (k == "container" and opts.size) else None
            try:
                obj = client.get_json(_PATHS[k].format(quote(name)), params)
                break
            except NotFound as e:
                last = e
                continue
            except SkiffError as e:
                if e.details.get("status") in (400, 404) or "no such" in e.message.lower():
                    last = e
                    continue
                raise
        if obj is None:
            if kind:
                errors.append(error_text(last) if last is not None else f"Error: No such {kind}: {name}")
            else:
                errors.append(f"Error: No such object: {name}")
            continue
        found.append(obj)
        if tmpl is not None:
            from skiff.cli.template import TemplateError
            try:
                cli.out.write(tmpl.execute(obj) + "\n")
            except TemplateError as e:
                raise StatusError(f"template: {e}" if not str(e).startswith("template") else str(e), 1) from None
    if tmpl is None:
        from skiff.cli.output import indent_json
        cli.out.write(indent_json(found))
    if errors:
        raise StatusError("\n".join(errors), 1)
    return 0
