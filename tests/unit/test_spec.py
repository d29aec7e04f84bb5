"""build_spec: Docker's defaults and precedence rules (moby oci/defaults.go, daemon/commit.go)."""
from __future__ import annotations

import pytest

from skiff.errors import InvalidArgument
from skiff.runtime import spec as S
from skiff.runtime.spec import build_spec

CID = "0123456789abcdef" * 4
BUSYBOX = {"Env": ["PATH=/bin"], "Cmd": ["sh"]}


def build(image=None, create=None, **kw):
    kw.setdefault("rootfs", "/run/skiff/containers/x/rootfs")
    return build_spec(container_id=CID, image_config=BUSYBOX if image is None else image,
                      create=create or {}, **kw)


def env_of(spec):
    return dict(e.split("=", 1) for e in spec["process"]["env"])


def mount(spec, dest):
    ms = [m for m in spec["mounts"] if m["destination"] == dest]
    assert len(ms) <= 1
    return ms[0] if ms else None


def test_defaults_busybox():
    s = build()
    assert s["ociVersion"]
    assert s["process"]["args"] == ["sh"]
    assert s["process"]["cwd"] == "/"
    assert s["process"]["terminal"] is False
    assert s["process"]["user"] == {"uid": 0, "gid": 0}
    assert s["hostname"] == CID[:12]
    assert s["root"] == {"path": "/run/skiff/containers/x/rootfs", "readonly": False}
    caps = s["process"]["capabilities"]
    assert caps["bounding"] == S.DEFAULT_CAPABILITIES == caps["effective"] == caps["permitted"]
    assert "CAP_SYS_ADMIN" not in caps["bounding"]
    dests = [m["destination"] for m in s["mounts"]]
    for d in ("/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"):
        assert d in dests
    # parents before children
    assert dests.index("/dev") < dests.index("/dev/pts") < len(dests)
    assert dests.index("/sys") < dests.index("/sys/fs/cgroup")
    assert "ro" in mount(s, "/sys")["options"]
    assert "ro" in mount(s, "/sys/fs/cgroup")["options"]
    assert f"size={64 << 20}" in mount(s, "/dev/shm")["options"]
    assert s["linux"]["maskedPaths"] == S.MASKED_PATHS
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    ns = [n["type"] for n in s["linux"]["namespaces"]]
    assert sorted(ns) == ["ipc", "mount", "network", "pid", "uts"]
    devs = s["linux"]["resources"]["devices"]
    assert devs[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in devs
    assert "rlimits" not in s["process"]


def test_env_merge_and_defaults():
    s = build(image={"Env": ["A=image", "B=image"], "Cmd": ["x"]},
              create={"Env": ["B=ctr", "C=ctr"], "Hostname": "h1"})
    e = env_of(s)
    assert e["PATH"] == S.DEFAULT_PATH
    assert e["HOSTNAME"] == "h1"
    assert e["A"] == "image" and e["B"] == "ctr" and e["C"] == "ctr"
    assert "TERM" not in e
    assert s["process"]["env"][0].startswith("PATH=")
    # the image's PATH replaces the default, in place
    s = build(create={"Tty": True})
    assert s["process"]["env"][0] == "PATH=/bin"
    assert env_of(s)["TERM"] == "xterm"
    assert s["process"]["terminal"] is True
    # a container's PATH wins over the image's
    assert env_of(build(create={"Env": ["PATH=/x"]}))["PATH"] == "/x"
    # HOME from the passwd entry only when Env has none
    assert env_of(build(home="/root"))["HOME"] == "/root"
    assert env_of(build(create={"Env": ["HOME=/h"]}, home="/root"))["HOME"] == "/h"


def test_replace_or_append_env_removal():
    assert S.replace_or_append_env(["A=1", "B=2"], ["A=3", "B", "C=4"]) == ["A=3", "C=4"]


@pytest.mark.parametrize("image,create,expected", [
    ({"Cmd": ["sh"]}, {}, ["sh"]),
    ({"Cmd": ["sh"]}, {"Cmd": ["echo", "hi"]}, ["echo", "hi"]),
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {}, ["/ep", "a"]),
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Cmd": ["b"]}, ["/ep", "b"]),
    # --entrypoint resets the image's Cmd
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Entrypoint": ["/new"]}, ["/new"]),
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Entrypoint": ["/new"], "Cmd": ["c"]}, ["/new", "c"]),
    # --entrypoint "" clears the image's entrypoint, keeps its Cmd
    ({"Entrypoint": ["/ep"], "Cmd": ["a"]}, {"Entrypoint": [""]}, ["a"]),
    ({"Cmd": ["a"]}, {"Entrypoint": "/str"}, ["/str"]),
])
def test_entrypoint_cmd_precedence(image, create, expected):
    assert build(image=image, create=create)["process"]["args"] == expected


def test_no_command():
    with pytest.raises(InvalidArgument, match="no command specified"):
        build(image={}, create={})


