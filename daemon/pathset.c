/* pathset: a red-black tree (libbsd's sys/tree.h) of paths in strcmp order. The paths at and
 * below P are P itself plus the contiguous run of those starting with "P/" ("P-x" sorts
 * between P and "P/..." since '-' < '/'), found with RB_NFIND. */
#include "pathset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* libbsd leaves __unused undefined (Linux headers use the name): define it for the macros */
#define __unused __attribute__((__unused__))
#include <bsd/sys/tree.h>

struct pnode {
    RB_ENTRY(pnode) link;
    char path[];
};

RB_HEAD(ptree, pnode);

struct pathset {
    struct ptree head;
    size_t count;
    size_t bytes; /* sum of the paths' lengths plus their terminators */
};

static int pnode_cmp(const struct pnode *a, const struct pnode *b)
{
    return strcmp(a->path, b->path);
}

RB_GENERATE_STATIC(ptree, pnode, link, pnode_cmp)
#undef __unused

struct pathset *pathset_new(void)
{
    struct pathset *s = calloc(1, sizeof(*s));
    if (s)
        RB_INIT(&s->head);
    return s;
}

void pathset_free(struct pathset *s)
{
    if (!s)
        return;
    pathset_drop_below(s, "");
    free(s);
}

/* A node holding PATH (a lookup key, or one to insert). Returns NULL with errno ENOMEM. */
static struct pnode *pnode_new(const char *path, size_t n)
{
    struct pnode *p = malloc(sizeof(*p) + n + 1);
    if (!p)
        return NULL;
    memcpy(p->path, path, n);
    p->path[n] = '\0';
    return p;
}

int pathset_add(struct pathset *s, const char *path)
{
    struct pnode *p = pnode_new(path, strlen(path));
    if (!p)
        return -1;
    if (RB_INSERT(ptree, &s->head, p)) {
        free(p); /* already there */
        return 0;
    }
    s->count++;
    s->bytes += strlen(path) + 1;
    return 0;
}

/* Unlink and free P. */
static void pnode_remove(struct pathset *s, struct pnode *p)
{
    RB_REMOVE(ptree, &s->head, p);
    s->count--;
    s->bytes -= strlen(p->path) + 1;
    free(p);
}

size_t pathset_drop_below(struct pathset *s, const char *prefix)
{
    size_t n = prefix ? strlen(prefix) : 0, removed = 0;
    struct pnode *p, *next;
    if (!n) {
        while ((p = RB_MIN(ptree, &s->head)) != NULL) {
            pnode_remove(s, p);
            removed++;
        }
        return removed;
    }
    /* the key PREFIX + "/": the run below PREFIX starts at the first path not less than it */
    struct pnode *key = pnode_new(prefix, n + 1);
    if (!key) { /* no memory for a key: the slow way, one pass over everything */
        for (p = RB_MIN(ptree, &s->head); p; p = next) {
            next = RB_NEXT(ptree, &s->head, p);
            if (!strncmp(p->path, prefix, n) && (p->path[n] == '\0' || p->path[n] == '/')) {
                pnode_remove(s, p);
                removed++;
            }
        }
        return removed;
    }
    key->path[n] = '\0';
    if ((p = RB_FIND(ptree, &s->head, key)) != NULL) {
        pnode_remove(s, p);
        removed++;
    }
    key->path[n] = '/';
    key->path[n + 1] = '\0';
    for (p = RB_NFIND(ptree, &s->head, key); p && !strncmp(p->path, key->path, n + 1); p = next) {
        next = RB_NEXT(ptree, &s->head, p);
        pnode_remove(s, p);
        removed++;
    }
    free(key);
    return removed;
}

char *pathset_pop(struct pathset *s)
{
    struct pnode *p = RB_MIN(ptree, &s->head);
    if (!p)
        return NULL;
    char *path = strdup(p->path);
    if (path)
        pnode_remove(s, p);
    return path;
}

size_t pathset_count(const struct pathset *s)
{
    return s->count;
}

size_t pathset_bytes(const struct pathset *s)
{
    return s->bytes;
}
