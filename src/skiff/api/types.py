"""Wire types of the Engine API: the JSON shapes that cross, checked as
Go's encoding/json would decode them into moby's structs, so that a request
dockerd refuses with 400 is refused here too, before anything is stored.

``check_create(body)`` validates POST /containers/create (ContainerConfig +
HostConfig + NetworkingConfig, Engine API v1.44); ``check_exec(body)`` POST
/containers/{id}/exec. Both raise skiff.errors.InvalidArgument with Go's
wording: "json: cannot unmarshal string into Go struct field
HostConfig.HostConfig.Privileged of type bool". Imports nothing heavy (the
CLI may use it).
"""

from __future__ import annotations

from ..errors import InvalidArgument

# type codes: b bool, i int, s string, S list of strings, M map string->string,
# O object (any keys), A list (any), I list of ints (JSON numbers), P "strslice"
# (a string or a list of strings), or a nested dict spec, or ("list", spec)
_STRSLICE = "P"

CONTAINER_CONFIG = {
    "Hostname": "s", "Domainname": "s", "User": "s", "AttachStdin": "b", "AttachStdout": "b",
    "AttachStderr": "b", "ExposedPorts": "O", "Tty": "b", "OpenStdin": "b", "StdinOnce": "b",
    "Env": "S", "Cmd": _STRSLICE, "Healthcheck": {
        "Test": "S", "Interval": "i", "Timeout": "i", "Retries": "i", "StartPeriod": "i",
        "StartInterval": "i"},
    "ArgsEscaped": "b", "Image": "s", "Volumes": "O", "WorkingDir": "s", "Entrypoint": _STRSLICE,
    "NetworkDisabled": "b", "MacAddress": "s", "OnBuild": "S", "Labels": "M", "StopSignal": "s",
    "StopTimeout": "i", "Shell": "S",
}

_DEVICE = {"PathOnHost": "s", "PathInContainer": "s", "CgroupPermissions": "s"}
_ULIMIT = {"Name": "s", "Soft": "i", "Hard": "i"}
_WEIGHT_DEVICE = {"Path": "s", "Weight": "i"}
_THROTTLE_DEVICE = {"Path": "s", "Rate": "i"}
_MOUNT = {"Type": "s", "Source": "s", "Target": "s", "ReadOnly": "b", "Consistency": "s",
          "BindOptions": "O", "VolumeOptions": "O", "TmpfsOptions": "O"}

HOST_CONFIG = {
    "Binds": "S", "ContainerIDFile": "s", "LogConfig": {"Type": "s", "Config": "M"},
    "NetworkMode": "s", "PortBindings": "O", "RestartPolicy": {"Name": "s", "MaximumRetryCount": "i"},
    "AutoRemove": "b", "VolumeDriver": "s", "VolumesFrom": "S", "ConsoleSize": "I",
    "Annotations": "M", "CapAdd": "S", "CapDrop": "S", "CgroupnsMode": "s", "Dns": "S",
    "DnsOptions": "S", "DnsSearch": "S", "ExtraHosts": "S", "GroupAdd": "S", "IpcMode": "s",
    "Cgroup": "s", "Links": "S", "OomScoreAdj": "i", "PidMode": "s", "Privileged": "b",
    "PublishAllPorts": "b", "ReadonlyRootfs": "b", "SecurityOpt": "S", "StorageOpt": "M",
    "Tmpfs": "M", "UTSMode": "s", "UsernsMode": "s", "ShmSize": "i", "Sysctls": "M", "Runtime": "s",
    "Isolation": "s", "CpuShares": "i", "Memory": "i", "NanoCpus": "i", "CgroupParent": "s",
    "BlkioWeight": "i", "BlkioWeightDevice": ("list", _WEIGHT_DEVICE),
    "BlkioDeviceReadBps": ("list", _THROTTLE_DEVICE), "BlkioDeviceWriteBps": ("list", _THROTTLE_DEVICE),
    "BlkioDeviceReadIOps": ("list", _THROTTLE_DEVICE), "BlkioDeviceWriteIOps": ("list", _THROTTLE_DEVICE),
    "CpuPeriod": "i", "CpuQuota": "i", "CpuRealtimePeriod": "i", "CpuRealtimeRuntime": "i",
    "CpusetCpus": "s", "CpusetMems": "s", "Devices": ("list", _DEVICE), "DeviceCgroupRules": "S",
    "DeviceRequests": "A", "KernelMemory": "i", "KernelMemoryTCP": "i", "MemoryReservation": "i",
    "MemorySwap": "i", "MemorySwappiness": "i", "OomKillDisable": "b", "PidsLimit": "i",
    "Ulimits": ("list", _ULIMIT), "CpuCount": "i", "CpuPercent": "i", "IOMaximumIOps": "i",
    "IOMaximumBandwidth": "i", "Mounts": ("list", _MOUNT), "MaskedPaths": "S", "ReadonlyPaths": "S",
    "Init": "b",
}

