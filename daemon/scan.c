/* scan: depth-first walk through directory fds (openat + statx, O_NOFOLLOW everywhere). One
 * open directory per level of depth, one growing path buffer: no per-entry allocation. */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
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

struct frame {
    DIR *dir;
    size_t pathlen; /* length of the directory's relpath */
};

struct walk {
    int root_fd;
    uint64_t mnt; /* the site's mount (scan_stat's mount key) */
    scan_visit_fn visit;
    scan_opened_fn opened;
    scan_mount_fn mount;
    void *ctx;
    struct scan_stats *stats;
    char *path; /* relpath of the current entry */
    size_t len, cap;
    struct frame *stack;
    size_t depth, stack_cap;
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

/* Open directory NAME under DIRFD, checking it is still the directory we stat'ed as ST, and
 * hand it to the opened hook. Pushes a frame for it. START: the walk's first directory,
 * which may be the root of a mount (a site root that is a mount point). Returns 0, -1 when
 * skipped (counted with errno set, or errno ECANCELED: refused by the hook), or -2 with
 * errno ECANCELED when the hook stopped the walk. */
static int push_dir(struct walk *w, int dirfd, const char *name, const struct stat *st, bool start)
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
    if (w->opened) {
        enum scan_verdict v = w->opened(w->ctx, w->path, fd);
        if (v != SCAN_CONTINUE) {
            close(fd);
            errno = ECANCELED;
            return v == SCAN_STOP ? -2 : -1;
        }
    }
    if (w->depth == w->stack_cap) {
        size_t cap = w->stack_cap ? w->stack_cap * 2 : 64;
        struct frame *s = realloc(w->stack, cap * sizeof(*s));
        if (!s) {
            close(fd);
            count_error(w, ENOMEM, "descend into");
            return -1;
        }
        w->stack = s;
        w->stack_cap = cap;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        count_error(w, e, "read directory");
        return -1;
    }
    w->stack[w->depth++] = (struct frame){d, w->len};
    return 0;
}

/* Visit every entry below the directories on the stack. Returns 0, or -1 with errno
 * ECANCELED when the visitor stopped the walk. */
static int walk_stack(struct walk *w)
{
    while (w->depth) {
        struct frame *f = &w->stack[w->depth - 1];
        errno = 0;
        struct dirent *de = readdir(f->dir);
        if (!de) {
            if (errno) {
                w->len = f->pathlen;
                w->path[w->len] = '\0';
                count_error(w, errno, "read directory");
            }
            closedir(f->dir);
            w->depth--;
            continue;
        }
        const char *name = de->d_name;
        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
            continue;
        if (path_set(w, f->pathlen, name) < 0) {
            count_error(w, ENOMEM, "walk");
            continue;
        }
        int dfd = dirfd(f->dir);
        struct stat st;
        bool mount_root;
        uint64_t mnt;
        if (scan_stat(dfd, name, &st, &mount_root, &mnt) < 0) {
            count_error(w, errno, "stat");
            continue;
        }
        bool is_dir = S_ISDIR(st.st_mode);
        if (is_dir && !same_mount(w, mnt, mount_root)) {
            w->stats->mounts_skipped++;
            if (w->mount)
                w->mount(w->ctx, w->path, &st);
            continue;
        }
        if (is_dir)
            w->stats->dirs++;
        else if (S_ISREG(st.st_mode))
            w->stats->files++;
        else
            w->stats->others++;
        struct scan_entry e = {w->path, w->len, dfd, name, &st, mnt};
        enum scan_verdict v = w->visit(w->ctx, &e);
        if (v == SCAN_STOP) {
            errno = ECANCELED;
            return -1;
        }
        if (is_dir && v == SCAN_CONTINUE && push_dir(w, dfd, name, &st, false) == -2)
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

int scan_run(int root_fd, const char *subpath, const struct scan_hooks *h, struct scan_stats *stats)
{
    scan_visit_fn visit = h->visit;
    void *ctx = h->ctx;
    struct scan_stats dummy;
    struct walk w = {
        .root_fd = root_fd, .visit = visit, .opened = h->opened, .mount = h->mount, .ctx = ctx};
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
    int parent = reach_parent(&w, subpath ? subpath : "", &last);
    if (parent < 0)
        goto out;
    if (scan_stat(parent, last, &st, &mount_root, &mnt) < 0)
        goto out;
    bool is_dir = S_ISDIR(st.st_mode);
    if (*last && is_dir && !same_mount(&w, mnt, mount_root)) {
        errno = EXDEV;
        goto out;
    }
    if (is_dir)
        w.stats->dirs++;
    else if (S_ISREG(st.st_mode))
        w.stats->files++;
    else
        w.stats->others++;
    struct scan_entry entry = {w.path, w.len, parent, last, &st, mnt};
    enum scan_verdict v = visit(ctx, &entry);
    if (v == SCAN_STOP) {
        errno = ECANCELED;
        goto out;
    }
    rc = 0;
    if (is_dir && v == SCAN_CONTINUE) {
        /* the start may be a mount root (only mounts below it are not crossed); a start
         * that could not be read fails the walk: the audit could not look */
        int pushed = push_dir(&w, parent, last, &st, !*last);
        if (pushed == 0)
            rc = walk_stack(&w);
        else if (pushed == -2 || errno != ECANCELED)
            rc = -1;
    }
out:
    e = errno;
    while (w.depth)
        closedir(w.stack[--w.depth].dir);
    if (parent >= 0)
        close(parent);
    free(last);
    free(w.stack);
    free(w.path);
    w.stats->usec = now_usec() - t0;
    errno = e;
    return rc;
}
