"""Side-by-side benchmark harness: skiff against a peer (Docker, runc), run by run.

A benchmark is a list of :class:`Case`. Each case names one command for skiff
and one for the peer; :func:`run_case` runs them alternately (skiff, peer,
then peer, skiff, ... so that neither side always runs on a warmer machine),
the first ``warmup`` rounds not counted, and times every run end to end
(wall-clock, ``time.perf_counter_ns``, seconds in the results). A side whose
command exits non-zero stops being run for that case; its error is recorded.

Results (``write_results``) go to ``bench/results/<UTC date-time>.json``:

    {"date": "2026-11-29T09:30:00Z", "mode": "full" | "smoke",
     "runs": N, "warmup": W, "machine": {...machine_info()...},
     "cases": [{"name", "title", "peer_name", "unit": "s", "target",
                "status": "ok" | "failed" | "not implemented yet",
                "skiff": Side, "peer": Side, "ratio", "meets_target", "note"}]}
    Side = {"cmd": [...], "samples": [s, ...], "median", "q1", "q3", "min",
            "max", "n", "error": str | null}

A case's ``unit`` is "s" unless it measures something else (bytes per
container, requests/s, MB/s, CPU seconds); with ``higher_is_better`` (rates)
the target is the smallest acceptable ratio instead of the largest. A
self-timed command may print a JSON object as its last line instead of a
number: one value per metric, and the case's ``metrics`` turn each into a row
of its own (:func:`run_case_rows`). A case with a ``runner`` is run by that
function instead of by commands (a benchmark script of its own, e.g.
bench/runtime.py), which returns the samples of each side.

``render_markdown`` turns one result document into docs/benchmarks.md (a table
of medians, interquartile ranges and the ratio skiff/peer, and the machine),
``render_chart`` into a PNG bar chart of the ratios when matplotlib imports.

Command line: ``python bench/harness.py report [RESULTS.json]`` regenerates
docs/benchmarks.md (and the chart) from a results file, the newest full run
by default.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
DOCS = REPO / "docs" / "benchmarks.md"
CHART = REPO / "docs" / "benchmarks.png"

NOT_IMPLEMENTED = "not implemented yet"


@dataclass
class Case:
    """One benchmark: a command per side, timed end to end.

    ``skiff``/``peer`` are argv lists (None: the side is not implemented yet);
    ``target`` is the largest acceptable ratio skiff/peer of the medians
    (None: no target); ``timeout`` bounds one run, in seconds.
    """

    name: str
    title: str
    skiff: list[str] | None
    peer: list[str] | None
    peer_name: str = "docker"
    target: float | None = None
    note: str = ""
    env: dict[str, str] | None = None
    timeout: float = 120.0
    #: set when the setup of a side failed: that side is not run, the error is reported
    skiff_error: str | None = None
    peer_error: str | None = None
    #: the command times itself: the last line of its stdout is the seconds to count
    #: (so that its own set-up and clean-up are left out)
    self_timed: bool = False
    #: at most this many timed rounds / warm-up rounds for this case (slow cases)
    max_runs: int | None = None
    max_warmup: int | None = None
    #: what one sample measures ("s", "B", "req/s", "MB/s", "CPU s")
    unit: str = "s"
    #: rates: the larger the better; the target is then a lower bound of the ratio
    higher_is_better: bool = False
    #: self-timed commands printing a JSON object: (key, name, title, unit, target,
    #: higher_is_better) per row; the first one is this case's own row
    metrics: list["Metric"] | None = None
    #: runs the whole case itself: runner(runs, warmup) -> {"skiff": [..], "peer": [..]}
    runner: Callable[[int, int], dict] | None = None


@dataclass
class Metric:
    """One row from a self-timed command's JSON output (see :class:`Case`)."""

    key: str
    name: str
    title: str
    unit: str = "s"
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""


@dataclass
class _Side:
    cmd: list[str] | None
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    def summary(self, key: str | None = None) -> dict:
        samples = [float(s[key]) if key is not None else s for s in self.samples
                   if key is None or (isinstance(s, dict) and s.get(key) is not None)]
        d: dict = {"cmd": self.cmd, "samples": [round(s, 6) for s in samples],
                   "error": self.error}
        d.update(stats(samples))
        return d


