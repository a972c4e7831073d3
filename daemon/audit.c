/* audit: scan + policy. The visitor does no allocation on the common path (no finding). */
#include "audit.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "policy.h"
#include "permacl.h"

struct audit_ctx {
    const struct config *c;
    scan_mount_fn mount;
    audit_sink_fn sink;
    void *sink_ctx;
    struct audit_result *res;
    pthread_mutex_t *sink_lock; /* one sink for every thread of the walk */
    char **deep;                /* the result's too_deep, under sink_lock */
    char *abspath;
    size_t abscap;
};

/* Append the lexically normalized components of SRC to DST (which holds a normalized
 * absolute path of length *n, "" for "/"). Returns 0, or -1 with errno EINVAL ('..') or
 * ENAMETOOLONG. */
static int append_components(char *dst, size_t *n, size_t cap, const char *src)
{
    const char *s = src;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 1 && s[0] == '.') {
            s += len;
            continue;
        }
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            errno = EINVAL;
            return -1;
        }
        if (*n + 1 + len + 1 > cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        dst[(*n)++] = '/';
        memcpy(dst + *n, s, len);
        *n += len;
        dst[*n] = '\0';
        s += len;
    }
    return 0;
}

int audit_subpath(const char *site_root, const char *arg, char *buf, size_t len)
{
    char full[PATH_MAX];
    size_t n = 0;
    full[0] = '\0';
    if (arg[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return -1;
        if (append_components(full, &n, sizeof(full), cwd) < 0)
            return -1;
    }
    if (append_components(full, &n, sizeof(full), arg) < 0)
        return -1;
    size_t rl = strlen(site_root);
    if (strncmp(full, site_root, rl) != 0 || (full[rl] != '\0' && full[rl] != '/')) {
        errno = EXDEV;
        return -1;
    }
    const char *rel = full[rl] == '/' ? full + rl + 1 : full + rl;
    if (strlen(rel) + 1 > len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, rel);
    return 0;
}

const char *audit_abspath(const struct config *c, const char *relpath, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%s%s", c->site_root, *relpath ? "/" : "", relpath);
    return n < 0 || (size_t)n >= len ? NULL : buf;
}

size_t audit_evaluate(const struct config *c, const struct rule *r, int dirfd, const char *name,
                      const struct stat *st, struct finding *out)
{
    struct perm_acl acl = {.mask = -1};
    bool have_acl = policy_needs_acl(r, st) && permacl_read_at(dirfd, name, &acl) == 1;
    struct policy_subjects who = {
        .web = &c->web,
        .writers = c->writers,
        .nwriters = c->nwriters,
        .acl = have_acl ? &acl : NULL,
        .user_name = account_user_name,
        .group_name = account_group_name,
    };
    size_t n = policy_check(r, &who, st, out);
    if (have_acl)
        permacl_free(&acl);
    return n;
}

static enum scan_verdict audit_visit(void *arg, const struct scan_entry *e)
{
    struct audit_ctx *a = arg;
    const struct rule *r = policy_match(a->c, e->relpath);
    if (!r)
        return SCAN_CONTINUE;
    if (r->ignore) {
        a->res->ignored++;
        return SCAN_SKIP;
    }
    struct finding f[FINDING_KIND_COUNT];
    size_t n = audit_evaluate(a->c, r, e->dirfd, e->name, e->st, f);
    if (!n)
        return SCAN_CONTINUE;

    size_t need = strlen(a->c->site_root) + 1 + e->relpath_len + 1;
    if (need > a->abscap) {
        char *p = realloc(a->abspath, need * 2);
        if (!p) {
            a->res->scan.errors++;
            return SCAN_CONTINUE;
        }
        a->abspath = p;
        a->abscap = need * 2;
    }
    audit_abspath(a->c, e->relpath, a->abspath, a->abscap);
    pthread_mutex_lock(a->sink_lock);
    for (size_t i = 0; i < n; i++) {
        f[i].path = a->abspath;
        f[i].owner = account_user_name(f[i].uid);
        f[i].group = account_group_name(f[i].gid);
        a->res->by_kind[f[i].kind]++;
        a->res->findings++;
        a->sink(a->sink_ctx, &f[i]);
    }
    pthread_mutex_unlock(a->sink_lock);
    return SCAN_CONTINUE;
}

/* scan mount hook: hand the skipped mount point to the caller's hook with its context. */
static void audit_on_mount(void *arg, const char *relpath, const struct stat *st)
{
    struct audit_ctx *a = arg;
    pthread_mutex_lock(a->sink_lock);
    a->mount(a->sink_ctx, relpath, st);
    pthread_mutex_unlock(a->sink_lock);
}

/* scan too_deep hook: remember the first directory at the depth cap in the result. */
static void audit_on_deep(void *arg, const char *relpath, const struct stat *st)
{
    struct audit_ctx *a = arg;
    pthread_mutex_lock(a->sink_lock);
    if (!*a->deep)
        *a->deep = strdup(relpath);
    pthread_mutex_unlock(a->sink_lock);
}

bool audit_ancestor_ignored(const struct config *c, const char *relpath)
{
    char buf[PATH_MAX];
    size_t n = strlen(relpath);
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, relpath, n + 1);
    const struct rule *r = policy_match(c, "");
    if (r && r->ignore && *relpath)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        r = policy_match(c, buf);
        buf[i] = '/';
        if (r && r->ignore)
            return true;
    }
    return false;
}

int audit_run(const struct config *c, int root_fd, const char *subpath, audit_sink_fn sink,
              scan_mount_fn mount, void *ctx, struct audit_result *res)
{
    struct audit_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    if (audit_ancestor_ignored(c, subpath)) {
        res->ignored++;
        return 0;
    }
    unsigned threads = config_scan_threads(c);
    struct audit_ctx *a = calloc(threads, sizeof(*a));
    struct audit_result *part = calloc(threads, sizeof(*part));
    struct scan_hooks *h = calloc(threads, sizeof(*h));
    if (!a || !part || !h) {
        free(a);
        free(part);
        free(h);
        return errno = ENOMEM, -1;
    }
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    for (unsigned i = 0; i < threads; i++) {
        a[i] = (struct audit_ctx){.c = c,
                                  .mount = mount,
                                  .sink = sink,
                                  .sink_ctx = ctx,
                                  .res = i ? &part[i] : res,
                                  .sink_lock = &lock,
                                  .deep = &res->too_deep};
        h[i] = (struct scan_hooks){.visit = audit_visit,
                                   .mount = mount ? audit_on_mount : NULL,
                                   .ctx = &a[i],
                                   .too_deep = audit_on_deep};
    }
    int rc = scan_run_parallel(root_fd, subpath, h, threads, &res->scan);
    int e = errno;
    for (unsigned i = 0; i < threads; i++) {
        if (i) {
            res->findings += part[i].findings;
            res->ignored += part[i].ignored;
            for (size_t k = 0; k < FINDING_KIND_COUNT; k++)
                res->by_kind[k] += part[i].by_kind[k];
        }
        free(a[i].abspath);
    }
    free(a);
    free(part);
    free(h);
    if (res == &dummy)
        free(dummy.too_deep);
    errno = e;
    return rc;
}
