#!/bin/sh
# wp-site.sh [-s stock|shared] [-d DEBIAN_EXTRACT] [-p] SITE: build a healthy WordPress site
# at SITE (must not exist) in one of the two shapes real hosts have (field-notes.md), and with
# -p plant the seed host's problems into it. Needs root (it chowns) and the users www-data
# and opencode (member of group www-data; tests/ensure-users.sh makes it).
#
# Trees:
#   default  a small synthetic tree: wp-admin, wp-includes, wp-content with plugins (akismet),
#            themes, uploads by year and month (2025/01 .. 2026/11), languages, mu-plugins
#            (the installer's channels, runtimes, cli-transport files), wp-config.php.
#   -d DIR   Debian's `wordpress` package extracted at DIR (dpkg-deb -x; see
#            tests/debian-wordpress.sh): /usr/share/wordpress laid out as the site with
#            /var/lib/wordpress/wp-content merged into wp-content; its symlinks (into
#            /etc/wordpress, /usr/share/php, /usr/share/javascript, /etc/ssl) become regular
#            files (the target's bytes when the package has it, else a stand-in), as in a site
#            unpacked from wordpress.org. uploads by year/month and the mu-plugins are added.
# Shapes (both healthy: every writer can write everything but wp-config.php, www-data reads
# everything):
#   stock    everything www-data:www-data, files 0644, directories 0755, wp-config.php 0640.
#   shared   group www-data everywhere, files 0664, directories 2775, wp-config.php 0640;
#            the agent user opencode owns its own parts (.opencode/, the installer's
#            mu-plugins, wp-content/plugins/agent-tools/), www-data the rest.
# Seed problems (-p), exactly these paths:
#   wp-admin/agent-patch.php                          root:root 0644   (root-owned, in core)
#   wp-content/uploads/2026/11/agent-upload.png       root:root 0644   (agent ran as root)
#   wp-content/uploads/2026/11/agent-export/          root:root 0755   (mkdir as root)
#   wp-content/uploads/2026/11/agent-export/report.pdf  root:root 0644
#   wp-content/plugins/agent-plugin/agent-plugin.php  opencode:www-data 0644 (no group write)
#   wp-content/mu-plugins/wp-coding-agents-mktemp.php opencode:www-data 0600 (mktemp)
#   wp-content/uploads/2026/11/world.txt              www-data:www-data 0666 (world-writable)
#   the channels file gains a bridge `kimaki` => /root/.kimaki/bin/kimaki (root's home 0700)
set -eu
shape=stock deb= seed=
while getopts s:d:p o; do
    case $o in
    s) shape=$OPTARG ;;
    d) deb=$OPTARG ;;
    p) seed=1 ;;
    *) echo "usage: wp-site.sh [-s stock|shared] [-d DEBIAN_EXTRACT] [-p] SITE" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
site=${1:?usage: wp-site.sh [-s stock|shared] [-d DEBIAN_EXTRACT] [-p] SITE}
case $shape in stock | shared) ;; *) echo "wp-site.sh: shape stock or shared" >&2; exit 2 ;; esac
[ ! -e "$site" ] || { echo "wp-site.sh: $site exists" >&2; exit 2; }
id -u opencode >/dev/null 2>&1 || { echo "wp-site.sh: user opencode missing" >&2; exit 2; }

php() { # php FILE...: small PHP files
    for x in "$@"; do
        mkdir -p "$(dirname "$site/$x")"
        printf '<?php // %s\n' "$x" >"$site/$x"
    done
}

