"""cgroup v2 device access control: OCI ``linux.resources.devices`` compiled
into an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE and attached to the
container's cgroup directory (BPF_CGROUP_DEVICE), as runc's
libcontainer/cgroups/devices/devicefilter (kernel
Documentation/admin-guide/cgroup-v2.rst "Device controller").

Semantics are v1's device list: rules apply in order and a later rule wins,
so the program tests them last to first; a wildcard rule ("a", any major and
minor, "rwm") sets the default and ends the scan. No match: deny.

Standard library only (ctypes + the bpf(2) syscall). Raises SystemError_ when
the kernel refuses (the verifier's log is in the message), InvalidArgument for
malformed rules.
"""

from __future__ import annotations

import ctypes
import os
import struct

from skiff.errors import InvalidArgument, SystemError_

_BPF_NR = {"x86_64": 321, "aarch64": 280}
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6

_DEV_BLOCK, _DEV_CHAR = 1, 2
_ACC = {"m": 1, "r": 2, "w": 4}

# instruction opcodes used
_LDX_W = 0x61      # dst = *(u32 *)(src + off)
_AND32_K = 0x54    # dst &= imm (32 bit)
_RSH32_K = 0x74    # dst >>= imm (32 bit)
_MOV32_X = 0xBC    # dst = src (32 bit)
_MOV64_K = 0xB7    # dst = imm
_JNE_K = 0x55      # if dst != imm: pc += off
_EXIT = 0x95


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def _rule_fields(rule: dict) -> tuple[int | None, int | None, int | None, int]:
    t = rule.get("type") or "a"
    if t not in ("a", "b", "c"):
        raise InvalidArgument(f"invalid device rule type {t!r}")
    access = rule.get("access") or "rwm"
    mask = 0
    for ch in access:
        if ch not in _ACC:
            raise InvalidArgument(f"invalid device rule access {access!r}")
        mask |= _ACC[ch]
    major = rule.get("major")
    minor = rule.get("minor")
    major = None if major is None or major == -1 else int(major)
    minor = None if minor is None or minor == -1 else int(minor)
    dtype = None if t == "a" else (_DEV_BLOCK if t == "b" else _DEV_CHAR)
    return dtype, major, minor, mask


def compile_rules(rules: list[dict]) -> bytes:
    """OCI device rules -> eBPF instructions (bytes, 8 per instruction).

    Registers: r2 = device type, r3 = requested access, r4 = major, r5 = minor
    (from struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor})."""
    prog = [
        _insn(_LDX_W, 2, 1, 0), _insn(_AND32_K, 2, imm=0xFFFF),
        _insn(_LDX_W, 3, 1, 0), _insn(_RSH32_K, 3, imm=16),
        _insn(_LDX_W, 4, 1, 4),
        _insn(_LDX_W, 5, 1, 8),
    ]
    default = 0
    for rule in reversed(list(rules or ())):
        dtype, major, minor, mask = _rule_fields(rule)
        allow = 1 if rule.get("allow") else 0
        if dtype is None and major is None and minor is None and mask == 7:
            default = allow  # a wildcard: everything earlier is shadowed
            break
        checks = []
        if dtype is not None:
            checks.append([_insn(_JNE_K, 2, imm=dtype)])
        if mask != 7:
            # the request must be a subset of the rule's access: (r3 & ~mask) == 0
            checks.append([_insn(_MOV32_X, 1, 3), _insn(_AND32_K, 1, imm=~mask & 7),
                           _insn(_JNE_K, 1, imm=0)])
        if major is not None:
            checks.append([_insn(_JNE_K, 4, imm=major)])
        if minor is not None:
            checks.append([_insn(_JNE_K, 5, imm=minor)])
        block_len = sum(len(c) for c in checks) + 2  # + mov r0, exit
        body = []
        pos = 0
        for c in checks:
            for i, ins in enumerate(c):
                pos += 1
                if i == len(c) - 1:  # the jump: skip to the end of this rule's block
                    op, regs, _, imm = struct.unpack("<BBhi", ins)
                    ins = struct.pack("<BBhi", op, regs, block_len - pos, imm)
                body.append(ins)
        body += [_insn(_MOV64_K, 0, imm=allow), _insn(_EXIT)]
        prog += body
    prog += [_insn(_MOV64_K, 0, imm=default), _insn(_EXIT)]
    return b"".join(prog)


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    nr = _BPF_NR.get(os.uname().machine)
    if nr is None:
        raise SystemError_(f"bpf: unsupported architecture {os.uname().machine}")
    r = libc.syscall(nr, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise SystemError_(f"bpf: {os.strerror(e).lower()}", errno=e)
    return r


def load(rules: list[dict]) -> int:
    """Load the program for ``rules``; returns its fd (close it after attaching)."""
    code = compile_rules(rules)
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"Apache")
    logbuf = ctypes.create_string_buffer(65536)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                     ctypes.addressof(insns), ctypes.addressof(lic), 1, len(logbuf),
                     ctypes.addressof(logbuf))
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except SystemError_ as e:
        verifier = logbuf.value.decode(errors="replace").strip()
        raise SystemError_(f"load device cgroup program: {e.message}"
                           + (f": {verifier[-300:]}" if verifier else ""), errno=e.errno) from None


def apply(cgroup_dir: str, rules: list[dict]) -> None:
    """Compile, load and attach ``rules`` to the cgroup v2 directory (replacing
    a program attached before: no BPF_F_ALLOW_MULTI)."""
    prog = load(rules)
    try:
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = ctypes.create_string_buffer(128)
            struct.pack_into("<IIII", attr, 0, cg, prog, BPF_CGROUP_DEVICE, 0)
            _bpf(BPF_PROG_ATTACH, attr)
        finally:
            os.close(cg)
    finally:
        os.close(prog)
