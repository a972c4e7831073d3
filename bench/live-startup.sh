#!/bin/bash
# live-startup.sh [DIRS] [FILES_PER_DIR]: how long the live daemon takes to start watching a
# site, against `inotifywait -r` on the same tree (the one scan-vs-find.sh generates: default
# 100,000 directories x 10 files, 1 in 100 planted root-owned, cached in bench/results/tmp).
#
#   permwatchd:  exec -> READY=1 on a notify socket of ours (bench/notify-wait.c): the crawl,
#                a watch on every directory, a finding for every planted file.
#   inotifywait: exec -> "Watches established." on its stderr
#                (inotifywait -r -m -e create,attrib,moved_to,close_write TREE).
#
# Warm cache (one untimed round first), then RUNS (default 3) rounds alternating the order,
# medians and the ratio permwatchd/inotifywait, the inotify watches each holds once ready
# (/proc/PID/fdinfo) and each one's peak RSS (VmHWM just before SIGTERM).
#
# log_burst = 0: every finding is logged (not 200 per 10 s and a summary), the worst case.
# Not a test: prints figures. Needs root. Runs itself inside tests/journald-ns.sh, so the
# daemon's finding entries go to a private journald. Raises fs.inotify.max_user_watches for
# the run only when it is below DIRS + 10,000 (and restores it). The tree is removed at the end
# unless KEEP=1. BUILD: the build directory (default build).
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
[ "$(id -u)" -eq 0 ] || {
    echo "live-startup.sh: needs root" >&2
    exit 2
}
if [ -z "${PERMWATCH_BENCH_NS:-}" ]; then
    export PERMWATCH_BENCH_NS=1
    exec bash tests/journald-ns.sh bash "$self" "$@"
fi
dirs=${1:-100000} files=${2:-10} runs=${RUNS:-3}
. bench/common.sh
bench_need_daemon
command -v inotifywait >/dev/null || {
    echo "live-startup.sh: inotifywait is missing (apt-get install inotify-tools)" >&2
    exit 2
}

