"""Sizes, durations and timestamps as Docker's CLI reads and prints them.

Follows github.com/docker/go-units (RAMInBytes, FromHumanSize, HumanSize,
HumanDuration) and docker/cli's opts (NanoCPUs, MemSwapBytes) and
api/types/time (GetTimestamp for --since/--until).
"""

from __future__ import annotations

import time as _time

_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9, "t": 10 ** 12, "p": 10 ** 15}


def _go_float(num: str) -> float:
    """strconv.ParseFloat for plain decimal numbers; ValueError with Go's wording."""
    ok = bool(num) and all(c in "0123456789." for c in num.lstrip("+-")) and num.count(".") <= 1 \
        and any(c.isdigit() for c in num)
    if not ok:
        raise ValueError(f'strconv.ParseFloat: parsing "{num}": invalid syntax')
    return float(num)


def _parse_size(s: str, table: dict[str, int]) -> int:
    sep = max(s.rfind(c) for c in "01234567890. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{s}'")
    if s[sep] != " ":
        num, sfx = s[:sep + 1], s[sep + 1:]
    else:
        num, sfx = s[:sep], s[sep + 1:]
    size = _go_float(num)
    if size < 0:
        raise ValueError(f"invalid size: '{s}'")
    if not sfx:
        return int(size)
    low = sfx.lower()
    bad = ValueError(f"invalid suffix: '{low if len(sfx) <= 3 else sfx}'")
    if len(sfx) > 3:
        raise bad
    if low[0] == "b":
        if len(low) > 1:
            raise bad
        return int(size)
    mul = table.get(low[0])
    if mul is None:
        raise bad
    if (len(low) == 2 and low[1] != "b") or (len(low) == 3 and low[1:] != "ib"):
        raise bad
    return int(size * mul)


def ram_in_bytes(s: str) -> int:
    """go-units RAMInBytes: "512m" -> 536870912 (binary multiples, suffix
    b/k/m/g/t/p with optional "b"/"ib"). Raises ValueError("invalid size: '..'"
    or "invalid suffix: '..'")."""
    return _parse_size(s, _BINARY)


def from_human_size(s: str) -> int:
    """go-units FromHumanSize: decimal multiples ("1kB" -> 1000)."""
    return _parse_size(s, _DECIMAL)


def mem_bytes(s: str) -> int:
    """docker/cli opts.MemBytes (-m, --memory-reservation, --shm-size): bytes, "" -> 0."""
    if s == "":
        return 0
    return ram_in_bytes(s)


def mem_swap_bytes(s: str) -> int:
    """docker/cli opts.MemSwapBytes (--memory-swap): like mem_bytes, "-1" -> -1 (unlimited)."""
    if s == "-1":
        return -1
    return mem_bytes(s)


def nano_cpus(s: str) -> int:
    """docker/cli opts.NanoCPUs (--cpus): "1.5" -> 1500000000. ValueError
    "failed to parse X as a rational number" as Docker's."""
    from fractions import Fraction
    try:
        f = Fraction(s)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {s} as a rational number") from None
    n = f * 1_000_000_000
    if n.denominator != 1:
        raise ValueError("value is too precise")
    return int(n)


_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_BUNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: 4260000 -> "4.26MB" (decimal, %.{precision}g)."""
    size = float(size)
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{_UNITS[i]}"


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units with %.4g ("1.5GiB")."""
    size = float(size)
    i = 0
    while size >= 1024.0 and i < len(_BUNITS) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{_BUNITS[i]}"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: 3 -> "3 seconds", 90 -> "About a minute",
    2 years -> "2 years"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds // 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int((seconds + 1800) // 3600)  # time.Duration.Round(time.Hour)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


def parse_rfc3339(s: str) -> float:
    """RFC 3339 timestamp (nanoseconds allowed, "Z" or offset) -> unix seconds.
    Raises ValueError."""
    from datetime import datetime
    s = s.strip()
    if s.startswith("0001-01-01"):
        return 0.0
    frac = 0.0
    main = s
    if "." in s:
        head, rest = s.split(".", 1)
        digits = ""
        k = 0
        while k < len(rest) and rest[k].isdigit():
            digits += rest[k]
            k += 1
        frac = float("0." + digits) if digits else 0.0
        main = head + rest[k:]
    if main.endswith("Z") or main.endswith("z"):
        main = main[:-1] + "+00:00"
    dt = datetime.fromisoformat(main)
    if dt.tzinfo is None:
        from datetime import timezone
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp() + frac


_DUR = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(s: str) -> float:
    """time.ParseDuration: "1h30m", "10s", "1.5h" -> seconds. Raises ValueError."""
    orig = s
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    total = 0.0
    while s:
        k = 0
        while k < len(s) and (s[k].isdigit() or s[k] == "."):
            k += 1
        if k == 0:
            raise ValueError(f'time: invalid duration "{orig}"')
        num = float(s[:k])
        s = s[k:]
        u = 0
        while u < len(s) and not (s[u].isdigit() or s[u] == "."):
            u += 1
        unit = s[:u]
        s = s[u:]
        if unit not in _DUR:
            if not unit:
                raise ValueError(f'time: missing unit in duration "{orig}"')
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        total += num * _DUR[unit]
    return sign * total


def time_range_params(since: str | None, until: str | None) -> dict:
    """--since/--until -> the query parameters {"since", "until"} (only those
    given), each through get_timestamp. Raises ValueError."""
    params = {}
    if since:
        params["since"] = get_timestamp(since)
    if until:
        params["until"] = get_timestamp(until)
    return params


def get_timestamp(value: str, now: float | None = None) -> str:
    """docker api/types/time.GetTimestamp for --since/--until: a Go duration
    ("10m", relative to now), an RFC 3339 date/time, or a unix timestamp
    ("1700000000[.nnnnnnnnn]") -> "SECONDS.NANOSECONDS". Raises ValueError."""
    if now is None:
        now = _time.time()
    try:
        d = parse_go_duration(value)
        t = now - d
        return _fmt_ts(t)
    except ValueError:
        pass
    if value and all(c.isdigit() or c == "." for c in value) and value.count(".") <= 1:
        if "." in value:
            sec, ns = value.split(".", 1)
            return f"{int(sec or 0)}.{ns[:9].ljust(9, '0')}"
        return f"{int(value)}.000000000"
    try:
        if "T" not in value and len(value) == 10:
            value = value + "T00:00:00Z"
        return _fmt_ts(parse_rfc3339(value))
    except ValueError:
        raise ValueError(f'failed to parse value as time or duration: "{value}"') from None


def _fmt_ts(t: float) -> str:
    sec = int(t // 1)
    ns = int(round((t - sec) * 1e9))
    if ns >= 1_000_000_000:
        sec, ns = sec + 1, ns - 1_000_000_000
    return f"{sec}.{ns:09d}"
