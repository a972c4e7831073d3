#!/bin/bash
# unit-verify.sh MODE UNIT...: check systemd unit files without a running systemd, leaving
# nothing behind on the host.
#
#   verify UNIT...   systemd-analyze verify --man=no. It exits 0 on warnings, so ANY output is
#                    a failure: printed, exit 1.
#   security UNIT    systemd-analyze security --offline=yes: prints its table, whose last line
#                    is "→ Overall exposure level for UNIT: X.Y ...", and exits with its status.
#
# Both run in a private mount namespace: /run/systemd is an empty tmpfs there (verify leaves
# /run/systemd/systemd-units-load behind otherwise, and must not see a host systemd's state),
# and an Exec*= command of the units that is not installed (/usr/local/sbin/permwatchd before
# `make install`) is stood in for by a copy of /bin/true on a tmpfs over its directory, so that
# verify checks everything else. Needs root.
set -euo pipefail

usage() {
    echo "usage: $0 verify|security UNIT..." >&2
    exit 2
}
[ $# -ge 2 ] || usage
mode=$1
shift
case $mode in verify | security) ;; *) usage ;; esac
for u in "$@"; do
    [ -f "$u" ] || {
        echo "unit-verify.sh: $u: no such unit file" >&2
        exit 2
    }
done

tmp=$(mktemp -d /tmp/permwatch-unit-XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
export LIBMOUNT_UTAB="$tmp/utab" # mount(8) would create /run/mount on the host otherwise

# The Exec*= commands of the units (prefixes -@:+! stripped) that do not exist here.
missing=()
for u in "$@"; do
    while IFS= read -r cmd; do
        [ -z "$cmd" ] || [ -e "$cmd" ] || missing+=("$cmd")
    done < <(sed -n 's/^[[:space:]]*Exec[A-Za-z]*=[-@:+!]*\([^[:space:]]*\).*/\1/p' "$u")
done

rc=0
out=$(unshare --mount --propagation private -- /bin/bash -c '
set -euo pipefail
mode=$1 n=$2
shift 2
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
declare -A covered=()
for ((i = 0; i < n; i++)); do
    cmd=$1
    shift
    dir=$(dirname "$cmd")
    [ -d "$dir" ] || { echo "unit-verify.sh: $dir is missing: cannot stand in for $cmd"; exit 2; }
    if [ -z "${covered[$dir]:-}" ]; then
        mount -t tmpfs -o mode=0755 tmpfs "$dir"
        covered[$dir]=1
    fi
    cp /bin/true "$cmd"
done
case $mode in
verify) exec systemd-analyze verify --man=no "$@" ;;
security) exec systemd-analyze security --offline=yes --no-pager "$@" ;;
esac
' unit-verify "$mode" "${#missing[@]}" ${missing[@]+"${missing[@]}"} "$@" 2>&1) || rc=$?

if [ "$mode" = verify ]; then
    if [ -n "$out" ]; then
        printf '%s\n' "$out"
        [ "$rc" -ne 0 ] || rc=1
    fi
else
    printf '%s\n' "$out"
fi
exit "$rc"
