/* writer: who made a change the detection source reported (a process, its command, user and
 * systemd unit), the ranking of the writers behind root-owned writes and the root_writer
 * finding about a unit that keeps making them. No I/O but /proc and libsystemd's /proc
 * readers; no timers: the caller passes the time and asks for expiries (writer_expire). */
#ifndef PERMWATCH_WRITER_H
#define PERMWATCH_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The process behind one event, as the kernel reported it: PID 0 when unknown (inotify says
 * nothing of it); PIDFD -1 when the kernel gave none (the process had exited, or no
 * FAN_REPORT_PIDFD). The pidfd is owned by whoever filled the struct. */
struct writer_ev {
    pid_t pid;
    int pidfd;
};

/* Bounds of the strings of a resolved writer (with the NUL). */
#define WRITER_COMM_MAX 16  /* the kernel's TASK_COMM_LEN */
#define WRITER_USER_MAX 33  /* a user name (or the decimal uid) */
#define WRITER_EXE_MAX  256 /* longer executables are cut, ending in "..." */
#define WRITER_UNIT_MAX 128 /* longer unit names are cut, ending in "..." */

enum writer_unit_kind {
    WRITER_UNIT_NONE,    /* no unit known (no systemd, exited process, not in a unit) */
    WRITER_UNIT_SYSTEM,  /* a system unit: service, scope, ... (cron.service) */
    WRITER_UNIT_SESSION, /* a user's login session scope (session-3.scope) */
    WRITER_UNIT_USER,    /* a unit of a user's service manager (UNIT is the user unit) */
};

/* A resolved writer. KNOWN: COMM, UID, USER, EXE, UNIT were read while the process provably
 * lived (its pidfd had not signalled exit after the reads); otherwise only PID is set and COMM
 * is "unknown". EXE may be "" even when KNOWN (/proc/PID/exe needs ptrace access). */
struct writer_info {
    pid_t pid; /* 0: no writer at all (inotify, crawls) */
    bool known;
    uid_t uid; /* effective uid */
    char user[WRITER_USER_MAX];
    char comm[WRITER_COMM_MAX];
    char exe[WRITER_EXE_MAX];
    char unit[WRITER_UNIT_MAX]; /* "" when UNIT_KIND is WRITER_UNIT_NONE */
    enum writer_unit_kind unit_kind;
};

/* "system", "session", "user", "none". */
const char *writer_unit_kind_name(enum writer_unit_kind k);

/* Resolve EV without a cache (see writer_resolve). Returns OUT. Costs, when EV has a pidfd:
 * two poll(2)s on it and reads of /proc/PID/{stat,comm,status,exe} and /proc/PID/cgroup (twice,
 * by sd_pid_get_unit and sd_pid_get_user_unit), about 20 syscalls. */
struct writer_info *writer_read(const struct writer_ev *ev, struct writer_info *out);

/* The ranking key of INFO: its unit, else its comm, else "unknown", into BUF. Returns BUF. */
const char *writer_key(const struct writer_info *info, char *buf, size_t len);

/* The short text "cron.service, pid 123 comm php" (or "pid 123, unknown") into BUF. */
const char *writer_describe(const struct writer_info *info, char *buf, size_t len);

/* ---- the resolver with its cache, the ranking and the root_writer rule ---------------- */

struct writer;

/* Defaults (see notes): one root_writer finding when a unit made WRITER_THRESHOLD root-owned
 * writes within WRITER_WINDOW_USEC; it closes after WRITER_QUIET_USEC without one. */
#define WRITER_CACHE_SIZE    64
#define WRITER_RANK_MAX      256
#define WRITER_THRESHOLD     10
#define WRITER_WINDOW_USEC   (600ULL * 1000000)
#define WRITER_QUIET_USEC    (3600ULL * 1000000)
#define WRITER_EXAMPLE_MAX   1024 /* example paths are cut to this (with the NUL), "..." */
#define WRITER_THRESHOLD_MAX 64

struct writer_opts {
    size_t cache_size;    /* 0: WRITER_CACHE_SIZE */
    size_t rank_max;      /* 0: WRITER_RANK_MAX */
    unsigned threshold;   /* 0: WRITER_THRESHOLD; at most WRITER_THRESHOLD_MAX */
    uint64_t window_usec; /* 0: WRITER_WINDOW_USEC */
    uint64_t quiet_usec;  /* 0: WRITER_QUIET_USEC */
};

