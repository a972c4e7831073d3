/* scan: depth-first walk through directory fds (openat2/openat + statx, never following a
 * symlink). One open directory and one getdents64 buffer per level of depth (at most
 * SCAN_DEPTH_MAX levels below the site root: deeper directories are reported, not read), one
 * growing path buffer: no per-entry allocation.
 *
 * System calls: one statx by name per file; per directory that getdents64 typed DT_DIR,
 * openat2 (RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS: a mount point or a swapped-in symlink fails
 * the open itself), one statx of the open fd (identity, mode, mount), getdents64 until it
 * returns 0 (twice for most directories), close: 5, where readdir(3) through fdopendir took 9
 * (statx by name, openat, statx of the fd, fdopendir's fstat and two fcntl, 2 getdents64,
 * close). Entries of unknown type (DT_UNKNOWN) take the old way: statx by name first. */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U /* Linux 6.8: never reused while the system runs */
#endif
#define STATX_WANT                                                                                 \
    (STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_NLINK | STATX_INO | STATX_MNT_ID |    \
     STATX_MNT_ID_UNIQUE)
#define OPEN_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)

/* One getdents64 buffer per level of depth, kept for the walk's lifetime: 8 KiB holds ~200
 * typical entries (a directory of 10,000 takes ~50 calls instead of ~10 with 32 KiB), and
 * bounds the buffers of a deep chain to 8 KiB per open directory (SCAN_DEPTH_MAX of them). */
#define DIRBUF_SIZE 8192

struct pdir;
struct pchunk;

struct frame {
    int fd;
    unsigned level;  /* the directory's depth below the site root (see SCAN_DEPTH_MAX) */
    size_t pathlen;  /* length of the directory's relpath */
    size_t pos, end; /* unread records of the buffer */
    bool eof;
    struct pdir *dir; /* pipelined walk: the directory (owns fd, shared with queued records) */
};

/* The kernel's record (struct linux_dirent64); getdents64 aligns each to 8 bytes, the
 * buffer comes from malloc. */
struct scan_dirent {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* A directory handed from one thread of a parallel walk to another: open, visited, hooked. */
struct pitem {
    int fd;
    unsigned level; /* the directory's depth below the site root */
    char *relpath;
    struct pdir *dir; /* pipelined walk: the directory (its fd is FD) */
    long token;       /* pipelined walk: its prewatch token, for the OPENED record */
    bool announce;    /* pipelined walk: the taker emits the OPENED record first */
    char *buf;        /* a shared frame: the getdents64 records it had read, not visited */
    size_t buflen;
    bool eof; /* a shared frame: getdents64 said the end already */
};

/* What the threads of a parallel walk share. Only `want` and `stop` are read without LOCK. */
struct pshared {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct pitem items[SCAN_MAX_THREADS * 4]; /* bounded: at most this many fds in transit */
    size_t n;
    unsigned nthreads, idle;
    bool done;
    atomic_uint want; /* threads waiting for work: a walker hands a directory over then */
    atomic_bool stop; /* a visitor stopped the walk */
};

struct pqueue;
struct scan_pipe_hooks;

struct walk {
    struct pshared *shared; /* NULL: a walk on one thread */
    struct pqueue *q;       /* pipelined walk: where the entries go (visited by the caller) */
    const struct scan_pipe_hooks *ph;
    struct pchunk *out; /* pipelined walk: records not delivered yet */
    int root_fd;
    uint64_t mnt; /* the site's mount (scan_stat's mount key) */
    scan_visit_fn visit;
    scan_opened_fn opened;
    scan_mount_fn mount;
    scan_deep_fn too_deep;
    void *ctx;
    struct scan_stats *stats;
    char *path; /* relpath of the current entry */
    size_t len, cap;
    struct frame *stack;
    char **bufs; /* bufs[i]: frame i's getdents64 buffer (DIRBUF_SIZE), allocated on first use */
    size_t depth, stack_cap;
    unsigned base_level; /* the start's depth below the site root (its components) */
    bool no_openat2;     /* the kernel lacks openat2 (before 5.6): open, then verify */
};

static uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Set w->path to its first BASE bytes + "/" (unless BASE is 0) + NAME. Returns 0 or -1
 * (ENOMEM). */
static int path_set(struct walk *w, size_t base, const char *name)
{
    size_t n = strlen(name);
    size_t need = base + 1 + n + 1;
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *p = realloc(w->path, cap);
        if (!p)
            return -1;
        w->path = p;
        w->cap = cap;
    }
    size_t at = base;
    if (base)
        w->path[at++] = '/';
    memcpy(w->path + at, name, n + 1);
    w->len = at + n;
    return 0;
}

const char *scan_strerror(int err)
{
    if (err == ELOOP)
        return "a symbolic link on the way (never followed)";
    if (err == EXDEV)
        return "on another filesystem or mount (never crossed)";
    return strerror(err);
}

int scan_stat(int dirfd, const char *name, struct stat *st, bool *mount_root, uint64_t *mnt)
{
    struct statx sx;
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_AS_STAT;
    if (!*name)
        flags |= AT_EMPTY_PATH;
    if (statx(dirfd, name, flags, STATX_WANT, &sx) < 0)
        return -1;
    memset(st, 0, sizeof(*st));
    st->st_mode = sx.stx_mode;
    st->st_uid = sx.stx_uid;
    st->st_gid = sx.stx_gid;
    st->st_nlink = sx.stx_nlink;
    st->st_ino = sx.stx_ino;
    st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    st->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor); /* device nodes' numbers */
    *mount_root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
                  (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
    /* the mount, not st_dev: overlayfs shows a file's layer device but its directory's overlay
     * device; kernels before 5.8 have no mount id, st_dev (top bit set) stands in */
    if (sx.stx_mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE))
        *mnt = sx.stx_mnt_id & ~SCAN_MNT_DEV;
    else
        *mnt = SCAN_MNT_DEV | (uint64_t)st->st_dev;
    return 0;
}

/* Whether a directory on mount MNT may be entered: the site's mount, not a mount point (bind
 * mounts of the same filesystem included). */
static bool same_mount(const struct walk *w, uint64_t mnt, bool mount_root)
{
    return mnt == w->mnt && !mount_root;
}

