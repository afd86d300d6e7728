# shellcheck shell=bash
# A throwaway system bus and accesskeyd, for the scripts in tools/ and
# tests/ (sourced, not run).  The bus uses tests/data/system-bus.conf.in:
# Debian's deny-by-default system policy plus the project's own policy file.
#
#   testbed_start SRCDIR BUILDDIR [CONFIG-TEXT]   sets TB_DIR, TB_ADDRESS,
#       TB_SOCKET (the private socket), TB_BUS_PID, TB_DAEMON_PID, TB_LOG
#   testbed_stop                                  stops both, removes TB_DIR
#
# Callers should `trap testbed_stop EXIT`.

testbed_start() {
        local srcdir=$1 builddir=$2 config=${3:-}
        TB_DIR=$(mktemp -d /tmp/accesskey-testbed.XXXXXX) || return 1
        chmod 755 "$TB_DIR"
        TB_ADDRESS=unix:path=$TB_DIR/bus
        TB_SOCKET=$TB_DIR/private
        TB_LOG=$TB_DIR/accesskeyd.log
        sed -e "s|@LISTEN@|$TB_ADDRESS|" -e "s|@POLICY@|$srcdir/dbus/org.accesskey.KeyStore1.conf|" \
                "$srcdir/tests/data/system-bus.conf.in" >"$TB_DIR/bus.conf"
        dbus-daemon --config-file="$TB_DIR/bus.conf" --nofork --nopidfile >"$TB_DIR/bus.log" 2>&1 &
        TB_BUS_PID=$!
        local _
        for _ in $(seq 100); do
                [[ -S $TB_DIR/bus ]] && break
                sleep 0.1
        done
        [[ -S $TB_DIR/bus ]] || { echo "testbed: dbus-daemon did not start" >&2; return 1; }
        printf '%s\n' "$config" >"$TB_DIR/accesskeyd.conf"
        "$builddir/accesskeyd" --bus="$TB_ADDRESS" --state-dir="$TB_DIR/state" --config="$TB_DIR/accesskeyd.conf" \
                --private-socket="$TB_SOCKET" >"$TB_LOG" 2>&1 &
        TB_DAEMON_PID=$!
        for _ in $(seq 100); do
                busctl --address="$TB_ADDRESS" status org.accesskey.KeyStore1 >/dev/null 2>&1 && return 0
                kill -0 "$TB_DAEMON_PID" 2>/dev/null || break
                sleep 0.1
        done
        cat "$TB_LOG" >&2
        echo "testbed: accesskeyd did not take its bus name" >&2
        return 1
}

testbed_stop() {
        local pid
        for pid in "${TB_DAEMON_PID:-}" "${TB_BUS_PID:-}"; do
                [[ -n $pid ]] || continue
                kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        done
        TB_DAEMON_PID=''
        TB_BUS_PID=''
        [[ -n ${TB_DIR:-} && $TB_DIR == /tmp/accesskey-testbed.* ]] && rm -rf "$TB_DIR"
        TB_DIR=''
}
