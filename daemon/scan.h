/* scan: walk a site tree through directory fds, never following a symlink, never leaving
 * the site's mount (mount points below the start, other filesystems and bind mounts alike, are
 * skipped and reported to the mount hook; the start may be a mount point) and never reading
 * below SCAN_DEPTH_MAX (reported to the too_deep hook). Mounts are told
 * apart by mount id (statx STATX_MNT_ID), not st_dev, which overlayfs varies inside a mount. */
#ifndef PERMWATCH_SCAN_H
#define PERMWATCH_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum scan_verdict {
    SCAN_CONTINUE = 0, /* go on (descend into a directory) */
    SCAN_SKIP = 1,     /* for a directory: do not descend */
    SCAN_STOP = 2      /* abandon the walk */
};

/* What the walk hands its visitor. `relpath` is relative to the site root ("" for the root
 * itself) and valid only during the call; `dirfd`+`name` reach the entry without following
 * symlinks (dirfd is AT_FDCWD-free: always a real directory fd, for the root its parent or
 * the root opened as O_PATH with name ""). */
struct scan_entry {
    const char *relpath;
    size_t relpath_len;
    int dirfd;
    const char *name;
    const struct stat *st; /* st_mode, st_uid, st_gid, st_nlink, st_ino, st_dev, st_rdev set */
    uint64_t mnt;          /* the entry's mount (scan_stat's *MNT): the site's, or the root's */
};

typedef enum scan_verdict (*scan_visit_fn)(void *ctx, const struct scan_entry *e);

struct scan_stats {
    uint64_t dirs, files, others; /* entries visited, by type */
    uint64_t mounts_skipped;      /* directories on another filesystem or mount */
    uint64_t too_deep;            /* directories at SCAN_DEPTH_MAX, not read */
    uint64_t vanished;            /* removed while we walked (not errors) */
    uint64_t errors;              /* entries we could not read (logged) */
    uint64_t usec;                /* wall time of the walk */
};

/* Walk the tree below the directory fd ROOT_FD (the site root), starting at SUBPATH (""
 * for everything; a relative path of existing components, each reached with O_NOFOLLOW).
 * Calls VISIT for SUBPATH itself and then every entry below it, parents before children.
 * Returns 0, or -1 with errno when SUBPATH cannot be reached (ENOENT, ENOTDIR, ELOOP: a
 * symlink, EXDEV: another mount) or the visitor returned SCAN_STOP (ECANCELED). Errors
 * below SUBPATH are counted in STATS (may be NULL), logged and skipped. */
int scan_tree(int root_fd, const char *subpath, scan_visit_fn visit, void *ctx,
              struct scan_stats *stats);

/* Why a walk could not reach its start (errno ERR of scan_walk) in words for operators:
 * ELOOP and EXDEV name the rule that refused, others are strerror. Static string. */
const char *scan_strerror(int err);

/* Set in a scan_stat mount key that is SCAN_MNT_DEV | st_dev (kernels without STATX_MNT_ID). */
#define SCAN_MNT_DEV (UINT64_C(1) << 63)

/* statx NAME under DIRFD ("" for DIRFD itself) without following symlinks or automounts into
 * *ST (type, mode, ids, nlink, ino, dev, rdev); *MOUNT_ROOT tells whether it is the root of a
 * mount; *MNT receives its mount's key (the mount id; equal keys: same mount). Returns 0 or -1
 * with errno. */
int scan_stat(int dirfd, const char *name, struct stat *st, bool *mount_root, uint64_t *mnt);

/* Called for each directory the walk descends into, once it is open (FD, verified to be the
 * directory that was visited, on the site's mount) and before its entries are read: a watch
 * added on FD here sees everything the walk would miss. FD stays owned by the walk. Returning
 * SCAN_SKIP leaves the directory unread; SCAN_STOP abandons the walk. */
typedef enum scan_verdict (*scan_opened_fn)(void *ctx, const char *relpath, int fd);

/* scan_tree with an OPENED hook (may be NULL). */
int scan_walk(int root_fd, const char *subpath, scan_visit_fn visit, scan_opened_fn opened,
              void *ctx, struct scan_stats *stats);

