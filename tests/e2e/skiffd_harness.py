"""The Skiffd test harness: a private skiffd and CLIs pointed at it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def _unmount_under(prefix: str) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], stderr=subprocess.DEVNULL)


class Skiffd:
    """A running skiffd; ``cli`` runs the skiff CLI against it, ``docker``
    the real docker CLI (DOCKER_HOST pointed at it)."""

    def __init__(self, base: Path, registry: str, name: str = "d"):
        self.base = base
        self.data_root = str(base / "data")
        self.exec_root = f"/run/skifftest-{os.getpid()}-{name}"
        self.sock = os.path.join(self.exec_root, "skiff.sock")
        self.host = "unix://" + self.sock
        self.config = str(base / "daemon.json")
        self.log = str(base / "skiffd.log")
        self.docker_config = str(base / "docker-config")
        os.makedirs(self.docker_config, exist_ok=True)
        with open(self.config, "w") as f:
            # no fallback to Docker Hub: tests never leave the host (DNS included)
            json.dump({"registry-mirrors": [f"http://{registry}"], "registry-mirror-fallback": False}, f)
        self.proc: subprocess.Popen | None = None
        # a cgroup parent of its own, removed at the end (never the host's /skiff)
        self.cgroup_parent = f"/skifftest-{os.getpid()}-{name}"

    def start(self) -> None:
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skiff.daemon", "--config-file", self.config,
             "--data-root", self.data_root, "--exec-root", self.exec_root, "-H", self.host, "--debug",
             "--cgroup-parent", self.cgroup_parent],
            stdout=logf, stderr=logf, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"skiffd exited {self.proc.returncode}:\n{self.tail_log()}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError("skiffd did not answer /_ping:\n" + self.tail_log())

    def ping(self) -> bool:
        import socket
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.sock)
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in s.recv(4096)
        except OSError:
            return False
        finally:
            s.close()

    def tail_log(self, n: int = 60) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def env(self) -> dict:
        env = dict(os.environ)
        env["SKIFF_HOST"] = self.host
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = self.docker_config
        env.pop("DOCKER_CONTEXT", None)
        return env

    def cli(self, *args, input: bytes | str | None = None, timeout: float = 120,
            check: bool = False) -> subprocess.CompletedProcess:
        text = not isinstance(input, bytes)
        r = subprocess.run([sys.executable, "-m", "skiff.cli", "-H", self.host, *args],
                           input=input, capture_output=True, text=text, timeout=timeout, env=self.env())
        if check and r.returncode != 0:
            raise AssertionError(f"skiff {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def docker(self, *args, input=None, timeout: float = 120, check=False) -> subprocess.CompletedProcess:
        r = subprocess.run(["docker", *args], input=input, capture_output=True, text=True,
                           timeout=timeout, env=self.env())
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def cleanup_containers(self) -> None:
        r = self.cli("ps", "-aq", "--no-trunc")
        ids = r.stdout.split()
        if ids:
            self.cli("rm", "-f", *ids)

    def destroy(self) -> None:
        try:
            if self.proc and self.proc.poll() is None:
                self.cleanup_containers()
        finally:
            self.stop()
            # shims of containers that outlived a test: end them by the pid they recorded
            cdir = os.path.join(self.exec_root, "containers")
            if os.path.isdir(cdir):
                for cid in os.listdir(cdir):
                    try:
                        with open(os.path.join(cdir, cid, "shim.pid")) as f:
                            os.kill(int(f.read().strip()), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
            _unmount_under(self.exec_root)
            _unmount_under(self.data_root)
            _remove_cgroup_tree(self.cgroup_parent)
            shutil.rmtree(self.exec_root, ignore_errors=True)
            shutil.rmtree(self.base, ignore_errors=True)




def _remove_cgroup_tree(parent: str) -> None:
    """rmdir the test daemon's cgroup parent and what is left below it, in
    every hierarchy (children first)."""
    base = "/sys/fs/cgroup"
    tops = [os.path.join(base, d, parent.strip("/")) for d in os.listdir(base)] + \
        [os.path.join(base, parent.strip("/"))]
    for top in tops:
        if not os.path.isdir(top):
            continue
        for dp, dn, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dp)
            except OSError:
                pass
