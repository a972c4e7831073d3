#!/bin/bash
# fan-nspawn.sh PKG.deb: the fanotify backend and writer attribution under a real systemd.
# Boots systemd as PID 1 of a systemd-nspawn container over the Debian bookworm rootfs of
# tests/nspawn-lib.sh, with the fanotify system calls allowed to the container
# (--system-call-filter) and the site on a tmpfs (/var/www: fanotify cannot mark the rootfs's
# overlayfs), installs PKG.deb with `dpkg -i`, and checks, as an admin would see it:
#   - the stock unit (no CAP_SYS_ADMIN): the daemon runs the inotify backend, says so once
#     (one entry naming the backend, with the reason), and still finds a root-owned file;
#   - with the packaged drop-in (/usr/share/doc/permwatch/examples/fanotify.conf copied to
#     /etc/systemd/system/permwatchd.service.d/): the fanotify backend; a root file written by
#     `systemd-run --unit=writer-test` carries PERMWATCH_WRITER_UNIT=writer-test.service; a
#     file written through `setpriv --reuid=www-data` carries PERMWATCH_WRITER_UID=33; a writer
#     that exits right after writing is named by its comm or an honest `unknown`; 100 root
#     files from one unit make exactly one `root_writer` finding naming it; `permwatchctl
#     status` ranks writer-test.service and `metrics` has its count; the drop-in in
#     permwatchd@.service.d/ gives an instance of the template the fanotify backend too.
#
# Output: one line per check, "ok NAME" or "not ok NAME: DETAIL"; exit 0 when all passed,
# 1 otherwise, 77 (with "SKIP: WHY") when this machine cannot boot a container at all. The
# host half (rootfs cached in /var/cache/permwatch-test, the container, cleanup; nothing
# persists on the host) is tests/nspawn-lib.sh.
#
# NEVER boot /lib/systemd/systemd --system against the host root: it runs the host's units
# and wipes /tmp. Only through systemd-nspawn, as here.
set -euo pipefail

