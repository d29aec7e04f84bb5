"""The CLI starts small: it loads no daemon, runtime, network, aiohttp or
pyroute2 module, and its own imports stay under a time budget
(``python -X importtime``, bytecode cached in a temporary prefix)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

FORBIDDEN = ("skiff.daemon", "skiff.runtime", "skiff.network", "skiff.services", "skiff.api.server",
             "skiff.images", "skiff.snapshots", "skiff.content", "skiff.metadata", "aiohttp", "pyroute2",
             "http.client", "asyncio", "sqlite3", "zstandard", "ssl")
BUDGET_US = 40_000  # cumulative import time of the CLI's own imports, microseconds


def _importtime(args, env):
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "skiff.cli", *args],
                       capture_output=True, text=True, env=env, timeout=60)
    modules = []
    program_total = 0
    after_site = False
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        _, cum, name = line.split("|", 2)
        top = not name[1:].startswith(" ")
        name = name.strip()
        modules.append(name)
        if top and after_site:
            program_total += int(cum)
        if top and name == "site":
            after_site = True
    return p, modules, program_total


@pytest.fixture
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    e["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    e["SKIFF_HOST"] = f"unix://{tmp_path}/skifftest-none.sock"
    return e


@pytest.mark.parametrize("args", [
    ["version"], ["ps", "-a"], ["images"], ["run", "--rm", "busybox", "true"],
    ["inspect", "-f", "{{.Id}}", "x"], ["logs", "x"], ["pull", "busybox"], ["rm", "-f", "x"],
])
def test_cli_imports_nothing_heavy(args, env):
    p, modules, _ = _importtime(args, env)
    assert p.returncode in (1, 125), p.stderr[-500:]
    assert "Cannot connect to the skiff daemon" in p.stderr
    loaded = [m for m in modules if m.startswith(FORBIDDEN)]
    assert loaded == []
    commands = [m for m in modules if m.startswith("skiff.cli.commands.")]
    assert len(commands) == 1, commands


def test_cli_import_time_budget(env):
    _importtime(["version"], env)  # warm the bytecode cache
    totals = []
    for _ in range(3):
        p, modules, total = _importtime(["version"], env)
        assert "skiff.cli.commands.version" in modules
        totals.append(total)
    assert min(totals) > 0
    assert min(totals) < BUDGET_US, f"CLI imports took {min(totals)} us (budget {BUDGET_US})"
