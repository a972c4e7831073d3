/* test_live: the real permwatchd watching real trees: sd_notify lifecycle on a test socket,
 * findings read back from a private real journald (this binary runs inside
 * tests/journald-ns.sh), files made by root and by www-data, moves, overflow, watch
 * exhaustion, reloads and a vanishing site root. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"

#define WAIT_MS 5000

struct site {
    char *dir; /* temp dir: site/, policy.ini */
    char root[PATH_MAX];
    char ini[PATH_MAX];
    struct live *d;
};

/* The policy of these tests: everything owned by www-data (or opencode), group www-data,
 * files 0660 at least, nothing world-writable; cache/ ignored. EXTRA goes into [daemon]. */
static void write_policy(struct site *s, const char *daemon_extra, const char *site_rule_extra)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "[site]\nroot = %s\nweb_user = www-data\n\n"
             "[daemon]\ncontrol_socket = %s/control.sock\nrescan_interval = 0\n"
             "log_burst = 0\n%s\n"
             "[rule cache]\nmatch = cache/**\nignore = yes\n\n"
             "[rule site]\nmatch = **\nowner = www-data, opencode\ngroup = www-data\n"
             "file_require = 0660\nfile_forbid = 0002\n%s",
             s->root, s->dir, daemon_extra ? daemon_extra : "",
             site_rule_extra ? site_rule_extra : "");
    harness_write_file(s->ini, text);
}

/* A fresh site: a clean www-data tree with a few directories. */
static void site_init(struct site *s, const char *tag)
{
    memset(s, 0, sizeof(*s));
    s->dir = harness_tempdir(tag);
    snprintf(s->root, sizeof(s->root), "%s/site", s->dir);
    snprintf(s->ini, sizeof(s->ini), "%s/policy.ini", s->dir);
    struct run_result r;
    cr_assert_eq(harness_sh(&r,
                            "set -e; umask 002; mkdir -p '%s/wp-content/uploads' '%s/cache' "
                            "'%s/wp-content/plugins/p'; echo x > '%s/index.php'; "
                            "echo y > '%s/wp-content/plugins/p/p.php'; chmod 0660 '%s/index.php' "
                            "'%s/wp-content/plugins/p/p.php'; chown -R www-data:www-data '%s'",
                            s->root, s->root, s->root, s->root, s->root, s->root, s->root, s->root),
                 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    write_policy(s, NULL, NULL);
}

static void site_start(struct site *s, const struct live_opts *o)
{
    s->d = live_start(s->ini, o);
    if (!live_wait_notify(s->d, "READY=1", 20000)) {
        live_dump(s->d);
        cr_assert_fail("no READY=1");
    }
}

static void site_free(struct site *s)
{
    if (s->d) {
        int rc = live_stop(s->d);
        if (rc != 0)
            live_dump(s->d);
        cr_expect_eq(rc, 0, "permwatchd exited %d", rc);
        live_free(s->d);
    }
    harness_rmtree(s->dir);
    free(s->dir);
}

/* Absolute path of REL in the site. */
static const char *at(const struct site *s, const char *rel)
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s%s%s", s->root, *rel ? "/" : "", rel);
    return buf[i];
}

/* Run a shell command (as root) in the site directory; fails the test on error. */
static void sh(const struct site *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sh(const struct site *s, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "cd '%s' && %s", s->root, cmd), 0);
    cr_assert_eq(r.status, 0, "%s: %s", cmd, r.err);
    run_result_free(&r);
}

/* Wait for an entry EVENT (finding/resolved) of KIND at REL; fails the test after WAIT_MS. */
static json_t *expect_entry(struct site *s, const char *event, const char *kind, const char *rel)
{
    json_t *e = live_wait_entry(s->d, WAIT_MS, "PERMWATCH_EVENT", event, "PERMWATCH_FINDING", kind,
                                "PERMWATCH_PATH", at(s, rel), NULL);
    if (!e) {
        live_dump(s->d);
        cr_assert_fail("no %s %s entry for %s", event, kind, at(s, rel));
    }
    return e;
}

