#!/bin/bash
# watch-memory.sh [DIRS] [DAEMON...]: the live daemon's memory per watched directory and its
# startup time, for one or more permwatchd binaries side by side (default: $BUILD/permwatchd).
#
#   site:  DIRS directories (bench/mktree.c, no files, owned by www-data: no finding at all),
#          in bench/results/tmp/memsite; empty: the same policy on an empty site root.
#   run:   exec -> READY=1 (bench/notify-wait.c), then VmRSS and VmHWM (/proc/PID/status),
#          SIGTERM. Bytes per directory = (VmRSS(site) - VmRSS(empty)) / watches, per round.
#
# RUNS (default 3) rounds; in each round every daemon runs on the empty site and on the tree,
# the daemons' order alternating between rounds; medians. Needs root only when
# fs.inotify.max_user_watches is too low (then it says so). Not a test: prints figures.
# Logs go to stderr (a file), not the journal: there is nothing to log but the start.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
dirs=${1:-100000}
shift || true
runs=${RUNS:-3}
. bench/common.sh
daemons=("$@")
[ ${#daemons[@]} -gt 0 ] || daemons=("$build/permwatchd")
for d in "${daemons[@]}"; do
    [ -x "$d" ] || {
        echo "watch-memory.sh: $d is not executable" >&2
        exit 2
    }
done
limit=$(cat /proc/sys/fs/inotify/max_user_watches)
[ "$limit" -ge $((dirs + 10000)) ] || {
    echo "watch-memory.sh: fs.inotify.max_user_watches is $limit, below DIRS + 10,000" >&2
    exit 2
}
bench_cc "$work/notify-wait" bench/notify-wait.c
cc -O2 -o "$work/mktree" bench/mktree.c
site=$work/memsite empty=$work/memempty
cleanup() {
    rm -f "$work/mem.ini" "$work/memempty.ini" "$work/mem.out" "$work/mem.err"
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$site" "$empty" "$work/memshape"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
if [ ! -d "$site" ] || [ "$(cat "$work/memshape" 2>/dev/null)" != "$dirs" ]; then
    rm -rf "$site"
    "$work/mktree" "$site" "$dirs" 0 0 >/dev/null
    echo "$dirs" >"$work/memshape"
fi
rm -rf "$empty"
mkdir -p "$empty"
chown www-data:www-data "$empty"
chmod 2775 "$empty"
find "$site" -printf '' # warm the caches
bench_policy "$work/mem.ini" "$site" "rescan_interval = 0"
bench_policy "$work/memempty.ini" "$empty" "rescan_interval = 0"

# run_one DAEMON INI: one start; sets ms, rss, hwm, watches.
run_one() {
    local rc=0
    "$work/notify-wait" -t 600 -- "$1" -c "$2" --log-target stderr >"$work/mem.out" \
        2>"$work/mem.err" || rc=$?
    ms=$(sed -n 's/^ready ms=\([0-9.]*\) .*/\1/p' "$work/mem.out")
    rss=$(sed -n 's/.* vmrss_kb=\([0-9]*\) .*/\1/p' "$work/mem.out")
    hwm=$(sed -n 's/.* vmhwm_kb=\([0-9]*\) .*/\1/p' "$work/mem.out")
    watches=$(sed -n 's/^stop watches=\([0-9-]*\) .*/\1/p' "$work/mem.out")
    if [ "$rc" -ne 0 ] || [ -z "$ms" ] || [ -z "$rss" ]; then
        echo "watch-memory.sh: $1 failed (notify-wait exit $rc):" >&2
        cat "$work/mem.out" "$work/mem.err" >&2
        exit 1
    fi
    grep -q ' 0 open findings' "$work/mem.out" || {
        echo "watch-memory.sh: $1 has open findings: $(cat "$work/mem.out")" >&2
        exit 1
    }
}

declare -A per ready base hw
echo "warm-up round (not counted) ..."
for d in "${daemons[@]}"; do run_one "$d" "$work/mem.ini"; done
for i in $(seq 1 "$runs"); do
    order=("${daemons[@]}")
    if [ $((i % 2)) -eq 0 ]; then
        order=()
        for ((j = ${#daemons[@]} - 1; j >= 0; j--)); do order+=("${daemons[$j]}"); done
    fi
    for d in "${order[@]}"; do
        run_one "$d" "$work/memempty.ini"
        e=$rss
        run_one "$d" "$work/mem.ini"
        [ "$watches" -ge "$dirs" ] || echo "WARNING: $d holds $watches watches for $dirs+1 directories" >&2
        b=$(awk -v r="$rss" -v e="$e" -v n="$watches" 'BEGIN {printf "%.1f", (r - e) * 1024 / n}')
        per[$d]="${per[$d]:-} $b" ready[$d]="${ready[$d]:-} $ms" base[$d]="${base[$d]:-} $e"
        hw[$d]="${hw[$d]:-} $hwm"
        echo "round $i $d: empty VmRSS $e kB; site VmRSS $rss kB, VmHWM $hwm kB, $watches watches," \
            "READY $ms ms => $b bytes per directory"
    done
done
echo "site: $dirs directories + root, no files, no findings; $runs rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for d in "${daemons[@]}"; do
    # shellcheck disable=SC2086
    echo "summary $d: $(median ${per[$d]}) bytes per watched directory (VmRSS site - empty," \
        "median; runs:${per[$d]}), READY median $(median ${ready[$d]}) ms (runs:${ready[$d]})," \
        "empty-site VmRSS median $(median ${base[$d]}) kB, site VmHWM median $(median ${hw[$d]}) kB"
done
