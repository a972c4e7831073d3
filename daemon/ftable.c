/* ftable: the open findings, in a red-black tree (libbsd's sys/tree.h) of one node per path,
 * ordered by strcmp of the relative path; each node holds a short list of its open kinds,
 * ascending.
 *
 * Paths are not stored whole. A node holds its last component (the name) and a pointer to
 * its directory, interned once in a tree of components (struct fdir: parent pointer, name,
 * reference count; found again through a hash of (parent, name)). 20,000 findings under one
 * 3,800-byte directory chain store that chain once. The tree is still ordered by the whole
 * path: the comparison walks the node's directory chain upward and keeps the first byte at
 * which it differs from the key (a string), without building the node's path.
 *
 * Subtrees: in strcmp order "a/b-c" sorts between "a/b" and "a/b/x" ('-' < '/'), so the
 * subtree of P is the node P itself plus the contiguous run of paths that start with "P/".
 * Both are found with RB_FIND/RB_NFIND, the run's start through a key that compares as the
 * string P + "/" without building it. Each subtree operation therefore costs O(log n + k)
 * comparisons, each O(length of the path), and never allocates.
 *
 * Memory (x86-64, glibc), as ftable_memory counts it (bytes requested): a path costs one node,
 * 56 bytes + its name and NUL; a finding costs one record, 24 bytes + its strings (rule,
 * owner, group, expected, reason, dispatch fields; each present one NUL-terminated); a
 * directory with findings below it costs 32 bytes + its name and NUL + 8 for its hash bucket,
 * once for all the findings below it. Plus one scratch buffer as long as the longest path
 * stored (for the paths handed to change callbacks). Measured: see ftable.h.
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

/* An interned directory: the path of its parent, "/", its name. Held by the nodes directly in
 * it and by its child directories; freed with the last of them. */
struct fdir {
    struct fdir *hnext;  /* the hash bucket's next */
    struct fdir *parent; /* NULL: a top-level component */
    uint32_t refs;
    uint32_t len; /* of name */
    size_t plen;  /* of the whole path */
    char name[];
};

/* One path with at least one open finding: DIR's path, "/", NAME (or NAME alone without
 * DIR). */
struct fnode {
    RB_ENTRY(fnode) link;
    struct fdir *dir;  /* NULL: the path has no '/' */
    const char *name;  /* the bytes right after the node; in a struct fkey, the key */
    struct frec *recs; /* never NULL in the tree */
    uint32_t epoch;    /* sweep epoch in which ftable_update last saw the path */
    uint32_t key;      /* 0; in a struct fkey, KEY_EXACT or KEY_BELOW */
};

/* A lookup key on the stack, compared as NAME[0..LEN) (KEY_EXACT) or as NAME[0..LEN) + "/"
 * (KEY_BELOW, the lower bound of a subtree's proper descendants). Neither string is built. */
struct fkey {
    struct fnode n; /* first: node_cmp converts back */
    size_t len;
};

#define KEY_EXACT  1
#define KEY_BELOW  2
#define KEY_INSERT 3 /* a node being inserted: its path is insert_path[0..insert_len) */

/* The path of the node RB_INSERT is placing (the module runs on one thread). */
static const char *insert_path;
static size_t insert_len;

RB_HEAD(ftree, fnode);

struct ftable {
    struct ftree head;
    size_t max;
    size_t max_bytes; /* 0: no limit */
    size_t count;
    size_t nnodes;
    size_t nkind[FINDING_KIND_COUNT];
    uint64_t untracked;
    size_t bytes; /* requested by the table and everything in it */
    struct fdir **buckets;
    size_t nbuckets, ndirs;
    char *pbuf; /* scratch for a node's path (reports), maxplen + 1 bytes */
    size_t maxplen;
    uint32_t epoch;
    bool sweeping;
    char *sweep_prefix;
    ftable_change_fn fn;
    void *ctx;
};

/* ---- paths ----------------------------------------------------------------------------- */

/* Length of N's whole path. */
static size_t node_plen(const struct fnode *n)
{
    return (n->dir ? n->dir->plen + 1 : 0) + strlen(n->name);
}

/* Write N's path into BUF (node_plen(N) + 1 bytes), NUL-terminated; returns BUF. */
static char *node_path(const struct fnode *n, char *buf)
{
    size_t p = node_plen(n), nl = strlen(n->name);
    buf[p] = '\0';
    p -= nl;
    memcpy(buf + p, n->name, nl);
    for (const struct fdir *d = n->dir; d; d = d->parent) {
        buf[--p] = '/';
        p -= d->len;
        memcpy(buf + p, d->name, d->len);
    }
    return buf;
}

