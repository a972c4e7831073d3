/* loop: the watchdog's event loop and the glue between inotify (watch), the policy, the
 * open findings (ftable), the journal rate limit (ratelimit) and systemd (notify).
 *
 * Races: a directory's watch is added on the very descriptor the crawl then reads (scan's
 * opened hook), so an entry created in it is either read by the crawl or reported by an
 * event, or both (the findings table makes repeats harmless). Every event that may change a
 * path's state makes us look at the disk again; events carry no state of their own. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "account.h"
#include "audit.h"
#include "commands.h"
#include "control.h"
#include "dispatch.h"
#include "fan.h"
#include "ftable.h"
#include "log.h"
#include "mounts.h"
#include "notify.h"
#include "parse.h"
#include "pathset.h"
#include "policy.h"
#include "ratelimit.h"
#include "repair.h"
#include "root.h"
#include "scan.h"
#include "watch.h"
#include "writer.h"

/* Overflow rescans: the first waits OVERFLOW_DELAY_MIN, each further overflow within
 * OVERFLOW_QUIET of the last doubles the wait up to OVERFLOW_DELAY_MAX. */
#define OVERFLOW_DELAY_MIN 0.2
#define OVERFLOW_DELAY_MAX 300.0
#define OVERFLOW_QUIET     600.0
/* How often to look for a vanished site root. */
#define ROOT_POLL 1.0
/* Mount points inside the site remembered (reported once each, listed by status). */
#define MOUNTS_MAX 4096
/* Progress during long crawls: STATUS= and EXTEND_TIMEOUT_USEC= at most this often. */
#define PROGRESS_EVERY_USEC 1000000ULL
#define EXTEND_BY_USEC      (60ULL * 1000000)
/* A degraded rescan round runs in slices of at most about this much loop time (one subtree
 * may take longer); events are handled between slices. */
#define DEGRADED_SLICE_USEC 50000ULL
/* Unwatched subtree tops listed at most (count, bytes of paths): beyond, full rescans. */
#define UNWATCHED_TOPS_MAX  65536
#define UNWATCHED_BYTES_MAX (8 << 20)
/* Inotify events are handled in slices of about this much loop time. */
#define EVENTS_SLICE_USEC 50000ULL
/* An event that cannot be followed (out of memory) is said at most this often. */
#define EVENT_LOST_EVERY_USEC (10ULL * 1000000)
/* Depth-cap warnings of crawls after events: at most one per minute. */
#define DEEP_LOG_EVERY_USEC (60ULL * 1000000)
/* A MOVED_FROM not paired in the same read is kept this long for its MOVED_TO. */
#define MOVE_PAIR_READS 2

/* Rate limit keys: one per (finding or resolved) x kind. */
#define RL_KEY(opened, kind) ((opened) ? 0u : (unsigned)FINDING_KIND_COUNT) + (unsigned)(kind)
#define RL_NKEYS             (2u * FINDING_KIND_COUNT)

struct pending_move {
    uint32_t cookie;
    bool is_dir;
    int from_wd;
    char *from_name;
    char *from_path; /* relative */
};

struct loop {
    struct ev_loop *ev;
    struct config *cfg;
    const char *config_path;
    int root_fd;    /* -1 while the site root is gone */
    int parent_wd;  /* watch on the site root's parent: deletion and replacement of the root */
    int fan_parent; /* fanotify: the parent's id instead (0: none), see parent_watch */
    struct watch *watch;
    struct fan *fan;       /* the fanotify backend; NULL: inotify watches (watch.c's own) */
    char backend_why[768]; /* why this backend runs (for the started entry and status) */
    bool backend_warn;     /* backend = fanotify was asked for and refused */
    struct ftable *table;
    struct ratelimit *rl;
    struct dispatch *dispatch;
    bool ready, stopping;

    ev_io inotify_io, fan_io;
    ev_signal sigterm, sigint, sighup;
    ev_timer rescan_timer, degraded_timer, overflow_timer, flush_timer, watchdog_timer, root_timer;

    /* degraded mode: top-most directories left without a watch (ENOSPC); PENDING: those
     * the running degraded round has not crawled yet */
    struct pathset *unwatched, *pending;
    bool unwatched_all; /* too many unwatched tops to list: degraded rounds rescan everything */
    uint64_t unwatched_dirs; /* directories below them, as counted by the last crawl */
    bool degraded;
    /* inside a full or degraded rescan: its crawls add up here, decided at its end */
    bool round, round_enospc;
    uint64_t round_unwatched;
    uint64_t lost_logged_usec; /* last warning about an event that could not be followed */

    /* overflow */
    uint64_t overflows;
    double overflow_delay, last_overflow;

    /* moves seen in the current read batch */
    struct pending_move *moves;
    size_t nmoves, moves_cap;

    /* figures of the last full crawl */
    uint64_t crawl_usec, crawl_dirs, crawl_files;
    uint64_t full_scans, last_full_scan_realtime;
    uint64_t started_usec;
    uint64_t events[LOG_EVENT_COUNT];
    uint64_t suppressed;

    struct control *ctl;
    struct repair_guard *guard; /* auto-repair fights */
    bool auto_repairing;        /* inside an auto-repair: no nested one */

    /* the site root's identity as pinned at start or reload, and what stops repairs */
    struct root_ident root_pin;
    bool pin_next;                 /* the next successful open pins (start, reload) */
    bool root_changed;             /* not the pinned root since: repairs refused until reload */
    char root_changed_why[1024];   /* why repairs are refused, for refusals and status */
    char root_err[PATH_MAX + 256]; /* the last failure to open the root, logged once */
    struct root_chain chain;       /* ancestors a non-root user can write */
    char chain_why[1024];
    bool block_logged; /* the auto-repair refusal of the current block was logged */
    uint64_t repairs_blocked;
    struct mounts *mounts; /* mount points inside the site, not crossed */

    /* the crawl of the whole site at startup or reload is running: what it finds existed
     * before (auto-repaired only with repair_existing); PENDING_* count what it left alone */
    bool existing_pass;
    bool existing_due; /* the site root came back after a reload found it missing: its first
                        * crawl is an existing pass */
    bool moved_known;  /* the crawl of a renamed object whose old path had open findings */
    uint64_t pending_objects, pending_kind[FINDING_KIND_COUNT];
    uint64_t root_owned_seen; /* root_owned findings that appeared, repaired or not */
    uint64_t too_deep_dirs;   /* directories at the depth cap: last full crawl + crawls since */
    uint64_t deep_logged_usec, deep_unlogged; /* the depth-cap warning's own rate limit */
    bool scan_requested;                      /* inside loop_scan (permwatchctl scan PATH) */

    /* the process behind the event being handled ({0, -1}: unknown, e.g. inotify events and
     * crawls); set by the detection source around each event it hands over */
    struct writer_ev writer_cur;
    /* writer attribution: resolver, ranking, root_writer findings (writer.h), and the timer
     * that closes those findings after their quiet period */
    struct writer *writers;
    ev_timer writer_timer;
};

/* ---- time ------------------------------------------------------------------------------ */

static uint64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- paths ----------------------------------------------------------------------------- */

/* DIR + "/" + NAME (or NAME when DIR is ""), of any length, malloc'd. Returns NULL with errno
 * ENOMEM. */
static char *path_join(const char *dir, const char *name)
{
    char *p;
    return asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0 ? NULL : p;
}

/* The directory part of RELPATH into BUF ("" for top-level entries). Returns BUF. */
static const char *dir_of(const char *relpath, char *buf, size_t len)
{
    const char *slash = strrchr(relpath, '/');
    size_t n = slash ? (size_t)(slash - relpath) : 0;
    if (n >= len)
        n = len - 1;
    memcpy(buf, relpath, n);
    buf[n] = '\0';
    return buf;
}

/* The watch node of directory RELPATH, walking from the root; NULL when not watched. */
static struct watch_dir *node_for_path(struct loop *l, const char *relpath)
{
    struct watch_dir *d = watch_root(l->watch);
    char comp[NAME_MAX + 1];
    const char *p = relpath;
    while (d && *p) {
        const char *e = strchrnul(p, '/');
        size_t n = (size_t)(e - p);
        if (n > NAME_MAX)
            return NULL;
        memcpy(comp, p, n);
        comp[n] = '\0';
        d = watch_child(l->watch, d, comp);
        p = *e ? e + 1 : e;
    }
    return d;
}

/* ---- writer attribution ---------------------------------------------------------------- */

static uint64_t realtime_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The writer of the event being handled resolved into *BUF (lazily: only callers that log or
 * count it ask), or NULL when the source reported none (inotify, crawls). */
static const struct writer_info *writer_now(struct loop *l, struct writer_info *buf)
{
    if (l->writer_cur.pid <= 0 || !l->writers)
        return NULL;
    return writer_resolve(l->writers, &l->writer_cur, buf);
}

/* (Re)arm the timer that closes root_writer findings at NEXT (monotonic usec; 0: none open). */
static void writer_timer_arm(struct loop *l, uint64_t next)
{
    ev_timer_stop(l->ev, &l->writer_timer);
    if (!next)
        return;
    uint64_t now = mono_usec();
    ev_timer_set(&l->writer_timer, next > now ? (double)(next - now) / 1e6 + 0.01 : 0.01, 0.);
    ev_timer_start(l->ev, &l->writer_timer);
}

/* writer callback: log a root_writer finding opened or closed (never rate-limited: one per
 * unit and quiet period). */
static void on_writer_finding(void *ctx, bool opened, const struct writer_rank *r)
{
    struct loop *l = ctx;
    struct writer_info w;
    struct finding f;
    writer_rank_finding(r, opened, &w, &f);
    l->events[opened ? LOG_EVENT_FINDING : LOG_EVENT_RESOLVED]++;
    log_finding(opened ? LOG_EVENT_FINDING : LOG_EVENT_RESOLVED, &f);
    if (opened)
        writer_timer_arm(l, r->last_usec + r->quiet_usec);
}

/* The writer timer: close the root_writer findings quiet for long enough, re-arm. */
static void on_writer_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct loop *l = t->data;
    writer_timer_arm(l, writer_expire(l->writers, mono_usec()));
}

/* A root-owned object appeared at RELPATH: rank its writer (when the source named one). */
static void writer_note_root(struct loop *l, const char *relpath)
{
    struct writer_info wi;
    const struct writer_info *w = writer_now(l, &wi);
    if (!w)
        return;
    char abs[PATH_MAX + 256];
    const char *path = audit_abspath(l->cfg, relpath, abs, sizeof(abs));
    writer_root_write(l->writers, w, path ? path : relpath, mono_usec(), realtime_usec());
}

/* The kernel half of watching the open directory FD (any thread): its fanotify id, or its
 * inotify watch descriptor. Returns -1 with errno on failure. */
static int dir_kernel_add(struct loop *l, int fd)
{
    return l->fan ? fan_dir_add(l->fan, fd) : watch_kernel_add(watch_fd(l->watch), fd);
}

/* Undo dir_kernel_add of WD (a directory that got no node). */
static void dir_kernel_rm(struct loop *l, int wd)
{
    if (l->fan)
        fan_dir_remove(l->fan, wd);
    else
        inotify_rm_watch(watch_fd(l->watch), wd);
}

/* ---- logging findings ------------------------------------------------------------------ */

