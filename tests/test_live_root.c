/* test_live_root: the site root's trust against the real live daemon (this binary runs inside
 * tests/journald-ns.sh): the web user swapping the site root for a symlink to elsewhere
 * (issue 9 item 1), a replaced root stopping repairs until reload, unsafe ancestors in the
 * journal, status and metrics, a healthy chain staying quiet; a site root that is a mount
 * point (item 7) and the mount points inside the site reported once each (item 10). */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

struct env {
    struct site s; /* s.root is DIR/srv/www */
    char parent[PATH_MAX / 4], outside[PATH_MAX / 4];
};

/* DIR/srv (owned by PARENT_OWNER) holding the site www (www-data's), and DIR/outside with
 * root-only files (what an attacker wants the daemon to chown). */
static void env_prepare(struct env *e, const char *parent_owner)
{
    memset(e, 0, sizeof(*e));
    site_init(&e->s, "live-root");
    snprintf(e->parent, sizeof(e->parent), "%s/srv", e->s.dir);
    snprintf(e->s.root, sizeof(e->s.root), "%s/www", e->parent);
    snprintf(e->outside, sizeof(e->outside), "%s/outside", e->s.dir);
    site_sh("set -e; umask 022; mkdir -p '%s/wp-content/uploads' '%s/etc'; chown -R "
            "www-data:www-data '%s'; chown %s '%s'; echo secret > '%s/etc/shadow'; chmod 0600 "
            "'%s/etc/shadow'",
            e->s.root, e->outside, e->s.root, parent_owner, e->parent, e->outside, e->outside);
    site_policy_standard(&e->s, "auto");
}

static void env_run(struct env *e)
{
    site_start(&e->s, NULL, 20000);
}

static void env_stop(struct env *e)
{
    site_stop(&e->s);
    site_free(&e->s);
}

/* permwatchctl ARGS as root. */
static struct run_result ctl(const struct env *e, const char *args)
{
    return site_ctl(&e->s, args);
}

/* The status row as JSON (caller decrefs). */
static json_t *status(const struct env *e)
{
    return site_status_json(&e->s);
}

/* Nothing under OUTSIDE changed owner or mode. */
static void assert_outside_untouched(const struct env *e)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/etc/shadow", e->outside);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 0, "%s changed owner", path);
    cr_expect_eq(st.st_mode & 07777, 0600, "%s changed mode", path);
    snprintf(path, sizeof(path), "%s/etc", e->outside);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 0, "%s changed owner", path);
    cr_expect_eq(st.st_mode & 07777, 0755, "%s changed mode", path);
}

Test(live_root, web_user_swaps_the_site_root_for_a_symlink)
{
    struct env e;
    env_prepare(&e, "www-data"); /* `chown -R www-data /srv`, as on many hosts */
    env_run(&e);
    json_t *u = live_wait_entry(e.s.d, 5000, "PERMWATCH_EVENT", "unsafe_ancestor", "PERMWATCH_PATH",
                                e.parent, NULL);
    if (!u)
        live_dump(e.s.d);
    cr_assert_not_null(u, "no unsafe_ancestor entry for %s", e.parent);
    cr_expect_str_eq(live_field(u, "PRIORITY"), "4");
    cr_expect_str_eq(live_field(u, "PERMWATCH_OWNER"), "www-data");
    cr_expect_str_eq(live_field(u, "PERMWATCH_UID"), "33");
    cr_expect_not_null(live_field(u, "MESSAGE_ID"));
    json_t *s = status(&e);
    const char *why = json_string_value(json_object_get(s, "repairs_refused"));
    cr_expect(why && strstr(why, e.parent), "status: repairs_refused %s", why ? why : "(null)");
    json_t *anc = json_object_get(s, "unsafe_ancestors");
    cr_expect_eq(json_array_size(anc), 1);
    const char *a0 = json_string_value(json_array_get(anc, 0));
    cr_expect(a0 && strstr(a0, e.parent) && strstr(a0, "www-data"), "%s", a0 ? a0 : "(none)");
    json_decref(s);
    struct run_result r = ctl(&e, "metrics");
    cr_expect(strstr(r.out, "permwatch_unsafe_ancestors 1\n"), "%s", r.out);
    cr_expect(strstr(r.out, "permwatch_repairs_blocked 1\n"), "%s", r.out);
    run_result_free(&r);

    /* the attack, as www-data */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cd '%s' && mv www www.old && ln -s '%s' www", e.parent, e.outside);
    cr_assert_eq(live_as_user("www-data", cmd), 0);
    json_t *c = site_expect_entry(&e.s, 5000, "no site_root_changed entry", "PERMWATCH_EVENT",
                                  "site_root_changed", NULL);
    cr_expect_str_eq(live_field(c, "PERMWATCH_PATH"), e.s.root);
    const char *reason = live_field(c, "PERMWATCH_REASON");
    cr_expect(reason && strstr(reason, "symbolic link owned by www-data"), "%s",
              reason ? reason : "(none)");
    live_settle(e.s.d, 2500); /* the root poll runs every second */
    assert_outside_untouched(&e);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "repaired", NULL), 0);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "site_root_changed", NULL), 1,
                 "logged once, not at every poll");
    /* a requested repair is refused, saying why */
    snprintf(cmd, sizeof(cmd), "repair '%s'", e.s.root);
    r = ctl(&e, cmd);
    cr_expect_eq(r.status, 1, "%s %s", r.out, r.err);
    cr_expect(strstr(r.err, "refused"), "%s", r.err);
    run_result_free(&r);
    assert_outside_untouched(&e);
    env_stop(&e);
}

