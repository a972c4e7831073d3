/* ftable: the open findings, in a red-black tree (libbsd's sys/tree.h) of one node per path,
 * ordered by strcmp of the relative path; each node holds a short list of its open kinds,
 * ascending.
 *
 * Subtrees: in strcmp order "a/b-c" sorts between "a/b" and "a/b/x" ('-' < '/'), so the
 * subtree of P is the node P itself plus the contiguous run of paths that start with "P/".
 * Both are found with RB_FIND/RB_NFIND, the run's start through a key that compares as the
 * string P + "/" without building it. Each subtree operation therefore costs O(log n + k)
 * and never allocates.
 *
 * Memory (x86-64, glibc): a path costs one node, 56 bytes + the path and its NUL in one
 * allocation; a finding costs one record, 24 bytes + its strings (rule, owner, group,
 * expected, reason, dispatch fields; each present one NUL-terminated). Measured with
 * mallinfo2 over 100,000 paths of 47 bytes, one typical finding each (rule "site", owner and
 * group "www-data", expected and reason 39 bytes each): 230 bytes requested, 256 bytes taken
 * from malloc, per finding; a second kind on the same path adds 126 (144). For comparison,
 * sizeof(struct finding) alone is 464. ftable_memory reports the requested figure.
 *
 * Change callbacks run only once the tree, the counters and every node are consistent: a
 * closed finding is unlinked first and freed after its callback. */
#include "ftable.h"

#include <bsd/sys/tree.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One open finding. The strings follow the header; their order is that of rec_fields. */
struct frec {
    struct frec *next; /* the path's next open kind, ascending */
    uid_t uid;
    gid_t gid;
    mode_t mode;
    uint8_t kind;
    uint8_t flags;   /* REC_HAS_STAT, REC_IS_DIR */
    uint8_t present; /* bit i: pointer field i was not NULL (so NULL and "" stay distinct) */
    char strs[];     /* present pointer fields, then expected and reason, each NUL-terminated */
};

#define REC_HAS_STAT 0x1
#define REC_IS_DIR   0x2
#define REC_NPTR     6 /* rule, owner, group, channel, command, blocked_at */

/* One path with at least one open finding. */
struct fnode {
    RB_ENTRY(fnode) link;
    const char *path;  /* the bytes right after the node */
    struct frec *recs; /* never NULL in the tree */
    uint32_t epoch;    /* sweep epoch in which ftable_update last saw the path */
    uint32_t key;      /* 0; in a struct fkey, KEY_EXACT or KEY_BELOW */
};

/* A lookup key on the stack, compared as PATH[0..LEN) (KEY_EXACT) or as PATH[0..LEN) + "/"
 * (KEY_BELOW, the lower bound of a subtree's proper descendants). Neither string is built. */
struct fkey {
    struct fnode n; /* first: node_cmp converts back */
    size_t len;
};

#define KEY_EXACT 1
#define KEY_BELOW 2

RB_HEAD(ftree, fnode);

struct ftable {
    struct ftree head;
    size_t max;
    size_t count;
    size_t nkind[FINDING_KIND_COUNT];
    uint64_t untracked;
    size_t bytes; /* requested by the table and everything in it */
    uint32_t epoch;
    bool sweeping;
    char *sweep_prefix;
    ftable_change_fn fn;
    void *ctx;
};

/* strcmp order of A and B; A may be the node of a struct fkey. */
static int node_cmp(const struct fnode *a, const struct fnode *b)
{
    if (!a->key)
        return strcmp(a->path, b->path);
    const struct fkey *k = (const struct fkey *)a;
    int c = strncmp(a->path, b->path, k->len);
    if (c)
        return c;
    /* B starts with the key's LEN bytes */
    unsigned char s = (unsigned char)b->path[k->len];
    if (a->key == KEY_EXACT)
        return s ? -1 : 0;
    if (s != '/')
        return ('/' > s) - ('/' < s);
    return b->path[k->len + 1] ? -1 : 0;
}

/* RB_GENERATE_STATIC would say `__unused static`, but libbsd leaves __unused undefined (it
 * clashes with Linux headers): spell the attribute out. */
RB_GENERATE_INTERNAL(ftree, fnode, link, node_cmp, __attribute__((unused)) static)

