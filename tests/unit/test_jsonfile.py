"""json-file log: Docker's record format, line splitting, rotation, reading and following."""
from __future__ import annotations

import asyncio
import json
import os

import pytest

from skiff.logs.jsonfile import (JSONFileWriter, LineSplitter, encode_record, fixed_nano, follow, log_files,
                                 parse_rfc3339, read_logs, rfc3339nano)


def test_time_format():
    assert rfc3339nano(0) == "1970-01-01T00:00:00Z"
    assert rfc3339nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert parse_rfc3339("2023-11-14T22:13:20.12Z") == pytest.approx(1_700_000_000.12)
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == 1_700_000_000


def test_record_is_dockers_format():
    rec = encode_record("stdout", b"a <b> & \"q\"\n", "2023-11-14T22:13:20Z")
    assert rec == (b'{"log":"a \\u003cb\\u003e \\u0026 \\"q\\"\\n","stream":"stdout",'
                   b'"time":"2023-11-14T22:13:20Z"}\n')
    assert json.loads(rec)["log"] == 'a <b> & "q"\n'
    assert json.loads(encode_record("stderr", b"\xff\n", "t"))["log"] == "\ufffd\n"


def test_splitter_lines_partial_and_flush():
    out = []
    sp = LineSplitter("stdout", lambda s, d: out.append(d), max_line=8)
    sp.feed(b"ab")
    assert out == []
    sp.feed(b"c\nde\nf")
    assert out == [b"abc\n", b"de\n"]
    sp.feed(b"0123456789012345678\n")
    # f + 19 bytes + \n: two 8-byte partial pieces, then the rest with its newline
    assert out[2:] == [b"f0123456", b"78901234", b"5678\n"]
    sp.feed(b"tail")
    sp.flush()
    assert out[-1] == b"tail"


def test_splitter_default_16k():
    out = []
    sp = LineSplitter("stdout", lambda s, d: out.append(d))
    sp.feed(b"x" * 40000 + b"\n")
    assert [len(d) for d in out] == [16384, 16384, 40000 - 32768 + 1]
    assert not out[0].endswith(b"\n") and out[-1].endswith(b"\n")


def test_write_and_read(tmp_path):
    p = str(tmp_path / "c-json.log")
    w = JSONFileWriter(p)
    w.write("stdout", b"one\n", "2023-01-01T00:00:01Z")
    w.write("stderr", b"two\n", "2023-01-01T00:00:02Z")
    w.write("stdout", b"three\n", "2023-01-01T00:00:03.5Z")
    w.close()
    lines = open(p).read().splitlines()
    assert json.loads(lines[0]) == {"log": "one\n", "stream": "stdout", "time": "2023-01-01T00:00:01Z"}
    assert [d for _, d, _ in read_logs(p)] == [b"one\n", b"two\n", b"three\n"]
    assert [d for _, d, _ in read_logs(p, stderr=False)] == [b"one\n", b"three\n"]
    assert [d for _, d, _ in read_logs(p, stdout=False)] == [b"two\n"]
    assert [d for _, d, _ in read_logs(p, tail=2)] == [b"two\n", b"three\n"]
    assert list(read_logs(p, tail=0)) == []
    since = parse_rfc3339("2023-01-01T00:00:02Z")
    assert [d for _, d, _ in read_logs(p, since=since)] == [b"two\n", b"three\n"]
    assert [d for _, d, _ in read_logs(p, until=since)] == [b"one\n"]
    s, d, t = next(read_logs(p, timestamps=True))
    # Docker's logs API prefixes RFC3339NanoFixed (9 digits)
    assert (s, d, t) == ("stdout", b"2023-01-01T00:00:01.000000000Z one\n", "2023-01-01T00:00:01Z")
    assert fixed_nano("2023-01-01T00:00:01.5Z") == "2023-01-01T00:00:01.500000000Z"
    assert list(read_logs(str(tmp_path / "missing.log"))) == []


def test_reader_skips_half_written_record(tmp_path):
    p = tmp_path / "x.log"
    p.write_bytes(encode_record("stdout", b"ok\n", "2023-01-01T00:00:01Z") + b'{"log":"par')
    assert [d for _, d, _ in read_logs(str(p))] == [b"ok\n"]


