"""Shape checks of an OCI config.json before anything is made from it
(OCI runtime-spec config.md / config-linux.md field types; runc refuses the
same documents, mostly while unmarshalling them into Go types, and
libcontainer/configs/validate adds the value rules).

A field of the wrong JSON type must fail here with a message that names it,
rather than be read in a Python way (a string where an array of strings is
expected would be taken character by character; uid -1 is "leave unchanged"
to setresuid(2), i.e. root).

    check_config(spec: dict) -> None       raises InvalidArgument
    check_process(proc: dict, where: str)  raises InvalidArgument
"""

from __future__ import annotations

from skiff.errors import InvalidArgument

#: uids and gids a container process may take (runc: "uids and gids must be
#: in range 0-2147483647")
MAX_ID = (1 << 31) - 1
#: RLIM_INFINITY as Go's uint64 (what runc and containerd write)
_RLIM_INF_U64 = (1 << 64) - 1


def _bad(where: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"invalid configuration: {where} {what}", field=where)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _obj(v, where: str, required: bool = False) -> dict:
    if v is None:
        if required:
            raise _bad(where, "is required")
        return {}
    if not isinstance(v, dict):
        raise _bad(where, f"must be an object, not {_json_type(v)}")
    return v


def _list(v, where: str) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise _bad(where, f"must be an array, not {_json_type(v)}")
    return v


def _strs(v, where: str) -> list:
    items = _list(v, where)
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise _bad(f"{where}[{i}]", f"must be a string, not {_json_type(s)}")
        if "\0" in s:
            raise _bad(f"{where}[{i}]", "contains a NUL byte")
    return items