/* The pointer fields of F in rec_fields order. */
static void rec_fields(const struct finding *f, const char *out[REC_NPTR])
{
    out[0] = f->rule;
    out[1] = f->owner;
    out[2] = f->group;
    out[3] = f->channel;
    out[4] = f->command;
    out[5] = f->blocked_at;
}

/* Bytes that R was allocated with. */
static size_t rec_size(const struct frec *r)
{
    const char *p = r->strs;
    for (int i = 0; i < REC_NPTR + 2; i++)
        if (i >= REC_NPTR || (r->present & (1u << i)))
            p += strlen(p) + 1;
    return (size_t)(p - (const char *)r);
}

/* A record holding copies of F's details, owned by the caller; NULL with errno ENOMEM. */
static struct frec *rec_new(const struct finding *f)
{
    const char *ptr[REC_NPTR];
    size_t len[REC_NPTR + 2];
    size_t size = sizeof(struct frec);
    rec_fields(f, ptr);
    for (int i = 0; i < REC_NPTR; i++)
        if (ptr[i])
            size += (len[i] = strlen(ptr[i])) + 1;
    len[REC_NPTR] = strnlen(f->expected, sizeof(f->expected) - 1);
    len[REC_NPTR + 1] = strnlen(f->reason, sizeof(f->reason) - 1);
    size += len[REC_NPTR] + len[REC_NPTR + 1] + 2;

    struct frec *r = malloc(size);
    if (!r)
        return NULL;
    r->next = NULL;
    r->uid = f->uid;
    r->gid = f->gid;
    r->mode = f->mode;
    r->kind = (uint8_t)f->kind;
    r->flags = (uint8_t)((f->has_stat ? REC_HAS_STAT : 0) | (f->is_dir ? REC_IS_DIR : 0));
    r->present = 0;
    char *p = r->strs;
    for (int i = 0; i < REC_NPTR + 2; i++) {
        const char *s = i < REC_NPTR ? ptr[i] : i == REC_NPTR ? f->expected : f->reason;
        if (!s)
            continue;
        if (i < REC_NPTR)
            r->present |= (uint8_t)(1u << i);
        memcpy(p, s, len[i]);
        p[len[i]] = '\0';
        p += len[i] + 1;
    }
    return r;
}

/* Fill OUT from R; OUT's pointers point into R, OUT->path is NULL. */
static void rec_to_finding(const struct frec *r, struct finding *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = (enum finding_kind)r->kind;
    out->has_stat = r->flags & REC_HAS_STAT;
    out->is_dir = r->flags & REC_IS_DIR;
    out->uid = r->uid;
    out->gid = r->gid;
    out->mode = r->mode;
    const char **dst[REC_NPTR] = {&out->rule,    &out->owner,   &out->group,
                                  &out->channel, &out->command, &out->blocked_at};
    const char *p = r->strs;
    for (int i = 0; i < REC_NPTR; i++)
        if (r->present & (1u << i)) {
            *dst[i] = p;
            p += strlen(p) + 1;
        }
    size_t n = strlen(p);
    memcpy(out->expected, p, n + 1);
    p += n + 1;
    memcpy(out->reason, p, strlen(p) + 1);
}

/* Bytes that N was allocated with. */
static size_t node_size(const struct fnode *n)
{
    return sizeof(*n) + strlen(n->path) + 1;
}

/* Report one change of RELPATH to the table's callback, if any. */
static void report(const struct ftable *t, enum ftable_change c, const char *relpath,
                   const struct frec *r)
{
    if (!t->fn)
        return;
    struct finding f;
    rec_to_finding(r, &f);
    t->fn(t->ctx, c, relpath, &f);
}

/* The node of RELPATH, or NULL. O(log n). */
static struct fnode *node_find(const struct ftable *t, const char *relpath)
{
    struct fnode key = {.path = relpath};
    return RB_FIND(ftree, (struct ftree *)&t->head, &key);
}

/* Whether PATH is PREFIX[0..PLEN) or below it; every path is below "". */
static bool in_subtree(const char *path, const char *prefix, size_t plen)
{
    return plen == 0 ||
           (strncmp(path, prefix, plen) == 0 && (path[plen] == '\0' || path[plen] == '/'));
}

/* The first node strictly below PREFIX[0..PLEN) (its path starts with that and "/"), or
 * NULL. O(log n). */
