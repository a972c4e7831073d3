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
#include "harness_site.h"

#define NOT_WRITABLE_ID "a7f7f2785f324b84b7ded4015d81a732"

Test(live_writable, acl_grant_resolves_and_mask_reopens_not_writable)
{
    struct site s;
    site_init(&s, "live-writable");
    const char *site = s.root;
    char file[PATH_MAX];
    snprintf(file, sizeof(file), "%s/a.php", site);
    site_sh("set -e; mkdir -m 2775 '%s'; echo x > '%s'; chmod 0664 '%s'; "
            "chown -R www-data:www-data '%s'",
            site, file, file, site);
    site_policy(&s,
                "[site]\nroot = %s\nwriters = www-data, nobody\n[daemon]\ncontrol_socket = %s\n"
                "rescan_interval = 0\nlog_burst = 0\n[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\ngroup = www-data\nwritable = yes\nrepair = manual\n",
                site, s.sock);
    site_start(&s, NULL, 20000);
    struct live *d = s.d;

    json_t *f = site_expect_entry(&s, 5000, "no not_writable finding at the first crawl",
                                  "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING", "not_writable",
                                  "PERMWATCH_PATH", file, NULL);
    cr_expect_str_eq(live_field(f, "MESSAGE_ID"), NOT_WRITABLE_ID);
    cr_expect_str_eq(live_field(f, "PRIORITY"), "4");
    cr_expect_str_eq(live_field(f, "PERMWATCH_EXPECTED"), "writable by www-data, nobody");
    cr_expect_str_eq(live_field(f, "PERMWATCH_REASON"),
                     "nobody cannot write: owner www-data, group www-data (nobody is not in "
                     "it), class other lacks w");
    /* the site directory (2775): nobody falls in class other, r-x */
    cr_expect_not_null(live_wait_entry(d, 5000, "PERMWATCH_FINDING", "not_writable",
                                       "PERMWATCH_PATH", site, NULL));

    site_sh("setfacl -m u:nobody:rw '%s'", file);
    site_expect_entry(&s, 5000, "an ACL granting write does not resolve the finding",
                      "PERMWATCH_EVENT", "resolved", "PERMWATCH_FINDING", "not_writable",
                      "PERMWATCH_PATH", file, NULL);

    site_sh("setfacl -m m::r '%s'", file);
    f = live_wait_nth_entry(d, 1, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                            "not_writable", "PERMWATCH_PATH", file, NULL);
    if (!f)
        live_dump(d);
    cr_assert_not_null(f, "a mask taking write back is not a finding");
    cr_expect_str_eq(live_field(f, "PERMWATCH_REASON"),
                     "nobody cannot write: owner www-data, group www-data (nobody is not in "
                     "it), class ACL user (entry rw-, mask r--) lacks w");

    site_stop(&s);
    site_free(&s);
}
