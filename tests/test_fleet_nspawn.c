/* test_fleet_nspawn: the fleet of issue 15 under real systemd. tests/fleet-nspawn.sh boots four
 * systemd-nspawn containers (systemd as PID 1; the cached rootfs-fleet of Debian bookworm with
 * systemd-journal-remote, prometheus and prometheus-node-exporter) on one bridge inside a
 * private network namespace: three site hosts with the package that `make deb` built (seed
 * problems on two: a dispatch command under the 0700 /root, a root-owned file) shipping their
 * journal with systemd-journal-upload, and a central host running systemd-journal-remote and
 * Prometheus with the shipped rules. It checks that the central journal lists exactly the two
 * seeded hosts for PERMWATCH_FINDING=dispatch_unreachable with the catalog text, that
 * permwatch-fleet summarises it per host, that Prometheus's query API shows the open findings
 * per host and PermwatchDispatchUnreachable fires for exactly the two, and that a host whose
 * daemon is stopped shows up as stale (its `stopping` entry, permwatch_up 0, PermwatchDown).
 * Fails when the package is missing; skipped (exit 77) only when the machine cannot boot a
 * container at all. Nothing is left on the host (its network is never touched). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Whole run: the first one builds rootfs-fleet (about a minute), later ones take about 25 s.
 * The script bounds each of its own waits; this bounds the whole (run-tests.sh allows 600 s). */
#define SCRIPT_TIMEOUT_S 450

static char script[PATH_MAX];

static void setup(void)
{
    harness_tests_path("fleet-nspawn.sh", script, sizeof(script));
}

TestSuite(fleet_nspawn, .init = setup);

Test(fleet_nspawn, journal_feed_and_prometheus_across_hosts)
{
    static const char *const want[] = {
        "boot",
        "central-setup",
        "site-setup:site1",
        "site-setup:site2",
        "site-setup:site3",
        "central-dispatch_unreachable-hosts",
        "central-root_owned-hosts",
        "central-field:_HOSTNAME",
        "central-field:PERMWATCH_COMMAND",
        "central-field:PERMWATCH_BLOCKED_AT",
        "central-field:MESSAGE_ID",
        "central-catalog-text",
        "central-clean-host-seen",
        "fleet-report",
        "node-exporter:site1",
        "metrics-timer:site1",
        "metrics-timer:site2",
        "metrics-timer:site3",
        "central-rules-installed",
        "prometheus-scrapes-three",
        "prometheus-query-dispatch",
        "alert-dispatch-unreachable-two-hosts",
        "central-stale-site2",
        "fleet-report-stopped",
        "prometheus-stale-site2",
        "alert-down-site2",
        "cleanup",
    };
    harness_run_package_script("fleet-nspawn.sh", script, SCRIPT_TIMEOUT_S, want,
                               sizeof(want) / sizeof(want[0]));
}
