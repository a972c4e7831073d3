/* test_live_events: the live daemon's event path under faults (this binary runs inside
 * tests/journald-ns.sh): inotify watches running out while the daemon runs (the degraded
 * rescan, its entry and the recovery once the limit is raised), and root files created
 * deeper than PATH_MAX. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

#define WAIT_MS 5000

/* A clean www-data site with a few directories; the policy wants everything owned by
 * www-data. EXTRA goes into [daemon] (the watch-limit cases pin backend = inotify: fanotify
 * has no per-directory watch). */
static void ev_init(struct site *s, const char *tag, const char *extra)
{
    site_init(s, tag);
    site_make_uploads(s);
    site_policy(s,
                "[site]\nroot = %s\nweb_user = www-data\n\n"
                "[daemon]\ncontrol_socket = %s\nrescan_interval = 0\nlog_burst = 0\n%s\n"
                "[dispatch]\nchannels_file = none.php\n\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n",
                s->root, s->sock, extra ? extra : "");
}

/* Stop the daemon (expecting exit 0) and remove the site. */
static void ev_free(struct site *s)
{
    site_stop(s);
    site_free(s);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Make directory NAME under DIRFD owned by www-data (mode 0775) and return it open, or fail. */
static int mkdir_www(int dirfd, const char *name)
{
    uid_t www = harness_uid("www-data");
    gid_t wwwg = harness_gid("www-data");
    cr_assert_eq(mkdirat(dirfd, name, 0775), 0, "mkdir %s: %s", name, strerror(errno));
    cr_assert_eq(fchownat(dirfd, name, www, wwwg, AT_SYMLINK_NOFOLLOW), 0);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cr_assert_geq(fd, 0, "open %s: %s", name, strerror(errno));
    return fd;
}

/* Create file NAME under DIRFD owned by root, group www-data, mode 0664 (a root_owned finding). */
static void root_file(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0664);
    cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
    cr_assert_eq(fchown(fd, 0, harness_gid("www-data")), 0);
    cr_assert_eq(fchmod(fd, 0664), 0);
    close(fd);
}

/* `permwatchctl --json status`: whether it says degraded (fails the test when it cannot ask). */
static bool status_degraded(const struct site *s, size_t *watched)
{
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "'%s' -s '%s' --json status", s->ctl, s->sock), 0);
    json_error_t err;
    json_t *j = json_loads(r.out, JSON_DISABLE_EOF_CHECK, &err);
    cr_assert_not_null(j, "status output: %s %s", r.out, r.err);
    json_t *deg = json_object_get(j, "degraded");
    cr_assert(json_is_boolean(deg), "no degraded in %s", r.out);
    if (watched)
        *watched = (size_t)json_integer_value(json_object_get(j, "watched_dirs"));
    bool v = json_is_true(deg);
    json_decref(j);
    run_result_free(&r);
    return v;
}

/* Wait until an entry whose MESSAGE contains TEXT arrived; returns it or NULL. */
static json_t *wait_message(struct site *s, const char *text, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        size_t i;
        json_t *e;
        json_array_foreach(live_entries(s->d), i, e)
        {
            const char *m = live_field(e, "MESSAGE");
            if (m && strstr(m, text))
                return e;
        }
        uint64_t now = now_ms();
        if (now >= end || !live_running(s->d))
            return NULL;
        live_pump(s->d, (int)(end - now));
    }
}

/* Wait until COUNT root_owned findings whose path contains SUBSTR were logged (a file may
 * also be seen with its group not yet set: other kinds do not count); returns how many there
 * were at the end. */
static size_t wait_findings(struct site *s, const char *substr, size_t count, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        size_t n = 0, i;
        json_t *e;
        json_array_foreach(live_entries(s->d), i, e)
        {
            const char *ev = live_field(e, "PERMWATCH_EVENT"), *p = live_field(e, "PERMWATCH_PATH");
            const char *kind = live_field(e, "PERMWATCH_FINDING");
            if (ev && p && kind && !strcmp(ev, "finding") && !strcmp(kind, "root_owned") &&
                strstr(p, substr))
                n++;
        }
        uint64_t now = now_ms();
        if (n >= count || now >= end || !live_running(s->d))
            return n;
        live_pump(s->d, (int)(end - now));
    }
}

/* The watch limit runs out while the daemon runs (directories keep being created): the same
 * degraded path as at startup (one `degraded` entry with the numbers, the unwatched subtrees
 * rescanned every degraded_rescan_interval, every root file in them found), and once the
 * limit is raised: watches placed, an entry, not degraded, new files found by inotify. */
