#!/bin/bash
# unit-nspawn.sh BIN UNIT: systemd/permwatchd.service under a real systemd. Boots systemd as
# PID 1 of a systemd-nspawn container over a Debian bookworm rootfs, with BIN bound at
# /usr/local/sbin/permwatchd, permwatchctl (next to BIN) at /usr/local/bin/permwatchctl, UNIT
# and the units next to it (permwatchd.socket, permwatchd@.service, permwatchd@.socket) in
# /etc/systemd/system, plants a small site at /var/www/site, and drives the units with
# systemctl from inside: start (returns only after READY=1), journal entries and their
# fields, a live finding, reloads (good, and broken: `systemctl reload` fails with the
# reason), the watchdog, stop; then socket activation of permwatchd.service through
# permwatchd.socket, and two template instances permwatchd@a and permwatchd@b on two sites
# at once (--site, the choice without one, `permwatchctl instances`, a refused reload of one,
# stopping one). Adapted from shared/recipes/nspawn-boot.sh.
#
# Output: one line per check, "ok NAME" or "not ok NAME: DETAIL"; exit 0 when all passed,
# 1 otherwise, 77 (with "SKIP: WHY") when this machine cannot boot a container at all: not
# root, the tools cannot be installed, or the first debootstrap cannot reach the mirror.
#
# The host half (rootfs cached in /var/cache/permwatch-test/rootfs-v3, the container, cleanup;
# nothing persists on the host, the host's systemd, journal and /tmp are never used) is
# tests/nspawn-lib.sh, shared with tests/deb-nspawn.sh. A library of BIN that the rootfs lacks
# (the ASan runtime of `make check-asan`) is bound in read-only from the host.
#
# NEVER boot /lib/systemd/systemd --system against the host root: it runs the host's units
# and wipes /tmp. Only through systemd-nspawn, as here.
set -euo pipefail

