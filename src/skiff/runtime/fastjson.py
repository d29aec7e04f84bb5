"""JSON for the runtime's start-up path, on the standard library's own C
accelerator (``_json``) without importing ``json``.

``import json`` pulls in ``re`` and ``enum`` (about 6 ms of a ~30 ms
``skiff-runtime run``); the C scanner and encoder that ``json`` itself uses
need neither. The output is byte for byte what ``json.dumps(obj)`` /
``json.dumps(obj, separators=...)`` give, and ``loads`` accepts exactly what
``json.loads`` accepts (RFC 8259 plus NaN/Infinity, as ``json``). Anything
beyond that (indent, sort_keys, hooks) goes to ``json`` itself.

    loads(s: str | bytes) -> object        ValueError (json.JSONDecodeError) if malformed
    dumps(obj, separators=(", ", ": ")) -> str     TypeError if not serialisable
    load_file(path) -> object              OSError, ValueError
"""

from __future__ import annotations

import _json

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """The attributes _json.make_scanner reads (json.decoder.JSONDecoder's)."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict = {}


_scan = _json.make_scanner(_Context())


def _error(msg: str, doc: str, pos: int) -> ValueError:
    from json import JSONDecodeError  # only on the error path
    return JSONDecodeError(msg, doc, pos)


def loads(s: str | bytes | bytearray) -> object:
    """Parse one JSON document. Raises ValueError (json.JSONDecodeError)."""
    if isinstance(s, (bytes, bytearray)):
        s = bytes(s).decode("utf-8-sig" if s[:3] == b"\xef\xbb\xbf" else "utf-8")
    elif s.startswith("\ufeff"):
        raise _error("Unexpected UTF-8 BOM (decode using utf-8-sig)", s, 0)
    n = len(s)
    i = 0
    while i < n and s[i] in _WS:
        i += 1
    try:
        obj, end = _scan(s, i)
    except StopIteration as e:
        raise _error("Expecting value", s, e.value) from None
    except SystemError:
        # the C scanner reports a syntax error through json.decoder's
        # JSONDecodeError, which it only finds once json is imported: let
        # json itself parse the document and raise the right error
        import json
        json.loads(s)
        raise  # not reached: json refused what the scanner refused
    finally:
        _Context.memo.clear()
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        raise _error("Extra data", s, end)
    return obj


def _default(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj, separators: tuple[str, str] = (", ", ": ")) -> str:
    """``json.dumps(obj, separators=separators)``. Raises TypeError / ValueError."""
    if isinstance(obj, str):
        return _json.encode_basestring_ascii(obj)
    # a fresh encoder each call: its markers dict (the circular-reference
    # check) must start empty even after a failed call
    enc = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None,
                             separators[1], separators[0], False, False, True)
    return "".join(enc(obj, 0))


def load_file(path: str) -> object:
    """Read and parse the JSON file at ``path``. Raises OSError, ValueError."""
    with open(path, "rb") as f:
        return loads(f.read())
