"""Image references: Docker's distribution/reference grammar and normalisation,
including every line of /work/shared/cases/019-image-reference-parsing."""

from __future__ import annotations

import pytest

from skiff.errors import InvalidArgument, InvalidReference
from skiff.images import reference as r

Z64 = "0" * 64
HEX = "a3" * 32
R = "case019-123"


# --- case 019, line by line ------------------------------------------------------

def test_019_port_belongs_to_host_and_default_tag_latest():
    ref = r.parse(f"localhost:5000/{R}/a/b")
    assert ref.domain == "localhost:5000"
    assert ref.path == f"{R}/a/b"
    assert ref.tag == "latest"
    assert ref.familiar() == f"localhost:5000/{R}/a/b:latest"
    assert ref.familiar_name() == f"localhost:5000/{R}/a/b"
    assert str(ref) == f"localhost:5000/{R}/a/b:latest"


def test_019_uppercase_allowed_in_host():
    ref = r.parse(f"Localhost:5000/{R}/x:v1")
    assert ref.domain == "Localhost:5000"
    assert ref.tag == "v1"
    assert ref.familiar() == f"Localhost:5000/{R}/x:v1"


@pytest.mark.parametrize("s,path,tag", [
    (f"{R}/a__b:ok", f"{R}/a__b", "ok"),
    (f"{R}/a.b-c:1.0_RC-2", f"{R}/a.b-c", "1.0_RC-2"),
])
def test_019_separators_in_path_and_tag(s, path, tag):
    ref = r.parse(s)
    assert (ref.domain, ref.path, ref.tag) == ("docker.io", path, tag)
    assert ref.familiar() == s


@pytest.mark.parametrize("s", [f"registry.example.org/{R}/MyApp", f"{R}/UPPER"])
def test_019_uppercase_in_path_rejected_saying_lowercase(s):
    with pytest.raises(InvalidReference) as ei:
        r.parse_normalized_named(s)
    msg = str(ei.value)
    assert msg.startswith("invalid reference format: repository name (")
    assert "must be lowercase" in msg
    assert ei.value.status == 400


def test_019_uppercase_message_names_the_repository():
    with pytest.raises(InvalidReference, match=rf"^invalid reference format: repository name \({R}/UPPER\) "
                                               r"must be lowercase$"):
        r.parse(f"{R}/UPPER")


@pytest.mark.parametrize("s", [
    f"{R}//double",                  # empty component
    f"{R}/a___b",                    # three underscores
    f"{R}/t:-bad",                   # tag starting with '-'
    f"{R}/t:" + "a" * 129,           # tag longer than 128
])
def test_019_rejected_as_invalid_reference_format(s):
    with pytest.raises(InvalidReference, match="^invalid reference format$"):
        r.parse(s)


def test_019_tag_of_128_is_fine():
    assert r.parse(f"{R}/t:" + "a" * 128).tag == "a" * 128


def test_019_tag_plus_digest_parses_and_digest_wins():
    ref = r.parse(f"busybox:1.0@sha256:{Z64}")
    assert ref.tag == "1.0"
    assert ref.digest == f"sha256:{Z64}"
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar() == f"busybox:1.0@sha256:{Z64}"
    # the tag is not glued into the repository name (moby#13083)
    assert ":" not in ref.path


def test_019_tag_with_digest_target_parses_so_tag_must_refuse_it():
    # the parser accepts it; ImageService.tag is what refuses (tested there)
    ref = r.parse_normalized_named(f"{R}/x:tag@sha256:{Z64}")
    assert ref.digest and ref.tag == "tag"


def test_019_docker_io_normalisation():
    a = r.parse("busybox")
    b = r.parse("docker.io/library/busybox:latest")
    c = r.parse("index.docker.io/library/busybox")
    d = r.parse("docker.io/busybox")
    assert a == b == c == d
    assert str(a) == "docker.io/library/busybox:latest"
    assert a.familiar() == "busybox:latest"


# --- more of the grammar --------------------------------------------------------------

@pytest.mark.parametrize("s,domain,path,tag,digest", [
    ("busybox", "docker.io", "library/busybox", "latest", ""),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", ""),
    ("user/app", "docker.io", "user/app", "latest", ""),
    ("user/app/sub", "docker.io", "user/app/sub", "latest", ""),
    ("localhost/app", "localhost", "app", "latest", ""),
    ("localhost:5000/app:1", "localhost:5000", "app", "1", ""),
    ("127.0.0.1:5000/library/busybox", "127.0.0.1:5000", "library/busybox", "latest", ""),
    ("[::1]:5000/foo:bar", "[::1]:5000", "foo", "bar", ""),
    ("example.com/a-b/c--d", "example.com", "a-b/c--d", "latest", ""),
    ("ghcr.io/o/r:v1.2.3", "ghcr.io", "o/r", "v1.2.3", ""),
    (f"busybox@sha256:{HEX}", "docker.io", "library/busybox", "", f"sha256:{HEX}"),
    (f"host:5000/a@sha256:{HEX}", "host:5000", "a", "", f"sha256:{HEX}"),
    ("Foo/bar", "Foo", "bar", "latest", ""),  # upper-case first component is a host
    ("a:TAG_Up", "docker.io", "library/a", "TAG_Up", ""),
    ("a:_x", "docker.io", "library/a", "_x", ""),
])
def test_parse_valid(s, domain, path, tag, digest):
    ref = r.parse(s)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)


