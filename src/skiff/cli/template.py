"""Go text/template, enough of it for Docker's ``--format`` and ``inspect -f``.

Supported (https://pkg.go.dev/text/template): text and ``{{actions}}`` with
``{{-``/``-}}`` trimming and ``{{/* comments */}}``; fields ``.A.B`` on maps
(a missing key renders ``<no value>``, as Go's default ``missingkey``),
``.``, ``$``, variables (``$x := ...``, ``$x = ...``), string/raw/char/number/
bool/nil literals, parenthesised pipelines with field access ``(..).F``,
pipelines ``a | b`` (the previous value is passed as the last argument);
``if``/``else if``/``else``, ``range`` (lists, maps in key order, ints; one
or two variables; ``else``; ``break``/``continue``), ``with``/``else with``;
Go's built-in functions (and or not len index slice print printf println eq
ne lt le gt ge html js urlquery) and Docker's (json split join title lower
upper pad truncate).

Values render as Go's fmt does: bools ``true``/``false``, nil ``<nil>``, maps
``map[k:v ...]`` (sorted keys), lists ``[a b]``, floats as ``%v`` (shortest,
%e from 1e+06 as Go: ``6.7108864e+07``).

Data is Python's decoded JSON (dict, list, str, int, float, bool, None);
callables in dicts are called with the action's arguments (``{{.Label "k"}}``).
"""

from __future__ import annotations

__all__ = ["Template", "TemplateError", "render", "go_str", "go_json", "MISSING",
           "BASIC_FUNCS", "HEADER_FUNCS"]


class TemplateError(Exception):
    """A template that does not parse or fails while executing (Go's wording)."""


class _Missing:
    """Go's invalid reflect.Value: what a missing map key evaluates to."""

    def __repr__(self):
        return "<no value>"

    def __bool__(self):
        return False


MISSING = _Missing()


# ---------------------------------------------------------------------------
# formatting values as Go's fmt does

def go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64) as fmt's %v prints a float64."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    r = repr(f)
    sign = ""
    if r.startswith("-"):
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    e = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    # decimal point position relative to the first significant digit
    lead_zeros = len(ip + fp) - len((ip + fp).lstrip("0"))
    dp = len(ip) - lead_zeros + e
    digits = digits.rstrip("0") or "0"
    x = dp - 1
    if _use_exp(x, len(digits)):
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * (-dp)}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _use_exp(x: int, nd: int) -> bool:
    # strconv/ftoa.go, %g with the shortest precision: "%e is used if the
    # exponent from the conversion is less than -4 or greater than or equal
    # to the precision. if precision was the shortest possible, use precision
    # 6 for this decision." So float64(67108864) prints 6.7108864e+07.
    return x < -4 or x >= 6


def go_str(v, top: bool = True) -> str:
    """fmt.Sprint of one value (``top``: a missing value prints <no value>)."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{go_str(k, False)}:{go_str(x, False)}" for k, x in items) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x, False) for x in v) + "]"
    if isinstance(v, bytes):
        return "[" + " ".join(str(b) for b in v) + "]"
    return str(v)


def _sort_key(k):
    return (0, k, "") if isinstance(k, (int, float)) else (1, 0, str(k))


def go_json(v) -> str:
    """Docker's ``json`` template function: encoding/json with HTML escaping
    off, no trailing newline."""
    import json
    if v is MISSING:
        v = None
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=str)


def _truth(v) -> bool:
    """text/template's isTrue."""
    if v is MISSING or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, tuple, dict, bytes)):
        return len(v) > 0
    return True


# ---------------------------------------------------------------------------
# printf

