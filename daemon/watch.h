/* watch: recursive inotify bookkeeping. One inotify instance; one node per watched directory
 * that knows its parent and name, so the path of any event is rebuilt from its watch
 * descriptor, and renames inside the tree are a pointer update. No policy, no logging. Not
 * thread-safe: one thread uses an instance. A node pointer stays valid until the node is
 * removed, or moved to a longer name (watch_move; watch_add when it moves a node). */
#ifndef PERMWATCH_WATCH_H
#define PERMWATCH_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/inotify.h>

struct watch;
struct watch_dir;

/* What a directory watch asks the kernel for (added through /proc/self/fd/N, a magic link
 * that must be followed, hence no IN_DONT_FOLLOW). */
#define WATCH_MASK                                                                                 \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

/* A new inotify instance (non-blocking, close-on-exec). Returns NULL with errno (EMFILE:
 * max_user_instances reached, ENOMEM). */
struct watch *watch_new(void);

/* Remove every watch, close the instance and free everything. */
void watch_free(struct watch *w);

/* Another kernel source (fanotify): node ids are not inotify watch descriptors, and removing
 * a node calls FN(CTX, id) instead of inotify_rm_watch. NULL: inotify again. Set while empty. */
typedef void (*watch_release_fn)(void *ctx, int wd);
void watch_set_release(struct watch *w, watch_release_fn fn, void *ctx);

/* The inotify descriptor to poll for reading. */
int watch_fd(const struct watch *w);

/* Watch the open directory FD as child NAME of PARENT (NULL with NAME "" for the site root).
 * The watch is placed on the very directory FD refers to (through /proc/self/fd), never on
 * whatever a path resolves to later. When the kernel already watches that directory (moved
 * here, or seen twice) the existing node is moved to PARENT/NAME. Returns the node, or NULL
 * with errno (ENOSPC: the watch limit, ENOMEM, ENOENT: gone). *EXISTED (may be NULL) tells
 * whether the node existed already at exactly PARENT/NAME. */
struct watch_dir *watch_add(struct watch *w, struct watch_dir *parent, const char *name, int fd,
                            bool *existed);

/* The kernel half of watch_add, safe on any thread: watch the open directory FD in the inotify
 * instance INOTIFY_FD (watch_fd). Returns the watch descriptor, or -1 with errno. */
int watch_kernel_add(int inotify_fd, int fd);

/* The bookkeeping half of watch_add for WD, which watch_kernel_add returned (a negative WD:
 * returns NULL, errno as it left it). Same results as watch_add. */
struct watch_dir *watch_add_wd(struct watch *w, struct watch_dir *parent, const char *name, int wd,
                               bool *existed);

/* The node of watch descriptor WD, or NULL (unknown or already removed). */
struct watch_dir *watch_lookup(const struct watch *w, int wd);

/* The watched child NAME of PARENT, or NULL. */
struct watch_dir *watch_child(const struct watch *w, const struct watch_dir *parent,
                              const char *name);

/* The site root's node, or NULL when the root is not watched. */
struct watch_dir *watch_root(const struct watch *w);

/* Path of D relative to the site root ("" for the root) into BUF. Returns its length, or
 * (size_t)-1 with errno ENAMETOOLONG when it does not fit. */
size_t watch_path(const struct watch_dir *d, char *buf, size_t len);

/* Path of D relative to the site root ("" for the root), of any length, malloc'd (the caller
 * frees it). Returns NULL with errno ENOMEM. */
char *watch_path_alloc(const struct watch_dir *d);

/* Rename D to NEWPARENT/NEWNAME (a rename inside the tree: the kernel keeps the watch). A
 * node already at NEWPARENT/NEWNAME (replaced by the rename) is removed with its subtree.
 * Returns 0, or -1 with errno ENOMEM (D is then removed with its subtree). */
int watch_move(struct watch *w, struct watch_dir *d, struct watch_dir *newparent,
               const char *newname);

/* Stop watching D and everything below it (inotify_rm_watch) and free the nodes. Returns the
 * number of directories removed. */
size_t watch_remove(struct watch *w, struct watch_dir *d);

/* The kernel dropped D's watch (IN_IGNORED): forget D, and remove what is below it. */
void watch_forget(struct watch *w, struct watch_dir *d);

/* Directories watched now. */
size_t watch_count(const struct watch *w);

/* Sweeps find nodes of directories that vanished while events were lost (overflow): after
 * watch_sweep_begin, every watch_add marks its node; watch_sweep_end removes the unmarked
 * nodes at and below D (NULL: all). Returns the number removed. */
void watch_sweep_begin(struct watch *w);
size_t watch_sweep_end(struct watch *w, struct watch_dir *d);

/* What the bookkeeping holds (for tests and benchmarks). */
struct watch_stats {
    size_t nodes;           /* = watch_count */
    size_t page_bytes;      /* node pages allocated */
    size_t free_bytes;      /* of them, not holding a node (reused before a new page) */
    size_t table_bytes;     /* the two index tables */
    uint32_t longest_probe; /* the longest insertion probe since either table was rebuilt */
    unsigned rekeys;        /* tables rekeyed after a long probe (colliding keys) */
};
void watch_stats(const struct watch *w, struct watch_stats *st);

/* Tests only: set the (parent, name) index's hash key (re-indexing every node), and the hash
 * of NAME under PARENT with it, to build names that collide. */
void watch_debug_set_key(struct watch *w, uint64_t k0, uint64_t k1);
uint32_t watch_debug_name_hash(const struct watch *w, const struct watch_dir *parent,
                               const char *name);

/* The kernel's per-user watch limit (/proc/sys/fs/inotify/max_user_watches), or 0 when it
 * cannot be read. */
unsigned long watch_limit(void);

#endif