wsysctl=/proc/sys/fs/inotify/max_user_watches
old_watches=
cleanup() {
    if [ -n "$old_watches" ]; then
        echo "$old_watches" >"$wsysctl"
        echo "fs.inotify.max_user_watches restored to $old_watches"
    fi
    rm -f "$work/live.ini" "$work/nw.out"
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work/site" "$work/shape"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

bench_tree "$dirs" "$files"
bench_cc "$work/notify-wait" bench/notify-wait.c

need=$((ndirs + 10000)) cur=$(cat "$wsysctl")
if [ "$cur" -lt "$need" ]; then
    old_watches=$cur
    echo "$need" >"$wsysctl"
    echo "fs.inotify.max_user_watches raised from $cur to $need for this run"
fi

bench_policy "$work/live.ini" "$tree" "control_socket = $work/control.sock
rescan_interval = 0
log_burst = 0"

# run_one permwatchd|inotifywait: one timed start; sets ms, watches, hwm, status.
run_one() {
    local rc=0
    if [ "$1" = permwatchd ]; then
        "$work/notify-wait" -t 900 -- "$build/permwatchd" -c "$work/live.ini" \
            --log-target journal >"$work/nw.out" || rc=$?
    else
        "$work/notify-wait" -t 900 -l "Watches established." -- \
            inotifywait -r -m -e create,attrib,moved_to,close_write "$tree" >"$work/nw.out" || rc=$?
    fi
    ms=$(sed -n 's/^ready ms=\([0-9.]*\) .*/\1/p' "$work/nw.out")
    pid=$(sed -n 's/^ready ms=[0-9.]* pid=\([0-9]*\) .*/\1/p' "$work/nw.out")
    status=$(sed -n 's/^ready ms=[0-9.]* pid=[0-9]* status=//p' "$work/nw.out")
    watches=$(sed -n 's/^stop watches=\([0-9-]*\) .*/\1/p' "$work/nw.out")
    hwm=$(sed -n 's/.* vmhwm_kb=\([0-9-]*\) .*/\1/p' "$work/nw.out")
    local ex
    ex=$(sed -n 's/.* exit=\([^ ]*\) .*/\1/p' "$work/nw.out")
    if [ "$rc" -ne 0 ] || [ -z "$ms" ]; then
        echo "live-startup.sh: $1 failed (notify-wait exit $rc):" >&2
        cat "$work/nw.out" >&2
        exit 1
    fi
    if [ "$1" = permwatchd ] && [ "$ex" != 0 ]; then
        echo "live-startup.sh: permwatchd exited $ex on SIGTERM (expected 0)" >&2
        exit 1
    fi
    if [ "$1" = permwatchd ]; then
        # its finding entries that reached the journal (the rest: dropped from its queue,
        # journald not keeping up, or discarded on exit before they were sent)
        journalctl --sync
        logged=$(journalctl -o cat _PID="$pid" PERMWATCH_EVENT=finding | wc -l)
    fi
    if [ "$watches" -lt "$ndirs" ]; then
        echo "WARNING: $1 holds $watches inotify watches for $ndirs directories" >&2
    fi
}

declare -a tp ti dp
hp=0 hi=0
find "$tree" -printf '' # warm the dentry and inode caches
echo "warm-up round (not counted) ..."
run_one permwatchd
run_one inotifywait
for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) -eq 1 ]; then order="permwatchd inotifywait"; else order="inotifywait permwatchd"; fi
    for tool in $order; do
        run_one "$tool"
        if [ "$tool" = permwatchd ]; then
            tp+=("$ms") wp=$watches sp=$status dp+=("$logged")
            [ "$hwm" -gt "$hp" ] && hp=$hwm
        else
            ti+=("$ms") wi=$watches
            [ "$hwm" -gt "$hi" ] && hi=$hwm
        fi
    done
done
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
mp=$(median "${tp[@]}") mi=$(median "${ti[@]}")
echo "tree: $ndirs directories, $nfiles files, $planted planted root-owned"
echo "permwatchd exec -> READY=1:           median $mp ms of $runs (runs: ${tp[*]})"
echo "    $wp inotify watches, peak RSS (VmHWM, max of the runs) $(mib "$hp") MiB; STATUS=$sp"
echo "    finding entries in the journal per run: ${dp[*]}"
echo "inotifywait -r -> Watches established: median $mi ms of $runs (runs: ${ti[*]})"
echo "    $wi inotify watches, peak RSS (VmHWM, max of the runs) $(mib "$hi") MiB"
echo "ratio permwatchd/inotifywait: $(awk -v a="$mp" -v b="$mi" 'BEGIN {printf "%.2f", a / b}')"
echo "permwatchd crawl rate: $(awk -v n="$((nfiles + ndirs))" -v ms="$mp" 'BEGIN {printf "%.0f", n * 1000 / ms}') entries/s"
echo "summary startup: permwatchd $mp ms, inotifywait $mi ms, ratio" \
    "$(awk -v a="$mp" -v b="$mi" 'BEGIN {printf "%.2f", a / b}'); watches $wp / $wi;" \
    "peak RSS $(mib "$hp") / $(mib "$hi") MiB"
# mktree plants root:root 0644 files in setgid www-data directories: root_owned and
# mode_mismatch (0660 required) each.
open=$(sed -n 's/.*, \([0-9]*\) open findings.*/\1/p' <<<"$sp")
[ "$open" = $((2 * planted)) ] || {
    echo "MISMATCH: permwatchd reports '$sp', expected $((2 * planted)) open findings" >&2
    exit 1
}
for n in "${dp[@]}"; do
    [ "$n" = "$open" ] || echo "WARNING: a run logged $n finding entries of $open (dropped: journald not keeping up)"
done
