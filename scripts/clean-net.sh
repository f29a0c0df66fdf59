#!/usr/bin/env bash
# Fallback for `make clean-net` when Python cannot run: remove what crashed testbed runs
# recorded in /run/mcast-testbed/*.state (see testbed/state.py), and nothing else. A run whose
# owner process still runs is left alone. Never `mn -c`: that would wipe other people's
# Mininet networks on this machine.  Usage: clean-net.sh [RUN-ID]   (default: every dead run)
set -u
STATE_DIR=${MCAST_TESTBED_STATE_DIR:-/run/mcast-testbed}
ONLY=${1:-}

# A process is ours if it has the recorded start time (clock ticks since boot, field 22 of
# /proc/PID/stat), so a recycled pid is never hit; a zombie no longer counts as running.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    local -a f
    read -r -a f <<<"$stat"
    [[ "${f[19]}" == "$2" && "${f[0]}" != "Z" ]]
}

shopt -s nullglob
for f in "$STATE_DIR"/*.state; do
    [[ -z "$ONLY" || "$(basename "$f" .state)" == "$ONLY" ]] || continue
    read -r _ opid oticks < <(grep -m1 '^owner ' "$f")
    if [[ -n "${opid:-}" ]] && alive "$opid" "$oticks"; then
        echo "clean-net: $(basename "$f" .state): skipped (its owner, pid $opid, is running)"
        continue
    fi
    killed=0
    deleted=0
    while read -r kind a b c; do
        case "$kind" in
            proc) alive "$a" "$b" && kill -TERM "$a" 2>/dev/null && killed=$((killed + 1)) ;;
            node) alive "$b" "$c" && kill -TERM "$b" 2>/dev/null && killed=$((killed + 1)) ;;
        esac
    done <"$f"
    # what still runs in a host's namespace (it would keep the namespace): only if that
    # namespace is surely ours: its eth0 has the host's MAC and is paired with our
    # switch-side interface (a freed namespace inode is soon somebody else's)
    while read -r kind _ inode mac peer; do
        [[ "$kind" == hostns ]] || continue
        pindex=$(cat "/sys/class/net/$peer/ifindex" 2>/dev/null) || continue
        pids=()
        for ns in /proc/[0-9]*/ns/net; do
            [[ "$(stat -L -c %i "$ns" 2>/dev/null)" == "$inode" ]] || continue
            p=${ns#/proc/}
            pids+=("${p%%/*}")
        done
        ((${#pids[@]})) || continue
        nsenter --net="/proc/${pids[0]}/ns/net" ip -o link show dev eth0 2>/dev/null |
            grep -q "eth0@if$pindex: .* link/ether $mac " || continue
        kill -KILL "${pids[@]}" 2>/dev/null && killed=$((killed + ${#pids[@]}))
    done <"$f"
    sleep 1
    while read -r kind a b c; do
        case "$kind" in
            proc) alive "$a" "$b" && kill -KILL "$a" 2>/dev/null ;;
            node) alive "$b" "$c" && kill -KILL "$b" 2>/dev/null ;;
            iface | bridge)
                if [[ -e "/sys/class/net/$a" ]]; then
                    ip link del dev "$a" 2>/dev/null && deleted=$((deleted + 1))
                fi
                ;;
        esac
    done <"$f"
    rm -f "$f"
    echo "clean-net: $(basename "$f" .state): killed $killed processes, deleted $deleted interfaces/bridges"
done
exit 0
