"""Image references, exactly as Docker's distribution/reference grammar.

Grammar (github.com/distribution/reference, regexp.go)::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name
    domain           := host [':' port-number]
    host             := domain-name | IPv4address | \\[ IPv6address \\]
    domain-name      := domain-component ['.' domain-component]*
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    remote-name      := path-component ['/' path-component]*
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex   (sha256: 64 lower-case hex)

Normalisation follows normalize.go: ``busybox`` -> ``docker.io/library/busybox``,
``index.docker.io`` -> ``docker.io``; the first path component is a domain
when it contains ``.`` or ``:``, is ``localhost`` or has upper case.

Errors are :class:`skiff.errors.InvalidReference` with Docker's messages
("invalid reference format", "invalid reference format: repository name (X)
must be lowercase", ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_W = r"[A-Za-z0-9_]"  # Go's \w is ASCII only
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEP + _ALNUM + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = r"(?:" + _DOMAIN_NAME + r"|" + _IPV6 + r")"
_DOMAIN = _HOST + r"(?::[0-9]+)?"
_TAG = _W + r"[A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = r"(?:" + _DOMAIN + r"/)?" + _REMOTE_NAME

REFERENCE_RE = re.compile(r"^(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?$")
NAME_RE = re.compile(r"^(?:(" + _DOMAIN + r")/)?(" + _REMOTE_NAME + r")$")
TAG_RE = re.compile(r"^" + _TAG + r"$")
DOMAIN_RE = re.compile(r"^" + _DOMAIN + r"$")
IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
SHORT_ID_RE = re.compile(r"^[a-f0-9]{1,64}$")

_DIGEST_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}

ERR_FORMAT = "invalid reference format"


def validate_digest(digest: str) -> str:
    """Check ``algorithm:hex`` as go-digest's Validate; returns it unchanged.
    Raises InvalidReference ("invalid checksum digest format", "unsupported
    digest algorithm", "invalid checksum digest length")."""
    alg, sep, hexpart = digest.partition(":")
    if not sep or not alg or not hexpart:
        raise InvalidReference("invalid checksum digest format", digest=digest)
    if alg not in _DIGEST_HEX_LEN:
        if re.fullmatch(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*", alg) and re.fullmatch(r"[a-zA-Z0-9=_-]+", hexpart):
            raise InvalidReference("unsupported digest algorithm", digest=digest)
        raise InvalidReference("invalid checksum digest format", digest=digest)
    if not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise InvalidReference("invalid checksum digest format", digest=digest)
    if len(hexpart) != _DIGEST_HEX_LEN[alg]:
        raise InvalidReference("invalid checksum digest length", digest=digest)
    return digest


@dataclass(frozen=True)
class Reference:
    """A parsed reference. ``domain`` ("docker.io", "localhost:5000", may be ""
    for a non-normalised name), ``path`` ("library/busybox"), ``tag`` ("" if
    none), ``digest`` ("sha256:<hex>" or ""). ``str()`` is the full form
    ("docker.io/library/busybox:latest"); when both are set the digest is what
    identifies the content."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """"domain/path" (the repository name)."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def repository(self) -> str:
        """Alias of :attr:`name`."""
        return self.name

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def familiar_name(self) -> str:
        """Docker's short name: "busybox", "user/app", "localhost:5000/a/b"."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX):]:
                path = path[len(OFFICIAL_REPO_PREFIX):]
            return path
        return self.name

    def familiar(self) -> str:
        """Docker's FamiliarString: "busybox:latest", "localhost:5000/a/b:latest",
        "busybox@sha256:..."."""
        s = self.familiar_name()
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def is_name_only(self) -> bool:
        return not self.tag and not self.digest

    def with_tag(self, tag: str) -> "Reference":
        """This name with ``tag`` (digest dropped). InvalidReference "invalid tag format"."""
        if not TAG_RE.match(tag):
            raise InvalidReference("invalid tag format", tag=tag)
        return Reference(self.domain, self.path, tag, "")

    def with_digest(self, digest: str) -> "Reference":
        """This name with ``digest`` (tag dropped)."""
        validate_digest(digest)
        return Reference(self.domain, self.path, "", digest)

    def trim(self) -> "Reference":
        """The name alone."""
        return Reference(self.domain, self.path)

    def tagged_form(self) -> str:
        """Full "name:tag" (latest if absent), ignoring the digest."""
        return f"{self.name}:{self.tag or DEFAULT_TAG}"


def parse_docker(s: str) -> Reference:
    """distribution/reference ``Parse``: the grammar only, no normalisation
    (domain is "" when the name has none). Raises InvalidReference."""
    m = REFERENCE_RE.match(s)
    if m is None:
        if s == "":
            raise InvalidReference("repository name must have at least one component", ref=s)
        if REFERENCE_RE.match(s.lower()):
            raise InvalidReference("repository name must be lowercase", ref=s)
        raise InvalidReference(ERR_FORMAT, ref=s)
    name, tag, digest = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters",
                               ref=s)
    nm = NAME_RE.match(name)
    assert nm is not None
    domain, path = nm.group(1) or "", nm.group(2)
    if digest:
        validate_digest(digest)
    return Reference(domain, path, tag, digest)


def split_docker_domain(name: str) -> tuple[str, str]:
    """normalize.go splitDockerDomain: (domain, remainder)."""
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i == -1 or ("." not in first and ":" not in first and first != "localhost"
                   and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1:]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_normalized_named(s: str) -> Reference:
    """Docker's ``ParseNormalizedNamed``: "busybox" -> docker.io/library/busybox
    (no default tag added). Raises InvalidReference: "invalid reference format",
    "invalid reference format: repository name (X) must be lowercase",
    "invalid repository name (X), cannot specify 64-byte hexadecimal strings"."""
    if IDENTIFIER_RE.match(s):
        raise InvalidReference(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings", ref=s)
    domain, remainder = split_docker_domain(s)
    tag_sep = remainder.find(":")
    remote = remainder[:tag_sep] if tag_sep > -1 else remainder
    if remote.lower() != remote:
        raise InvalidReference(
            f"{ERR_FORMAT}: repository name ({remote}) must be lowercase", ref=s)
    ref = parse_docker(domain + "/" + remainder)
    return ref


def with_default_tag(ref: Reference) -> Reference:
    """Docker's ``TagNameOnly``: add tag "latest" when there is neither tag nor digest."""
    if ref.is_name_only():
        return Reference(ref.domain, ref.path, DEFAULT_TAG, "")
    return ref


def parse(s: str) -> Reference:
    """Parse and normalise a user's reference, adding "latest" when it has no tag
    and no digest: "busybox" -> docker.io/library/busybox:latest. Raises InvalidReference."""
    return with_default_tag(parse_normalized_named(s))


def is_full_id(s: str) -> bool:
    """True for a full image/container id: 64 lower-case hex, optionally "sha256:"-prefixed."""
    if s.startswith("sha256:"):
        s = s[7:]
    return bool(IDENTIFIER_RE.match(s))


def is_short_id(s: str) -> bool:
    """True when ``s`` could be a (possibly truncated) id: 1-64 lower-case hex,
    optionally "sha256:"-prefixed."""
    if s.startswith("sha256:"):
        s = s[7:]
    return bool(SHORT_ID_RE.match(s))


def short_id(id_: str) -> str:
    """The 12-hex short form of an id ("sha256:" stripped), as Docker's TruncateID."""
    if ":" in id_:
        id_ = id_.split(":", 1)[1]
    return id_[:12]


def familiar(s: str) -> str:
    """The familiar string of a stored full reference ("docker.io/library/busybox:latest"
    -> "busybox:latest")."""
    return parse_normalized_named(s).familiar()


# --- Go path.Match, for the "reference" filter of GET /images/json -----------

def _path_match_re(pattern: str) -> re.Pattern:
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = i + 1
            neg = False
            if j < n and pattern[j] == "^":
                neg = True
                j += 1
            cls = []
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\" and j + 1 < n:
                    j += 1
                ch = pattern[j]
                cls.append("\\" + ch if ch in "\\]^-" else ch)
                if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    cls.append("-")
                    j += 2
                    ch = pattern[j]
                    cls.append("\\" + ch if ch in "\\]^-" else ch)
                j += 1
            if j >= n:
                raise InvalidReference("syntax error in pattern", pattern=pattern)
            out.append("[" + ("^" if neg else "") + "".join(cls) + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.S)


def path_match(pattern: str, name: str) -> bool:
    """Go's path.Match (``*`` and ``?`` do not cross ``/``)."""
    return bool(_path_match_re(pattern).match(name))


def familiar_match(pattern: str, ref: Reference) -> bool:
    """reference.FamiliarMatch: ``pattern`` against the familiar string, then the
    familiar name."""
    return path_match(pattern, ref.familiar()) or path_match(pattern, ref.familiar_name())
