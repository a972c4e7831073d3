#!/bin/sh
# debian-wordpress.sh OUT: extract Debian's `wordpress` package (a real WordPress tree nobody
# here wrote) into OUT with dpkg-deb -x. The .deb is downloaded once (apt-get download) and
# cached in /var/cache/permwatch-test (PERMWATCH_TEST_CACHE), like the nspawn rootfs.
# Exit 0, 1 on error, 77 with "SKIP: WHY" on stdout when it cannot be had (no network on the
# first run, no apt-get).
set -eu
out=${1:?usage: debian-wordpress.sh OUT}
cache=${PERMWATCH_TEST_CACHE:-/var/cache/permwatch-test}
skip() { echo "SKIP: $*"; exit 77; }
command -v dpkg-deb >/dev/null || skip "no dpkg-deb"
mkdir -p "$cache"
deb=$(ls "$cache"/wordpress_*_all.deb 2>/dev/null | tail -n 1 || true)
if [ -z "$deb" ]; then
    command -v apt-get >/dev/null || skip "no apt-get to download the wordpress package"
    tmp=$(mktemp -d "$cache/wordpress-dl.XXXXXX")
    chmod 0755 "$tmp" # apt's _apt user writes there when it can
    if ! (cd "$tmp" && timeout 300 apt-get download wordpress >/dev/null 2>&1); then
        rm -rf "$tmp"
        skip "apt-get download wordpress failed (no network to the Debian mirror?)"
    fi
    f=$(ls "$tmp"/wordpress_*_all.deb | head -n 1)
    mv "$f" "$cache/"
    rm -rf "$tmp"
    deb=$cache/$(basename "$f")
fi
mkdir -p "$out"
dpkg-deb -x "$deb" "$out"
