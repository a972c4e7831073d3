/* Unit tests of ratelimit: the burst per window, windows and their restart, independent keys,
 * summaries (top directories, "elsewhere", the interval covered), flushing late and forced,
 * totals, bounded directory tracking and invalid arguments. Times are in microseconds. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

/* --- fixtures ----------------------------------------------------------------------------- */

#define SEC     1000000u
#define MAXSUMS 16

/* A summary copied out of the callback. */
struct sum {
    unsigned key;
    uint64_t suppressed, elsewhere, interval_usec;
    size_t ndirs;
    char dir[RATELIMIT_TOP_DIRS][64];
    uint64_t count[RATELIMIT_TOP_DIRS];
};

struct sums {
    size_t n;
    struct sum s[MAXSUMS];
};

static void collect(void *ctx, const struct ratelimit_summary *s)
{
    struct sums *c = ctx;
    cr_assert_lt(c->n, MAXSUMS);
    struct sum *d = &c->s[c->n++];
    d->key = s->key;
    d->suppressed = s->suppressed;
    d->elsewhere = s->elsewhere;
    d->interval_usec = s->interval_usec;
    d->ndirs = s->ndirs;
    cr_assert_leq(s->ndirs, RATELIMIT_TOP_DIRS);
    for (size_t i = 0; i < s->ndirs; i++) {
        cr_assert_not_null(s->dirs[i].dir);
        snprintf(d->dir[i], sizeof(d->dir[i]), "%s", s->dirs[i].dir);
        d->count[i] = s->dirs[i].count;
    }
}

/* Flush R at NOW into a fresh collection. */
static struct sums flush(struct ratelimit *r, uint64_t now, bool force)
{
    struct sums c = {0};
    ratelimit_flush(r, now, force, collect, &c);
    return c;
}

static struct ratelimit *limiter(unsigned nkeys, unsigned burst, uint64_t interval)
{
    struct ratelimit *r = ratelimit_new(nkeys, burst, interval);
    cr_assert_not_null(r, "ratelimit_new: %s", strerror(errno));
    return r;
}

/* Call allow N times for KEY/DIR at NOW; returns how many were let through. */
static unsigned allow_n(struct ratelimit *r, unsigned key, const char *dir, uint64_t now,
                        unsigned n)
{
    unsigned ok = 0;
    for (unsigned i = 0; i < n; i++)
        ok += ratelimit_allow(r, key, dir, now);
    return ok;
}

/* Sum of the listed counts and elsewhere equals suppressed, and the list descends. */
static void check_sum_shape(const struct sum *s)
{
    uint64_t listed = 0;
    for (size_t i = 0; i < s->ndirs; i++) {
        listed += s->count[i];
        if (i > 0)
            cr_assert_geq(s->count[i - 1], s->count[i], "dirs[%zu] out of order", i);
    }
    cr_assert_eq(listed + s->elsewhere, s->suppressed);
}

/* --- creation and arguments --------------------------------------------------------------- */

Test(ratelimit_new, rejects_invalid_settings)
{
    errno = 0;
    cr_assert_null(ratelimit_new(0, 10, SEC));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(ratelimit_new(4, 10, 0));
    cr_assert_eq(errno, EINVAL);
    struct ratelimit *r = ratelimit_new(4, 0, 0); /* no limit needs no interval */
    cr_assert_not_null(r);
    ratelimit_free(r);
    ratelimit_free(NULL);
}