def _sprintf(fmt: str, *args) -> str:
    out = []
    i = 0
    n = len(fmt)
    ai = 0
    while i < n:
        c = fmt[i]
        if c != "%":
            j = fmt.find("%", i)
            if j < 0:
                j = n
            out.append(fmt[i:j])
            i = j
            continue
        i += 1
        if i >= n:
            out.append("%!(NOVERB)")
            break
        flags = ""
        while i < n and fmt[i] in "+-# 0":
            flags += fmt[i]
            i += 1
        width = ""
        while i < n and fmt[i].isdigit():
            width += fmt[i]
            i += 1
        if i < n and fmt[i] == "*":
            i += 1
            width = str(args[ai]) if ai < len(args) else ""
            ai += 1
        prec = None
        if i < n and fmt[i] == ".":
            i += 1
            p = ""
            while i < n and fmt[i].isdigit():
                p += fmt[i]
                i += 1
            prec = int(p) if p else 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[ai]
        ai += 1
        out.append(_fmt_one(verb, flags, width, prec, a))
    if ai < len(args):
        extra = ", ".join(f"{_go_type(a)}={go_str(a)}" for a in args[ai:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _go_type(a) -> str:
    if isinstance(a, bool):
        return "bool"
    if isinstance(a, int):
        return "int"
    if isinstance(a, float):
        return "float64"
    if isinstance(a, str):
        return "string"
    if isinstance(a, dict):
        return "map[string]interface {}"
    if isinstance(a, list):
        return "[]interface {}"
    return "<nil>"


def _fmt_one(verb, flags, width, prec, a) -> str:
    if a is MISSING:
        a = None
    s = None
    if verb in "vs":
        if verb == "s" and not isinstance(a, (str, list, dict, bytes)) and a is not None and not isinstance(a, bool):
            if isinstance(a, (int, float)):
                s = f"%!s({_go_type(a)}={go_str(a)})"
        if verb == "s" and isinstance(a, bool):
            s = f"%!s(bool={go_str(a)})"
        if s is None:
            s = go_str(a)
            if verb == "v" and a is None:
                s = "<nil>"
            if prec is not None and isinstance(a, str):
                s = s[:prec]
    elif verb == "d":
        if isinstance(a, int) and not isinstance(a, bool):
            s = f"{a:+d}" if "+" in flags else str(a)
        else:
            s = f"%!d({_go_type(a)}={go_str(a)})"
    elif verb == "t":
        s = go_str(a) if isinstance(a, bool) else f"%!t({_go_type(a)}={go_str(a)})"
    elif verb == "q":
        if isinstance(a, str):
            s = _go_quote(a)
        elif isinstance(a, int) and not isinstance(a, bool):
            s = "'" + chr(a) + "'"
        else:
            s = f"%!q({_go_type(a)}={go_str(a)})"
    elif verb in "xX":
        if isinstance(a, int) and not isinstance(a, bool):
            s = format(a, "x")
        elif isinstance(a, str):
            s = a.encode().hex()
        else:
            s = f"%!{verb}({_go_type(a)}={go_str(a)})"
        if verb == "X":
            s = s.upper()
        if "#" in flags and not s.startswith("%!"):
            s = ("0X" if verb == "X" else "0x") + s
    elif verb in "fFeEgG":
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            if verb in "gG" and prec is None:
                s = go_float(float(a))
            else:
                s = format(float(a), f"{'+' if '+' in flags else ''}.{6 if prec is None else prec}{verb}")
        else:
            s = f"%!{verb}({_go_type(a)}={go_str(a)})"
    elif verb == "c":
        s = chr(a) if isinstance(a, int) else f"%!c({_go_type(a)}={go_str(a)})"
    elif verb == "T":
        s = _go_type(a)
    else:
        s = f"%!{verb}({_go_type(a)}={go_str(a)})"
    if width:
        w = int(width)
        if "-" in flags:
            s = s.ljust(w)
        elif "0" in flags and verb in "dfFeEgGxX":
            neg = s.startswith("-")
            body = s[1:] if neg else s
            s = ("-" if neg else "") + body.rjust(w - (1 if neg else 0), "0")
        else:
            s = s.rjust(w)
    return s


def _go_quote(s: str) -> str:
    """printf %q: Go's strconv.Quote (one copy, in skiff.cli.output)."""
    from skiff.cli.output import go_quote
    return go_quote(s)


# ---------------------------------------------------------------------------
# functions

def _fn_len(v):
    if v is MISSING or v is None:
        raise TemplateError("error calling len: len of nil pointer")
    if isinstance(v, (str, list, tuple, dict, bytes)):
        return len(v.encode() if isinstance(v, str) else v)
    raise TemplateError(f"error calling len: len of type {_go_type(v)}")


def _fn_index(v, *keys):
    for k in keys:
        if v is MISSING or v is None:
            raise TemplateError("error calling index: index of untyped nil")
        if isinstance(v, dict):
            if k in v:
                v = v[k]
            elif all(isinstance(x, str) for x in v.values()):
                # the zero value of a map[string]string (labels, options): ""
                v = ""
            else:
                v = MISSING
        elif isinstance(v, (list, tuple, str)):
            if not isinstance(k, int) or isinstance(k, bool):
                raise TemplateError(f"error calling index: cannot index slice/array with type {_go_type(k)}")
            if k < 0 or k >= len(v):
                raise TemplateError(f"error calling index: index out of range: {k}")
            v = v[k] if not isinstance(v, str) else ord(v[k])
        else:
            raise TemplateError(f"error calling index: can't index item of type {_go_type(v)}")
    return v


def _fn_slice(v, *idx):
    if isinstance(v, (str, list, tuple)):
        if len(idx) == 0:
            return v
        if len(idx) == 1:
            return v[idx[0]:]
        return v[idx[0]:idx[1]]
    raise TemplateError(f"error calling slice: can't slice item of type {_go_type(v)}")


def _sprint(*args) -> str:
    out = []
    prev_string = True
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append("<nil>" if a is MISSING else go_str(a, False))
        prev_string = is_string
    return "".join(out)


def _sprintln(*args) -> str:
    return " ".join(go_str(a, False) if a is not MISSING else "<nil>" for a in args) + "\n"


def _and(*args):
    for a in args:
        if not _truth(a):
            return a
    return args[-1]


def _or(*args):
    for a in args:
        if _truth(a):
            return a
    return args[-1]


def _cmp_val(v):
    if v is MISSING:
        raise TemplateError("invalid type for comparison")
    return v


def _eq(a, *bs):
    a = _cmp_val(a)
    if not bs:
        raise TemplateError("error calling eq: missing argument for comparison")
    for b in bs:
        b = _cmp_val(b)
        if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                           and not isinstance(a, bool) and not isinstance(b, bool)):
            if a is None or b is None:
                if a is b:
                    return True
                continue
            raise TemplateError("error calling eq: incompatible types for comparison")
        if a == b:
            return True
    return False


def _ordered(a, b, name):
    a, b = _cmp_val(a), _cmp_val(b)
    ok = (isinstance(a, str) and isinstance(b, str)) or (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool))
    if not ok:
        raise TemplateError(f"error calling {name}: incompatible types for comparison")
    return a, b