if [ -n "$deb" ]; then
    [ -d "$deb/usr/share/wordpress" ] || { echo "wp-site.sh: no usr/share/wordpress in $deb" >&2; exit 2; }
    cp -a "$deb/usr/share/wordpress" "$site"
    [ ! -d "$deb/var/lib/wordpress/wp-content" ] ||
        cp -a "$deb/var/lib/wordpress/wp-content/." "$site/wp-content/"
    # symlinks -> regular files, resolved as on the installed system, looked up in the extract
    find "$site" -type l | while IFS= read -r l; do
        t=$(readlink "$l")
        rel=${l#"$site"}
        case $t in
        /*) abs=$t ;;
        *) abs=$(realpath -m "/usr/share/wordpress$(dirname "$rel")/$t") ;;
        esac
        rm "$l"
        if [ -f "$deb$abs" ]; then
            cp "$deb$abs" "$l"
        else
            printf 'stand-in for %s (another Debian package)\n' "$abs" >"$l"
        fi
    done
else
    mkdir -p "$site"
    php index.php wp-load.php wp-settings.php wp-login.php wp-cron.php xmlrpc.php \
        wp-admin/admin.php wp-admin/index.php wp-admin/update-core.php \
        wp-admin/includes/file.php wp-admin/includes/update.php wp-admin/css/common.css \
        wp-admin/js/updates.js wp-includes/version.php wp-includes/functions.php \
        wp-includes/js/wp-util.js wp-includes/css/dashicons.css wp-includes/blocks/index.php \
        wp-content/index.php wp-content/plugins/index.php wp-content/plugins/hello.php \
        wp-content/plugins/akismet/akismet.php wp-content/plugins/akismet/class.akismet.php \
        wp-content/plugins/akismet/views/config.php wp-content/themes/index.php \
        wp-content/themes/twentytwentythree/style.css \
        wp-content/themes/twentytwentythree/functions.php \
        wp-content/themes/twentytwentythree/templates/index.html \
        wp-content/languages/plugins/akismet-de_DE.po
    printf '# BEGIN WordPress\n# END WordPress\n' >"$site/.htaccess"
fi
# both trees: uploads by year and month, the installer's mu-plugins, wp-config.php
for y in 2025 2026; do
    for m in 01 02 03 04 05 06 07 08 09 10 11 12; do
        [ "$y$m" -le 202611 ] || continue
        mkdir -p "$site/wp-content/uploads/$y/$m"
        printf 'JPEG stand-in %s/%s\n' "$y" "$m" >"$site/wp-content/uploads/$y/$m/photo-$m.jpg"
    done
done
printf 'thumb\n' >"$site/wp-content/uploads/2026/11/photo-11-150x150.jpg"
php wp-content/mu-plugins/wp-coding-agents-runtimes.php \
    wp-content/mu-plugins/wp-coding-agents-cli-transport.php
[ -e "$site/wp-config.php" ] || php wp-config.php
ch=wp-content/mu-plugins/wp-coding-agents-channels.php
cp "$(dirname "$0")/fixtures/channels/roadie-bridge.php" "$site/$ch"

# the shape
chown -R www-data:www-data "$site"
if [ "$shape" = stock ]; then
    find "$site" -type d -exec chmod 0755 {} +
    find "$site" -type f -exec chmod 0644 {} +
else
    php .opencode/state.php wp-content/plugins/agent-tools/agent-tools.php
    chown -R www-data:www-data "$site/.opencode" "$site/wp-content/plugins/agent-tools"
    find "$site" -type d -exec chmod 2775 {} +
    find "$site" -type f -exec chmod 0664 {} +
    chown -R opencode "$site/.opencode" "$site/wp-content/plugins/agent-tools" \
        "$site"/wp-content/mu-plugins/wp-coding-agents-*.php
fi
chmod 0640 "$site/wp-config.php"

[ -n "$seed" ] || exit 0
# the seed host's problems
mk() { # mk MODE OWNER:GROUP FILE
    mkdir -p "$(dirname "$site/$3")"
    printf '<?php // %s\n' "$3" >"$site/$3"
    chown "$2" "$site/$3"
    chmod "$1" "$site/$3"
}
dirmode=0755
[ "$shape" = stock ] || dirmode=2775
mkdir "$site/wp-content/plugins/agent-plugin"
chown www-data:www-data "$site/wp-content/plugins/agent-plugin"
chmod "$dirmode" "$site/wp-content/plugins/agent-plugin"
mk 0644 root:root wp-admin/agent-patch.php
mk 0644 root:root wp-content/uploads/2026/11/agent-upload.png
mkdir "$site/wp-content/uploads/2026/11/agent-export"
chown root:root "$site/wp-content/uploads/2026/11/agent-export"
chmod 0755 "$site/wp-content/uploads/2026/11/agent-export"
mk 0644 root:root wp-content/uploads/2026/11/agent-export/report.pdf
mk 0644 opencode:www-data wp-content/plugins/agent-plugin/agent-plugin.php
mk 0600 opencode:www-data wp-content/mu-plugins/wp-coding-agents-mktemp.php
mk 0666 www-data:www-data wp-content/uploads/2026/11/world.txt
sed -i "s|    // END bridges|    // BEGIN bridge:kimaki\n    \$channels['kimaki'] = [\n        'command' => '/root/.kimaki/bin/kimaki',\n        'detach'  => true,\n    ];\n    // END bridge:kimaki\n    // END bridges|" \
    "$site/$ch"