def stats(samples: list[float]) -> dict:
    """Median, quartiles (inclusive method), min, max and count of ``samples``
    (seconds). Empty input gives None for each number and n=0."""
    if not samples:
        return {"median": None, "q1": None, "q3": None, "min": None, "max": None, "n": 0}
    s = sorted(samples)
    if len(s) >= 2:
        q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive")
    else:
        q1 = q3 = s[0]
    return {"median": statistics.median(s), "q1": q1, "q3": q3,
            "min": s[0], "max": s[-1], "n": len(s)}


def time_command(cmd: list[str], env: dict[str, str] | None = None,
                 timeout: float = 120.0, self_timed: bool = False
                 ) -> tuple[float | dict, str | None]:
    """Run ``cmd`` once; return (seconds, error). ``error`` is None on exit
    status 0, else the status and the end of stderr. Seconds are the wall
    time of the run, or with ``self_timed`` the number the command printed
    last on stdout (stdout is discarded otherwise), or the dict of metrics
    when that last line is a JSON object."""
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    t0 = time.perf_counter_ns()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE if self_timed else subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=full_env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return (time.perf_counter_ns() - t0) / 1e9, f"timed out after {timeout:g} s"
    except OSError as e:
        return (time.perf_counter_ns() - t0) / 1e9, f"cannot run {cmd[0]}: {e}"
    elapsed = (time.perf_counter_ns() - t0) / 1e9
    if p.returncode != 0:
        tail = [ln for ln in p.stderr.decode(errors="replace").strip().splitlines()
                if ln.strip(" ^~")][-3:]
        return elapsed, f"exit status {p.returncode}: " + " / ".join(tail)
    if self_timed:
        lines = p.stdout.decode(errors="replace").strip().splitlines()
        last = lines[-1].strip() if lines else ""
        if last.startswith("{"):
            try:
                obj = json.loads(last)
            except ValueError:
                return elapsed, "self-timed command printed a broken JSON object"
            if isinstance(obj, dict):
                return obj, None
        try:
            return float(last.split()[-1]), None
        except (IndexError, ValueError):
            return elapsed, "self-timed command printed no number of seconds"
    return elapsed, None


def run_case(case: Case, runs: int, warmup: int,
             progress: Callable[[str], None] | None = None) -> dict:
    """Run ``case`` ``warmup`` + ``runs`` rounds, alternating the sides and
    their order each round; return the case's result dict (see module doc).
    With ``metrics``, the first metric's row (:func:`run_case_rows` gives all)."""
    return run_case_rows(case, runs, warmup, progress)[0]


def _sample_text(sample, unit: str, key: str | None) -> str:
    if isinstance(sample, dict):
        sample = sample.get(key) if key else None
    return "-" if sample is None else fmt_value(float(sample), unit)


