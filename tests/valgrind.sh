#!/bin/sh
# valgrind.sh: the daemon's one-shot paths under valgrind (memcheck, leaks are errors), on the
# fixture site: -t, --scan, --scan --json, and a config error.
set -eu
build=${PERMWATCH_BUILD:?}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/permwatch-valgrind-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sh "$here/wp-fixture.sh" "$tmp/site" "$tmp/site.ini"
printf '[site]\nroot = /tmp\n[rule x]\nmatch = **\nbogus = 1\n' >"$tmp/bad.ini"
vg() { # vg EXPECTED_EXIT ARGS...
    want=$1; shift
    rc=0
    valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect "$build/permwatchd" "$@" >/dev/null 2>"$tmp/vg.err" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "valgrind: permwatchd $* exited $rc, expected $want" >&2
        cat "$tmp/vg.err" >&2
        exit 1
    fi
}
vg 0 -t -c "$tmp/site.ini"
vg 1 -c "$tmp/site.ini" --scan --log-target stderr
vg 1 -c "$tmp/site.ini" --scan --json --log-target stderr
vg 1 -t -c "$tmp/bad.ini"
vg 2 -c "$tmp/site.ini" --scan /etc --log-target stderr
echo "valgrind: clean"
