/* test_writer: writer attribution (issue 14) against real processes (root: a child runs as
 * www-data by setpriv): resolution through a pidfd, the honest `unknown` for a writer that
 * exited, the bounded cache, the ranking of writers behind root-owned writes and the
 * root_writer rule (threshold, exactly one finding, the quiet period) with an injected clock.
 * Unit names need a real systemd (PID 1): here they are checked only to be absent when the
 * host does not run one; the nspawn tests of i14-integ check writer-test.service. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "finding.h"
#include "harness.h"
#include "writer.h"

static int pidfd_of(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    cr_assert_geq(fd, 0, "pidfd_open(%d): %s", (int)pid, strerror(errno));
    return fd;
}

/* Wait until /proc/PID/comm reads WANT (the child has exec'd). */
static void wait_comm(pid_t pid, const char *want)
{
    char path[64], buf[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            bool ok = fgets(buf, sizeof(buf), f) && strncmp(buf, want, strlen(want)) == 0;
            fclose(f);
            if (ok)
                return;
        }
        usleep(10000);
    }
    cr_assert_fail("pid %d never became %s", (int)pid, want);
}

/* A child running ARGV (exec'd), already past exec into COMM. */
static pid_t spawn(char *const argv[], const char *comm)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    wait_comm(pid, comm);
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

Test(writer, resolves_this_process)
{
    struct writer_ev ev = {getpid(), pidfd_of(getpid())};
    struct writer_info w;
    writer_read(&ev, &w);
    cr_assert(w.known);
    cr_expect_eq(w.pid, getpid());
    cr_expect_eq(w.uid, geteuid());
    cr_expect_str_eq(w.user, "root");
    char comm[32] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    cr_assert(f && fgets(comm, sizeof(comm), f));
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    cr_expect_str_eq(w.comm, comm);
    cr_expect(strstr(w.exe, "test_writer"), "exe %s", w.exe);
    if (sd_booted() <= 0) { /* no systemd here: no unit, and no guess */
        cr_expect_str_eq(w.unit, "");
        cr_expect_eq(w.unit_kind, WRITER_UNIT_NONE);
    }
    char key[WRITER_UNIT_MAX];
    cr_expect_str_eq(writer_key(&w, key, sizeof(key)), *w.unit ? w.unit : comm);
    close(ev.pidfd);
}

Test(writer, a_www_data_child_is_uid_33_and_its_comm)
{
    uid_t www = harness_uid("www-data");
    char *argv[] = {
        "setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups", "sleep", "30", NULL};
    pid_t pid = spawn(argv, "sleep");
    struct writer_ev ev = {pid, pidfd_of(pid)};
    struct writer *wr = writer_new(NULL, NULL, NULL);
    struct writer_info w;
    writer_resolve(wr, &ev, &w);
    cr_assert(w.known);
    cr_expect_eq(w.uid, www);
    cr_expect_eq(w.uid, 33);
    cr_expect_str_eq(w.user, "www-data");
    cr_expect_str_eq(w.comm, "sleep");
    cr_expect_eq(w.pid, pid);
    char d[256];
    cr_expect(strstr(writer_describe(&w, d, sizeof(d)), "comm sleep uid 33"), "%s", d);
    close(ev.pidfd);
    reap(pid);
    writer_free(wr);
}

