#!/bin/sh
# deb-check.sh DEB VERSION "BUILD-DEPS": `make check-deb`, after `make deb` (which ran lintian).
# Checks what lintian does not know: the package holds exactly tests/deb-contents.txt (files and
# symlinks; directories aside), root-owned, programs 0755 and the rest 0644; its version is the
# Makefile's; Depends: came from shlibs; the policy is the one conffile and is conf/permwatch.ini;
# postinst creates group permwatch before it enables and starts permwatchd.service and
# permwatchd.socket (and no template); the installed units run /usr/sbin, /usr/bin; the source
# package's Build-Depends are the Makefile's DEPS_BUILD (gcc and make aside: build-essential).
# Prints one "ok" line per check; exits 1 at the end when any failed.
set -u
deb=$1 version=$2 build_deps=$3
here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
[ -f "$deb" ] || { echo "FAIL no package $deb (make deb)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/root" && dpkg-deb -e "$deb" "$tmp/DEBIAN" || { echo "FAIL dpkg-deb" >&2; exit 1; }

# contents: non-directories, against the expected list
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { p = $6; sub(/^\./, "", p); print p }' | sort >"$tmp/have"
sort "$here/deb-contents.txt" >"$tmp/want"
if cmp -s "$tmp/have" "$tmp/want"; then ok "contents: $(wc -l <"$tmp/want") files as tests/deb-contents.txt"
else bad "contents differ from tests/deb-contents.txt (- missing, + not expected):
$(diff "$tmp/want" "$tmp/have" | sed -n 's/^</  -/p; s/^>/  +/p')"; fi
# owners and modes
odd=$(dpkg-deb -c "$deb" | awk '$2 != "root/root" { print $6 ": owner " $2; next }
    $1 ~ /^d/ { if ($1 != "drwxr-xr-x") print $6 ": " $1; next }
    $6 ~ /^\.\/usr\/s?bin\// { if ($1 != "-rwxr-xr-x") print $6 ": " $1; next }
    $1 != "-rw-r--r--" { print $6 ": " $1 }')
if [ -z "$odd" ]; then ok "owners root/root, modes 0755 programs and dirs, 0644 the rest"
else bad "owner or mode: $odd"; fi

# control data
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = permwatch ] && [ "$(field Version)" = "$version" ] \
    && ok "package permwatch $version" || bad "package $(field Package) $(field Version), want $version"
dep=$(field Depends)
missing=
for lib in libc6 libsystemd0 libev4 libinih1 libjansson4 libacl1 systemd; do
    echo ", $dep," | grep -q "[ ,]$lib[ (,]" || missing="$missing $lib"
done
[ -z "$missing" ] && ok "Depends (shlibs and systemd): $dep" || bad "Depends lacks$missing: $dep"
[ "$(cat "$tmp/DEBIAN/conffiles" 2>/dev/null)" = /etc/permwatch/permwatch.ini ] \
    && ok "conffile /etc/permwatch/permwatch.ini" \
    || bad "conffiles: $(cat "$tmp/DEBIAN/conffiles" 2>/dev/null)"
cmp -s "$tmp/root/etc/permwatch/permwatch.ini" "$top/conf/permwatch.ini" \
    && ok "the policy is conf/permwatch.ini" || bad "the packaged policy differs from conf/permwatch.ini"

# maintainer scripts: group first, then the two units enabled and started, no template
pi=$tmp/DEBIAN/postinst
sys=$(grep -n 'systemd-sysusers .*permwatch\.conf' "$pi" | head -n 1 | cut -d: -f1)
first=$(grep -n 'deb-systemd-helper\|deb-systemd-invoke' "$pi" | head -n 1 | cut -d: -f1)
[ -n "$sys" ] && [ -n "$first" ] && [ "$sys" -lt "$first" ] \
    && ok "postinst: systemd-sysusers permwatch.conf before the units" \
    || bad "postinst: no systemd-sysusers permwatch.conf before the units"
for u in permwatchd.service permwatchd.socket; do
    grep -q "deb-systemd-helper enable '$u'" "$pi" && grep -q "deb-systemd-invoke .*'$u'" "$pi" \
        && ok "postinst enables and starts $u" || bad "postinst does not enable and start $u"
done
grep -q "deb-systemd-helper enable '[^']*@" "$pi" \
    && bad "postinst enables a template unit: $(grep -n "enable '[^']*@" "$pi")" \
    || ok "postinst enables no template unit"
grep -q "try-restart\|deb-systemd-invoke restart \"\$unit\"" "$pi" \
    && ok "postinst restarts running instances after an upgrade" \
    || bad "postinst does not restart running template instances"
grep -q "deb-systemd-invoke stop" "$tmp/DEBIAN/prerm" && ok "prerm stops the units on remove" \
    || bad "prerm does not stop the units"
grep -q "deb-systemd-invoke stop 'permwatchd@\*.socket' 'permwatchd@\*.service'" "$tmp/DEBIAN/prerm" \
    && ok "prerm stops template instances on remove" || bad "prerm leaves template instances running"

# installed units: /usr paths
u=$tmp/root/lib/systemd/system
if grep -q '^Exec.*/usr/local/' "$u"/* 2>/dev/null; then bad "units still run /usr/local: $(grep -n '^Exec.*/usr/local/' "$u"/*)"
elif grep -q '^ExecStart=/usr/sbin/permwatchd' "$u/permwatchd.service" 2>/dev/null; then
    ok "units run /usr/sbin/permwatchd (no /usr/local in Exec lines)"
else bad "permwatchd.service: no ExecStart=/usr/sbin/permwatchd"; fi

# source package: Build-Depends = DEPS_BUILD minus build-essential; version = VERSION
bd=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$top/packaging/debian/control" | sed '$d' |
    sed 's/^Build-Depends://' | tr ',' '\n' | sed 's/[[:space:]]//g; s/(.*//' | grep . |
    grep -v '^debhelper-compat$\|^dh-sequence-' | sort | tr '\n' ' ')
want=$(printf '%s\n' $build_deps | sort | tr '\n' ' ')
[ "$bd" = "$want" ] && ok "Build-Depends = DEPS_BUILD: $want" \
    || bad "Build-Depends [$bd] differ from the Makefile's DEPS_BUILD [$want]"
cv=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
[ "$cv" = "$version" ] && ok "debian/changelog version $cv" \
    || bad "debian/changelog version $cv, Makefile VERSION $version"

[ "$fails" -eq 0 ] || { echo "deb-check: $fails failed" >&2; exit 1; }
echo "deb-check: all passed"
