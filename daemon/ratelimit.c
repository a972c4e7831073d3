/* ratelimit: fixed windows per key. A key's window opens at its first ratelimit_allow once
 * the previous one ended and lets BURST entries through; the rest are counted by directory
 * until a flush reports them.
 *
 * A summary may outlive its window: when the flush timer runs late, the next window may
 * already have started and held entries back too. Reports therefore follow their own clock:
 * a key's summary starts where its first held-back entry's window started (or at the
 * previous report, if later), is due one interval after that, and covers up to the end of
 * the window or NOW, whichever comes first. Flushing does not restart a running window, so
 * a sustained flood gets BURST entries per interval, not per flush.
 *
 * Memory: per key, up to RATELIMIT_TRACKED_DIRS directory names of at most
 * RATELIMIT_DIR_MAX bytes each, allocated when the key first holds something back. */
#include "ratelimit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rl_dir {
    char *dir;
    uint64_t count;
    uint32_t hash;
};

struct rl_key {
    bool win_active;
    uint64_t win_start;  /* when the current window opened */
    uint64_t win_count;  /* entries let through in it, at most the burst */
    uint64_t suppressed; /* held back since the last report */
    uint64_t sum_start;  /* start of what the next report covers, when suppressed > 0 */
    uint64_t last_flush; /* when the key was last reported */
    uint64_t total;      /* held back since creation */
    size_t ndirs;
    struct rl_dir *dirs; /* RATELIMIT_TRACKED_DIRS entries, NULL until needed */
};

struct ratelimit {
    unsigned nkeys;
    unsigned burst;
    uint64_t interval;
    struct rl_key *keys;
};

/* FNV-1a of S[0..LEN), to skip most string compares. */
static uint32_t dir_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Count one held-back entry of K against DIR; NULL, too long or untrackable directories
 * (table full, no memory) are left to "elsewhere", which is what is not in the table. */
static void count_dir(struct rl_key *k, const char *dir)
{
    if (!dir)
        return;
    size_t len = strnlen(dir, RATELIMIT_DIR_MAX + 1);
    if (len > RATELIMIT_DIR_MAX)
        return;
    uint32_t h = dir_hash(dir, len);
    for (size_t i = 0; i < k->ndirs; i++)
        if (k->dirs[i].hash == h && strcmp(k->dirs[i].dir, dir) == 0) {
            k->dirs[i].count++;
            return;
        }
    if (k->ndirs == RATELIMIT_TRACKED_DIRS)
        return;
    if (!k->dirs && !(k->dirs = calloc(RATELIMIT_TRACKED_DIRS, sizeof(*k->dirs))))
        return;
    char *copy = strndup(dir, len);
    if (!copy)
        return;
    k->dirs[k->ndirs++] = (struct rl_dir){.dir = copy, .count = 1, .hash = h};
}

/* Forget K's directory names and counts (the table itself stays allocated). */
static void clear_dirs(struct rl_key *k)
{
    for (size_t i = 0; i < k->ndirs; i++)
        free(k->dirs[i].dir);
    k->ndirs = 0;
}

/* Whether at least an interval has passed from START to NOW (never when NOW < START). */
static bool elapsed(const struct ratelimit *r, uint64_t start, uint64_t now)
{
    return now >= start && now - start >= r->interval;
}

/* Fill S with K's summary: the top directories by count, descending, ties in the order they
 * were first held back. Its strings are K's. */
static void summarize(const struct ratelimit *r, const struct rl_key *k, unsigned key, uint64_t now,
                      struct ratelimit_summary *s)
{
    memset(s, 0, sizeof(*s));
    s->key = key;
    s->suppressed = k->suppressed;
    uint64_t end = k->win_start + r->interval;
    if (end < k->win_start || end > now) /* overflow, or the window still runs */
        end = now;
    s->interval_usec = end > k->sum_start ? end - k->sum_start : 0;