Test(writer, a_child_that_exited_is_an_honest_unknown)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char c;
        close(p[1]);
        (void)!read(p[0], &c, 1);
        _exit(0);
    }
    close(p[0]);
    struct writer_ev ev = {pid, pidfd_of(pid)}; /* taken while it lived, like fanotify's */
    close(p[1]);                                /* it exits */
    struct pollfd pf = {.fd = ev.pidfd, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 5000), 1);

    struct writer *wr = writer_new(NULL, NULL, NULL);
    struct writer_info w;
    writer_resolve(wr, &ev, &w); /* a zombie: /proc/PID is still there, but it exited */
    cr_expect_not(w.known);
    cr_expect_eq(w.pid, pid);
    cr_expect_str_eq(w.comm, "unknown");
    cr_expect_str_eq(w.unit, "");
    waitpid(pid, NULL, 0);
    writer_resolve(wr, &ev, &w); /* reaped: the pid may be anyone's now */
    cr_expect_not(w.known);
    cr_expect_str_eq(w.comm, "unknown");
    cr_expect_eq(writer_cache_count(wr), 0, "nothing of a dead writer is cached");

    /* no pidfd at all (FAN_NOPIDFD / FAN_EPIDFD): only the pid, even for a live process */
    struct writer_ev nofd = {getpid(), -1};
    writer_resolve(wr, &nofd, &w);
    cr_expect_not(w.known);
    cr_expect_eq(w.pid, getpid());
    cr_expect_str_eq(w.comm, "unknown");
    char d[128], want[128];
    snprintf(want, sizeof(want), "pid %d, exited: unknown", (int)getpid());
    cr_expect_str_eq(writer_describe(&w, d, sizeof(d)), want);
    /* no writer reported (inotify): pid 0, nothing */
    struct writer_ev none = {0, -1};
    writer_resolve(wr, &none, &w);
    cr_expect_eq(w.pid, 0);
    cr_expect_not(w.known);
    close(ev.pidfd);
    writer_free(wr);
}

Test(writer, a_burst_costs_one_resolution_and_the_cache_is_bounded)
{
    struct writer_opts o = {.cache_size = 4};
    struct writer *wr = writer_new(&o, NULL, NULL);
    struct writer_ev self = {getpid(), pidfd_of(getpid())};
    struct writer_info w;
    for (int i = 0; i < 100; i++) {
        writer_resolve(wr, &self, &w);
        cr_assert(w.known);
    }
    cr_expect_eq(writer_cache_misses(wr), 1);
    cr_expect_eq(writer_cache_hits(wr), 99);

    /* six other live processes through a cache of four */
    pid_t kids[6];
    int fds[6];
    char *argv[] = {"sleep", "30", NULL};
    for (int i = 0; i < 6; i++) {
        kids[i] = spawn(argv, "sleep");
        fds[i] = pidfd_of(kids[i]);
        struct writer_ev ev = {kids[i], fds[i]};
        writer_resolve(wr, &ev, &w);
        cr_expect(w.known);
        cr_expect_str_eq(w.comm, "sleep");
        cr_expect_leq(writer_cache_count(wr), 4);
    }
    cr_expect_eq(writer_cache_count(wr), 4);
    uint64_t misses = writer_cache_misses(wr);
    writer_resolve(wr, &self, &w); /* evicted (least recently used): read again */
    cr_expect(w.known);
    cr_expect_eq(writer_cache_misses(wr), misses + 1);
    struct writer_ev last = {kids[5], fds[5]};
    writer_resolve(wr, &last, &w); /* still cached */
    cr_expect_eq(writer_cache_misses(wr), misses + 1);
    for (int i = 0; i < 6; i++) {
        close(fds[i]);
        reap(kids[i]);
    }
    close(self.pidfd);
    writer_free(wr);
}

/* A known writer in UNIT (kind system) as uid UID with comm COMM. */
static struct writer_info fake(const char *unit, uid_t uid, const char *comm)
{
    struct writer_info w = {.pid = 1000, .known = true, .uid = uid};
    snprintf(w.comm, sizeof(w.comm), "%s", comm);
    snprintf(w.user, sizeof(w.user), "%s", uid == 0 ? "root" : "other");
    if (unit) {
        snprintf(w.unit, sizeof(w.unit), "%s", unit);
        w.unit_kind = WRITER_UNIT_SYSTEM;
    }
    return w;
}

struct seen {
    int opened, closed;
    char last_key[WRITER_UNIT_MAX];
    uint64_t last_count;
    char message[1024];
};

static void on_finding(void *ctx, bool opened, const struct writer_rank *r)
{
    struct seen *s = ctx;
    if (opened)
        s->opened++;
    else
        s->closed++;
    snprintf(s->last_key, sizeof(s->last_key), "%s", r->key);
    s->last_count = r->count;
    struct writer_info w;
    struct finding f;
    writer_rank_finding(r, opened, &w, &f);
    finding_format_message(&f, s->message, sizeof(s->message));
}

