"""Compile and load an OCI ``linux.seccomp`` object with libseccomp (through
ctypes; libseccomp2's ``libseccomp.so.2``), as runc's libcontainer/seccomp
(OCI runtime-spec config-linux.md#seccomp).

    f = compile_filter(spec["linux"]["seccomp"])   # before pivot_root: dlopen
    ...
    f.load()                                        # in the init, before execve

Supported: ``defaultAction`` / ``defaultErrnoRet``, ``architectures``,
``flags`` (SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, and
SECCOMP_FILTER_FLAG_TSYNC accepted and ignored, as runc; no ``flags`` at all
means SPEC_ALLOW, as runc), ``syscalls`` with ``names``, ``action``, ``errnoRet``
and ``args`` (``index``, ``value``, ``valueTwo``, ``op`` SCMP_CMP_NE/LT/LE/EQ/
GE/GT/MASKED_EQ). Unknown syscall names are skipped (runc does the same, so
one profile serves several kernels and architectures); a rule whose action is
the default action is skipped. ``SCMP_ACT_NOTIFY`` and ``listenerPath`` are
refused with InvalidArgument (no seccomp agent support).

Errors: InvalidArgument for a malformed object, SystemError_ when libseccomp
or the kernel refuse (carrying errno).
"""

from __future__ import annotations

import ctypes

from skiff.errors import InvalidArgument, SystemError_

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_ERRNO = 0x00050000
SCMP_ACT_TRACE = 0x7FF00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_NOTIFY = 0x7FC00000

#: errno runc uses for SCMP_ACT_ERRNO / SCMP_ACT_TRACE without errnoRet
DEFAULT_ERRNO = 1  # EPERM

OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

# enum scmp_filter_attr
_ATTR_ACT_DEFAULT = 1
_ATTR_ACT_BADARCH = 2
_ATTR_CTL_NNP = 3
_ATTR_CTL_TSYNC = 4
_ATTR_CTL_LOG = 6
_ATTR_CTL_SSB = 7
_ATTR_CTL_WAITKILL = 10

#: OCI flags -> libseccomp filter attribute set to 1 (runc's set: TSYNC is
#: accepted and ignored, the init is single-threaded)
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": None,
         "SECCOMP_FILTER_FLAG_LOG": _ATTR_CTL_LOG,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _ATTR_CTL_SSB}
#: the kernel's SECCOMP_FILTER_FLAG_* values (runc's debug line "seccomp filter flags: N")
FLAG_VALUES = {"SECCOMP_FILTER_FLAG_TSYNC": 0, "SECCOMP_FILTER_FLAG_LOG": 2,
               "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")

#: OCI architecture -> libseccomp's name for seccomp_arch_resolve_name
ARCHES = {
    "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32", "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390": "s390", "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_PARISC": "parisc", "SCMP_ARCH_PARISC64": "parisc64",
    "SCMP_ARCH_RISCV64": "riscv64",
}


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


_lib = None


def library() -> ctypes.CDLL:
    """libseccomp.so.2, loaded once. Raises SystemError_ when missing."""
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError as e:
            raise SystemError_(f"seccomp: cannot load libseccomp.so.2: {e}") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.restype = None
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
        _lib = lib
    return _lib


def action(name: str, errno_ret: int | None, default_errno: int | None = None) -> int:
    """An OCI action name -> libseccomp's action value (ERRNO/TRACE carry
    ``errno_ret``, else ``default_errno``, else EPERM). Raises InvalidArgument."""
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return SCMP_ACT_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return SCMP_ACT_KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return SCMP_ACT_TRAP
    if name == "SCMP_ACT_ALLOW":
        return SCMP_ACT_ALLOW
    if name == "SCMP_ACT_LOG":
        return SCMP_ACT_LOG
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        e = errno_ret if errno_ret is not None else (
            default_errno if default_errno is not None else DEFAULT_ERRNO)
        base = SCMP_ACT_ERRNO if name == "SCMP_ACT_ERRNO" else SCMP_ACT_TRACE
        return base | (int(e) & 0xFFFF)
    if name == "SCMP_ACT_NOTIFY":
        raise InvalidArgument("seccomp: SCMP_ACT_NOTIFY is not supported by skiff-runtime "
                              "(no seccomp agent / listenerPath support)")
    raise InvalidArgument(f"seccomp: unknown action {name!r}")


def _check(rc: int, what: str) -> None:
    if rc < 0:
        import os
        raise SystemError_(f"seccomp: {what}: {os.strerror(-rc).lower()}", errno=-rc)


