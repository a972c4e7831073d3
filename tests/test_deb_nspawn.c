/* test_deb_nspawn: the admin's walk with the permwatch package under a real systemd.
 * tests/deb-nspawn.sh boots systemd as PID 1 of a systemd-nspawn container (Debian bookworm
 * rootfs with everything the package Depends on, debootstrapped once and cached under
 * /var/cache/permwatch-test; no network in the container), copies in the package that
 * `make deb` built ($PERMWATCH_BUILD/deb/permwatch_*.deb) and walks as an admin would:
 * `dpkg -i` before the site exists, the catalog, the site appearing, the fields of a finding,
 * permwatchctl as root, group member and another user, `systemctl reload` good and bad,
 * restart, watchdog, two template instances, socket activation, systemd-analyze, every entry
 * with MESSAGE_ID and PERMWATCH_EVENT, `dpkg -r` and `dpkg -P`. The script prints one
 * "ok NAME" or "not ok NAME: DETAIL" line per check; each expected check must be there and ok.
 * Fails when the package is missing; skipped (exit 77) only when the machine cannot boot a
 * container at all (not root, no tools, no network for the first debootstrap). Nothing is
 * left on the host. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Whole run: the first one debootstraps (1-4 minutes), later ones take about 15 s. The
 * script bounds each of its own waits; this bounds the whole (run-tests.sh allows 600 s). */
#define SCRIPT_TIMEOUT_S 560

static char script[PATH_MAX];

static void setup(void)
{
    harness_tests_path("deb-nspawn.sh", script, sizeof(script));
}

TestSuite(deb_nspawn, .init = setup);

Test(deb_nspawn, admin_walk_with_the_package)
{
    static const char *const want[] = {
        "boot",
        "dpkg-install",
        "group-permwatch",
        "enabled:permwatchd.service",
        "active:permwatchd.service",
        "enabled:permwatchd.socket",
        "active:permwatchd.socket",
        "ready-sent",
        "status-waits-for-root",
        "no-restarts",
        "one-root_waiting-entry",
        "catalog-updated",
        "journalctl-x-catalog-text",
        "ctl-while-waiting",
        "same-pid-while-waiting",
        "finding-when-root-appears",
        "finding-upload",
        "status-watching",
        "no-restart-when-root-appears",
        "json-field:MESSAGE",
        "json-field:PRIORITY",
        "json-field:MESSAGE_ID",
        "json-field:SYSLOG_IDENTIFIER",
        "json-field:PERMWATCH_EVENT",
        "json-field:PERMWATCH_FINDING",
        "json-field:PERMWATCH_PATH",
        "json-field:PERMWATCH_RULE",
        "json-field:PERMWATCH_UID",
        "json-field:PERMWATCH_GID",
        "json-field:PERMWATCH_OWNER",
        "json-field:PERMWATCH_GROUP",
        "json-field:PERMWATCH_MODE",
        "json-field:PERMWATCH_EXPECTED",
        "json-field:PERMWATCH_REASON",
        "json-value:PERMWATCH_PATH",
        "json-value:PERMWATCH_UID",
        "json-value:PERMWATCH_OWNER",
        "json-value:PERMWATCH_MODE",
        "json-value:PERMWATCH_RULE",
        "json-value:SYSLOG_IDENTIFIER",
        "json-value:PRIORITY",
        "json-value:_SYSTEMD_UNIT",
        "ctl-root-status",
        "ctl-root-status-names-site",
        "ctl-member-status",
        "ctl-member-findings",
        "ctl-member-findings-lists",
        "ctl-member-dispatch",
        "ctl-member-repair-denied",
        "ctl-socket-mode",
        "ctl-other-user-denied",
        "reload-good-exit-0",
        "reloaded-entry",
        "reload-broken-fails",
        "reload-broken-reason",
        "reload-broken-same-process",
        "reload-good-again",
        "restart-new-pid",
        "restart-finds-file-created-while-stopped",
        "restart-finds-open-finding-again",
        "watchdog-drop-in",
        "watchdog-restarted",
        "watchdog-new-pid",
        "watchdog-nrestarts",
        "watchdog-result",
        "instances-enable-now",
        "instance-active:a",
        "instance-finds-own:a",
        "instance-active:b",
        "instance-finds-own:b",
        "instances-only-own-site",
        "ctl-site-a",
        "ctl-site-a-names-root",
        "enabled:permwatch-metrics.timer",
        "active:permwatch-metrics.timer",
        "metrics-nothing-without-node-exporter",
        "metrics-service-runs",
        "metrics-up:default",
        "metrics-up:a",
        "metrics-up:b",
        "metrics-site-label",
        "metrics-build-info",
        "metrics-file-mode",
        "metrics-down:b",
        "metrics-others-still-up",
        "metrics-quiet",
        "metrics-says-why",
        "security-exposure-metrics",
        "socket-activation-stopped",
        "socket-activation-socket-stays",
        "socket-activation-socket-file",
        "socket-activation-ctl",
        "socket-activation-started",
        "socket-activation-new-pid",
        "security-exposure",
        "security-exposure-instance",
        "verify:permwatchd.service",
        "verify:permwatchd.socket",
        "verify:permwatchd@.service",
        "verify:permwatchd@.socket",
        "verify:permwatch-metrics.service",
        "verify:permwatch-metrics.timer",
        "all-entries-have-ids",
        "catalog-covers-walk-ids",
        "walk-has-event:started",
        "walk-has-event:root_waiting",
        "walk-has-event:finding",
        "walk-has-event:reloaded",
        "walk-has-event:config_error",
        "walk-has-event:stopping",
        "dpkg-remove",
        "dpkg-remove-no-error",
        "removed-inactive:permwatchd.service",
        "removed-inactive:permwatchd.socket",
        "removed-files-gone",
        "removed-conffile-kept",
        "removed-inactive:permwatchd@a.service",
        "removed-inactive:permwatchd@a.socket",
        "dpkg-purge",
        "dpkg-purge-no-error",
        "purged-conffile-gone",
        "purged-not-installed",
        "purged-no-enablement-links",
        "cleanup",
    };
    harness_run_package_script("deb-nspawn.sh", script, SCRIPT_TIMEOUT_S, want,
                               sizeof(want) / sizeof(want[0]));
}