Test(ratelimit_allow, invalid_arguments_let_through_with_einval)
{
    struct ratelimit *r = limiter(2, 1, SEC);
    errno = 0;
    cr_assert(ratelimit_allow(NULL, 0, "d", 0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert(ratelimit_allow(r, 2, "d", 0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert(ratelimit_allow(r, 2, "d", 0));
    cr_assert_eq(errno, EINVAL);
    /* nothing was counted against a real key */
    cr_assert(ratelimit_allow(r, 1, "d", 0));
    cr_assert(ratelimit_allow(r, 0, "d", 0));
    cr_assert_not(ratelimit_allow(r, 0, "d", 0));

    errno = 0;
    cr_assert_eq(ratelimit_total_suppressed(r, 2), 0);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(ratelimit_total_suppressed(NULL, 0), 0);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 1);

    errno = 0;
    ratelimit_flush(r, 10 * SEC, true, NULL, NULL);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    struct sums c = {0};
    ratelimit_flush(NULL, 10 * SEC, true, collect, &c);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(c.n, 0);
    /* the invalid flush did not reset anything */
    c = flush(r, 10 * SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].suppressed, 1);
    ratelimit_free(r);
}

/* --- the burst and the window ------------------------------------------------------------- */

Test(ratelimit_allow, burst_is_honored_exactly)
{
    for (unsigned burst = 1; burst <= 20; burst++) {
        struct ratelimit *r = limiter(1, burst, 10 * SEC);
        unsigned i = 0;
        for (; i < burst; i++)
            cr_assert(ratelimit_allow(r, 0, "d", 1000 + i), "burst %u: entry %u held", burst, i);
        for (; i < burst + 5; i++)
            cr_assert_not(ratelimit_allow(r, 0, "d", 1000 + i), "burst %u: entry %u let through",
                          burst, i);
        cr_assert_eq(ratelimit_total_suppressed(r, 0), 5);
        ratelimit_free(r);
    }
}

Test(ratelimit_allow, no_limit_with_burst_zero)
{
    struct ratelimit *r = limiter(1, 0, 0);
    cr_assert_eq(allow_n(r, 0, "d", 5, 100000), 100000);
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 0);
    cr_assert_eq(flush(r, 5, true).n, 0);
    ratelimit_free(r);
}

Test(ratelimit_allow, window_ends_exactly_one_interval_after_it_starts)
{
    struct ratelimit *r = limiter(1, 2, 10 * SEC);
    cr_assert_eq(allow_n(r, 0, "d", 100 * SEC, 3), 2);
    cr_assert_not(ratelimit_allow(r, 0, "d", 110 * SEC - 1));
    /* a new window: a full burst again */
    cr_assert_eq(allow_n(r, 0, "d", 110 * SEC, 3), 2);
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 3);
    ratelimit_free(r);
}

Test(ratelimit_allow, window_starts_at_the_first_entry_after_the_last_one_ended)
{
    struct ratelimit *r = limiter(1, 1, 10 * SEC);
    cr_assert(ratelimit_allow(r, 0, "d", 0));
    /* quiet until 15 s: the window that opens then runs to 25 s, not 20 s */
    cr_assert(ratelimit_allow(r, 0, "d", 15 * SEC));
    cr_assert_not(ratelimit_allow(r, 0, "d", 20 * SEC));
    cr_assert_not(ratelimit_allow(r, 0, "d", 25 * SEC - 1));
    cr_assert(ratelimit_allow(r, 0, "d", 25 * SEC));
    ratelimit_free(r);
}

Test(ratelimit_allow, first_window_may_start_at_time_zero)
{
    struct ratelimit *r = limiter(1, 1, 10 * SEC);
    cr_assert(ratelimit_allow(r, 0, "d", 0));
    cr_assert_not(ratelimit_allow(r, 0, "d", 0));
    cr_assert_not(ratelimit_allow(r, 0, "d", 10 * SEC - 1));
    cr_assert(ratelimit_allow(r, 0, "d", 10 * SEC));
    ratelimit_free(r);
}

