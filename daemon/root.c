/* root: open the site root one component at a time from "/", pin its identity, and check its
 * ancestors (see root.h for the rules). */
#include "root.h"

#include <acl/libacl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "account.h"
#include "log.h"

#define MAX_SYMLINKS 40

/* One directory of the resolved chain: an O_PATH fd, its stat and physical path. */
struct level {
    int fd;
    struct stat st;
    char *path;
};

struct walk {
    struct level *lv;
    size_t n, cap;
};

static void walk_pop(struct walk *w)
{
    struct level *l = &w->lv[--w->n];
    close(l->fd);
    free(l->path);
}

static void walk_free(struct walk *w)
{
    while (w->n)
        walk_pop(w);
    free(w->lv);
    w->lv = NULL;
    w->cap = 0;
}

/* Push directory FD (taken over: closed on failure) named NAME under the top level ("" for
 * "/"). Returns 0 or -1 with errno. */
static int walk_push(struct walk *w, int fd, const struct stat *st, const char *name)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct level *p = realloc(w->lv, cap * sizeof(*p));
        if (!p) {
            close(fd);
            return -1;
        }
        w->lv = p;
        w->cap = cap;
    }
    char *path;
    if (!w->n)
        path = strdup("/");
    else if (asprintf(&path, "%s%s%s", w->lv[w->n - 1].path, w->n > 1 ? "/" : "", name) < 0)
        path = NULL;
    if (!path) {
        close(fd);
        return -1;
    }
    w->lv[w->n++] = (struct level){fd, *st, path};
    return 0;
}

/* Who besides root can write directory L, in words into REASON; NEXT is the stat of the
 * component below it on the path (NULL: none). Returns true when only root can. */
static bool dir_safe(const struct level *l, const struct stat *next, char *reason, size_t len)
{
    const struct stat *st = &l->st;
    if (st->st_uid != 0) {
        snprintf(reason, len, "owned by %s (uid %u)", account_user_name(st->st_uid),
                 (unsigned)st->st_uid);
        return false;
    }
    char writers[160] = "";
    size_t w = 0;
#define ADD_WRITER(...)                                                                            \
    do {                                                                                           \
        if (w < sizeof(writers)) {                                                                 \
            int k_ = snprintf(writers + w, sizeof(writers) - w, "%s", w ? ", " : "");              \
            w += k_ > 0 ? (size_t)k_ : 0;                                                          \
        }                                                                                          \
        if (w < sizeof(writers)) {                                                                 \
            int k_ = snprintf(writers + w, sizeof(writers) - w, __VA_ARGS__);                      \
            w += k_ > 0 ? (size_t)k_ : 0;                                                          \
        }                                                                                          \
    } while (0)
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", l->fd);
    acl_t acl = acl_extended_file(proc) == 1 ? acl_get_file(proc, ACL_TYPE_ACCESS) : NULL;
    if (acl) {
        /* the mask caps named users, the owning group and named groups */
        bool mask_w = true;
        acl_entry_t e;
        for (int id = ACL_FIRST_ENTRY; acl_get_entry(acl, id, &e) == 1; id = ACL_NEXT_ENTRY) {
            acl_tag_t tag;
            acl_permset_t ps;
            if (acl_get_tag_type(e, &tag) == 0 && tag == ACL_MASK && acl_get_permset(e, &ps) == 0)
                mask_w = acl_get_perm(ps, ACL_WRITE) == 1;
        }
        for (int id = ACL_FIRST_ENTRY; acl_get_entry(acl, id, &e) == 1; id = ACL_NEXT_ENTRY) {
            acl_tag_t tag;
            acl_permset_t ps;
            if (acl_get_tag_type(e, &tag) < 0 || acl_get_permset(e, &ps) < 0 ||
                acl_get_perm(ps, ACL_WRITE) != 1)
                continue;
            if (tag == ACL_OTHER) {
                ADD_WRITER("others (mode %04o)", (unsigned)(st->st_mode & 07777));
            } else if (tag == ACL_GROUP_OBJ && mask_w && st->st_gid != 0) {
                ADD_WRITER("group %s (gid %u)", account_group_name(st->st_gid),
                           (unsigned)st->st_gid);
            } else if ((tag == ACL_USER || tag == ACL_GROUP) && mask_w) {
                void *q = acl_get_qualifier(e);
                if (!q)
                    continue;
                unsigned id_ = tag == ACL_USER ? (unsigned)*(uid_t *)q : (unsigned)*(gid_t *)q;
                acl_free(q);
                if (id_ == 0)
                    continue;
                if (tag == ACL_USER)
                    ADD_WRITER("user %s (uid %u, ACL)", account_user_name(id_), id_);
                else
                    ADD_WRITER("group %s (gid %u, ACL)", account_group_name(id_), id_);
            }
        }
        acl_free(acl);
    } else {
        if ((st->st_mode & S_IWGRP) && st->st_gid != 0)
            ADD_WRITER("group %s (gid %u)", account_group_name(st->st_gid), (unsigned)st->st_gid);
        if (st->st_mode & S_IWOTH)
            ADD_WRITER("others (mode %04o)", (unsigned)(st->st_mode & 07777));
    }
#undef ADD_WRITER
    if (!*writers)
        return true;
    /* sticky: non-root writers cannot rename or remove a root-owned entry */
    if ((st->st_mode & S_ISVTX) && next && next->st_uid == 0)
        return true;
    snprintf(reason, len, "writable by %s", writers);
    return false;
}

