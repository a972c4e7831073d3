#!/bin/sh
# run-demo.sh BUILD [SITE]: `make run`. Without SITE, builds a demo WordPress-like site with
# planted problems under BUILD/demo and audits it; with SITE, audits that site under the
# shipped policy (conf/permwatch.ini with its root replaced).
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
    echo "demo site: $site (planted: root-owned uploads, a 0644 plugin file, a 0600 mu-plugin)"
else
    config=$build/run.ini
    sed "s|^root *=.*|root = $site|" "$here/../conf/permwatch.ini" >"$config"
fi
echo "policy:    $config"
echo "\$ permwatchd -c $config --scan"
rc=0
"$build/permwatchd" -c "$config" --scan --log-target stderr || rc=$?
case $rc in
0) echo "no findings." ;;
1) echo
   echo "Try: chown root:root $site/index.php; then run 'make run SITE=$site' again, or" \
        "'$build/permwatchd -c $config --scan --json'." ;;
*) exit "$rc" ;;
esac
