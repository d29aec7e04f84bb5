"""The skiff CLI without a daemon: flags, units, the create body, tables, exit codes."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from skiff.cli import units
from skiff.cli.__main__ import main
from skiff.cli.containeropts import FLAGS, build, parse_ports
from skiff.cli.flags import ArgsError, Flag, FlagError, FlagSet, HelpRequested
from skiff.cli.output import ellipsis, format_rows, go_quote, tabwrite, truncate_id
from skiff.cli.progress import display_stream, progress_string


# -- units --------------------------------------------------------------------

@pytest.mark.parametrize("s,want", [
    ("512m", 512 * 1024 ** 2), ("1g", 1024 ** 3), ("64M", 64 * 1024 ** 2), ("1.5g", int(1.5 * 1024 ** 3)),
    ("100", 100), ("10k", 10240), ("10kb", 10240), ("10KiB", 10240), ("1 g", 1024 ** 3), ("5b", 5),
])
def test_ram_in_bytes(s, want):
    assert units.ram_in_bytes(s) == want


@pytest.mark.parametrize("s,msg", [
    ("64x", "invalid suffix: 'x'"), ("abc", "invalid size: 'abc'"), ("1kk", "invalid suffix: 'kk'"),
    ("-5m", "invalid size: '-5m'"), ("1.2.3m", "invalid syntax"), ("10bb", "invalid suffix: 'bb'"),
])
def test_ram_in_bytes_rejects(s, msg):
    with pytest.raises(ValueError) as ei:
        units.ram_in_bytes(s)
    assert msg in str(ei.value)


def test_swap_and_cpus():
    assert units.mem_swap_bytes("-1") == -1
    assert units.mem_swap_bytes("100m") == 104857600
    assert units.nano_cpus("1.5") == 1_500_000_000
    assert units.nano_cpus("0.01") == 10_000_000
    with pytest.raises(ValueError, match="failed to parse abc as a rational number"):
        units.nano_cpus("abc")


@pytest.mark.parametrize("n,want", [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (4260000, "4.26MB"), (1984000, "1.98MB"),
    (123456789, "123MB"), (999999, "1e+03kB"), (2 * 10 ** 9, "2GB"),
])
def test_human_size(n, want):
    assert units.human_size(n) == want


@pytest.mark.parametrize("secs,want", [
    (0.5, "Less than a second"), (1, "1 second"), (3, "3 seconds"), (59, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"),
    (3600, "About an hour"), (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"),
    (48 * 3600, "2 days"), (13 * 86400, "13 days"), (14 * 86400, "2 weeks"), (60 * 86400, "2 months"),
    (2 * 365 * 86400 + 86400, "2 years"),
])
def test_human_duration(secs, want):
    assert units.human_duration(secs) == want


def test_timestamps():
    assert units.get_timestamp("10m", now=1000.0) == "400.000000000"
    assert units.get_timestamp("1700000000") == "1700000000.000000000"
    assert units.get_timestamp("1700000000.5") == "1700000000.500000000"
    assert units.get_timestamp("2024-01-01T00:00:00Z") == "1704067200.000000000"
    assert units.get_timestamp("2024-01-01") == "1704067200.000000000"
    with pytest.raises(ValueError):
        units.get_timestamp("yesterday")
    assert units.parse_go_duration("1h30m") == 5400.0


# -- flags ---------------------------------------------------------------------

def _fs(**kw):
    return FlagSet("[OPTIONS] IMAGE [COMMAND] [ARG...]", "d", FLAGS, interspersed=False, args=(1, None), **kw)


def test_flags_pflag_forms():
    opts, args = _fs().parse(["--rm", "-it", "-e", "A=1", "-eB=2", "--env=C=3", "-m64m", "--name", "x",
                              "-w=/tmp", "busybox", "ls", "-l", "--rm"])
    assert opts.rm and opts.interactive and opts.tty
    assert opts.env == ["A=1", "B=2", "C=3"]
    assert opts.memory == 64 * 1024 ** 2
    assert opts.name == "x" and opts.workdir == "/tmp"
    assert args == ["busybox", "ls", "-l", "--rm"]  # flags after IMAGE belong to the command


def test_flags_double_dash_and_bool_values():
    opts, args = _fs().parse(["--sig-proxy=false", "--", "busybox", "--rm"])
    assert opts.sig_proxy is False and not opts.rm
    assert args == ["busybox", "--rm"]


def test_flags_errors():
    with pytest.raises(FlagError, match="unknown flag: --no-such-flag"):
        _fs().parse(["--no-such-flag", "busybox"])
    with pytest.raises(FlagError, match="unknown shorthand flag: 'Z' in -Z"):
        _fs().parse(["-Z", "busybox"])
    with pytest.raises(FlagError, match='invalid argument "64x" for "-m, --memory" flag: invalid suffix: \'x\''):
        _fs().parse(["-m", "64x", "busybox"])
    with pytest.raises(FlagError, match="flag needs an argument: --name"):
        _fs().parse(["--name"])
    with pytest.raises(FlagError, match='invalid argument "x" for "--pids-limit" flag'):
        _fs().parse(["--pids-limit", "x", "busybox"])
    with pytest.raises(ArgsError, match="requires at least 1 argument"):
        _fs().parse(["--rm"])
    with pytest.raises(HelpRequested):
        _fs().parse(["--help"])
    # -h is --hostname for run, help for commands without -h
    opts, _ = _fs().parse(["-h", "box", "busybox"])
    assert opts.hostname == "box"
    with pytest.raises(HelpRequested):
        FlagSet("", "", [Flag("all", "a")]).parse(["-h"])


def test_help_text_lists_flags():
    text = _fs().help_text("skiff run")
    assert text.startswith("Usage:  skiff run [OPTIONS] IMAGE [COMMAND] [ARG...]")
    assert "  -m, --memory bytes" in text and "      --rm " in text


# -- the create body -------------------------------------------------------------

def test_build_create_body(tmp_path, monkeypatch):
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nFROMFILE=1\nFROMHOST\n\n")
    monkeypatch.setenv("FROMHOST", "h")
    monkeypatch.delenv("UNSETVAR", raising=False)
    opts, args = _fs().parse([
        "--rm", "-i", "--name", "n", "-e", "A=1", "-e", "UNSETVAR", "--env-file", str(envfile), "-w", "/w",
        "-u", "1000:1000", "--entrypoint", "/bin/sh", "-h", "host", "-m", "512m", "--memory-swap", "1g",
        "--cpus", "1.5", "--cpu-shares", "512", "--pids-limit", "64", "-l", "a=b", "-l", "flag",
        "--restart", "no", "--init", "-p", "127.0.0.1:8080:80", "-p", "9000:90/udp", "--expose", "7000",
        "-v", "/src:/dst:ro", "-v", "/anon", "--tmpfs", "/run:size=1m", "--platform", "linux/amd64",
        "busybox", "echo", "hi"])
    image, body, params = build(opts, args, for_run=True)
    hc = body["HostConfig"]
    assert image == "busybox" and body["Image"] == "busybox"
    assert params == {"name": "n", "platform": "linux/amd64"}
    assert body["Cmd"] == ["echo", "hi"] and body["Entrypoint"] == ["/bin/sh"]
    assert body["Env"] == ["FROMFILE=1", "FROMHOST=h", "A=1"]
    assert body["WorkingDir"] == "/w" and body["User"] == "1000:1000" and body["Hostname"] == "host"
    assert body["Labels"] == {"a": "b", "flag": ""}
    assert body["AttachStdin"] and body["AttachStdout"] and body["AttachStderr"] and body["OpenStdin"]
    assert hc["Memory"] == 512 * 1024 ** 2 and hc["MemorySwap"] == 1024 ** 3
    assert hc["NanoCpus"] == 1_500_000_000 and hc["CpuShares"] == 512 and hc["PidsLimit"] == 64
    assert hc["AutoRemove"] is True and hc["Init"] is True
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                  "90/udp": [{"HostIp": "", "HostPort": "9000"}]}
    assert set(body["ExposedPorts"]) == {"80/tcp", "90/udp", "7000/tcp"}
    assert hc["Binds"] == ["/src:/dst:ro"] and body["Volumes"] == {"/anon": {}}
    assert hc["Tmpfs"] == {"/run": "size=1m"}


def test_build_defaults_and_conflicts():
    opts, args = _fs().parse(["busybox"])
    image, body, params = build(opts, args, for_run=True)
    assert body["Cmd"] is None and body["Entrypoint"] is None and body["HostConfig"]["PidsLimit"] is None
    assert body["HostConfig"]["MemorySwappiness"] is None
    assert not body["AttachStdin"] and body["AttachStdout"] and body["AttachStderr"]
    assert params == {"name": None, "platform": None}
    opts, args = _fs().parse(["--entrypoint=", "-a", "stderr", "busybox"])
    _, body, _ = build(opts, args, for_run=True)
    assert body["Entrypoint"] == [""]
    assert not body["AttachStdout"] and body["AttachStderr"]
    opts, args = _fs().parse(["--rm", "--restart", "always", "busybox"])
    with pytest.raises(ValueError, match="Conflicting options: --restart and --rm"):
        build(opts, args, for_run=True)


def test_parse_ports_ranges():
    exposed, bindings = parse_ports(["8000-8001:80-81", "[::1]:5353:53/udp", "3000"], [])
    assert bindings["80/tcp"] == [{"HostIp": "", "HostPort": "8000"}]
    assert bindings["81/tcp"] == [{"HostIp": "", "HostPort": "8001"}]
    assert bindings["53/udp"] == [{"HostIp": "::1", "HostPort": "5353"}]
    assert bindings["3000/tcp"] == [{"HostIp": "", "HostPort": ""}]


# -- output ---------------------------------------------------------------------

def test_tabwriter_like_go():
    text = "CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox:latest-long-name\tx\n"
    assert tabwrite(text) == ("CONTAINER ID   IMAGE                      NAMES\n"
                              "abc            busybox:latest-long-name   x\n")
    # minwidth 20 padding 1 as `version`
    assert tabwrite(" Version:\t1\n API version:\t2\n", 20, 1) == " Version:           1\n API version:       2\n"
    # a line without cells ends the column block
    assert tabwrite("a\tb\nplain\nlonger-cell\tc\n", 1, 1) == "a b\nplain\nlonger-cell c\n"


def test_format_rows_table_and_plain():
    rows = [{"ID": "abc", "Names": "n1"}, {"ID": "defghi", "Names": "n2"}]
    header = {"ID": "CONTAINER ID", "Names": "NAMES"}
    assert format_rows("table {{.ID}}\\t{{.Names}}", rows, header) == (
        "CONTAINER ID   NAMES\nabc            n1\ndefghi         n2\n")
    assert format_rows("{{.ID}}:{{.Names}}", rows, header) == "abc:n1\ndefghi:n2\n"
    assert format_rows("table {{.ID}}", [], header) == "CONTAINER ID\n"
    assert format_rows("{{.ID}}", [], header) == ""
    assert format_rows("json", [{"b": "<x>", "a": 1}]) == '{"a":1,"b":"\\u003cx\\u003e"}\n'
    assert format_rows("table {{upper .Names}}", rows, header) == "NAMES\nN1\nN2\n"


def test_ids_quotes_ellipsis():
    assert truncate_id("sha256:912b387f618c0123456789") == "912b387f618c"
    assert truncate_id("727e5534eab1e59b5d3c") == "727e5534eab1"
    assert ellipsis("sh -c 'echo hello; echo oops'", 20) == "sh -c 'echo hello; …"
    assert go_quote("sh -c 'echo \"x\"'\n") == '"sh -c \'echo \\"x\\"\'\\n"'


def test_ps_rows():
    from skiff.cli.commands import ps
    c = {"Id": "727e5534eab1e59b5d3c6d4af11dfee5", "Names": ["/web"], "Image": "busybox",
         "ImageID": "sha256:912b", "Command": "sh -c 'echo hello; echo oops >&2; sleep 30'",
         "Created": 1000, "State": "running", "Status": "Up 3 seconds",
         "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"},
                   {"PrivatePort": 443, "Type": "tcp"}],
         "Labels": {"b": "2", "a": "1"}, "SizeRw": 0, "SizeRootFs": 1984000}
    out = format_rows(ps.DEFAULT + "\t{{.Size}}", [ps.row(c, True, 1000 + 120)], ps.HEADER)
    lines = out.splitlines()
    assert lines[0] == ("CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         "
                        "PORTS                           NAMES     SIZE")
    assert lines[1].startswith("727e5534eab1   busybox   \"sh -c 'echo hello; …\"   2 minutes ago   Up 3 seconds   ")
    assert "0.0.0.0:8080->80/tcp, 443/tcp" in lines[1]
    assert lines[1].endswith("web       0B (virtual 1.98MB)")
    assert format_rows('{{.Labels}} {{.Label "a"}}', [ps.row(c, True, 0)], ps.HEADER) == "a=1,b=2 1\n"


def test_images_rows():
    from skiff.cli.commands import images
    img = {"Id": "sha256:912b387f618c0123", "RepoTags": ["busybox:latest", "busybox:1", "127.0.0.1:5000/x:y"],
           "RepoDigests": ["busybox@sha256:aaaa"], "Created": 0, "Size": 1984000}
    assert images.expand(img, False) == [("127.0.0.1:5000/x", "y", "<none>"), ("busybox", "latest", "<none>"),
                                         ("busybox", "1", "<none>")]
    assert images.expand(img, True)[1] == ("busybox", "latest", "sha256:aaaa")
    assert images.expand({"RepoTags": [], "RepoDigests": []}, False) == [("<none>", "<none>", "<none>")]
    assert images.expand({"RepoTags": [], "RepoDigests": ["docker.io/library/a@sha256:b"]}, True) == \
        [("a", "<none>", "sha256:b")]
    r = images.row(img, "busybox", "latest", "<none>", True, 86400 * 800)
    out = format_rows(images.DEFAULT, [r], images.HEADER)
    assert out == ("REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
                   "busybox      latest    912b387f618c   2 years ago   1.98MB\n")


def test_progress_plain_and_terminal():
    msgs = [{"status": "Pulling from library/busybox", "id": "latest"},
            {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaa"},
            {"status": "Downloading", "progressDetail": {"current": 500, "total": 1000},
             "progress": "[==>  ]", "id": "aaa"},
            {"status": "Pull complete", "progressDetail": {}, "id": "aaa"},
            {"status": "Digest: sha256:x"}]
    out = io.StringIO()
    display_stream(msgs, out, False)
    assert out.getvalue() == ("latest: Pulling from library/busybox\naaa: Pulling fs layer\n"
                              "aaa: Pull complete\nDigest: sha256:x\n")
    out = io.StringIO()
    display_stream(msgs, out, True)
    v = out.getvalue()
    assert "\x1b[1A" in v and "\x1b[2K\r" in v and "aaa: Downloading     500B/1kB\r" in v
    with pytest.raises(Exception, match="manifest unknown"):
        display_stream([{"errorDetail": {"message": "manifest unknown"}, "error": "manifest unknown"}],
                       io.StringIO(), False)
    assert progress_string({"current": 500, "total": 1000}, 120).startswith("[" + "=" * 25 + ">")


# -- exit statuses without a daemon -------------------------------------------------

@pytest.fixture
def nodaemon(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIFF_HOST", f"unix://{tmp_path}/skifftest-none.sock")
    return tmp_path


def _run(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_exit_codes_without_daemon(nodaemon, capsys):
    rc, out, err = _run(capsys, ["run", "--rm", "busybox", "true"])
    assert rc == 125
    assert err.startswith("skiff: Cannot connect to the skiff daemon at unix://")
    assert "Run 'skiff run --help' for more information" in err
    rc, out, err = _run(capsys, ["run", "--rm", "--no-such-flag", "busybox", "true"])
    assert (rc, err.splitlines()[0]) == (125, "unknown flag: --no-such-flag")
    assert "Usage:  skiff run [OPTIONS] IMAGE [COMMAND] [ARG...]" in err
    rc, out, err = _run(capsys, ["run", "--rm", "-m", "64x", "busybox", "true"])
    assert rc == 125 and "invalid argument \"64x\" for \"-m, --memory\" flag: invalid suffix: 'x'" in err
    rc, out, err = _run(capsys, ["run", "--cpus", "abc", "busybox"])
    assert rc == 125 and "failed to parse abc as a rational number" in err
    rc, out, err = _run(capsys, ["run", "--pull", "sometimes", "busybox"])
    assert rc == 125 and "invalid pull option" in err
    rc, out, err = _run(capsys, ["run"])
    assert rc == 1 and "skiff: 'skiff run' requires at least 1 argument" in err
    rc, out, err = _run(capsys, ["ps"])
    assert rc == 1 and err.startswith("Cannot connect to the skiff daemon")
    rc, out, err = _run(capsys, ["ps", "--bad"])
    assert rc == 125 and "unknown flag: --bad" in err
    rc, out, err = _run(capsys, ["ps", "-n", "x"])
    assert rc == 125 and 'invalid argument "x" for "-n, --last" flag' in err
    rc, out, err = _run(capsys, ["frob"])
    assert rc == 1 and "unknown command: skiff frob" in err
    rc, out, err = _run(capsys, ["container", "frob"])
    assert rc == 1
    rc, out, err = _run(capsys, ["--bogus", "ps"])
    assert rc == 125
    rc, out, err = _run(capsys, ["version"])
    assert rc == 1 and out.startswith("Client:\n Version:           ") and "Cannot connect" in err
    rc, out, err = _run(capsys, ["run", "--help"])
    assert rc == 0 and out.startswith("Usage:  skiff run [OPTIONS] IMAGE [COMMAND] [ARG...]")
    rc, out, err = _run(capsys, ["--help"])
    assert rc == 0 and "Management Commands:" in out
    rc, out, err = _run(capsys, ["-H", "tcp://127.0.0.1:1", "info"])
    assert rc == 1 and "Cannot connect to the skiff daemon at tcp://127.0.0.1:1" in err


def test_module_entry_point_runs(nodaemon):
    env = dict(os.environ, SKIFF_HOST=f"unix://{nodaemon}/skifftest-none.sock")
    p = subprocess.run([sys.executable, "-m", "skiff.cli", "run", "--rm", "busybox", "true"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 125
    p = subprocess.run([sys.executable, "-m", "skiff.cli", "-v"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("skiff version ")


def test_time_range_params():
    from skiff.cli.units import time_range_params
    assert time_range_params(None, None) == {}
    assert time_range_params("1700000000", None) == {"since": "1700000000.000000000"}
    assert time_range_params("", "1700000001.5") == {"until": "1700000001.500000000"}
    with pytest.raises(ValueError):
        time_range_params("yesterday-ish", None)
