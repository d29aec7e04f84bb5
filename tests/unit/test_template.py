"""skiff.cli.template against what Go's text/template (with Docker's functions) prints.

Expected strings are Go's output for the same template and data (data as
docker inspect's: decoded JSON with Docker's typed fields)."""
from __future__ import annotations

import pytest

from skiff.cli.template import Template, TemplateError, render, go_float

DATA = {
    "Id": "4f1c0a9e",
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "Paused": False, "ExitCode": 0, "Pid": 4242},
    "Config": {
        "Cmd": ["sh", "-c", "echo hi"],
        "Env": ["PATH=/bin", "GREETING=hello"],
        "Labels": {"b": "2", "a": "1", "com.example.k": "v"},
        "Entrypoint": None,
        "ExposedPorts": {"80/tcp": {}},
    },
    "HostConfig": {"Memory": 67108864, "MemorySwap": 134217728, "PidsLimit": None, "NanoCpus": 0},
    "Mounts": [{"Destination": "/data", "RW": True}, {"Destination": "/etc/x", "RW": False}],
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
    "Ratio": 0.5,
    "Big": 67108864.0,
    "Empty": [],
    "EmptyMap": {},
    "Html": "<b>&</b>",
}

CASES = [
    ("{{.Name}}", "/web"),
    ("{{.State.ExitCode}}", "0"),
    ("{{.State.Running}}", "true"),
    ("{{.State.Paused}}", "false"),
    ("{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "67108864 134217728"),
    ("{{.Nope}}", "<no value>"),
    ("{{.Nope.Deeper}}", "<no value>"),
    ("{{.HostConfig.PidsLimit}}", "<nil>"),
    ("{{.Config.Cmd}}", "[sh -c echo hi]"),
    ("{{.Config.Labels}}", "map[a:1 b:2 com.example.k:v]"),
    ("{{.Mounts}}", "[map[Destination:/data RW:true] map[Destination:/etc/x RW:false]]"),
    ("{{.Empty}}", "[]"),
    ("{{.EmptyMap}}", "map[]"),
    ("{{.Ratio}}", "0.5"),
    ("{{.Big}}", "6.7108864e+07"),
    ("{{json .Config.Cmd}}", '["sh","-c","echo hi"]'),
    ("{{json .Html}}", '"<b>&</b>"'),
    ("{{json .Config.Entrypoint}}", "null"),
    ("{{json .State}}", '{"Status":"running","Running":true,"Paused":false,"ExitCode":0,"Pid":4242}'),
    ('{{index .Config.Labels "a"}}', "1"),
    ('{{index .Config.Labels "com.example.k"}}', "v"),
    ('{{index .Config.Labels "missing"}}', ""),
    ("{{index .Config.Cmd 2}}", "echo hi"),
    ('{{(index .NetworkSettings.Networks "bridge").IPAddress}}', "172.17.0.2"),
    ("{{range .Mounts}}{{.Destination}} {{end}}", "/data /etc/x "),
    ("{{range $i, $m := .Mounts}}{{$i}}={{$m.Destination}};{{end}}", "0=/data;1=/etc/x;"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}", "a=1,b=2,com.example.k=v,"),
    ("{{range $net, $conf := .NetworkSettings.Networks}}{{$net}} {{$conf.IPAddress}}{{end}}", "bridge 172.17.0.2"),
    ("{{range .Empty}}x{{else}}none{{end}}", "none"),
    ("{{range .Nope}}x{{end}}", ""),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .State.Paused}}p{{else if .State.Running}}r{{else}}x{{end}}", "r"),
    ("{{if not .State.Paused}}np{{end}}", "np"),
    ("{{if and .State.Running .Config.Cmd}}both{{end}}", "both"),
    ("{{if or .Empty .EmptyMap}}t{{else}}f{{end}}", "f"),
    ("{{if .Nope}}t{{else}}f{{end}}", "f"),
    ('{{if eq .State.Status "running"}}yes{{end}}', "yes"),
    ('{{if eq .State.Status "exited" "running"}}any{{end}}', "any"),
    ('{{if ne .State.ExitCode 0}}bad{{else}}ok{{end}}', "ok"),
    ("{{if lt .State.ExitCode 1}}lt{{end}}{{if ge .State.Pid 4242}}ge{{end}}", "ltge"),
    ("{{with .State}}{{.Status}}/{{.Pid}}{{end}}", "running/4242"),
    ("{{with .Nope}}x{{else}}none{{end}}", "none"),
    ('{{printf "%s:%d" .Name .State.Pid}}', "/web:4242"),
    ('{{printf "%v|%q|%5s|%-5s|%05d|%x|%t" .Config.Labels .Name "ab" "cd" 42 255 true}}',
     'map[a:1 b:2 com.example.k:v]|"/web"|   ab|cd   |00042|ff|true'),
    ('{{printf "%.2f %s"  .Ratio}}', "0.50 %!s(MISSING)"),
    ('{{printf "%d" .Name}}', "%!d(string=/web)"),
    ('{{join .Config.Cmd ","}}', "sh,-c,echo hi"),
    ('{{join .Config.Env "\\n"}}', "PATH=/bin\nGREETING=hello"),
    ('{{split "a:b:c" ":"}}', "[a b c]"),
    ('{{index (split "a:b:c" ":") 1}}', "b"),
    ("{{upper .State.Status}} {{lower \"ABC\"}} {{title \"hello world\"}}", "RUNNING abc Hello World"),
    ("{{.State.Status | upper}}", "RUNNING"),
    ('{{"x" | printf "%s-%s" "y"}}', "y-x"),
    ("{{pad .Name 1 2}}|{{truncate .Name 2}}", " /web  |/w"),
    ("{{len .Config.Cmd}} {{len .Config.Labels}} {{len .Name}}", "3 3 4"),
    ("{{println .Name}}", "/web\n"),
    ('{{println "a" 1 true}}', "a 1 true\n"),
    ('{{print "a" "b" 1 2 "c"}}', "ab1 2c"),
    ("a {{- .Name -}} b", "a/webb"),
    ("a  {{- /* comment */ -}}  b", "ab"),
    ("{{/* only a comment */}}", ""),
    ("{{$n := .Name}}{{$n}}{{$n = \"z\"}}{{$n}}", "/webz"),
    ("{{range .Mounts}}{{$.Name}}{{end}}", "/web/web"),
    ("{{range $i, $e := .Config.Cmd}}{{if $i}},{{end}}{{$e}}{{end}}", "sh,-c,echo hi"),
    ("{{range .Config.Cmd}}{{if eq . \"-c\"}}{{break}}{{end}}{{.}}{{end}}", "sh"),
    ("{{range .Config.Cmd}}{{if eq . \"-c\"}}{{continue}}{{end}}{{.}};{{end}}", "sh;echo hi;"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    ("{{.State}}", "map[ExitCode:0 Paused:false Pid:4242 Running:true Status:running]"),
    ("{{`raw\\n`}}", "raw\\n"),
    ('{{"tab\\tq\\""}}', 'tab\tq"'),
    ("{{1}} {{-2}} {{1.5}} {{true}} {{print nil}}", "1 -2 1.5 true <nil>"),
    ("{{html .Html}}", "&lt;b&gt;&amp;&lt;/b&gt;"),
    ("{{urlquery \"a b&c\"}}", "a+b%26c"),
    ("{{slice .Name 1 3}}", "we"),
]


