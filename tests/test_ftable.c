/* Unit tests of ftable: open/close/refresh, exactly-once change reports, forgetting paths and
 * subtrees (with the "a/b-c" sibling that sorts between "a/b" and "a/b/"), sweeps, the cap,
 * iteration, copies of borrowed strings, allocation failure, and a 200,000-path table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ftable.h"

/* --- fixtures ----------------------------------------------------------------------------- */

#define MAXEV 256

/* One reported change, copied out of the callback. */
struct event {
    enum ftable_change change;
    char path[128];
    enum finding_kind kind;
    char rule[32];
    char owner[32];
    mode_t mode;
    char reason[256];
    bool path_null; /* F->path was NULL, as promised */
};

/* Every change reported, in order; the table it watches, to check it from inside reports. */
struct log {
    struct ftable *t;
    size_t n;
    size_t opened, closed; /* totals, also past MAXEV */
    struct event ev[MAXEV];
    bool inconsistent; /* a report saw the table in a state it should not be in */
};

static bool find_kind_visit(void *ctx, const char *relpath, const struct finding *f);

struct kind_probe {
    const char *path;
    enum finding_kind kind;
    bool found;
};

/* Whether T holds an open finding of kind K at exactly RELPATH, through ftable_foreach. */
static bool holds(const struct ftable *t, const char *relpath, enum finding_kind k)
{
    struct kind_probe p = {.path = relpath, .kind = k};
    ftable_foreach(t, relpath, find_kind_visit, &p);
    return p.found;
}

static bool find_kind_visit(void *ctx, const char *relpath, const struct finding *f)
{
    struct kind_probe *p = ctx;
    if (strcmp(relpath, p->path) == 0 && f->kind == p->kind)
        p->found = true;
    return true;
}

static size_t count_kinds(const struct ftable *t)
{
    size_t sum = 0;
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        sum += ftable_count_kind(t, (enum finding_kind)k);
    return sum;
}

static void on_change(void *ctx, enum ftable_change c, const char *relpath, const struct finding *f)
{
    struct log *l = ctx;
    if (c == FTABLE_OPENED)
        l->opened++;
    else
        l->closed++;
    /* the table is consistent while it reports: the finding is already there or gone */
    if (l->t) {
        if (holds(l->t, relpath, f->kind) != (c == FTABLE_OPENED))
            l->inconsistent = true;
        if (count_kinds(l->t) != ftable_count(l->t))
            l->inconsistent = true;
    }
    if (l->n == MAXEV)
        return;
    struct event *e = &l->ev[l->n++];
    e->change = c;
    snprintf(e->path, sizeof(e->path), "%s", relpath);
    e->kind = f->kind;
    snprintf(e->rule, sizeof(e->rule), "%s", f->rule ? f->rule : "(null)");
    snprintf(e->owner, sizeof(e->owner), "%s", f->owner ? f->owner : "(null)");
    e->mode = f->mode;
    snprintf(e->reason, sizeof(e->reason), "%s", f->reason);
    e->path_null = f->path == NULL;
}

/* A table of at most MAX findings reporting into L, which also watches it. */
static struct ftable *table(size_t max, struct log *l)
{
    memset(l, 0, sizeof(*l));
    struct ftable *t = ftable_new(max, on_change, l);
    cr_assert_not_null(t);
    l->t = t;
    return t;
}

static struct finding mk(enum finding_kind k, const char *rule, mode_t mode)
{
    struct finding f = {.kind = k, .rule = rule, .has_stat = true, .mode = mode};
    f.owner = "www-data";
    f.group = "www-data";
    f.uid = 33;
    f.gid = 33;
    snprintf(f.expected, sizeof(f.expected), "0660");
    snprintf(f.reason, sizeof(f.reason), "%s mode %04o", rule ? rule : "-", (unsigned)mode);
    return f;
}

/* Open one finding of kind K at PATH (other kinds of PATH close). */
static void put1(struct ftable *t, const char *path, enum finding_kind k)
{
    struct finding f = mk(k, "site", 0644);
    cr_assert_eq(ftable_update(t, path, &f, 1), 0, "update %s: %s", path, strerror(errno));
}

/* Open findings of kinds K1 and K2 at PATH. */
static void put2(struct ftable *t, const char *path, enum finding_kind k1, enum finding_kind k2)
{
    struct finding f[2] = {mk(k1, "site", 0644), mk(k2, "site", 0644)};
    cr_assert_eq(ftable_update(t, path, f, 2), 0, "update %s: %s", path, strerror(errno));
}

static void expect_event(const struct log *l, size_t i, enum ftable_change c, const char *path,
                         enum finding_kind k)
{
    cr_assert_lt(i, l->n, "event %zu missing (%zu events)", i, l->n);
    const struct event *e = &l->ev[i];
    cr_assert_eq(e->change, c, "event %zu: change %d, want %d", i, e->change, c);
    cr_assert_str_eq(e->path, path, "event %zu", i);
    cr_assert_eq(e->kind, k, "event %zu: kind %d, want %d", i, e->kind, k);
    cr_assert(e->path_null, "event %zu: F->path set", i);
}

/* Whether L holds exactly one CLOSED event for PATH (any kind) among events FROM.. */
static size_t closed_events_for(const struct log *l, size_t from, const char *path)
{
    size_t n = 0;
    for (size_t i = from; i < l->n; i++)
        if (l->ev[i].change == FTABLE_CLOSED && strcmp(l->ev[i].path, path) == 0)
            n++;
    return n;
}

/* Collects visited (path, kind) pairs. */
struct visits {
    size_t n, stop_after; /* stop_after 0: never stop */
    char path[64][64];
    enum finding_kind kind[64];
    struct finding first; /* a copy of the first finding seen (its strings are not kept) */
    char rule[64], owner[64], group[64], channel[64], command[64], blocked_at[64];
    bool owner_null, channel_null;
};

static bool visit(void *ctx, const char *relpath, const struct finding *f)
{
    struct visits *v = ctx;
    if (v->n == 0) {
        v->first = *f;
        snprintf(v->rule, sizeof(v->rule), "%s", f->rule ? f->rule : "(null)");
        v->owner_null = f->owner == NULL;
        snprintf(v->owner, sizeof(v->owner), "%s", f->owner ? f->owner : "");
        snprintf(v->group, sizeof(v->group), "%s", f->group ? f->group : "(null)");
        v->channel_null = f->channel == NULL;
        snprintf(v->channel, sizeof(v->channel), "%s", f->channel ? f->channel : "");
        snprintf(v->command, sizeof(v->command), "%s", f->command ? f->command : "(null)");
        snprintf(v->blocked_at, sizeof(v->blocked_at), "%s",
                 f->blocked_at ? f->blocked_at : "(null)");
    }
    if (v->n < 64) {
        snprintf(v->path[v->n], sizeof(v->path[0]), "%s", relpath);
        v->kind[v->n] = f->kind;
    }
    v->n++;
    return v->stop_after == 0 || v->n < v->stop_after;
}

/* Paths visited at or below PREFIX, one per finding, joined by spaces. */
static const char *visited(const struct ftable *t, const char *prefix, char *buf, size_t len)
{
    struct visits v = {0};
    ftable_foreach(t, prefix, visit, &v);
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < v.n && i < 64; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? " " : "", v.path[i]);
    return buf;
}

/* --- open, close, refresh ----------------------------------------------------------------- */

