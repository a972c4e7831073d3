#!/bin/bash
# fleet-nspawn.sh PKG.deb: the fleet of issue 15 under real systemd. Three site hosts and one
# central host, each a systemd-nspawn container (systemd as PID 1) over a cached Debian
# bookworm rootfs that also holds systemd-journal-remote, prometheus and
# prometheus-node-exporter (rootfs-fleet). The four are on one bridge (fleet0, 10.15.0.0/24)
# inside a private network namespace (`unshare --net`), so the host's network is never touched:
# no host interface, route, sysctl or firewall rule is created, and everything goes with the
# namespace.
#
#   central 10.15.0.1   systemd-journal-remote (http, port 19532) into /var/log/journal/remote;
#                       the package installed too (its journal catalog: `journalctl -x`)
#   site1   10.15.0.11  package + site with seed problems (dispatch command under /root, root-owned file)
#   site2   10.15.0.12  the same
#   site3   10.15.0.13  package + clean site
#   each site: systemd-journal-upload shipping its journal to the central host
#
# Checks (on the central host, each within a stated time): the central journal lists exactly
# site1 and site2 (_HOSTNAME) for PERMWATCH_FINDING=dispatch_unreachable, with the PERMWATCH
# fields and the catalog text (`journalctl -x`); root_owned findings of both arrive too; a
# site host whose daemon is stopped shows up as stale (its last permwatchd entry is its
# `stopping`).
#
# Output: "ok NAME" / "not ok NAME: DETAIL" per check; exit 0 when all passed, 1 otherwise,
# 77 ("SKIP: WHY") when this machine cannot boot containers. Host half: tests/nspawn-lib.sh.
#
# NEVER boot /lib/systemd/systemd --system against the host root. Only through systemd-nspawn.
set -euo pipefail

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
rootfs=${PERMWATCH_FLEET_ROOTFS:-$cache_dir/rootfs-fleet}
tarball=$rootfs.tar.zst
include+=,systemd-journal-remote,prometheus,prometheus-node-exporter,iproute2,curl,ca-certificates

if [ "${PERMWATCH_FLEET_NETNS:-}" != 1 ]; then
    # phase 1, in the host's network namespace: the tools and the rootfs (both may need the
    # mirror), then the rest in a private network namespace
    nspawn_init fleet-rootfs
    command -v ip >/dev/null || timeout 300 sh "$nspawn_lib_dir/install-deps.sh" iproute2 >/dev/null 2>&1 ||
        skip "cannot install iproute2"
    nspawn_rootfs
    echo "# rootfs-fleet ready after $((t_rootfs - t_start)) s"
    trap - EXIT
    PERMWATCH_FLEET_NETNS=1 exec unshare --net -- bash "$self" "$deb"
fi

# ------------------------------------------------------------------------------------------
# phase 2, in the private network namespace
# ------------------------------------------------------------------------------------------
nspawn_init fleet
nspawn_rootfs # cached: no network needed
hosts=(central site1 site2 site3)
declare -A ip=([central]=10.15.0.1 [site1]=10.15.0.11 [site2]=10.15.0.12 [site3]=10.15.0.13)
declare -A h_nspid h_cpid h_cg h_work
tmpd=$(mktemp -d /tmp/permwatch-fleet-XXXXXX)

fleet_cleanup() { # every container of the fleet (nspawn-lib's cleanup, one at a time)
    set +e
    local h
    nspawn_cleanup # the one being booted, if any
    for h in "${hosts[@]}"; do
        [ -n "${h_nspid[$h]:-}" ] || continue
        NSPID=${h_nspid[$h]} CPID=${h_cpid[$h]} work=${h_work[$h]}
        read -ra cg_dirs <<<"${h_cg[$h]}"
        nspawn_cleanup
        h_nspid[$h]=""
    done
    rm -rf -- "$tmpd"
}
trap fleet_cleanup EXIT

ip link set lo up
ip link add fleet0 type bridge
ip link set fleet0 up

passed=0 failed=0
ok() {
    echo "ok $1"
    passed=$((passed + 1))
}
nok() {
    echo "not ok $1: $2"
    failed=$((failed + 1))
}
declare -A hin # hin[HOST]: the nsenter prefix (a string; run as: in HOST CMD...)
on() {
    local h=$1
    shift
    # shellcheck disable=SC2086
    ${hin[$h]} "$@"
}

