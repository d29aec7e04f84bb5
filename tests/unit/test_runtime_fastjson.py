"""skiff.runtime.fastjson: the runtime's json on _json, checked against json
itself (same text out, same objects in, same errors)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from skiff.runtime import fastjson
from skiff.runtime.linux.defaults import default_spec

DOCS = [
    default_spec(), {}, [], "", "x\u00e9\n\"\\\t\x00", 0, -1, 2 ** 70, 1.5, -1e300, 1e-320,
    True, False, None, [float("inf"), float("-inf")], {"k": "\U0001f600", "n": [None, [{}]]},
    {1: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    (1, 2), {"nested": {"a": {"b": {"c": [1, [2, [3]]]}}}},
]


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
def test_dumps_matches_json(doc):
    assert fastjson.dumps(doc) == json.dumps(doc)
    assert fastjson.dumps(doc, separators=(",", ":")) == json.dumps(doc, separators=(",", ":"))


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
def test_loads_matches_json(doc):
    text = json.dumps(doc)
    assert fastjson.loads(text) == json.loads(text)
    assert fastjson.loads(text.encode()) == json.loads(text.encode())
    assert fastjson.loads(f" \n\t{text}\r\n ") == json.loads(text)


def test_nan_round_trip():
    out = fastjson.loads(fastjson.dumps([float("nan")]))
    assert out[0] != out[0]


@pytest.mark.parametrize("bad", ["", " ", "{", "[1,]", "{}x", "nul", r'"\x"', "[1] [2]",
                                 "\ufeff{}", '{"a" 1}', "[01]", '"\x01"', "{'a': 1}"])
def test_malformed_raises_what_json_raises(bad):
    with pytest.raises(ValueError) as got:
        fastjson.loads(bad)
    with pytest.raises(ValueError) as want:
        json.loads(bad)
    assert str(got.value) == str(want.value)
    assert isinstance(got.value, json.JSONDecodeError)


def test_bom_and_bad_utf8_bytes():
    assert fastjson.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError):
        fastjson.loads(b'{"a": "\xff"}')


def test_unserialisable_and_circular():
    with pytest.raises(TypeError, match="not JSON serializable"):
        fastjson.dumps({"a": object()})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        fastjson.dumps(loop)
    # a failed call leaves nothing behind for the next one
    shared = [1]
    assert fastjson.dumps([shared, shared]) == "[[1], [1]]"


def test_load_file(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps(default_spec()))
    assert fastjson.load_file(str(p)) == default_spec()
    with pytest.raises(FileNotFoundError):
        fastjson.load_file(str(tmp_path / "missing.json"))


def test_importing_it_loads_neither_json_nor_re():
    code = ("import sys; import skiff.runtime.fastjson as f; f.loads(f.dumps({'a': [1]})); "
            "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": ":".join(sys.path)}, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("bad", ["{not json", '{"a" 1}', '{"id" 1}', "[1,]", '"\x01"'])
def test_malformed_without_json_imported(bad):
    """The C scanner raises json.decoder.JSONDecodeError only when json is
    already imported; in the runtime it is not (a SystemError otherwise)."""
    code = ("import sys; import skiff.runtime.fastjson as f\n"
            "try:\n    f.loads(sys.argv[1])\n"
            "except ValueError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-S", "-c", code, bad], capture_output=True, text=True,
                         env={"PYTHONPATH": ":".join(sys.path)})
    assert out.returncode == 0, out.stderr
    try:
        json.loads(bad)
    except ValueError as e:
        want = f"JSONDecodeError {e}"
    assert out.stdout.strip() == want
