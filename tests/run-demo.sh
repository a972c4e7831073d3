#!/bin/sh
# run-demo.sh BUILD [SITE]: `make run`. Without SITE, builds a demo WordPress-like site with
# planted problems under BUILD/demo; with SITE, uses that site under the shipped policy
# (conf/permwatch.ini with its root replaced). Then runs the live daemon in the foreground,
# logging to the terminal (and to the journal when one runs) until Ctrl-C.
set -eu
build=$1 site=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "make run needs root: it builds a site owned by www-data (or reads any site)" >&2
    exit 1
fi
if [ -z "$site" ]; then
    site=$build/demo/site
    config=$build/demo/permwatch.ini
    rm -rf "$build/demo"
    mkdir -p "$build/demo"
    sh "$here/wp-fixture.sh" "$site" "$config"
    # the field incident: a bridge whose binary lives under root's home
    ch=$site/wp-content/mu-plugins/wp-coding-agents-channels.php
    sed -i "s|    // END bridges|    // BEGIN bridge:kimaki\n    \$channels['kimaki'] = [\n        'command' => '/root/.kimaki/bin/kimaki',\n        'detach'  => true,\n    ];\n    // END bridge:kimaki\n    // END bridges|" "$ch"
    echo "demo site: $site (planted: root-owned uploads, a 0644 plugin file, a 0600 mu-plugin,"
    echo "           and a dispatch command under /root that www-data cannot reach)"
else
    config=$build/run.ini
    sed "s|^root *=.*|root = $site|" "$here/../conf/permwatch.ini" >"$config"
fi
echo "policy:    $config"
echo
echo "permwatchd is watching $site in the foreground (Ctrl-C stops it). Findings appear"
echo "below as they happen; in another terminal, try:"
echo "    touch $site/wp-content/uploads/new.png            # root-owned: a finding"
echo "    chown www-data:www-data $site/wp-content/uploads/new.png   # resolved"
echo "    chmod 0600 $site/index.php                          # mode and web-readability"
echo "One-shot audit instead: $build/permwatchd -c $config --scan [--json]"
echo
# stderr for the terminal, and the journal too when one runs (journalctl -t permwatchd)
target=stderr
[ -S /run/systemd/journal/socket ] && target=auto
exec "$build/permwatchd" -c "$config" --log-target "$target"
