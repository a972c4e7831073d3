/* test_fan_nspawn: the fanotify backend and writer attribution under a real systemd.
 * tests/fan-nspawn.sh boots systemd as PID 1 of a systemd-nspawn container (the Debian
 * bookworm rootfs of tests/nspawn-lib.sh, cached under /var/cache/permwatch-test; the fanotify
 * system calls allowed to the container, the site on a tmpfs), installs the package that
 * `make deb` built and checks: the stock unit (no CAP_SYS_ADMIN) falls back to inotify, says so
 * once and still finds a root-owned file; with the packaged drop-in fanotify.conf the daemon
 * runs fanotify and names the writers: PERMWATCH_WRITER_UNIT=writer-test.service for a file
 * written by `systemd-run --unit=writer-test`, PERMWATCH_WRITER_UID=33 for one written through
 * `setpriv --reuid=www-data`, the comm or an honest `unknown` for a writer that exits at once,
 * one `root_writer` finding for 100 root files from one unit, the unit ranked by `permwatchctl
 * status` and counted by `metrics`. The script prints one "ok NAME" or "not ok NAME: DETAIL"
 * line per check; each expected check must be there and ok. Fails when the package is
 * missing; skipped (exit 77) only when the machine cannot boot a container at all. Nothing is
 * left on the host. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Whole run: the first one debootstraps (1-4 minutes), later ones take about 30 s. The script
 * bounds each of its own waits; this bounds the whole (run-tests.sh allows 600 s). */
#define SCRIPT_TIMEOUT_S 400

static char script[PATH_MAX];

static void setup(void)
{
    harness_tests_path("fan-nspawn.sh", script, sizeof(script));
}

TestSuite(fan_nspawn, .init = setup);

Test(fan_nspawn, writers_named_under_systemd)
{
    static const char *const want[] = {
        "boot",
        "dpkg-install",
        "dropin-example-shipped",
        "stock-no-cap-sys-admin",
        "stock-backend-inotify-once",
        "stock-no-fanotify",
        "stock-says-why",
        "stock-finds-root-file",
        "stock-status-names-inotify",
        "dropin-cap-sys-admin",
        "dropin-backend-fanotify",
        "dropin-status-names-fanotify",
        "unit-file-finding",
        "unit-writer-unit",
        "unit-writer-uid",
        "unit-writer-comm",
        "unit-writer-pid",
        "www-file-finding",
        "www-writer-uid",
        "quick-file-finding",
        "quick-writer-comm-or-unknown",
        "quick-writer-pid",
        "bulk-all-found",
        "bulk-all-attributed",
        "one-root_writer-finding",
        "root_writer-names-unit",
        "root_writer-listed",
        "status-ranks-writer-test",
        "status-writer-test-first",
        "metrics-writer-test-count",
        "template-start",
        "template-backend-fanotify",
        "cleanup",
    };
    harness_run_package_script("fan-nspawn.sh", script, SCRIPT_TIMEOUT_S, want,
                               sizeof(want) / sizeof(want[0]));
}
