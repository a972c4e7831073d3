/* config: load, validate and print the INI policy.
 *
 * Parsing goes through inih (Debian 12 libinih 55: no line numbers in the handler, 200-byte
 * line buffer, multi-line values, `;` inline comments). The whole file is read into memory
 * and fed to ini_parse_stream through our own reader, which
 *   - counts lines, so the handler (called right after its line was read) knows its line;
 *   - strips leading blanks, so an indented `key = v` is a key, never a continuation of the
 *     previous value (inih's multi-line values are thereby off);
 *   - rejects lines longer than inih's buffer instead of letting inih split them;
 *   - parses `[section]` lines itself, since inih never reports an empty section.
 * inih's own syntax errors (no `=`, no `]`) come back as its return value.
 *
 * Policy decisions:
 *   - The first error stops loading; the reported error is the one with the lowest line.
 *   - [site], [daemon] and [dispatch] may each appear once; a repeat is an error, as is a
 *     repeated rule name or a single-valued key given twice in one section.
 *   - `match` and `command` are repeatable (one value per line, commas are literal);
 *     owner/group are comma lists of names or numeric ids.
 *   - A rule with `ignore = yes` takes only `match` and `ignore`: any other key is a
 *     contradiction and an error.
 *   - Section names and keys are case-sensitive. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "glob.h"
#include "parse.h"
#include "scan.h"

#define MAX_FILE_SIZE (1024 * 1024)
#define STRING_NAME   "<string>"
/* Longest line inih reads whole: its buffer less the NUL. */
#define MAX_LINE_CHARS (INI_MAX_LINE - 1)

enum section_kind { SEC_NONE, SEC_SITE, SEC_DAEMON, SEC_DISPATCH, SEC_RULE };

enum key_id {
    K_ROOT,
    K_WEB_USER,
    K_CONTROL_SOCKET,
    K_CONTROL_GROUP,
    K_RESCAN_INTERVAL,
    K_DEGRADED_RESCAN_INTERVAL,
    K_MAX_FINDINGS,
    K_LOG_BURST,
    K_LOG_INTERVAL,
    K_CHANNELS_FILE,
    K_COMMAND,
    K_PATH,
    K_MATCH,
    K_OWNER,
    K_GROUP,
    K_FILE_REQUIRE,
    K_FILE_FORBID,
    K_DIR_REQUIRE,
    K_DIR_FORBID,
    K_WEB_READABLE,
    K_IGNORE,
    K_REPAIR,
    K_MAX_FINDINGS_MEMORY,
    K_WRITERS,
    K_WRITABLE,
    K_REPAIR_EXISTING,
    K_SCAN_THREADS,
    K_PHP,
    K_BACKEND,
    K_MAX_WATCHED_DIRS,
    K_COUNT
};

struct loader;
/* Apply VALUE for the key at the current line. Returns 0, or -1 after recording an error. */
typedef int (*key_setter)(struct loader *L, enum key_id id, const char *value);

struct key_def {
    enum section_kind section;
    enum key_id id;
    const char *name;
    bool repeatable;
    key_setter set;
};

struct loader {
    struct config *c;
    struct config_error *err;
    bool failed;
    int err_errno;

    const char *pos, *end; /* unread input */
    unsigned lineno;       /* line last handed to inih */

    enum section_kind sect;
    unsigned sect_line;
    unsigned site_line, daemon_line, dispatch_line; /* header lines, 0 = not seen */
    unsigned key_line[K_COUNT];                     /* in the current section, 0 = not seen */
    bool web_loaded;
    bool writers_loaded;
};

static const char *const section_names[] = {"", "site", "daemon", "dispatch", "rule"};

/* ---- errors -------------------------------------------------------------------------- */

/* "[site]" label of the current section into BUF ("" outside sections). */
static const char *section_label(const struct loader *L, char *buf, size_t len)
{
    if (L->sect == SEC_RULE && L->c->nrules)
        snprintf(buf, len, "rule %s", L->c->rules[L->c->nrules - 1].name);
    else
        snprintf(buf, len, "%s", section_names[L->sect]);
    return buf;
}

/* Record the first error: LINE, SECTION (NULL: the current one), KEY ("" for none). */
__attribute__((format(printf, 5, 0))) static int fail_v(struct loader *L, unsigned line,
                                                        const char *section, const char *key,
                                                        const char *fmt, va_list ap)
{
    struct config_error *e = L->err;
    if (L->failed)
        return -1;
    L->failed = true;
    L->err_errno = EINVAL;
    e->line = line;
    if (section)
        snprintf(e->section, sizeof(e->section), "%s", section);
    else
        section_label(L, e->section, sizeof(e->section));
    snprintf(e->key, sizeof(e->key), "%s", key ? key : "");
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    return -1;
}

/* Error about KEY at the current line and section. Returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(struct loader *L, const char *key,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(L, L->lineno, NULL, key, fmt, ap);
    va_end(ap);
    return -1;
}

/* Error at LINE in SECTION (NULL: the current one) about KEY. Returns -1. */
__attribute__((format(printf, 5, 6))) static int
fail_at(struct loader *L, unsigned line, const char *section, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(L, line, section, key, fmt, ap);
    va_end(ap);
    return -1;
}

/* Out of memory while loading. Returns -1. */
static int fail_nomem(struct loader *L)
{
    if (!L->failed) {
        fail(L, "", "out of memory");
        L->err_errno = ENOMEM;
    }
    return -1;
}

/* ---- small helpers ------------------------------------------------------------------- */

/* The rule being read: the last one (only valid in a [rule] section). */
static struct rule *cur_rule(struct loader *L)
{
    return &L->c->rules[L->c->nrules - 1];
}

/* Set *dst to a copy of S (freeing the old value). Returns 0 or -1 (out of memory). */
static int set_str(struct loader *L, char **dst, const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        return fail_nomem(L);
    free(*dst);
    *dst = copy;
    return 0;
}

/* Append a copy of S to the array *ARR of *N strings. Returns 0 or -1 (out of memory). */
static int push_str(struct loader *L, char ***arr, size_t *n, const char *s)
{
    char **a = realloc(*arr, (*n + 1) * sizeof(*a));
    if (!a)
        return fail_nomem(L);
    *arr = a;
    a[*n] = strdup(s);
    if (!a[*n])
        return fail_nomem(L);
    (*n)++;
    return 0;
}

/* Why P is not a normalized path (empty, '.' or '..' component, '//', trailing '/'), or NULL
 * when it is one. ABSOLUTE: it must also start with '/'. */
