/* test_log: names and ids, --log-target, stderr lines, errno, the journal catalog, and entries
 * as a real, private systemd-journald stores them (tests/journald-ns.sh).
 *
 * The journal tests re-execute this binary (/proc/self/exe) with PERMWATCH_LOG_EMIT set: a
 * constructor then emits a fixed sequence of entries with log_finding/log_event and exits
 * before Criterion starts. The test reads the journal back with journalctl -o json. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
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
    "24441a04fde1479bbd95ee8b202662b3",
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
};

static const char *const event_names[LOG_EVENT_COUNT] = {
    NULL,       "finding",    "resolved", "repaired", "repair_refused", "overflow",
    "degraded", "suppressed", "started",  "reloaded", "config_error",   "stopping",
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

/* PERMWATCH_LOG_EMIT=all|nojournal|stale: emit the sequence to journal and stderr, print
 * "pid= auto= failures= ms= errno=" on stdout and exit, before Criterion's main runs. "stale"
 * first leaves a journal socket nobody listens on. PERMWATCH_LOG_EMIT=fatal: call fatal(3). */
__attribute__((constructor)) static void emitter(void)
{
    const char *mode = getenv("PERMWATCH_LOG_EMIT");
    if (!mode)
        return;
    if (strcmp(mode, "fatal") == 0) {
        log_open(LOG_TO_STDERR);
        fatal(3, "cannot go on: %s", "bye");
    }
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
    int err = errno;
    printf("pid=%ld auto=%u failures=%lu ms=%ld errno=%d\n", (long)getpid(), bits,
           log_journal_failures(), elapsed_ms(&t0), err);
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
        break;
    case E_WARN_ERRNO:
        snprintf(w.message, sizeof(w.message), "cannot open /nonexistent: %s", strerror(ENOENT));
        w.priority = LOG_WARNING;
        break;
    case E_ERROR_NEWLINE:
        snprintf(w.message, sizeof(w.message), "error with\\x0anewline");
        w.priority = LOG_ERR;
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

/* Parse "pid=N auto=N failures=N ms=N errno=N" of the emitter. */
struct emit_result {
    long pid, ms;
    unsigned autobits;
    unsigned long failures;
    int err;
};

static struct emit_result parse_emit(const char *out)
{
    struct emit_result r;
    cr_assert_eq(sscanf(out, "pid=%ld auto=%u failures=%lu ms=%ld errno=%d", &r.pid, &r.autobits,
                        &r.failures, &r.ms, &r.err),
                 5, "emitter said: '%s'", out);
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
    cr_expect_eq(er.err, EXDEV, "errno kept through the whole sequence");

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

/* Run the emitter in a private mount namespace with an empty tmpfs over /run (no journald
 * socket; with STALE, a socket nobody listens on). */
static struct emit_result run_without_journald(bool stale, char **err)
{
    char exe[PATH_MAX];
    self_exe(exe, sizeof(exe));
    char *dir = harness_tempdir("nojournal");
    char script[512];
    /* LIBMOUNT_UTAB: mount(8) would otherwise create /run/mount on the host */
    snprintf(script, sizeof(script),
             "set -e; export LIBMOUNT_UTAB=\"$1/utab\"; mount -t tmpfs -o mode=0755 tmpfs /run; "
             "mkdir -p /run/systemd/journal; PERMWATCH_LOG_EMIT=%s exec \"$0\"",
             stale ? "stale" : "nojournal");
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
    struct run_result r;
    cr_assert_eq(harness_run((char *const *)cmd, &r), 0, "unshare: %s", strerror(errno));
    cr_assert_eq(r.status, 0, "emitter exited %d:\n%s\n%s", r.status, r.out, r.err);
    struct emit_result er = parse_emit(r.out);
    *err = r.err;
    r.err = NULL;
    run_result_free(&r);
    harness_rmtree(dir);
    free(dir);
    return er;
}

/* No journald at all: libsystemd drops entries silently (ENOENT is success for it), so
 * nothing is counted; logging is prompt and stderr gets every line. */
Test(log, no_journal_socket)
{
    char *err;
    struct emit_result er = run_without_journald(false, &err);
    cr_expect_eq(er.autobits, LOG_TO_STDERR, "auto without a socket: stderr only");
    cr_expect_eq(er.failures, 0);
    cr_expect_lt(er.ms, 2000, "took %ld ms", er.ms);
    cr_expect_eq(er.err, EXDEV);
    expect_stderr_lines(err, er.pid);
    free(err);
}

/* A socket whose journald is gone: every entry is refused (ECONNREFUSED) and counted,
 * promptly; stderr still gets every line. */
Test(log, dead_journald_socket)
{
    char *err;
    struct emit_result er = run_without_journald(true, &err);
    cr_expect_eq(er.autobits, LOG_TO_STDERR | LOG_TO_JOURNAL);
    cr_expect_eq(er.failures, E_COUNT, "failures %lu", er.failures);
    cr_expect_lt(er.ms, 2000, "took %ld ms", er.ms);
    cr_expect_eq(er.err, EXDEV);
    expect_stderr_lines(err, er.pid);
    free(err);
}