def run_case_rows(case: Case, runs: int, warmup: int,
                  progress: Callable[[str], None] | None = None) -> list[dict]:
    """Run ``case`` (see :func:`run_case`); return one result dict per metric
    (one in all for a case without ``metrics``)."""
    skiff = _Side(case.skiff, error=case.skiff_error)
    peer = _Side(case.peer, error=case.peer_error)
    if case.max_runs is not None:
        runs = min(runs, case.max_runs)
    if case.max_warmup is not None:
        warmup = min(warmup, case.max_warmup)
    metrics = case.metrics or [Metric(None, case.name, case.title, case.unit, case.target,
                                      case.higher_is_better, case.note)]
    not_there = case.skiff is None and case.peer is None and case.runner is None
    if not not_there and case.runner is not None:
        if skiff.error is None or peer.error is None:
            try:
                got = case.runner(runs, warmup)
                skiff.samples, peer.samples = list(got["skiff"]), list(got["peer"])
                if progress:
                    progress(f"  {case.name}: " + ", ".join(
                        f"{lbl} median {_sample_text(stats(sd.samples)['median'], case.unit, None)}"
                        for lbl, sd in (("skiff", skiff), (case.peer_name, peer))))
            except Exception as e:  # reported in the row, the other cases still run
                skiff.error = peer.error = f"{type(e).__name__}: {e}"
                if progress:
                    progress(f"  {case.name}: failed: {e}")
    elif not not_there:
        sides = [("skiff", skiff), (case.peer_name, peer)]
        for i in range(warmup + runs):
            if all(side.cmd is None or side.error is not None for _, side in sides):
                break
            order = sides if i % 2 == 0 else sides[::-1]
            for label, side in order:
                if side.cmd is None or side.error is not None:
                    continue
                elapsed, err = time_command(side.cmd, case.env, case.timeout, case.self_timed)
                if err is None and case.metrics and not isinstance(elapsed, dict):
                    err = "self-timed command printed a number, not its JSON metrics"
                if err is not None:
                    side.error = err
                    if progress:
                        progress(f"  {case.name}: {label} failed: {err}")
                    continue
                if i >= warmup:
                    side.samples.append(elapsed)
            if progress and i >= warmup:
                m0 = metrics[0]
                progress(f"  {case.name} round {i - warmup + 1}/{runs}: "
                         + ", ".join(f"{lbl} {_sample_text(s.samples[-1], m0.unit, m0.key) if s.samples and s.error is None else '-'}"
                                     for lbl, s in sides))
    rows = []
    for m in metrics:
        result = {"name": m.name, "title": m.title, "peer_name": case.peer_name,
                  "unit": m.unit, "higher_is_better": m.higher_is_better,
                  "target": m.target, "note": m.note}
        s_sum, p_sum = skiff.summary(m.key), peer.summary(m.key)
        if not_there:
            result.update(status=NOT_IMPLEMENTED, skiff=s_sum, peer=p_sum,
                          ratio=None, meets_target=None)
            rows.append(result)
            continue
        result["runs"], result["warmup"] = runs, warmup
        ratio = None
        if s_sum["median"] is not None and p_sum["median"] and skiff.error is None \
                and peer.error is None:
            ratio = s_sum["median"] / p_sum["median"]
        if case.runner is None and (case.skiff is None or case.peer is None):
            status = NOT_IMPLEMENTED
        elif skiff.error or peer.error:
            status = "failed"
        elif s_sum["n"] == 0 or p_sum["n"] == 0:
            status = "failed"
            for d in (s_sum, p_sum):
                if d["n"] == 0:
                    d["error"] = f"no value of {m.key or 'the measure'} was reported"
        else:
            status = "ok"
        meets = None
        if ratio is not None and m.target is not None:
            meets = ratio >= m.target if m.higher_is_better else ratio <= m.target
        result.update(status=status, skiff=s_sum, peer=p_sum, ratio=ratio, meets_target=meets)
        rows.append(result)
    return rows


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cgroup_mode(mounts_text: str | None = None) -> str:
    """"v2 (unified)", "v1 (hybrid)" (v1 controllers plus a cgroup2 mount at
    /sys/fs/cgroup/unified) or "v1 (legacy)", from /proc/self/mounts."""
    text = _read("/proc/self/mounts") if mounts_text is None else mounts_text
    mounts = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounts[parts[1]] = parts[2]
    if mounts.get("/sys/fs/cgroup") == "cgroup2":
        return "v2 (unified)"
    if mounts.get("/sys/fs/cgroup/unified") == "cgroup2":
        return "v1 (hybrid)"
    return "v1 (legacy)"


def load_average() -> str:
    """/proc/loadavg's 1, 5 and 15 minute load averages, e.g. "0.12 0.30 0.25"
    (a loaded machine makes every number noisier)."""
    return " ".join(_read("/proc/loadavg").split()[:3])


def machine_info(extra: dict | None = None) -> dict:
    """CPUs (count and model), memory (bytes), kernel, OS, cgroup mode, Python."""
    model = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    os_name = ""
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    info = {"cpus": os.cpu_count(), "cpu_model": model, "memory_bytes": mem,
            "kernel": platform.release(), "os": os_name, "cgroup": cgroup_mode(),
            "python": platform.python_version(), "load_average_at_end": load_average()}
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        if rev:
            info["skiff_commit"] = rev
    except (OSError, subprocess.SubprocessError):
        pass
    if extra:
        info.update(extra)
    return info