static const char *path_problem(const char *p, bool absolute)
{
    if (!*p)
        return "empty path";
    if (absolute && *p != '/')
        return "not an absolute path";
    for (const char *c = *p == '/' ? p + 1 : p;;) {
        const char *e = strchrnul(c, '/');
        size_t n = (size_t)(e - c);
        if (n == 0)
            return *e ? "empty component ('//')" : "trailing '/'";
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return "'.' and '..' components are not allowed";
        if (!*e)
            return NULL;
        c = e + 1;
    }
}

/* ---- [site] -------------------------------------------------------------------------- */

/* [site] root: absolute and normalized, not "/"; one trailing '/' is stripped. */
static int set_root(struct loader *L, enum key_id id, const char *value)
{
    size_t n = strlen(value);
    if (*value != '/')
        return fail(L, "root", "expected an absolute path such as /var/www/example.com, got '%s'",
                    value);
    if (n > 1 && value[n - 1] == '/' && value[n - 2] != '/' &&
        !isspace((unsigned char)value[n - 2]))
        n--; /* one trailing '/' is tolerated and stripped (not to a trailing blank, which
              * config_print could not write back: inih strips it) */
    if (n == 1)
        return fail(L, "root", "must not be '/': name the site's directory");
    char *root = strndup(value, n);
    if (!root)
        return fail_nomem(L);
    const char *why = path_problem(root, true);
    if (why) {
        free(root);
        return fail(L, "root", "expected a normalized absolute path (%s), got '%s'", why, value);
    }
    free(L->c->site_root);
    L->c->site_root = root;
    return 0;
}

/* Resolve the user NAME of [site] KEY into *P (all its groups); errors blame LINE and append
 * NOTE to the name. Returns 0 or -1 (error recorded, *P untouched). */
static int load_user(struct loader *L, const char *key, const char *name, unsigned line,
                     const char *note, struct principal *p)
{
    if (account_principal_load(name, p) == 0)
        return 0;
    int e = errno;
    if (e == ENOMEM)
        return fail_nomem(L);
    if (e == ENOENT)
        return fail_at(L, line, "site", key, "user '%s'%s does not exist on this host", name, note);
    if (e == EINVAL)
        return fail_at(L, line, "site", key, "expected a user name or numeric uid, got '%s'", name);
    return fail_at(L, line, "site", key, "cannot look up user '%s': %s", name, strerror(e));
}

/* Resolve NAME as the web user into L->c->web; errors blame LINE and append NOTE to the name.
 * Returns 0 or -1 (error recorded). */
static int load_web_user(struct loader *L, const char *name, unsigned line, const char *note)
{
    struct principal p;
    if (load_user(L, "web_user", name, line, note, &p) < 0)
        return -1;
    account_principal_free(&L->c->web);
    L->c->web = p;
    L->web_loaded = true;
    return set_str(L, &L->c->web_user, name);
}

/* [site] web_user: a user name or uid of this host, loaded with all its groups. */
static int set_web_user(struct loader *L, enum key_id id, const char *value)
{
    return load_web_user(L, value, L->lineno, "");
}

/* Free the writers of C. */
static void free_writers(struct config *c)
{
    for (size_t i = 0; i < c->nwriters; i++)
        account_principal_free(&c->writers[i]);
    free(c->writers);
    c->writers = NULL;
    c->nwriters = 0;
}

/* Append the user NAME (resolved like web_user) to the writers; errors blame LINE, key
 * writers, and append NOTE to the name. Returns 0 or -1 (error recorded). */
static int add_writer(struct loader *L, const char *name, unsigned line, const char *note)
{
    struct config *c = L->c;
    struct principal p;
    if (load_user(L, "writers", name, line, note, &p) < 0)
        return -1;
    for (size_t i = 0; i < c->nwriters; i++) {
        if (c->writers[i].uid == p.uid) {
            account_principal_free(&p);
            return fail_at(L, line, "site", "writers", "'%s' and '%s' are the same user (%u)",
                           c->writers[i].name, name, (unsigned)c->writers[i].uid);
        }
    }
    char *as_written = strdup(name);
    struct principal *w = realloc(c->writers, (c->nwriters + 1) * sizeof(*w));
    if (!as_written || !w) {
        free(as_written);
        account_principal_free(&p);
        if (w)
            c->writers = w;
        return fail_nomem(L);
    }
    free(p.name);
    p.name = as_written;
    c->writers = w;
    c->writers[c->nwriters++] = p;
    return 0;
}