static size_t count_entries(struct site *s, const char *event, const char *kind, const char *rel)
{
    return live_count_entries(s->d, "PERMWATCH_EVENT", event, "PERMWATCH_FINDING", kind,
                              "PERMWATCH_PATH", at(s, rel), NULL);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

Test(live, ready_only_after_the_crawl_with_every_planted_finding)
{
    struct site s;
    site_init(&s, "live-ready");
    sh(&s, "touch root-file.php && mkdir -p wp-content/uploads/2026 && "
           "touch wp-content/uploads/2026/a.png && chmod 0644 index.php && "
           "touch cache/ignored-root-file");
    site_start(&s, NULL);
    /* READY's status was computed after the crawl: it counts what the crawl found */
    const char *status = live_notify_status(s.d);
    cr_assert_not_null(status);
    cr_expect(strstr(status, "directories watched"), "status: %s", status);
    ssize_t ready = live_notify_index(s.d, "READY=1", 0);
    ssize_t crawling = live_notify_index(s.d, "STATUS=", 0);
    cr_expect(crawling >= 0 && crawling < ready, "a crawl STATUS= comes before READY=1");
    live_sync(s.d, WAIT_MS);
    json_t *e = expect_entry(&s, "finding", "root_owned", "root-file.php");
    cr_expect_str_eq(live_field(e, "PERMWATCH_UID"), "0");
    cr_expect_str_eq(live_field(e, "PRIORITY"), "4");
    cr_expect_str_eq(live_field(e, "PERMWATCH_RULE"), "site");
    expect_entry(&s, "finding", "root_owned", "wp-content/uploads/2026");
    expect_entry(&s, "finding", "root_owned", "wp-content/uploads/2026/a.png");
    e = expect_entry(&s, "finding", "mode_mismatch", "index.php");
    cr_expect_str_eq(live_field(e, "PERMWATCH_MODE"), "0644");
    cr_expect_str_eq(live_field(e, "PERMWATCH_EXPECTED"), "0664");
    cr_expect_eq(count_entries(&s, "finding", "root_owned", "cache/ignored-root-file"), 0);
    /* nothing of the clean www-data files */
    cr_expect_eq(
        live_count_entries(s.d, "PERMWATCH_PATH", at(&s, "wp-content/plugins/p/p.php"), NULL), 0);
    cr_expect_not_null(live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "started", NULL));
    site_free(&s);
}

Test(live, watchdog_pings_and_stopping)
{
    struct site s;
    site_init(&s, "live-wdog");
    struct live_opts o = {.watchdog_usec = 200000};
    site_start(&s, &o);
    cr_assert(live_wait_notify_count(s.d, "WATCHDOG=1", 4, 3000), "4 pings at 100 ms");
    int rc = live_stop(s.d);
    cr_expect_eq(rc, 0);
    cr_expect_geq(live_notify_count(s.d, "STOPPING=1"), 1);
    cr_expect_gt(live_count_entries(s.d, "PERMWATCH_EVENT", "stopping", NULL), 0);
    site_free(&s);
}

/* ---- what root writes ----------------------------------------------------------------------- */

Test(live, mkdir_p_and_touch_as_root_each_entry_found)
{
    struct site s;
    site_init(&s, "live-mkdirp");
    site_start(&s, NULL);
    sh(&s, "mkdir -p a/b/c && touch a/b/c/f");
    expect_entry(&s, "finding", "root_owned", "a");
    expect_entry(&s, "finding", "root_owned", "a/b");
    expect_entry(&s, "finding", "root_owned", "a/b/c");
    expect_entry(&s, "finding", "root_owned", "a/b/c/f");
    /* a burst of racing mkdir -p: every level of every tree */
    sh(&s, "for i in $(seq 1 40); do mkdir -p r/$i/x/y/z && touch r/$i/x/y/z/f$i & done; wait");
    for (int i = 1; i <= 40; i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "r/%d/x/y/z/f%d", i, i);
        expect_entry(&s, "finding", "root_owned", rel);
        snprintf(rel, sizeof(rel), "r/%d/x/y", i);
        expect_entry(&s, "finding", "root_owned", rel);
    }
    site_free(&s);
}