# --- boot the four --------------------------------------------------------------------------
t_boot0=$SECONDS
for h in "${hosts[@]}"; do
    echo "$h" >"$tmpd/$h.hostname"
    stage_src=() stage_dst=()
    nspawn_stage "$tmpd/$h.hostname" /etc/hostname
    nspawn_stage "$deb" /opt/permwatch-test/permwatch.deb
    nspawn_name=fleet-$h
    echo "# boot $h"
    nspawn_boot --machine="$h" --network-bridge=fleet0 --tmpfs=/var/www:mode=0755
    h_nspid[$h]=$NSPID h_cpid[$h]=$CPID h_cg[$h]="${cg_dirs[*]}" h_work[$h]=$work
    hin[$h]="nsenter --target $CPID --mount --uts --ipc --net --pid --"
    NSPID="" CPID="" work="" cg_dirs=()
    on "$h" ip addr add "${ip[$h]}/24" dev host0
    on "$h" ip link set host0 up
done
t_booted=$SECONDS
echo "# four containers booted in $((t_booted - t_boot0)) s"

# --- central: journal-remote over http, the package (for its catalog) ------------------------
t_setup0=$SECONDS
on central bash -euc '
    export DEBIAN_FRONTEND=noninteractive
    timeout 120 dpkg -i /opt/permwatch-test/permwatch.deb >/dev/null 2>&1
    # the central host watches no site
    timeout 60 systemctl disable --now permwatchd.service permwatchd.socket 2>/dev/null 2>&1
    # http for the test; production: the package default --listen-https=-3 with the keys in
    # /etc/systemd/journal-remote.conf (see README, Fleet)
    d=/etc/systemd/system/systemd-journal-remote.service.d
    mkdir -p $d
    printf "[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-journal-remote --listen-http=-3 --output=/var/log/journal/remote/\n" >$d/http.conf
    timeout 30 systemctl daemon-reload
    timeout 30 systemctl start systemd-journal-remote.socket
' && ok central-setup || nok central-setup "journal-remote or dpkg -i failed on central"

# --- sites: the package, a site (seeded on site1, site2), journal-upload ---------------------
site_setup='
    seeded=$1 central=$2
    export DEBIAN_FRONTEND=noninteractive
    timeout 120 dpkg -i /opt/permwatch-test/permwatch.deb >/dev/null 2>&1
    site=/var/www/example.com stage=/var/www/.example.com.new
    mkdir -p $stage/wp-content/uploads $stage/wp-content/mu-plugins
    echo "<?php" >$stage/index.php
    chown -R www-data:www-data $stage
    find $stage -type d -exec chmod 0775 {} + && find $stage -type f -exec chmod 0664 {} +
    if [ "$seeded" = yes ]; then
        # the field incident: the dispatch command under the 0700 /root, and a root shell
        # leaving a file behind
        mkdir -p /root/.kimaki/bin
        printf "#!/bin/sh\necho kimaki\n" >/root/.kimaki/bin/kimaki
        chmod 0755 /root/.kimaki/bin/kimaki
        chmod 0700 /root
        sed -i "/^\[dispatch\]/a command = /root/.kimaki/bin/kimaki" /etc/permwatch/permwatch.ini
        echo notes >$stage/agent-notes.txt
        chmod 0644 $stage/agent-notes.txt
    fi
    mv -T $stage $site
    timeout 60 systemctl restart permwatchd.service
    printf "[Upload]\nURL=http://%s:19532\n" "$central" >/etc/systemd/journal-upload.conf
    timeout 60 systemctl enable --now systemd-journal-upload.service 2>/dev/null 2>&1
'
declare -A seeded=([site1]=yes [site2]=yes [site3]=no)
for h in site1 site2 site3; do
    if on "$h" bash -euc "$site_setup" site-setup "${seeded[$h]}" "${ip[central]}"; then
        ok "site-setup:$h"
    else
        nok "site-setup:$h" "dpkg -i, the site or journal-upload failed"
    fi
done
t_setup=$SECONDS
echo "# setup of the four took $((t_setup - t_setup0)) s"