static struct fnode *first_below(const struct ftable *t, const char *prefix, size_t plen)
{
    struct fkey key = {.n = {.path = prefix, .key = KEY_BELOW}, .len = plen};
    struct fnode *n = RB_NFIND(ftree, (struct ftree *)&t->head, &key.n);
    return n && in_subtree(n->path, prefix, plen) ? n : NULL;
}

/* The first node at or below PREFIX[0..PLEN) in path order, or NULL. O(log n). */
static struct fnode *sub_first(const struct ftable *t, const char *prefix, size_t plen)
{
    if (plen == 0)
        return RB_MIN(ftree, (struct ftree *)&t->head);
    struct fkey key = {.n = {.path = prefix, .key = KEY_EXACT}, .len = plen};
    struct fnode *n = RB_FIND(ftree, (struct ftree *)&t->head, &key.n);
    return n ? n : first_below(t, prefix, plen);
}

/* The node after N (at or below PREFIX[0..PLEN)) that is at or below it too, or NULL.
 * Amortized O(1); O(log n) when N is PREFIX itself, to skip its siblings ("a/b-c"). */
static struct fnode *sub_next(const struct ftable *t, struct fnode *n, const char *prefix,
                              size_t plen)
{
    if (plen > 0 && n->path[plen] == '\0')
        return first_below(t, prefix, plen);
    n = RB_NEXT(ftree, (struct ftree *)&t->head, n);
    return n && in_subtree(n->path, prefix, plen) ? n : NULL;
}

