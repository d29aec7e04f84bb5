"""``skiff create``: POST /containers/create (pulling a missing image) and
print the new container's full id (docker/cli container/create.go)."""

from __future__ import annotations

from skiff.cli.base import StatusError, PROG
from skiff.cli.containeropts import FLAGS, USAGE, build
from skiff.cli.flags import FlagSet, FlagError
from skiff.errors import SkiffError

def main(cli, argv: list[str]) -> int:
    flags = [f for f in FLAGS if f.name not in ("detach", "sig-proxy", "detach-keys")]
    fs = FlagSet(USAGE, "Create a new container", flags, interspersed=False, args=(1, None),
                 aliases=[f"{PROG} container create", f"{PROG} create"])
    opts, args = cli.parse(fs, argv)
    opts.setdefault("detach", False)
    opts.setdefault("sig_proxy", True)
    from skiff.cli.pulling import create_container, validate_pull
    try:
        validate_pull(opts.pull)
        image, body, params = build(opts, args, for_run=False)
    except FlagError as e:
        raise StatusError(f"{e}\n\nUsage:  {cli.prog} {USAGE}\n\n"
                          f"Run '{cli.prog} --help' for more information", 125) from None
    except ValueError as e:
        raise cli.run_error(e) from None
    try:
        resp = create_container(cli, image, body, params, pull=opts.pull, quiet=opts.quiet)
    except SkiffError as e:
        raise cli.run_error(e) from None
    if opts.cidfile:
        with open(opts.cidfile, "x") as f:
            f.write(resp["Id"])
    cli.out.write(resp["Id"] + "\n")
    return 0
