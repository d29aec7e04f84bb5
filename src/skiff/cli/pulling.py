"""Pulling an image and creating a container with Docker's pull-if-missing
flow (docker/cli cli/command/container/create.go createContainer)."""

from __future__ import annotations

from skiff.errors import NotFound
from skiff.cli import reference


def pull_image(cli, ref: str, *, out=None, platform: str | None = None, quiet: bool = False) -> None:
    """POST /images/create?fromImage=NAME&tag=TAG, showing the progress on
    ``out`` (a text stream; nothing when quiet). Raises the daemon's error."""
    from skiff.cli.progress import display_stream
    from skiff.cli.tty import isatty, size
    name, tag, digest = reference.split(ref)
    params = {"fromImage": name, "tag": digest or tag or "latest"}
    if platform:
        params["platform"] = platform
    out = out if out is not None else cli.out
    from skiff.cli.auth import header_for
    stream = cli.client.stream_json("POST", "/images/create", params, headers=header_for(name))
    if quiet:
        from skiff.errors import SkiffError
        for jm in stream:
            if isinstance(jm, dict) and (jm.get("error") or jm.get("errorDetail")):
                raise SkiffError((jm.get("errorDetail") or {}).get("message") or jm.get("error"))
        return
    tty = isatty(out)
    display_stream(stream, out, tty, width=size(out.fileno())[1] if tty else 80)


def create_container(cli, image: str, body: dict, params: dict, *, pull: str = "missing",
                     quiet: bool = False) -> dict:
    """POST /containers/create; on "No such image" with pull=missing, print
    "Unable to find image 'REF' locally" to stderr, pull (progress to stderr)
    and create again. pull=always pulls first; never does not pull.
    Returns the response {"Id", "Warnings"}; prints the warnings to stderr."""
    err = cli.err
    platform = params.get("platform")
    if pull == "always":
        pull_image(cli, image, out=err, platform=platform, quiet=quiet)
    try:
        resp = cli.client.post_json("/containers/create", params, body)
    except NotFound as e:
        if pull != "missing" or "image" not in e.message.lower():
            raise
        err.write(f"Unable to find image '{reference.familiar_string(reference.with_default_tag(image))}' locally\n")
        err.flush()
        pull_image(cli, image, out=err, platform=platform, quiet=quiet)
        resp = cli.client.post_json("/containers/create", params, body)
    for w in (resp or {}).get("Warnings") or []:
        err.write(f"WARNING: {w}\n")
    return resp or {}


def validate_pull(value: str) -> str:
    if value not in ("missing", "always", "never"):
        raise ValueError(f'invalid pull option: \'{value}\': must be one of "always", "missing" or "never"')
    return value

