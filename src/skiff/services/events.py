"""The event bus behind GET /events (Engine API v1.44 "SystemEvents").

``publish(type, action, actor_id, attributes)`` records an event as Docker's
JSON ({"Type", "Action", "Actor": {"ID", "Attributes"}, "scope": "local",
"time" (s), "timeNano" (ns), plus the legacy "status", "id", "from"}), keeps the
last 1024 for ``since``, and fans out to subscribers.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import AsyncIterator


def _parse_time(v: str | None) -> float | None:
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        pass
    from datetime import datetime
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class EventBus:
    def __init__(self, keep: int = 1024):
        self._recent: deque[dict] = deque(maxlen=keep)
        self._subs: set[asyncio.Queue] = set()

    def publish(self, type_: str, action: str, actor_id: str, attributes: dict | None = None) -> dict:
        now = time.time_ns()
        attrs = {k: str(v) for k, v in (attributes or {}).items()}
        ev = {"Type": type_, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
              "scope": "local", "time": now // 1_000_000_000, "timeNano": now}
        if type_ == "container":
            ev.update(status=action, id=actor_id, **({"from": attrs["image"]} if "image" in attrs else {}))
        self._recent.append(ev)
        for q in list(self._subs):
            q.put_nowait(ev)
        return ev

    async def events(self, since: str | None = None, until: str | None = None,
                     filters: dict | None = None) -> AsyncIterator[dict]:
        """Past events from ``since`` then live ones until ``until`` (unix s or RFC3339)."""
        t0, t1 = _parse_time(since), _parse_time(until)
        q: asyncio.Queue = asyncio.Queue()
        self._subs.add(q)
        try:
            if t0 is not None:
                for ev in list(self._recent):
                    if ev["timeNano"] / 1e9 >= t0 and (t1 is None or ev["timeNano"] / 1e9 <= t1) \
                            and _match(ev, filters):
                        yield ev
            while True:
                timeout = None if t1 is None else max(0.0, t1 - time.time())
                if t1 is not None and timeout == 0:
                    return
                try:
                    ev = await asyncio.wait_for(q.get(), timeout)
                except asyncio.TimeoutError:
                    return
                if _match(ev, filters):
                    yield ev
        finally:
            self._subs.discard(q)


def _match(ev: dict, filters: dict | None) -> bool:
    if not filters:
        return True
    for key, vals in filters.items():
        if isinstance(vals, dict):
            vals = [k for k, v in vals.items() if v]
        if not vals:
            continue
        if key == "type" and ev["Type"] not in vals:
            return False
        if key == "event" and ev["Action"].split(":")[0] not in vals:
            return False
        if key == "container":  # moby events.Filter fuzzyMatchName: any event type
            if not any(ev["Actor"]["ID"].startswith(v) or ev["Actor"]["Attributes"].get("name") == v for v in vals):
                return False
        if key == "image" and ev["Actor"]["Attributes"].get("image") not in vals and ev["Actor"]["ID"] not in vals:
            return False
        if key == "label":
            attrs = ev["Actor"]["Attributes"]
            for v in vals:
                k, _, want = v.partition("=")
                if k not in attrs or (want and attrs[k] != want):
                    return False
    return True
