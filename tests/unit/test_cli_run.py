"""``skiff run`` / ``start -a`` / ``logs`` / ``pull`` end to end against a scripted
Engine API server on a unix socket (real sockets, the CLI in a subprocess)."""
from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading

import pytest

from skiff.client.stream import frame


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode()
        if not line:
            return
        method, target, _ = line.split(" ", 2)
        headers = {}
        while True:
            h = self.rfile.readline().decode()
            if h in ("\r\n", "\n", ""):
                break
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = b""
        if "content-length" in headers:
            body = self.rfile.read(int(headers["content-length"]))
        path = target.split("?", 1)[0]
        path = path.split("/", 2)[2] if path.startswith("/v1.") else path.lstrip("/")
        req = {"method": method, "path": "/" + path, "target": target, "headers": headers, "body": body}
        with self.server.lock:
            self.server.log.append(f"{method} /{path}")
        self.server.app(self, req)


class Engine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A scripted daemon: ``app(handler, request)`` answers."""
    daemon_threads = True

    def __init__(self, path, app):
        self.log = []
        self.lock = threading.Lock()
        self.app = app
        self.started = threading.Event()
        super().__init__(path, _Handler)


def reply(h, status, obj=None, raw=None, headers=None):
    body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
    hdrs = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    h.wfile.write(f"HTTP/1.1 {status} X\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()).encode()
                  + b"\r\n" + body)
    h.wfile.flush()


def chunked_head(h):
    h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    h.wfile.flush()


def chunk(h, data: bytes):
    h.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
    h.wfile.flush()


def end_chunks(h):
    h.wfile.write(b"0\r\n\r\n")
    h.wfile.flush()


@pytest.fixture
def engine(tmp_path):
    servers = []

    def start(app):
        path = str(tmp_path / "e.sock")
        srv = Engine(path, app)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(srv)
        return srv, f"unix://{path}"
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def skiff(host, *args, stdin=b"", timeout=30):
    env = dict(os.environ, SKIFF_HOST=host)
    return subprocess.run([sys.executable, "-m", "skiff.cli", *args], input=stdin, capture_output=True,
                          env=env, timeout=timeout)


def make_app(*, start_error=None, status=0, have_image=False, echo_stdin=False, tty=False):
    state = {"image": have_image}

    def app(h, r):
        m, p = r["method"], r["path"]
        srv = h.server
        if m == "POST" and p == "/containers/create":
            if not state["image"]:
                return reply(h, 404, {"message": "No such image: busybox:latest"})
            srv.create_body = json.loads(r["body"])
            return reply(h, 201, {"Id": "c0ffee" * 10 + "abcd", "Warnings": ["low memory"]})
        if m == "POST" and p == "/images/create":
            chunked_head(h)
            for msg in ({"status": "Pulling from library/busybox", "id": "latest"},
                        {"status": "Pulling fs layer", "progressDetail": {}, "id": "a1b2"},
                        {"status": "Downloading", "progressDetail": {"current": 1, "total": 2}, "id": "a1b2"},
                        {"status": "Pull complete", "progressDetail": {}, "id": "a1b2"},
                        {"status": "Status: Downloaded newer image for busybox:latest"}):
                chunk(h, json.dumps(msg).encode() + b"\r\n")
            # the image exists before the client can read the end of the pull
            # (its next request may be served by another thread at once)
            state["image"] = True
            end_chunks(h)
            return
        if m == "POST" and p.endswith("/attach"):
            assert r["headers"]["upgrade"] == "tcp"
            h.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                          b"Content-Type: application/vnd.docker.multiplexed-stream\r\n\r\n")
            h.wfile.flush()
            srv.started.wait(10)
            if echo_stdin:
                data = b""
                while True:
                    c = h.connection.recv(65536)
                    if not c:
                        break
                    data += c
                srv.stdin_data = data
                try:
                    h.wfile.write(data if tty else frame(1, data))
                except OSError:
                    pass
            else:
                h.wfile.write(b"hi\r\n" if tty else frame(1, b"hi\n") + frame(2, b"err\n"))
            h.wfile.flush()
            return
        if m == "POST" and p.endswith("/wait"):
            chunked_head(h)
            srv.started.wait(10)
            chunk(h, json.dumps({"StatusCode": status, "Error": None}).encode())
            end_chunks(h)
            return
        if m == "POST" and p.endswith("/start") and not p.startswith("/exec/"):
            if start_error:
                return reply(h, 400, {"message": start_error})
            srv.started.set()
            return reply(h, 204, raw=b"")
        if m == "POST" and p.endswith("/exec"):
            srv.exec_body = json.loads(r["body"])
            return reply(h, 201, {"Id": "e1"})
        if m == "POST" and p == "/exec/e1/start":
            assert json.loads(r["body"]) == {"Detach": False, "Tty": False}
            h.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                          + frame(1, b"exec out\n") + frame(2, b"exec err\n"))
            h.wfile.flush()
            return
        if m == "GET" and p == "/exec/e1/json":
            return reply(h, 200, {"ID": "e1", "Running": False, "ExitCode": 2})
        if m == "GET" and p.endswith("/json"):
            return reply(h, 200, {"Id": "c0ffee" * 10 + "abcd", "Config": {"Tty": tty, "OpenStdin": True}})
        if m == "POST" and p.endswith("/resize"):
            return reply(h, 200, raw=b"")
        if m == "GET" and p.endswith("/logs"):
            raw = b"plain tty log\n" if tty else frame(1, b"out line\n") + frame(2, b"err line\n")
            return reply(h, 200, raw=raw, headers={"Content-Type": "application/vnd.docker.multiplexed-stream"})
        return reply(h, 404, {"message": f"page not found {m} {p}"})
    return app


def test_run_pulls_missing_image_then_attaches_and_exits_with_status(engine):
    srv, host = engine(make_app(status=3))
    p = skiff(host, "run", "--rm", "busybox", "echo", "hi")
    assert p.returncode == 3, p.stderr
    assert p.stdout == b"hi\n"
    err = p.stderr.decode()
    assert err.startswith("Unable to find image 'busybox:latest' locally\n")
    assert "latest: Pulling from library/busybox\na1b2: Pulling fs layer\na1b2: Pull complete\n" in err
    assert "Downloading" not in err  # no progress bars off a terminal
    assert "WARNING: low memory" in err
    assert err.endswith("err\n")
    cid = "c0ffee" * 10 + "abcd"
    log = srv.log
    assert log[:3] == ["POST /containers/create", "POST /images/create", "POST /containers/create"]
    assert log.index(f"POST /containers/{cid}/attach") < log.index(f"POST /containers/{cid}/start")
    assert log.index(f"POST /containers/{cid}/wait") < log.index(f"POST /containers/{cid}/start")
    assert srv.create_body["HostConfig"]["AutoRemove"] is True
    assert srv.create_body["Cmd"] == ["echo", "hi"]


@pytest.mark.parametrize("message,code", [
    ('failed to create task: exec: "nosuchcmd": executable file not found in $PATH', 127),
    ("exec: /bin/nosuch: no such file or directory", 127),
    ("exec: /etc: is a directory", 126),
    ("exec: ./hostname: permission denied", 126),
    ("cgroup setup failed", 125),
])
def test_run_start_errors_map_to_docker_exit_codes(engine, message, code):
    srv, host = engine(make_app(start_error=message, have_image=True))
    p = skiff(host, "run", "busybox", "x")
    assert p.returncode == code
    assert f"\nskiff: Error response from daemon: {message}\n" in p.stderr.decode()


def test_run_detached_prints_full_id(engine):
    srv, host = engine(make_app(have_image=True))
    p = skiff(host, "run", "-d", "--name", "skifftest-x", "busybox", "sleep", "9")
    assert p.returncode == 0
    assert p.stdout.decode() == "c0ffee" * 10 + "abcd\n"
    assert not any(x.endswith("/attach") or x.endswith("/wait") for x in srv.log)
    assert srv.create_body["AttachStdout"] is False


def test_run_interactive_copies_stdin_and_half_closes(engine):
    srv, host = engine(make_app(have_image=True, echo_stdin=True))
    data = os.urandom(3 * 1024 * 1024)
    p = skiff(host, "run", "-i", "busybox", "cat", stdin=data)
    assert p.returncode == 0
    assert p.stdout == data
    assert srv.create_body["OpenStdin"] and srv.create_body["StdinOnce"] and srv.create_body["AttachStdin"]


def test_run_pull_never_fails_with_125(engine):
    srv, host = engine(make_app())
    p = skiff(host, "run", "--pull", "never", "busybox")
    assert p.returncode == 125
    assert b"No such image: busybox:latest" in p.stderr
    assert "POST /images/create" not in srv.log


def test_start_attach_and_logs(engine):
    srv, host = engine(make_app(have_image=True, status=7))
    p = skiff(host, "start", "-a", "web")
    assert p.returncode == 7
    assert p.stdout == b"hi\n" and p.stderr == b"err\n"
    p = skiff(host, "logs", "web")
    assert p.returncode == 0 and p.stdout == b"out line\n" and p.stderr == b"err line\n"


def test_logs_of_tty_container_are_raw(engine):
    srv, host = engine(make_app(have_image=True, tty=True))
    p = skiff(host, "logs", "--tail", "5", "-t", "web")
    assert p.returncode == 0 and p.stdout == b"plain tty log\n"


def test_pull_prints_progress_and_reference(engine):
    srv, host = engine(make_app())
    p = skiff(host, "pull", "busybox")
    assert p.returncode == 0
    assert p.stdout.decode() == ("Using default tag: latest\nlatest: Pulling from library/busybox\n"
                                 "a1b2: Pulling fs layer\na1b2: Pull complete\n"
                                 "Status: Downloaded newer image for busybox:latest\n"
                                 "docker.io/library/busybox:latest\n")
    p = skiff(host, "pull", "-q", "127.0.0.1:5000/library/busybox:latest")
    assert p.stdout.decode() == "127.0.0.1:5000/library/busybox:latest\n"


def test_run_tty_output_is_raw(engine):
    srv, host = engine(make_app(have_image=True, tty=True))
    p = skiff(host, "run", "-t", "busybox")
    assert p.returncode == 0 and p.stdout == b"hi\r\n"
    assert srv.create_body["Tty"] is True
    p = skiff(host, "run", "-it", "busybox")
    assert p.returncode == 1 and b"the input device is not a TTY" in p.stderr


def test_exec_streams_and_exit_code(engine):
    srv, host = engine(make_app(have_image=True))
    p = skiff(host, "exec", "-e", "A=1", "-w", "/tmp", "web", "sh", "-c", "x")
    assert (p.returncode, p.stdout, p.stderr) == (2, b"exec out\n", b"exec err\n")
    assert srv.exec_body["Cmd"] == ["sh", "-c", "x"] and srv.exec_body["Env"] == ["A=1"]
    assert srv.exec_body["WorkingDir"] == "/tmp" and srv.exec_body["AttachStdin"] is False


def test_start_attach_detach_keys(engine):
    srv, host = engine(make_app(have_image=True, tty=True, echo_stdin=True, status=9))
    p = skiff(host, "start", "-ai", "web", stdin=b"abc\x10\x11ignored")
    assert p.returncode == 0  # detached: the container's status is not waited for
    for _ in range(100):
        if hasattr(srv, "stdin_data"):
            break
        import time
        time.sleep(0.02)
    assert srv.stdin_data == b"abc"
    p = skiff(host, "start", "-ai", "--detach-keys", "ctrl-x", "web", stdin=b"a\x10\x11b")
    assert p.returncode == 9 and p.stdout == b"a\x10\x11b"
