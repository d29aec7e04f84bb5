"""A registry that speaks only HTTPS (self-signed certificate) on loopback:
skiffd pulls from it, as Docker treats 127.0.0.0/8 as insecure (TLS without
verification, then plain HTTP); a plain-HTTP registry keeps working."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
import ssl

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PORT = 5040


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory, fixtures_dir):
    d = tmp_path_factory.mktemp("skifftest-tlsreg")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    (d / "config.yml").write_text(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {d}/data
http:
  addr: 127.0.0.1:{PORT}
  tls:
    certificate: {d}/cert.pem
    key: {d}/key.pem
""")
    proc = subprocess.Popen(["docker-registry", "serve", str(d / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for _ in range(100):
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{PORT}/v2/", context=ctx, timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        subprocess.run(["skopeo", "copy", "--dest-tls-verify=false",
                        f"oci:{fixtures_dir}/oci:busybox:latest",
                        f"docker://127.0.0.1:{PORT}/library/busybox:latest"],
                       check=True, capture_output=True)
        yield f"127.0.0.1:{PORT}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def test_pull_over_https_from_loopback(skiffd, tls_registry):
    ref = f"{tls_registry}/library/busybox"
    r = skiffd.cli("run", "--rm", ref, "echo", "over tls")
    assert (r.returncode, r.stdout) == (0, "over tls\n"), r.stderr
    skiffd.cli("rmi", ref)
