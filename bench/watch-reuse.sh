#!/bin/bash
# watch-reuse.sh [DIRS] [DAEMON]: what the live daemon's memory does when a site's DIRS
# directories are deleted and made again, twice (default DAEMON: $BUILD/permwatchd).
#
# The site (bench/mktree.c, no files, no finding) is watched; once READY, the workload removes
# every directory below the root, waits until the daemon is idle (its inotify watches gone and
# its CPU time still for 2 s), makes them again and waits until it watches them all and is
# idle, and so on; it prints VmRSS at each step. Not a test: prints figures.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
dirs=${1:-100000}
. bench/common.sh
daemon=${2:-$build/permwatchd}
site=$work/reusesite
if [ "${PERMWATCH_REUSE_PID:-}" ]; then
    # the workload (run by notify-wait once the daemon is ready)
    pid=$NOTIFY_WAIT_PID
    rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status"; }
    watches() { cat /proc/"$pid"/fdinfo/* 2>/dev/null | grep -c '^inotify wd:' || true; }
    cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
    idle() { # idle MIN MAX: watches within [MIN, MAX] and no CPU used for 2 s
        local a b
        while :; do
            a=$(cpu)
            sleep 2
            b=$(cpu)
            local n
            n=$(watches)
            if [ "$a" = "$b" ] && [ "$n" -ge "$1" ] && [ "$n" -le "$2" ]; then return; fi
        done
    }
    echo "ready: VmRSS $(rss) kB, $(watches) watches"
    for round in 1 2; do
        t0=$(date +%s.%N)
        find "$site" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
        idle 0 10
        echo "round $round: all removed: VmRSS $(rss) kB, $(watches) watches" \
            "($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s)"
        t0=$(date +%s.%N)
        "$work/mktree" "$site" "$dirs" 0 0 >/dev/null
        idle "$dirs" $((dirs + 10))
        echo "round $round: made again: VmRSS $(rss) kB, $(watches) watches" \
            "($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s)"
    done
    exit 0
fi
[ -x "$daemon" ] || {
    echo "watch-reuse.sh: $daemon is not executable" >&2
    exit 2
}
limit=$(cat /proc/sys/fs/inotify/max_user_watches)
[ "$limit" -ge $((dirs + 10000)) ] || {
    echo "watch-reuse.sh: fs.inotify.max_user_watches is $limit, below DIRS + 10,000" >&2
    exit 2
}
bench_cc "$work/notify-wait" bench/notify-wait.c
cc -O2 -o "$work/mktree" bench/mktree.c
trap 'rm -rf "$site" "$work/reuse.ini"' EXIT
rm -rf "$site"
"$work/mktree" "$site" "$dirs" 0 0 >/dev/null
bench_policy "$work/reuse.ini" "$site" "rescan_interval = 0"
PERMWATCH_REUSE_PID=1 "$work/notify-wait" -t 900 -w bash -w "$self" -w "$dirs" -- \
    "$daemon" -c "$work/reuse.ini" --log-target stderr 2>"$work/reuse.err"
grep -c . "$work/reuse.err" | xargs echo "daemon log lines:"
