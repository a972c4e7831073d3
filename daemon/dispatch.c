/* dispatch: collect the registered commands, judge them (reach), and keep the verdicts under
 * watch. The live part has its own small inotify instance over the directories the verdicts
 * depend on (outside the site, mostly): any event there re-judges everything after a short
 * debounce; a verdict is logged only when it changes. */
#include "dispatch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ev.h>

#include "log.h"
#include "root.h"

#define CHANNELS_MAX_BYTES (4 * 1024 * 1024)
/* Re-judge this long after the last event of a burst. */
#define DEBOUNCE_SECONDS 0.05
/* New watches trigger one more judgement (the state may have changed before they were
 * in place); at most this many in a row. */
#define SETTLE_ROUNDS 3
#define DISPATCH_WATCH_MASK                                                                        \
    (IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |            \
     IN_MOVE_SELF | IN_CLOSE_WRITE | IN_ONLYDIR)

/* ---- collecting ---------------------------------------------------------------------- */

/* Open the channels file without following any symlink: below the site root with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV), elsewhere with O_NOFOLLOW on
 * the last component. Returns an fd, or -1 with errno. */
static int open_channels(const struct config *c, const char *abs)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    if (c->channels_file[0] == '/')
        return open(abs, flags | O_NOFOLLOW);
    int root = root_open(c->site_root, NULL, NULL, NULL, 0);
    if (root < 0)
        return -1;
    struct open_how how = {
        .flags = (unsigned long long)flags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    int fd = (int)syscall(SYS_openat2, root, c->channels_file, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS)
        fd = openat(root, c->channels_file, flags | O_NOFOLLOW);
    int e = errno;
    close(root);
    errno = e;
    return fd;
}

/* Read the whole regular file FD (at most CHANNELS_MAX_BYTES) into a malloc'd buffer.
 * Returns it with *len, or NULL with errno (EFBIG: too large, EINVAL: not a regular file). */
static char *read_all(int fd, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return NULL;
    if (!S_ISREG(st.st_mode))
        return errno = EINVAL, NULL;
    if (st.st_size > CHANNELS_MAX_BYTES)
        return errno = EFBIG, NULL;
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (n == cap) {
            if (cap > CHANNELS_MAX_BYTES) {
                free(buf);
                return errno = EFBIG, NULL;
            }
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

/* Append one command to S, judged for the web user. Returns 0 or -1 (ENOMEM). */
static int add_entry(const struct config *c, struct dispatch_set *s, const char *channel,
                     const char *command, unsigned line)
{
    struct dispatch_entry *p = realloc(s->items, (s->n + 1) * sizeof(*p));
    if (!p)
        return -1;
    s->items = p;
    struct dispatch_entry *e = &s->items[s->n];
    memset(e, 0, sizeof(*e));
    e->channel = strdup(channel);
    e->command = strdup(command);
    e->line = line;
    if (!e->channel || !e->command) {
        free(e->channel);
        free(e->command);
        return errno = ENOMEM, -1;
    }
    if (reach_check(&c->web, command, c->dispatch_path, &e->verdict) < 0) {
        free(e->channel);
        free(e->command);
        return -1;
    }
    s->n++;
    if (e->verdict.status != REACH_INVALID && e->verdict.resolved[0] &&
        reach_kernel_confirm(&c->web, &e->verdict) < 0)
        log_warn_errno(errno, "cannot ask the kernel about %s as %s", command, c->web_user);
    return 0;
}

int dispatch_collect(const struct config *c, struct dispatch_set *out)
{
    memset(out, 0, sizeof(*out));
    char abs[PATH_MAX];
    if (c->channels_file[0] == '/')
        snprintf(abs, sizeof(abs), "%s", c->channels_file);
    else
        snprintf(abs, sizeof(abs), "%s/%s", c->site_root, c->channels_file);
    out->channels_path = strdup(abs);
    if (!out->channels_path)
        return -1;

    struct channels parsed = {0};
    int fd = open_channels(c, abs);
    if (fd < 0) {
        out->channels_errno = errno;
    } else {
        size_t len = 0;
        char *buf = read_all(fd, &len);
        out->channels_errno = buf ? 0 : errno;
        close(fd);
        if (buf && channels_parse(buf, len, &parsed) < 0) {
            free(buf);
            dispatch_set_free(out);
            return -1;
        }
        free(buf);
    }
    out->errors = parsed.errors;
    out->nerrors = parsed.nerrors;
    parsed.errors = NULL;
    parsed.nerrors = 0;
    for (size_t i = 0; i < parsed.n; i++)
        if (add_entry(c, out, parsed.items[i].name, parsed.items[i].command, parsed.items[i].line) <
            0)
            goto nomem;
    for (size_t i = 0; i < c->ncommands; i++)
        if (add_entry(c, out, "", c->commands[i], 0) < 0)
            goto nomem;
    channels_free(&parsed);
    return 0;
nomem:
    channels_free(&parsed);
    dispatch_set_free(out);
    return errno = ENOMEM, -1;
}

void dispatch_set_free(struct dispatch_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].channel);
        free(s->items[i].command);
        reach_verdict_free(&s->items[i].verdict);
    }
    free(s->items);
    free(s->errors);
    free(s->channels_path);
    memset(s, 0, sizeof(*s));
}

