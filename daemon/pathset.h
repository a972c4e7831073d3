/* pathset: a set of relative paths (the tops of the subtrees left without an inotify watch),
 * ordered, with O(log n) add and lookup and removal of a whole subtree in O(log n + k), so
 * that any number of unwatched directories costs no quadratic work. */
#ifndef PERMWATCH_PATHSET_H
#define PERMWATCH_PATHSET_H

#include <stddef.h>

struct pathset;

/* An empty set. Returns NULL with errno ENOMEM. */
struct pathset *pathset_new(void);

/* Free S and every path in it. NULL is a no-op. */
void pathset_free(struct pathset *s);

/* Add a copy of PATH (nothing when it is there already). Returns 0, or -1 with errno
 * ENOMEM (the set is unchanged). */
int pathset_add(struct pathset *s, const char *path);

/* Remove PREFIX and every path below it ("" or NULL: everything). Returns the number
 * removed. */
size_t pathset_drop_below(struct pathset *s, const char *prefix);

/* Remove the first path (strcmp order) and return it, malloc'd (the caller frees it); NULL
 * when S is empty or the copy fails (errno ENOMEM; the path stays in S). */
char *pathset_pop(struct pathset *s);

/* Paths in S. */
size_t pathset_count(const struct pathset *s);

/* Bytes of the paths in S (lengths plus terminators; the nodes' own ~48 bytes each aside). */
size_t pathset_bytes(const struct pathset *s);

#endif