@pytest.mark.parametrize("src,want", CASES)
def test_matches_go(src, want):
    assert render(src, DATA) == want


@pytest.mark.parametrize("src,fragment", [
    ("{{foo .Name}}", 'function "foo" not defined'),
    ("{{.Name", "unclosed action"),
    ("{{if .Name}}x", "unexpected EOF"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
])
def test_parse_errors(src, fragment):
    with pytest.raises(TemplateError) as ei:
        Template(src)
    assert fragment in str(ei.value)


@pytest.mark.parametrize("src,fragment", [
    ("{{.Name.X}}", "can't evaluate field X in type string"),
    ("{{.HostConfig.PidsLimit.X}}", "nil pointer evaluating interface {}.X"),
    ("{{index .Config.Cmd 9}}", "index out of range: 9"),
    ("{{len .Nope}}", "len of nil pointer"),
    ("{{$nope}}", "undefined variable"),
])
def test_exec_errors(src, fragment):
    with pytest.raises(TemplateError) as ei:
        render(src, DATA)
    assert fragment in str(ei.value)


@pytest.mark.parametrize("f,want", [
    (0.5, "0.5"), (1e6, "1e+06"), (100000.0, "100000"), (1234567.0, "1.234567e+06"),
    (0.0001, "0.0001"), (0.00001, "1e-05"), (3.0, "3"), (-2.25, "-2.25"), (123456.7, "123456.7"),
    (1e21, "1e+21"), (float("inf"), "+Inf"),
])
def test_go_float(f, want):
    assert go_float(f) == want


def test_callable_field_with_argument():
    data = {"Label": lambda k: {"x": "1"}.get(k, "")}
    assert render('{{.Label "x"}}|{{.Label "y"}}', data) == "1|"


def test_template_reusable_and_variables_scoped():
    t = Template("{{range .}}{{$x := .}}{{$x}}{{end}}")
    assert t.execute([1, 2]) == "12"
    assert t.execute(["a"]) == "a"
