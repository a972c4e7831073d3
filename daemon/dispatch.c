/* dispatch: collect the registered commands, judge them (reach), and keep the verdicts under
 * watch. The live part has its own small inotify instance over the directories the verdicts
 * depend on (outside the site, mostly): any event there re-judges everything after a short
 * debounce; a verdict is logged only when it changes. A judgement is a round (struct round):
 * opened and checked on the loop, read, parsed, judged and watched on a worker thread that
 * touches nothing else, then taken over on the loop (round_finish). One round at a time;
 * events during a round ask for one more after it. */
#include "dispatch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "esc.h"
#include "log.h"
#include "phplint.h"
#include "policy.h"
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

/* Whether the channels file open at FD may be read: a regular file with a single link (another
 * name could make a file the web user may not read appear here), owned by root, the web user
 * or an owner that the policy's rule for it allows, and readable by the web user (PHP, running
 * as the web user, includes only such a file). Returns true, or false with WHY (never any of
 * the file's content). Uses the account name cache: the loop's thread only. */
static bool channels_safe(const struct config *c, int fd, char *why, size_t n)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(why, n, "cannot stat it: %s", strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, n, "not a regular file");
        return false;
    }
    if (st.st_nlink != 1) {
        snprintf(why, n,
                 "it has %ju hard links; a channels file must have exactly one (a link can show "
                 "another file's content here)",
                 (uintmax_t)st.st_nlink);
        return false;
    }
    const char *rel = NULL;
    size_t rootlen = strlen(c->site_root);
    if (c->channels_file[0] != '/')
        rel = c->channels_file;
    else if (strncmp(c->channels_file, c->site_root, rootlen) == 0 &&
             c->channels_file[rootlen] == '/')
        rel = c->channels_file + rootlen + 1;
    const struct rule *r = rel ? policy_match(c, rel) : NULL;
    bool owner_ok = st.st_uid == 0 || st.st_uid == c->web.uid;
    for (size_t i = 0; r && !owner_ok && i < r->nowners; i++)
        owner_ok = st.st_uid == r->owners[i];
    if (!owner_ok) {
        snprintf(why, n, "owned by %s: expected root, %s%s%s%s", account_user_name(st.st_uid),
                 c->web_user, r ? " or an owner rule " : "", r ? r->name : "", r ? " allows" : "");
        return false;
    }
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    if (reach_readable(&c->web, self, &st) == 0) {
        snprintf(why, n, "%s cannot read it (mode %04o %s:%s): PHP could not include it",
                 c->web_user, (unsigned)(st.st_mode & 07777), account_user_name(st.st_uid),
                 account_group_name(st.st_gid));
        return false;
    }
    return true;
}

/* "SITE/FILE" or FILE: the channels file's absolute path, into BUF (PATH_MAX). */
static void channels_abs(const struct config *c, char *buf, size_t len)
{
    if (c->channels_file[0] == '/')
        snprintf(buf, len, "%s", c->channels_file);
    else
        snprintf(buf, len, "%s/%s", c->site_root, c->channels_file);
}

/* ---- one round of judging ------------------------------------------------------------ */

/* A watch the worker added for the verdicts. */
struct round_watch {
    int wd;
    char *path;
};

/* One judgement of every registered command. The inputs are copies (the policy may be replaced
 * meanwhile); round_run fills the outputs, on a worker thread (live) or the caller's. */
struct round {
    struct principal who;
    char *path_env;
    char **commands;
    size_t ncommands;
    int fd;             /* the channels file, opened and found safe; -1 when not to be read */
    char php[PATH_MAX]; /* PHP asked for the syntax (`php -l`), "" none: PHP_WHY says why */
    const char *php_why;
    int inotify_fd; /* round_run adds the watches here; -1: none (one-shot) */
    atomic_bool cancel;
    atomic_bool finished;
    /* outputs */
    struct dispatch_set set;     /* channels_path, channels_errno, refused: set by round_new */
    int err;                     /* 0, or ENOMEM: the round failed */
    struct round_watch *watches; /* sorted by wd, one per wd */
    size_t nwatches;
    bool watches_capped;
    uint64_t usec;      /* wall time of round_run */
    uint64_t loop_usec; /* time spent on the event loop to start it */
    /* live */
    pthread_t thread;
    struct ev_loop *ev;
    ev_async *done;
    bool stale; /* the policy changed meanwhile: the results are dropped */
};