/* Where a key and a node's path first differ. */
struct diff {
    const char *s; /* the key: S[0..SLEN), then "/" when BELOW */
    size_t slen;
    bool below;
    size_t at; /* first differing offset; SIZE_MAX: none found yet */
    int kb;    /* the key's byte there (-1: the key ended) */
    int pb;    /* the path's byte there (-1: the path ended) */
};

/* The key's byte at I, -1 past its end. */
static int key_byte(const struct diff *d, size_t i)
{
    if (i < d->slen)
        return (unsigned char)d->s[i];
    return d->below && i == d->slen ? '/' : -1;
}

/* Compare the path's bytes SEG[0..LEN) at offset OFF with the key; keep the first
 * difference. */
static void diff_seg(struct diff *d, size_t off, const char *seg, size_t len)
{
    if (off >= d->at)
        return;
    if (len > d->at - off)
        len = d->at - off;
    size_t j = 0;
    if (off < d->slen) { /* the plain part of the key */
        size_t m = d->slen - off < len ? d->slen - off : len;
        const char *k = d->s + off;
        while (j < m && k[j] == seg[j])
            j++;
        if (j < m) {
            d->at = off + j;
            d->kb = (unsigned char)k[j];
            d->pb = (unsigned char)seg[j];
            return;
        }
    }
    for (; j < len; j++) {
        int kb = key_byte(d, off + j);
        if (kb != (unsigned char)seg[j]) {
            d->at = off + j;
            d->kb = kb;
            d->pb = (unsigned char)seg[j];
            return;
        }
    }
}

/* Compare the key S[0..SLEN) (+ "/" when BELOW) with N's path: fills *D; D->at is SIZE_MAX
 * when they are equal. O(length of the path). */
static void diff_node(struct diff *d, const char *s, size_t slen, bool below, const struct fnode *n)
{
    *d = (struct diff){.s = s, .slen = slen, .below = below, .at = SIZE_MAX};
    size_t plen = node_plen(n), nl = strlen(n->name);
    diff_seg(d, plen - nl, n->name, nl);
    for (const struct fdir *x = n->dir; x; x = x->parent) {
        diff_seg(d, x->plen, "/", 1);
        diff_seg(d, x->plen - x->len, x->name, x->len);
    }
    if (d->at == SIZE_MAX && slen + below > plen) { /* the path is a prefix of the key */
        d->at = plen;
        d->kb = key_byte(d, plen);
        d->pb = -1;
    }
}

/* strcmp order of A and B; A is a struct fkey or the node being inserted. */
static int node_cmp(const struct fnode *a, const struct fnode *b)
{
    struct diff d;
    if (a->key == KEY_INSERT)
        diff_node(&d, insert_path, insert_len, false, b);
    else
        diff_node(&d, a->name, ((const struct fkey *)a)->len, a->key == KEY_BELOW, b);
    if (d.at == SIZE_MAX)
        return 0;
    return d.kb < d.pb ? -1 : 1;
}

/* RB_GENERATE_STATIC would say `__unused static`, but libbsd leaves __unused undefined (it
 * clashes with Linux headers): spell the attribute out. */
RB_GENERATE_INTERNAL(ftree, fnode, link, node_cmp, __attribute__((unused)) static)

/* ---- interned directories ---------------------------------------------------------------- */

/* Bytes that D was allocated with. */
static size_t dir_size(const struct fdir *d)
{
    return sizeof(*d) + d->len + 1;
}

/* Bucket of (PARENT, NAME[0..LEN)) among N (a power of two). */
static size_t dir_hash(const struct fdir *parent, const char *name, size_t len, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ ((uint64_t)(uintptr_t)parent * 0x9E3779B97F4A7C15ULL);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    return (size_t)h & (n - 1);
}

/* The interned directory NAME[0..LEN) in PARENT, or NULL. */
static struct fdir *dir_find(const struct ftable *t, const struct fdir *parent, const char *name,
                             size_t len)
{
    if (!t->nbuckets)
        return NULL;
    for (struct fdir *d = t->buckets[dir_hash(parent, name, len, t->nbuckets)]; d; d = d->hnext)
        if (d->parent == parent && d->len == len && memcmp(d->name, name, len) == 0)
            return d;
    return NULL;
}

/* Double the buckets when the load passes 1 (first: 64). Returns 0, or -1 when the first
 * allocation fails (a failed growth only lengthens the chains). */