Test(live_events, watch_limit_reached_at_runtime_rescans_and_recovers)
{
    struct site s;
    ev_init(&s, "live-ev-degraded", "degraded_rescan_interval = 1s\nbackend = inotify\n");
    char helper[PATH_MAX], pid[32];
    harness_build_path("tests/helper_watch_limit", helper, sizeof(helper));
    const char *wrapper[] = {helper, "30", NULL};
    struct live_opts o = {.wrapper = wrapper};
    site_start(&s, &o, 20000);
    snprintf(pid, sizeof(pid), "%d", (int)live_pid(s.d));
    size_t watched0 = 0;
    cr_assert_not(status_degraded(&s, &watched0), "room at the start");

    /* exhaust the limit with www-data directories, then 100 directories each with a root
     * file, the file created right after its directory */
    int up = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(up, 0);
    int t = openat(up, "wp-content/uploads", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(t, 0);
    close(up);
    char name[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "fill%02d", i);
        close(mkdir_www(t, name));
    }
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "new%03d", i);
        int fd = mkdir_www(t, name);
        root_file(fd, "r.php");
        close(fd);
    }
    uint64_t t0 = now_ms();
    /* every one within the rescan interval (1 s), plus slack for a loaded machine */
    size_t found = wait_findings(&s, "/r.php", 100, 3000);
    uint64_t t_found = now_ms() - t0;
    fprintf(stderr, "degraded at runtime: %zu of 100 root files found in %llu ms\n", found,
            (unsigned long long)t_found);
    cr_expect_eq(found, 100, "%zu of 100 root files in new directories found", found);

    json_t *e = site_expect_entry(&s, WAIT_MS, "a degraded entry at runtime", "PERMWATCH_EVENT",
                                  "degraded", NULL);
    const char *count = live_field(e, "PERMWATCH_COUNT"),
               *reason = live_field(e, "PERMWATCH_REASON");
    cr_assert_not_null(count);
    cr_expect_gt(atoi(count), 0, "COUNT %s", count);
    cr_assert_not_null(reason);
    cr_expect(strstr(reason, "fs.inotify.max_user_watches"), "%s", reason);
    cr_expect(status_degraded(&s, NULL), "permwatchctl status says degraded");
    /* the rescans go on (files added later to unwatched directories are found), but the
     * entry is not repeated */
    int fd = openat(t, "new042", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    root_file(fd, "later.php");
    close(fd);
    cr_expect_eq(wait_findings(&s, "new042/later.php", 1, WAIT_MS), 1);
    live_settle(s.d, 300);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "degraded", NULL), 1);

    /* raise the limit: watches are placed at the next rescan and inotify takes over */
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "'%s' --set %s 10000", helper, pid), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    t0 = now_ms();
    e = wait_message(&s, "inotify watches available again", WAIT_MS);
    uint64_t t_recovered = now_ms() - t0;
    if (!e)
        live_dump(s.d);
    cr_assert_not_null(e, "an entry when watches are available again");
    fprintf(stderr, "degraded at runtime: recovered %llu ms after the limit was raised\n",
            (unsigned long long)t_recovered);
    cr_expect_str_eq(live_field(e, "PRIORITY"), "6");
    size_t watched = 0;
    cr_expect_not(status_degraded(&s, &watched), "not degraded after recovery");
    cr_expect_geq(watched, watched0 + 140, "%zu directories watched (%zu at the start)", watched,
                  watched0);
    /* no more degraded rescans (rescan_interval = 0): only inotify can find this one in 1 s */
    fd = openat(t, "new077", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    t0 = now_ms();
    root_file(fd, "after.php");
    close(fd);
    cr_expect_eq(wait_findings(&s, "new077/after.php", 1, 1000), 1, "found by inotify in 1 s");
    fprintf(stderr, "degraded at runtime: after recovery, found in %llu ms\n",
            (unsigned long long)(now_ms() - t0));
    close(t);
    ev_free(&s);
}

/* A directory chain longer than PATH_MAX made while the daemon runs, then a root file at the
 * bottom: its finding, with the whole path, within 1 s. */