Test(live_root, replaced_root_stops_repairs_until_reload)
{
    struct env e;
    env_prepare(&e, "root");
    env_run(&e);
    /* replaced by another directory (by root here: the chain itself is safe) */
    site_sh(
        "cd '%s' && mv www www.old && mkdir www && chown www-data:www-data www && chmod 0770 www",
        e.parent);
    json_t *c = site_expect_entry(&e.s, 5000, "no site_root_changed entry", "PERMWATCH_EVENT",
                                  "site_root_changed", NULL);
    const char *reason = live_field(c, "PERMWATCH_REASON");
    cr_expect(reason && strstr(reason, "was dev") && strstr(reason, "now dev"), "%s",
              reason ? reason : "(none)");
    cr_expect_str_eq(live_field(c, "PRIORITY"), "3");
    /* detection goes on, repairs do not */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/by-root.php", e.s.root);
    site_sh("echo x > '%s/tmp.php' && mv '%s/tmp.php' '%s'", e.s.dir, e.s.dir, path);
    cr_assert_not_null(live_wait_entry(e.s.d, 5000, "PERMWATCH_EVENT", "finding",
                                       "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH", path,
                                       NULL));
    /* one refusal entry names the first path refused and why; later ones are counted */
    json_t *rf = site_expect_entry(&e.s, 5000, "no repair_refused entry", "PERMWATCH_EVENT",
                                   "repair_refused", NULL);
    const char *rr = live_field(rf, "PERMWATCH_REASON");
    cr_expect(rr && strstr(rr, "reload"), "%s", rr ? rr : "(none)");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "repair '%s'", e.s.root);
    struct run_result r = ctl(&e, cmd);
    cr_expect_eq(r.status, 1, "%s %s", r.out, r.err);
    cr_expect(strstr(r.err, "refused") && strstr(r.err, "reload"), "%s", r.err);
    run_result_free(&r);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 0, "not repaired while refused");
    json_t *s = status(&e);
    cr_expect(json_is_true(json_object_get(s, "site_root_changed")));
    json_decref(s);
    cr_expect_eq(
        live_count_entries(e.s.d, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", path, NULL), 0);
    /* the operator reloads: the new root is pinned, repairs run again */
    r = ctl(&e, "reload");
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    run_result_free(&r);
    r = ctl(&e, cmd);
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    run_result_free(&r);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 33, "repaired after the reload");
    s = status(&e);
    cr_expect(json_is_false(json_object_get(s, "site_root_changed")));
    cr_expect(json_is_null(json_object_get(s, "repairs_refused")));
    json_decref(s);
    env_stop(&e);
}

Test(live_root, healthy_chain_is_quiet)
{
    struct env e;
    env_prepare(&e, "root");
    env_run(&e);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/wp-content/by-root.php", e.s.root);
    site_sh("echo x > '%s/tmp.php' && mv '%s/tmp.php' '%s'", e.s.dir, e.s.dir, path);
    cr_assert_not_null(
        live_wait_entry(e.s.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", path, NULL));
    live_settle(e.s.d, 300);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "unsafe_ancestor", NULL), 0);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "site_root_changed", NULL), 0);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "mount_skipped", NULL), 0);
    json_t *s = status(&e);
    cr_expect(json_is_null(json_object_get(s, "repairs_refused")), "repairs are allowed");
    cr_expect_eq(json_array_size(json_object_get(s, "unsafe_ancestors")), 0);
    cr_expect(json_is_array(json_object_get(s, "unsafe_ancestors")));
    cr_expect_eq(json_integer_value(json_object_get(s, "mounts_skipped")), 0);
    json_decref(s);
    env_stop(&e);
}

