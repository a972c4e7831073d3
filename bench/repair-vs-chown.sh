#!/bin/bash
# repair-vs-chown.sh [DIRS] [FILES_PER_DIR]: time `permwatchd --scan --repair` against the
# naive `chown -R www-data:www-data ROOT && chmod -R g+w ROOT` (and `chown -R` alone) on
# identical fresh trees: DIRS directories x FILES_PER_DIR files (default 10,100 x 10 =
# 100,000 files), every file root:root 0644 (bench/mktree.c with ROOT_EVERY=1), directories
# www-data 2775. Both sides end with the same tree: files www-data:www-data 0664. Each run gets
# a fresh tree (generated just before, so the cache is warm); median of 3 each (RUNS).
# Not a test: prints figures and the ratio, writes results/repair.txt. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=${1:-10100} files=${2:-10} runs=${RUNS:-3}
. bench/common.sh
bench_need_daemon
cc -O2 -o "$work/mktree" bench/mktree.c
tree=$work/repair-site
trap 'rm -rf "$tree" "$work/repair.ini" "$work/repair.out" "$work/repair-planted"' EXIT
bench_policy "$work/repair.ini" "$tree" "" "repair = auto"

fresh() { rm -rf "$tree"; "$work/mktree" "$tree" "$dirs" "$files" 1 >"$work/repair-planted"; sync; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
# check: every file www-data:www-data 0664 (no root-owned left), same for both sides
check() {
    local bad
    bad=$(find "$tree" -type f \( ! -user www-data -o ! -group www-data -o ! -perm 0664 \) | wc -l)
    [ "$bad" -eq 0 ] || { echo "MISMATCH: $bad files not www-data:www-data 0664 after $1" >&2; exit 1; }
}

declare -a tr tc tco
for i in $(seq 1 "$runs"); do
    fresh
    t0=$(now)
    "$build/permwatchd" -c "$work/repair.ini" --scan --repair --log-target stderr \
        >"$work/repair.out" 2>/dev/null
    t1=$(now); tr+=($(ms "$t0" "$t1")); check "permwatchd --scan --repair"
    nrep=$(wc -l <"$work/repair.out")

    fresh
    t0=$(now); chown -R www-data:www-data "$tree" && chmod -R g+w "$tree"; t1=$(now)
    tc+=($(ms "$t0" "$t1")); check "chown -R + chmod -R g+w"

    fresh
    t0=$(now); chown -R www-data:www-data "$tree"; t1=$(now)
    tco+=($(ms "$t0" "$t1"))
done
read -r planted nfiles ndirs <"$work/repair-planted"
mr=$(median "${tr[@]}") mc=$(median "${tc[@]}") mco=$(median "${tco[@]}")
{
    echo "tree: $ndirs directories, $nfiles files, $planted root:root 0644 (fresh copy per run)"
    echo "permwatchd --scan --repair:            median ${mr} ms of $runs (runs: ${tr[*]}), $nrep changes"
    echo "chown -R www-data:www-data + chmod -R g+w: median ${mc} ms of $runs (runs: ${tc[*]})"
    echo "chown -R www-data:www-data alone:      median ${mco} ms of $runs (runs: ${tco[*]})"
    echo "ratio repair/(chown -R + chmod -R): $(awk -v a="$mr" -v b="$mc" 'BEGIN {printf "%.2f", a / b}')"
    echo "ratio repair/(chown -R alone):      $(awk -v a="$mr" -v b="$mco" 'BEGIN {printf "%.2f", a / b}')"
} | tee bench/results/repair.txt
