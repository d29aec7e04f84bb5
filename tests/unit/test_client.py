"""skiff.client against a real HTTP server on a unix socket (a thread in the test)."""
from __future__ import annotations

import io
import json
import os
import socket
import socketserver
import threading

import pytest

from skiff import errors
from skiff.client import Client, parse_host, encode_filters, error_from_response
from skiff.client.stream import Demuxer, frame, copy_demuxed


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
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        req = {"method": method, "target": target, "headers": headers, "body": body}
        self.server.requests.append(req)
        self.server.respond(self, req)


class FakeDaemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path, respond):
        self.requests = []
        self.respond = respond
        super().__init__(path, _Handler)


@pytest.fixture
def daemon(tmp_path):
    servers = []

    def start(respond):
        path = str(tmp_path / "d.sock")
        srv = FakeDaemon(path, respond)
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        t.start()
        servers.append(srv)
        return srv, f"unix://{path}"
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def send(h, status, body=b"", headers=None, chunked=False):
    reason = {200: "OK", 101: "UPGRADED", 404: "Not Found", 409: "Conflict", 400: "Bad Request",
              500: "Internal Server Error", 204: "No Content"}.get(status, "X")
    hdrs = dict(headers or {})
    if chunked:
        hdrs["Transfer-Encoding"] = "chunked"
    elif status != 101 and status != 204:
        hdrs["Content-Length"] = str(len(body))
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    h.wfile.write(head.encode())
    if chunked:
        for part in body:
            h.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")
    else:
        h.wfile.write(body)
    h.wfile.flush()


def test_parse_host():
    assert parse_host("unix:///run/skiff/skiff.sock") == ("unix", "/run/skiff/skiff.sock")
    assert parse_host("tcp://1.2.3.4") == ("tcp", "1.2.3.4:2375")
    assert parse_host("tcp://1.2.3.4", tls=True) == ("tcp", "1.2.3.4:2376")
    assert parse_host("tcp://h:1234") == ("tcp", "h:1234")
    with pytest.raises(errors.InvalidArgument):
        parse_host("ftp://x")


def test_encode_filters():
    assert json.loads(encode_filters({"label": ["a=b"], "status": ["exited"]})) == \
        {"label": {"a=b": True}, "status": {"exited": True}}
    assert encode_filters({}) is None


def test_get_json_with_version_prefix_and_query(daemon):
    srv, host = daemon(lambda h, r: send(h, 200, b'[{"Id": "abc"}]', {"Content-Type": "application/json"}))
    c = Client(host)
    assert c.get_json("/containers/json", {"all": True, "limit": None, "filters": '{"a":{"b":true}}'}) == [{"Id": "abc"}]
    req = srv.requests[0]
    assert req["method"] == "GET"
    assert req["target"].startswith("/v1.44/containers/json?all=1&filters=")
    assert "limit" not in req["target"]


def test_post_json_body_and_chunked_response(daemon):
    def respond(h, r):
        send(h, 201 if False else 200, [b'{"Id":', b' "x1", "Warn', b'ings": []}'], chunked=True)
    srv, host = daemon(respond)
    c = Client(host)
    assert c.post_json("/containers/create", {"name": "n"}, {"Image": "busybox"}) == {"Id": "x1", "Warnings": []}
    assert json.loads(srv.requests[0]["body"]) == {"Image": "busybox"}
    assert srv.requests[0]["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("status,cls", [(404, errors.NotFound), (409, errors.Conflict),
                                        (400, errors.InvalidArgument), (500, errors.SkiffError),
                                        (503, errors.Unavailable)])
def test_errors_rebuilt_by_status(daemon, status, cls):
    srv, host = daemon(lambda h, r: send(h, status, b'{"message":"No such container: x"}'))
    with pytest.raises(cls) as ei:
        Client(host).request("POST", "/containers/x/start")
    assert ei.value.message == "No such container: x"
    assert ei.value.details["status"] == status
    assert ei.value.details["response"] is True


def test_error_from_plain_text_body():
    e = error_from_response(404, b"page not found\n")
    assert isinstance(e, errors.NotFound) and e.message == "page not found"


def test_version_downgrade_on_too_new(daemon):
    def respond(h, r):
        if r["target"].startswith("/v1.44/"):
            send(h, 400, b'{"message":"client version 1.44 is too new. Maximum supported API version is 1.41"}')
        else:
            send(h, 200, b'{"ok": true}')
    srv, host = daemon(respond)
    c = Client(host)
    assert c.get_json("/info") == {"ok": True}
    assert c.version == "1.41"
    assert srv.requests[-1]["target"] == "/v1.41/info"


def test_unreachable_daemon_is_unavailable(tmp_path):
    c = Client(f"unix://{tmp_path}/none.sock")
    with pytest.raises(errors.Unavailable) as ei:
        c.get_json("/info")
    assert "Cannot connect to the skiff daemon at unix://" in str(ei.value)


