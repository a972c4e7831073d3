/* reach: a model of the kernel's answer to "may WHO execute this command?", and the kernel's
 * own answer from a child that becomes WHO. See reach.h for the rules modelled.
 *
 * The model walks paths itself with lstat(2) (the daemon is root: it sees past a denial), so
 * it can name the component that denies, list every directory to watch, and follow a script
 * to its interpreter. It reports the first failure in the order the kernel meets it. */
#include "reach.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "perm.h"
#include "permacl.h"

/* Rights, as the kernel's MAY_* and as one rwx triplet of a mode. */
#define P_R 4
#define P_W 2
#define P_X 1

/* The kernel reads this much of a file to find "#!" and cuts the line within it. */
#define BINPRM_BUF_SIZE 256
/* Script nesting: a script's interpreter may itself be a script, whose interpreter may not. */
#define MAX_SCRIPT_DEPTH 2
/* Interpreters and env commands followed from one command, all levels together. */
#define MAX_HOPS 4

#define REASON_MAX sizeof(((struct reach_verdict *)0)->reason)

/* State of one reach_check. */
struct ctx {
    const struct principal *who;
    const char *path_env;
    struct reach_verdict *v; /* collects watch */
    size_t watch_cap;
    bool protected_symlinks; /* fs.protected_symlinks = 1 */
};

/* The outcome of resolving and checking one exec (a command, an interpreter). */
struct res {
    enum reach_status status; /* the first failure, REACH_OK when none */
    bool exists;              /* the final object was found (the model sees past denials) */
    struct stat st;           /* of resolved, when it exists */
    char resolved[PATH_MAX];
    char interp[PATH_MAX]; /* #! interpreter, resolved */
    char envcmd[PATH_MAX]; /* env's command, resolved */
    char blocked_at[PATH_MAX];
    char reason[REASON_MAX];
};

/* The access(2) tests collected for one exec. */
struct checks {
    struct reach_access *a;
    size_t n, cap;
};

/* --- small helpers ------------------------------------------------------------------------ */

/* snprintf that may truncate (reasons are one line of bounded size). */
__attribute__((format(printf, 3, 4))) static void fmt(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, n, f, ap);
    va_end(ap);
}

