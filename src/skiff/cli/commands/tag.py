"""``skiff tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]``: POST /images/{name}/tag."""

from __future__ import annotations

from skiff.cli.base import PROG
from skiff.cli.flags import FlagSet
from skiff.cli.multi import quote
from skiff.cli import reference


def main(cli, argv):
    fs = FlagSet("SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                 "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", [], args=(2, 2),
                 aliases=[f"{PROG} image tag", f"{PROG} tag"])
    _, (src, dst) = cli.parse(fs, argv)
    name, tag, digest = reference.split(dst)
    if digest:
        from skiff.cli.base import StatusError
        raise StatusError("Error response from daemon: refusing to create a tag with a digest reference", 1)
    cli.client.request("POST", f"/images/{quote(src)}/tag", {"repo": name, "tag": tag or "latest"})
    return 0