/* Walk PATH (absolute) into W, top = PATH's directory. Returns 0 or -1 with errno and WHY. */
static int walk_path(const char *path, struct walk *w, char *why, size_t whylen)
{
    char dummy[8];
    if (!why) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    *why = '\0';
    if (path[0] != '/') {
        snprintf(why, whylen, "%s: not an absolute path", path);
        return errno = EINVAL, -1;
    }
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || walk_push(w, fd, &st, "") < 0) {
        int e = errno;
        snprintf(why, whylen, "/: %s", strerror(e));
        return errno = e, -1;
    }
    char *rest = strdup(path);
    if (!rest)
        return -1;
    char *p = rest;
    int links = 0, e = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        char *end = strchrnul(p, '/');
        char name[NAME_MAX + 1];
        size_t n = (size_t)(end - p);
        if (n > NAME_MAX) {
            snprintf(why, whylen, "%s: a component is too long", path);
            e = ENAMETOOLONG;
            break;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        p = end;
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, "..")) {
            if (w->n > 1)
                walk_pop(w);
            continue;
        }
        struct level *top = &w->lv[w->n - 1];
        int cfd = openat(top->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0 || fstat(cfd, &st) < 0) {
            e = errno;
            snprintf(why, whylen, "%s%s%s: %s", top->path, w->n > 1 ? "/" : "", name, strerror(e));
            if (cfd >= 0)
                close(cfd);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if (walk_push(w, cfd, &st, name) < 0) {
                e = errno;
                break;
            }
            continue;
        }
        if (!S_ISLNK(st.st_mode)) {
            close(cfd);
            snprintf(why, whylen, "%s%s%s: not a directory", top->path, w->n > 1 ? "/" : "", name);
            e = ENOTDIR;
            break;
        }
        /* a symlink: trusted only when root made it where only root can change it */
        char reason[256] = "";
        bool trusted = st.st_uid == 0 && dir_safe(top, &st, reason, sizeof(reason));
        if (!trusted || ++links > MAX_SYMLINKS) {
            close(cfd);
            if (!trusted && st.st_uid != 0)
                snprintf(why, whylen,
                         "%s%s%s is a symbolic link owned by %s (uid %u), not root: not followed",
                         top->path, w->n > 1 ? "/" : "", name, account_user_name(st.st_uid),
                         (unsigned)st.st_uid);
            else if (!trusted)
                snprintf(why, whylen, "%s%s%s is a symbolic link in %s, which is %s: not followed",
                         top->path, w->n > 1 ? "/" : "", name, top->path, reason);
            else
                snprintf(why, whylen, "%s: more than %d symbolic links", path, MAX_SYMLINKS);
            e = ELOOP;
            break;
        }
        char target[PATH_MAX];
        ssize_t tl = readlinkat(cfd, "", target, sizeof(target) - 1);
        e = errno;
        close(cfd);
        if (tl <= 0) {
            snprintf(why, whylen, "%s/%s: cannot read the link: %s", top->path, name,
                     strerror(tl < 0 ? e : EINVAL));
            e = tl < 0 ? e : EINVAL;
            break;
        }
        target[tl] = '\0';
        e = 0;
        char *next;
        if (asprintf(&next, "%s/%s", target, p) < 0) {
            e = ENOMEM;
            break;
        }
        free(rest);
        rest = p = next;
        if (target[0] == '/')
            while (w->n > 1)
                walk_pop(w);
    }
    free(rest);
    if (e)
        return errno = e, -1;
    return 0;
}

