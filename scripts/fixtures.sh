#!/bin/bash
# What the test suite needs running, made idempotently.
#
#   scripts/fixtures.sh start   the fixture images (make_images.py into
#                               $SKIFF_FIXTURES, /var/cache/skiff-test-fixtures,
#                               built once and cached) and the loopback registry
#                               on 127.0.0.1:$PORT (5000) filled with them
#   scripts/fixtures.sh stop    stop the registry
#   scripts/fixtures.sh images  only the images
#   scripts/fixtures.sh debian  also debian:bookworm (benchmarks): built once
#                               with make_images.py --debian into
#                               $SKIFF_FIXTURES_DEBIAN (/var/cache/skiff-test-
#                               fixtures-debian, mmdebstrap, minutes) and pushed
#                               to the registry (started if need be)
#
# The shared dir is ../shared beside the repo (SKIFF_SHARED overrides); it may
# be read-only (CI): everything written goes to $SKIFF_FIXTURES and /tmp.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SKIFF_SHARED:-$REPO/../shared}
FIXTURES=${SKIFF_FIXTURES:-/var/cache/skiff-test-fixtures}
PORT=${SKIFF_TEST_REGISTRY_PORT:-5000}
FIXTURES_DEBIAN=${SKIFF_FIXTURES_DEBIAN:-/var/cache/skiff-test-fixtures-debian}

log() { echo "fixtures: $*" >&2; }

[ -d "$SHARED/fixtures" ] || { log "no $SHARED/fixtures (set SKIFF_SHARED)"; exit 1; }

registry_has() {  # REPO TAG
    python3 - "$PORT" "$1" "$2" <<'PY' 2>/dev/null
import sys, urllib.request
port, repo, tag = sys.argv[1:]
req = urllib.request.Request(
    f"http://127.0.0.1:{port}/v2/{repo}/manifests/{tag}", method="HEAD",
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json,"
                       "application/vnd.oci.image.index.v1+json,"
                       "application/vnd.docker.distribution.manifest.v2+json"})
urllib.request.urlopen(req, timeout=2)
PY
}

images() {
    if [ -f "$FIXTURES/oci/index.json" ] && [ -f "$FIXTURES/archives/busybox.docker.tar" ]; then
        log "images cached in $FIXTURES"
        return 0
    fi
    log "building fixture images into $FIXTURES"
    mkdir -p "$FIXTURES"
    python3 "$SHARED/fixtures/make_images.py" "$FIXTURES" >/dev/null
}

case "${1:-}" in
start)
    images
    "$SHARED/fixtures/registry" start "$PORT" >&2
    if registry_has library/busybox zstd && registry_has library/web latest \
            && registry_has library/layered latest && registry_has library/busybox latest; then
        log "registry 127.0.0.1:$PORT already holds the fixture images"
    else
        "$SHARED/fixtures/registry" push "$FIXTURES" "$PORT" >&2
    fi
    ;;
images) images ;;
debian)
    images
    "$SHARED/fixtures/registry" start "$PORT" >&2
    if registry_has library/debian bookworm; then
        log "registry 127.0.0.1:$PORT already holds debian:bookworm"
    else
        if ! grep -q 'debian:bookworm' "$FIXTURES_DEBIAN/oci/index.json" 2>/dev/null; then
            log "building debian:bookworm into $FIXTURES_DEBIAN (mmdebstrap: a few minutes)"
            mkdir -p "$FIXTURES_DEBIAN"
            python3 "$SHARED/fixtures/make_images.py" "$FIXTURES_DEBIAN" --debian >/dev/null
        fi
        # the same busybox, layered and web (deterministic digests) plus debian
        "$SHARED/fixtures/registry" push "$FIXTURES_DEBIAN" "$PORT" >&2
    fi
    ;;
stop) "$SHARED/fixtures/registry" stop "$PORT" ;;
*) sed -n '2,18p' "$0"; exit 2 ;;
esac