def _html(*args):
    s = _sprint(*args)
    return (s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("\x00", "\uFFFD"))


def _js(*args):
    s = _sprint(*args)
    out = []
    for ch in s:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch == "<":
            out.append("\\u003C")
        elif ch == ">":
            out.append("\\u003E")
        elif ch == "&":
            out.append("\\u0026")
        elif ch == "=":
            out.append("\\u003D")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args):
    from urllib.parse import quote_plus
    return quote_plus(_sprint(*args))


def _str_arg(v, fn):
    if isinstance(v, str):
        return v
    if v is MISSING or v is None:
        raise TemplateError(f"error calling {fn}: invalid value; expected string")
    return go_str(v)


def _join(v, sep):
    if v is MISSING or v is None:
        return ""
    if isinstance(v, str):
        raise TemplateError("wrong type for value; expected []string; got string")
    return _str_arg(sep, "join").join(go_str(x, False) for x in v)


def _title(s):
    s = _str_arg(s, "title")
    out = []
    prev = " "
    for ch in s:
        out.append(ch.upper() if not (prev.isalnum() or prev == "_" or prev == "'") else ch)
        prev = ch
    return "".join(out)


def _pad(s, prefix, suffix):
    return " " * int(prefix) + _str_arg(s, "pad") + " " * int(suffix)


def _truncate(s, n):
    s = _str_arg(s, "truncate")
    n = int(n)
    return s[:n] if len(s) > n else s


def _split(s, sep):
    s = _str_arg(s, "split")
    sep = _str_arg(sep, "split")
    if sep == "":
        return list(s)
    return s.split(sep)