Test(live, open_finding_is_logged_once_and_resolved_once)
{
    struct site s;
    site_init(&s, "live-once");
    site_start(&s, NULL);
    sh(&s, "touch wp-content/uploads/r.png");
    expect_entry(&s, "finding", "root_owned", "wp-content/uploads/r.png");
    sh(&s, "for i in 1 2 3 4 5; do touch wp-content/uploads/r.png; echo $i >> "
           "wp-content/uploads/r.png; done; chmod 0600 wp-content/uploads/r.png");
    live_settle(s.d, 300);
    cr_expect_eq(count_entries(&s, "finding", "root_owned", "wp-content/uploads/r.png"), 1);
    /* chown fixes ownership: root_owned and group_mismatch resolve, mode stays open */
    sh(&s, "chown www-data:www-data wp-content/uploads/r.png");
    json_t *e = expect_entry(&s, "resolved", "root_owned", "wp-content/uploads/r.png");
    cr_expect_str_eq(live_field(e, "PRIORITY"), "6");
    expect_entry(&s, "resolved", "group_mismatch", "wp-content/uploads/r.png");
    live_settle(s.d, 200);
    cr_expect_eq(count_entries(&s, "resolved", "mode_mismatch", "wp-content/uploads/r.png"), 0);
    sh(&s, "chmod 0664 wp-content/uploads/r.png");
    expect_entry(&s, "resolved", "mode_mismatch", "wp-content/uploads/r.png");
    live_settle(s.d, 200);
    cr_expect_eq(count_entries(&s, "resolved", "root_owned", "wp-content/uploads/r.png"), 1);
    site_free(&s);
}

Test(live, files_of_www_data_are_clean)
{
    struct site s;
    site_init(&s, "live-www");
    site_start(&s, NULL);
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof(cmd),
             "umask 002 && cd '%s' && mkdir -p wp-content/uploads/w/x && "
             "echo a > wp-content/uploads/w/x/ok.png && echo b > tmp.$$ && mv tmp.$$ ok.php",
             s.root);
    cr_assert_eq(live_as_user("www-data", cmd), 0);
    /* and one it gets wrong: world-writable */
    snprintf(cmd, sizeof(cmd), "cd '%s' && echo c > bad.php && chmod 0666 bad.php", s.root);
    cr_assert_eq(live_as_user("www-data", cmd), 0);
    expect_entry(&s, "finding", "mode_mismatch", "bad.php");
    live_settle(s.d, 200);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_PATH",
                                    at(&s, "wp-content/uploads/w/x/ok.png"), NULL),
                 0);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_PATH",
                                    at(&s, "ok.php"), NULL),
                 0);
    cr_expect_eq(count_entries(&s, "finding", "root_owned", "bad.php"), 0);
    site_free(&s);
}

/* ---- moves -------------------------------------------------------------------------------- */

