/* watch: inotify watch descriptors <-> directory nodes. Two red-black trees index the nodes
 * (by wd, and by parent + name); each node lists its children so that subtrees are removed
 * without searching. About 100 bytes per watched directory plus its name. */
#include "watch.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/sys/queue.h>
/* libbsd leaves __unused undefined (Linux headers use the name): define it for the macros */
#define __unused __attribute__((__unused__))
#include <bsd/sys/tree.h>

struct watch_dir {
    RB_ENTRY(watch_dir) by_wd;
    RB_ENTRY(watch_dir) by_name;
    LIST_ENTRY(watch_dir) sibling;
    LIST_HEAD(, watch_dir) children;
    struct watch_dir *parent;
    int wd;
    uint32_t epoch;
    char name[];
};

RB_HEAD(wd_tree, watch_dir);
RB_HEAD(name_tree, watch_dir);

struct watch {
    int fd;
    size_t count;
    uint32_t epoch;
    struct watch_dir *root;
    struct wd_tree wds;
    struct name_tree names;
};

static int cmp_wd(const struct watch_dir *a, const struct watch_dir *b)
{
    return a->wd < b->wd ? -1 : a->wd > b->wd;
}

static int cmp_name(const struct watch_dir *a, const struct watch_dir *b)
{
    uintptr_t pa = (uintptr_t)a->parent, pb = (uintptr_t)b->parent;
    if (pa != pb)
        return pa < pb ? -1 : 1;
    return strcmp(a->name, b->name);
}

RB_GENERATE_STATIC(wd_tree, watch_dir, by_wd, cmp_wd)
RB_GENERATE_STATIC(name_tree, watch_dir, by_name, cmp_name)
#undef __unused

struct watch *watch_new(void)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        free(w);
        errno = e;
        return NULL;
    }
    RB_INIT(&w->wds);
    RB_INIT(&w->names);
    return w;
}

int watch_fd(const struct watch *w)
{
    return w->fd;
}

struct watch_dir *watch_root(const struct watch *w)
{
    return w->root;
}

size_t watch_count(const struct watch *w)
{
    return w->count;
}

struct watch_dir *watch_lookup(const struct watch *w, int wd)
{
    struct watch_dir key = {.wd = wd};
    return RB_FIND(wd_tree, (struct wd_tree *)&w->wds, &key);
}

/* The node named NAME under PARENT, or NULL. */
static struct watch_dir *find_child(const struct watch *w, const struct watch_dir *parent,
                                    const char *name)
{
    size_t n = strlen(name);
    struct {
        struct watch_dir d;
        char buf[256];
    } key;
    struct watch_dir *k = &key.d;
    char *heap = NULL;
    if (n >= sizeof(key.buf)) { /* longer than NAME_MAX: cannot be a node, but be exact */
        heap = malloc(sizeof(struct watch_dir) + n + 1);
        if (!heap)
            return NULL;
        k = (struct watch_dir *)heap;
    }
    k->parent = (struct watch_dir *)parent;
    memcpy(k->name, name, n + 1);
    struct watch_dir *d = RB_FIND(name_tree, (struct name_tree *)&w->names, k);
    free(heap);
    return d;
}

struct watch_dir *watch_child(const struct watch *w, const struct watch_dir *parent,
                              const char *name)
{
    return find_child(w, parent, name);
}

/* Unlink D from every index and free it; D must have no children. RM: also remove the
 * kernel's watch (not after IN_IGNORED: it is gone already). */
static void node_free(struct watch *w, struct watch_dir *d, bool rm)
{
    if (rm)
        inotify_rm_watch(w->fd, d->wd);
    if (d->parent)
        LIST_REMOVE(d, sibling);
    RB_REMOVE(wd_tree, &w->wds, d);
    RB_REMOVE(name_tree, &w->names, d);
    if (w->root == d)
        w->root = NULL;
    w->count--;
    free(d);
}

/* Free D and its subtree, children first (no recursion: trees can be deep). RM_TOP: also
 * remove D's own kernel watch; the subtree's are always removed. Returns the count. */
