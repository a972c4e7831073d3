/* test_live_held: faults that held when tried (issue 9), kept as tests against the real live
 * daemon (this binary runs inside tests/journald-ns.sh): the site on a 100% full filesystem
 * (data and inodes) and the site on a read-only filesystem. Each test mounts a small tmpfs in
 * a mount namespace of its own (Criterion forks a process per test; the daemon, its child,
 * shares it), with the site a directory inside it: the site root itself is not a mount
 * point. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

struct env {
    struct site s; /* s.root is DIR/mnt/site */
    char mnt[PATH_MAX / 4];
};

/* A tmpfs (OPTS) at DIR/mnt in a private mount namespace, the site DIR/mnt/site made by
 * www-data with wp-content/uploads. */
static void env_mount(struct env *e, const char *tag, const char *opts)
{
    memset(e, 0, sizeof(*e));
    cr_assert(unshare(CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
    cr_assert(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    site_init(&e->s, tag);
    snprintf(e->mnt, sizeof(e->mnt), "%s/mnt", e->s.dir);
    snprintf(e->s.root, sizeof(e->s.root), "%s/site", e->mnt);
    cr_assert(mkdir(e->mnt, 0755) == 0);
    cr_assert(mount("tmpfs", e->mnt, "tmpfs", 0, opts) == 0, "mount: %s", strerror(errno));
    site_make_uploads(&e->s);
}

static void env_start(struct env *e)
{
    /* repair_existing: these cases are about repairs at startup on odd filesystems */
    site_policy(&e->s,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 0\nrepair_existing = yes\n[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
                "file_require = 0660\ndir_require = 0770\nrepair = auto\n",
                e->s.root, e->s.sock);
    site_start(&e->s, NULL, 20000);
}

static void env_stop(struct env *e)
{
    site_stop(&e->s);
    live_free(e->s.d);
    e->s.d = NULL;
    umount2(e->mnt, MNT_DETACH);
    site_free(&e->s);
}

static struct run_result ctl(const struct env *e, const char *args)
{
    return site_ctl(&e->s, args);
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

static void expect_owner(const char *path, uid_t uid, mode_t mode)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
    cr_expect_eq(st.st_uid, uid, "%s: owner %u", path, (unsigned)st.st_uid);
    cr_expect_eq(st.st_mode & 07777, mode, "%s: mode %04o", path, (unsigned)(st.st_mode & 07777));
}

Test(live_held, full_filesystem_detects_and_repairs)
{
    struct env e;
    env_mount(&e, "live-held-full", "size=256k,nr_inodes=48,mode=0755");
    char a[PATH_MAX], b[PATH_MAX], web[PATH_MAX];
    snprintf(a, sizeof(a), "%s/root-a.php", e.s.root);
    snprintf(b, sizeof(b), "%s/wp-content/uploads/root-b.png", e.s.root);
    snprintf(web, sizeof(web), "%s/wp-content/uploads/web.png", e.s.root);
    site_sh("set -e; umask 022; echo a > '%s'; echo b > '%s'", a, b);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "umask 002; echo w > '%s'", web);
    cr_assert_eq(live_as_user("www-data", cmd), 0);
    /* fill it: data until ENOSPC, then inodes until ENOSPC (beside the site, not in it) */
    site_sh("dd if=/dev/zero of='%s/fill' bs=4k 2>/dev/null; i=0; "
            "while touch '%s/i'$i 2>/dev/null; do i=$((i+1)); done; true",
            e.mnt, e.mnt);
    struct statvfs vfs;
    cr_assert_eq(statvfs(e.mnt, &vfs), 0);
    cr_assert_eq(vfs.f_bavail, 0, "%lu blocks still free", (unsigned long)vfs.f_bavail);
    cr_assert_eq(vfs.f_favail, 0, "%lu inodes still free", (unsigned long)vfs.f_favail);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "touch '%s/x' && echo created", e.s.root), 0);
    cr_assert_neq(r.status, 0, "the filesystem is not full: %s", r.out);
    cr_expect(strstr(r.err, "No space left on device"), "%s", r.err);
    run_result_free(&r);

    env_start(&e);
    /* the root files found at startup are repaired (repair_existing = yes): chown and chmod
     * need no space */
    const char *paths[] = {a, b};
    for (size_t i = 0; i < 2; i++) {
        json_t *j = live_wait_entry(e.s.d, 10000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH",
                                    paths[i], NULL);
        if (!j)
            live_dump(e.s.d);
        cr_assert_not_null(j, "%s not repaired", paths[i]);
        expect_owner(paths[i], 33, 0664);
    }
    /* live: root takes a www-data file on the full filesystem; seen and repaired */
    site_sh("chown root:root '%s'", web);
    json_t *j =
        live_wait_entry(e.s.d, 10000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", web, NULL);
    if (!j)
        live_dump(e.s.d);
    cr_assert_not_null(j, "%s not repaired", web);
    expect_owner(web, 33, 0664);
    live_settle(e.s.d, 300);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "repair_refused", NULL), 0,
                 "a repair needing no space was refused");
    cr_assert_eq(statvfs(e.mnt, &vfs), 0);
    cr_expect_eq(vfs.f_bavail, 0);
    cr_expect_eq(vfs.f_favail, 0, "still full while it ran");
    r = ctl(&e, "status");
    cr_expect_eq(r.status, 0, "status: %s%s", r.out, r.err);
    cr_expect(strstr(r.out, "open_findings:") && strstr(r.out, "site_read_only:"), "%s", r.out);
    run_result_free(&r);
    json_t *s = status_json(&e);
    cr_expect_eq(json_integer_value(json_object_get(s, "open_findings")), 0);
    cr_expect_eq(json_integer_value(json_object_get(s, "repair_refused")), 0);
    cr_expect(json_is_false(json_object_get(s, "site_read_only")));
    json_decref(s);
    cr_expect(live_running(e.s.d), "the daemon died on a full filesystem");
    fprintf(stderr, "live_held: full filesystem: 3 repairs, 0 refusals, daemon alive\n");
    env_stop(&e);
}