/* [site] writers: a comma list of user names or uids, each loaded with all its groups. */
static int set_writers(struct loader *L, enum key_id id, const char *value)
{
    int max = 1;
    for (const char *p = value; *p; p++)
        max += *p == ',';
    char *copy = strdup(value);
    char **items = calloc((size_t)max, sizeof(*items));
    int rc = -1;
    if (!copy || !items) {
        fail_nomem(L);
        goto out;
    }
    int n = parse_list(copy, items, max);
    if (n <= 0) {
        fail(L, "writers",
             "expected a comma-separated list of user names or numeric uids, got '%s'", value);
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (add_writer(L, items[i], L->lineno, "") < 0)
            goto out;
    L->writers_loaded = true;
    rc = 0;
out:
    free(items);
    free(copy);
    return rc;
}

/* ---- [daemon] ------------------------------------------------------------------------ */

/* [daemon] control_socket: a normalized absolute path that fits a sockaddr_un. */
static int set_control_socket(struct loader *L, enum key_id id, const char *value)
{
    const size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    const char *why = path_problem(value, true);
    if (why)
        return fail(L, "control_socket",
                    "expected a normalized absolute path such as %s (%s), got '%s'",
                    CONFIG_DEFAULT_SOCKET, why, value);
    if (strlen(value) > max)
        return fail(L, "control_socket", "too long for a unix socket (max %zu bytes): '%s'", max,
                    value);
    L->c->control_socket_set = true;
    return set_str(L, &L->c->control_socket, value);
}

/* Resolve a group name or gid for KEY. Returns 0 or -1 (error recorded). */
static int resolve_group(struct loader *L, const char *key, const char *name, gid_t *gid)
{
    if (account_group_lookup(name, gid) == 0)
        return 0;
    int e = errno;
    if (e == ENOMEM)
        return fail_nomem(L);
    if (e == ENOENT)
        return fail(L, key, "group '%s' does not exist on this host", name);
    if (e == EINVAL)
        return fail(L, key, "expected a group name or numeric gid, got '%s'", name);
    return fail(L, key, "cannot look up group '%s': %s", name, strerror(e));
}

/* Resolve a user name or uid for KEY. Returns 0 or -1 (error recorded). */
static int resolve_user(struct loader *L, const char *key, const char *name, uid_t *uid)
{
    if (account_user_lookup(name, uid, NULL) == 0)
        return 0;
    int e = errno;
    if (e == ENOMEM)
        return fail_nomem(L);
    if (e == ENOENT)
        return fail(L, key, "user '%s' does not exist on this host", name);
    if (e == EINVAL)
        return fail(L, key, "expected a user name or numeric uid, got '%s'", name);
    return fail(L, key, "cannot look up user '%s': %s", name, strerror(e));
}

/* [daemon] control_group: a group name or gid; names must exist on this host. */
static int set_control_group(struct loader *L, enum key_id id, const char *value)
{
    gid_t gid;
    if (!*value)
        return fail(L, "control_group",
                    "expected a group name or numeric gid (leave the key out for root only)");
    if (resolve_group(L, "control_group", value, &gid) < 0)
        return -1;
    L->c->control_gid = gid;
    return set_str(L, &L->c->control_group, value);
}

/* [daemon] rescan_interval: a parse_duration value, 0 = off. */
static int set_rescan_interval(struct loader *L, enum key_id id, const char *value)
{
    uint64_t usec;
    if (parse_duration(value, &usec) < 0) {
        if (errno == ERANGE)
            return fail(L, "rescan_interval", "duration too large: '%s'", value);
        return fail(L, "rescan_interval",
                    "expected a duration such as 6h, 30m, 1h30m or 0 (off), got '%s'", value);
    }
    L->c->rescan_interval_usec = usec;
    return 0;
}

static const char *const key_names[K_COUNT] = {
    [K_ROOT] = "root",
    [K_WEB_USER] = "web_user",
    [K_CONTROL_SOCKET] = "control_socket",
    [K_CONTROL_GROUP] = "control_group",
    [K_RESCAN_INTERVAL] = "rescan_interval",
    [K_DEGRADED_RESCAN_INTERVAL] = "degraded_rescan_interval",
    [K_MAX_FINDINGS] = "max_findings",
    [K_LOG_BURST] = "log_burst",
    [K_MAX_FINDINGS_MEMORY] = "max_findings_memory",
    [K_LOG_INTERVAL] = "log_interval",
    [K_CHANNELS_FILE] = "channels_file",
    [K_COMMAND] = "command",
    [K_PATH] = "path",
    [K_PHP] = "php",
    [K_MATCH] = "match",
    [K_OWNER] = "owner",
    [K_GROUP] = "group",
    [K_FILE_REQUIRE] = "file_require",
    [K_FILE_FORBID] = "file_forbid",
    [K_DIR_REQUIRE] = "dir_require",
    [K_DIR_FORBID] = "dir_forbid",
    [K_WEB_READABLE] = "web_readable",
    [K_IGNORE] = "ignore",
    [K_REPAIR] = "repair",
    [K_WRITERS] = "writers",
    [K_WRITABLE] = "writable",
    [K_REPAIR_EXISTING] = "repair_existing",
    [K_SCAN_THREADS] = "scan_threads",
    [K_BACKEND] = "backend",
    [K_MAX_WATCHED_DIRS] = "max_watched_dirs",
};

/* [daemon] degraded_rescan_interval, log_interval: a duration above zero (and at most a
 * day: both are short periodic timers). */
static int set_positive_duration(struct loader *L, enum key_id id, const char *value)
{
    const char *key = key_names[id];
    uint64_t usec;
    if (parse_duration(value, &usec) < 0 || usec == 0 || usec > 86400ULL * 1000000)
        return fail(L, key, "expected a duration from 1s to 1d such as 30s or 5m, got '%s'", value);
    if (id == K_DEGRADED_RESCAN_INTERVAL)
        L->c->degraded_rescan_usec = usec;
    else
        L->c->log_interval_usec = usec;
    return 0;
}

/* [daemon] max_findings, log_burst, max_watched_dirs: a decimal count, 0 = no limit. */
static int set_count(struct loader *L, enum key_id id, const char *value)
{
    const char *key = key_names[id];
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (!*value || *value == '-' || *end || errno || v > 100000000ULL)
        return fail(L, key, "expected a count from 0 (no limit) to 100000000, got '%s'", value);
    if (id == K_MAX_FINDINGS)
        L->c->max_findings = (size_t)v;
    else if (id == K_MAX_WATCHED_DIRS)
        L->c->max_watched_dirs = (size_t)v;
    else
        L->c->log_burst = (unsigned)v;
    return 0;
}

/* [daemon] backend: auto, fanotify or inotify. */
static int set_backend(struct loader *L, enum key_id id, const char *value)
{
    for (int b = 0; b < 3; b++)
        if (strcmp(value, config_backend_name((enum config_backend)b)) == 0) {
            L->c->backend = (enum config_backend)b;
            return 0;
        }
    return fail(L, "backend", "expected auto, fanotify or inotify, got '%s'", value);
}

const char *config_backend_name(enum config_backend b)
{
    return b == CONFIG_BACKEND_FANOTIFY  ? "fanotify"
           : b == CONFIG_BACKEND_INOTIFY ? "inotify"
                                         : "auto";
}

/* [daemon] scan_threads: auto (0: the CPUs this process may run on) or 1..SCAN_MAX_THREADS. */
static int set_scan_threads(struct loader *L, enum key_id id, const char *value)
{
    if (!strcmp(value, "auto")) {
        L->c->scan_threads = 0;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (!*value || *value == '-' || *end || errno || v < 1 || v > SCAN_MAX_THREADS)
        return fail(L, key_names[id], "expected auto or a count from 1 to %d, got '%s'",
                    SCAN_MAX_THREADS, value);
    L->c->scan_threads = (unsigned)v;
    return 0;
}

unsigned config_scan_threads(const struct config *c)
{
    if (c->scan_threads)
        return c->scan_threads;
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
    return n < 1 ? 1 : n > SCAN_MAX_THREADS ? SCAN_MAX_THREADS : (unsigned)n;
}

/* [daemon] repair_existing: yes or no. */
static int set_repair_existing(struct loader *L, enum key_id id, const char *value)
{
    if (parse_bool(value, &L->c->repair_existing) < 0)
        return fail(L, key_names[id], "expected yes or no, got '%s'", value);
    return 0;
}

/* [daemon] max_findings_memory: a size in bytes with an optional K, M or G suffix (powers of
 * 1024), 0 = no limit, else from 1M to 1024G. */
static int set_size(struct loader *L, enum key_id id, const char *value)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    unsigned long long unit = 1;
    if (*end == 'K' || *end == 'k')
        unit = 1ULL << 10;
    else if (*end == 'M' || *end == 'm')
        unit = 1ULL << 20;
    else if (*end == 'G' || *end == 'g')
        unit = 1ULL << 30;
    if (unit > 1)
        end++;
    if (!*value || *value == '-' || *end || errno || v > (1ULL << 40) / unit ||
        (v && v * unit < (1ULL << 20)))
        return fail(L, key_names[id],
                    "expected a size from 1M to 1024G such as 256M, or 0 (no limit), got '%s'",
                    value);
    L->c->max_findings_memory = (size_t)(v * unit);
    return 0;
}

/* ---- [dispatch] ---------------------------------------------------------------------- */

/* [dispatch] channels_file: a normalized path, relative to the site root or absolute. */
static int set_channels_file(struct loader *L, enum key_id id, const char *value)
{
    const char *why = path_problem(value, false);
    if (why)
        return fail(L, "channels_file",
                    "expected a normalized path, relative to the site root or absolute (%s), "
                    "got '%s'",
                    why, value);
    return set_str(L, &L->c->channels_file, value);
}

/* [dispatch] command (repeatable): an absolute path or a bare name resolved through `path`. */
static int set_command(struct loader *L, enum key_id id, const char *value)
{
    if (!*value || (*value != '/' && strchr(value, '/')) || value[strlen(value) - 1] == '/')
        return fail(L, "command", "expected an absolute path or a bare command name, got '%s'",
                    value);
    return push_str(L, &L->c->commands, &L->c->ncommands, value);
}

/* [dispatch] path: absolute directories separated by ':'. */
static int set_dispatch_path(struct loader *L, enum key_id id, const char *value)
{
    for (const char *p = value;;) {
        const char *e = strchrnul(p, ':');
        if (*p != '/' || e == p)
            return fail(L, "path",
                        "expected absolute directories separated by ':' such as %s, got '%s'",
                        CONFIG_DEFAULT_DISPATCH_PATH, value);
        if (!*e)
            break;
        p = e + 1;
    }
    return set_str(L, &L->c->dispatch_path, value);
}

/* [dispatch] php: the PHP binary asked whether the channels file is valid PHP (`php -l`), an
 * absolute path, or `no` (the own syntax check only). Unset: php found on the default PATH. */
static int set_php(struct loader *L, enum key_id id, const char *value)
{
    if (!strcmp(value, "no"))
        return set_str(L, &L->c->dispatch_php, "");
    if (*value != '/')
        return fail(L, "php", "expected an absolute path such as /usr/bin/php, or no, got '%s'",
                    value);
    return set_str(L, &L->c->dispatch_php, value);
}

/* ---- [rule NAME] --------------------------------------------------------------------- */

/* Keys that an `ignore = yes` rule must not have. */
static const enum key_id checking_keys[] = {K_OWNER,        K_GROUP,       K_FILE_REQUIRE,
                                            K_FILE_FORBID,  K_DIR_REQUIRE, K_DIR_FORBID,
                                            K_WEB_READABLE, K_REPAIR,      K_WRITABLE};

/* The key ID contradicts an earlier `ignore = yes` in this rule. Returns 0 or -1. */
static int check_not_ignored(struct loader *L, enum key_id id)
{
    if (!cur_rule(L)->ignore)
        return 0;
    return fail(L, key_names[id],
                "contradicts ignore = yes (line %u): an ignored rule takes only match and ignore",
                L->key_line[K_IGNORE]);
}

/* [rule] match (repeatable): one glob, checked with glob_valid. */
static int set_match(struct loader *L, enum key_id id, const char *value)
{
    const char *why;
    if (!glob_valid(value, &why))
        return fail(L, "match", "invalid glob '%s': %s", value, why);
    struct rule *r = cur_rule(L);
    return push_str(L, &r->match, &r->nmatch, value);
}

/* owner/group: a comma list of names or numeric ids, each resolved on this host. */
static int set_ids(struct loader *L, enum key_id id, const char *value)
{
    bool users = id == K_OWNER;
    const char *key = key_names[id];
    struct rule *r = cur_rule(L);
    char ***names = users ? &r->owner_names : &r->group_names;
    size_t *count = users ? &r->nowners : &r->ngroups;
    unsigned **ids = users ? (unsigned **)&r->owners : (unsigned **)&r->groups;

    _Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
                   "uid_t and gid_t are unsigned int");
    if (check_not_ignored(L, id) < 0)
        return -1;
    int max = 1;
    for (const char *p = value; *p; p++)
        max += *p == ',';
    char *copy = strdup(value);
    char **items = calloc((size_t)max, sizeof(*items));
    *names = calloc((size_t)max, sizeof(**names));
    *ids = calloc((size_t)max, sizeof(**ids));
    int rc = -1;
    if (!copy || !items || !*names || !*ids) {
        fail_nomem(L);
        goto out;
    }
    int n = parse_list(copy, items, max);
    if (n < 0) {
        fail(L, key, "expected a comma-separated list of %s, got '%s'",
             users ? "user names or numeric uids" : "group names or numeric gids", value);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        unsigned v;
        if (users ? resolve_user(L, key, items[i], &v) : resolve_group(L, key, items[i], &v))
            goto out;
        for (size_t j = 0; j < *count; j++) {
            if ((*ids)[j] == v) {
                fail(L, key, "'%s' and '%s' are the same %s (%u)", (*names)[j], items[i],
                     users ? "user" : "group", v);
                goto out;
            }
        }
        (*names)[*count] = strdup(items[i]);
        if (!(*names)[*count]) {
            fail_nomem(L);
            goto out;
        }
        (*ids)[*count] = v;
        (*count)++;
    }
    rc = 0;
out:
    free(items);
    free(copy);
    return rc;
}

