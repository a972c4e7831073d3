#!/bin/bash
# journald-ns.sh CMD [ARGS...]: run CMD in a private mount namespace that has its own real,
# standalone systemd-journald, and exit with CMD's exit status.
#
#   - tmpfs over /run/systemd/journal, /run/log/journal and /var/log/journal. A directory the
#     host lacks is never created on the host: its parent gets a tmpfs instead and the
#     parent's entries are bind-mounted back into it.
#   - our own journald.conf (volatile storage, no kernel messages, no rate limit, no
#     forwarding) bind-mounted over /etc/systemd/journald.conf; journald.conf.d drop-in
#     directories are masked with empty tmpfs.
#   - JOURNALD_PID is exported to CMD. When CMD returns, journald gets SIGTERM (it syncs and
#     exits) and is waited for; the temp directory is removed.
#
# Making entries visible from CMD: journald handles datagrams asynchronously, so an entry
# just sent may not be stored yet. Run `journalctl --sync` in CMD before reading: in systemd
# 252 it calls io.systemd.Journal.Synchronize over journald's varlink socket
# (/run/systemd/journal/io.systemd.journal, inside the namespace) and returns once journald
# has read everything queued and written it out; then `journalctl -o json` sees it all (the
# volatile journal lives in /run/log/journal of the namespace). Without --sync, reading races
# with journald.
#
# Needs root. The host's journal, catalog and configuration are neither read nor written.
set -euo pipefail

usage() {
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
[ "$(id -u)" -eq 0 ] || {
    echo "journald-ns.sh: needs root (mount namespace, journald)" >&2
    exit 2
}
JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || {
    echo "journald-ns.sh: $JOURNALD is missing (apt-get install systemd)" >&2
    exit 2
}

tmp=$(mktemp -d /tmp/permwatch-journald-XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
cat >"$tmp/journald.conf" <<'EOF'
# permwatch tests: private journald, bind-mounted over /etc/systemd/journald.conf
[Journal]
Storage=volatile
ReadKMsg=no
RateLimitIntervalSec=0
RateLimitBurst=0
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
RuntimeMaxUse=32M
EOF

# mount(8) keeps its utab (and a lock) under /run/mount: keep it in our temp dir instead, so
# that not even that directory appears on the host.
export LIBMOUNT_UTAB="$tmp/utab"

rc=0
unshare --mount --propagation private -- /bin/bash -c '
set -euo pipefail
tmp=$1
shift

# empty_tmpfs DIR: an empty tmpfs at DIR; when DIR is missing, keep the host untouched by
# putting a tmpfs over its (existing) parent, bind-mounting the parent'"'"'s entries back.
empty_tmpfs() {
    local d=$1 p stage e n
    if [ -d "$d" ]; then
        mount -t tmpfs -o mode=0755,size=64m tmpfs "$d"
        return
    fi
    p=$(dirname "$d")
    [ -d "$p" ] || empty_tmpfs "$p"
    stage=$tmp/stage$(echo "$p" | tr / _)
    if [ ! -e "$stage.done" ]; then
        mkdir -p "$stage"
        mount --rbind "$p" "$stage"
        mount -t tmpfs -o "mode=$(stat -c %a "$stage"),size=64m" tmpfs "$p"
        chown --reference="$stage" "$p"
        for e in "$stage"/* "$stage"/.[!.]*; do
            [ -e "$e" ] || [ -L "$e" ] || continue
            n=$p/${e##*/}
            if [ -L "$e" ]; then
                cp -P "$e" "$n"
            elif [ -d "$e" ]; then
                mkdir -p "$n" # mount(8) may have made /run/mount already
                mount --rbind "$e" "$n"
            else
                [ -e "$n" ] || touch "$n"
                mount --bind "$e" "$n"
            fi
        done
        touch "$stage.done"
    fi
    mkdir -p "$d"
    mount -t tmpfs -o mode=0755,size=64m tmpfs "$d"
}

for d in /run/systemd/journal /run/log/journal /var/log/journal; do
    empty_tmpfs "$d"
done
for d in /etc/systemd/journald.conf.d /run/systemd/journald.conf.d \
         /usr/local/lib/systemd/journald.conf.d /usr/lib/systemd/journald.conf.d; do
    if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 tmpfs "$d"; fi
done
if [ -e /etc/systemd/journald.conf ]; then
    mount --bind "$tmp/journald.conf" /etc/systemd/journald.conf
else
    echo "journald-ns.sh: /etc/systemd/journald.conf is missing" >&2
    exit 2
fi

/lib/systemd/systemd-journald </dev/null >"$tmp/journald.log" 2>&1 &
JOURNALD_PID=$!
export JOURNALD_PID
stop_journald() {
    kill -TERM "$JOURNALD_PID" 2>/dev/null || true
    wait "$JOURNALD_PID" 2>/dev/null || true
}
trap stop_journald EXIT

for _ in $(seq 1 500); do
    [ -S /run/systemd/journal/socket ] && break
    kill -0 "$JOURNALD_PID" 2>/dev/null || break
    sleep 0.01
done
if [ ! -S /run/systemd/journal/socket ]; then
    echo "journald-ns.sh: journald did not come up:" >&2
    cat "$tmp/journald.log" >&2
    exit 1
fi

rc=0
"$@" || rc=$?
exit "$rc"
' journald-ns "$tmp" "$@" || rc=$?
exit "$rc"
