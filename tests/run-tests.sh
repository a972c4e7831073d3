#!/bin/sh
# run-tests.sh TEST_BIN...: run each Criterion binary; fail if any fails. PERMWATCH_BUILD
# names the build directory whose permwatchd the integration tests drive.
set -u
cd "$(dirname "$0")/.."
failed=
for t in "$@"; do
    echo "== $t"
    timeout 600 "$t" --jobs 2 --short-filename || failed="$failed $t"
done
if [ -n "$failed" ]; then
    echo "FAILED:$failed" >&2
    exit 1
fi
echo "all tests passed ($PERMWATCH_BUILD)"
