"""skiff's OCI runtime for Linux (runc's job, in Python, standard library only).

    container.py     create / start / state / kill / delete (+ exec_process, pause,
                     resume, pids): the library interface of skiff.runtime.api
    init.py          the init sequence, one ordered and commented list of steps
    rootfs.py        spec mounts (securejoin), devices, pivot_root, masked/readonly paths
    namespaces.py    unshare / setns, uid and gid maps
    capabilities.py  the five capability sets, clipped to the host's bounding set
    syscalls.py      ctypes wrappers of what Python 3.11's os lacks
    hooks.py         OCI hooks (prestart ... poststop) with state on stdin and timeouts
    procattr.py      apparmorProfile/selinuxLabel (refused without the LSM), ioPriority,
                     scheduler, personality, memoryPolicy; intelRdt refused
    _log.py          the runtime's logger (no ``logging`` import on the hot path)
    defaults.py      the Docker-like default config.json (``skiff-runtime spec``)

Seccomp lives in skiff.runtime.seccomp (libseccomp through ctypes) and
Docker's default profile in skiff.runtime.seccomp_default; cgroup v2 device
rules in skiff.runtime.cgroups.devices_bpf.
"""
