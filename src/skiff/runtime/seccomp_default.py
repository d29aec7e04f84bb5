"""Docker's default seccomp profile, as data, and its conversion to the OCI
``linux.seccomp`` object (runtime-spec config-linux.md#seccomp).

The profile is Docker's (moby profiles/seccomp default.json, Engine 24+) in
Docker's own profile schema: ``defaultAction``, ``defaultErrnoRet``,
``archMap`` and ``syscalls`` whose entries may carry ``includes`` /
``excludes`` on capabilities, architectures and minimum kernel.
:func:`to_oci` resolves those against the container's capabilities and the
host's architecture exactly as dockerd's ``setupSeccomp`` does, giving the
plain OCI object the runtime compiles (skiff.runtime.seccomp).

Pure data and pure functions: no I/O beyond ``platform.machine()``'s default.
"""

from __future__ import annotations

#: syscalls every container may make (allowed unconditionally)
_ALLOWED = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr
flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents
getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname
getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents
io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit
io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget
msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
_newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc
pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead
readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx
symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times
tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
""".split()

#: syscalls allowed when the container holds the capability
_BY_CAP = {
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
    "CAP_SYS_ADMIN": "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick "
                     "lookup_dcookie mount mount_setattr move_mount open_tree perf_event_open "
                     "quotactl quotactl_fd setdomainname sethostname setns syslog umount "
                     "umount2 unshare",
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_MODULE": "delete_module init_module finit_module",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
}

#: syscalls allowed on some architectures only (Go GOARCH names, as Docker's profile)
_BY_ARCH = [
    (("ppc64le",), "sync_file_range2 swapcontext"),
    (("arm", "arm64"), "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint "
                       "cacheflush set_tls"),
    (("amd64", "x32"), "arch_prctl"),
    (("amd64", "x32", "x86"), "modify_ldt"),
    (("s390", "s390x"), "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"),
    (("riscv64",), "riscv_flush_icache"),
]

#: CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone() with none of
#: them is allowed without CAP_SYS_ADMIN
CLONE_NS_MASK = 0x7E020000

#: personality(2) values allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, query
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

#: AF_VSOCK (40): socket() of every other family is allowed
_AF_VSOCK = 40

#: host architecture (Go GOARCH) -> the seccomp architectures the profile covers
ARCH_MAP = {
    "amd64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "arm64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "mips64": ["SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
    "mips64le": ["SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
    "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
    "riscv64": ["SCMP_ARCH_RISCV64"],
    "ppc64le": ["SCMP_ARCH_PPC64LE"],
}

#: uname -m -> Go GOARCH
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "x86", "i386": "x86",
           "armv7l": "arm", "s390x": "s390x", "ppc64le": "ppc64le", "riscv64": "riscv64",
           "mips64": "mips64"}


def goarch(machine: str | None = None) -> str:
    """``uname -m`` (default: this host's) -> Go's GOARCH name ("amd64"...)."""
    if machine is None:
        import os
        machine = os.uname().machine
    return _GOARCH.get(machine, machine)


def docker_profile() -> dict:
    """Docker's default profile in Docker's schema (archMap, includes/excludes),
    a fresh dict each call (``docker info``'s "default" profile)."""
    syscalls: list[dict] = [{"names": list(_ALLOWED), "action": "SCMP_ACT_ALLOW"}]
    syscalls.append({"names": ["process_vm_readv", "process_vm_writev", "ptrace"],
                     "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}})
    syscalls.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": _AF_VSOCK, "op": "SCMP_CMP_NE"}]})
    for p in _PERSONALITIES:
        syscalls.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": p, "op": "SCMP_CMP_EQ"}]})
    for arches, names in _BY_ARCH:
        syscalls.append({"names": names.split(), "action": "SCMP_ACT_ALLOW",
                         "includes": {"arches": list(arches)}})
    caps = list(_BY_CAP.items())
    # the CAP_SYS_ADMIN-less clone rules sit right after the CAP_SYS_ADMIN group
    for cap, names in caps[:2]:
        syscalls.append({"names": names.split(), "action": "SCMP_ACT_ALLOW",
                         "includes": {"caps": [cap]}})
    syscalls.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": CLONE_NS_MASK, "op": "SCMP_CMP_MASKED_EQ"}],
                     "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}})
    syscalls.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 1, "value": CLONE_NS_MASK, "op": "SCMP_CMP_MASKED_EQ"}],
                     "comment": "s390 parameter ordering for clone is different",
                     "includes": {"arches": ["s390", "s390x"]},
                     "excludes": {"caps": ["CAP_SYS_ADMIN"]}})
    # clone3 cannot be filtered on its flags (a pointer): ENOSYS makes libc fall back to clone
    syscalls.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                     "excludes": {"caps": ["CAP_SYS_ADMIN"]}})
    for cap, names in caps[2:]:
        syscalls.append({"names": names.split(), "action": "SCMP_ACT_ALLOW",
                         "includes": {"caps": [cap]}})
    arch_map = []
    for main, subs in ARCH_MAP.items():
        arch_map.append({"architecture": subs[0], "subArchitectures": subs[1:] or None})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "archMap": arch_map,
            "syscalls": syscalls}


