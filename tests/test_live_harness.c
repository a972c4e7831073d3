/* test_live_harness: the live-test harness (harness_live.c) and helper_watch_limit, proven on
 * stand-ins before the daemon's tests rely on them. Runs inside tests/journald-ns.sh.
 *
 * The main stand-in is this binary re-executed (/proc/self/exe) with PERMWATCH_FAKE set: a
 * constructor then speaks the daemon's protocol (sd_notify, journal entries, SIGHUP, SIGTERM)
 * and exits before Criterion starts. The others are systemd-notify, systemd-cat and logger. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"

#define WAIT_MS 5000

/* ---- stand-ins ---------------------------------------------------------------------------- */

/* One journal entry as the daemon writes them. */
static void fake_log(const char *event, const char *path)
{
    sd_journal_send("MESSAGE=stand-in %s", event, "PRIORITY=6", "SYSLOG_IDENTIFIER=permwatchd",
                    "PERMWATCH_EVENT=%s", event, "PERMWATCH_PATH=%s", path, NULL);
}

/* The daemon's protocol: STATUS, started, READY; WATCHDOG=1 at half $WATCHDOG_USEC; SIGHUP:
 * RELOADING=1 + MONOTONIC_USEC, reloaded, READY=1; SIGTERM: STOPPING=1, stopping, exit 0.
 * SIGUSR1: a finding entry, then STATUS=logged. STUBBORN ignores SIGTERM. */
__attribute__((noreturn)) static void fake_daemon(bool stubborn)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    if (stubborn)
        signal(SIGTERM, SIG_IGN);
    else
        sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sd_notify(0, "STATUS=crawling");
    fake_log("started", "/srv/new\nline.php");
    sd_notify(0, "READY=1\nSTATUS=watching");
    uint64_t wd = 0;
    if (sd_watchdog_enabled(0, &wd) <= 0)
        wd = 0;
    for (;;) {
        struct timespec ts = {.tv_sec = 3600};
        if (wd)
            ts = (struct timespec){.tv_sec = (time_t)(wd / 2 / 1000000),
                                   .tv_nsec = (long)(wd / 2 % 1000000 * 1000)};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig < 0) {
            if (errno == EAGAIN && wd)
                sd_notify(0, "WATCHDOG=1");
        } else if (sig == SIGHUP) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                       (unsigned long long)now.tv_sec * 1000000ULL +
                           (unsigned long long)now.tv_nsec / 1000);
            fake_log("reloaded", "/srv");
            sd_notify(0, "READY=1\nSTATUS=reloaded");
        } else if (sig == SIGUSR1) {
            fake_log("finding", "/srv/usr1");
            sd_notify(0, "STATUS=logged");
        } else {
            sd_notify(0, "STOPPING=1\nSTATUS=stopping");
            fake_log("stopping", "/srv");
            exit(0);
        }
    }
}

/* Under helper_watch_limit: report through STATUS= the owner of $PERMWATCH_FAKE_FILE, how
 * many of $PERMWATCH_FAKE_DIR/d0..d63 could be watched, the errno that stopped it, and the
 * namespace's user.max_inotify_watches; READY=1; exit 0 on SIGTERM. */
__attribute__((noreturn)) static void fake_inotify(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    const char *dir = getenv("PERMWATCH_FAKE_DIR"), *file = getenv("PERMWATCH_FAKE_FILE");
    struct stat st = {.st_uid = (uid_t)-1};
    stat(file ? file : "/", &st);
    int in = inotify_init1(IN_CLOEXEC), n = 0, err = 0;
    for (int i = 0; i < 64 && dir; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/d%d", dir, i);
        if (inotify_add_watch(in, p, IN_ATTRIB) < 0) {
            err = errno;
            break;
        }
        n++;
    }
    char limit[32] = "?";
    FILE *f = fopen("/proc/sys/user/max_inotify_watches", "r");
    if (f) {
        if (!fgets(limit, sizeof(limit), f))
            strcpy(limit, "?");
        limit[strcspn(limit, "\n")] = '\0';
        fclose(f);
    }
    sd_notifyf(0, "READY=1\nSTATUS=owner=%d watches=%d errno=%d limit=%s", (int)st.st_uid, n, err,
               limit);
    int sig;
    sigwait(&set, &sig);
    close(in);
    exit(0);
}