/* ftable callback: log an opened or closed finding unless its kind is over the rate. */
static void on_table_change(void *ctx, enum ftable_change change, const char *relpath,
                            const struct finding *f)
{
    struct loop *l = ctx;
    char dir[PATH_MAX], abs[PATH_MAX + 256];
    bool opened = change == FTABLE_OPENED;
    l->events[opened ? LOG_EVENT_FINDING : LOG_EVENT_RESOLVED]++;
    if (!ratelimit_allow(l->rl, RL_KEY(opened, f->kind), dir_of(relpath, dir, sizeof(dir)),
                         mono_usec()))
        return;
    struct finding copy = *f;
    struct writer_info wi;
    if (opened)
        copy.writer = writer_now(l, &wi);
    char *long_abs = NULL; /* deeper than PATH_MAX: the whole path all the same */
    copy.path = audit_abspath(l->cfg, relpath, abs, sizeof(abs));
    if (!copy.path)
        copy.path = (long_abs = path_join(l->cfg->site_root, relpath)) ? long_abs : relpath;
    log_finding(opened ? LOG_EVENT_FINDING : LOG_EVENT_RESOLVED, &copy);
    free(long_abs);
}

/* ratelimit callback: one `suppressed` summary per kind and interval. */
static void on_summary(void *ctx, const struct ratelimit_summary *s)
{
    struct loop *l = ctx;
    bool opened = s->key < FINDING_KIND_COUNT;
    l->suppressed += s->suppressed;
    l->events[LOG_EVENT_SUPPRESSED]++;
    const char *kind = finding_kind_name(s->key % FINDING_KIND_COUNT);
    char where[2048] = "", count[32], top[PATH_MAX + 256] = "", dur[PARSE_DURATION_BUFSZ];
    size_t pos = 0;
    for (size_t i = 0; i < s->ndirs && pos < sizeof(where); i++) {
        int n = snprintf(where + pos, sizeof(where) - pos, "%s%" PRIu64 " in %s", i ? ", " : "",
                         s->dirs[i].count, *s->dirs[i].dir ? s->dirs[i].dir : ".");
        if (n < 0)
            break;
        pos += (size_t)n;
    }
    if (s->elsewhere && pos < sizeof(where))
        snprintf(where + pos, sizeof(where) - pos, "%s%" PRIu64 " elsewhere", pos ? ", " : "",
                 s->elsewhere);
    if (s->ndirs)
        audit_abspath(l->cfg, s->dirs[0].dir, top, sizeof(top));
    snprintf(count, sizeof(count), "%" PRIu64, s->suppressed);
    struct log_field fields[] = {
        {"FINDING", kind},
        {"SUPPRESSED_EVENT", opened ? "finding" : "resolved"},
        {"COUNT", count},
        {"PATH", top},
    };
    log_event(LOG_EVENT_SUPPRESSED, opened ? LOG_WARNING : LOG_INFO, fields, 4,
              "%" PRIu64 " more %s %s not logged in the last %s (rate limit; %s): %s",
              s->suppressed, kind, opened ? "findings" : "resolutions",
              parse_format_duration(s->interval_usec, dur, sizeof(dur)),
              opened ? "all are tracked, see permwatchctl findings" : "all are closed", where);
}

/* ---- crawling -------------------------------------------------------------------------- */

struct chain {
    size_t len; /* of the directory's relpath */
    struct watch_dir *node;
};

/* Which entries with findings under `repair = auto` a crawl repairs. */
enum crawl_repair {
    CRAWL_REPAIR_NEW,  /* those with a finding not open before: a change seen (the default) */
    CRAWL_REPAIR_ALL,  /* every one: startup and reload with repair_existing = yes */
    CRAWL_REPAIR_NONE, /* none, counted for the repair_pending summary: startup and reload */
    CRAWL_REPAIR_KEEP, /* none: a rename inside the site whose old path had open findings */
};

struct crawl {
    struct loop *l;
    enum crawl_repair repair;
    bool descend;     /* false: evaluate the first entry only */
    bool add_watches; /* false while the site root is not watched */
    bool progress;    /* send STATUS= while it runs (startup, full rescans) */
    struct chain *chain;
    size_t depth, cap;
    uint64_t entries, dirs, files, unwatched_dirs, next_check, last_progress, last_ping;
    bool first;
    bool enospc; /* a watch could not be added: out of inotify watches */
    /* pipelined crawls: the directory opened last (the next one's parent, most of the time) */
    char *last;
    size_t last_len, last_cap;
    struct watch_dir *last_node;
    char *deep;          /* the first directory at the depth cap (not read), for the warning */
    uint64_t deep_count; /* directories at the depth cap */
};

/* Remember RELPATH as the top of an unwatched subtree (ENOSPC). O(log n). Past
 * UNWATCHED_TOPS_MAX tops or UNWATCHED_BYTES_MAX bytes of their paths (the web user can make
 * directories without end beyond the watch limit), the list is dropped and each degraded
 * round becomes a full rescan until one finds fewer: memory stays bounded, nothing unseen. */
static void unwatched_add(struct loop *l, const char *relpath)
{
    if (l->unwatched_all)
        return;
    if (pathset_count(l->unwatched) + pathset_count(l->pending) >= UNWATCHED_TOPS_MAX ||
        pathset_bytes(l->unwatched) + pathset_bytes(l->pending) + strlen(relpath) + 1 >
            UNWATCHED_BYTES_MAX) {
        pathset_drop_below(l->unwatched, "");
        pathset_drop_below(l->pending, "");
        l->unwatched_all = true;
        log_warn("more than %d subtrees without an inotify watch (or %d MiB of their paths): "
                 "each degraded rescan is a full rescan of the site until fewer are unwatched",
                 UNWATCHED_TOPS_MAX, UNWATCHED_BYTES_MAX >> 20);
        return;
    }
    if (pathset_add(l->unwatched, relpath) < 0)
        log_warn_errno(errno, "cannot remember %s as unwatched: only full rescans see it", relpath);
}

/* Forget unwatched tops at or below RELPATH (also those a running degraded round has yet to
 * crawl). O(log n + k). */
static void unwatched_drop_below(struct loop *l, const char *relpath)
{
    pathset_drop_below(l->unwatched, relpath);
    pathset_drop_below(l->pending, relpath);
}

/* Report progress of a long crawl to systemd (and keep the watchdog fed as often as the
 * loop's own watchdog timer would: every half period). */
static void crawl_progress(struct crawl *cr)
{
    uint64_t now = mono_usec(), wd = notify_watchdog_usec();
    if (wd && now - cr->last_ping >= wd / 2) {
        cr->last_ping = now;
        notify_watchdog();
    }
    if (now - cr->last_progress < PROGRESS_EVERY_USEC)
        return;
    cr->last_progress = now;
    notify_status("%s: %" PRIu64 " entries, %zu directories watched",
                  cr->l->ready ? "rescanning" : "crawling", cr->entries, watch_count(cr->l->watch));
    if (!cr->l->ready)
        notify_extend_timeout(EXTEND_BY_USEC);
}

/* Report of a repair made by the daemon: log it, count it. */
static void on_repair_report(void *ctx, const struct repair_report *rep)
{
    struct loop *l = ctx;
    if (rep->dry_run)
        return;
    l->events[rep->outcome == REPAIR_CHANGED ? LOG_EVENT_REPAIRED : LOG_EVENT_REPAIR_REFUSED]++;
    struct writer_info wi;
    repair_log_writer(rep, NULL, writer_now(l, &wi));
}

/* Why no repair may run now (the site root changed since it was pinned, or a non-root user
 * can write one of its ancestors), or NULL when repairs may run. */
static const char *repair_block(const struct loop *l)
{
    if (l->root_changed)
        return l->root_changed_why;
    return l->chain.n ? l->chain_why : NULL;
}

/* `repair = auto`: fix RELPATH now, unless it keeps flipping back (the fight guard).
 * Returns whether a repair ran (the caller looks at the entry again). */
static bool auto_repair(struct loop *l, const char *relpath)
{
    if (l->auto_repairing || !l->guard)
        return false;
    const char *block = repair_block(l);
    if (block) {
        l->repairs_blocked++;
        if (!l->block_logged) {
            char abs[PATH_MAX + 256];
            const char *path = audit_abspath(l->cfg, relpath, abs, sizeof(abs));
            struct log_field fields[] = {{"PATH", path ? path : relpath}, {"REASON", block}};
            l->events[LOG_EVENT_REPAIR_REFUSED]++;
            log_event(LOG_EVENT_REPAIR_REFUSED, LOG_WARNING, fields, 2,
                      "auto-repair of %s refused: %s; findings are still reported, further "
                      "repairs are refused without an entry each until permwatchctl reload",
                      path ? path : relpath, block);
            l->block_logged = true;
        }
        return false;
    }
    char reason[256];
    switch (repair_guard_note(l->guard, relpath, mono_usec(), "needed repair", reason,
                              sizeof(reason))) {
    case REPAIR_GUARD_ALLOW:
        break;
    case REPAIR_GUARD_TRIPPED: {
        char abs[PATH_MAX + 256];
        const char *path = audit_abspath(l->cfg, relpath, abs, sizeof(abs));
        struct log_field fields[] = {{"PATH", path ? path : relpath}, {"REASON", reason}};
        l->events[LOG_EVENT_REPAIR_REFUSED]++;
        log_event(LOG_EVENT_REPAIR_REFUSED, LOG_WARNING, fields, 2, "auto-repair of %s paused: %s",
                  path ? path : relpath, reason);
        return false;
    }
    case REPAIR_GUARD_PAUSED:
        return false;
    }
    struct repair_options o = {.recursive = false, .report = on_repair_report, .ctx = l};
    struct repair_stats st;
    l->auto_repairing = true;
    int rc = repair_run(l->cfg, l->root_fd, relpath, &o, &st);
    l->auto_repairing = false;
    return rc == 0 && st.changed > 0;
}

/* The startup or reload crawl left the entry E (with findings, under auto rule R) alone:
 * count it for the repair_pending summary when a repair would change it. */
static void pending_note(struct loop *l, const struct rule *r, const struct scan_entry *e)
{
    const struct stat *st = e->st;
    uid_t uid;
    gid_t gid;
    mode_t mode;
    enum finding_kind kinds[FINDING_KIND_COUNT];
    if (!repair_plan_access(l->cfg, r, st, &uid, &gid, &mode))
        return;
    size_t n = repair_kinds_fixed(l->cfg, r, e->dirfd, e->name, st, uid, gid, mode, kinds);
    l->pending_objects++;
    for (size_t i = 0; i < n; i++)
        l->pending_kind[kinds[i]]++;
}

/* Whether the N findings F of RELPATH include one not open in the table before this look
 * (a change since the last look); with COUNT, a root_owned one among them counts as seen. */
static bool findings_new(struct loop *l, const char *relpath, const struct finding *f, size_t n,
                         bool count)
{
    uint32_t open = ftable_open_kinds(l->table, relpath);
    bool fresh = false;
    for (size_t i = 0; i < n; i++) {
        if (open & (UINT32_C(1) << f[i].kind))
            continue;
        fresh = true;
        if (f[i].kind == FINDING_ROOT_OWNED && count) {
            l->root_owned_seen++;
            writer_note_root(l, relpath);
        }
    }
    return fresh;
}

/* scan visitor: evaluate one entry, auto-repair it when the crawl's repair mode says so, and
 * record the findings left. */
