/* test_live_journald_stall: journald SIGSTOPped for 10 s under the live daemon (issue 9, held
 * case). This binary runs inside tests/journald-ns.sh and holds this one test only: stopping
 * the private journald would stall any other test sharing it. Only that journald
 * ($JOURNALD_PID, never the host's) is stopped; a guardian process continues it when the
 * test process goes away however it ends, and at the latest STALL_MS + 20 s after the stop.
 *
 * While journald is stopped, root creates files in the site; the daemon must keep detecting
 * (permwatchctl status counts them), keep answering, and keep pinging the watchdog
 * (WATCHDOG_USEC = 200 ms, pings every 100 ms: no gap over 500 ms as the harness receives
 * them); once journald continues, every finding reaches the journal exactly once and none
 * was dropped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

#define STALL_MS      10000
#define BURST         2000 /* files created right after the stop */
#define TRICKLE_EVERY 500  /* ms between the later files */
#define WATCHDOG_USEC 200000
#define MAX_GAP_USEC  500000

static uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A process that sends SIGCONT to JOURNALD once the returned descriptor's peer (kept by the
 * test, close-on-exec) is closed, i.e. when the test process exits, or after LIMIT_MS. */
static int guardian(pid_t journald, int limit_ms, pid_t *pid)
{
    int p[2];
    cr_assert(pipe2(p, O_CLOEXEC) == 0);
    pid_t g = fork();
    cr_assert(g >= 0);
    if (g == 0) {
        close(p[1]);
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        while (poll(&pfd, 1, limit_ms) < 0 && errno == EINTR)
            ;
        kill(journald, SIGCONT);
        _exit(0);
    }
    close(p[0]);
    *pid = g;
    return p[1];
}

/* Run `permwatchctl -s SOCK ARGS` and return its stdout (malloc'd), pumping D meanwhile: the
 * daemon's watchdog pings must not pile up unread on the harness's notify socket (sd_notify
 * blocks the sender once the receiver's queue, net.unix.max_dgram_qlen, is full). */
static char *ctl_out(struct live *d, const char *ctl, const char *sock, const char *args)
{
    char out[PATH_MAX];
    snprintf(out, sizeof(out), "%s/ctl.out", live_dir(d));
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0)
            _exit(127);
        char cmd[2 * PATH_MAX];
        snprintf(cmd, sizeof(cmd), "exec '%s' -s '%s' %s", ctl, sock, args);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0)
        live_pump(d, 5);
    cr_assert_eq(w, pid);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "cat '%s'", out), 0);
    char *text = r.out;
    r.out = NULL;
    run_result_free(&r);
    return text;
}

/* `permwatchctl --json status` field NAME as an integer, -1 when missing. */
static long long status_field(struct live *d, const char *ctl, const char *sock, const char *name)
{
    char *out = ctl_out(d, ctl, sock, "--json status");
    json_error_t jerr;
    json_t *row = json_loads(out, JSON_DECODE_ANY, &jerr);
    cr_assert(json_is_object(row), "status: %s", out);
    const json_t *v = json_object_get(row, name);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(row);
    free(out);
    return n;
}

