#!/bin/sh
# run-demo.sh BUILD [SITE]: `make run`.
# Without SITE: builds a site shaped like the seed host under BUILD/demo (DEMO_DIR overrides):
# WordPress in the shared shape (www-data and the agent user opencode both write it; files
# 0664, directories 2775, group www-data) with the seed host's problems planted, and runs the
# live daemon on it under the SHIPPED policy (conf/permwatch.ini with its root replaced and
# opencode added as the comments there say). The startup crawl reports every finding kind;
# then the demo makes a root-owned upload, which `repair = auto` fixes, shows the findings by
# kind and the dispatch command blocked at /root (nothing under /root is touched: /root is
# 0700 on every Debian host, which is the point). The daemon then keeps running in the
# foreground until Ctrl-C (DEMO_SECONDS=N: stop N seconds after the scripted part instead).
# With SITE: the shipped policy with its root replaced, on that site, until Ctrl-C.
set -eu
build=$1 site=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "make run needs root: it builds a site owned by www-data (or reads any site)" >&2
    exit 1
fi
# the shipped policy's control_group (the package and `make install` create it the same way)
getent group permwatch >/dev/null || groupadd --system permwatch
# stderr for the terminal, and the journal too when one runs (journalctl -t permwatchd)
target=${DEMO_LOG_TARGET:-stderr}
[ -n "${DEMO_LOG_TARGET:-}" ] || [ ! -S /run/systemd/journal/socket ] || target=auto

if [ -n "$site" ]; then
    config=$build/run.ini
    sed "s|^root *=.*|root = $site|" "$here/../conf/permwatch.ini" >"$config"
    echo "policy:    $config (the shipped policy; see its comments for shared hosts)"
    echo "permwatchd is watching $site in the foreground (Ctrl-C stops it)."
    echo "One-shot audit instead: $build/permwatchd -c $config --scan [--json]"
    echo
    exec "$build/permwatchd" -c "$config" --log-target "$target"
fi

demo=${DEMO_DIR:-$build/demo}
site=$demo/site
config=$demo/permwatch.ini
sock=$demo/control.sock
rm -rf "$demo"
mkdir -p "$demo"
sh "$here/ensure-users.sh"
sh "$here/wp-site.sh" -s shared -p "$site"
# a few more of what real hosts show, so that every finding kind appears (in areas with
# `repair = manual`, so that they stay findings whatever the first start repairs)
up=$site/wp-content/uploads/2026/11
printf '<?php // notes\n' >"$site/wp-admin/includes/dev-notes.php"
chown nobody:www-data "$site/wp-admin/includes/dev-notes.php" # not a writer
chmod 0664 "$site/wp-admin/includes/dev-notes.php"
printf '// debug\n' >"$site/wp-includes/js/debug.js"
chown www-data:www-data "$site/wp-includes/js/debug.js"
chmod 0666 "$site/wp-includes/js/debug.js" # world-writable
mkfifo -m 0664 "$up/debug.fifo"            # a FIFO: no site needs one
chown www-data:www-data "$up/debug.fifo"
mkdir -p "$site/.opencode/bin"
printf '#!/bin/sh\n' >"$site/.opencode/bin/helper"
chown -R opencode:www-data "$site/.opencode/bin"
chmod 2775 "$site/.opencode/bin"
chmod 4775 "$site/.opencode/bin/helper" # setuid opencode
ch=$site/wp-content/mu-plugins/wp-coding-agents-channels.php
sed -i "s|    // END bridges|    // BEGIN bridge:cc-connect\n    \$channels['cc-connect'] = [ 'command' => \"/usr/bin/\$bin\" ];\n    // END bridge:cc-connect\n    // END bridges|" "$ch"

sed -e "s|^root *=.*|root = $site|" -e "s|^\[daemon\]\$|&\ncontrol_socket = $sock|" \
    -e 's/^writers = www-data$/writers = www-data, opencode/' \
    -e 's/^owner = www-data$/owner = www-data, opencode/' \
    "$here/../conf/permwatch.ini" >"$config"

cat <<EOF
demo site: $site
           shaped like the seed host: www-data and opencode (in group www-data) write it,
           files 0664, directories 2775; planted: root-owned files in wp-admin and uploads,
           an opencode file 0644 (www-data cannot update it), a 0600 mu-plugin from mktemp,
           world-writable files, a file of a user who is not a writer, a FIFO, a setuid
           helper, a bridge PHP cannot resolve, and the kimaki bridge under /root (0700).
policy:    $config
           the shipped policy: root replaced, opencode added to writers and owners, its
           own control socket

EOF
"$build/permwatchd" -c "$config" --log-target "$target" &
pid=$!
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap 'stop; exit 130' INT TERM
ctl() { "$build/permwatchctl" -s "$sock" "$@"; }
i=0
while :; do
    rc=0
    ctl status >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 3 ] || break
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "permwatchd did not start" >&2
        stop
        exit 1
    fi
    sleep 0.1
done
sleep 0.5 # let the dispatch worker's first round land

echo
echo "== the agent, running as root (umask 002), saves an upload: repair = auto fixes it"
(umask 002 && printf 'PNG\n' >"$up/live-upload.png")
i=0
while [ "$(stat -c %U "$up/live-upload.png")" = root ] && [ "$i" -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
ls -l "$up/live-upload.png"
if ctl status 2>/dev/null | grep -q '^backend: *fanotify'; then
    echo
    echo "== the agent runtime, running as root, saves 12 cache files: the fanotify backend names"
    echo "   the writer of each, and one root_writer finding names the process that keeps doing it"
    mkdir -p "$demo/bin"
    printf '#!/bin/sh
for i in $(seq 12); do printf x >"$1/agent-cache-$i.json"; done
sleep 1
' \
        >"$demo/bin/agent-runtime"
    chmod 0755 "$demo/bin/agent-runtime"
    (umask 002 && "$demo/bin/agent-runtime" "$up")
    sleep 0.3
    ctl status 2>/dev/null | grep -A2 '^root_writers:' || true
fi
sleep 0.3
echo
echo "== open findings by kind (permwatchctl findings)"
ctl --json findings | grep -o '"finding": *"[a-z_]*"' | sed 's/.*"\([a-z_]*\)"$/\1/' |
    sort | uniq -c || true
echo
echo "== dispatch commands as www-data would run them (permwatchctl dispatch)"
ctl dispatch || true
echo
echo "Try, in another terminal:"
echo "    touch $site/wp-admin/new.php                 # root-owned: a finding"
echo "    chown www-data:www-data $site/wp-admin/new.php   # resolved"
echo "    $build/permwatchctl -s $sock repair --dry-run     # what a repair would change"
echo "    $build/permwatchd --init-policy $site            # a policy fitted to this site"
if [ -n "${DEMO_SECONDS:-}" ]; then
    sleep "$DEMO_SECONDS"
    stop
    exit 0
fi
echo "permwatchd keeps watching in the foreground (Ctrl-C stops it)."
wait "$pid"
