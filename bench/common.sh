# bench/common.sh: sourced by the benchmark scripts (bash, set -euo pipefail, run from the
# repository root). Not a program of its own.

work=$PWD/bench/results/tmp
build=${BUILD:-build}
mkdir -p "$work"

# bench_tree DIRS FILES_PER_DIR: the generated site in $work/site (bench/mktree.c: DIRS
# directories x FILES_PER_DIR files, 1 in 100 planted root-owned), cached between scripts:
# regenerated only when missing or of another shape. Sets tree, planted, nfiles, ndirs.
# Removing it is the caller's business (KEEP=1 keeps it).
bench_tree() {
    local dirs=$1 files=$2 t0
    tree=$work/site
    cc -O2 -o "$work/mktree" bench/mktree.c
    if [ ! -d "$tree" ] || [ "$(cat "$work/shape" 2>/dev/null)" != "$dirs x $files" ]; then
        rm -rf "$tree" "$work/shape"
        echo "generating $dirs directories x $files files ..."
        t0=$(date +%s.%N)
        "$work/mktree" "$tree" "$dirs" "$files" 100 >"$work/planted"
        echo "$dirs x $files" >"$work/shape"
        echo "generated in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
    fi
    read -r planted nfiles ndirs <"$work/planted"
}

# bench_policy FILE ROOT [DAEMON_KEYS] [RULE_KEYS]: the benchmarks' policy: everything under
# ROOT owned by www-data:www-data, files 0660 and directories 0770 at least. DAEMON_KEYS
# ("key = value" lines) go into [daemon], RULE_KEYS into the rule.
bench_policy() {
    local file=$1 root=$2 daemon=${3:-} rule=${4:-}
    {
        printf '[site]\nroot = %s\n' "$root"
        [ -z "$daemon" ] || printf '[daemon]\n%s\n' "$daemon"
        printf '[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n'
        printf 'file_require = 0660\ndir_require = 0770\n'
        [ -z "$rule" ] || printf '%s\n' "$rule"
    } >"$file"
}

# bench_cc OUT SRC [LIBS...]: build a benchmark helper the way the project builds its C.
bench_cc() {
    local out=$1 src=$2
    shift 2
    cc -std=gnu17 -O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2 -D_GNU_SOURCE -o "$out" "$src" "$@"
}

# bench_need_daemon: $build/permwatchd must exist.
bench_need_daemon() {
    [ -x "$build/permwatchd" ] || {
        echo "$build/permwatchd is missing: run 'make BUILD=$build all' first" >&2
        exit 2
    }
}

# median N...: the middle value (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
