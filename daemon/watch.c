/* watch: inotify watch descriptors <-> directory nodes, in about 60 bytes per watched
 * directory (measured in tests/test_watch.c and bench/watch-memory.sh).
 *
 * Nodes: 30 bytes + the name inline (NUL-terminated), in 4-byte units, carved from 64 KiB
 * pages and named by 32-bit handles (page number << 14 | offset / 4; 0 is none). Freed slots
 * go to a free list per size and are reused (a bigger free slot is split); when the last node
 * goes, every page is freed. Nodes never move while they live, except in watch_move when the
 * new name does not fit the slot (as before, when the node was realloc'd).
 *
 * Indexes: two Robin Hood open-addressing tables of (key, handle) slots, 8 bytes each, at a
 * load of 13/16 at most (they double) and 1/4 at least (they halve): by wd (key: the wd, placed
 * by a keyed mix of it), and by (parent, name) (key: 32 bits of SipHash-2-4 of the parent's wd
 * and the name under a random key from getrandom). Names are chosen by the web user: a probe
 * longer than PROBE_LIMIT (colliding keys) rekeys that table once, then doubles it, so no
 * input makes lookups slow. Children: first child / next / previous sibling handles. */
#include "watch.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES 65536u
#define UNIT       4u
#define OFF_BITS   14 /* PAGE_BYTES / UNIT = 1 << OFF_BITS units per page */
#define OFF_MASK   ((1u << OFF_BITS) - 1)
#define MAX_PAGES  (1u << (32 - OFF_BITS)) /* 16 GiB of nodes */
#define NAME_LIMIT 4095                    /* longer names are refused (ENAMETOOLONG) */
#define NODE_HEAD  30                      /* offsetof(struct watch_dir, name) */
#define MIN_UNITS  8                       /* the smallest slot: 32 bytes */
#define MAX_UNITS  ((NODE_HEAD + NAME_LIMIT + 1 + UNIT - 1) / UNIT)
#define MAP_WORDS  ((MAX_UNITS + 64) / 64)
#define MIN_CAP    16u
#ifndef PROBE_LIMIT
#define PROBE_LIMIT 64u
#endif

/* 4-byte aligned, packed: the parent pointer may sit at an offset of 4 mod 8. */
struct __attribute__((packed, aligned(4))) watch_dir {
    struct watch_dir *parent;   /* NULL for the root */
    uint32_t child, next, prev; /* handles: first child, next and previous sibling */
    int32_t wd;
    uint32_t epoch;
    uint16_t units; /* the slot's size in UNITs */
    char name[];
};

_Static_assert(offsetof(struct watch_dir, name) == NODE_HEAD, "node head");

struct slot {
    uint32_t key;  /* wd, or the name hash */
    uint32_t node; /* handle, 0: empty */
};

struct table {
    struct slot *s;
    uint32_t cap; /* a power of two */
    uint32_t count;
    uint32_t longest; /* the longest probe of an insertion since the last rebuild */
    bool rekeyed;     /* rekeyed at this capacity already */
    uint64_t key[2];
};

struct watch {
    int fd;
    watch_release_fn release; /* NULL: inotify watches */
    void *release_ctx;
    size_t count;
    uint32_t epoch;
    uint32_t root; /* handle */
    struct table wds, names;
    unsigned rekeys;
    char **pages; /* pages[1 .. npages - 1] */
    uint32_t npages, pages_cap;
    uint32_t bump, bump_left; /* the next unused unit of the newest page, units left there */
    size_t free_units;
    uint64_t free_map[MAP_WORDS]; /* bit u: free_head[u] is not empty */
    uint32_t free_head[MAX_UNITS + 1];
};

/* Drop the kernel side of WD: the inotify watch, or the release hook's. */
static void kernel_rm(struct watch *w, int wd)
{
    if (__builtin_expect(w->release != NULL, 0))
        w->release(w->release_ctx, wd);
    else
        inotify_rm_watch(w->fd, wd);
}

/* ---- keys and hashes ------------------------------------------------------------------- */

