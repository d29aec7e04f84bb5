"""``skiff images`` / ``image ls``: GET /images/json as Docker's table
("REPOSITORY   TAG   IMAGE ID   CREATED   SIZE") or --format
(docker/cli cli/command/formatter/image.go)."""

from __future__ import annotations

import time

from skiff.cli.base import PROG, StatusError
from skiff.cli.flags import Flag, FlagSet
from skiff.cli import reference

DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"

HEADER = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
    "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
}


def _dangling(img: dict) -> bool:
    tags = img.get("RepoTags") or []
    digests = img.get("RepoDigests") or []
    return (not tags or tags == ["<none>:<none>"]) and (not digests or digests == ["<none>@<none>"])


def expand(img: dict, show_digests: bool) -> list[tuple[str, str, str]]:
    """One (repository, tag, digest) per row, as Docker's imageFormat."""
    if _dangling(img):
        return [("<none>", "<none>", "<none>")]
    repo_tags: dict[str, list[str]] = {}
    repo_digests: dict[str, list[str]] = {}
    for ref in img.get("RepoTags") or []:
        if ref == "<none>:<none>":
            continue
        name, tag, _ = reference.split(ref)
        if tag:
            repo_tags.setdefault(reference.familiar_name(name), []).append(tag)
    for ref in img.get("RepoDigests") or []:
        if ref == "<none>@<none>":
            continue
        name, _, digest = reference.split(ref)
        if digest:
            repo_digests.setdefault(reference.familiar_name(name), []).append(digest)
    rows = []
    for repo in sorted(repo_tags):
        digests = repo_digests.pop(repo, [])
        if not show_digests:
            digests = []
        for tag in repo_tags[repo]:
            if not digests:
                rows.append((repo, tag, "<none>"))
            for d in digests:
                rows.append((repo, tag, d))
    for repo in sorted(repo_digests):
        if show_digests:
            for d in repo_digests[repo]:
                rows.append((repo, "<none>", d))
        else:
            rows.append((repo, "<none>", "<none>"))
    return rows


def row(img: dict, repo: str, tag: str, digest: str, trunc: bool, now: float) -> dict:
    from skiff.cli.output import truncate_id, since
    from skiff.cli.units import human_size
    created = img.get("Created") or 0
    containers = img.get("Containers", -1)
    shared = img.get("SharedSize", -1)
    size = img.get("Size", 0) or 0
    return {
        "ID": truncate_id(img.get("Id", "")) if trunc else img.get("Id", ""),
        "Repository": repo, "Tag": tag, "Digest": digest,
        "CreatedSince": since(created, now),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
        "Size": human_size(size),
        "VirtualSize": human_size(img.get("VirtualSize", size) or size, 4),
        "SharedSize": "N/A" if shared in (None, -1) else human_size(shared),
        "UniqueSize": "N/A" if shared in (None, -1) else human_size(size - shared),
        "Containers": "N/A" if containers in (None, -1) else str(containers),
    }


def main(cli, argv):
    fs = FlagSet("[OPTIONS] [REPOSITORY[:TAG]]", "List images", [
        Flag("all", "a", "bool", help="Show all images (default hides intermediate images)"),
        Flag("digests", None, "bool", help="Show digests"),
        Flag("filter", "f", "list", help="Filter output based on conditions provided", type_name="filter"),
        Flag("format", None, "string", help="Format output using a custom template"),
        Flag("no-trunc", None, "bool", help="Don't truncate output"),
        Flag("quiet", "q", "bool", help="Only show image IDs"),
    ], args=(0, 1), aliases=[f"{PROG} image ls", f"{PROG} image list", f"{PROG} images"])
    opts, args = cli.parse(fs, argv)
    from skiff.client import encode_filters
    filters: dict[str, list[str]] = {}
    for f in opts.filter:
        k, eq, v = f.partition("=")
        if not eq:
            raise StatusError(f'invalid argument "{f}" for "-f, --filter" flag: bad format of filter (expected name=value)', 125)
        filters.setdefault(k.strip().lower(), []).append(v)
    if args:
        filters.setdefault("reference", []).append(args[0])
    params = {"all": opts.all, "filters": encode_filters(filters)}
    images = cli.client.get_json("/images/json", params) or []
    fmt = opts.format or ""
    if fmt.strip() == "table":
        fmt = (DIGESTS if opts.digests else DEFAULT)
    if opts.quiet:
        fmt = "{{.ID}}"
    elif not fmt:
        fmt = DIGESTS if opts.digests else DEFAULT
    show_digests = opts.digests or ".Digest" in fmt
    now = time.time()
    rows = []
    for img in images:
        for repo, tag, digest in expand(img, show_digests):
            rows.append(row(img, repo, tag, digest, not opts.no_trunc, now))
    from skiff.cli.output import format_rows
    from skiff.cli.template import TemplateError
    try:
        cli.out.write(format_rows(fmt, rows, HEADER))
    except TemplateError as e:
        raise StatusError(f"template parsing error: {e}", 1) from None
    return 0