Test(live, moves_in_out_within_and_atomic_replace)
{
    struct site s;
    site_init(&s, "live-moves");
    site_start(&s, NULL);
    /* in: a tree built outside, then moved in whole */
    sh(&s, "mkdir -p ../outside/d/e && touch ../outside/d/e/f && mv ../outside/d wp-content/d");
    expect_entry(&s, "finding", "root_owned", "wp-content/d");
    expect_entry(&s, "finding", "root_owned", "wp-content/d/e/f");
    /* within: the old paths resolve, the new ones open; the subtree stays watched */
    sh(&s, "mv wp-content/d wp-content/uploads/d2");
    expect_entry(&s, "resolved", "root_owned", "wp-content/d/e/f");
    expect_entry(&s, "finding", "root_owned", "wp-content/uploads/d2/e/f");
    sh(&s, "touch wp-content/uploads/d2/e/new");
    expect_entry(&s, "finding", "root_owned", "wp-content/uploads/d2/e/new");
    /* out: everything below resolves, and later writes there are not ours */
    sh(&s, "mv wp-content/uploads/d2 ../outside/gone");
    expect_entry(&s, "resolved", "root_owned", "wp-content/uploads/d2/e/new");
    expect_entry(&s, "resolved", "root_owned", "wp-content/uploads/d2");
    sh(&s, "touch ../outside/gone/e/later");
    /* atomic replace: www-data's file replaced by root's through a rename */
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof(cmd), "umask 002 && echo v1 > '%s/settings.php'", s.root);
    cr_assert_eq(live_as_user("www-data", cmd), 0);
    sh(&s, "echo v2 > .settings.tmp && mv .settings.tmp settings.php");
    expect_entry(&s, "finding", "root_owned", "settings.php");
    live_settle(s.d, 200);
    /* the temp file's finding, if the daemon looked before the rename, is resolved; if it
     * looked after, there never was one: either way nothing stays open for it */
    cr_expect_eq(count_entries(&s, "finding", "root_owned", ".settings.tmp"),
                 count_entries(&s, "resolved", "root_owned", ".settings.tmp"));
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_PATH", at(&s, "../outside/gone/e/later"), NULL),
                 0);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_PATH",
                                    at(&s, "wp-content/uploads/d2/e/later"), NULL),
                 0);
    sh(&s, "rm -rf ../outside");
    site_free(&s);
}

/* ---- limits ------------------------------------------------------------------------------- */

/* Create N root-owned files (group www-data, 0664: root_owned is their only finding) in DIR
 * of the site as fast as possible. */
static void burst(const struct site *s, const char *dir, int n)
{
    char path[PATH_MAX + 64];
    gid_t www = harness_gid("www-data");
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s/f%05d", s->root, dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0664);
        cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
        cr_assert_eq(fchown(fd, 0, www), 0);
        cr_assert_eq(fchmod(fd, 0664), 0);
        close(fd);
    }
}

/* inotify's queue (fs.inotify.max_queued_events): this case is inotify's, pinned */
Test(live, queue_overflow_loses_no_finding)
{
    struct site s;
    site_init(&s, "live-overflow");
    write_policy(&s, "backend = inotify\n", NULL);
    sh(&s, "mkdir -p wp-content/uploads/burst && chown www-data:www-data wp-content/uploads/burst "
           "&& chmod 2775 wp-content/uploads/burst");
    unsigned old;
    cr_assert_eq(live_queued_events_set(16, &old), 0, "%s", strerror(errno));
    s.d = live_start(s.ini, NULL);
    bool ready = live_wait_notify(s.d, "READY=1", 20000);
    cr_assert_eq(live_queued_events_restore(old), 0);
    cr_assert(ready);
    /* the daemon stopped while 500 files arrive: 2,000 events for a queue of 16 overflow
     * whatever the machine's load (a running daemon on a busy machine sometimes kept up) */
    cr_assert_eq(kill(live_pid(s.d), SIGSTOP), 0);
    burst(&s, "wp-content/uploads/burst", 500);
    cr_assert_eq(kill(live_pid(s.d), SIGCONT), 0);
    cr_assert_not_null(live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "overflow", NULL),
                       "an overflow with a 16-event queue");
    /* every one of them, found by the rescan after the overflow */
    cr_assert_not_null(
        expect_entry(&s, "finding", "root_owned", "wp-content/uploads/burst/f00499"));
    live_settle(s.d, 500);
    size_t n = live_count_entries(s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                  "root_owned", NULL);
    cr_expect_eq(n, 500, "%zu root_owned findings of 500", n);
    site_free(&s);
}