static int dir_grow(struct ftable *t)
{
    if (t->nbuckets && t->ndirs < t->nbuckets)
        return 0;
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    struct fdir **b = calloc(n, sizeof(*b));
    if (!b)
        return t->nbuckets ? 0 : -1;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct fdir *d = t->buckets[i], *next; d; d = next) {
            next = d->hnext;
            size_t h = dir_hash(d->parent, d->name, d->len, n);
            d->hnext = b[h];
            b[h] = d;
        }
    free(t->buckets);
    t->bytes += (n - t->nbuckets) * sizeof(*b);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

/* Drop one reference to D; free it and, in turn, the ancestors nobody else holds. Frees the
 * buckets with the last directory. */
static void dir_unref(struct ftable *t, struct fdir *d)
{
    while (d && --d->refs == 0) {
        struct fdir *parent = d->parent;
        struct fdir **pp = &t->buckets[dir_hash(parent, d->name, d->len, t->nbuckets)];
        while (*pp != d)
            pp = &(*pp)->hnext;
        *pp = d->hnext;
        t->bytes -= dir_size(d);
        t->ndirs--;
        free(d);
        d = parent;
    }
    if (t->ndirs == 0 && t->buckets) {
        t->bytes -= t->nbuckets * sizeof(*t->buckets);
        free(t->buckets);
        t->buckets = NULL;
        t->nbuckets = 0;
    }
}

/* The interned directory PATH[0..LEN) (LEN > 0 or a lone empty component), created with its
 * missing ancestors, with one more reference for the caller. NULL with errno ENOMEM (nothing
 * created stays). */
static struct fdir *dir_get(struct ftable *t, const char *path, size_t len)
{
    struct fdir *parent = NULL;
    size_t pos = 0;
    for (;;) {
        const char *slash = memchr(path + pos, '/', len - pos);
        size_t clen = slash ? (size_t)(slash - (path + pos)) : len - pos;
        struct fdir *d = dir_find(t, parent, path + pos, clen);
        if (!d) {
            if (dir_grow(t) < 0 || !(d = malloc(sizeof(*d) + clen + 1))) {
                if (parent) { /* undo what this call created */
                    parent->refs++;
                    dir_unref(t, parent);
                } else if (t->ndirs == 0) {
                    dir_unref(t, NULL);
                }
                errno = ENOMEM;
                return NULL;
            }
            d->parent = parent;
            d->refs = 0;
            d->len = (uint32_t)clen;
            d->plen = (parent ? parent->plen + 1 : 0) + clen;
            memcpy(d->name, path + pos, clen);
            d->name[clen] = '\0';
            if (parent)
                parent->refs++;
            size_t h = dir_hash(parent, d->name, clen, t->nbuckets);
            d->hnext = t->buckets[h];
            t->buckets[h] = d;
            t->ndirs++;
            t->bytes += dir_size(d);
        }
        parent = d;
        if (!slash)
            break;
        pos += clen + 1;
    }
    parent->refs++;
    return parent;
}

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
    return sizeof(*n) + strlen(n->name) + 1;
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

/* The node of RELPATH[0..LEN), or NULL. O(log n). */
static struct fnode *node_find_len(const struct ftable *t, const char *relpath, size_t len)
{
    struct fkey key = {.n = {.name = relpath, .key = KEY_EXACT}, .len = len};
    return RB_FIND(ftree, (struct ftree *)&t->head, &key.n);
}

/* The node of RELPATH, or NULL. O(log n). */
static struct fnode *node_find(const struct ftable *t, const char *relpath)
{
    return node_find_len(t, relpath, strlen(relpath));
}

/* Whether N's path is PREFIX[0..PLEN) or below it; every path is below "". */
static bool in_subtree(const struct fnode *n, const char *prefix, size_t plen)
{
    if (plen == 0)
        return true;
    struct diff d;
    diff_node(&d, prefix, plen, false, n);
    return d.at == SIZE_MAX || (d.at == plen && d.pb == '/');
}

/* Whether N's path is exactly PREFIX[0..PLEN). */
static bool is_path(const struct fnode *n, const char *prefix, size_t plen)
{
    struct diff d;
    diff_node(&d, prefix, plen, false, n);
    return d.at == SIZE_MAX;
}

/* The first node strictly below PREFIX[0..PLEN) (its path starts with that and "/"), or
 * NULL. O(log n). */
static struct fnode *first_below(const struct ftable *t, const char *prefix, size_t plen)
{
    struct fkey key = {.n = {.name = prefix, .key = KEY_BELOW}, .len = plen};
    struct fnode *n = RB_NFIND(ftree, (struct ftree *)&t->head, &key.n);
    return n && in_subtree(n, prefix, plen) ? n : NULL;
}

