/* test_live_first_start: what `repair = auto` does with problems that exist when the live
 * daemon starts (this binary runs inside tests/journald-ns.sh). The first start rewrites
 * nothing: existing problems are findings plus one repair_pending summary; changes seen
 * afterwards are repaired; `[daemon] repair_existing = yes` repairs the existing ones too. A
 * repaired root-owned write stays visible: its `repaired` entry carries PERMWATCH_FINDING=
 * root_owned (found by `journalctl PERMWATCH_FINDING=root_owned`) and status/metrics count
 * it in root_owned_seen. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

struct env {
    char *dir;
    char site[PATH_MAX / 2], sock[PATH_MAX / 2], ini[PATH_MAX], ctl[PATH_MAX];
    struct live *d;
};

/* The policy file: every object www-data:www-data, files 0660, directories 0770, auto repair,
 * DAEMON_EXTRA appended to [daemon], FILE_REQUIRE for files. */
static void write_policy(const struct env *e, const char *daemon_extra, const char *file_require)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
             "log_burst = 0\n%s[dispatch]\nchannels_file = none.php\n"
             "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
             "file_require = %s\ndir_require = 0770\nrepair = auto\n",
             e->site, e->sock, daemon_extra, file_require);
    harness_write_file(e->ini, text);
}

/* A site with problems already there: two root-owned 0644 files (root_owned, group_mismatch,
 * mode_mismatch), three www-data 0644 files and one www-data 0755 directory (mode_mismatch):
 * six objects a repair would change. */
static void env_prepare(struct env *e, const char *daemon_extra)
{
    memset(e, 0, sizeof(*e));
    e->dir = harness_tempdir("live-first-start");
    snprintf(e->site, sizeof(e->site), "%s/site", e->dir);
    snprintf(e->sock, sizeof(e->sock), "%s/control.sock", e->dir);
    snprintf(e->ini, sizeof(e->ini), "%s/policy.ini", e->dir);
    harness_build_path("permwatchctl", e->ctl, sizeof(e->ctl));
    site_sh(
        "set -e; umask 002; mkdir -p '%s/wp-content/uploads' '%s/wp-admin'; "
        "touch '%s/index.php' '%s/wp-content/uploads/a.png' '%s/wp-content/uploads/b.png' "
        "'%s/wp-admin/admin.php'; "
        "chown -R www-data:www-data '%s'; "
        "chmod 0644 '%s/index.php' '%s/wp-content/uploads/a.png' '%s/wp-content/uploads/b.png'; "
        "chmod 0755 '%s/wp-admin'; "
        "umask 022; echo x > '%s/root1.php'; echo y > '%s/wp-content/root2.php'",
        e->site, e->site, e->site, e->site, e->site, e->site, e->site, e->site, e->site, e->site,
        e->site, e->site, e->site);
    write_policy(e, daemon_extra, "0660");
}

static void env_run(struct env *e)
{
    e->d = live_start(e->ini, NULL);
    if (!live_wait_notify(e->d, "READY=1", 20000)) {
        live_dump(e->d);
        cr_assert_fail("no READY=1");
    }
}

static void env_stop(struct env *e)
{
    int rc = live_stop(e->d);
    if (rc)
        live_dump(e->d);
    cr_expect_eq(rc, 0);
    live_free(e->d);
    harness_rmtree(e->dir);
    free(e->dir);
}

static struct run_result ctl(const struct env *e, const char *args)
{
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "'%s' -s '%s' %s", e->ctl, e->sock, args), 0);
    return r;
}

/* `permwatchctl --json status` as one JSON object (caller decrefs). */
static json_t *status_json(const struct env *e)
{
    struct run_result r = ctl(e, "--json status");
    json_error_t jerr;
    json_t *row = json_loads(r.out, JSON_DECODE_ANY, &jerr);
    cr_assert(json_is_object(row), "status --json: %s (%s)", r.out, jerr.text);
    run_result_free(&r);
    return row;
}

/* Every object of the site with its owner, group and mode, one per line, sorted (malloc'd). */
static char *listing(const struct env *e)
{
    struct run_result r;
    cr_assert_eq(
        harness_sh(&r, "cd '%s' && find . -printf '%%p %%U:%%G %%m\\n' | LC_ALL=C sort", e->site),
        0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *out = strdup(r.out);
    run_result_free(&r);
    return out;
}

static void expect_mode(const char *path, uid_t uid, mode_t mode)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    cr_expect_eq(st.st_uid, uid, "%s: owner %u", path, (unsigned)st.st_uid);
    cr_expect_eq(st.st_mode & 07777, mode, "%s: mode %04o", path, (unsigned)(st.st_mode & 07777));
}