Test(live_root, ancestor_made_writable_while_running)
{
    struct env e;
    env_prepare(&e, "root");
    env_run(&e);
    site_sh("chmod 0777 '%s'", e.parent);
    /* every full rescan (periodic, requested, after an overflow) checks the chain again */
    struct run_result r = ctl(&e, "scan");
    run_result_free(&r);
    json_t *u = site_expect_entry(&e.s, 5000, "no unsafe_ancestor entry", "PERMWATCH_EVENT",
                                  "unsafe_ancestor", "PERMWATCH_PATH", e.parent, NULL);
    const char *reason = live_field(u, "PERMWATCH_REASON");
    cr_expect(reason && strstr(reason, "others"), "%s", reason ? reason : "(none)");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "repair '%s'", e.s.root);
    r = ctl(&e, cmd);
    cr_expect_eq(r.status, 1, "%s %s", r.out, r.err);
    cr_expect(strstr(r.err, "refused"), "%s", r.err);
    run_result_free(&r);
    /* fixed: repairs come back with the operator's reload, not before */
    site_sh("chmod 0755 '%s'", e.parent);
    r = ctl(&e, "scan");
    run_result_free(&r);
    r = ctl(&e, cmd);
    cr_expect_eq(r.status, 1, "still refused until reload: %s", r.err);
    run_result_free(&r);
    r = ctl(&e, "reload");
    run_result_free(&r);
    r = ctl(&e, cmd);
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    run_result_free(&r);
    live_settle(e.s.d, 200);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "unsafe_ancestor", NULL), 1,
                 "logged once");
    env_stop(&e);
}

Test(live_root, mount_points)
{
    /* mounts live in this test's own namespace, which the daemon it starts inherits */
    cr_assert(unshare(CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
    cr_assert(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    struct env e;
    env_prepare(&e, "root");
    /* the site root is itself a tmpfs, with a root-owned file in it */
    cr_assert(mount("tmpfs", e.s.root, "tmpfs", 0, "mode=0770,uid=33,gid=33") == 0, "%s",
              strerror(errno));
    char root_file[PATH_MAX], mnt[PATH_MAX], bound[PATH_MAX], src[PATH_MAX];
    snprintf(root_file, sizeof(root_file), "%s/by-root.php", e.s.root);
    snprintf(mnt, sizeof(mnt), "%s/tmp-mnt", e.s.root);
    snprintf(bound, sizeof(bound), "%s/bound", e.s.root);
    snprintf(src, sizeof(src), "%s/bind-src", e.s.dir);
    site_sh("set -e; echo x > '%s'; mkdir '%s' '%s' '%s'; chown www-data:www-data '%s' '%s'; "
            "chmod 0770 '%s' '%s'; touch '%s/hidden-root-file'",
            root_file, mnt, bound, src, mnt, bound, mnt, bound, src);
    /* below it: a tmpfs and a bind mount, not crossed but reported */
    cr_assert(mount("tmpfs", mnt, "tmpfs", 0, "mode=0755") == 0, "%s", strerror(errno));
    cr_assert(mount(src, bound, NULL, MS_BIND, NULL) == 0, "%s", strerror(errno));
    site_sh("touch '%s/inside-tmpfs'", mnt);
    /* repair = manual here: the finding stays open to be seen */
    site_sh("sed -i 's/^repair = auto/repair = manual/' '%s'", e.s.ini);
    env_run(&e);
    cr_expect_not_null(live_wait_entry(e.s.d, 5000, "PERMWATCH_EVENT", "finding",
                                       "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH",
                                       root_file, NULL),
                       "the root-owned file on the site root's own mount is reported");
    json_t *m1 = live_wait_entry(e.s.d, 5000, "PERMWATCH_EVENT", "mount_skipped", "PERMWATCH_PATH",
                                 mnt, NULL);
    json_t *m2 = live_wait_entry(e.s.d, 5000, "PERMWATCH_EVENT", "mount_skipped", "PERMWATCH_PATH",
                                 bound, NULL);
    if (!m1 || !m2)
        live_dump(e.s.d);
    cr_assert(m1 && m2);
    cr_expect_str_eq(live_field(m1, "PRIORITY"), "5");
    json_t *s = status(&e);
    cr_expect_geq(json_integer_value(json_object_get(s, "watched_dirs")), 1);
    cr_expect_eq(json_integer_value(json_object_get(s, "mounts_skipped")), 2);
    char *list = json_dumps(json_object_get(s, "mount_points_skipped"), JSON_COMPACT);
    cr_expect(list && strstr(list, mnt) && strstr(list, bound), "%s", list ? list : "(null)");
    free(list);
    json_decref(s);
    /* a full rescan does not log them again; what is below them is never a finding */
    struct run_result r = ctl(&e, "scan");
    run_result_free(&r);
    live_settle(e.s.d, 300);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "mount_skipped", NULL), 2);
    char hidden[PATH_MAX];
    snprintf(hidden, sizeof(hidden), "%s/hidden-root-file", bound);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_PATH", hidden, NULL), 0);
    /* the live daemon watches the mounted root: a new root file is reported */
    char late[PATH_MAX];
    snprintf(late, sizeof(late), "%s/late.php", e.s.root);
    site_sh("touch '%s'", late);
    cr_expect_not_null(live_wait_entry(e.s.d, 5000, "PERMWATCH_EVENT", "finding",
                                       "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH", late,
                                       NULL));
    /* unmounted before the temp tree is removed (the namespace goes with the test anyway) */
    umount2(bound, MNT_DETACH);
    umount2(mnt, MNT_DETACH);
    umount2(e.s.root, MNT_DETACH);
    env_stop(&e);
}