def test_workdir_and_user():
    s = build(image={"Cmd": ["x"], "WorkingDir": "/app"}, user=(1000, 1000, [10, 20]))
    assert s["process"]["cwd"] == "/app"
    assert s["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
    assert build(image={"Cmd": ["x"], "WorkingDir": "/app"},
                 create={"WorkingDir": "/w"})["process"]["cwd"] == "/w"
    with pytest.raises(InvalidArgument):
        build(create={"WorkingDir": "rel"})


def test_resources():
    hc = {"Memory": 64 << 20, "MemoryReservation": 32 << 20, "CpuShares": 512,
          "CpuQuota": 50000, "CpuPeriod": 100000, "CpusetCpus": "0", "PidsLimit": 100,
          "BlkioWeight": 300, "OomKillDisable": True}
    r = build(create={"HostConfig": hc})["linux"]["resources"]
    assert r["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20,
                           "disableOOMKiller": True}
    assert r["cpu"] == {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}
    assert r["pids"] == {"limit": 100}
    assert r["blockIO"] == {"weight": 300}
    r = build(create={"HostConfig": {"Memory": 100, "MemorySwap": -1, "NanoCpus": 1_500_000_000,
                                     "PidsLimit": -1}})["linux"]["resources"]
    assert r["memory"] == {"limit": 100, "swap": -1}
    assert r["cpu"] == {"period": 100000, "quota": 150000}
    assert "pids" not in r
    with pytest.raises(InvalidArgument):
        build(create={"HostConfig": {"NanoCpus": 1, "CpuQuota": 5}})


def test_caps():
    caps = build(create={"HostConfig": {"CapAdd": ["net_admin", "CAP_SYS_TIME"],
                                        "CapDrop": ["MKNOD", "cap_kill"]}})["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in caps and "CAP_SYS_TIME" in caps
    assert "CAP_MKNOD" not in caps and "CAP_KILL" not in caps
    assert "CAP_CHOWN" in caps
    assert S.capabilities(["CHOWN"], ["ALL"]) == ["CAP_CHOWN"]
    assert S.capabilities(["ALL"], ["SYS_ADMIN"]) == [c for c in S.ALL_CAPABILITIES if c != "CAP_SYS_ADMIN"]
    with pytest.raises(InvalidArgument):
        S.capabilities(["NOPE"], [])
    s = build(create={"HostConfig": {"CapAdd": ["ALL"]}},
              available_capabilities=[c for c in S.ALL_CAPABILITIES if c != "CAP_SYS_RESOURCE"])
    assert "CAP_SYS_RESOURCE" not in s["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" in s["process"]["capabilities"]["bounding"]


def test_privileged():
    s = build(create={"HostConfig": {"Privileged": True}})
    assert s["process"]["capabilities"]["bounding"] == S.ALL_CAPABILITIES
    assert "maskedPaths" not in s["linux"] and "readonlyPaths" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "ro" not in mount(s, "/sys")["options"]


def test_readonly_rootfs_and_etc_files():
    s = build(create={"HostConfig": {"ReadonlyRootfs": True}},
              etc_files={"/etc/hosts": "/b/hosts", "/etc/hostname": "/b/hostname"})
    assert s["root"]["readonly"] is True
    m = mount(s, "/etc/hosts")
    assert m == {"destination": "/etc/hosts", "type": "bind", "source": "/b/hosts",
                 "options": ["rbind", "rprivate", "ro"]}
    s = build(etc_files={"/etc/resolv.conf": "/b/r"})
    assert mount(s, "/etc/resolv.conf")["options"] == ["rbind", "rprivate"]


def test_binds_mounts_tmpfs():
    hc = {"Binds": ["/src:/dst", "/a:/b:ro,rshared", "vol:/data"],
          "Mounts": [{"Type": "bind", "Source": "/m", "Target": "/mt", "ReadOnly": True},
                     {"Type": "tmpfs", "Target": "/tm", "TmpfsOptions": {"SizeBytes": 1024}}],
          "Tmpfs": {"/run": "rw,exec,size=65536k"}}
    s = build(create={"HostConfig": hc}, volume_paths={"vol": "/var/lib/skiff/volumes/vol/_data"})
    assert mount(s, "/dst") == {"destination": "/dst", "type": "bind", "source": "/src",
                                "options": ["rbind", "rprivate"]}
    assert mount(s, "/b")["options"] == ["rbind", "rshared", "ro"]
    assert mount(s, "/data")["source"] == "/var/lib/skiff/volumes/vol/_data"
    assert mount(s, "/mt")["options"] == ["rbind", "rprivate", "ro"]
    assert mount(s, "/tm")["type"] == "tmpfs" and "size=1024" in mount(s, "/tm")["options"]
    run = mount(s, "/run")["options"]
    assert "noexec" not in run and "exec" in run and "nosuid" in run and "size=65536k" in run
    with pytest.raises(InvalidArgument):
        build(create={"HostConfig": {"Binds": ["novol:/x"]}})
    with pytest.raises(InvalidArgument):
        build(create={"HostConfig": {"Binds": ["/a:rel"]}})
    # a user bind over /dev/shm replaces the default
    s = build(create={"HostConfig": {"Binds": ["/hostshm:/dev/shm"]}})
    assert mount(s, "/dev/shm")["type"] == "bind"


def test_sysctls_ulimits_shm_init_oom():
    hc = {"Sysctls": {"net.ipv4.ip_forward": "1"},
          "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
          "ShmSize": 1 << 20, "Init": True, "OomScoreAdj": 500}
    s = build(create={"HostConfig": hc, "Cmd": ["top"]}, init_path="/usr/bin/tini")
    assert s["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}]
    assert f"size={1 << 20}" in mount(s, "/dev/shm")["options"]
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "top"]
    assert mount(s, "/sbin/docker-init")["source"] == "/usr/bin/tini"
    assert s["process"]["oomScoreAdj"] == 500
    with pytest.raises(InvalidArgument):
        build(create={"HostConfig": {"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}})


def test_namespaces_and_host_modes():
    s = build(netns="/run/skiff/netns/abc", cgroups_path="/skiff/abc")
    net = [n for n in s["linux"]["namespaces"] if n["type"] == "network"]
    assert net == [{"type": "network", "path": "/run/skiff/netns/abc"}]
    assert s["linux"]["cgroupsPath"] == "/skiff/abc"
    s = build(netns=None, create={"HostConfig": {"PidMode": "host", "UTSMode": "host",
                                                 "IpcMode": "host", "CgroupnsMode": "private"}})
    ns = sorted(n["type"] for n in s["linux"]["namespaces"])
    assert ns == ["cgroup", "mount"]
    assert "hostname" not in s
    s = build(create={"Hostname": "web", "Domainname": "example.org"})
    assert s["hostname"] == "web" and s["domainname"] == "example.org"


def test_tty_console_size():
    s = build(create={"Tty": True, "HostConfig": {"ConsoleSize": [24, 80]}})
    assert s["process"]["consoleSize"] == {"height": 24, "width": 80}


def test_pure_inputs_not_mutated():
    image = {"Env": ["A=1"], "Cmd": ["x"]}
    create = {"Env": ["B=2"], "HostConfig": {"CapAdd": ["NET_ADMIN"]}}
    import copy
    i0, c0 = copy.deepcopy(image), copy.deepcopy(create)
    build(image=image, create=create)
    assert image == i0 and create == c0


def test_device_cgroup_rules_and_path_overrides():
    s = build(create={"HostConfig": {"DeviceCgroupRules": ["c 42:* rmw", "b 8:0 r"],
                                     "MaskedPaths": ["/proc/x"], "ReadonlyPaths": []}})
    devs = s["linux"]["resources"]["devices"]
    assert devs[-2:] == [{"allow": True, "type": "c", "major": 42, "minor": -1, "access": "rmw"},
                         {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"}]
    assert s["linux"]["maskedPaths"] == ["/proc/x"]
    assert s["linux"]["readonlyPaths"] == []
    for bad in ("c 1:3", "x 1:3 r", "c a:3 r", "c 1:3 q"):
        with pytest.raises(InvalidArgument):
            S.parse_device_rule(bad)


def test_namespace_paths():
    s = build(namespace_paths={"pid": "/proc/42/ns/pid", "ipc": "/proc/42/ns/ipc"})
    ns = {n["type"]: n.get("path") for n in s["linux"]["namespaces"]}
    assert ns["pid"] == "/proc/42/ns/pid" and ns["ipc"] == "/proc/42/ns/ipc"
    assert ns["mount"] is None and len(s["linux"]["namespaces"]) == 5


def test_build_exec_process():
    s = build(create={"Env": ["A=1"], "WorkingDir": "/w"}, user=(1000, 1000, [10]))
    p = S.build_exec_process(s["process"], {"Cmd": ["ls", "-l"], "Env": ["A=2", "B=3"], "Tty": True})
    e = dict(x.split("=", 1) for x in p["env"])
    assert p["args"] == ["ls", "-l"] and p["terminal"] is True
    assert e["A"] == "2" and e["B"] == "3" and e["TERM"] == "xterm" and e["PATH"] == "/bin"
    assert p["cwd"] == "/w"
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10]}
    assert p["capabilities"] == s["process"]["capabilities"]
    p = S.build_exec_process(s["process"], {"Cmd": "id", "User": "0", "WorkingDir": "/tmp",
                                            "Privileged": True}, user=(0, 0, []))
    assert p["args"] == ["id"] and p["cwd"] == "/tmp" and p["user"] == {"uid": 0, "gid": 0}
    assert p["terminal"] is False and "TERM" not in dict(x.split("=", 1) for x in p["env"])
    assert p["capabilities"]["bounding"] == S.ALL_CAPABILITIES
    with pytest.raises(InvalidArgument):
        S.build_exec_process(s["process"], {"Cmd": []})
