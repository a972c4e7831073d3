/* log: structured entries to the journal (sd_journal_sendv) and readable lines to stderr.
 *
 * Stderr: one line per entry, "permwatchd[PID]: LEVEL: MESSAGE", written with a single
 * writev(2) so that lines of concurrent writers do not interleave (atomic on pipes up to
 * PIPE_BUF). A stuck stderr reader blocks the caller, as for any program; stderr is the
 * terminal or the service's journal stream, so this is accepted. Stderr stays synchronous.
 *
 * Journal: sd_journal_sendv blocks for as long as journald's socket queue is full (a stalled
 * journald: the sender sleeps in unix_wait_for_peer, forever if journald never reads). So the
 * caller only builds the entry (one malloc block: header, iovec array, field arena) and appends
 * it to a bounded FIFO; one writer thread, started on the first journal entry, takes entries
 * in order and sends them. The caller never waits for journald:
 *   - bounds: LOG_JOURNAL_QUEUE_ENTRIES entries and LOG_JOURNAL_QUEUE_BYTES bytes (log.h). An
 *     entry that does not fit is freed and counted (log_journal_dropped). Once dropping, every
 *     entry is dropped until the queue has drained to half of both bounds (so that a slow
 *     journald yields one gap and one summary, not one of each per freed slot); then a summary
 *     entry is queued where the gap is: MESSAGE "N journal entries dropped: journald not keeping
 *     up", PRIORITY warning, MESSAGE_ID and PERMWATCH_EVENT of LOG_EVENT_SUPPRESSED (whose
 *     catalog entry explains entries left out of the journal), PERMWATCH_REASON and
 *     PERMWATCH_DROPPED=N. Whichever comes first queues it: the writer (after taking an entry)
 *     or the next caller.
 *   - journald unavailable (killed or not running: no listener, ECONNREFUSED; its socket gone,
 *     ENOENT, which libsystemd reports as success, so the writer checks that the socket exists
 *     before each send; any other send error): the entry is not delivered. It is counted in
 *     log_journal_dropped() and log_journal_failures(), nothing is retried (entries are sent
 *     in order; a retry would hold the queue while journald is down, and the queue's bound
 *     then drops the rest anyway), and the first entry delivered afterwards is preceded by one
 *     summary: MESSAGE "N journal entries could not be delivered: journald was unavailable
 *     from T1 to T2" (UTC, ms), PRIORITY warning, LOG_EVENT_SUPPRESSED, PERMWATCH_REASON
 *     "journald unavailable", PERMWATCH_DROPPED=N, PERMWATCH_UNAVAILABLE_FROM=T1,
 *     PERMWATCH_UNAVAILABLE_UNTIL=T2 and ERRNO of the first failure. T1 is the first failed
 *     send, T2 the first successful one. Entries that could not be built or queued (no memory,
 *     no thread) are counted in log_journal_failures().
 *   - shutdown: log_close (also run by exit() through atexit after the first entry) waits at
 *     most LOG_CLOSE_TIMEOUT_MS for the queue to drain, then stops the thread; one stuck in
 *     sd_journal_sendv is detached and left behind (it owns its entry; the process may exit).
 *   - fork: pthread_atfork takes the queue lock around fork() (the writer never holds it while
 *     sending); the child frees its copies of the queued entries (the parent sends them) and
 *     has no writer until it logs to the journal itself.
 * The lock is held only for list operations and building a summary entry, never around a
 * system call that can block. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* no CODE_FILE/CODE_LINE/CODE_FUNC: they would name this file for every entry */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "esc.h"
#include "writer.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define IDENT          "permwatchd"
#define FIELD_PREFIX   "PERMWATCH_"
/* MESSAGE and field values are cut at VALUE_MAX - 1 bytes (64 KiB with the NUL). */
#define VALUE_MAX (64 * 1024)
/* journald accepts field names up to 64 characters. */
#define FIELD_NAME_MAX 64

/* After an overflow, entries are taken again once the queue is down to these. */
#define QUEUE_RESUME_ENTRIES (LOG_JOURNAL_QUEUE_ENTRIES / 2)
#define QUEUE_RESUME_BYTES   (LOG_JOURNAL_QUEUE_BYTES / 2)

static unsigned targets = LOG_TO_STDERR;
static atomic_ulong journal_failures;
static atomic_ulong journal_dropped;

/* One journal entry: a single malloc block, the iovecs followed by the field arena. */
struct jentry {
    struct jentry *next;
    size_t size; /* of the whole block: counted against LOG_JOURNAL_QUEUE_BYTES */
    int niov;
    struct iovec iov[];
};