/* Copy SRC into DST (LEN bytes), ending in "..." when it had to be cut. */
static void copy_cut(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n < len) {
        memcpy(dst, src, n + 1);
        return;
    }
    memcpy(dst, src, len - 4);
    memcpy(dst + len - 4, "...", 4);
}

size_t dispatch_findings(const struct config *c, const struct dispatch_set *s,
                         dispatch_finding_fn fn, void *ctx)
{
    size_t count = 0;
    bool unreadable = s->channels_errno && s->channels_errno != ENOENT;
    if (s->nerrors || unreadable) {
        struct finding f = {.kind = FINDING_DISPATCH_INVALID, .path = s->channels_path};
        f.web_user = c->web_user;
        snprintf(f.expected, sizeof(f.expected), "a channels file permwatch can read and parse");
        if (unreadable)
            snprintf(f.reason, sizeof(f.reason), "cannot read it: %s%s",
                     strerror(s->channels_errno),
                     s->channels_errno == ELOOP ? " (a symbolic link: never followed)" : "");
        else if (s->nerrors == 1)
            snprintf(f.reason, sizeof(f.reason), "line %u: %s", s->errors[0].line,
                     s->errors[0].message);
        else
            snprintf(f.reason, sizeof(f.reason), "line %u: %s (and %zu more problems)",
                     s->errors[0].line, s->errors[0].message, s->nerrors - 1);
        fn(ctx, &f);
        count++;
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct dispatch_entry *e = &s->items[i];
        if (e->verdict.status == REACH_OK)
            continue;
        struct finding f = {.kind = FINDING_DISPATCH_UNREACHABLE,
                            .path = e->verdict.resolved[0] ? e->verdict.resolved
                                    : e->command[0] == '/' ? e->command
                                                           : NULL,
                            .channel = *e->channel ? e->channel : NULL,
                            .command = e->command,
                            .blocked_at = e->verdict.blocked_at,
                            .web_user = c->web_user};
        snprintf(f.expected, sizeof(f.expected), "executable by %s", c->web_user);
        copy_cut(f.reason, sizeof(f.reason), e->verdict.reason);
        fn(ctx, &f);
        count++;
    }
    return count;
}

/* ---- live ---------------------------------------------------------------------------- */

/* An open dispatch finding, owning its strings. */
struct open_finding {
    char *key;
    struct finding f;
    char *path, *channel, *command, *blocked_at;
};

struct dir_watch {
    int wd;
    char *path;
    bool keep;
};

struct dispatch {
    struct ev_loop *ev;
    const struct config *c;
    int fd;
    ev_io io;
    ev_timer debounce;
    struct dir_watch *dirs;
    size_t ndirs;
    struct open_finding *open;
    size_t nopen;
    size_t ncommands;
    char **disagreed; /* keys whose last verdict came from the kernel overriding the model */
    size_t ndisagreed;
    unsigned settle;
    struct dispatch_set last; /* the last judgement, for permwatchctl dispatch */
    bool have_last;
};

static void open_finding_clear(struct open_finding *o)
{
    free(o->key);
    free(o->path);
    free(o->channel);
    free(o->command);
    free(o->blocked_at);
    memset(o, 0, sizeof(*o));
}

/* "KIND\nchannel\ncommand" or "KIND\npath": what identifies a dispatch finding. */
static char *finding_key(const struct finding *f)
{
    char *k = NULL;
    if (f->kind == FINDING_DISPATCH_INVALID)
        return asprintf(&k, "%d\n%s", (int)f->kind, f->path ? f->path : "") < 0 ? NULL : k;
    return asprintf(&k, "%d\n%s\n%s", (int)f->kind, f->channel ? f->channel : "",
                    f->command ? f->command : "") < 0
               ? NULL
               : k;
}