# ------------------------------------------------------------------------------------------
# Inside the container (bash -c "$(cat fan-nspawn.sh)" fan-nspawn.sh --inside DEB).
# ------------------------------------------------------------------------------------------
inside() {
    local deb=$1
    local site=/var/www/site ini=/etc/permwatch/permwatch.ini unit=permwatchd.service
    local dropin=/etc/systemd/system/permwatchd.service.d/fanotify.conf
    local example=/usr/share/doc/permwatch/examples/fanotify.conf
    local passed=0 failed=0 t0=$SECONDS
    export SYSTEMD_PAGER='' PAGER=cat SYSTEMD_COLORS=0 LC_ALL=C.UTF-8
    ok() { echo "ok $1"; passed=$((passed + 1)); }
    nok() { echo "not ok $1: $2"; failed=$((failed + 1)); }
    check() { # check NAME DETAIL CMD...
        local name=$1 detail=$2
        shift 2
        if "$@"; then ok "$name"; else nok "$name" "$detail"; fi
    }
    # try NAME DETAIL CMD...: check, returning CMD's verdict (in an if condition only: set -e)
    try() {
        local name=$1 detail=$2
        shift 2
        if "$@"; then
            ok "$name"
            return 0
        fi
        nok "$name" "$detail"
        return 1
    }
    is() { [ "$1" = "$2" ]; }
    contains() { [[ $1 == *"$2"* ]]; }
    matches() { [[ $1 =~ $2 ]]; }
    one_of() { # one_of VALUE A B...
        local v=$1
        shift
        for a in "$@"; do [ "$v" = "$a" ] && return 0; done
        return 1
    }
    t() { echo "# t=$((SECONDS - t0)) s: $*"; }
    jsync() { timeout 10 journalctl --sync || true; }
    # jexport MATCH...: the daemon's entries matching every FIELD=VALUE, export format
    jexport() { timeout 10 journalctl -q --no-pager -o export SYSLOG_IDENTIFIER=permwatchd "$@" || true; }
    jcount() { jexport "$@" | grep -c '^__CURSOR=' || true; }
    # jwait SECONDS N MATCH...: until at least N such entries are there
    jwait() {
        local deadline=$((SECONDS + $1)) n=$2
        shift 2
        while jsync && [ "$(jcount "$@")" -lt "$n" ]; do
            [ "$SECONDS" -lt "$deadline" ] || return 1
            sleep 0.1
        done
    }
    # jfield FIELD MATCH...: FIELD of the last entry matching every MATCH ("" if none)
    jfield() {
        local f=$1
        shift
        jexport "$@" | sed -n "s/^$f=//p" | tail -n 1 || true
    }
    # systemd-run without a D-Bus daemon (the minbase rootfs has none): on
    # PID 1's private socket (no --wait or --pipe there: they need the bus)
    local systemd_run=(env DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/systemd/private systemd-run -q)
    mainpid() { timeout 10 systemctl show -p MainPID --value "$unit" 2>/dev/null || true; }
    diag() {
        echo "--- systemctl status"
        timeout 10 systemctl status --no-pager -l 'permwatchd*' 2>&1 | sed 's/^/# /' || true
        echo "--- journal of the daemon"
        timeout 10 journalctl -q --no-pager -o short-monotonic -n 60 SYSLOG_IDENTIFIER=permwatchd \
            2>&1 | sed 's/^/# /' || true
    }
    bail() {
        nok "$1" "$2"
        diag
        echo "bailed out after $passed passed, $failed failed"
        exit 1
    }
    # restart_ready: restart the unit, wait until it is active (READY=1) and the site crawled;
    # sets pid
    restart_ready() {
        timeout 60 systemctl restart "$unit" 2>&1 | sed 's/^/# /' || true
        pid=$(mainpid)
        if [ -z "$pid" ] || [ "$pid" = 0 ]; then bail "$1" "no MainPID after systemctl restart"; fi
        local st
        st=$(timeout 10 systemctl is-active "$unit" 2>&1 || true)
        [ "$st" = active ] || bail "$1" "is-active says '$st' after restart"
    }

    # --- setup: the package, a site on the tmpfs, a policy ------------------------------------
    id -u www-data >/dev/null || bail setup "no www-data user in the rootfs"
    matches "$(stat -fc %T /var/www)" '^tmpfs$' || bail setup "/var/www is $(stat -fc %T /var/www), not tmpfs"
    mkdir -p "$site/wp-content/uploads" "$site/bulk"
    echo '<?php' >"$site/index.php"
    chown -R www-data:www-data "$site"
    find "$site" -type d -exec chmod 2770 {} + && find "$site" -type f -exec chmod 0660 {} +
    local rc=0 out pid entry n v
    out=$(DEBIAN_FRONTEND=noninteractive timeout 120 dpkg -i "$deb" 2>&1) || rc=$?
    [ "$rc" = 0 ] || { printf '%s\n' "$out" | sed 's/^/# dpkg -i: /'; bail dpkg-install "dpkg -i exited $rc"; }
    ok dpkg-install
    check dropin-example-shipped "$example is not in the package" test -f "$example"
    cat >"$ini" <<EOF
[site]
root = $site
web_user = www-data
[daemon]
control_group = permwatch
rescan_interval = 0
log_burst = 0
[rule site]
match = **
owner = www-data
group = www-data
file_require = 0660
dir_require = 0770
repair = never
EOF
    t "installed"

    # --- 1. the stock unit: no CAP_SYS_ADMIN, inotify, said once; a root file still found -----
    restart_ready stock-restart
    check stock-no-cap-sys-admin "CapabilityBoundingSet of $pid has cap_sys_admin" \
        eval '! grep -q "cap_sys_admin" <(timeout 10 systemctl show -p CapabilityBoundingSet --value "$unit")'
    jwait 10 1 PERMWATCH_EVENT=started "_PID=$pid" || true
    n=$(jcount "_PID=$pid" PERMWATCH_BACKEND=inotify)
    check stock-backend-inotify-once "$n entries of pid $pid with PERMWATCH_BACKEND=inotify, want 1" is "$n" 1
    n=$(jcount "_PID=$pid" PERMWATCH_BACKEND=fanotify)
    check stock-no-fanotify "$n entries of pid $pid with PERMWATCH_BACKEND=fanotify" is "$n" 0
    entry=$(jexport "_PID=$pid" PERMWATCH_BACKEND=inotify | { grep -E '^(MESSAGE|PERMWATCH_REASON)=' || true; } | tr '\n' ' ')
    echo "# stock unit says: $entry"
    check stock-says-why "the backend entry names no reason (CAP_SYS_ADMIN / not permitted): $entry" \
        matches "$entry" '(CAP_SYS_ADMIN|[Nn]ot permitted|EPERM)'
    echo x >"$site/stock-root.txt"
    check stock-finds-root-file "no root_owned finding for stock-root.txt from $pid within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/stock-root.txt" "_PID=$pid"
    out=$(timeout 20 permwatchctl status 2>&1 || true)
    check stock-status-names-inotify "permwatchctl status does not say inotify: $(head -c 300 <<<"$out")" \
        contains "$out" inotify
    t "stock unit"

    # --- 2. the drop-in: fanotify ---------------------------------------------------------------
    install -D -m 0644 "$example" "$dropin"
    timeout 30 systemctl daemon-reload || bail daemon-reload "systemctl daemon-reload failed"
    restart_ready dropin-restart
    check dropin-cap-sys-admin "CapabilityBoundingSet lacks cap_sys_admin" \
        eval 'grep -q "cap_sys_admin" <(timeout 10 systemctl show -p CapabilityBoundingSet --value "$unit")'
    jwait 10 1 PERMWATCH_EVENT=started "_PID=$pid" || true
    n=$(jcount "_PID=$pid" PERMWATCH_BACKEND=fanotify)
    if ! try dropin-backend-fanotify "$n entries of pid $pid with PERMWATCH_BACKEND=fanotify, want 1; says: $(jexport "_PID=$pid" | sed -n 's/^PERMWATCH_BACKEND=/backend=/p; s/^PERMWATCH_REASON=/reason=/p' | tr '\n' ' ')" is "$n" 1; then
        bail dropin-backend "no fanotify backend: the writer checks need it"
    fi
    out=$(timeout 20 permwatchctl status 2>&1 || true)
    check dropin-status-names-fanotify "permwatchctl status does not say fanotify: $(head -c 300 <<<"$out")" \
        contains "$out" fanotify
    t "drop-in"

    # --- 3. a root write from a unit: PERMWATCH_WRITER_UNIT ------------------------------------
    # the writer lives on for a moment after the write (as a service does), so the daemon can
    # read its unit; "exits at once" is check 5
    timeout 30 "${systemd_run[@]}" --unit=writer-test --service-type=exec \
        sh -c "echo '<?php' >$site/by-unit.php; sleep 3" ||
        nok writer-test-run "systemd-run --unit=writer-test failed"
    if try unit-file-finding "no root_owned finding for by-unit.php within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "PERMWATCH_PATH=$site/by-unit.php"; then
        entry=$(jexport PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
            "PERMWATCH_PATH=$site/by-unit.php" | { grep -E '^(MESSAGE|PERMWATCH_WRITER_[A-Z]*)=' || true; })
        printf '%s\n' "$entry" | sed 's/^/# by-unit.php: /'
        v=$(sed -n 's/^PERMWATCH_WRITER_UNIT=//p' <<<"$entry" | tail -n 1 || true)
        check unit-writer-unit "PERMWATCH_WRITER_UNIT='$v', want writer-test.service" is "$v" writer-test.service
        v=$(sed -n 's/^PERMWATCH_WRITER_UID=//p' <<<"$entry" | tail -n 1)
        check unit-writer-uid "PERMWATCH_WRITER_UID='$v', want 0" is "$v" 0
        v=$(sed -n 's/^PERMWATCH_WRITER_COMM=//p' <<<"$entry" | tail -n 1)
        check unit-writer-comm "PERMWATCH_WRITER_COMM='$v', want sh" is "$v" sh
        v=$(sed -n 's/^PERMWATCH_WRITER_PID=//p' <<<"$entry" | tail -n 1)
        check unit-writer-pid "PERMWATCH_WRITER_PID='$v'" matches "$v" '^[1-9][0-9]*$'
    fi
    t "writer-test.service"

    # --- 4. www-data writes a file of the wrong mode: PERMWATCH_WRITER_UID=33 -------------------
    timeout 20 setpriv --reuid=www-data --regid=www-data --clear-groups -- \
        sh -c "umask 022; echo '<?php' >$site/wp-content/uploads/by-www.php; sleep 1" ||
        nok www-write "setpriv as www-data failed"
    if try www-file-finding "no mode_mismatch finding for by-www.php within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=mode_mismatch \
        "PERMWATCH_PATH=$site/wp-content/uploads/by-www.php"; then
        v=$(jfield PERMWATCH_WRITER_UID PERMWATCH_EVENT=finding \
            "PERMWATCH_PATH=$site/wp-content/uploads/by-www.php")
        check www-writer-uid "PERMWATCH_WRITER_UID='$v', want 33" is "$v" 33
    fi
    t "www-data"

    # --- 5. a writer that exits right after writing: its comm or an honest unknown -----------
    cp /bin/sh /usr/local/bin/quickwriter
    local qpid
    qpid=$(/usr/local/bin/quickwriter -c "echo \$\$; echo x >$site/quick.txt")
    if try quick-file-finding "no root_owned finding for quick.txt within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "PERMWATCH_PATH=$site/quick.txt"; then
        entry=$(jexport PERMWATCH_EVENT=finding "PERMWATCH_PATH=$site/quick.txt" |
            { grep -E '^PERMWATCH_WRITER_[A-Z]*=' || true; } | tr '\n' ' ')
        echo "# quick.txt (writer pid $qpid): $entry"
        v=$(jfield PERMWATCH_WRITER_COMM PERMWATCH_EVENT=finding "PERMWATCH_PATH=$site/quick.txt")
        check quick-writer-comm-or-unknown "PERMWATCH_WRITER_COMM='$v', want quickwriter or unknown" \
            one_of "$v" quickwriter unknown
        v=$(jfield PERMWATCH_WRITER_PID PERMWATCH_EVENT=finding "PERMWATCH_PATH=$site/quick.txt")
        check quick-writer-pid "PERMWATCH_WRITER_PID='$v', want $qpid (or none)" one_of "$v" "$qpid" ""
    fi
    t "quick writer"

    # --- 6. 100 root files from one unit: one root_writer finding naming it --------------------
    # the first writer-test.service has gone (its name is free again); bulk/ exists already:
    # files in a directory the daemon has not registered yet are found by its crawl, without
    # a writer
    n=0
    while timeout 5 systemctl is-active -q writer-test.service && [ $n -lt 100 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    timeout 30 "${systemd_run[@]}" --unit=writer-test --service-type=exec \
        sh -c "for i in \$(seq 1 100); do echo x >$site/bulk/f\$i.txt; done; sleep 3" ||
        nok writer-test-bulk-run "systemd-run --unit=writer-test (bulk) failed"
    jwait 15 100 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "_PID=$pid" || true
    n=$(jexport PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "_PID=$pid" |
        grep -c "^PERMWATCH_PATH=$site/bulk/" || true)
    check bulk-all-found "$n of 100 bulk files have a root_owned finding" is "$n" 100
    n=$(jexport PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "_PID=$pid" \
        PERMWATCH_WRITER_UNIT=writer-test.service | grep -c "^PERMWATCH_PATH=$site/bulk/" || true)
    check bulk-all-attributed "$n of 100 bulk findings name writer-test.service" is "$n" 100
    jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_writer || true
    sleep 1 # a second one would come now
    jsync
    n=$(jcount PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_writer)
    check one-root_writer-finding "$n root_writer findings, want 1" is "$n" 1
    entry=$(jexport PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_writer | { grep -E '^(MESSAGE|PERMWATCH_[A-Z_]*)=' || true; })
    printf '%s\n' "$entry" | sed 's/^/# root_writer: /'
    check root_writer-names-unit "the root_writer finding does not name writer-test.service" \
        contains "$entry" writer-test.service
    out=$(timeout 20 permwatchctl findings --kind root_writer 2>&1 || true)
    check root_writer-listed "permwatchctl findings --kind root_writer: $(head -c 300 <<<"$out")" \
        contains "$out" writer-test.service
    t "root_writer"

    # --- 7. status ranks the unit, metrics count it -------------------------------------------
    out=$(timeout 20 permwatchctl status 2>&1 || true)
    printf '%s\n' "$out" | sed 's/^/# status: /'
    check status-ranks-writer-test "permwatchctl status does not name writer-test.service" \
        contains "$out" writer-test.service
    # writer-test.service first: it made 101 of the root-owned writes, quickwriter 1
    # the ranking's lines: "  UNIT (KIND, uid N USER, comm C): COUNT root-owned writes, ..."
    v=$({ grep -E '^ +[^ ]+ \(.*\): [0-9]+ root-owned writes' <<<"$out" || true; } | head -n 1 | awk '{print $1}')
    check status-writer-test-first "first writer named in status: '$v'" is "$v" writer-test.service
    out=$(timeout 20 permwatchctl metrics 2>&1 || true)
    v=$({ grep -E '^permwatch_root_writes_total\{[^}]*unit="writer-test\.service"' <<<"$out" || true; } |
        awk '{print $NF}' | head -n 1)
    echo "# metrics: $({ grep -E '^permwatch_root_writes_total' <<<"$out" || true; } | head -n 5 | tr '\n' ' ')"
    check metrics-writer-test-count "permwatch_root_writes_total for writer-test.service: '$v', want >= 101" \
        awk -v v="$v" 'BEGIN { exit !(v != "" && v + 0 >= 101) }'
    t "status and metrics"

    # --- 8. the template: the drop-in in permwatchd@.service.d/ covers every instance ----------
    mkdir -p /var/www/a
    chown www-data:www-data /var/www/a
    chmod 2770 /var/www/a
    sed "s|^root = .*|root = /var/www/a|" "$ini" >/etc/permwatch/a.ini
    install -D -m 0644 "$example" /etc/systemd/system/permwatchd@.service.d/fanotify.conf
    timeout 30 systemctl daemon-reload || nok template-daemon-reload "systemctl daemon-reload failed"
    rc=0
    out=$(timeout 60 systemctl start permwatchd@a.service 2>&1) || rc=$?
    local apid
    apid=$(timeout 10 systemctl show -p MainPID --value permwatchd@a.service 2>/dev/null || true)
    check template-start "systemctl start permwatchd@a exit $rc, MainPID '$apid': $out" \
        matches "$rc/$apid" '^0/[1-9][0-9]*$'
    jwait 10 1 PERMWATCH_EVENT=started "_PID=$apid" || true
    n=$(jcount "_PID=$apid" PERMWATCH_BACKEND=fanotify)
    check template-backend-fanotify "$n entries of permwatchd@a ($apid) with PERMWATCH_BACKEND=fanotify, want 1" is "$n" 1
    timeout 60 systemctl stop permwatchd@a.service permwatchd@a.socket 2>&1 | sed 's/^/# /' || true
    t "template instance"

    # --- information only: files written into a directory that was just created --------------
    # (the daemon learns of the new directory from its event, then crawls it; what the writer
    # wrote into it before that is found by the crawl, which knows no writer)
    timeout 30 "${systemd_run[@]}" --unit=writer-newdir --service-type=exec \
        sh -c "mkdir $site/newdir; for i in \$(seq 1 20); do echo x >$site/newdir/f\$i.txt; done; sleep 2" ||
        true
    jwait 10 20 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "_PID=$pid" || true
    n=$(jexport PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "_PID=$pid" |
        grep -c "^PERMWATCH_PATH=$site/newdir/" || true)
    v=$(jexport PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "_PID=$pid" \
        PERMWATCH_WRITER_UNIT=writer-newdir.service | grep -c "^PERMWATCH_PATH=$site/newdir/" || true)
    echo "# a new directory and 20 files at once: $n of 20 found, $v of them name writer-newdir.service"

    [ "$failed" -eq 0 ] || diag
    echo "inside: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

if [ "${1:-}" = --inside ]; then
    inside "$2"
    exit
fi

# ------------------------------------------------------------------------------------------
# On the host: the rootfs, the container, cleanup (tests/nspawn-lib.sh).
# ------------------------------------------------------------------------------------------
[ $# -eq 1 ] || {
    echo "usage: $0 PKG.deb" >&2
    exit 2
}
deb=$(realpath -e "$1") || {
    echo "not ok package: $1 does not exist"
    exit 1
}
self=$(realpath -e "$0")
# shellcheck source=tests/nspawn-lib.sh
. "$(dirname "$self")/nspawn-lib.sh"
nspawn_init fan-nspawn
nspawn_rootfs
nspawn_stage "$deb" /opt/permwatch-test/permwatch.deb
# fanotify: nspawn's own seccomp filter refuses its system calls unless allowed here, and it
# cannot mark the overlayfs of --volatile=overlay: the site lives on a tmpfs
nspawn_boot --tmpfs=/var/www:mode=0755 \
    --system-call-filter='fanotify_init fanotify_mark open_by_handle_at name_to_handle_at'

rc=0
timeout 240 "${cin[@]}" bash -c "$(cat "$self")" fan-nspawn.sh --inside \
    /opt/permwatch-test/permwatch.deb </dev/null || rc=$?
t_checks=$SECONDS

nspawn_finish || rc=1
echo "# timing: rootfs $((t_rootfs - t_start)) s, boot $((t_boot - t_rootfs)) s," \
    "checks $((t_checks - t_boot)) s, total $((SECONDS - t_start)) s"
exit "$rc"
