/* ftable: the open findings of the live daemon, keyed by (path relative to the site root,
 * kind). Pure bookkeeping, no I/O: callers hand it what a path looks like now and it says
 * which findings opened and which closed, so that each is logged exactly once. */
#ifndef PERMWATCH_FTABLE_H
#define PERMWATCH_FTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "finding.h"

struct ftable;

enum ftable_change {
    FTABLE_OPENED, /* a finding appeared: log `finding` */
    FTABLE_CLOSED  /* it went away (fixed, path gone, rule changed): log `resolved` */
};

/* Receives each change. RELPATH is the finding's path relative to the site root; F is the
 * finding as stored (F->path is NULL: the caller makes it absolute), valid only during the
 * call. For FTABLE_CLOSED, F holds the details last recorded: when it opened or at its latest
 * silent refresh by ftable_update. The table is consistent during the call (a closed finding
 * is already gone, an opened one already there): FN may read it, never modify it. */
typedef void (*ftable_change_fn)(void *ctx, enum ftable_change change, const char *relpath,
                                 const struct finding *f);

/* A new, empty table holding at most MAX open findings (0: no limit), reporting changes to
 * FN(CTX, ...). Returns NULL with errno ENOMEM. */
struct ftable *ftable_new(size_t max, ftable_change_fn fn, void *ctx);

/* Cap T's memory at BYTES as ftable_memory counts it (0: no cap, the default): a finding that
 * would open past it is not stored but counted in ftable_untracked, like one past the count
 * cap. Refreshes and closes are never refused (a refresh may pass the cap by the growth of its
 * strings). Takes effect at the next ftable_update. */
void ftable_set_max_memory(struct ftable *t, size_t bytes);
void ftable_free(struct ftable *t);

/* Set the open findings of RELPATH to exactly F[0..N) (kinds distinct; F[i].path ignored):
 * kinds not open before are opened (FTABLE_OPENED, unless the table is full: then the
 * finding is counted in ftable_untracked and not stored), open kinds not in F are closed
 * (FTABLE_CLOSED). A kind that stays open has its details (rule, uid, gid, mode, expected,
 * reason, ...) refreshed silently. Marks RELPATH's entries as seen in the current sweep.
 * Closes are reported before opens, each in kind order, and make room under the cap for the
 * opens of the same call; strings are copied. Returns 0, or -1 with errno EINVAL (NULL T or
 * RELPATH, F NULL with N > 0, a kind out of range or repeated) or ENOMEM (the table is left
 * unchanged, except that RELPATH still counts as seen). */
int ftable_update(struct ftable *t, const char *relpath, const struct finding *f, size_t n);

/* Close every open finding of RELPATH itself (the file was deleted). Returns the count. */
size_t ftable_forget_path(struct ftable *t, const char *relpath);

/* Close every open finding of PREFIX and below it ("" closes everything): a directory was
 * deleted, moved out of the site or became ignored. "a/b" covers "a/b/c", not "a/b-c";
 * trailing slashes of PREFIX are ignored here, in sweeps and in ftable_foreach. Returns the
 * count. */
size_t ftable_forget_subtree(struct ftable *t, const char *prefix);

/* Sweeps reconcile the table with a fresh crawl: ftable_sweep_begin starts a sweep of the
 * subtree PREFIX; every ftable_update during it marks paths as seen; ftable_sweep_end
 * closes the findings at and below PREFIX that were not seen since the matching begin (the
 * crawl no longer reports them). Sweeps do not nest; a begin while one runs restarts it.
 * ftable_sweep_end returns the number closed. */
void ftable_sweep_begin(struct ftable *t, const char *prefix);
size_t ftable_sweep_end(struct ftable *t);

/* The kinds open at exactly RELPATH as a bit set (bit K set: kind K is open there); 0 when
 * none or T is NULL. O(log n), no allocation. */
uint32_t ftable_open_kinds(const struct ftable *t, const char *relpath);

/* Open findings in all, and of kind K. */
size_t ftable_count(const struct ftable *t);
size_t ftable_count_kind(const struct ftable *t, enum finding_kind k);

/* Findings not stored because the table was full (count or bytes), since the last call (which
 * resets it). */
uint64_t ftable_take_untracked(struct ftable *t);

/* Call FN(CTX, relpath, f) for each open finding at or below PREFIX ("" for all), in path
 * order then kind order. Stops early when FN returns false. FN must not modify the table. */
typedef bool (*ftable_visit_fn)(void *ctx, const char *relpath, const struct finding *f);
void ftable_foreach(const struct ftable *t, const char *prefix, ftable_visit_fn fn, void *ctx);

/* ftable_foreach resumed by key: only the findings strictly after (AFTER, AFTER_KIND) in
 * (path, kind) order; AFTER NULL starts at the first. AFTER need not be in the table any more:
 * a cursor for iterating in slices while the table changes between them. Each slice sees the
 * table as it is then: a finding opened after the cursor is visited, one before it is not,
 * one closed before its turn is not; none is visited twice. */
void ftable_foreach_after(const struct ftable *t, const char *prefix, const char *after,
                          int after_kind, ftable_visit_fn fn, void *ctx);

/* Bytes the table has requested from malloc for itself, its paths and its findings (without
 * the allocator's own overhead), for metrics and the byte cap; 0 for NULL.
 *
 * Paths are stored as their last component plus an interned directory (each directory with
 * findings below it stored once, as its own name and a pointer to its parent), so the cost
 * does not grow with the length of the directory chain. Worst case, x86-64: 56 + name + 1
 * bytes per path with findings, 24 + its strings per finding (about 150 for a typical one;
 * bounded by the finding's fixed-size fields: rule, owner, group, channel, command,
 * blocked_at as given, expected and reason at most 128 and 256), plus 41 + name per directory
 * that has findings below it, once, plus one scratch buffer as long as the longest path.
 * Measured (tests/test_ftable.c): about 220 bytes per finding on 47-byte paths, and the same
 * for 20,000 findings in one directory under a 3,800-byte chain (was 4,150). */
size_t ftable_memory(const struct ftable *t);

#endif
