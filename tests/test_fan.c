/* test_fan: the fanotify source against the real kernel (root): the directory handle table
 * (same directory same id, removal, churn bounded, bytes per directory), events of a temp
 * tree translated to the inotify events the loop handles (create, attrib, close_write,
 * delete, renames inside, into and out of the tree, directory events), events of this process
 * and of directories outside the tree dropped, overflow flagged when the queue is full. The
 * mark sees the whole filesystem of /tmp: whatever else runs on the machine is filtered too. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fan.h"
#include "harness.h"

static char *tmp;
static int root_fd;
static struct fan *fan;

static void setup(void)
{
    char why[512];
    tmp = harness_tempdir("fan");
    root_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(root_fd, 0);
    fan = fan_new(why, sizeof(why));
    cr_assert_not_null(fan, "fan_new: %s (these tests run as root)", why);
    cr_assert_eq(fan_mark(fan, root_fd, why, sizeof(why)), 1, "fan_mark: %s", why);
    cr_assert_eq(fan_mark(fan, root_fd, why, sizeof(why)), 0, "marked already");
}

static void teardown(void)
{
    fan_free(fan);
    close(root_fd);
    harness_rmtree(tmp);
    free(tmp);
}

/* Make directory RELPATH under the temp dir (when MAKE) and register it. Returns its id. */
static int dir_id(const char *relpath, bool make)
{
    if (make)
        cr_assert_eq(mkdirat(root_fd, relpath, 0755), 0, "mkdir %s: %s", relpath, strerror(errno));
    int fd = openat(root_fd, relpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "open %s: %s", relpath, strerror(errno));
    int id = fan_dir_add(fan, fd);
    cr_assert_gt(id, 0, "fan_dir_add %s: %s", relpath, strerror(errno));
    close(fd);
    return id;
}

struct got {
    uint32_t mask, cookie;
    int wd;
    pid_t pid;
    char name[256];
};

/* Run the shell command (another process: its events are not ours) and collect what comes
 * until 300 ms pass without an event. Returns the number of events in OUT (MAX at most). */
static size_t run_collect(const char *cmd, struct got *out, size_t max)
{
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "cd '%s' && %s", tmp, cmd), 0, "%s: %s", cmd, r.err);
    run_result_free(&r);
    size_t n = 0;
    struct pollfd p = {.fd = fan_wake_fd(fan), .events = POLLIN};
    while (poll(&p, 1, 300) > 0) {
        pid_t pid;
        int pidfd;
        const struct inotify_event *ev;
        while ((ev = fan_next(fan, &pid, &pidfd)) != NULL) {
            if (pidfd >= 0)
                close(pidfd);
            if (n == max)
                continue;
            out[n] = (struct got){ev->mask, ev->cookie, ev->wd, pid, ""};
            if (ev->len)
                snprintf(out[n].name, sizeof(out[n].name), "%s", ev->name);
            n++;
        }
    }
    return n;
}

/* Collect after CMD and expect MASK on WD named NAME ("" for none) first; the reader may
 * see a process's events before the kernel could merge them (touch: CREATE, then ATTRIB and
 * CLOSE_WRITE, or all three in one), so what follows may only ask for another look at the
 * same entry. */
static void expect_one(const char *cmd, uint32_t mask, int wd, const char *name)
{
    struct got g[16];
    size_t n = run_collect(cmd, g, 16);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  %s: mask %#x wd %d name '%s' pid %d\n", cmd, g[i].mask, g[i].wd,
                g[i].name, (int)g[i].pid);
    cr_assert_geq(n, 1, "%s: no event", cmd);
    cr_expect_eq(g[0].mask, mask, "%s: mask %#x, want %#x", cmd, g[0].mask, mask);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(g[i].wd, wd, "%s: wd %d, want %d", cmd, g[i].wd, wd);
        cr_expect_str_eq(g[i].name, name, "%s", cmd);
        cr_expect_gt(g[i].pid, 0, "%s: the writer's pid", cmd);
        cr_expect_neq(g[i].pid, getpid(), "%s", cmd);
        if (i)
            cr_expect_eq(g[i].mask & ~(uint32_t)(IN_ATTRIB | IN_CLOSE_WRITE), 0,
                         "%s: event %zu: mask %#x", cmd, i, g[i].mask);
    }
}

/* The index of the first event with MASK in G (N events); fails when there is none. */
static size_t find_mask(const struct got *g, size_t n, uint32_t mask)
{
    for (size_t i = 0; i < n; i++)
        if (g[i].mask == mask)
            return i;
    cr_assert_fail("no event with mask %#x among %zu", mask, n);
    return 0;
}

TestSuite(fan, .init = setup, .fini = teardown);

