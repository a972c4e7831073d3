#!/bin/bash
# live-latency.sh [DIRS]: detection latency of the live daemon: a file created as root ->
# its root_owned journal entry (bench/latency.c does the work; see there for the method).
#
# For each rate in RATES (default "1000 20000" files/s), for DURATION seconds (default 5):
# a fresh site of DIRS directories (default 1,000; bench/mktree.c, no files) in
# bench/results/tmp/live-latency, permwatchd started on it (log_burst = 0: no rate limit,
# rescan_interval = 0) under bench/notify-wait.c, which waits for READY=1, runs the workload,
# then reads the daemon's peak RSS (VmHWM) and stops it. Reports per rate: the rate achieved,
# found / created (every file must have its entry: a missing one is reported loudly and makes
# the script fail at the end), latency p50/p90/p99/max, whether the inotify queue overflowed
# (the daemon then rescans; files found so still count, with their real latency), entries
# the daemon dropped, CPU use, and the daemon's peak RSS.
#
# Not a test: prints figures. Needs root. Runs itself inside tests/journald-ns.sh (a private
# journald). Everything it makes is removed at the end. BUILD: the build directory.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
[ "$(id -u)" -eq 0 ] || {
    echo "live-latency.sh: needs root" >&2
    exit 2
}
if [ -z "${PERMWATCH_BENCH_NS:-}" ]; then
    export PERMWATCH_BENCH_NS=1
    exec bash tests/journald-ns.sh bash "$self" "$@"
fi
dirs=${1:-1000} rates=${RATES:-1000 20000} duration=${DURATION:-5}
. bench/common.sh
bench_need_daemon
lat=${LAT_DIR:-$work/live-latency} # LAT_DIR: elsewhere (bench/run --latency-fs tmpfs)
trap 'rm -rf "$lat"' EXIT
trap 'exit 130' INT TERM HUP
rm -rf "$lat"
mkdir -p "$lat"
cc -O2 -o "$work/mktree" bench/mktree.c
bench_cc "$work/notify-wait" bench/notify-wait.c
bench_cc "$work/latency" bench/latency.c -ljansson -lm

# LAT_DAEMON_KEYS: more [daemon] lines, e.g. "backend = fanotify" (bench/run --rows backends)
bench_policy "$lat/live.ini" "$lat/site" "control_socket = $lat/control.sock
rescan_interval = 0
log_burst = 0${LAT_DAEMON_KEYS:+
$LAT_DAEMON_KEYS}"

echo "inotify: max_queued_events $(cat /proc/sys/fs/inotify/max_queued_events)," \
    "max_user_watches $(cat /proc/sys/fs/inotify/max_user_watches)"
failed=0
for rate in $rates; do
    rm -rf "$lat/site"
    "$work/mktree" "$lat/site" "$dirs" 0 0 >/dev/null
    rc=0
    "$work/notify-wait" -t 120 -w "$work/latency" -w -r -w "$rate" -w -s -w "$duration" \
        -w -d -w "$lat/site" -w -o -w "$lat" -- \
        "$build/permwatchd" -c "$lat/live.ini" --log-target journal >"$lat/out" || rc=$?
    grep -v '^ready \|^stop \|^result ' "$lat/out" || true
    stop=$(grep '^stop ' "$lat/out" || true)
    hwm=$(sed -n 's/.* vmhwm_kb=\([0-9-]*\) .*/\1/p' <<<"$stop")
    ex=$(sed -n 's/.* exit=\([^ ]*\) .*/\1/p' <<<"$stop")
    st=$(sed -n 's/.* status=//p' <<<"$stop")
    mib=$(awk -v k="${hwm:-0}" 'BEGIN {printf "%.1f", k / 1024}')
    echo "  permwatchd: peak RSS (VmHWM) $mib MiB, exit ${ex:-?} on SIGTERM; its STATUS at stop: ${st:-?}"
    res=$(grep '^result ' "$lat/out" || true)
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
    if [ -n "$res" ]; then
        ov=no dr=
        [ "$(get overflows)" = 0 ] || ov="yes ($(get overflows))"
        [ "$(get dropped)" = 0 ] || dr=", $(get dropped) entries dropped by permwatchd"
        echo "summary latency $rate/s (achieved $(get achieved)/s): found $(get found)/$(get created)," \
            "p50 $(get p50_ms) ms, p99 $(get p99_ms) ms, max $(get max_ms) ms, overflow $ov$dr, RSS $mib MiB"
        open=$(sed -n 's/.*, \([0-9]*\) open findings.*/\1/p' <<<"$st")
        if [ "$(get found)" != "$(get created)" ] && [ -n "$open" ]; then
            if [ "$open" -ge "$(get created)" ]; then
                echo "  !!! every file was detected (permwatchd held $open open findings at stop), but" \
                    "$(($(get created) - $(get found))) root_owned entries never reached the journal !!!"
            else
                echo "  !!! permwatchd held only $open open findings at stop for $(get created) files:" \
                    "detection itself missed some !!!"
            fi
        fi
    fi
    if [ "$rc" -ne 0 ] || [ "${ex:-}" != 0 ]; then
        echo "  !!! rate $rate/s: FAILED (notify-wait exit $rc; see above) !!!"
        failed=1
    fi
done
exit "$failed"