static enum scan_verdict crawl_visit(void *ctx, const struct scan_entry *e)
{
    struct crawl *cr = ctx;
    struct loop *l = cr->l;
    bool is_dir = S_ISDIR(e->st->st_mode);
    bool top = cr->first;
    cr->first = false;
    cr->entries++;
    if (is_dir)
        cr->dirs++;
    else
        cr->files++;
    if (cr->progress && cr->entries >= cr->next_check) {
        cr->next_check = cr->entries + 1024;
        crawl_progress(cr);
    }
    const struct rule *r = policy_match(l->cfg, e->relpath);
    if (r && r->ignore) {
        ftable_forget_subtree(l->table, e->relpath);
        return SCAN_SKIP;
    }
    struct finding f[FINDING_KIND_COUNT];
    size_t n = audit_evaluate(l->cfg, r, e->dirfd, e->name, e->st, f);
    struct stat after;
    bool fresh = n && findings_new(l, e->relpath, f, n, cr->repair != CRAWL_REPAIR_KEEP);
    /* special files are findings but never repaired: no auto-repair (nor its fight guard) */
    bool repairable = n && r->repair == REPAIR_AUTO && (is_dir || S_ISREG(e->st->st_mode)) &&
                      cr->repair != CRAWL_REPAIR_KEEP;
    if (repairable && cr->repair == CRAWL_REPAIR_NONE)
        pending_note(l, r, e);
    else if (repairable && (fresh || cr->repair == CRAWL_REPAIR_ALL) &&
             auto_repair(l, e->relpath) &&
             fstatat(e->dirfd, e->name, &after, AT_SYMLINK_NOFOLLOW) == 0 &&
             (after.st_mode & S_IFMT) == (e->st->st_mode & S_IFMT))
        n = audit_evaluate(l->cfg, r, e->dirfd, e->name, &after, f);
    for (size_t i = 0; i < n; i++) {
        f[i].owner = account_user_name(f[i].uid);
        f[i].group = account_group_name(f[i].gid);
    }
    if (ftable_update(l->table, e->relpath, f, n) < 0)
        log_warn_errno(errno, "cannot record the findings of %s", e->relpath);
    if (top && !cr->descend)
        return SCAN_SKIP;
    return SCAN_CONTINUE;
}

/* Watch the directory RELPATH as the kernel's watch WD (or, negative, -errno) under its
 * parent PARENT (HAVE_PARENT: found; NULL parent: the root). Returns the node or NULL. */
static struct watch_dir *crawl_watch(struct crawl *cr, const char *relpath, bool have_parent,
                                     struct watch_dir *parent, const char *name, int wd, int err)
{
    struct loop *l = cr->l;
    struct watch_dir *node = NULL;
    if (have_parent) {
        errno = err;
        node = watch_add_wd(l->watch, parent, name, wd, NULL);
        if (!node) {
            if (errno == ENOSPC) {
                /* the degraded entry and rescans follow once the crawl is over */
                cr->enospc = true;
                unwatched_add(l, relpath);
            } else if (errno != ENOENT) {
                log_warn_errno(errno, "cannot watch %s", *relpath ? relpath : ".");
            }
        }
    } else if (wd >= 0 && !watch_lookup(l->watch, wd)) {
        dir_kernel_rm(l, wd); /* new, and no parent to hang it on */
    }
    if (!node)
        cr->unwatched_dirs++;
    return node;
}

/* scan opened hook: watch the directory the walk is about to read. */
static enum scan_verdict crawl_opened(void *ctx, const char *relpath, int fd)
{
    struct crawl *cr = ctx;
    struct loop *l = cr->l;
    size_t len = strlen(relpath);
    if (!cr->add_watches)
        return SCAN_CONTINUE;
    /* parent: the deepest chain entry that is a proper prefix (walks are depth-first) */
    const char *slash = strrchr(relpath, '/');
    size_t plen = slash ? (size_t)(slash - relpath) : 0;
    while (cr->depth && cr->chain[cr->depth - 1].len > plen)
        cr->depth--;
    struct watch_dir *parent = NULL, *node = NULL;
    bool have_parent = false;
    if (!len) {
        have_parent = true; /* the root */
    } else if (cr->depth && cr->chain[cr->depth - 1].len == plen) {
        parent = cr->chain[cr->depth - 1].node;
        have_parent = parent != NULL;
    } else {
        char *pbuf = strndup(relpath, plen); /* any length: deeper than PATH_MAX too */
        if (pbuf) {
            parent = node_for_path(l, pbuf);
            have_parent = parent != NULL;
            free(pbuf);
        } else {
            log_warn_errno(errno, "cannot watch %s", relpath);
        }
    }
    int wd = -1, err = 0;
    if (have_parent) {
        wd = dir_kernel_add(l, fd);
        err = errno;
    }
    node = crawl_watch(cr, relpath, have_parent, parent,
                       len ? relpath + (slash ? plen + 1 : 0) : "", wd, err);
    if (cr->depth == cr->cap) {
        size_t cap = cr->cap ? cr->cap * 2 : 64;
        struct chain *c = realloc(cr->chain, cap * sizeof(*c));
        if (!c)
            return SCAN_CONTINUE; /* parents are then found by path */
        cr->chain = c;
        cr->cap = cap;
    }
    cr->chain[cr->depth++] = (struct chain){len, node};
    return SCAN_CONTINUE;
}

/* pipelined scan's prewatch hook, on a walker thread: the kernel half of the watch. Returns
 * the watch descriptor or -errno. */
static long crawl_prewatch(void *ctx, int fd)
{
    struct crawl *cr = ctx;
    int wd = dir_kernel_add(cr->l, fd);
    return wd < 0 ? -(long)errno : wd;
}

/* pipelined scan's descend hook, on a walker thread: read every directory but ignored ones
 * (crawl_visit skips exactly those below the start). */
static bool crawl_descend(void *ctx, const char *relpath, const struct stat *st)
{
    struct crawl *cr = ctx;
    const struct rule *r = policy_match(cr->l->cfg, relpath);
    return !(r && r->ignore);
}

/* pipelined scan's idle hook: keep systemd informed while the walkers work. */
static void crawl_idle(void *ctx)
{
    crawl_progress(ctx);
}

/* pipelined scan's opened hook: the bookkeeping half of the watch the walker added (TOKEN).
 * Directories come in no global depth-first order: the parent is the directory opened last
 * when its path matches (a walker's own descent), else found by path. */
static enum scan_verdict crawl_opened_wd(void *ctx, const char *relpath, int fd, long token)
{
    struct crawl *cr = ctx;
    if (!cr->add_watches)
        return SCAN_CONTINUE;
    size_t len = strlen(relpath);
    const char *slash = strrchr(relpath, '/');
    size_t plen = slash ? (size_t)(slash - relpath) : 0;
    struct watch_dir *parent = NULL;
    bool have_parent = !len; /* the root has none */
    if (len && cr->last && cr->last_len == plen && !memcmp(cr->last, relpath, plen)) {
        parent = cr->last_node;
        have_parent = parent != NULL;
    } else if (len) {
        char *pbuf = strndup(relpath, plen);
        if (pbuf) {
            parent = node_for_path(cr->l, pbuf);
            have_parent = parent != NULL;
            free(pbuf);
        }
    }
    const char *name = len ? relpath + (slash ? plen + 1 : 0) : "";
    struct watch_dir *node =
        crawl_watch(cr, relpath, have_parent, parent, name, token >= 0 ? (int)token : -1,
                    token >= 0 ? 0 : (int)-token);
    if (len + 1 > cr->last_cap) {
        char *p = realloc(cr->last, len + 1 + 64);
        if (!p) {
            cr->last_node = NULL; /* parents are then found by path */
            return SCAN_CONTINUE;
        }
        cr->last = p;
        cr->last_cap = len + 1 + 64;
    }
    memcpy(cr->last, relpath, len + 1);
    cr->last_len = len;
    cr->last_node = node;
    return SCAN_CONTINUE;
}

/* scan mount hook: report a mount point inside the site the first time it is skipped. */
static void crawl_mount(void *ctx, const char *relpath, const struct stat *st)
{
    struct crawl *cr = ctx;
    if (!mounts_note(cr->l->mounts, relpath))
        return;
    char abs[PATH_MAX + 256];
    const char *path = audit_abspath(cr->l->cfg, relpath, abs, sizeof(abs));
    cr->l->events[LOG_EVENT_MOUNT_SKIPPED]++;
    mounts_log(path ? path : relpath, st);
}

/* scan too_deep hook: count a directory at the depth cap, remember the first one. */
static void crawl_too_deep(void *ctx, const char *relpath, const struct stat *st)
{
    struct crawl *cr = ctx;
    if (!cr->deep_count++)
        cr->deep = strdup(relpath);
}

/* One warning for a crawl that found directories at the depth cap (CR->deep first). Full and
 * degraded rescans and requested scans (ALWAYS) always say it; crawls after events at most
 * once per DEEP_LOG_EVERY_USEC (the web user can make directories at the cap as fast as it
 * likes), the ones not said counted into the next warning. */
static void crawl_deep_log(struct loop *l, const struct crawl *cr, bool always)
{
    if (!cr->deep_count)
        return;
    uint64_t now = mono_usec();
    if (!always && l->deep_logged_usec && now - l->deep_logged_usec < DEEP_LOG_EVERY_USEC) {
        l->deep_unlogged += cr->deep_count;
        return;
    }
    l->deep_logged_usec = now;
    char abs[PATH_MAX + 256];
    const char *rel = cr->deep ? cr->deep : "?";
    const char *path = audit_abspath(l->cfg, rel, abs, sizeof(abs));
    char more[128] = "";
    uint64_t others = cr->deep_count - 1 + l->deep_unlogged;
    l->deep_unlogged = 0;
    if (others)
        snprintf(more, sizeof(more),
                 " (nor %" PRIu64 " other directories that deep, since the last warning)", others);
    log_warn("%s is %d directory levels below the site root (the depth cap of every walk): a "
             "hostile or broken tree, not read%s; nothing below is audited, watched or repaired "
             "until it is removed or flattened",
             path ? path : rel, SCAN_DEPTH_MAX, more);
}

static void degraded_note(struct loop *l, const struct crawl *cr);

/* Crawl RELPATH (and below it when DESCEND), updating findings and watches. With SWEEP,
 * findings at and below RELPATH that the crawl does not see again are closed, and watch
 * nodes there that it does not visit are dropped. Returns 0, or -1 with errno when
 * RELPATH cannot be reached (its findings are then closed: it is gone). */