def make_document(cases: list[dict], runs: int, warmup: int, mode: str,
                  machine: dict | None = None) -> dict:
    """The results document (see module doc) for already-run ``cases``."""
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return {"date": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "mode": mode, "runs": runs,
            "warmup": warmup, "machine": machine if machine is not None else machine_info(),
            "cases": cases}


def write_results(doc: dict, results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``doc`` to ``results_dir/<date>.json`` (smoke runs:
    ``smoke-<date>.json``); return the path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["date"].replace(":", "")
    prefix = "smoke-" if doc.get("mode") == "smoke" else ""
    path = results_dir / f"{prefix}{stamp}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def latest_results(results_dir: Path = RESULTS_DIR, mode: str = "full") -> Path | None:
    """The newest results file of ``mode`` in ``results_dir``, or None."""
    files = sorted(p for p in results_dir.glob("*.json")
                   if p.name.startswith("smoke-") == (mode == "smoke"))
    return files[-1] if files else None


def fmt_value(value: float | None, unit: str = "s") -> str:
    """``value`` in ``unit`` for a reader: seconds as s/ms, bytes as KiB/MiB,
    anything else with 3 significant digits and the unit."""
    if value is None:
        return "-"
    if unit == "s":
        return _fmt(value)
    if unit == "B":
        if abs(value) >= 2**20:
            return f"{value / 2**20:.2f} MiB"
        return f"{value / 2**10:.0f} KiB"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "":
        return f"{value:g}"
    if unit == "CPU s":
        return f"{value:.2f} CPU s" if value >= 0.1 else f"{value * 1000:.0f} CPU ms"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def _side_cell(side: dict, unit: str = "s") -> str:
    if side.get("error"):
        return "failed"
    if not side.get("n"):
        return "-"
    if side["n"] == 1:
        return fmt_value(side["median"], unit)
    return (f"{fmt_value(side['median'], unit)} "
            f"({fmt_value(side['q1'], unit)}–{fmt_value(side['q3'], unit)})")


def render_markdown(doc: dict, chart_name: str | None = None,
                    source: str | None = None) -> str:
    """docs/benchmarks.md for one results document. ``chart_name``: the PNG
    beside it, if one was drawn; ``source``: the results file, for the reader."""
    m = doc["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/harness.py` from "
        + (f"`{source}`" if source else "a benchmark run")
        + f" ({doc['date']}, {doc['mode']} mode). Do not edit by hand: run `make bench`.",
        "",
        f"Each case runs skiff and its peer alternately, run by run: {doc['warmup']} warm-up "
        f"rounds not counted, then {doc['runs']} timed rounds (slow cases fewer: see the row). "
        "Times are wall-clock, end to end through each CLI unless the row says otherwise; "
        "cells give the median and, in brackets, the interquartile range. "
        "The ratio is skiff's median over the peer's: for times, memory and CPU below 1 "
        "is better for skiff; for rates (req/s, MB/s; target marked ≥) above 1 is.",
        "",
        "| benchmark | skiff | peer | peer time | skiff/peer | target | status |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in doc["cases"]:
        ratio = "-" if c.get("ratio") is None else f"{c['ratio']:.2f}"
        target = "-" if c.get("target") is None else \
            f"{'≥' if c.get('higher_is_better') else '≤'} {c['target']:g}"
        status = c["status"]
        if status == "ok" and c.get("meets_target") is False:
            status = "ok, target missed"
        elif status == "ok" and c.get("meets_target"):
            status = "ok, target met"
        title = c["title"]
        if c.get("runs") is not None and (c["runs"], c["warmup"]) != (doc["runs"], doc["warmup"]):
            title += f" ({c['warmup']}+{c['runs']} rounds)"
        unit = c.get("unit", "s")
        lines.append(f"| {title} | {_side_cell(c['skiff'], unit)} | {c['peer_name']} | "
                     f"{_side_cell(c['peer'], unit)} | {ratio} | {target} | {status} |")
    errors = [(c, side) for c in doc["cases"] for side in ("skiff", "peer")
              if c[side].get("error")]
    notes = [c for c in doc["cases"] if c.get("note")]
    if errors or notes:
        lines += ["", "Notes:", ""]
        for c in notes:
            lines.append(f"- {c['title']}: {c['note']}")
        for c, side in errors:
            who = "skiff" if side == "skiff" else c["peer_name"]
            lines.append(f"- {c['title']}, {who}: {c[side]['error']}")
    with_target = [c for c in doc["cases"] if c.get("target") is not None]
    if with_target:
        met = [c["title"] for c in with_target if c.get("meets_target") is True]
        missed = [c["title"] for c in with_target if c.get("meets_target") is False]
        unmeasured = [c["title"] for c in with_target if c.get("meets_target") is None]
        lines += ["", "## Targets", "",
                  f"Met ({len(met)} of {len(with_target)}): " + ("; ".join(met) or "none") + ".",
                  "",
                  f"Missed ({len(missed)}): " + ("; ".join(
                      f"{c['title']} ({c['ratio']:.2f} against "
                      f"{'≥' if c.get('higher_is_better') else '≤'} {c['target']:g})"
                      for c in with_target if c.get("meets_target") is False) or "none") + "."]
        if unmeasured:
            lines += ["", "Not measured (failed or not implemented yet): "
                      + "; ".join(unmeasured) + "."]
    if chart_name:
        lines += ["", f"![ratio skiff/peer per benchmark]({chart_name})"]
    lines += [
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPUs | {m.get('cpus')} × {m.get('cpu_model') or 'unknown'} |",
        f"| memory | {m.get('memory_bytes', 0) / 2**30:.1f} GiB |",
        f"| kernel | {m.get('kernel')} |",
        f"| OS | {m.get('os')} |",
        f"| cgroup | {m.get('cgroup')} |",
        f"| Python | {m.get('python')} |",
    ]
    for key in sorted(k for k in m if k not in
                      {"cpus", "cpu_model", "memory_bytes", "kernel", "os", "cgroup", "python"}):
        lines.append(f"| {key.replace('_', ' ')} | {m[key]} |")
    lines += [
        "",
        "## Commands",
        "",
    ]
    # rows measured by one command (the metrics of one case) list it once
    groups: dict[tuple, list[dict]] = {}
    for c in doc["cases"]:
        if c["skiff"].get("cmd") or c["peer"].get("cmd"):
            key = (tuple(c["skiff"].get("cmd") or ()), tuple(c["peer"].get("cmd") or ()))
            groups.setdefault(key, []).append(c)
    for (scmd, pcmd), cs in groups.items():
        lines.append(f"- {'; '.join(c['title'] for c in cs)}: skiff `{shlex.join(scmd or ['-'])}`; "
                     f"{cs[0]['peer_name']} `{shlex.join(pcmd or ['-'])}`")
    lines += ["", "How to run them, and what each needs: `bench/README.md`.", ""]
    lines += ["## Closing note", "", closing_note(doc), ""]
    return "\n".join(lines)


def closing_note(doc: dict) -> str:
    """One paragraph quoting every ratio skiff/peer of ``doc`` and whether
    its target is met (the end of docs/benchmarks.md)."""
    parts = []
    for c in doc["cases"]:
        if c.get("ratio") is None:
            why = c["status"] if c["status"] != "ok" else "no ratio"
            parts.append(f"{c['title']}: {why}")
            continue
        t = ""
        if c.get("target") is not None:
            op = "≥" if c.get("higher_is_better") else "≤"
            t = f" (target {op} {c['target']:g}: {'met' if c.get('meets_target') else 'missed'})"
        parts.append(f"{c['title']}: {c['ratio']:.2f}{t}")
    load = doc["machine"].get("load_average_at_start")
    tail = (f" Load average at the start {load}, at the end "
            f"{doc['machine'].get('load_average_at_end')}." if load else "")
    return ("Ratios skiff/peer of the medians in this run: " + "; ".join(parts) + "." + tail)


def render_chart(doc: dict, png: Path) -> bool:
    """Draw the ratio skiff/peer of each measured case as a bar chart into
    ``png``; False (and nothing written) when matplotlib is not installed or
    no case has a ratio."""
    rows = [(c["title"], c["ratio"], c.get("target"), bool(c.get("higher_is_better")))
            for c in doc["cases"] if c.get("ratio") is not None]
    if not rows:
        return False
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(rows) + 1.8))
    names = [r[0] + (" (↑ better)" if r[3] else "") for r in rows][::-1]
    ratios = [r[1] for r in rows][::-1]

    # green: target met, red: missed, grey: no target (context rows)
    def colour(r) -> str:
        if r[2] is None:
            return "#9e9e9e"
        return "#2a9d8f" if (r[1] >= r[2] if r[3] else r[1] <= r[2]) else "#e76f51"
    ax.barh(names, ratios, color=[colour(r) for r in rows][::-1])
    ax.axvline(1.0, color="black", linewidth=1, label="peer = 1")
    first = True
    for y, r in enumerate(rows[::-1]):
        ax.text(r[1], y, f" {r[1]:.2f}", va="center")
        if r[2] is not None:
            ax.plot([r[2], r[2]], [y - 0.4, y + 0.4], color="black", linestyle="--",
                    linewidth=1.5, label="target" if first else None)
            first = False
    ax.set_xlabel("median, skiff / peer (lower is better unless marked ↑)\n"
                  "green: target met, red: missed, grey: no target")
    ax.set_title(f"skiff vs peers, {doc['date']}")
    ax.legend(loc="lower right", fontsize="small")
    ax.set_xlim(0, max(ratios + [1.0]) * 1.2)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return True