Test(fan, same_directory_same_id)
{
    int a = dir_id("a", true), b = dir_id("b", true);
    cr_expect_neq(a, b);
    cr_expect_eq(dir_id("a", false), a, "registering a directory again gives its id");
    /* renamed, it is still the same directory (the same handle) */
    cr_assert_eq(renameat(root_fd, "a", root_fd, "a2"), 0);
    cr_expect_eq(dir_id("a2", false), a);
    struct fan_stats st;
    fan_stats(fan, &st);
    cr_expect_eq(st.dirs, 2);
    fan_dir_remove(fan, a);
    fan_stats(fan, &st);
    cr_expect_eq(st.dirs, 1);
    int again = dir_id("a2", false);
    cr_expect_neq(again, a, "a removed id is not handed out again at once");
    cr_expect_neq(again, b);
}

Test(fan, churn_stays_bounded)
{
    dir_id("keep", true);
    struct fan_stats st;
    fan_stats(fan, &st);
    size_t base = st.table_bytes;
    for (int i = 0; i < 5000; i++) {
        int id = dir_id("churn", true);
        fan_dir_remove(fan, id);
        cr_assert_eq(unlinkat(root_fd, "churn", AT_REMOVEDIR), 0);
    }
    fan_stats(fan, &st);
    cr_expect_eq(st.dirs, 1);
    cr_expect_leq(st.table_bytes, base + 4096, "mkdir/rmdir churn grew the table: %zu -> %zu", base,
                  st.table_bytes);
}

/* The site chooses how many directories it has: past fan_set_dir_limit new ones are refused
 * (ENOSPC, the loop's degraded mode), known ones keep their id, a removal makes room. */
Test(fan, directory_limit_refuses_new_ones)
{
    fan_set_dir_limit(fan, 3);
    int a = dir_id("a", true);
    dir_id("b", true);
    dir_id("c", true);
    cr_assert_eq(mkdirat(root_fd, "d", 0755), 0);
    int fd = openat(root_fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    errno = 0;
    cr_expect_eq(fan_dir_add(fan, fd), -1, "a fourth directory past a limit of 3");
    cr_expect_eq(errno, ENOSPC, "%s", strerror(errno));
    cr_expect_eq(dir_id("a", false), a, "a registered directory keeps its id at the limit");
    fan_dir_remove(fan, a);
    cr_expect_gt(fan_dir_add(fan, fd), 0, "room again after a removal: %s", strerror(errno));
    close(fd);
    struct fan_stats st;
    fan_stats(fan, &st);
    cr_expect_eq(st.dirs, 3);
}

Test(fan, bytes_per_directory)
{
    enum { N = 20000 };
    cr_assert_eq(mkdirat(root_fd, "many", 0755), 0);
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "many/%d", i);
        dir_id(name, true);
    }
    struct fan_stats st;
    fan_stats(fan, &st);
    cr_assert_eq(st.dirs, N);
    double per = (double)st.table_bytes / N;
    fprintf(stderr, "fan handle table: %zu bytes for %d directories, %.1f bytes each\n",
            st.table_bytes, N, per);
    cr_expect_leq(per, 72.0, "%.1f bytes per directory", per);
}

