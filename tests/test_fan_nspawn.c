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
#include <dirent.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Whole run: the first one debootstraps (1-4 minutes), later ones take about 30 s. The script
 * bounds each of its own waits; this bounds the whole (run-tests.sh allows 600 s). */
#define SCRIPT_TIMEOUT_S 400

static char debdir[PATH_MAX], script[PATH_MAX];

static void setup(void)
{
    harness_build_path("deb", debdir, sizeof(debdir));
    harness_tests_path("fan-nspawn.sh", script, sizeof(script));
}

TestSuite(fan_nspawn, .init = setup);

/* The one permwatch_*.deb in $PERMWATCH_BUILD/deb into DEB; fails the test if there is none or
 * several (daemon/glob.h shadows <glob.h>: a readdir). */
static void find_deb(char *deb, size_t len)
{
    size_t n = 0;
    DIR *d = opendir(debdir);
    cr_assert_not_null(d, "no %s: `make deb` builds the package (make check does first)", debdir);
    for (struct dirent *e; (e = readdir(d));)
        if (fnmatch("permwatch_*.deb", e->d_name, 0) == 0 && ++n == 1)
            snprintf(deb, len, "%s/%s", debdir, e->d_name);
    closedir(d);
    cr_assert_eq(n, 1, "%zu packages permwatch_*.deb in %s, want exactly 1 (`make deb`)", n,
                 debdir);
}

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
    /* PERMWATCH_DEB, else the one $PERMWATCH_BUILD/deb/permwatch_*.deb (as test_deb_nspawn) */
    char deb[PATH_MAX];
    const char *env = getenv("PERMWATCH_DEB");
    if (env && *env) {
        snprintf(deb, sizeof(deb), "%s", env);
        cr_assert_eq(access(deb, R_OK), 0, "no package PERMWATCH_DEB=%s", deb);
    } else
        find_deb(deb, sizeof(deb));

    struct run_result r;
    cr_assert(
        harness_sh(&r, "timeout -k 15 %d bash '%s' '%s' 2>&1", SCRIPT_TIMEOUT_S, script, deb) == 0);
    harness_expect_checks("fan-nspawn.sh", &r, want, sizeof(want) / sizeof(want[0]));
}