/* One row of the ranking: a writer behind root-owned writes. Strings valid until the next
 * call that changes the table (writer_root_write, writer_expire, writer_free). */
struct writer_rank {
    const char *key; /* unit, else comm, else "unknown" */
    enum writer_unit_kind unit_kind;
    uid_t uid;
    const char *user;
    const char *comm;    /* the last writer's */
    const char *example; /* the last root-owned path (absolute, cut to WRITER_EXAMPLE_MAX) */
    uint64_t count;      /* root-owned writes since it entered the table */
    uint64_t first_usec, last_usec; /* the caller's clock */
    uint64_t first_realtime_usec, last_realtime_usec;
    bool open; /* a root_writer finding about it is open */
    pid_t last_pid;
    unsigned threshold; /* the rule it is judged by (writer_opts) */
    uint64_t window_usec, quiet_usec;
};

/* A root_writer finding opened (OPENED true) or closed, reported to the callback. */
typedef void (*writer_finding_fn)(void *ctx, bool opened, const struct writer_rank *r);

/* A new resolver (O NULL: the defaults) reporting root_writer findings to FN(CTX, ...).
 * Returns NULL with errno ENOMEM or EINVAL (threshold above WRITER_THRESHOLD_MAX). */
struct writer *writer_new(const struct writer_opts *o, writer_finding_fn fn, void *ctx);

/* Free W; open root_writer findings are dropped without a report. */
void writer_free(struct writer *w);

/* Resolve EV into OUT through W's cache, keyed by pid and process start time (the cache
 * holds only writers read while alive; a cache hit costs one read of /proc/PID/stat and two
 * polls). PID 0: OUT->pid 0, nothing known. No pidfd, or the process exited before it
 * could be read (or during the reads): OUT->known false, comm "unknown". Returns OUT. */
struct writer_info *writer_resolve(struct writer *w, const struct writer_ev *ev,
                                   struct writer_info *out);

/* Cache lookups that were answered from the cache, and resolutions that read /proc. */
uint64_t writer_cache_hits(const struct writer *w);
uint64_t writer_cache_misses(const struct writer *w);
size_t writer_cache_count(const struct writer *w);

/* Record one root-owned write at PATH (absolute) by INFO at NOW_USEC (monotonic, the caller's
 * clock; REALTIME_USEC for display): rank it, and open the root_writer finding of its key when
 * it has made the threshold within the window (once: further writes only refresh it). INFO
 * with pid 0 (no writer reported) is not ranked. A writer keyed "unknown" is ranked but never
 * gets a root_writer finding (nothing to fix by). */
void writer_root_write(struct writer *w, const struct writer_info *info, const char *path,
                       uint64_t now_usec, uint64_t realtime_usec);

/* Close the root_writer findings whose writer has been quiet for the quiet period at NOW_USEC.
 * Returns the monotonic time of the next expiry, or 0 when no finding is open. */
uint64_t writer_expire(struct writer *w, uint64_t now_usec);

/* The ranking, most root-owned writes first (ties: most recent first), at most MAX rows into
 * OUT. Returns the rows written. */
size_t writer_ranking(const struct writer *w, struct writer_rank *out, size_t max);

/* Rows in the table, rows evicted (least recently seen, at the bound) since start, open
 * root_writer findings, and root_writer findings opened since start. */
size_t writer_rank_count(const struct writer *w);
uint64_t writer_rank_evicted(const struct writer *w);
size_t writer_open_count(const struct writer *w);
uint64_t writer_findings_opened(const struct writer *w);

/* The root_writer finding of row R into *F (kind, path: the example, writes, reason "10 within
 * 10m (42 in all)" or, when not OPENED, "none for 1h (42 in all)"), its writer into *W (which
 * F->writer points to). */
struct finding;
void writer_rank_finding(const struct writer_rank *r, bool opened, struct writer_info *w,
                         struct finding *f);

/* Visit each row (table order); stops when FN returns false. */
typedef bool (*writer_visit_fn)(void *ctx, const struct writer_rank *r);
void writer_foreach(const struct writer *w, writer_visit_fn fn, void *ctx);

#endif