def test_stream_json_lines(daemon):
    msgs = [b'{"status":"Pulling from library/busybox","id":"latest"}\r\n',
            b'{"status":"Pull', b' complete","id":"abc","progressDetail":{}}\r\n{"status":"Digest: x"}\r\n']
    srv, host = daemon(lambda h, r: send(h, 200, msgs, chunked=True))
    out = list(Client(host).stream_json("POST", "/images/create", {"fromImage": "busybox", "tag": "latest"}))
    assert [m["status"] for m in out] == ["Pulling from library/busybox", "Pull complete", "Digest: x"]


def test_file_body_is_sent_chunked(daemon):
    def respond(h, r):
        send(h, 200, b'{"stream":"Loaded image: busybox:latest\\n"}\n')
    srv, host = daemon(respond)
    data = os.urandom(200_000)
    out = list(Client(host).stream_json("POST", "/images/load", body=io.BytesIO(data)))
    assert out == [{"stream": "Loaded image: busybox:latest\n"}]
    load = [r for r in srv.requests if "/images/load" in r["target"]][0]
    assert load["headers"]["transfer-encoding"] == "chunked"
    assert load["body"] == data


def test_hijack_upgrade_and_half_close(daemon):
    def respond(h, r):
        assert r["headers"]["upgrade"] == "tcp"
        assert r["headers"]["connection"].lower() == "upgrade"
        h.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
                      b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + frame(1, b"early"))
        h.wfile.flush()
        data = b""
        while True:  # echo stdin back as stdout frames until the client half-closes
            chunk = h.connection.recv(65536)
            if not chunk:
                break
            data += chunk
        h.wfile.write(frame(1, data) + frame(2, b"bye"))
        h.wfile.flush()
    srv, host = daemon(respond)
    sock, pending = Client(host).hijack("/containers/x/attach", {"stream": 1, "stdin": 1, "stdout": 1})
    sock.sendall(b"x" * 100_000)
    sock.shutdown(socket.SHUT_WR)
    out, err = io.BytesIO(), io.BytesIO()
    copy_demuxed(lambda: sock.recv(65536), out, err, pending)
    sock.close()
    assert out.getvalue() == b"early" + b"x" * 100_000
    assert err.getvalue() == b"bye"


def test_demuxer_partial_frames():
    data = frame(1, b"hello") + frame(2, b"") + frame(2, b"err\n") + frame(1, b"x" * 70000)
    d = Demuxer()
    got = []
    for i in range(0, len(data), 3):
        got += d.feed(data[i:i + 3])
    assert got == [(1, b"hello"), (2, b""), (2, b"err\n"), (1, b"x" * 70000)]
    assert d.pending == 0
    with pytest.raises(ValueError):
        Demuxer().feed(b"\x09\x00\x00\x00\x00\x00\x00\x01a")


def test_negotiate_with_ping(daemon):
    srv, host = daemon(lambda h, r: send(h, 200, b"OK", {"Api-Version": "1.41"}))
    c = Client(host)
    assert c.negotiate() == "1.41"
    assert srv.requests[0]["target"] == "/_ping"


@pytest.fixture
def tls_files(tmp_path):
    import shutil as _sh
    if _sh.which("openssl") is None:
        pytest.skip("openssl not installed")
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "ca.pem")],
                   check=True, capture_output=True)
    return tmp_path


def test_tls_tcp_host(tls_files):
    import ssl
    from skiff.client import TLSConfig

    class TLSServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
        daemon_threads = True
        allow_reuse_address = True

        def get_request(self):
            sock, addr = super().get_request()
            return ctx.wrap_socket(sock, server_side=True), addr

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tls_files / "ca.pem"), str(tls_files / "key.pem"))
    srv = TLSServer(("127.0.0.1", 0), _Handler)
    srv.requests = []
    srv.respond = lambda h, r: send(h, 200, b'{"Version": "tls"}')
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        port = srv.server_address[1]
        c = Client(f"tcp://127.0.0.1:{port}", tls=TLSConfig(verify=True, cert_path=str(tls_files)))
        assert c.get_json("/version") == {"Version": "tls"}
        # verification against another CA fails
        other = tls_files / "other"
        other.mkdir()
        import subprocess
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=x", "-days", "1",
                        "-keyout", str(other / "key.pem"), "-out", str(other / "ca.pem")],
                       check=True, capture_output=True)
        bad = Client(f"tcp://127.0.0.1:{port}", tls=TLSConfig(verify=True, cacert=str(other / "ca.pem"),
                                                                cert_path=str(other)))
        with pytest.raises(errors.Unavailable):
            bad.get_json("/version")
    finally:
        srv.shutdown()
        srv.server_close()