static size_t subtree_free(struct watch *w, struct watch_dir *d, bool rm_top)
{
    size_t n = 0;
    struct watch_dir *cur = d;
    for (;;) {
        struct watch_dir *c = LIST_FIRST(&cur->children);
        if (c) {
            cur = c;
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
    struct watch_dir *d;
    /* closing the instance drops every kernel watch at once */
    while ((d = RB_MIN(wd_tree, &w->wds)) != NULL)
        subtree_free(w, d, false);
    close(w->fd);
    free(w);
}

/* Link D (not in any index) as PARENT/its name. Returns 0, or -1 with errno EEXIST when
 * another node holds that place (the caller removes it first). */
static int node_link(struct watch *w, struct watch_dir *d, struct watch_dir *parent)
{
    d->parent = parent;
    if (RB_INSERT(name_tree, &w->names, d))
        return errno = EEXIST, -1;
    if (parent)
        LIST_INSERT_HEAD(&parent->children, d, sibling);
    else
        w->root = d;
    return 0;
}

int watch_move(struct watch *w, struct watch_dir *d, struct watch_dir *newparent,
               const char *newname)
{
    /* a move below itself cannot happen (rename refuses it); guard against a stale tree */
    for (struct watch_dir *p = newparent; p; p = p->parent)
        if (p == d) {
            subtree_free(w, d, true);
            return errno = ELOOP, -1;
        }
    struct watch_dir *old = find_child(w, newparent, newname);
    if (old == d)
        return 0;
    if (old)
        subtree_free(w, old, true);
    size_t n = strlen(newname);
    struct watch_dir *nd = d;
    if (n > strlen(d->name)) {
        nd = malloc(sizeof(*d) + n + 1);
        if (!nd) {
            subtree_free(w, d, true);
            return errno = ENOMEM, -1;
        }
    }
    RB_REMOVE(name_tree, &w->names, d);
    if (d->parent)
        LIST_REMOVE(d, sibling);
    else if (w->root == d)
        w->root = NULL;
    if (nd != d) {
        /* re-home the children and the wd index onto the bigger node */
        RB_REMOVE(wd_tree, &w->wds, d);
        nd->wd = d->wd;
        nd->epoch = d->epoch;
        LIST_INIT(&nd->children);
        struct watch_dir *c;
        while ((c = LIST_FIRST(&d->children)) != NULL) {
            LIST_REMOVE(c, sibling);
            RB_REMOVE(name_tree, &w->names, c); /* keyed by parent pointer */
            c->parent = nd;
            RB_INSERT(name_tree, &w->names, c);
            LIST_INSERT_HEAD(&nd->children, c, sibling);
        }
        RB_INSERT(wd_tree, &w->wds, nd);
        free(d);
    }
    memcpy(nd->name, newname, n + 1);
    node_link(w, nd, newparent); /* cannot collide: the place was freed above */
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
    d = calloc(1, sizeof(*d) + n + 1);
    if (!d) {
        inotify_rm_watch(w->fd, wd);
        return errno = ENOMEM, NULL;
    }
    d->wd = wd;
    d->epoch = w->epoch;
    LIST_INIT(&d->children);
    memcpy(d->name, name, n + 1);
    struct watch_dir *old = find_child(w, parent, name);
    if (old) /* a directory replaced by another of the same name */
        subtree_free(w, old, true);
    if (!parent && w->root)
        subtree_free(w, w->root, true);
    RB_INSERT(wd_tree, &w->wds, d);
    node_link(w, d, parent);
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

void watch_sweep_begin(struct watch *w)
{
    w->epoch++;
}

/* Whether D is ANC or below it. */
static bool is_below(const struct watch_dir *d, const struct watch_dir *anc)
{
    for (; d; d = d->parent)
        if (d == anc)
            return true;
    return false;
}

size_t watch_sweep_end(struct watch *w, struct watch_dir *top)
{
    /* the top-most stale nodes in scope are disjoint subtrees: collect them, then free */
    struct watch_dir **stale = NULL, *d;
    size_t n = 0, cap = 0, removed = 0;
    RB_FOREACH(d, wd_tree, &w->wds)
    {
        if (d->epoch == w->epoch || (top && !is_below(d, top)))
            continue;
        if (d != top && d->parent && d->parent->epoch != w->epoch)
            continue; /* its stale parent goes first, taking it along */
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct watch_dir **p = realloc(stale, nc * sizeof(*p));
            if (!p)
                break; /* what is left goes at the next sweep */
            stale = p;
            cap = nc;
        }
        stale[n++] = d;
    }
    for (size_t i = 0; i < n; i++)
        removed += subtree_free(w, stale[i], true);
    free(stale);
    return removed;
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