Test(fan, events_translated)
{
    int d1 = dir_id("d1", true), d2 = dir_id("d2", true);
    cr_assert_eq(mkdirat(root_fd, "outside", 0755), 0); /* not registered */
    expect_one("touch d1/f", IN_CREATE, d1, "f");
    expect_one("chmod 600 d1/f", IN_ATTRIB, d1, "f");
    expect_one("sh -c 'echo x >> d1/f'", IN_CLOSE_WRITE, d1, "f");
    expect_one("mkdir d1/sub", IN_CREATE | IN_ISDIR, d1, "sub");
    expect_one("chmod 700 d1", IN_ATTRIB | IN_ISDIR, d1, "");
    expect_one("rmdir d1/sub", IN_DELETE | IN_ISDIR, d1, "sub");
    expect_one("mv d1/f outside/f", IN_DELETE, d1, "f");
    expect_one("mv outside/f d2/g", IN_CREATE, d2, "g");
    expect_one("rm d2/g", IN_DELETE, d2, "g");
    /* a rename inside: a MOVED_FROM / MOVED_TO pair with one cookie */
    struct got g[16];
    size_t n = run_collect("touch d1/m && mv d1/m d2/m2", g, 16);
    size_t i = find_mask(g, n, IN_MOVED_FROM);
    cr_assert_eq(n, i + 2, "%zu events, the move at %zu", n, i);
    cr_expect_eq(g[0].mask, IN_CREATE);
    cr_expect_eq(g[i].wd, d1);
    cr_expect_str_eq(g[i].name, "m");
    cr_expect_eq(g[i + 1].mask, IN_MOVED_TO);
    cr_expect_eq(g[i + 1].wd, d2);
    cr_expect_str_eq(g[i + 1].name, "m2");
    cr_expect_neq(g[i].cookie, 0u);
    cr_expect_eq(g[i].cookie, g[i + 1].cookie);
    /* a directory moved inside keeps its id */
    int s = dir_id("d1/s", true);
    n = run_collect("mv d1/s d2/s2", g, 16);
    cr_assert_eq(n, 2);
    cr_expect_eq(g[0].mask, IN_MOVED_FROM | IN_ISDIR);
    cr_expect_eq(g[1].mask, IN_MOVED_TO | IN_ISDIR);
    cr_expect_eq(dir_id("d2/s2", false), s);
    /* a file created and removed by one process: the kernel merges events of one object and
     * process only while the last is still queued; merged, a removal comes first, then a
     * look at the disk (it ends right in either order) */
    n = run_collect("sh -c 'echo y > d1/t; rm d1/t'", g, 16);
    bool deleted = false;
    for (size_t k = 0; k < n; k++) {
        fprintf(stderr, "  create+rm: mask %#x name '%s'\n", g[k].mask, g[k].name);
        cr_expect_str_eq(g[k].name, "t");
        deleted |= g[k].mask == IN_DELETE;
    }
    cr_expect(deleted, "the removal is reported");
    /* outside the tree: nothing */
    n = run_collect("touch outside/x && chmod 600 outside/x && mkdir outside/y", g, 16);
    cr_expect_eq(n, 0, "%zu events from an unregistered directory", n);
    struct fan_stats st;
    fan_stats(fan, &st);
    cr_expect_gt(st.dropped, 0);
}

Test(fan, own_events_dropped)
{
    int d = dir_id("d", true);
    int fd = openat(root_fd, "d/mine", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "x", 1), 1);
    close(fd);
    cr_assert_eq(fchmodat(root_fd, "d/mine", 0600, 0), 0);
    struct got g[8];
    size_t n = run_collect("true", g, 8);
    cr_expect_eq(n, 0, "%zu events of this very process", n);
    expect_one("chmod 644 d/mine", IN_ATTRIB, d, "mine"); /* another process: seen */
}

Test(fan, overflow_when_queue_full)
{
    dir_id("q", true);
    fan_debug_set_queue_limit(fan, 5);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "cd '%s/q' && for i in $(seq 1 50); do : > f$i; done", tmp), 0);
    run_result_free(&r);
    struct pollfd p = {.fd = fan_wake_fd(fan), .events = POLLIN};
    cr_assert_gt(poll(&p, 1, 2000), 0);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    cr_expect(fan_take_overflow(fan), "a full queue flags overflow");
    cr_expect_not(fan_take_overflow(fan), "taking the flag clears it");
    size_t n = 0;
    pid_t pid;
    int pidfd;
    while (fan_next(fan, &pid, &pidfd)) {
        if (pidfd >= 0)
            close(pidfd);
        n++;
    }
    cr_expect_eq(n, 5, "the queue held %zu events, its bound is 5", n);
}

/* The site root moves to another filesystem (a tmpfs, in a private mount namespace of this
 * test's process): fan_mark places the mark there and removes the old filesystem's. */
Test(fan, mark_moves_to_another_filesystem)
{
    cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare: %s", strerror(errno));
    cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    cr_assert_eq(mkdirat(root_fd, "t", 0755), 0);
    char t[PATH_MAX];
    snprintf(t, sizeof(t), "%s/t", tmp);
    cr_assert_eq(mount("tmpfs", t, "tmpfs", 0, "size=1m"), 0, "mount: %s", strerror(errno));
    int old = dir_id(".", false); /* the temp dir on the old filesystem */
    int tfd = open(t, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(tfd, 0);
    char why[512];
    cr_assert_eq(fan_mark(fan, tfd, why, sizeof(why)), 1, "fan_mark on tmpfs: %s", why);
    int nid = fan_dir_add(fan, tfd);
    cr_assert_gt(nid, 0, "%s", strerror(errno));
    close(tfd);
    struct got g[8];
    size_t n = run_collect("touch t/on-tmpfs && touch on-old-fs", g, 8);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  remark: mask %#x wd %d name '%s'\n", g[i].mask, g[i].wd, g[i].name);
    cr_assert_geq(n, 1);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(g[i].wd, nid, "an event of the old filesystem (wd %d, old %d)", g[i].wd, old);
        cr_expect_str_eq(g[i].name, "on-tmpfs");
    }
    umount2(t, MNT_DETACH);
}