def _str(v, where: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise _bad(where, f"must be a string, not {_json_type(v)}")
    if "\0" in v:
        raise _bad(where, "contains a NUL byte")
    return v


def _json_type(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _id(v, where: str) -> None:
    if not _int(v):
        raise _bad(where, f"must be an integer, not {_json_type(v)}")
    if not 0 <= v <= MAX_ID:
        raise _bad(where, f"{v} is out of range: uids and gids must be in range 0-{MAX_ID}")


def check_env(env: list, where: str) -> None:
    """Every entry NAME=VALUE with a non-empty NAME (runc's prepareEnv)."""
    for i, e in enumerate(_strs(env, where)):
        name, eq, _ = e.partition("=")
        if not eq:
            raise _bad(f"{where}[{i}]", f"{e!r} is not a valid environment variable: missing '='")
        if not name:
            raise _bad(f"{where}[{i}]", f"{e!r} is not a valid environment variable: "
                       "empty name")


def check_process(proc, where: str = "process") -> None:
    """The process object (config.md#process): args, env, cwd (absolute),
    user (uid/gid/additionalGids in 0..2^31-1, umask >= 0), rlimits (soft <=
    hard, no duplicates), capabilities, oomScoreAdj (-1000..1000),
    noNewPrivileges, terminal. Raises InvalidArgument."""
    proc = _obj(proc, where, required=True)
    args = _strs(proc.get("args"), f"{where}.args")
    if not args:
        raise _bad(f"{where}.args", "must not be empty")
    check_env(proc.get("env"), f"{where}.env")
    cwd = _str(proc.get("cwd"), f"{where}.cwd")
    if cwd and not cwd.startswith("/"):
        raise _bad(f"{where}.cwd", f"{cwd!r} must be an absolute path")
    user = _obj(proc.get("user"), f"{where}.user")
    for key in ("uid", "gid"):
        if key in user:
            _id(user[key], f"{where}.user.{key}")
    for i, g in enumerate(_list(user.get("additionalGids"), f"{where}.user.additionalGids")):
        _id(g, f"{where}.user.additionalGids[{i}]")
    if user.get("umask") is not None:
        if not _int(user["umask"]) or user["umask"] < 0:
            raise _bad(f"{where}.user.umask", "must be a non-negative integer")
    _str(user.get("username"), f"{where}.user.username")
    seen: set[str] = set()
    for i, r in enumerate(_list(proc.get("rlimits"), f"{where}.rlimits")):
        w = f"{where}.rlimits[{i}]"
        r = _obj(r, w)
        typ = _str(r.get("type"), f"{w}.type")
        if not typ:
            raise _bad(f"{w}.type", "is required")
        if typ in seen:
            raise _bad(w, f"repeats rlimit type {typ}")
        seen.add(typ)
        soft, hard = r.get("soft"), r.get("hard")
        for name, v in (("soft", soft), ("hard", hard)):
            if not _int(v) or not -1 <= v <= _RLIM_INF_U64:
                raise _bad(f"{w}.{name}", "must be an integer in 0..2^64-1")
        norm = [_RLIM_INF_U64 if v == -1 else v for v in (soft, hard)]
        if norm[0] > norm[1]:
            raise _bad(w, f"{typ}: soft limit {soft} is above the hard limit {hard}")
    caps = _obj(proc.get("capabilities"), f"{where}.capabilities")
    for key, v in caps.items():
        _strs(v, f"{where}.capabilities.{key}")
    if proc.get("oomScoreAdj") is not None:
        v = proc["oomScoreAdj"]
        if not _int(v) or not -1000 <= v <= 1000:
            raise _bad(f"{where}.oomScoreAdj", "must be an integer in -1000..1000")
    for key in ("terminal", "noNewPrivileges"):
        if proc.get(key) is not None and not isinstance(proc[key], bool):
            raise _bad(f"{where}.{key}", f"must be a boolean, not {_json_type(proc[key])}")
    for key in ("apparmorProfile", "selinuxLabel"):
        _str(proc.get(key), f"{where}.{key}")


def _hooks(hooks) -> None:
    for stage, items in _obj(hooks, "hooks").items():
        for i, h in enumerate(_list(items, f"hooks.{stage}")):
            w = f"hooks.{stage}[{i}]"
            h = _obj(h, w)
            _str(h.get("path"), f"{w}.path")
            _strs(h.get("args"), f"{w}.args")
            _strs(h.get("env"), f"{w}.env")
            t = h.get("timeout")
            if t is not None and (not _int(t) or t <= 0):
                raise _bad(f"{w}.timeout", "must be a positive integer (seconds)")


def _ints(obj: dict, where: str, strings: tuple = (), bools: tuple = ()) -> None:
    strings = {k.lower() for k in strings}
    bools = {k.lower() for k in bools}
    for key, v in obj.items():
        if v is None:
            continue
        if str(key).lower() in strings:
            _str(v, f"{where}.{key}")
        elif str(key).lower() in bools:
            if not isinstance(v, bool):
                raise _bad(f"{where}.{key}", f"must be a boolean, not {_json_type(v)}")
        elif isinstance(v, (dict, list)):
            continue  # nested objects (weightDevice, throttle...) are the cgroup code's
        elif not _int(v):
            raise _bad(f"{where}.{key}", f"must be an integer, not {_json_type(v)}")


def check_resources(res, where: str = "linux.resources") -> None:
    """linux.resources (config-linux.md#control-groups; runc update -r):
    objects where objects go, integers for the memory, cpu, pids and blockIO
    numbers (booleans and cpuset strings where the spec has them). Keys are
    matched case-insensitively, as Go's encoding/json does. Raises
    InvalidArgument naming the field: nothing is written when one is bad."""
    res = _obj(res, where)
    low = {str(k).lower(): (k, v) for k, v in res.items()}
    for key in ("memory", "cpu", "pids", "blockio", "network", "unified", "rdma"):
        if key in low:
            _obj(low[key][1], f"{where}.{low[key][0]}")
    for key in ("devices", "hugepagelimits"):
        if key in low:
            _list(low[key][1], f"{where}.{low[key][0]}")
    if "memory" in low:
        _ints(_obj(low["memory"][1], f"{where}.memory"), f"{where}.memory",
              bools=("disableOOMKiller", "useHierarchy", "checkBeforeUpdate"))
    if "cpu" in low:
        _ints(_obj(low["cpu"][1], f"{where}.cpu"), f"{where}.cpu", strings=("cpus", "mems"))
    if "pids" in low:
        _ints(_obj(low["pids"][1], f"{where}.pids"), f"{where}.pids")
    if "blockio" in low:
        _ints(_obj(low["blockio"][1], f"{where}.blockIO"), f"{where}.blockIO")


def check_config(spec) -> None:
    """The whole document: object types of root, process, mounts, hooks,
    annotations and linux (namespaces, devices, sysctl, resources, uid/gid
    mappings, cgroupsPath, seccomp), then check_process(). Raises
    InvalidArgument naming the first bad field."""
    if not isinstance(spec, dict):
        raise _bad("config.json", f"must be an object, not {_json_type(spec)}")
    _str(spec.get("ociVersion"), "ociVersion")
    root = _obj(spec.get("root"), "root")
    _str(root.get("path"), "root.path")
    if root.get("readonly") is not None and not isinstance(root["readonly"], bool):
        raise _bad("root.readonly", "must be a boolean")
    check_process(spec.get("process"), "process")
    _str(spec.get("hostname"), "hostname")
    _str(spec.get("domainname"), "domainname")
    for i, m in enumerate(_list(spec.get("mounts"), "mounts")):
        w = f"mounts[{i}]"
        m = _obj(m, w)
        if not _str(m.get("destination"), f"{w}.destination"):
            raise _bad(f"{w}.destination", "is required")
        _str(m.get("type"), f"{w}.type")
        _str(m.get("source"), f"{w}.source")
        _strs(m.get("options"), f"{w}.options")
    _hooks(spec.get("hooks"))
    for k, v in _obj(spec.get("annotations"), "annotations").items():
        _str(v, f"annotations.{k}")
    linux = _obj(spec.get("linux"), "linux")
    for i, ns in enumerate(_list(linux.get("namespaces"), "linux.namespaces")):
        ns = _obj(ns, f"linux.namespaces[{i}]")
        _str(ns.get("type"), f"linux.namespaces[{i}].type")
        _str(ns.get("path"), f"linux.namespaces[{i}].path")
    for i, d in enumerate(_list(linux.get("devices"), "linux.devices")):
        w = f"linux.devices[{i}]"
        d = _obj(d, w)
        if not _str(d.get("path"), f"{w}.path"):
            raise _bad(f"{w}.path", "is required")
        _str(d.get("type"), f"{w}.type")
        for key in ("major", "minor", "fileMode", "uid", "gid"):
            if d.get(key) is not None and not _int(d[key]):
                raise _bad(f"{w}.{key}", f"must be an integer, not {_json_type(d[key])}")
    for k, v in _obj(linux.get("sysctl"), "linux.sysctl").items():
        _str(v, f"linux.sysctl.{k}")
    for key in ("uidMappings", "gidMappings"):
        for i, m in enumerate(_list(linux.get(key), f"linux.{key}")):
            m = _obj(m, f"linux.{key}[{i}]")
            for f in ("containerID", "hostID", "size"):
                if not _int(m.get(f)) or m[f] < 0:
                    raise _bad(f"linux.{key}[{i}].{f}", "must be a non-negative integer")
    _str(linux.get("cgroupsPath"), "linux.cgroupsPath")
    check_resources(linux.get("resources"), "linux.resources")
    seccomp = _obj(linux.get("seccomp"), "linux.seccomp")
    _strs(seccomp.get("architectures"), "linux.seccomp.architectures")
    _strs(seccomp.get("flags"), "linux.seccomp.flags")
    for i, sc in enumerate(_list(seccomp.get("syscalls"), "linux.seccomp.syscalls")):
        sc = _obj(sc, f"linux.seccomp.syscalls[{i}]")
        _strs(sc.get("names"), f"linux.seccomp.syscalls[{i}].names")
    _strs(linux.get("maskedPaths"), "linux.maskedPaths")
    _strs(linux.get("readonlyPaths"), "linux.readonlyPaths")
