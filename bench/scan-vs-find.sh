#!/bin/bash
# scan-vs-find.sh [DIRS] [FILES_PER_DIR]: time `permwatchd --scan` against `find ROOT -user
# root` on the same generated tree (default 100,000 directories x 10 files = 1,000,000
# files, 1 in 100 planted root-owned), warm cache, alternating runs, median of 5 each.
# Not a test: prints figures and the ratio. Needs root. The tree lives in bench/results/tmp
# and is removed at the end unless KEEP=1 (then live-startup.sh reuses it). Run by `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=${1:-100000} files=${2:-10} runs=${RUNS:-5}
. bench/common.sh
bench_need_daemon
bench_tree "$dirs" "$files"
bench_policy "$work/bench.ini" "$tree"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$tree" "$work/shape"' EXIT

now() { date +%s%N; }
declare -a tf tp
for i in $(seq 1 "$runs"); do
    t0=$(now); find "$tree" -user root >"$work/find.out"; t1=$(now)
    tf+=($(( (t1 - t0) / 1000000 )))
    t0=$(now)
    "$build/permwatchd" -c "$work/bench.ini" --scan --log-target stderr >"$work/scan.out" 2>/dev/null || [ $? -eq 1 ]
    t1=$(now)
    tp+=($(( (t1 - t0) / 1000000 )))
done
mf=$(median "${tf[@]}") mp=$(median "${tp[@]}")
nf=$(wc -l <"$work/find.out") np=$(grep -c '^root_owned' "$work/scan.out" || true)
entries=$((nfiles + ndirs))
echo "tree: $ndirs directories, $nfiles files, $planted planted root-owned"
echo "find ROOT -user root:   median ${mf} ms of $runs (runs: ${tf[*]}), $nf paths"
echo "permwatchd --scan:      median ${mp} ms of $runs (runs: ${tp[*]}), $np root_owned"
echo "ratio scan/find: $(awk -v a="$mp" -v b="$mf" 'BEGIN {printf "%.2f", a / b}')"
echo "scan rate: $(( entries * 1000 / (mp > 0 ? mp : 1) )) entries/s"
[ "$nf" -eq "$planted" ] && [ "$np" -eq "$planted" ] || { echo "MISMATCH: find $nf, scan $np, planted $planted" >&2; exit 1; }