EXEC_CONFIG = {
    "AttachStdin": "b", "AttachStdout": "b", "AttachStderr": "b", "DetachKeys": "s", "Tty": "b",
    "ConsoleSize": "I", "Env": "S", "Cmd": _STRSLICE, "Privileged": "b", "User": "s",
    "WorkingDir": "s",
}

_GO = {"b": "bool", "i": "int64", "s": "string", "S": "[]string", "M": "map[string]string",
       "O": "map[string]interface {}", "A": "[]interface {}", "I": "[]uint", _STRSLICE: "strslice.StrSlice"}
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def _json_kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def _fail(v, where: str, gotype: str) -> None:
    raise InvalidArgument(f"json: cannot unmarshal {_json_kind(v)} into Go struct field {where} of type {gotype}")


def _check(value, spec, where: str) -> None:
    if value is None:
        return  # null decodes to the zero value, as Go's
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            _fail(value, where, "struct")
        for key, sub in spec.items():
            if key in value:
                _check(value[key], sub, f"{where}.{key}")
        return
    if isinstance(spec, tuple):
        if not isinstance(value, list):
            _fail(value, where, "[]struct")
        for item in value:
            _check(item, spec[1], where)
        return
    t = spec
    if t == "b":
        if not isinstance(value, bool):
            _fail(value, where, "bool")
    elif t == "i":
        # Go refuses any number written with a fraction or an exponent for an int64
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float):
                raise InvalidArgument(f"json: cannot unmarshal number {value!r} into Go struct field "
                                      f"{where} of type int64")
            _fail(value, where, "int64")
        if not INT64_MIN <= int(value) <= INT64_MAX:
            raise InvalidArgument(f"json: cannot unmarshal number {value} into Go struct field {where} of type int64")
    elif t == "s":
        if not isinstance(value, str):
            _fail(value, where, "string")
        if "\x00" in value:
            raise InvalidArgument(f"invalid {where}: NUL byte in string")
    elif t in ("S", _STRSLICE):
        if t == _STRSLICE and isinstance(value, str):
            return
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            _fail(value, where, _GO[t])
    elif t == "I":
        if not isinstance(value, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                  for x in value):
            _fail(value, where, _GO[t])
    elif t == "M":
        if not isinstance(value, dict) or not all(isinstance(x, str) for x in value.values()):
            _fail(value, where, _GO[t])
    elif t == "O":
        if not isinstance(value, dict):
            _fail(value, where, _GO[t])
    elif t == "A":
        if not isinstance(value, list):
            _fail(value, where, _GO[t])


def check_create(body) -> None:
    """POST /containers/create's body: ContainerConfig fields at the top, with
    HostConfig and NetworkingConfig. InvalidArgument on the first wrong type."""
    if not isinstance(body, dict):
        raise InvalidArgument("json: cannot unmarshal into Go value of type container.CreateRequest")
    for key, spec in CONTAINER_CONFIG.items():
        if key in body:
            _check(body[key], spec, f"Config.{key}")
    hc = body.get("HostConfig")
    if hc is not None:
        _check(hc, HOST_CONFIG, "HostConfig.HostConfig")
        pb = hc.get("PortBindings") or {}
        for port, binds in pb.items():
            if binds is None:
                continue
            if not isinstance(binds, list) or not all(
                    isinstance(b, dict) and isinstance(b.get("HostIp", ""), str) and
                    isinstance(b.get("HostPort", ""), str) for b in binds):
                _fail(binds, "HostConfig.PortBindings", "[]nat.PortBinding")
    nc = body.get("NetworkingConfig")
    if nc is not None:
        if not isinstance(nc, dict):
            _fail(nc, "CreateRequest.NetworkingConfig", "network.NetworkingConfig")
        eps = nc.get("EndpointsConfig")
        if eps is not None and not (isinstance(eps, dict) and all(isinstance(v, dict) or v is None
                                                                 for v in eps.values())):
            _fail(eps, "NetworkingConfig.EndpointsConfig", "map[string]*network.EndpointSettings")


def check_exec(body) -> None:
    """POST /containers/{id}/exec's body (ExecConfig)."""
    if not isinstance(body, dict):
        raise InvalidArgument("json: cannot unmarshal into Go value of type container.ExecOptions")
    for key, spec in EXEC_CONFIG.items():
        if key in body:
            _check(body[key], spec, f"ExecOptions.{key}")