static void count_error(struct walk *w, int err, const char *what)
{
    if (err == ENOENT || err == ENOTDIR || err == ELOOP) {
        /* removed or replaced while we walked: not an error, the tree moved under us */
        w->stats->vanished++;
        return;
    }
    w->stats->errors++;
    log_warn_errno(err, "scan: cannot %s %s", what, *w->path ? w->path : ".");
}

/* ---- the pipelined walk: threads read and stat, the caller visits ------------------------
 * Walker threads read directories (getdents64, statx, openat2) and write records (an entry, a
 * mount point, a directory about to be read) into their outbox, a chunk of PCHUNK_RECORDS
 * queued for the caller when full, when the walker hands a directory over, waits or ends.
 * The caller takes the chunks in order and runs the hooks. One walker's records are in
 * depth-first order, and a directory handed over is announced only after the walker's outbox
 * (which holds its entry) was queued: the caller sees a parent before its children. Memory:
 * at most PQUEUE_MAX chunks queued (walkers wait), plus one outbox per walker; every record
 * holds a reference to its directory, whose fd stays open until the caller is done with it,
 * and each directory its parent's (a name each: O(depth) bytes for a chain, not O(depth^2)). */
#define PCHUNK_RECORDS 128
#define PCHUNK_NAMES   8192
#define PQUEUE_MAX     64

/* A directory being read: its fd shared by its walker's frame and the records naming it, its
 * name also by its subdirectories' pdirs. Its relpath is its parent's + "/" + NAME (the caller
 * rebuilds it, see struct pcache): a chain of depth d costs O(d) bytes, not the sum of its
 * prefixes, and the fd is closed once frames and records are done with it, as before. */
struct pdir {
    int fd;
    atomic_uint refs;    /* frames, records, items: FD stays open while there are any */
    atomic_uint names;   /* 1 while REFS, + 1 per subdirectory's pdir: the rest stays */
    struct pdir *parent; /* holds a name reference; NULL for the start */
    uint64_t id;         /* unique in the walk */
    size_t len;          /* length of the relpath */
    unsigned level;      /* depth below the site root */
    size_t namelen;
    char name[]; /* the last component (the start: its whole relpath) */
};

enum prec_kind { PREC_ENTRY, PREC_MOUNT, PREC_OPENED, PREC_DEEP };

struct prec {
    struct pdir *dir; /* ENTRY, MOUNT: the directory holding it; OPENED: the one opened */
    struct stat st;
    uint64_t mnt;
    long token;    /* OPENED: the prewatch hook's result */
    uint32_t name; /* ENTRY, MOUNT: offset into the chunk's names */
    enum prec_kind kind;
};

struct pchunk {
    struct pchunk *next;
    size_t n, names_len;
    struct prec recs[PCHUNK_RECORDS];
    char names[PCHUNK_NAMES];
};

struct pqueue {
    pthread_mutex_t lock;
    pthread_cond_t ready, space;
    struct pchunk *head, *tail, *spare; /* spare: consumed chunks for reuse */
    size_t n;
    unsigned running;         /* walker threads not finished */
    atomic_uint_fast64_t ids; /* the last pdir id given */
};

/* Drop a name reference to D; the last one frees it and drops its parent's. */
static void pdir_unname(struct pdir *d)
{
    while (d && atomic_fetch_sub(&d->names, 1) == 1) {
        struct pdir *parent = d->parent;
        free(d);
        d = parent;
    }
}

/* Drop a reference to D; the last one closes its fd (its name stays for its subdirectories). */
static void pdir_unref(struct pdir *d)
{
    if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
        close(d->fd);
        pdir_unname(d);
    }
}

/* A pdir for directory FD (taken over) of Q's walk, named NAME (NAMELEN bytes), below PARENT
 * (NULL: the start; a name reference taken), with a relpath of LEN bytes, one reference held by
 * the caller. Returns it, or NULL (ENOMEM; FD is the caller's still). */
static struct pdir *pdir_new(struct pqueue *q, struct pdir *parent, const char *name,
                             size_t namelen, size_t len, int fd)
{
    struct pdir *d = malloc(sizeof(*d) + namelen + 1);
    if (!d)
        return NULL;
    *d = (struct pdir){.fd = fd,
                       .refs = 1,
                       .names = 1,
                       .parent = parent,
                       .id = atomic_fetch_add(&q->ids, 1) + 1,
                       .len = len,
                       .level = parent ? parent->level + 1 : 0,
                       .namelen = namelen};
    memcpy(d->name, name, namelen);
    d->name[namelen] = '\0';
    if (parent)
        atomic_fetch_add(&parent->names, 1);
    return d;
}

/* Drop the references C's records hold and empty it. */
static void pchunk_clear(struct pchunk *c)
{
    for (size_t i = 0; i < c->n; i++)
        pdir_unref(c->recs[i].dir);
    c->n = c->names_len = 0;
    c->next = NULL;
}

/* Queue C for the caller, waiting while PQUEUE_MAX chunks are queued. Returns an empty chunk
 * for the next records (a spare one, or a new one; NULL with errno ENOMEM). */
static struct pchunk *pqueue_put(struct pqueue *q, struct pchunk *c)
{
    pthread_mutex_lock(&q->lock);
    while (q->n >= PQUEUE_MAX)
        pthread_cond_wait(&q->space, &q->lock);
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    if (q->n++ == 0)
        pthread_cond_signal(&q->ready);
    struct pchunk *next = q->spare;
    if (next)
        q->spare = next->next;
    pthread_mutex_unlock(&q->lock);
    if (!next && (next = malloc(sizeof(*next))) != NULL)
        next->n = next->names_len = 0;
    if (next)
        next->next = NULL;
    return next;
}

/* Queue the walker's outbox if it holds records. */
static void pipe_flush(struct walk *w)
{
    if (w->out && w->out->n)
        w->out = pqueue_put(w->q, w->out);
}

/* Add a record of KIND for directory D (a reference taken) to the walker's outbox: entry NAME
 * with stat ST and mount MNT, or D opened with TOKEN. Returns 0 or -1 (ENOMEM, counted). */