static int crawl(struct loop *l, const char *relpath, bool descend, bool sweep, bool progress)
{
    if (l->root_fd < 0)
        return errno = ENOENT, -1;
    struct crawl cr = {.l = l,
                       .repair = l->moved_known            ? CRAWL_REPAIR_KEEP
                                 : !l->existing_pass       ? CRAWL_REPAIR_NEW
                                 : l->cfg->repair_existing ? CRAWL_REPAIR_ALL
                                                           : CRAWL_REPAIR_NONE,
                       .descend = descend,
                       .add_watches = watch_root(l->watch) != NULL || !*relpath,
                       .progress = progress,
                       .first = true,
                       .next_check = 1024,
                       .last_progress = mono_usec(),
                       .last_ping = mono_usec()};
    if (sweep) {
        ftable_sweep_begin(l->table, relpath);
        watch_sweep_begin(l->watch);
    }
    struct scan_stats st;
    struct scan_hooks h = {.visit = crawl_visit,
                           .opened = descend ? crawl_opened : NULL,
                           .mount = crawl_mount,
                           .ctx = &cr,
                           .too_deep = crawl_too_deep};
    if (sweep)
        mounts_sweep_begin(l->mounts);
    /* whole-site crawls (startup, full rescans): the system calls on walker threads, the
     * bookkeeping here */
    unsigned threads = descend && !*relpath ? config_scan_threads(l->cfg) : 1;
    int rc = -1;
    if (threads > 1) {
        struct scan_pipe_hooks ph = {.visit = crawl_visit,
                                     .mount = crawl_mount,
                                     .opened = crawl_opened_wd,
                                     .descend = crawl_descend,
                                     .prewatch = cr.add_watches ? crawl_prewatch : NULL,
                                     .idle = crawl_idle,
                                     .ctx = &cr,
                                     .too_deep = crawl_too_deep};
        rc = scan_run_pipelined(l->root_fd, relpath, &ph, threads, &st);
        if (rc < 0 && errno == EAGAIN) /* no thread: one is enough */
            threads = 1;
    }
    if (threads <= 1)
        rc = scan_run(l->root_fd, relpath, &h, &st);
    int e = errno;
    if (sweep && rc == 0)
        mounts_sweep_end(l->mounts, relpath);
    if (rc < 0 && (e == ENOENT || e == ENOTDIR || e == ELOOP || e == EXDEV)) {
        /* gone, or no longer something we may look into: nothing is open there */
        ftable_forget_subtree(l->table, relpath);
        if (sweep)
            ftable_sweep_end(l->table);
    } else if (sweep) {
        ftable_sweep_end(l->table);
        struct watch_dir *top = *relpath ? node_for_path(l, relpath) : NULL;
        if (top || !*relpath)
            watch_sweep_end(l->watch, top);
    }
    if (descend && !*relpath && rc == 0) {
        l->crawl_usec = st.usec;
        l->crawl_dirs = cr.dirs;
        l->crawl_files = cr.files;
    }
    degraded_note(l, &cr);
    if (descend && !*relpath && rc == 0)
        l->too_deep_dirs = 0;
    l->too_deep_dirs += cr.deep_count;
    crawl_deep_log(l, &cr, progress || l->scan_requested);
    free(cr.chain);
    free(cr.last);
    free(cr.deep);
    errno = e;
    return rc;
}

/* ---- status ---------------------------------------------------------------------------- */

/* One line for STATUS= and the logs. */
static const char *summary(struct loop *l, char *buf, size_t len)
{
    size_t nd = dispatch_command_count(l->dispatch), bad = dispatch_open_count(l->dispatch);
    char disp[96] = "";
    if (l->dispatch)
        snprintf(disp, sizeof(disp), ", %zu of %zu dispatch commands unreachable or invalid", bad,
                 nd);
    snprintf(buf, len, "%zu directories watched, %zu open findings%s%s", watch_count(l->watch),
             ftable_count(l->table), disp,
             !l->degraded ? ""
             : l->fan     ? ", degraded (max_watched_dirs)"
                          : ", degraded (inotify watch limit)");
    return buf;
}

/* Log the degraded event: what is unwatched and what to raise. */
static void log_degraded(struct loop *l)
{
    uint64_t missing = l->unwatched_dirs;
    char reason[512], count[32];
    if (l->fan) {
        /* room for what is missing plus a quarter more for growth */
        uint64_t want = l->cfg->max_watched_dirs + missing + missing / 4 + 1024;
        snprintf(reason, sizeof(reason),
                 "max_watched_dirs reached: %zu directories watched, %" PRIu64
                 " not; if the site is this big, raise [daemon] max_watched_dirs from %zu to at "
                 "least %" PRIu64 " (about 120 bytes of memory a directory)",
                 watch_count(l->watch), missing, l->cfg->max_watched_dirs, want);
    } else {
        unsigned long limit = watch_limit();
        unsigned long want = limit + (unsigned long)(missing + missing / 4 + 1024);
        snprintf(reason, sizeof(reason),
                 "inotify watch limit reached: %zu directories watched, %" PRIu64
                 " not; raise fs.inotify.max_user_watches from %lu to at least %lu "
                 "(sysctl -w fs.inotify.max_user_watches=%lu)",
                 watch_count(l->watch), missing, limit, want, want);
    }
    snprintf(count, sizeof(count), "%" PRIu64, missing);
    struct log_field fields[] = {{"REASON", reason}, {"COUNT", count}};
    log_event(LOG_EVENT_DEGRADED, LOG_WARNING, fields, 2,
              "degraded: %s; the %zu unwatched subtrees are rescanned every %gs", reason,
              pathset_count(l->unwatched) + pathset_count(l->pending),
              (double)l->cfg->degraded_rescan_usec / 1e6);
}

/* Start or stop the degraded rescan timer to match l->degraded. */
static void degraded_timer_update(struct loop *l)
{
    if (l->degraded && !ev_is_active(&l->degraded_timer)) {
        double every = (double)l->cfg->degraded_rescan_usec / 1e6;
        ev_timer_set(&l->degraded_timer, every, every);
        ev_timer_start(l->ev, &l->degraded_timer);
    } else if (!l->degraded && ev_is_active(&l->degraded_timer)) {
        ev_timer_stop(l->ev, &l->degraded_timer);
        l->round = false; /* a degraded round cut short (the site root went) is over */
    }
}

/* Enter (DEGRADED true) or leave degraded mode, the same way at startup and at runtime:
 * entering logs the one `degraded` entry, leaving logs that watches are back; the degraded
 * rescan timer runs exactly while degraded. */
static void degraded_set(struct loop *l, bool degraded)
{
    char buf[256];
    if (degraded && !l->degraded) {
        l->degraded = true;
        log_degraded(l);
        if (l->ready)
            notify_status("%s", summary(l, buf, sizeof(buf)));
    } else if (!degraded && l->degraded) {
        l->degraded = false;
        log_info("%s available again: every directory is watched (%s)",
                 l->fan ? "room below max_watched_dirs" : "inotify watches",
                 summary(l, buf, sizeof(buf)));
        if (l->ready)
            notify_status("%s", summary(l, buf, sizeof(buf)));
    }
    degraded_timer_update(l);
}

/* After crawl CR: inside a rescan round its figures add up for the round's end; outside one
 * (a crawl for an event or a request), running out of watches enters degraded mode. */
static void degraded_note(struct loop *l, const struct crawl *cr)
{
    if (l->round) {
        l->round_enospc |= cr->enospc;
        l->round_unwatched += cr->unwatched_dirs;
        return;
    }
    if (!cr->enospc)
        return;
    l->unwatched_dirs = (l->degraded ? l->unwatched_dirs : 0) + cr->unwatched_dirs;
    degraded_set(l, true);
}

/* A rescan round (full, or of the unwatched subtrees) starts: its crawls count together. */
static void round_begin(struct loop *l)
{
    l->round = true;
    l->round_enospc = false;
    l->round_unwatched = 0;
}

/* The round is over: degraded when any of its crawls ran out of watches, else not. */
static void round_end(struct loop *l)
{
    l->round = false;
    if (l->round_enospc)
        l->unwatched_dirs = l->round_unwatched;
    degraded_set(l, l->round_enospc);
}

/* A full crawl of the site with sweeps: the table and the watches match the disk after. */
static void site_root_verify(struct loop *l);

static void full_rescan(struct loop *l, const char *why)
{
    site_root_verify(l);
    round_begin(l);
    unwatched_drop_below(l, "");
    l->unwatched_all = false; /* this crawl lists them again */
    uint64_t t0 = mono_usec();
    if (crawl(l, "", true, true, true) < 0) {
        l->round = false;
        log_warn_errno(errno, "full rescan (%s) failed", why);
        return;
    }
    round_end(l);
    l->full_scans++;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    l->last_full_scan_realtime = (uint64_t)rt.tv_sec * 1000000 + (uint64_t)rt.tv_nsec / 1000;
    char buf[256];
    log_info("full rescan (%s) in %.2fs: %" PRIu64 " directories, %" PRIu64 " files; %s", why,
             (double)(mono_usec() - t0) / 1e6, l->crawl_dirs, l->crawl_files,
             summary(l, buf, sizeof(buf)));
    if (l->ready)
        notify_status("%s", summary(l, buf, sizeof(buf)));
}

/* The repair_pending entry after the existing pass WHY ("startup", "reload"). */
static void log_pending(struct loop *l, const char *why)
{
    char kinds[FINDING_KIND_COUNT * 48] = "", count[32];
    size_t pos = 0;
    for (int k = 0; k < FINDING_KIND_COUNT && pos < sizeof(kinds); k++) {
        if (!l->pending_kind[k])
            continue;
        int w = snprintf(kinds + pos, sizeof(kinds) - pos, "%s%s %" PRIu64, pos ? ", " : "",
                         finding_kind_name((enum finding_kind)k), l->pending_kind[k]);
        if (w < 0)
            break;
        pos += (size_t)w;
    }
    snprintf(count, sizeof(count), "%" PRIu64, l->pending_objects);
    struct log_field fields[] = {{"PATH", l->cfg->site_root}, {"COUNT", count}, {"BY_KIND", kinds}};
    l->events[LOG_EVENT_REPAIR_PENDING]++;
    log_event(LOG_EVENT_REPAIR_PENDING, LOG_NOTICE, fields, 3,
              "%s: %" PRIu64 " objects need repair (%s); repair = auto repairs new changes only: "
              "run `permwatchctl repair` (`--dry-run` lists them) or set repair_existing = yes",
              why, l->pending_objects, kinds);
}

/* Whether the daemon can change the site, probed without changing it: the root's mount is
 * read-only (statvfs ST_RDONLY), or the kernel answers EROFS to a write-access check (which
 * it does even for root). When it cannot, one site_read_only entry naming the drop-in that
 * fixes it (ProtectSystem=strict hides every path outside ReadWritePaths=). */
