"""``skiff pull [-q] [--platform P] NAME[:TAG|@DIGEST]``: POST /images/create
with per-layer progress as Docker's; prints the full reference last."""

from __future__ import annotations

from skiff.cli.base import PROG, StatusError, error_text
from skiff.cli.flags import Flag, FlagSet
from skiff.cli import reference
from skiff.errors import SkiffError


def main(cli, argv):
    fs = FlagSet("[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", [
        Flag("all-tags", "a", "bool", help="Download all tagged images in the repository"),
        Flag("disable-content-trust", None, "bool", default=True, help="Skip image verification", hidden=True),
        Flag("platform", None, "string", help="Set platform if server is multi-platform capable"),
        Flag("quiet", "q", "bool", help="Suppress verbose output"),
    ], args=(1, 1), aliases=[f"{PROG} image pull", f"{PROG} pull"])
    opts, (ref,) = cli.parse(fs, argv)
    name, tag, digest = reference.split(ref)
    if opts.all_tags:
        if tag or digest:
            raise StatusError("tag can't be used with --all-tags/-a", 1)
    elif not tag and not digest:
        if not opts.quiet:
            cli.out.write("Using default tag: latest\n")
        ref = f"{ref}:latest"
    from skiff.cli.pulling import pull_image
    try:
        pull_image(cli, ref, platform=opts.platform or None, quiet=opts.quiet)
    except SkiffError as e:
        raise StatusError(error_text(e), 1) from None
    cli.out.write(reference.full_string(ref) + "\n")
    return 0
