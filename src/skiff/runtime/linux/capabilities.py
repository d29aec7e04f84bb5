"""Linux capabilities of the container process (OCI runtime-spec
config.md#linux-process: process.capabilities with the bounding, effective,
inheritable, permitted and ambient sets).

Capabilities that this kernel does not know (above cap_last_cap) or that are
not in the host's bounding set (this VM lacks CAP_SYS_RESOURCE) are skipped
with a debug log line instead of failing, as runc does for unknown ones.
"""

from __future__ import annotations


from skiff.runtime.linux import syscalls as sc

from skiff.runtime.linux._log import log  # noqa: E402

#: capability name (without CAP_) -> number, linux/capability.h
CAPS: dict[str, int] = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
    "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9,
    "NET_BIND_SERVICE": 10, "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13,
    "IPC_LOCK": 14, "IPC_OWNER": 15, "SYS_MODULE": 16, "SYS_RAWIO": 17,
    "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20, "SYS_ADMIN": 21,
    "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29,
    "AUDIT_CONTROL": 30, "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33,
    "SYSLOG": 34, "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "AUDIT_READ": 37,
    "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

# Docker's default set (moby oci/caps/defaults.go) lives in skiff.runtime.spec
# (DEFAULT_CAPABILITIES); not imported here: the runtime's start-up path
# would pay for typing.


def last_cap() -> int:
    """The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(CAPS.values())


def cap_number(name: str) -> int | None:
    """"CAP_NET_RAW" (or "NET_RAW", any case) -> 13; None if unknown."""
    n = name.upper()
    if n.startswith("CAP_"):
        n = n[4:]
    return CAPS.get(n)


def host_bounding() -> int:
    """The bounding set of this process as a mask (PR_CAPBSET_READ per cap)."""
    mask = 0
    for n in range(last_cap() + 1):
        try:
            if sc.prctl(sc.PR_CAPBSET_READ, n):
                mask |= 1 << n
        except Exception:
            pass
    return mask


def to_mask(names: list[str] | None, allowed: int, skipped: list[str] | None = None) -> int:
    """Names -> bit mask, keeping only caps in ``allowed``; unknown or
    unavailable ones are skipped (appended to ``skipped``)."""
    mask = 0
    for name in names or ():
        n = cap_number(name)
        if n is None or not allowed & (1 << n):
            log.debug("unknown or unavailable capability %s skipped", name)
            if skipped is not None and name not in skipped:
                skipped.append(name)
            continue
        mask |= 1 << n
    return mask


def cap_name(n: int) -> str:
    """13 -> "CAP_NET_RAW"."""
    for name, num in CAPS.items():
        if num == n:
            return "CAP_" + name
    return f"CAP_{n}"


class CapSets:
    """The five sets of process.capabilities as masks, clipped to the host."""

    def __init__(self, spec_caps: dict | None):
        allowed = host_bounding()
        caps = spec_caps or {}
        #: names that were unknown or not in the host's bounding set (runc warns)
        self.unknown: list[str] = []
        u = self.unknown
        self.bounding = to_mask(caps.get("bounding"), allowed, u)
        self.effective = to_mask(caps.get("effective"), allowed, u)
        self.permitted = to_mask(caps.get("permitted"), allowed, u)
        self.inheritable = to_mask(caps.get("inheritable"), allowed, u)
        self.ambient = to_mask(caps.get("ambient"), allowed, u)
        self.host_bounding = allowed

    def apply_bounding(self) -> None:
        """Drop from the bounding set every cap not in process.capabilities.bounding
        (needs CAP_SETPCAP; done before changing user, as runc)."""
        for n in range(last_cap() + 1):
            bit = 1 << n
            if self.host_bounding & bit and not self.bounding & bit:
                sc.prctl(sc.PR_CAPBSET_DROP, n)

    def apply(self) -> list[str]:
        """capset(effective, permitted, inheritable) then raise the ambient set
        (after the user change; keep-caps must have been set across setuid).
        Returns warnings for ambient caps the kernel refused (not inheritable
        or not permitted), runc's "can't raise ambient capability CAP_X: ..."."""
        sc.capset(self.effective, self.permitted, self.inheritable)
        try:
            sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
        except Exception:
            pass
        warnings = []
        for n in range(last_cap() + 1):
            if self.ambient & (1 << n):
                try:
                    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, n)
                except Exception as e:  # noqa: BLE001
                    text = str(getattr(e, "message", e)).rpartition(": ")[2]
                    warnings.append(f"can't raise ambient capability {cap_name(n)}: {text}")
        return warnings