@pytest.mark.parametrize("s", [
    "", ":", "/busybox", "busybox/", "busybox:", "busybox@", "a/-b", "a/b-", "a/.b", "a/b.",
    "a/b..c", "a__", "a b", "a/b:t@", "a:.tag", "ÄÖÜ", "a/b:tag:tag2", "a@sha256", "http://a/b",
    "-host/x",
])
def test_parse_invalid(s):
    with pytest.raises(InvalidArgument):
        r.parse(s)


@pytest.mark.parametrize("s,msg", [
    (f"busybox@sha256:{'A' * 64}", "invalid checksum digest format"),
    (f"busybox@sha256:{'0' * 63}", "invalid checksum digest length"),
    (f"busybox@sha256:{'0' * 65}", "invalid checksum digest length"),
    (f"busybox@md5:{'0' * 32}", "unsupported digest algorithm"),
])
def test_bad_digests(s, msg):
    with pytest.raises(InvalidReference, match=msg):
        r.parse(s)


def test_sha512_digest_accepted():
    ref = r.parse("a@sha512:" + "f" * 128)
    assert ref.digest.startswith("sha512:")


def test_64_hex_is_not_a_name():
    with pytest.raises(InvalidReference, match="cannot specify 64-byte hexadecimal strings"):
        r.parse_normalized_named(HEX)


def test_name_too_long():
    with pytest.raises(InvalidReference, match="must not be more than 255 characters"):
        r.parse("a/" + "b" * 260)


def test_parse_normalized_named_adds_no_tag_and_with_default_tag():
    ref = r.parse_normalized_named("busybox")
    assert ref.tag == "" and ref.is_name_only()
    assert r.with_default_tag(ref).tag == "latest"
    dref = r.parse_normalized_named(f"busybox@sha256:{HEX}")
    assert r.with_default_tag(dref) == dref  # digest: no tag added


def test_parse_docker_does_not_normalise():
    ref = r.parse_docker("busybox")
    assert ref.domain == "" and ref.path == "busybox"
    with pytest.raises(InvalidReference, match="repository name must be lowercase"):
        r.parse_docker("Busybox")


def test_familiar_forms():
    assert r.parse("docker.io/library/a/b").familiar() == "library/a/b:latest"
    assert r.parse("docker.io/user/x:1").familiar() == "user/x:1"
    assert r.parse(f"busybox@sha256:{HEX}").familiar() == f"busybox@sha256:{HEX}"
    assert r.familiar("docker.io/library/busybox:latest") == "busybox:latest"


def test_with_tag_and_digest():
    ref = r.parse("busybox:1")
    assert ref.with_tag("2").tag == "2"
    with pytest.raises(InvalidReference, match="invalid tag format"):
        ref.with_tag("-x")
    assert ref.with_digest(f"sha256:{HEX}").tag == ""
    with pytest.raises(InvalidReference):
        ref.with_digest("sha256:zz")


def test_reference_is_frozen_and_hashable():
    ref = r.parse("busybox")
    with pytest.raises(Exception):
        ref.tag = "x"  # type: ignore[misc]
    assert {ref, r.parse("docker.io/library/busybox:latest")} == {ref}


def test_ids():
    assert r.is_full_id(HEX)
    assert r.is_full_id("sha256:" + HEX)
    assert not r.is_full_id(HEX[:12])
    assert not r.is_full_id(HEX.upper())
    assert r.is_short_id(HEX[:12]) and r.is_short_id("sha256:" + HEX[:5])
    assert not r.is_short_id("busybox")
    assert r.short_id("sha256:" + HEX) == HEX[:12]
    assert r.short_id(HEX) == HEX[:12]


@pytest.mark.parametrize("pattern,name,ok", [
    ("busybox", "busybox:latest", True),
    ("busybox:*", "busybox:latest", True),
    ("bus*", "busybox:latest", True),
    ("*", "user/app:1", False),          # '*' does not cross '/'
    ("*/*", "user/app:1", True),
    ("localhost:5000/case/a/b", "localhost:5000/case/a/b:latest", True),
    ("busybox:1.?", "busybox:1.2", True),
    ("busybox:[0-9]", "busybox:7", True),
    ("busybox:[^0-9]", "busybox:7", False),
    ("other", "busybox:latest", False),
])
def test_familiar_match(pattern, name, ok):
    assert r.familiar_match(pattern, r.parse(name)) is ok