static void site_write_probe(struct loop *l, const char *why)
{
    if (l->root_fd < 0)
        return;
    const char *reason = NULL;
    struct statvfs vfs;
    if (fstatvfs(l->root_fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
        reason = "its mount is read-only to the daemon (statvfs: ST_RDONLY)";
    else if (faccessat(l->root_fd, ".", W_OK, AT_EACCESS) < 0 && errno == EROFS)
        reason = "Read-only file system (access check)";
    if (!reason)
        return;
    struct log_field fields[] = {{"PATH", l->cfg->site_root}, {"REASON", reason}};
    l->events[LOG_EVENT_SITE_READ_ONLY]++;
    log_event(LOG_EVENT_SITE_READ_ONLY, LOG_WARNING, fields, 2,
              "%s: the site %s is read-only to permwatchd (%s): no repair can work; when the "
              "unit's ProtectSystem=strict is the cause, add the site with `systemctl edit "
              "permwatchd`: [Service] ReadWritePaths=%s",
              why, l->cfg->site_root, reason, l->cfg->site_root);
}

/* The full crawl at startup or reload (WHY): what it finds existed before, so it repairs only
 * with repair_existing = yes; otherwise one repair_pending entry says what a repair would
 * change under `repair = auto` rules (none when nothing). */
static void existing_rescan(struct loop *l, const char *why)
{
    site_write_probe(l, why);
    l->existing_pass = true;
    l->existing_due = false;
    l->pending_objects = 0;
    memset(l->pending_kind, 0, sizeof(l->pending_kind));
    full_rescan(l, why);
    l->existing_pass = false;
    if (l->pending_objects)
        log_pending(l, why);
}

/* ---- site root ------------------------------------------------------------------------- */

/* The site root is not the pinned directory any more (REASON says how): log it once and
 * refuse every repair until a reload pins the root again. */
static void root_changed(struct loop *l, const char *reason)
{
    l->root_changed = true;
    l->block_logged = false;
    snprintf(l->root_changed_why, sizeof(l->root_changed_why),
             "the site root changed since it was pinned (%s); check it, then run permwatchctl "
             "reload",
             reason);
    struct log_field fields[] = {{"PATH", l->cfg->site_root}, {"REASON", reason}};
    l->events[LOG_EVENT_SITE_ROOT_CHANGED]++;
    log_event(LOG_EVENT_SITE_ROOT_CHANGED, LOG_ERR, fields, 2,
              "site root %s is not the directory pinned at start or reload: %s; still watched, "
              "but every repair is refused until permwatchctl reload",
              l->cfg->site_root, reason);
}

/* Take CHAIN (the ancestors unsafe now; taken over). PIN (start, reload) replaces what was
 * known; otherwise unsafe ancestors are only added: fixing them counts from the next reload.
 * Logs unsafe_ancestor entries when pinning or when the set changed. */
static void chain_update(struct loop *l, struct root_chain *chain, bool pin)
{
    if (!pin && !chain->n) {
        root_chain_free(chain);
        return;
    }
    bool changed = pin || chain->n != l->chain.n;
    root_chain_free(&l->chain);
    l->chain = *chain;
    if (!chain->n || !changed)
        return;
    l->events[LOG_EVENT_UNSAFE_ANCESTOR] += chain->n;
    root_log_unsafe(chain, l->cfg->site_root);
    l->block_logged = false;
    snprintf(l->chain_why, sizeof(l->chain_why),
             "%zu ancestors of the site root can be written by a non-root user, who could swap "
             "the site root (%s is %s); fix them, then run permwatchctl reload",
             chain->n, chain->items[0].path, chain->items[0].reason);
}

/* Before a full rescan (periodic, requested, after an overflow): the directory at the site
 * root's path must still be the one held, and its ancestors are checked again (a chmod since
 * the start counts). A change is root_changed; ENOENT is left to the root's watch and poll. */
static void site_root_verify(struct loop *l)
{
    if (l->root_fd < 0)
        return;
    char why[PATH_MAX + 256];
    struct root_ident id, held;
    struct root_chain chain;
    int fd = root_open(l->cfg->site_root, &id, &chain, why, sizeof(why));
    if (fd < 0) {
        if (errno == ELOOP && !l->root_changed)
            root_changed(l, why);
        return;
    }
    close(fd);
    chain_update(l, &chain, false);
    if (!l->root_changed && root_ident_of(l->root_fd, &held) == 0 && !root_ident_eq(&id, &held)) {
        char was[96], now[96], reason[256];
        snprintf(reason, sizeof(reason),
                 "the path now leads to another directory: held %s, at "
                 "the path %s",
                 root_ident_format(&held, was, sizeof(was)),
                 root_ident_format(&id, now, sizeof(now)));
        root_changed(l, reason);
    }
}

/* Open the site root by root_open's rules (no untrusted symlink) into l->root_fd. When
 * l->pin_next (start, reload) its identity is pinned and an earlier change forgiven;
 * otherwise another identity than the pinned one is root_changed. Unsafe ancestors are
 * logged when pinning or when they appear. Returns 0, or -1 with errno (a new reason is
 * logged once; an untrusted symlink at the root's path is root_changed). */
static int site_root_open(struct loop *l)
{
    char why[sizeof(l->root_err)];
    struct root_ident id;
    struct root_chain chain;
    int fd = root_open(l->cfg->site_root, &id, &chain, why, sizeof(why));
    if (fd < 0) {
        int e = errno;
        if (strcmp(why, l->root_err) != 0) {
            snprintf(l->root_err, sizeof(l->root_err), "%s", why);
            if (e == ELOOP && !l->pin_next)
                root_changed(l, why);
            else if (l->ready && (e != ENOENT || l->pin_next)) /* at start: loop_run says it */
                log_warn("cannot open the site root %s: %s", l->cfg->site_root, why);
        }
        errno = e;
        return -1;
    }
    l->root_err[0] = '\0';
    l->root_fd = fd;
    chain_update(l, &chain, l->pin_next);
    if (l->pin_next) {
        l->root_pin = id;
        l->pin_next = false;
        l->root_changed = false;
        l->block_logged = false;
    } else if (!root_ident_eq(&id, &l->root_pin)) {
        char was[96], now[96], reason[256];
        snprintf(reason, sizeof(reason), "was %s, now %s",
                 root_ident_format(&l->root_pin, was, sizeof(was)),
                 root_ident_format(&id, now, sizeof(now)));
        root_changed(l, reason);
    }
    return 0;
}

/* Watch the site root's parent for the root's own deletion, rename and replacement: the
 * root's IN_DELETE_SELF never comes while we hold it open. The parent is reached by
 * root_open's rules and watched through its fd. Failure only costs the immediacy: the root
 * is then polled for once it is seen gone. */
static void parent_watch(struct loop *l)
{
    /* the new watch first, then the old one goes (the same directory gets the same id) */
    int old_wd = l->parent_wd, old_fan = l->fan_parent;
    l->parent_wd = -1;
    l->fan_parent = 0;
    char why[PATH_MAX + 256], proc[64];
    int pfd = root_open_parent(l->cfg->site_root, why, sizeof(why));
    if (pfd < 0) {
        log_warn("cannot watch the site root's parent for the root's removal: %s", why);
    } else {
        /* fanotify: the parent's events come in the site's queue, in order (the root's files
         * removed before the root itself) when it is on the marked filesystem */
        struct stat ps, rs;
        if (l->fan && l->root_fd >= 0 && fstat(pfd, &ps) == 0 && fstat(l->root_fd, &rs) == 0 &&
            ps.st_dev == rs.st_dev) {
            int id = fan_dir_add(l->fan, pfd);
            l->fan_parent = id > 0 ? id : 0;
        }
        if (!l->fan_parent) {
            snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
            l->parent_wd =
                inotify_add_watch(watch_fd(l->watch), proc,
                                  IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR);
            if (l->parent_wd < 0)
                log_warn_errno(errno, "cannot watch the parent of %s for the site root's removal",
                               l->cfg->site_root);
        }
        close(pfd);
    }
    if (old_wd >= 0 && old_wd != l->parent_wd)
        inotify_rm_watch(watch_fd(l->watch), old_wd);
    if (old_fan > 0 && l->fan && old_fan != l->fan_parent)
        fan_dir_remove(l->fan, old_fan);
}

static void root_gone(struct loop *l);
static void on_root_timer(struct ev_loop *loop, ev_timer *t, int revents);
static void backend_remark(struct loop *l);

/* An event in the site root's parent: only the root's own name matters. */
static void parent_event(struct loop *l, const struct inotify_event *ev)
{
    if (ev->mask & IN_IGNORED) {
        l->parent_wd = -1;
        return;
    }
    const char *base = strrchr(l->cfg->site_root, '/');
    if (!ev->len || !base || strcmp(ev->name, base + 1) != 0)
        return;
    if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
        root_gone(l);
    } else if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
        root_gone(l); /* replaced: the old root, if still held, is not the site any more */
        on_root_timer(l->ev, &l->root_timer, 0);
    }
}

/* The site root was deleted, renamed or replaced: drop its watches, wait for it. */
static void root_gone(struct loop *l)
{
    if (l->root_fd < 0)
        return;
    close(l->root_fd);
    l->root_fd = -1;
    struct watch_dir *root = watch_root(l->watch);
    if (root)
        watch_remove(l->watch, root);
    unwatched_drop_below(l, "");
    l->degraded = false;
    degraded_timer_update(l);
    log_warn("site root %s is gone (deleted, renamed or replaced); its %zu open findings stay "
             "open until it is back; checking every %gs",
             l->cfg->site_root, ftable_count(l->table), ROOT_POLL);
    notify_status("waiting for the site root %s to come back", l->cfg->site_root);
    ev_timer_set(&l->root_timer, ROOT_POLL, ROOT_POLL);
    ev_timer_start(l->ev, &l->root_timer);
}

static void on_root_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct loop *l = t->data;
    if (l->root_fd >= 0) {
        ev_timer_stop(loop, t);
        return;
    }
    if (site_root_open(l) < 0)
        return;
    ev_timer_stop(loop, t);
    backend_remark(l);
    log_info("site root %s is back: crawling it", l->cfg->site_root);
    if (l->existing_due)
        existing_rescan(l, "site root back");
    else
        full_rescan(l, "site root back");
}

/* ---- inotify events -------------------------------------------------------------------- */

/* Something appeared at RELPATH (created or moved in) inside watched directory D. */
static void arrived(struct loop *l, struct watch_dir *d, const char *name, const char *relpath,
                    bool is_dir)
{
    if (is_dir && watch_child(l->watch, d, name)) {
        /* a crawl already watched and read it: only the directory itself is news */
        crawl(l, relpath, false, false, false);
        return;
    }
    crawl(l, relpath, is_dir, is_dir, false);
}

/* Something left RELPATH (deleted or moved out); CHILD is its watch node, if any. */
static void departed(struct loop *l, struct watch_dir *child, const char *relpath, bool is_dir)
{
    if (is_dir) {
        if (child)
            watch_remove(l->watch, child);
        unwatched_drop_below(l, relpath);
        ftable_forget_subtree(l->table, relpath);
    } else {
        ftable_forget_path(l->table, relpath);
    }
}

static void moves_clear(struct loop *l)
{
    for (size_t i = 0; i < l->nmoves; i++) {
        free(l->moves[i].from_name);
        free(l->moves[i].from_path);
    }
    l->nmoves = 0;
}

/* Resolve the MOVED_FROMs that found no MOVED_TO: they left the watched tree. */
static void moves_settle(struct loop *l)
{
    for (size_t i = 0; i < l->nmoves; i++) {
        struct pending_move *m = &l->moves[i];
        struct watch_dir *from = watch_lookup(l->watch, m->from_wd);
        struct watch_dir *child = from ? watch_child(l->watch, from, m->from_name) : NULL;
        departed(l, child, m->from_path, m->is_dir);
    }
    moves_clear(l);
}

static void move_from(struct loop *l, const struct inotify_event *ev, const char *relpath)
{
    if (l->nmoves == l->moves_cap) {
        size_t cap = l->moves_cap ? l->moves_cap * 2 : 16;
        struct pending_move *p = realloc(l->moves, cap * sizeof(*p));
        if (!p) {
            departed(l, NULL, relpath, ev->mask & IN_ISDIR);
            return;
        }
        l->moves = p;
        l->moves_cap = cap;
    }
    struct pending_move m = {ev->cookie, (ev->mask & IN_ISDIR) != 0, ev->wd, strdup(ev->name),
                             strdup(relpath)};
    if (!m.from_name || !m.from_path) {
        free(m.from_name);
        free(m.from_path);
        departed(l, NULL, relpath, m.is_dir);
        return;
    }
    l->moves[l->nmoves++] = m;
}

/* A MOVED_TO into directory D: the end of a rename inside the tree, or an arrival. */
static void move_to(struct loop *l, struct watch_dir *d, const struct inotify_event *ev,
                    const char *relpath)
{
    bool is_dir = ev->mask & IN_ISDIR;
    for (size_t i = 0; i < l->nmoves; i++) {
        struct pending_move *m = &l->moves[i];
        if (m->cookie != ev->cookie)
            continue;
        struct watch_dir *from = watch_lookup(l->watch, m->from_wd);
        struct watch_dir *child = from ? watch_child(l->watch, from, m->from_name) : NULL;
        /* the old paths are gone: their findings close; the new ones are looked at afresh.
         * Problems open at the old paths were known (left alone at start, refused, paused):
         * a rename is no new change to them, so nothing it moved is auto-repaired for it */
        size_t known;
        if (is_dir) {
            unwatched_drop_below(l, m->from_path);
            known = ftable_forget_subtree(l->table, m->from_path);
            if (child)
                watch_move(l->watch, child, d, ev->name);
        } else {
            known = ftable_forget_path(l->table, m->from_path);
        }
        free(m->from_name);
        free(m->from_path);
        l->moves[i] = l->moves[--l->nmoves];
        l->moved_known = known > 0;
        crawl(l, relpath, is_dir, is_dir, false);
        l->moved_known = false;
        return;
    }
    arrived(l, d, ev->name, relpath, is_dir);
}