/* Copy SRC into DST of size N, truncating. */
static void copy(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* The name of user (GROUP false) or group ID, else its number, into OUT (64 bytes). Thread-safe
 * (getpwuid_r, no shared cache: the model may run off the event loop's thread). Returns OUT. */
static const char *id_name(bool group, unsigned id, char out[64])
{
    char buf[2048];
    const char *name = NULL;
    if (group) {
        struct group gr, *res = NULL;
        if (getgrgid_r((gid_t)id, &gr, buf, sizeof(buf), &res) == 0 && res)
            name = res->gr_name;
    } else {
        struct passwd pw, *res = NULL;
        if (getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res) == 0 && res)
            name = res->pw_name;
    }
    if (!name || strlen(name) >= 64)
        snprintf(out, 64, "%u", id);
    else
        snprintf(out, 64, "%s", name);
    return out;
}

static const char *who_name(const struct principal *who)
{
    static __thread char buf[64];
    return who->name ? who->name : id_name(false, (unsigned)who->uid, buf);
}

/* "r-x" for the rights P. OUT has room for 4 bytes. */
static const char *rwx(int p, char out[4])
{
    out[0] = p & P_R ? 'r' : '-';
    out[1] = p & P_W ? 'w' : '-';
    out[2] = p & P_X ? 'x' : '-';
    out[3] = '\0';
    return out;
}

/* The rights in MISSING, for "lacks ...". */
static const char *lacks(int missing)
{
    switch (missing & (P_R | P_X)) {
    case P_R | P_X:
        return "r and x";
    case P_R:
        return "r";
    case P_X:
        return "x";
    default:
        return "w";
    }
}

/* Record the first failure: later ones (the model walks on as root) are ignored. */
__attribute__((format(printf, 4, 5))) static void fail(struct res *r, enum reach_status s,
                                                       const char *at, const char *f, ...)
{
    if (r->status != REACH_OK)
        return;
    r->status = s;
    copy(r->blocked_at, sizeof(r->blocked_at), at);
    va_list ap;
    va_start(ap, f);
    vsnprintf(r->reason, sizeof(r->reason), f, ap);
    va_end(ap);
}

/* Add DIR to the verdict's watch list unless present. Returns 0, or -1 (ENOMEM). */
static int watch_add(struct ctx *c, const char *dir)
{
    struct reach_verdict *v = c->v;
    for (size_t i = 0; i < v->nwatch; i++)
        if (strcmp(v->watch[i], dir) == 0)
            return 0;
    if (v->nwatch == c->watch_cap) {
        size_t cap = c->watch_cap ? c->watch_cap * 2 : 16;
        char **w = realloc(v->watch, cap * sizeof(*w));
        if (!w)
            return -1;
        v->watch = w;
        c->watch_cap = cap;
    }
    if (!(v->watch[v->nwatch] = strdup(dir)))
        return -1;
    v->nwatch++;
    return 0;
}

/* Append a test to CK. Returns 0, or -1 (ENOMEM). */
static int checks_add(struct checks *ck, const char *path, const char *resolved, int mode, bool alt)
{
    if (ck->n == ck->cap) {
        size_t cap = ck->cap ? ck->cap * 2 : 4;
        struct reach_access *a = realloc(ck->a, cap * sizeof(*a));
        if (!a)
            return -1;
        ck->a = a;
        ck->cap = cap;
    }
    struct reach_access *e = &ck->a[ck->n];
    e->path = strdup(path);
    e->resolved = strdup(resolved);
    if (!e->path || !e->resolved) {
        free(e->path);
        free(e->resolved);
        return -1;
    }
    e->mode = mode;
    e->alt = alt;
    ck->n++;
    return 0;
}

static void checks_free(struct checks *ck)
{
    for (size_t i = 0; i < ck->n; i++) {
        free(ck->a[i].path);
        free(ck->a[i].resolved);
    }
    free(ck->a);
    *ck = (struct checks){0};
}

/* Move every entry of SRC to the end of DST (SRC ends empty). Returns 0, or -1 (ENOMEM). */
static int checks_move(struct checks *dst, struct checks *src)
{
    if (dst->n + src->n > dst->cap) {
        size_t cap = dst->n + src->n;
        struct reach_access *a = realloc(dst->a, cap * sizeof(*a));
        if (!a)
            return -1;
        dst->a = a;
        dst->cap = cap;
    }
    if (src->n)
        memcpy(dst->a + dst->n, src->a, src->n * sizeof(*src->a));
    dst->n += src->n;
    free(src->a);
    *src = (struct checks){0};
    return 0;
}

static bool read_protected_symlinks(void)
{
    char ch = '0';
    int fd = open("/proc/sys/fs/protected_symlinks", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (read(fd, &ch, 1) != 1)
        ch = '0';
    close(fd);
    return ch != '0';
}

static const char *type_name(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a regular file";
}

/* --- permissions -------------------------------------------------------------------------- */

/* The reason of an ACL verdict V (perm_check with the extended ACL A of PATH) for WHO wanting
 * WANT into WHY: the named user entry through the mask, the matching group entries, or the
 * ACL's other entry (the mode's other bits). */
static void acl_reason(const struct principal *who, const char *path, const struct stat *st,
                       const struct perm_acl *a, const struct perm_verdict *v, int want, char *why,
                       size_t n)
{
    const char *me = who_name(who);
    int m = a->mask >= 0 ? a->mask : P_R | P_W | P_X;
    char b1[4], b2[4], b3[4];
    if (v->cls == PERM_CLASS_ACL_USER) { /* a named user entry decides alone, through the mask */
        int user = v->entry, eff = v->have;
        if (eff != user)
            fmt(why, n, "%s: ACL user:%s:%s with mask::%s (effective %s), lacks %s", path, me,
                rwx(user, b1), rwx(m, b2), rwx(eff, b3), lacks(want & ~eff));
        else
            fmt(why, n, "%s: ACL user:%s:%s, lacks %s", path, me, rwx(user, b1),
                lacks(want & ~eff));
        return;
    }
    if (v->cls == PERM_CLASS_ACL_GROUP) {
        /* the matching group entries (the first 16), the owning group's first */
        char list[200], gname[64];
        size_t len = 0, ng = 0;
        list[0] = '\0';
        for (size_t i = 0; ng < 16 && i <= a->n && len < sizeof(list); i++) {
            bool gobj = i == 0;
            if (gobj ? !v->in_group
                     : a->e[i - 1].tag != PERM_ACL_GROUP ||
                           !account_principal_in_group(who, (gid_t)a->e[i - 1].id))
                continue;
            int p = gobj ? a->group_obj : a->e[i - 1].perms;
            int k = snprintf(list + len, sizeof(list) - len, "%sgroup:%s:%s", ng++ ? ", " : "",
                             gobj ? "" : id_name(true, a->e[i - 1].id, gname), rwx(p, b1));
            if (k < 0)
                break;
            len += (size_t)k;
        }
        if (a->mask >= 0)
            fmt(why, n,
                "%s: ACL %s, mask::%s, %s matches these group entries and none grants %s "
                "(other is not consulted)",
                path, list, rwx(a->mask, b2), me, lacks(want & ~v->have));
        else
            fmt(why, n, "%s: ACL %s, %s matches these group entries and none grants %s", path, list,
                me, lacks(want & ~v->have));
        return;
    }
    int other = (int)st->st_mode & 7;
    fmt(why, n, "%s: ACL other::%s, %s is not owner and matches no user or group entry, lacks %s",
        path, rwx(other, b1), me, lacks(want & ~other));
}

/* The names of ST's owner and group into OWN and GRP (64 bytes each), for a reason. */
static void owner_group(const struct stat *st, char own[64], char grp[64])
{
    id_name(false, (unsigned)st->st_uid, own);
    id_name(true, (unsigned)st->st_gid, grp);
}

/* Whether WHO has every right in WANT (P_R, P_X) on PATH, whose stat is ST, by the kernel's
 * generic_permission (perm_check over PATH's access ACL). Returns 1 granted, 0 denied (WHY
 * gets one line naming PATH, its mode and owner and why), -1 with errno ENOMEM. */
static int perm(const struct principal *who, const char *path, const struct stat *st, int want,
                char *why, size_t n)
{
    mode_t mode = st->st_mode;
    const char *me = who_name(who);
    char own[64] = "", grp[64] = ""; /* names for a reason: looked up only for a denial */
    unsigned m4 = (unsigned)(mode & 07777);
    struct perm_acl acl;
    bool have_acl = false;
    if (who->uid != st->st_uid && (mode & S_IRWXG)) { /* the kernel skips a zero mask */
        int rc = permacl_read_path(path, &acl);
        if (rc < 0 && errno == ENOMEM)
            return -1;
        have_acl = rc == 1;
    }
    struct perm_verdict v;
    bool ok = perm_check(who, st->st_uid, st->st_gid, mode, have_acl ? &acl : NULL, want, &v);
    if (ok) {
        if (have_acl)
            permacl_free(&acl);
        return 1;
    }
    switch (v.cls) {
    case PERM_CLASS_OWNER:
        owner_group(st, own, grp);
        fmt(why, n,
            "%s: mode %04o %s:%s, %s is the owner and the owner class lacks %s (group and "
            "other are not consulted)",
            path, m4, own, grp, me, lacks(want & ~v.have));
        break;
    case PERM_CLASS_ACL_USER:
    case PERM_CLASS_ACL_GROUP:
        acl_reason(who, path, st, &acl, &v, want, why, n);
        break;
    case PERM_CLASS_GROUP:
    case PERM_CLASS_OTHER: {
        if (have_acl) { /* an extended ACL was consulted and no entry matched */
            acl_reason(who, path, st, &acl, &v, want, why, n);
            break;
        }
        const char *note = "";
        struct perm_acl ignored;
        if (!(mode & S_IRWXG) && permacl_read_path(path, &ignored) == 1) {
            note = "; its ACL is not consulted: the mask grants nothing";
            permacl_free(&ignored);
        }
        owner_group(st, own, grp);
        if (v.in_group)
            fmt(why, n,
                "%s: mode %04o %s:%s, %s is in group %s and the group class lacks %s "
                "(other is not consulted)%s",
                path, m4, own, grp, me, grp, lacks(want & ~v.have), note);
        else
            fmt(why, n,
                "%s: mode %04o %s:%s, %s is not owner and not in group %s (class other "
                "lacks %s)%s",
                path, m4, own, grp, me, grp, lacks(want & ~v.have), note);
        break;
    }
    case PERM_CLASS_ROOT: /* execute needs some x bit on a file, even for root */
        owner_group(st, own, grp);
        fmt(why, n, "%s: mode %04o %s:%s, no execute bit is set (even root needs one)", path, m4,
            own, grp);
        break;
    }
    if (have_acl)
        permacl_free(&acl);
    return 0;
}

/* --- path resolution ---------------------------------------------------------------------- */

/* CUR + "/" + NAME (LEN bytes) into OUT. Returns 0, or -1 when longer than PATH_MAX. */
static int join(char *out, const char *cur, const char *name, size_t len)
{
    size_t cl = strcmp(cur, "/") == 0 ? 0 : strlen(cur);
    if (cl + 1 + len + 1 > PATH_MAX)
        return -1;
    memmove(out, cur, cl);
    out[cl] = '/';
    memcpy(out + cl + 1, name, len);
    out[cl + 1 + len] = '\0';
    return 0;
}

/* Resolve the absolute PATH as the kernel's path walk does, checking search permission for
 * WHO on every directory passed (adding each to the watch list). Fills R: the first failure,
 * exists/st/resolved when the final object was found. Returns 0, or -1 with errno ENOMEM. */
static int walk(struct ctx *c, const char *path, struct res *r)
{
    char cur[PATH_MAX] = "/", next[PATH_MAX], target[PATH_MAX], why[REASON_MAX];
    struct stat cst, nst;
    int links = 0, rc = -1;
    size_t pos = 0;
    char *todo = strdup(path);
    if (!todo)
        return -1;
    if (lstat("/", &cst) < 0) {
        fail(r, REACH_INVALID, "/", "/: %s", strerror(errno));
        goto done;
    }
    for (;;) {
        while (todo[pos] == '/')
            pos++;
        if (!todo[pos]) { /* ends on a directory: "/", "x/.", "x/" */
            copy(r->resolved, sizeof(r->resolved), cur);
            r->st = cst;
            r->exists = true;
            break;
        }
        const char *comp = todo + pos;
        size_t len = strcspn(comp, "/"), after = pos + len, k = after;
        while (todo[k] == '/')
            k++;
        bool last = !todo[k], slash = todo[after] == '/';

        /* may_lookup: search permission on the directory, for every component */
        if (watch_add(c, cur) < 0)
            goto done;
        if (r->status == REACH_OK) {
            int p = perm(c->who, cur, &cst, P_X, why, sizeof(why));
            if (p < 0)
                goto done;
            if (!p)
                fail(r, REACH_DENIED, cur, "%s", why);
        }
        if (len == 1 && comp[0] == '.') {
            pos = after;
            continue;
        }
        if (len == 2 && comp[0] == '.' && comp[1] == '.') { /* the physical parent */
            char *s = strrchr(cur, '/');
            if (s == cur)
                cur[1] = '\0';
            else
                *s = '\0';
            if (lstat(cur, &cst) < 0) {
                fail(r, REACH_INVALID, cur, "%s: %s", cur, strerror(errno));
                break;
            }
            pos = after;
            continue;
        }
        if (join(next, cur, comp, len) < 0) {
            fail(r, REACH_INVALID, cur, "%s/%.*s: file name too long", cur, (int)len, comp);
            break;
        }
        if (lstat(next, &nst) < 0) {
            if (errno == ENOENT)
                fail(r, REACH_MISSING, next, "%s: no such file or directory", next);
            else
                fail(r, REACH_INVALID, next, "%s: %s", next, strerror(errno));
            break;
        }
        if (S_ISLNK(nst.st_mode)) {
            if (++links > REACH_MAX_SYMLINKS) {
                fail(r, REACH_LOOP, next,
                     "%s: too many levels of symbolic links (more than %d in one exec)", next,
                     REACH_MAX_SYMLINKS);
                break;
            }
            /* may_follow_link, for a trailing symlink only */
            if (last && c->protected_symlinks && r->status == REACH_OK &&
                nst.st_uid != c->who->uid &&
                (cst.st_mode & (S_ISVTX | S_IWOTH)) == (S_ISVTX | S_IWOTH) &&
                cst.st_uid != nst.st_uid) {
                char n1[64], n2[64];
                fail(r, REACH_DENIED, next,
                     "%s: symlink owned by %s in the sticky world-writable directory %s owned "
                     "by %s: not followed for %s (fs.protected_symlinks)",
                     next, id_name(false, (unsigned)nst.st_uid, n1), cur,
                     id_name(false, (unsigned)cst.st_uid, n2), who_name(c->who));
            }
            ssize_t tl = readlink(next, target, sizeof(target) - 1);
            if (tl < 0) {
                fail(r, REACH_INVALID, next, "%s: %s", next, strerror(errno));
                break;
            }
            if (tl == 0) {
                fail(r, REACH_MISSING, next, "%s: empty symbolic link", next);
                break;
            }
            size_t rl = strlen(todo + after);
            char *nt = malloc((size_t)tl + rl + 1);
            if (!nt)
                goto done;
            memcpy(nt, target, (size_t)tl);
            memcpy(nt + tl, todo + after, rl + 1);
            free(todo);
            todo = nt;
            pos = 0;
            if (target[0] == '/') {
                strcpy(cur, "/");
                if (lstat(cur, &cst) < 0) {
                    fail(r, REACH_INVALID, "/", "/: %s", strerror(errno));
                    break;
                }
            }
            continue;
        }
        if (last) {
            if (slash && !S_ISDIR(nst.st_mode)) {
                fail(r, REACH_INVALID, next, "%s: not a directory (the path ends in '/')", next);
                break;
            }
            copy(r->resolved, sizeof(r->resolved), next);
            r->st = nst;
            r->exists = true;
            break;
        }
        if (!S_ISDIR(nst.st_mode)) {
            fail(r, REACH_MISSING, next, "%s: not a directory", next);
            break;
        }
        strcpy(cur, next);
        cst = nst;
        pos = after;
    }
    rc = 0;
done:
    free(todo);
    if (rc < 0)
        errno = ENOMEM;
    return rc;
}

/* --- scripts ------------------------------------------------------------------------------ */

static bool spacetab(char ch)
{
    return ch == ' ' || ch == '\t';
}

static char *next_non_spacetab(char *first, char *last)
{
    for (; first <= last; first++)
        if (!spacetab(*first))
            return first;
    return NULL;
}

static char *next_terminator(char *first, char *last)
{
    for (; first <= last; first++)
        if (spacetab(*first) || !*first)
            return first;
    return NULL;
}

/* Cut a "#!" line out of BUF (BINPRM_BUF_SIZE bytes read, zero padded, plus a NUL) exactly as
 * fs/binfmt_script.c does. Returns 1 with *NAME (and *ARG, or NULL) pointing into BUF, 0 when
 * BUF is not a script, -1 when the line is malformed (the kernel's ENOEXEC). */
static int shebang(char *buf, char **name, char **arg)
{
    if (buf[0] != '#' || buf[1] != '!')
        return 0;
    char *buf_end = buf + BINPRM_BUF_SIZE - 1;
    char *i_end = memchr(buf, '\n', BINPRM_BUF_SIZE);
    if (!i_end) {
        i_end = next_non_spacetab(buf + 2, buf_end);
        if (!i_end)
            return -1; /* only spaces and tabs */
        if (!next_terminator(i_end, buf_end))
            return -1; /* the interpreter's name is cut */
        i_end = buf_end;
    }
    while (spacetab(i_end[-1]))
        i_end--;
    char *i_name = next_non_spacetab(buf + 2, i_end);
    if (!i_name || i_name == i_end)
        return -1;
    char *i_sep = next_terminator(i_name, i_end), *i_arg = NULL;
    if (i_sep && *i_sep != '\0')
        i_arg = next_non_spacetab(i_sep, i_end);
    *i_end = '\0';
    if (i_sep)
        *i_sep = '\0';
    *name = i_name;
    *arg = i_arg && *i_arg ? i_arg : NULL;
    return 1;
}

/* The command env runs for its single argument ARG (what a #! line passes): ARG itself, or
 * with -S its first word that is neither an option nor NAME=VALUE. Returns 0 with OUT filled,
 * or -1 when env would run nothing. */
static int env_target(const char *arg, char *out, size_t n)
{
    if (!arg || !*arg)
        return -1;
    if (arg[0] != '-') {
        if (strchr(arg, '='))
            return -1; /* one assignment, no command */
        copy(out, n, arg);
        return 0;
    }
    if (arg[1] != 'S')
        return -1;
    const char *s = arg + 2;
    bool skip_next = false;
    for (;;) {
        while (spacetab(*s))
            s++;
        if (!*s)
            return -1;
        size_t len = strcspn(s, " \t");
        bool opt = s[0] == '-', assign = memchr(s, '=', len) != NULL;
        bool takes_arg = (len == 2 && (s[1] == 'u' || s[1] == 'C')) ||
                         (len == 7 && strncmp(s, "--unset", 7) == 0) ||
                         (len == 7 && strncmp(s, "--chdir", 7) == 0);
        if (skip_next)
            skip_next = false;
        else if (opt)
            skip_next = takes_arg;
        else if (!assign) {
            if (len >= n)
                return -1;
            memcpy(out, s, len);
            out[len] = '\0';
            return 0;
        }
        s += len;
    }
}

static int search_path(struct ctx *c, const char *name, int depth, int hops, struct res *r,
                       struct checks *ck);

/* Read the first BINPRM_BUF_SIZE bytes of PATH into BUF (zero padded). Returns 0 or -1. */
static int read_head(const char *path, char *buf)
{
    memset(buf, 0, BINPRM_BUF_SIZE + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < BINPRM_BUF_SIZE) {
        ssize_t k = read(fd, buf + got, BINPRM_BUF_SIZE - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    int e = errno;
    close(fd);
    errno = e;
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Check that WHO may exec the absolute PATH: resolution, a regular file, x, not noexec; for
 * a script its interpreter (and env's command) and r. DEPTH counts #! nesting, HOPS every
 * interpreter followed. Fills R and appends the tests to CK. Returns 0, or -1 ENOMEM. */
static int exec_check(struct ctx *c, const char *path, int depth, int hops, struct res *r,
                      struct checks *ck)
{
    char why[REASON_MAX], buf[BINPRM_BUF_SIZE + 1];
    struct res *ir = NULL, *nr = NULL;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->status = REACH_OK;
    if (walk(c, path, r) < 0)
        return -1;
    if (!r->exists)
        return checks_add(ck, path, "", X_OK, false);
    if (checks_add(ck, path, r->resolved, X_OK, false) < 0)
        return -1;
    if (!S_ISREG(r->st.st_mode)) {
        fail(r, REACH_INVALID, r->resolved, "%s: %s, cannot be executed", r->resolved,
             type_name(r->st.st_mode));
        return 0;
    }
    int p = perm(c->who, r->resolved, &r->st, P_X, why, sizeof(why));
    if (p < 0)
        return -1;
    if (!p)
        fail(r, REACH_DENIED, r->resolved, "%s", why);
    struct statvfs sv;
    if (statvfs(r->resolved, &sv) == 0 && (sv.f_flag & ST_NOEXEC))
        fail(r, REACH_NOEXEC, r->resolved, "%s: the file system holding it is mounted noexec",
             r->resolved);

    if (read_head(r->resolved, buf) < 0) {
        fail(r, REACH_INVALID, r->resolved, "%s: cannot read it: %s", r->resolved, strerror(errno));
        return 0;
    }
    char *iname, *iarg;
    int s = shebang(buf, &iname, &iarg);
    if (s == 0)
        return 0; /* a binary (or left to the shell): nothing more to check */
    if (s < 0) {
        fail(r, REACH_INVALID, r->resolved, "%s: malformed #! line (the kernel refuses it)",
             r->resolved);
        return 0;
    }
    if (depth >= MAX_SCRIPT_DEPTH || hops >= MAX_HOPS) {
        fail(r, REACH_INVALID, r->resolved,
             "%s: a script whose interpreter is a script nested too deep (interpreter %s)",
             r->resolved, iname);
        return 0;
    }
    if (iname[0] != '/') {
        fail(r, REACH_INVALID, r->resolved,
             "%s: relative interpreter %s (resolved from the caller's working directory)",
             r->resolved, iname);
        return 0;
    }
    if (!(ir = malloc(sizeof(*ir))) || exec_check(c, iname, depth + 1, hops + 1, ir, ck) < 0)
        goto out;
    copy(r->interp, sizeof(r->interp), ir->resolved);
    if (ir->status != REACH_OK)
        fail(r, ir->status, ir->blocked_at, "interpreter %s of %s: %s", iname, r->resolved,
             ir->reason);

    if (strcmp(base_name(iname), "env") == 0 || strcmp(base_name(ir->resolved), "env") == 0) {
        char name[PATH_MAX];
        if (env_target(iarg, name, sizeof(name)) < 0) {
            fail(r, REACH_INVALID, r->resolved, "%s: #!%s %s names no command for env to run",
                 r->resolved, iname, iarg ? iarg : "");
        } else if (name[0] != '/' && strchr(name, '/')) {
            fail(r, REACH_INVALID, r->resolved,
                 "%s: env runs the relative path %s (resolved from the caller's working "
                 "directory)",
                 r->resolved, name);
        } else {
            if (!(nr = malloc(sizeof(*nr))))
                goto out;
            int e = name[0] == '/' ? exec_check(c, name, 0, hops + 1, nr, ck)
                                   : search_path(c, name, 0, hops + 1, nr, ck);
            if (e < 0)
                goto out;
            copy(r->envcmd, sizeof(r->envcmd), nr->resolved);
            if (nr->status != REACH_OK)
                fail(r, nr->status, nr->blocked_at, "interpreter %s (run by %s) of %s: %s", name,
                     iname, r->resolved, nr->reason);
        }
    }

    /* the interpreter opens the script: WHO must read it */
    p = perm(c->who, r->resolved, &r->st, P_R, why, sizeof(why));
    if (p < 0)
        goto out;
    if (!p)
        fail(r, REACH_DENIED, r->resolved,
             "%s; a script must be readable: its interpreter reads it", why);
    if (checks_add(ck, path, r->resolved, R_OK, false) < 0)
        goto out;
    rc = 0;
out:
    free(ir);
    free(nr);
    if (rc < 0)
        errno = ENOMEM;
    return rc;
}

/* execvp's search for the bare NAME on the PATH: the first candidate that WHO may execute
 * wins; else the first that exists (its failure is the most useful); a loop stops the search.
 * Fills R and appends the tests to CK. Returns 0, or -1 ENOMEM. */
static int search_path(struct ctx *c, const char *name, int depth, int hops, struct res *r,
                       struct checks *ck)
{
    struct res *t = malloc(sizeof(*t)), *saved = NULL;
    struct checks tck = {0}, sck = {0}, all = {0};
    char cand[PATH_MAX];
    int rc = -1;
    if (!t)
        return -1;
    const char *p = c->path_env;
    for (;;) {
        const char *end = strchrnul(p, ':');
        size_t dl = (size_t)(end - p);
        if (dl && p[0] == '/' && dl + 1 + strlen(name) < sizeof(cand)) {
            memcpy(cand, p, dl);
            cand[dl] = '/';
            strcpy(cand + dl + 1, name);
            if (checks_add(&all, cand, "", X_OK, all.n > 0) < 0 ||
                exec_check(c, cand, depth, hops, t, &tck) < 0)
                goto out;
            if (t->status == REACH_OK || t->status == REACH_LOOP) {
                *r = *t;
                rc = checks_move(ck, &tck);
                goto out;
            }
            if (t->exists && !saved) {
                saved = t;
                sck = tck;
                tck = (struct checks){0};
                if (!(t = malloc(sizeof(*t))))
                    goto out;
            } else {
                checks_free(&tck);
            }
        }
        if (!*end)
            break;
        p = end + 1;
    }
    if (saved) {
        *r = *saved;
        rc = checks_move(ck, &sck);
        goto out;
    }
    memset(r, 0, sizeof(*r));
    fail(r, REACH_MISSING, "", "%s: not found in PATH %s", name, c->path_env);
    /* the kernel is asked about every candidate: any one found would do */
    if (!all.n && checks_add(&all, "", "", X_OK, false) < 0)
        goto out;
    rc = checks_move(ck, &all);
out:
    free(t);
    free(saved);
    checks_free(&tck);
    checks_free(&sck);
    checks_free(&all);
    if (rc < 0)
        errno = ENOMEM;
    return rc;
}

/* --- the model's entry point -------------------------------------------------------------- */

int reach_check(const struct principal *who, const char *command, const char *path_env,
                struct reach_verdict *v)
{
    memset(v, 0, sizeof(*v));
    struct ctx c = {.who = who,
                    .path_env = path_env ? path_env : REACH_DEFAULT_PATH,
                    .v = v,
                    .protected_symlinks = read_protected_symlinks()};
    if (!command || !*command) {
        v->status = REACH_INVALID;
        copy(v->reason, sizeof(v->reason), "empty command");
        return 0;
    }
    if (strlen(command) >= PATH_MAX) {
        v->status = REACH_INVALID;
        copy(v->reason, sizeof(v->reason), "command longer than PATH_MAX");
        return 0;
    }
    if (command[0] != '/' && strchr(command, '/')) {
        v->status = REACH_INVALID;
        fmt(v->reason, sizeof(v->reason),
            "%s: a relative path (resolved from the caller's working directory, which is not "
            "known for WP-cron): use an absolute path or a bare name",
            command);
        return 0;
    }
    struct res *r = malloc(sizeof(*r));
    struct checks ck = {0};
    if (!r)
        goto nomem;
    int e = command[0] == '/' ? exec_check(&c, command, 0, 0, r, &ck)
                              : search_path(&c, command, 0, 0, r, &ck);
    if (e < 0)
        goto nomem;
    v->status = r->status;
    if (r->exists)
        copy(v->resolved, sizeof(v->resolved), r->resolved);
    copy(v->interpreter, sizeof(v->interpreter), r->interp);
    copy(v->env_command, sizeof(v->env_command), r->envcmd);
    if (r->status != REACH_OK) {
        copy(v->blocked_at, sizeof(v->blocked_at), r->blocked_at);
        copy(v->reason, sizeof(v->reason), r->reason);
    }
    v->checks = ck.a;
    v->nchecks = ck.n;
    free(r);
    return 0;
nomem:
    free(r);
    checks_free(&ck);
    reach_verdict_free(v);
    errno = ENOMEM;
    return -1;
}

/* --- the kernel's answer ------------------------------------------------------------------ */

/* What the child reports through its pipe. */
struct kanswer {
    int setup_err; /* errno of setgroups/setresgid/setresuid/capset, else 0 */
    int failed;    /* index of the first failing check (run), -1 when all pass */
    int err;       /* its errno */
    int which;     /* blocked prefix found in 0: path, 1: resolved */
    int plen;      /* length of that prefix, -1 when none (the file itself) */
};

static long raw_setgroups(size_t n, const gid_t *g)
{
#ifdef SYS_setgroups32
    return syscall(SYS_setgroups32, n, g);
#else
    return syscall(SYS_setgroups, n, g);
#endif
}

static long raw_setresgid(gid_t g)
{
#ifdef SYS_setresgid32
    return syscall(SYS_setresgid32, g, g, g);
#else
    return syscall(SYS_setresgid, g, g, g);
#endif
}

static long raw_setresuid(uid_t u)
{
#ifdef SYS_setresuid32
    return syscall(SYS_setresuid32, u, u, u);
#else
    return syscall(SYS_setresuid, u, u, u);
#endif
}

/* One check as WHO (in the child). Returns 0 or the errno. */
static int kernel_try(const struct reach_access *a)
{
    struct stat st;
    if (!a->path[0])
        return ENOENT;
    if (a->mode & X_OK) { /* execve refuses what is not a regular file */
        if (stat(a->path, &st) < 0)
            return errno;
        if (!S_ISREG(st.st_mode))
            return EACCES;
    }
    return access(a->path, a->mode) < 0 ? errno : 0;
}

/* The first prefix of S (the child's private copy) that WHO cannot search. Returns its
 * length, or -1. */
static int kernel_probe(char *s)
{
    for (int k = 1; s[k]; k++) {
        if (s[k] != '/')
            continue;
        s[k] = '\0';
        int bad = access(s, X_OK) < 0;
        s[k] = '/';
        if (bad)
            return k;
    }
    return -1;
}

/* The child: become WHO, replay V's checks, write a struct kanswer to FD, exit. Only system
 * calls: the parent may have other threads. */
__attribute__((noreturn)) static void kernel_child(const struct principal *who,
                                                   struct reach_verdict *v, int fd)
{
    struct kanswer a = {.failed = -1, .plen = -1};
    if (raw_setgroups(who->ngroups, who->groups) < 0 || raw_setresgid(who->gid) < 0 ||
        raw_setresuid(who->uid) < 0) {
        a.setup_err = errno;
        goto out;
    }
    if (who->uid != 0) { /* no capability may survive (SECBIT_KEEP_CAPS, ambient) */
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2] = {{0}};
        if (syscall(SYS_capset, &h, d) < 0) {
            a.setup_err = errno;
            goto out;
        }
    }
    for (size_t i = 0; i < v->nchecks;) {
        size_t end = i + 1;
        while (end < v->nchecks && v->checks[end].alt)
            end++;
        int first = 0;
        bool pass = false;
        for (size_t j = i; j < end && !pass; j++) {
            int e = kernel_try(&v->checks[j]);
            if (!e)
                pass = true;
            else if (j == i)
                first = e;
        }
        if (!pass) {
            a.failed = (int)i;
            a.err = first;
            if ((a.plen = kernel_probe(v->checks[i].path)) < 0 && v->checks[i].resolved[0]) {
                a.which = 1;
                a.plen = kernel_probe(v->checks[i].resolved);
            }
            break;
        }
        i = end;
    }
out:
    _exit(write(fd, &a, sizeof(a)) == (ssize_t)sizeof(a) ? 0 : 1);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Apply the kernel's answer A to V (see reach_kernel_confirm). */
static void kernel_apply(const struct principal *who, struct reach_verdict *v,
                         const struct kanswer *a)
{
    v->kernel_checked = true;
    bool kernel_ok = a->failed < 0, model_ok = v->status == REACH_OK;
    if (v->status == REACH_INVALID || kernel_ok == model_ok)
        return;

    char old[REASON_MAX], oldat[PATH_MAX];
    copy(old, sizeof(old), v->reason);
    copy(oldat, sizeof(oldat), v->blocked_at);
    const char *me = who_name(who), *was = reach_status_name(v->status);
    if (kernel_ok) {
        v->status = REACH_OK;
        v->blocked_at[0] = '\0';
        fmt(v->reason, sizeof(v->reason),
            "kernel says %s may execute it (every access(2) check passes); model said %s%s%s: "
            "%s",
            me, was, oldat[0] ? " at " : "", oldat, old);
    } else {
        const struct reach_access *c = &v->checks[a->failed];
        const char *s = a->which ? c->resolved : c->path;
        if (a->plen >= 0 && (size_t)a->plen < sizeof(v->blocked_at)) {
            memcpy(v->blocked_at, s, (size_t)a->plen);
            v->blocked_at[a->plen] = '\0';
        } else {
            copy(v->blocked_at, sizeof(v->blocked_at), c->resolved[0] ? c->resolved : c->path);
        }
        v->status = REACH_DENIED;
        fmt(v->reason, sizeof(v->reason),
            "kernel says access(%s, %s) as %s fails: %s (at %s); model said %s", c->path,
            c->mode == R_OK ? "R_OK" : "X_OK", me, strerror(a->err), v->blocked_at, was);
    }
    v->kernel_disagreed = true;
}

_Static_assert(sizeof(((struct reach_kjob *)0)->answer) == sizeof(struct kanswer),
               "reach_kjob.answer holds one struct kanswer");

int reach_kernel_start(const struct principal *who, const struct reach_verdict *v,
                       struct reach_kjob *job)
{
    job->pid = -1;
    job->fd = -1;
    job->got = 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the child runs no handler */
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        kernel_child(who, (struct reach_verdict *)v, fds[1]);
    }
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        errno = err;
        return -1;
    }
    job->pid = pid;
    job->fd = fds[0];
    return 0;
}

/* Kill (when KILL_IT) and reap JOB's child, close its pipe. A child already reaped elsewhere
 * (libev's default loop reaps every child on SIGCHLD) is no error. A killed child is waited for
 * 50 ms at most (one stuck in the kernel is left to whoever reaps later). */
static void kjob_end(struct reach_kjob *job, bool kill_it)
{
    if (job->pid > 0 && !kill_it) {
        while (waitpid(job->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    } else if (job->pid > 0) {
        kill(job->pid, SIGKILL);
        for (int i = 0; i < 50 && waitpid(job->pid, NULL, WNOHANG) == 0; i++) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    }
    if (job->fd >= 0)
        close(job->fd);
    job->pid = -1;
    job->fd = -1;
}

int reach_kernel_finish(const struct principal *who, struct reach_verdict *v,
                        struct reach_kjob *job)
{
    for (;;) {
        ssize_t k = read(job->fd, job->answer + job->got, sizeof(job->answer) - job->got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return -1; /* not all of it yet: the caller polls again */
        if (k <= 0 || (job->got += (size_t)k) == sizeof(struct kanswer))
            break;
    }
    int err = 0;
    struct kanswer a;
    if (job->got == sizeof(a))
        memcpy(&a, job->answer, sizeof(a));
    else
        err = EIO; /* the child died without answering */
    kjob_end(job, err != 0);
    if (!err && a.setup_err)
        err = a.setup_err;
    if (err) {
        errno = err;
        return -2;
    }
    kernel_apply(who, v, &a);
    return 0;
}

void reach_kernel_abort(struct reach_kjob *job)
{
    kjob_end(job, true);
}

int reach_kernel_confirm(const struct principal *who, struct reach_verdict *v)
{
    if (!v->nchecks)
        return 0;
    struct reach_kjob job;
    if (reach_kernel_start(who, v, &job) < 0)
        return -1;
    long deadline = now_ms() + REACH_KERNEL_TIMEOUT_MS;
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0) {
            reach_kernel_abort(&job);
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = job.fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR) {
            int e = errno;
            reach_kernel_abort(&job);
            errno = e;
            return -1;
        }
        if (n <= 0)
            continue;
        int rc = reach_kernel_finish(who, v, &job);
        if (rc == 0)
            return 0;
        if (rc == -2)
            return -1;
    }
}

int reach_readable(const struct principal *who, const char *path, const struct stat *st)
{
    char why[16]; /* the reason is not wanted: cut */
    return perm(who, path, st, P_R, why, sizeof(why));
}

int reach_verdict_copy(struct reach_verdict *dst, const struct reach_verdict *src)
{
    *dst = *src;
    dst->watch = NULL;
    dst->nwatch = 0;
    dst->checks = NULL;
    dst->nchecks = 0;
    if (src->nwatch && !(dst->watch = calloc(src->nwatch, sizeof(*dst->watch))))
        goto nomem;
    for (; dst->nwatch < src->nwatch; dst->nwatch++)
        if (!(dst->watch[dst->nwatch] = strdup(src->watch[dst->nwatch])))
            goto nomem;
    if (src->nchecks && !(dst->checks = calloc(src->nchecks, sizeof(*dst->checks))))
        goto nomem;
    for (; dst->nchecks < src->nchecks; dst->nchecks++) {
        struct reach_access *d = &dst->checks[dst->nchecks];
        const struct reach_access *a = &src->checks[dst->nchecks];
        *d = *a;
        d->path = strdup(a->path);
        d->resolved = strdup(a->resolved);
        if (!d->path || !d->resolved) {
            free(d->path);
            free(d->resolved);
            goto nomem;
        }
    }
    return 0;
nomem:
    reach_verdict_free(dst);
    errno = ENOMEM;
    return -1;
}

void reach_verdict_free(struct reach_verdict *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nwatch; i++)
        free(v->watch[i]);
    free(v->watch);
    for (size_t i = 0; i < v->nchecks; i++) {
        free(v->checks[i].path);
        free(v->checks[i].resolved);
    }
    free(v->checks);
    v->watch = NULL;
    v->nwatch = 0;
    v->checks = NULL;
    v->nchecks = 0;
}

const char *reach_status_name(enum reach_status s)
{
    switch (s) {
    case REACH_OK:
        return "ok";
    case REACH_DENIED:
        return "denied";
    case REACH_MISSING:
        return "missing";
    case REACH_LOOP:
        return "loop";
    case REACH_NOEXEC:
        return "noexec";
    case REACH_INVALID:
        return "invalid";
    }
    return "invalid";
}