/* Unlink N and its findings, report each as closed, then free them. Returns the count. */
static size_t node_close(struct ftable *t, struct fnode *n)
{
    size_t closed = 0;
    RB_REMOVE(ftree, &t->head, n);
    for (struct frec *r = n->recs; r; r = r->next) {
        t->count--;
        t->nkind[r->kind]--;
        t->bytes -= rec_size(r);
        closed++;
    }
    t->bytes -= node_size(n);
    for (struct frec *r = n->recs; r; r = r->next)
        report(t, FTABLE_CLOSED, n->path, r);
    for (struct frec *r = n->recs, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    free(n);
    return closed;
}

/* Close every node at or below PREFIX (PLEN bytes) whose epoch differs from EPOCH, or every
 * one when ALL. Returns the number of findings closed. */
static size_t close_range(struct ftable *t, const char *prefix, size_t plen, bool all,
                          uint32_t epoch)
{
    size_t closed = 0;
    for (struct fnode *n = sub_first(t, prefix, plen), *next; n; n = next) {
        next = sub_next(t, n, prefix, plen); /* before N goes away */
        if (all || n->epoch != epoch)
            closed += node_close(t, n);
    }
    return closed;
}

/* Trailing slashes of PREFIX do not count: "a/b/" is "a/b" and "/" is "". Returns the length
 * that does. */
static size_t prefix_len(const char *prefix)
{
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    return n;
}

/* Allocates the empty table; NULL with errno ENOMEM. FN may be NULL (changes unreported). */
struct ftable *ftable_new(size_t max, ftable_change_fn fn, void *ctx)
{
    struct ftable *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    RB_INIT(&t->head);
    t->max = max;
    t->fn = fn;
    t->ctx = ctx;
    t->bytes = sizeof(*t);
    return t;
}

/* Frees T and everything in it without reporting changes; T may be NULL. */
void ftable_free(struct ftable *t)
{
    if (!t)
        return;
    for (struct fnode *n = RB_MIN(ftree, &t->head), *next; n; n = next) {
        next = RB_NEXT(ftree, &t->head, n);
        RB_REMOVE(ftree, &t->head, n);
        for (struct frec *r = n->recs, *rn; r; r = rn) {
            rn = r->next;
            free(r);
        }
        free(n);
    }
    free(t->sweep_prefix);
    free(t);
}

/* See ftable.h. All or nothing: every allocation happens before the table changes. Closes are
 * reported before opens, each in kind order; closes free room for opens under the cap.
 * Returns 0, or -1 with errno EINVAL (NULL argument, kind out of range or repeated) or
 * ENOMEM (nothing changed but the sweep mark, nothing reported or counted as untracked). */
int ftable_update(struct ftable *t, const char *relpath, const struct finding *f, size_t n)
{
    if (!t || !relpath || (n > 0 && !f) || n > FINDING_KIND_COUNT) {
        errno = EINVAL;
        return -1;
    }
    const struct finding *want[FINDING_KIND_COUNT] = {0};
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)f[i].kind;
        if (k >= FINDING_KIND_COUNT || want[k]) {
            errno = EINVAL;
            return -1;
        }
        want[k] = &f[i];
    }

    struct fnode *node = node_find(t, relpath);
    bool have[FINDING_KIND_COUNT] = {0};
    size_t nclose = 0;
    if (node)
        for (struct frec *r = node->recs; r; r = r->next) {
            have[r->kind] = true;
            nclose += !want[r->kind];
        }

    /* which new kinds fit, in kind order; the rest are untracked */
    bool open[FINDING_KIND_COUNT] = {0};
    size_t nopen = 0, nuntracked = 0;
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++) {
        if (!want[k] || have[k])
            continue;
        if (t->max == 0 || t->count - nclose + nopen < t->max) {
            open[k] = true;
            nopen++;
        } else {
            nuntracked++;
        }
    }

    /* allocate everything first */
    struct frec *fresh[FINDING_KIND_COUNT] = {0};
    struct fnode *created = NULL;
    size_t fresh_bytes = 0;
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++) {
        if (!want[k] || (!have[k] && !open[k]))
            continue;
        if (!(fresh[k] = rec_new(want[k])))
            goto nomem;
        fresh_bytes += rec_size(fresh[k]);
    }
    if (!node && nopen > 0) {
        size_t len = strlen(relpath);
        created = malloc(sizeof(*created) + len + 1);
        if (!created)
            goto nomem;
        char *path = (char *)(created + 1);
        memcpy(path, relpath, len + 1);
        created->path = path;
        created->recs = NULL;
        created->key = 0;
    }

    /* commit: rebuild the kind list from the fresh records; detach the closed ones */
    struct frec *closed = NULL, **ctail = &closed;
    if (node)
        for (struct frec *r = node->recs, *next; r; r = next) {
            next = r->next;
            t->bytes -= rec_size(r);
            if (fresh[r->kind]) { /* refreshed: nobody hears of the old copy */
                free(r);
                continue;
            }
            t->count--;
            t->nkind[r->kind]--;
            r->next = NULL;
            *ctail = r;
            ctail = &r->next;
        }
    struct frec *list = NULL, **tail = &list;
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++)
        if (fresh[k]) {
            *tail = fresh[k];
            tail = &fresh[k]->next;
        }
    t->bytes += fresh_bytes;
    t->count += nopen;
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++)
        t->nkind[k] += open[k];
    t->untracked += nuntracked;

    struct fnode *gone = NULL;
    if (created) {
        node = created;
        RB_INSERT(ftree, &t->head, node);
        t->bytes += node_size(node);
    }
    if (node && list) {
        node->recs = list;
        node->epoch = t->epoch;
    } else if (node) { /* nothing left open: the node goes, after the reports */
        RB_REMOVE(ftree, &t->head, node);
        t->bytes -= node_size(node);
        gone = node;
        node->recs = NULL;
    }

    /* the table is consistent: report */
    for (struct frec *r = closed; r; r = r->next)
        report(t, FTABLE_CLOSED, node->path, r);
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++)
        if (open[k])
            report(t, FTABLE_OPENED, node->path, fresh[k]);
    for (struct frec *r = closed, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    free(gone);
    return 0;

nomem:
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++)
        free(fresh[k]);
    if (node) /* the crawl did see it: a sweep must not close what it had */
        node->epoch = t->epoch;
    errno = ENOMEM;
    return -1;
}

/* See ftable.h. Returns the number closed; 0 for a NULL argument or an unknown path. */
size_t ftable_forget_path(struct ftable *t, const char *relpath)
{
    if (!t || !relpath)
        return 0;
    struct fnode *n = node_find(t, relpath);
    return n ? node_close(t, n) : 0;
}

/* See ftable.h. Trailing slashes of PREFIX are ignored. Returns the number closed; 0 for a
 * NULL argument. O(log n + k), no allocation. */
size_t ftable_forget_subtree(struct ftable *t, const char *prefix)
{
    if (!t || !prefix)
        return 0;
    return close_range(t, prefix, prefix_len(prefix), true, 0);
}

