/* log: the only module that talks to sd-journal. Structured entries to the journal, the same
 * content as readable lines to stderr. Never blocks on, or fails because of, a dead or stalled
 * journal: journal entries go through a bounded queue to a writer thread (see log.c). */
#ifndef PERMWATCH_LOG_H
#define PERMWATCH_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "finding.h"

enum log_event {
    LOG_EVENT_NONE, /* plain diagnostics: no PERMWATCH_EVENT field */
    LOG_EVENT_FINDING,
    LOG_EVENT_RESOLVED,
    LOG_EVENT_REPAIRED,
    LOG_EVENT_REPAIR_REFUSED,
    LOG_EVENT_OVERFLOW,
    LOG_EVENT_DEGRADED,
    LOG_EVENT_SUPPRESSED,
    LOG_EVENT_STARTED,
    LOG_EVENT_RELOADED,
    LOG_EVENT_CONFIG_ERROR,
    LOG_EVENT_STOPPING,
    LOG_EVENT_SITE_ROOT_CHANGED, /* the site root is not the pinned directory any more */
    LOG_EVENT_UNSAFE_ANCESTOR,   /* a non-root user can write an ancestor of the site root */
    LOG_EVENT_MOUNT_SKIPPED,     /* a mount point inside the site, not crossed */
    LOG_EVENT_TABLE_FULL,        /* findings not stored: the findings table is at a cap */
    LOG_EVENT_REPAIR_PENDING,    /* startup/reload: objects auto-repair left as findings */
    LOG_EVENT_ROOT_WAITING,      /* start: the site root does not exist yet; waiting for it */
    LOG_EVENT_NOTICE,            /* a diagnostic at info/notice (log_info) */
    LOG_EVENT_ERROR,             /* a diagnostic at warning/err (log_warn*, log_error, fatal) */
    LOG_EVENT_RELOAD_PARTIAL,    /* reload: a [daemon] key not applied (needs a restart) */
    LOG_EVENT_SITE_READ_ONLY,    /* the site's mount is read-only to the daemon: no repair */
    LOG_EVENT_COUNT
};

/* Where entries go; a bit set. */
enum log_target_bits { LOG_TO_STDERR = 1, LOG_TO_JOURNAL = 2 };

/* Parse --log-target: "auto", "journal", "stderr". Returns 0 and *bits, or -1 (EINVAL).
 * auto: journal only when stderr is already connected to the journal (JOURNAL_STREAM, as
 * under systemd); otherwise stderr, plus the journal when WITH_JOURNAL and its socket
 * exists. */
int log_target_parse(const char *s, bool with_journal, unsigned *bits);

/* Set the targets (default: LOG_TO_STDERR) and the minimum priority written to stderr. */
void log_open(unsigned bits);
unsigned log_targets(void);

/* One structured field, NAME without the PERMWATCH_ prefix, e.g. {"REASON", "..."}. */
struct log_field {
    const char *name;
    const char *value;
};

struct writer_info;

/* The most fields log_writer_fields appends, and where it formats their numbers. */
#define LOG_WRITER_FIELDS 7
struct log_writer_buf {
    char pid[24], uid[24];
};

/* Append the PERMWATCH_WRITER_* fields of W (none when W is NULL or has no pid; only PID and
 * COMM "unknown" when it is not known) to OUT, which has room for LOG_WRITER_FIELDS; the
 * numbers are formatted into BUF, which must outlive OUT's use. Returns the count appended. */
size_t log_writer_fields(const struct writer_info *w, struct log_field *out,
                         struct log_writer_buf *buf);

/* Write one entry: MESSAGE from FMT, PRIORITY, MESSAGE_ID of EVENT (none for
 * LOG_EVENT_NONE), SYSLOG_IDENTIFIER=permwatchd, PERMWATCH_EVENT and the given fields
 * (NULL/empty values skipped). Keeps errno. */
void log_event(enum log_event ev, int priority, const struct log_field *fields, size_t nfields,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A finding opened (LOG_EVENT_FINDING) or closed (LOG_EVENT_RESOLVED): MESSAGE_ID of its
 * kind (for FINDING) and every PERMWATCH_* field that applies. PRIORITY err for
 * dispatch_unreachable findings, warning for other findings, info for resolved. Keeps errno. */
void log_finding(enum log_event ev, const struct finding *f);

/* Diagnostics at info/warning/err; all keep errno. log_warn_errno appends ": strerror". */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Startup only: log at err and exit(EXIT_CODE). */
void fatal(int exit_code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Stable MESSAGE_IDs (32 hex digits) as listed in packaging/permwatch.catalog. */
const char *log_event_message_id(enum log_event ev);
const char *log_finding_message_id(enum finding_kind k);
const char *log_event_name(enum log_event ev);

/* Entries of event EV written (to any target, or none) since start: one per log_event,
 * log_finding, log_info... call; the journal writer's own drop summaries are not counted. */
uint64_t log_event_count(enum log_event ev);

/* Entries the journal refused since start (journald down or gone, an oversized entry), and
 * entries that could not be built or queued. */
unsigned long log_journal_failures(void);

/* The journal queue's bounds: an entry that does not fit is dropped (counted in
 * log_journal_dropped); once the queue has drained to half of both bounds, one summary entry
 * "N journal entries dropped: journald not keeping up" is queued and entries are taken again.
 * A single entry larger than the byte bound is taken only into an empty queue. */
#define LOG_JOURNAL_QUEUE_ENTRIES 16384
#define LOG_JOURNAL_QUEUE_BYTES   (16u * 1024 * 1024)
/* How long log_close waits for the queue to drain. */
#define LOG_CLOSE_TIMEOUT_MS 2000

/* Entries never delivered since start: dropped because the journal queue was full (journald
 * stalled or too slow), refused by or not sent to an unavailable journald (killed, socket
 * gone; see log.c: one summary entry marks that gap once journald takes entries again), and
 * discarded by log_close. */
unsigned long log_journal_dropped(void);

/* Wait until every queued journal entry has been handed to journald, or TIMEOUT_MS passed.
 * Returns the entries still queued (0: all written; the one being sent counts). Keeps errno. */
size_t log_flush(unsigned timeout_ms);

/* Flush for at most LOG_CLOSE_TIMEOUT_MS, then stop the writer thread and discard what is
 * left (counted as dropped). A writer stuck inside sd_journal_sendv (stalled journald) is
 * detached and abandoned, never waited for: the process may exit meanwhile; if it logs again
 * instead, that writer carries on once journald reads. Logging after log_close starts a writer
 * again. Registered with atexit() on the first journal entry, so exit() and fatal() flush.
 * Keeps errno. Not to be called from two threads at once.
 * fork(): the child starts with an empty queue and no writer (pthread_atfork); with glibc it
 * may log, starting its own writer. A vfork/clone(CLONE_VM) child must not log to the journal.
 * libsystemd opens its journal socket on the first send (in the writer) and caches it: a fork
 * racing that very first socket() may leave the child with the cache but not the descriptor
 * (its entries then fail with EBADF, counted as dropped). Log once before forking. */
void log_close(void);

#endif