def test_rotation(tmp_path):
    p = str(tmp_path / "c-json.log")
    w = JSONFileWriter(p, max_size=200, max_file=3)
    for i in range(30):
        w.write("stdout", f"line {i:02d}\n".encode(), "2023-01-01T00:00:00Z")
    w.close()
    files = log_files(p)
    assert files == [p + ".2", p + ".1", p]
    assert not os.path.exists(p + ".3")
    for f in files[:-1]:
        assert os.path.getsize(f) >= 200
        assert os.path.getsize(f) < 200 + 70
    got = [d for _, d, _ in read_logs(p)]
    # the newest records are all there, in order, and consecutive
    nums = [int(d.split()[1]) for d in got]
    assert nums[-1] == 29
    assert nums == list(range(nums[0], 30))
    assert nums[0] > 0  # the oldest were rotated out
    assert [d for _, d, _ in read_logs(p, tail=4)] == [f"line {i}\n".encode() for i in range(26, 30)]


def test_rotation_single_file_truncates(tmp_path):
    p = str(tmp_path / "c-json.log")
    w = JSONFileWriter(p, max_size=100, max_file=1)
    for i in range(10):
        w.write("stdout", f"{i}\n".encode(), "2023-01-01T00:00:00Z")
    w.close()
    assert log_files(p) == [p]
    assert os.path.getsize(p) < 200
    assert [d for _, d, _ in read_logs(p)][-1] == b"9\n"


def test_writer_appends_to_existing(tmp_path):
    p = str(tmp_path / "c.log")
    JSONFileWriter(p).write("stdout", b"a\n")
    w = JSONFileWriter(p)
    w.write("stdout", b"b\n")
    w.close()
    assert [d for _, d, _ in read_logs(p)] == [b"a\n", b"b\n"]


def test_follow(tmp_path):
    p = str(tmp_path / "c-json.log")
    w = JSONFileWriter(p, max_size=150, max_file=2)
    w.write("stdout", b"old1\n")
    w.write("stdout", b"old2\n")
    running = True

    async def writer():
        nonlocal running
        for i in range(8):
            await asyncio.sleep(0.02)
            w.write("stderr" if i % 2 else "stdout", f"new{i}\n".encode())
        running = False

    async def main():
        t = asyncio.ensure_future(writer())
        got = []
        async for s, d, ts in follow(p, tail=1, is_running=lambda: running, poll_interval=0.01):
            got.append((s, d))
        await t
        return got

    got = asyncio.run(asyncio.wait_for(main(), 10))
    w.close()
    assert got[0] == ("stdout", b"old2\n")
    assert [d for _, d in got[1:]] == [f"new{i}\n".encode() for i in range(8)]
    assert got[2][0] == "stderr"


def test_follow_stops_when_not_running(tmp_path):
    p = str(tmp_path / "none.log")

    async def main():
        return [r async for r in follow(p, is_running=lambda: False)]
    assert asyncio.run(main()) == []


def test_tail_reads_backwards_across_files_and_blocks(tmp_path):
    p = str(tmp_path / "big.log")
    w = JSONFileWriter(p, max_size=300_000, max_file=3)
    for i in range(12000):
        w.write("stderr" if i % 3 == 0 else "stdout", f"{i} {'y' * (i % 50)}\n".encode(), "2023-01-01T00:00:00Z")
    w.close()
    assert len(log_files(p)) == 3
    everything = [d for _, d, _ in read_logs(p)]
    for n in (1, 5, 100, 3000, 5000, len(everything), len(everything) + 10):
        assert [d for _, d, _ in read_logs(p, tail=n)] == everything[-n:], n
    # a half-written last record is not returned
    with open(p, "ab") as f:
        f.write(b'{"log":"half')
    assert [d for _, d, _ in read_logs(p, tail=2)] == everything[-2:]


def test_follow_without_tail_and_with_partial_record(tmp_path):
    p = str(tmp_path / "c-json.log")
    w = JSONFileWriter(p)
    w.write("stdout", b"a\n")
    rec = encode_record("stdout", b"b\n", "2023-01-01T00:00:00Z")
    with open(p, "ab") as f:
        f.write(rec[:10])  # a record being written when follow starts
    state = {"running": True}

    async def finish():
        await asyncio.sleep(0.05)
        with open(p, "ab") as f:
            f.write(rec[10:])
        w.write("stderr", b"c\n")
        state["running"] = False

    async def main():
        t = asyncio.ensure_future(finish())
        got = [d async for _, d, _ in follow(p, is_running=lambda: state["running"],
                                             poll_interval=0.01)]
        await t
        return got
    assert asyncio.run(asyncio.wait_for(main(), 10)) == [b"a\n", b"b\n", b"c\n"]
    w.close()