Test(ratelimit_allow, keys_are_independent)
{
    struct ratelimit *r = limiter(3, 2, 10 * SEC);
    cr_assert_eq(allow_n(r, 0, "a", SEC, 10), 2);
    cr_assert_eq(allow_n(r, 1, "a", SEC, 1), 1);
    cr_assert_eq(allow_n(r, 2, "b", 5 * SEC, 4), 2);
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 8);
    cr_assert_eq(ratelimit_total_suppressed(r, 1), 0);
    cr_assert_eq(ratelimit_total_suppressed(r, 2), 2);

    /* at 11 s only key 0's window has ended; key 1 held nothing back */
    struct sums c = flush(r, 11 * SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].key, 0);
    cr_assert_eq(c.s[0].suppressed, 8);
    cr_assert_str_eq(c.s[0].dir[0], "a");
    /* key 1's window keeps its own budget */
    cr_assert(ratelimit_allow(r, 1, "a", 11 * SEC - 1));
    cr_assert_not(ratelimit_allow(r, 1, "a", 11 * SEC - 1));
    c = flush(r, 15 * SEC, false);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.s[0].key, 1);
    cr_assert_eq(c.s[0].suppressed, 1);
    cr_assert_eq(c.s[1].key, 2);
    cr_assert_eq(c.s[1].suppressed, 2);
    cr_assert_str_eq(c.s[1].dir[0], "b");
    ratelimit_free(r);
}

/* --- summaries ---------------------------------------------------------------------------- */

Test(ratelimit_flush, reports_once_when_the_window_has_ended)
{
    struct ratelimit *r = limiter(1, 1, 10 * SEC);
    cr_assert(ratelimit_allow(r, 0, "wp-content/uploads", 2 * SEC));
    cr_assert_eq(allow_n(r, 0, "wp-content/uploads", 3 * SEC, 4), 0);
    cr_assert_eq(allow_n(r, 0, "", 4 * SEC, 2), 0);
    cr_assert_eq(flush(r, 12 * SEC - 1, false).n, 0, "reported before the window ended");
    struct sums c = flush(r, 12 * SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].suppressed, 6);
    cr_assert_eq(c.s[0].interval_usec, 10 * SEC);
    cr_assert_eq(c.s[0].ndirs, 2);
    cr_assert_str_eq(c.s[0].dir[0], "wp-content/uploads");
    cr_assert_eq(c.s[0].count[0], 4);
    cr_assert_str_eq(c.s[0].dir[1], "");
    cr_assert_eq(c.s[0].count[1], 2);
    cr_assert_eq(c.s[0].elsewhere, 0);
    check_sum_shape(&c.s[0]);
    /* reported and reset */
    cr_assert_eq(flush(r, 13 * SEC, false).n, 0);
    cr_assert_eq(flush(r, 100 * SEC, true).n, 0);
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 6);
    /* the next window starts clean */
    cr_assert(ratelimit_allow(r, 0, "x", 200 * SEC));
    cr_assert_not(ratelimit_allow(r, 0, "y", 200 * SEC));
    c = flush(r, 210 * SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].suppressed, 1);
    cr_assert_eq(c.s[0].ndirs, 1);
    cr_assert_str_eq(c.s[0].dir[0], "y");
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 7);
    ratelimit_free(r);
}

Test(ratelimit_flush, top_directories_descend_and_the_rest_is_elsewhere)
{
    struct ratelimit *r = limiter(1, 1, SEC);
    cr_assert(ratelimit_allow(r, 0, "first", 0));
    /* d1 once, d2 twice, ... d8 eight times, interleaved */
    char dir[8][16];
    for (int i = 0; i < 8; i++)
        snprintf(dir[i], sizeof(dir[i]), "d%d", i + 1);
    for (int round = 0; round < 8; round++)
        for (int i = round; i < 8; i++)
            cr_assert_not(ratelimit_allow(r, 0, dir[i], 1));
    struct sums c = flush(r, SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].suppressed, 36);
    cr_assert_eq(c.s[0].ndirs, RATELIMIT_TOP_DIRS);
    for (int i = 0; i < RATELIMIT_TOP_DIRS; i++) {
        cr_assert_str_eq(c.s[0].dir[i], dir[7 - i], "rank %d", i);
        cr_assert_eq(c.s[0].count[i], (uint64_t)(8 - i));
    }
    cr_assert_eq(c.s[0].elsewhere, 1 + 2 + 3);
    check_sum_shape(&c.s[0]);
    ratelimit_free(r);
}

