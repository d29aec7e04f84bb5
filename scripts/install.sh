#!/bin/bash
# Install skiff on a Debian 12 machine, as root. Idempotent: a second run
# changes nothing and takes a few seconds.
#
#   scripts/install.sh [--test] [--no-apt]
#
# 1. apt packages: what skiff and its demo need (busybox-static skopeo
#    docker-registry tini nftables iproute2 iptables python3-venv ...), and
#    with --test what the tests and benchmarks compare against (runc, docker.io,
#    mmdebstrap); `apt-get update` only when one is missing; no package's
#    service is started (a policy-rc.d says no during the install: Debian's
#    docker-registry would take port 5000, docker.io would set FORWARD to DROP);
#    --no-apt skips this step
# 2. a venv at $SKIFF_VENV (/opt/skiff/venv) from Debian's python3, with
#    `pip install -e REPO[test]` (the dependencies of pyproject.toml); redone
#    only when the repo path or pyproject.toml changed
# 3. the console scripts skiff, skiffd, skiff-runtime, skiff-shim linked into
#    /usr/local/bin
# 4. /etc/skiff/daemon.json, when absent: {} (every default is right; see
#    README.md for the keys)
# It starts nothing: scripts/skiffd.sh start does.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${SKIFF_VENV:-/opt/skiff/venv}
BINDIR=${SKIFF_BINDIR:-/usr/local/bin}
CONFIG=${SKIFF_CONFIG:-/etc/skiff/daemon.json}
APT_PACKAGES=(busybox-static skopeo docker-registry tini nftables iproute2 iptables
    python3 python3-venv python3-dev gcc make procps util-linux kmod ca-certificates)
TEST_PACKAGES=(runc docker.io containerd mmdebstrap tmux docker-compose)
SCRIPTS=(skiff skiffd skiff-runtime skiff-shim)

log() { echo "install: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "run as root"; exit 1; }

do_apt=1
for arg in "$@"; do
    case $arg in
    --no-apt) do_apt=0 ;;
    --test) APT_PACKAGES+=("${TEST_PACKAGES[@]}") ;;
    *) sed -n '2,24p' "$0" >&2; exit 2 ;;
    esac
done

# 1. apt packages
if [ $do_apt = 1 ]; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
        prc=/usr/sbin/policy-rc.d
        made_prc=0
        if [ ! -e $prc ]; then
            printf '#!/bin/sh\n# skiff install.sh: start no service during the install\nexit 101\n' >$prc
            chmod +x $prc
            made_prc=1
            trap '[ $made_prc = 1 ] && rm -f $prc' EXIT
        fi
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
        if [ $made_prc = 1 ]; then rm -f $prc; made_prc=0; fi
        if [ "$(ps -o comm= -p 1)" = systemd ]; then
            systemctl disable --now docker.service docker.socket docker-registry.service \
                >/dev/null 2>&1 || true
        fi
    fi
fi

# 2. the venv. Debian's python3 (the one a fresh machine has), unless
# SKIFF_PYTHON names another.
PYTHON=${SKIFF_PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating venv $VENV with $PYTHON"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.skiff-installed"
want="$REPO $(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || \
   ! "$VENV/bin/python" -c 'import skiff, aiohttp, zstandard, pytest' 2>/dev/null || \
   [ "$("$VENV/bin/python" -c 'import skiff, os; print(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(skiff.__file__)))))')" != "$REPO" ]; then
    log "pip install -e $REPO[test] into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2 || true
    "$VENV/bin/python" -m pip install -q -e "$REPO[test]" >&2
    echo "$want" >"$stamp"
fi

# bytecode ahead of time: the CLI and each container's shim start a fresh
# interpreter, and PYTHONDONTWRITEBYTECODE (set on some machines) would make
# every one of them compile skiff again
"$VENV/bin/python" -m compileall -q "$REPO/src" >/dev/null || true

# 3. console scripts
mkdir -p "$BINDIR"
for s in "${SCRIPTS[@]}"; do
    if [ -x "$VENV/bin/$s" ]; then
        ln -sfn "$VENV/bin/$s" "$BINDIR/$s"
    else
        log "warning: $VENV/bin/$s missing (not in pyproject.toml [project.scripts]?)"
    fi
done

# 4. daemon.json
if [ ! -e "$CONFIG" ]; then
    mkdir -p "$(dirname "$CONFIG")"
    echo '{}' >"$CONFIG"
    log "wrote $CONFIG"
fi

log "skiff installed: venv $VENV, scripts in $BINDIR, config $CONFIG"
