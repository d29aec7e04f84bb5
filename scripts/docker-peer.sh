#!/bin/bash
# The Docker peer for skiff's benchmarks: Debian's docker.io, run as a private
# dockerd that touches nothing of a system Docker (its own data root, exec root,
# socket and pid file) and is stopped by pid afterwards.
#
#   docker-peer.sh install        install docker.io (and wrk, the load tool of the
#                                 benchmarks) if missing, without enabling or
#                                 starting docker's system service
#   docker-peer.sh start          start the private dockerd, wait for /_ping
#   docker-peer.sh load [TAR]     docker load TAR (default: the fixture
#                                 busybox.docker.tar) so that busybox:latest exists
#   docker-peer.sh stop           stop it by pid and remove its leftovers: mounts
#                                 under its roots, its bridge, its netns,
#                                 and (when iptables was on) its iptables chains,
#                                 restoring the FORWARD policy it found
#   docker-peer.sh env            print DOCKER_HOST=... for this peer
#   docker-peer.sh status         exit 0 if it answers /_ping
#
# Environment: PEER_DATA_ROOT (/var/lib/skiff-bench-docker), PEER_EXEC_ROOT
# (/run/skiff-bench-docker), PEER_SOCK (/run/skiff-bench-docker.sock),
# PEER_BRIDGE (skiffbench0: made here and handed to dockerd with --bridge, so
# that a system Docker's docker0 is never touched), PEER_BIP (172.29.251.1/24:
# its address, away from Docker's and skiff's default 172.17.0.0/16; no traffic
# leaves it), PEER_IPTABLES (false: dockerd's iptables rules set
# the FORWARD policy to DROP and load br_netfilter, which would break bridged
# traffic of other engines on this machine; `run --rm busybox true` adds no
# per-container rule either way, so the measured path is the same),
# PEER_CGROUP_PARENT (skiff-bench-docker: not the "docker" a system Docker uses),
# SKIFF_FIXTURES (/var/cache/skiff-test-fixtures).
set -euo pipefail

DATA_ROOT=${PEER_DATA_ROOT:-/var/lib/skiff-bench-docker}
EXEC_ROOT=${PEER_EXEC_ROOT:-/run/skiff-bench-docker}
SOCK=${PEER_SOCK:-/run/skiff-bench-docker.sock}
PIDFILE=${PEER_PIDFILE:-/run/skiff-bench-docker.pid}
LOG=${PEER_LOG:-/var/log/skiff-bench-dockerd.log}
BRIDGE=${PEER_BRIDGE:-skiffbench0}
BIP=${PEER_BIP:-172.29.251.1/24}
IPTABLES=${PEER_IPTABLES:-false}
CGROUP_PARENT=${PEER_CGROUP_PARENT:-skiff-bench-docker}
FIXTURES=${SKIFF_FIXTURES:-/var/cache/skiff-test-fixtures}
STATE=$EXEC_ROOT.state          # what we found before starting (FORWARD policy)
# Debian's docker CLI, not another one earlier in PATH
DOCKER=${PEER_DOCKER_CLI:-/usr/bin/docker}
[ -x "$DOCKER" ] || DOCKER=docker

log() { echo "docker-peer: $*" >&2; }

ping_ok() {
    python3 - "$SOCK" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.exit(0 if data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n")[0] + b" " else 1)
PY
}

running_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = dockerd ] \
        && echo "$pid"
}

cmd_install() {
    # wrk: the load tool of the requests/s benchmark
    if ! command -v wrk >/dev/null; then
        log "installing wrk"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >&2 || \
            { apt-get update -q >&2 && \
              DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >&2; }
    fi
    if command -v dockerd >/dev/null && [ -x /usr/bin/docker ]; then
        return 0
    fi
    log "installing docker.io (its service is neither enabled nor started)"
    # policy-rc.d 101 keeps invoke-rc.d from starting services during the install
    local prc=/usr/sbin/policy-rc.d made_prc=0
    if [ ! -e $prc ]; then
        printf '#!/bin/sh\nexit 101\n' >$prc && chmod +x $prc && made_prc=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io iptables >&2
    [ $made_prc = 1 ] && rm -f $prc
    if [ "$(ps -o comm= -p 1)" = systemd ]; then
        systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
    fi
}

