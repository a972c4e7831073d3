#!/bin/bash
# deb-nspawn.sh PKG.deb: the admin's walk with the permwatch package under a real systemd.
# Boots systemd as PID 1 of a systemd-nspawn container over a Debian bookworm rootfs (which
# holds everything the package Depends on; the container has no network), copies PKG.deb in
# and, as an admin would: `dpkg -i` before the site exists (enabled, active, READY, waiting
# for the root, no restarts), `journalctl -x` shows the catalog, the site appears and is
# watched without a restart, the fields of a finding, permwatchctl as root, as a member of
# group permwatch and as another user, `systemctl reload` with a good and a broken policy,
# restart loses nothing, the watchdog kills a stopped daemon, two template instances, socket
# activation, `systemd-analyze security` and `verify` on the installed units, every entry of
# the daemon with MESSAGE_ID and PERMWATCH_EVENT, `dpkg -r` and `dpkg -P`.
#
# Output: one line per check, "ok NAME" or "not ok NAME: DETAIL"; exit 0 when all passed,
# 1 otherwise, 77 (with "SKIP: WHY") when this machine cannot boot a container at all: not
# root, the tools cannot be installed, or the first debootstrap cannot reach the mirror.
# The host half (rootfs cached in /var/cache/permwatch-test, the container, cleanup; nothing
# persists on the host) is tests/nspawn-lib.sh, shared with tests/unit-nspawn.sh.
#
# NEVER boot /lib/systemd/systemd --system against the host root: it runs the host's units
# and wipes /tmp. Only through systemd-nspawn, as here.
set -euo pipefail