    bool used[RATELIMIT_TRACKED_DIRS] = {0};
    uint64_t listed = 0;
    while (s->ndirs < RATELIMIT_TOP_DIRS) {
        size_t best = k->ndirs;
        for (size_t i = 0; i < k->ndirs; i++)
            if (!used[i] && (best == k->ndirs || k->dirs[i].count > k->dirs[best].count))
                best = i;
        if (best == k->ndirs)
            break;
        used[best] = true;
        s->dirs[s->ndirs].dir = k->dirs[best].dir;
        s->dirs[s->ndirs].count = k->dirs[best].count;
        listed += k->dirs[best].count;
        s->ndirs++;
    }
    s->elsewhere = k->suppressed - listed;
}

/* See ratelimit.h. EINVAL: NKEYS is 0, or BURST is set and INTERVAL_USEC is 0. The limiter
 * belongs to the caller (ratelimit_free). */
struct ratelimit *ratelimit_new(unsigned nkeys, unsigned burst, uint64_t interval_usec)
{
    if (nkeys == 0 || (burst > 0 && interval_usec == 0)) {
        errno = EINVAL;
        return NULL;
    }
    struct ratelimit *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (!(r->keys = calloc(nkeys, sizeof(*r->keys)))) {
        free(r);
        errno = ENOMEM;
        return NULL;
    }
    r->nkeys = nkeys;
    r->burst = burst;
    r->interval = interval_usec;
    return r;
}

/* Frees R and every directory name it holds, without reporting; R may be NULL. */
void ratelimit_free(struct ratelimit *r)
{
    if (!r)
        return;
    for (unsigned i = 0; i < r->nkeys; i++) {
        clear_dirs(&r->keys[i]);
        free(r->keys[i].dirs);
    }
    free(r->keys);
    free(r);
}

/* See ratelimit.h. A NULL R or a KEY out of range lets the entry through (true) and sets errno
 * to EINVAL: losing a log entry is worse than an unlimited one. A NULL DIR is limited
 * normally and counted as "elsewhere". DIR is copied when tracked. */
bool ratelimit_allow(struct ratelimit *r, unsigned key, const char *dir, uint64_t now_usec)
{
    if (!r || key >= r->nkeys) {
        errno = EINVAL;
        return true;
    }
    if (r->burst == 0)
        return true;
    struct rl_key *k = &r->keys[key];
    if (!k->win_active || elapsed(r, k->win_start, now_usec)) {
        k->win_active = true;
        k->win_start = now_usec;
        k->win_count = 0;
    }
    if (k->win_count < r->burst) {
        k->win_count++;
        return true;
    }
    if (k->suppressed == 0)
        k->sum_start = k->win_start > k->last_flush ? k->win_start : k->last_flush;
    k->suppressed++;
    k->total++;
    count_dir(k, dir);
    return false;
}

/* See ratelimit.h. A key is due once an interval has passed since the start of what its
 * summary covers; reporting clears its counts (a running window keeps running). NULL R or FN:
 * errno EINVAL, nothing happens. */
void ratelimit_flush(struct ratelimit *r, uint64_t now_usec, bool force, ratelimit_summary_fn fn,
                     void *ctx)
{
    if (!r || !fn) {
        errno = EINVAL;
        return;
    }
    for (unsigned i = 0; i < r->nkeys; i++) {
        struct rl_key *k = &r->keys[i];
        if (k->suppressed == 0 || (!force && !elapsed(r, k->sum_start, now_usec)))
            continue;
        struct ratelimit_summary s;
        summarize(r, k, i, now_usec, &s);
        fn(ctx, &s);
        k->suppressed = 0;
        k->last_flush = now_usec;
        clear_dirs(k);
        if (elapsed(r, k->win_start, now_usec))
            k->win_active = false;
    }
}

/* Entries of KEY held back since R was created; 0 with errno EINVAL for a NULL R or a KEY out
 * of range. */
uint64_t ratelimit_total_suppressed(const struct ratelimit *r, unsigned key)
{
    if (!r || key >= r->nkeys) {
        errno = EINVAL;
        return 0;
    }
    return r->keys[key].total;
}
