"""The benchmark harness (bench/harness.py) in smoke mode, on trivial commands,
so that it cannot rot while the engine it measures is being written.
No timing assertions: only that it runs, alternates, records and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import harness  # noqa: E402


def test_smoke_true_vs_true_writes_results_and_report(tmp_path):
    cases = [
        harness.Case("trivial", "true vs true", ["true"], ["true"], peer_name="peer", target=10.0),
        harness.Case("pending", "not written yet", None, None),
    ]
    lines: list[str] = []
    results = [harness.run_case(c, runs=1, warmup=0, progress=lines.append) for c in cases]
    doc = harness.make_document(results, 1, 0, "smoke")
    path = harness.write_results(doc, tmp_path / "results")

    assert path.name.startswith("smoke-") and path.suffix == ".json"
    saved = json.loads(path.read_text())
    trivial, pending = saved["cases"]
    assert trivial["status"] == "ok"
    assert trivial["skiff"]["n"] == 1 and trivial["peer"]["n"] == 1
    assert trivial["skiff"]["error"] is None and trivial["peer"]["error"] is None
    assert trivial["ratio"] == pytest.approx(trivial["skiff"]["median"] / trivial["peer"]["median"])
    assert pending["status"] == harness.NOT_IMPLEMENTED and pending["ratio"] is None
    for key in ("cpus", "memory_bytes", "kernel", "cgroup"):
        assert saved["machine"][key]
    assert any("trivial round 1/1" in line for line in lines)

    docs = harness.regenerate_docs(path, tmp_path / "docs" / "benchmarks.md",
                                   tmp_path / "docs" / "benchmarks.png")
    text = docs.read_text()
    assert "| true vs true |" in text
    assert "| not written yet |" in text and harness.NOT_IMPLEMENTED in text
    assert "## Machine" in text and saved["machine"]["kernel"] in text


def test_warmup_rounds_are_not_counted_and_sides_alternate(tmp_path):
    log = tmp_path / "order"
    case = harness.Case("order", "order", ["sh", "-c", f"echo s >> {log}"],
                        ["sh", "-c", f"echo p >> {log}"])
    r = harness.run_case(case, runs=3, warmup=2)
    assert r["skiff"]["n"] == 3 and r["peer"]["n"] == 3
    # 5 rounds, the order swapped each round: sp ps sp ps sp
    assert log.read_text().split() == list("spps" "spps" "sp")


def test_a_failing_side_is_reported_and_not_rerun(tmp_path):
    count = tmp_path / "count"
    case = harness.Case("fails", "fails", ["sh", "-c", f"echo x >> {count}; echo boom >&2; exit 3"],
                        ["true"])
    r = harness.run_case(case, runs=3, warmup=1)
    assert r["status"] == "failed" and r["ratio"] is None
    assert "exit status 3" in r["skiff"]["error"] and "boom" in r["skiff"]["error"]
    assert count.read_text().count("x") == 1
    assert r["peer"]["n"] == 3
    text = harness.render_markdown(harness.make_document([r], 3, 1, "smoke"))
    assert "boom" in text and "| fails | failed |" in text


def test_setup_error_skips_the_side():
    case = harness.Case("down", "down", ["false"], ["true"], skiff_error="skiffd did not start")
    r = harness.run_case(case, runs=2, warmup=0)
    assert r["skiff"]["n"] == 0 and r["skiff"]["error"] == "skiffd did not start"
    assert r["peer"]["n"] == 2 and r["status"] == "failed"


def test_stats_and_cgroup_mode():
    s = harness.stats([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s["median"], s["q1"], s["q3"], s["min"], s["max"], s["n"]) == (3.0, 2.0, 4.0, 1.0, 5.0, 5)
    assert harness.stats([])["median"] is None
    hybrid = ("tmpfs /sys/fs/cgroup tmpfs rw 0 0\n"
              "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
              "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n")
    assert harness.cgroup_mode(hybrid) == "v1 (hybrid)"
    assert harness.cgroup_mode("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n") == "v2 (unified)"
    assert harness.cgroup_mode(hybrid.replace("cgroup2 /sys/fs/cgroup/unified", "x /y")) == "v1 (legacy)"


def test_run_latency_lists_its_cases_without_root():
    out = subprocess.run([sys.executable, str(BENCH / "run_latency.py"), "--list"],
                         capture_output=True, text=True, check=True).stdout
    names = [line.split()[0] for line in out.splitlines()]
    assert names[0] == "run_latency"
    for name in ("concurrent_run", "runtime", "cli_version", "net_rps", "net_bulk", "cpu_bound",
                 "pull", "pull_debian", "build"):
        assert name in names
    assert "not implemented yet" in out


def test_self_timed_cases_count_what_the_command_prints_and_cap_rounds():
    case = harness.Case("self", "self", ["sh", "-c", "echo setup; echo 0.25"],
                        ["sh", "-c", "echo 0.5"], self_timed=True, max_runs=2, max_warmup=0)
    r = harness.run_case(case, runs=5, warmup=3)
    assert (r["runs"], r["warmup"]) == (2, 0)
    assert r["skiff"]["samples"] == [0.25, 0.25] and r["peer"]["median"] == 0.5
    assert r["ratio"] == pytest.approx(0.5)
    bad = harness.Case("bad", "bad", ["true"], ["true"], self_timed=True)
    assert "no number" in harness.run_case(bad, runs=1, warmup=0)["skiff"]["error"]


def test_timed_ops_needs_a_cli():
    p = subprocess.run([sys.executable, str(BENCH / "timed_ops.py"), "pull"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "concurrent-run" in p.stderr


def test_json_metrics_become_rows_and_rates_compare_upwards():
    skiff_out = 'echo noise; echo \'{"seconds": 1.0, "rps": 300.0, "rss": 1048576}\''
    peer_out = 'echo \'{"seconds": 2.0, "rps": 200.0, "rss": 2097152}\''
    case = harness.Case(
        "multi", "multi", ["sh", "-c", skiff_out], ["sh", "-c", peer_out], self_timed=True,
        metrics=[harness.Metric("seconds", "multi_time", "time", "s", 0.4),
                 harness.Metric("rps", "multi_rps", "rate", "req/s", 1.0, higher_is_better=True),
                 harness.Metric("rss", "multi_rss", "memory", "B", None),
                 harness.Metric("missing", "multi_missing", "absent", "s", None)])
    lines: list[str] = []
    rows = harness.run_case_rows(case, runs=2, warmup=1, progress=lines.append)
    by = {r["name"]: r for r in rows}
    assert [r["name"] for r in rows] == ["multi_time", "multi_rps", "multi_rss", "multi_missing"]
    assert by["multi_time"]["ratio"] == pytest.approx(0.5) and by["multi_time"]["meets_target"] is False
    assert by["multi_rps"]["ratio"] == pytest.approx(1.5) and by["multi_rps"]["meets_target"] is True
    assert by["multi_rss"]["skiff"]["samples"] == [1048576.0, 1048576.0]
    assert by["multi_rss"]["meets_target"] is None and by["multi_rss"]["unit"] == "B"
    assert by["multi_missing"]["status"] == "failed"
    assert "no value" in by["multi_missing"]["skiff"]["error"]
    assert run_case_first_is_primary(case)
    text = harness.render_markdown(harness.make_document(rows, 2, 1, "smoke"))
    assert "| rate | 300 req/s" in text and "≥ 1" in text and "1.00 MiB" in text
    assert "## Targets" in text and "Met (1 of 2): rate" in text and "time (0.50 against ≤ 0.4)" in text
    assert "## Closing note" in text and "rate: 1.50 (target ≥ 1: met)" in text
    assert "time: 0.50 (target ≤ 0.4: missed)" in text and "absent: failed" in text
    assert any("multi round 2/2: skiff 1.00 s, docker 2.00 s" in ln for ln in lines)


def run_case_first_is_primary(case) -> bool:
    return harness.run_case(case, runs=1, warmup=0)["name"] == "multi_time"


def test_a_number_where_metrics_are_expected_fails_the_side():
    case = harness.Case("m", "m", ["echo", "0.5"], ["echo", '{"x": 1}'], self_timed=True,
                        metrics=[harness.Metric("x", "m", "m")])
    r = harness.run_case(case, runs=1, warmup=0)
    assert r["status"] == "failed" and "JSON" in r["skiff"]["error"]


def test_runner_cases_take_their_samples_from_the_runner():
    calls = []

    def runner(runs, warmup):
        calls.append((runs, warmup))
        return {"skiff": [0.2] * runs, "peer": [0.1] * runs}

    case = harness.Case("r", "runner", ["x"], ["y"], peer_name="runc", target=1.5, runner=runner)
    r = harness.run_case(case, runs=3, warmup=2)
    assert calls == [(3, 2)]
    assert r["skiff"]["n"] == 3 and r["ratio"] == pytest.approx(2.0) and r["meets_target"] is False

    def broken(runs, warmup):
        raise RuntimeError("no bundle")
    r = harness.run_case(harness.Case("b", "b", ["x"], ["y"], runner=broken), runs=1, warmup=0)
    assert r["status"] == "failed" and "no bundle" in r["skiff"]["error"]


def test_fmt_value_units():
    assert harness.fmt_value(0.25) == "250 ms"
    assert harness.fmt_value(3 * 2**20, "B") == "3.00 MiB"
    assert harness.fmt_value(512 * 1024, "B") == "512 KiB"
    assert harness.fmt_value(4321.5, "req/s") == "4,322 req/s"
    assert harness.fmt_value(0.05, "CPU s") == "50 CPU ms"
    assert harness.fmt_value(None) == "-"


def test_timed_ops_process_accounting_on_this_process():
    sys.path.insert(0, str(BENCH))
    import os
    import timed_ops
    me = os.getpid()
    child = subprocess.Popen(["sleep", "5"])
    try:
        ppids = timed_ops._ppid_map()
        assert ppids[child.pid] == me
        assert {me, child.pid} <= timed_ops._tree(me, set(), ppids)
        assert child.pid not in timed_ops._tree(me, {child.pid}, ppids)
        rss, pss = timed_ops._mem({me})
        assert rss > 1 << 20 and 0 < pss <= rss
        assert timed_ops._mem({2**22 + 12345}) == (0, 0)  # gone: counted as nothing
        t0 = timed_ops._cpu({me})
        x = 0
        for i in range(3_000_000):
            x += i
        assert timed_ops._cpu({me}) > t0
    finally:
        child.kill()
        child.wait()


def test_leftovers_of_the_bench_daemon_are_reaped_by_their_command_line(monkeypatch, tmp_path):
    import os
    import run_latency
    root = f"/run/skifftest-reap-{os.getpid()}"  # never a real exec root
    monkeypatch.setattr(run_latency, "SKIFF_EXEC_ROOT", root)
    monkeypatch.setattr(run_latency, "log", lambda msg: None)
    mine = subprocess.Popen(["sh", "-c", "sleep 30", f"{root}/shim-forkserver.sock"])
    other = subprocess.Popen(["sleep", "30"])
    try:
        run_latency._reap_leftovers()
        assert mine.wait(5) == -9
        assert other.poll() is None
    finally:
        for p in (mine, other):
            if p.poll() is None:
                p.kill()
                p.wait()
