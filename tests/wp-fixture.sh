#!/bin/sh
# wp-fixture.sh SITE [CONFIG]: build a WordPress-like site at SITE (which must not exist or
# be empty) the way field-notes.md describes real hosts, with planted problems, and write a
# matching policy to CONFIG. Needs root (it chowns) and the users www-data and, when it
# exists, opencode (member of www-data). Used by the tests, `make run` and the benchmarks.
#
# Planted (with opencode present; without it, root stands in for opencode):
#   wp-content/uploads/2026/11/agent-upload.png    root:root 0644      (agent ran as root)
#   wp-content/uploads/2026/11/agent-export/       root:root 0755 dir  (mkdir as root)
#   wp-content/uploads/2026/11/agent-export/report.pdf  root:root 0644
#   wp-content/plugins/agent-plugin/agent-plugin.php    opencode:www-data 0644 (no group write)
#   wp-content/mu-plugins/wp-coding-agents-cli-transport.php  opencode:www-data 0600 (mktemp)
# Not findings: wp-content/cache/** (ignored, root-owned inside), symlinks to /etc and
# /etc/passwd (never followed), wp-content/mnt (an empty mount point a test may mount on).
set -eu
site=${1:?usage: wp-fixture.sh SITE [CONFIG]}
config=${2:-}
agent=opencode
id -u opencode >/dev/null 2>&1 || agent=root

d() { # d MODE OWNER:GROUP DIR...
    m=$1 o=$2; shift 2
    for x in "$@"; do mkdir -p "$site/$x"; chown "$o" "$site/$x"; chmod "$m" "$site/$x"; done
}
f() { # f MODE OWNER:GROUP FILE...
    m=$1 o=$2; shift 2
    for x in "$@"; do
        printf '<?php // %s\n' "$x" >"$site/$x"
        chown "$o" "$site/$x"; chmod "$m" "$site/$x"
    done
}

mkdir -p "$site"
d 0775 www-data:www-data . wp-admin wp-admin/css wp-admin/includes wp-includes \
    wp-includes/js wp-content wp-content/plugins wp-content/plugins/akismet \
    wp-content/plugins/agent-plugin wp-content/themes wp-content/themes/twentytwentysix \
    wp-content/uploads wp-content/mu-plugins wp-content/cache wp-content/mnt
d 2775 www-data:www-data wp-content/uploads/2026 wp-content/uploads/2026/11
d 0770 "$agent":www-data .opencode
f 0664 www-data:www-data index.php wp-load.php wp-settings.php .htaccess wp-admin/admin.php \
    wp-admin/css/common.css wp-admin/includes/file.php wp-includes/version.php \
    wp-includes/js/wp-util.js wp-content/index.php wp-content/plugins/akismet/akismet.php \
    wp-content/plugins/hello.php wp-content/themes/twentytwentysix/style.css \
    wp-content/themes/twentytwentysix/functions.php wp-content/uploads/2026/11/photo.jpg \
    wp-content/mu-plugins/wp-coding-agents-channels.php \
    wp-content/mu-plugins/wp-coding-agents-runtimes.php
f 0640 www-data:www-data wp-config.php
f 0660 "$agent":www-data .opencode/state.json
f 0644 root:root wp-content/cache/page-1.html wp-content/cache/page-2.html

# planted problems
f 0644 root:root wp-content/uploads/2026/11/agent-upload.png
d 0755 root:root wp-content/uploads/2026/11/agent-export
f 0644 root:root wp-content/uploads/2026/11/agent-export/report.pdf
f 0644 "$agent":www-data wp-content/plugins/agent-plugin/agent-plugin.php
f 0600 "$agent":www-data wp-content/mu-plugins/wp-coding-agents-cli-transport.php

# the channels mu-plugin (field-notes.md): one bridge with a bare command name that the web
# user reaches on its PATH; the args hold a token that must never be logged
cp "$(dirname "$0")/fixtures/channels/roadie-bridge.php" \
    "$site/wp-content/mu-plugins/wp-coding-agents-channels.php"

# hostile but harmless: symlinks out of the tree are never followed
ln -s /etc "$site/wp-content/uploads/escape"
ln -s /etc/passwd "$site/wp-content/link-to-passwd"

[ -n "$config" ] || exit 0
cat >"$config" <<INI
; policy for the fixture site built by tests/wp-fixture.sh
[site]
root = $site
web_user = www-data

[daemon]
control_socket = $(cd "$(dirname "$config")" && pwd)/control.sock

[rule cache]
match = wp-content/cache/**
ignore = yes

[rule agent-state]
match = .opencode/**
owner = $agent, www-data
group = www-data
file_require = 0660
dir_require = 0770

[rule wp-config]
match = wp-config.php
owner = www-data
group = www-data
file_require = 0440
file_forbid = 0027
repair = manual

[rule mu-plugins]
match = wp-content/mu-plugins/wp-coding-agents-*.php
owner = www-data, $agent
group = www-data
file_require = 0664
web_readable = yes

[rule site]
match = **
owner = www-data, $agent
group = www-data
file_require = 0660
file_forbid = 0002
dir_require = 0770
dir_forbid = 0002
web_readable = yes
INI
