"""``skiff info [-f FORMAT]``: GET /info rendered as ``docker info``'s main
sections (docker/cli cli/command/system/info.go)."""

from __future__ import annotations

import json

from skiff.cli.base import PROG, StatusError, error_text
from skiff.cli.flags import Flag, FlagSet
from skiff.errors import SkiffError


def _server_lines(i: dict) -> list[str]:
    from skiff.cli.units import bytes_size
    L = []
    add = L.append
    add(f" Containers: {i.get('Containers', 0)}")
    add(f"  Running: {i.get('ContainersRunning', 0)}")
    add(f"  Paused: {i.get('ContainersPaused', 0)}")
    add(f"  Stopped: {i.get('ContainersStopped', 0)}")
    add(f" Images: {i.get('Images', 0)}")
    add(f" Server Version: {i.get('ServerVersion', '')}")
    add(f" Storage Driver: {i.get('Driver', '')}")
    for k, v in i.get("DriverStatus") or []:
        add(f"  {k}: {v}")
    add(f" Logging Driver: {i.get('LoggingDriver', '')}")
    add(f" Cgroup Driver: {i.get('CgroupDriver', '')}")
    add(f" Cgroup Version: {i.get('CgroupVersion', '')}")
    plugins = i.get("Plugins") or {}
    if plugins:
        add(" Plugins:")
        for kind in ("Volume", "Network", "Log"):
            if plugins.get(kind):
                add(f"  {kind}: {' '.join(plugins[kind])}")
    if i.get("Runtimes"):
        add(f" Runtimes: {' '.join(sorted(i['Runtimes']))}")
    add(f" Default Runtime: {i.get('DefaultRuntime', '')}")
    add(f" Init Binary: {i.get('InitBinary', '')}")
    if i.get("SecurityOptions"):
        add(" Security Options:")
        for o in i["SecurityOptions"]:
            add(f"  {o.replace('name=', '', 1).split(',')[0]}")
    add(f" Kernel Version: {i.get('KernelVersion', '')}")
    add(f" Operating System: {i.get('OperatingSystem', '')}")
    add(f" OSType: {i.get('OSType', '')}")
    add(f" Architecture: {i.get('Architecture', '')}")
    add(f" CPUs: {i.get('NCPU', 0)}")
    add(f" Total Memory: {bytes_size(i.get('MemTotal', 0) or 0)}")
    add(f" Name: {i.get('Name', '')}")
    add(f" ID: {i.get('ID', '')}")
    add(f" Docker Root Dir: {i.get('DockerRootDir', '')}")
    add(f" Debug Mode: {str(bool(i.get('Debug'))).lower()}")
    if i.get("Labels"):
        add(" Labels:")
        for lab in i["Labels"]:
            add(f"  {lab}")
    add(f" Experimental: {str(bool(i.get('ExperimentalBuild'))).lower()}")
    if i.get("InsecureRegistries"):
        add(" Insecure Registries:")
        for r in i["InsecureRegistries"]:
            add(f"  {r}")
    add(f" Live Restore Enabled: {str(bool(i.get('LiveRestoreEnabled'))).lower()}")
    return L


def main(cli, argv):
    fs = FlagSet("[OPTIONS]", "Display system-wide information", [
        Flag("format", "f", "string", help="Format output using a custom template"),
    ], args=(0, 0), aliases=[f"{PROG} system info", f"{PROG} info"])
    opts, _ = cli.parse(fs, argv)
    info = None
    err = None
    try:
        info = cli.client.get_json("/info")
    except SkiffError as e:
        err = e
    if opts.format:
        if err is not None:
            raise StatusError(error_text(err), 1)
        if opts.format == "json":
            cli.out.write(json.dumps(info, separators=(",", ":")) + "\n")
            return 0
        from skiff.cli.template import Template, TemplateError
        try:
            cli.out.write(Template(opts.format).execute(info) + "\n")
        except TemplateError as e:
            raise StatusError(f"template parsing error: {e}", 1) from None
        return 0
    lines = ["Client:", " Version:    " + __import__("skiff").__version__, " Context:    default",
             " Debug Mode: false", "", "Server:"]
    if err is not None:
        cli.out.write("\n".join(lines) + "\n")
        raise StatusError(error_text(err), 1)
    lines += _server_lines(info or {})
    cli.out.write("\n".join(lines) + "\n\n")
    for w in (info or {}).get("Warnings") or []:
        cli.err.write(w + "\n")
    return 0
