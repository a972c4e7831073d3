/* test_log: names and ids, --log-target, stderr lines, errno, the journal catalog, and entries
 * as a real, private systemd-journald stores them (tests/journald-ns.sh).
 *
 * The journal tests re-execute this binary (/proc/self/exe) with PERMWATCH_LOG_EMIT set: a
 * constructor then emits a fixed sequence of entries with log_finding/log_event (or, for the
 * queue's tests, numbered entries against a stalled, stopped or absent journald), flushes and
 * exits before Criterion starts. The test reads the journal back with journalctl -o json. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"

#define LONG_LEN  100000 /* longer than log.c's cap */
#define VALUE_CAP 65535  /* log.c cuts MESSAGE and values here */

static const char *const finding_ids[FINDING_KIND_COUNT] = {
    "2cea1fd3b1d84c1fa4e5e752bf984b24", "ea738936611542ebaef4fb7870482730",
    "75dfc9d451584b46990ee62803954bad", "59cd277557044231a1f6c11d6d389de8",
    "73a06841d8754944b08b6be97eef84e5", "e4d4ab9488c14cbaa070477079c94e27",
    "24441a04fde1479bbd95ee8b202662b3", "902065edd8f2441c8d2949d308b0e3d2",
    "7690c02abebb4d2e98d7fb6b769d6eb1", "a7f7f2785f324b84b7ded4015d81a732",
    "5937448f72fc4d3184d48965730c743e",
};

static const char *const event_ids[LOG_EVENT_COUNT] = {
    [LOG_EVENT_RESOLVED] = "191592bc8da641209643a1f5121d9a49",
    [LOG_EVENT_REPAIRED] = "9fbffdcc90cf49d695750194dac439b9",
    [LOG_EVENT_REPAIR_REFUSED] = "b46f4a3f647440d5b0ce606cd890a499",
    [LOG_EVENT_OVERFLOW] = "e57893b02cb0461b933dbfe57e29333d",
    [LOG_EVENT_DEGRADED] = "ccafe467258e49b494d074effbd9f512",
    [LOG_EVENT_SUPPRESSED] = "a92d58df1d654e11abdd6415f291dbfe",
    [LOG_EVENT_STARTED] = "c5073b5c722142a0b3fc6f3ac8a00556",
    [LOG_EVENT_RELOADED] = "93cab62089c6477a9584886a10551f95",
    [LOG_EVENT_CONFIG_ERROR] = "5d66cef704d04343a1fcdb0a75811610",
    [LOG_EVENT_STOPPING] = "7d2cf9f796e14213aa97a989e46ce14e",
    [LOG_EVENT_SITE_ROOT_CHANGED] = "61626e72078b447cad071766f4bcf2a2",
    [LOG_EVENT_UNSAFE_ANCESTOR] = "7d1c2eee03964ea39b85ed66e4ef844e",
    [LOG_EVENT_MOUNT_SKIPPED] = "323356082cc84bdd9076208c17fa5794",
    [LOG_EVENT_TABLE_FULL] = "eb6536f2290c4d7a874dfddac7f96bcb",
    [LOG_EVENT_REPAIR_PENDING] = "39142fa860364193a642b734d167ddce",
    [LOG_EVENT_ROOT_WAITING] = "8eb735ab5414429cb0b0e122f61b982e",
    [LOG_EVENT_NOTICE] = "7bb35cbc849d4dc58358f189e7837921",
    [LOG_EVENT_ERROR] = "e12a34e540d14980b508f1876534268a",
    [LOG_EVENT_RELOAD_PARTIAL] = "7c5e7333702b40f6a38e135893178d25",
    [LOG_EVENT_SITE_READ_ONLY] = "220e7869ed8d4a019549d7408dda703d",
};

static const char *const event_names[LOG_EVENT_COUNT] = {
    NULL,
    "finding",
    "resolved",
    "repaired",
    "repair_refused",
    "overflow",
    "degraded",
    "suppressed",
    "started",
    "reloaded",
    "config_error",
    "stopping",
    [LOG_EVENT_SITE_ROOT_CHANGED] = "site_root_changed",
    [LOG_EVENT_UNSAFE_ANCESTOR] = "unsafe_ancestor",
    [LOG_EVENT_MOUNT_SKIPPED] = "mount_skipped",
    [LOG_EVENT_TABLE_FULL] = "table_full",
    [LOG_EVENT_REPAIR_PENDING] = "repair_pending",
    [LOG_EVENT_ROOT_WAITING] = "root_waiting",
    [LOG_EVENT_NOTICE] = "notice",
    [LOG_EVENT_ERROR] = "error",
    [LOG_EVENT_RELOAD_PARTIAL] = "reload_partial",
    [LOG_EVENT_SITE_READ_ONLY] = "site_read_only",
};

/* ---- the emitted sequence ------------------------------------------------------------- */

/* One finding of each kind. */
static struct finding sample(enum finding_kind k)
{
    struct finding f = {.kind = k, .rule = "site", .has_stat = true, .uid = 0, .gid = 0};
    f.owner = "root";
    f.group = "root";
    f.mode = 0644;
    switch (k) {
    case FINDING_ROOT_OWNED:
        f.path = "/var/www/site/wp-content/uploads/a.jpg";
        snprintf(f.expected, sizeof(f.expected), "www-data");
        snprintf(f.reason, sizeof(f.reason), "owned by uid 0 (root); rule site allows www-data");
        break;
    case FINDING_OWNER_MISMATCH:
        f.path = "/var/www/site/wp-content/plugins/x/x.php";
        f.uid = 1001;
        f.owner = NULL;
        f.gid = 33;
        f.group = "www-data";
        f.mode = 0664;
        snprintf(f.expected, sizeof(f.expected), "www-data");
        break;
    case FINDING_GROUP_MISMATCH:
        f.path = "/var/www/site/.opencode";
        f.is_dir = true;
        f.uid = f.gid = 1000;
        f.owner = f.group = "opencode";
        f.mode = 02775;
        snprintf(f.expected, sizeof(f.expected), "www-data");
        break;
    case FINDING_MODE_MISMATCH:
        f.path = "/var/www/site/index.php";
        f.uid = f.gid = 33;
        f.owner = f.group = "www-data";
        snprintf(f.expected, sizeof(f.expected), "0664");
        snprintf(f.reason, sizeof(f.reason), "missing 0020 (group write)");
        break;
    case FINDING_WEB_UNREADABLE:
        f.path = "/var/www/site/wp-content/mu-plugins/wp-coding-agents-channels.php";
        f.mode = 0600;
        snprintf(f.expected, sizeof(f.expected), "readable by www-data");
        snprintf(f.reason, sizeof(f.reason), "www-data falls in class other, which lacks r");
        break;
    case FINDING_DISPATCH_UNREACHABLE:
        f.has_stat = false;
        f.rule = NULL;
        f.path = "/root/.kimaki/bin/kimaki";
        f.channel = "kimaki";
        f.command = "/root/.kimaki/bin/kimaki";
        f.blocked_at = "/root";
        snprintf(f.reason, sizeof(f.reason), "/root is 0700: www-data may not search it");
        break;
    case FINDING_DISPATCH_INVALID:
        f.has_stat = false;
        f.rule = NULL;
        f.channel = "roadie";
        f.command = "roadie-dispatch";
        snprintf(f.reason, sizeof(f.reason), "not found in the web user's PATH");
        break;
    case FINDING_SPECIAL_FILE:
        f.path = "/var/www/site/wp-content/uploads/null";
        f.mode = 0666;
        snprintf(f.reason, sizeof(f.reason), "a character device (device 1:3)");
        break;
    case FINDING_SETID:
        f.path = "/var/www/site/wp-content/uploads/sh";
        f.mode = 04755;
        snprintf(f.reason, sizeof(f.reason), "setuid: runs with the rights of uid 0 (root)");
        break;
    case FINDING_NOT_WRITABLE:
        f.path = "/var/www/site/wp-content/plugins/a.php";
        f.mode = 0644;
        snprintf(f.expected, sizeof(f.expected), "writable by www-data, opencode");
        snprintf(f.reason, sizeof(f.reason), "www-data cannot write: class group lacks w");
        break;
    default:
        break;
    }
    return f;
}

static char *long_text(char c)
{
    char *s = malloc(LONG_LEN + 1);
    if (!s)
        abort();
    memset(s, c, LONG_LEN);
    s[LONG_LEN] = '\0';
    return s;
}

/* Entries of the sequence, in order. */
enum {
    E_FINDINGS = 0, /* FINDING_KIND_COUNT entries */
    E_RESOLVED = FINDING_KIND_COUNT,
    E_STARTED,
    E_REPAIRED,
    E_VIA_EVENT,
    E_INFO,
    E_WARN_ERRNO,
    E_ERROR_NEWLINE,
    E_ODD_PATH,
    E_LONG_FIELD,
    E_LONG_MESSAGE,
    E_EVENTS, /* one per event LOG_EVENT_RESOLVED..LOG_EVENT_STOPPING */
    E_COUNT = E_EVENTS + (LOG_EVENT_COUNT - LOG_EVENT_RESOLVED)
};

static const char odd_path[] = "/var/www/site/new\nline.php";