/* The first node at or below PREFIX[0..PLEN) in path order, or NULL. O(log n). */
static struct fnode *sub_first(const struct ftable *t, const char *prefix, size_t plen)
{
    if (plen == 0)
        return RB_MIN(ftree, (struct ftree *)&t->head);
    struct fnode *n = node_find_len(t, prefix, plen);
    return n ? n : first_below(t, prefix, plen);
}

/* The node after N (at or below PREFIX[0..PLEN)) that is at or below it too, or NULL.
 * Amortized O(1) steps; O(log n) when N is PREFIX itself, to skip its siblings ("a/b-c"). */
static struct fnode *sub_next(const struct ftable *t, struct fnode *n, const char *prefix,
                              size_t plen)
{
    if (plen > 0 && is_path(n, prefix, plen))
        return first_below(t, prefix, plen);
    n = RB_NEXT(ftree, (struct ftree *)&t->head, n);
    return n && in_subtree(n, prefix, plen) ? n : NULL;
}

/* Free N (already out of the tree, its records gone) and its hold on its directory. */
static void node_free(struct ftable *t, struct fnode *n)
{
    t->bytes -= node_size(n);
    t->nnodes--;
    dir_unref(t, n->dir);
    free(n);
    if (t->nnodes == 0 && t->pbuf) { /* an empty table holds no scratch */
        t->bytes -= t->maxplen + 1;
        free(t->pbuf);
        t->pbuf = NULL;
        t->maxplen = 0;
    }
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
    if (t->fn) {
        const char *path = node_path(n, t->pbuf); /* pbuf holds the longest path stored */
        for (struct frec *r = n->recs; r; r = r->next)
            report(t, FTABLE_CLOSED, path, r);
    }
    for (struct frec *r = n->recs, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    node_free(t, n);
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

/* Sets T's byte budget (0: none); NULL T does nothing. */
void ftable_set_max_memory(struct ftable *t, size_t bytes)
{
    if (t)
        t->max_bytes = bytes;
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
        node_free(t, n);
    }
    free(t->pbuf);
    free(t->sweep_prefix);
    free(t);
}

/* A node for RELPATH (LEN bytes), out of the tree, with no records, holding its directory;
 * the scratch buffer grown to hold its path. NULL with errno ENOMEM (nothing changed). */
static struct fnode *node_new(struct ftable *t, const char *relpath, size_t len)
{
    const char *slash = memrchr(relpath, '/', len);
    const char *name = slash ? slash + 1 : relpath;
    size_t nl = len - (size_t)(name - relpath);
    if (len > t->maxplen || !t->pbuf) {
        char *p = realloc(t->pbuf, len + 1);
        if (!p)
            return errno = ENOMEM, NULL;
        t->bytes += len - t->maxplen + (t->pbuf ? 0 : 1);
        t->pbuf = p;
        t->maxplen = len;
    }
    struct fnode *n = malloc(sizeof(*n) + nl + 1);
    if (!n)
        return errno = ENOMEM, NULL;
    n->dir = NULL;
    if (slash && !(n->dir = dir_get(t, relpath, (size_t)(slash - relpath)))) {
        free(n);
        return errno = ENOMEM, NULL;
    }
    char *copy = (char *)(n + 1);
    memcpy(copy, name, nl);
    copy[nl] = '\0';
    n->name = copy;
    n->recs = NULL;
    n->key = 0;
    n->epoch = 0;
    t->nnodes++;
    t->bytes += node_size(n);
    return n;
}

/* See ftable.h. All or nothing: every allocation happens before the table changes. Closes are
 * reported before opens, each in kind order; closes free room for opens under the caps.
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

    size_t len = strlen(relpath);
    struct fnode *node = node_find_len(t, relpath, len);
    bool have[FINDING_KIND_COUNT] = {0};
    size_t nclose = 0, old_bytes = 0;
    if (node)
        for (struct frec *r = node->recs; r; r = r->next) {
            have[r->kind] = true;
            nclose += !want[r->kind];
            old_bytes += rec_size(r);
        }

    /* which new kinds fit under the count cap, in kind order; the rest are untracked */
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
    size_t fresh_bytes = 0, before = t->bytes;
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++) {
        if (!want[k] || (!have[k] && !open[k]))
            continue;
        if (!(fresh[k] = rec_new(want[k])))
            goto nomem;
        fresh_bytes += rec_size(fresh[k]);
    }
    if (!node && nopen > 0 && !(created = node_new(t, relpath, len)))
        goto nomem;

    /* the byte budget: new findings that would take the table past it are not stored (a
     * refresh or a close always is) */
    if (nopen > 0 && t->max_bytes && t->bytes + fresh_bytes - old_bytes > t->max_bytes) {
        for (unsigned k = 0; k < FINDING_KIND_COUNT; k++)
            if (open[k]) {
                fresh_bytes -= rec_size(fresh[k]);
                free(fresh[k]);
                fresh[k] = NULL;
                open[k] = false;
                nuntracked++;
            }
        nopen = 0;
        if (created) {
            node_free(t, created);
            created = NULL;
        }
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
        insert_path = relpath;
        insert_len = len;
        node->key = KEY_INSERT;
        RB_INSERT(ftree, &t->head, node);
        node->key = 0;
        insert_path = NULL;
    }
    if (node && list) {
        node->recs = list;
        node->epoch = t->epoch;
    } else if (node) { /* nothing left open: the node goes, after the reports */
        RB_REMOVE(ftree, &t->head, node);
        gone = node;
        node->recs = NULL;
    }

    /* the table is consistent: report */
    for (struct frec *r = closed; r; r = r->next)
        report(t, FTABLE_CLOSED, relpath, r);
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++)
        if (open[k])
            report(t, FTABLE_OPENED, relpath, fresh[k]);
    for (struct frec *r = closed, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    if (gone)
        node_free(t, gone);
    return 0;

nomem:
    for (unsigned k = 0; k < FINDING_KIND_COUNT; k++)
        free(fresh[k]);
    if (node) /* the crawl did see it: a sweep must not close what it had */
        node->epoch = t->epoch;
    (void)before;
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

_Static_assert(FINDING_KIND_COUNT <= 32, "ftable_open_kinds: one bit per kind");

uint32_t ftable_open_kinds(const struct ftable *t, const char *relpath)
{
    const struct fnode *n = t && relpath ? node_find(t, relpath) : NULL;
    uint32_t kinds = 0;
    for (const struct frec *r = n ? n->recs : NULL; r; r = r->next)
        kinds |= UINT32_C(1) << r->kind;
    return kinds;
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

/* Visit N's records after kind AFTER_KIND (-1: all) with its path in BUF. Returns false when
 * FN asked to stop. */
static bool visit_node(const struct fnode *n, int after_kind, char *buf, ftable_visit_fn fn,
                       void *ctx)
{
    node_path(n, buf);
    for (const struct frec *r = n->recs; r; r = r->next) {
        if ((int)r->kind <= after_kind)
            continue;
        struct finding f;
        rec_to_finding(r, &f);
        if (!fn(ctx, buf, &f))
            return false;
    }
    return true;
}

/* See ftable.h. Trailing slashes of PREFIX are ignored; NULL arguments do nothing, and so does
 * a failure to allocate the buffer for the paths handed to FN. The finding and the path
 * passed to FN are valid during the call only. O(log n + k). */
void ftable_foreach(const struct ftable *t, const char *prefix, ftable_visit_fn fn, void *ctx)
{
    ftable_foreach_after(t, prefix, NULL, -1, fn, ctx);
}

/* See ftable.h. O(log n + k). */
void ftable_foreach_after(const struct ftable *t, const char *prefix, const char *after,
                          int after_kind, ftable_visit_fn fn, void *ctx)
{
    if (!t || !prefix || !fn || t->nnodes == 0)
        return;
    char *buf = malloc(t->maxplen + 1); /* own buffer: FN may iterate too */
    if (!buf)
        return;
    size_t plen = prefix_len(prefix);
    struct fnode *n;
    if (!after) {
        n = sub_first(t, prefix, plen);
    } else {
        size_t alen = strlen(after);
        struct fkey key = {.n = {.name = after, .key = KEY_EXACT}, .len = alen};
        n = RB_NFIND(ftree, (struct ftree *)&t->head, &key.n);
        if (n && node_cmp(&key.n, n) == 0) { /* the cursor's own path: its later kinds */
            if (!visit_node(n, after_kind, buf, fn, ctx))
                goto out;
            n = in_subtree(n, prefix, plen) ? sub_next(t, n, prefix, plen) : NULL;
        } else if (n && !in_subtree(n, prefix, plen)) {
            /* after PREFIX itself come its siblings ("a/b-c"), then its descendants */
            n = plen > 0 && alen == plen && strncmp(after, prefix, plen) == 0
                    ? first_below(t, prefix, plen)
                    : NULL;
        }
    }
    for (; n; n = sub_next(t, n, prefix, plen))
        if (!visit_node(n, -1, buf, fn, ctx))
            break;
out:
    free(buf);
}

/* Bytes the table has asked malloc for (its nodes, records, directories, buckets and strings;
 * not the allocator's own overhead); 0 for NULL. */
size_t ftable_memory(const struct ftable *t)
{
    return t ? t->bytes : 0;
}
