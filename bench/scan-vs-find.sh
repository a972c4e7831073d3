#!/bin/bash
# scan-vs-find.sh [DIRS] [FILES_PER_DIR]: time `permwatchd --scan` against `find ROOT -user
# root` on the same generated tree (default 100,000 directories x 10 files = 1,000,000
# files, 1 in 100 planted root-owned), warm cache, alternating runs, median of 5 each.
# Not a test: prints figures and the ratio. Needs root. The tree lives in bench/results/tmp
# and is removed at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=${1:-100000} files=${2:-10} runs=${RUNS:-5}
build=${BUILD:-build}
work=$PWD/bench/results/tmp
tree=$work/site
mkdir -p "$work"
cc -O2 -o "$work/mktree" bench/mktree.c
if [ ! -d "$tree" ] || [ "$(cat "$work/shape" 2>/dev/null)" != "$dirs x $files" ]; then
    rm -rf "$tree"
    echo "generating $dirs directories x $files files ..."
    t0=$(date +%s.%N)
    "$work/mktree" "$tree" "$dirs" "$files" 100 >"$work/planted"
    echo "$dirs x $files" >"$work/shape"
    echo "generated in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
fi
read -r planted nfiles ndirs <"$work/planted"
cat >"$work/bench.ini" <<INI
[site]
root = $tree
[rule site]
match = **
owner = www-data
group = www-data
file_require = 0660
dir_require = 0770
INI
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
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mf=$(median "${tf[@]}") mp=$(median "${tp[@]}")
nf=$(wc -l <"$work/find.out") np=$(grep -c '^root_owned' "$work/scan.out" || true)
entries=$((nfiles + ndirs))
echo "tree: $ndirs directories, $nfiles files, $planted planted root-owned"
echo "find ROOT -user root:   median ${mf} ms of $runs (runs: ${tf[*]}), $nf paths"
echo "permwatchd --scan:      median ${mp} ms of $runs (runs: ${tp[*]}), $np root_owned"
echo "ratio scan/find: $(awk -v a="$mp" -v b="$mf" 'BEGIN {printf "%.2f", a / b}')"
echo "scan rate: $(( entries * 1000 / (mp > 0 ? mp : 1) )) entries/s"
[ "$nf" -eq "$planted" ] && [ "$np" -eq "$planted" ] || { echo "MISMATCH: find $nf, scan $np, planted $planted" >&2; exit 1; }
