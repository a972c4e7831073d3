/* account: users and groups of this host through NSS, with a small display-name cache. */
#include "account.h"

#include <errno.h>
#include <pthread.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a decimal id (no sign, no blanks, below 2^32-1). Returns 0 or -1. */
static int parse_id(const char *s, unsigned long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v >= UINT_MAX)
        return -1;
    *out = v;
    return 0;
}

static bool looks_numeric(const char *s)
{
    return *s >= '0' && *s <= '9';
}

/* getpwnam_r/getpwuid_r into a growing buffer. Returns a malloc'd buffer holding *pw's
 * strings (caller frees), or NULL with errno ENOENT or ENOMEM. */
static char *passwd_get(const char *name, uid_t uid, struct passwd *pw)
{
    size_t len = 1024;
    for (;;) {
        char *buf = malloc(len);
        if (!buf)
            return NULL;
        struct passwd *res = NULL;
        int rc = name ? getpwnam_r(name, pw, buf, len, &res) : getpwuid_r(uid, pw, buf, len, &res);
        if (rc == 0 && res)
            return buf;
        free(buf);
        if (rc != ERANGE || len > (1 << 20)) {
            errno = rc && rc != ERANGE ? rc : ENOENT;
            if (errno == ESRCH || errno == EBADF || errno == EPERM)
                errno = ENOENT;
            return NULL;
        }
        len *= 4;
    }
}

/* getgrnam_r/getgrgid_r into a growing buffer, as passwd_get. */
static char *group_get(const char *name, gid_t gid, struct group *gr)
{
    size_t len = 1024;
    for (;;) {
        char *buf = malloc(len);
        if (!buf)
            return NULL;
        struct group *res = NULL;
        int rc = name ? getgrnam_r(name, gr, buf, len, &res) : getgrgid_r(gid, gr, buf, len, &res);
        if (rc == 0 && res)
            return buf;
        free(buf);
        if (rc != ERANGE || len > (1 << 22)) {
            errno = rc && rc != ERANGE ? rc : ENOENT;
            if (errno == ESRCH || errno == EBADF || errno == EPERM)
                errno = ENOENT;
            return NULL;
        }
        len *= 4;
    }
}

int account_user_lookup(const char *name_or_id, uid_t *uid, gid_t *gid)
{
    struct passwd pw;
    unsigned long id;
    if (!name_or_id || !*name_or_id) {
        errno = EINVAL;
        return -1;
    }
    if (looks_numeric(name_or_id)) {
        if (parse_id(name_or_id, &id) < 0) {
            errno = EINVAL;
            return -1;
        }
        *uid = (uid_t)id;
        char *buf = passwd_get(NULL, (uid_t)id, &pw);
        if (gid)
            *gid = buf ? pw.pw_gid : (gid_t)-1;
        free(buf);
        return 0;
    }
    char *buf = passwd_get(name_or_id, 0, &pw);
    if (!buf)
        return -1;
    *uid = pw.pw_uid;
    if (gid)
        *gid = pw.pw_gid;
    free(buf);
    return 0;
}

int account_group_lookup(const char *name_or_id, gid_t *gid)
{
    struct group gr;
    unsigned long id;
    if (!name_or_id || !*name_or_id) {
        errno = EINVAL;
        return -1;
    }
    if (looks_numeric(name_or_id)) {
        if (parse_id(name_or_id, &id) < 0) {
            errno = EINVAL;
            return -1;
        }
        *gid = (gid_t)id;
        return 0;
    }
    char *buf = group_get(name_or_id, 0, &gr);
    if (!buf)
        return -1;
    *gid = gr.gr_gid;
    free(buf);
    return 0;
}

int account_principal_load(const char *name, struct principal *p)
{
    struct passwd pw;
    unsigned long id;
    char *buf;

    memset(p, 0, sizeof(*p));
    if (!name || !*name) {
        errno = EINVAL;
        return -1;
    }
    if (looks_numeric(name)) {
        if (parse_id(name, &id) < 0) {
            errno = EINVAL;
            return -1;
        }
        buf = passwd_get(NULL, (uid_t)id, &pw);
    } else {
        buf = passwd_get(name, 0, &pw);
    }
    if (!buf)
        return -1;

    int n = 16;
    gid_t *groups = NULL;
    for (;;) {
        gid_t *g = realloc(groups, (size_t)n * sizeof(*g));
        if (!g)
            goto nomem;
        groups = g;
        int want = n;
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &want) >= 0) {
            n = want;
            break;
        }
        if (want <= n) /* glibc reports the needed size in want */
            want = n * 2;
        n = want;
    }
    p->name = strdup(pw.pw_name);
    if (!p->name)
        goto nomem;
    p->uid = pw.pw_uid;
    p->gid = pw.pw_gid;
    p->groups = groups;
    p->ngroups = (size_t)n;
    free(buf);
    return 0;
nomem:
    free(groups);
    free(buf);
    memset(p, 0, sizeof(*p));
    errno = ENOMEM;
    return -1;
}

void account_principal_free(struct principal *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->groups);
    memset(p, 0, sizeof(*p));
}

bool account_principal_in_group(const struct principal *p, gid_t gid)
{
    if (p->gid == gid)
        return true;
    for (size_t i = 0; i < p->ngroups; i++)
        if (p->groups[i] == gid)
            return true;
    return false;
}

/* Display-name cache: few distinct owners exist on a host, so a linear array suffices. */
struct name_entry {
    bool is_group;
    unsigned id;
    char *name;
};
static struct name_entry *cache;
static size_t cache_len, cache_cap;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER; /* walks run on several threads */

static const char *cache_lookup_locked(bool is_group, unsigned id)
{
    for (size_t i = 0; i < cache_len; i++)
        if (cache[i].is_group == is_group && cache[i].id == id)
            return cache[i].name;

    char *name = NULL;
    if (is_group) {
        struct group gr;
        char *buf = group_get(NULL, (gid_t)id, &gr);
        if (buf)
            name = strdup(gr.gr_name);
        free(buf);
    } else {
        struct passwd pw;
        char *buf = passwd_get(NULL, (uid_t)id, &pw);
        if (buf)
            name = strdup(pw.pw_name);
        free(buf);
    }
    if (!name && asprintf(&name, "%u", id) < 0)
        return "?";
    if (cache_len == cache_cap) {
        size_t cap = cache_cap ? cache_cap * 2 : 16;
        struct name_entry *c = realloc(cache, cap * sizeof(*c));
        if (!c) {
            free(name);
            return "?";
        }
        cache = c;
        cache_cap = cap;
    }
    cache[cache_len++] = (struct name_entry){is_group, id, name};
    return name;
}

/* The cached name of ID; the string lives until account_cache_clear. */
static const char *cache_lookup(bool is_group, unsigned id)
{
    pthread_mutex_lock(&cache_lock);
    const char *name = cache_lookup_locked(is_group, id);
    pthread_mutex_unlock(&cache_lock);
    return name;
}

const char *account_user_name(uid_t uid)
{
    return cache_lookup(false, (unsigned)uid);
}

const char *account_group_name(gid_t gid)
{
    return cache_lookup(true, (unsigned)gid);
}

void account_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cache_len; i++)
        free(cache[i].name);
    free(cache);
    cache = NULL;
    cache_len = cache_cap = 0;
    pthread_mutex_unlock(&cache_lock);
}