def _kernel_at_least(version: str, kernel: str) -> bool:
    def parts(v):
        out = []
        for x in v.split("-")[0].split(".")[:3]:
            digits = "".join(ch for ch in x if ch.isdigit())
            out.append(int(digits or 0))
        return out + [0] * (3 - len(out))
    return parts(kernel) >= parts(version)


def to_oci(profile: dict, capabilities, arch: str | None = None,
           kernel: str | None = None) -> dict:
    """A Docker-schema profile -> the OCI ``linux.seccomp`` object for a
    container holding ``capabilities`` (names "CAP_X") on ``arch`` (Go
    GOARCH, default this host's) and ``kernel`` (release, default this
    host's), as dockerd's setupSeccomp: entries whose ``includes`` do not
    match (or whose ``excludes`` do) are dropped, ``archMap`` becomes the
    ``architectures`` of the host's main arch. A profile already in OCI form
    (``architectures`` and no includes/excludes) passes through. Raises
    InvalidArgument for a malformed profile."""
    from skiff.errors import InvalidArgument
    if not isinstance(profile, dict) or not isinstance(profile.get("syscalls", []), list):
        raise InvalidArgument("invalid seccomp profile: expected an object with syscalls")
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument("invalid seccomp profile: 'architectures' and 'archMap' "
                              "are mutually exclusive")
    arch = arch or goarch()
    if kernel is None:
        import os
        kernel = os.uname().release
    caps = set(capabilities or ())
    out: dict = {"defaultAction": profile.get("defaultAction") or "SCMP_ACT_ERRNO"}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = int(profile["defaultErrnoRet"])
    if profile.get("architectures"):
        out["architectures"] = list(profile["architectures"])
    else:
        main = ARCH_MAP.get(arch, [])
        for a in profile.get("archMap") or ():
            if main and a.get("architecture") == main[0]:
                out["architectures"] = [a["architecture"]] + list(a.get("subArchitectures") or ())
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]
    rules = []
    for s in profile.get("syscalls") or ():
        inc = s.get("includes") or {}
        exc = s.get("excludes") or {}
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"], kernel):
            continue
        if exc.get("arches") and arch in exc["arches"]:
            continue
        if exc.get("caps") and set(exc["caps"]) & caps:
            continue
        names = list(s.get("names") or ())
        if s.get("name"):
            names.append(s["name"])
        rule = {"names": names, "action": s.get("action") or "SCMP_ACT_ALLOW"}
        if s.get("errnoRet") is not None:
            rule["errnoRet"] = int(s["errnoRet"])
        if s.get("args"):
            rule["args"] = [dict(a) for a in s["args"]]
        rules.append(rule)
    out["syscalls"] = rules
    return out


def default_seccomp(capabilities, arch: str | None = None, kernel: str | None = None) -> dict:
    """The OCI ``linux.seccomp`` Docker gives a non-privileged container with
    ``capabilities`` (its bounding set) on this host."""
    return to_oci(docker_profile(), capabilities, arch, kernel)