class Filter:
    """A compiled libseccomp context; :meth:`load` installs it on the calling
    thread (SECCOMP_SET_MODE_FILTER) and releases it."""

    def __init__(self, ctx: int, rules: int, flags: int = 0,
                 last: dict[int, dict[int, int]] | None = None):
        self.ctx = ctx
        #: number of rules added (syscall x arg-set), for tests and --debug
        self.rules = rules
        #: SECCOMP_FILTER_FLAG_* bits the filter is loaded with
        self.flags = flags
        #: {AUDIT_ARCH: {libseccomp arch: largest syscall number named}} for
        #: the -ENOSYS stub; None when the default action allows
        self.last = last

    def program(self) -> bytes:
        """The BPF program to load: libseccomp's, behind runc's -ENOSYS stub
        (a syscall numbered above every syscall the profile names, i.e. newer
        than the profile, gets ENOSYS instead of the default action, so
        programs fall back to older calls)."""
        import os
        lib = library()
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _check(lib.seccomp_export_bpf(self.ctx, fd), "export filter")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
        finally:
            os.close(fd)
        bpf = b"".join(chunks)
        return (enosys_stub(self.last) if self.last else b"") + bpf

    def load(self) -> None:
        """Install the filter (seccomp(2) with the SECCOMP_FILTER_FLAG_*
        bits). Without no_new_privs the caller needs CAP_SYS_ADMIN. Raises
        SystemError_."""
        import os
        try:
            prog = self.program()
            n = len(prog) // 8
            if n > 4096:
                raise SystemError_(f"seccomp: filter too large ({n} instructions)")
            buf = ctypes.create_string_buffer(prog, len(prog))

            class _Fprog(ctypes.Structure):
                _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

            fprog = _Fprog(n, ctypes.cast(buf, ctypes.c_void_p))
            nr = {"x86_64": 317, "aarch64": 277}.get(os.uname().machine)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            if nr is None:
                _check(library().seccomp_load(self.ctx), "load filter")
                return
            if libc.syscall(ctypes.c_long(nr), ctypes.c_uint(1), ctypes.c_uint(self.flags),
                            ctypes.byref(fprog)) != 0:
                err = ctypes.get_errno()
                raise SystemError_(f"seccomp: load filter: {os.strerror(err).lower()}", errno=err)
        finally:
            self.release()

    def release(self) -> None:
        if self.ctx:
            library().seccomp_release(self.ctx)
            self.ctx = 0


