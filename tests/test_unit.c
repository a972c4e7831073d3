/* test_unit: systemd/permwatchd.service. systemd-analyze verify has nothing to say about it,
 * its offline security exposure stays below 3.0, and the directives the daemon's protocol and
 * the operators rely on are there. Both analyses run through tests/unit-verify.sh (a private
 * mount namespace; no systemd needed, nothing left on the host). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_EXPOSURE 3.0

static char unit[PATH_MAX], script[PATH_MAX];

static void setup(void)
{
    harness_tests_path("../systemd/permwatchd.service", unit, sizeof(unit));
    harness_tests_path("unit-verify.sh", script, sizeof(script));
}

TestSuite(unit, .init = setup);

Test(unit, verify_says_nothing)
{
    struct run_result r;
    cr_assert(harness_sh(&r, "bash '%s' verify '%s'", script, unit) == 0);
    cr_expect_eq(r.status, 0, "unit-verify.sh exited %d", r.status);
    cr_expect_str_empty(r.out, "systemd-analyze verify:\n%s", r.out);
    cr_expect_str_empty(r.err, "stderr:\n%s", r.err);
    run_result_free(&r);
}

Test(unit, security_exposure_below_3)
{
    struct run_result r;
    cr_assert(harness_sh(&r, "bash '%s' security '%s'", script, unit) == 0);
    cr_assert_eq(r.status, 0, "unit-verify.sh exited %d:\n%s%s", r.status, r.out, r.err);
    const char *key = "Overall exposure level for permwatchd.service: ";
    const char *at = strstr(r.out, key);
    cr_assert(at, "no exposure level in:\n%s", r.out);
    double score = strtod(at + strlen(key), NULL);
    printf("permwatchd.service: systemd-analyze security exposure %.1f\n", score);
    fflush(stdout);
    cr_expect_lt(score, MAX_EXPOSURE, "exposure %.1f (want < %.1f):\n%s", score, MAX_EXPOSURE,
                 r.out);
    run_result_free(&r);
}

/* Every line of the [Service] contract, verbatim. */
Test(unit, contract_directives)
{
    static const char *const want[] = {
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=/usr/local/sbin/permwatchd",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "RuntimeDirectory=permwatch",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_UNIX",
        "CapabilityBoundingSet=CAP_CHOWN CAP_FOWNER CAP_FSETID CAP_DAC_READ_SEARCH "
        "CAP_DAC_OVERRIDE CAP_SETUID CAP_SETGID",
        "WantedBy=multi-user.target",
    };
    FILE *f = fopen(unit, "r");
    cr_assert(f, "%s is missing", unit);
    bool seen[sizeof(want) / sizeof(want[0])] = {false};
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
            seen[i] |= strcmp(line, want[i]) == 0;
        /* a unit that takes the site's owners away or hides their modes breaks the daemon */
        cr_expect(strncmp(line, "PrivateUsers=yes", 16) != 0, "PrivateUsers breaks owners");
        cr_expect(strncmp(line, "RestrictSUIDSGID=yes", 20) != 0, "setgid dirs can't be kept");
        cr_expect(strcmp(line, "ProtectHome=yes") != 0 && strcmp(line, "ProtectHome=tmpfs") != 0,
                  "dispatch checks must see /root and /home as they are");
    }
    fclose(f);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect(seen[i], "missing line: %s", want[i]);
}