Test(ftable_update, opens_each_new_kind_once_in_kind_order)
{
    struct log l;
    struct ftable *t = table(0, &l);
    struct finding f[2] = {mk(FINDING_MODE_MISMATCH, "site", 0644),
                           mk(FINDING_ROOT_OWNED, "site", 0644)};
    cr_assert_eq(ftable_update(t, "index.php", f, 2), 0);
    cr_assert_eq(l.n, 2);
    expect_event(&l, 0, FTABLE_OPENED, "index.php", FINDING_ROOT_OWNED);
    expect_event(&l, 1, FTABLE_OPENED, "index.php", FINDING_MODE_MISMATCH);
    cr_assert_eq(ftable_count(t), 2);
    cr_assert_eq(ftable_count_kind(t, FINDING_ROOT_OWNED), 1);
    cr_assert_eq(ftable_count_kind(t, FINDING_MODE_MISMATCH), 1);
    cr_assert_eq(ftable_count_kind(t, FINDING_OWNER_MISMATCH), 0);

    /* the same findings again: nothing to report */
    cr_assert_eq(ftable_update(t, "index.php", f, 2), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(ftable_count(t), 2);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_update, closes_kinds_no_longer_present_with_their_details)
{
    struct log l;
    struct ftable *t = table(0, &l);
    struct finding f[2] = {mk(FINDING_OWNER_MISMATCH, "wp-config", 0600),
                           mk(FINDING_MODE_MISMATCH, "wp-config", 0600)};
    cr_assert_eq(ftable_update(t, "wp-config.php", f, 2), 0);
    l.n = 0;
    cr_assert_eq(ftable_update(t, "wp-config.php", &f[1], 1), 0);
    cr_assert_eq(l.n, 1);
    expect_event(&l, 0, FTABLE_CLOSED, "wp-config.php", FINDING_OWNER_MISMATCH);
    cr_assert_str_eq(l.ev[0].rule, "wp-config");
    cr_assert_str_eq(l.ev[0].owner, "www-data");
    cr_assert_eq(l.ev[0].mode, 0600);
    cr_assert_str_eq(l.ev[0].reason, "wp-config mode 0600");
    cr_assert_eq(ftable_count(t), 1);
    cr_assert_eq(ftable_count_kind(t, FINDING_OWNER_MISMATCH), 0);
    cr_assert(holds(t, "wp-config.php", FINDING_MODE_MISMATCH));
    cr_assert_not(holds(t, "wp-config.php", FINDING_OWNER_MISMATCH));
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_update, closes_before_opening_in_one_update)
{
    struct log l;
    struct ftable *t = table(0, &l);
    put2(t, "a", FINDING_ROOT_OWNED, FINDING_WEB_UNREADABLE);
    l.n = 0;
    put2(t, "a", FINDING_GROUP_MISMATCH, FINDING_WEB_UNREADABLE);
    cr_assert_eq(l.n, 2);
    expect_event(&l, 0, FTABLE_CLOSED, "a", FINDING_ROOT_OWNED);
    expect_event(&l, 1, FTABLE_OPENED, "a", FINDING_GROUP_MISMATCH);
    cr_assert_eq(ftable_count(t), 2);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_update, no_findings_closes_all_and_drops_the_path)
{
    struct log l;
    struct ftable *t = table(0, &l);
    put2(t, "a/b", FINDING_ROOT_OWNED, FINDING_MODE_MISMATCH);
    put1(t, "a/c", FINDING_ROOT_OWNED);
    size_t before = ftable_memory(t);
    l.n = 0;
    cr_assert_eq(ftable_update(t, "a/b", NULL, 0), 0);
    cr_assert_eq(l.n, 2);
    expect_event(&l, 0, FTABLE_CLOSED, "a/b", FINDING_ROOT_OWNED);
    expect_event(&l, 1, FTABLE_CLOSED, "a/b", FINDING_MODE_MISMATCH);
    cr_assert_eq(ftable_count(t), 1);
    cr_assert_lt(ftable_memory(t), before);
    /* nothing left to forget there, and closing twice reports nothing */
    cr_assert_eq(ftable_forget_path(t, "a/b"), 0);
    cr_assert_eq(ftable_update(t, "a/b", NULL, 0), 0);
    cr_assert_eq(l.n, 2);
    /* an unknown path with no findings is no change at all */
    cr_assert_eq(ftable_update(t, "zz", NULL, 0), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(ftable_count(t), 1);
    ftable_free(t);
}

Test(ftable_update, refresh_is_silent_and_keeps_the_latest_details)
{
    struct log l;
    struct ftable *t = table(0, &l);
    struct finding f = mk(FINDING_MODE_MISMATCH, "site", 0644);
    cr_assert_eq(ftable_update(t, "x.php", &f, 1), 0);
    struct finding g = mk(FINDING_MODE_MISMATCH, "uploads", 0604);
    g.uid = 1001;
    g.owner = "opencode";
    cr_assert_eq(ftable_update(t, "x.php", &g, 1), 0);
    cr_assert_eq(l.n, 1, "a refresh reported something");
    cr_assert_eq(ftable_count(t), 1);

    struct visits v = {0};
    ftable_foreach(t, "", visit, &v);
    cr_assert_eq(v.n, 1);
    cr_assert_str_eq(v.rule, "uploads");
    cr_assert_str_eq(v.owner, "opencode");
    cr_assert_eq(v.first.uid, 1001);
    cr_assert_eq(v.first.mode, 0604);
    cr_assert_str_eq(v.first.reason, "uploads mode 0604");

    /* the close reports the refreshed details */
    cr_assert_eq(ftable_forget_path(t, "x.php"), 1);
    cr_assert_eq(l.n, 2);
    expect_event(&l, 1, FTABLE_CLOSED, "x.php", FINDING_MODE_MISMATCH);
    cr_assert_str_eq(l.ev[1].rule, "uploads");
    cr_assert_eq(l.ev[1].mode, 0604);
    ftable_free(t);
}

Test(ftable_update, copies_borrowed_strings)
{
    struct log l;
    struct ftable *t = table(0, &l);
    char rule[16] = "site", owner[16] = "www-data", group[16] = "web", channel[16] = "kimaki",
         command[32] = "/usr/bin/kimaki", blocked[16] = "/root";
    struct finding f = {.kind = FINDING_DISPATCH_UNREACHABLE,
                        .path = "/var/www/site/x", /* ignored */
                        .rule = rule,
                        .owner = owner,
                        .group = group,
                        .channel = channel,
                        .command = command,
                        .blocked_at = blocked,
                        .has_stat = true,
                        .is_dir = true,
                        .uid = 7,
                        .gid = 8,
                        .mode = 02755};
    snprintf(f.expected, sizeof(f.expected), "executable by www-data");
    snprintf(f.reason, sizeof(f.reason), "/root is 0700");
    char path[16] = "d/x";
    cr_assert_eq(ftable_update(t, path, &f, 1), 0);

    /* the caller reuses all its buffers */
    memset(rule, 'R', sizeof(rule) - 1);
    memset(owner, 'O', sizeof(owner) - 1);
    memset(group, 'G', sizeof(group) - 1);
    memset(channel, 'C', sizeof(channel) - 1);
    memset(command, 'X', sizeof(command) - 1);
    memset(blocked, 'B', sizeof(blocked) - 1);
    memset(&f, 0x5a, sizeof(f));
    memset(path, 'P', sizeof(path) - 1);

    struct visits v = {0};
    ftable_foreach(t, "d", visit, &v);
    cr_assert_eq(v.n, 1);
    cr_assert_str_eq(v.path[0], "d/x");
    cr_assert_str_eq(v.rule, "site");
    cr_assert_str_eq(v.owner, "www-data");
    cr_assert_str_eq(v.group, "web");
    cr_assert_str_eq(v.channel, "kimaki");
    cr_assert_str_eq(v.command, "/usr/bin/kimaki");
    cr_assert_str_eq(v.blocked_at, "/root");
    cr_assert_str_eq(v.first.expected, "executable by www-data");
    cr_assert_str_eq(v.first.reason, "/root is 0700");
    cr_assert_eq(v.first.kind, FINDING_DISPATCH_UNREACHABLE);
    cr_assert(v.first.has_stat);
    cr_assert(v.first.is_dir);
    cr_assert_eq(v.first.uid, 7);
    cr_assert_eq(v.first.gid, 8);
    cr_assert_eq(v.first.mode, 02755);
    cr_assert_null(v.first.path);
    ftable_free(t);
}

Test(ftable_update, keeps_null_and_empty_strings_apart)
{
    struct log l;
    struct ftable *t = table(0, &l);
    struct finding f = {.kind = FINDING_OWNER_MISMATCH, .rule = "", .owner = NULL, .channel = ""};
    cr_assert_eq(ftable_update(t, "p", &f, 1), 0);
    struct visits v = {0};
    ftable_foreach(t, "", visit, &v);
    cr_assert_eq(v.n, 1);
    cr_assert_str_eq(v.rule, "");
    cr_assert(v.owner_null);
    cr_assert_not(v.channel_null);
    cr_assert_str_eq(v.channel, "");
    cr_assert_str_eq(v.group, "(null)");
    cr_assert_not(v.first.has_stat);
    cr_assert_not(v.first.is_dir);
    cr_assert_str_eq(v.first.expected, "");
    ftable_free(t);
}

Test(ftable_update, full_length_expected_and_reason_survive)
{
    struct log l;
    struct ftable *t = table(0, &l);
    struct finding f = {.kind = FINDING_MODE_MISMATCH};
    memset(f.expected, 'e', sizeof(f.expected) - 1);
    memset(f.reason, 'r', sizeof(f.reason) - 1);
    cr_assert_eq(ftable_update(t, "p", &f, 1), 0);
    struct visits v = {0};
    ftable_foreach(t, "", visit, &v);
    cr_assert_eq(strlen(v.first.expected), sizeof(f.expected) - 1);
    cr_assert_eq(strlen(v.first.reason), sizeof(f.reason) - 1);
    cr_assert_eq(memcmp(v.first.reason, f.reason, sizeof(f.reason)), 0);
    ftable_free(t);
}

Test(ftable_update, rejects_invalid_arguments)
{
    struct log l;
    struct ftable *t = table(0, &l);
    struct finding ok = mk(FINDING_ROOT_OWNED, "site", 0644);
    struct finding dup[2] = {mk(FINDING_ROOT_OWNED, "a", 0644), mk(FINDING_ROOT_OWNED, "b", 0)};
    struct finding bad = mk((enum finding_kind)FINDING_KIND_COUNT, "site", 0644);
    struct finding neg = mk((enum finding_kind) - 1, "site", 0644);
    struct finding many[FINDING_KIND_COUNT + 1];
    for (int i = 0; i <= FINDING_KIND_COUNT; i++)
        many[i] = mk((enum finding_kind)(i % FINDING_KIND_COUNT), "site", 0);

    errno = 0;
    cr_assert_eq(ftable_update(NULL, "a", &ok, 1), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(ftable_update(t, NULL, &ok, 1), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(ftable_update(t, "a", NULL, 1), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(ftable_update(t, "a", dup, 2), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(ftable_update(t, "a", &bad, 1), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(ftable_update(t, "a", &neg, 1), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(ftable_update(t, "a", many, FINDING_KIND_COUNT + 1), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(l.n, 0);
    cr_assert_eq(ftable_count(t), 0);

    /* an invalid update of an existing path changes nothing either */
    cr_assert_eq(ftable_update(t, "a", &ok, 1), 0);
    cr_assert_eq(ftable_update(t, "a", dup, 2), -1);
    cr_assert_eq(l.n, 1);
    cr_assert(holds(t, "a", FINDING_ROOT_OWNED));

    /* every kind at once is fine */
    cr_assert_eq(ftable_update(t, "all", many, FINDING_KIND_COUNT), 0);
    cr_assert_eq(ftable_count(t), 1 + FINDING_KIND_COUNT);
    ftable_free(t);
}

Test(ftable_new, null_table_is_harmless)
{
    ftable_free(NULL);
    cr_assert_eq(ftable_count(NULL), 0);
    cr_assert_eq(ftable_count_kind(NULL, FINDING_ROOT_OWNED), 0);
    cr_assert_eq(ftable_forget_path(NULL, "a"), 0);
    cr_assert_eq(ftable_forget_subtree(NULL, ""), 0);
    cr_assert_eq(ftable_sweep_end(NULL), 0);
    cr_assert_eq(ftable_take_untracked(NULL), 0);
    cr_assert_eq(ftable_memory(NULL), 0);
    ftable_sweep_begin(NULL, "");
    ftable_foreach(NULL, "", visit, NULL);

    struct log l;
    struct ftable *t = table(0, &l);
    put1(t, "a", FINDING_ROOT_OWNED);
    cr_assert_eq(ftable_forget_path(t, NULL), 0);
    cr_assert_eq(ftable_forget_subtree(t, NULL), 0);
    cr_assert_eq(ftable_count_kind(t, (enum finding_kind)FINDING_KIND_COUNT), 0);
    cr_assert_eq(ftable_count_kind(t, (enum finding_kind) - 1), 0);
    cr_assert_eq(ftable_count(t), 1);
    ftable_free(t);
}

Test(ftable_new, works_without_a_callback)
{
    struct ftable *t = ftable_new(0, NULL, NULL);
    cr_assert_not_null(t);
    put2(t, "a", FINDING_ROOT_OWNED, FINDING_MODE_MISMATCH);
    put1(t, "a", FINDING_MODE_MISMATCH);
    cr_assert_eq(ftable_count(t), 1);
    cr_assert_eq(ftable_forget_subtree(t, ""), 1);
    cr_assert_eq(ftable_count(t), 0);
    ftable_free(t);
}

/* --- forget_path and forget_subtree ------------------------------------------------------- */

/* Paths around "a/b": its siblings sort between it and its children. */
static const char *const trap_paths[] = {
    "a",     "a/a",   "a/b",     "a/b!x", "a/b-c", "a/b-c/d", "a/b.d",
    "a/b/c", "a/b/d", "a/b/c/d", "a/b0",  "a/bc",  "a/c",     "b",
};
#define NTRAP (sizeof(trap_paths) / sizeof(trap_paths[0]))

static struct ftable *trap_table(struct log *l)
{
    struct ftable *t = table(0, l);
    for (size_t i = 0; i < NTRAP; i++)
        put2(t, trap_paths[i], FINDING_OWNER_MISMATCH, FINDING_MODE_MISMATCH);
    l->n = 0;
    return t;
}

Test(ftable_forget, path_closes_only_that_path)
{
    struct log l;
    struct ftable *t = trap_table(&l);
    cr_assert_eq(ftable_forget_path(t, "a/b"), 2);
    cr_assert_eq(l.n, 2);
    expect_event(&l, 0, FTABLE_CLOSED, "a/b", FINDING_OWNER_MISMATCH);
    expect_event(&l, 1, FTABLE_CLOSED, "a/b", FINDING_MODE_MISMATCH);
    cr_assert_eq(ftable_count(t), 2 * (NTRAP - 1));
    cr_assert(holds(t, "a/b/c", FINDING_MODE_MISMATCH));
    cr_assert(holds(t, "a/b-c", FINDING_MODE_MISMATCH));
    cr_assert_eq(ftable_forget_path(t, "a/b"), 0);
    cr_assert_eq(ftable_forget_path(t, "a/b/"), 0); /* a path, not a prefix */
    cr_assert_eq(ftable_forget_path(t, "nope"), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_forget, subtree_skips_siblings_that_sort_inside_it)
{
    struct log l;
    struct ftable *t = trap_table(&l);
    cr_assert_eq(ftable_forget_subtree(t, "a/b"), 8);
    cr_assert_eq(l.n, 8);
    const char *gone[] = {"a/b", "a/b/c", "a/b/c/d", "a/b/d"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(closed_events_for(&l, 0, gone[i]), 2, "%s", gone[i]);
        cr_assert_not(holds(t, gone[i], FINDING_OWNER_MISMATCH), "%s", gone[i]);
    }
    for (size_t i = 0; i < 8; i++)
        cr_assert_eq(l.ev[i].change, FTABLE_CLOSED);
    /* in path order, then kind order */
    expect_event(&l, 0, FTABLE_CLOSED, "a/b", FINDING_OWNER_MISMATCH);
    expect_event(&l, 2, FTABLE_CLOSED, "a/b/c", FINDING_OWNER_MISMATCH);
    expect_event(&l, 4, FTABLE_CLOSED, "a/b/c/d", FINDING_OWNER_MISMATCH);
    expect_event(&l, 7, FTABLE_CLOSED, "a/b/d", FINDING_MODE_MISMATCH);
    char buf[512];
    cr_assert_str_eq(visited(t, "", buf, sizeof(buf)),
                     "a a a/a a/a a/b!x a/b!x a/b-c a/b-c a/b-c/d a/b-c/d a/b.d a/b.d "
                     "a/b0 a/b0 a/bc a/bc a/c a/c b b");
    cr_assert_eq(ftable_count(t), 2 * (NTRAP - 4));
    cr_assert_eq(ftable_count_kind(t, FINDING_MODE_MISMATCH), NTRAP - 4);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_forget, subtree_of_a_sibling_name)
{
    struct log l;
    struct ftable *t = trap_table(&l);
    cr_assert_eq(ftable_forget_subtree(t, "a/b-c"), 4);
    cr_assert_eq(closed_events_for(&l, 0, "a/b-c"), 2);
    cr_assert_eq(closed_events_for(&l, 0, "a/b-c/d"), 2);
    cr_assert(holds(t, "a/b", FINDING_OWNER_MISMATCH));
    cr_assert(holds(t, "a/b/c", FINDING_OWNER_MISMATCH));
    cr_assert_eq(ftable_count(t), 2 * (NTRAP - 2));
    ftable_free(t);
}

Test(ftable_forget, subtree_without_a_node_for_the_prefix)
{
    struct log l;
    struct ftable *t = trap_table(&l);
    cr_assert_eq(ftable_forget_subtree(t, "a/b/c"), 4); /* a/b/c and a/b/c/d */
    cr_assert_eq(ftable_forget_path(t, "a/b"), 2);
    l.n = 0;
    /* "a/b" has no node now but children: the range starts at "a/b/" */
    cr_assert_eq(ftable_forget_subtree(t, "a/b"), 2);
    cr_assert_eq(closed_events_for(&l, 0, "a/b/d"), 2);
    cr_assert_eq(l.n, 2);
    cr_assert(holds(t, "a/b-c", FINDING_OWNER_MISMATCH));
    /* nothing at or below these */
    cr_assert_eq(ftable_forget_subtree(t, "a/b"), 0);
    cr_assert_eq(ftable_forget_subtree(t, "a/bb"), 0);
    cr_assert_eq(ftable_forget_subtree(t, "zzz"), 0);
    cr_assert_eq(ftable_forget_subtree(t, "0"), 0);
    cr_assert_eq(ftable_count(t), 2 * (NTRAP - 4));
    ftable_free(t);
}

Test(ftable_forget, subtree_ignores_trailing_slashes)
{
    struct log l;
    struct ftable *t = trap_table(&l);
    cr_assert_eq(ftable_forget_subtree(t, "a/b/"), 8);
    cr_assert(holds(t, "a/b-c", FINDING_OWNER_MISMATCH));
    cr_assert(holds(t, "a/b0", FINDING_OWNER_MISMATCH));
    cr_assert_eq(ftable_forget_subtree(t, "a/b-c//"), 4);
    cr_assert_eq(ftable_count(t), 2 * (NTRAP - 6));
    cr_assert_eq(ftable_forget_subtree(t, "/"), 2 * (NTRAP - 6));
    cr_assert_eq(ftable_count(t), 0);
    ftable_free(t);
}

Test(ftable_forget, empty_prefix_closes_everything_once)
{
    struct log l;
    struct ftable *t = trap_table(&l);
    struct ftable *fresh = ftable_new(0, NULL, NULL);
    cr_assert_not_null(fresh);
    size_t empty = ftable_memory(fresh);
    ftable_free(fresh);
    cr_assert_eq(ftable_forget_subtree(t, ""), 2 * NTRAP);
    cr_assert_eq(l.n, 2 * NTRAP);
    for (size_t i = 0; i < NTRAP; i++)
        cr_assert_eq(closed_events_for(&l, 0, trap_paths[i]), 2, "%s", trap_paths[i]);
    cr_assert_eq(ftable_count(t), 0);
    cr_assert_eq(count_kinds(t), 0);
    cr_assert_eq(ftable_memory(t), empty, "memory accounting drifted");
    cr_assert_eq(ftable_forget_subtree(t, ""), 0);
    cr_assert_eq(l.n, 2 * NTRAP);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_forget, root_path_is_a_path_like_any)
{
    struct log l;
    struct ftable *t = table(0, &l);
    put1(t, "", FINDING_MODE_MISMATCH); /* the site root itself */
    put1(t, "a", FINDING_MODE_MISMATCH);
    cr_assert(holds(t, "", FINDING_MODE_MISMATCH));
    cr_assert_eq(ftable_forget_path(t, ""), 1);
    expect_event(&l, 2, FTABLE_CLOSED, "", FINDING_MODE_MISMATCH);
    cr_assert_eq(ftable_count(t), 1);
    ftable_free(t);
}

/* --- sweeps ------------------------------------------------------------------------------- */

/* w/a w/b w/c/d (in the sweep), and w-x x/a w (w is the prefix itself) */
static struct ftable *sweep_table(struct log *l)
{
    struct ftable *t = table(0, l);
    put1(t, "w", FINDING_ROOT_OWNED);
    put1(t, "w/a", FINDING_ROOT_OWNED);
    put2(t, "w/b", FINDING_ROOT_OWNED, FINDING_WEB_UNREADABLE);
    put1(t, "w/c/d", FINDING_ROOT_OWNED);
    put1(t, "w-x", FINDING_ROOT_OWNED);
    put1(t, "x/a", FINDING_ROOT_OWNED);
    l->n = 0;
    return t;
}

Test(ftable_sweep, closes_only_unseen_paths_at_and_below_the_prefix)
{
    struct log l;
    struct ftable *t = sweep_table(&l);
    ftable_sweep_begin(t, "w");
    put1(t, "w/a", FINDING_ROOT_OWNED);
    put1(t, "w/c/d", FINDING_ROOT_OWNED);
    cr_assert_eq(l.n, 0);
    cr_assert_eq(ftable_sweep_end(t), 3); /* w (the prefix itself) and both of w/b */
    cr_assert_eq(l.n, 3);
    expect_event(&l, 0, FTABLE_CLOSED, "w", FINDING_ROOT_OWNED);
    expect_event(&l, 1, FTABLE_CLOSED, "w/b", FINDING_ROOT_OWNED);
    expect_event(&l, 2, FTABLE_CLOSED, "w/b", FINDING_WEB_UNREADABLE);
    cr_assert(holds(t, "w/a", FINDING_ROOT_OWNED));
    cr_assert(holds(t, "w/c/d", FINDING_ROOT_OWNED));
    cr_assert(holds(t, "w-x", FINDING_ROOT_OWNED));
    cr_assert(holds(t, "x/a", FINDING_ROOT_OWNED));
    cr_assert_eq(ftable_count(t), 4);
    cr_assert_not(l.inconsistent);
    /* the sweep is over */
    cr_assert_eq(ftable_sweep_end(t), 0);
    ftable_free(t);
}

Test(ftable_sweep, whole_table_sweep)
{
    struct log l;
    struct ftable *t = sweep_table(&l);
    ftable_sweep_begin(t, "");
    put1(t, "x/a", FINDING_ROOT_OWNED);
    cr_assert_eq(ftable_sweep_end(t), 6);
    cr_assert_eq(ftable_count(t), 1);
    cr_assert(holds(t, "x/a", FINDING_ROOT_OWNED));
    ftable_free(t);
}

Test(ftable_sweep, paths_opened_or_changed_during_the_sweep_stay)
{
    struct log l;
    struct ftable *t = sweep_table(&l);
    ftable_sweep_begin(t, "w");
    put1(t, "w/new", FINDING_MODE_MISMATCH);                    /* opened now */
    put1(t, "w/b", FINDING_WEB_UNREADABLE);                     /* one kind closed */
    cr_assert_eq(ftable_update(t, "w/c/d", NULL, 0), 0);        /* fixed: closed now */
    put2(t, "w/a", FINDING_ROOT_OWNED, FINDING_GROUP_MISMATCH); /* one more kind */
    size_t before = l.n;
    cr_assert_eq(before, 4);
    cr_assert_eq(ftable_sweep_end(t), 1); /* only "w" */
    cr_assert_eq(l.n, 5);
    expect_event(&l, 4, FTABLE_CLOSED, "w", FINDING_ROOT_OWNED);
    cr_assert_eq(closed_events_for(&l, 0, "w/c/d"), 1, "closed twice or never");
    cr_assert(holds(t, "w/new", FINDING_MODE_MISMATCH));
    cr_assert(holds(t, "w/b", FINDING_WEB_UNREADABLE));
    cr_assert(holds(t, "w/a", FINDING_GROUP_MISMATCH));
    cr_assert_eq(ftable_count(t), 6);
    ftable_free(t);
}

Test(ftable_sweep, updates_before_the_begin_do_not_count)
{
    struct log l;
    struct ftable *t = sweep_table(&l);
    put1(t, "w/a", FINDING_ROOT_OWNED); /* seen, but before this sweep */
    ftable_sweep_begin(t, "w");
    cr_assert_eq(ftable_sweep_end(t), 5);
    cr_assert_not(holds(t, "w/a", FINDING_ROOT_OWNED));
    cr_assert_eq(ftable_count(t), 2);
    ftable_free(t);
}

Test(ftable_sweep, begin_restarts_a_running_sweep)
{
    struct log l;
    struct ftable *t = sweep_table(&l);
    ftable_sweep_begin(t, "x");
    put1(t, "w/a", FINDING_ROOT_OWNED); /* seen by the first sweep only */
    ftable_sweep_begin(t, "w");         /* restart, another prefix */
    put1(t, "w/b", FINDING_ROOT_OWNED);
    cr_assert_eq(l.n, 1);                 /* w/b's web_unreadable, closed by the update */
    cr_assert_eq(ftable_sweep_end(t), 3); /* w, w/a, w/c/d */
    cr_assert_not(holds(t, "w/a", FINDING_ROOT_OWNED));
    cr_assert(holds(t, "w/b", FINDING_ROOT_OWNED));
    cr_assert(holds(t, "x/a", FINDING_ROOT_OWNED), "the abandoned sweep of x closed x/a");
    cr_assert_eq(ftable_count(t), 3);
    ftable_free(t);
}

Test(ftable_sweep, end_without_begin_closes_nothing)
{
    struct log l;
    struct ftable *t = sweep_table(&l);
    cr_assert_eq(ftable_sweep_end(t), 0);
    cr_assert_eq(l.n, 0);
    cr_assert_eq(ftable_count(t), 7);
    ftable_free(t);
}

Test(ftable_sweep, sibling_names_are_outside_the_sweep)
{
    struct log l;
    struct ftable *t = trap_table(&l);
    ftable_sweep_begin(t, "a/b/");
    cr_assert_eq(ftable_sweep_end(t), 8);
    for (size_t i = 0; i < NTRAP; i++) {
        bool under = strcmp(trap_paths[i], "a/b") == 0 || strncmp(trap_paths[i], "a/b/", 4) == 0;
        cr_assert_eq(holds(t, trap_paths[i], FINDING_MODE_MISMATCH), !under, "%s", trap_paths[i]);
    }
    ftable_free(t);
}

Test(ftable_sweep, forgetting_during_a_sweep)
{
    struct log l;
    struct ftable *t = sweep_table(&l);
    ftable_sweep_begin(t, "w");
    put1(t, "w/a", FINDING_ROOT_OWNED);
    cr_assert_eq(ftable_forget_subtree(t, "w/c"), 1);
    cr_assert_eq(ftable_forget_path(t, "w/a"), 1);
    cr_assert_eq(ftable_sweep_end(t), 3); /* w and w/b's two */
    cr_assert_eq(l.n, 5);
    cr_assert_eq(closed_events_for(&l, 0, "w/a"), 1);
    cr_assert_eq(closed_events_for(&l, 0, "w/c/d"), 1);
    cr_assert_eq(closed_events_for(&l, 0, "w/b"), 2);
    cr_assert_eq(ftable_count(t), 2);
    ftable_free(t);
}

/* --- the cap ------------------------------------------------------------------------------ */

Test(ftable_cap, counts_what_does_not_fit)
{
    struct log l;
    struct ftable *t = table(3, &l);
    put2(t, "a", FINDING_ROOT_OWNED, FINDING_MODE_MISMATCH);
    put2(t, "b", FINDING_MODE_MISMATCH, FINDING_OWNER_MISMATCH);
    /* only b's lowest kind fits */
    cr_assert_eq(ftable_count(t), 3);
    cr_assert(holds(t, "b", FINDING_OWNER_MISMATCH));
    cr_assert_not(holds(t, "b", FINDING_MODE_MISMATCH));
    cr_assert_eq(l.opened, 3);
    put1(t, "c", FINDING_ROOT_OWNED);
    cr_assert_eq(ftable_count(t), 3);
    cr_assert_eq(ftable_take_untracked(t), 2);
    cr_assert_eq(ftable_take_untracked(t), 0);
    cr_assert_eq(l.opened, 3);

    /* a refresh of an open kind is not a new finding */
    struct finding f = mk(FINDING_OWNER_MISMATCH, "refreshed", 0600);
    cr_assert_eq(ftable_update(t, "b", &f, 1), 0);
    cr_assert_eq(ftable_take_untracked(t), 0);
    struct visits v = {0};
    ftable_foreach(t, "b", visit, &v);
    cr_assert_str_eq(v.rule, "refreshed");

    /* room again after a close */
    cr_assert_eq(ftable_forget_path(t, "a"), 2);
    put1(t, "c", FINDING_ROOT_OWNED);
    cr_assert(holds(t, "c", FINDING_ROOT_OWNED));
    cr_assert_eq(ftable_count(t), 2);
    cr_assert_eq(ftable_take_untracked(t), 0);
    ftable_free(t);
}

Test(ftable_cap, closes_in_the_same_update_make_room)
{
    struct log l;
    struct ftable *t = table(2, &l);
    put2(t, "a", FINDING_ROOT_OWNED, FINDING_MODE_MISMATCH);
    put2(t, "a", FINDING_GROUP_MISMATCH, FINDING_WEB_UNREADABLE);
    cr_assert_eq(ftable_count(t), 2);
    cr_assert(holds(t, "a", FINDING_GROUP_MISMATCH));
    cr_assert(holds(t, "a", FINDING_WEB_UNREADABLE));
    cr_assert_eq(ftable_take_untracked(t), 0);
    cr_assert_eq(l.opened, 4);
    cr_assert_eq(l.closed, 2);
    ftable_free(t);
}

Test(ftable_cap, a_full_table_does_not_keep_empty_paths)
{
    struct log l;
    struct ftable *t = table(1, &l);
    put1(t, "a", FINDING_ROOT_OWNED);
    size_t mem = ftable_memory(t);
    for (int i = 0; i < 100; i++) {
        char p[16];
        snprintf(p, sizeof(p), "x%d", i);
        put2(t, p, FINDING_ROOT_OWNED, FINDING_MODE_MISMATCH);
    }
    cr_assert_eq(ftable_take_untracked(t), 200);
    cr_assert_eq(ftable_memory(t), mem);
    cr_assert_eq(l.n, 1);
    char buf[64];
    cr_assert_str_eq(visited(t, "", buf, sizeof(buf)), "a");
    ftable_free(t);
}

/* --- iteration ---------------------------------------------------------------------------- */

Test(ftable_foreach, path_order_then_kind_order)
{
    struct log l;
    struct ftable *t = table(0, &l);
    /* inserted out of order */
    put2(t, "b/x", FINDING_WEB_UNREADABLE, FINDING_ROOT_OWNED);
    put1(t, "a/b/c", FINDING_MODE_MISMATCH);
    put1(t, "a/b-c", FINDING_MODE_MISMATCH);
    put1(t, "a", FINDING_MODE_MISMATCH);
    put2(t, "a/b", FINDING_DISPATCH_INVALID, FINDING_OWNER_MISMATCH);
    struct visits v = {0};
    ftable_foreach(t, "", visit, &v);
    cr_assert_eq(v.n, 7);
    const char *want[] = {"a", "a/b", "a/b", "a/b-c", "a/b/c", "b/x", "b/x"};
    for (size_t i = 0; i < 7; i++)
        cr_assert_str_eq(v.path[i], want[i], "visit %zu", i);
    cr_assert_eq(v.kind[1], FINDING_OWNER_MISMATCH);
    cr_assert_eq(v.kind[2], FINDING_DISPATCH_INVALID);
    cr_assert_eq(v.kind[5], FINDING_ROOT_OWNED);
    cr_assert_eq(v.kind[6], FINDING_WEB_UNREADABLE);

    char buf[256];
    cr_assert_str_eq(visited(t, "a/b", buf, sizeof(buf)), "a/b a/b a/b/c");
    cr_assert_str_eq(visited(t, "a/b/", buf, sizeof(buf)), "a/b a/b a/b/c");
    cr_assert_str_eq(visited(t, "a/b-c", buf, sizeof(buf)), "a/b-c");
    cr_assert_str_eq(visited(t, "a", buf, sizeof(buf)), "a a/b a/b a/b-c a/b/c");
    cr_assert_str_eq(visited(t, "b", buf, sizeof(buf)), "b/x b/x");
    cr_assert_str_eq(visited(t, "a/b/c/d", buf, sizeof(buf)), "");
    cr_assert_str_eq(visited(t, "a/", buf, sizeof(buf)), "a a/b a/b a/b-c a/b/c");
    cr_assert_str_eq(visited(t, "c", buf, sizeof(buf)), "");
    cr_assert_eq(l.n, 7, "foreach reported changes");
    ftable_free(t);
}

Test(ftable_foreach, stops_when_told)
{
    struct log l;
    struct ftable *t = trap_table(&l);
    for (size_t stop = 1; stop <= 5; stop++) {
        struct visits v = {.stop_after = stop};
        ftable_foreach(t, "", visit, &v);
        cr_assert_eq(v.n, stop, "stop after %zu: %zu visits", stop, v.n);
    }
    /* stopping within the prefix's own kinds */
    struct visits v = {.stop_after = 1};
    ftable_foreach(t, "a/b", visit, &v);
    cr_assert_eq(v.n, 1);
    cr_assert_str_eq(v.path[0], "a/b");
    cr_assert_eq(v.kind[0], FINDING_OWNER_MISMATCH);
    ftable_foreach(t, "a/b", NULL, NULL); /* no visitor: nothing */
    ftable_free(t);
}

/* --- counts, memory ----------------------------------------------------------------------- */

Test(ftable_count, per_kind_counts_follow_every_operation)
{
    struct log l;
    struct ftable *t = table(0, &l);
    size_t want[FINDING_KIND_COUNT] = {0};
    char p[32];
    for (int i = 0; i < 50; i++) {
        snprintf(p, sizeof(p), "d%d/f", i % 7);
        struct finding f[3];
        size_t n = 0;
        for (int k = 0; k < FINDING_KIND_COUNT; k++)
            if ((i + k) % 3 == 0 && n < 3)
                f[n++] = mk((enum finding_kind)k, "site", 0);
        cr_assert_eq(ftable_update(t, p, f, n), 0);
    }
    /* the last update of each d<j>/f decided what stays */
    for (int j = 0; j < 7; j++) {
        int i = 49 - ((49 - j) % 7);
        size_t n = 0;
        for (int k = 0; k < FINDING_KIND_COUNT; k++)
            if ((i + k) % 3 == 0 && n < 3) {
                want[k]++;
                n++;
            }
    }
    size_t total = 0;
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        cr_assert_eq(ftable_count_kind(t, (enum finding_kind)k), want[k], "kind %d", k);
        total += want[k];
    }
    cr_assert_eq(ftable_count(t), total);
    cr_assert_eq(l.opened - l.closed, total);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_memory, a_typical_finding_stays_small)
{
    struct ftable *t = ftable_new(0, NULL, NULL);
    cr_assert_not_null(t);
    size_t empty = ftable_memory(t);
    cr_assert_gt(empty, 0);
    struct finding f = mk(FINDING_MODE_MISMATCH, "site", 0644);
    snprintf(f.expected, sizeof(f.expected), "0660 (add group write)");
    snprintf(f.reason, sizeof(f.reason), "mode 0644 lacks 0020: www-data cannot write");
    char p[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(p, sizeof(p), "wp-content/plugins/akismet/class-%04d.php", i);
        cr_assert_eq(ftable_update(t, p, &f, 1), 0);
    }
    size_t per = (ftable_memory(t) - empty) / 1000;
    /* a struct finding alone is larger than a stored one with its path */
    cr_assert_lt(per, sizeof(struct finding), "%zu bytes per finding", per);
    cr_assert_lt(per, 256, "%zu bytes per finding", per);
    cr_assert_eq(ftable_forget_subtree(t, "wp-content"), 1000);
    cr_assert_eq(ftable_memory(t), empty);
    ftable_free(t);
}

/* --- allocation failure ------------------------------------------------------------------- */

/* Under a small address-space limit, an update whose copy cannot be allocated fails with
 * ENOMEM and changes nothing. (Skipped under ASan, whose allocator aborts instead.) */
Test(ftable_update, out_of_memory_changes_nothing)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("ASan's allocator does not return NULL");
#else
    struct log l;
    struct ftable *t = table(0, &l);
    put2(t, "a", FINDING_ROOT_OWNED, FINDING_MODE_MISMATCH);
    put1(t, "b", FINDING_ROOT_OWNED);
    l.n = 0;
    size_t big = 64u << 20;
    char *huge = malloc(big + 1);
    cr_assert_not_null(huge);
    memset(huge, 'x', big);
    huge[big] = '\0';
    size_t mem = ftable_memory(t);

    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_AS, &rl), 0);
    FILE *statm = fopen("/proc/self/statm", "r");
    cr_assert_not_null(statm);
    unsigned long pages = 0;
    cr_assert_eq(fscanf(statm, "%lu", &pages), 1);
    fclose(statm);
    rl.rlim_cur = (rlim_t)pages * 4096 + (16u << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        cr_skip_test("setrlimit: %s", strerror(errno));
    void *probe = malloc(big);
    if (probe) { /* the limit did not bite (valgrind replaces the allocator) */
        free(probe);
        cr_skip_test("RLIMIT_AS does not limit malloc here");
    }

    /* a new kind at "a" (which would close mode_mismatch) and a refresh, the new one huge */
    struct finding f[2] = {mk(FINDING_ROOT_OWNED, "site", 0600),
                           mk(FINDING_GROUP_MISMATCH, huge, 0)};
    errno = 0;
    cr_assert_eq(ftable_update(t, "a", f, 2), -1);
    cr_assert_eq(errno, ENOMEM);
    /* a new path */
    errno = 0;
    cr_assert_eq(ftable_update(t, "c", &f[1], 1), -1);
    cr_assert_eq(errno, ENOMEM);

    cr_assert_eq(l.n, 0, "reported %zu changes", l.n);
    cr_assert_eq(ftable_count(t), 3);
    cr_assert(holds(t, "a", FINDING_MODE_MISMATCH));
    cr_assert_not(holds(t, "a", FINDING_GROUP_MISMATCH));
    cr_assert_eq(ftable_memory(t), mem);
    struct visits v = {0};
    ftable_foreach(t, "a", visit, &v);
    cr_assert_eq(v.n, 2);
    cr_assert_eq(v.first.mode, 0644, "the refresh of root_owned leaked through");
    cr_assert_eq(ftable_take_untracked(t), 0);

    /* a sweep still counts "a" as seen by the failed update */
    ftable_sweep_begin(t, "");
    cr_assert_eq(ftable_update(t, "a", &f[1], 1), -1);
    cr_assert_eq(ftable_sweep_end(t), 1); /* only b */
    cr_assert_eq(ftable_count(t), 2);
    free(huge);
    ftable_free(t);
#endif
}

/* --- a large table ------------------------------------------------------------------------ */

struct tally {
    size_t opened, closed;
    size_t visited;
    size_t kind[FINDING_KIND_COUNT];
};

static void tally_change(void *ctx, enum ftable_change c, const char *relpath,
                         const struct finding *f)
{
    struct tally *y = ctx;
    if (c == FTABLE_OPENED)
        y->opened++;
    else
        y->closed++;
}

static bool tally_visit(void *ctx, const char *relpath, const struct finding *f)
{
    struct tally *y = ctx;
    y->visited++;
    y->kind[f->kind]++;
    return true;
}

static size_t visit_count(const struct ftable *t, const char *prefix)
{
    struct tally y = {0};
    ftable_foreach(t, prefix, tally_visit, &y);
    return y.visited;
}

/* 200,000 paths: 100 directories "dN" (whose names are prefixes of each other: d1, d10,
 * d1-x) with 2,000 files each; every third file has a second kind. */
Test(ftable_large, counts_stay_consistent_when_subtrees_go)
{
    struct tally y = {0};
    struct ftable *t = ftable_new(0, tally_change, &y);
    cr_assert_not_null(t);
    char p[64];
    size_t total = 0;
    for (int d = 0; d < 100; d++)
        for (int i = 0; i < 2000; i++) {
            if (d < 50)
                snprintf(p, sizeof(p), "d%d/f%d", d, i);
            else
                snprintf(p, sizeof(p), "d%d-x/f%d", d - 50, i);
            struct finding f[2] = {mk(FINDING_MODE_MISMATCH, "site", 0644),
                                   mk(FINDING_OWNER_MISMATCH, "site", 0644)};
            size_t n = i % 3 == 0 ? 2 : 1;
            cr_assert_eq(ftable_update(t, p, f, n), 0);
            total += n;
        }
    cr_assert_eq(ftable_count(t), total);
    cr_assert_eq(y.opened, total);
    size_t per_dir = total / 100;
    cr_assert_eq(visit_count(t, "d1"), per_dir);
    cr_assert_eq(visit_count(t, "d1-x"), per_dir);
    cr_assert_eq(visit_count(t, "d10"), per_dir);

    /* d1 goes: d1-x, d10..d19 and d10-x.. stay */
    cr_assert_eq(ftable_forget_subtree(t, "d1"), per_dir);
    cr_assert_eq(visit_count(t, "d1"), 0);
    cr_assert_eq(visit_count(t, "d1-x"), per_dir);
    cr_assert_eq(visit_count(t, "d10"), per_dir);
    total -= per_dir;
    /* every d2N-x */
    for (int d = 20; d < 30; d++) {
        snprintf(p, sizeof(p), "d%d-x/", d);
        cr_assert_eq(ftable_forget_subtree(t, p), per_dir, "%s", p);
        total -= per_dir;
    }
    /* single paths */
    for (int i = 0; i < 2000; i += 2) {
        snprintf(p, sizeof(p), "d3/f%d", i);
        cr_assert_eq(ftable_forget_path(t, p), i % 3 == 0 ? 2u : 1u, "%s", p);
        total -= i % 3 == 0 ? 2 : 1;
    }
    /* a sweep of d4 that sees only its first 100 files */
    ftable_sweep_begin(t, "d4");
    size_t kept = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(p, sizeof(p), "d4/f%d", i);
        struct finding f[2] = {mk(FINDING_MODE_MISMATCH, "site", 0644),
                               mk(FINDING_OWNER_MISMATCH, "site", 0644)};
        size_t n = i % 3 == 0 ? 2 : 1;
        cr_assert_eq(ftable_update(t, p, f, n), 0);
        kept += n;
    }
    cr_assert_eq(ftable_sweep_end(t), per_dir - kept);
    total -= per_dir - kept;

    cr_assert_eq(ftable_count(t), total);
    cr_assert_eq(count_kinds(t), total);
    cr_assert_eq(visit_count(t, ""), total);
    cr_assert_eq(y.opened - y.closed, total);
    struct tally per = {0};
    ftable_foreach(t, "", tally_visit, &per);
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        cr_assert_eq(ftable_count_kind(t, (enum finding_kind)k), per.kind[k], "kind %d", k);
    cr_assert_gt(per.kind[FINDING_OWNER_MISMATCH], 0);
    cr_assert_lt(per.kind[FINDING_OWNER_MISMATCH], per.kind[FINDING_MODE_MISMATCH]);

    size_t closed = y.closed;
    cr_assert_eq(ftable_forget_subtree(t, ""), total);
    cr_assert_eq(y.closed - closed, total);
    cr_assert_eq(ftable_count(t), 0);
    ftable_free(t);
}

/* --- long paths, the byte cap, resumable iteration (issue 9, item 4) ---------------------- */

/* The finding of a_typical_finding_stays_small. */
static struct finding typical(void)
{
    struct finding f = mk(FINDING_MODE_MISMATCH, "site", 0644);
    snprintf(f.expected, sizeof(f.expected), "0660 (add group write)");
    snprintf(f.reason, sizeof(f.reason), "mode 0644 lacks 0020: www-data cannot write");
    return f;
}

/* A directory chain of about 3,800 bytes: 38 components of 99 bytes and a slash. */
static char *long_chain(void)
{
    char *chain = malloc(4096);
    cr_assert_not_null(chain);
    size_t len = 0;
    for (int i = 0; i < 38; i++) {
        len += (size_t)snprintf(chain + len, 4096 - len, "%sd%02d-", i ? "/" : "", i);
        while (len % 100 != 99)
            chain[len++] = 'x';
        chain[len] = '\0';
    }
    return chain;
}

Test(ftable_memory, a_long_directory_chain_is_stored_once)
{
    char *chain = long_chain();
    cr_assert_geq(strlen(chain), 3780);
    struct ftable *t = ftable_new(0, NULL, NULL);
    size_t empty = ftable_memory(t);
    struct finding f = typical();
    char p[4200];
    for (int i = 0; i < 20000; i++) {
        snprintf(p, sizeof(p), "%s/upload-%05d.php", chain, i);
        cr_assert_eq(ftable_update(t, p, &f, 1), 0);
    }
    size_t per = (ftable_memory(t) - empty) / 20000;
    fprintf(stderr, "ftable: %zu bytes per finding under a %zu-byte directory chain\n", per,
            strlen(chain));
    cr_assert_leq(per, 300, "%zu bytes per finding (the chain is %zu bytes)", per, strlen(chain));
    /* the paths come back whole, in order, and subtrees still work through the chain */
    struct visits v = {0};
    snprintf(p, sizeof(p), "%s/upload-00007.php", chain);
    ftable_foreach(t, p, visit, &v);
    cr_assert_eq(v.n, 1);
    char *mid = strndup(chain, 199); /* "d00-xxx/d01-xxx" */
    cr_assert_eq(ftable_forget_subtree(t, mid), 20000);
    cr_assert_eq(ftable_memory(t), empty, "memory left after everything closed");
    free(mid);
    ftable_free(t);
    free(chain);
}

Test(ftable_memory, short_paths_stay_small)
{
    struct ftable *t = ftable_new(0, NULL, NULL);
    size_t empty = ftable_memory(t);
    struct finding f = typical();
    char p[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(p, sizeof(p), "wp-content/plugins/p%03d/class-%04d.php", i % 100, i);
        cr_assert_eq(ftable_update(t, p, &f, 1), 0);
    }
    size_t per = (ftable_memory(t) - empty) / 20000;
    fprintf(stderr, "ftable: %zu bytes per finding on ~40-byte paths in 100 directories\n", per);
    cr_assert_leq(per, 256, "%zu bytes per finding", per);
    ftable_free(t);
}

/* Chains of one-byte components, 1,000 deep: the comparison walks the chain and the order
 * stays strcmp order ("a/.../a-c" between "a/.../a" and "a/.../a/f"). */
Test(ftable_update, deep_chains_of_short_components)
{
    struct log l;
    struct ftable *t = table(0, &l);
    char p[2100], q[2100];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(p + n, sizeof(p) - n, "%sa", i ? "/" : "");
    snprintf(q, sizeof(q), "%s/f", p);
    put1(t, q, FINDING_ROOT_OWNED);
    snprintf(q, sizeof(q), "%s-c", p); /* sorts between p and p + "/" */
    put1(t, q, FINDING_ROOT_OWNED);
    put1(t, p, FINDING_ROOT_OWNED);
    char top[1100];
    snprintf(top, sizeof(top), "%.1001s", p); /* 501 components deep */
    snprintf(q, sizeof(q), "%s/g", top);
    put1(t, q, FINDING_ROOT_OWNED);
    cr_assert_eq(ftable_count(t), 4);
    cr_assert_not(l.inconsistent);
    /* the deepest directory's subtree: itself and its "f", not its "-c" sibling */
    struct visits v = {0};
    ftable_foreach(t, p, visit, &v);
    cr_assert_eq(v.n, 2, "%zu", v.n);
    /* the 501-deep one's: all four */
    struct visits w = {0};
    ftable_foreach(t, top, visit, &w);
    cr_assert_eq(w.n, 4, "%zu", w.n);
    cr_assert_eq(ftable_forget_subtree(t, p), 2);
    cr_assert_eq(ftable_count(t), 2);
    snprintf(q, sizeof(q), "%s-c", p);
    cr_assert(holds(t, q, FINDING_ROOT_OWNED));
    cr_assert_eq(ftable_forget_subtree(t, top), 2);
    cr_assert_eq(ftable_count(t), 0);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_memory, byte_cap_refuses_and_counts)
{
    struct log l;
    struct ftable *t = table(0, &l);
    size_t empty = ftable_memory(t);
    struct finding f = typical();
    char p[64];
    /* measure one finding, then cap at about 100 */
    put1(t, "probe", FINDING_ROOT_OWNED);
    size_t one = ftable_memory(t) - empty;
    cr_assert_eq(ftable_forget_path(t, "probe"), 1);
    size_t cap = empty + 100 * one + 4096;
    ftable_set_max_memory(t, cap);
    for (int i = 0; i < 1000; i++) {
        snprintf(p, sizeof(p), "uploads/f%04d.php", i);
        cr_assert_eq(ftable_update(t, p, &f, 1), 0);
        cr_assert_leq(ftable_memory(t), cap, "past the cap at %d", i);
    }
    size_t kept = ftable_count(t);
    cr_assert(kept > 50 && kept < 1000, "%zu kept", kept);
    cr_assert_eq(l.opened, kept + 1, "only stored findings are reported opened");
    cr_assert_eq(ftable_take_untracked(t), 1000 - kept);
    cr_assert_eq(ftable_take_untracked(t), 0);
    /* a refresh of a stored one is not refused; closing makes room again */
    snprintf(p, sizeof(p), "uploads/f%04d.php", 0);
    struct finding g = typical();
    g.mode = 0604;
    cr_assert_eq(ftable_update(t, p, &g, 1), 0);
    cr_assert_eq(ftable_count(t), kept);
    cr_assert_eq(ftable_forget_path(t, p), 1);
    cr_assert_eq(ftable_update(t, "uploads/new.php", &f, 1), 0);
    cr_assert_eq(ftable_count(t), kept);
    cr_assert_eq(ftable_take_untracked(t), 0);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

struct resume {
    char after[128];
    int after_kind;
    size_t n, budget;
    char seen[64][128];
};

/* A visitor that takes BUDGET findings per call and remembers where it stopped. */
static bool resume_visit(void *ctx, const char *relpath, const struct finding *f)
{
    struct resume *r = ctx;
    if (r->budget == 0)
        return false;
    r->budget--;
    snprintf(r->after, sizeof(r->after), "%s", relpath);
    r->after_kind = (int)f->kind;
    if (r->n < 64)
        snprintf(r->seen[r->n], sizeof(r->seen[0]), "%s:%d", relpath, (int)f->kind);
    r->n++;
    return true;
}

Test(ftable_foreach, resumes_after_a_key_while_the_table_changes)
{
    struct log l;
    struct ftable *t = table(0, &l);
    put2(t, "a/b", FINDING_ROOT_OWNED, FINDING_MODE_MISMATCH);
    put1(t, "a/b-c", FINDING_ROOT_OWNED); /* a sibling, between "a/b" and "a/b/x" */
    put1(t, "a/b/x", FINDING_ROOT_OWNED);
    put1(t, "a/b/y", FINDING_ROOT_OWNED);
    put1(t, "a/b/z", FINDING_ROOT_OWNED);
    put1(t, "b", FINDING_ROOT_OWNED);
    struct resume r = {.budget = 1};
    ftable_foreach_after(t, "a/b", NULL, -1, resume_visit, &r);
    cr_assert_str_eq(r.seen[0], "a/b:0");
    r.budget = 1;
    ftable_foreach_after(t, "a/b", r.after, r.after_kind, resume_visit, &r);
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.after, "a/b"); /* its second kind */
    /* meanwhile: the cursor's own path closes, x closes, w opens (after the cursor) */
    cr_assert_eq(ftable_forget_path(t, "a/b"), 2);
    cr_assert_eq(ftable_forget_path(t, "a/b/x"), 1);
    put1(t, "a/b/w", FINDING_ROOT_OWNED);
    r.budget = 100;
    ftable_foreach_after(t, "a/b", r.after, r.after_kind, resume_visit, &r);
    cr_assert_eq(r.n, 5, "%zu", r.n);
    cr_assert_str_eq(r.seen[2], "a/b/w:0");
    cr_assert_str_eq(r.seen[3], "a/b/y:0");
    cr_assert_str_eq(r.seen[4], "a/b/z:0");
    /* from the last one: nothing more, never "b" or the sibling */
    r.budget = 100;
    ftable_foreach_after(t, "a/b", r.after, r.after_kind, resume_visit, &r);
    cr_assert_eq(r.n, 5);
    /* the whole table from a key that is gone */
    struct resume all = {.budget = 100};
    ftable_foreach_after(t, "", "a/b-a", 0, resume_visit, &all);
    cr_assert_eq(all.n, 5, "%zu", all.n);
    cr_assert_str_eq(all.seen[0], "a/b-c:0");
    cr_assert_str_eq(all.seen[4], "b:0");
    ftable_free(t);
}

/* The site root itself ("") as the only path: its close is reported with its path. */
Test(ftable_update, the_root_path_alone)
{
    struct log l;
    struct ftable *t = table(0, &l);
    size_t empty = ftable_memory(t);
    put1(t, "", FINDING_ROOT_OWNED);
    cr_assert_eq(ftable_forget_path(t, ""), 1);
    cr_assert_str_eq(l.ev[l.n - 1].path, "");
    put1(t, "", FINDING_ROOT_OWNED);
    put1(t, "a//b/", FINDING_ROOT_OWNED);
    cr_assert(holds(t, "a//b/", FINDING_ROOT_OWNED));
    cr_assert_eq(ftable_forget_path(t, "a//b/"), 1);
    cr_assert_eq(ftable_forget_path(t, ""), 1);
    cr_assert_str_eq(l.ev[l.n - 1].path, "");
    cr_assert_str_eq(l.ev[l.n - 2].path, "a//b/");
    cr_assert_eq(ftable_memory(t), empty);
    cr_assert_not(l.inconsistent);
    ftable_free(t);
}

Test(ftable_open_kinds, bits_of_the_kinds_open_at_exactly_the_path)
{
    struct log l;
    struct ftable *t = table(0, &l);
    cr_expect_eq(ftable_open_kinds(t, "a"), 0);
    put2(t, "a", FINDING_ROOT_OWNED, FINDING_MODE_MISMATCH);
    put1(t, "a/b", FINDING_SETID);
    cr_expect_eq(ftable_open_kinds(t, "a"),
                 (1u << FINDING_ROOT_OWNED) | (1u << FINDING_MODE_MISMATCH));
    cr_expect_eq(ftable_open_kinds(t, "a/b"), 1u << FINDING_SETID);
    cr_expect_eq(ftable_open_kinds(t, "a/"), 0, "exactly the path");
    cr_expect_eq(ftable_open_kinds(t, ""), 0);
    cr_expect_eq(ftable_open_kinds(NULL, "a"), 0);
    ftable_forget_path(t, "a");
    cr_expect_eq(ftable_open_kinds(t, "a"), 0);
    ftable_free(t);
}