# --- central checks -------------------------------------------------------------------------
remote=/var/log/journal/remote
cj() { on central env SYSTEMD_PAGER= SYSTEMD_COLORS=0 LC_ALL=C.UTF-8 timeout 20 journalctl -q --no-pager -D "$remote" "$@" 2>/dev/null || true; }
hosts_of() { cj -o export "$@" | sed -n 's/^_HOSTNAME=//p' | sort -u | tr '\n' ' '; }
wait_hosts() { # wait_hosts SECONDS WANT MATCH...: until the hosts of MATCH are WANT
    local deadline=$((SECONDS + $1)) want=$2
    shift 2
    got=$(hosts_of "$@")
    while [ "$got" != "$want" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.5
        got=$(hosts_of "$@")
    done
    [ "$got" = "$want" ]
}
within=60
if wait_hosts $within "site1 site2 " PERMWATCH_FINDING=dispatch_unreachable; then
    ok "central-dispatch_unreachable-hosts"
else
    nok "central-dispatch_unreachable-hosts" "hosts '$got' after $within s, want 'site1 site2 '"
fi
echo "# central has the dispatch_unreachable findings $((SECONDS - t_setup)) s after the setup"
if wait_hosts 30 "site1 site2 " PERMWATCH_FINDING=root_owned; then
    ok "central-root_owned-hosts"
else
    nok "central-root_owned-hosts" "hosts '$got', want 'site1 site2 '"
fi
echo "# central\$ journalctl -D $remote PERMWATCH_FINDING=dispatch_unreachable -o verbose (fields):"
cj PERMWATCH_FINDING=dispatch_unreachable -o verbose |
    grep -E '^[^ ]|_HOSTNAME=|PERMWATCH_(EVENT|FINDING|COMMAND|BLOCKED_AT|REASON)=|PRIORITY=' |
    sed 's/^/#   /'
out=$(cj PERMWATCH_FINDING=dispatch_unreachable -o export)
for f in _HOSTNAME PERMWATCH_EVENT PERMWATCH_COMMAND PERMWATCH_BLOCKED_AT MESSAGE_ID; do
    if grep -q "^$f=." <<<"$out"; then ok "central-field:$f"; else nok "central-field:$f" "not in the entries"; fi
done
t_q=$(date +%s%N)
out=$(cj -x PERMWATCH_FINDING=dispatch_unreachable)
echo "# central: journalctl -x -D $remote PERMWATCH_FINDING=dispatch_unreachable took $((($(date +%s%N) - t_q) / 1000000)) ms"
echo "# central\$ journalctl -x -D $remote PERMWATCH_FINDING=dispatch_unreachable:"
head -n 12 <<<"$out" | sed 's/^/#   /'
if grep -q 'is not executable by the web user' <<<"$out"; then
    ok central-catalog-text
else
    nok central-catalog-text "no catalog Subject in journalctl -x"
fi
n=$(hosts_of _HOSTNAME=site3 SYSLOG_IDENTIFIER=permwatchd)
[ "$n" = "site3 " ] && ok central-clean-host-seen || nok central-clean-host-seen "no permwatchd entry of site3"

# --- the per host report of the central journal ------------------------------------------
rc=0
out=$(on central env COLUMNS=200 timeout 20 permwatch-fleet -v 2>&1) || rc=$?
echo "# central\$ permwatch-fleet -v (exit $rc):"
sed 's/^/#   /' <<<"$out"
got=$(awk '$2 == "running" { printf "%s:%s:%s ", $1, $3, $4 }' <<<"$out")
[ "$rc/$got" = "1/site1:1:1 site2:1:1 site3:0:0 " ] && ok fleet-report ||
    nok fleet-report "exit $rc, host:dispatch:root-owned '$got', want exit 1 and 'site1:1:1 site2:1:1 site3:0:0 '"

# --- Prometheus: node exporters on the sites, the server with the shipped rules on central ---
t_prom0=$SECONDS
rules=/usr/share/permwatch/prometheus/permwatch.rules.yml
for h in site1 site2 site3; do
    # sites run no Prometheus server (the rootfs has it enabled)
    on "$h" timeout 60 systemctl disable --now prometheus.service 2>/dev/null || true
    out=$(on "$h" timeout 10 systemctl is-active prometheus-node-exporter.service 2>&1 || true)
    [ "$out" = active ] && ok "node-exporter:$h" || nok "node-exporter:$h" "is-active says '$out'"
    if on "$h" test -e /lib/systemd/system/permwatch-metrics.timer; then
        out=$(on "$h" timeout 10 systemctl is-active permwatch-metrics.timer 2>&1 || true)
        [ "$out" = active ] && ok "metrics-timer:$h" || nok "metrics-timer:$h" "is-active says '$out'"
        # the first run now rather than at the timer's next tick
        on "$h" timeout 60 systemctl start permwatch-metrics.service ||
            nok "metrics-service:$h" "permwatch-metrics.service failed"
    else
        nok "metrics-timer:$h" "the package has no permwatch-metrics.timer (i15-prom not merged)"
    fi
done
on central timeout 60 systemctl disable --now prometheus-node-exporter.service 2>/dev/null || true
if on central test -e "$rules"; then
    # for: 0s in the test's copy: the rule expressions are tested here, their durations by
    # `promtool test rules` (packaging/prometheus/permwatch.rules.test.yml)
    on central sh -c "sed -E 's/^([[:space:]]*)for:.*/\1for: 0s/' $rules >/etc/prometheus/permwatch-test.rules.yml"
    ok central-rules-installed
else
    nok central-rules-installed "the package has no $rules (i15-prom not merged)"
    on central sh -c ': >/etc/prometheus/permwatch-test.rules.yml'
fi
{
    printf 'global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\n'
    printf 'rule_files:\n  - /etc/prometheus/permwatch-test.rules.yml\n'
    printf 'scrape_configs:\n  - job_name: node\n    static_configs:\n'
    for h in site1 site2 site3; do
        printf '      - targets: ["%s:9100"]\n        labels: {host: %s}\n' "${ip[$h]}" "$h"
    done
} >"$tmpd/prometheus.yml"
on central sh -c "cat >/etc/prometheus/prometheus.yml" <"$tmpd/prometheus.yml"
on central timeout 60 systemctl restart prometheus.service
api() { # api PATH [curl args]: the central Prometheus API, JSON on stdout
    local p=$1
    shift
    on central timeout 10 curl -fsS "http://127.0.0.1:9090$p" "$@" 2>/dev/null || true
}
query() { api /api/v1/query --data-urlencode "query=$1"; }
until [ "$(api /-/ready)" != "" ] || [ "$SECONDS" -gt $((t_prom0 + 60)) ]; do sleep 0.5; done
deadline=$((SECONDS + 30))
until got=$(query 'up{job="node"} == 1' | jq -r '.data.result[] | .metric.host' 2>/dev/null | sort | tr '\n' ' ') &&
    [ "$got" = "site1 site2 site3 " ] || [ "$SECONDS" -ge $deadline ]; do sleep 0.5; done
[ "$got" = "site1 site2 site3 " ] && ok prometheus-scrapes-three ||
    nok prometheus-scrapes-three "up == 1 for '$got', want 'site1 site2 site3 '"
echo "# Prometheus ready and scraping the three $((SECONDS - t_prom0)) s after its setup began"
# open findings per host: every site scraped, the two seeded ones with dispatch_unreachable
want_q='sum by (host) (permwatch_open_findings{kind="dispatch_unreachable"})'
deadline=$((SECONDS + 60))
while :; do
    got=$(query "$want_q" | jq -r '.data.result[] | "\(.metric.host)=\(.value[1])"' 2>/dev/null |
        sort | tr '\n' ' ')
    [ "$got" = "site1=1 site2=1 site3=0 " ] || [ "$SECONDS" -ge $deadline ] && break
    sleep 1
done
echo "# central\$ curl /api/v1/query?query=$want_q: $got"
[ "$got" = "site1=1 site2=1 site3=0 " ] && ok prometheus-query-dispatch ||
    nok prometheus-query-dispatch "got '$got', want 'site1=1 site2=1 site3=0 '"
echo "# central\$ curl /api/v1/query?query=sum by (host, kind) (permwatch_open_findings) > 0:"
query 'sum by (host, kind) (permwatch_open_findings) > 0' |
    jq -r '.data.result[] | "#   \(.metric.host) \(.metric.kind) \(.value[1])"' 2>/dev/null || true
firing() { # firing ALERTNAME: the hosts of its firing alerts, sorted, space separated
    api /api/v1/alerts | jq -r --arg a "$1" \
        '.data.alerts[] | select(.labels.alertname == $a and .state == "firing") | .labels.host' \
        2>/dev/null | sort | tr '\n' ' '
}
deadline=$((SECONDS + 30))
until got=$(firing PermwatchDispatchUnreachable) && [ "$got" = "site1 site2 " ] ||
    [ "$SECONDS" -ge $deadline ]; do sleep 1; done
echo "# central\$ curl /api/v1/alerts (firing):"
api /api/v1/alerts | jq -r '.data.alerts[] | "#   \(.labels.alertname) host=\(.labels.host) site=\(.labels.site) \(.state)"' 2>/dev/null || true
[ "$got" = "site1 site2 " ] && ok alert-dispatch-unreachable-two-hosts ||
    nok alert-dispatch-unreachable-two-hosts "firing for '$got', want 'site1 site2 '"
echo "# Prometheus checks took $((SECONDS - t_prom0)) s"

# --- a stopped daemon shows up as stale --------------------------------------------------------
on site2 timeout 60 systemctl stop permwatchd.socket permwatchd.service
t_stop=$SECONDS
# the timer's next run (every 30 s) now
on site2 timeout 60 systemctl start permwatch-metrics.service || true
last=""
while [ "$SECONDS" -lt $((t_stop + 30)) ]; do
    last=$(cj -n 1 -o export _HOSTNAME=site2 SYSLOG_IDENTIFIER=permwatchd | sed -n 's/^PERMWATCH_EVENT=//p')
    [ "$last" = stopping ] && break
    sleep 0.5
done
if [ "$last" = stopping ]; then ok central-stale-site2; else nok central-stale-site2 "last event of site2 '$last'"; fi
echo "# central sees site2's stopping $((SECONDS - t_stop)) s after the stop"
out=$(on central timeout 20 permwatch-fleet 2>&1 || true)
got=$(awk '$1 == "site2" { print $2 }' <<<"$out")
[ "$got" = stopped ] && ok fleet-report-stopped || nok fleet-report-stopped "site2's daemon '$got', want stopped"

deadline=$((SECONDS + 40))
until got=$(query 'permwatch_up == 0' | jq -r '.data.result[] | .metric.host' 2>/dev/null | sort | tr '\n' ' ') &&
    [ "$got" = "site2 " ] || [ "$SECONDS" -ge $deadline ]; do sleep 1; done
echo "# central\$ permwatch_up == 0: '$got', $((SECONDS - t_stop)) s after the stop"
[ "$got" = "site2 " ] && ok prometheus-stale-site2 || nok prometheus-stale-site2 "permwatch_up == 0 for '$got', want 'site2 '"
deadline=$((SECONDS + 15))
until got=$(firing PermwatchDown) && [ "$got" = "site2 " ] || [ "$SECONDS" -ge $deadline ]; do sleep 1; done
echo "# central\$ PermwatchDown firing for: '$got'"
[ "$got" = "site2 " ] && ok alert-down-site2 || nok alert-down-site2 "PermwatchDown firing for '$got', want 'site2 '"

# figures for the README: what the central journal holds
echo "# central: $(on central sh -c "ls $remote | tr '\n' ' '; du -sh $remote | cut -f1")"
for h in site1 site2 site3; do
    echo "# central: $h shipped $(cj -o export _HOSTNAME=$h | grep -c '^__CURSOR=') entries," \
        "$(cj -o export _HOSTNAME=$h SYSLOG_IDENTIFIER=permwatchd | grep -c '^__CURSOR=') of permwatchd"
done

# --- power off the four, their cgroups gone (the bridge goes with the network namespace) ---
t_off0=$SECONDS
left=""
for h in "${hosts[@]}"; do
    NSPID=${h_nspid[$h]} CPID=${h_cpid[$h]}
    kill -TERM "$NSPID" 2>/dev/null || true # all four power off at once
done
for h in "${hosts[@]}"; do
    NSPID=${h_nspid[$h]} CPID=${h_cpid[$h]}
    read -ra cg_dirs <<<"${h_cg[$h]}"
    nspawn_kill_container
    nspawn_remove_cgroups
    for d in "${cg_dirs[@]}"; do [ ! -d "$d" ] || left="$left $d"; done
    rm -rf -- "${h_work[$h]}"
    h_nspid[$h]=""
done
NSPID="" CPID="" cg_dirs=()
[ -z "$left" ] && ok cleanup || nok cleanup "left$left"
echo "# powered off in $((SECONDS - t_off0)) s"

echo "# timing: boot $((t_booted - t_boot0)) s, setup $((t_setup - t_setup0)) s, total $((SECONDS - t_start)) s"
echo "fleet: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