/* The key that pairs with a mode key (file_require <-> file_forbid, dir_*). */
static enum key_id mode_partner(enum key_id id)
{
    switch (id) {
    case K_FILE_REQUIRE:
        return K_FILE_FORBID;
    case K_FILE_FORBID:
        return K_FILE_REQUIRE;
    case K_DIR_REQUIRE:
        return K_DIR_FORBID;
    default:
        return K_DIR_REQUIRE;
    }
}

/* The field of R that the mode key ID sets. */
static mode_t *mode_field(struct rule *r, enum key_id id)
{
    switch (id) {
    case K_FILE_REQUIRE:
        return &r->file_require;
    case K_FILE_FORBID:
        return &r->file_forbid;
    case K_DIR_REQUIRE:
        return &r->dir_require;
    default:
        return &r->dir_forbid;
    }
}

/* [rule] file_/dir_require, file_/dir_forbid: octal bits; require and forbid of the same
 * type must not share a bit. */
static int set_mode(struct loader *L, enum key_id id, const char *value)
{
    struct rule *r = cur_rule(L);
    mode_t m;
    if (check_not_ignored(L, id) < 0)
        return -1;
    if (parse_mode(value, &m) < 0)
        return fail(L, key_names[id], "expected octal permission bits such as %s, got '%s'",
                    id == K_FILE_REQUIRE  ? "0664"
                    : id == K_DIR_REQUIRE ? "2775"
                                          : "0002",
                    value);
    if (id == K_FILE_REQUIRE && (m & (S_ISUID | S_ISGID)))
        return fail(L, key_names[id],
                    "setuid and setgid bits (%04o) cannot be required of files: a repair "
                    "never adds them",
                    (unsigned)(m & (S_ISUID | S_ISGID)));
    enum key_id other = mode_partner(id);
    mode_t both = m & *mode_field(r, other);
    if (L->key_line[other] && both) {
        bool req = id == K_FILE_REQUIRE || id == K_DIR_REQUIRE;
        return fail(L, key_names[id], "bits %04o are both %s here and %s by %s (line %u)",
                    (unsigned)both, req ? "required" : "forbidden", req ? "forbidden" : "required",
                    key_names[other], L->key_line[other]);
    }
    *mode_field(r, id) = m;
    return 0;
}