Test(live_held, read_only_site_refuses_repairs_clearly)
{
    struct env e;
    env_mount(&e, "live-held-ro", "size=1m,mode=0755");
    char paths[3][PATH_MAX];
    snprintf(paths[0], sizeof(paths[0]), "%s/root-a.php", e.s.root);
    snprintf(paths[1], sizeof(paths[1]), "%s/wp-content/root-b.php", e.s.root);
    snprintf(paths[2], sizeof(paths[2]), "%s/wp-content/uploads/root-c.png", e.s.root);
    for (size_t i = 0; i < 3; i++)
        site_sh("umask 022; echo x > '%s'", paths[i]);
    cr_assert(mount(NULL, e.mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0, "remount ro: %s",
              strerror(errno));
    env_start(&e);
    /* each auto-repair is refused, naming the read-only filesystem; the finding stays open */
    for (size_t i = 0; i < 3; i++) {
        json_t *j = live_wait_entry(e.s.d, 10000, "PERMWATCH_EVENT", "repair_refused",
                                    "PERMWATCH_PATH", paths[i], NULL);
        if (!j)
            live_dump(e.s.d);
        cr_assert_not_null(j, "%s: no repair_refused", paths[i]);
        const char *reason = live_field(j, "PERMWATCH_REASON");
        cr_expect(reason && strstr(reason, "Read-only file system"), "%s",
                  reason ? reason : "(no reason)");
        cr_assert_not_null(live_wait_entry(e.s.d, 10000, "PERMWATCH_EVENT", "finding",
                                           "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH",
                                           paths[i], NULL));
        expect_owner(paths[i], 0, 0644);
    }
    live_settle(e.s.d, 300);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "repaired", NULL), 0);
    size_t refused = live_count_entries(e.s.d, "PERMWATCH_EVENT", "repair_refused", NULL);
    cr_expect_eq(refused, 3);

    /* status says so, for humans and as JSON */
    struct run_result r = ctl(&e, "status");
    cr_expect_eq(r.status, 1, "open findings: exit 1 (%s)", r.err);
    cr_expect(strstr(r.out, "site_read_only:") && strstr(r.out, " yes\n"), "%s", r.out);
    char want[64];
    snprintf(want, sizeof(want), "repair_refused:");
    const char *p = strstr(r.out, want);
    cr_expect(p && strtoul(p + strlen(want), NULL, 10) == 3, "%s", r.out);
    run_result_free(&r);
    json_t *s = status_json(&e);
    cr_expect(json_is_true(json_object_get(s, "site_read_only")), "site_read_only");
    cr_expect_eq(json_integer_value(json_object_get(s, "repair_refused")), 3);
    cr_expect_eq(json_integer_value(json_object_get(s, "root_owned")), 3);
    json_decref(s);

    /* a manual repair: one refused row per file, each naming EROFS, exit 1 */
    r = ctl(&e, "repair");
    cr_expect_eq(r.status, 1, "%s%s", r.out, r.err);
    for (size_t i = 0; i < 3; i++) {
        const char *row = strstr(r.out, paths[i]);
        cr_expect(row, "%s not in %s", paths[i], r.out);
    }
    size_t rows = 0;
    for (const char *q = r.out; (q = strstr(q, "Read-only file system")); q++)
        rows++;
    cr_expect_eq(rows, 3, "%s", r.out);
    run_result_free(&r);
    s = status_json(&e);
    cr_expect_eq(json_integer_value(json_object_get(s, "repair_refused")), 6);
    json_decref(s);

    /* made writable again: the status follows at once */
    cr_assert(mount(NULL, e.mnt, NULL, MS_REMOUNT, NULL) == 0, "remount rw: %s", strerror(errno));
    s = status_json(&e);
    cr_expect(json_is_false(json_object_get(s, "site_read_only")));
    json_decref(s);
    fprintf(stderr, "live_held: read-only site: %zu refusals at startup, 3 on request\n", refused);
    env_stop(&e);
}
