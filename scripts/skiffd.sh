#!/bin/bash
# Start, stop and check skiffd without systemd (or with it, when systemd is
# PID 1: then a unit /etc/systemd/system/skiffd.service is installed).
#
#   skiffd.sh start [FLAGS...]   start skiffd in the background, wait for
#                                GET /_ping on its socket (30 s at most)
#   skiffd.sh stop               stop it by its pid (SIGTERM, then SIGKILL after 20 s)
#   skiffd.sh status             exit 0 if it answers /_ping
#   skiffd.sh ping               the same, quietly
#
# The default instance: pid file /run/skiff/skiffd.pid, log /var/log/skiffd.log,
# socket /run/skiff/skiff.sock, config /etc/skiff/daemon.json. Another instance
# (the benchmark's) sets SKIFFD_EXEC_ROOT, SKIFFD_DATA_ROOT, SKIFFD_CONFIG,
# SKIFFD_LOG, SKIFFD_PIDFILE; it then runs with --config-file, --data-root,
# --exec-root and -H unix://EXEC_ROOT/skiff.sock, always under nohup.
# SKIFFD (default: skiffd on PATH, else /usr/local/bin/skiffd) names the binary.
set -euo pipefail

EXEC_ROOT=${SKIFFD_EXEC_ROOT:-/run/skiff}
SOCK=${SKIFFD_SOCK:-$EXEC_ROOT/skiff.sock}
PIDFILE=${SKIFFD_PIDFILE:-$EXEC_ROOT/skiffd.pid}
LOG=${SKIFFD_LOG:-/var/log/skiffd.log}
UNIT=/etc/systemd/system/skiffd.service
SKIFFD=${SKIFFD:-/usr/local/bin/skiffd}
[ -x "$SKIFFD" ] || SKIFFD=$(command -v skiffd || echo skiffd)

custom=0
flags=()
if [ -n "${SKIFFD_EXEC_ROOT:-}${SKIFFD_DATA_ROOT:-}${SKIFFD_CONFIG:-}" ]; then
    custom=1
    flags+=(--exec-root "$EXEC_ROOT" -H "unix://$SOCK")
    [ -n "${SKIFFD_DATA_ROOT:-}" ] && flags+=(--data-root "$SKIFFD_DATA_ROOT")
    [ -n "${SKIFFD_CONFIG:-}" ] && flags+=(--config-file "$SKIFFD_CONFIG")
fi

log() { echo "skiffd.sh: $*" >&2; }

ping_ok() {
    python3 - "$SOCK" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: skiff\r\nConnection: close\r\n\r\n")
data = b""
while b"\r\n" not in data:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
status = data.split(b"\r\n")[0].split()
sys.exit(0 if len(status) > 1 and status[1] == b"200" else 1)
PY
}

use_systemd() {
    [ $custom = 0 ] && [ "$(ps -o comm= -p 1 2>/dev/null)" = systemd ] && [ -z "${SKIFFD_NO_SYSTEMD:-}" ]
}

running_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # the pid must still be a skiffd (a python running the skiffd script)
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q skiffd || return 1
    echo "$pid"
}

wait_ping() {
    local pid=${1:-}
    for _ in $(seq 1 300); do
        ping_ok && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    log "skiffd did not answer GET /_ping on $SOCK; last lines of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    return 1
}

cmd_start() {
    if use_systemd; then
        cat >"$UNIT.tmp" <<UNIT_EOF
[Unit]
Description=skiff container engine (Docker Engine API)
After=network-online.target nftables.service
Wants=network-online.target

[Service]
Type=simple
ExecStart=$SKIFFD $*
ExecStartPost=/bin/sh -c 'echo \$MAINPID > $PIDFILE'
KillMode=process
Delegate=yes
LimitNOFILE=1048576
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT_EOF
        mkdir -p "$EXEC_ROOT"
        if ! cmp -s "$UNIT.tmp" "$UNIT"; then
            mv "$UNIT.tmp" "$UNIT"
            systemctl daemon-reload
        else
            rm -f "$UNIT.tmp"
        fi
        systemctl enable --now skiffd.service
        wait_ping
        log "skiffd running under systemd (socket $SOCK)"
        return 0
    fi
    local pid
    if pid=$(running_pid); then
        wait_ping "$pid"
        log "skiffd already running (pid $pid, socket $SOCK)"
        return 0
    fi
    mkdir -p "$EXEC_ROOT" "$(dirname "$LOG")"
    # setsid + nohup: no controlling terminal, survives the shell that started it
    setsid nohup "$SKIFFD" "${flags[@]}" "$@" </dev/null >>"$LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$PIDFILE"
    if ! wait_ping "$pid"; then
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
        rm -f "$PIDFILE"
        return 1
    fi
    log "skiffd running (pid $pid, socket $SOCK, log $LOG)"
}

cmd_stop() {
    if use_systemd && [ -f "$UNIT" ]; then
        systemctl stop skiffd.service || true
        rm -f "$PIDFILE"
        return 0
    fi
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        log "skiffd not running"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "skiffd $pid did not stop in 20 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    log "skiffd $pid stopped"
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
status) if ping_ok; then echo "skiffd answers on $SOCK"; else echo "skiffd not answering on $SOCK"; exit 1; fi ;;
ping) ping_ok ;;
*) sed -n '2,19p' "$0"; exit 2 ;;
esac