#define SEC 1000000ULL

Test(writer, ranking_counts_orders_and_evicts_at_the_bound)
{
    struct writer_opts o = {.rank_max = 3, .threshold = 50};
    struct writer *wr = writer_new(&o, NULL, NULL);
    struct writer_info cron = fake("cron.service", 0, "php"),
                       agent = fake("opencode.service", 0, "node"),
                       shell = fake("session-3.scope", 0, "bash"), nounit = fake(NULL, 0, "cp");
    shell.unit_kind = WRITER_UNIT_SESSION;
    uint64_t t = 1000 * SEC;
    for (int i = 0; i < 5; i++)
        writer_root_write(wr, &cron, "/var/www/site/a.php", t += SEC, 1);
    for (int i = 0; i < 7; i++)
        writer_root_write(wr, &agent, "/var/www/site/b.php", t += SEC, 2);
    writer_root_write(wr, &shell, "/var/www/site/c.php", t += SEC, 3);
    struct writer_rank top[8];
    size_t n = writer_ranking(wr, top, 8);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(top[0].key, "opencode.service");
    cr_expect_eq(top[0].count, 7);
    cr_expect_str_eq(top[0].example, "/var/www/site/b.php");
    cr_expect_str_eq(top[0].comm, "node");
    cr_expect_str_eq(top[1].key, "cron.service");
    cr_expect_eq(top[1].count, 5);
    cr_expect_eq(top[1].first_realtime_usec, 1);
    cr_expect_str_eq(top[2].key, "session-3.scope");
    cr_expect_eq(top[2].unit_kind, WRITER_UNIT_SESSION);
    cr_expect_eq(writer_rank_evicted(wr), 0);

    /* a fourth writer: the least recently seen (cron.service) goes */
    writer_root_write(wr, &agent, "/var/www/site/b2.php", t += SEC, 4);
    writer_root_write(wr, &shell, "/var/www/site/c2.php", t += SEC, 5);
    writer_root_write(wr, &nounit, "/var/www/site/d.php", t += SEC, 6);
    cr_expect_eq(writer_rank_evicted(wr), 1);
    cr_expect_eq(writer_rank_count(wr), 3);
    n = writer_ranking(wr, top, 8);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        cr_expect_str_neq(top[i].key, "cron.service");
    cr_expect_str_eq(top[2].key, "cp", "no unit: ranked by its comm");
    cr_expect_eq(writer_ranking(wr, top, 1), 1, "at most MAX rows");

    /* an exited writer (pid only) is ranked as unknown; no writer (pid 0) is not ranked */
    struct writer_info gone = {.pid = 55}, none = {0};
    snprintf(gone.comm, sizeof(gone.comm), "unknown");
    writer_root_write(wr, &none, "/var/www/site/e.php", t += SEC, 7);
    cr_expect_eq(writer_rank_evicted(wr), 1);
    writer_root_write(wr, &gone, "/var/www/site/e.php", t += SEC, 7);
    cr_expect_eq(writer_rank_evicted(wr), 2);
    n = writer_ranking(wr, top, 8);
    bool unknown = false;
    for (size_t i = 0; i < n; i++)
        unknown = unknown || strcmp(top[i].key, "unknown") == 0;
    cr_expect(unknown);
    writer_free(wr);
}