Test(ratelimit_flush, ties_keep_the_order_directories_first_appeared_in)
{
    struct ratelimit *r = limiter(1, 1, SEC);
    cr_assert(ratelimit_allow(r, 0, "x", 0));
    const char *order[] = {"c", "a", "b", "e", "d", "f"};
    for (int i = 0; i < 6; i++)
        cr_assert_not(ratelimit_allow(r, 0, order[i], 1));
    cr_assert_not(ratelimit_allow(r, 0, "f", 1)); /* f leads with 2 */
    struct sums c = flush(r, SEC, false);
    cr_assert_eq(c.s[0].ndirs, 5);
    const char *want[] = {"f", "c", "a", "b", "e"};
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(c.s[0].dir[i], want[i], "rank %d", i);
    cr_assert_eq(c.s[0].elsewhere, 1); /* d */
    ratelimit_free(r);
}

Test(ratelimit_flush, directories_beyond_the_tracked_ones_count_as_elsewhere)
{
    struct ratelimit *r = limiter(1, 1, SEC);
    cr_assert(ratelimit_allow(r, 0, "x", 0));
    char dir[32];
    /* RATELIMIT_TRACKED_DIRS directories fill the table; t0, the last one and t1 are the
     * busiest */
    for (int i = 0; i < RATELIMIT_TRACKED_DIRS; i++) {
        snprintf(dir, sizeof(dir), "t%d", i);
        cr_assert_not(ratelimit_allow(r, 0, dir, 1));
    }
    char last[32];
    snprintf(last, sizeof(last), "t%d", RATELIMIT_TRACKED_DIRS - 1);
    cr_assert_eq(allow_n(r, 0, "t0", 1, 9), 0);
    cr_assert_eq(allow_n(r, 0, last, 1, 6), 0);
    cr_assert_eq(allow_n(r, 0, "t1", 1, 4), 0);
    /* then a directory busier than all of them arrives: no room left */
    cr_assert_eq(allow_n(r, 0, "late", 1, 50), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(dir, sizeof(dir), "u%d", i);
        cr_assert_not(ratelimit_allow(r, 0, dir, 1));
    }
    struct sums c = flush(r, SEC, false);
    cr_assert_eq(c.n, 1);
    const struct sum *s = &c.s[0];
    uint64_t suppressed = RATELIMIT_TRACKED_DIRS + 9 + 6 + 4 + 50 + 100;
    cr_assert_eq(s->suppressed, suppressed);
    cr_assert_str_eq(s->dir[0], "t0");
    cr_assert_eq(s->count[0], 10);
    cr_assert_str_eq(s->dir[1], last);
    cr_assert_eq(s->count[1], 7);
    cr_assert_str_eq(s->dir[2], "t1");
    cr_assert_eq(s->count[2], 5);
    cr_assert_str_eq(s->dir[3], "t2");
    cr_assert_eq(s->count[3], 1);
    for (size_t i = 0; i < s->ndirs; i++)
        cr_assert_str_neq(s->dir[i], "late");
    cr_assert_eq(s->elsewhere, suppressed - 10 - 7 - 5 - 1 - 1);
    check_sum_shape(s);

    /* after the report the table is free again: "late" is tracked now */
    cr_assert(ratelimit_allow(r, 0, "x", 2 * SEC));
    cr_assert_eq(allow_n(r, 0, "late", 2 * SEC, 3), 0);
    c = flush(r, 3 * SEC, false);
    cr_assert_eq(c.s[0].ndirs, 1);
    cr_assert_str_eq(c.s[0].dir[0], "late");
    cr_assert_eq(c.s[0].elsewhere, 0);
    ratelimit_free(r);
}