/* fanotify's kernel queue (16,384 events, not tunable): the daemon (reader thread included)
 * stopped while 20,000 root files arrive overflows it; the rescan finds every one */
Test(live, fanotify_queue_overflow_loses_no_finding)
{
    struct site s;
    site_init(&s, "live-fanoverflow");
    write_policy(&s, "backend = fanotify\n", NULL);
    sh(&s, "mkdir -p wp-content/uploads/burst/r && chown -R www-data:www-data wp-content/uploads "
           "&& chmod 2775 wp-content/uploads/burst wp-content/uploads/burst/r");
    site_start(&s, NULL);
    cr_assert_not_null(live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "started",
                                       "PERMWATCH_BACKEND", "fanotify", NULL),
                       "runs fanotify");
    cr_assert_eq(kill(live_pid(s.d), SIGSTOP), 0);
    /* 20,000 clean files (60,000 events and more), then 100 root files the queue has no room
     * for any more */
    char path[PATH_MAX + 64];
    uid_t www = harness_uid("www-data");
    gid_t wwwg = harness_gid("www-data");
    for (int i = 0; i < 20000; i++) {
        snprintf(path, sizeof(path), "%s/wp-content/uploads/burst/c%05d", s.root, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0664);
        cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
        cr_assert_eq(fchown(fd, www, wwwg), 0);
        cr_assert_eq(fchmod(fd, 0664), 0); /* past the umask: no finding */
        close(fd);
    }
    burst(&s, "wp-content/uploads/burst/r", 100);
    cr_assert_eq(kill(live_pid(s.d), SIGCONT), 0);
    cr_assert_not_null(live_wait_entry(s.d, 20000, "PERMWATCH_EVENT", "overflow", NULL),
                       "an overflow of fanotify's queue");
    cr_assert_not_null(
        expect_entry(&s, "finding", "root_owned", "wp-content/uploads/burst/r/f00099"));
    live_settle(s.d, 500);
    size_t n = live_count_entries(s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                  "root_owned", NULL);
    cr_expect_eq(n, 100, "%zu root_owned findings of 100", n);
    site_free(&s);
}

/* The site root replaced by one on another filesystem (a tmpfs mounted at its path; the test
 * runs in journald-ns.sh's private mount namespace; the daemon may have opened the directory
 * the mount then covered, so a reload pins the new root): the fanotify mark follows it, so a
 * root file made there after the crawl is found by an event (no periodic rescan here). */
Test(live, fanotify_mark_follows_the_root_to_another_filesystem)
{
    struct site s;
    site_init(&s, "live-remount");
    write_policy(&s, "backend = fanotify\n", NULL);
    site_start(&s, NULL);
    cr_assert_not_null(live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "started",
                                       "PERMWATCH_BACKEND", "fanotify", NULL));
    struct run_result r;
    cr_assert_eq(harness_sh(&r,
                            "mv '%s' '%s.old' && mkdir '%s' && mount -t tmpfs -o "
                            "mode=0775,uid=33,gid=33,size=4m tmpfs '%s'",
                            s.root, s.root, s.root, s.root),
                 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    live_signal(s.d, SIGHUP);
    cr_assert_not_null(live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "reloaded", NULL));
    /* the first file: found by the crawl of the new root or by an event after it */
    sh(&s, "touch first");
    expect_entry(&s, "finding", "root_owned", "first");
    /* the crawl is over: this one only an event can report */
    sh(&s, "touch second");
    expect_entry(&s, "finding", "root_owned", "second");
    cr_expect_eq(live_stop(s.d), 0);
    live_free(s.d);
    s.d = NULL;
    cr_assert_eq(harness_sh(&r, "umount '%s'", s.root), 0);
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    site_free(&s);
}