def compile_filter(config: dict) -> Filter:
    """The OCI ``linux.seccomp`` object -> a :class:`Filter` ready to load.
    Raises InvalidArgument (malformed, SCMP_ACT_NOTIFY, listenerPath),
    SystemError_ (libseccomp refused)."""
    if not isinstance(config, dict):
        raise InvalidArgument("seccomp: linux.seccomp must be an object")
    if config.get("listenerPath"):
        raise InvalidArgument("seccomp: listenerPath is not supported by skiff-runtime "
                              f"({config['listenerPath']!r}): no seccomp notify agents")
    default_errno = config.get("defaultErrnoRet")
    default = action(config.get("defaultAction") or "", default_errno)
    lib = library()
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SystemError_("seccomp: seccomp_init failed (invalid default action?)")
    nrules = 0
    try:
        # libseccomp must not set no_new_privs itself: process.noNewPrivileges decides
        _check(lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0), "clear the no_new_privs attribute")
        # a syscall of an architecture not in the filter is refused (runc: ERRNO EPERM)
        lib.seccomp_attr_set(ctx, _ATTR_ACT_BADARCH, SCMP_ACT_ERRNO | 1)
        flags = 0
        if config.get("flags") is None:
            # runc: no "flags" at all means SPEC_ALLOW where the kernel has it
            if lib.seccomp_attr_set(ctx, _ATTR_CTL_SSB, 1) == 0:
                flags |= FLAG_VALUES["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
        for flag in config.get("flags") or ():
            if flag not in FLAGS:
                raise InvalidArgument(f"seccomp flags {flag!r} not yet supported by runc")
            attr = FLAGS[flag]
            if attr is not None:
                _check(lib.seccomp_attr_set(ctx, attr, 1), f"flag {flag}")
            flags |= FLAG_VALUES[flag]
        for arch in config.get("architectures") or ():
            name = ARCHES.get(arch)
            if name is None:
                raise InvalidArgument(f"seccomp: unknown architecture {arch!r}")
            token = lib.seccomp_arch_resolve_name(name.encode())
            if not token:
                continue  # libseccomp too old to know it
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -17:  # EEXIST: the native arch is already there
                _check(rc, f"add architecture {arch}")
        for entry in config.get("syscalls") or ():
            if not isinstance(entry, dict):
                raise InvalidArgument("seccomp: syscalls entries must be objects")
            # runc: defaultErrnoRet is the default action's only; a rule's
            # SCMP_ACT_ERRNO without errnoRet is EPERM
            act = action(entry.get("action") or "", entry.get("errnoRet"))
            if act == default:
                continue  # same as the default: libseccomp refuses it, runc skips it
            conds = _conditions(entry.get("args") or ())
            for name in entry.get("names") or ():
                nr = lib.seccomp_syscall_resolve_name(str(name).encode())
                if nr == -1:  # __NR_SCMP_ERROR: unknown here, skip as runc
                    continue
                for group in conds:
                    arr = (_ArgCmp * len(group))(*group) if group else None
                    rc = lib.seccomp_rule_add_array(ctx, act, nr, len(group), arr)
                    _check(rc, f"add rule for {name}")
                    nrules += 1
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    last = None
    if not (default & 0xFFFF0000 in (SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_TRACE)
            or (default & 0xFFFF0000 == SCMP_ACT_ERRNO and default & 0xFFFF == 38)):
        last = _last_syscalls(lib, config)
    return Filter(ctx, nrules, flags, last)


_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000


def _last_syscalls(lib, config: dict) -> dict[int, dict[int, int]]:
    """{AUDIT_ARCH: {libseccomp arch token: largest syscall number the
    profile names for it}} (x32 shares x86_64's AUDIT_ARCH)."""
    tokens = []
    for arch in config.get("architectures") or ():
        token = lib.seccomp_arch_resolve_name(ARCHES[arch].encode())
        if token:
            tokens.append(token)
    if not tokens:
        tokens.append(lib.seccomp_arch_native())
    names = {str(n) for e in config.get("syscalls") or () if isinstance(e, dict)
             for n in e.get("names") or ()}
    out: dict[int, dict[int, int]] = {}
    for token in tokens:
        native = _AUDIT_ARCH_X86_64 if token == 0x4000003E else token  # x32
        largest = max((nr for nr in (lib.seccomp_syscall_resolve_name_arch(token, n.encode())
                                     for n in names) if nr >= 0), default=-1)
        if largest > 0:
            out.setdefault(native, {})[token] = largest
    return out


def enosys_stub(last: dict[int, dict[int, int]]) -> bytes:
    """cBPF prepended to the filter: per architecture, a syscall number above
    the largest one of the profile returns ERRNO(ENOSYS); everything else
    (and any other architecture) goes on to the filter. x86_64 and x32 are
    told apart by bit 30 of the number."""
    import struct
    LD_ABS, JEQ, JGT, JSET, JA, RET = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06
    enosys = SCMP_ACT_ERRNO | 38
    # symbolic program: (code, jt, jf, k); jt/jf/k may be labels (strings)
    prog: list = [(LD_ABS, 0, 0, 4)]
    archs = sorted(last)
    for a in archs:
        prog.append((JEQ, f"arch{a}", 0, a))
    prog.append((JA, 0, 0, "filter"))
    labels: dict[str, int] = {}
    for a in archs:
        labels[f"arch{a}"] = len(prog)
        prog.append((LD_ABS, 0, 0, 0))
        per = last[a]
        if a == _AUDIT_ARCH_X86_64:
            x64, x32 = per.get(_AUDIT_ARCH_X86_64), per.get(0x4000003E)
            prog.append((JSET, f"x32_{a}", 0, _X32_BIT))
            if x64 is not None:
                prog.append((JGT, "enosys", 0, x64))
            prog.append((JA, 0, 0, "filter"))
            labels[f"x32_{a}"] = len(prog)
            if x32 is not None:
                prog.append((JGT, "enosys", 0, x32))
            prog.append((JA, 0, 0, "filter"))
        else:
            prog.append((JGT, "enosys", 0, max(per.values())))
            prog.append((JA, 0, 0, "filter"))
    labels["enosys"] = len(prog)
    prog.append((RET, 0, 0, enosys))
    labels["filter"] = len(prog)
    out = b""
    for i, (code, jt, jf, k) in enumerate(prog):
        if isinstance(jt, str):
            jt = labels[jt] - i - 1
        if isinstance(jf, str):
            jf = labels[jf] - i - 1
        if isinstance(k, str):
            k = labels[k] - i - 1
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise SystemError_("seccomp: -ENOSYS stub jump out of range")
        out += struct.pack("=HBBI", code, jt, jf, k)
    return out


def _conditions(args) -> list[list[_ArgCmp]]:
    """OCI ``args`` -> rule condition groups. As runc: all conditions in one
    rule (AND) unless one argument index appears twice, then one rule per
    condition (libseccomp cannot AND two conditions on one argument)."""
    if not args:
        return [[]]
    conds = []
    seen: dict[int, int] = {}
    for a in args:
        try:
            idx = int(a["index"])
            op = OPS[a["op"]]
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument(f"seccomp: invalid syscall argument {a!r}") from None
        if not 0 <= idx < 6:
            raise InvalidArgument(f"seccomp: argument index {idx} out of range")
        seen[idx] = seen.get(idx, 0) + 1
        conds.append(_ArgCmp(idx, op, int(a.get("value") or 0) & (2**64 - 1),
                             int(a.get("valueTwo") or 0) & (2**64 - 1)))
    if any(n > 1 for n in seen.values()):
        return [[c] for c in conds]
    return [conds]


def available() -> bool:
    """libseccomp can be loaded and the kernel has seccomp filters."""
    try:
        library()
    except SystemError_:
        return False
    import os
    return os.path.exists("/proc/self/seccomp") or _status_has_seccomp()


def _status_has_seccomp() -> bool:
    try:
        with open("/proc/self/status") as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False