static uint64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void round_free(struct round *r)
{
    if (!r)
        return;
    free(r->who.name);
    free(r->who.groups);
    free(r->path_env);
    for (size_t i = 0; i < r->ncommands; i++)
        free(r->commands[i]);
    free(r->commands);
    if (r->fd >= 0)
        close(r->fd);
    dispatch_set_free(&r->set);
    for (size_t i = 0; i < r->nwatches; i++)
        free(r->watches[i].path);
    free(r->watches);
    free(r);
}

/* A round for policy C: copies what the judging needs, opens the channels file and checks it
 * (channels_safe), on the calling thread. Returns it, or NULL with errno ENOMEM. */
static struct round *round_new(const struct config *c)
{
    struct round *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->fd = -1;
    r->inotify_fd = -1;
    char abs[PATH_MAX];
    channels_abs(c, abs, sizeof(abs));
    r->who = c->web;
    r->who.name = c->web.name ? strdup(c->web.name) : NULL;
    r->who.groups = malloc((c->web.ngroups + 1) * sizeof(gid_t));
    r->path_env = c->dispatch_path ? strdup(c->dispatch_path) : NULL;
    r->commands = calloc(c->ncommands + 1, sizeof(char *));
    r->set.channels_path = strdup(abs);
    if ((c->web.name && !r->who.name) || !r->who.groups || (c->dispatch_path && !r->path_env) ||
        !r->commands || !r->set.channels_path)
        goto nomem;
    if (c->web.ngroups)
        memcpy(r->who.groups, c->web.groups, c->web.ngroups * sizeof(gid_t));
    for (; r->ncommands < c->ncommands; r->ncommands++)
        if (!(r->commands[r->ncommands] = strdup(c->commands[r->ncommands])))
            goto nomem;
    if (c->dispatch_php && !*c->dispatch_php) {
        r->php_why = "php = no";
    } else if (c->dispatch_php) {
        snprintf(r->php, sizeof(r->php), "%s", c->dispatch_php);
    } else if (!phplint_find(CONFIG_DEFAULT_DISPATCH_PATH, r->php, sizeof(r->php))) {
        r->php[0] = '\0';
        r->php_why = "no php on " CONFIG_DEFAULT_DISPATCH_PATH;
    }
    r->fd = open_channels(c, abs);
    if (r->fd < 0) {
        r->set.channels_errno = errno;
    } else if (!channels_safe(c, r->fd, r->set.refused, sizeof(r->set.refused))) {
        close(r->fd);
        r->fd = -1;
    }
    return r;
nomem:
    round_free(r);
    errno = ENOMEM;
    return NULL;
}

/* Append an unjudged entry to S (CHANNEL and COMMAND are taken over, freed on failure).
 * Returns 0 or -1 (ENOMEM). */
static int entry_add(struct dispatch_set *s, char *channel, char *command, unsigned line)
{
    if (!channel || !command) {
        free(channel);
        free(command);
        return -1;
    }
    struct dispatch_entry *e = &s->items[s->n++];
    memset(e, 0, sizeof(*e));
    e->channel = channel;
    e->command = command;
    e->line = line;
    return 0;
}

/* Whether E's verdict rests on checks the kernel can confirm. */
static bool needs_kernel(const struct dispatch_entry *e)
{
    return e->verdict.status != REACH_INVALID && e->verdict.resolved[0] && e->verdict.nchecks;
}

/* Ask the kernel about every entry of R that needs it and is not a copy (SAME[i] == i), at
 * most DISPATCH_MAX_CHILDREN children at a time, each for REACH_KERNEL_TIMEOUT_MS at most. */