BASIC_FUNCS = {
    "and": _and, "or": _or,
    "not": lambda a: not _truth(a),
    "len": _fn_len, "index": _fn_index, "slice": _fn_slice,
    "print": _sprint, "printf": lambda f, *a: _sprintf(_str_arg(f, "printf"), *a), "println": _sprintln,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": lambda a, b: (lambda x, y: x < y)(*_ordered(a, b, "lt")),
    "le": lambda a, b: (lambda x, y: x <= y)(*_ordered(a, b, "le")),
    "gt": lambda a, b: (lambda x, y: x > y)(*_ordered(a, b, "gt")),
    "ge": lambda a, b: (lambda x, y: x >= y)(*_ordered(a, b, "ge")),
    "html": _html, "js": _js, "urlquery": _urlquery,
    # Docker's templates.basicFunctions
    "json": go_json,
    "split": _split,
    "join": _join,
    "title": _title,
    "lower": lambda s: _str_arg(s, "lower").lower(),
    "upper": lambda s: _str_arg(s, "upper").upper(),
    "pad": _pad,
    "truncate": _truncate,
}

#: Docker's templates.HeaderFunctions: in a table header, these return their argument
HEADER_FUNCS = dict(BASIC_FUNCS)
HEADER_FUNCS.update({
    "json": lambda v: go_str(v),
    "split": lambda v, _s: go_str(v),
    "join": lambda v, _s: go_str(v),
    "title": lambda v: go_str(v),
    "lower": lambda v: go_str(v),
    "upper": lambda v: go_str(v),
    "pad": lambda v, _a, _b: go_str(v),
    "truncate": lambda v, _n: go_str(v),
})


# ---------------------------------------------------------------------------
# lexer

_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


def _split_actions(src: str):
    """Yield ("text", str) and ("action", str, line) with trim markers applied."""
    parts = []
    i = 0
    n = len(src)
    line = 1
    while i < n:
        j = src.find("{{", i)
        if j < 0:
            parts.append(["text", src[i:], line])
            break
        parts.append(["text", src[i:j], line])
        line += src.count("\n", i, j)
        k = j + 2
        trim_left = src.startswith("- ", k) or src.startswith("-\t", k) or src.startswith("-\n", k) \
            or src.startswith("-\r", k)
        if trim_left:
            k += 1
        # find the closing delimiter outside of quotes
        m = k
        end = -1
        while m < n:
            ch = src[m]
            if ch in "\"'`":
                q = ch
                m += 1
                while m < n and src[m] != q:
                    if src[m] == "\\" and q != "`":
                        m += 1
                    m += 1
                m += 1
                continue
            if src.startswith("/*", m):
                e = src.find("*/", m + 2)
                if e < 0:
                    raise TemplateError(f"template: :{line}: unclosed comment")
                m = e + 2
                continue
            if src.startswith("}}", m):
                end = m
                break
            m += 1
        if end < 0:
            raise TemplateError(f"template: :{line}: unclosed action")
        body = src[k:end]
        trim_right = body.endswith(" -") or body.endswith("\t-") or body.endswith("\n-") or body.endswith("\r-")
        if trim_right:
            body = body[:-1]
        if trim_left:
            parts[-1][1] = parts[-1][1].rstrip(" \t\r\n")
        parts.append(["action", body, line])
        line += src.count("\n", j, end)
        i = end + 2
        if trim_right:
            while i < n and src[i] in " \t\r\n":
                i += 1
    return parts


