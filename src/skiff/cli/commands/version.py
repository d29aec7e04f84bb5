"""``skiff version [-f FORMAT]``: client and server sections as ``docker version``
(docker/cli cli/command/system/version.go, same template and tabwriter)."""

from __future__ import annotations

import json
import platform
import sys
import time

from skiff.cli.base import PROG, StatusError, error_text
from skiff.cli.flags import Flag, FlagSet
from skiff.errors import SkiffError

TEMPLATE = """{{with .Client -}}
Client:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Python version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- if .ServerOK}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:\t{{$value}}
  {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}
{{- end}}
"""


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)


def _ansic(value: str) -> str:
    """RFC 3339 -> Go's time.ANSIC ("Thu May  7 21:09:36 2026"), as Docker's reformatDate."""
    from skiff.cli.units import parse_rfc3339
    try:
        t = time.gmtime(parse_rfc3339(value))
    except (ValueError, OverflowError):
        return value
    return time.strftime("%a %b ", t) + f"{t.tm_mday:>2}" + time.strftime(" %H:%M:%S %Y", t)


def main(cli, argv):
    fs = FlagSet("[OPTIONS]", "Show the skiff version information", [
        Flag("format", "f", "string", help="Format output using a custom template"),
    ], args=(0, 0), aliases=[f"{PROG} version"])
    opts, _ = cli.parse(fs, argv)
    from skiff import __version__
    from skiff.client import API_VERSION
    client = cli.client
    data = {
        "Client": {
            "Platform": {"Name": ""},
            "Version": __version__,
            "APIVersion": client.version,
            "DefaultAPIVersion": API_VERSION,
            "GoVersion": "python" + platform.python_version(),
            "GitCommit": "",
            "BuildTime": "",
            "Os": sys.platform if sys.platform != "linux" else "linux",
            "Arch": _arch(),
            "Context": "default",
        },
        "ServerOK": False,
        "Server": None,
    }
    err = None
    try:
        server = client.get_json("/version")
        data["Client"]["APIVersion"] = client.version
        if not server.get("Components"):
            server["Components"] = [{"Name": "Engine", "Version": server.get("Version", ""), "Details": {
                "ApiVersion": server.get("ApiVersion", ""), "MinAPIVersion": server.get("MinAPIVersion", ""),
                "GoVersion": server.get("GoVersion", ""), "GitCommit": server.get("GitCommit", ""),
                "BuildTime": server.get("BuildTime", ""), "Os": server.get("Os", ""),
                "Arch": server.get("Arch", ""), "Experimental": str(server.get("Experimental", False)).lower()}}]
        server.setdefault("Platform", {"Name": ""})
        for comp in server.get("Components") or []:
            details = comp.get("Details") or {}
            if details.get("BuildTime"):
                details["BuildTime"] = _ansic(details["BuildTime"])
        data["Server"] = server
        data["ServerOK"] = True
    except SkiffError as e:
        err = e
    from skiff.cli.template import Template, TemplateError
    from skiff.cli.output import tabwrite
    try:
        if opts.format:
            fmt = opts.format
            if fmt == "json":
                out = json.dumps(data, separators=(",", ":")) + "\n"
            else:
                out = Template(fmt).execute(data) + "\n"
        else:
            out = tabwrite(Template(TEMPLATE).execute(data), minwidth=20, padding=1)
    except TemplateError as e:
        raise StatusError(f"template parsing error: {e}", 1) from None
    cli.out.write(out)
    if err is not None:
        raise StatusError(error_text(err), 1)
    return 0
