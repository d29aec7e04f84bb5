#!/bin/bash
# The demo: start skiffd if it is not running, make a busybox image from the
# host's busybox-static, and run a container from it.
#
#   scripts/demo.sh
#   scripts/demo.sh --tar FILE    only write the image's rootfs tar to FILE
#
# The image is a one-layer rootfs built here (/bin/busybox, a symlink per
# applet from `busybox --list`, /etc/passwd, /etc/group, /tmp), imported with
# `skiff import - busybox:demo` (Docker's `docker import`), so the demo needs
# no registry. If import is refused, it falls back to `skiff load` of the test
# fixture archive (busybox.docker.tar), tagged busybox:demo.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SKIFF=${SKIFF:-/usr/local/bin/skiff}
FIXTURES=${SKIFF_FIXTURES:-/var/cache/skiff-test-fixtures}
IMAGE=${DEMO_IMAGE:-busybox:demo}

log() { echo "demo: $*" >&2; }

tar_only=
if [ "${1:-}" = --tar ]; then
    tar_only=${2:?usage: demo.sh --tar FILE}
fi

busybox=$(command -v busybox || true)
for b in /bin/busybox /usr/bin/busybox "$busybox"; do
    [ -n "$b" ] && [ -x "$b" ] && { busybox=$b; break; }
done
[ -n "$busybox" ] || { log "no busybox: apt-get install busybox-static"; exit 1; }

tmp=$(mktemp -d /tmp/skifftest-demo.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

if [ -n "$tar_only" ]; then
    tar --sort=name --mtime=@1704067200 --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tar_only" .
    exit 0
fi

[ -x "$SKIFF" ] || "$REPO/scripts/install.sh"
"$REPO/scripts/skiffd.sh" start

log "importing $IMAGE (busybox $("$busybox" | head -n1 | awk '{print $2}'), $("$busybox" --list | wc -l) applets)"
# the same bytes every time (sorted, fixed times), and the old tag removed, so
# that running the demo again leaves no dangling image behind
tar --sort=name --mtime=@1704067200 --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tmp/rootfs.tar" .
"$SKIFF" rmi "$IMAGE" >/dev/null 2>&1 || true
if "$SKIFF" import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - "$IMAGE" <"$tmp/rootfs.tar"; then
    :
elif "$SKIFF" import - "$IMAGE" <"$tmp/rootfs.tar"; then
    log "(imported without --change)"
else
    log "skiff import failed; loading $FIXTURES/archives/busybox.docker.tar instead"
    "$SKIFF" load -i "$FIXTURES/archives/busybox.docker.tar"
    "$SKIFF" tag busybox:latest "$IMAGE"
fi

log "skiff run --rm $IMAGE echo hello from skiff"
out=$("$SKIFF" run --rm "$IMAGE" echo hello from skiff)
echo "$out"
[ "$out" = "hello from skiff" ] || { log "unexpected output"; exit 1; }
log "ok"
