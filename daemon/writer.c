/* writer: resolve the process behind an event (pid, pidfd) to its command, user and systemd
 * unit; rank the writers behind root-owned writes; decide the root_writer finding.
 *
 * Pid reuse: the pidfd pins the process, not its pid number. /proc/PID is read, then the
 * pidfd is polled: no POLLIN means the process had not exited, so every read before the poll
 * was of this process (its pid cannot have been reused while it lived). A process that
 * exited before or during the reads is answered `unknown` with its pid only: nothing read
 * after its exit can be told apart from a new process that got the pid. */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "account.h"
#include "esc.h"
#include "finding.h"
#include "parse.h"

const char *writer_unit_kind_name(enum writer_unit_kind k)
{
    switch (k) {
    case WRITER_UNIT_SYSTEM:
        return "system";
    case WRITER_UNIT_SESSION:
        return "session";
    case WRITER_UNIT_USER:
        return "user";
    default:
        return "none";
    }
}

/* Read /proc/PID/NAME into BUF (at most LEN-1 bytes, NUL-terminated). Returns the length, or
 * -1 with errno. */
static ssize_t writer_proc_read(pid_t pid, const char *name, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    size_t have = 0;
    while (have < len - 1) {
        ssize_t r = read(fd, buf + have, len - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        have += (size_t)r;
    }
    close(fd);
    buf[have] = '\0';
    return (ssize_t)have;
}

/* Whether the process of PIDFD has provably not exited (poll: no POLLIN). */
static bool writer_alive(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    return r == 0;
}

/* The start time of PID (field 22 of /proc/PID/stat, clock ticks since boot). Returns 0 and
 * *START, or -1. */
static int writer_start_time(pid_t pid, unsigned long long *start)
{
    char buf[1024];
    if (writer_proc_read(pid, "stat", buf, sizeof(buf)) < 0)
        return -1;
    const char *p = strrchr(buf, ')'); /* comm may hold spaces and ')' */
    if (!p)
        return -1;
    p++;
    for (int field = 2; field < 21; field++) { /* skip state .. itrealvalue (3..21) */
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    return sscanf(p, " %llu", start) == 1 ? 0 : -1;
}

/* The effective uid from /proc/PID/status. Returns 0 and *UID, or -1. */
static int writer_uid(pid_t pid, uid_t *uid)
{
    char buf[4096];
    if (writer_proc_read(pid, "status", buf, sizeof(buf)) < 0)
        return -1;
    const char *p = strstr(buf, "\nUid:");
    unsigned r, e;
    if (!p || sscanf(p + 5, "%u %u", &r, &e) != 2)
        return -1;
    *uid = (uid_t)e;
    return 0;
}

/* The systemd unit of PID into OUT (cgroup-based, libsystemd 252 has no pidfd variant). */
static void writer_unit(pid_t pid, struct writer_info *out)
{
    char *unit = NULL, *uunit = NULL;
    out->unit[0] = '\0';
    out->unit_kind = WRITER_UNIT_NONE;
    if (sd_pid_get_user_unit(pid, &uunit) >= 0 && uunit && *uunit) {
        esc_copy_cut(out->unit, sizeof(out->unit), uunit);
        out->unit_kind = WRITER_UNIT_USER;
    } else if (sd_pid_get_unit(pid, &unit) >= 0 && unit && *unit) {
        esc_copy_cut(out->unit, sizeof(out->unit), unit);
        size_t n = strlen(unit);
        out->unit_kind =
            strncmp(unit, "session-", 8) == 0 && n > 6 && strcmp(unit + n - 6, ".scope") == 0
                ? WRITER_UNIT_SESSION
                : WRITER_UNIT_SYSTEM;
    }
    free(unit);
    free(uunit);
}

/* OUT for a writer of whom only the pid is known. */
static struct writer_info *writer_unknown(pid_t pid, struct writer_info *out)
{
    memset(out, 0, sizeof(*out));
    out->pid = pid;
    strcpy(out->comm, "unknown");
    return out;
}

/* Read everything of PID into OUT (OUT->known left false). Returns 0, or -1 when the process
 * is gone (its /proc entry could not be read). */
static int writer_read_proc(pid_t pid, struct writer_info *out)
{
    char buf[PATH_MAX];
    memset(out, 0, sizeof(*out));
    out->pid = pid;
    ssize_t n = writer_proc_read(pid, "comm", buf, sizeof(buf));
    if (n < 0)
        return -1;
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    esc_copy_cut(out->comm, sizeof(out->comm), buf);
    if (writer_uid(pid, &out->uid) < 0)
        return -1;
    esc_copy_cut(out->user, sizeof(out->user), account_user_name(out->uid));
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, buf, sizeof(buf) - 1);
    if (n >= 0) {
        buf[n] = '\0';
        esc_copy_cut(out->exe, sizeof(out->exe), buf);
    }
    writer_unit(pid, out);
    return 0;
}

struct writer_info *writer_read(const struct writer_ev *ev, struct writer_info *out)
{
    if (!ev || ev->pid <= 0) {
        memset(out, 0, sizeof(*out));
        return out;
    }
    if (ev->pidfd < 0 || !writer_alive(ev->pidfd))
        return writer_unknown(ev->pid, out);
    if (writer_read_proc(ev->pid, out) < 0 || !writer_alive(ev->pidfd))
        return writer_unknown(ev->pid, out);
    out->known = true;
    return out;
}

const char *writer_key(const struct writer_info *info, char *buf, size_t len)
{
    const char *k = "unknown";
    if (info && info->known && info->unit_kind != WRITER_UNIT_NONE && *info->unit)
        k = info->unit;
    else if (info && info->known && *info->comm)
        k = info->comm;
    snprintf(buf, len, "%s", k);
    return buf;
}

const char *writer_describe(const struct writer_info *info, char *buf, size_t len)
{
    if (!info || info->pid <= 0)
        snprintf(buf, len, "unknown");
    else if (!info->known)
        snprintf(buf, len, "pid %d, exited: unknown", (int)info->pid);
    else if (*info->unit)
        snprintf(buf, len, "%s, pid %d comm %s uid %u", info->unit, (int)info->pid, info->comm,
                 (unsigned)info->uid);
    else
        snprintf(buf, len, "pid %d comm %s uid %u", (int)info->pid, info->comm,
                 (unsigned)info->uid);
    return buf;
}

/* ---- the resolver ---------------------------------------------------------------------- */

struct cache_ent {
    pid_t pid; /* 0: free */
    unsigned long long start;
    uint64_t used; /* the resolver's tick at its last use */
    struct writer_info info;
};

struct rank_ent {
    bool used;
    char key[WRITER_UNIT_MAX];
    enum writer_unit_kind unit_kind;
    uid_t uid;
    char user[WRITER_USER_MAX];
    char comm[WRITER_COMM_MAX];
    char example[WRITER_EXAMPLE_MAX];
    uint64_t count, first, last, first_rt, last_rt;
    bool open;
    pid_t last_pid;
    unsigned nring, ring_pos; /* the last THRESHOLD write times */
    uint64_t ring[WRITER_THRESHOLD_MAX];
};

struct writer {
    struct writer_opts o;
    writer_finding_fn fn;
    void *ctx;
    struct cache_ent *cache;
    uint64_t tick, hits, misses;
    struct rank_ent *rank;
    size_t nrank;
    uint64_t evicted, opened;
};

struct writer *writer_new(const struct writer_opts *o, writer_finding_fn fn, void *ctx)
{
    struct writer_opts d = o ? *o : (struct writer_opts){0};
    if (!d.cache_size)
        d.cache_size = WRITER_CACHE_SIZE;
    if (!d.rank_max)
        d.rank_max = WRITER_RANK_MAX;
    if (!d.threshold)
        d.threshold = WRITER_THRESHOLD;
    if (!d.window_usec)
        d.window_usec = WRITER_WINDOW_USEC;
    if (!d.quiet_usec)
        d.quiet_usec = WRITER_QUIET_USEC;
    if (d.threshold > WRITER_THRESHOLD_MAX) {
        errno = EINVAL;
        return NULL;
    }
    struct writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->o = d;
    w->fn = fn;
    w->ctx = ctx;
    w->cache = calloc(d.cache_size, sizeof(*w->cache));
    w->rank = calloc(d.rank_max, sizeof(*w->rank));
    if (!w->cache || !w->rank) {
        writer_free(w);
        errno = ENOMEM;
        return NULL;
    }
    return w;
}

void writer_free(struct writer *w)
{
    if (!w)
        return;
    free(w->cache);
    free(w->rank);
    free(w);
}

struct writer_info *writer_resolve(struct writer *w, const struct writer_ev *ev,
                                   struct writer_info *out)
{
    if (!w)
        return writer_read(ev, out);
    if (!ev || ev->pid <= 0) {
        memset(out, 0, sizeof(*out));
        return out;
    }
    unsigned long long start;
    if (ev->pidfd < 0 || !writer_alive(ev->pidfd) || writer_start_time(ev->pid, &start) < 0)
        return writer_unknown(ev->pid, out);
    w->tick++;
    struct cache_ent *victim = &w->cache[0];
    for (size_t i = 0; i < w->o.cache_size; i++) {
        struct cache_ent *c = &w->cache[i];
        if (c->pid == ev->pid && c->start == start) {
            if (!writer_alive(ev->pidfd)) /* the stat read may be of a successor */
                return writer_unknown(ev->pid, out);
            c->used = w->tick;
            w->hits++;
            *out = c->info;
            return out;
        }
        if (c->used < victim->used)
            victim = c;
    }
    w->misses++;
    if (writer_read_proc(ev->pid, out) < 0 || !writer_alive(ev->pidfd))
        return writer_unknown(ev->pid, out);
    out->known = true;
    victim->pid = ev->pid;
    victim->start = start;
    victim->used = w->tick;
    victim->info = *out;
    return out;
}

uint64_t writer_cache_hits(const struct writer *w)
{
    return w ? w->hits : 0;
}

uint64_t writer_cache_misses(const struct writer *w)
{
    return w ? w->misses : 0;
}

size_t writer_cache_count(const struct writer *w)
{
    size_t n = 0;
    for (size_t i = 0; w && i < w->o.cache_size; i++)
        n += w->cache[i].pid != 0;
    return n;
}

/* ---- the ranking and the root_writer rule ---------------------------------------------- */

/* R (of W) as the public row OUT. */
static void writer_rank_row(const struct writer *w, const struct rank_ent *r,
                            struct writer_rank *out)
{
    *out = (struct writer_rank){
        .key = r->key,
        .unit_kind = r->unit_kind,
        .uid = r->uid,
        .user = r->user,
        .comm = r->comm,
        .example = r->example,
        .count = r->count,
        .first_usec = r->first,
        .last_usec = r->last,
        .first_realtime_usec = r->first_rt,
        .last_realtime_usec = r->last_rt,
        .open = r->open,
        .last_pid = r->last_pid,
        .threshold = w->o.threshold,
        .window_usec = w->o.window_usec,
        .quiet_usec = w->o.quiet_usec,
    };
}

/* Report R's finding opened or closed to the callback. */
static void writer_report(struct writer *w, struct rank_ent *r, bool opened)
{
    if (!w->fn)
        return;
    struct writer_rank row;
    writer_rank_row(w, r, &row);
    w->fn(w->ctx, opened, &row);
}

/* The row for (KEY, KIND, UID), made when missing (evicting the least recently seen row
 * without an open finding, else the least recently seen one, whose finding is closed). */
static struct rank_ent *writer_rank_get(struct writer *w, const char *key,
                                        enum writer_unit_kind kind, uid_t uid)
{
    struct rank_ent *free_ent = NULL, *lru = NULL, *lru_closed = NULL;
    for (size_t i = 0; i < w->o.rank_max; i++) {
        struct rank_ent *r = &w->rank[i];
        if (!r->used) {
            if (!free_ent)
                free_ent = r;
            continue;
        }
        if (r->unit_kind == kind && r->uid == uid && strcmp(r->key, key) == 0)
            return r;
        if (!lru || r->last < lru->last)
            lru = r;
        if (!r->open && (!lru_closed || r->last < lru_closed->last))
            lru_closed = r;
    }
    struct rank_ent *r = free_ent;
    if (!r) {
        r = lru_closed ? lru_closed : lru;
        if (r->open) {
            r->open = false;
            writer_report(w, r, false);
        }
        w->evicted++;
        w->nrank--;
    }
    memset(r, 0, sizeof(*r));
    r->used = true;
    esc_copy_cut(r->key, sizeof(r->key), key);
    r->unit_kind = kind;
    r->uid = uid;
    w->nrank++;
    return r;
}

void writer_root_write(struct writer *w, const struct writer_info *info, const char *path,
                       uint64_t now_usec, uint64_t realtime_usec)
{
    if (!w || !info || info->pid <= 0)
        return;
    char key[WRITER_UNIT_MAX];
    writer_key(info, key, sizeof(key));
    enum writer_unit_kind kind = info->known ? info->unit_kind : WRITER_UNIT_NONE;
    uid_t uid = info->known ? info->uid : (uid_t)-1;
    struct rank_ent *r = writer_rank_get(w, key, kind, uid);
    if (!r->count) {
        r->first = now_usec;
        r->first_rt = realtime_usec;
    }
    r->count++;
    r->last = now_usec;
    r->last_rt = realtime_usec;
    r->last_pid = info->pid;
    esc_copy_cut(r->user, sizeof(r->user), info->known ? info->user : "");
    esc_copy_cut(r->comm, sizeof(r->comm), info->comm);
    esc_copy_cut(r->example, sizeof(r->example), path ? path : "");
    r->ring[r->ring_pos] = now_usec;
    r->ring_pos = (r->ring_pos + 1) % w->o.threshold;
    if (r->nring < w->o.threshold)
        r->nring++;
    /* the oldest of the last THRESHOLD writes is at ring_pos once the ring is full */
    if (!r->open && r->nring == w->o.threshold && strcmp(r->key, "unknown") != 0 &&
        now_usec - r->ring[r->ring_pos % w->o.threshold] <= w->o.window_usec) {
        r->open = true;
        w->opened++;
        writer_report(w, r, true);
    }
}

uint64_t writer_expire(struct writer *w, uint64_t now_usec)
{
    uint64_t next = 0;
    for (size_t i = 0; w && i < w->o.rank_max; i++) {
        struct rank_ent *r = &w->rank[i];
        if (!r->used || !r->open)
            continue;
        uint64_t due = r->last + w->o.quiet_usec;
        if (now_usec >= due) {
            r->open = false;
            r->nring = r->ring_pos = 0; /* the next finding needs the threshold again */
            writer_report(w, r, false);
        } else if (!next || due < next) {
            next = due;
        }
    }
    return next;
}

void writer_rank_finding(const struct writer_rank *r, bool opened, struct writer_info *w,
                         struct finding *f)
{
    *w = (struct writer_info){
        .pid = r->last_pid, .known = true, .uid = r->uid, .unit_kind = r->unit_kind};
    esc_copy_cut(w->user, sizeof(w->user), r->user);
    esc_copy_cut(w->comm, sizeof(w->comm), r->comm);
    if (r->unit_kind != WRITER_UNIT_NONE)
        esc_copy_cut(w->unit, sizeof(w->unit), r->key);
    *f = (struct finding){
        .kind = FINDING_ROOT_WRITER, .path = r->example, .writer = w, .writes = r->count};
    char d[PARSE_DURATION_BUFSZ];
    if (opened || r->open) {
        parse_format_duration(r->window_usec, d, sizeof(d));
        snprintf(f->reason, sizeof(f->reason), "%u within %s (%llu in all)", r->threshold, d,
                 (unsigned long long)r->count);
    } else {
        parse_format_duration(r->quiet_usec, d, sizeof(d));
        snprintf(f->reason, sizeof(f->reason), "none for %s (%llu in all)", d,
                 (unsigned long long)r->count);
    }
}

/* qsort order of rows: count descending, then last seen descending. */
static int writer_rank_cmp(const void *a, const void *b)
{
    const struct rank_ent *x = *(const struct rank_ent *const *)a;
    const struct rank_ent *y = *(const struct rank_ent *const *)b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    if (x->last != y->last)
        return x->last < y->last ? 1 : -1;
    return strcmp(x->key, y->key);
}

size_t writer_ranking(const struct writer *w, struct writer_rank *out, size_t max)
{
    if (!w || !w->nrank || !max)
        return 0;
    const struct rank_ent **all = malloc(w->nrank * sizeof(*all));
    if (!all)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < w->o.rank_max && n < w->nrank; i++)
        if (w->rank[i].used)
            all[n++] = &w->rank[i];
    qsort(all, n, sizeof(*all), writer_rank_cmp);
    size_t k = n < max ? n : max;
    for (size_t i = 0; i < k; i++)
        writer_rank_row(w, all[i], &out[i]);
    free(all);
    return k;
}

size_t writer_rank_count(const struct writer *w)
{
    return w ? w->nrank : 0;
}

uint64_t writer_rank_evicted(const struct writer *w)
{
    return w ? w->evicted : 0;
}

size_t writer_open_count(const struct writer *w)
{
    size_t n = 0;
    for (size_t i = 0; w && i < w->o.rank_max; i++)
        n += w->rank[i].used && w->rank[i].open;
    return n;
}

uint64_t writer_findings_opened(const struct writer *w)
{
    return w ? w->opened : 0;
}

void writer_foreach(const struct writer *w, writer_visit_fn fn, void *ctx)
{
    struct writer_rank row;
    for (size_t i = 0; w && i < w->o.rank_max; i++) {
        if (!w->rank[i].used)
            continue;
        writer_rank_row(w, &w->rank[i], &row);
        if (!fn(ctx, &row))
            return;
    }
}