def _tokenize(body: str, line: int):
    """Tokens of one action: (kind, value). Kinds: field, var, ident, string,
    number, bool, nil, dot, lparen, rparen, pipe, decl, assign, comma."""
    toks = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c in " \t\r\n":
            i += 1
            continue
        if body.startswith("/*", i):
            e = body.find("*/", i + 2)
            i = e + 2
            continue
        if c == "(":
            toks.append(("lparen", c))
            i += 1
        elif c == ")":
            toks.append(("rparen", c))
            i += 1
            # field chain after a parenthesised pipeline
            while i < n and body[i] == "." and i + 1 < n and (body[i + 1].isalnum() or body[i + 1] == "_"):
                j = i + 1
                while j < n and (body[j].isalnum() or body[j] == "_"):
                    j += 1
                toks.append(("chain", body[i + 1:j]))
                i = j
        elif c == "|":
            toks.append(("pipe", c))
            i += 1
        elif c == ",":
            toks.append(("comma", c))
            i += 1
        elif body.startswith(":=", i):
            toks.append(("decl", ":="))
            i += 2
        elif c == "=":
            toks.append(("assign", "="))
            i += 1
        elif c == '"':
            j = i + 1
            buf = []
            while j < n and body[j] != '"':
                if body[j] == "\\" and j + 1 < n:
                    e = body[j + 1]
                    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
                              "a": "\a", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
                    if e == "x":
                        buf.append(chr(int(body[j + 2:j + 4], 16)))
                        j += 4
                        continue
                    if e == "u":
                        buf.append(chr(int(body[j + 2:j + 6], 16)))
                        j += 6
                        continue
                    if e == "U":
                        buf.append(chr(int(body[j + 2:j + 10], 16)))
                        j += 10
                        continue
                    if e not in simple:
                        raise TemplateError(f"template: :{line}: unknown escape sequence")
                    buf.append(simple[e])
                    j += 2
                    continue
                buf.append(body[j])
                j += 1
            if j >= n:
                raise TemplateError(f"template: :{line}: unterminated quoted string")
            toks.append(("string", "".join(buf)))
            i = j + 1
        elif c == "`":
            j = body.find("`", i + 1)
            if j < 0:
                raise TemplateError(f"template: :{line}: unterminated raw quoted string")
            toks.append(("string", body[i + 1:j]))
            i = j + 1
        elif c == "'":
            j = body.find("'", i + 1)
            if body[i + 1] == "\\":
                j = body.find("'", i + 3)
                ch = {"n": "\n", "t": "\t", "\\": "\\", "'": "'"}.get(body[i + 2], body[i + 2])
            else:
                ch = body[i + 1:j]
            toks.append(("number", ord(ch)))
            i = j + 1
        elif c == "." and (i + 1 >= n or not (body[i + 1].isalnum() or body[i + 1] == "_")):
            toks.append(("dot", "."))
            i += 1
        elif c == ".":
            j = i
            names = []
            while j < n and body[j] == "." and j + 1 < n and (body[j + 1].isalnum() or body[j + 1] == "_"):
                k = j + 1
                while k < n and (body[k].isalnum() or body[k] == "_"):
                    k += 1
                names.append(body[j + 1:k])
                j = k
            toks.append(("field", names))
            i = j
        elif c == "$":
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] == "_"):
                j += 1
            name = body[i:j]
            names = []
            while j < n and body[j] == "." and j + 1 < n and (body[j + 1].isalnum() or body[j + 1] == "_"):
                k = j + 1
                while k < n and (body[k].isalnum() or body[k] == "_"):
                    k += 1
                names.append(body[j + 1:k])
                j = k
            toks.append(("var", (name, names)))
            i = j
        elif c.isdigit() or (c in "+-" and i + 1 < n and (body[i + 1].isdigit() or body[i + 1] == ".")) or (
                c == "." and i + 1 < n and body[i + 1].isdigit()):
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] in "._+-" and body[j - 1] in "eEpP" or body[j] in "._"):
                j += 1
            text = body[i:j].replace("_", "")
            try:
                if any(ch in text for ch in ".eE") and not text.lower().startswith(("0x", "-0x", "+0x")):
                    val = float(text)
                else:
                    val = int(text, 0)
            except ValueError:
                raise TemplateError(f"template: :{line}: bad number syntax: \"{body[i:j]}\"") from None
            toks.append(("number", val))
            i = j
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (body[j].isalnum() or body[j] == "_"):
                j += 1
            word = body[i:j]
            if word in ("true", "false"):
                toks.append(("bool", word == "true"))
            elif word == "nil":
                toks.append(("nil", None))
            else:
                toks.append(("ident", word))
            i = j
            # method-like chain after an identifier is not Go syntax; leave it
        else:
            raise TemplateError(f"template: :{line}: unexpected {c!r} in command")
    return toks