/* 16 random bytes into KEY (getrandom; the clock, pid and an address when it has none). */
static void random_key(uint64_t key[2])
{
    if (getrandom(key, 2 * sizeof(uint64_t), GRND_NONBLOCK) == 2 * sizeof(uint64_t))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    static uint64_t salt;
    key[0] = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ (uintptr_t)key;
    key[1] = ((uint64_t)getpid() << 32) ^ (uintptr_t)&salt ^ ++salt * 0x9e3779b97f4a7c15u;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

/* SipHash-2-4 of IN (LEN bytes) under KEY. */
static uint64_t siphash24(const uint64_t key[2], const unsigned char *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ key[0], v1 = 0x646f72616e646f6dull ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ key[0], v3 = 0x7465646279746573ull ^ key[1];
    uint64_t b = (uint64_t)len << 56;
    const unsigned char *end = in + len - (len % 8);
    for (; in != end; in += 8) {
        uint64_t m = 0;
        for (int i = 0; i < 8; i++)
            m |= (uint64_t)in[i] << (8 * i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* The name key of child NAME (N bytes) of PARENT (NULL: the root's place) under KEY. */
static uint32_t name_hash(const uint64_t key[2], const struct watch_dir *parent, const char *name,
                          size_t n)
{
    unsigned char buf[4 + NAME_LIMIT];
    uint32_t pwd = parent ? (uint32_t)parent->wd : UINT32_MAX;
    for (int i = 0; i < 4; i++)
        buf[i] = (unsigned char)(pwd >> (8 * i));
    memcpy(buf + 4, name, n);
    return (uint32_t)siphash24(key, buf, n + 4);
}

/* Where key K of T wants to sit (before masking). */
static uint32_t table_home(const struct watch *w, const struct table *t, uint32_t k)
{
    if (t != &w->wds)
        return k;
    uint64_t x = k ^ t->key[0]; /* splitmix64's finaliser of the keyed wd */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((x ^ (x >> 31)) ^ (t->key[1] >> 32));
}

/* ---- the node arena -------------------------------------------------------------------- */

/* The node (or free slot) of handle H (not 0). */
static struct watch_dir *node_at(const struct watch *w, uint32_t h)
{
    return (struct watch_dir *)(w->pages[h >> OFF_BITS] + (size_t)(h & OFF_MASK) * UNIT);
}

/* Put the free slot H of UNITS units on its list. */
static void slot_push(struct watch *w, uint32_t h, uint32_t units)
{
    memcpy(node_at(w, h), &w->free_head[units], sizeof(uint32_t));
    w->free_head[units] = h;
    w->free_map[units / 64] |= 1ull << (units % 64);
    w->free_units += units;
}

/* Take the first slot of list UNITS (not empty). */
static uint32_t slot_pop(struct watch *w, uint32_t units)
{
    uint32_t h = w->free_head[units];
    memcpy(&w->free_head[units], node_at(w, h), sizeof(uint32_t));
    if (!w->free_head[units])
        w->free_map[units / 64] &= ~(1ull << (units % 64));
    w->free_units -= units;
    return h;
}

/* The smallest non-empty free list above UNITS, or 0. */
static uint32_t slot_bigger(const struct watch *w, uint32_t units)
{
    for (uint32_t u = units + 1; u <= MAX_UNITS;) {
        uint64_t m = w->free_map[u / 64] >> (u % 64);
        if (m)
            return u + (uint32_t)__builtin_ctzll(m);
        u = (u / 64 + 1) * 64;
    }
    return 0;
}

/* A slot of at least UNITS units: its handle, and its size in *GOT; 0 with errno ENOMEM. */
static uint32_t slot_alloc(struct watch *w, uint32_t units, uint32_t *got)
{
    *got = units;
    if (w->free_head[units])
        return slot_pop(w, units);
    if (w->bump_left >= units) {
        uint32_t h = w->bump;
        w->bump += units;
        w->bump_left -= units;
        return h;
    }
    uint32_t u = slot_bigger(w, units);
    if (u) {
        uint32_t h = slot_pop(w, u);
        if (u - units >= MIN_UNITS)
            slot_push(w, h + units, u - units);
        else
            *got = u;
        return h;
    }
    if (w->npages >= MAX_PAGES)
        return errno = ENOMEM, 0;
    if (w->npages == w->pages_cap) {
        uint32_t cap = w->pages_cap ? w->pages_cap * 2 : 16;
        char **p = realloc(w->pages, cap * sizeof(*p));
        if (!p)
            return errno = ENOMEM, 0;
        w->pages = p;
        w->pages_cap = cap;
        if (!w->npages)
            w->pages[w->npages++] = NULL; /* handle 0 is none */
    }
    char *page = malloc(PAGE_BYTES);
    if (!page)
        return errno = ENOMEM, 0;
    if (w->bump_left >= MIN_UNITS)
        slot_push(w, w->bump, w->bump_left); /* the old page's tail */
    w->pages[w->npages] = page;
    uint32_t h = w->npages++ << OFF_BITS;
    w->bump = h + units;
    w->bump_left = (PAGE_BYTES / UNIT) - units;
    return h;
}

/* Every node is gone: free every page. */
static void arena_reset(struct watch *w)
{
    for (uint32_t i = 1; i < w->npages; i++)
        free(w->pages[i]);
    free(w->pages);
    w->pages = NULL;
    w->npages = w->pages_cap = w->bump = w->bump_left = 0;
    w->free_units = 0;
    memset(w->free_map, 0, sizeof(w->free_map));
    memset(w->free_head, 0, sizeof(w->free_head));
}

/* Units a node named N bytes needs. */
static uint32_t node_units(size_t n)
{
    uint32_t u = (uint32_t)((NODE_HEAD + n + 1 + UNIT - 1) / UNIT);
    return u < MIN_UNITS ? MIN_UNITS : u;
}

/* ---- the tables ------------------------------------------------------------------------ */

/* The slot index in T of key K, or UINT32_MAX: with NODE (not 0) the slot of that handle;
 * else with NAME the node NAME under PARENT; else the key alone (the wd table). */
static uint32_t table_find(const struct watch *w, const struct table *t, uint32_t k,
                           const struct watch_dir *parent, const char *name, uint32_t node)
{
    uint32_t mask = t->cap - 1, i = table_home(w, t, k) & mask;
    for (uint32_t dist = 0;; dist++, i = (i + 1) & mask) {
        const struct slot *s = &t->s[i];
        if (!s->node)
            return UINT32_MAX;
        if (s->key == k && (node ? s->node == node
                                 : !name || (node_at(w, s->node)->parent == parent &&
                                             strcmp(node_at(w, s->node)->name, name) == 0)))
            return i;
        if (((i - table_home(w, t, s->key)) & mask) < dist)
            return UINT32_MAX; /* Robin Hood: K would have displaced this one */
    }
}

/* Place E (its key not in T) in T, which has room. Returns the probe length. */
static uint32_t table_place(const struct watch *w, struct table *t, struct slot e)
{
    uint32_t mask = t->cap - 1, i = table_home(w, t, e.key) & mask, dist = 0;
    for (;; dist++, i = (i + 1) & mask) {
        struct slot *s = &t->s[i];
        if (!s->node) {
            *s = e;
            break;
        }
        uint32_t sd = (i - table_home(w, t, s->key)) & mask;
        if (sd < dist) {
            struct slot tmp = *s;
            *s = e;
            e = tmp;
            dist = sd;
        }
    }
    t->count++;
    return dist;
}

/* Rebuild T with CAP slots (KEY: under that key, the name keys recomputed). Returns 0, or -1
 * with errno ENOMEM (T is unchanged). */
static int table_rebuild(struct watch *w, struct table *t, uint32_t cap, const uint64_t key[2])
{
    struct slot *s = calloc(cap, sizeof(*s));
    if (!s)
        return errno = ENOMEM, -1;
    struct table old = *t;
    t->s = s;
    t->cap = cap;
    t->count = 0;
    t->longest = 0;
    if (cap != old.cap)
        t->rekeyed = false;
    if (key) {
        t->key[0] = key[0];
        t->key[1] = key[1];
    }
    for (uint32_t i = 0; i < old.cap; i++) {
        struct slot e = old.s[i];
        if (!e.node)
            continue;
        if (key && t == &w->names) {
            const struct watch_dir *d = node_at(w, e.node);
            e.key = name_hash(t->key, d->parent, d->name, strlen(d->name));
        }
        uint32_t p = table_place(w, t, e);
        if (p > t->longest)
            t->longest = p;
    }
    free(old.s);
    return 0;
}

/* Room in T for one more entry. Returns 0, or -1 with errno ENOMEM. */
static int table_reserve(struct watch *w, struct table *t)
{
    if ((uint64_t)(t->count + 1) * 16 <= (uint64_t)t->cap * 13)
        return 0;
    if (t->cap >= (1u << 31))
        return errno = ENOMEM, -1;
    return table_rebuild(w, t, t->cap * 2, NULL);
}

/* Insert E into T (room reserved). A long probe (colliding keys: chance, or names made to
 * collide) rekeys T once at this size, then doubles it; failing that, T stays as it is. */
static void table_insert(struct watch *w, struct table *t, struct slot e)
{
    uint32_t p = table_place(w, t, e);
    if (p > t->longest)
        t->longest = p;
    if (p <= PROBE_LIMIT)
        return;
    uint64_t key[2];
    random_key(key);
    if (!t->rekeyed && table_rebuild(w, t, t->cap, key) == 0) {
        t->rekeyed = true;
        w->rekeys++;
    } else if (t->cap < (1u << 31)) {
        table_rebuild(w, t, t->cap * 2, NULL);
    }
}

/* Remove slot I of T (backward shift: no tombstones); halve T when a quarter full. */
static void table_delete(struct watch *w, struct table *t, uint32_t i)
{
    uint32_t mask = t->cap - 1;
    for (;;) {
        uint32_t j = (i + 1) & mask;
        struct slot *s = &t->s[j];
        if (!s->node || ((j - table_home(w, t, s->key)) & mask) == 0)
            break;
        t->s[i] = *s;
        i = j;
    }
    t->s[i] = (struct slot){0, 0};
    t->count--;
    if (t->cap > MIN_CAP && t->count < t->cap / 4)
        table_rebuild(w, t, t->cap / 2, NULL); /* on ENOMEM it stays big */
}

/* An empty table of MIN_CAP slots under a random key. Returns 0, or -1 (ENOMEM). */
static int table_init(struct table *t)
{
    t->s = calloc(MIN_CAP, sizeof(*t->s));
    t->cap = MIN_CAP;
    random_key(t->key);
    return t->s ? 0 : -1;
}

/* ---- nodes ----------------------------------------------------------------------------- */

/* D's handle. */
static uint32_t node_handle(const struct watch *w, const struct watch_dir *d)
{
    uint32_t i = table_find(w, &w->wds, (uint32_t)d->wd, NULL, NULL, 0);
    return w->wds.s[i].node;
}

struct watch *watch_new(void)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    if (table_init(&w->wds) < 0 || table_init(&w->names) < 0) {
        free(w->wds.s);
        free(w);
        return errno = ENOMEM, NULL;
    }
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        free(w->wds.s);
        free(w->names.s);
        free(w);
        errno = e;
        return NULL;
    }
    return w;
}

void watch_set_release(struct watch *w, watch_release_fn fn, void *ctx)
{
    w->release = fn;
    w->release_ctx = ctx;
}

int watch_fd(const struct watch *w)
{
    return w->fd;
}

struct watch_dir *watch_root(const struct watch *w)
{
    return w->root ? node_at(w, w->root) : NULL;
}

size_t watch_count(const struct watch *w)
{
    return w->count;
}

struct watch_dir *watch_lookup(const struct watch *w, int wd)
{
    uint32_t i = table_find(w, &w->wds, (uint32_t)wd, NULL, NULL, 0);
    return i == UINT32_MAX ? NULL : node_at(w, w->wds.s[i].node);
}

/* The node named NAME under PARENT, or NULL. */
static struct watch_dir *find_child(const struct watch *w, const struct watch_dir *parent,
                                    const char *name)
{
    size_t n = strlen(name);
    if (n > NAME_LIMIT)
        return NULL;
    uint32_t k = name_hash(w->names.key, parent, name, n);
    uint32_t i = table_find(w, &w->names, k, parent, name, 0);
    return i == UINT32_MAX ? NULL : node_at(w, w->names.s[i].node);
}

struct watch_dir *watch_child(const struct watch *w, const struct watch_dir *parent,
                              const char *name)
{
    return find_child(w, parent, name);
}

/* Take D (handle H) out of the name index and out of its parent's children (or the root). */
static void node_unlink(struct watch *w, struct watch_dir *d, uint32_t h)
{
    uint32_t k = name_hash(w->names.key, d->parent, d->name, strlen(d->name));
    uint32_t i = table_find(w, &w->names, k, NULL, NULL, h);
    if (i != UINT32_MAX)
        table_delete(w, &w->names, i);
    if (d->next)
        node_at(w, d->next)->prev = d->prev;
    if (d->prev)
        node_at(w, d->prev)->next = d->next;
    else if (d->parent && d->parent->child == h)
        d->parent->child = d->next;
    if (w->root == h)
        w->root = 0;
    d->next = d->prev = 0;
}

/* Put D (handle H, not in the name index) at PARENT/its name; room in the name table is
 * reserved. Any node at that place was removed before. */
static void node_link(struct watch *w, struct watch_dir *d, uint32_t h, struct watch_dir *parent)
{
    d->parent = parent;
    d->prev = 0;
    if (parent) {
        d->next = parent->child;
        if (d->next)
            node_at(w, d->next)->prev = h;
        parent->child = h;
    } else {
        d->next = 0;
        w->root = h;
    }
    uint32_t k = name_hash(w->names.key, parent, d->name, strlen(d->name));
    table_insert(w, &w->names, (struct slot){k, h});
}

/* Unlink D from every index and free it; D must have no children. RM: also remove the
 * kernel's watch (not after IN_IGNORED: it is gone already). */
static void node_free(struct watch *w, struct watch_dir *d, bool rm)
{
    if (rm)
        kernel_rm(w, d->wd);
    uint32_t i = table_find(w, &w->wds, (uint32_t)d->wd, NULL, NULL, 0);
    uint32_t h = w->wds.s[i].node;
    node_unlink(w, d, h);
    table_delete(w, &w->wds, i);
    slot_push(w, h, d->units);
    if (--w->count == 0)
        arena_reset(w);
}

/* Free D and its subtree, children first (no recursion: trees can be deep). RM_TOP: also
 * remove D's own kernel watch; the subtree's are always removed. Returns the count. */
static size_t subtree_free(struct watch *w, struct watch_dir *d, bool rm_top)
{
    size_t n = 0;
    struct watch_dir *cur = d;
    for (;;) {
        if (cur->child) {
            cur = node_at(w, cur->child);
            continue;
        }
        struct watch_dir *up = cur->parent;
        bool top = cur == d;
        node_free(w, cur, top ? rm_top : true);
        n++;
        if (top)
            return n;
        cur = up;
    }
}

size_t watch_remove(struct watch *w, struct watch_dir *d)
{
    return d ? subtree_free(w, d, true) : 0;
}

void watch_forget(struct watch *w, struct watch_dir *d)
{
    if (d)
        subtree_free(w, d, false);
}

void watch_free(struct watch *w)
{
    if (!w)
        return;
    /* closing the instance drops every kernel watch at once */
    close(w->fd);
    arena_reset(w);
    free(w->wds.s);
    free(w->names.s);
    free(w);
}

/* Whether D is ANC or below it. */
static bool is_below(const struct watch_dir *d, const struct watch_dir *anc)
{
    for (; d; d = d->parent)
        if (d == anc)
            return true;
    return false;
}

int watch_move(struct watch *w, struct watch_dir *d, struct watch_dir *newparent,
               const char *newname)
{
    /* a move below itself cannot happen (rename refuses it); guard against a stale tree */
    if (is_below(newparent, d)) {
        subtree_free(w, d, true);
        return errno = ELOOP, -1;
    }
    size_t n = strlen(newname);
    if (n > NAME_LIMIT) {
        subtree_free(w, d, true);
        return errno = ENAMETOOLONG, -1;
    }
    struct watch_dir *old = find_child(w, newparent, newname);
    if (old == d)
        return 0;
    if (old) {
        bool inside = is_below(d, old); /* stale tree: D goes with what it replaces */
        subtree_free(w, old, true);
        if (inside)
            return errno = ELOOP, -1;
    }
    uint32_t h = node_handle(w, d), units = node_units(n), got = d->units, nh = h;
    if (units > d->units) {
        nh = slot_alloc(w, units, &got);
        if (!nh) {
            subtree_free(w, d, true);
            return errno = ENOMEM, -1;
        }
    }
    node_unlink(w, d, h);
    struct watch_dir *nd = d;
    if (nh != h) {
        /* re-home the node: its children point to it, the wd index names it */
        nd = node_at(w, nh);
        memcpy(nd, d, NODE_HEAD);
        nd->units = (uint16_t)got;
        for (uint32_t c = nd->child; c; c = node_at(w, c)->next)
            node_at(w, c)->parent = nd; /* their name keys use the wd: unchanged */
        w->wds.s[table_find(w, &w->wds, (uint32_t)nd->wd, NULL, NULL, 0)].node = nh;
        slot_push(w, h, d->units);
    }
    memcpy(nd->name, newname, n + 1);
    node_link(w, nd, nh, newparent); /* room: D's own slot was freed by node_unlink */
    return 0;
}

int watch_kernel_add(int inotify_fd, int fd)
{
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    return inotify_add_watch(inotify_fd, proc, WATCH_MASK);
}

struct watch_dir *watch_add(struct watch *w, struct watch_dir *parent, const char *name, int fd,
                            bool *existed)
{
    return watch_add_wd(w, parent, name, watch_kernel_add(w->fd, fd), existed);
}

struct watch_dir *watch_add_wd(struct watch *w, struct watch_dir *parent, const char *name, int wd,
                               bool *existed)
{
    if (existed)
        *existed = false;
    if (wd < 0)
        return NULL;
    struct watch_dir *d = watch_lookup(w, wd);
    if (d) {
        d->epoch = w->epoch;
        if (d->parent == parent && strcmp(d->name, name) == 0) {
            if (existed)
                *existed = true;
            return d;
        }
        /* the same directory under another name: it moved (events not seen yet, or lost) */
        if (watch_move(w, d, parent, name) < 0)
            return NULL;
        return watch_lookup(w, wd);
    }
    size_t n = strlen(name);
    if (n > NAME_LIMIT) {
        kernel_rm(w, wd);
        return errno = ENAMETOOLONG, NULL;
    }
    struct watch_dir *old = find_child(w, parent, name);
    if (old) /* a directory replaced by another of the same name */
        subtree_free(w, old, true);
    if (!parent && w->root)
        subtree_free(w, node_at(w, w->root), true);
    uint32_t got, h = 0;
    if (table_reserve(w, &w->wds) < 0 || table_reserve(w, &w->names) < 0 ||
        !(h = slot_alloc(w, node_units(n), &got))) {
        kernel_rm(w, wd);
        return errno = ENOMEM, NULL;
    }
    d = node_at(w, h);
    memset(d, 0, NODE_HEAD);
    d->wd = wd;
    d->epoch = w->epoch;
    d->units = (uint16_t)got;
    memcpy(d->name, name, n + 1);
    table_insert(w, &w->wds, (struct slot){(uint32_t)wd, h});
    node_link(w, d, h, parent);
    w->count++;
    return d;
}

size_t watch_path(const struct watch_dir *d, char *buf, size_t len)
{
    size_t total = 0;
    for (const struct watch_dir *p = d; p && p->parent; p = p->parent)
        total += strlen(p->name) + (p->parent->parent ? 1 : 0);
    if (total + 1 > len)
        return errno = ENAMETOOLONG, (size_t)-1;
    buf[total] = '\0';
    size_t at = total;
    for (const struct watch_dir *p = d; p && p->parent; p = p->parent) {
        size_t n = strlen(p->name);
        at -= n;
        memcpy(buf + at, p->name, n);
        if (p->parent->parent)
            buf[--at] = '/';
    }
    return total;
}

char *watch_path_alloc(const struct watch_dir *d)
{
    size_t total = 0;
    for (const struct watch_dir *p = d; p && p->parent; p = p->parent)
        total += strlen(p->name) + 1;
    char *buf = malloc(total + 1);
    if (!buf)
        return NULL;
    watch_path(d, buf, total + 1);
    return buf;
}

/* Whether stale D is in scope (at or below TOP; NULL: everywhere) with no stale ancestor
 * there (that one goes first, taking D along). */
static bool stale_top(const struct watch *w, const struct watch_dir *d, const struct watch_dir *top)
{
    if (d == top)
        return true;
    bool stale_above = false;
    for (const struct watch_dir *p = d->parent; p; p = p->parent) {
        if (p->epoch != w->epoch)
            stale_above = true;
        if (p == top)
            return !stale_above;
    }
    return !top && !stale_above;
}

void watch_sweep_begin(struct watch *w)
{
    w->epoch++;
}

size_t watch_sweep_end(struct watch *w, struct watch_dir *top)
{
    /* the top-most stale nodes in scope are disjoint subtrees: collect them, then free (nodes
     * do not move, and the arena is only reset when the last one goes) */
    uint32_t *stale = NULL;
    size_t n = 0, cap = 0, removed = 0;
    for (uint32_t i = 0; i < w->wds.cap; i++) {
        uint32_t h = w->wds.s[i].node;
        if (!h)
            continue;
        struct watch_dir *d = node_at(w, h);
        if (d->epoch == w->epoch || !stale_top(w, d, top))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            uint32_t *p = realloc(stale, nc * sizeof(*p));
            if (!p)
                break; /* what is left goes at the next sweep */
            stale = p;
            cap = nc;
        }
        stale[n++] = h;
    }
    for (size_t i = 0; i < n; i++)
        removed += subtree_free(w, node_at(w, stale[i]), true);
    free(stale);
    return removed;
}

void watch_stats(const struct watch *w, struct watch_stats *st)
{
    *st = (struct watch_stats){
        .nodes = w->count,
        .page_bytes = (size_t)(w->npages ? w->npages - 1 : 0) * PAGE_BYTES,
        .free_bytes = (w->free_units + w->bump_left) * UNIT,
        .table_bytes = ((size_t)w->wds.cap + w->names.cap) * sizeof(struct slot),
        .longest_probe = w->wds.longest > w->names.longest ? w->wds.longest : w->names.longest,
        .rekeys = w->rekeys,
    };
}

void watch_debug_set_key(struct watch *w, uint64_t k0, uint64_t k1)
{
    uint64_t key[2] = {k0, k1};
    if (table_rebuild(w, &w->names, w->names.cap, key) < 0)
        abort(); /* tests only */
    w->names.rekeyed = false;
}

uint32_t watch_debug_name_hash(const struct watch *w, const struct watch_dir *parent,
                               const char *name)
{
    return name_hash(w->names.key, parent, name, strlen(name));
}

/* An unsigned number from FILE, or 0. */
static unsigned long read_number(const char *file)
{
    FILE *f = fopen(file, "re");
    unsigned long v = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu", &v) != 1)
        v = 0;
    fclose(f);
    return v;
}

unsigned long watch_limit(void)
{
    unsigned long global = read_number("/proc/sys/fs/inotify/max_user_watches");
    unsigned long ns = read_number("/proc/sys/user/max_inotify_watches");
    if (!global)
        return ns;
    return ns && ns < global ? ns : global;
}