/* `journalctl PERMWATCH_FINDING=KIND PERMWATCH_EVENT=EVENT PERMWATCH_PATH=PATH` on the daemon's
 * entries, through journalctl's own field matching: how many entries it prints. */
static size_t journalctl_count(const struct env *e, const char *kind, const char *event,
                               const char *path)
{
    struct run_result r;
    cr_assert_eq(harness_sh(&r,
                            "journalctl --sync && journalctl -q -o cat --no-pager _PID=%d "
                            "PERMWATCH_FINDING=%s PERMWATCH_EVENT=%s 'PERMWATCH_PATH=%s' | wc -l",
                            (int)live_pid(e->d), kind, event, path),
                 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    size_t n = strtoul(r.out, NULL, 10);
    run_result_free(&r);
    return n;
}

Test(live_first_start, first_start_rewrites_nothing_and_repairs_what_changes_after)
{
    struct env e;
    env_prepare(&e, "");
    char *before = listing(&e);
    env_run(&e);
    /* READY=1 comes after the startup crawl */
    char *after = listing(&e);
    cr_expect_str_eq(after, before, "the first start changed the site");
    free(after);
    char root1[PATH_MAX], a[PATH_MAX], b[PATH_MAX], fresh[PATH_MAX];
    snprintf(root1, sizeof(root1), "%s/root1.php", e.site);
    snprintf(a, sizeof(a), "%s/wp-content/uploads/a.png", e.site);
    snprintf(b, sizeof(b), "%s/wp-content/uploads/b.png", e.site);
    snprintf(fresh, sizeof(fresh), "%s/wp-content/uploads/by-root.png", e.site);

    /* one summary of what a repair would change */
    json_t *p = live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repair_pending", NULL);
    if (!p)
        live_dump(e.d);
    cr_assert_not_null(p, "no repair_pending entry");
    cr_expect_str_eq(live_field(p, "MESSAGE_ID"), "39142fa860364193a642b734d167ddce");
    cr_expect_str_eq(live_field(p, "PERMWATCH_COUNT"), "6");
    cr_expect_str_eq(live_field(p, "PERMWATCH_BY_KIND"),
                     "root_owned 2, group_mismatch 2, mode_mismatch 6");
    const char *msg = live_field(p, "MESSAGE");
    cr_expect(msg && strstr(msg, "startup: 6 objects need repair") &&
                  strstr(msg, "permwatchctl repair") && strstr(msg, "repair_existing = yes"),
              "%s", msg ? msg : "(none)");
    /* the existing problems are findings */
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                       "root_owned", "PERMWATCH_PATH", root1, NULL));
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                       "mode_mismatch", "PERMWATCH_PATH", a, NULL));
    /* a requested full rescan is not a change either */
    struct run_result r = ctl(&e, "scan");
    run_result_free(&r);
    /* nor is new content in a file whose findings are open already */
    site_sh("echo more >> '%s'", a);
    live_settle(e.d, 500);
    after = listing(&e);
    cr_expect_str_eq(after, before,
                     "a requested scan or a write to a file with open findings "
                     "changed the site");
    free(after);
    free(before);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_EVENT", "repaired", NULL), 0);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_EVENT", "repair_pending", NULL), 1);
    json_t *s = status_json(&e);
    cr_expect_eq(json_integer_value(json_object_get(s, "root_owned_seen")), 2);
    json_decref(s);

    /* a change seen: a new root file is repaired at once, and found as a root_owned write */
    site_sh("echo x > '%s/by-root.tmp' && chmod 0644 '%s/by-root.tmp' && mv '%s/by-root.tmp' '%s'",
            e.dir, e.dir, e.dir, fresh);
    json_t *j = live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_FINDING",
                                "root_owned", "PERMWATCH_PATH", fresh, NULL);
    if (!j)
        live_dump(e.d);
    cr_assert_not_null(j, "the new root file: no repaired entry with PERMWATCH_FINDING=root_owned");
    cr_expect_str_eq(live_field(j, "PERMWATCH_FINDINGS"),
                     "root_owned,group_mismatch,mode_mismatch");
    msg = live_field(j, "MESSAGE");
    cr_expect(msg && strstr(msg, "; findings: root_owned, group_mismatch, mode_mismatch"), "%s",
              msg ? msg : "(none)");
    expect_mode(fresh, 33, 0664);
    cr_expect_eq(journalctl_count(&e, "root_owned", "repaired", fresh), 1,
                 "journalctl PERMWATCH_FINDING=root_owned does not find the repair");
    cr_expect_eq(journalctl_count(&e, "mode_mismatch", "repaired", fresh), 1);
    /* an existing file taken by root: its root_owned finding is new, so it is repaired too
     * (with the mode it had since before the start) */
    site_sh("chown root:root '%s'", b);
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired",
                                       "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH", b,
                                       NULL));
    expect_mode(b, 33, 0664);
    live_settle(e.d, 300);
    expect_mode(a, 33, 0644); /* still left alone */
    expect_mode(root1, 0, 0644);
    /* a rename inside the site carries known problems along: not repaired for it */
    char moved[PATH_MAX], cmd[2 * PATH_MAX + 16];
    snprintf(moved, sizeof(moved), "%s/wp-content/root1-moved.php", e.site);
    snprintf(cmd, sizeof(cmd), "mv '%s' '%s'", root1, moved);
    site_sh("%s", cmd);
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                       "root_owned", "PERMWATCH_PATH", moved, NULL));
    live_settle(e.d, 300);
    expect_mode(moved, 0, 0644);
    site_sh("mv '%s' '%s'", moved, root1);
    cr_assert_not_null(live_wait_nth_entry(e.d, 1, 5000, "PERMWATCH_EVENT", "finding",
                                           "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH",
                                           root1, NULL));
    live_settle(e.d, 300);
    expect_mode(root1, 0, 0644);
    s = status_json(&e);
    cr_expect_eq(json_integer_value(json_object_get(s, "root_owned_seen")), 4,
                 "2 at the start, 2 repaired at once (renames do not count)");
    cr_expect_eq(json_integer_value(json_object_get(s, "root_owned")), 2, "open: the 2 old ones");
    json_decref(s);
    r = ctl(&e, "metrics");
    cr_expect(strstr(r.out, "permwatch_root_owned_seen_total 4\n"), "%s", r.out);
    cr_expect(strstr(r.out, "permwatch_build_info{version=\"" PERMWATCH_VERSION "\"} 1\n"), "%s",
              r.out);
    /* the startup crawl ended within the last 5 minutes (fleet alerts compute its age) */
    const char *ts = strstr(r.out, "\npermwatch_last_full_scan_timestamp_seconds ");
    cr_expect(ts, "%s", r.out);
    if (ts) {
        double at = strtod(ts + strlen("\npermwatch_last_full_scan_timestamp_seconds "), NULL);
        double now = (double)time(NULL);
        cr_expect(at > now - 300 && at <= now + 1, "last full scan at %.3f, now %.0f", at, now);
    }
    run_result_free(&r);

    /* the operator repairs the rest: each entry names what it fixed */
    r = ctl(&e, "repair");
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    run_result_free(&r);
    j = live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", root1, NULL);
    cr_assert_not_null(j);
    cr_expect_str_eq(live_field(j, "PERMWATCH_FINDINGS"),
                     "root_owned,group_mismatch,mode_mismatch");
    expect_mode(root1, 33, 0664);
    expect_mode(a, 33, 0664);
    s = status_json(&e);
    cr_expect_eq(json_integer_value(json_object_get(s, "root_owned_seen")), 4,
                 "a manual repair of a counted one does not count again");
    cr_expect_eq(json_integer_value(json_object_get(s, "open_findings")), 0);
    json_decref(s);
    env_stop(&e);
}