def regenerate_docs(results: Path, docs: Path = DOCS, chart: Path | None = CHART) -> Path:
    """Rewrite ``docs`` (and ``chart``, if matplotlib is there) from the
    results file ``results``; return ``docs``."""
    doc = json.loads(results.read_text())
    chart_name = None
    if chart is not None and render_chart(doc, chart):
        chart_name = os.path.relpath(chart, docs.parent)
    try:
        source = str(results.resolve().relative_to(REPO))
    except ValueError:
        source = results.name
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(render_markdown(doc, chart_name, source))
    return docs


def print_table(doc: dict, out=sys.stdout) -> None:
    """A plain-text summary of ``doc`` for the terminal."""
    print(f"{'benchmark':40} {'skiff median':>13} {'peer median':>13} "
          f"{'skiff IQR':>17} {'peer IQR':>17} {'ratio':>6}  status", file=out)
    for c in doc["cases"]:
        s, p = c["skiff"], c["peer"]
        u = c.get("unit", "s")
        iqr = (lambda d: f"{fmt_value(d['q1'], u)}–{fmt_value(d['q3'], u)}" if d.get("n") else "-")
        ratio = "-" if c.get("ratio") is None else f"{c['ratio']:.2f}"
        if c.get("meets_target") is not None:
            ratio += "*" if c["meets_target"] else "!"
        print(f"{c['title'][:40]:40} {fmt_value(s.get('median'), u):>13} "
              f"{fmt_value(p.get('median'), u):>13} "
              f"{iqr(s):>17} {iqr(p):>17} {ratio:>6}  {c['status']}", file=out)
        for side, who in (("skiff", "skiff"), ("peer", c["peer_name"])):
            if c[side].get("error"):
                print(f"    {who}: {c[side]['error']}", file=out)


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description="skiff benchmark harness")
    sub = ap.add_subparsers(dest="cmd", required=True)
    rep = sub.add_parser("report", help="regenerate docs/benchmarks.md from a results file")
    rep.add_argument("results", nargs="?", type=Path)
    rep.add_argument("--docs", type=Path, default=DOCS)
    rep.add_argument("--chart", type=Path, default=CHART)
    args = ap.parse_args(argv)
    results = args.results or latest_results()
    if results is None:
        print("no results in bench/results: run make bench", file=sys.stderr)
        return 1
    print(regenerate_docs(results, args.docs, args.chart))
    return 0


if __name__ == "__main__":
    sys.exit(main())