int root_ident_of(int fd, struct root_ident *id)
{
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID, &sx) < 0)
        return -1;
    id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    id->ino = sx.stx_ino;
    id->mnt_id = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0;
    return 0;
}

bool root_ident_eq(const struct root_ident *a, const struct root_ident *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->mnt_id == b->mnt_id;
}

const char *root_ident_format(const struct root_ident *id, char *buf, size_t len)
{
    snprintf(buf, len, "dev %u:%u ino %llu mnt %llu", major((dev_t)id->dev), minor((dev_t)id->dev),
             (unsigned long long)id->ino, (unsigned long long)id->mnt_id);
    return buf;
}

void root_chain_free(struct root_chain *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].path);
    free(c->items);
    c->items = NULL;
    c->n = 0;
}

/* The unsafe ancestors of W's top into *C. Returns 0 or -1 (ENOMEM). */
static int chain_check(const struct walk *w, struct root_chain *c)
{
    c->items = NULL;
    c->n = 0;
    for (size_t i = 0; i + 1 < w->n; i++) {
        char reason[192];
        if (dir_safe(&w->lv[i], &w->lv[i + 1].st, reason, sizeof(reason)))
            continue;
        struct root_unsafe *p = realloc(c->items, (c->n + 1) * sizeof(*p));
        if (!p)
            goto fail;
        c->items = p;
        struct root_unsafe *u = &c->items[c->n];
        u->path = strdup(w->lv[i].path);
        if (!u->path)
            goto fail;
        u->uid = w->lv[i].st.st_uid;
        u->gid = w->lv[i].st.st_gid;
        u->mode = w->lv[i].st.st_mode & 07777;
        snprintf(u->reason, sizeof(u->reason), "%s", reason);
        c->n++;
    }
    return 0;
fail:
    root_chain_free(c);
    return errno = ENOMEM, -1;
}

int root_open(const char *path, struct root_ident *id, struct root_chain *chain, char *why,
              size_t whylen)
{
    struct walk w = {0};
    if (chain) {
        chain->items = NULL;
        chain->n = 0;
    }
    if (walk_path(path, &w, why, whylen) < 0) {
        int e = errno;
        walk_free(&w);
        return errno = e, -1;
    }
    int fd = openat(w.lv[w.n - 1].fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = errno;
    if (fd >= 0 && id && root_ident_of(fd, id) < 0)
        e = errno, close(fd), fd = -1;
    if (fd >= 0 && chain && chain_check(&w, chain) < 0)
        e = errno, close(fd), fd = -1;
    if (fd < 0 && why)
        snprintf(why, whylen, "%s: %s", path, strerror(e));
    walk_free(&w);
    errno = e;
    return fd;
}

int root_open_parent(const char *path, char *why, size_t whylen)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return errno = EINVAL, -1;
    char *parent = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!parent)
        return -1;
    struct walk w = {0};
    int fd = -1;
    if (walk_path(parent, &w, why, whylen) == 0)
        fd = dup(w.lv[w.n - 1].fd);
    int e = errno;
    walk_free(&w);
    free(parent);
    errno = e;
    return fd;
}

void root_log_unsafe(const struct root_chain *chain, const char *site_root)
{
    for (size_t i = 0; chain && i < chain->n; i++) {
        const struct root_unsafe *u = &chain->items[i];
        char uid[24], mode[8];
        snprintf(uid, sizeof(uid), "%u", (unsigned)u->uid);
        snprintf(mode, sizeof(mode), "%04o", (unsigned)u->mode);
        struct log_field fields[] = {
            {"PATH", u->path}, {"UID", uid},          {"OWNER", account_user_name(u->uid)},
            {"MODE", mode},    {"REASON", u->reason}, {"SITE_ROOT", site_root},
        };
        log_event(LOG_EVENT_UNSAFE_ANCESTOR, LOG_WARNING, fields, 6,
                  "unsafe ancestor of the site root %s: %s is %s; a non-root user could swap "
                  "the site root for another tree, so repairs are refused (detection goes on) "
                  "until it is fixed and permwatchd reloaded",
                  site_root, u->path, u->reason);
    }
}