/* [rule] web_readable, writable and ignore: booleans; `ignore = yes` excludes the checking keys. */
static int set_bool(struct loader *L, enum key_id id, const char *value)
{
    struct rule *r = cur_rule(L);
    bool b;
    if (id != K_IGNORE && check_not_ignored(L, id) < 0)
        return -1;
    if (parse_bool(value, &b) < 0)
        return fail(L, key_names[id], "expected yes or no, got '%s'", value);
    if (id == K_WEB_READABLE) {
        r->web_readable = b;
        return 0;
    }
    if (id == K_WRITABLE) {
        r->writable = b;
        return 0;
    }
    if (b) {
        for (size_t i = 0; i < sizeof(checking_keys) / sizeof(checking_keys[0]); i++)
            if (L->key_line[checking_keys[i]])
                return fail(L, "ignore",
                            "an ignored rule takes only match and ignore, but %s is set (line %u)",
                            key_names[checking_keys[i]], L->key_line[checking_keys[i]]);
    }
    r->ignore = b;
    return 0;
}

/* [rule] repair: auto, manual or never. */
static int set_repair(struct loader *L, enum key_id id, const char *value)
{
    static const enum repair_mode modes[] = {REPAIR_AUTO, REPAIR_MANUAL, REPAIR_NEVER};
    if (check_not_ignored(L, id) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(value, config_repair_mode_name(modes[i])) == 0) {
            cur_rule(L)->repair = modes[i];
            return 0;
        }
    }
    return fail(L, "repair", "expected auto, manual or never, got '%s'", value);
}

static const struct key_def keys[] = {
    {SEC_SITE, K_ROOT, "root", false, set_root},
    {SEC_SITE, K_WEB_USER, "web_user", false, set_web_user},
    {SEC_DAEMON, K_CONTROL_SOCKET, "control_socket", false, set_control_socket},
    {SEC_DAEMON, K_CONTROL_GROUP, "control_group", false, set_control_group},
    {SEC_DAEMON, K_RESCAN_INTERVAL, "rescan_interval", false, set_rescan_interval},
    {SEC_DAEMON, K_DEGRADED_RESCAN_INTERVAL, "degraded_rescan_interval", false,
     set_positive_duration},
    {SEC_DAEMON, K_MAX_FINDINGS, "max_findings", false, set_count},
    {SEC_DAEMON, K_LOG_BURST, "log_burst", false, set_count},
    {SEC_DAEMON, K_MAX_WATCHED_DIRS, "max_watched_dirs", false, set_count},
    {SEC_DAEMON, K_LOG_INTERVAL, "log_interval", false, set_positive_duration},
    {SEC_DAEMON, K_MAX_FINDINGS_MEMORY, "max_findings_memory", false, set_size},
    {SEC_DAEMON, K_REPAIR_EXISTING, "repair_existing", false, set_repair_existing},
    {SEC_DAEMON, K_SCAN_THREADS, "scan_threads", false, set_scan_threads},
    {SEC_DAEMON, K_BACKEND, "backend", false, set_backend},
    {SEC_DISPATCH, K_CHANNELS_FILE, "channels_file", false, set_channels_file},
    {SEC_DISPATCH, K_COMMAND, "command", true, set_command},
    {SEC_DISPATCH, K_PATH, "path", false, set_dispatch_path},
    {SEC_DISPATCH, K_PHP, "php", false, set_php},
    {SEC_RULE, K_MATCH, "match", true, set_match},
    {SEC_RULE, K_OWNER, "owner", false, set_ids},
    {SEC_RULE, K_GROUP, "group", false, set_ids},
    {SEC_RULE, K_FILE_REQUIRE, "file_require", false, set_mode},
    {SEC_RULE, K_FILE_FORBID, "file_forbid", false, set_mode},
    {SEC_RULE, K_DIR_REQUIRE, "dir_require", false, set_mode},
    {SEC_RULE, K_DIR_FORBID, "dir_forbid", false, set_mode},
    {SEC_RULE, K_WEB_READABLE, "web_readable", false, set_bool},
    {SEC_RULE, K_IGNORE, "ignore", false, set_bool},
    {SEC_RULE, K_REPAIR, "repair", false, set_repair},
    {SEC_SITE, K_WRITERS, "writers", false, set_writers},
    {SEC_RULE, K_WRITABLE, "writable", false, set_bool},
};

/* "root, web_user": the keys of section S, for error messages. */
static const char *section_keys(enum section_kind s, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (keys[i].section != s)
            continue;
        int w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", keys[i].name);
        if (w < 0 || (size_t)w >= len - off)
            break;
        off += (size_t)w;
    }
    return buf;
}

/* inih handler: one `name = value` at line L->lineno. Always returns 1: errors are ours. */
static int handle_pair(void *user, const char *section, const char *name, const char *value)
{
    struct loader *L = user;
    char buf[160];
    if (L->failed)
        return 1;
    if (L->sect == SEC_NONE) {
        fail(L, name,
             "key outside any section: put it under [site], [daemon], [dispatch] or "
             "[rule NAME]");
        return 1;
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct key_def *k = &keys[i];
        if (k->section != L->sect || strcmp(k->name, name) != 0)
            continue;
        if (!k->repeatable && L->key_line[k->id]) {
            fail(L, name, "duplicate key (first given at line %u)", L->key_line[k->id]);
            return 1;
        }
        if (k->set(L, k->id, value) == 0)
            L->key_line[k->id] = L->lineno;
        return 1;
    }
    fail(L, name, "unknown key; [%s] takes %s", section_names[L->sect],
         section_keys(L->sect, buf, sizeof(buf)));
    return 1;
}