static void round_kernel(struct round *r, const size_t *same)
{
    struct dispatch_set *s = &r->set;
    struct reach_kjob jobs[DISPATCH_MAX_CHILDREN];
    size_t of[DISPATCH_MAX_CHILDREN];
    uint64_t until[DISPATCH_MAX_CHILDREN];
    size_t njobs = 0, next = 0;
    for (;;) {
        bool cancel = atomic_load(&r->cancel);
        while (!cancel && njobs < DISPATCH_MAX_CHILDREN && next < s->n) {
            struct dispatch_entry *e = &s->items[next];
            if (same[next] != next || !needs_kernel(e)) {
                next++;
                continue;
            }
            if (reach_kernel_start(&r->who, &e->verdict, &jobs[njobs]) < 0) {
                e->kernel_errno = errno;
                next++;
                continue;
            }
            of[njobs] = next++;
            until[njobs++] = mono_usec() + REACH_KERNEL_TIMEOUT_MS * 1000ULL;
        }
        if (!njobs)
            return;
        if (cancel) {
            while (njobs)
                reach_kernel_abort(&jobs[--njobs]);
            return;
        }
        struct pollfd pfd[DISPATCH_MAX_CHILDREN];
        uint64_t now = mono_usec(), first = UINT64_MAX;
        for (size_t i = 0; i < njobs; i++) {
            pfd[i] = (struct pollfd){.fd = jobs[i].fd, .events = POLLIN};
            first = until[i] < first ? until[i] : first;
        }
        int ms = first > now ? (int)((first - now + 999) / 1000) : 0;
        if (poll(pfd, (nfds_t)njobs, ms > 100 ? 100 : ms) < 0 && errno != EINTR)
            memset(pfd, 0, sizeof(pfd));
        now = mono_usec();
        for (size_t i = njobs; i-- > 0;) {
            struct dispatch_entry *e = &s->items[of[i]];
            int rc = 1;
            if (pfd[i].revents)
                rc = reach_kernel_finish(&r->who, &e->verdict, &jobs[i]);
            if (rc == -2)
                e->kernel_errno = errno;
            if (rc > 0 || (rc == -1 && errno == EAGAIN)) {
                if (now < until[i])
                    continue;
                reach_kernel_abort(&jobs[i]);
                e->kernel_errno = ETIMEDOUT;
            }
            jobs[i] = jobs[njobs - 1];
            of[i] = of[njobs - 1];
            until[i] = until[njobs - 1];
            njobs--;
        }
    }
}

static int watch_cmp(const void *a, const void *b)
{
    int x = ((const struct round_watch *)a)->wd, y = ((const struct round_watch *)b)->wd;
    return (x > y) - (x < y);
}

/* Watch PATH (a directory) for R, once per wd, DISPATCH_MAX_WATCHES at most. Returns 0, or -1
 * (ENOMEM). */
static int round_watch(struct round *r, const char *path)
{
    if (r->nwatches >= DISPATCH_MAX_WATCHES) {
        r->watches_capped = true;
        return 0;
    }
    int wd = inotify_add_watch(r->inotify_fd, path, DISPATCH_WATCH_MASK);
    if (wd < 0)
        return 0;
    for (size_t i = r->nwatches; i-- > 0;) /* most verdicts share most directories */
        if (r->watches[i].wd == wd)
            return 0;
    if (!(r->nwatches & (r->nwatches + 1))) { /* 0, 1, 3, 7, ...: grow */
        struct round_watch *p = realloc(r->watches, (r->nwatches * 2 + 2) * sizeof(*p));
        if (!p)
            return -1;
        r->watches = p;
    }
    if (!(r->watches[r->nwatches].path = strdup(path)))
        return -1;
    r->watches[r->nwatches++].wd = wd;
    return 0;
}

/* Watch every directory the verdicts depend on, and the channels file's directory (it is
 * replaced by rename), or its nearest existing ancestor while missing; sorted by wd, one entry
 * per wd. Returns 0 or -1 (ENOMEM). */
static int round_watches(struct round *r, const size_t *same)
{
    const struct dispatch_set *s = &r->set;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", s->channels_path);
    for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
        *slash = '\0';
        struct stat st;
        if (stat(*dir ? dir : "/", &st) == 0 && S_ISDIR(st.st_mode)) {
            if (round_watch(r, *dir ? dir : "/") < 0)
                return -1;
            break;
        }
    }
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; same[i] == i && j < s->items[i].verdict.nwatch; j++)
            if (round_watch(r, s->items[i].verdict.watch[j]) < 0)
                return -1;
    if (r->nwatches)
        qsort(r->watches, r->nwatches, sizeof(*r->watches), watch_cmp);
    size_t k = 0;
    for (size_t i = 0; i < r->nwatches; i++) {
        if (k && r->watches[k - 1].wd == r->watches[i].wd) {
            free(r->watches[i].path);
            continue;
        }
        r->watches[k++] = r->watches[i];
    }
    r->nwatches = k;
    return 0;
}

