/* ratelimit: keeps a burst of findings (an rsync as root, an unpacked archive) from
 * flooding the journal. Per key (the daemon uses one key per event and finding kind) at most
 * BURST entries per INTERVAL; what is held back is counted by directory and summarized
 * once per interval. Pure bookkeeping, no I/O, time passed in by the caller. */
#ifndef PERMWATCH_RATELIMIT_H
#define PERMWATCH_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* Directories named in one summary at most; the rest are counted as "elsewhere". */
#define RATELIMIT_TOP_DIRS 5

/* Directories counted separately per key and interval, and the longest such directory name
 * (bytes, without the NUL); entries under further or longer ones count as "elsewhere". */
#define RATELIMIT_TRACKED_DIRS 64
#define RATELIMIT_DIR_MAX      4096

/* What was held back for one key during one interval. */
struct ratelimit_summary {
    unsigned key;
    uint64_t suppressed; /* entries held back */
    uint64_t elsewhere;  /* of them, under directories not listed below */
    size_t ndirs;        /* entries used in dirs[] */
    struct {
        const char *dir; /* relative to the site root, "" for the root */
        uint64_t count;
    } dirs[RATELIMIT_TOP_DIRS]; /* the directories with most, descending */
    uint64_t interval_usec;     /* the interval it covers (see ratelimit_flush) */
};

/* A limiter for keys 0..NKEYS-1: at most BURST entries per key per INTERVAL_USEC (BURST 0:
 * no limit). Returns NULL with errno ENOMEM or EINVAL. */
struct ratelimit *ratelimit_new(unsigned nkeys, unsigned burst, uint64_t interval_usec);
void ratelimit_free(struct ratelimit *r);

/* Whether an entry for KEY about a path in directory DIR (relative, "" for the root) may be
 * written at time NOW_USEC (monotonic). When not, it is counted against DIR. Memory stays
 * bounded whatever DIR is (a fixed number of directories is tracked per key; the rest go to
 * "elsewhere"). An invalid R or KEY lets the entry through and sets errno to EINVAL. */
bool ratelimit_allow(struct ratelimit *r, unsigned key, const char *dir, uint64_t now_usec);

/* For each key whose interval has ended by NOW_USEC and that held something back, call
 * FN(CTX, summary) once (strings valid during the call) and start a new interval. Call it
 * from a timer at least once per interval; FORCE reports every key that held something back
 * even if its interval has not ended (at shutdown). A flush never restarts a running window.
 * When the timer runs late and a key's next window already held entries back, one summary
 * covers both, and the next comes at least an interval later. So interval_usec is normally
 * INTERVAL_USEC; longer for a late flush, shorter when forced or right after a late flush.
 * NULL R or FN: errno EINVAL, nothing happens. */
typedef void (*ratelimit_summary_fn)(void *ctx, const struct ratelimit_summary *s);
void ratelimit_flush(struct ratelimit *r, uint64_t now_usec, bool force, ratelimit_summary_fn fn,
                     void *ctx);

/* Total entries held back since creation, per key; 0 with errno EINVAL for an invalid R or
 * KEY. */
uint64_t ratelimit_total_suppressed(const struct ratelimit *r, unsigned key);

#endif