static void overflow(struct loop *l)
{
    l->overflows++;
    l->events[LOG_EVENT_OVERFLOW]++;
    double now = ev_now(l->ev);
    if (l->overflow_delay == 0 || now - l->last_overflow > OVERFLOW_QUIET)
        l->overflow_delay = OVERFLOW_DELAY_MIN;
    else if (!ev_is_active(&l->overflow_timer))
        l->overflow_delay =
            l->overflow_delay * 2 > OVERFLOW_DELAY_MAX ? OVERFLOW_DELAY_MAX : l->overflow_delay * 2;
    l->last_overflow = now;
    if (ev_is_active(&l->overflow_timer))
        return; /* a rescan is already due: it will see this too */
    char count[32];
    snprintf(count, sizeof(count), "%" PRIu64, l->overflows);
    struct log_field fields[] = {{"COUNT", count}};
    log_event(LOG_EVENT_OVERFLOW, LOG_WARNING, fields, 1,
              "%s event queue overflow (#%" PRIu64 "): events were lost; full rescan in %.1fs",
              l->fan ? "fanotify" : "inotify", l->overflows, l->overflow_delay);
    ev_timer_set(&l->overflow_timer, l->overflow_delay, 0);
    ev_timer_start(l->ev, &l->overflow_timer);
}

static void on_overflow_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    full_rescan(t->data, "after event queue overflow");
}

/* An event about PLACE could not be followed (ERR: out of memory): say so, at most once every
 * EVENT_LOST_EVERY, rather than drop it silently. */
static void event_lost(struct loop *l, const char *place, int err)
{
    uint64_t now = mono_usec();
    if (l->lost_logged_usec && now - l->lost_logged_usec < EVENT_LOST_EVERY_USEC)
        return;
    l->lost_logged_usec = now;
    log_warn("cannot follow an event in %s (%s): what changed there is seen at the next full "
             "rescan",
             *place ? place : ".", strerror(err));
}

static void handle_entry_event(struct loop *l, struct watch_dir *d, const struct inotify_event *ev,
                               const char *path);
static void handle_dir_event(struct loop *l, const struct inotify_event *ev);

/* Handle one inotify event. */
static void handle_event(struct loop *l, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        overflow(l);
        return;
    }
    if (ev->wd == l->parent_wd) {
        parent_event(l, ev);
        return;
    }
    if (l->fan)
        return; /* the nodes' ids are fanotify's: inotify watches only the root's parent */
    handle_dir_event(l, ev);
}

/* Handle one event of a watched directory (EV->wd: its node's id, from either backend). */
static void handle_dir_event(struct loop *l, const struct inotify_event *ev)
{
    struct watch_dir *d = watch_lookup(l->watch, ev->wd);
    if (!d)
        return;
    if (ev->mask & IN_IGNORED) {
        if (d == watch_root(l->watch)) {
            root_gone(l);
        } else {
            watch_forget(l->watch, d);
        }
        return;
    }
    /* paths of any length: directories deeper than PATH_MAX are watched and followed too */
    char *dpath = watch_path_alloc(d), *path = NULL;
    if (!dpath || (ev->len && !(path = path_join(dpath, ev->name)))) {
        event_lost(l, dpath ? dpath : ev->len ? ev->name : ".", errno);
    } else if (!ev->len) { /* about the watched directory itself */
        if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) && d == watch_root(l->watch))
            root_gone(l);
        else if (ev->mask & IN_ATTRIB)
            crawl(l, dpath, false, false, false);
    } else {
        handle_entry_event(l, d, ev, path);
    }
    free(dpath);
    free(path);
}

/* An event about entry EV->name of watched directory D, at PATH. */
static void handle_entry_event(struct loop *l, struct watch_dir *d, const struct inotify_event *ev,
                               const char *path)
{
    bool is_dir = ev->mask & IN_ISDIR;
    if (ev->mask & IN_MOVED_FROM)
        move_from(l, ev, path);
    else if (ev->mask & IN_MOVED_TO)
        move_to(l, d, ev, path);
    else if (ev->mask & IN_CREATE)
        arrived(l, d, ev->name, path, is_dir);
    else if (ev->mask & IN_DELETE)
        departed(l, is_dir ? watch_child(l->watch, d, ev->name) : NULL, path, is_dir);
    else if (ev->mask & (IN_ATTRIB | IN_CLOSE_WRITE))
        crawl(l, path, false, false, false);
}

/* Whether EV only asks to look at a file again (its content, owner or mode changed, or it
 * was created): such events are idempotent, since every look reads the disk anew. */
static bool look_again_only(const struct inotify_event *ev)
{
    if (!ev->len || (ev->mask & IN_ISDIR))
        return false;
    return (ev->mask & (IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE)) &&
           !(ev->mask & (IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_Q_OVERFLOW | IN_IGNORED));
}

static void on_inotify(struct ev_loop *loop, ev_io *io, int revents)
{
    struct loop *l = io->data;
    _Alignas(struct inotify_event) char buf[16 * 1024];
    uint64_t t0 = mono_usec();
    /* A run of look-again events for one file (create, chown, chmod, close: four for one
     * file written by root) needs one look: all of them happened before we read them, so
     * the first look already sees the state after the last. */
    int prev_wd = -1;
    char prev_name[NAME_MAX + 1] = "";
    for (;;) {
        /* a slice of loop time at most: what is left is read at the next loop iteration
         * (the descriptor stays readable), timers and the watchdog run in between; not while
         * a MOVED_FROM waits for its MOVED_TO, which may be next in the queue */
        if (!l->nmoves && mono_usec() - t0 >= EVENTS_SLICE_USEC)
            return;
        ssize_t n = read(watch_fd(l->watch), buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                log_warn_errno(errno, "reading inotify events");
            break;
        }
        if (n == 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (look_again_only(ev)) {
                if (ev->wd == prev_wd && strncmp(ev->name, prev_name, sizeof(prev_name)) == 0)
                    continue;
                prev_wd = ev->wd;
                snprintf(prev_name, sizeof(prev_name), "%s", ev->name);
            } else {
                prev_wd = -1;
            }
            handle_event(l, ev);
        }
    }
    /* the queue is empty: a MOVED_FROM still unpaired moved out of the tree */
    moves_settle(l);
}

/* The fanotify reader queued events (or flagged lost ones): handle them like on_inotify, in
 * slices, each with its writer in l->writer_cur. */
static void on_fan(struct ev_loop *loop, ev_io *io, int revents)
{
    struct loop *l = io->data;
    uint64_t t0 = mono_usec();
    int prev_wd = -1;
    char prev_name[NAME_MAX + 1] = "";
    if (fan_take_overflow(l->fan))
        overflow(l);
    for (;;) {
        /* the wake-up stays readable while events are left: the rest comes next iteration */
        if (!l->nmoves && mono_usec() - t0 >= EVENTS_SLICE_USEC)
            return;
        pid_t pid;
        int pidfd;
        const struct inotify_event *ev = fan_next(l->fan, &pid, &pidfd);
        if (!ev)
            break;
        if (look_again_only(ev)) {
            if (ev->wd == prev_wd && strncmp(ev->name, prev_name, sizeof(prev_name)) == 0) {
                if (pidfd >= 0)
                    close(pidfd);
                continue;
            }
            prev_wd = ev->wd;
            snprintf(prev_name, sizeof(prev_name), "%s", ev->name);
        } else {
            prev_wd = -1;
        }
        l->writer_cur = (struct writer_ev){pid, pidfd};
        if (ev->wd == l->fan_parent)
            parent_event(l, ev);
        else
            handle_dir_event(l, ev);
        l->writer_cur = (struct writer_ev){0, -1};
        if (pidfd >= 0)
            close(pidfd);
    }
    moves_settle(l); /* pairs are queued together: a lone one has no partner */
    if (fan_take_overflow(l->fan))
        overflow(l);
}

/* watch release hook in fanotify mode: a node went, its handle leaves the table. */
static void on_dir_release(void *ctx, int wd)
{
    struct loop *l = ctx;
    fan_dir_remove(l->fan, wd);
}

/* Stop the fanotify backend (its nodes are gone): inotify watches from now on. */
static void backend_to_inotify(struct loop *l)
{
    ev_io_stop(l->ev, &l->fan_io);
    fan_free(l->fan);
    l->fan = NULL;
    watch_set_release(l->watch, NULL, NULL);
    if (l->fan_parent > 0)
        parent_watch(l); /* the root's parent on inotify too */
}

/* Choose the detection backend by l->cfg->backend before the first crawl: fanotify when the
 * group can be made and the site root's filesystem marked (or the root is not there yet),
 * else inotify; l->backend_why says why. */
static void backend_start(struct loop *l)
{
    char why[512];
    enum config_backend want = l->cfg->backend;
    if (want == CONFIG_BACKEND_INOTIFY) {
        snprintf(l->backend_why, sizeof(l->backend_why), "backend = inotify");
        return;
    }
    l->fan = fan_new(why, sizeof(why));
    if (l->fan && l->root_fd >= 0 && fan_mark(l->fan, l->root_fd, why, sizeof(why)) < 0) {
        fan_free(l->fan);
        l->fan = NULL;
    }
    if (!l->fan) {
        l->backend_warn = want == CONFIG_BACKEND_FANOTIFY;
        snprintf(l->backend_why, sizeof(l->backend_why), "fanotify unavailable: %s", why);
        return;
    }
    fan_set_dir_limit(l->fan, l->cfg->max_watched_dirs);
    watch_set_release(l->watch, on_dir_release, l);
    ev_io_init(&l->fan_io, on_fan, fan_wake_fd(l->fan), EV_READ);
    l->fan_io.data = l;
    ev_io_start(l->ev, &l->fan_io);
    snprintf(l->backend_why, sizeof(l->backend_why),
             "filesystem mark on the site root's filesystem%s%s",
             fan_has_pidfd(l->fan) ? "" : ", no FAN_REPORT_PIDFD (writers by pid only)",
             l->root_fd < 0 ? " (placed when the site root exists)" : "");
}

/* The site root was opened again (back, replaced, reload): mark its filesystem (another
 * filesystem's mark goes). When that fails, inotify takes over (no node is left then). */
static void backend_remark(struct loop *l)
{
    char why[512];
    if (!l->fan || l->root_fd < 0)
        return;
    int rc = fan_mark(l->fan, l->root_fd, why, sizeof(why));
    if (rc >= 0) {
        /* the parent into the fanotify queue now that the root is open, or again when the
         * mark moved to another filesystem (the old one's events stopped) */
        if (rc > 0 || !l->fan_parent)
            parent_watch(l);
        return;
    }
    if (watch_count(l->watch)) {
        log_warn("cannot place the fanotify mark on the site root's filesystem again: %s; "
                 "changes are seen at full rescans only until a restart",
                 why);
        return;
    }
    backend_to_inotify(l);
    snprintf(l->backend_why, sizeof(l->backend_why), "fanotify unavailable: %s", why);
    log_warn("backend: inotify from now on: the fanotify mark cannot be placed on the site "
             "root's filesystem: %s",
             why);
}

/* ---- timers and signals ---------------------------------------------------------------- */

static void on_rescan_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    full_rescan(t->data, "periodic");
}

