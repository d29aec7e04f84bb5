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


@dataclass
class _Side:
    cmd: list[str] | None
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict:
        d: dict = {"cmd": self.cmd, "samples": [round(s, 6) for s in self.samples],
                   "error": self.error}
        d.update(stats(self.samples))
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
                 timeout: float = 120.0, self_timed: bool = False) -> tuple[float, str | None]:
    """Run ``cmd`` once; return (seconds, error). ``error`` is None on exit
    status 0, else the status and the end of stderr. Seconds are the wall
    time of the run, or with ``self_timed`` the number the command printed
    last on stdout (stdout is discarded otherwise)."""
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
        lines = p.stdout.decode(errors="replace").split()
        try:
            return float(lines[-1]), None
        except (IndexError, ValueError):
            return elapsed, "self-timed command printed no number of seconds"
    return elapsed, None


def run_case(case: Case, runs: int, warmup: int,
             progress: Callable[[str], None] | None = None) -> dict:
    """Run ``case`` ``warmup`` + ``runs`` rounds, alternating the sides and
    their order each round; return the case's result dict (see module doc)."""
    skiff = _Side(case.skiff, error=case.skiff_error)
    peer = _Side(case.peer, error=case.peer_error)
    result = {"name": case.name, "title": case.title, "peer_name": case.peer_name,
              "unit": "s", "target": case.target, "note": case.note}
    if case.skiff is None and case.peer is None:
        result.update(status=NOT_IMPLEMENTED, skiff=skiff.summary(), peer=peer.summary(),
                      ratio=None, meets_target=None)
        return result
    if case.max_runs is not None:
        runs = min(runs, case.max_runs)
    if case.max_warmup is not None:
        warmup = min(warmup, case.max_warmup)
    result["runs"], result["warmup"] = runs, warmup
    sides = [("skiff", skiff), (case.peer_name, peer)]
    for i in range(warmup + runs):
        if all(side.cmd is None or side.error is not None for _, side in sides):
            break
        order = sides if i % 2 == 0 else sides[::-1]
        for label, side in order:
            if side.cmd is None or side.error is not None:
                continue
            elapsed, err = time_command(side.cmd, case.env, case.timeout, case.self_timed)
            if err is not None:
                side.error = err
                if progress:
                    progress(f"  {case.name}: {label} failed: {err}")
                continue
            if i >= warmup:
                side.samples.append(elapsed)
        if progress and i >= warmup:
            progress(f"  {case.name} round {i - warmup + 1}/{runs}: "
                     + ", ".join(f"{lbl} {_fmt(s.samples[-1]) if s.samples and s.error is None else '-'}"
                                 for lbl, s in sides))
    s_sum, p_sum = skiff.summary(), peer.summary()
    ratio = None
    if s_sum["median"] and p_sum["median"] and skiff.error is None and peer.error is None:
        ratio = s_sum["median"] / p_sum["median"]
    if case.skiff is None or case.peer is None:
        status = NOT_IMPLEMENTED
    elif skiff.error or peer.error:
        status = "failed"
    else:
        status = "ok"
    meets = None if ratio is None or case.target is None else ratio <= case.target
    result.update(status=status, skiff=s_sum, peer=p_sum, ratio=ratio, meets_target=meets)
    return result


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


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def _side_cell(side: dict) -> str:
    if side.get("error"):
        return "failed"
    if not side.get("n"):
        return "-"
    return f"{_fmt(side['median'])} ({_fmt(side['q1'])}–{_fmt(side['q3'])})"


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
        f"rounds not counted, then {doc['runs']} timed rounds. Times are wall-clock, end to end "
        "through each CLI; cells give the median and, in brackets, the interquartile range. "
        "The ratio is skiff's median over the peer's: below 1 skiff is faster.",
        "",
        "| benchmark | skiff | peer | peer time | skiff/peer | target | status |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in doc["cases"]:
        ratio = "-" if c.get("ratio") is None else f"{c['ratio']:.2f}"
        target = "-" if c.get("target") is None else f"≤ {c['target']:g}"
        status = c["status"]
        if status == "ok" and c.get("meets_target") is False:
            status = "ok, target missed"
        elif status == "ok" and c.get("meets_target"):
            status = "ok, target met"
        title = c["title"]
        if c.get("runs") is not None and (c["runs"], c["warmup"]) != (doc["runs"], doc["warmup"]):
            title += f" ({c['warmup']}+{c['runs']} rounds)"
        lines.append(f"| {title} | {_side_cell(c['skiff'])} | {c['peer_name']} | "
                     f"{_side_cell(c['peer'])} | {ratio} | {target} | {status} |")
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
    for c in doc["cases"]:
        if c["skiff"].get("cmd") or c["peer"].get("cmd"):
            lines.append(f"- {c['title']}: skiff `{shlex.join(c['skiff'].get('cmd') or ['-'])}`; "
                         f"{c['peer_name']} `{shlex.join(c['peer'].get('cmd') or ['-'])}`")
    lines += ["", "How to run them, and what each needs: `bench/README.md`.", ""]
    return "\n".join(lines)


def render_chart(doc: dict, png: Path) -> bool:
    """Draw the ratio skiff/peer of each measured case as a bar chart into
    ``png``; False (and nothing written) when matplotlib is not installed or
    no case has a ratio."""
    rows = [(c["title"], c["ratio"], c.get("target")) for c in doc["cases"]
            if c.get("ratio") is not None]
    if not rows:
        return False
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.6))
    names = [r[0] for r in rows][::-1]
    ratios = [r[1] for r in rows][::-1]
    # green: meets its target (or, with none, is faster than the peer)
    colours = ["#2a9d8f" if r[1] <= (r[2] if r[2] is not None else 1.0) else "#e76f51"
               for r in rows][::-1]
    ax.barh(names, ratios, color=colours)
    ax.axvline(1.0, color="black", linewidth=1, label="peer = 1")
    targets = {r[2] for r in rows if r[2] is not None}
    for t in sorted(targets):
        ax.axvline(t, color="grey", linestyle="--", linewidth=1, label=f"target {t:g}")
    for y, r in enumerate(ratios):
        ax.text(r, y, f" {r:.2f}", va="center")
    ax.set_xlabel("median time, skiff / peer (lower is better)")
    ax.set_title(f"skiff vs peers, {doc['date']}")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    ax.set_xlim(0, max(ratios + [1.0]) * 1.25)
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
        iqr = (lambda d: f"{_fmt(d['q1'])}–{_fmt(d['q3'])}" if d.get("n") else "-")
        ratio = "-" if c.get("ratio") is None else f"{c['ratio']:.2f}"
        print(f"{c['title'][:40]:40} {_fmt(s.get('median')):>13} {_fmt(p.get('median')):>13} "
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