Test(live_events, root_file_deeper_than_path_max_found_at_runtime)
{
    struct site s;
    ev_init(&s, "live-ev-deep", NULL);
    site_start(&s, NULL, 20000);
    char comp[201];
    memset(comp, 'd', 200);
    comp[200] = '\0';
    size_t cap = strlen(s.root) + 30 * 202 + 64, len = strlen(s.root);
    char *full = malloc(cap);
    cr_assert_not_null(full);
    memcpy(full, s.root, len + 1);
    int fd = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    for (int i = 0; i < 25; i++) { /* 25 x 201 bytes: 5,025, beyond PATH_MAX (4,096) */
        comp[0] = (char)('a' + i);
        int sub = mkdir_www(fd, comp);
        close(fd);
        fd = sub;
        len += (size_t)snprintf(full + len, cap - len, "/%s", comp);
    }
    cr_assert_gt(len - strlen(s.root), PATH_MAX);
    uint64_t t0 = now_ms();
    root_file(fd, "deep-root.php");
    close(fd);
    snprintf(full + len, cap - len, "/deep-root.php");
    json_t *e = live_wait_entry(s.d, 1000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                "root_owned", "PERMWATCH_PATH", full, NULL);
    uint64_t took = now_ms() - t0;
    if (!e)
        live_dump(s.d);
    cr_expect_not_null(e, "finding for the root file %zu bytes deep within 1 s", strlen(full));
    fprintf(stderr, "deep root file (%zu bytes) found in %llu ms\n", strlen(full),
            (unsigned long long)took);
    free(full);
    ev_free(&s);
}

/* Largest gap in ms between two WATCHDOG=1 datagrams of the daemon received after FROM_USEC
 * (CLOCK_MONOTONIC); the daemon pings every half watchdog period when its loop is free. */
static uint64_t max_watchdog_gap_ms(const struct live *d, uint64_t from_usec)
{
    uint64_t last = 0, max = 0;
    for (size_t i = 0; i < live_notify_total(d); i++) {
        const struct live_notify *n = live_notify_at(d, i);
        if (n->pid != live_pid(d) || !strstr(n->text, "WATCHDOG=1") || n->mono_usec < from_usec)
            continue;
        if (last && n->mono_usec - last > max)
            max = n->mono_usec - last;
        last = n->mono_usec;
    }
    return max / 1000;
}

/* A web user makes 40,000 directories once the watch limit is reached: the degraded rescans
 * of as many unwatched subtrees never stall the loop (watchdog pings keep coming). */
Test(live_events, many_unwatched_directories_do_not_stall_the_loop)
{
    struct site s;
    ev_init(&s, "live-ev-stall", "degraded_rescan_interval = 1s\nbackend = inotify\n");
    char helper[PATH_MAX];
    harness_build_path("tests/helper_watch_limit", helper, sizeof(helper));
    const char *wrapper[] = {helper, "20", NULL};
    struct live_opts o = {.wrapper = wrapper, .watchdog_usec = 400000};
    site_start(&s, &o, 20000);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t from = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    /* as www-data, the way an attacker would: 40,000 directories in one go */
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof(cmd),
             "cd '%s/wp-content/uploads' && seq -f 'n%%05g' 1 40000 | xargs mkdir", s.root);
    cr_assert_eq(live_as_user("www-data", cmd), 0);
    /* a root file in one of them, found by a degraded rescan */
    int t = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(t, 0);
    int fd = openat(t, "wp-content/uploads/n39999", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    close(t);
    root_file(fd, "r.php");
    close(fd);
    cr_expect_eq(wait_findings(&s, "n39999/r.php", 1, 15000), 1);
    live_pump(s.d, 3000); /* a few degraded rounds more */
    while (live_pump(s.d, 0))
        ;
    uint64_t gap = max_watchdog_gap_ms(s.d, from);
    fprintf(stderr, "40,000 unwatched directories: largest watchdog gap %llu ms\n",
            (unsigned long long)gap);
    /* pings every 200 ms when the loop is free; old main measured 1,124 and 2,061 ms */
    cr_expect_lt(gap, 800, "the loop stalled %llu ms", (unsigned long long)gap);
    ev_free(&s);
}

/* More unwatched subtree tops than the daemon lists (65,536): it drops the list, says so once,
 * and each degraded round is a full rescan: a root file in the last directory is still found,
 * the loop keeps pinging, and memory stays bounded (the list's paths are gone). */
