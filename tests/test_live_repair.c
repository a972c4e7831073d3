/* test_live_repair: repairs by the real live daemon (this binary runs inside
 * tests/journald-ns.sh): `repair = auto` fixes what root writes as soon as it is seen, the
 * fight guard pauses a path that keeps flipping back, and `permwatchctl repair` logs the
 * caller. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

static void env_start(struct site *e, const char *repair)
{
    site_init(e, "live-repair");
    site_make_uploads(e);
    site_policy_standard(e, repair);
    site_start(e, NULL, 20000);
}

static void env_stop(struct site *e)
{
    site_stop(e);
    site_free(e);
}

Test(live_repair, auto_repair_fixes_root_writes_at_once)
{
    struct site e;
    env_start(&e, "auto");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/by-root.png", e.root);
    /* written whole outside the site and moved in: one event, no chmod racing the repair */
    site_sh("echo x > '%s/by-root.tmp' && chmod 0644 '%s/by-root.tmp' && mv '%s/by-root.tmp' '%s'",
            e.dir, e.dir, e.dir, path);
    json_t *r = site_expect_entry(&e, 5000, "no repaired entry", "PERMWATCH_EVENT", "repaired",
                                  "PERMWATCH_PATH", path, NULL);
    cr_expect_str_eq(live_field(r, "PRIORITY"), "5");
    cr_expect_str_eq(live_field(r, "PERMWATCH_OLD_UID"), "0");
    cr_expect_str_eq(live_field(r, "PERMWATCH_UID"), "33");
    cr_expect_str_eq(live_field(r, "PERMWATCH_MODE"), "0664");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 33);
    cr_expect_eq(st.st_gid, 33);
    cr_expect_eq(st.st_mode & 07777, 0664);
    /* a root mkdir -p: every level repaired */
    site_sh("mkdir -p '%s/wp-content/uploads/a/b' && touch '%s/wp-content/uploads/a/b/f'", e.root,
            e.root);
    snprintf(path, sizeof(path), "%s/wp-content/uploads/a/b/f", e.root);
    cr_assert_not_null(
        live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", path, NULL));
    snprintf(path, sizeof(path), "%s/wp-content/uploads/a/b", e.root);
    cr_assert_not_null(
        live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", path, NULL));
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 33);
    env_stop(&e);
}

Test(live_repair, fight_guard_pauses_a_path_that_flips_back)
{
    struct site e;
    env_start(&e, "auto");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/contested", e.root);
    site_sh("touch '%s'", path);
    /* another process keeps making it root's again */
    site_sh("for i in 1 2 3 4 5 6 7 8; do sleep 0.2; chown root:root '%s'; done", path);
    json_t *r = site_expect_entry(&e, 5000, "no repair_refused entry", "PERMWATCH_EVENT",
                                  "repair_refused", "PERMWATCH_PATH", path, NULL);
    const char *reason = live_field(r, "PERMWATCH_REASON");
    cr_expect(reason && strstr(reason, "paused"), "%s", reason ? reason : "(none)");
    live_settle(e.d, 300);
    size_t repaired =
        live_count_entries(e.d, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", path, NULL);
    cr_expect_leq(repaired, 4, "repaired %zu times before the pause", repaired);
    cr_expect_eq(
        live_count_entries(e.d, "PERMWATCH_EVENT", "repair_refused", "PERMWATCH_PATH", path, NULL),
        1, "the loop is named once");
    /* paused: it stays root's and is an open finding instead */
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                       "root_owned", "PERMWATCH_PATH", path, NULL));
    env_stop(&e);
}

Test(live_repair, permwatchctl_repair_logs_the_caller)
{
    struct site e;
    env_start(&e, "manual");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/manual.png", e.root);
    site_sh("touch '%s'", path);
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                       "root_owned", "PERMWATCH_PATH", path, NULL));
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "'%s' -s '%s' repair --dry-run '%s'", e.ctl, e.sock, e.root), 0);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "would repair") && strstr(r.out, "manual.png"), "%s", r.out);
    run_result_free(&r);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 0, "a dry run changes nothing");
    cr_assert_eq(harness_sh(&r, "'%s' -s '%s' repair '%s'", e.ctl, e.sock, e.root), 0);
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    json_t *j =
        live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", path, NULL);
    cr_assert_not_null(j);
    cr_expect_str_eq(live_field(j, "PERMWATCH_CALLER_UID"), "0");
    cr_expect_not_null(live_field(j, "PERMWATCH_CALLER_PID"));
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "resolved",
                                       "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH", path,
                                       NULL));
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 33);
    /* outside the site: refused */
    cr_assert_eq(harness_sh(&r, "'%s' -s '%s' repair /etc", e.ctl, e.sock), 0);
    cr_expect_eq(r.status, 2, "%s", r.err);
    run_result_free(&r);
    env_stop(&e);
}
