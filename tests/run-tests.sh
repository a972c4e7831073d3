#!/bin/sh
# run-tests.sh TEST_BIN...: run each Criterion binary; fail if any fails. PERMWATCH_BUILD
# names the build directory whose permwatchd the integration tests drive. test_live* binaries
# run inside tests/journald-ns.sh.
set -u
cd "$(dirname "$0")/.."
failed=
for t in "$@"; do
    echo "== $t"
    case "$t" in
    # the live daemon's tests read what it logs from a private, real journald: the whole
    # binary (the daemons it starts and its journalctl readers) runs in that namespace
    */test_live*) timeout 600 bash tests/journald-ns.sh "$t" --jobs 2 --short-filename ||
        failed="$failed $t" ;;
    *) timeout 600 "$t" --jobs 2 --short-filename || failed="$failed $t" ;;
    esac
done
if [ -n "$failed" ]; then
    echo "FAILED:$failed" >&2
    exit 1
fi
echo "all tests passed ($PERMWATCH_BUILD)"