Test(live_events, unwatched_tops_beyond_the_cap_fall_back_to_full_rescans)
{
    struct site s;
    ev_init(&s, "live-ev-cap", "degraded_rescan_interval = 1s\nbackend = inotify\n");
    char helper[PATH_MAX];
    harness_build_path("tests/helper_watch_limit", helper, sizeof(helper));
    const char *wrapper[] = {helper, "20", NULL};
    struct live_opts o = {.wrapper = wrapper, .watchdog_usec = 400000};
    site_start(&s, &o, 20000);
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof(cmd),
             "cd '%s/wp-content/uploads' && seq -f 'n%%05g' 1 70000 | xargs mkdir", s.root);
    cr_assert_eq(live_as_user("www-data", cmd), 0);
    cr_assert_not_null(wait_message(&s, "each degraded rescan is a full rescan", 30000),
                       "no entry saying the list of unwatched subtrees was dropped");
    int t = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(t, 0);
    int fd = openat(t, "wp-content/uploads/n69999", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    close(t);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t from = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    root_file(fd, "r.php");
    close(fd);
    cr_expect_eq(wait_findings(&s, "n69999/r.php", 1, 20000), 1);
    live_pump(s.d, 2500); /* a few full-rescan rounds more */
    while (live_pump(s.d, 0))
        ;
    uint64_t gap = max_watchdog_gap_ms(s.d, from);
    unsigned long rss = harness_proc_kib(live_pid(s.d), "VmRSS:"),
                  hwm = harness_proc_kib(live_pid(s.d), "VmHWM:");
    fprintf(stderr,
            "70,000 unwatched directories: largest watchdog gap %llu ms, VmRSS %lu KiB, "
            "VmHWM %lu KiB\n",
            (unsigned long long)gap, rss, hwm);
    cr_assert_gt(rss, 0, "cannot read the daemon's VmRSS");
    cr_expect_lt(gap, 800, "the loop stalled %llu ms", (unsigned long long)gap);
    /* the findings of 70,000 empty directories: none; the list would be ~5 MiB */
#if !defined(__SANITIZE_ADDRESS__) /* ASan's shadow and quarantine dwarf the bound */
    cr_expect_lt(hwm, 64 * 1024, "VmHWM %lu KiB", hwm);
#endif
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "degraded", NULL), 1);
    ev_free(&s);
}

/* The fanotify backend has no kernel limit per directory, so max_watched_dirs bounds its
 * table: the web user makes more directories than that while the daemon runs; the same
 * degraded path as inotify's (one `degraded` entry naming the key, unwatched subtrees rescanned,
 * every root file in them found); removing directories makes room again. */
Test(live_events, fanotify_max_watched_dirs_degrades_and_still_finds_everything)
{
    struct site s;
    ev_init(&s, "live-ev-maxdirs",
            "backend = fanotify\nmax_watched_dirs = 20\ndegraded_rescan_interval = 1s\n");
    site_start(&s, NULL, 10000);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "'%s' -s '%s' status", s.ctl, s.sock), 0);
    if (!strstr(r.out, "fanotify")) {
        run_result_free(&r);
        ev_free(&s);
        cr_skip_test("the fanotify backend is not available here");
    }
    run_result_free(&r);
    size_t watched = 0;
    cr_expect(!status_degraded(&s, &watched), "degraded before any directory was made");

    /* 40 directories at runtime, a root file in each of the last ten */
    int top = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(top, 0);
    int up = openat(top, "wp-content/uploads", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(up, 0);
    close(top);
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%02d", i);
        int fd = mkdir_www(up, name);
        if (i >= 30)
            root_file(fd, "r.php");
        close(fd);
    }
    json_t *deg = wait_message(&s, "max_watched_dirs reached", WAIT_MS);
    cr_assert_not_null(deg, "no degraded entry naming max_watched_dirs");
    cr_expect_str_eq(live_field(deg, "PERMWATCH_EVENT"), "degraded");
    cr_expect_eq(wait_findings(&s, "/r.php", 10, 15000), 10,
                 "not every root file in the directories past the limit was found");
    cr_expect(status_degraded(&s, &watched), "status does not say degraded");
    cr_expect_leq(watched, 20, "%zu directories watched past max_watched_dirs = 20", watched);

    /* removed again: room below the limit, every directory watched, not degraded */
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%02d", i);
        int fd = openat(up, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        unlinkat(fd, "r.php", 0);
        close(fd);
        cr_assert_eq(unlinkat(up, name, AT_REMOVEDIR), 0, "%s: %s", name, strerror(errno));
    }
    close(up);
    cr_expect_not_null(wait_message(&s, "room below max_watched_dirs available again", 10000),
                       "the daemon did not leave degraded mode once the directories were gone");
    cr_expect(!status_degraded(&s, NULL), "still degraded");
    ev_free(&s);
}