Test(live_first_start, repair_existing_yes_repairs_at_start)
{
    struct env e;
    env_prepare(&e, "repair_existing = yes\n");
    env_run(&e);
    char root1[PATH_MAX], root2[PATH_MAX], a[PATH_MAX], admin[PATH_MAX];
    snprintf(root1, sizeof(root1), "%s/root1.php", e.site);
    snprintf(root2, sizeof(root2), "%s/wp-content/root2.php", e.site);
    snprintf(a, sizeof(a), "%s/wp-content/uploads/a.png", e.site);
    snprintf(admin, sizeof(admin), "%s/wp-admin", e.site);
    const char *roots[] = {root1, root2};
    for (size_t i = 0; i < 2; i++) {
        json_t *j = live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_FINDING",
                                    "root_owned", "PERMWATCH_PATH", roots[i], NULL);
        if (!j)
            live_dump(e.d);
        cr_assert_not_null(j, "%s not repaired at start", roots[i]);
        expect_mode(roots[i], 33, 0664);
    }
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired",
                                       "PERMWATCH_FINDING", "mode_mismatch", "PERMWATCH_PATH",
                                       admin, NULL));
    expect_mode(a, 33, 0664);
    expect_mode(admin, 33, 0775);
    live_settle(e.d, 300);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_EVENT", "repaired", NULL), 6);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_EVENT", "repair_pending", NULL), 0);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_EVENT", "finding", NULL), 0);
    json_t *s = status_json(&e);
    cr_expect_eq(json_integer_value(json_object_get(s, "root_owned_seen")), 2);
    cr_expect_eq(json_integer_value(json_object_get(s, "open_findings")), 0);
    json_decref(s);
    env_stop(&e);
}