Test(ratelimit_flush, long_and_null_directories_count_as_elsewhere)
{
    static char longest[RATELIMIT_DIR_MAX + 2];
    struct ratelimit *r = limiter(1, 1, SEC);
    cr_assert(ratelimit_allow(r, 0, NULL, 0));
    cr_assert_not(ratelimit_allow(r, 0, NULL, 0), "a NULL directory escaped the limit");
    memset(longest, 'a', RATELIMIT_DIR_MAX + 1);
    cr_assert_not(ratelimit_allow(r, 0, longest, 0)); /* one byte too long */
    longest[RATELIMIT_DIR_MAX] = '\0';
    cr_assert_not(ratelimit_allow(r, 0, longest, 0)); /* just fits */
    cr_assert_not(ratelimit_allow(r, 0, longest, 0));
    struct sums c = flush(r, SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].suppressed, 4);
    cr_assert_eq(c.s[0].ndirs, 1);
    cr_assert_eq(c.s[0].count[0], 2);
    cr_assert_eq(c.s[0].elsewhere, 2);
    ratelimit_free(r);
}

/* Records the length of the first directory of a summary. */
static void first_dir_len(void *ctx, const struct ratelimit_summary *s)
{
    *(size_t *)ctx = s->ndirs ? strlen(s->dirs[0].dir) : 0;
}

Test(ratelimit_flush, a_directory_of_the_maximum_length_is_kept_whole)
{
    static char longest[RATELIMIT_DIR_MAX + 1];
    memset(longest, 'b', RATELIMIT_DIR_MAX);
    struct ratelimit *r = limiter(1, 1, SEC);
    cr_assert(ratelimit_allow(r, 0, "x", 0));
    cr_assert_not(ratelimit_allow(r, 0, longest, 0));
    size_t len = 0;
    ratelimit_flush(r, SEC, false, first_dir_len, &len);
    cr_assert_eq(len, RATELIMIT_DIR_MAX);
    ratelimit_free(r);
}

Test(ratelimit_flush, directory_names_are_copied)
{
    struct ratelimit *r = limiter(1, 1, SEC);
    char dir[32] = "wp-content/cache";
    cr_assert(ratelimit_allow(r, 0, dir, 0));
    cr_assert_not(ratelimit_allow(r, 0, dir, 0));
    memset(dir, 'Z', sizeof(dir) - 1);
    cr_assert_not(ratelimit_allow(r, 0, dir, 0));
    struct sums c = flush(r, SEC, false);
    cr_assert_eq(c.s[0].ndirs, 2);
    cr_assert_str_eq(c.s[0].dir[0], "wp-content/cache");
    cr_assert_eq(c.s[0].count[0], 1);
    cr_assert_eq(strspn(c.s[0].dir[1], "Z"), strlen(c.s[0].dir[1]));
    ratelimit_free(r);
}

/* --- late and forced flushes -------------------------------------------------------------- */

Test(ratelimit_flush, force_reports_a_running_window_and_keeps_it)
{
    struct ratelimit *r = limiter(2, 2, 10 * SEC);
    cr_assert_eq(allow_n(r, 0, "a", SEC, 5), 2);
    cr_assert_eq(allow_n(r, 1, "b", SEC, 2), 2); /* nothing held back */
    cr_assert_eq(flush(r, 4 * SEC, false).n, 0);
    struct sums c = flush(r, 4 * SEC, true);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].key, 0);
    cr_assert_eq(c.s[0].suppressed, 3);
    cr_assert_eq(c.s[0].interval_usec, 3 * SEC);
    cr_assert_str_eq(c.s[0].dir[0], "a");
    /* the window is not over: no new burst */
    cr_assert_not(ratelimit_allow(r, 0, "a", 5 * SEC));
    /* what is held back from now on is reported one interval after the last report */
    cr_assert_eq(flush(r, 11 * SEC, false).n, 0);
    c = flush(r, 14 * SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].suppressed, 1);
    cr_assert_eq(c.s[0].interval_usec, 7 * SEC); /* from the report at 4 s to the end, 11 s */
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 4);
    ratelimit_free(r);
}