/* Called for each mount point below the start that the walk does not enter (another
 * filesystem or a bind mount): RELPATH (valid during the call) and its stat ST. */
typedef void (*scan_mount_fn)(void *ctx, const char *relpath, const struct stat *st);

/* How deep a walk goes: a directory SCAN_DEPTH_MAX levels below the site root (ROOT_FD; the
 * same cap whatever the start) is visited but not read, so a walker holds at most this many
 * open directories, each with its 8 KiB getdents64 buffer (16 MiB), and a path of at most
 * SCAN_DEPTH_MAX x 256 bytes. 2,048 is as deep as a path within PATH_MAX goes with 1-byte
 * names: no program naming files by path reaches below it, only a hostile or broken tree (a
 * mkdir loop through *at calls). */
#define SCAN_DEPTH_MAX 2048

/* Called for each directory SCAN_DEPTH_MAX levels below the site root (RELPATH valid during
 * the call, stat ST): its entry was visited, its contents are not (the caller says so). */
typedef void (*scan_deep_fn)(void *ctx, const char *relpath, const struct stat *st);

struct scan_hooks {
    scan_visit_fn visit;
    scan_opened_fn opened; /* may be NULL */
    scan_mount_fn mount;   /* may be NULL */
    void *ctx;
    scan_deep_fn too_deep; /* may be NULL */
};

/* scan_walk with every hook of H. The start itself may be a mount point (a site root on
 * its own filesystem); when the start is a directory that cannot be opened and read, the
 * walk fails (-1 with errno) rather than report an empty tree. */
int scan_run(int root_fd, const char *subpath, const struct scan_hooks *h,
             struct scan_stats *stats);

/* Threads a parallel walk uses at most. */
#define SCAN_MAX_THREADS 64

/* scan_run on THREADS threads (1..SCAN_MAX_THREADS; 1 is scan_run, the calling thread only):
 * the directories below the start are shared among the threads through a bounded hand-over
 * (a thread with work gives a directory it just opened to one that waits). Thread i calls only
 * the hooks H[i] (H has THREADS elements; H[0] also visits the start), so each may keep its
 * own context; a parent is visited before its children, but the order across threads is
 * free. The threads take no signal. STATS are the sums over the threads. */
int scan_run_parallel(int root_fd, const char *subpath, const struct scan_hooks *h,
                      unsigned threads, struct scan_stats *stats);

/* The pipelined walk's hooks. VISIT, MOUNT, OPENED, TOO_DEEP and IDLE run on the calling thread, in
 * an order where a directory's entry comes before its OPENED call and OPENED before its entries;
 * DESCEND and PREWATCH run on walker threads (several at once) and must only read shared
 * state. */
struct scan_pipe_hooks {
    scan_visit_fn visit; /* its SCAN_SKIP is not used: DESCEND decides (they must agree) */
    scan_mount_fn mount; /* may be NULL */
    /* directory RELPATH, open as FD, will be read; TOKEN is PREWATCH's result for FD (0 without
     * PREWATCH); SCAN_STOP stops the walk, other verdicts are not used. May be NULL. */
    enum scan_verdict (*opened)(void *ctx, const char *relpath, int fd, long token);
    /* whether to read directory RELPATH (stat ST) below the start; NULL: always */
    bool (*descend)(void *ctx, const char *relpath, const struct stat *st);
    /* called with each directory's fd before it is read (e.g. inotify_add_watch); may be NULL */
    long (*prewatch)(void *ctx, int fd);
    /* called while the caller waits for the walkers, at least every 100 ms; may be NULL */
    void (*idle)(void *ctx);
    void *ctx;
    scan_deep_fn too_deep; /* may be NULL; on the calling thread */
};

/* scan_run with THREADS walker threads (1..SCAN_MAX_THREADS) doing the system calls while the
 * calling thread runs the hooks H (see struct scan_pipe_hooks): the callers' data structures
 * need no lock. At most ~2.5 MiB of entries wait for the caller (walkers then wait). Returns
 * as scan_run; -1 with errno EAGAIN (nothing visited) when no thread could be started. */
int scan_run_pipelined(int root_fd, const char *subpath, const struct scan_pipe_hooks *h,
                       unsigned threads, struct scan_stats *stats);

#endif
