/* test_listen_fds: the sockets systemd passes (socket activation) are taken once, and the
 * LISTEN_* variables are unset then (sd_listen_fds(1)), so that no child of permwatchd (php -l,
 * helpers) ever sees them; the descriptors become close-on-exec. /proc/PID/environ shows a
 * process's initial environment only, so this is asked inside the process
 * (tests/helper_listen_fds.c calls control_listen_fds() as permwatchd's main() does). */
#include <criterion/criterion.h>
#include <limits.h>
#include <string.h>

#include "harness.h"

Test(listen_fds, taken_once_and_unset)
{
    char helper[PATH_MAX];
    harness_build_path("tests/helper_listen_fds", helper, sizeof(helper));
    struct run_result r;
    cr_assert(harness_sh(&r,
                         "exec 3</dev/null; export LISTEN_FDS=1 LISTEN_FDNAMES=permwatchd@a.socket;"
                         " LISTEN_PID=$$ exec '%s'",
                         helper) == 0);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "n=1 again=1 LISTEN_PID=- LISTEN_FDS=- LISTEN_FDNAMES=- cloexec=1\n");
    run_result_free(&r);
    /* not for this process (another LISTEN_PID): nothing taken */
    cr_assert(harness_sh(&r, "exec 3</dev/null; LISTEN_FDS=1 LISTEN_PID=1 exec '%s'", helper) == 0);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strncmp(r.out, "n=0 again=0 ", 12) == 0, "%s", r.out);
    run_result_free(&r);
}