/* Ask PHP (`php -l` as the web user, phplint.h) whether BUF (LEN bytes) is valid PHP; its
 * answer replaces the own syntax check in *PARSED: a parse error becomes the one fatal error,
 * an accepted file has no fatal error (the own check's become ordinary ones). Without an
 * answer the own check stands. Says which was used in R->set.syntax_check. Returns 0, or -1
 * (ENOMEM). Blocks up to PHPLINT_SECONDS: worker thread only. */
static int round_lint(struct round *r, const char *buf, size_t len, struct channels *parsed)
{
    char *why = r->set.syntax_check;
    size_t whylen = sizeof(r->set.syntax_check);
    struct phplint_result lint;
    if (!r->php[0]) {
        snprintf(why, whylen, "permwatch's own (%s)", r->php_why ? r->php_why : "no php");
        return 0;
    }
    if (phplint_run(r->php, &r->who, buf, len, &lint) < 0) {
        snprintf(why, whylen, "permwatch's own (cannot start %.200s: %.60s)", r->php,
                 strerror(errno));
        return 0;
    }
    if (lint.verdict == PHPLINT_UNKNOWN) {
        snprintf(why, whylen, "permwatch's own (%.120s -l: %.120s)", r->php, lint.message);
        return 0;
    }
    snprintf(why, whylen, "php -l (%.200s)", r->php);
    if (lint.verdict == PHPLINT_ERROR) { /* PHP's parse error replaces the own ones */
        size_t k = 0;
        for (size_t i = 0; i < parsed->nerrors; i++)
            if (!parsed->errors[i].fatal)
                parsed->errors[k++] = parsed->errors[i];
        parsed->nerrors = k;
    }
    for (size_t i = 0; i < parsed->nerrors; i++) {
        struct channels_error *e = &parsed->errors[i];
        if (!e->fatal)
            continue;
        e->fatal = false;
        {
            char m[sizeof(e->message)];
            snprintf(m, sizeof(m), "%s", e->message);
            snprintf(e->message, sizeof(e->message),
                     "not understood by permwatch (php -l accepts it): %.100s", m);
        }
    }
    if (lint.verdict == PHPLINT_OK)
        return 0;
    struct channels_error *grown =
        realloc(parsed->errors, (parsed->nerrors + 1) * sizeof(*parsed->errors));
    if (!grown)
        return -1;
    parsed->errors = grown;
    struct channels_error add = {.line = lint.line ? lint.line : 1, .fatal = true};
    snprintf(add.message, sizeof(add.message), "PHP cannot parse it (php -l): %.120s",
             lint.message);
    size_t at = parsed->nerrors; /* keep them sorted by line */
    while (at > 0 && parsed->errors[at - 1].line > add.line) {
        parsed->errors[at] = parsed->errors[at - 1];
        at--;
    }
    parsed->errors[at] = add;
    parsed->nerrors++;
    return 0;
}

/* Read and parse the channels file (R->fd), keep its first DISPATCH_MAX_COMMANDS bridges and
 * the policy's commands, judge each distinct command once with the model and the kernel, and
 * add the watches. Touches nothing but R: runs on any thread. Sets R->err on failure; stops
 * early when R->cancel is set. */