cmd_start() {
    cmd_install
    if pid=$(running_pid) && ping_ok; then
        log "already running (pid $pid)"
        return 0
    fi
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
    # forget stored networks: the default one is rebuilt on $BRIDGE every start
    rm -f "$DATA_ROOT/network/files/local-kv.db"
    iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3}' >"$STATE.forward" || true
    [ -s "$STATE.forward" ] || echo ACCEPT >"$STATE.forward"
    echo '{}' >"$EXEC_ROOT.json"
    rm -f "$SOCK"
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
        ip addr add "$BIP" dev "$BRIDGE"
        ip link set "$BRIDGE" up
    fi
    # setsid + nohup: it outlives this shell and gets no terminal signals
    setsid nohup dockerd --config-file "$EXEC_ROOT.json" \
        --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" -H "unix://$SOCK" \
        --pidfile "$PIDFILE" --bridge "$BRIDGE" --iptables="$IPTABLES" \
        --cgroup-parent "/$CGROUP_PARENT" \
        --ip-forward="$IPTABLES" --log-level warn </dev/null >"$LOG" 2>&1 &
    local started=$!
    for _ in $(seq 1 300); do
        if ping_ok; then
            log "dockerd running (pid $started, socket $SOCK, log $LOG)"
            return 0
        fi
        kill -0 "$started" 2>/dev/null || break
        sleep 0.1
    done
    log "dockerd did not answer on $SOCK; log:"
    tail -n 30 "$LOG" >&2
    return 1
}

cmd_load() {
    local tar=${1:-$FIXTURES/archives/busybox.docker.tar}
    [ -f "$tar" ] || { log "no archive $tar (run scripts/fixtures.sh)"; return 1; }
    "$DOCKER" -H "unix://$SOCK" load -q -i "$tar" >&2
    "$DOCKER" -H "unix://$SOCK" image inspect busybox:latest >/dev/null
}

cmd_stop() {
    local pid
    if pid=$(running_pid); then
        # remove our containers first so dockerd tears their mounts down itself
        "$DOCKER" -H "unix://$SOCK" ps -aq 2>/dev/null | xargs -r "$DOCKER" -H "unix://$SOCK" rm -f >/dev/null 2>&1 || true
        kill -TERM "$pid"
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "dockerd $pid did not stop in 15 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "dockerd $pid stopped"
    fi
    rm -f "$PIDFILE" "$SOCK" "$EXEC_ROOT.json"
    # its containerd (started by dockerd under the exec root) exits with it;
    # unmount anything left under its roots, deepest first
    local m
    for root in "$EXEC_ROOT" "$DATA_ROOT"; do
        awk -v r="$root" '$2==r || index($2, r"/")==1 {print $2}' /proc/self/mounts | sort -r | \
            while read -r m; do umount -l "$m" 2>/dev/null || true; done
    done
    # its network namespaces live under the exec root (netns/) and are unmounted above
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE" 2>/dev/null || true
    # a docker0 is ours only if it carries our address (an older run's --bip)
    if ip -o addr show docker0 2>/dev/null | grep -qF " ${BIP%/*}/"; then
        ip link delete docker0 2>/dev/null || true
    fi
    if [ "$IPTABLES" = true ] && command -v iptables >/dev/null; then
        for table in filter nat; do
            iptables -t "$table" -S 2>/dev/null | grep -E -- "-A .*(DOCKER|$BRIDGE)" | \
                sed 's/^-A /-D /' | while read -r rule; do
                    eval "iptables -t $table $rule" 2>/dev/null || true
                done
            for chain in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
                iptables -t "$table" -F "$chain" 2>/dev/null || true
                iptables -t "$table" -X "$chain" 2>/dev/null || true
            done
        done
        if [ -s "$STATE.forward" ]; then
            iptables -P FORWARD "$(cat "$STATE.forward")" || true
        fi
    fi
    rm -f "$STATE.forward"
    # the cgroup parent of its containers, empty once they are gone
    for d in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
    rm -rf "$EXEC_ROOT"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
load) shift; cmd_load "$@" ;;
stop) cmd_stop ;;
env) echo "DOCKER_HOST=unix://$SOCK" ;;
status) ping_ok ;;
*) sed -n '2,26p' "$0"; exit 2 ;;
esac
