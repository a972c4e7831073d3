#!/bin/sh
# valgrind.sh: the daemon under valgrind (memcheck, leaks are errors), on the fixture site:
# -t, --scan, --scan --json, a config error, and the live daemon through events and a reload.
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
# the live daemon: crawl, events (root files, a moved directory, a chown), a reload, SIGTERM
vg_live() {
    rc=0
    valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect "$build/permwatchd" -c "$tmp/site.ini" \
        --log-target stderr >/dev/null 2>"$tmp/vg.err" &
    pid=$!
    i=0
    until grep -q "watching $tmp/site" "$tmp/vg.err" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 600 ]; then echo "valgrind: live daemon did not start" >&2; cat "$tmp/vg.err" >&2; kill $pid; exit 1; fi
        sleep 0.1
    done
    mkdir -p "$tmp/site/wp-content/uploads/vg/a" && touch "$tmp/site/wp-content/uploads/vg/a/f"
    mv "$tmp/site/wp-content/uploads/vg" "$tmp/site/wp-content/vg2"
    chown -R www-data:www-data "$tmp/site/wp-content/vg2"
    rm -rf "$tmp/site/wp-content/vg2"
    sleep 1
    kill -HUP $pid
    sleep 1
    kill -TERM $pid
    wait $pid || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "valgrind: live permwatchd exited $rc, expected 0" >&2
        cat "$tmp/vg.err" >&2
        exit 1
    fi
}
vg_live
echo "valgrind: clean"