/* Copy F into O with owned strings. Returns 0 or -1 (ENOMEM). */
static int open_finding_set(struct open_finding *o, const struct finding *f)
{
    memset(o, 0, sizeof(*o));
    o->f = *f;
    o->key = finding_key(f);
    o->path = f->path ? strdup(f->path) : NULL;
    o->channel = f->channel ? strdup(f->channel) : NULL;
    o->command = f->command ? strdup(f->command) : NULL;
    o->blocked_at = f->blocked_at ? strdup(f->blocked_at) : NULL;
    if (!o->key || (f->path && !o->path) || (f->channel && !o->channel) ||
        (f->command && !o->command) || (f->blocked_at && !o->blocked_at)) {
        open_finding_clear(o);
        return errno = ENOMEM, -1;
    }
    o->f.path = o->path;
    o->f.channel = o->channel;
    o->f.command = o->command;
    o->f.blocked_at = o->blocked_at;
    o->f.web_user = NULL; /* borrowed from the config: set when logging */
    return 0;
}

struct collect_ctx {
    struct open_finding *items;
    size_t n;
    bool failed;
};

static void collect_finding(void *arg, const struct finding *f)
{
    struct collect_ctx *cc = arg;
    struct open_finding *p = realloc(cc->items, (cc->n + 1) * sizeof(*p));
    if (!p) {
        cc->failed = true;
        return;
    }
    cc->items = p;
    if (open_finding_set(&cc->items[cc->n], f) < 0)
        cc->failed = true;
    else
        cc->n++;
}

static const struct open_finding *find_key(const struct open_finding *list, size_t n,
                                           const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].key, key) == 0)
            return &list[i];
    return NULL;
}

/* Log the kernel overriding the model, once per command until it agrees again. */
static void note_disagreements(struct dispatch *d, const struct dispatch_set *s)
{
    char **now = NULL;
    size_t nnow = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct dispatch_entry *e = &s->items[i];
        if (!e->verdict.kernel_disagreed)
            continue;
        char *key = NULL;
        if (asprintf(&key, "%s\n%s", e->channel, e->command) < 0)
            continue;
        bool known = false;
        for (size_t j = 0; j < d->ndisagreed; j++)
            known |= strcmp(d->disagreed[j], key) == 0;
        if (!known)
            log_warn("dispatch %s%s%s: the permission model and the kernel disagree; the "
                     "kernel wins: %s",
                     e->command, *e->channel ? " of channel " : "", e->channel, e->verdict.reason);
        char **p = realloc(now, (nnow + 1) * sizeof(*p));
        if (!p) {
            free(key);
            continue;
        }
        now = p;
        now[nnow++] = key;
    }
    for (size_t j = 0; j < d->ndisagreed; j++)
        free(d->disagreed[j]);
    free(d->disagreed);
    d->disagreed = now;
    d->ndisagreed = nnow;
}

/* Watch PATH (a directory); returns true when the watch is new. */
static bool watch_dir_path(struct dispatch *d, const char *path)
{
    int wd = inotify_add_watch(d->fd, path, DISPATCH_WATCH_MASK);
    if (wd < 0)
        return false;
    for (size_t i = 0; i < d->ndirs; i++)
        if (d->dirs[i].wd == wd) {
            d->dirs[i].keep = true;
            return false;
        }
    struct dir_watch *p = realloc(d->dirs, (d->ndirs + 1) * sizeof(*p));
    char *copy = strdup(path);
    if (!p || !copy) {
        free(copy);
        if (p)
            d->dirs = p;
        inotify_rm_watch(d->fd, wd);
        return false;
    }
    d->dirs = p;
    d->dirs[d->ndirs++] = (struct dir_watch){wd, copy, true};
    return true;
}

/* Watch exactly the directories S depends on. Returns whether any watch is new. */
static bool update_watches(struct dispatch *d, const struct dispatch_set *s)
{
    for (size_t i = 0; i < d->ndirs; i++)
        d->dirs[i].keep = false;
    bool added = false;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->items[i].verdict.nwatch; j++)
            added |= watch_dir_path(d, s->items[i].verdict.watch[j]);
    /* the channels file is replaced by rename: watch its directory, or the nearest
     * existing ancestor while it is missing */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", s->channels_path);
    for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
        *slash = '\0';
        struct stat st;
        if (stat(*dir ? dir : "/", &st) == 0 && S_ISDIR(st.st_mode)) {
            added |= watch_dir_path(d, *dir ? dir : "/");
            break;
        }
    }
    for (size_t i = 0; i < d->ndirs;) {
        if (d->dirs[i].keep) {
            i++;
            continue;
        }
        inotify_rm_watch(d->fd, d->dirs[i].wd);
        free(d->dirs[i].path);
        d->dirs[i] = d->dirs[--d->ndirs];
    }
    return added;
}