# ---------------------------------------------------------------------------
# parser: nodes are tuples
#   ("text", s) ("action", pipe) ("if"|"with", pipe, list, elselist)
#   ("range", pipe, list, elselist) ("break",) ("continue",)
# pipe = (decl_vars, is_assign, [cmd...]); cmd = [arg...]
# arg = ("field", names) ("dot",) ("var", name, names) ("ident", name)
#       ("lit", value) ("paren", pipe, names)

class _Parser:
    def __init__(self, src: str, funcs: dict):
        self.parts = _split_actions(src)
        self.pos = 0
        self.funcs = funcs

    def parse(self):
        nodes, stop = self._list(())
        if stop is not None:
            raise TemplateError(f"template: :{stop[2]}: unexpected {{{{{stop[0]}}}}}")
        return nodes

    def _list(self, stops):
        """Parse nodes until one of the keywords in ``stops``; returns (nodes,
        (keyword, rest_tokens, line)) or (nodes, None) at the end."""
        nodes = []
        while self.pos < len(self.parts):
            kind, body, line = self.parts[self.pos]
            self.pos += 1
            if kind == "text":
                if body:
                    nodes.append(("text", body))
                continue
            stripped = body.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    raise TemplateError(f"template: :{line}: comment ends before closing delimiter")
                continue
            toks = _tokenize(body, line)
            if not toks:
                raise TemplateError(f"template: :{line}: missing value for command")
            head = toks[0]
            if head[0] == "ident" and head[1] in _KEYWORDS:
                kw = head[1]
                if kw in stops:
                    return nodes, (kw, toks[1:], line)
                if kw in ("if", "with", "range"):
                    nodes.append(self._control(kw, toks[1:], line))
                elif kw in ("break", "continue"):
                    nodes.append((kw,))
                elif kw in ("end", "else"):
                    raise TemplateError(f"template: :{line}: unexpected {{{{{kw}}}}}")
                else:
                    raise TemplateError(f"template: :{line}: {{{{{kw}}}}} is not supported")
                continue
            nodes.append(("action", self._pipe(toks, line)))
        if stops:
            raise TemplateError("template: :1: unexpected EOF")
        return nodes, None

    def _control(self, kw, toks, line):
        if not toks:
            raise TemplateError(f"template: :{line}: missing value for {kw}")
        pipe = self._pipe(toks, line, allow_decl=True)
        body, stop = self._list(("else", "end"))
        elsebody = []
        if stop[0] == "else":
            rest = stop[1]
            if rest and rest[0][0] == "ident" and rest[0][1] in ("if", "with") and kw in ("if", "with"):
                # else if / else with: a nested control that consumes the {{end}}
                elsebody = [self._control(rest[0][1], rest[1:], stop[2])]
                return (kw, pipe, body, elsebody)
            elsebody, stop2 = self._list(("end",))
            if stop2 is None or stop2[0] != "end":
                raise TemplateError("template: :1: unexpected EOF")
        return (kw, pipe, body, elsebody)

    def _pipe(self, toks, line, allow_decl=True):
        decl = []
        is_assign = False
        i = 0
        # variable declarations: $x := / $x, $y := / $x =
        j = 0
        names = []
        while j < len(toks) and toks[j][0] == "var" and not toks[j][1][1]:
            names.append(toks[j][1][0])
            j += 1
            if j < len(toks) and toks[j][0] == "comma":
                j += 1
                continue
            break
        if names and j < len(toks) and toks[j][0] in ("decl", "assign"):
            decl = names
            is_assign = toks[j][0] == "assign"
            i = j + 1
        cmds = []
        cur = []
        depth_toks = toks[i:]
        k = 0
        while k < len(depth_toks):
            t = depth_toks[k]
            if t[0] == "pipe":
                if not cur:
                    raise TemplateError(f"template: :{line}: missing command")
                cmds.append(cur)
                cur = []
                k += 1
                continue
            if t[0] == "lparen":
                depth = 1
                m = k + 1
                while m < len(depth_toks) and depth:
                    if depth_toks[m][0] == "lparen":
                        depth += 1
                    elif depth_toks[m][0] == "rparen":
                        depth -= 1
                    m += 1
                if depth:
                    raise TemplateError(f"template: :{line}: unclosed left paren")
                inner = self._pipe(depth_toks[k + 1:m - 1], line)
                chain = []
                while m < len(depth_toks) and depth_toks[m][0] == "chain":
                    chain.append(depth_toks[m][1])
                    m += 1
                cur.append(("paren", inner, chain))
                k = m
                continue
            if t[0] == "rparen":
                raise TemplateError(f"template: :{line}: unexpected right paren")
            if t[0] == "field":
                cur.append(("field", t[1]))
            elif t[0] == "dot":
                cur.append(("dot",))
            elif t[0] == "var":
                cur.append(("var", t[1][0], t[1][1]))
            elif t[0] == "ident":
                if t[1] not in self.funcs:
                    raise TemplateError(f'template: :{line}: function "{t[1]}" not defined')
                cur.append(("ident", t[1]))
            elif t[0] in ("string", "number", "bool", "nil"):
                cur.append(("lit", t[1]))
            else:
                raise TemplateError(f"template: :{line}: unexpected {t[1]!r} in operand")
            k += 1
        if cur:
            cmds.append(cur)
        if not cmds:
            raise TemplateError(f"template: :{line}: missing value for command")
        return (decl, is_assign, cmds)


