/* test_unit_nspawn: the units of systemd/ under a real systemd. tests/unit-nspawn.sh boots
 * systemd as PID 1 of a systemd-nspawn container (Debian bookworm rootfs, debootstrapped once
 * and cached under /var/cache/permwatch-test) with the built permwatchd, permwatchctl and the
 * four units bound in, and drives them with systemctl: start returns after READY=1, the
 * journal entries and their fields, a live finding, reloads with a good and a broken policy
 * (`systemctl reload` fails with the reason), the watchdog, stop; socket activation through
 * permwatchd.socket (root:permwatch 0660, the file kept when the service stops); two template
 * instances on two sites at once (--site, the choice without it, `permwatchctl instances`, a
 * refused reload of one, stopping one leaves the other).
 * The script prints one "ok NAME" or "not ok NAME: DETAIL" line per check; each expected check
 * must be there and ok. Skipped (exit 77) only when the machine cannot boot a container at
 * all (not root, no tools, no network for the first debootstrap). Nothing is left on the
 * host: container, cgroups, mounts and temporary files are gone when it returns. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Whole run: the first one debootstraps (1-4 minutes), later ones take about 15 s. The
 * script bounds each of its own waits; this bounds the whole (run-tests.sh allows 600 s). */
#define SCRIPT_TIMEOUT_S 560

static char bin[PATH_MAX], unit[PATH_MAX], script[PATH_MAX];

static void setup(void)
{
    harness_build_path("permwatchd", bin, sizeof(bin));
    harness_tests_path("../systemd/permwatchd.service", unit, sizeof(unit));
    harness_tests_path("unit-nspawn.sh", script, sizeof(script));
}

TestSuite(unit_nspawn, .init = setup);

Test(unit_nspawn, real_systemd_manages_the_unit)
{
    static const char *const want[] = {
        "boot",
        "not-started-at-boot",
        "active-after-start",
        "status-is-ready-summary",
        "main-pid",
        "watchdog-usec-from-unit",
        "started-entry",
        "finding-root_owned:wp-content/uploads/agent-upload.png",
        "finding-root_owned:wp-content/uploads/agent-export",
        "finding-root_owned:wp-content/uploads/agent-export/report.pdf",
        "findings-planted-only",
        "finding-field:_SYSTEMD_UNIT",
        "finding-field:SYSLOG_IDENTIFIER",
        "finding-field:PERMWATCH_FINDING",
        "finding-field:PERMWATCH_PATH",
        "finding-field:PERMWATCH_RULE",
        "finding-field:PERMWATCH_UID",
        "finding-field:PERMWATCH_GID",
        "finding-field:PERMWATCH_OWNER",
        "finding-field:PERMWATCH_GROUP",
        "finding-field:PERMWATCH_MODE",
        "finding-field:PERMWATCH_EXPECTED",
        "finding-field:PERMWATCH_REASON",
        "sandbox-no-new-privs",
        "sandbox-seccomp",
        "sandbox-capabilities",
        "sandbox-etc-read-only",
        "sandbox-site-writable",
        "live-finding",
        "reloaded-entry",
        "running-after-reload",
        "config_error-entry",
        "reload-broken-fails",
        "reload-broken-reason-in-status",
        "config_error-names-line",
        "status-reload-refused",
        "running-after-broken-reload",
        "no-reloaded-for-broken",
        "reloaded-again",
        "enabled",
        "watchdog-usec-drop-in",
        "watchdog-pings",
        "running-after-watchdog-period",
        "inactive-after-stop",
        "exit-status-0",
        "result-success",
        "stopping-entry",
        "stopping-entry-restart",
        "manager-saw-no-failure",
        "socket-file-removed-on-stop",
        "socket-start-leaves-service-stopped",
        "socket-file-owner-mode",
        "socket-activation-answers",
        "socket-activation-status-names-site",
        "socket-activated-service-running",
        "socket-group-warning",
        "socket-file-kept-after-service-stop",
        "socket-reactivation",
        "socket-stop-stops-service",
        "instances-start",
        "instance-active:a",
        "instance-socket:a",
        "instance-site-status:a",
        "instance-site-names-site:a",
        "instance-active:b",
        "instance-socket:b",
        "instance-site-status:b",
        "instance-site-names-site:b",
        "instance-site-equals-form",
        "instances-no-choice-exit-2",
        "instances-no-choice-names-them",
        "instances-list",
        "instances-list-json",
        "instance-passed-socket-wins",
        "instance-group-warning:b",
        "instance-no-group-warning:a",
        "instance-reload-good",
        "instance-reload-broken-fails",
        "instance-reload-broken-reason",
        "instance-reload-broken-in-journal",
        "instance-running-after-refused-reload",
        "instance-stop-a-only",
        "instance-stop-a-removes-its-socket",
        "instance-stop-a-keeps-b-socket",
        "instances-one-left-is-chosen",
        "instance-without-policy-fails",
        "cleanup",
    };
    struct run_result r;
    cr_assert(harness_sh(&r, "timeout -k 15 %d bash '%s' '%s' '%s' 2>&1", SCRIPT_TIMEOUT_S, script,
                         bin, unit) == 0);
    harness_expect_checks("unit-nspawn.sh", &r, want, sizeof(want) / sizeof(want[0]));
}