/* Emit the whole sequence with the current targets. */
static void emit_sequence(void)
{
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        struct finding f = sample(k);
        log_finding(LOG_EVENT_FINDING, &f);
    }
    struct finding r = sample(FINDING_ROOT_OWNED);
    log_finding(LOG_EVENT_RESOLVED, &r);
    struct log_field started[] = {{"WEB_USER", "www-data"}, {"EMPTY", ""}, {"NULLED", NULL}};
    log_event(LOG_EVENT_STARTED, LOG_INFO, started, 3, "started watching %s", "/var/www/site");
    struct log_field repaired[] = {{"PATH", "/var/www/site/a.php"},
                                   {"CALLER_UID", "0"},
                                   {"CALLER_PID", "42"},
                                   {"bad name", "dropped"},
                                   {"RULE", "site"}};
    log_event(LOG_EVENT_REPAIRED, LOG_NOTICE, repaired, 5, "repaired %s", "/var/www/site/a.php");
    struct log_field via[] = {{"FINDING", "mode_mismatch"}, {"PATH", "/x"}};
    log_event(LOG_EVENT_FINDING, LOG_WARNING, via, 2, "finding through log_event");
    log_info("plain diagnostic %d", 42);
    log_warn_errno(ENOENT, "cannot open %s", "/nonexistent");
    log_error("error with\nnewline");
    struct finding odd = sample(FINDING_ROOT_OWNED);
    odd.path = odd_path;
    log_finding(LOG_EVENT_FINDING, &odd);
    char *big = long_text('a');
    struct log_field longf[] = {{"REASON", big}};
    log_event(LOG_EVENT_DEGRADED, LOG_WARNING, longf, 1, "long field");
    log_event(LOG_EVENT_CONFIG_ERROR, LOG_ERR, NULL, 0, "%s", big);
    free(big);
    for (int ev = LOG_EVENT_RESOLVED; ev < LOG_EVENT_COUNT; ev++)
        log_event(ev, LOG_INFO, NULL, 0, "event %s", log_event_name(ev));
}

static long elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

/* Log COUNT journal entries "seq I" (each followed by PAYLOAD when not empty); *MAX_US gets the
 * slowest call. Returns the total in milliseconds. */
static long emit_numbered(const char *tag, int count, const char *payload, long *max_us)
{
    long t0 = now_us();
    *max_us = 0;
    for (int i = 0; i < count; i++) {
        long a = now_us();
        log_info("%s %d%s%s", tag, i, *payload ? " " : "", payload);
        long d = now_us() - a;
        if (d > *max_us)
            *max_us = d;
    }
    return (now_us() - t0) / 1000;
}

/* stalled:COUNT:PAYLOAD (in an empty private /run): bind the journal socket and never read it,
 * as a stalled journald; log COUNT entries of PAYLOAD bytes to the journal and time every
 * call, log_flush(100) and log_close() (twice). alarm(): a call that blocks fails the test. */
static void emit_stalled(const char *args)
{
    int count = 0, size = 0;
    if (sscanf(args, "%d:%d", &count, &size) != 2 || count <= 0 || size < 0)
        exit(97);
    alarm(20);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket"};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("stalled socket");
        exit(99);
    }
    char *payload = malloc((size_t)size + 1);
    if (!payload)
        exit(96);
    memset(payload, 'p', (size_t)size);
    payload[size] = '\0';
    log_open(LOG_TO_JOURNAL);
    errno = EXDEV;
    long max_us, total_ms = emit_numbered("seq", count, payload, &max_us);
    free(payload);
    unsigned long dropped = log_journal_dropped();
    long t = now_us();
    size_t left = log_flush(100);
    long flush_ms = (now_us() - t) / 1000;
    t = now_us();
    log_close();
    long close_ms = (now_us() - t) / 1000;
    t = now_us();
    log_close();
    long close2_ms = (now_us() - t) / 1000;
    int err = errno;
    printf("calls=%d total_ms=%ld max_us=%ld dropped=%lu failures=%lu flush_ms=%ld left=%zu "
           "close_ms=%ld close2_ms=%ld errno=%d closed_dropped=%lu\n",
           count, total_ms, max_us, dropped, log_journal_failures(), flush_ms, left, close_ms,
           close2_ms, err, log_journal_dropped());
    exit(0); /* exit runs log_close again: it must not wait for the stuck writer either */
}

/* paused:COUNT (in journald-ns.sh): stop journald (SIGSTOP), log COUNT entries "seq I",
 * continue it, flush, log "after 0".."after 9", flush. */
static void emit_paused(const char *args)
{
    int count = atoi(args);
    const char *jp = getenv("JOURNALD_PID");
    pid_t journald = jp ? (pid_t)atoi(jp) : 0;
    if (count <= 0 || journald <= 0)
        exit(97);
    alarm(30);
    log_open(LOG_TO_JOURNAL);
    if (kill(journald, SIGSTOP) < 0)
        exit(95);
    long max_us, total_ms = emit_numbered("seq", count, "", &max_us);
    unsigned long dropped = log_journal_dropped();
    if (kill(journald, SIGCONT) < 0)
        exit(94);
    size_t left = log_flush(20000);
    long ignored;
    emit_numbered("after", 10, "", &ignored);
    size_t left2 = log_flush(20000);
    log_close();
    printf("calls=%d total_ms=%ld max_us=%ld dropped=%lu left=%zu left2=%zu failures=%lu\n", count,
           total_ms, max_us, dropped, left, left2, log_journal_failures());
    exit(0);
}

/* ordered:COUNT (in journald-ns.sh): log COUNT entries "seq I" and flush. */
static void emit_ordered(const char *args)
{
    int count = atoi(args);
    if (count <= 0)
        exit(97);
    log_open(LOG_TO_JOURNAL);
    long max_us, total_ms = emit_numbered("seq", count, "", &max_us);
    size_t left = log_flush(20000);
    log_close();
    printf("calls=%d total_ms=%ld max_us=%ld dropped=%lu left=%zu failures=%lu\n", count, total_ms,
           max_us, log_journal_dropped(), left, log_journal_failures());
    exit(0);
}

/* fork (in journald-ns.sh): with journald stopped, log "parent 0..49" (the writer gets stuck,
 * entries stay queued), fork; the child logs "child 0..4" and flushes; journald continues and
 * the parent flushes. Neither process may send the other's entries. */
static void emit_fork(void)
{
    const char *jp = getenv("JOURNALD_PID");
    pid_t journald = jp ? (pid_t)atoi(jp) : 0;
    if (journald <= 0)
        exit(97);
    alarm(30);
    log_open(LOG_TO_JOURNAL);
    /* libsystemd opens its journal socket on the first send, in the writer thread, and caches
     * it; a fork() racing that socket() can copy the cache but not the descriptor (the child
     * then gets EBADF, counted in its failures). A daemon has sent entries long before it
     * forks: so does this test, then stalls journald. */
    long ignored;
    emit_numbered("warmup", 1, "", &ignored);
    if (log_flush(20000) != 0)
        exit(94);
    if (kill(journald, SIGSTOP) < 0)
        exit(95);
    emit_numbered("parent", 50, "", &ignored);
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        exit(93);
    if (child == 0) {
        emit_numbered("child", 5, "", &ignored);
        exit(log_flush(20000) == 0 ? 0 : 1);
    }
    kill(journald, SIGCONT);
    size_t left = log_flush(20000);
    int st;
    if (waitpid(child, &st, 0) != child)
        exit(92);
    log_close();
    printf("pid=%ld child=%ld status=%d left=%zu dropped=%lu failures=%lu\n", (long)getpid(),
           (long)child, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), left,
           log_journal_dropped(), log_journal_failures());
    exit(0);
}

/* Whether process PID is gone or a zombie (its sockets are closed either way). */
static bool process_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !p || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