/* ---- sections -------------------------------------------------------------------------- */

/* Checks when the current section ends (at the next header or the end of the file). */
static int finish_section(struct loader *L)
{
    if (L->sect == SEC_RULE && cur_rule(L)->nmatch == 0)
        return fail_at(L, L->sect_line, NULL, "match",
                       "required: at least one glob such as 'wp-content/uploads/**'");
    return 0;
}

/* Rule names: ASCII letters, digits, '.', '_', '-' (they end up in journal fields). */
static bool valid_rule_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        bool alnum =
            (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9');
        if (!alnum && *s != '.' && *s != '_' && *s != '-')
            return false;
    }
    return true;
}

/* Start a new section; *SEEN is its header line (0 the first time). */
static int start_once(struct loader *L, enum section_kind s, unsigned *seen, const char *label)
{
    if (*seen)
        return fail_at(L, L->lineno, label, "", "section given twice (first at line %u)", *seen);
    *seen = L->lineno;
    L->sect = s;
    return 0;
}

/* Start `[rule NAME]` at the current line: NAME must be valid and unused; LABEL names the
 * section in errors. Returns 0 or -1 (error recorded). */
static int start_rule(struct loader *L, const char *name, const char *label)
{
    struct config *c = L->c;
    if (!valid_rule_name(name))
        return fail_at(L, L->lineno, label, "",
                       "invalid rule name '%s': use letters, digits, '.', '_' and '-'", name);
    for (size_t i = 0; i < c->nrules; i++)
        if (strcmp(c->rules[i].name, name) == 0)
            return fail_at(L, L->lineno, label, "", "duplicate rule name (first at line %u)",
                           c->rules[i].line);
    struct rule *r = realloc(c->rules, (c->nrules + 1) * sizeof(*r));
    if (!r)
        return fail_nomem(L);
    c->rules = r;
    r = &c->rules[c->nrules];
    memset(r, 0, sizeof(*r));
    r->line = L->lineno;
    r->repair = REPAIR_MANUAL;
    r->name = strdup(name);
    c->nrules++; /* counted even on failure below: config_free releases it */
    if (!r->name)
        return fail_nomem(L);
    L->sect = SEC_RULE;
    return 0;
}

/* A `[...]` line (leading blanks already gone): check and enter the section. Like inih, the
 * name ends at ']' or at an inline comment; after ']' only a comment may follow. */