static void round_run(struct round *r)
{
    uint64_t t0 = mono_usec();
    struct dispatch_set *s = &r->set;
    struct channels parsed = {0};
    size_t *same = NULL;
    if (r->fd >= 0) {
        size_t len = 0;
        char *buf = read_all(r->fd, &len);
        s->channels_errno = buf ? 0 : errno;
        close(r->fd);
        r->fd = -1;
        int rc = buf ? channels_parse(buf, len, &parsed) : 0;
        if (rc == 0 && buf && round_lint(r, buf, len, &parsed) < 0)
            rc = -1;
        free(buf);
        if (rc < 0)
            goto nomem;
    }
    s->errors = parsed.errors;
    s->nerrors = parsed.nerrors;
    parsed.errors = NULL;
    parsed.nerrors = 0;
    size_t take = parsed.n < DISPATCH_MAX_COMMANDS ? parsed.n : DISPATCH_MAX_COMMANDS;
    s->beyond_cap = parsed.n - take;
    size_t total = take + r->ncommands;
    if (total &&
        (!(s->items = calloc(total, sizeof(*s->items))) || !(same = calloc(total, sizeof(*same)))))
        goto nomem;
    for (size_t i = 0; i < take; i++) {
        struct channel *ch = &parsed.items[i];
        char *name = ch->name, *command = ch->command;
        ch->name = ch->command = NULL; /* taken over */
        if (entry_add(s, name, command, ch->line) < 0)
            goto nomem;
    }
    channels_free(&parsed);
    for (size_t i = 0; i < r->ncommands; i++)
        if (entry_add(s, strdup(""), strdup(r->commands[i]), 0) < 0)
            goto nomem;

    /* the model, once per distinct command (the PATH is the same for the whole round) */
    for (size_t i = 0; i < s->n && !atomic_load(&r->cancel); i++) {
        same[i] = i;
        for (size_t j = 0; j < i; j++)
            if (same[j] == j && strcmp(s->items[j].command, s->items[i].command) == 0) {
                same[i] = j;
                break;
            }
        if (same[i] == i &&
            reach_check(&r->who, s->items[i].command, r->path_env, &s->items[i].verdict) < 0)
            goto nomem;
    }
    if (atomic_load(&r->cancel))
        goto out;
    round_kernel(r, same);
    if (atomic_load(&r->cancel))
        goto out;
    for (size_t i = 0; i < s->n; i++)
        if (same[i] != i) {
            if (reach_verdict_copy(&s->items[i].verdict, &s->items[same[i]].verdict) < 0)
                goto nomem;
            s->items[i].kernel_errno = s->items[same[i]].kernel_errno;
        }
    if (r->inotify_fd >= 0 && round_watches(r, same) < 0)
        goto nomem;
out:
    free(same);
    r->usec = mono_usec() - t0;
    return;
nomem:
    channels_free(&parsed);
    free(same);
    r->err = ENOMEM;
    r->usec = mono_usec() - t0;
}

/* Log, once per round, the commands the kernel could not be asked about. */
static void log_kernel_failures(const char *web_user, const struct dispatch_set *s)
{
    size_t failed = 0;
    const struct dispatch_entry *first = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].kernel_errno) {
            failed++;
            first = first ? first : &s->items[i];
        }
    if (failed == 1)
        log_warn_errno(first->kernel_errno, "cannot ask the kernel about %s as %s", first->command,
                       web_user);
    else if (failed)
        log_warn_errno(first->kernel_errno,
                       "cannot ask the kernel about %zu commands as %s (the first: %s)", failed,
                       web_user, first->command);
}

