/* Live: `make run`'s demo (tests/run-demo.sh) runs the live daemon under the SHIPPED policy
 * on a site shaped like the seed host and shows every finding kind, an auto-repair and the
 * dispatch command blocked at /root, quickly. Runs the script non-interactively
 * (DEMO_SECONDS=0) with its demo directory under /tmp. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "finding.h"
#include "harness.h"

Test(demo, shows_every_kind_a_repair_and_root_blocking_dispatch)
{
    char *tmp = harness_tempdir("demo");
    char build[512], script[512], demo[600];
    harness_build_path("", build, sizeof(build));
    build[strlen(build) - 1] = '\0'; /* no trailing '/' */
    harness_tests_path("run-demo.sh", script, sizeof(script));
    snprintf(demo, sizeof(demo), "%s/demo", tmp);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct run_result r;
    cr_assert(harness_sh(&r,
                         "DEMO_DIR='%s' DEMO_SECONDS=0 DEMO_LOG_TARGET=stderr timeout 60 "
                         "sh '%s' '%s' 2>&1",
                         demo, script, build) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_eq(r.status, 0, "demo exit %d:\n%s", r.status, r.out);
    cr_expect(secs < 20, "the demo took %.1f s", secs);

    /* every finding kind among the open findings, counted by `permwatchctl findings` */
    const char *table = strstr(r.out, "== open findings by kind");
    cr_assert(table, "%s", r.out);
    const char *end = strstr(table, "\n\n");
    cr_assert(end, "%s", r.out);
    /* root_writer needs the writer: only the fanotify backend (root with CAP_SYS_ADMIN) */
    bool fanotify = strstr(r.out, "the fanotify backend names") != NULL;
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        if (k == FINDING_ROOT_WRITER && !fanotify)
            continue;
        char word[64];
        snprintf(word, sizeof(word), " %s\n", finding_kind_name((enum finding_kind)k));
        const char *at = strstr(table, word);
        cr_expect(at && at < end, "kind %s not shown:\n%.*s",
                  finding_kind_name((enum finding_kind)k), (int)(end - table), table);
    }
    /* a repair of what happened while it watched, and dispatch blocked at /root */
    cr_expect(strstr(r.out, "repaired ") && strstr(r.out, "/live-upload.png: owner 0 -> 33"), "%s",
              r.out);
    cr_expect(strstr(r.out, "-rw-rw-r-- 1 www-data www-data"), "%s", r.out);
    cr_expect(strstr(r.out, "/root/.kimaki/bin/kimaki of channel kimaki is unreachable for the "
                            "web user: blocked at /root"),
              "%s", r.out);
    run_result_free(&r);

    /* the policy it ran is the shipped one: only root, the socket, writers and owners differ */
    cr_assert(harness_sh(&r,
                         "diff conf/permwatch.ini '%s/permwatch.ini' | grep '^[<>]' | "
                         "grep -Ev '^[<>] (root|control_socket|writers|owner) = '",
                         demo) == 0);
    cr_expect_eq(r.status, 1, "the demo's policy is not the shipped one:\n%s", r.out);
    run_result_free(&r);
    harness_rmtree(tmp);
    free(tmp);
}
