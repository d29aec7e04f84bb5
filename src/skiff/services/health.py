"""Restart policies and healthchecks: the pure decisions, and the probe loop.

Restart policy (Engine API HostConfig.RestartPolicy; moby restartmanager):
``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``. The delay before
a restart starts at 100 ms and doubles each time, at most 1 minute; it goes
back to 100 ms when the container ran at least 10 s.

Healthcheck (Engine API ContainerConfig.Healthcheck; moby daemon/health.go):
``Test`` is ["NONE"], ["CMD", args...] or ["CMD-SHELL", "cmd"]; ``Interval``,
``Timeout``, ``StartPeriod``, ``StartInterval`` in ns (defaults 30 s, 30 s,
0, 5 s); ``Retries`` (default 3). State.Health is {"Status": starting|healthy|
unhealthy, "FailingStreak": N, "Log": last 5 results {Start, End, ExitCode, Output}}.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKOFF_START = 0.1      # s
BACKOFF_MAX = 60.0       # s
RESET_AFTER = 10.0       # s of uptime that resets the back-off

DEFAULT_INTERVAL = 30.0  # s
DEFAULT_TIMEOUT = 30.0   # s
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_LOG = 5
MAX_OUTPUT = 4096        # bytes kept of a probe's output


@dataclass
class RestartDecision:
    restart: bool
    delay: float = 0.0   # s before the restart


def decide_restart(policy: dict, *, exit_code: int, restart_count: int, manually_stopped: bool,
                   uptime: float, last_delay: float) -> RestartDecision:
    """Whether a container that just exited is restarted, and after how long
    (moby restartmanager.ShouldRestart). ``policy`` is HostConfig.RestartPolicy."""
    name = (policy or {}).get("Name") or "no"
    if name == "no" or manually_stopped:
        return RestartDecision(False)
    if name == "on-failure":
        limit = int((policy or {}).get("MaximumRetryCount") or 0)
        if exit_code == 0 or (limit and restart_count >= limit):
            return RestartDecision(False)
    elif name not in ("always", "unless-stopped"):
        return RestartDecision(False)
    if uptime >= RESET_AFTER or last_delay <= 0:
        delay = BACKOFF_START
    else:
        delay = min(last_delay * 2, BACKOFF_MAX)
    return RestartDecision(True, delay)


def starts_with_daemon(policy: dict, manually_stopped: bool) -> bool:
    """``always`` containers, and ``unless-stopped`` ones not stopped by hand,
    are started when the daemon starts."""
    name = (policy or {}).get("Name") or "no"
    return name == "always" or (name == "unless-stopped" and not manually_stopped)


@dataclass(frozen=True)
class Probe:
    """A parsed healthcheck; times in seconds. ``argv`` None means none."""

    argv: list | None
    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int


def parse_healthcheck(hc: dict | None) -> Probe | None:
    """The healthcheck to run, or None (none set, or Test ["NONE"])."""
    if not hc:
        return None
    test = hc.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        argv = list(test[1:])
    elif test[0] == "CMD-SHELL":
        argv = ["/bin/sh", "-c", " ".join(test[1:])]
    else:  # an old-style bare command
        argv = ["/bin/sh", "-c", " ".join(test)]
    if not argv:
        return None

    def secs(key, default):
        v = hc.get(key)
        return default if not v else int(v) / 1e9

    return Probe(argv=argv, interval=secs("Interval", DEFAULT_INTERVAL),
                 timeout=secs("Timeout", DEFAULT_TIMEOUT),
                 start_period=secs("StartPeriod", 0.0),
                 start_interval=secs("StartInterval", DEFAULT_START_INTERVAL),
                 retries=int(hc.get("Retries") or DEFAULT_RETRIES))


def record_result(health: dict, result: dict, probe: Probe, in_start_period: bool) -> str | None:
    """Add one probe result to State.Health (in place). Returns the new
    status when it changed, else None. A failure inside the start period does
    not count against the retries (moby's rule)."""
    old = health.get("Status")
    log = list(health.get("Log") or [])
    log.append(result)
    health["Log"] = log[-MAX_LOG:]
    if result["ExitCode"] == 0:
        health["FailingStreak"] = 0
        health["Status"] = "healthy"
    elif not in_start_period or old != "starting":
        health["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
        if health["FailingStreak"] >= probe.retries:
            health["Status"] = "unhealthy"
    return health["Status"] if health["Status"] != old else None


def status_suffix(health: dict | None) -> str:
    """What `ps` adds to "Up 3 seconds": " (healthy)", " (health: starting)"."""
    if not health or not health.get("Status") or health["Status"] == "none":
        return ""
    if health["Status"] == "starting":
        return " (health: starting)"
    return f" ({health['Status']})"