Test(ratelimit_flush, a_late_flush_covers_every_window_since_the_last_report)
{
    struct ratelimit *r = limiter(1, 1, 10 * SEC);
    /* window [0, 10): two held back in d1 */
    cr_assert_eq(allow_n(r, 0, "d1", 0, 3), 1);
    /* the timer is late: a new window [12, 22) opens and holds back three in d2 */
    cr_assert_eq(allow_n(r, 0, "d2", 12 * SEC, 4), 1);
    struct sums c = flush(r, 13 * SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].suppressed, 5);
    cr_assert_eq(c.s[0].interval_usec, 13 * SEC);
    cr_assert_str_eq(c.s[0].dir[0], "d2");
    cr_assert_eq(c.s[0].count[0], 3);
    cr_assert_str_eq(c.s[0].dir[1], "d1");
    cr_assert_eq(c.s[0].count[1], 2);
    /* the window [12, 22) still runs: its burst is spent */
    cr_assert_not(ratelimit_allow(r, 0, "d3", 14 * SEC));
    /* at most one summary per interval: not before 23 s */
    cr_assert_eq(flush(r, 22 * SEC, false).n, 0);
    c = flush(r, 23 * SEC, false);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.s[0].suppressed, 1);
    cr_assert_eq(c.s[0].interval_usec, 9 * SEC); /* 13 s to the window's end at 22 s */
    cr_assert_str_eq(c.s[0].dir[0], "d3");
    /* and a fresh window afterwards */
    cr_assert(ratelimit_allow(r, 0, "d4", 24 * SEC));
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 6);
    ratelimit_free(r);
}

Test(ratelimit_flush, summary_strings_live_during_the_call)
{
    struct ratelimit *r = limiter(1, 1, SEC);
    cr_assert(ratelimit_allow(r, 0, "k", 0));
    for (int i = 0; i < 10; i++) {
        char dir[16];
        snprintf(dir, sizeof(dir), "dir%d", i);
        cr_assert_eq(allow_n(r, 0, dir, 0, (unsigned)(i + 1)), 0);
    }
    struct sums c = flush(r, SEC, true);
    cr_assert_eq(c.s[0].ndirs, 5);
    cr_assert_str_eq(c.s[0].dir[0], "dir9");
    cr_assert_str_eq(c.s[0].dir[4], "dir5");
    cr_assert_eq(c.s[0].elsewhere, 1 + 2 + 3 + 4 + 5);
    check_sum_shape(&c.s[0]);
    ratelimit_free(r);
}

Test(ratelimit_total, accumulates_across_windows_and_flushes)
{
    struct ratelimit *r = limiter(2, 3, SEC);
    uint64_t want = 0;
    for (unsigned w = 0; w < 20; w++) {
        uint64_t now = (uint64_t)w * 2 * SEC;
        cr_assert_eq(allow_n(r, 1, "d", now, 3 + w), 3);
        want += w;
        if (w % 3 == 0)
            (void)flush(r, now + SEC, false);
    }
    cr_assert_eq(ratelimit_total_suppressed(r, 1), want);
    cr_assert_eq(ratelimit_total_suppressed(r, 0), 0);
    ratelimit_free(r);
}

Test(ratelimit_allow, memory_stays_bounded_under_many_directories)
{
    /* 200,000 distinct directories in one window: only the tracked ones are kept (ASan and
     * valgrind would see a leak or an overflow) and the counts still add up */
    struct ratelimit *r = limiter(1, 1, SEC);
    cr_assert(ratelimit_allow(r, 0, "x", 0));
    char dir[32];
    for (int i = 0; i < 200000; i++) {
        snprintf(dir, sizeof(dir), "d/%d", i);
        cr_assert_not(ratelimit_allow(r, 0, dir, 1));
    }
    struct sums c = flush(r, SEC, false);
    cr_assert_eq(c.s[0].suppressed, 200000);
    cr_assert_eq(c.s[0].elsewhere, 200000 - RATELIMIT_TOP_DIRS);
    cr_assert_str_eq(c.s[0].dir[0], "d/0");
    ratelimit_free(r);
}