Test(live_first_start, reload_rescan_repairs_nothing)
{
    struct env e;
    env_prepare(&e, "");
    /* start healthy */
    site_sh("chown -R www-data:www-data '%s' && find '%s' -type f -exec chmod 0660 {} + && "
            "find '%s' -type d -exec chmod 0770 {} +",
            e.site, e.site, e.site);
    env_run(&e);
    /* a stricter policy, reloaded: every file is now a finding, none is repaired */
    write_policy(&e, "", "0664");
    char *before = listing(&e);
    struct run_result r = ctl(&e, "reload");
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    run_result_free(&r);
    json_t *p = live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repair_pending", NULL);
    if (!p)
        live_dump(e.d);
    cr_assert_not_null(p);
    cr_expect_str_eq(live_field(p, "PERMWATCH_COUNT"), "6");
    const char *msg = live_field(p, "MESSAGE");
    cr_expect(msg && strstr(msg, "reload: 6 objects need repair (mode_mismatch 6)"), "%s",
              msg ? msg : "(none)");
    live_settle(e.d, 300);
    char *after = listing(&e);
    cr_expect_str_eq(after, before, "the reload changed the site");
    free(after);
    free(before);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_EVENT", "repaired", NULL), 0);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                    "mode_mismatch", NULL),
                 6);
    env_stop(&e);
}

Test(live_first_start, auto_repaired_root_write_is_found_as_root_owned)
{
    struct env e;
    env_prepare(&e, "");
    /* a healthy site: nothing pending */
    site_sh(
        "rm '%s/root1.php' '%s/wp-content/root2.php' && chmod 0664 '%s/index.php' "
        "'%s/wp-content/uploads/a.png' '%s/wp-content/uploads/b.png' && chmod 0775 '%s/wp-admin'",
        e.site, e.site, e.site, e.site, e.site, e.site);
    env_run(&e);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/by-root.php", e.site);
    site_sh(
        "echo x > '%s/tmp.php' && chmod 0664 '%s/tmp.php' && chown root:www-data '%s/tmp.php' && "
        "mv '%s/tmp.php' '%s'",
        e.dir, e.dir, e.dir, e.dir, path);
    json_t *j =
        live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", path, NULL);
    if (!j)
        live_dump(e.d);
    cr_assert_not_null(j);
    expect_mode(path, 33, 0664);
    /* only the owner was wrong: one kind, a plain string field */
    cr_expect_str_eq(live_field(j, "PERMWATCH_FINDING"), "root_owned");
    cr_expect_str_eq(live_field(j, "PERMWATCH_FINDINGS"), "root_owned");
    cr_expect_eq(journalctl_count(&e, "root_owned", "repaired", path), 1,
                 "journalctl PERMWATCH_FINDING=root_owned does not find the repair");
    live_settle(e.d, 200);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_EVENT", "repair_pending", NULL), 0,
                 "nothing pending on a healthy site: no summary");
    json_t *s = status_json(&e);
    cr_expect_eq(json_integer_value(json_object_get(s, "root_owned_seen")), 1);
    cr_expect_eq(json_integer_value(json_object_get(s, "open_findings")), 0);
    json_decref(s);
    struct run_result r = ctl(&e, "metrics");
    cr_expect(strstr(r.out, "permwatch_root_owned_seen_total 1\n"), "%s", r.out);
    run_result_free(&r);
    env_stop(&e);
}