static int section_line(struct loader *L, const char *line)
{
    const char *p = line + 1, *close = NULL;
    for (bool was_space = false; *p; p++) {
        if (*p == ']') {
            close = p;
            break;
        }
        if (was_space && *p == ';')
            break;
        was_space = isspace((unsigned char)*p);
    }
    if (finish_section(L) < 0)
        return -1;
    memset(L->key_line, 0, sizeof(L->key_line));
    L->sect = SEC_NONE;
    L->sect_line = L->lineno;
    if (!close)
        return fail_at(L, L->lineno, "", "", "expected ']' to close the section name");
    for (const char *q = close + 1; *q && *q != ';' && *q != '#'; q++)
        if (!isspace((unsigned char)*q))
            return fail_at(L, L->lineno, "", "", "unexpected text after ']': '%s'", close + 1);

    /* The name, trimmed. */
    const char *b = line + 1, *e = close;
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    char *label = strndup(b, (size_t)(e - b));
    if (!label)
        return fail_nomem(L);
    int rc;
    if (strcmp(label, "site") == 0)
        rc = start_once(L, SEC_SITE, &L->site_line, label);
    else if (strcmp(label, "daemon") == 0)
        rc = start_once(L, SEC_DAEMON, &L->daemon_line, label);
    else if (strcmp(label, "dispatch") == 0)
        rc = start_once(L, SEC_DISPATCH, &L->dispatch_line, label);
    else if (strncmp(label, "rule", 4) == 0 && (!label[4] || isspace((unsigned char)label[4]))) {
        const char *n = label + 4;
        while (isspace((unsigned char)*n))
            n++;
        if (!*n)
            rc = fail_at(L, L->lineno, label, "", "expected a rule name: [rule NAME]");
        else
            rc = start_rule(L, n, label);
    } else {
        rc = fail_at(L, L->lineno, label, "",
                     "unknown section; expected [site], [daemon], [dispatch] or [rule NAME]");
    }
    free(label);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------- */

/* inih reader over L->pos..L->end: hands out the next line, without its leading blanks and
 * line terminator, into STR (NUM bytes). Returns NULL at the end or after an error. */
static char *read_line(char *str, int num, void *stream)
{
    struct loader *L = stream;
    if (L->failed || L->pos >= L->end)
        return NULL;
    const char *line = L->pos;
    const char *nl = memchr(line, '\n', (size_t)(L->end - line));
    const char *stop = nl ? nl : L->end;
    L->pos = nl ? nl + 1 : L->end;
    L->lineno++;
    if (stop > line && stop[-1] == '\r')
        stop--;
    if (L->lineno == 1 && stop - line >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3; /* UTF-8 byte order mark */
    size_t n = (size_t)(stop - line);
    if (memchr(line, '\0', n)) {
        fail_at(L, L->lineno, "", "", "unexpected NUL byte");
        return NULL;
    }
    if (n > (size_t)num - 1) {
        fail_at(L, L->lineno, "", "", "line too long (max %d characters)", num - 1);
        return NULL;
    }
    while (n && isspace((unsigned char)*line)) {
        line++;
        n--;
    }
    memcpy(str, line, n);
    str[n] = '\0';
    if (str[0] == '[' && section_line(L, str) < 0)
        return NULL;
    return str;
}

/* ---- loading --------------------------------------------------------------------------- */

/* Defaults and whole-file checks after the last line. */
static int finish_file(struct loader *L)
{
    struct config *c = L->c;
    if (!c->site_root)
        return fail_at(L, L->site_line, "site", "root",
                       "required: the site's directory, such as /var/www/example.com");
    if (!L->web_loaded &&
        load_web_user(L, CONFIG_DEFAULT_WEB_USER, L->site_line, " (the default)") < 0)
        return -1;
    if (!L->writers_loaded && add_writer(L, c->web_user, L->site_line, " (the web user)") < 0)
        return -1;
    if (!c->control_socket && set_str(L, &c->control_socket, CONFIG_DEFAULT_SOCKET) < 0)
        return -1;
    if (!c->channels_file && set_str(L, &c->channels_file, CONFIG_DEFAULT_CHANNELS_FILE) < 0)
        return -1;
    if (!c->dispatch_path && set_str(L, &c->dispatch_path, CONFIG_DEFAULT_DISPATCH_PATH) < 0)
        return -1;
    return 0;
}

/* Load TEXT (LEN bytes; a NUL byte in it is an error) with ERR already naming the file;
 * PATH goes into config->path. Returns 0 and *OUT, or -1 with errno and *ERR. */
static int load_buffer(const char *text, size_t len, const char *path, struct config **out,
                       struct config_error *err)
{
    struct config *c = calloc(1, sizeof(*c));
    struct loader L = {.c = c, .err = err, .pos = text, .end = text + len};
    if (!c || !(c->path = strdup(path))) {
        free(c);
        snprintf(err->message, sizeof(err->message), "out of memory");
        errno = ENOMEM;
        return -1;
    }
    c->rescan_interval_usec = CONFIG_DEFAULT_RESCAN_USEC;
    c->degraded_rescan_usec = CONFIG_DEFAULT_DEGRADED_RESCAN_USEC;
    c->max_findings = CONFIG_DEFAULT_MAX_FINDINGS;
    c->max_watched_dirs = CONFIG_DEFAULT_MAX_WATCHED_DIRS;
    c->max_findings_memory = CONFIG_DEFAULT_MAX_FINDINGS_MEMORY;
    c->log_burst = CONFIG_DEFAULT_LOG_BURST;
    c->log_interval_usec = CONFIG_DEFAULT_LOG_INTERVAL_USEC;
    c->control_gid = (gid_t)-1;

    int r = ini_parse_stream(read_line, &L, handle_pair, &L);
    if (!L.failed)
        finish_section(&L);
    if (r > 0 && (!L.failed || (unsigned)r < err->line)) {
        L.failed = false;
        fail_at(&L, (unsigned)r, "", "", "expected 'key = value' or '[section]'");
    } else if (r < 0 && !L.failed) {
        fail_at(&L, 0, "", "", "cannot parse (inih error %d)", r);
    }
    if (!L.failed)
        finish_file(&L);
    if (L.failed) {
        config_free(c);
        errno = L.err_errno;
        return -1;
    }
    *out = c;
    return 0;
}

/* Reset *ERR for a load of NAME. */
static void error_init(struct config_error *err, const char *name)
{
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", name);
}

int config_load_string(const char *text, const char *name, struct config **out,
                       struct config_error *err)
{
    struct config_error dummy;
    if (!err)
        err = &dummy;
    if (!name)
        name = STRING_NAME;
    error_init(err, name);
    if (!text || !out) {
        snprintf(err->message, sizeof(err->message), "no text to load");
        errno = EINVAL;
        return -1;
    }
    return load_buffer(text, strlen(text), STRING_NAME, out, err);
}

/* Read the whole file at PATH (at most MAX_FILE_SIZE bytes) into a malloc'd *BUF. Returns 0,
 * or -1 with errno and a message in ERR. */
static int read_file(const char *path, char **buf, size_t *len, struct config_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), e;
    struct stat st;
    size_t cap = 4096, n = 0;
    char *b = NULL;
    if (fd < 0)
        goto fail;
    if (fstat(fd, &st) < 0)
        goto fail;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto fail;
    }
    for (;;) {
        if (!b || n == cap) {
            if (b)
                cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb)
                goto fail;
            b = nb;
        }
        ssize_t got = read(fd, b + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > MAX_FILE_SIZE) {
            snprintf(err->message, sizeof(err->message), "file too large (max %d bytes)",
                     MAX_FILE_SIZE);
            free(b);
            close(fd);
            errno = EFBIG;
            return -1;
        }
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
fail:
    e = errno;
    snprintf(err->message, sizeof(err->message), "cannot read: %s", strerror(e));
    free(b);
    if (fd >= 0)
        close(fd);
    errno = e;
    return -1;
}

int config_load_file(const char *path, struct config **out, struct config_error *err)
{
    struct config_error dummy;
    char *text;
    size_t len;
    if (!err)
        err = &dummy;
    error_init(err, path ? path : "");
    if (!path || !out) {
        snprintf(err->message, sizeof(err->message), "no file to load");
        errno = EINVAL;
        return -1;
    }
    if (read_file(path, &text, &len, err) < 0)
        return -1;
    int rc = load_buffer(text, len, path, out, err);
    int e = errno;
    free(text);
    errno = e;
    return rc;
}

/* Free N strings of V and V itself (V may be NULL). */
static void free_strv(char **v, size_t n)
{
    if (v)
        for (size_t i = 0; i < n; i++)
            free(v[i]);
    free(v);
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nrules; i++) {
        struct rule *r = &c->rules[i];
        free(r->name);
        free_strv(r->match, r->nmatch);
        /* Lists are allocated for the whole comma list before they fill up. */
        free_strv(r->owner_names, r->nowners);
        free(r->owners);
        free_strv(r->group_names, r->ngroups);
        free(r->groups);
    }
    free(c->rules);
    free(c->path);
    free(c->site_root);
    free(c->web_user);
    account_principal_free(&c->web);
    free_writers(c);
    free(c->control_socket);
    free(c->control_group);
    free(c->channels_file);
    free_strv(c->commands, c->ncommands);
    free(c->dispatch_path);
    free(c->dispatch_php);
    free(c);
}

const char *config_error_format(const struct config_error *err, char *buf, size_t len)
{
    char line[16] = "";
    if (!buf || !len)
        return buf;
    if (err->line)
        snprintf(line, sizeof(line), ":%u", err->line);
    bool sec = err->section[0], key = err->key[0];
    snprintf(buf, len, "%s%s: %s%s%s%s%s%s%s", err->file, line, sec ? "[" : "",
             sec ? err->section : "", sec ? "]" : "", sec && key ? " " : "", err->key,
             sec || key ? ": " : "", err->message);
    return buf;
}

/* ---- printing -------------------------------------------------------------------------- */

/* `key = value`, written so that inih reads VALUE back verbatim: compact `key=value` when
 * the spaced form would exceed inih's line, `key =value` when VALUE starts with ';'. */