int dispatch_collect(const struct config *c, struct dispatch_set *out)
{
    memset(out, 0, sizeof(*out));
    struct round *r = round_new(c);
    if (!r)
        return -1;
    round_run(r);
    if (r->err) {
        round_free(r);
        return errno = ENOMEM, -1;
    }
    *out = r->set;
    memset(&r->set, 0, sizeof(r->set));
    round_free(r);
    log_kernel_failures(c->web_user, out);
    return 0;
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

size_t dispatch_findings(const struct config *c, const struct dispatch_set *s,
                         dispatch_finding_fn fn, void *ctx)
{
    size_t count = 0;
    bool unreadable = s->channels_errno && s->channels_errno != ENOENT;
    if (s->refused[0] || unreadable || s->nerrors || s->beyond_cap) {
        struct finding f = {.kind = FINDING_DISPATCH_INVALID, .path = s->channels_path};
        f.web_user = c->web_user;
        snprintf(f.expected, sizeof(f.expected), "a channels file permwatch can read and parse");
        size_t len = 0;
        if (s->refused[0])
            snprintf(f.reason, sizeof(f.reason), "refused, not read: %s", s->refused);
        else if (unreadable)
            snprintf(f.reason, sizeof(f.reason), "cannot read it: %s%s",
                     strerror(s->channels_errno),
                     s->channels_errno == ELOOP ? " (a symbolic link: never followed)" : "");
        else if (s->beyond_cap)
            len = (size_t)snprintf(f.reason, sizeof(f.reason),
                                   "%zu bridges registered: only the first %d are judged (the "
                                   "cap), %zu are not",
                                   s->beyond_cap + DISPATCH_MAX_COMMANDS, DISPATCH_MAX_COMMANDS,
                                   s->beyond_cap);
        if (!s->refused[0] && !unreadable && s->nerrors && len < sizeof(f.reason)) {
            const char *sep = len ? "; " : "";
            size_t first = 0; /* a syntax error first: the site is down */
            for (size_t i = 0; i < s->nerrors; i++)
                if (s->errors[i].fatal) {
                    first = i;
                    f.fatal = true;
                    snprintf(f.expected, sizeof(f.expected),
                             "a channels file PHP can parse (php -l)");
                    break;
                }
            if (s->nerrors == 1)
                snprintf(f.reason + len, sizeof(f.reason) - len, "%sline %u: %s", sep,
                         s->errors[first].line, s->errors[first].message);
            else
                snprintf(f.reason + len, sizeof(f.reason) - len,
                         "%sline %u: %s (and %zu more problems)", sep, s->errors[first].line,
                         s->errors[first].message, s->nerrors - 1);
        }
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
        esc_copy_cut(f.reason, sizeof(f.reason), e->verdict.reason);
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
    ev_async done;       /* the worker finished its round */
    struct round *round; /* the round under way, or NULL */
    bool again;          /* something changed during the round: judge once more after it */
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

/* Take R's watches (sorted by wd) as the set to keep: new ones are recorded, the others are
 * removed, unless MERGE_ONLY (a stale round: only record them, the next round decides).
 * Returns whether any watch is new. */
static bool take_watches(struct dispatch *d, struct round *r, bool merge_only)
{
    bool added = false;
    for (size_t i = 0; i < d->ndirs; i++) {
        struct round_watch key = {.wd = d->dirs[i].wd};
        struct round_watch *w =
            r->nwatches ? bsearch(&key, r->watches, r->nwatches, sizeof(key), watch_cmp) : NULL;
        d->dirs[i].keep = merge_only || w;
        if (w) { /* known: the round's copy is not needed */
            free(w->path);
            w->path = NULL;
        }
    }
    size_t fresh = 0;
    for (size_t i = 0; i < r->nwatches; i++)
        fresh += r->watches[i].path != NULL;
    struct dir_watch *p = fresh ? realloc(d->dirs, (d->ndirs + fresh) * sizeof(*p)) : d->dirs;
    if (p) {
        d->dirs = p;
        for (size_t i = 0; i < r->nwatches; i++)
            if (r->watches[i].path) {
                d->dirs[d->ndirs++] =
                    (struct dir_watch){r->watches[i].wd, r->watches[i].path, true};
                r->watches[i].path = NULL;
                added = true;
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

/* Judge again after DELAY seconds (unless a judgement is already due sooner). */
static void judge_later(struct dispatch *d, double delay)
{
    ev_timer_stop(d->ev, &d->debounce);
    ev_timer_set(&d->debounce, delay, 0);
    ev_timer_start(d->ev, &d->debounce);
}

static void *round_thread(void *arg)
{
    struct round *r = arg;
    round_run(r);
    atomic_store(&r->finished, true);
    ev_async_send(r->ev, r->done);
    return NULL;
}

/* Start a round on a worker thread (or, when no thread can be made, run it here). */
static void judge(struct dispatch *d)
{
    if (d->round) { /* one at a time: judge again when it is done */
        d->again = true;
        return;
    }
    uint64_t t0 = mono_usec();
    struct round *r = round_new(d->c);
    if (!r) {
        log_warn_errno(errno, "dispatch: cannot judge the registered commands; retrying");
        judge_later(d, 1.0);
        return;
    }
    r->inotify_fd = d->fd;
    r->ev = d->ev;
    r->done = &d->done;
    d->round = r;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the worker takes no signal */
    int e = pthread_create(&r->thread, NULL, round_thread, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        log_warn_errno(e, "dispatch: no worker thread; judging on the event loop");
        round_run(r);
        atomic_store(&r->finished, true);
        r->thread = pthread_self();
        ev_async_send(d->ev, &d->done);
    }
    r->loop_usec = mono_usec() - t0;
}

/* The round R is over: log what opened and what closed, keep its verdicts and watches. */
static void round_finish(struct dispatch *d, struct round *r)
{
    uint64_t t0 = mono_usec();
    if (r->stale) {
        take_watches(d, r, true);
        return;
    }
    if (r->err) {
        take_watches(d, r, true);
        log_warn_errno(r->err, "dispatch: cannot judge the registered commands; retrying");
        judge_later(d, 1.0);
        return;
    }
    struct dispatch_set *s = &r->set;
    struct collect_ctx cc = {0};
    dispatch_findings(d->c, s, collect_finding, &cc);
    if (cc.failed) {
        for (size_t i = 0; i < cc.n; i++)
            open_finding_clear(&cc.items[i]);
        free(cc.items);
        take_watches(d, r, true);
        log_warn("dispatch: out of memory; retrying");
        judge_later(d, 1.0);
        return;
    }
    log_kernel_failures(d->c->web_user, s);
    note_disagreements(d, s);
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
    d->ncommands = s->n;
    bool added = take_watches(d, r, false);
    if (r->watches_capped)
        log_warn("dispatch: the verdicts depend on more than %d directories; only %d are "
                 "watched (a change elsewhere is seen at the next judgement)",
                 DISPATCH_MAX_WATCHES, DISPATCH_MAX_WATCHES);
    if (d->have_last)
        dispatch_set_free(&d->last);
    d->last = *s;
    memset(s, 0, sizeof(*s));
    d->have_last = true;
    if (d->last.beyond_cap)
        log_info("dispatch: %zu of %zu bridges judged in %.1f ms on a worker thread; %.2f ms on "
                 "the event loop to start, %.2f ms to take the results",
                 d->last.n - r->ncommands, d->last.n - r->ncommands + d->last.beyond_cap,
                 (double)r->usec / 1e3, (double)r->loop_usec / 1e3,
                 (double)(mono_usec() - t0) / 1e3);
    /* something may have changed before the new watches were in place: look once more */
    if (added && d->settle < SETTLE_ROUNDS) {
        d->settle++;
        judge_later(d, DEBOUNCE_SECONDS);
    } else if (!added) {
        d->settle = 0;
    }
}

static void on_round_done(struct ev_loop *loop, ev_async *a, int revents)
{
    struct dispatch *d = a->data;
    struct round *r = d->round;
    if (!r || !atomic_load(&r->finished))
        return;
    if (!pthread_equal(r->thread, pthread_self()))
        pthread_join(r->thread, NULL);
    d->round = NULL;
    round_finish(d, r);
    round_free(r);
    if (d->again) {
        d->again = false;
        judge_later(d, DEBOUNCE_SECONDS);
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
        judge_later(d, DEBOUNCE_SECONDS);
    }
}

struct dispatch *dispatch_new(struct ev_loop *ev, const struct config *c)
{
    struct dispatch *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ev = ev;
    d->c = c;
    char abs[PATH_MAX];
    channels_abs(c, abs, sizeof(abs));
    d->last.channels_path = strdup(abs);
    d->fd = d->last.channels_path ? inotify_init1(IN_NONBLOCK | IN_CLOEXEC) : -1;
    if (d->fd < 0) {
        int e = d->last.channels_path ? errno : ENOMEM;
        free(d->last.channels_path);
        free(d);
        errno = e;
        return NULL;
    }
    d->have_last = true; /* nothing judged yet: an empty set */
    ev_io_init(&d->io, on_events, d->fd, EV_READ);
    d->io.data = d;
    ev_init(&d->debounce, on_debounce);
    d->debounce.data = d;
    ev_async_init(&d->done, on_round_done);
    d->done.data = d;
    ev_io_start(ev, &d->io);
    ev_async_start(ev, &d->done);
    judge(d);
    return d;
}

void dispatch_reload(struct dispatch *d, const struct config *c)
{
    d->c = c;
    d->settle = 0;
    ev_timer_stop(d->ev, &d->debounce);
    if (d->round) { /* judged for the old policy: drop it, judge again once it stopped */
        d->round->stale = true;
        atomic_store(&d->round->cancel, true);
        d->again = true;
        return;
    }
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
    ev_async_stop(d->ev, &d->done);
    if (d->round) {
        atomic_store(&d->round->cancel, true);
        if (!pthread_equal(d->round->thread, pthread_self()))
            pthread_join(d->round->thread, NULL);
        round_free(d->round);
    }
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