/* Degraded mode: crawl each unwatched subtree again, trying to watch it. A round takes every
 * unwatched top and crawls them in slices of DEGRADED_SLICE_USEC, going on at the next loop
 * iteration, so that any number of unwatched directories never stalls the loop. */
static void on_degraded_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct loop *l = t->data;
    if (!l->round && l->unwatched_all) { /* too many to list: look at everything */
        full_rescan(l, "degraded, too many unwatched subtrees to list");
        return;
    }
    if (!l->round) { /* a new round: what is unwatched now */
        struct pathset *tops = l->unwatched;
        l->unwatched = l->pending;
        l->pending = tops;
        round_begin(l);
    }
    uint64_t t0 = mono_usec();
    char *top;
    while ((top = pathset_pop(l->pending)) != NULL) {
        crawl(l, top, true, true, true);
        free(top);
        if (pathset_count(l->pending) && mono_usec() - t0 >= DEGRADED_SLICE_USEC) {
            ev_timer_stop(loop, t);
            ev_timer_set(t, 0., (double)l->cfg->degraded_rescan_usec / 1e6);
            ev_timer_start(loop, t);
            return;
        }
    }
    pathset_drop_below(l->pending, ""); /* only left when a copy failed: a full rescan sees it */
    round_end(l); /* still short of watches: stays degraded; else the recovery entry */
}

static void on_flush_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct loop *l = t->data;
    ratelimit_flush(l->rl, mono_usec(), false, on_summary, l);
    uint64_t untracked = ftable_take_untracked(l->table);
    if (untracked) {
        char count[32];
        snprintf(count, sizeof(count), "%" PRIu64, untracked);
        struct log_field fields[] = {{"COUNT", count}};
        log_event(LOG_EVENT_TABLE_FULL, LOG_WARNING, fields, 1,
                  "%" PRIu64 " findings not tracked: the findings table is full (%zu open, "
                  "%zu bytes; max_findings = %zu, max_findings_memory = %zu); fix what is open "
                  "or raise the caps",
                  untracked, ftable_count(l->table), ftable_memory(l->table), l->cfg->max_findings,
                  l->cfg->max_findings_memory);
    }
}

static void on_watchdog_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    notify_watchdog();
}

static void on_stop(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct loop *l = s->data;
    l->stopping = true;
    ev_break(loop, EVBREAK_ALL);
}

/* Arm the periodic rescan timer for the current config. */
static void rescan_timer_update(struct loop *l)
{
    ev_timer_stop(l->ev, &l->rescan_timer);
    if (l->cfg->rescan_interval_usec) {
        double every = (double)l->cfg->rescan_interval_usec / 1e6;
        ev_timer_set(&l->rescan_timer, every, every);
        ev_timer_start(l->ev, &l->rescan_timer);
    }
    ev_timer_stop(l->ev, &l->flush_timer);
    double every = (double)l->cfg->log_interval_usec / 1e6;
    ev_timer_set(&l->flush_timer, every, every);
    ev_timer_start(l->ev, &l->flush_timer);
}

/* Reload: open the site root afresh and pin it (an operator's reload forgives a change and
 * checks the ancestors again). A root still held that is not the directory now at the path
 * is dropped with its watches. Returns 0, or -1 with errno when the root cannot be opened
 * (the held one is then dropped too, and the next open pins). */
static int site_root_repin(struct loop *l)
{
    int old = l->root_fd;
    l->root_fd = -1;
    l->pin_next = true;
    l->root_err[0] = '\0'; /* say again why it cannot be opened */
    if (site_root_open(l) < 0) {
        int e = errno;
        l->root_fd = old;
        root_gone(l);
        errno = e;
        return -1;
    }
    if (old < 0)
        return 0;
    struct root_ident was;
    if (root_ident_of(old, &was) == 0 && root_ident_eq(&was, &l->root_pin)) {
        close(l->root_fd); /* the same directory: keep the one watched */
        l->root_fd = old;
        return 0;
    }
    close(old);
    if (watch_root(l->watch))
        watch_remove(l->watch, watch_root(l->watch));
    unwatched_drop_below(l, "");
    return 0;
}

/* One reload_partial entry: [daemon] KEY of the new policy is not applied, WHY says what
 * stays (and what to do). */
static void reload_partial(struct loop *l, const char *key, const char *why)
{
    struct log_field fields[] = {{"KEY", key}, {"REASON", why}, {"PATH", l->config_path}};
    l->events[LOG_EVENT_RELOAD_PARTIAL]++;
    log_event(LOG_EVENT_RELOAD_PARTIAL, LOG_WARNING, fields, 3,
              "reload: [daemon] %s not applied: %s", key, why);
}

/* Reload of the [daemon] keys of NC against the running L->cfg: each is applied here (control
 * group, degraded rescan interval), by the caller (rescan_interval, log_burst, log_interval,
 * max_findings_memory, repair_existing), or named in a reload_partial entry. */
static void reload_daemon_keys(struct loop *l, const struct config *nc)
{
    char why[512];
    const char *was = l->cfg->control_socket ? l->cfg->control_socket : CONFIG_DEFAULT_SOCKET;
    const char *now = nc->control_socket ? nc->control_socket : CONFIG_DEFAULT_SOCKET;
    if (strcmp(was, now) != 0) {
        snprintf(why, sizeof(why),
                 "the daemon still listens on %s; %s takes effect at the next "
                 "restart (systemctl restart permwatchd)",
                 was, now);
        reload_partial(l, "control_socket", why);
    }
    if (l->ctl && control_reconfigure(l->ctl, nc, why, sizeof(why)) < 0)
        reload_partial(l, "control_group", why);
    /* the other backend than the running one named (auto accepts whichever runs) */
    if ((nc->backend == CONFIG_BACKEND_INOTIFY && l->fan) ||
        (nc->backend == CONFIG_BACKEND_FANOTIFY && !l->fan)) {
        snprintf(why, sizeof(why),
                 "takes effect at the next restart (systemctl restart permwatchd); still %s, "
                 "running %s",
                 config_backend_name(l->cfg->backend), l->fan ? "fanotify" : "inotify");
        reload_partial(l, "backend", why);
    }
    if (l->fan) /* directories registered already stay; new ones count against it */
        fan_set_dir_limit(l->fan, nc->max_watched_dirs);
    if (nc->max_findings != l->cfg->max_findings) {
        snprintf(why, sizeof(why), "takes effect at the next restart (still %zu)",
                 l->cfg->max_findings);
        reload_partial(l, "max_findings", why);
    }
    if (nc->degraded_rescan_usec != l->cfg->degraded_rescan_usec &&
        ev_is_active(&l->degraded_timer)) {
        double every = (double)nc->degraded_rescan_usec / 1e6;
        ev_timer_stop(l->ev, &l->degraded_timer);
        ev_timer_set(&l->degraded_timer, every, every);
        ev_timer_start(l->ev, &l->degraded_timer);
    }
}

static void on_reload(struct ev_loop *loop, ev_signal *s, int revents)
{
    loop_reload(s->data, NULL, 0);
}

int loop_reload(struct loop *l, char *why, size_t len)
{
    struct ev_loop *loop = l->ev;
    char buf[1024];
    notify_reloading();
    struct config *nc;
    struct config_error err;
    if (config_load_file(l->config_path, &nc, &err) < 0) {
        config_error_format(&err, buf, sizeof(buf));
        struct log_field fields[] = {{"REASON", buf}, {"PATH", l->config_path}};
        l->events[LOG_EVENT_CONFIG_ERROR]++;
        log_event(LOG_EVENT_CONFIG_ERROR, LOG_ERR, fields, 2,
                  "reload refused, keeping the running policy: %s", buf);
        if (why)
            snprintf(why, len, "%s", buf);
        notify_ready("%s (reload refused: %s)", summary(l, buf, sizeof(buf)), err.message);
        return -1;
    }
    struct ratelimit *rl = ratelimit_new(RL_NKEYS, nc->log_burst, nc->log_interval_usec);
    if (!rl) {
        config_free(nc);
        log_error("reload refused: out of memory");
        if (why)
            snprintf(why, len, "out of memory");
        notify_ready("%s", summary(l, buf, sizeof(buf)));
        return -1;
    }
    bool moved = strcmp(nc->site_root, l->cfg->site_root) != 0;
    reload_daemon_keys(l, nc);
    ftable_set_max_memory(l->table, nc->max_findings_memory);
    ratelimit_flush(l->rl, mono_usec(), true, on_summary, l);
    ratelimit_free(l->rl);
    l->rl = rl;
    if (moved) {
        /* another site: nothing of the old one stays open or watched */
        if (l->root_fd >= 0)
            close(l->root_fd);
        l->root_fd = -1;
        if (watch_root(l->watch))
            watch_remove(l->watch, watch_root(l->watch));
        ftable_forget_subtree(l->table, "");
        mounts_sweep_begin(l->mounts);
        mounts_sweep_end(l->mounts, "");
        ev_timer_stop(loop, &l->root_timer);
    }
    config_free(l->cfg);
    l->cfg = nc;
    account_cache_clear();
    rescan_timer_update(l);
    struct log_field fields[] = {{"PATH", l->config_path}};
    l->events[LOG_EVENT_RELOADED]++;
    log_event(LOG_EVENT_RELOADED, LOG_INFO, fields, 1, "reloaded %s: %zu rules, site %s",
              l->config_path, nc->nrules, nc->site_root);
    parent_watch(l);
    if (site_root_repin(l) < 0) {
        log_warn("site root %s is missing: checking every %gs", l->cfg->site_root, ROOT_POLL);
        l->existing_due = true;
        ev_timer_set(&l->root_timer, ROOT_POLL, ROOT_POLL);
        ev_timer_start(loop, &l->root_timer);
    } else {
        backend_remark(l);
        existing_rescan(l, "reload");
    }
    if (l->dispatch)
        dispatch_reload(l->dispatch, l->cfg);
    notify_ready("%s", summary(l, buf, sizeof(buf)));
    return 0;
}

/* ---- setup ----------------------------------------------------------------------------- */

struct loop *loop_new(struct config *c, const char *config_path)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->cfg = c;
    l->config_path = config_path;
    l->root_fd = -1;
    l->parent_wd = -1;
    l->writer_cur = (struct writer_ev){0, -1};
    l->started_usec = mono_usec();
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-reply is an error return, not a death */
    l->ev = ev_default_loop(EVFLAG_NOENV | EVFLAG_SIGNALFD);
    l->watch = l->ev ? watch_new() : NULL;
    l->table = l->watch ? ftable_new(c->max_findings, on_table_change, l) : NULL;
    ftable_set_max_memory(l->table, c->max_findings_memory);
    l->rl = l->table ? ratelimit_new(RL_NKEYS, c->log_burst, c->log_interval_usec) : NULL;
    l->unwatched = l->rl ? pathset_new() : NULL;
    l->pending = l->unwatched ? pathset_new() : NULL;
    /* more than 3 repairs of one path within 60 s: pause its auto-repair for 10 min */
    l->guard = repair_guard_new(3, 60ULL * 1000000, 600ULL * 1000000);
    l->mounts = l->pending ? mounts_new(MOUNTS_MAX) : NULL;
    l->writers = l->mounts ? writer_new(NULL, on_writer_finding, l) : NULL;
    if (!l->writers) {
        int e = l->ev ? errno : ENOMEM;
        mounts_free(l->mounts);
        pathset_free(l->pending);
        pathset_free(l->unwatched);
        repair_guard_free(l->guard);
        ratelimit_free(l->rl);
        ftable_free(l->table);
        watch_free(l->watch);
        free(l);
        errno = e;
        return NULL;
    }
    ev_io_init(&l->inotify_io, on_inotify, watch_fd(l->watch), EV_READ);
    ev_signal_init(&l->sigterm, on_stop, SIGTERM);
    ev_signal_init(&l->sigint, on_stop, SIGINT);
    ev_signal_init(&l->sighup, on_reload, SIGHUP);
    ev_init(&l->rescan_timer, on_rescan_timer);
    ev_init(&l->degraded_timer, on_degraded_timer);
    ev_init(&l->overflow_timer, on_overflow_timer);
    ev_init(&l->flush_timer, on_flush_timer);
    ev_init(&l->watchdog_timer, on_watchdog_timer);
    ev_init(&l->root_timer, on_root_timer);
    ev_init(&l->writer_timer, on_writer_timer);
    l->writer_timer.data = l;
    ev_watcher *all[] = {
        (ev_watcher *)&l->inotify_io,     (ev_watcher *)&l->sigterm,
        (ev_watcher *)&l->sigint,         (ev_watcher *)&l->sighup,
        (ev_watcher *)&l->rescan_timer,   (ev_watcher *)&l->degraded_timer,
        (ev_watcher *)&l->overflow_timer, (ev_watcher *)&l->flush_timer,
        (ev_watcher *)&l->watchdog_timer, (ev_watcher *)&l->root_timer,
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        all[i]->data = l;
    return l;
}