Test(writer, root_writer_one_finding_for_100_writes_closed_after_the_quiet_period)
{
    struct seen s = {0};
    struct writer_opts o = {.threshold = 10, .window_usec = 600 * SEC, .quiet_usec = 3600 * SEC};
    struct writer *wr = writer_new(&o, on_finding, &s);
    struct writer_info cron = fake("cron.service", 0, "php");
    uint64_t t = 5000 * SEC;
    for (int i = 0; i < 9; i++)
        writer_root_write(wr, &cron, "/var/www/site/x.php", t += SEC, 1);
    cr_expect_eq(s.opened, 0, "9 writes: below the threshold");
    for (int i = 0; i < 91; i++)
        writer_root_write(wr, &cron, "/var/www/site/x.php", t += SEC, 1);
    cr_expect_eq(s.opened, 1, "100 root files from one unit: exactly one root_writer");
    cr_expect_str_eq(s.last_key, "cron.service");
    cr_expect_eq(s.last_count, 10, "opened at the 10th write");
    cr_expect(strstr(s.message, "unit cron.service (user root, uid 0) keeps writing root-owned "
                                "files: 10 within 10m"),
              "%s", s.message);
    cr_expect(strstr(s.message, "e.g. /var/www/site/x.php"), "%s", s.message);
    cr_expect_eq(writer_open_count(wr), 1);
    cr_expect_eq(writer_findings_opened(wr), 1);

    /* open until quiet for an hour after the last write */
    cr_expect_eq(writer_expire(wr, t + 3599 * SEC), t + 3600 * SEC);
    cr_expect_eq(s.closed, 0);
    cr_expect_eq(writer_expire(wr, t + 3600 * SEC), 0);
    cr_expect_eq(s.closed, 1);
    cr_expect(strstr(s.message, "none for 1h (100 in all)"), "%s", s.message);
    cr_expect_eq(writer_open_count(wr), 0);

    /* after closing, it takes the threshold again */
    t += 4000 * SEC;
    for (int i = 0; i < 9; i++)
        writer_root_write(wr, &cron, "/var/www/site/y.php", t += SEC, 1);
    cr_expect_eq(s.opened, 1);
    writer_root_write(wr, &cron, "/var/www/site/y.php", t += SEC, 1);
    cr_expect_eq(s.opened, 2);
    writer_free(wr);
}

Test(writer, root_writer_needs_the_threshold_within_the_window_and_a_name)
{
    struct seen s = {0};
    struct writer_opts o = {.threshold = 10, .window_usec = 600 * SEC};
    struct writer *wr = writer_new(&o, on_finding, &s);
    struct writer_info slow = fake("backup.service", 0, "tar");
    uint64_t t = 0;
    for (int i = 0; i < 100; i++) /* one every 70 s: 10 span 630 s > 10 min */
        writer_root_write(wr, &slow, "/var/www/site/z", t += 70 * SEC, 1);
    cr_expect_eq(s.opened, 0);
    struct writer_info gone = {.pid = 9};
    snprintf(gone.comm, sizeof(gone.comm), "unknown");
    for (int i = 0; i < 100; i++)
        writer_root_write(wr, &gone, "/var/www/site/z", t += SEC, 1);
    cr_expect_eq(s.opened, 0, "an unknown writer gets no root_writer finding");
    struct writer_info nounit = fake(NULL, 0, "rsync");
    for (int i = 0; i < 10; i++)
        writer_root_write(wr, &nounit, "/var/www/site/z", t += SEC, 1);
    cr_expect_eq(s.opened, 1, "no systemd: the command is named");
    cr_expect(strstr(s.message, "command rsync (user root, uid 0) keeps writing"), "%s", s.message);
    writer_free(wr);
    struct writer_opts bad = {.threshold = WRITER_THRESHOLD_MAX + 1};
    cr_expect_null(writer_new(&bad, NULL, NULL));
}

Test(writer, an_open_finding_evicted_at_the_bound_is_closed)
{
    struct seen s = {0};
    struct writer_opts o = {.rank_max = 2, .threshold = 2};
    struct writer *wr = writer_new(&o, on_finding, &s);
    struct writer_info a = fake("a.service", 0, "a"), b = fake("b.service", 0, "b"),
                       c = fake("c.service", 0, "c");
    uint64_t t = 0;
    writer_root_write(wr, &a, "/s/1", t += SEC, 1);
    writer_root_write(wr, &a, "/s/1", t += SEC, 1);
    writer_root_write(wr, &b, "/s/2", t += SEC, 1);
    writer_root_write(wr, &b, "/s/2", t += SEC, 1);
    cr_expect_eq(s.opened, 2);
    writer_root_write(wr, &c, "/s/3", t += SEC, 1); /* both open: the older (a) goes */
    cr_expect_eq(s.closed, 1);
    cr_expect_str_eq(s.last_key, "a.service");
    cr_expect_eq(writer_open_count(wr), 1);
    cr_expect_eq(writer_rank_evicted(wr), 1);
    writer_free(wr);
}