static void create_root_files(const char *dir, size_t from, size_t to)
{
    char path[PATH_MAX];
    for (size_t i = from; i < to; i++) {
        snprintf(path, sizeof(path), "%s/root-%05zu.php", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
        close(fd);
    }
}

Test(live_journald_stall, stopped_journald_blocks_nothing)
{
    const char *jp = getenv("JOURNALD_PID");
    cr_assert(jp && atoi(jp) > 1, "runs inside tests/journald-ns.sh");
    pid_t journald = (pid_t)atoi(jp);
    struct site st;
    site_init(&st, "live-stall");
    const char *site = st.root, *sock = st.sock, *ctl = st.ctl;
    char up[PATH_MAX / 2];
    snprintf(up, sizeof(up), "%s/wp-content/uploads", site);
    site_sh("set -e; umask 002; mkdir -p '%s'; chown -R www-data:www-data '%s'", up, site);
    site_policy(&st,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 0\n[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\n",
                site, sock);
    struct live_opts o = {.watchdog_usec = WATCHDOG_USEC};
    site_start(&st, &o, 20000);
    struct live *d = st.d;
    cr_assert(live_sync(d, 10000));

    /* the stall */
    pid_t gpid;
    int keep = guardian(journald, STALL_MS + 20000, &gpid);
    cr_assert(kill(journald, SIGSTOP) == 0, "SIGSTOP journald %d: %s", (int)journald,
              strerror(errno));
    uint64_t t_stop = now_usec(), stop_index = live_notify_total(d);
    size_t made = 0;
    /* the burst, in slices, pumping in between so that ping arrival times stay accurate */
    while (made < BURST) {
        create_root_files(up, made, made + 100);
        made += 100;
        live_pump(d, 0);
    }
    uint64_t t_burst = now_usec();
    long long seen_burst = -1;
    uint64_t next = now_usec(), status_max_usec = 0;
    int status_calls = 0;
    while (now_usec() - t_stop < (uint64_t)STALL_MS * 1000) {
        if (now_usec() >= next) {
            create_root_files(up, made, made + 1);
            made++;
            uint64_t t = now_usec();
            long long n = status_field(d, ctl, sock, "root_owned");
            t = now_usec() - t;
            status_max_usec = t > status_max_usec ? t : status_max_usec;
            status_calls++;
            if (seen_burst < 0 && n >= BURST)
                seen_burst = (long long)(now_usec() - t_burst) / 1000;
            next += TRICKLE_EVERY * 1000;
        }
        live_pump(d, 20);
    }
    /* every file created so far was detected while journald was stopped */
    live_pump(d, 200);
    long long detected = status_field(d, ctl, sock, "root_owned");
    cr_assert(live_running(d), "the daemon died during the stall");
    uint64_t t_cont = now_usec();
    cr_assert(kill(journald, SIGCONT) == 0);
    close(keep);
    while (waitpid(gpid, NULL, 0) < 0 && errno == EINTR)
        ;
    cr_expect_eq(detected, (long long)made, "detected %lld of %zu during the stall", detected,
                 made);

    /* watchdog pings received during the stall */
    uint64_t prev = 0, max_gap = 0;
    size_t pings = 0;
    pid_t dpid = live_pid(d);
    for (size_t i = stop_index; i < live_notify_total(d); i++) {
        const struct live_notify *n = live_notify_at(d, i);
        if (n->pid != dpid || !strstr(n->text, "WATCHDOG=1") || n->mono_usec > t_cont)
            continue;
        uint64_t since = prev ? prev : t_stop;
        if (n->mono_usec - since > max_gap)
            max_gap = n->mono_usec - since;
        prev = n->mono_usec;
        pings++;
    }
    if (prev && t_cont - prev > max_gap)
        max_gap = t_cont - prev;

    /* journald back: every finding arrives once, nothing dropped */
    json_t *last = live_wait_nth_entry(d, made - 1, 30000, "PERMWATCH_EVENT", "finding",
                                       "PERMWATCH_FINDING", "root_owned", NULL);
    uint64_t t_all = now_usec();
    if (!last)
        live_dump(d);
    cr_assert_not_null(last, "not every finding reached the journal");
    cr_assert(live_sync(d, 10000));
    size_t logged = live_count_entries(d, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                       "root_owned", NULL);
    cr_expect_eq(logged, made, "%zu findings logged for %zu files", logged, made);
    cr_expect_eq(live_count_entries(d, "PERMWATCH_EVENT", "suppressed", NULL), 0,
                 "nothing dropped or suppressed");
    char *metrics = ctl_out(d, ctl, sock, "metrics");
    cr_expect(strstr(metrics, "permwatch_journal_dropped_total 0\n"), "%s", metrics);
    free(metrics);

    fprintf(stderr,
            "live_journald_stall: journald stopped %.1f s; %zu root files created, %lld "
            "detected meanwhile (the %d-file burst, made in %.0f ms, counted by status %lld ms "
            "after it); %zu watchdog pings, largest gap %.0f ms; %d status calls, slowest %.0f "
            "ms; all %zu findings in the journal %.2f s after SIGCONT\n",
            (double)(t_cont - t_stop) / 1e6, made, detected, BURST,
            (double)(t_burst - t_stop) / 1e3, seen_burst, pings, (double)max_gap / 1e3,
            status_calls, (double)status_max_usec / 1e3, logged, (double)(t_all - t_cont) / 1e6);
    cr_expect_geq(pings, (size_t)(STALL_MS * 1000 / (WATCHDOG_USEC / 2)) * 8 / 10,
                  "%zu pings in %d ms", pings, STALL_MS);
    cr_expect_leq(max_gap, MAX_GAP_USEC, "watchdog gap %.0f ms during the stall",
                  (double)max_gap / 1e3);
    cr_expect_geq(seen_burst, 0, "the burst was never counted during the stall");
    site_stop(&st);
    site_free(&st);
}