static void print_kv(FILE *out, const char *key, const char *value)
{
    bool compact = strlen(key) + 3 + strlen(value) > MAX_LINE_CHARS;
    const char *sep = compact ? "=" : value[0] == ';' ? " =" : " = ";
    fprintf(out, "%s%s%s\n", key, sep, value);
}

/* Print a list key: items joined by ", " (by "," when that is too long for a line). */
static void print_list(FILE *out, const char *key, char *const *items, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(items[i]) + 2;
    char *joined = malloc(total + 1);
    if (!joined) {
        fprintf(out, "; %s: out of memory\n", key);
        return;
    }
    bool compact = strlen(key) + 3 + total > MAX_LINE_CHARS + 2;
    char *p = joined;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? (compact ? "," : ", ") : "", items[i]);
    print_kv(out, key, joined);
    free(joined);
}

/* A comment with resolved ids, "; uids: 33, 1001", wrapped to stay well within a line. */
static void print_ids(FILE *out, const char *what, const unsigned *ids, size_t n)
{
    int col = fprintf(out, "; %s:", what);
    for (size_t i = 0; i < n; i++) {
        if (col > 90)
            col = fprintf(out, "\n;");
        col += fprintf(out, " %u%s", ids[i], i + 1 < n ? "," : "");
    }
    fputc('\n', out);
}

/* One [rule] section: an ignored rule has only match and ignore, others every key. */
static void print_rule(FILE *out, const struct rule *r)
{
    fprintf(out, "\n[rule %s]\n", r->name);
    for (size_t i = 0; i < r->nmatch; i++)
        print_kv(out, "match", r->match[i]);
    if (r->ignore) {
        fprintf(out, "ignore = yes\n");
        return;
    }
    if (r->nowners) {
        print_ids(out, "uids", r->owners, r->nowners);
        print_list(out, "owner", r->owner_names, r->nowners);
    } else {
        fprintf(out, "; owner: not checked\n");
    }
    if (r->ngroups) {
        print_ids(out, "gids", r->groups, r->ngroups);
        print_list(out, "group", r->group_names, r->ngroups);
    } else {
        fprintf(out, "; group: not checked\n");
    }
    fprintf(out, "file_require = %04o\n", (unsigned)r->file_require);
    fprintf(out, "file_forbid = %04o\n", (unsigned)r->file_forbid);
    fprintf(out, "dir_require = %04o\n", (unsigned)r->dir_require);
    fprintf(out, "dir_forbid = %04o\n", (unsigned)r->dir_forbid);
    fprintf(out, "web_readable = %s\n", r->web_readable ? "yes" : "no");
    fprintf(out, "writable = %s\n", r->writable ? "yes" : "no");
    fprintf(out, "ignore = no\n");
    fprintf(out, "repair = %s\n", config_repair_mode_name(r->repair));
}

void config_print(const struct config *c, FILE *out)
{
    char dur[PARSE_DURATION_BUFSZ];
    size_t plen = strlen(c->path);
    fprintf(out, "; permwatch effective policy (defaults filled in) from\n");
    if (plen > 150) /* a comment, but still within inih's line */
        fprintf(out, "; ...%s\n", c->path + plen - 150);
    else
        fprintf(out, "; %s\n", c->path);

    fprintf(out, "\n[site]\n");
    print_kv(out, "root", c->site_root);
    fprintf(out, "; uid %u, gid %u\n", (unsigned)c->web.uid, (unsigned)c->web.gid);
    print_ids(out, "groups", c->web.groups, c->web.ngroups);
    print_kv(out, "web_user", c->web_user);
    if (c->nwriters) {
        char **names = calloc(c->nwriters, sizeof(*names));
        unsigned *uids = calloc(c->nwriters, sizeof(*uids));
        if (names && uids) {
            for (size_t i = 0; i < c->nwriters; i++) {
                names[i] = c->writers[i].name;
                uids[i] = (unsigned)c->writers[i].uid;
            }
            print_ids(out, "writer uids", uids, c->nwriters);
            print_list(out, "writers", names, c->nwriters);
        } else {
            fprintf(out, "; writers: out of memory\n");
        }
        free(names);
        free(uids);
    }

    fprintf(out, "\n[daemon]\n");
    print_kv(out, "control_socket", c->control_socket);
    if (c->control_group) {
        fprintf(out, "; gid %u\n", (unsigned)c->control_gid);
        print_kv(out, "control_group", c->control_group);
    } else {
        fprintf(out, "; control_group: not set, only root may use the socket\n");
    }
    fprintf(out, "rescan_interval = %s\n",
            parse_format_duration(c->rescan_interval_usec, dur, sizeof(dur)));
    fprintf(out, "degraded_rescan_interval = %s\n",
            parse_format_duration(c->degraded_rescan_usec, dur, sizeof(dur)));
    fprintf(out, "max_findings = %zu\n", c->max_findings);
    fprintf(out, "log_burst = %u\n", c->log_burst);
    fprintf(out, "max_watched_dirs = %zu\n", c->max_watched_dirs);
    fprintf(out, "log_interval = %s\n",
            parse_format_duration(c->log_interval_usec, dur, sizeof(dur)));
    fprintf(out, "max_findings_memory = %zu\n", c->max_findings_memory);
    fprintf(out, "repair_existing = %s\n", c->repair_existing ? "yes" : "no");
    if (c->scan_threads)
        fprintf(out, "scan_threads = %u\n", c->scan_threads);
    else
        fprintf(out, "scan_threads = auto ; %u here\n", config_scan_threads(c));
    fprintf(out, "backend = %s\n", config_backend_name(c->backend));

    fprintf(out, "\n[dispatch]\n");
    print_kv(out, "channels_file", c->channels_file);
    print_kv(out, "path", c->dispatch_path);
    if (c->dispatch_php)
        print_kv(out, "php", *c->dispatch_php ? c->dispatch_php : "no");
    for (size_t i = 0; i < c->ncommands; i++)
        print_kv(out, "command", c->commands[i]);

    for (size_t i = 0; i < c->nrules; i++)
        print_rule(out, &c->rules[i]);
}

const char *config_repair_mode_name(enum repair_mode m)
{
    switch (m) {
    case REPAIR_AUTO:
        return "auto";
    case REPAIR_MANUAL:
        return "manual";
    case REPAIR_NEVER:
        return "never";
    }
    return "?";
}

const char *config_key_at(size_t i, const char **section, bool *repeatable)
{
    if (i >= sizeof(keys) / sizeof(keys[0]))
        return NULL;
    if (section)
        *section = section_names[keys[i].section];
    if (repeatable)
        *repeatable = keys[i].repeatable;
    return keys[i].name;
}