static int pipe_emit(struct walk *w, enum prec_kind kind, struct pdir *d, const char *name,
                     const struct stat *st, uint64_t mnt, long token)
{
    size_t len = name ? strlen(name) + 1 : 0;
    if (w->out && (w->out->n == PCHUNK_RECORDS || w->out->names_len + len > PCHUNK_NAMES))
        pipe_flush(w);
    if (!w->out && (w->out = malloc(sizeof(*w->out))) != NULL)
        w->out->n = w->out->names_len = 0;
    if (!w->out) {
        count_error(w, ENOMEM, "walk");
        return -1;
    }
    struct pchunk *c = w->out;
    struct prec *r = &c->recs[c->n++];
    r->dir = d;
    atomic_fetch_add(&d->refs, 1);
    r->kind = kind;
    r->mnt = mnt;
    r->token = token;
    r->name = (uint32_t)c->names_len;
    if (st)
        r->st = *st;
    if (name) {
        memcpy(c->names + c->names_len, name, len);
        c->names_len += len;
    }
    return 0;
}

/* An entry NAME of the top frame's directory (KIND: ENTRY, MOUNT: a mount point not entered,
 * DEEP: a directory at the depth cap not read). */
static int pipe_append(struct walk *w, const char *name, const struct stat *st, uint64_t mnt,
                       enum prec_kind kind)
{
    return pipe_emit(w, kind, w->stack[w->depth - 1].dir, name, st, mnt, 0);
}

/* The end of the top frame: drop its directory (records may still hold it). */
static void frame_end(struct walk *w)
{
    struct frame *f = &w->stack[--w->depth];
    if (f->dir)
        pdir_unref(f->dir);
    else if (f->fd >= 0)
        close(f->fd);
}

/* Make room for one more frame (stack and its getdents64 buffer). Returns 0, or -1 (ENOMEM,
 * counted). */
static int frame_reserve(struct walk *w)
{
    if (w->depth == w->stack_cap) {
        size_t cap = w->stack_cap ? w->stack_cap * 2 : 64;
        struct frame *s = realloc(w->stack, cap * sizeof(*s));
        if (s)
            w->stack = s;
        char **b = s ? realloc(w->bufs, cap * sizeof(*b)) : NULL;
        if (!b) {
            count_error(w, ENOMEM, "descend into");
            return -1;
        }
        memset(b + w->stack_cap, 0, (cap - w->stack_cap) * sizeof(*b));
        w->bufs = b;
        w->stack_cap = cap;
    }
    if (!w->bufs[w->depth] && !(w->bufs[w->depth] = malloc(DIRBUF_SIZE))) {
        count_error(w, ENOMEM, "descend into");
        return -1;
    }
    return 0;
}

/* Push a frame reading the open directory FD (relpath w->path, LEVEL below the site root),
 * taking FD over. Returns 0, or -1 (FD closed, the error counted). */
static int frame_push(struct walk *w, int fd, unsigned level)
{
    if (frame_reserve(w) < 0) {
        close(fd);
        return -1;
    }
    w->stack[w->depth++] = (struct frame){.fd = fd, .level = level, .pathlen = w->len};
    return 0;
}

/* frame_push of the pipelined walk: the frame reads D (a reference taken for the frame).
 * Returns 0, or -1 (the error counted). */
static int frame_push_dir(struct walk *w, struct pdir *d)
{
    if (frame_reserve(w) < 0)
        return -1;
    atomic_fetch_add(&d->refs, 1);
    w->stack[w->depth++] =
        (struct frame){.fd = d->fd, .level = d->level, .pathlen = w->len, .dir = d};
    return 0;
}

/* Hand IT to a waiting thread of the walk S (IT's fd, relpath, dir and buf are theirs then).
 * Returns 0, or -1 when nobody waits or the hand-over slots are full (IT stays the caller's). */