# ------------------------------------------------------------------------------------------
# Inside the container (bash -c "$(cat deb-nspawn.sh)" deb-nspawn.sh --inside DEB): the walk.
# ------------------------------------------------------------------------------------------
inside() {
    local deb=$1
    local www=/var/www site=/var/www/example.com ini=/etc/permwatch/permwatch.ini
    local unit=permwatchd.service sock=permwatchd.socket ctlsock=/run/permwatch/control.sock
    local passed=0 failed=0
    export SYSTEMD_PAGER='' PAGER=cat SYSTEMD_COLORS=0 LC_ALL=C.UTF-8
    ok() { echo "ok $1"; passed=$((passed + 1)); }
    nok() { echo "not ok $1: $2"; failed=$((failed + 1)); }
    check() { # check NAME DETAIL CMD...
        local name=$1 detail=$2
        shift 2
        if "$@"; then ok "$name"; else nok "$name" "$detail"; fi
    }
    is() { [ "$1" = "$2" ]; }
    contains() { [[ $1 == *"$2"* ]]; }
    matches() { [[ $1 =~ $2 ]]; }
    has_line() { grep -qE -- "$2" <<<"$1"; } # has_line TEXT ERE: a line of TEXT matches
    one_of() { # one_of VALUE A B...
        local v=$1
        shift
        for a in "$@"; do [ "$v" = "$a" ] && return 0; done
        return 1
    }
    # snap: the unit's properties into P[] (one systemctl call; "" for any not given)
    declare -gA P
    local props=ActiveState,SubState,MainPID,NRestarts,StatusText,Result,UnitFileState
    props+=,ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic,WatchdogUSec
    snap() {
        P=()
        local k v
        while IFS='=' read -r k v; do P[$k]=$v; done < <(timeout 10 systemctl show \
            "$unit" -p "$props" || true)
        for k in ${props//,/ }; do P[$k]=${P[$k]-}; done
    }
    # snap_until SECONDS TEST...: snap until TEST (evaluated by eval against P[]) holds
    snap_until() {
        local deadline=$((SECONDS + $1))
        shift
        snap
        until eval "$*"; do
            [ "$SECONDS" -lt "$deadline" ] || return 1
            sleep 0.1
            snap
        done
    }
    jsync() { timeout 10 journalctl --sync || true; }
    # jcount MATCH...: entries of the daemon (any unit) matching every FIELD=VALUE
    jcount() {
        { timeout 10 journalctl -q --no-pager -o export SYSLOG_IDENTIFIER=permwatchd "$@" ||
            true; } | grep -c '^__CURSOR=' || true
    }
    # jwait SECONDS N MATCH...: until at least N such entries are there
    jwait() {
        local deadline=$((SECONDS + $1)) n=$2
        shift 2
        while jsync && [ "$(jcount "$@")" -lt "$n" ]; do
            [ "$SECONDS" -lt "$deadline" ] || return 1
            sleep 0.1
        done
    }
    diag() {
        echo "--- systemctl status"
        timeout 10 systemctl status --no-pager -l 'permwatchd*' 2>&1 | sed 's/^/# /' || true
        echo "--- journal"
        timeout 10 journalctl -q --no-pager -o short-monotonic -n 80 2>&1 | sed 's/^/# /' || true
    }
    bail() {
        nok "$1" "$2"
        diag
        echo "bailed out after $passed passed, $failed failed"
        exit 1
    }
    t() { echo "# t=$((SECONDS - t0)) s: $*"; }
    local t0=$SECONDS out rc n pid pid2 entry

    # --- 1. dpkg -i before the site exists ---------------------------------------------------
    id -u www-data >/dev/null || bail setup "no www-data user in the rootfs"
    [ ! -e "$site" ] || bail setup "$site exists before the install"
    rc=0
    out=$(DEBIAN_FRONTEND=noninteractive timeout 120 dpkg -i "$deb" 2>&1) || rc=$?
    printf '%s\n' "$out" | sed 's/^/# dpkg -i: /'
    [ "$rc" = 0 ] || bail dpkg-install "dpkg -i exited $rc"
    ok dpkg-install
    t "installed"
    check group-permwatch "no group permwatch after the install" \
        eval 'timeout 10 getent group permwatch >/dev/null'
    local u
    for u in $unit $sock; do
        out=$(timeout 10 systemctl is-enabled "$u" 2>&1 || true)
        check "enabled:$u" "is-enabled says '$out'" is "$out" enabled
        out=$(timeout 10 systemctl is-active "$u" 2>&1 || true)
        check "active:$u" "is-active says '$out'" is "$out" active
    done
    snap
    pid=${P[MainPID]}
    # Type=notify: active/running only once READY=1 came (activating before)
    check ready-sent "${P[ActiveState]}/${P[SubState]}, entered at ${P[ActiveEnterTimestampMonotonic]}" \
        matches "${P[ActiveState]}/${P[SubState]}/${P[ActiveEnterTimestampMonotonic]}" \
        '^active/running/[1-9][0-9]*$'
    check status-waits-for-root "StatusText '${P[StatusText]}'" \
        matches "${P[StatusText]}" "waiting for the site root $site"
    check no-restarts "NRestarts '${P[NRestarts]}'" is "${P[NRestarts]}" 0
    jwait 10 1 PERMWATCH_EVENT=root_waiting || true
    n=$(jcount PERMWATCH_EVENT=root_waiting)
    check one-root_waiting-entry "$n root_waiting entries, want 1" is "$n" 1
    local mid
    mid=$({ timeout 10 journalctl -q --no-pager -o export PERMWATCH_EVENT=root_waiting || true; } |
        sed -n 's/^MESSAGE_ID=//p' | head -n 1)
    # --- 2. the catalog got updated by the package (dpkg trigger of systemd) ----------------
    local subject
    subject=$({ timeout 10 journalctl --list-catalog "$mid" 2>/dev/null || true; } | head -n 1)
    check catalog-updated "journalctl --list-catalog $mid: '$subject'" \
        contains "$subject" "$mid"
    out=$(timeout 10 journalctl -x -q --no-pager PERMWATCH_EVENT=root_waiting 2>&1 || true)
    printf '%s\n' "$out" | head -n 4 | sed 's/^/# journalctl -x: /'
    # the Subject line of the catalog entry, @PERMWATCH_PATH@ filled in
    check journalctl-x-catalog-text "no catalog text in: $(head -c 300 <<<"$out")" \
        matches "$out" "permwatch waits for the site root $site"
    # the waiting daemon answers permwatchctl
    rc=0
    out=$(timeout 20 permwatchctl status 2>&1) || rc=$?
    check ctl-while-waiting "permwatchctl status exit $rc: $(head -n 2 <<<"$out")" one_of "$rc" 0 1
    snap
    check same-pid-while-waiting "MainPID ${P[MainPID]} (was $pid)" is "${P[MainPID]}" "$pid"

    # --- 3. the site appears (built aside, renamed in at once): watched without restart ----
    local stagedir=$www/.example.com.new
    mkdir -p "$stagedir/wp-content/uploads/2026" "$stagedir/wp-content/plugins/hello"
    echo '<?php' >"$stagedir/index.php"
    echo '<?php' >"$stagedir/wp-content/plugins/hello/hello.php"
    chown -R www-data:www-data "$stagedir"
    find "$stagedir" -type d -exec chmod 0775 {} + && find "$stagedir" -type f -exec chmod 0664 {} +
    # planted: root-owned files as a root shell or an agent leaves them
    echo notes >"$stagedir/agent-notes.txt"                  # [rule site]: repair = manual
    echo png >"$stagedir/wp-content/uploads/agent-upload.png" # [rule content]: repair = auto
    chmod 0644 "$stagedir/agent-notes.txt" "$stagedir/wp-content/uploads/agent-upload.png"
    mv -T "$stagedir" "$site"
    t "site created"
    check finding-when-root-appears "no root_owned finding for $site/agent-notes.txt within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/agent-notes.txt"
    check finding-upload "no root_owned finding for the upload within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/wp-content/uploads/agent-upload.png"
    snap_until 10 '[[ ${P[StatusText]} == *"directories watched"* ]]' || true
    check status-watching "StatusText '${P[StatusText]}'" \
        matches "${P[StatusText]}" '[0-9]+ directories watched, [0-9]+ open findings'
    check no-restart-when-root-appears "MainPID ${P[MainPID]} (was $pid), NRestarts ${P[NRestarts]}" \
        is "${P[MainPID]}/${P[NRestarts]}" "$pid/0"
    # every field PRODUCT.md lists for a finding, in `journalctl -o json`
    entry=$(timeout 10 journalctl -q --no-pager -o json PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/agent-notes.txt" | tail -n 1 || true)
    echo "# json: $entry" | head -c 2000
    echo
    local f
    for f in MESSAGE PRIORITY MESSAGE_ID SYSLOG_IDENTIFIER PERMWATCH_EVENT PERMWATCH_FINDING \
        PERMWATCH_PATH PERMWATCH_RULE PERMWATCH_UID PERMWATCH_GID PERMWATCH_OWNER \
        PERMWATCH_GROUP PERMWATCH_MODE PERMWATCH_EXPECTED PERMWATCH_REASON; do
        # a non-empty string value
        check "json-field:$f" "no \"$f\":\"...\" in the entry" matches "$entry" "\"$f\":\"[^\"]"
    done
    local want
    for want in '"PERMWATCH_PATH":"'"$site"'/agent-notes.txt"' '"PERMWATCH_UID":"0"' \
        '"PERMWATCH_OWNER":"root"' '"PERMWATCH_MODE":"0644"' '"PERMWATCH_RULE":"site"' \
        '"SYSLOG_IDENTIFIER":"permwatchd"' '"PRIORITY":"4"' '"_SYSTEMD_UNIT":"permwatchd.service"'; do
        f=${want%%:*}
        check "json-value:${f//\"/}" "no $want in the entry" contains "$entry" "$want"
    done

    # --- 4. permwatchctl as root, as a member of group permwatch, as another user -----------
    rc=0
    out=$(timeout 20 permwatchctl status 2>&1) || rc=$?
    printf '%s\n' "$out" | head -n 12 | sed 's/^/# root$ permwatchctl status: /'
    check ctl-root-status "exit $rc, want 0 or 1" one_of "$rc" 0 1
    check ctl-root-status-names-site "no $site in the output" contains "$out" "$site"
    timeout 10 useradd -M -N -s /bin/sh alice && timeout 10 usermod -aG permwatch alice &&
        timeout 10 useradd -M -N -s /bin/sh mallory || bail users "useradd/usermod failed"
    rc=0
    out=$(timeout 20 runuser -u alice -- permwatchctl status 2>&1) || rc=$?
    check ctl-member-status "exit $rc ($(head -n 2 <<<"$out")), want 0 or 1" one_of "$rc" 0 1
    rc=0
    out=$(timeout 20 runuser -u alice -- permwatchctl findings 2>&1) || rc=$?
    check ctl-member-findings "exit $rc ($(head -n 2 <<<"$out")), want 1 (open findings)" is "$rc" 1
    check ctl-member-findings-lists "agent-notes.txt not in: $(head -n 3 <<<"$out")" \
        contains "$out" "$site/agent-notes.txt"
    rc=0
    out=$(timeout 20 runuser -u alice -- permwatchctl dispatch 2>&1) || rc=$?
    check ctl-member-dispatch "exit $rc ($(head -n 2 <<<"$out")), want 0 or 1" one_of "$rc" 0 1
    rc=0
    out=$(timeout 20 runuser -u alice -- permwatchctl repair --dry-run 2>&1) || rc=$?
    check ctl-member-repair-denied "exit $rc ($(head -n 2 <<<"$out")), want 4" is "$rc" 4
    # another user: the socket is root:permwatch 0660, so the kernel refuses connect (EACCES),
    # which permwatchctl reports as permission denied: exit 4 (not 3, "not reachable")
    out=$(stat -c '%U:%G %a' "$ctlsock" 2>&1 || true)
    check ctl-socket-mode "$ctlsock is '$out', want root:permwatch 660" is "$out" "root:permwatch 660"
    rc=0
    out=$(timeout 20 runuser -u mallory -- permwatchctl status 2>&1) || rc=$?
    echo "# mallory$ permwatchctl status: exit $rc: $(head -n 1 <<<"$out")"
    check ctl-other-user-denied "exit $rc ($(head -n 2 <<<"$out")), want 4 (connect refused)" \
        is "$rc" 4
    t "permwatchctl"

    # --- 5. reload: good, broken (systemctl reload fails with file:line:key), good again ---
    local good
    good=$(cat "$ini")
    rc=0
    out=$(timeout 30 systemctl reload "$unit" 2>&1) || rc=$?
    check reload-good-exit-0 "systemctl reload exited $rc: $out" is "$rc" 0
    check reloaded-entry "no PERMWATCH_EVENT=reloaded within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=reloaded "_PID=$pid"
    # a broken key in [rule site]: the line number as the daemon must name it
    printf '%s\n' "$good" | sed '/^\[rule site\]/,${s/^file_forbid = 0002$/file_forbid = 9x/}' >"$ini"
    local line
    line=$(grep -n '^file_forbid = 9x$' "$ini" | cut -d: -f1)
    [ -n "$line" ] || bail reload-broken-setup "could not break [rule site] file_forbid in $ini"
    rc=0
    out=$(timeout 30 systemctl reload "$unit" 2>&1) || rc=$?
    echo "# systemctl reload (broken): exit $rc: $out"
    check reload-broken-fails "systemctl reload exited 0 on a broken policy" [ "$rc" != 0 ]
    jsync
    out=$(timeout 10 systemctl status --no-pager -l -n 20 "$unit" 2>&1 || true)
    out+=$'\n'$(timeout 10 journalctl -q --no-pager -n 20 -u "$unit" 2>&1 || true)
    grep -E -m 2 "permwatch\.ini:$line:.*file_forbid" <<<"$out" | sed 's/^/# reason: /' || true
    check reload-broken-reason "no 'permwatch.ini:$line: ... file_forbid' in status/journal" \
        has_line "$out" "permwatch\.ini:$line:.*file_forbid"
    snap
    check reload-broken-same-process "${P[ActiveState]}/${P[SubState]}, MainPID ${P[MainPID]} (was $pid)" \
        is "${P[ActiveState]}/${P[SubState]}/${P[MainPID]}" "active/running/$pid"
    printf '%s\n' "$good" >"$ini"
    rc=0
    out=$(timeout 30 systemctl reload "$unit" 2>&1) || rc=$?
    check reload-good-again "systemctl reload exited $rc: $out" is "$rc" 0
    t "reloads"

    # --- 6. restart loses nothing ------------------------------------------------------------
    # (systemctl warns that the socket can still activate it)
    timeout 60 systemctl stop "$unit" 2>&1 | sed 's/^/# /' || nok stop "systemctl stop failed"
    echo x >"$site/while-stopped.txt" # root-owned, [rule site] repair = manual
    timeout 60 systemctl restart "$unit" || bail restart "systemctl restart failed"
    snap
    pid2=${P[MainPID]}
    check restart-new-pid "MainPID $pid2 (was $pid)" [ "$pid2" != "$pid" ]
    check restart-finds-file-created-while-stopped "no finding for while-stopped.txt from $pid2" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/while-stopped.txt" "_PID=$pid2"
    check restart-finds-open-finding-again "no finding for agent-notes.txt from $pid2" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/agent-notes.txt" "_PID=$pid2"
    t "restart"

    # --- 7. watchdog: WatchdogSec=2s by a drop-in; a stopped daemon is killed and restarted --
    mkdir -p "/etc/systemd/system/$unit.d"
    printf '[Service]\nWatchdogSec=2s\n' >"/etc/systemd/system/$unit.d/zz-test-watchdog.conf"
    timeout 30 systemctl daemon-reload || bail daemon-reload "systemctl daemon-reload failed"
    timeout 60 systemctl restart "$unit" || bail restart "systemctl restart failed"
    snap
    local wpid=${P[MainPID]} nr0=${P[NRestarts]}
    check watchdog-drop-in "WatchdogUSec '${P[WatchdogUSec]}'" is "${P[WatchdogUSec]}" 2s
    [ "${wpid:-0}" -gt 1 ] || bail watchdog-pid "no MainPID after the restart: '$wpid'"
    kill -STOP "$wpid"
    t "SIGSTOP $wpid"
    # 2 s watchdog, SIGABRT (+SIGCONT), RestartSec=5s
    snap_until 30 '[ "${P[MainPID]}" != "$wpid" ] && [ "${P[MainPID]}" != 0 ] &&
        [ "${P[ActiveState]}/${P[SubState]}" = active/running ]' || true
    t "after the watchdog: ${P[ActiveState]}/${P[SubState]} pid ${P[MainPID]} NRestarts ${P[NRestarts]}"
    check watchdog-restarted "${P[ActiveState]}/${P[SubState]}, MainPID ${P[MainPID]} (was $wpid)" \
        matches "${P[ActiveState]}/${P[SubState]}/${P[MainPID]}" '^active/running/[1-9]'
    check watchdog-new-pid "MainPID ${P[MainPID]} (was $wpid)" [ "${P[MainPID]}" != "$wpid" ]
    check watchdog-nrestarts "NRestarts ${P[NRestarts]} (was $nr0)" is "${P[NRestarts]}" $((nr0 + 1))
    out=$(timeout 10 journalctl -q --no-pager -o cat _PID=1 UNIT=$unit 2>&1 || true)
    check watchdog-result "systemd did not log \"Failed with result 'watchdog'\"" \
        contains "$out" "Failed with result 'watchdog'"
    rm -r "/etc/systemd/system/$unit.d"
    timeout 30 systemctl daemon-reload || bail daemon-reload "systemctl daemon-reload failed"
    timeout 60 systemctl restart "$unit" || bail restart "systemctl restart failed"
    snap
    pid=${P[MainPID]}
    t "watchdog"

    # --- 8. two template instances on two sites ----------------------------------------------
    local s
    for s in a b; do
        mkdir -p "$www/$s/wp-content/uploads"
        echo '<?php' >"$www/$s/index.php"
        chown -R www-data:www-data "$www/$s"
        echo "$s" >"$www/$s/planted-$s.txt" # root-owned
        sed "s|^root = .*|root = $www/$s|" "$ini" >"/etc/permwatch/$s.ini"
    done
    rc=0
    out=$(timeout 60 systemctl enable --now permwatchd@a permwatchd@b 2>&1) || rc=$?
    check instances-enable-now "systemctl enable --now exited $rc: $out" is "$rc" 0
    for s in a b; do
        out=$(timeout 10 systemctl is-active "permwatchd@$s.service" 2>&1 || true)
        check "instance-active:$s" "is-active says '$out'" is "$out" active
        check "instance-finds-own:$s" "no finding for planted-$s.txt from permwatchd@$s" \
            jwait 10 1 PERMWATCH_FINDING=root_owned "PERMWATCH_PATH=$www/$s/planted-$s.txt" \
            "_SYSTEMD_UNIT=permwatchd@$s.service"
    done
    n=$(jcount "_SYSTEMD_UNIT=permwatchd@a.service" "PERMWATCH_PATH=$www/b/planted-b.txt")
    n=$((n + $(jcount "_SYSTEMD_UNIT=permwatchd@b.service" "PERMWATCH_PATH=$www/a/planted-a.txt")))
    check instances-only-own-site "$n entries of one instance on the other's file" is "$n" 0
    rc=0
    out=$(timeout 20 permwatchctl --site a status 2>&1) || rc=$?
    check ctl-site-a "exit $rc, want 0 or 1: $(head -n 2 <<<"$out")" one_of "$rc" 0 1
    check ctl-site-a-names-root "no $www/a in: $(head -n 3 <<<"$out")" contains "$out" "$www/a"
    t "instances"

    # --- 8b. metrics for the node exporter: permwatch-metrics.timer/.service ----------------
    local prom=/var/lib/prometheus/node-exporter/permwatch.prom
    out=$(timeout 10 systemctl is-enabled permwatch-metrics.timer 2>&1 || true)
    check enabled:permwatch-metrics.timer "is-enabled says '$out'" is "$out" enabled
    out=$(timeout 10 systemctl is-active permwatch-metrics.timer 2>&1 || true)
    check active:permwatch-metrics.timer "is-active says '$out'" is "$out" active
    # no node exporter yet: the service's condition fails, nothing is written
    timeout 60 systemctl start permwatch-metrics.service 2>&1 | sed 's/^/# /' || true
    check metrics-nothing-without-node-exporter "$prom exists" [ ! -e "$prom" ]
    mkdir -p /var/lib/prometheus/node-exporter # what prometheus-node-exporter ships
    rc=0
    out=$(timeout 60 systemctl start permwatch-metrics.service 2>&1) || rc=$?
    check metrics-service-runs "systemctl start exited $rc: $out" is "$rc" 0
    out=$(cat "$prom" 2>/dev/null || true)
    printf '%s\n' "$out" | grep '^permwatch_up\|^permwatch_open_findings.*root_owned\|build_info' |
        sed 's/^/# permwatch.prom: /'
    for s in default a b; do
        check "metrics-up:$s" "no permwatch_up{site=\"$s\"} 1 in $prom" \
            contains "$out" "permwatch_up{site=\"$s\"} 1"
    done
    check metrics-site-label "no root_owned finding of site a in $prom" \
        matches "$out" 'permwatch_open_findings\{site="a",kind="root_owned"\} [1-9]'
    check metrics-build-info "no build_info in $prom" \
        matches "$out" 'permwatch_build_info\{site="default",version="[^"]+"\} 1'
    check metrics-file-mode "$prom: $(stat -c '%a %U' "$prom" 2>&1)" \
        is "$(stat -c '%a %U' "$prom" 2>&1)" "644 root"
    timeout 60 systemctl stop permwatchd@b.service permwatchd@b.socket 2>&1 | sed 's/^/# /' || true
    rc=0
    timeout 60 systemctl start permwatch-metrics.service 2>&1 | sed 's/^/# /' || rc=$?
    out=$(cat "$prom" 2>/dev/null || true)
    check metrics-down:b "exit $rc; no permwatch_up{site=\"b\"} 0 in: $(grep '^permwatch_up' <<<"$out")" \
        contains "$out" 'permwatch_up{site="b"} 0'
    check metrics-others-still-up "site a lost: $(grep '^permwatch_up' <<<"$out")" \
        contains "$out" 'permwatch_up{site="a"} 1'
    # runs every 30 s: its journal lines are the failures only (here: b did not answer)
    jsync
    out=$(timeout 20 journalctl -q --no-pager -u permwatch-metrics.service 2>&1 || true)
    printf '%s\n' "$out" | sed '/^$/d; s/^/# permwatch-metrics: /'
    n=$(grep -vc 'cannot reach permwatchd at /run/permwatch/b\.sock' <<<"$out" || true)
    check metrics-quiet "$n journal lines about permwatch-metrics.service besides b's failure" \
        is "$n" 0
    check metrics-says-why "no line about b in the journal" contains "$out" "/run/permwatch/b.sock"
    out=$(timeout 30 systemd-analyze security --no-pager permwatch-metrics.service 2>&1 || true)
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    echo "# systemd-analyze security permwatch-metrics.service: $(tail -n 1 <<<"$out")"
    check security-exposure-metrics "exposure '$score', want <= 1.0" \
        awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 1.0) }'
    t "metrics"

    # --- 9. socket activation: the service stopped, the socket stays; a client starts it ---
    timeout 60 systemctl stop "$unit" 2>&1 | sed 's/^/# /' || true
    out=$(timeout 10 systemctl is-active "$unit" 2>&1 || true)
    check socket-activation-stopped "is-active $unit says '$out'" is "$out" inactive
    out=$(timeout 10 systemctl is-active "$sock" 2>&1 || true)
    check socket-activation-socket-stays "is-active $sock says '$out'" is "$out" active
    check socket-activation-socket-file "$ctlsock is gone" test -S "$ctlsock"
    rc=0
    out=$(timeout 30 permwatchctl status 2>&1) || rc=$?
    check socket-activation-ctl "permwatchctl status exit $rc: $(head -n 2 <<<"$out")" \
        one_of "$rc" 0 1
    snap
    check socket-activation-started "${P[ActiveState]}/${P[SubState]}, MainPID ${P[MainPID]} (was $pid)" \
        matches "${P[ActiveState]}/${P[SubState]}/${P[MainPID]}" '^active/running/[1-9]'
    check socket-activation-new-pid "MainPID ${P[MainPID]} (was $pid)" [ "${P[MainPID]}" != "$pid" ]
    t "socket activation"

    # --- 10. systemd-analyze on the installed units -----------------------------------------
    local score
    out=$(timeout 30 systemd-analyze security --no-pager "$unit" 2>&1 || true)
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    echo "# systemd-analyze security $unit: $(tail -n 1 <<<"$out")"
    check security-exposure "exposure '$score', want <= 2.0" \
        awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 2.0) }'
    out=$(timeout 30 systemd-analyze security --no-pager permwatchd@a.service 2>&1 || true)
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    echo "# systemd-analyze security permwatchd@a.service: $(tail -n 1 <<<"$out")"
    check security-exposure-instance "exposure '$score', want <= 2.0" \
        awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 2.0) }'
    local uf
    for uf in permwatchd.service permwatchd.socket permwatchd@.service permwatchd@.socket \
        permwatch-metrics.service permwatch-metrics.timer; do
        if [ ! -e "/lib/systemd/system/$uf" ]; then
            nok "verify:$uf" "/lib/systemd/system/$uf is not installed"
            continue
        fi
        case $uf in
        *@.*) # a template is verified through an instance
            out=$(cd / && timeout 30 systemd-analyze verify --man=no "${uf/@./@a.}" 2>&1 || true) ;;
        *) out=$(cd / && timeout 30 systemd-analyze verify --man=no "/lib/systemd/system/$uf" 2>&1 || true) ;;
        esac
        check "verify:$uf" "systemd-analyze verify printed: $out" is "$out" ""
    done
    t "systemd-analyze"

    # --- 11. every entry the daemon wrote in the walk: MESSAGE_ID and PERMWATCH_EVENT --------
    jsync
    local counts
    counts=$(timeout 20 journalctl -q --no-pager -o export SYSLOG_IDENTIFIER=permwatchd |
        awk '/^__CURSOR=/ { n++ } /^MESSAGE_ID=./ { m++ } /^PERMWATCH_EVENT=./ { e++ }
             /^$/ { if (!id || !ev) bad++; id = ev = 0 } /^MESSAGE_ID=./ { id = 1 }
             /^PERMWATCH_EVENT=./ { ev = 1 }
             END { printf "%d %d %d %d\n", n, m, e, bad }')
    read -r n mid f rc <<<"$counts"
    echo "# daemon entries: $n, with MESSAGE_ID $mid, with PERMWATCH_EVENT $f, lacking one: $rc"
    if [ "$rc" != 0 ]; then
        timeout 20 journalctl -q --no-pager -o json SYSLOG_IDENTIFIER=permwatchd |
            grep -v '"MESSAGE_ID"' | head -n 5 | sed 's/^/# lacks MESSAGE_ID: /' || true
        timeout 20 journalctl -q --no-pager -o json SYSLOG_IDENTIFIER=permwatchd |
            grep -v '"PERMWATCH_EVENT"' | head -n 5 | sed 's/^/# lacks PERMWATCH_EVENT: /' || true
    fi
    check all-entries-have-ids "$rc of $n entries lack MESSAGE_ID or PERMWATCH_EVENT" \
        is "$rc/$((n > 20))" 0/1
    # the installed catalog explains every MESSAGE_ID of the walk (`journalctl -x` shows it)
    local ids id missing=""
    ids=$(timeout 20 journalctl -q --no-pager -o export SYSLOG_IDENTIFIER=permwatchd |
        sed -n 's/^MESSAGE_ID=//p' | sort -u)
    for id in $ids; do
        timeout 10 journalctl --list-catalog "$id" 2>/dev/null | grep -q "^$id " ||
            missing+=" $id"
    done
    echo "# distinct MESSAGE_IDs in the walk: $(wc -w <<<"$ids")"
    check catalog-covers-walk-ids "no catalog entry for:$missing" is "$missing" ""
    # the lifecycle of the walk is in it
    for f in started root_waiting finding reloaded config_error stopping; do
        n=$(jcount "PERMWATCH_EVENT=$f")
        check "walk-has-event:$f" "no PERMWATCH_EVENT=$f entry in the walk" [ "$n" -gt 0 ]
    done

    # --- 12. dpkg -r, dpkg -P -------------------------------------------------------------
    # instance b retired by the admin; instance a still enabled and running at dpkg -r: removing
    # the package must stop it (its binary goes away), as it stops permwatchd.service
    timeout 60 systemctl disable --now permwatchd@b permwatchd@b.socket 2>&1 | sed 's/^/# /' ||
        true
    rm -f /etc/permwatch/b.ini
    rc=0
    out=$(DEBIAN_FRONTEND=noninteractive timeout 120 dpkg -r permwatch 2>&1) || rc=$?
    printf '%s\n' "$out" | sed 's/^/# dpkg -r: /'
    check dpkg-remove "dpkg -r exited $rc" is "$rc" 0
    check dpkg-remove-no-error "dpkg -r printed an error or warning" \
        eval '! grep -qiE "error|warning|fail" <<<"$out"'
    for u in $unit $sock; do
        out=$(timeout 10 systemctl is-active "$u" 2>&1 || true)
        check "removed-inactive:$u" "is-active says '$out'" is "$out" inactive
    done
    out=""
    for f in /usr/sbin/permwatchd /usr/bin/permwatchctl /lib/systemd/system/$unit \
        /lib/systemd/system/$sock /usr/lib/systemd/catalog/permwatch.catalog; do
        [ ! -e "$f" ] || out+=" $f"
    done
    check removed-files-gone "still there:$out" is "$out" ""
    check removed-conffile-kept "$ini gone after dpkg -r" test -e "$ini"
    for u in permwatchd@a.service permwatchd@a.socket; do
        out=$(timeout 10 systemctl is-active "$u" 2>&1 || true)
        check "removed-inactive:$u" "is-active says '$out' after dpkg -r" is "$out" inactive
    done
    # the admin's own files: the instance's enablement and policy (else dpkg -P rightly warns
    # that /etc/permwatch is not empty)
    timeout 60 systemctl disable --now permwatchd@a permwatchd@a.socket 2>&1 | sed 's/^/# /' ||
        true
    rm -f /etc/permwatch/a.ini
    rc=0
    out=$(DEBIAN_FRONTEND=noninteractive timeout 120 dpkg -P permwatch 2>&1) || rc=$?
    printf '%s\n' "$out" | sed 's/^/# dpkg -P: /'
    check dpkg-purge "dpkg -P exited $rc" is "$rc" 0
    check dpkg-purge-no-error "dpkg -P printed an error or warning" \
        eval '! grep -qiE "error|warning|fail" <<<"$out"'
    check purged-conffile-gone "$ini still there after dpkg -P" test ! -e "$ini"
    out=$(dpkg-query -W -f='${db:Status-Abbrev}' permwatch 2>&1 || true)
    check purged-not-installed "dpkg-query says '$out'" eval '[[ $out != ii* && $out != rc* ]]'
    out=$(find /etc/systemd/system -name 'permwatchd*' 2>/dev/null || true)
    check purged-no-enablement-links "left: $out" is "$out" ""
    t "removed and purged"

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
usage() {
    echo "usage: $0 PKG.deb" >&2
    exit 2
}
[ $# -eq 1 ] || usage
deb=$(realpath -e "$1") || {
    echo "not ok package: $1 does not exist"
    exit 1
}
self=$(realpath -e "$0")
# shellcheck source=tests/nspawn-lib.sh
. "$(dirname "$self")/nspawn-lib.sh"
nspawn_init deb-nspawn
nspawn_rootfs
nspawn_stage "$deb" /opt/permwatch-test/permwatch.deb
nspawn_boot --tmpfs=/var/www:mode=0755

rc=0
timeout 240 "${cin[@]}" bash -c "$(cat "$self")" deb-nspawn.sh --inside \
    /opt/permwatch-test/permwatch.deb </dev/null || rc=$?
t_checks=$SECONDS

nspawn_finish || rc=1
echo "# timing: rootfs $((t_rootfs - t_start)) s, boot $((t_boot - t_rootfs)) s," \
    "walk $((t_checks - t_boot)) s, total $((SECONDS - t_start)) s"
exit "$rc"
