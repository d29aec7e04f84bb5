"""Display the JSON message streams of pull, load and import as Docker's CLI
(moby pkg/jsonmessage DisplayJSONMessagesStream): on a terminal each layer id
keeps one line, redrawn in place with a progress bar; otherwise one plain
line per status change (progress updates are dropped)."""

from __future__ import annotations

import time

from skiff.errors import SkiffError


def progress_string(detail: dict | None, width: int = 80, now: float | None = None) -> str:
    """JSONProgress.String(): "[=====>    ]  1.2MB/4.5MB" (bar only when width > 110)."""
    from skiff.cli.units import human_size, human_duration
    if not detail:
        return ""
    current = int(detail.get("current") or 0)
    total = int(detail.get("total") or 0)
    units = detail.get("units") or ""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        if not units:
            return f"{human_size(current):>8}"
        return f"{current} {units}"
    pct = min(50, int(current / total * 100) // 2)
    bar = ""
    if width > 110:
        bar = "[" + "=" * pct + ">" + " " * max(0, 50 - pct) + "] "
    if detail.get("hidecounts"):
        nums = ""
    elif not units:
        nums = f"{human_size(current):>8}/{human_size(total)}"
        if current > total:
            nums = f"{human_size(current):>8}"
    else:
        nums = f"{current}/{total} {units}"
        if current > total:
            nums = f"{current} {units}"
    left = ""
    start = detail.get("start") or 0
    if current > 0 and start > 0 and pct < 50:
        t = now if now is not None else time.time()
        elapsed = t - start
        if elapsed > 0:
            remaining = (total - current) / (current / elapsed)
            left = " " + human_duration(remaining)
    return bar + nums + left


def display_stream(messages, out, is_terminal: bool, width: int = 80, aux=None) -> None:
    """Write each message of a JSON stream to ``out`` (a text file). Raises
    SkiffError with the message of an {"error": ...} entry."""
    ids: dict[str, int] = {}
    for jm in messages:
        if not isinstance(jm, dict):
            continue
        if jm.get("aux") is not None:
            if aux is not None:
                aux(jm["aux"])
            continue
        err = jm.get("errorDetail") or ({"message": jm["error"]} if jm.get("error") else None)
        if err:
            raise SkiffError(err.get("message") or jm.get("error") or "unknown error")
        has_progress = "progressDetail" in jm and jm.get("progressDetail") is not None
        pstr = progress_string(jm.get("progressDetail"), width) if has_progress else ""
        if not pstr and has_progress and jm.get("progress") and is_terminal:
            pstr = jm["progress"]
        jid = jm.get("id") or ""
        diff = 0
        if jid and (has_progress or jm.get("progress")):
            if jid not in ids:
                ids[jid] = len(ids)
                if is_terminal:
                    out.write("\n")
            diff = len(ids) - ids[jid]
            if is_terminal:
                out.write(f"\x1b[{diff}A")
        else:
            ids = {}
        _display(jm, out, is_terminal, has_progress, pstr)
        if jid and is_terminal and diff:
            out.write(f"\x1b[{diff}B")
        out.flush()


def _display(jm: dict, out, is_terminal: bool, has_progress: bool, pstr: str) -> None:
    endl = ""
    stream = jm.get("stream") or ""
    if is_terminal and not stream and has_progress:
        out.write("\x1b[2K\r")
        endl = "\r"
    elif has_progress and pstr:
        return  # no progress bars off a terminal
    if jm.get("id"):
        out.write(f"{jm['id']}: ")
    if jm.get("from"):
        out.write(f"(from {jm['from']}) ")
    status = jm.get("status") or ""
    if has_progress and is_terminal:
        out.write(f"{status} {pstr}{endl}")
    elif jm.get("progress") and not has_progress:
        out.write(f"{status} {jm['progress']}{endl}")
    elif stream:
        out.write(f"{stream}{endl}")
    else:
        out.write(f"{status}{endl}\n")