# sockets_and_instances (called by inside, after the single unit's checks; uses its helpers
# and locals): socket activation of permwatchd.service, then permwatchd@a and permwatchd@b.
sockets_and_instances() {
    local ctl=/usr/local/bin/permwatchctl sock=/run/permwatch/control.sock out rc st spid n s
    # jgrep SECONDS ERE MATCH...: until an entry matching every MATCH has a MESSAGE matching ERE
    jgrep() {
        local deadline=$((SECONDS + $1)) re=$2
        shift 2
        until jsync && timeout 10 journalctl -q --no-pager -o cat "$@" | grep -qE -- "$re"; do
            [ "$SECONDS" -lt "$deadline" ] || return 1
            sleep 0.1
        done
    }
    sockstat() { stat -c '%U:%G %a %F' "$1" 2>&1 || true; }

    # --- socket activation: the socket unit alone, then a request starts the daemon ---------
    timeout 60 systemctl stop permwatchd.socket "$unit" || nok socket-stop "systemctl stop failed"
    check socket-file-removed-on-stop "$sock still there after stopping permwatchd.socket" \
        [ ! -e "$sock" ]
    timeout 30 systemctl start permwatchd.socket ||
        bail socket-start "systemctl start permwatchd.socket failed"
    snap
    check socket-start-leaves-service-stopped "service ${P[ActiveState]}" \
        is "${P[ActiveState]}" inactive
    st=$(sockstat "$sock")
    check socket-file-owner-mode "$sock: $st" is "$st" "root:permwatch 660 socket"
    rc=0
    out=$(timeout 60 "$ctl" --json status 2>&1) || rc=$?
    # exit 1: the planted findings are open
    check socket-activation-answers "permwatchctl status exit $rc: $out" [ "$rc" -le 1 ]
    check socket-activation-status-names-site "$out" contains "$out" "\"site\":\"$site\""
    snap
    spid=${P[MainPID]}
    check socket-activated-service-running "${P[ActiveState]}/${P[SubState]} MainPID $spid" \
        is "${P[ActiveState]}/${P[SubState]}" active/running
    # the policy has no control_group, the socket lets group permwatch connect: said at start
    check socket-group-warning "no warning naming the socket's group and control_group" \
        jgrep 10 'its group is permwatch \(SocketGroup= of permwatchd\.socket\) but the policy.s control_group is unset' \
        "_PID=$spid" PRIORITY=4
    # the daemon never removes the socket unit's file; a request starts it again
    timeout 60 systemctl stop "$unit" || nok socket-service-stop "systemctl stop $unit failed"
    st=$(sockstat "$sock")
    check socket-file-kept-after-service-stop "$sock: $st" is "$st" "root:permwatch 660 socket"
    rc=0
    out=$(timeout 60 "$ctl" status 2>&1) || rc=$?
    snap
    check socket-reactivation "exit $rc, ${P[ActiveState]}, MainPID ${P[MainPID]} (was $spid): $out" \
        [ "$rc" -le 1 -a "${P[ActiveState]}" = active -a "${P[MainPID]}" != "$spid" ]
    timeout 60 systemctl stop permwatchd.socket || nok socket-stop-again "systemctl stop failed"
    snap
    check socket-stop-stops-service "${P[ActiveState]}, $sock $(sockstat "$sock")" \
        [ "${P[ActiveState]}" = inactive -a ! -e "$sock" ]

    # --- two instances of the template on two sites -----------------------------------------
    for s in a b; do
        mkdir -p "/var/www/$s/wp-content/uploads"
        echo '<?php' >"/var/www/$s/index.php"
        chown -R www-data:www-data "/var/www/$s"
        find "/var/www/$s" -type d -exec chmod 0770 {} + &&
            find "/var/www/$s" -type f -exec chmod 0660 {} +
        printf '%s\n' "$good" | sed "s|^root = .*|root = /var/www/$s|" >"/etc/permwatch/$s.ini"
    done
    # a: control_group matches the socket's group, and an explicit control_socket (as copied
    # from a policy that sets the single unit's) that the passed socket overrides
    sed -i '/^\[daemon\]$/a control_group = permwatch\ncontrol_socket = /run/permwatch/control.sock' \
        /etc/permwatch/a.ini
    rc=0
    out=$(timeout 60 systemctl start permwatchd@a.service permwatchd@b.service 2>&1) || rc=$?
    check instances-start "systemctl start exit $rc: $out" is "$rc" 0
    for s in a b; do
        st=$(timeout 10 systemctl is-active "permwatchd@$s.service" "permwatchd@$s.socket" | tr '\n' ' ')
        check "instance-active:$s" "permwatchd@$s service/socket: $st" is "$st" "active active "
        st=$(sockstat "/run/permwatch/$s.sock")
        check "instance-socket:$s" "/run/permwatch/$s.sock: $st" is "$st" "root:permwatch 660 socket"
        rc=0
        out=$(timeout 30 "$ctl" --site "$s" --json status 2>&1) || rc=$?
        check "instance-site-status:$s" "permwatchctl --site $s status exit $rc: $out" \
            [ "$rc" -le 1 ]
        check "instance-site-names-site:$s" "$out" contains "$out" "\"site\":\"/var/www/$s\""
    done
    rc=0
    out=$(timeout 30 "$ctl" --site=b status 2>&1) || rc=$?
    check instance-site-equals-form "permwatchctl --site=b status exit $rc: $out" \
        matches "$out" "site: +/var/www/b"
    rc=0
    out=$(timeout 30 "$ctl" status 2>&1) || rc=$?
    check instances-no-choice-exit-2 "permwatchctl status exit $rc: $out" is "$rc" 2
    check instances-no-choice-names-them "$out" contains "$out" \
        "several permwatch instances run here: a, b; pick one with --site NAME"
    rc=0
    out=$(timeout 30 "$ctl" instances 2>&1) || rc=$?
    check instances-list "permwatchctl instances exit $rc: $out" \
        matches "$out" $'\na +/run/permwatch/a\\.sock +yes\nb +/run/permwatch/b\\.sock +yes'
    rc=0
    out=$(timeout 30 "$ctl" instances --json 2>&1) || rc=$?
    check instances-list-json "permwatchctl instances --json exit $rc: $out" is "$rc/$out" \
        '0/{"instance":"a","socket":"/run/permwatch/a.sock","answers":true}
{"instance":"b","socket":"/run/permwatch/b.sock","answers":true}'
    # (a) the passed socket wins over a's explicit control_socket, said once at info
    check instance-passed-socket-wins "no info entry: a.sock from permwatchd@a.socket, control_socket not used" \
        jgrep 10 'listening on /run/permwatch/a\.sock from permwatchd@a\.socket; control_socket = /run/permwatch/control\.sock of /etc/permwatch/a\.ini is not used' \
        _SYSTEMD_UNIT=permwatchd@a.service PRIORITY=6
    # (c) b's policy has no control_group: warned; a's matches: not
    check instance-group-warning:b "no group warning from b" \
        jgrep 10 'its group is permwatch \(SocketGroup= of permwatchd@b\.socket\)' \
        _SYSTEMD_UNIT=permwatchd@b.service
    n=$(timeout 10 journalctl -q --no-pager -o cat _SYSTEMD_UNIT=permwatchd@a.service |
        grep -c 'its group is' || true)
    check instance-no-group-warning:a "$n group warnings from a" is "$n" 0

    # reload of one instance: good, then broken (fails with the reason), b untouched
    snap_i() { timeout 10 systemctl show "permwatchd@$1.service" -p MainPID --value; }
    local apid bpid
    apid=$(snap_i a)
    bpid=$(snap_i b)
    rc=0
    out=$(timeout 30 systemctl reload permwatchd@a 2>&1) || rc=$?
    check instance-reload-good "systemctl reload permwatchd@a exit $rc: $out" is "$rc" 0
    cp /etc/permwatch/a.ini /etc/permwatch/a.ini.good
    sed -i 's/^file_require = 0660$/file_require = 9x/' /etc/permwatch/a.ini
    rc=0
    out=$(timeout 30 systemctl reload permwatchd@a 2>&1) || rc=$?
    check instance-reload-broken-fails "systemctl reload permwatchd@a exit $rc: $out" [ "$rc" -ne 0 ]
    out=$(timeout 10 systemctl status --no-pager -l -n 20 permwatchd@a 2>&1 || true)
    check instance-reload-broken-reason "systemctl status permwatchd@a: $out" \
        matches "$out" 'reload refused: /etc/permwatch/a\.ini:[0-9]+: \[rule site\] file_require'
    grep -E 'reload refused|Reload failed|Control process' <<<"$out" | sed 's/^ */# /' || true
    check instance-reload-broken-in-journal "no 'reload refused' line from permwatchctl in a's journal" \
        jgrep 10 '^permwatchctl: reload refused: /etc/permwatch/a\.ini:[0-9]+: \[rule site\] file_require' \
        _SYSTEMD_UNIT=permwatchd@a.service
    st="$(snap_i a)/$(snap_i b)/$(timeout 10 systemctl is-active permwatchd@a.service)"
    check instance-running-after-refused-reload "MainPIDs/state $st (were $apid/$bpid)" \
        is "$st" "$apid/$bpid/active"
    mv /etc/permwatch/a.ini.good /etc/permwatch/a.ini

    # stopping instance a (its socket, and with it the service) leaves b and its socket
    timeout 60 systemctl stop permwatchd@a.socket || nok instance-stop "systemctl stop failed"
    st="$(timeout 10 systemctl is-active permwatchd@a.service permwatchd@a.socket permwatchd@b.service permwatchd@b.socket | tr '\n' ' ')"
    check instance-stop-a-only "a service/socket, b service/socket: $st" \
        is "$st" "inactive inactive active active "
    check instance-stop-a-removes-its-socket "/run/permwatch/a.sock: $(sockstat /run/permwatch/a.sock)" \
        [ ! -e /run/permwatch/a.sock ]
    st=$(sockstat /run/permwatch/b.sock)
    check instance-stop-a-keeps-b-socket "/run/permwatch/b.sock: $st" is "$st" "root:permwatch 660 socket"
    rc=0
    out=$(timeout 30 "$ctl" --json status 2>&1) || rc=$?
    check instances-one-left-is-chosen "permwatchctl status exit $rc: $out" \
        contains "$out" '"site":"/var/www/b"'
    # no policy, no instance: fails at once, no restart loop
    rc=0
    out=$(timeout 30 systemctl start permwatchd@nosuch.service 2>&1) || rc=$?
    check instance-without-policy-fails "systemctl start permwatchd@nosuch exit $rc: $out" \
        [ "$rc" -ne 0 ]
    timeout 60 systemctl stop permwatchd@b.socket || nok instance-stop-b "systemctl stop failed"
}

