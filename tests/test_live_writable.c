/* test_live_writable: the live daemon (this binary runs inside tests/journald-ns.sh) judges
 * `writable = yes` for every writer like the kernel, ACLs included (issue 10): a 0664
 * www-data:www-data file is a not_writable finding for the writer nobody (not in group
 * www-data) at the first crawl; an ACL granting nobody write (setfacl, seen as IN_ATTRIB)
 * resolves it; a mask taking the write back opens it again, the reason naming the ACL class. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_live.h"

#define NOT_WRITABLE_ID "a7f7f2785f324b84b7ded4015d81a732"

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "%s", cmd), 0);
    cr_assert_eq(r.status, 0, "%s: %s", cmd, r.err);
    run_result_free(&r);
}

Test(live_writable, acl_grant_resolves_and_mask_reopens_not_writable)
{
    char *dir = harness_tempdir("live-writable");
    char site[PATH_MAX / 2], sock[PATH_MAX / 2], ini[PATH_MAX], file[PATH_MAX];
    snprintf(site, sizeof(site), "%s/site", dir);
    snprintf(sock, sizeof(sock), "%s/control.sock", dir);
    snprintf(ini, sizeof(ini), "%s/policy.ini", dir);
    snprintf(file, sizeof(file), "%s/a.php", site);
    sh("set -e; mkdir -m 2775 '%s'; echo x > '%s'; chmod 0664 '%s'; "
       "chown -R www-data:www-data '%s'",
       site, file, file, site);
    char text[4096];
    snprintf(text, sizeof(text),
             "[site]\nroot = %s\nwriters = www-data, nobody\n[daemon]\ncontrol_socket = %s\n"
             "rescan_interval = 0\nlog_burst = 0\n[dispatch]\nchannels_file = none.php\n"
             "[rule site]\nmatch = **\ngroup = www-data\nwritable = yes\nrepair = manual\n",
             site, sock);
    harness_write_file(ini, text);
    struct live *d = live_start(ini, NULL);
    if (!live_wait_notify(d, "READY=1", 20000)) {
        live_dump(d);
        cr_assert_fail("no READY=1");
    }

    json_t *f = live_wait_entry(d, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                "not_writable", "PERMWATCH_PATH", file, NULL);
    if (!f)
        live_dump(d);
    cr_assert_not_null(f, "no not_writable finding at the first crawl");
    cr_expect_str_eq(live_field(f, "MESSAGE_ID"), NOT_WRITABLE_ID);
    cr_expect_str_eq(live_field(f, "PRIORITY"), "4");
    cr_expect_str_eq(live_field(f, "PERMWATCH_EXPECTED"), "writable by www-data, nobody");
    cr_expect_str_eq(live_field(f, "PERMWATCH_REASON"),
                     "nobody cannot write: owner www-data, group www-data (nobody is not in "
                     "it), class other lacks w");
    /* the site directory (2775): nobody falls in class other, r-x */
    cr_expect_not_null(live_wait_entry(d, 5000, "PERMWATCH_FINDING", "not_writable",
                                       "PERMWATCH_PATH", site, NULL));

    sh("setfacl -m u:nobody:rw '%s'", file);
    json_t *r = live_wait_entry(d, 5000, "PERMWATCH_EVENT", "resolved", "PERMWATCH_FINDING",
                                "not_writable", "PERMWATCH_PATH", file, NULL);
    if (!r)
        live_dump(d);
    cr_assert_not_null(r, "an ACL granting write does not resolve the finding");

    sh("setfacl -m m::r '%s'", file);
    f = live_wait_nth_entry(d, 1, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                            "not_writable", "PERMWATCH_PATH", file, NULL);
    if (!f)
        live_dump(d);
    cr_assert_not_null(f, "a mask taking write back is not a finding");
    cr_expect_str_eq(live_field(f, "PERMWATCH_REASON"),
                     "nobody cannot write: owner www-data, group www-data (nobody is not in "
                     "it), class ACL user (entry rw-, mask r--) lacks w");

    int rc = live_stop(d);
    if (rc)
        live_dump(d);
    cr_expect_eq(rc, 0);
    live_free(d);
    harness_rmtree(dir);
    free(dir);
}