/* Judge everything again; log what opened and what closed. */
static void judge(struct dispatch *d)
{
    struct dispatch_set s;
    if (dispatch_collect(d->c, &s) < 0) {
        log_warn_errno(errno, "dispatch: cannot judge the registered commands; retrying");
        ev_timer_set(&d->debounce, 1.0, 0);
        ev_timer_start(d->ev, &d->debounce);
        return;
    }
    struct collect_ctx cc = {0};
    dispatch_findings(d->c, &s, collect_finding, &cc);
    if (cc.failed) {
        for (size_t i = 0; i < cc.n; i++)
            open_finding_clear(&cc.items[i]);
        free(cc.items);
        dispatch_set_free(&s);
        log_warn("dispatch: out of memory; retrying");
        ev_timer_set(&d->debounce, 1.0, 0);
        ev_timer_start(d->ev, &d->debounce);
        return;
    }
    note_disagreements(d, &s);
    for (size_t i = 0; i < cc.n; i++)
        if (!find_key(d->open, d->nopen, cc.items[i].key)) {
            struct finding f = cc.items[i].f;
            f.web_user = d->c->web_user;
            log_finding(LOG_EVENT_FINDING, &f);
        }
    for (size_t i = 0; i < d->nopen; i++)
        if (!find_key(cc.items, cc.n, d->open[i].key)) {
            struct finding f = d->open[i].f;
            f.web_user = d->c->web_user;
            log_finding(LOG_EVENT_RESOLVED, &f);
        }
    for (size_t i = 0; i < d->nopen; i++)
        open_finding_clear(&d->open[i]);
    free(d->open);
    d->open = cc.items;
    d->nopen = cc.n;
    d->ncommands = s.n;
    bool added = update_watches(d, &s);
    if (d->have_last)
        dispatch_set_free(&d->last);
    d->last = s;
    d->have_last = true;
    /* something may have changed before the new watches were in place: look once more */
    if (added && d->settle < SETTLE_ROUNDS) {
        d->settle++;
        ev_timer_set(&d->debounce, DEBOUNCE_SECONDS, 0);
        ev_timer_start(d->ev, &d->debounce);
    } else if (!added) {
        d->settle = 0;
    }
}

static void on_debounce(struct ev_loop *loop, ev_timer *t, int revents)
{
    judge(t->data);
}

static void on_events(struct ev_loop *loop, ev_io *io, int revents)
{
    struct dispatch *d = io->data;
    _Alignas(struct inotify_event) char buf[16 * 1024];
    bool any = false;
    for (;;) {
        ssize_t n = read(d->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        any = true;
    }
    if (any) {
        d->settle = 0;
        ev_timer_stop(loop, &d->debounce);
        ev_timer_set(&d->debounce, DEBOUNCE_SECONDS, 0);
        ev_timer_start(loop, &d->debounce);
    }
}

struct dispatch *dispatch_new(struct ev_loop *ev, const struct config *c)
{
    struct dispatch *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ev = ev;
    d->c = c;
    d->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (d->fd < 0) {
        int e = errno;
        free(d);
        errno = e;
        return NULL;
    }
    ev_io_init(&d->io, on_events, d->fd, EV_READ);
    d->io.data = d;
    ev_init(&d->debounce, on_debounce);
    d->debounce.data = d;
    ev_io_start(ev, &d->io);
    judge(d);
    return d;
}

void dispatch_reload(struct dispatch *d, const struct config *c)
{
    d->c = c;
    d->settle = 0;
    ev_timer_stop(d->ev, &d->debounce);
    judge(d);
}

const struct dispatch_set *dispatch_last(const struct dispatch *d)
{
    return d && d->have_last ? &d->last : NULL;
}

size_t dispatch_open_count(const struct dispatch *d)
{
    return d ? d->nopen : 0;
}

size_t dispatch_command_count(const struct dispatch *d)
{
    return d ? d->ncommands : 0;
}

void dispatch_free(struct dispatch *d)
{
    if (!d)
        return;
    ev_io_stop(d->ev, &d->io);
    ev_timer_stop(d->ev, &d->debounce);
    close(d->fd);
    for (size_t i = 0; i < d->ndirs; i++)
        free(d->dirs[i].path);
    free(d->dirs);
    for (size_t i = 0; i < d->nopen; i++)
        open_finding_clear(&d->open[i]);
    free(d->open);
    for (size_t i = 0; i < d->ndisagreed; i++)
        free(d->disagreed[i]);
    free(d->disagreed);
    if (d->have_last)
        dispatch_set_free(&d->last);
    free(d);
}