/* PERMWATCH_FAKE=daemon|stubborn|inotify: be that stand-in instead of running the tests. */
__attribute__((constructor)) static void stand_in(void)
{
    const char *mode = getenv("PERMWATCH_FAKE");
    if (!mode)
        return;
    if (strcmp(mode, "inotify") == 0)
        fake_inotify();
    fake_daemon(strcmp(mode, "stubborn") == 0);
}

/* ---- fixtures ----------------------------------------------------------------------------- */

static struct live *L;
static char *T;
static char self_exe[PATH_MAX];

static void setup(void)
{
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    cr_assert(n > 0);
    self_exe[n] = '\0';
}

static void teardown(void)
{
    live_free(L);
    L = NULL;
    if (T) {
        harness_rmtree(T);
        free(T);
        T = NULL;
    }
}

TestSuite(live_harness, .init = setup, .fini = teardown);

/* Fail with the harness's dump when COND is false. */
#define live_assert(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            live_dump(L);                                                                          \
            cr_assert_fail(__VA_ARGS__);                                                           \
        }                                                                                          \
    } while (0)

/* A sysctl file's value. */
static unsigned long read_sysctl(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s: %s", path, strerror(errno));
    unsigned long v = 0;
    cr_assert(fscanf(f, "%lu", &v) == 1);
    fclose(f);
    return v;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* The daemon's protocol, end to end: STATUS before READY, the sender's pid, an entry logged
 * right at exec (no follow race) matched on a binary field, watchdog pings and their pacing,
 * RELOADING before the second READY, the live_sync barrier, STOPPING and the last entry
 * after live_stop. */
Test(live_harness, protocol_of_a_stand_in)
{
    const char *argv[] = {self_exe, NULL}, *env[] = {"PERMWATCH_FAKE=daemon", NULL};
    struct live_opts o = {.argv = argv, .env = env, .watchdog_usec = 200000};
    L = live_start(NULL, &o);
    live_assert(live_wait_notify(L, "READY=1", WAIT_MS), "no READY=1");
    ssize_t st = live_notify_index(L, "STATUS=", 0), rd = live_notify_index(L, "READY=1", 0);
    live_assert(st >= 0 && st < rd, "STATUS= at %zd, READY=1 at %zd", st, rd);
    cr_assert_eq(live_notify_at(L, (size_t)rd)->pid, live_pid(L));
    cr_assert_str_eq(live_notify_status(L), "watching");

    json_t *e = live_wait_entry(L, WAIT_MS, "PERMWATCH_EVENT", "started", "PERMWATCH_PATH",
                                "/srv/new\nline.php", NULL);
    live_assert(e, "no started entry");
    char pid[24];
    snprintf(pid, sizeof(pid), "%d", (int)live_pid(L));
    cr_assert_str_eq(live_field(e, "_PID"), pid);
    cr_assert_null(
        live_wait_entry(L, 0, "PERMWATCH_EVENT", "started", "PERMWATCH_PATH", "/srv/new", NULL));

    live_assert(live_wait_notify_count(L, "WATCHDOG=1", 3, WAIT_MS), "fewer than 3 pings");
    const struct live_notify *w1 = live_notify_at(L, (size_t)live_notify_index(L, "WATCHDOG=1", 1)),
                             *w2 = live_notify_at(L, (size_t)live_notify_index(L, "WATCHDOG=1", 2));
    uint64_t gap = w2->mono_usec - w1->mono_usec;
    cr_assert(gap >= 50000 && gap < 1000000, "pings %llu us apart, want about 100 ms",
              (unsigned long long)gap);

    live_signal(L, SIGHUP);
    live_assert(live_wait_notify_count(L, "READY=1", 2, WAIT_MS), "no READY=1 after SIGHUP");
    ssize_t rl = live_notify_index(L, "RELOADING=1", 0), rd2 = live_notify_index(L, "READY=1", 1);
    live_assert(rl >= 0 && rl < rd2, "RELOADING=1 at %zd, second READY=1 at %zd", rl, rd2);
    cr_assert(strstr(live_notify_at(L, (size_t)rl)->text, "\nMONOTONIC_USEC="));
    live_assert(live_wait_entry(L, WAIT_MS, "PERMWATCH_EVENT", "reloaded", NULL), "no reload");

    /* the barrier: an entry sent before the datagram we saw is stored once live_sync returns */
    live_signal(L, SIGUSR1);
    live_assert(live_wait_notify(L, "STATUS=logged", WAIT_MS), "no STATUS=logged");
    live_assert(live_sync(L, WAIT_MS), "journal barrier timed out");
    cr_assert_eq(
        live_count_entries(L, "PERMWATCH_EVENT", "finding", "PERMWATCH_PATH", "/srv/usr1", NULL),
        1);
    live_settle(L, 100);
    cr_assert_eq(live_count_entries(L, "PERMWATCH_EVENT", "started", NULL), 1);

    cr_assert_eq(live_stop(L), 0);
    cr_assert_eq(live_notify_count(L, "STOPPING=1"), 1);
    cr_assert_eq(live_count_entries(L, "PERMWATCH_EVENT", "stopping", NULL), 1);
    cr_assert_eq(live_count_entries(L, "SYSLOG_IDENTIFIER", "permwatchd", NULL), 4);
    cr_assert_eq(json_array_size(live_entries(L)), 4);
    cr_assert_eq(live_stop(L), 0, "live_stop is idempotent");
}

/* systemd-notify from a shell that is the "daemon": its datagram carries the shell's pid (it
 * speaks for its parent), its BARRIER=1 is answered (it returns at once and the shell goes on
 * to exec sleep). Datagrams of other processes are kept but never count as the daemon's. */
Test(live_harness, systemd_notify_and_other_senders)
{
    const char *argv[] = {
        "/bin/sh", "-c", "systemd-notify --ready --status='from the shell' && exec sleep 60", NULL};
    struct live_opts o = {.argv = argv};
    L = live_start(NULL, &o);
    live_assert(live_wait_notify(L, "READY=1", WAIT_MS), "no READY=1");
    cr_assert_str_eq(live_notify_status(L), "from the shell");

    char comm_path[64], comm[32] = "";
    snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", (int)live_pid(L));
    for (int i = 0; i < 300 && strcmp(comm, "sleep\n") != 0; i++) {
        live_pump(L, 10);
        FILE *f = fopen(comm_path, "r");
        if (f) {
            if (!fgets(comm, sizeof(comm), f))
                comm[0] = '\0';
            fclose(f);
        }
    }
    live_assert(strcmp(comm, "sleep\n") == 0, "systemd-notify still waits for its barrier");

    size_t before = live_notify_total(L);
    struct run_result r;
    cr_assert(harness_sh(&r,
                         "NOTIFY_SOCKET='%s/notify.sock' systemd-notify --no-block "
                         "STATUS=foreign",
                         live_dir(L)) == 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    for (int i = 0; i < 100 && live_notify_total(L) == before; i++)
        live_pump(L, 50);
    live_assert(live_notify_total(L) == before + 1, "the other sender's datagram is missing");
    cr_assert_neq(live_notify_at(L, before)->pid, live_pid(L));
    cr_assert_str_eq(live_notify_at(L, before)->text, "STATUS=foreign");
    cr_assert_str_eq(live_notify_status(L), "from the shell");
    cr_assert_eq(live_notify_count(L, "STATUS="), 1);

    cr_assert_eq(live_stop(L), 128 + SIGTERM);
}

/* The journal side with systemd-cat as the "daemon": its one line, written at once, arrives
 * although the journal's last entry before the start is someone else's (journalctl's
 * --after-cursor would skip it on a foreign cursor); an entry with the same identifier from
 * another process (logger) is not the daemon's. */
Test(live_harness, journal_entries_of_the_daemon_only)
{
    struct run_result r;
    cr_assert(harness_sh(&r, "printf 'SYSLOG_IDENTIFIER=someone-else\\nMESSAGE=before\\n' | "
                             "logger --journald && journalctl --sync") == 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    const char *argv[] = {"systemd-cat", "-t", "permwatchd",
                          "/bin/sh",     "-c", "echo hello from the stand-in; exec sleep 60",
                          NULL};
    struct live_opts o = {.argv = argv};
    L = live_start(NULL, &o);
    json_t *e = live_wait_entry(L, WAIT_MS, "MESSAGE", "hello from the stand-in", NULL);
    live_assert(e, "no entry from systemd-cat");
    cr_assert_str_eq(live_field(e, "SYSLOG_IDENTIFIER"), "permwatchd");

    cr_assert(harness_sh(&r, "printf 'SYSLOG_IDENTIFIER=permwatchd\\nMESSAGE=foreign\\n"
                             "PERMWATCH_EVENT=finding\\n' | logger --journald") == 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    live_assert(live_sync(L, WAIT_MS), "journal barrier timed out");
    cr_assert_eq(live_count_entries(L, "MESSAGE", "foreign", NULL), 0);
    cr_assert_eq(live_count_entries(L, "PERMWATCH_EVENT", "finding", NULL), 0);
    cr_assert_eq(json_array_size(live_entries(L)), 1);
    cr_assert_eq(live_stop(L), 128 + SIGTERM);
}

/* A daemon that ignores SIGTERM is killed after stop_timeout_ms and live_stop says -1. */
Test(live_harness, stop_kills_a_stubborn_daemon)
{
    const char *argv[] = {self_exe, NULL}, *env[] = {"PERMWATCH_FAKE=stubborn", NULL};
    struct live_opts o = {.argv = argv, .env = env, .stop_timeout_ms = 300};
    L = live_start(NULL, &o);
    live_assert(live_wait_notify(L, "READY=1", WAIT_MS), "no READY=1");
    pid_t pid = live_pid(L);
    cr_assert_eq(live_stop(L), -1);
    cr_assert(kill(pid, 0) < 0 && errno == ESRCH, "pid %d is still there", (int)pid);
    cr_assert_eq(live_notify_count(L, "STOPPING=1"), 0);
}

/* A daemon that dies at start: waits give up at once instead of running out their time,
 * live_stop returns its exit code, live_stderr has what it said. */
Test(live_harness, early_exit_is_noticed)
{
    const char *argv[] = {"/bin/sh", "-c", "echo cannot start >&2; exit 3", NULL};
    struct live_opts o = {.argv = argv};
    L = live_start(NULL, &o);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_not(live_wait_notify(L, "READY=1", 20000));
    cr_assert_null(live_wait_entry(L, 20000, "PERMWATCH_EVENT", "started", NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    cr_assert_lt(b.tv_sec - a.tv_sec, 10, "waited for a dead daemon");
    cr_assert_not(live_running(L));
    cr_assert_eq(live_stop(L), 3);
    char *err = live_stderr(L);
    cr_assert_str_eq(err, "cannot start\n");
    free(err);
}

/* helper_watch_limit as the wrapper: the daemon keeps the pid the harness started, gets
 * ENOSPC after N watches, sees www-data's files as uid 33, and the host's limit never moves. */
Test(live_harness, watch_limit_wrapper)
{
    const char *host_limit = "/proc/sys/user/max_inotify_watches";
    unsigned long before = read_sysctl(host_limit);
    T = harness_tempdir("watchlimit");
    char p[PATH_MAX];
    for (int i = 0; i < 20; i++) {
        snprintf(p, sizeof(p), "%s/d%d", T, i);
        cr_assert(mkdir(p, 0755) == 0);
    }
    snprintf(p, sizeof(p), "%s/d0", T);
    cr_assert(chown(p, harness_uid("www-data"), harness_gid("www-data")) == 0);

    char helper[PATH_MAX], dir_env[PATH_MAX + 32], file_env[PATH_MAX + 32];
    harness_build_path("tests/helper_watch_limit", helper, sizeof(helper));
    snprintf(dir_env, sizeof(dir_env), "PERMWATCH_FAKE_DIR=%s", T);
    snprintf(file_env, sizeof(file_env), "PERMWATCH_FAKE_FILE=%s", p);
    const char *argv[] = {self_exe, NULL}, *wrap[] = {helper, "8", NULL},
               *env[] = {"PERMWATCH_FAKE=inotify", dir_env, file_env, NULL};
    struct live_opts o = {.argv = argv, .env = env, .wrapper = wrap};
    L = live_start(NULL, &o);
    live_assert(live_wait_notify(L, "READY=1", WAIT_MS), "no READY=1 from the daemon's pid");
    char want[128];
    snprintf(want, sizeof(want), "owner=%d watches=8 errno=%d limit=8",
             (int)harness_uid("www-data"), ENOSPC);
    cr_assert_str_eq(live_notify_status(L), want);
    cr_assert_eq(read_sysctl(host_limit), before, "the host's limit changed");
    cr_assert_eq(live_stop(L), 0);
    cr_assert_eq(read_sysctl(host_limit), before, "the host's limit changed");
}

/* fs.inotify.max_queued_events: lowered, copied into an instance at inotify_init (which then
 * overflows at that size although the value is back), restored; and restored by the guardian
 * when the process that lowered it is SIGKILLed. One test: the sysctl is global. */
Test(live_harness, queued_events_lowered_and_restored)
{
    const char *path = "/proc/sys/fs/inotify/max_queued_events";
    unsigned old;
    cr_assert_eq(live_queued_events_set(32, &old), 0, "%s", strerror(errno));
    cr_assert_eq(read_sysctl(path), 32);
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    cr_assert(in >= 0);
    cr_assert_eq(live_queued_events_restore(old), 0);
    cr_assert_eq(read_sysctl(path), old);

    T = harness_tempdir("queued");
    cr_assert(inotify_add_watch(in, T, IN_CREATE) >= 0);
    char p[PATH_MAX];
    for (int i = 0; i < 100; i++) {
        snprintf(p, sizeof(p), "%s/f%d", T, i);
        harness_write_file(p, "");
    }
    char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n = read(in, buf, sizeof(buf));
    cr_assert(n > 0);
    size_t events = 0;
    bool overflow = false;
    for (char *q = buf; q < buf + n;) {
        struct inotify_event *ev = (struct inotify_event *)q;
        overflow |= (ev->mask & IN_Q_OVERFLOW) != 0;
        events++;
        q += sizeof(*ev) + ev->len;
    }
    close(in);
    cr_assert(overflow && events <= 33, "%zu events, overflow %d", events, overflow);

    int pfd[2];
    cr_assert(pipe(pfd) == 0);
    pid_t c = fork();
    cr_assert(c >= 0);
    if (c == 0) {
        unsigned o2;
        if (live_queued_events_set(16, &o2) < 0 || write(pfd[1], &o2, sizeof(o2)) < 0)
            _exit(1);
        kill(getpid(), SIGKILL);
        _exit(2);
    }
    close(pfd[1]);
    unsigned child_old = 0;
    cr_assert_eq(read(pfd[0], &child_old, sizeof(child_old)), (ssize_t)sizeof(child_old));
    close(pfd[0]);
    int st;
    cr_assert_eq(waitpid(c, &st, 0), c);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    for (int i = 0; i < 300 && read_sysctl(path) != child_old; i++)
        usleep(10000);
    cr_assert_eq(read_sysctl(path), child_old, "the guardian did not restore %u", child_old);
}

/* live_as_user: uid, primary group and supplementary groups of the user. */
Test(live_harness, as_user)
{
    T = harness_tempdir("asuser");
    cr_assert(chmod(T, 0777) == 0);
    char cmd[PATH_MAX * 2], p[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "id -u > '%s/id' && touch '%s/f'", T, T);
    cr_assert_eq(live_as_user("www-data", cmd), 0);
    struct stat st;
    snprintf(p, sizeof(p), "%s/f", T);
    cr_assert(stat(p, &st) == 0);
    cr_assert_eq(st.st_uid, harness_uid("www-data"));
    cr_assert_eq(st.st_gid, harness_gid("www-data"));
    cr_assert_eq(live_as_user("opencode", "id -nG | tr ' ' '\\n' | grep -qx www-data"), 0,
                 "opencode's supplementary group www-data is missing");
    cr_assert_eq(live_as_user("www-data", "exit 3"), 3);
    cr_assert_eq(live_as_user("no-such-user-here", "true"), -1);
}