int loop_run(struct loop *l)
{
    char buf[256];
    /* signals first: a SIGTERM during a long crawl is handled as soon as the loop runs */
    ev_signal_start(l->ev, &l->sigterm);
    ev_signal_start(l->ev, &l->sigint);
    ev_signal_start(l->ev, &l->sighup);
    l->pin_next = true;
    bool waiting = false;
    if (site_root_open(l) < 0) {
        if (errno != ENOENT) {
            log_error("cannot open the site root %s: %s", l->cfg->site_root, l->root_err);
            return 2;
        }
        /* not created yet: wait for it (the root timer and the parent's watch); the first
         * open pins it and runs the startup crawl (existing_due) */
        waiting = true;
        l->existing_due = true;
        struct log_field wf[] = {{"PATH", l->cfg->site_root}, {"REASON", l->root_err}};
        log_event(LOG_EVENT_ROOT_WAITING, LOG_WARNING, wf, 2,
                  "site root %s does not exist (%s): waiting for it, checking every %gs",
                  l->cfg->site_root, l->root_err, ROOT_POLL);
        ev_timer_set(&l->root_timer, ROOT_POLL, ROOT_POLL);
        ev_timer_start(l->ev, &l->root_timer);
    }
    ev_io_start(l->ev, &l->inotify_io);
    backend_start(l);
    parent_watch(l);
    notify_status("crawling %s", l->cfg->site_root);
    uint64_t t0 = mono_usec();
    if (!waiting)
        existing_rescan(l, "startup");
    l->ready = true;
    uint64_t wd = notify_watchdog_usec();
    if (wd) {
        double every = (double)wd / 2e6;
        ev_timer_set(&l->watchdog_timer, every, every);
        ev_timer_start(l->ev, &l->watchdog_timer);
    }
    rescan_timer_update(l);
    l->dispatch = dispatch_new(l->ev, l->cfg);
    if (!l->dispatch)
        log_warn_errno(errno, "dispatch commands are not watched");
    l->ctl = control_new(l->ev, l->cfg, commands_table, commands_count, l);
    if (!l->ctl && errno == EADDRINUSE) {
        log_error("another permwatchd answers on %s: not starting a second one",
                  l->cfg->control_socket);
        return 2;
    }
    if (!l->ctl)
        log_warn("the control socket %s is not available; permwatchctl cannot reach this daemon",
                 l->cfg->control_socket);
    unsigned long limit = watch_limit();
    if (!l->fan && !l->degraded && limit && watch_count(l->watch) > limit / 10 * 8)
        log_warn("%zu of %lu inotify watches in use: raise fs.inotify.max_user_watches before "
                 "the site grows",
                 watch_count(l->watch), limit);
    char fields_dirs[32];
    snprintf(fields_dirs, sizeof(fields_dirs), "%zu", watch_count(l->watch));
    const char *backend = l->fan ? "fanotify" : "inotify";
    struct log_field fields[] = {{"PATH", l->cfg->site_root},
                                 {"WATCHED_DIRS", fields_dirs},
                                 {"BACKEND", backend},
                                 {"REASON", l->backend_why}};
    /* the backend is said once, here; a refused backend = fanotify makes it a warning */
    int prio = l->backend_warn ? LOG_WARNING : LOG_INFO;
    if (waiting)
        log_event(LOG_EVENT_STARTED, prio, fields, 4,
                  "started; waiting for the site root %s to exist; backend %s (%s)",
                  l->cfg->site_root, backend, l->backend_why);
    else
        log_event(LOG_EVENT_STARTED, prio, fields, 4,
                  "watching %s: %" PRIu64 " directories, %" PRIu64
                  " files crawled in %.2fs; %s; backend %s (%s)",
                  l->cfg->site_root, l->crawl_dirs, l->crawl_files,
                  (double)(mono_usec() - t0) / 1e6, summary(l, buf, sizeof(buf)), backend,
                  l->backend_why);
    if (waiting)
        notify_ready("waiting for the site root %s to exist", l->cfg->site_root);
    else
        notify_ready("%s", summary(l, buf, sizeof(buf)));

    ev_run(l->ev, 0);

    notify_stopping(summary(l, buf, sizeof(buf)));
    ratelimit_flush(l->rl, mono_usec(), true, on_summary, l);
    log_event(LOG_EVENT_STOPPING, LOG_INFO, NULL, 0, "stopping: %s", summary(l, buf, sizeof(buf)));
    return 0;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    moves_clear(l);
    free(l->moves);
    pathset_free(l->unwatched);
    pathset_free(l->pending);
    if (l->root_fd >= 0)
        close(l->root_fd);
    /* closing findings at exit is not a resolution: free the table without callbacks */
    control_free(l->ctl);
    repair_guard_free(l->guard);
    root_chain_free(&l->chain);
    mounts_free(l->mounts);
    writer_free(l->writers);
    ftable_free(l->table);
    dispatch_free(l->dispatch);
    ratelimit_free(l->rl);
    watch_free(l->watch);
    fan_free(l->fan);
    config_free(l->cfg);
    ev_loop_destroy(l->ev);
    free(l);
}

/* ---- for the control commands ---------------------------------------------------------- */

const struct config *loop_config(const struct loop *l)
{
    return l->cfg;
}

/* dispatch_findings callback: count F in the by-kind array CTX. */
static void count_dispatch_finding(void *ctx, const struct finding *f)
{
    ((size_t *)ctx)[f->kind]++;
}

void loop_get_status(const struct loop *l, struct loop_status *s)
{
    memset(s, 0, sizeof(*s));
    s->uptime_usec = mono_usec() - l->started_usec;
    s->watched_dirs = watch_count(l->watch);
    s->open_findings = ftable_count(l->table);
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        s->by_kind[k] = ftable_count_kind(l->table, (enum finding_kind)k);
    s->by_kind[FINDING_DISPATCH_UNREACHABLE] = 0;
    s->by_kind[FINDING_DISPATCH_INVALID] = 0;
    const struct dispatch_set *ds = dispatch_last(l->dispatch);
    if (ds)
        dispatch_findings(l->cfg, ds, count_dispatch_finding, s->by_kind);
    s->degraded = l->degraded;
    s->root_present = l->root_fd >= 0;
    s->overflows = l->overflows;
    s->full_scans = l->full_scans;
    s->last_full_scan_realtime_usec = l->last_full_scan_realtime;
    s->crawl_usec = l->crawl_usec;
    memcpy(s->events, l->events, sizeof(s->events));
    s->suppressed = l->suppressed;
    s->site_root_changed = l->root_changed;
    s->repairs_refused = repair_block(l);
    s->repairs_blocked = l->repairs_blocked;
    s->unsafe_ancestors = &l->chain;
    s->mounts = l->mounts;
    struct statvfs vfs;
    s->site_read_only =
        l->root_fd >= 0 && fstatvfs(l->root_fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
    s->root_owned_seen = l->root_owned_seen;
    s->by_kind[FINDING_ROOT_WRITER] = writer_open_count(l->writers);
    s->open_findings += s->by_kind[FINDING_ROOT_WRITER];
    s->backend = l->fan ? "fanotify" : "inotify";
    s->backend_why = l->backend_why;
    if (l->fan) {
        struct fan_stats fs;
        fan_stats(l->fan, &fs);
        s->fan_dropped = fs.dropped;
        s->fan_queued = fs.queued;
    }
    s->too_deep_dirs = l->too_deep_dirs;
}

const struct writer *loop_writers(const struct loop *l)
{
    return l->writers;
}

void loop_foreach_finding(const struct loop *l, const char *relpath, ftable_visit_fn fn, void *ctx)
{
    ftable_foreach(l->table, relpath, fn, ctx);
}

const char *loop_repair_block(const struct loop *l)
{
    return repair_block(l);
}

void loop_foreach_finding_after(const struct loop *l, const char *relpath, const char *after,
                                int after_kind, ftable_visit_fn fn, void *ctx)
{
    ftable_foreach_after(l->table, relpath, after, after_kind, fn, ctx);
}

const struct dispatch_set *loop_dispatch(const struct loop *l)
{
    return dispatch_last(l->dispatch);
}

int loop_scan(struct loop *l, const char *relpath)
{
    if (!*relpath) {
        full_rescan(l, "requested");
        return l->root_fd >= 0 ? 0 : (errno = ENOENT, -1);
    }
    if (audit_ancestor_ignored(l->cfg, relpath))
        return 0;
    l->scan_requested = true; /* its depth-cap warning is said whatever the rate */
    int rc = crawl(l, relpath, true, true, false);
    l->scan_requested = false;
    return rc;
}

int loop_repair(struct loop *l, const char *relpath, bool dry_run, repair_report_fn fn, void *ctx,
                struct repair_stats *st)
{
    const char *block = repair_block(l);
    if (block && !dry_run) {
        char abs[PATH_MAX + 256];
        const char *path = audit_abspath(l->cfg, relpath, abs, sizeof(abs));
        struct log_field fields[] = {{"PATH", path ? path : relpath}, {"REASON", block}};
        l->events[LOG_EVENT_REPAIR_REFUSED]++;
        l->repairs_blocked++;
        log_event(LOG_EVENT_REPAIR_REFUSED, LOG_WARNING, fields, 2,
                  "requested repair of %s refused: %s", path ? path : relpath, block);
        return errno = EPERM, -1;
    }
    if (l->root_fd < 0)
        return errno = ENOENT, -1;
    if (audit_ancestor_ignored(l->cfg, relpath)) {
        memset(st, 0, sizeof(*st));
        return 0;
    }
    struct repair_options o = {
        .dry_run = dry_run, .include_manual = true, .recursive = true, .report = fn, .ctx = ctx};
    l->auto_repairing = true; /* what the crawl below sees was just repaired on request */
    int rc = repair_run(l->cfg, l->root_fd, relpath, &o, st);
    int e = errno;
    if (rc == 0 && !dry_run) {
        l->events[LOG_EVENT_REPAIRED] += st->changed;
        l->events[LOG_EVENT_REPAIR_REFUSED] += st->refused;
        crawl(l, relpath, true, true, false);
    }
    l->auto_repairing = false;
    errno = e;
    return rc;
}