/* The journal queue and its writer thread; every field under LOCK. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the writer waits for an entry or STOP */
    pthread_cond_t idle; /* flushers wait for an empty queue or the writer's exit */
    struct jentry *head, *tail;
    size_t count, bytes;
    struct jentry *inflight;     /* taken by the writer, being sent */
    unsigned long pending_drops; /* dropped since the last summary */
    bool dropping;               /* overflowed; not yet drained to the resume marks */
    unsigned long outage_drops;  /* entries journald did not take since OUTAGE_FROM */
    struct timespec outage_from; /* CLOCK_REALTIME of the first of them */
    int outage_err;              /* its errno */
    bool alive;                  /* a writer thread exists and has not exited */
    bool detached;               /* ... and was abandoned by log_close */
    bool zombie;                 /* a joinable writer exited: join it */
    bool stop;                   /* the writer should exit after its current entry */
    pthread_t tid;
} q = {.lock = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t q_once = PTHREAD_ONCE_INIT;
static atomic_bool q_ready;

static const char *const event_names[LOG_EVENT_COUNT] = {
    [LOG_EVENT_NONE] = NULL,
    [LOG_EVENT_FINDING] = "finding",
    [LOG_EVENT_RESOLVED] = "resolved",
    [LOG_EVENT_REPAIRED] = "repaired",
    [LOG_EVENT_REPAIR_REFUSED] = "repair_refused",
    [LOG_EVENT_OVERFLOW] = "overflow",
    [LOG_EVENT_DEGRADED] = "degraded",
    [LOG_EVENT_SUPPRESSED] = "suppressed",
    [LOG_EVENT_STARTED] = "started",
    [LOG_EVENT_RELOADED] = "reloaded",
    [LOG_EVENT_CONFIG_ERROR] = "config_error",
    [LOG_EVENT_STOPPING] = "stopping",
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

/* Generated once with systemd-id128 new; explained in packaging/permwatch.catalog. */
static const char *const event_ids[LOG_EVENT_COUNT] = {
    [LOG_EVENT_NONE] = NULL,
    [LOG_EVENT_FINDING] = NULL, /* the finding kind's id */
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

static const char *const finding_ids[FINDING_KIND_COUNT] = {
    [FINDING_ROOT_OWNED] = "2cea1fd3b1d84c1fa4e5e752bf984b24",
    [FINDING_OWNER_MISMATCH] = "ea738936611542ebaef4fb7870482730",
    [FINDING_GROUP_MISMATCH] = "75dfc9d451584b46990ee62803954bad",
    [FINDING_MODE_MISMATCH] = "59cd277557044231a1f6c11d6d389de8",
    [FINDING_WEB_UNREADABLE] = "73a06841d8754944b08b6be97eef84e5",
    [FINDING_DISPATCH_UNREACHABLE] = "e4d4ab9488c14cbaa070477079c94e27",
    [FINDING_DISPATCH_INVALID] = "24441a04fde1479bbd95ee8b202662b3",
    [FINDING_SPECIAL_FILE] = "902065edd8f2441c8d2949d308b0e3d2",
    [FINDING_SETID] = "7690c02abebb4d2e98d7fb6b769d6eb1",
    [FINDING_NOT_WRITABLE] = "a7f7f2785f324b84b7ded4015d81a732",
    [FINDING_ROOT_WRITER] = "5937448f72fc4d3184d48965730c743e",
};

static const char *const level_names[8] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* Name of event EV ("finding", ...); NULL for LOG_EVENT_NONE or out of range. */
const char *log_event_name(enum log_event ev)
{
    return (unsigned)ev < LOG_EVENT_COUNT ? event_names[ev] : NULL;
}

/* MESSAGE_ID of event EV; NULL for LOG_EVENT_NONE, LOG_EVENT_FINDING (whose entries carry
 * the id of their finding kind, see log_finding_message_id) and out of range. */
const char *log_event_message_id(enum log_event ev)
{
    return (unsigned)ev < LOG_EVENT_COUNT ? event_ids[ev] : NULL;
}

/* MESSAGE_ID of finding kind K; NULL out of range. */
const char *log_finding_message_id(enum finding_kind k)
{
    return (unsigned)k < FINDING_KIND_COUNT ? finding_ids[k] : NULL;
}

/* Entries refused by the journal since start. */
unsigned long log_journal_failures(void)
{
    return atomic_load(&journal_failures);
}

/* Entries dropped from (or discarded with) a full journal queue since start. */
unsigned long log_journal_dropped(void)
{
    return atomic_load(&journal_dropped);
}

/* Whether stderr is the journal stream named by $JOURNAL_STREAM ("DEV:INO"). */
static bool stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    if (!e || !*e)
        return false;
    char *end;
    errno = 0;
    unsigned long long dev = strtoull(e, &end, 10);
    if (errno || end == e || *end != ':')
        return false;
    const char *p = end + 1;
    unsigned long long ino = strtoull(p, &end, 10);
    if (errno || end == p || *end)
        return false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Whether journald's native socket exists. */
static bool journal_socket_exists(void)
{
    struct stat st;
    return stat(JOURNAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode);
}

int log_target_parse(const char *s, bool with_journal, unsigned *bits)
{
    int saved = errno;
    if (!s || !bits) {
        errno = EINVAL;
        return -1;
    }
    if (strcmp(s, "journal") == 0) {
        *bits = LOG_TO_JOURNAL;
    } else if (strcmp(s, "stderr") == 0) {
        *bits = LOG_TO_STDERR;
    } else if (strcmp(s, "auto") == 0) {
        if (stderr_is_journal()) {
            *bits = LOG_TO_JOURNAL;
        } else {
            *bits = LOG_TO_STDERR;
            if (with_journal && journal_socket_exists())
                *bits |= LOG_TO_JOURNAL;
        }
    } else {
        errno = EINVAL;
        return -1;
    }
    errno = saved;
    return 0;
}

/* Set the targets; every priority is written to each target. */
void log_open(unsigned bits)
{
    targets = bits & (LOG_TO_STDERR | LOG_TO_JOURNAL);
}

/* The current targets. */
unsigned log_targets(void)
{
    return targets;
}

/* A formatted, escaped message: points at STACK or at a malloc'd buffer. */
struct text {
    char *p;
    bool heap;
    char stack[1024];
};

static void text_free(struct text *t)
{
    if (t->heap)
        free(t->p);
    t->p = NULL;
    t->heap = false;
}

/* Format FMT into T (cut at VALUE_MAX - 1 bytes). Never fails: on allocation failure the text is
 * cut at the stack buffer's size. */
static void text_vformat(struct text *t, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void text_vformat(struct text *t, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    t->p = t->stack;
    t->heap = false;
    int n = vsnprintf(t->stack, sizeof(t->stack), fmt, ap);
    if (n < 0) {
        t->stack[0] = '\0';
    } else if ((size_t)n >= sizeof(t->stack)) {
        size_t len = (size_t)n < VALUE_MAX ? (size_t)n + 1 : VALUE_MAX;
        char *h = malloc(len);
        if (h) {
            vsnprintf(h, len, fmt, ap2);
            t->p = h;
            t->heap = true;
        }
    }
    va_end(ap2);
}

/* Set T to PREFIX + RAW + SUFFIX as one printable line (esc_append; RAW with FLAGS, e.g.
 * ESC_KEEP_BACKSLASH for text escaped already), cut at VALUE_MAX - 1 bytes, or at the stack
 * buffer's size when no memory is left. */
static void text_escape(struct text *t, const char *prefix, const char *raw, unsigned flags,
                        const char *suffix)
{
    size_t need = esc_len(prefix, 0) + esc_len(raw, flags) + esc_len(suffix, 0);
    size_t len = need < VALUE_MAX ? need + 1 : VALUE_MAX;
    t->p = t->stack;
    t->heap = false;
    if (len > sizeof(t->stack)) {
        t->p = malloc(len);
        t->heap = t->p != NULL;
        if (!t->p)
            t->p = t->stack;
    }
    if (!t->heap)
        len = sizeof(t->stack);
    size_t pos = 0;
    t->p[0] = '\0';
    esc_append(t->p, len, &pos, prefix);
    esc_append_flags(t->p, len, &pos, raw, flags);
    esc_append(t->p, len, &pos, suffix);
}

/* Write "permwatchd[PID]: LEVEL: MSG\n" to stderr in one system call (retrying the rest
 * after a partial write or EINTR). Errors are ignored. */
static void stderr_write(int priority, const char *msg)
{
    char head[64];
    const char *level = level_names[priority & 7];
    int hn = snprintf(head, sizeof(head), IDENT "[%ld]: %s: ", (long)getpid(), level);
    if (hn < 0)
        return;
    struct iovec iov[3] = {
        {head, (size_t)hn},
        {(void *)msg, strlen(msg)},
        {(void *)"\n", 1},
    };
    struct iovec *v = iov;
    int cnt = 3;
    while (cnt > 0) {
        ssize_t w = writev(STDERR_FILENO, v, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        size_t done = (size_t)w;
        while (cnt > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
}

/* Whether NAME (without the prefix) is a valid journal field name once prefixed. */
static bool field_name_ok(const char *name)
{
    if (!name || !*name || strlen(name) > FIELD_NAME_MAX - strlen(FIELD_PREFIX))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static size_t capped_len(const char *s)
{
    return strnlen(s, VALUE_MAX - 1);
}

/* Append "NAME=VALUE" (VALUE cut at VALUE_MAX - 1 bytes) to the arena at *AP as iovec V. */
static void put_field(struct iovec *v, char **ap, const char *prefix, const char *name,
                      const char *value)
{
    char *start = *ap, *p = *ap;
    size_t n = strlen(prefix);
    memcpy(p, prefix, n);
    p += n;
    n = strlen(name);
    memcpy(p, name, n);
    p += n;
    *p++ = '=';
    n = capped_len(value);
    memcpy(p, value, n);
    p += n;
    v->iov_base = start;
    v->iov_len = (size_t)(p - start);
    *ap = p;
}

/* Build one entry: MESSAGE, PRIORITY, MESSAGE_ID (if ID), the identifier, PERMWATCH_EVENT
 * (unless LOG_EVENT_NONE), ERRNO (if ERR > 0) and FIELDS. Returns a malloc'd block the caller
 * owns, or NULL (no memory; errno may change). */
static struct jentry *entry_new(enum log_event ev, int priority, const char *id, int err,
                                const struct log_field *fields, size_t nfields, const char *msg)
{
    char num[64];
    const char *event = log_event_name(ev);
    size_t niov = 0, size = 0;
    size += sizeof("MESSAGE=") + capped_len(msg);
    size += sizeof("PRIORITY=") + 3;
    size += sizeof("SYSLOG_IDENTIFIER=" IDENT);
    if (id)
        size += sizeof("MESSAGE_ID=") + strlen(id);
    if (event)
        size += sizeof(FIELD_PREFIX "EVENT=") + strlen(event);
    if (err > 0)
        size += sizeof("ERRNO=") + 12;
    niov = 6;
    for (size_t i = 0; i < nfields; i++) {
        if (!fields[i].value || !*fields[i].value || !field_name_ok(fields[i].name))
            continue;
        size += sizeof(FIELD_PREFIX) + strlen(fields[i].name) + 1 + capped_len(fields[i].value);
        niov++;
    }
    if (niov > (SIZE_MAX - sizeof(struct jentry)) / sizeof(struct iovec) ||
        size > SIZE_MAX - sizeof(struct jentry) - niov * sizeof(struct iovec))
        return NULL;
    size += sizeof(struct jentry) + niov * sizeof(struct iovec);
    struct jentry *e = malloc(size);
    if (!e)
        return NULL;
    e->next = NULL;
    e->size = size;
    struct iovec *iov = e->iov;
    char *arena = (char *)(iov + niov);
    size_t n = 0;
    put_field(&iov[n++], &arena, "", "MESSAGE", msg);
    snprintf(num, sizeof(num), "%d", priority & 7);
    put_field(&iov[n++], &arena, "", "PRIORITY", num);
    if (id)
        put_field(&iov[n++], &arena, "", "MESSAGE_ID", id);
    put_field(&iov[n++], &arena, "", "SYSLOG_IDENTIFIER", IDENT);
    if (event)
        put_field(&iov[n++], &arena, FIELD_PREFIX, "EVENT", event);
    if (err > 0) {
        snprintf(num, sizeof(num), "%d", err);
        put_field(&iov[n++], &arena, "", "ERRNO", num);
    }
    for (size_t i = 0; i < nfields; i++) {
        if (!fields[i].value || !*fields[i].value || !field_name_ok(fields[i].name))
            continue;
        put_field(&iov[n++], &arena, FIELD_PREFIX, fields[i].name, fields[i].value);
    }
    e->niov = (int)n;
    return e;
}

/* The summary of DROPPED entries (see the top of this file); NULL when out of memory. */
static struct jentry *summary_new(unsigned long dropped)
{
    char msg[128], num[32];
    snprintf(num, sizeof(num), "%lu", dropped);
    /* one wording for any N, so that the message can be searched for */
    snprintf(msg, sizeof(msg), "%lu journal entries dropped: journald not keeping up", dropped);
    struct log_field fields[] = {{"REASON", "journald not keeping up"}, {"DROPPED", num}};
    return entry_new(LOG_EVENT_SUPPRESSED, LOG_WARNING, log_event_message_id(LOG_EVENT_SUPPRESSED),
                     0, fields, 2, msg);
}

/* T as "2026-12-01T20:50:01.123Z" into BUF (at least 32 bytes). */
static const char *utc_ms(const struct timespec *t, char *buf, size_t len)
{
    struct tm tm;
    time_t sec = t->tv_sec;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", t->tv_nsec / 1000000L);
    return buf;
}

/* The summary of DROPPED entries journald did not take from FROM to now, first failing with
 * ERR (see the top of this file); NULL when out of memory. */
static struct jentry *outage_summary_new(unsigned long dropped, const struct timespec *from,
                                         int err)
{
    char msg[192], num[32], t1[40], t2[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    utc_ms(from, t1, sizeof(t1));
    utc_ms(&now, t2, sizeof(t2));
    snprintf(num, sizeof(num), "%lu", dropped);
    snprintf(msg, sizeof(msg),
             "%lu journal entries could not be delivered: journald was unavailable from %s to %s",
             dropped, t1, t2);
    struct log_field fields[] = {{"REASON", "journald unavailable"},
                                 {"DROPPED", num},
                                 {"UNAVAILABLE_FROM", t1},
                                 {"UNAVAILABLE_UNTIL", t2}};
    return entry_new(LOG_EVENT_SUPPRESSED, LOG_WARNING, log_event_message_id(LOG_EVENT_SUPPRESSED),
                     err, fields, 4, msg);
}

/* Hand E to journald. Returns 0, or a negative errno: -ENOENT when the socket is missing
 * (checked first: libsystemd would report success and drop the entry). */
static int journal_send(const struct jentry *e)
{
    struct stat st;
    if (stat(JOURNAL_SOCKET, &st) < 0)
        return -ENOENT;
    return sd_journal_sendv(e->iov, e->niov);
}

/* An absolute CLOCK_MONOTONIC time MS milliseconds from now. */
static struct timespec deadline_after(unsigned ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Append E to the queue (lock held); wakes the writer. */
static void q_push_locked(struct jentry *e)
{
    e->next = NULL;
    if (q.tail)
        q.tail->next = e;
    else
        q.head = e;
    q.tail = e;
    q.count++;
    q.bytes += e->size;
    pthread_cond_signal(&q.wake);
}

/* Free every queued entry (lock held); returns how many there were. */
static size_t q_discard_locked(void)
{
    size_t n = 0;
    for (struct jentry *e = q.head, *next; e; e = next, n++) {
        next = e->next;
        free(e);
    }
    q.head = q.tail = NULL;
    q.count = q.bytes = 0;
    return n;
}

/* Whether an entry of SIZE bytes fits in the queue now (lock held). */
static bool q_fits_locked(size_t size)
{
    if (q.count == 0)
        return true;
    return q.count < LOG_JOURNAL_QUEUE_ENTRIES && q.bytes <= LOG_JOURNAL_QUEUE_BYTES &&
           size <= LOG_JOURNAL_QUEUE_BYTES - q.bytes;
}

/* After an overflow, once the queue is down to the resume marks, queue the summary and take
 * entries again (lock held). Without memory for the summary, stays dropping and retries later. */
static void q_resume_locked(void)
{
    if (!q.dropping || q.count > QUEUE_RESUME_ENTRIES || q.bytes > QUEUE_RESUME_BYTES)
        return;
    struct jentry *s = summary_new(q.pending_drops);
    if (!s)
        return;
    q.dropping = false;
    q.pending_drops = 0;
    q_push_locked(s);
}

/* Join a writer that exited while joinable (lock held: it no longer needs the lock). */
static void q_reap_locked(void)
{
    if (q.zombie && !q.alive) {
        pthread_join(q.tid, NULL);
        q.zombie = false;
    }
}

/* The writer thread: send queued entries in order until STOP. */
static void *writer_main(void *arg)
{
    pthread_mutex_lock(&q.lock);
    for (;;) {
        while (!q.head && !q.stop)
            pthread_cond_wait(&q.wake, &q.lock);
        if (q.stop)
            break;
        struct jentry *e = q.head;
        q.head = e->next;
        if (!q.head)
            q.tail = NULL;
        q.count--;
        q.bytes -= e->size;
        q.inflight = e;
        q_resume_locked();
        /* after an outage: the summary goes first, marking the gap where it is */
        struct jentry *s = q.outage_drops
                               ? outage_summary_new(q.outage_drops, &q.outage_from, q.outage_err)
                               : NULL;
        pthread_mutex_unlock(&q.lock);

        if (s && journal_send(s) == 0) {
            pthread_mutex_lock(&q.lock);
            q.outage_drops = 0;
            pthread_mutex_unlock(&q.lock);
        }
        free(s);
        int r = journal_send(e);
        if (r < 0) {
            atomic_fetch_add(&journal_failures, 1);
            atomic_fetch_add(&journal_dropped, 1);
        }

        pthread_mutex_lock(&q.lock);
        if (r < 0 && q.outage_drops++ == 0) {
            clock_gettime(CLOCK_REALTIME, &q.outage_from);
            q.outage_err = -r;
        }
        q.inflight = NULL; /* before free: a fork's child frees its copy of INFLIGHT */
        free(e);
        if (!q.head)
            pthread_cond_broadcast(&q.idle);
    }
    q.alive = false;
    q.zombie = !q.detached;
    pthread_cond_broadcast(&q.idle);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

/* Start the writer (lock held) with every signal blocked, so that signals go to the daemon's
 * own threads. Returns false when no thread could be made. */
static bool q_start_locked(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&q.tid, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return false;
    pthread_setname_np(q.tid, "permwatch-log");
    q.alive = true;
    q.detached = false;
    q.zombie = false;
    q.stop = false;
    return true;
}

/* Set up the condition variables on CLOCK_MONOTONIC (lock not held). */
static void q_init_conds(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q.wake, &ca);
    pthread_cond_init(&q.idle, &ca);
    pthread_condattr_destroy(&ca);
}

/* fork(): hold the lock across it, so that the child sees a consistent queue. */
static void q_atfork_prepare(void)
{
    pthread_mutex_lock(&q.lock);
}

/* fork() returned in the parent: release the lock taken by q_atfork_prepare. */
static void q_atfork_parent(void)
{
    pthread_mutex_unlock(&q.lock);
}

/* In the child: no writer exists; its copies of the queued entries are the parent's to send. */
static void q_atfork_child(void)
{
    q_discard_locked();
    free(q.inflight);
    q.inflight = NULL;
    q.pending_drops = 0;
    q.dropping = false;
    q.outage_drops = 0;
    q.alive = q.detached = q.zombie = q.stop = false;
    q_init_conds();
    pthread_mutex_unlock(&q.lock);
}

/* Once, before the first journal entry: conditions, fork handlers, flush at exit(). */
static void q_init(void)
{
    q_init_conds();
    pthread_atfork(q_atfork_prepare, q_atfork_parent, q_atfork_child);
    atexit(log_close);
    atomic_store(&q_ready, true);
}

/* Queue entry E (ownership passes), starting the writer if none runs; a full queue drops it.
 * May change errno. */
static void journal_enqueue(struct jentry *e)
{
    pthread_once(&q_once, q_init);
    pthread_mutex_lock(&q.lock);
    q_reap_locked();
    q.stop = false; /* logging again after log_close: a detached writer carries on */
    if (!q.alive && !q_start_locked()) {
        pthread_mutex_unlock(&q.lock);
        free(e);
        atomic_fetch_add(&journal_failures, 1);
        return;
    }
    q_resume_locked();
    if (q.dropping || !q_fits_locked(e->size)) {
        q.dropping = true;
        q.pending_drops++;
        atomic_fetch_add(&journal_dropped, 1);
        pthread_mutex_unlock(&q.lock);
        free(e);
        return;
    }
    q_push_locked(e);
    pthread_mutex_unlock(&q.lock);
}

/* Wait for the writer to empty the queue, at most TIMEOUT_MS; returns the entries left. */
size_t log_flush(unsigned timeout_ms)
{
    int saved = errno;
    if (!atomic_load(&q_ready)) {
        errno = saved;
        return 0;
    }
    struct timespec deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&q.lock);
    while (q.alive && (q.head || q.inflight))
        if (pthread_cond_timedwait(&q.idle, &q.lock, &deadline) == ETIMEDOUT)
            break;
    size_t left = q.count + (q.inflight ? 1 : 0);
    pthread_mutex_unlock(&q.lock);
    errno = saved;
    return left;
}

/* Flush (bounded), stop or abandon the writer, discard the rest; see log.h. */
void log_close(void)
{
    int saved = errno;
    if (!atomic_load(&q_ready)) {
        errno = saved;
        return;
    }
    struct timespec deadline = deadline_after(LOG_CLOSE_TIMEOUT_MS);
    pthread_mutex_lock(&q.lock);
    if (q.alive && !q.stop) { /* (stop set: closed already, the writer is abandoned) */
        while (q.alive && (q.head || q.inflight))
            if (pthread_cond_timedwait(&q.idle, &q.lock, &deadline) == ETIMEDOUT)
                break;
        q.stop = true;
        pthread_cond_broadcast(&q.wake);
        while (q.alive) {
            if (!q.inflight) /* not sending: it sees STOP and exits at once */
                pthread_cond_wait(&q.idle, &q.lock);
            else if (pthread_cond_timedwait(&q.idle, &q.lock, &deadline) == ETIMEDOUT)
                break;
        }
        if (q.alive && !q.detached) {
            pthread_detach(q.tid);
            q.detached = true;
        }
    }
    size_t left = q_discard_locked();
    atomic_fetch_add(&journal_dropped, left);
    q.pending_drops = 0;
    q.dropping = false;
    q_reap_locked();
    pthread_mutex_unlock(&q.lock);
    errno = saved;
}

/* Build entry and queue it for the writer; an entry that cannot be built is counted as a
 * failure. May change errno. */
static void journal_write(enum log_event ev, int priority, const char *id, int err,
                          const struct log_field *fields, size_t nfields, const char *msg)
{
    struct jentry *e = entry_new(ev, priority, id, err, fields, nfields, msg);
    if (!e) {
        atomic_fetch_add(&journal_failures, 1);
        return;
    }
    journal_enqueue(e);
}

/* Write one entry to every target: MSG is the raw message (escaped already when FLAGS has
 * ESC_KEEP_BACKSLASH); it is escaped to one printable line, after PREFIX, for both. */
/* Entries written per event since start (log_event_count). */
static _Atomic uint64_t event_counts[LOG_EVENT_COUNT];

uint64_t log_event_count(enum log_event ev)
{
    return (unsigned)ev < LOG_EVENT_COUNT ? atomic_load(&event_counts[ev]) : 0;
}

static void emit(enum log_event ev, int priority, const char *id, int err,
                 const struct log_field *fields, size_t nfields, const char *prefix,
                 const char *msg, unsigned flags, const char *suffix)
{
    if ((unsigned)ev < LOG_EVENT_COUNT)
        atomic_fetch_add(&event_counts[ev], 1);
    unsigned t = targets;
    if (!(t & (LOG_TO_STDERR | LOG_TO_JOURNAL)))
        return;
    struct text line;
    text_escape(&line, prefix, msg, flags, suffix);
    if (t & LOG_TO_JOURNAL)
        journal_write(ev, priority, id, err, fields, nfields, line.p);
    if (t & LOG_TO_STDERR)
        stderr_write(priority, line.p);
    text_free(&line);
}

/* Format FMT and emit it; the caller saved errno, which %m still sees. */
static void vlog(enum log_event ev, int priority, const char *id, int err,
                 const struct log_field *fields, size_t nfields, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));
static void vlog(enum log_event ev, int priority, const char *id, int err,
                 const struct log_field *fields, size_t nfields, const char *fmt, va_list ap)
{
    struct text raw;
    text_vformat(&raw, fmt, ap);
    char suffix[256] = "";
    if (err > 0)
        snprintf(suffix, sizeof(suffix), ": %s", strerror(err));
    emit(ev, priority, id, err, fields, nfields, NULL, raw.p, 0, err > 0 ? suffix : NULL);
    text_free(&raw);
}

void log_event(enum log_event ev, int priority, const struct log_field *fields, size_t nfields,
               const char *fmt, ...)
{
    int saved = errno;
    const char *id = log_event_message_id(ev);
    if (ev == LOG_EVENT_FINDING) /* the kind's id, when a FINDING field names one */
        for (size_t i = 0; i < nfields && fields; i++)
            if (fields[i].name && fields[i].value && strcmp(fields[i].name, "FINDING") == 0) {
                int k = finding_kind_from_name(fields[i].value);
                if (k >= 0)
                    id = log_finding_message_id((enum finding_kind)k);
            }
    va_list ap;
    va_start(ap, fmt);
    errno = saved;
    vlog(ev, priority, id, 0, fields, fields ? nfields : 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

/* Priority and message prefix of a finding entry for event EV. */
static int finding_priority(enum log_event ev, const struct finding *f, const char **prefix)
{
    *prefix = NULL;
    switch (ev) {
    case LOG_EVENT_NONE:
    case LOG_EVENT_FINDING:
        return f->kind == FINDING_DISPATCH_UNREACHABLE || f->fatal ? LOG_ERR : LOG_WARNING;
    case LOG_EVENT_RESOLVED:
        *prefix = "resolved: ";
        return LOG_INFO;
    case LOG_EVENT_REPAIRED:
        *prefix = "repaired: ";
        return LOG_NOTICE;
    case LOG_EVENT_REPAIR_REFUSED:
        *prefix = "repair refused: ";
        return LOG_WARNING;
    case LOG_EVENT_SUPPRESSED:
        *prefix = "suppressed: ";
        return LOG_INFO;
    default:
        return LOG_INFO;
    }
}

size_t log_writer_fields(const struct writer_info *w, struct log_field *out,
                         struct log_writer_buf *buf)
{
    size_t n = 0;
    if (!w || w->pid <= 0)
        return 0;
    snprintf(buf->pid, sizeof(buf->pid), "%d", (int)w->pid);
    out[n++] = (struct log_field){"WRITER_PID", buf->pid};
    out[n++] = (struct log_field){"WRITER_COMM", w->known ? w->comm : "unknown"};
    if (!w->known)
        return n;
    snprintf(buf->uid, sizeof(buf->uid), "%u", (unsigned)w->uid);
    out[n++] = (struct log_field){"WRITER_UID", buf->uid};
    out[n++] = (struct log_field){"WRITER_USER", w->user};
    out[n++] = (struct log_field){"WRITER_EXE", w->exe};
    out[n++] = (struct log_field){"WRITER_UNIT", w->unit};
    if (*w->unit)
        out[n++] = (struct log_field){"WRITER_UNIT_KIND", writer_unit_kind_name(w->unit_kind)};
    return n;
}

void log_finding(enum log_event ev, const struct finding *f)
{
    int saved = errno;
    if (!f || (unsigned)ev >= LOG_EVENT_COUNT) {
        errno = saved;
        return;
    }
    char uid[24], gid[24], mode[8];
    char *msg = finding_message_alloc(f);
    if (!msg) {
        atomic_fetch_add(&journal_failures, 1);
        errno = saved;
        return;
    }
    /* expected/reason are inline arrays: bound them even if a writer filled them up */
    char expected[sizeof(f->expected) + 1], reason[sizeof(f->reason) + 1];
    memcpy(expected, f->expected, sizeof(f->expected));
    expected[sizeof(f->expected)] = '\0';
    memcpy(reason, f->reason, sizeof(f->reason));
    reason[sizeof(f->reason)] = '\0';

    struct log_field fields[24];
    size_t n = 0;
    fields[n++] = (struct log_field){"FINDING", finding_kind_name(f->kind)};
    fields[n++] = (struct log_field){"PATH", f->path};
    fields[n++] = (struct log_field){"RULE", f->rule};
    if (f->has_stat) {
        snprintf(uid, sizeof(uid), "%u", (unsigned)f->uid);
        snprintf(gid, sizeof(gid), "%u", (unsigned)f->gid);
        snprintf(mode, sizeof(mode), "%04o", (unsigned)(f->mode & 07777));
        fields[n++] = (struct log_field){"UID", uid};
        fields[n++] = (struct log_field){"GID", gid};
        fields[n++] = (struct log_field){"OWNER", f->owner};
        fields[n++] = (struct log_field){"GROUP", f->group};
        fields[n++] = (struct log_field){"MODE", mode};
    }
    fields[n++] = (struct log_field){"EXPECTED", expected};
    fields[n++] = (struct log_field){"REASON", reason};
    fields[n++] = (struct log_field){"CHANNEL", f->channel};
    fields[n++] = (struct log_field){"COMMAND", f->command};
    fields[n++] = (struct log_field){"BLOCKED_AT", f->blocked_at};
    fields[n++] = (struct log_field){"WEB_USER", f->web_user};
    char writes[24];
    struct log_writer_buf wbuf;
    n += log_writer_fields(f->writer, fields + n, &wbuf);
    if (f->writes) {
        snprintf(writes, sizeof(writes), "%llu", (unsigned long long)f->writes);
        fields[n++] = (struct log_field){"WRITES", writes};
    }

    const char *prefix;
    int priority = finding_priority(ev, f, &prefix);
    const char *id =
        ev == LOG_EVENT_FINDING ? log_finding_message_id(f->kind) : log_event_message_id(ev);
    /* msg is escaped already: emit keeps its backslashes (and would escape anything else) */
    emit(ev, priority, id, 0, fields, n, prefix, msg, ESC_KEEP_BACKSLASH, NULL);
    free(msg);
    errno = saved;
}

void log_info(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_EVENT_NOTICE, LOG_INFO, event_ids[LOG_EVENT_NOTICE], 0, NULL, 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

void log_warn(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_EVENT_ERROR, LOG_WARNING, event_ids[LOG_EVENT_ERROR], 0, NULL, 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

void log_warn_errno(int err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    /* also accepts a negative errno, as returned by sd-* functions */
    vlog(LOG_EVENT_ERROR, LOG_WARNING, event_ids[LOG_EVENT_ERROR],
         err < 0 && err > -100000 ? -err : err, NULL, 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

void log_error(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_EVENT_ERROR, LOG_ERR, event_ids[LOG_EVENT_ERROR], 0, NULL, 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

void fatal(int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_EVENT_ERROR, LOG_ERR, event_ids[LOG_EVENT_ERROR], 0, NULL, 0, fmt, ap);
    va_end(ap);
    exit(exit_code);
}