/* Without CAP_SYS_ADMIN (dropped from the bounding set: root all the same) fanotify_init is
 * refused: the daemon runs inotify, says so once in the started entry (with the reason; at
 * warning priority when backend = fanotify was asked for) and still finds what changes. */
static void no_cap_sys_admin(const char *backend, const char *priority)
{
    struct site s;
    site_init(&s, "live-nocap");
    char extra[64];
    snprintf(extra, sizeof(extra), "backend = %s\n", backend);
    write_policy(&s, extra, NULL);
    const char *wrapper[] = {"setpriv", "--inh-caps=-all", "--bounding-set=-sys_admin", "--", NULL};
    struct live_opts o = {.wrapper = wrapper};
    site_start(&s, &o);
    json_t *e = live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "started", NULL);
    cr_assert_not_null(e);
    cr_expect_str_eq(live_field(e, "PERMWATCH_BACKEND"), "inotify");
    const char *why = live_field(e, "PERMWATCH_REASON");
    cr_assert_not_null(why);
    cr_expect(strstr(why, "fanotify_init") && strstr(why, "CAP_SYS_ADMIN"), "%s", why);
    cr_expect_str_eq(live_field(e, "PRIORITY"), priority);
    sh(&s, "touch wp-content/uploads/after");
    expect_entry(&s, "finding", "root_owned", "wp-content/uploads/after");
    /* said once: no other entry names the backend */
    json_t *all = live_entries(s.d);
    size_t said = 0, i;
    json_t *x;
    json_array_foreach(all, i, x)
    {
        const char *m = live_field(x, "MESSAGE");
        said += m && strstr(m, "fanotify") != NULL;
    }
    cr_expect_eq(said, 1, "%zu entries about fanotify", said);
    site_free(&s);
}

Test(live, no_cap_sys_admin_auto_runs_inotify)
{
    no_cap_sys_admin("auto", "6");
}

Test(live, no_cap_sys_admin_fanotify_asked_runs_inotify_with_a_warning)
{
    no_cap_sys_admin("fanotify", "4");
}

Test(live, watch_limit_degrades_and_still_finds_everything)
{
    struct site s;
    site_init(&s, "live-degraded");
    /* inotify's watch limit: inotify's case (fanotify has no per-directory watch) */
    write_policy(&s, "degraded_rescan_interval = 1s\nbackend = inotify\n", NULL);
    sh(&s, "umask 002; for i in $(seq 1 20); do mkdir -p deep/d$i; done; "
           "chown -R www-data:www-data deep");
    char helper[PATH_MAX];
    harness_build_path("tests/helper_watch_limit", helper, sizeof(helper));
    const char *wrapper[] = {helper, "8", NULL};
    struct live_opts o = {.wrapper = wrapper};
    site_start(&s, &o);
    json_t *e = live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "degraded", NULL);
    cr_assert_not_null(e);
    const char *reason = live_field(e, "PERMWATCH_REASON");
    cr_assert_not_null(reason);
    cr_expect(strstr(reason, "fs.inotify.max_user_watches"), "%s", reason);
    cr_expect(strstr(live_notify_status(s.d), "degraded"), "%s", live_notify_status(s.d));
    /* in watched and in unwatched directories alike */
    sh(&s, "for i in $(seq 1 20); do touch deep/d$i/late; done; touch wp-content/now");
    expect_entry(&s, "finding", "root_owned", "wp-content/now");
    for (int i = 1; i <= 20; i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "deep/d%d/late", i);
        expect_entry(&s, "finding", "root_owned", rel);
    }
    site_free(&s);
}