/* See ftable.h. PREFIX NULL means "". When its copy cannot be allocated the sweep is dropped:
 * the next ftable_sweep_end closes nothing (stale findings beat wrongly resolved ones).
 * Epochs are 32 bits: a path unseen for exactly 2^32 sweeps would pass as seen. */
void ftable_sweep_begin(struct ftable *t, const char *prefix)
{
    if (!t)
        return;
    t->epoch++;
    free(t->sweep_prefix);
    t->sweep_prefix = strndup(prefix ? prefix : "", prefix ? prefix_len(prefix) : 0);
    t->sweeping = t->sweep_prefix != NULL;
}

/* See ftable.h. Returns the number closed; 0 without a running sweep. O(log n + k). */
size_t ftable_sweep_end(struct ftable *t)
{
    if (!t || !t->sweeping)
        return 0;
    t->sweeping = false;
    size_t closed = close_range(t, t->sweep_prefix, strlen(t->sweep_prefix), false, t->epoch);
    free(t->sweep_prefix);
    t->sweep_prefix = NULL;
    return closed;
}

/* Open findings in T; 0 for NULL. */
size_t ftable_count(const struct ftable *t)
{
    return t ? t->count : 0;
}

/* Open findings of kind K in T; 0 for NULL or an out-of-range kind. */
size_t ftable_count_kind(const struct ftable *t, enum finding_kind k)
{
    return t && (unsigned)k < FINDING_KIND_COUNT ? t->nkind[k] : 0;
}

/* Findings left untracked since the previous call, which resets the count; 0 for NULL. */
uint64_t ftable_take_untracked(struct ftable *t)
{
    if (!t)
        return 0;
    uint64_t n = t->untracked;
    t->untracked = 0;
    return n;
}

/* See ftable.h. Trailing slashes of PREFIX are ignored; NULL arguments do nothing. The
 * finding passed to FN is valid during the call only. O(log n + k). */
void ftable_foreach(const struct ftable *t, const char *prefix, ftable_visit_fn fn, void *ctx)
{
    if (!t || !prefix || !fn)
        return;
    size_t plen = prefix_len(prefix);
    for (struct fnode *n = sub_first(t, prefix, plen); n; n = sub_next(t, n, prefix, plen))
        for (const struct frec *r = n->recs; r; r = r->next) {
            struct finding f;
            rec_to_finding(r, &f);
            if (!fn(ctx, n->path, &f))
                return;
        }
}

/* See ftable.h. O(log n + k). */
void ftable_foreach_after(const struct ftable *t, const char *prefix, const char *after,
                          int after_kind, ftable_visit_fn fn, void *ctx)
{
    if (!t || !prefix || !fn)
        return;
    if (!after) {
        ftable_foreach(t, prefix, fn, ctx);
        return;
    }
    size_t plen = prefix_len(prefix);
    struct fnode key = {.path = after};
    struct fnode *n = RB_NFIND(ftree, (struct ftree *)&t->head, &key);
    if (n && node_cmp(&key, n) == 0) { /* the cursor's own path: its later kinds */
        for (const struct frec *r = n->recs; r; r = r->next) {
            if ((int)r->kind <= after_kind)
                continue;
            struct finding f;
            rec_to_finding(r, &f);
            if (!fn(ctx, n->path, &f))
                return;
        }
        n = in_subtree(n->path, prefix, plen) ? sub_next(t, n, prefix, plen) : NULL;
    } else if (n && !in_subtree(n->path, prefix, plen)) {
        /* after PREFIX itself come its siblings ("a/b-c"), then its descendants */
        n = in_subtree(after, prefix, plen) && plen > 0 && after[plen] == '\0'
                ? first_below(t, prefix, plen)
                : NULL;
    }
    for (; n; n = sub_next(t, n, prefix, plen))
        for (const struct frec *r = n->recs; r; r = r->next) {
            struct finding f;
            rec_to_finding(r, &f);
            if (!fn(ctx, n->path, &f))
                return;
        }
}

/* Bytes the table has asked malloc for (its nodes, records and strings; not the allocator's
 * own overhead); 0 for NULL. */
size_t ftable_memory(const struct ftable *t)
{
    return t ? t->bytes : 0;
}