# ------------------------------------------------------------------------------------------
# Inside the container (bash -c "$(cat unit-nspawn.sh)" unit-nspawn.sh --inside): the checks.
# ------------------------------------------------------------------------------------------
inside() {
    local site=/var/www/site ini=/etc/permwatch/permwatch.ini unit=permwatchd.service
    local passed=0 failed=0
    ok() { echo "ok $1"; passed=$((passed + 1)); }
    nok() { echo "not ok $1: $2"; failed=$((failed + 1)); }
    check() { # check NAME DETAIL CMD...
        local name=$1 detail=$2
        shift 2
        if "$@"; then ok "$name"; else nok "$name" "$detail"; fi
    }
    # snap: the unit's properties into P[] (one systemctl call; "" for any it did not give)
    declare -gA P
    local props=ActiveState,SubState,MainPID,NRestarts,StatusText,WatchdogUSec,Result
    props+=,WatchdogTimestampMonotonic,ExecMainCode,ExecMainStatus,UnitFileState
    props+=,ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic
    snap() {
        P=()
        local k v
        while IFS='=' read -r k v; do P[$k]=$v; done < <(timeout 10 systemctl show "$unit" \
            -p "$props" || true)
        for k in ${props//,/ }; do P[$k]=${P[$k]-}; done
    }
    is() { [ "$1" = "$2" ]; }
    contains() { [[ $1 == *"$2"* ]]; }
    matches() { [[ $1 =~ $2 ]]; }
    has_field() { [[ $'\n'$1 == *$'\n'"$2"* ]]; } # has_field EXPORT_ENTRY FIELD=VALUE-PREFIX
    jsync() { timeout 10 journalctl --sync || true; }
    # jcount MATCH...: entries of the unit's processes matching every FIELD=VALUE, as far as
    # journald has stored them (the last jwait synced; the daemon's entries keep their order)
    jcount() {
        { timeout 10 journalctl -q --no-pager -o export "_SYSTEMD_UNIT=$unit" "$@" || true; } |
            grep -c '^__CURSOR=' || true
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
    # jlast MATCH...: the last matching entry, export format (after jwait: no sync needed)
    jlast() { timeout 10 journalctl -q --no-pager -o export -n 1 "_SYSTEMD_UNIT=$unit" "$@"; }
    field() { sed -n "s/^$1=//p" | tail -n 1; } # field NAME < EXPORT_ENTRY
    diag() {
        echo "--- systemctl status"
        timeout 10 systemctl status --no-pager -l "$unit" permwatchd.socket 'permwatchd@*' \
            2>&1 | sed 's/^/# /' || true
        echo "--- journal"
        timeout 10 journalctl -q --no-pager -o short-monotonic -n 60 2>&1 | sed 's/^/# /' || true
    }
    bail() {
        nok "$1" "$2"
        diag
        echo "bailed out after $passed passed, $failed failed"
        exit 1
    }

    # --- the site and the policy ---------------------------------------------------------
    id -u www-data >/dev/null || bail setup "no www-data user in the rootfs"
    # the sockets' SocketGroup= (sysusers.d/permwatch.conf on an installed system)
    getent group permwatch >/dev/null || groupadd --system permwatch ||
        bail setup "groupadd permwatch failed"
    mkdir -p "$site/wp-content/uploads/agent-export" /etc/permwatch
    echo '<?php' >"$site/index.php"
    echo '<?php' >"$site/wp-content/uploads/photo.jpg"
    # 3000 clean files: a crawl that takes a moment, so that a unit that does not wait for
    # READY=1 (Type=simple) shows here as a StatusText still saying "crawling"
    mkdir -p "$site"/wp-content/plugins/p{01..50}
    touch "$site"/wp-content/plugins/p{01..50}/f{01..60}.php
    chown -R www-data:www-data "$site"
    find "$site" -type d -exec chmod 0770 {} + && find "$site" -type f -exec chmod 0660 {} +
    # planted: root:root files and a directory, as an agent running as root leaves them
    echo png >"$site/wp-content/uploads/agent-upload.png"
    chown root:root "$site/wp-content/uploads/agent-upload.png" "$site/wp-content/uploads/agent-export"
    chmod 0755 "$site/wp-content/uploads/agent-export"
    echo pdf >"$site/wp-content/uploads/agent-export/report.pdf"
    local good
    good=$(printf '%s\n' '[site]' "root = $site" 'web_user = www-data' '[daemon]' \
        'rescan_interval = 0' '[rule site]' 'match = **' 'owner = www-data' \
        'group = www-data' 'file_require = 0660' 'file_forbid = 0002' 'dir_require = 0770' \
        'dir_forbid = 0002' 'web_readable = yes' 'repair = manual')
    printf '%s\n' "$good" >"$ini"

    # --- start: returns only once READY=1 is in --------------------------------------------
    snap
    check not-started-at-boot "state ${P[ActiveState]}" is "${P[ActiveState]}" inactive
    timeout 60 systemctl start "$unit" || bail start "systemctl start $unit failed or timed out"
    snap
    [ "${P[ActiveState]}/${P[SubState]}" = active/running ] ||
        bail active-after-start "right after start: ${P[ActiveState]}/${P[SubState]}"
    ok active-after-start
    check status-is-ready-summary "StatusText '${P[StatusText]}'" \
        matches "${P[StatusText]}" '[0-9]+ directories watched, [0-9]+ open findings'
    echo "# READY=1 came $(((${P[ActiveEnterTimestampMonotonic]:-0} - \
        ${P[ExecMainStartTimestampMonotonic]:-0}) / 1000)) ms after the exec"
    local pid=${P[MainPID]}
    check main-pid "MainPID '$pid'" [ "$pid" -gt 1 ]
    check watchdog-usec-from-unit "WatchdogUSec '${P[WatchdogUSec]}'" is "${P[WatchdogUSec]}" 30s

    # --- the journal: started, the planted findings, their fields ---------------------------
    check started-entry "no PERMWATCH_EVENT=started from pid $pid" \
        jwait 10 1 PERMWATCH_EVENT=started "_PID=$pid" SYSLOG_IDENTIFIER=permwatchd
    local p n
    for p in wp-content/uploads/agent-upload.png wp-content/uploads/agent-export \
        wp-content/uploads/agent-export/report.pdf; do
        n=$(jcount PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned "PERMWATCH_PATH=$site/$p")
        check "finding-root_owned:$p" "$n root_owned findings for $site/$p, want 1" is "$n" 1
    done
    n=$(jcount PERMWATCH_EVENT=finding "_PID=$pid")
    check findings-planted-only "$n findings, want 9 (3 kinds x 3 planted)" is "$n" 9
    local entry f
    entry=$(jlast PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/wp-content/uploads/agent-upload.png" || true)
    for f in _SYSTEMD_UNIT=permwatchd.service SYSLOG_IDENTIFIER=permwatchd "_PID=$pid" \
        PRIORITY=4 MESSAGE_ID= MESSAGE= PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/wp-content/uploads/agent-upload.png" PERMWATCH_RULE=site \
        PERMWATCH_UID=0 PERMWATCH_GID=0 PERMWATCH_OWNER=root PERMWATCH_GROUP=root \
        PERMWATCH_MODE=0644 PERMWATCH_EXPECTED= PERMWATCH_REASON=; do
        check "finding-field:${f%%=*}" "no line '$f' in the entry" has_field "$entry" "$f"
    done

    # --- the sandbox the unit asks for is the one the daemon runs in --------------------------
    local st
    st=$(cat "/proc/$pid/status" || true)
    check sandbox-no-new-privs "$(grep NoNewPrivs <<<"$st")" matches "$st" $'\nNoNewPrivs:\t1\n'
    check sandbox-seccomp "$(grep '^Seccomp:' <<<"$st")" matches "$st" $'\nSeccomp:\t2\n'
    # CAP_CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID SETGID SETUID: bits 0-4, 6, 7
    check sandbox-capabilities "$(grep CapBnd <<<"$st")" matches "$st" $'\nCapBnd:\t00000000000000df\n'
    # ProtectSystem=strict with ReadWritePaths=-/var/www (access(2) says EROFS, nothing written)
    check sandbox-etc-read-only "/etc/permwatch writable in the daemon's mount namespace" \
        timeout 10 nsenter --target "$pid" --mount -- test ! -w /etc/permwatch
    check sandbox-site-writable "$site not writable in the daemon's mount namespace" \
        timeout 10 nsenter --target "$pid" --mount -- test -w "$site"

    # --- a live event: a root-owned file appears ------------------------------------------
    echo '<?php' >"$site/wp-content/uploads/dropped.php"
    check live-finding "no root_owned finding for dropped.php within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=finding PERMWATCH_FINDING=root_owned \
        "PERMWATCH_PATH=$site/wp-content/uploads/dropped.php" "_PID=$pid"

    # --- reload: good policy, broken policy, good again -------------------------------------
    timeout 30 systemctl reload "$unit" || nok reload "systemctl reload failed"
    check reloaded-entry "no PERMWATCH_EVENT=reloaded within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=reloaded "_PID=$pid"
    snap
    check running-after-reload "${P[ActiveState]}/${P[SubState]}, MainPID ${P[MainPID]} (was $pid)" \
        is "${P[ActiveState]}/${P[SubState]}/${P[MainPID]}" "active/running/$pid"

    printf '%s\n' "$good" | sed 's/^file_require = 0660$/file_require = 9x/' >"$ini"
    # ExecReload= is permwatchctl reload: it waits for the verdict, so the refusal fails the job
    local out rc=0
    out=$(timeout 30 systemctl reload "$unit" 2>&1) || rc=$?
    check reload-broken-fails "systemctl reload exit $rc: $out" [ "$rc" -ne 0 ]
    out=$(timeout 10 systemctl status --no-pager -l -n 20 "$unit" 2>&1 || true)
    check reload-broken-reason-in-status "systemctl status: $out" \
        matches "$out" 'reload refused: /etc/permwatch/permwatch\.ini:[0-9]+: \[rule site\] file_require'
    check config_error-entry "no PERMWATCH_EVENT=config_error within 10 s" \
        jwait 10 1 PERMWATCH_EVENT=config_error "_PID=$pid"
    entry=$(jlast PERMWATCH_EVENT=config_error || true)
    local msg prio
    msg=$(field MESSAGE <<<"$entry")
    prio=$(field PRIORITY <<<"$entry")
    check config_error-names-line "message '$msg'" \
        matches "$msg" 'permwatch\.ini:[0-9]+: \[rule site\] file_require'
    check config_error-priority-err "PRIORITY $prio" is "$prio" 3
    # READY=1 after the refused reload: the status says so, the same process runs on
    local deadline=$((SECONDS + 10))
    snap
    until contains "${P[StatusText]}" "reload refused" || [ $SECONDS -ge $deadline ]; do
        sleep 0.1
        snap
    done
    check status-reload-refused "StatusText '${P[StatusText]}'" \
        contains "${P[StatusText]}" "reload refused"
    check running-after-broken-reload \
        "${P[ActiveState]}/${P[SubState]}, MainPID ${P[MainPID]} (was $pid)" \
        is "${P[ActiveState]}/${P[SubState]}/${P[MainPID]}" "active/running/$pid"
    n=$(jcount PERMWATCH_EVENT=reloaded)
    check no-reloaded-for-broken "$n reloaded entries, want 1" is "$n" 1
    printf '%s\n' "$good" >"$ini"
    timeout 30 systemctl reload "$unit" || nok reload-again "systemctl reload failed"
    check reloaded-again "no second reloaded entry within 10 s" \
        jwait 10 2 PERMWATCH_EVENT=reloaded "_PID=$pid"
    # from here on the manager must log no failure of the unit (the refused reload above did)
    local cursor
    cursor=$(timeout 10 journalctl -q --no-pager -n 1 -o export | sed -n 's/^__CURSOR=//p')

    # --- the watchdog: WatchdogSec=2s by a drop-in; pings every second keep it alive --------
    # Enabled too (its [Install] section): multi-user.target then refers to the unit, so
    # systemd keeps it loaded once stopped, and with it ExecMainStatus (an unreferenced
    # inactive unit is unloaded and its exit status forgotten).
    mkdir -p "/etc/systemd/system/$unit.d"
    printf '[Service]\nWatchdogSec=2s\n' >"/etc/systemd/system/$unit.d/zz-test-watchdog.conf"
    timeout 30 systemctl -q --no-reload enable "$unit" 2>&1 | sed 's/^/# /' || true
    timeout 30 systemctl daemon-reload || bail daemon-reload "systemctl daemon-reload failed"
    timeout 60 systemctl restart "$unit" || bail restart "systemctl restart failed"
    snap
    local pid2=${P[MainPID]} t0=${P[WatchdogTimestampMonotonic]}
    check enabled "UnitFileState ${P[UnitFileState]}" is "${P[UnitFileState]}" enabled
    check watchdog-usec-drop-in "WatchdogUSec '${P[WatchdogUSec]}'" is "${P[WatchdogUSec]}" 2s
    sleep 2.5 # > WatchdogSec: without pings systemd would have killed it by now
    snap
    check watchdog-pings "WatchdogTimestampMonotonic $t0 -> ${P[WatchdogTimestampMonotonic]}" \
        [ "${P[WatchdogTimestampMonotonic]}" -gt $((t0 + 1000000)) ]
    check running-after-watchdog-period \
        "${P[ActiveState]}/${P[SubState]}, NRestarts ${P[NRestarts]}, MainPID ${P[MainPID]} (was $pid2)" \
        is "${P[ActiveState]}/${P[SubState]}/${P[NRestarts]}/${P[MainPID]}" "active/running/0/$pid2"

    # --- stop: clean exit, stopping entry ---------------------------------------------------
    timeout 60 systemctl stop "$unit" || nok stop "systemctl stop failed"
    snap
    check inactive-after-stop "${P[ActiveState]}/${P[SubState]}" \
        is "${P[ActiveState]}/${P[SubState]}" inactive/dead
    check exit-status-0 "ExecMainCode ${P[ExecMainCode]} ExecMainStatus ${P[ExecMainStatus]}" \
        is "${P[ExecMainCode]}/${P[ExecMainStatus]}" 1/0
    check result-success "Result ${P[Result]}" is "${P[Result]}" success
    check stopping-entry "no PERMWATCH_EVENT=stopping from pid $pid2" \
        jwait 10 1 PERMWATCH_EVENT=stopping "_PID=$pid2"
    n=$(jcount PERMWATCH_EVENT=stopping "_PID=$pid")
    check stopping-entry-restart "$n stopping entries from pid $pid (restarted), want 1" is "$n" 1
    local bad
    bad=$(timeout 10 journalctl -q --no-pager -o cat --after-cursor="$cursor" _PID=1 UNIT=$unit |
        grep -Ei 'watchdog timeout|failed|code=(killed|dumped)|status=[1-9]|scheduled restart' ||
        true)
    check manager-saw-no-failure "systemd logged: $bad" is "$bad" ""

    sockets_and_instances
    [ "$failed" -eq 0 ] || diag
    echo "inside: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

if [ "${1:-}" = --inside ]; then
    inside
    exit
fi

# ------------------------------------------------------------------------------------------
# On the host: the rootfs, the container, cleanup (tests/nspawn-lib.sh).
# ------------------------------------------------------------------------------------------
usage() {
    echo "usage: $0 BIN UNIT" >&2
    exit 2
}
[ $# -eq 2 ] || usage
bin=$(realpath -e "$1") || usage
unit=$(realpath -e "$2") || usage
ctl=$(realpath -e "$(dirname "$bin")/permwatchctl") || usage
units=()
for u in permwatchd.socket permwatchd@.service permwatchd@.socket; do
    units+=("$(realpath -e "$(dirname "$unit")/$u")") || usage
done
self=$(realpath -e "$0")
# shellcheck source=tests/nspawn-lib.sh
. "$(dirname "$self")/nspawn-lib.sh"
nspawn_init unit-nspawn
nspawn_rootfs
nspawn_libbinds "$bin" "$ctl"
asan=no
case $(ldd "$bin") in *libasan*) asan=yes ;; esac
nspawn_stage "$bin" /usr/local/sbin/permwatchd
nspawn_stage "$ctl" /usr/local/bin/permwatchctl
nspawn_stage "$unit" /etc/systemd/system/permwatchd.service
for u in "${units[@]}"; do nspawn_stage "$u" "/etc/systemd/system/${u##*/}"; done
nspawn_boot --tmpfs=/var/www:mode=0755
if [ $asan = yes ]; then
    # LeakSanitizer stops the world with ptrace, which the unit's SystemCallFilter refuses
    # (the leak checks run under ASan and valgrind outside); only for an ASan build.
    printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' | timeout 30 "${cin[@]}" bash -c \
        'mkdir -p /etc/systemd/system/permwatchd.service.d /etc/systemd/system/permwatchd@.service.d &&
         cat >/etc/systemd/system/permwatchd.service.d/zz-test-asan.conf &&
         cp /etc/systemd/system/permwatchd.service.d/zz-test-asan.conf /etc/systemd/system/permwatchd@.service.d/ &&
         systemctl daemon-reload'
    echo "# ASan build: detect_leaks=0 in a drop-in" >&2
fi

rc=0
timeout 300 "${cin[@]}" bash -c "$(cat "$self")" unit-nspawn.sh --inside </dev/null || rc=$?
t_checks=$SECONDS

# power off and check that nothing is left
nspawn_finish || rc=1
echo "# timing: rootfs $((t_rootfs - t_start)) s, boot $((t_boot - t_rootfs)) s," \
    "checks $((t_checks - t_boot)) s, total $((SECONDS - t_start)) s"
exit "$rc"