Test(live, burst_is_rate_limited_but_tracked)
{
    struct site s;
    site_init(&s, "live-burst");
    char text[2048];
    snprintf(text, sizeof(text),
             "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s/control.sock\n"
             "rescan_interval = 0\nlog_burst = 20\n"
             "log_interval = 1s\n[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n",
             s.root, s.dir);
    harness_write_file(s.ini, text);
    sh(&s, "mkdir -p wp-content/uploads/many && chown www-data:www-data wp-content/uploads/many");
    site_start(&s, NULL);
    burst(&s, "wp-content/uploads/many", 300);
    json_t *e = live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "suppressed", "PERMWATCH_FINDING",
                                "root_owned", NULL);
    if (!e)
        live_dump(s.d);
    cr_assert_not_null(e);
    cr_expect_str_eq(live_field(e, "PERMWATCH_COUNT"), "280");
    cr_expect_str_eq(live_field(e, "PERMWATCH_PATH"), at(&s, "wp-content/uploads/many"));
    live_settle(s.d, 300);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                    "root_owned", NULL),
                 20);
    site_free(&s);
}

/* ---- reload and the site root ------------------------------------------------------------- */

Test(live, reload_bad_file_keeps_policy_good_file_reevaluates)
{
    struct site s;
    site_init(&s, "live-reload");
    sh(&s, "touch wp-content/uploads/x.png && chown www-data:www-data wp-content/uploads/x.png "
           "&& chmod 0644 wp-content/uploads/x.png");
    site_start(&s, NULL);
    expect_entry(&s, "finding", "mode_mismatch", "wp-content/uploads/x.png");
    harness_write_file(s.ini, "[site]\nroot = /nonexistent/but/fine\n[rule r]\nmatch = **\n"
                              "file_require = 9x\n");
    live_signal(s.d, SIGHUP);
    json_t *e = live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "config_error", NULL);
    cr_assert_not_null(e);
    cr_expect(strstr(live_field(e, "MESSAGE"), ":5:"), "names the line: %s",
              live_field(e, "MESSAGE"));
    cr_assert(live_wait_notify_count(s.d, "READY=1", 2, WAIT_MS));
    cr_expect_lt(live_notify_index(s.d, "RELOADING=1", 0), live_notify_index(s.d, "READY=1", 1));
    cr_expect_geq(live_notify_count(s.d, "MONOTONIC_USEC="), 1);
    /* the old policy still runs */
    sh(&s, "touch after-bad-reload");
    expect_entry(&s, "finding", "root_owned", "after-bad-reload");
    /* a good file that no longer asks for group write: the mode finding resolves */
    write_policy(&s, NULL, NULL);
    char text[4096];
    snprintf(text, sizeof(text),
             "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s/control.sock\n"
             "rescan_interval = 0\nlog_burst = 0\n"
             "[rule site]\nmatch = **\nowner = www-data, root\n",
             s.root, s.dir);
    harness_write_file(s.ini, text);
    live_signal(s.d, SIGHUP);
    expect_entry(&s, "resolved", "mode_mismatch", "wp-content/uploads/x.png");
    expect_entry(&s, "resolved", "root_owned", "after-bad-reload");
    cr_assert_not_null(live_wait_entry(s.d, WAIT_MS, "PERMWATCH_EVENT", "reloaded", NULL));
    cr_assert(live_wait_notify_count(s.d, "READY=1", 3, WAIT_MS));
    site_free(&s);
}

Test(live, site_root_deleted_and_recreated)
{
    struct site s;
    site_init(&s, "live-rootgone");
    sh(&s, "touch old-root-file");
    site_start(&s, NULL);
    expect_entry(&s, "finding", "root_owned", "old-root-file");
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "rm -rf '%s'", s.root), 0);
    run_result_free(&r);
    expect_entry(&s, "resolved", "root_owned", "old-root-file");
    /* a deploy puts it back: crawled again, new findings open */
    cr_assert_eq(harness_sh(&r, "mkdir '%s' && chown www-data:www-data '%s' && touch '%s/new'",
                            s.root, s.root, s.root),
                 0);
    run_result_free(&r);
    expect_entry(&s, "finding", "root_owned", "new");
    sh(&s, "touch newer");
    expect_entry(&s, "finding", "root_owned", "newer");
    site_free(&s);
}
