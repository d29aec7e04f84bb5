"""Output formatting as Docker's CLI: tabwriter tables, --format handling,
ids, ellipsis and the 4-space indented JSON of ``inspect``.

``format_rows`` follows docker/cli cli/command/formatter (Context.preFormat,
postFormat): a ``table`` prefix renders a header row (the template executed
on the header map with HeaderFunctions) and aligns the output with Go's
text/tabwriter (minwidth 10, tabwidth 1, padding 3, padchar ' ');
``\\t``/``\\n`` written literally in the format become tab and newline;
``json`` prints each row as one JSON object.
"""

from __future__ import annotations

import json


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go text/tabwriter with padchar ' ' and no flags: cells are terminated by
    tabs; the cells of a column block (adjacent lines having that column) are
    padded to the widest cell + padding, at least minwidth. Widths count runes."""
    lines = text.split("\n")
    trailing_newline = False
    if lines and lines[-1] == "":
        lines.pop()
        trailing_newline = True
    cells = [line.split("\t") for line in lines]
    out_parts: list[str] = []
    widths: list[int] = []

    def write_lines(a: int, b: int):
        for k in range(a, b):
            row = cells[k]
            buf = []
            for j, c in enumerate(row):
                buf.append(c)
                if j < len(widths) and j < len(row) - 1:
                    buf.append(" " * (widths[j] - len(c)))
            out_parts.append("".join(buf))

    def fmt(line0: int, line1: int):
        column = len(widths)
        this = line0
        while this < line1:
            row = cells[this]
            if column >= len(row) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1:
                row = cells[this]
                if column >= len(row) - 1:
                    break
                w = len(row[column]) + padding
                if w > width:
                    width = w
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(cells))
    res = "\n".join(out_parts)
    if trailing_newline:
        res += "\n"
    return res


def format_rows(fmt: str, rows: list, header: dict | None = None, *, json_keys: bool = True) -> str:
    """Render rows (dicts) with a Docker --format string. ``header`` maps field
    names to column titles ({"ID": "CONTAINER ID"...}). Raises
    skiff.cli.template.TemplateError."""
    from skiff.cli.template import Template, HEADER_FUNCS
    if fmt.strip() == "json":
        parts = []
        for row in rows:
            plain = {k: v for k, v in row.items() if not callable(v)} if isinstance(row, dict) else row
            text = json.dumps(plain, separators=(",", ":"), ensure_ascii=False, sort_keys=json_keys)
            # encoding/json's default HTML escaping, as Docker's "json" format
            text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            parts.append(text + "\n")
        return "".join(parts)
    is_table = fmt.startswith("table")
    final = fmt[len("table"):] if is_table else fmt
    final = final.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    tmpl = Template(final)
    body = []
    for row in rows:
        body.append(tmpl.execute(row))
        body.append("\n")
    if not is_table:
        return "".join(body)
    head = tmpl.execute(header or {}, HEADER_FUNCS) + "\n"
    return tabwrite(head + "".join(body))


def truncate_id(id_: str) -> str:
    """stringid.TruncateID: drop an "algo:" prefix, keep 12 characters."""
    if ":" in id_:
        id_ = id_.split(":", 1)[1]
    return id_[:12]


def ellipsis(s: str, max_width: int) -> str:
    """docker/cli formatter.Ellipsis: cut to max_width runes ending in "…"."""
    if max_width <= 0:
        return ""
    if len(s) <= max_width:
        return s
    if max_width == 1:
        return s[:1]
    return s[:max_width - 1] + "…"


def go_quote(s: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7f:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def indent_json(objs) -> str:
    """The JSON of ``docker inspect``: 4-space indent, no HTML escaping, a
    trailing newline."""
    return json.dumps(objs, indent=4, ensure_ascii=False) + "\n"


def since(ts: float, now: float | None = None) -> str:
    """"2 minutes ago" for a unix timestamp (units.HumanDuration + " ago")."""
    import time
    from skiff.cli.units import human_duration
    now = time.time() if now is None else now
    return human_duration(max(0.0, now - ts)) + " ago"