/* Whether a datagram socket can connect to journald's socket (someone listens on it). */
static bool journal_listening(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket"};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* killed:COUNT (in journald-ns.sh): log "before 0..4" and sync; kill journald (SIGKILL); log
 * COUNT entries "seq I" and flush; start a new journald; log "after 0..9", flush, sync, and
 * stop that journald (SIGTERM, waited for). */
static void emit_killed(const char *args)
{
    int count = atoi(args);
    const char *jp = getenv("JOURNALD_PID");
    pid_t journald = jp ? (pid_t)atoi(jp) : 0;
    if (count <= 0 || journald <= 0)
        exit(97);
    alarm(60);
    log_open(LOG_TO_JOURNAL);
    long ignored;
    emit_numbered("before", 5, "", &ignored);
    size_t left0 = log_flush(20000);
    if (system("journalctl --sync") != 0)
        exit(96);
    if (kill(journald, SIGKILL) < 0)
        exit(95);
    for (int i = 0; i < 1000 && !process_gone(journald); i++)
        usleep(10000);
    if (!process_gone(journald) || journal_listening())
        exit(94);
    long max_us, total_ms = emit_numbered("seq", count, "", &max_us);
    size_t left = log_flush(20000);
    unsigned long dropped = log_journal_dropped(), failures = log_journal_failures();
    pid_t j2 = fork();
    if (j2 < 0)
        exit(93);
    if (j2 == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl("/lib/systemd/systemd-journald", "systemd-journald", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000 && !journal_listening(); i++)
        usleep(10000);
    if (!journal_listening())
        exit(92);
    emit_numbered("after", 10, "", &ignored);
    size_t left2 = log_flush(20000);
    int sync_rc = system("journalctl --sync");
    log_close();
    kill(j2, SIGTERM);
    int st;
    waitpid(j2, &st, 0);
    printf("calls=%d total_ms=%ld max_us=%ld dropped=%lu failures=%lu left0=%zu left=%zu "
           "left2=%zu sync=%d after_dropped=%lu\n",
           count, total_ms, max_us, dropped, failures, left0, left, left2, sync_rc,
           log_journal_dropped());
    exit(0);
}

/* PERMWATCH_LOG_EMIT=all|nojournal|stale: emit the sequence to journal and stderr, flush,
 * print "pid= auto= failures= ms= errno= left= dropped=" on stdout and exit, before Criterion's
 * main runs. "stale" first leaves a journal socket nobody listens on. PERMWATCH_LOG_EMIT=fatal:
 * call fatal(3). stalled:, paused:, ordered: and fork: see above. */
__attribute__((constructor)) static void emitter(void)
{
    const char *mode = getenv("PERMWATCH_LOG_EMIT");
    if (!mode)
        return;
    if (strcmp(mode, "fatal") == 0) {
        log_open(LOG_TO_STDERR);
        fatal(3, "cannot go on: %s", "bye");
    }
    if (strncmp(mode, "stalled:", 8) == 0)
        emit_stalled(mode + 8);
    if (strncmp(mode, "paused:", 7) == 0)
        emit_paused(mode + 7);
    if (strncmp(mode, "ordered:", 8) == 0)
        emit_ordered(mode + 8);
    if (strcmp(mode, "fork") == 0)
        emit_fork();
    if (strncmp(mode, "killed:", 7) == 0)
        emit_killed(mode + 7);
    if (strcmp(mode, "stale") == 0) {
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket"};
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            perror("stale socket");
            exit(99);
        }
        close(fd);
    }
    unsigned bits = 0;
    if (log_target_parse("auto", true, &bits) < 0)
        exit(98);
    log_open(LOG_TO_JOURNAL | LOG_TO_STDERR);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    errno = EXDEV;
    emit_sequence();
    long ms = elapsed_ms(&t0);
    size_t left = log_flush(20000); /* entries are sent by the writer thread: wait for them */
    log_close();
    int err = errno;
    printf("pid=%ld auto=%u failures=%lu ms=%ld errno=%d left=%zu dropped=%lu\n", (long)getpid(),
           bits, log_journal_failures(), ms, err, left, log_journal_dropped());
    exit(0);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    cr_assert(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
    buf[n] = '\0';
    return buf;
}

/* Read a whole file (caller frees); fails the test when it cannot. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "fopen %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            cr_assert(buf);
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* Split TEXT in place into lines; returns their number (at most MAX). */
static size_t split_lines(char *text, char **lines, size_t max)
{
    size_t n = 0;
    for (char *p = text; *p && n < max;) {
        char *nl = strchr(p, '\n');
        lines[n++] = p;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

/* Field NAME of journal entry E: a string, or a byte array as journalctl prints binary
 * data; NULL when absent. Caller frees. */
static char *field(json_t *e, const char *name)
{
    json_t *v = json_object_get(e, name);
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return strdup(json_string_value(v));
    cr_assert(json_is_array(v), "field %s: unexpected JSON type", name);
    size_t n = json_array_size(v);
    char *s = malloc(n + 1);
    cr_assert(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)json_integer_value(json_array_get(v, i));
    s[n] = '\0';
    return s;
}

static void expect_field(json_t *e, size_t i, const char *name, const char *want)
{
    char *got = field(e, name);
    if (!want) {
        cr_expect_null(got, "entry %zu: %s should be absent, is '%.80s'", i, name, got);
    } else {
        cr_expect_not_null(got, "entry %zu: %s missing (want '%.80s')", i, name, want);
        if (got)
            cr_expect_str_eq(got, want, "entry %zu: %s", i, name);
    }
    free(got);
}

static void expect_int_field(json_t *e, size_t i, const char *name, long want)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", want);
    expect_field(e, i, name, buf);
}

/* What entry I of the sequence must look like: MESSAGE, PRIORITY, MESSAGE_ID and
 * PERMWATCH_EVENT (NULL: absent). */
struct want {
    char message[1024];
    int priority;
    const char *id;
    const char *event;
};

static struct want want_of(size_t i)
{
    struct want w = {.priority = LOG_INFO};
    if (i < FINDING_KIND_COUNT || i == E_ODD_PATH) {
        struct finding f = sample(i == E_ODD_PATH ? FINDING_ROOT_OWNED : (enum finding_kind)i);
        if (i == E_ODD_PATH)
            f.path = odd_path;
        finding_format_message(&f, w.message, sizeof(w.message));
        w.priority = f.kind == FINDING_DISPATCH_UNREACHABLE ? LOG_ERR : LOG_WARNING;
        w.id = finding_ids[f.kind];
        w.event = "finding";
        return w;
    }
    if (i >= E_EVENTS) {
        int ev = LOG_EVENT_RESOLVED + (int)(i - E_EVENTS);
        snprintf(w.message, sizeof(w.message), "event %s", event_names[ev]);
        w.id = event_ids[ev];
        w.event = event_names[ev];
        return w;
    }
    switch (i) {
    case E_RESOLVED: {
        struct finding f = sample(FINDING_ROOT_OWNED);
        char m[900];
        finding_format_message(&f, m, sizeof(m));
        snprintf(w.message, sizeof(w.message), "resolved: %s", m);
        w.id = event_ids[LOG_EVENT_RESOLVED];
        w.event = "resolved";
        break;
    }
    case E_STARTED:
        snprintf(w.message, sizeof(w.message), "started watching /var/www/site");
        w.id = event_ids[LOG_EVENT_STARTED];
        w.event = "started";
        break;
    case E_REPAIRED:
        snprintf(w.message, sizeof(w.message), "repaired /var/www/site/a.php");
        w.priority = LOG_NOTICE;
        w.id = event_ids[LOG_EVENT_REPAIRED];
        w.event = "repaired";
        break;
    case E_VIA_EVENT:
        snprintf(w.message, sizeof(w.message), "finding through log_event");
        w.priority = LOG_WARNING;
        w.id = finding_ids[FINDING_MODE_MISMATCH];
        w.event = "finding";
        break;
    case E_INFO:
        snprintf(w.message, sizeof(w.message), "plain diagnostic 42");
        w.id = event_ids[LOG_EVENT_NOTICE];
        w.event = "notice";
        break;
    case E_WARN_ERRNO:
        snprintf(w.message, sizeof(w.message), "cannot open /nonexistent: %s", strerror(ENOENT));
        w.priority = LOG_WARNING;
        w.id = event_ids[LOG_EVENT_ERROR];
        w.event = "error";
        break;
    case E_ERROR_NEWLINE:
        snprintf(w.message, sizeof(w.message), "error with\\x0anewline");
        w.priority = LOG_ERR;
        w.id = event_ids[LOG_EVENT_ERROR];
        w.event = "error";
        break;
    case E_LONG_FIELD:
        snprintf(w.message, sizeof(w.message), "long field");
        w.priority = LOG_WARNING;
        w.id = event_ids[LOG_EVENT_DEGRADED];
        w.event = "degraded";
        break;
    case E_LONG_MESSAGE:
        w.message[0] = '\0'; /* checked by length */
        w.priority = LOG_ERR;
        w.id = event_ids[LOG_EVENT_CONFIG_ERROR];
        w.event = "config_error";
        break;
    default:
        cr_assert_fail("no entry %zu", i);
    }
    return w;
}

/* The PERMWATCH_* fields of finding F as log_finding must write them. */
static void expect_finding_fields(json_t *e, size_t i, const struct finding *f)
{
    char buf[32];
    expect_field(e, i, "PERMWATCH_FINDING", finding_kind_name(f->kind));
    expect_field(e, i, "PERMWATCH_PATH", f->path);
    expect_field(e, i, "PERMWATCH_RULE", f->rule);
    if (f->has_stat) {
        expect_int_field(e, i, "PERMWATCH_UID", (long)f->uid);
        expect_int_field(e, i, "PERMWATCH_GID", (long)f->gid);
        snprintf(buf, sizeof(buf), "%04o", (unsigned)f->mode);
        expect_field(e, i, "PERMWATCH_MODE", buf);
        expect_field(e, i, "PERMWATCH_OWNER", f->owner);
        expect_field(e, i, "PERMWATCH_GROUP", f->group);
    } else {
        const char *none[] = {"PERMWATCH_UID", "PERMWATCH_GID", "PERMWATCH_MODE", "PERMWATCH_OWNER",
                              "PERMWATCH_GROUP"};
        for (size_t k = 0; k < sizeof(none) / sizeof(none[0]); k++)
            expect_field(e, i, none[k], NULL);
    }
    expect_field(e, i, "PERMWATCH_EXPECTED", f->expected[0] ? f->expected : NULL);
    expect_field(e, i, "PERMWATCH_REASON", f->reason[0] ? f->reason : NULL);
    expect_field(e, i, "PERMWATCH_CHANNEL", f->channel);
    expect_field(e, i, "PERMWATCH_COMMAND", f->command);
    expect_field(e, i, "PERMWATCH_BLOCKED_AT", f->blocked_at);
}

static const char *const level_names[8] = {"emerg",   "alert",  "crit", "err",
                                           "warning", "notice", "info", "debug"};

/* The emitter's stderr must hold one line per entry: "permwatchd[PID]: LEVEL: MESSAGE". */
static void expect_stderr_lines(char *err, long pid)
{
    char *lines[E_COUNT + 2];
    size_t n = split_lines(err, lines, E_COUNT + 2);
    cr_assert_eq(n, E_COUNT, "stderr has %zu lines, want %d", n, E_COUNT);
    for (size_t i = 0; i < n; i++) {
        struct want w = want_of(i);
        char head[64];
        snprintf(head, sizeof(head), "permwatchd[%ld]: %s: ", pid, level_names[w.priority]);
        cr_expect_eq(strncmp(lines[i], head, strlen(head)), 0, "line %zu: '%.120s'", i, lines[i]);
        if (i == E_LONG_MESSAGE)
            cr_expect_eq(strlen(lines[i]) - strlen(head), VALUE_CAP);
        else
            cr_expect_str_eq(lines[i] + strlen(head), w.message, "line %zu", i);
    }
}

/* Parse "pid=N auto=N failures=N ms=N errno=N left=N dropped=N" of the emitter. */
struct emit_result {
    long pid, ms;
    unsigned autobits;
    unsigned long failures, dropped;
    int err;
    size_t left;
};

static struct emit_result parse_emit(const char *out)
{
    struct emit_result r;
    cr_assert_eq(sscanf(out, "pid=%ld auto=%u failures=%lu ms=%ld errno=%d left=%zu dropped=%lu",
                        &r.pid, &r.autobits, &r.failures, &r.ms, &r.err, &r.left, &r.dropped),
                 7, "emitter said: '%s'", out);
    return r;
}

/* ---- names and ids ------------------------------------------------------------------------ */

static bool is_id128(const char *s)
{
    if (!s || strlen(s) != 32)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

Test(log, event_names_and_message_ids)
{
    cr_assert_null(log_event_name(LOG_EVENT_NONE));
    cr_assert_null(log_event_message_id(LOG_EVENT_NONE));
    cr_assert_null(log_event_message_id(LOG_EVENT_FINDING));
    cr_assert_null(log_event_name(LOG_EVENT_COUNT));
    cr_assert_null(log_event_message_id(LOG_EVENT_COUNT));
    cr_assert_null(log_finding_message_id(FINDING_KIND_COUNT));
    const char *all[LOG_EVENT_COUNT + FINDING_KIND_COUNT];
    size_t n = 0;
    for (int ev = LOG_EVENT_FINDING; ev < LOG_EVENT_COUNT; ev++) {
        cr_assert_str_eq(log_event_name(ev), event_names[ev]);
        if (ev == LOG_EVENT_FINDING)
            continue;
        cr_assert_str_eq(log_event_message_id(ev), event_ids[ev], "event %s", event_names[ev]);
        all[n++] = log_event_message_id(ev);
    }
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        cr_assert_str_eq(log_finding_message_id(k), finding_ids[k]);
        all[n++] = log_finding_message_id(k);
    }
    for (size_t i = 0; i < n; i++) {
        cr_assert(is_id128(all[i]), "%s", all[i]);
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(all[i], all[j]);
    }
}

/* ---- --log-target ------------------------------------------------------------------------- */

static bool host_journal_socket(void)
{
    struct stat st;
    return stat("/run/systemd/journal/socket", &st) == 0 && S_ISSOCK(st.st_mode);
}

Test(log, target_parse)
{
    unsigned bits = 0;
    unsetenv("JOURNAL_STREAM");
    cr_assert_eq(log_target_parse("journal", false, &bits), 0);
    cr_assert_eq(bits, LOG_TO_JOURNAL);
    cr_assert_eq(log_target_parse("stderr", true, &bits), 0);
    cr_assert_eq(bits, LOG_TO_STDERR);
    errno = 0;
    cr_assert_eq(log_target_parse("syslog", true, &bits), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(log_target_parse("", true, &bits), -1);
    cr_assert_eq(log_target_parse(NULL, true, &bits), -1);
    cr_assert_eq(log_target_parse("Journal", true, &bits), -1);

    /* auto without a journal stream: stderr, plus the journal when asked and it exists */
    cr_assert_eq(log_target_parse("auto", false, &bits), 0);
    cr_assert_eq(bits, LOG_TO_STDERR);
    cr_assert_eq(log_target_parse("auto", true, &bits), 0);
    cr_assert_eq(bits, LOG_TO_STDERR | (host_journal_socket() ? LOG_TO_JOURNAL : 0));

    /* auto under systemd: stderr is the journal stream, so the journal only */
    struct stat st;
    cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
    char js[64];
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    cr_assert_eq(log_target_parse("auto", false, &bits), 0);
    cr_assert_eq(bits, LOG_TO_JOURNAL);
    cr_assert_eq(log_target_parse("auto", true, &bits), 0);
    cr_assert_eq(bits, LOG_TO_JOURNAL);

    /* a stream that is not our stderr (inherited from a parent), or garbage */
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    const char *others[] = {js, "garbage", "12", "1:2:3", ":", ""};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        setenv("JOURNAL_STREAM", others[i], 1);
        cr_assert_eq(log_target_parse("auto", false, &bits), 0);
        cr_assert_eq(bits, LOG_TO_STDERR, "JOURNAL_STREAM=%s", others[i]);
    }
    unsetenv("JOURNAL_STREAM");
    errno = EXDEV;
    cr_assert_eq(log_target_parse("stderr", true, &bits), 0);
    cr_assert_eq(errno, EXDEV);
}

/* Threads of this process. */
static size_t thread_count(void)
{
    struct stat st;
    cr_assert_eq(stat("/proc/self/task", &st), 0);
    return (size_t)st.st_nlink - 2;
}

/* Without a journal entry, no writer thread exists: flush and close return at once and keep
 * errno, and nothing is counted. */
Test(log, flush_and_close_without_journal_entries)
{
    size_t before = thread_count();
    errno = EXDEV;
    cr_assert_eq(log_flush(1000), 0);
    cr_assert_eq(errno, EXDEV);
    log_close();
    cr_assert_eq(errno, EXDEV);
    log_close();
    cr_assert_eq(log_journal_dropped(), 0);
    cr_assert_eq(log_journal_failures(), 0);
    cr_assert_eq(thread_count(), before);
}

Test(log, open_sets_targets)
{
    cr_assert_eq(log_targets(), LOG_TO_STDERR, "default");
    log_open(LOG_TO_JOURNAL | LOG_TO_STDERR);
    cr_assert_eq(log_targets(), LOG_TO_JOURNAL | LOG_TO_STDERR);
    log_open(LOG_TO_STDERR);
    cr_assert_eq(log_targets(), LOG_TO_STDERR);
    cr_assert_eq(log_journal_failures(), 0);
}

/* ---- stderr -------------------------------------------------------------------------------- */

/* Point fd 2 at a fresh temp file; returns the saved fd 2. */
static int capture_stderr(FILE **file)
{
    *file = tmpfile();
    cr_assert(*file);
    int saved = dup(STDERR_FILENO);
    cr_assert(saved >= 0);
    cr_assert(dup2(fileno(*file), STDERR_FILENO) >= 0);
    return saved;
}

/* Restore fd 2 and return what was written (caller frees). */
static char *release_stderr(FILE *file, int saved)
{
    cr_assert(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(file);
    char *buf = malloc(1 << 20);
    cr_assert(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, file);
    buf[n] = '\0';
    fclose(file);
    return buf;
}

Test(log, stderr_lines_keep_errno)
{
    size_t threads = thread_count();
    FILE *f;
    int saved = capture_stderr(&f);
    log_open(LOG_TO_STDERR);
    errno = EXDEV;
    log_info("info %d", 1);
    cr_assert_eq(errno, EXDEV);
    log_warn("warn %s", "two");
    cr_assert_eq(errno, EXDEV);
    log_warn_errno(EACCES, "cannot open %s", "/root/x");
    cr_assert_eq(errno, EXDEV);
    log_warn_errno(-ENOENT, "negative errno");
    log_warn_errno(0, "no errno");
    errno = EPERM;
    log_error("with %%m: %m");
    cr_assert_eq(errno, EPERM);
    struct finding fd = sample(FINDING_DISPATCH_UNREACHABLE);
    log_finding(LOG_EVENT_FINDING, &fd);
    cr_assert_eq(errno, EPERM);
    log_event(LOG_EVENT_STOPPING, LOG_INFO, NULL, 0, "multi\nline\ttab\x01");
    cr_assert_eq(errno, EPERM);
    log_finding(LOG_EVENT_RESOLVED, &fd);
    log_finding(LOG_EVENT_FINDING, NULL);
    cr_assert_eq(errno, EPERM);
    log_open(0);
    log_error("to nowhere");
    log_open(LOG_TO_STDERR);
    char *out = release_stderr(f, saved);
    cr_assert_eq(thread_count(), threads, "stderr only: no writer thread");

    char m[1024], want[8192];
    finding_format_message(&fd, m, sizeof(m));
    long pid = (long)getpid();
    snprintf(want, sizeof(want),
             "permwatchd[%ld]: info: info 1\n"
             "permwatchd[%ld]: warning: warn two\n"
             "permwatchd[%ld]: warning: cannot open /root/x: %s\n"
             "permwatchd[%ld]: warning: negative errno: %s\n"
             "permwatchd[%ld]: warning: no errno\n"
             "permwatchd[%ld]: err: with %%m: %s\n"
             "permwatchd[%ld]: err: %s\n"
             "permwatchd[%ld]: info: multi\\x0aline\\x09tab\\x01\n"
             "permwatchd[%ld]: info: resolved: %s\n",
             pid, pid, pid, strerror(EACCES), pid, strerror(ENOENT), pid, pid, strerror(EPERM), pid,
             m, pid, pid, m);
    cr_assert_str_eq(out, want);
    cr_assert_eq(log_journal_failures(), 0);
    free(out);
}

Test(log, long_message_is_cut_not_lost)
{
    FILE *f;
    int saved = capture_stderr(&f);
    char *big = long_text('b');
    log_info("%s", big);
    log_info("%s%s", big, big);
    free(big);
    char *out = release_stderr(f, saved);
    char *lines[4];
    size_t n = split_lines(out, lines, 4);
    cr_assert_eq(n, 2);
    char head[64];
    snprintf(head, sizeof(head), "permwatchd[%ld]: info: ", (long)getpid());
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(strncmp(lines[i], head, strlen(head)), 0);
        cr_assert_eq(strlen(lines[i]) - strlen(head), VALUE_CAP);
    }
    free(out);
}

/* Lines from concurrent processes sharing stderr never interleave. */
Test(log, concurrent_lines_stay_whole)
{
    char tmpl[] = "/tmp/permwatch-test-log-XXXXXX";
    int fd = mkstemp(tmpl);
    cr_assert(fd >= 0);
    unlink(tmpl);
    int fl = fcntl(fd, F_GETFL);
    cr_assert(fcntl(fd, F_SETFL, fl | O_APPEND) == 0);
    enum { PROCS = 6, LINES = 300 };
    pid_t kids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        kids[p] = fork();
        cr_assert(kids[p] >= 0);
        if (kids[p] == 0) {
            dup2(fd, STDERR_FILENO);
            char fill[3000];
            memset(fill, 'a' + p, sizeof(fill) - 1);
            fill[sizeof(fill) - 1] = '\0';
            for (int i = 0; i < LINES; i++)
                log_warn("%d %s", i, fill);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        cr_assert_eq(waitpid(kids[p], &st, 0), kids[p]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    FILE *f = fdopen(fd, "r");
    cr_assert(f);
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int count = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        long pid;
        int i, off = 0;
        cr_assert_eq(sscanf(line, "permwatchd[%ld]: warning: %d %n", &pid, &i, &off), 2, "%.60s",
                     line);
        const char *fill = line + off;
        cr_assert_eq(strlen(fill), 3000, "line %d cut or merged", count); /* 2999 + '\n' */
        for (int k = 1; k < 2999; k++)
            cr_assert_eq(fill[k], fill[0], "interleaved line %d", count);
        count++;
    }
    cr_assert_eq(count, PROCS * LINES);
    free(line);
    fclose(f);
}

/* fatal runs in a re-executed copy (PERMWATCH_LOG_EMIT=fatal): exit() inside a Criterion
 * worker would leave Criterion's own allocations to the leak checker. */
Test(log, fatal_logs_and_exits)
{
    char exe[PATH_MAX];
    self_exe(exe, sizeof(exe));
    char *argv[] = {"/usr/bin/env", "PERMWATCH_LOG_EMIT=fatal", exe, NULL};
    struct run_result r;
    cr_assert_eq(harness_run(argv, &r), 0);
    cr_assert_eq(r.status, 3, "exit %d: %s", r.status, r.err);
    char *lines[4];
    cr_assert_eq(split_lines(r.err, lines, 4), 1, "%s", r.err);
    long pid;
    int off = 0;
    cr_assert_eq(sscanf(lines[0], "permwatchd[%ld]: err: %n", &pid, &off), 1, "%s", lines[0]);
    cr_assert_str_eq(lines[0] + off, "cannot go on: bye");
    cr_assert_str_eq(r.out, "");
    run_result_free(&r);
}

/* ---- the journal catalog ------------------------------------------------------------------ */

/* Build a catalog database of packaging/permwatch.catalog alone under a temp root with
 * journalctl --root (neither the host's catalog nor its database is read or written) and
 * list it: every id must be there with its subject. */
Test(log, catalog_compiles_with_every_id)
{
    char cat[PATH_MAX];
    harness_tests_path("../packaging/permwatch.catalog", cat, sizeof(cat));
    char *root = harness_tempdir("catalog");
    struct run_result r;
    cr_assert_eq(harness_sh(&r,
                            "set -e; mkdir -p '%s/usr/lib/systemd/catalog' "
                            "'%s/var/lib/systemd/catalog'; cp '%s' '%s/usr/lib/systemd/catalog/'; "
                            "journalctl --root='%s' --update-catalog",
                            root, root, cat, root, root),
                 0);
    cr_assert_eq(r.status, 0, "update-catalog failed: %s", r.err);
    cr_assert_str_eq(r.err, "", "update-catalog complained: %s", r.err);
    run_result_free(&r);

    cr_assert_eq(harness_sh(&r, "journalctl --root='%s' --list-catalog", root), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    size_t n = 0;
    const char *ids[LOG_EVENT_COUNT + FINDING_KIND_COUNT];
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        ids[n++] = finding_ids[k];
    for (int ev = LOG_EVENT_RESOLVED; ev < LOG_EVENT_COUNT; ev++)
        ids[n++] = event_ids[ev];
    for (size_t i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s permwatch: ", ids[i]);
        const char *at = strstr(r.out, want);
        cr_expect_not_null(at, "catalog has no entry for %s:\n%s", ids[i], r.out);
        if (at)
            cr_expect_neq(strncmp(at + strlen(want), "n/a", 3), 0, "%s has no subject", ids[i]);
    }
    char *lines[64];
    cr_expect_eq(split_lines(r.out, lines, 64), n, "exactly our entries");
    run_result_free(&r);

    /* every entry has a body explaining it */
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(harness_sh(&r, "journalctl --root='%s' --dump-catalog %s", root, ids[i]), 0);
        cr_expect_eq(r.status, 0);
        char *body = strstr(r.out, "\n\n");
        cr_expect(body && strlen(body) > 80, "%s: no body:\n%s", ids[i], r.out);
        run_result_free(&r);
    }
    harness_rmtree(root);
    free(root);
}

/* ---- a real journald ---------------------------------------------------------------------- */

/* Run the emitter inside tests/journald-ns.sh, sync, and read the journal back as JSON into
 * DIR/journal.json; then explain the root_owned entry with our catalog alone (journalctl -x,
 * catalog database bind-mounted inside the private namespace) into DIR/explained.txt. */
static void run_in_journald(const char *dir)
{
    char exe[PATH_MAX], ns[PATH_MAX], cat[PATH_MAX];
    self_exe(exe, sizeof(exe));
    harness_tests_path("journald-ns.sh", ns, sizeof(ns));
    harness_tests_path("../packaging/permwatch.catalog", cat, sizeof(cat));
    char script[2048];
    snprintf(script, sizeof(script),
             "set -eu\n"
             "PERMWATCH_LOG_EMIT=all \"$1\" >\"$2/emit.out\" 2>\"$2/emit.err\"\n"
             "journalctl --sync\n"
             "journalctl -o json --all --no-pager SYSLOG_IDENTIFIER=permwatchd "
             ">\"$2/journal.json\"\n"
             "mkdir -p \"$2/cat/usr/lib/systemd/catalog\" \"$2/cat/var/lib/systemd/catalog\"\n"
             "cp \"$3\" \"$2/cat/usr/lib/systemd/catalog/\"\n"
             "journalctl --root=\"$2/cat\" --update-catalog\n"
             "if [ -d /var/lib/systemd/catalog ]; then\n"
             "  mount --bind \"$2/cat/var/lib/systemd/catalog\" /var/lib/systemd/catalog\n"
             "  journalctl -x -o short --no-pager MESSAGE_ID=%s >\"$2/explained.txt\"\n"
             "else\n"
             "  echo skipped >\"$2/explained.txt\"\n"
             "fi\n",
             finding_ids[FINDING_ROOT_OWNED]);
    /* timeout(1) rather than Criterion's .timeout: with --jobs, Criterion 2.4.1 leaks 48 bytes
     * in its runner when tests have a .timeout, and the leak fails the ASan build */
    char *argv[] = {"/usr/bin/timeout", "-k", "5", "60", ns, "/bin/sh", "-c", script, "sh", exe,
                    (char *)dir,        cat,  NULL};
    struct run_result r;
    cr_assert_eq(harness_run(argv, &r), 0, "cannot run %s: %s", ns, strerror(errno));
    cr_assert_eq(r.status, 0, "journald-ns.sh exited %d:\n%s\n%s", r.status, r.out, r.err);
    run_result_free(&r);
}

Test(log, entries_in_a_real_journal)
{
    char *dir = harness_tempdir("journal");
    char path[PATH_MAX];
    run_in_journald(dir);

    snprintf(path, sizeof(path), "%s/emit.out", dir);
    char *out = slurp(path);
    struct emit_result er = parse_emit(out);
    free(out);
    cr_expect_eq(er.failures, 0, "journal refused %lu entries", er.failures);
    cr_expect_eq(er.autobits, LOG_TO_STDERR | LOG_TO_JOURNAL, "auto with a journal socket");
    cr_expect_eq(er.err, EXDEV, "errno kept through the whole sequence, flush and close");
    cr_expect_eq(er.left, 0, "log_flush left %zu entries", er.left);
    cr_expect_eq(er.dropped, 0);

    snprintf(path, sizeof(path), "%s/emit.err", dir);
    char *err = slurp(path);
    expect_stderr_lines(err, er.pid);
    free(err);

    snprintf(path, sizeof(path), "%s/journal.json", dir);
    char *text = slurp(path);
    char *lines[E_COUNT + 8];
    size_t n = split_lines(text, lines, E_COUNT + 8);
    cr_assert_eq(n, E_COUNT, "journal has %zu permwatchd entries, want %d", n, E_COUNT);
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *e = json_loads(lines[i], 0, &jerr);
        cr_assert(e, "entry %zu: bad JSON: %s", i, jerr.text);
        struct want w = want_of(i);
        if (i == E_LONG_MESSAGE) {
            char *m = field(e, "MESSAGE");
            cr_assert_not_null(m);
            cr_expect_eq(strlen(m), VALUE_CAP);
            cr_expect_eq(strspn(m, "a"), VALUE_CAP);
            free(m);
        } else {
            expect_field(e, i, "MESSAGE", w.message);
        }
        expect_int_field(e, i, "PRIORITY", w.priority);
        expect_field(e, i, "MESSAGE_ID", w.id);
        expect_field(e, i, "PERMWATCH_EVENT", w.event);
        expect_field(e, i, "SYSLOG_IDENTIFIER", "permwatchd");
        expect_int_field(e, i, "_PID", er.pid);

        if (i < FINDING_KIND_COUNT) {
            struct finding f = sample((enum finding_kind)i);
            expect_finding_fields(e, i, &f);
        }
        switch (i) {
        case E_RESOLVED: {
            struct finding f = sample(FINDING_ROOT_OWNED);
            expect_finding_fields(e, i, &f);
            break;
        }
        case E_ODD_PATH: {
            struct finding f = sample(FINDING_ROOT_OWNED);
            f.path = odd_path; /* the field keeps the newline; MESSAGE escapes it */
            expect_finding_fields(e, i, &f);
            break;
        }
        case E_STARTED:
            expect_field(e, i, "PERMWATCH_WEB_USER", "www-data");
            expect_field(e, i, "PERMWATCH_EMPTY", NULL);
            expect_field(e, i, "PERMWATCH_NULLED", NULL);
            break;
        case E_REPAIRED:
            expect_field(e, i, "PERMWATCH_PATH", "/var/www/site/a.php");
            expect_field(e, i, "PERMWATCH_CALLER_UID", "0");
            expect_field(e, i, "PERMWATCH_CALLER_PID", "42");
            expect_field(e, i, "PERMWATCH_RULE", "site");
            break;
        case E_VIA_EVENT:
            expect_field(e, i, "PERMWATCH_FINDING", "mode_mismatch");
            expect_field(e, i, "PERMWATCH_PATH", "/x");
            break;
        case E_WARN_ERRNO:
            expect_int_field(e, i, "ERRNO", ENOENT);
            break;
        case E_LONG_FIELD: {
            char *v = field(e, "PERMWATCH_REASON");
            cr_assert_not_null(v);
            cr_expect_eq(strlen(v), VALUE_CAP);
            free(v);
            break;
        }
        default:
            if (i >= E_INFO && i != E_WARN_ERRNO)
                expect_field(e, i, "ERRNO", NULL);
            break;
        }
        json_decref(e);
    }
    free(text);

    /* journalctl -x explains the entry with the catalog, fields substituted */
    snprintf(path, sizeof(path), "%s/explained.txt", dir);
    char *ex = slurp(path);
    if (strcmp(ex, "skipped\n") != 0) {
        cr_expect_not_null(strstr(ex, "Subject: Root-owned path in the web site tree: "
                                      "/var/www/site/wp-content/uploads/a.jpg"),
                           "%s", ex);
        cr_expect_not_null(strstr(ex, "chown www-data:www-data "
                                      "/var/www/site/wp-content/uploads/a.jpg"),
                           "%s", ex);
        cr_expect_not_null(strstr(ex, "Defined-By: permwatch"), "%s", ex);
    }
    free(ex);
    harness_rmtree(dir);
    free(dir);
}

/* Run the emitter with PERMWATCH_LOG_EMIT=MODE in a private mount namespace with an empty tmpfs
 * over /run (no journald socket, unless the emitter makes one). Fills *R; fails on a non-zero
 * exit. */
static void run_without_journald(const char *mode, struct run_result *r)
{
    char exe[PATH_MAX];
    self_exe(exe, sizeof(exe));
    char *dir = harness_tempdir("nojournal");
    char script[512];
    /* LIBMOUNT_UTAB: mount(8) would otherwise create /run/mount on the host */
    snprintf(script, sizeof(script),
             "set -e; export LIBMOUNT_UTAB=\"$1/utab\"; mount -t tmpfs -o mode=0755 tmpfs /run; "
             "mkdir -p /run/systemd/journal; PERMWATCH_LOG_EMIT='%s' exec \"$0\"",
             mode);
    const char *cmd[] = {"/usr/bin/timeout",
                         "-k",
                         "5",
                         "30",
                         "/usr/bin/unshare",
                         "--mount",
                         "--propagation",
                         "private",
                         "/bin/sh",
                         "-c",
                         script,
                         exe,
                         dir,
                         NULL};
    cr_assert_eq(harness_run((char *const *)cmd, r), 0, "unshare: %s", strerror(errno));
    cr_assert_eq(r->status, 0, "emitter (%s) exited %d%s:\n%s\n%s", mode, r->status,
                 r->status == 128 + SIGALRM ? " (its alarm: a log call blocked)" : "", r->out,
                 r->err);
    harness_rmtree(dir);
    free(dir);
}

/* No journald at all (its socket missing: libsystemd would drop entries silently, ENOENT being
 * success for it): every journal entry is counted as not delivered; logging is prompt and
 * stderr gets every line. */
Test(log, no_journal_socket)
{
    struct run_result r;
    run_without_journald("nojournal", &r);
    struct emit_result er = parse_emit(r.out);
    cr_expect_eq(er.autobits, LOG_TO_STDERR, "auto without a socket: stderr only");
    cr_expect_eq(er.failures, E_COUNT, "failures %lu", er.failures);
    cr_expect_eq(er.dropped, E_COUNT, "dropped %lu", er.dropped);
    cr_expect_eq(er.left, 0);
    cr_expect_lt(er.ms, 2000, "took %ld ms", er.ms);
    cr_expect_eq(er.err, EXDEV);
    expect_stderr_lines(r.err, er.pid);
    run_result_free(&r);
}

/* A socket whose journald is gone: every entry is refused (ECONNREFUSED) and counted, as a
 * failure and as not delivered, promptly; stderr still gets every line. */
Test(log, dead_journald_socket)
{
    struct run_result r;
    run_without_journald("stale", &r);
    struct emit_result er = parse_emit(r.out);
    cr_expect_eq(er.autobits, LOG_TO_STDERR | LOG_TO_JOURNAL);
    cr_expect_eq(er.failures, E_COUNT, "failures %lu", er.failures);
    cr_expect_eq(er.dropped, E_COUNT, "dropped %lu", er.dropped);
    cr_expect_eq(er.left, 0);
    cr_expect_lt(er.ms, 2000, "took %ld ms", er.ms);
    cr_expect_eq(er.err, EXDEV);
    expect_stderr_lines(r.err, er.pid);
    run_result_free(&r);
}

/* net.unix.max_dgram_qlen: how many datagrams an unread socket takes before senders block. */
static long dgram_qlen(void)
{
    char *s = slurp("/proc/sys/net/unix/max_dgram_qlen");
    long n = atol(s);
    free(s);
    cr_assert_gt(n, 0);
    return n;
}

struct stalled_result {
    int calls;
    long total_ms, max_us, flush_ms, close_ms, close2_ms;
    unsigned long dropped, failures, closed_dropped;
    size_t left;
    int err;
};

/* A stalled journald (its socket exists, nobody reads it; without the writer thread
 * sd_journal_sendv blocks forever): COUNT entries of PAYLOAD bytes. Every call must return
 * promptly, the overflow is dropped and counted, log_flush honours its timeout and log_close
 * gives up on the stuck writer after LOG_CLOSE_TIMEOUT_MS. The emitter's alarm(20) turns a
 * regression into a failure rather than a hang. */
static struct stalled_result run_stalled(int count, int payload)
{
    char mode[64];
    snprintf(mode, sizeof(mode), "stalled:%d:%d", count, payload);
    struct run_result r;
    run_without_journald(mode, &r);
    struct stalled_result s;
    cr_assert_eq(sscanf(r.out,
                        "calls=%d total_ms=%ld max_us=%ld dropped=%lu failures=%lu flush_ms=%ld "
                        "left=%zu close_ms=%ld close2_ms=%ld errno=%d closed_dropped=%lu",
                        &s.calls, &s.total_ms, &s.max_us, &s.dropped, &s.failures, &s.flush_ms,
                        &s.left, &s.close_ms, &s.close2_ms, &s.err, &s.closed_dropped),
                 11, "emitter said: '%s' / '%s'", r.out, r.err);
    cr_log_info("stalled journald, %d entries of %d bytes: %s", count, payload, r.out);
    run_result_free(&r);
    cr_expect_eq(s.calls, count);
    cr_expect_lt(s.max_us, 50000, "slowest log call took %ld us", s.max_us);
    cr_expect_lt(s.total_ms, 2000, "%d log calls took %ld ms", count, s.total_ms);
    cr_expect_gt(s.dropped, 0, "nothing dropped");
    cr_expect_eq(s.failures, 0);
    cr_expect_gt(s.left, 0, "a stalled journald took everything?");
    cr_expect_lt(s.flush_ms, 1000, "log_flush(100) took %ld ms", s.flush_ms);
    cr_expect_geq(s.close_ms, LOG_CLOSE_TIMEOUT_MS - 50, "log_close gave up early: %ld ms",
                  s.close_ms);
    cr_expect_lt(s.close_ms, LOG_CLOSE_TIMEOUT_MS + 1000, "log_close took %ld ms", s.close_ms);
    cr_expect_lt(s.close2_ms, 100, "log_close again waited %ld ms", s.close2_ms);
    /* log_close discards the queue (counted as dropped) but not the entry being sent */
    cr_expect_eq(s.closed_dropped, s.dropped + s.left - 1, "dropped %lu, then %lu with %zu left",
                 s.dropped, s.closed_dropped, s.left);
    cr_expect_eq(s.err, EXDEV, "errno kept");
    return s;
}

/* Big entries: the byte bound (16 MiB) fills first. */
Test(log, stalled_journald_never_blocks_byte_bound)
{
    enum { COUNT = 10000, PAYLOAD = 2000 };
    struct stalled_result s = run_stalled(COUNT, PAYLOAD);
    /* taken = queued + sent before the stall (at most qlen + 1) + the one being sent */
    unsigned long taken = (unsigned long)COUNT - s.dropped;
    cr_expect_leq(s.left, taken);
    cr_expect_geq(taken, LOG_JOURNAL_QUEUE_BYTES / (PAYLOAD + 1024), "took %lu", taken);
    cr_expect_leq(taken, LOG_JOURNAL_QUEUE_BYTES / PAYLOAD + (unsigned long)dgram_qlen() + 2,
                  "took %lu", taken);
}

/* Small entries: the entry bound (16384) fills first. */
Test(log, stalled_journald_never_blocks_entry_bound)
{
    enum { COUNT = 20000 };
    struct stalled_result s = run_stalled(COUNT, 0);
    unsigned long taken = (unsigned long)COUNT - s.dropped;
    cr_expect_eq(s.left, LOG_JOURNAL_QUEUE_ENTRIES + 1, "queue full and one being sent");
    cr_expect_geq(taken, LOG_JOURNAL_QUEUE_ENTRIES, "took %lu", taken);
    cr_expect_leq(taken, LOG_JOURNAL_QUEUE_ENTRIES + (unsigned long)dgram_qlen() + 2, "took %lu",
                  taken);
}

/* Run the emitter with PERMWATCH_LOG_EMIT=MODE inside tests/journald-ns.sh (journald is
 * continued on the way out, should the emitter have left it stopped), sync, and read the
 * permwatchd entries back into DIR/journal.json (a few fields). Returns the emitter's stdout. */
static char *run_mode_in_journald(const char *mode, const char *dir)
{
    char exe[PATH_MAX], ns[PATH_MAX];
    self_exe(exe, sizeof(exe));
    harness_tests_path("journald-ns.sh", ns, sizeof(ns));
    const char *script =
        "set -eu\n"
        "trap 'kill -CONT \"$JOURNALD_PID\" 2>/dev/null || true' EXIT\n"
        "PERMWATCH_LOG_EMIT=\"$3\" \"$1\" >\"$2/emit.out\" 2>\"$2/emit.err\"\n"
        "journalctl --sync\n"
        "journalctl -o json --all --no-pager "
        "--output-fields=MESSAGE,PRIORITY,MESSAGE_ID,_PID,PERMWATCH_EVENT,PERMWATCH_REASON,"
        "PERMWATCH_DROPPED SYSLOG_IDENTIFIER=permwatchd >\"$2/journal.json\"\n";
    char *argv[] = {"/usr/bin/timeout", "-k", "5", "90",        ns,           "/bin/sh", "-c",
                    (char *)script,     "sh", exe, (char *)dir, (char *)mode, NULL};
    struct run_result r;
    cr_assert_eq(harness_run(argv, &r), 0, "cannot run %s: %s", ns, strerror(errno));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/emit.err", dir);
    char *err = access(path, F_OK) == 0 ? slurp(path) : strdup("");
    cr_assert_eq(r.status, 0, "journald-ns.sh (%s) exited %d:\n%s\n%s\nemitter: %s", mode, r.status,
                 r.out, r.err, err);
    free(err);
    run_result_free(&r);
    snprintf(path, sizeof(path), "%s/emit.out", dir);
    return slurp(path);
}

/* The journal's permwatchd entries, one JSON object per line (*N of them; caller frees the
 * array and decrefs the entries). */
static json_t **read_entries(const char *dir, size_t *n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/journal.json", dir);
    char *text = slurp(path);
    size_t cap = 1024, len = 0;
    json_t **v = malloc(cap * sizeof(*v));
    cr_assert(v);
    for (char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (len == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof(*v));
            cr_assert(v);
        }
        json_error_t jerr;
        v[len] = json_loads(p, 0, &jerr);
        cr_assert(v[len], "entry %zu: bad JSON: %s", len, jerr.text);
        len++;
        if (!nl)
            break;
    }
    free(text);
    *n = len;
    return v;
}

static void free_entries(json_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
}

/* Entry I's MESSAGE must be "TAG NUM". */
static void expect_numbered(json_t *e, size_t i, const char *tag, long num)
{
    char want[64];
    snprintf(want, sizeof(want), "%s %ld", tag, num);
    expect_field(e, i, "MESSAGE", want);
}

/* N numbered entries arrive in the real journal, all of them, in order. */
Test(log, entries_arrive_in_order)
{
    enum { COUNT = 5000 };
    char *dir = harness_tempdir("ordered");
    char mode[32];
    snprintf(mode, sizeof(mode), "ordered:%d", COUNT);
    char *out = run_mode_in_journald(mode, dir);
    int calls;
    long total_ms, max_us;
    unsigned long dropped, failures;
    size_t left;
    cr_assert_eq(sscanf(out, "calls=%d total_ms=%ld max_us=%ld dropped=%lu left=%zu failures=%lu",
                        &calls, &total_ms, &max_us, &dropped, &left, &failures),
                 6, "emitter said: '%s'", out);
    free(out);
    cr_expect_eq(dropped, 0);
    cr_expect_eq(left, 0);
    cr_expect_eq(failures, 0);
    size_t n;
    json_t **v = read_entries(dir, &n);
    cr_assert_eq(n, COUNT, "journal has %zu entries, want %d", n, COUNT);
    for (size_t i = 0; i < n; i++)
        expect_numbered(v[i], i, "seq", (long)i);
    free_entries(v, n);
    harness_rmtree(dir);
    free(dir);
}

/* A real journald stopped (SIGSTOP) while more entries than the queue holds are logged: the
 * calls return promptly, the overflow is dropped; once journald continues, the journal holds
 * the first entries in order, then one summary naming the number dropped, then what was
 * logged later. */
Test(log, stopped_journald_drops_and_summarises)
{
    enum { COUNT = LOG_JOURNAL_QUEUE_ENTRIES + 1000 };
    char *dir = harness_tempdir("paused");
    char mode[32];
    snprintf(mode, sizeof(mode), "paused:%d", COUNT);
    char *out = run_mode_in_journald(mode, dir);
    int calls;
    long total_ms, max_us;
    unsigned long dropped, failures;
    size_t left, left2;
    cr_assert_eq(sscanf(out,
                        "calls=%d total_ms=%ld max_us=%ld dropped=%lu left=%zu left2=%zu "
                        "failures=%lu",
                        &calls, &total_ms, &max_us, &dropped, &left, &left2, &failures),
                 7, "emitter said: '%s'", out);
    cr_log_info("stopped journald, %d entries: %s", COUNT, out);
    free(out);
    cr_expect_lt(max_us, 50000, "slowest log call took %ld us", max_us);
    cr_expect_lt(total_ms, 2000, "%d log calls took %ld ms", COUNT, total_ms);
    cr_expect_eq(left, 0);
    cr_expect_eq(left2, 0);
    cr_expect_eq(failures, 0);
    cr_assert_gt(dropped, 0);
    cr_assert_lt(dropped, COUNT - LOG_JOURNAL_QUEUE_ENTRIES + 1);

    size_t taken = (size_t)COUNT - dropped, n;
    json_t **v = read_entries(dir, &n);
    cr_assert_eq(n, taken + 1 + 10, "journal has %zu entries, want %zu + summary + 10", n, taken);
    for (size_t i = 0; i < taken; i++)
        expect_numbered(v[i], i, "seq", (long)i);
    char want[128], num[32];
    snprintf(want, sizeof(want), "%lu journal entries dropped: journald not keeping up", dropped);
    snprintf(num, sizeof(num), "%lu", dropped);
    expect_field(v[taken], taken, "MESSAGE", want);
    expect_int_field(v[taken], taken, "PRIORITY", LOG_WARNING);
    expect_field(v[taken], taken, "MESSAGE_ID", event_ids[LOG_EVENT_SUPPRESSED]);
    expect_field(v[taken], taken, "PERMWATCH_EVENT", "suppressed");
    expect_field(v[taken], taken, "PERMWATCH_REASON", "journald not keeping up");
    expect_field(v[taken], taken, "PERMWATCH_DROPPED", num);
    for (size_t i = 0; i < 10; i++)
        expect_numbered(v[taken + 1 + i], taken + 1 + i, "after", (long)i);
    free_entries(v, n);
    harness_rmtree(dir);
    free(dir);
}

/* journald killed (not stalled) while COUNT entries are logged, then started again: every
 * entry it could not take is counted as dropped, and once it is back one summary entry marks
 * the gap, between the entries before and after, with the number and the times. */
Test(log, killed_journald_counts_and_summarises)
{
    enum { COUNT = 1000 };
    char *dir = harness_tempdir("killed");
    char exe[PATH_MAX], ns[PATH_MAX], mode[32], path[PATH_MAX];
    self_exe(exe, sizeof(exe));
    harness_tests_path("journald-ns.sh", ns, sizeof(ns));
    snprintf(mode, sizeof(mode), "killed:%d", COUNT);
    /* the emitter stops its own journald; the journal files stay for journalctl to read */
    const char *script =
        "set -eu\n"
        "PERMWATCH_LOG_EMIT=\"$3\" \"$1\" >\"$2/emit.out\" 2>\"$2/emit.err\"\n"
        "journalctl -o json --all --no-pager "
        "--output-fields=MESSAGE,PRIORITY,MESSAGE_ID,ERRNO,PERMWATCH_EVENT,PERMWATCH_REASON,"
        "PERMWATCH_DROPPED,PERMWATCH_UNAVAILABLE_FROM,PERMWATCH_UNAVAILABLE_UNTIL "
        "SYSLOG_IDENTIFIER=permwatchd >\"$2/journal.json\"\n";
    char *argv[] = {"/usr/bin/timeout", "-k", "5", "120",       ns,   "/bin/sh", "-c",
                    (char *)script,     "sh", exe, (char *)dir, mode, NULL};
    struct run_result r;
    cr_assert_eq(harness_run(argv, &r), 0, "cannot run %s: %s", ns, strerror(errno));
    snprintf(path, sizeof(path), "%s/emit.err", dir);
    char *err = access(path, F_OK) == 0 ? slurp(path) : strdup("");
    cr_assert_eq(r.status, 0, "journald-ns.sh exited %d:\n%s\n%s\nemitter: %s", r.status, r.out,
                 r.err, err);
    free(err);
    run_result_free(&r);
    snprintf(path, sizeof(path), "%s/emit.out", dir);
    char *out = slurp(path);
    int calls, sync_rc;
    long total_ms, max_us;
    unsigned long dropped, failures, after_dropped;
    size_t left0, left, left2;
    cr_assert_eq(sscanf(out,
                        "calls=%d total_ms=%ld max_us=%ld dropped=%lu failures=%lu left0=%zu "
                        "left=%zu left2=%zu sync=%d after_dropped=%lu",
                        &calls, &total_ms, &max_us, &dropped, &failures, &left0, &left, &left2,
                        &sync_rc, &after_dropped),
                 10, "emitter said: '%s'", out);
    cr_log_info("killed journald, %d entries: %s", COUNT, out);
    free(out);
    cr_expect_lt(total_ms, 2000, "%d log calls took %ld ms", COUNT, total_ms);
    cr_expect_eq(left0 + left + left2, 0);
    cr_expect_eq(sync_rc, 0);
    cr_expect_eq(dropped, COUNT, "every entry journald could not take is counted: %lu", dropped);
    cr_expect_eq(failures, COUNT);
    cr_expect_eq(after_dropped, COUNT, "entries after the restart were lost");

    size_t n;
    json_t **v = read_entries(dir, &n);
    cr_assert_eq(n, 5 + 1 + 10, "journal has %zu entries, want 5 + summary + 10", n);
    for (size_t i = 0; i < 5; i++)
        expect_numbered(v[i], i, "before", (long)i);
    char *msg = field(v[5], "MESSAGE"), *from = field(v[5], "PERMWATCH_UNAVAILABLE_FROM"),
         *until = field(v[5], "PERMWATCH_UNAVAILABLE_UNTIL");
    cr_assert(msg && from && until, "summary: %s", msg ? msg : "(no MESSAGE)");
    char want[256], num[32];
    snprintf(want, sizeof(want),
             "%d journal entries could not be delivered: journald was unavailable from %s to %s",
             COUNT, from, until);
    cr_expect_str_eq(msg, want);
    cr_expect_eq(strlen(from), strlen("2026-12-01T20:50:01.123Z"), "%s", from);
    cr_expect_leq(strcmp(from, until), 0, "%s after %s", from, until);
    free(msg);
    free(from);
    free(until);
    snprintf(num, sizeof(num), "%d", COUNT);
    expect_int_field(v[5], 5, "PRIORITY", LOG_WARNING);
    expect_field(v[5], 5, "MESSAGE_ID", event_ids[LOG_EVENT_SUPPRESSED]);
    expect_field(v[5], 5, "PERMWATCH_EVENT", "suppressed");
    expect_field(v[5], 5, "PERMWATCH_REASON", "journald unavailable");
    expect_field(v[5], 5, "PERMWATCH_DROPPED", num);
    expect_int_field(v[5], 5, "ERRNO", ECONNREFUSED);
    for (size_t i = 0; i < 10; i++)
        expect_numbered(v[6 + i], 6 + i, "after", (long)i);
    free_entries(v, n);
    harness_rmtree(dir);
    free(dir);
}

/* fork() while entries are queued and the writer is stuck: the child neither sends the
 * parent's entries nor lacks a writer of its own; every entry arrives once, from its process. */
Test(log, fork_with_queued_entries)
{
#ifdef __SANITIZE_ADDRESS__
    /* The child starts a writer thread, and ASan's allocator is not fork-safe: a lock its
     * parent's writer held at fork() stays locked in the child (seen: a deadlock in
     * SizeClassAllocator64::GetFromAllocator about one run in two). glibc's malloc is
     * fork-safe; the daemon's own fork (reach_kernel_confirm) only makes system calls. */
    cr_skip_test("fork with a running thread deadlocks in ASan's allocator");
#endif
    char *dir = harness_tempdir("fork");
    char *out = run_mode_in_journald("fork", dir);
    long pid, child;
    int status;
    size_t left;
    unsigned long dropped, failures;
    cr_assert_eq(sscanf(out, "pid=%ld child=%ld status=%d left=%zu dropped=%lu failures=%lu", &pid,
                        &child, &status, &left, &dropped, &failures),
                 6, "emitter said: '%s'", out);
    free(out);
    cr_expect_eq(status, 0, "the child's log_flush left entries");
    cr_expect_eq(left, 0);
    cr_expect_eq(dropped, 0);
    cr_expect_eq(failures, 0);
    size_t n;
    json_t **v = read_entries(dir, &n);
    cr_assert_eq(n, 56, "journal has %zu entries, want 1 + 50 + 5", n);
    long next_parent = 0, next_child = 0;
    for (size_t i = 0; i < n; i++) {
        char *m = field(v[i], "MESSAGE");
        cr_assert_not_null(m);
        long k;
        if (sscanf(m, "parent %ld", &k) == 1) {
            cr_expect_eq(k, next_parent++, "entry %zu: '%s'", i, m);
            expect_int_field(v[i], i, "_PID", pid);
        } else if (sscanf(m, "child %ld", &k) == 1) {
            cr_expect_eq(k, next_child++, "entry %zu: '%s'", i, m);
            expect_int_field(v[i], i, "_PID", child);
        } else if (strcmp(m, "warmup 0") == 0) {
            cr_expect_eq(i, 0, "the warmup entry is entry %zu", i);
        } else {
            cr_expect_fail("entry %zu: unexpected '%s'", i, m);
        }
        free(m);
    }
    cr_expect_eq(next_parent, 50);
    cr_expect_eq(next_child, 5);
    free_entries(v, n);
    harness_rmtree(dir);
    free(dir);
}
