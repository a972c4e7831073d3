#!/bin/bash
# live.sh: the live-daemon benchmarks at their default sizes, live-startup.sh then
# live-latency.sh, with a header describing the machine; the whole output also goes to
# bench/results/live.txt (OUT=FILE elsewhere). Run by `make bench` after scan-vs-find.sh.
# KEEP=1 keeps the generated tree; BUILD: the build directory.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
out=${OUT:-bench/results/live.txt}
tmp=$(mktemp "${out}.XXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT TERM HUP
rc=0
{
    echo "# permwatch live-daemon benchmarks ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git status --porcelain -uno daemon 2>/dev/null | grep -q . && echo ' (daemon/ modified)')," \
        "build ${BUILD:-build}$(git ls-files --others --exclude-standard daemon | tr '\n' ' ' | sed 's/^./ with untracked &/; s/ $//')"
    echo "# $(uname -sr), $(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
        "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
        "$(findmnt -no FSTYPE -T bench) at bench/"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); other processes above 20% CPU:" \
        "$(ps -eo pcpu=,pid=,comm= --sort=-pcpu | awk '$1 > 20 {printf "%s%s[%s] %s%%", n++ ? ", " : "", $3, $2, $1} END {if (!n) printf "none"}')"
    echo
    echo "## startup: permwatchd exec -> READY=1 vs inotifywait -r -> Watches established"
    bash bench/live-startup.sh
    echo
    echo "## detection latency: file created as root -> root_owned entry in the journal"
    bash bench/live-latency.sh
} 2>&1 | tee "$tmp" || rc=$?
{
    echo
    echo "## summary"
    sed -n 's/^summary //p' "$tmp"
    [ "$rc" -eq 0 ] || echo "!!! a benchmark failed (exit $rc): see above !!!"
} | tee -a "$tmp"
mv "$tmp" "$out"
echo "written to $out"
exit "$rc"
