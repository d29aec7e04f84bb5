"""skiff's OCI runtime for Linux (runc's job, in Python, standard library only).

    container.py     create / start / state / kill / delete (+ exec_process, pause,
                     resume, pids): the library interface of skiff.runtime.api
    init.py          the init sequence, one ordered and commented list of steps
    rootfs.py        spec mounts (securejoin), devices, pivot_root, masked/readonly paths
    namespaces.py    unshare / setns, uid and gid maps
    capabilities.py  the five capability sets, clipped to the host's bounding set
    syscalls.py      ctypes wrappers of what Python 3.11's os lacks
    defaults.py      the Docker-like default config.json (``skiff-runtime spec``)
"""