# ---------------------------------------------------------------------------
# executor

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Template:
    """A parsed template. ``Template(src, funcs=None)``; :meth:`execute(data)`
    -> str. Raises TemplateError (parse errors at construction)."""

    def __init__(self, src: str, funcs: dict | None = None):
        self.src = src
        self.funcs = dict(BASIC_FUNCS)
        if funcs:
            self.funcs.update(funcs)
        self.nodes = _Parser(src, self.funcs).parse()

    def execute(self, data, funcs: dict | None = None) -> str:
        out: list[str] = []
        saved = self.funcs
        if funcs:
            self.funcs = dict(self.funcs)
            self.funcs.update(funcs)
        try:
            self._walk(self.nodes, data, [("$", data)], out)
        except (_Break, _Continue):
            pass
        finally:
            self.funcs = saved
        return "".join(out)

    # -- walking -----------------------------------------------------------
    def _walk(self, nodes, dot, vars_, out):
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                val = self._pipe(node[1], dot, vars_)
                if not node[1][0]:
                    out.append(go_str(val))
            elif kind == "if":
                mark = len(vars_)
                val = self._pipe(node[1], dot, vars_)
                if _truth(val):
                    self._walk(node[2], dot, vars_, out)
                else:
                    self._walk(node[3], dot, vars_, out)
                del vars_[mark:]
            elif kind == "with":
                mark = len(vars_)
                val = self._pipe(node[1], dot, vars_)
                if _truth(val):
                    self._walk(node[2], val, vars_, out)
                else:
                    self._walk(node[3], dot, vars_, out)
                del vars_[mark:]
            elif kind == "range":
                self._range(node, dot, vars_, out)
            elif kind == "break":
                raise _Break()
            elif kind == "continue":
                raise _Continue()

    def _range(self, node, dot, vars_, out):
        _, pipe, body, elsebody = node
        decl, is_assign, cmds = pipe
        mark = len(vars_)
        val = self._pipe((), dot, vars_, cmds=cmds)
        if val is MISSING or val is None:
            items = []
        elif isinstance(val, dict):
            items = [(k, val[k]) for k in sorted(val, key=_sort_key)]
        elif isinstance(val, (list, tuple)):
            items = list(enumerate(val))
        elif isinstance(val, int) and not isinstance(val, bool):
            items = [(i, i) for i in range(val)]
        elif isinstance(val, str):
            raise TemplateError(f"range can't iterate over {val}")
        else:
            raise TemplateError(f"range can't iterate over {go_str(val)}")
        if not items:
            self._walk(elsebody, dot, vars_, out)
            del vars_[mark:]
            return
        for k, v in items:
            del vars_[mark:]
            if len(decl) == 1:
                vars_.append((decl[0], v))
            elif len(decl) >= 2:
                vars_.append((decl[0], k))
                vars_.append((decl[1], v))
            try:
                self._walk(body, v, vars_, out)
            except _Break:
                break
            except _Continue:
                continue
        del vars_[mark:]

    def _pipe(self, pipe, dot, vars_, cmds=None):
        if cmds is None:
            decl, is_assign, cmds = pipe
        else:
            decl, is_assign = (), False
        val = _NOFINAL
        for cmd in cmds:
            val = self._command(cmd, dot, vars_, val)
        if decl:
            if is_assign:
                for idx in range(len(vars_) - 1, -1, -1):
                    if vars_[idx][0] == decl[0]:
                        vars_[idx] = (decl[0], val)
                        break
                else:
                    raise TemplateError(f"undefined variable: {decl[0]}")
            else:
                vars_.append((decl[0], val))
        return val

    def _command(self, cmd, dot, vars_, final):
        first = cmd[0]
        if first[0] == "ident":
            fn = self.funcs[first[1]]
            name = first[1]
            if name in ("and", "or"):
                # short-circuit evaluation (Go 1.18)
                args = list(cmd[1:])
                vals = []
                for a in args:
                    v = self._arg(a, dot, vars_)
                    vals.append(v)
                    if (name == "and" and not _truth(v)) or (name == "or" and _truth(v)):
                        return v
                if final is not _NOFINAL:
                    vals.append(final)
                if not vals:
                    raise TemplateError(f"wrong number of args for {name}: want at least 1 got 0")
                return vals[-1]
            args = [self._arg(a, dot, vars_) for a in cmd[1:]]
            if final is not _NOFINAL:
                args.append(final)
            try:
                return fn(*args)
            except TemplateError:
                raise
            except TypeError as e:
                raise TemplateError(f"wrong number of args for {name}: {e}") from None
            except (ValueError, KeyError, IndexError, AttributeError) as e:
                raise TemplateError(f"error calling {name}: {e}") from None
        if first[0] == "field" and (len(cmd) > 1 or final is not _NOFINAL):
            # method call with arguments: a callable in the map
            recv = self._walk_fields(dot, first[1][:-1])
            target = self._field(recv, first[1][-1])
            if callable(target):
                args = [self._arg(a, dot, vars_) for a in cmd[1:]]
                if final is not _NOFINAL:
                    args.append(final)
                return target(*args)
            raise TemplateError(f"can't give argument to non-function .{'.'.join(first[1])}")
        if len(cmd) > 1 or final is not _NOFINAL:
            raise TemplateError(f"can't give argument to non-function {self._describe(first)}")
        return self._arg(first, dot, vars_)

    @staticmethod
    def _describe(arg):
        if arg[0] == "lit":
            return go_str(arg[1])
        if arg[0] == "dot":
            return "."
        if arg[0] == "var":
            return arg[1]
        return str(arg)

    def _arg(self, a, dot, vars_):
        kind = a[0]
        if kind == "field":
            v = self._walk_fields(dot, a[1])
            return v() if callable(v) else v
        if kind == "dot":
            return dot
        if kind == "lit":
            return a[1]
        if kind == "var":
            name = a[1]
            for idx in range(len(vars_) - 1, -1, -1):
                if vars_[idx][0] == name:
                    v = vars_[idx][1]
                    break
            else:
                raise TemplateError(f'undefined variable "{name}"')
            return self._walk_fields(v, a[2])
        if kind == "paren":
            v = self._pipe(a[1], dot, vars_)
            return self._walk_fields(v, a[2])
        if kind == "ident":
            fn = self.funcs[a[1]]
            return fn()
        raise TemplateError(f"unexpected {a}")

    def _walk_fields(self, v, names):
        for name in names:
            v = self._field(v, name)
        return v

    @staticmethod
    def _field(v, name):
        if v is MISSING:
            return MISSING
        if v is None:
            raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(v, dict):
            if name in v:
                return v[name]
            return MISSING
        getter = getattr(v, "template_field", None)
        if getter is not None:
            return getter(name)
        raise TemplateError(f"can't evaluate field {name} in type {_go_type(v)}")


class _NoFinal:
    pass


_NOFINAL = _NoFinal()


def render(src: str, data, funcs: dict | None = None) -> str:
    """Parse and execute in one step."""
    return Template(src, funcs).execute(data)