static int pshared_give(struct pshared *s, const struct pitem *it)
{
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    if (s->idle && s->n < sizeof(s->items) / sizeof(s->items[0])) {
        s->items[s->n++] = *it;
        pthread_cond_signal(&s->cond);
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void pipe_flush(struct walk *w);

/* A thread waits for work: give it the rest of the shallowest directory still being read
 * (below the top frame), the biggest piece of work at hand, with the records already read
 * into its buffer. The frame stays on the stack, empty. */
static void walk_share(struct walk *w)
{
    for (size_t i = 0; i + 1 < w->depth; i++) {
        struct frame *f = &w->stack[i];
        if (f->fd < 0 || (f->eof && f->pos >= f->end))
            continue;
        struct pitem it = {.fd = f->fd, .level = f->level, .dir = f->dir, .eof = f->eof};
        it.relpath = strndup(w->path, f->pathlen);
        it.buflen = f->end - f->pos;
        it.buf = it.buflen ? malloc(it.buflen) : NULL;
        if (!it.relpath || (it.buflen && !it.buf)) {
            free(it.relpath);
            free(it.buf);
            return;
        }
        if (it.buflen)
            memcpy(it.buf, w->bufs[i] + f->pos, it.buflen);
        if (w->q)
            pipe_flush(w); /* the directory's entries so far go first */
        if (pshared_give(w->shared, &it) < 0) {
            free(it.relpath);
            free(it.buf);
            return;
        }
        f->fd = -1; /* the frame's fd and directory reference went with the item */
        f->dir = NULL;
        f->eof = true;
        f->pos = f->end = 0;
        return;
    }
}

/* Pipelined walk: descend into the directory FD just opened (w->path, an entry of the top
 * frame's directory), whose own entry is in the outbox: run the prewatch hook, then read FD
 * here (after an OPENED record). Returns 0 or -1 (counted). */
static int pipe_descend(struct walk *w, int fd)
{
    long token = w->ph->prewatch ? w->ph->prewatch(w->ctx, fd) : 0;
    struct frame *top = &w->stack[w->depth - 1];
    size_t base = top->pathlen ? top->pathlen + 1 : 0;
    struct pdir *d = pdir_new(w->q, top->dir, w->path + base, w->len - base, w->len, fd);
    if (!d) {
        close(fd);
        count_error(w, ENOMEM, "descend into");
        return -1;
    }
    int rc = pipe_emit(w, PREC_OPENED, d, NULL, NULL, 0, token);
    if (rc == 0)
        rc = frame_push_dir(w, d);
    pdir_unref(d);
    return rc;
}

/* Hand the directory FD just opened (relpath w->path) to the opened hook, then push it (or
 * give it to a waiting thread of a parallel walk).
 * Returns 0, -1 when skipped (FD closed; errno ECANCELED when the hook refused), or -2 with
 * errno ECANCELED when the hook stopped the walk. */
static int descend(struct walk *w, int fd)
{
    if (w->opened) {
        enum scan_verdict v = w->opened(w->ctx, w->path, fd);
        if (v != SCAN_CONTINUE) {
            close(fd);
            errno = ECANCELED;
            return v == SCAN_STOP ? -2 : -1;
        }
    }
    if (w->q)
        return pipe_descend(w, fd);
    return frame_push(w, fd, w->depth ? w->stack[w->depth - 1].level + 1 : w->base_level);
}

/* Open directory NAME under DIRFD, checking it is still the directory we stat'ed as ST, and
 * descend into it. START: the walk's first directory, which may be the root of a mount (a
 * site root that is a mount point). Returns as descend(), or -1 when the open or the check
 * failed (counted, errno set). */
/* Open directory NAME under DIRFD and check it is still the directory stat'ed as ST, on the
 * walk's mount (START: the walk's first directory, which may be a mount root). Returns the fd,
 * or -1 (counted; errno ESTALE when it was swapped). */
static int open_verified(struct walk *w, int dirfd, const char *name, const struct stat *st,
                         bool start)
{
    int fd = openat(dirfd, *name ? name : ".", OPEN_DIR_FLAGS);
    if (fd < 0) {
        count_error(w, errno, "open directory");
        return -1;
    }
    struct stat now;
    bool mount_root;
    uint64_t mnt;
    if (scan_stat(fd, "", &now, &mount_root, &mnt) < 0 || now.st_ino != st->st_ino ||
        now.st_dev != st->st_dev || !same_mount(w, mnt, mount_root && !start)) {
        /* swapped for another directory or a mount between statx and open */
        close(fd);
        w->stats->vanished++;
        errno = ESTALE;
        return -1;
    }
    return fd;
}

static int push_dir(struct walk *w, int dirfd, const char *name, const struct stat *st, bool start)
{
    int fd = open_verified(w, dirfd, name, st, start);
    return fd < 0 ? -1 : descend(w, fd);
}

/* The next record of frame F (i: its depth), reading more with getdents64 when the buffer
 * is used up. Returns NULL at the end of the directory, with errno 0, or set on an error. */
static const struct scan_dirent *frame_next(struct walk *w, size_t i)
{
    struct frame *f = &w->stack[i];
    if (f->pos >= f->end) {
        if (f->eof)
            return errno = 0, NULL;
        long n = syscall(SYS_getdents64, f->fd, w->bufs[i], DIRBUF_SIZE);
        if (n <= 0) {
            f->eof = true;
            return errno = n < 0 ? errno : 0, NULL;
        }
        f->pos = 0;
        f->end = (size_t)n;
    }
    const struct scan_dirent *d = (const struct scan_dirent *)(void *)(w->bufs[i] + f->pos);
    f->pos += d->d_reclen;
    return d;
}

/* Account for entry ST of type IS_DIR/regular/other in the stats. */
static void count_entry(struct walk *w, const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        w->stats->dirs++;
    else if (S_ISREG(st->st_mode))
        w->stats->files++;
    else
        w->stats->others++;
}

/* Report directory NAME (w->path, stat ST) as a mount point not entered. */
static void skip_mount(struct walk *w, const char *name, const struct stat *st)
{
    w->stats->mounts_skipped++;
    if (w->q)
        pipe_append(w, name, st, 0, PREC_MOUNT);
    else if (w->mount)
        w->mount(w->ctx, w->path, st);
}

/* Whether a directory entry of the top frame lies at the depth cap (is not to be read). */
static bool at_depth_cap(const struct walk *w)
{
    return w->depth && w->stack[w->depth - 1].level + 1 >= SCAN_DEPTH_MAX;
}

/* Report directory NAME (w->path, stat ST), visited, as not read: at the depth cap. */
static void skip_deep(struct walk *w, const char *name, const struct stat *st)
{
    w->stats->too_deep++;
    if (w->q)
        pipe_append(w, name, st, 0, PREC_DEEP);
    else if (w->too_deep)
        w->too_deep(w->ctx, w->path, st);
}

/* Hand entry E to the visitor, or in a pipelined walk queue it for the caller and decide here
 * whether a directory is read. */
static enum scan_verdict walk_deliver(struct walk *w, const struct scan_entry *e)
{
    if (!w->q)
        return w->visit(w->ctx, e);
    if (pipe_append(w, e->name, e->st, e->mnt, PREC_ENTRY) < 0)
        return SCAN_SKIP; /* its entry is lost (counted): not its children either */
    if (S_ISDIR(e->st->st_mode) && w->ph->descend && !w->ph->descend(w->ctx, e->relpath, e->st))
        return SCAN_SKIP;
    return SCAN_CONTINUE;
}

/* Open NAME under DIRFD as a directory on the same mount, following no symlink: openat2 with
 * RESOLVE_NO_XDEV, so that a mount point fails with EXDEV instead of being entered. Returns
 * the fd, or -1 with errno (ENOSYS: no openat2; w->no_openat2 is set). */
static int open_subdir(struct walk *w, int dirfd, const char *name)
{
    struct open_how how = {
        .flags = OPEN_DIR_FLAGS,
        .resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH,
    };
    int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS)
        w->no_openat2 = true;
    return fd;
}

/* Visit the directory entry NAME under DIRFD (w->path) that getdents64 typed DT_DIR: open it
 * first and stat the fd (no statx by name). Returns 0 when done with it, 1 when the caller must
 * take the way by name (no openat2, or it is no directory any more), or -1 with errno
 * ECANCELED when the visitor stopped the walk. */
static int walk_subdir(struct walk *w, int dirfd, const char *name)
{
    int fd = open_subdir(w, dirfd, name);
    struct stat st;
    bool mount_root;
    uint64_t mnt;
    if (fd < 0) {
        int e = errno;
        if (e == ENOSYS || e == ENOTDIR || e == ELOOP)
            return 1;
        if (e == EXDEV && scan_stat(dirfd, name, &st, &mount_root, &mnt) == 0) {
            if (!S_ISDIR(st.st_mode))
                return 1;
            skip_mount(w, name, &st);
            return 0;
        }
        count_error(w, e, "open directory");
        return 0;
    }
    if (scan_stat(fd, "", &st, &mount_root, &mnt) < 0) {
        count_error(w, errno, "stat");
        close(fd);
        return 0;
    }
    if (!same_mount(w, mnt, mount_root)) { /* RESOLVE_NO_XDEV makes this unreachable */
        close(fd);
        skip_mount(w, name, &st);
        return 0;
    }
    count_entry(w, &st);
    struct scan_entry e = {w->path, w->len, dirfd, name, &st, mnt};
    enum scan_verdict v = walk_deliver(w, &e);
    if (v != SCAN_CONTINUE) {
        close(fd);
        return v == SCAN_STOP ? (errno = ECANCELED, -1) : 0;
    }
    if (at_depth_cap(w)) {
        close(fd);
        skip_deep(w, name, &st);
        return 0;
    }
    return descend(w, fd) == -2 ? -1 : 0;
}

/* Visit entry NAME under DIRFD (w->path) by name: statx, then open a directory and check it
 * is the one stat'ed. Returns 0, or -1 with errno ECANCELED when the visitor stopped the walk. */
static int walk_by_name(struct walk *w, int dirfd, const char *name)
{
    struct stat st;
    bool mount_root;
    uint64_t mnt;
    if (scan_stat(dirfd, name, &st, &mount_root, &mnt) < 0) {
        count_error(w, errno, "stat");
        return 0;
    }
    bool is_dir = S_ISDIR(st.st_mode);
    if (is_dir && !same_mount(w, mnt, mount_root)) {
        skip_mount(w, name, &st);
        return 0;
    }
    count_entry(w, &st);
    struct scan_entry e = {w->path, w->len, dirfd, name, &st, mnt};
    enum scan_verdict v = walk_deliver(w, &e);
    if (v == SCAN_STOP) {
        errno = ECANCELED;
        return -1;
    }
    if (is_dir && v == SCAN_CONTINUE && at_depth_cap(w))
        skip_deep(w, name, &st);
    else if (is_dir && v == SCAN_CONTINUE && push_dir(w, dirfd, name, &st, false) == -2)
        return -1;
    return 0;
}

/* Visit every entry below the directories on the stack. Returns 0, or -1 with errno
 * ECANCELED when the visitor stopped the walk. */
static int walk_stack(struct walk *w)
{
    while (w->depth) {
        if (w->shared && atomic_load_explicit(&w->shared->stop, memory_order_relaxed))
            return errno = ECANCELED, -1;
        if (w->shared && w->depth >= 2 &&
            atomic_load_explicit(&w->shared->want, memory_order_relaxed))
            walk_share(w);
        size_t i = w->depth - 1;
        const struct scan_dirent *de = frame_next(w, i);
        if (!de) {
            if (errno) {
                w->len = w->stack[i].pathlen;
                w->path[w->len] = '\0';
                count_error(w, errno, "read directory");
            }
            frame_end(w);
            continue;
        }
        const char *name = de->d_name;
        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
            continue;
        if (path_set(w, w->stack[i].pathlen, name) < 0) {
            count_error(w, ENOMEM, "walk");
            continue;
        }
        int dfd = w->stack[i].fd;
        int rc = 1;
        if (de->d_type == DT_DIR && !w->no_openat2)
            rc = walk_subdir(w, dfd, name);
        if (rc == 1)
            rc = walk_by_name(w, dfd, name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Reach SUBPATH from the root one component at a time (O_NOFOLLOW, same mount), leaving
 * w->path = SUBPATH. Returns the fd of SUBPATH's parent directory (the caller closes it)
 * and its last component in *last, or -1 with errno. */
static int reach_parent(struct walk *w, const char *subpath, char **last)
{
    char *copy = strdup(subpath);
    if (!copy)
        return -1;
    int fd = dup(w->root_fd);
    if (fd < 0) {
        free(copy);
        return -1;
    }
    w->len = 0;
    w->base_level = 0;
    if (path_set(w, 0, "") < 0)
        goto fail;
    char *save = NULL;
    char *comp = strtok_r(copy, "/", &save);
    while (comp) {
        char *next = strtok_r(NULL, "/", &save);
        if (!strcmp(comp, ".") || !strcmp(comp, "..")) {
            errno = EINVAL;
            goto fail;
        }
        if (path_set(w, w->len, comp) < 0)
            goto fail;
        w->base_level++;
        if (!next) {
            *last = strdup(comp);
            free(copy);
            if (!*last) {
                close(fd);
                return -1;
            }
            return fd;
        }
        int sub = openat(fd, comp, OPEN_DIR_FLAGS);
        if (sub < 0) {
            struct stat lst;
            if (errno == ENOTDIR && fstatat(fd, comp, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(lst.st_mode))
                errno = ELOOP; /* a symlink on the way: never followed */
            goto fail;
        }
        close(fd);
        fd = sub;
        struct stat st;
        bool mount_root;
        uint64_t mnt;
        if (scan_stat(fd, "", &st, &mount_root, &mnt) < 0)
            goto fail;
        if (!same_mount(w, mnt, mount_root)) {
            errno = EXDEV;
            goto fail;
        }
        comp = next;
    }
    *last = strdup(""); /* SUBPATH is the root itself */
    free(copy);
    if (!*last) {
        close(fd);
        return -1;
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    free(copy);
    errno = e;
    return -1;
}

int scan_tree(int root_fd, const char *subpath, scan_visit_fn visit, void *ctx,
              struct scan_stats *stats)
{
    return scan_walk(root_fd, subpath, visit, NULL, ctx, stats);
}

int scan_walk(int root_fd, const char *subpath, scan_visit_fn visit, scan_opened_fn opened,
              void *ctx, struct scan_stats *stats)
{
    struct scan_hooks h = {.visit = visit, .opened = opened, .ctx = ctx};
    return scan_run(root_fd, subpath, &h, stats);
}

/* Close and free what walk W holds (its frames, buffers, path). */
static void walk_release(struct walk *w)
{
    while (w->depth)
        frame_end(w);
    for (size_t i = 0; i < w->stack_cap; i++)
        free(w->bufs[i]);
    free(w->bufs);
    free(w->stack);
    free(w->path);
    w->bufs = NULL;
    w->stack = NULL;
    w->path = NULL;
    w->stack_cap = w->cap = 0;
}

/* Add B's counters (not its time) to A. */
static void stats_add(struct scan_stats *a, const struct scan_stats *b)
{
    a->dirs += b->dirs;
    a->files += b->files;
    a->others += b->others;
    a->mounts_skipped += b->mounts_skipped;
    a->too_deep += b->too_deep;
    a->vanished += b->vanished;
    a->errors += b->errors;
}

/* Reach the walk's start SUBPATH (W's mount set), stat it and visit it with VISIT(CTX): the
 * first step of every walk. Sets *PARENT (its directory's fd, the caller closes it), *LAST (its
 * name, "" for the root; the caller frees it), *ST, *MNT and *V. Returns 0, or -1 with errno
 * (unreachable, EXDEV: another mount, ECANCELED: the visitor stopped). */
static int walk_start(struct walk *w, const char *subpath, scan_visit_fn visit, void *ctx,
                      int *parent, char **last, struct stat *st, uint64_t *mnt,
                      enum scan_verdict *v)
{
    bool mount_root;
    *parent = reach_parent(w, subpath ? subpath : "", last);
    if (*parent < 0 || scan_stat(*parent, *last, st, &mount_root, mnt) < 0)
        return -1;
    if (**last && S_ISDIR(st->st_mode) && !same_mount(w, *mnt, mount_root))
        return errno = EXDEV, -1;
    count_entry(w, st);
    struct scan_entry entry = {w->path, w->len, *parent, *last, st, *mnt};
    *v = visit(ctx, &entry);
    return *v == SCAN_STOP ? (errno = ECANCELED, -1) : 0;
}

/* One thread of a parallel walk: its own walk, hooks and counters. */
struct pworker {
    struct walk w;
    struct scan_stats stats;
    pthread_t tid;
    int rc, err; /* -1 and errno when its visitor stopped the walk */
};

/* Stop the walk S (a visitor said SCAN_STOP): every thread returns at its next entry. */
static void pshared_stop(struct pshared *s)
{
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stop, true);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* The next directory handed over in S, waiting while other threads still walk. Returns
 * false when the walk is over (no directory left anywhere, or stopped). */
static bool pshared_take(struct pshared *s, struct pitem *out)
{
    pthread_mutex_lock(&s->lock);
    s->idle++;
    atomic_fetch_add(&s->want, 1);
    if (!s->n && s->idle == s->nthreads) {
        s->done = true;
        pthread_cond_broadcast(&s->cond);
    }
    while (!s->n && !s->done && !atomic_load(&s->stop))
        pthread_cond_wait(&s->cond, &s->lock);
    s->idle--;
    atomic_fetch_sub(&s->want, 1);
    bool got = s->n && !atomic_load(&s->stop);
    if (got)
        *out = s->items[--s->n];
    pthread_mutex_unlock(&s->lock);
    return got;
}

/* A thread of the parallel walk: its own stack first, then directories handed over, until
 * none is left anywhere. Sets pw->rc/err when its visitor stopped the walk. */
static void *pworker_run(void *arg)
{
    struct pworker *pw = arg;
    struct walk *w = &pw->w;
    struct pitem it;
    for (;;) {
        if (w->depth && walk_stack(w) < 0) {
            pw->rc = -1;
            pw->err = errno;
            walk_release(w);
            pshared_stop(w->shared);
            break;
        }
        if (w->q)
            pipe_flush(w); /* before waiting: the caller may be waiting for these */
        if (!pshared_take(w->shared, &it))
            break;
        int ok = path_set(w, 0, it.relpath), pushed = -1;
        free(it.relpath);
        if (it.dir) {
            if (ok < 0)
                count_error(w, ENOMEM, "walk");
            else if (!it.announce ||
                     pipe_emit(w, PREC_OPENED, it.dir, NULL, NULL, 0, it.token) == 0)
                pushed = frame_push_dir(w, it.dir);
            pdir_unref(it.dir);
        } else if (ok < 0) {
            close(it.fd);
            count_error(w, ENOMEM, "walk");
        } else {
            pushed = frame_push(w, it.fd, it.level);
        }
        if (pushed == 0) { /* a shared frame: go on where its walker stopped */
            struct frame *f = &w->stack[w->depth - 1];
            if (it.buflen)
                memcpy(w->bufs[w->depth - 1], it.buf, it.buflen);
            f->pos = 0;
            f->end = it.buflen;
            f->eof = it.eof;
        }
        free(it.buf);
    }
    walk_release(w);
    return NULL;
}

/* Walk the stack of W0 (the start directory pushed) with THREADS threads, W0's on the calling
 * thread; H[i] are thread i's hooks. Sums the counters into W0's. Returns 0, or -1 with errno
 * ECANCELED when a visitor stopped the walk. */
static int walk_parallel(struct walk *w0, const struct scan_hooks *h, unsigned threads)
{
    struct pshared s = {.nthreads = threads};
    struct pworker *pw = calloc(threads, sizeof(*pw));
    if (!pw || pthread_mutex_init(&s.lock, NULL) != 0) {
        free(pw);
        return walk_stack(w0);
    }
    pthread_cond_init(&s.cond, NULL);
    pw[0].w = *w0;
    pw[0].w.shared = &s;
    for (unsigned i = 1; i < threads; i++) {
        pw[i].w = (struct walk){.shared = &s,
                                .root_fd = w0->root_fd,
                                .mnt = w0->mnt,
                                .visit = h[i].visit,
                                .opened = h[i].opened,
                                .mount = h[i].mount,
                                .too_deep = h[i].too_deep,
                                .ctx = h[i].ctx,
                                .stats = &pw[i].stats};
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the walkers take no signal */
    unsigned started = 1;
    for (unsigned i = 1; i < threads; i++) {
        if (pthread_create(&pw[i].tid, NULL, pworker_run, &pw[i]) != 0) {
            pthread_mutex_lock(&s.lock); /* fewer threads: the rest is counted without them */
            s.nthreads -= threads - i;
            if (!s.n && s.idle == s.nthreads) {
                s.done = true;
                pthread_cond_broadcast(&s.cond);
            }
            pthread_mutex_unlock(&s.lock);
            break;
        }
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pworker_run(&pw[0]);
    int rc = pw[0].rc, err = pw[0].err;
    for (unsigned i = 1; i < started; i++) {
        pthread_join(pw[i].tid, NULL);
        stats_add(w0->stats, &pw[i].stats);
        if (pw[i].rc < 0 && rc == 0) {
            rc = -1;
            err = pw[i].err;
        }
    }
    while (s.n) { /* handed over after a stop */
        close(s.items[--s.n].fd);
        free(s.items[s.n].relpath);
        free(s.items[s.n].buf);
    }
    *w0 = pw[0].w; /* released by pworker_run */
    w0->shared = NULL;
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    free(pw);
    errno = err;
    return rc;
}

int scan_run(int root_fd, const char *subpath, const struct scan_hooks *h, struct scan_stats *stats)
{
    return scan_run_parallel(root_fd, subpath, h, 1, stats);
}

int scan_run_parallel(int root_fd, const char *subpath, const struct scan_hooks *h,
                      unsigned threads, struct scan_stats *stats)
{
    if (threads < 1)
        threads = 1;
    if (threads > SCAN_MAX_THREADS)
        threads = SCAN_MAX_THREADS;
    scan_visit_fn visit = h->visit;
    void *ctx = h->ctx;
    struct scan_stats dummy;
    struct walk w = {.root_fd = root_fd,
                     .visit = visit,
                     .opened = h->opened,
                     .mount = h->mount,
                     .too_deep = h->too_deep,
                     .ctx = ctx};
    w.stats = stats ? stats : &dummy;
    memset(w.stats, 0, sizeof(*w.stats));
    uint64_t t0 = now_usec();
    int rc = -1, e = 0;

    struct stat st;
    bool mount_root;
    uint64_t mnt;
    if (scan_stat(root_fd, "", &st, &mount_root, &mnt) < 0)
        return -1;
    w.mnt = mnt;

    char *last = NULL;
    int parent = -1;
    enum scan_verdict v;
    if (walk_start(&w, subpath, visit, ctx, &parent, &last, &st, &mnt, &v) < 0)
        goto out;
    bool is_dir = S_ISDIR(st.st_mode);
    rc = 0;
    if (is_dir && v == SCAN_CONTINUE && w.base_level >= SCAN_DEPTH_MAX) {
        w.stats->too_deep++; /* the start itself is at the cap */
        if (h->too_deep)
            h->too_deep(ctx, w.path, &st);
    } else if (is_dir && v == SCAN_CONTINUE) {
        /* the start may be a mount root (only mounts below it are not crossed); a start
         * that could not be read fails the walk: the audit could not look */
        int pushed = push_dir(&w, parent, last, &st, !*last);
        if (pushed == 0)
            rc = threads > 1 ? walk_parallel(&w, h, threads) : walk_stack(&w);
        else if (pushed == -2 || errno != ECANCELED)
            rc = -1;
    }
out:
    e = errno;
    walk_release(&w);
    if (parent >= 0)
        close(parent);
    free(last);
    w.stats->usec = now_usec() - t0;
    errno = e;
    return rc;
}

/* ---- the pipelined walk's two sides ------------------------------------------------------ */

/* A walker thread of the pipelined walk: pworker_run, then tell the caller it is done. */
static void *pipe_worker_run(void *arg)
{
    struct pworker *pw = arg;
    struct pqueue *q = pw->w.q;
    pworker_run(pw);
    pipe_flush(&pw->w); /* records left by a stop: the caller drains them unvisited */
    if (pw->w.out) {
        pchunk_clear(pw->w.out);
        free(pw->w.out);
    }
    pthread_mutex_lock(&q->lock);
    if (--q->running == 0)
        pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* The caller's relpaths of the pipelined walk: PATH holds the relpath of the directory last
 * asked for, and ids[i] the id of its ancestor i levels below the site root (i < k), so that the
 * next directory's path is rebuilt from the deepest ancestor they share. */
struct pcache {
    char *path;
    size_t cap;
    uint64_t *ids;
    size_t ids_cap, k;
};

/* The relpath of D into PC->path (NUL-terminated, with room for a name of 255 bytes and a
 * slash after it). Returns it, or NULL (ENOMEM). */
static char *pcache_path(struct pcache *pc, const struct pdir *d)
{
    if (d->len + 258 > pc->cap) {
        size_t nc = pc->cap ? pc->cap : 4096;
        while (nc < d->len + 258)
            nc *= 2;
        char *p = realloc(pc->path, nc);
        if (!p)
            return NULL;
        pc->path = p;
        pc->cap = nc;
    }
    if (d->level >= pc->ids_cap) {
        size_t nc = pc->ids_cap ? pc->ids_cap * 2 : 64;
        while (nc <= d->level)
            nc *= 2;
        uint64_t *p = realloc(pc->ids, nc * sizeof(*p));
        if (!p)
            return NULL;
        pc->ids = p;
        pc->ids_cap = nc;
    }
    /* from D up to the first ancestor already in place: each name at its offset */
    for (const struct pdir *n = d; n && !(n->level < pc->k && pc->ids[n->level] == n->id);
         n = n->parent) {
        size_t at = n->len - n->namelen;
        memcpy(pc->path + at, n->name, n->namelen);
        if (at)
            pc->path[at - 1] = '/';
        pc->ids[n->level] = n->id;
    }
    pc->k = d->level + 1;
    pc->path[d->len] = '\0';
    return pc->path;
}

/* The caller's side: run the hooks H for the records of chunk C (PC: the relpaths). Returns 0,
 * or -1 when a hook said SCAN_STOP. */
static int pipe_visit(const struct scan_pipe_hooks *h, const struct pchunk *c, struct pcache *pc)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct prec *r = &c->recs[i];
        const struct pdir *d = r->dir;
        char *path = pcache_path(pc, d);
        if (!path) {
            pc->k = 0;
            continue; /* no memory for this path: the next rescan sees it */
        }
        if (r->kind == PREC_OPENED) {
            if (h->opened && h->opened(h->ctx, path, d->fd, r->token) == SCAN_STOP)
                return -1;
            continue;
        }
        const char *name = c->names + r->name;
        size_t n = strlen(name), len = d->len;
        if (len)
            path[len++] = '/';
        memcpy(path + len, name, n + 1);
        len += n;
        if (r->kind == PREC_MOUNT || r->kind == PREC_DEEP) {
            scan_mount_fn hook = r->kind == PREC_MOUNT ? h->mount : h->too_deep;
            if (hook)
                hook(h->ctx, path, &r->st);
            continue;
        }
        struct scan_entry se = {path, len, d->fd, name, &r->st, r->mnt};
        if (h->visit(h->ctx, &se) == SCAN_STOP)
            return -1;
    }
    return 0;
}

/* Leave the walk S as a participant that never waits (the caller, once it posted the start). */
static void pshared_leave(struct pshared *s)
{
    pthread_mutex_lock(&s->lock);
    s->nthreads--;
    if (!s->n && s->idle == s->nthreads) {
        s->done = true;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

int scan_run_pipelined(int root_fd, const char *subpath, const struct scan_pipe_hooks *h,
                       unsigned threads, struct scan_stats *stats)
{
    if (threads < 1)
        threads = 1;
    if (threads > SCAN_MAX_THREADS)
        threads = SCAN_MAX_THREADS;
    struct scan_stats dummy;
    if (!stats)
        stats = &dummy;
    memset(stats, 0, sizeof(*stats));
    uint64_t t0 = now_usec();
    struct pshared s = {.nthreads = threads + 1}; /* + the caller until it posted the start */
    struct pqueue q = {0};
    struct pworker *pw = calloc(threads, sizeof(*pw));
    if (!pw)
        return errno = ENOMEM, -1;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.ready, NULL);
    pthread_cond_init(&q.space, NULL);
    struct walk w = {.root_fd = root_fd, .visit = h->visit, .ctx = h->ctx, .stats = stats};
    struct stat st;
    bool mount_root;
    uint64_t mnt;
    int rc = -1, e = 0, parent = -1;
    char *last = NULL;
    struct pcache pc = {0};
    unsigned started = 0;
    if (scan_stat(root_fd, "", &st, &mount_root, &mnt) < 0)
        goto out;
    w.mnt = mnt;

    q.running = threads;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the walkers take no signal */
    for (unsigned i = 0; i < threads; i++) {
        pw[i].w = (struct walk){.shared = &s,
                                .q = &q,
                                .ph = h,
                                .root_fd = root_fd,
                                .mnt = mnt,
                                .ctx = h->ctx,
                                .stats = &pw[i].stats};
        if (pthread_create(&pw[i].tid, NULL, pipe_worker_run, &pw[i]) != 0)
            break;
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&q.lock);
    q.running = started;
    pthread_mutex_unlock(&q.lock);
    pthread_mutex_lock(&s.lock);
    s.nthreads = started + 1;
    pthread_mutex_unlock(&s.lock);
    if (!started) {
        errno = EAGAIN;
        goto out;
    }

    enum scan_verdict v;
    if (walk_start(&w, subpath, h->visit, h->ctx, &parent, &last, &st, &mnt, &v) < 0)
        goto post;
    bool is_dir = S_ISDIR(st.st_mode);
    rc = 0;
    if (is_dir && v == SCAN_CONTINUE && w.base_level >= SCAN_DEPTH_MAX) {
        stats->too_deep++; /* the start itself is at the cap */
        if (h->too_deep)
            h->too_deep(h->ctx, w.path, &st);
    } else if (is_dir && v == SCAN_CONTINUE) {
        int fd = open_verified(&w, parent, last, &st, !*last);
        long token = fd >= 0 && h->prewatch ? h->prewatch(h->ctx, fd) : 0;
        if (fd < 0) {
            rc = -1; /* a start that could not be read fails the walk */
        } else if (h->opened && h->opened(h->ctx, w.path, fd, token) == SCAN_STOP) {
            close(fd);
            rc = -1;
            errno = ECANCELED;
        } else {
            struct pdir *d = pdir_new(&q, NULL, w.path, w.len, w.len, fd);
            char *rel2 = d ? strdup(w.path) : NULL;
            if (d)
                d->level = w.base_level;
            if (!rel2) {
                free(d);
                close(fd);
                rc = -1;
                errno = ENOMEM;
            } else {
                pthread_mutex_lock(&s.lock);
                s.items[s.n++] = (struct pitem){.fd = fd, .relpath = rel2, .dir = d};
                pthread_cond_signal(&s.cond);
                pthread_mutex_unlock(&s.lock);
            }
        }
    }
post:
    e = errno;
    pshared_leave(&s);
    /* the caller's side: visit what the walkers queue until they are all done */
    bool stopped = false;
    pthread_mutex_lock(&q.lock);
    for (;;) {
        while (!q.head && q.running) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&q.ready, &q.lock, &ts) == ETIMEDOUT && h->idle) {
                pthread_mutex_unlock(&q.lock);
                h->idle(h->ctx);
                pthread_mutex_lock(&q.lock);
            }
        }
        struct pchunk *c = q.head;
        if (!c)
            break;
        if (!(q.head = c->next))
            q.tail = NULL;
        q.n--;
        pthread_cond_signal(&q.space);
        pthread_mutex_unlock(&q.lock);
        if (!stopped && pipe_visit(h, c, &pc) < 0) {
            stopped = true; /* drain the rest unvisited: walkers may wait for room */
            pshared_stop(&s);
            rc = -1;
            e = ECANCELED;
        }
        pchunk_clear(c);
        pthread_mutex_lock(&q.lock);
        c->next = q.spare;
        q.spare = c;
    }
    pthread_mutex_unlock(&q.lock);
out:
    if (!e)
        e = errno;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(pw[i].tid, NULL);
        stats_add(stats, &pw[i].stats);
    }
    while (s.n) { /* handed over after a stop */
        struct pitem *it = &s.items[--s.n];
        free(it->relpath);
        free(it->buf);
        if (it->dir)
            pdir_unref(it->dir);
        else
            close(it->fd);
    }
    walk_release(&w);
    if (parent >= 0)
        close(parent);
    free(last);
    free(pc.path);
    free(pc.ids);
    free(pw);
    while (q.spare) {
        struct pchunk *c = q.spare;
        q.spare = c->next;
        free(c);
    }
    pthread_cond_destroy(&q.space);
    pthread_cond_destroy(&q.ready);
    pthread_mutex_destroy(&q.lock);
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    stats->usec = now_usec() - t0;
    errno = e;
    return rc;
}
