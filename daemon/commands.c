/* commands: handlers of the control socket. Each adds rows to the reply and returns the exit
 * code of the end line (0 ok, 1 findings or unreachable commands present, 2 usage). They run
 * on the loop and only read the daemon's state, except scan and reload. */
#include "commands.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "audit.h"
#include "esc.h"
#include "loop.h"
#include "scan.h"
#include "writer.h"

/* Rows of the writer ranking in `status`. */
#define COMMANDS_TOP_WRITERS 5

/* The relative site path of the request's "path" argument into REL ("" when absent).
 * Returns 0, or -1 after setting the reply's error (outside the site, '..'). */
static int request_path(const struct loop *l, const struct control_request *req,
                        struct control_reply *rep, char *rel, size_t len)
{
    const json_t *p = req->args ? json_object_get(req->args, "path") : NULL;
    rel[0] = '\0';
    if (!p)
        return 0;
    const char *path = json_string_value(p);
    const struct config *c = loop_config(l);
    if (!path || path[0] != '/') {
        control_reply_error(rep, "path must be an absolute path");
        return -1;
    }
    if (audit_subpath(c->site_root, path, rel, len) < 0) {
        if (errno == EXDEV)
            control_reply_error(rep, "%s is outside the site root %s", path, c->site_root);
        else if (errno == EINVAL)
            control_reply_error(rep, "%s: '..' is not allowed", path);
        else
            control_reply_error(rep, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Status fields of the site root's trust and the mounts not crossed (at most 32 listed). */
static void status_trust(const struct config *c, const struct loop_status *s, json_t *row)
{
    json_object_set_new(row, "repairs_refused",
                        s->repairs_refused ? json_string(s->repairs_refused) : json_null());
    json_object_set_new(row, "site_root_changed", json_boolean(s->site_root_changed));
    json_t *anc = json_array();
    for (size_t i = 0; anc && i < s->unsafe_ancestors->n; i++) {
        const struct root_unsafe *u = &s->unsafe_ancestors->items[i];
        char text[PATH_MAX + 256];
        snprintf(text, sizeof(text), "%s: %s", u->path, u->reason);
        json_array_append_new(anc, json_string(text));
    }
    json_object_set_new(row, "unsafe_ancestors", anc);
    size_t n = mounts_count(s->mounts);
    json_object_set_new(row, "mounts_skipped",
                        json_integer((json_int_t)(n + mounts_unlisted(s->mounts))));
    json_t *list = json_array();
    for (size_t i = 0; list && i < n && i < 32; i++) {
        char abs[PATH_MAX + 256];
        const char *p = audit_abspath(c, mounts_at(s->mounts, i), abs, sizeof(abs));
        json_array_append_new(list, json_string(p ? p : mounts_at(s->mounts, i)));
    }
    json_object_set_new(row, "mount_points_skipped", list);
    json_object_set_new(row, "too_deep_dirs", json_integer((json_int_t)s->too_deep_dirs));
}

/* The top writers behind root-owned writes (writer_ranking) as "root_writers", an array of
 * objects, plus the table's size and evictions. */
static void status_writers(const struct writer *w, json_t *row)
{
    struct writer_rank top[COMMANDS_TOP_WRITERS];
    size_t n = writer_ranking(w, top, COMMANDS_TOP_WRITERS);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_object();
        if (!o)
            break;
        esc_json_set(o, "unit", top[i].key);
        json_object_set_new(o, "unit_kind", json_string(writer_unit_kind_name(top[i].unit_kind)));
        json_object_set_new(o, "uid", json_integer((json_int_t)(int)top[i].uid));
        esc_json_set(o, "user", top[i].user);
        esc_json_set(o, "comm", top[i].comm);
        json_object_set_new(o, "count", json_integer((json_int_t)top[i].count));
        json_object_set_new(o, "first_seen_unix",
                            json_integer((json_int_t)(top[i].first_realtime_usec / 1000000)));
        json_object_set_new(o, "last_seen_unix",
                            json_integer((json_int_t)(top[i].last_realtime_usec / 1000000)));
        esc_json_set(o, "example", top[i].example);
        json_object_set_new(o, "root_writer", json_boolean(top[i].open));
        json_array_append_new(arr, o);
    }
    if (arr)
        json_object_set_new(row, "root_writers", arr);
    json_object_set_new(row, "root_writers_ranked", json_integer((json_int_t)writer_rank_count(w)));
    json_object_set_new(row, "root_writers_evicted",
                        json_integer((json_int_t)writer_rank_evicted(w)));
}

static int cmd_status(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    const struct loop *l = ctx;
    const struct config *c = loop_config(l);
    struct loop_status s;
    loop_get_status(l, &s);
    json_t *row = json_object();
    if (!row)
        return -1;
    esc_json_set(row, "site", c->site_root);
    esc_json_set(row, "web_user", c->web_user);
    json_object_set_new(row, "uptime_s", json_integer((json_int_t)(s.uptime_usec / 1000000)));
    json_object_set_new(row, "watched_dirs", json_integer((json_int_t)s.watched_dirs));
    json_object_set_new(row, "open_findings", json_integer((json_int_t)s.open_findings));
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        json_object_set_new(row, finding_kind_name((enum finding_kind)k),
                            json_integer((json_int_t)s.by_kind[k]));
    const struct dispatch_set *ds = loop_dispatch(l);
    json_object_set_new(row, "dispatch_commands", json_integer(ds ? (json_int_t)ds->n : 0));
    esc_json_set(row, "dispatch_syntax_check", ds ? ds->syntax_check : "");
    esc_json_set(row, "backend", s.backend);
    esc_json_set(row, "backend_reason", s.backend_why);
    json_object_set_new(row, "fanotify_events_dropped", json_integer((json_int_t)s.fan_dropped));
    json_object_set_new(row, "fanotify_events_queued", json_integer((json_int_t)s.fan_queued));
    json_object_set_new(row, "degraded", json_boolean(s.degraded));
    json_object_set_new(row, "site_root_present", json_boolean(s.root_present));
    json_object_set_new(row, "overflows", json_integer((json_int_t)s.overflows));
    json_object_set_new(row, "full_scans", json_integer((json_int_t)s.full_scans));
    json_object_set_new(row, "last_full_scan_unix",
                        json_integer((json_int_t)(s.last_full_scan_realtime_usec / 1000000)));
    json_object_set_new(row, "crawl_ms", json_integer((json_int_t)(s.crawl_usec / 1000)));
    status_trust(c, &s, row);
    /* a read-only site: every repair is refused (EROFS); detection goes on */
    json_object_set_new(row, "site_read_only", json_boolean(s.site_read_only));
    json_object_set_new(row, "repair_refused",
                        json_integer((json_int_t)s.events[LOG_EVENT_REPAIR_REFUSED]));
    json_object_set_new(row, "root_owned_seen", json_integer((json_int_t)s.root_owned_seen));
    status_writers(loop_writers(l), row);
    if (control_reply_row(rep, row) < 0)
        return -1;
    size_t problems = s.open_findings + s.by_kind[FINDING_DISPATCH_UNREACHABLE] +
                      s.by_kind[FINDING_DISPATCH_INVALID];
    return problems ? 1 : 0;
}

/* A findings reply produced in slices (control_reply_generate): a cursor by key into the
 * findings table, never a copy of it. Each slice visits the table as it is then, strictly
 * after the last finding visited (ftable_foreach_after): a finding closed meanwhile is not
 * shown, one opened after the cursor is. Then the dispatch findings, resumed by their index
 * (the dispatch set as judged when that slice runs). */
struct findings_gen {
    char *prefix;  /* relative site path, "" for all */
    int kind;      /* -1: all */
    bool dispatch; /* the dispatch findings follow the table's */
    bool table_done;
    char *after; /* cursor: the last finding visited (NULL: none yet), and its kind */
    size_t after_cap;
    int after_kind;
    size_t dispatch_done; /* dispatch findings visited */
    size_t writers_done;  /* root_writer findings visited (they follow the table's) */
};

struct findings_ctx {
    const struct loop *l;
    struct control_reply *rep;
    int kind; /* -1: all */
    size_t rows;
    bool full;
    struct findings_gen *g; /* in a generator's slice */
    bool paused;            /* the slice's budget ran out */
    size_t dispatch_seen;
    size_t writers_seen;
};

/* One row for finding F (F->path absolute). Returns false once the reply is full. */
static bool finding_row(struct findings_ctx *fc, const struct finding *f)
{
    if (fc->kind >= 0 && (int)f->kind != fc->kind)
        return true;
    json_t *row = json_object();
    if (!row)
        return false;
    json_object_set_new(row, "finding", json_string(finding_kind_name(f->kind)));
    esc_json_set(row, "path", f->path);
    esc_json_set(row, "rule", f->rule);
    if (f->has_stat) {
        char mode[8];
        snprintf(mode, sizeof(mode), "%04o", (unsigned)(f->mode & 07777));
        esc_json_set(row, "owner", f->owner ? f->owner : "?");
        esc_json_set(row, "group", f->group ? f->group : "?");
        json_object_set_new(row, "mode", json_string(mode));
    }
    esc_json_set(row, "channel", f->channel);
    if (f->blocked_at && *f->blocked_at)
        esc_json_set(row, "blocked_at", f->blocked_at);
    esc_json_set(row, "expected", f->expected);
    const struct writer_info *w = f->writer;
    if (w && w->pid > 0) {
        json_object_set_new(row, "writer_pid", json_integer((json_int_t)w->pid));
        esc_json_set(row, "writer_comm", w->known ? w->comm : "unknown");
        if (w->known) {
            json_object_set_new(row, "writer_uid", json_integer((json_int_t)w->uid));
            esc_json_set(row, "writer_user", w->user);
            if (*w->unit)
                esc_json_set(row, "writer_unit", w->unit);
        }
    }
    if (f->writes)
        json_object_set_new(row, "writes", json_integer((json_int_t)f->writes));
    char *msg = finding_message_alloc(f); /* escaped text, whole */
    esc_json_set(row, "message", msg);
    free(msg);
    if (control_reply_row(fc->rep, row) < 0) {
        fc->full = true;
        return false;
    }
    fc->rows++;
    return true;
}

/* Move G's cursor to (RELPATH, KIND). Returns 0, or -1 (ENOMEM). */
static int findings_gen_cursor(struct findings_gen *g, const char *relpath, int kind)
{
    size_t n = strlen(relpath) + 1;
    if (n > g->after_cap) {
        char *p = realloc(g->after, n);
        if (!p)
            return -1;
        g->after = p;
        g->after_cap = n;
    }
    memcpy(g->after, relpath, n);
    g->after_kind = kind;
    return 0;
}

/* ftable visitor: the finding at RELPATH as a row. In a slice: stops once its budget is spent,
 * before the finding, which the next slice then visits first. */
static bool findings_row(void *arg, const char *relpath, const struct finding *f)
{
    struct findings_ctx *fc = arg;
    if (fc->g) {
        if (!control_reply_room(fc->rep)) {
            fc->paused = true;
            return false;
        }
        if (findings_gen_cursor(fc->g, relpath, (int)f->kind) < 0) {
            fc->full = true;
            return false;
        }
    }
    char abs[PATH_MAX + 256];
    struct finding copy = *f;
    copy.path = audit_abspath(loop_config(fc->l), relpath, abs, sizeof(abs));
    if (!copy.path)
        copy.path = relpath;
    return finding_row(fc, &copy);
}

/* dispatch_findings callback: a dispatch finding as a row. */
static void dispatch_finding_row(void *arg, const struct finding *f)
{
    struct findings_ctx *fc = arg;
    if (fc->g) {
        if (fc->dispatch_seen++ < fc->g->dispatch_done || fc->paused || fc->full)
            return;
        if (!control_reply_room(fc->rep)) {
            fc->paused = true;
            return;
        }
        fc->g->dispatch_done++;
    }
    if (!fc->full)
        finding_row(fc, f);
}

/* writer_foreach visitor: an open root_writer finding as a row (in a slice: resumed by
 * count, like the dispatch findings). */
static bool writer_finding_row(void *arg, const struct writer_rank *r)
{
    struct findings_ctx *fc = arg;
    if (!r->open)
        return true;
    if (fc->g) {
        if (fc->writers_seen++ < fc->g->writers_done)
            return true;
        if (!control_reply_room(fc->rep)) {
            fc->paused = true;
            return false;
        }
        fc->g->writers_done++;
    }
    struct writer_info w;
    struct finding f;
    writer_rank_finding(r, true, &w, &f);
    return finding_row(fc, &f);
}

/* Rows for every registered command and its verdict. Returns how many are not reachable. */
static size_t dispatch_rows(const struct loop *l, struct control_reply *rep)
{
    const struct dispatch_set *ds = loop_dispatch(l);
    const struct config *c = loop_config(l);
    size_t bad = 0;
    for (size_t i = 0; ds && i < ds->n; i++) {
        const struct dispatch_entry *e = &ds->items[i];
        bad += e->verdict.status != REACH_OK;
        json_t *row = json_object();
        if (!row)
            break;
        esc_json_set(row, "channel", *e->channel ? e->channel : "-");
        esc_json_set(row, "command", e->command);
        json_object_set_new(row, "verdict", json_string(reach_status_name(e->verdict.status)));
        esc_json_set(row, "web_user", c->web_user);
        esc_json_set(row, "resolved", e->verdict.resolved);
        esc_json_set(row, "blocked_at", e->verdict.blocked_at);
        char *msg = esc_dup(e->verdict.reason, 0); /* "message" is escaped human text */
        esc_json_set(row, "message", msg);
        free(msg);
        if (control_reply_row(rep, row) < 0)
            break;
    }
    return bad;
}

/* control_gen_fn of findings and scan: the next slice of rows (see struct findings_gen). */
static int findings_gen_slice(void *ctx, void *state, struct control_reply *rep)
{
    const struct loop *l = ctx;
    struct findings_gen *g = state;
    struct findings_ctx fc = {.l = l, .rep = rep, .kind = g->kind, .g = g};
    if (!g->table_done) {
        loop_foreach_finding_after(l, g->prefix, g->after, g->after_kind, findings_row, &fc);
        if (fc.paused && !fc.full)
            return CONTROL_MORE;
        g->table_done = true;
    }
    if (g->dispatch && !fc.full && (g->kind < 0 || g->kind == FINDING_ROOT_WRITER)) {
        writer_foreach(loop_writers(l), writer_finding_row, &fc);
        if (fc.paused && !fc.full)
            return CONTROL_MORE;
    }
    const struct dispatch_set *ds = loop_dispatch(l);
    if (g->dispatch && ds && !fc.full) {
        dispatch_findings(loop_config(l), ds, dispatch_finding_row, &fc);
        if (fc.paused && !fc.full)
            return CONTROL_MORE;
    }
    if (fc.full)
        control_reply_error(rep, "reply truncated: narrow it with --kind or a PATH");
    return control_reply_rows(rep) ? 1 : 0;
}

/* Frees a struct findings_gen. */
static void findings_gen_free(void *state)
{
    struct findings_gen *g = state;
    if (!g)
        return;
    free(g->prefix);
    free(g->after);
    free(g);
}

/* Hand REP to a findings generator over REL and below, of KIND (-1: all), followed by the
 * dispatch findings when DISPATCH. Returns 0, or -1 (ENOMEM). */
static int findings_generate(struct control_reply *rep, const char *rel, int kind, bool dispatch)
{
    struct findings_gen *g = calloc(1, sizeof(*g));
    if (!g || !(g->prefix = strdup(rel))) {
        free(g);
        return -1;
    }
    g->kind = kind;
    g->dispatch = dispatch;
    g->table_done = kind == FINDING_DISPATCH_UNREACHABLE || kind == FINDING_DISPATCH_INVALID ||
                    kind == FINDING_ROOT_WRITER;
    return control_reply_generate(rep, findings_gen_slice, findings_gen_free, g);
}

static int cmd_findings(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    const struct loop *l = ctx;
    char rel[PATH_MAX];
    if (request_path(l, req, rep, rel, sizeof(rel)) < 0)
        return 2;
    int kind = -1;
    const json_t *k = req->args ? json_object_get(req->args, "kind") : NULL;
    if (k) {
        const char *name = json_string_value(k);
        kind = name ? finding_kind_from_name(name) : -1;
        if (kind < 0) {
            control_reply_error(rep, "unknown finding kind '%s'", name ? name : "?");
            return 2;
        }
    }
    return findings_generate(rep, rel, kind, !*rel);
}

static int cmd_scan(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    struct loop *l = ctx;
    char rel[PATH_MAX];
    if (request_path(l, req, rep, rel, sizeof(rel)) < 0)
        return 2;
    if (loop_scan(l, rel) < 0) {
        control_reply_error(rep, "cannot scan %s: %s", *rel ? rel : ".", scan_strerror(errno));
        return 1;
    }
    return findings_generate(rep, rel, -1, false);
}

static int cmd_dispatch(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    const struct loop *l = ctx;
    if (!loop_dispatch(l)) {
        control_reply_error(rep, "dispatch commands are not watched by this daemon");
        return 1;
    }
    return dispatch_rows(l, rep) ? 1 : 0;
}

struct repair_reply {
    struct control_reply *rep;
    const struct repair_caller *caller;
    bool full;
};

/* Each change or refusal: logged (unless a dry run) and one row of the reply. */
static void repair_row(void *arg, const struct repair_report *r)
{
    struct repair_reply *rr = arg;
    if (!r->dry_run)
        repair_log(r, rr->caller);
    if (rr->full)
        return;
    char line[PATH_MAX + 512];
    json_t *row = json_object();
    if (!row)
        return;
    json_object_set_new(row, "action",
                        json_string(r->outcome == REPAIR_REFUSED ? "refused"
                                    : r->dry_run                 ? "would repair"
                                                                 : "repaired"));
    esc_json_set(row, "path", r->path);
    char kinds[FINDING_KIND_COUNT * 32];
    esc_json_set(row, "findings", repair_kinds_join(r, ",", kinds, sizeof(kinds)));
    char *msg = esc_dup(repair_format(r, line, sizeof(line)), 0);
    esc_json_set(row, "message", msg);
    free(msg);
    if (control_reply_row(rr->rep, row) < 0)
        rr->full = true;
}

static int cmd_repair(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    struct loop *l = ctx;
    char rel[PATH_MAX];
    if (request_path(l, req, rep, rel, sizeof(rel)) < 0)
        return 2;
    const json_t *dr = req->args ? json_object_get(req->args, "dry_run") : NULL;
    struct repair_caller caller = {req->uid, req->pid};
    struct repair_reply rr = {rep, &caller, false};
    struct repair_stats st;
    if (loop_repair(l, rel, dr && json_is_true(dr), repair_row, &rr, &st) < 0) {
        if (errno == EPERM)
            control_reply_error(rep, "repair refused: %s", loop_repair_block(l));
        else
            control_reply_error(rep, "cannot repair %s: %s", *rel ? rel : ".",
                                scan_strerror(errno));
        return 1;
    }
    if (rr.full)
        control_reply_error(rep, "reply truncated: %" PRIu64 " changes, %" PRIu64 " refusals",
                            st.changed, st.refused);
    return st.refused ? 1 : 0;
}

static int cmd_reload(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    struct loop *l = ctx;
    char why[1024];
    bool refused = loop_reload(l, why, sizeof(why)) < 0;
    json_t *row = json_object();
    json_object_set_new(row, "reload", json_string(refused ? "refused" : "done"));
    json_object_set_new(row, "message",
                        json_string(refused ? "the policy is refused; the running policy stays"
                                            : "policy reloaded and the site re-evaluated"));
    if (refused)
        json_object_set_new(row, "reason", json_string(why));
    control_reply_row(rep, row);
    /* the end line's error: permwatchctl prints it on stderr (ExecReload= -> the journal) */
    if (refused)
        control_reply_error(rep, "reload refused: %s", why);
    return refused ? 1 : 0;
}

/* Append printf output to the growing text *BUF (*LEN used, *CAP allocated). */
static void text_add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void text_add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = *buf ? vsnprintf(*buf + *len, *cap - *len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        size_t ncap = *cap ? *cap * 2 : 4096;
        char *p = realloc(*buf, ncap);
        if (!p)
            return;
        *buf = p;
        *cap = ncap;
    }
}

/* S as an OpenMetrics label value into BUF (LEN bytes): backslash, double quote and newline
 * escaped; other control bytes and bytes that are not ASCII (a comm may hold any) as '?'. */
static const char *metrics_label(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s && o + 3 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || c == '"') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* permwatch_root_writes_total per row of the writer ranking (its size bounds the series),
 * the rows evicted and the root_writer findings opened. */
static void metrics_writers(const struct writer *w, char **t, size_t *len, size_t *cap)
{
    struct writer_rank *rows = calloc(WRITER_RANK_MAX, sizeof(*rows));
    size_t n = rows ? writer_ranking(w, rows, WRITER_RANK_MAX) : 0;
    text_add(t, len, cap,
             "# HELP permwatch_root_writes_total Root-owned objects that appeared, by the unit "
             "(else command) that wrote them (fanotify), while the unit is in the ranking.\n"
             "# TYPE permwatch_root_writes_total counter\n");
    for (size_t i = 0; i < n; i++) {
        char unit[WRITER_UNIT_MAX * 2 + 8];
        text_add(t, len, cap,
                 "permwatch_root_writes_total{unit=\"%s\",kind=\"%s\",uid=\"%d\"} %" PRIu64 "\n",
                 metrics_label(rows[i].key, unit, sizeof(unit)),
                 writer_unit_kind_name(rows[i].unit_kind), (int)rows[i].uid, rows[i].count);
    }
    free(rows);
    text_add(t, len, cap,
             "# HELP permwatch_root_writers_evicted_total Writers dropped from the ranking (its "
             "bound, least recently seen first).\n"
             "# TYPE permwatch_root_writers_evicted_total counter\n"
             "permwatch_root_writers_evicted_total %" PRIu64 "\n"
             "# HELP permwatch_root_writer_findings_total root_writer findings opened.\n"
             "# TYPE permwatch_root_writer_findings_total counter\n"
             "permwatch_root_writer_findings_total %" PRIu64 "\n",
             writer_rank_evicted(w), writer_findings_opened(w));
}

static int cmd_metrics(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    const struct loop *l = ctx;
    struct loop_status s;
    loop_get_status(l, &s);
    char *t = NULL;
    size_t len = 0, cap = 0;
    text_add(&t, &len, &cap,
             "# HELP permwatch_open_findings Open findings by kind.\n"
             "# TYPE permwatch_open_findings gauge\n");
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        text_add(&t, &len, &cap, "permwatch_open_findings{kind=\"%s\"} %zu\n",
                 finding_kind_name((enum finding_kind)k), s.by_kind[k]);
    text_add(&t, &len, &cap,
             "# HELP permwatch_events_total Journal entries written by event (after rate "
             "limiting: one per entry).\n"
             "# TYPE permwatch_events_total counter\n");
    for (int e = 1; e < LOG_EVENT_COUNT; e++)
        text_add(&t, &len, &cap, "permwatch_events_total{event=\"%s\"} %" PRIu64 "\n",
                 log_event_name((enum log_event)e), log_event_count((enum log_event)e));
    text_add(&t, &len, &cap,
             "# HELP permwatch_suppressed_total Entries held back by the rate limit.\n"
             "# TYPE permwatch_suppressed_total counter\n"
             "permwatch_suppressed_total %" PRIu64 "\n"
             "# HELP permwatch_watched_directories Directories under an inotify watch.\n"
             "# TYPE permwatch_watched_directories gauge\n"
             "permwatch_watched_directories %zu\n"
             "# HELP permwatch_degraded 1 while out of inotify watches.\n"
             "# TYPE permwatch_degraded gauge\n"
             "permwatch_degraded %d\n"
             "# HELP permwatch_inotify_overflows_total Kernel event queue overflows.\n"
             "# TYPE permwatch_inotify_overflows_total counter\n"
             "permwatch_inotify_overflows_total %" PRIu64 "\n"
             "# HELP permwatch_repairs_total Repairs done.\n"
             "# TYPE permwatch_repairs_total counter\n"
             "permwatch_repairs_total %" PRIu64 "\n"
             "# HELP permwatch_repairs_refused_total Repairs refused.\n"
             "# TYPE permwatch_repairs_refused_total counter\n"
             "permwatch_repairs_refused_total %" PRIu64 "\n"
             "# HELP permwatch_full_scans_total Full crawls of the site.\n"
             "# TYPE permwatch_full_scans_total counter\n"
             "permwatch_full_scans_total %" PRIu64 "\n"
             "# HELP permwatch_crawl_duration_seconds Duration of the last full crawl.\n"
             "# TYPE permwatch_crawl_duration_seconds gauge\n"
             "permwatch_crawl_duration_seconds %.3f\n"
             "# HELP permwatch_journal_dropped_total Journal entries never delivered (journald "
             "stalled or unavailable).\n"
             "# TYPE permwatch_journal_dropped_total counter\n"
             "permwatch_journal_dropped_total %lu\n"
             "# HELP permwatch_unsafe_ancestors Ancestors of the site root a non-root user can "
             "write.\n"
             "# TYPE permwatch_unsafe_ancestors gauge\n"
             "permwatch_unsafe_ancestors %zu\n"
             "# HELP permwatch_site_root_changed 1 when the site root changed since it was "
             "pinned.\n"
             "# TYPE permwatch_site_root_changed gauge\n"
             "permwatch_site_root_changed %d\n"
             "# HELP permwatch_repairs_blocked 1 while every repair is refused (root trust).\n"
             "# TYPE permwatch_repairs_blocked gauge\n"
             "permwatch_repairs_blocked %d\n"
             "# HELP permwatch_mounts_skipped Mount points inside the site not crossed.\n"
             "# TYPE permwatch_mounts_skipped gauge\n"
             "permwatch_mounts_skipped %zu\n",
             s.suppressed, s.watched_dirs, s.degraded ? 1 : 0, s.overflows,
             s.events[LOG_EVENT_REPAIRED], s.events[LOG_EVENT_REPAIR_REFUSED], s.full_scans,
             (double)s.crawl_usec / 1e6, log_journal_dropped(), s.unsafe_ancestors->n,
             s.site_root_changed ? 1 : 0, s.repairs_refused ? 1 : 0,
             mounts_count(s.mounts) + mounts_unlisted(s.mounts));
    text_add(&t, &len, &cap,
             "# HELP permwatch_root_owned_seen_total Root-owned objects seen appear (repaired "
             "or not).\n"
             "# TYPE permwatch_root_owned_seen_total counter\n"
             "permwatch_root_owned_seen_total %" PRIu64 "\n",
             s.root_owned_seen);
    text_add(&t, &len, &cap,
             "# HELP permwatch_last_full_scan_timestamp_seconds When the last full crawl ended "
             "(unix time; 0: none yet).\n"
             "# TYPE permwatch_last_full_scan_timestamp_seconds gauge\n"
             "permwatch_last_full_scan_timestamp_seconds %.3f\n"
             "# HELP permwatch_build_info The daemon's version.\n"
             "# TYPE permwatch_build_info gauge\n"
             "permwatch_build_info{version=\"%s\"} 1\n",
             (double)s.last_full_scan_realtime_usec / 1e6, PERMWATCH_VERSION);
    metrics_writers(loop_writers(l), &t, &len, &cap);
    text_add(&t, &len, &cap,
             "# HELP permwatch_backend The detection backend running (1 for the one in use).\n"
             "# TYPE permwatch_backend gauge\n"
             "permwatch_backend{backend=\"fanotify\"} %d\n"
             "permwatch_backend{backend=\"inotify\"} %d\n",
             strcmp(s.backend, "fanotify") == 0, strcmp(s.backend, "inotify") == 0);
    text_add(&t, &len, &cap,
             "# HELP permwatch_fanotify_events_total fanotify events read: dropped (other "
             "directories of the filesystem, the daemon's own) or queued for the loop.\n"
             "# TYPE permwatch_fanotify_events_total counter\n"
             "permwatch_fanotify_events_total{outcome=\"dropped\"} %" PRIu64 "\n"
             "permwatch_fanotify_events_total{outcome=\"queued\"} %" PRIu64 "\n",
             s.fan_dropped, s.fan_queued);
    const struct dispatch_set *ds = loop_dispatch(l);
    text_add(&t, &len, &cap,
             "# HELP permwatch_dispatch_commands Registered dispatch commands by verdict.\n"
             "# TYPE permwatch_dispatch_commands gauge\n");
    static const enum reach_status all[] = {REACH_OK,   REACH_DENIED, REACH_MISSING,
                                            REACH_LOOP, REACH_NOEXEC, REACH_INVALID};
    for (size_t v = 0; v < sizeof(all) / sizeof(all[0]); v++) {
        size_t n = 0;
        for (size_t i = 0; ds && i < ds->n; i++)
            n += ds->items[i].verdict.status == all[v];
        text_add(&t, &len, &cap, "permwatch_dispatch_commands{verdict=\"%s\"} %zu\n",
                 reach_status_name(all[v]), n);
    }
    if (!t)
        return -1;
    json_t *row = json_pack("{s:s}", "text", t);
    free(t);
    if (!row || control_reply_row(rep, row) < 0)
        return -1;
    return 0;
}

const struct control_command commands_table[] = {
    {"status", "status", CONTROL_READ_ONLY, cmd_status},
    {"findings", "findings [--kind KIND] [PATH]", CONTROL_READ_ONLY, cmd_findings},
    {"dispatch", "dispatch", CONTROL_READ_ONLY, cmd_dispatch},
    {"metrics", "metrics", CONTROL_READ_ONLY, cmd_metrics},
    {"scan", "scan [PATH]", 0, cmd_scan},
    {"reload", "reload", 0, cmd_reload},
    {"repair", "repair [--dry-run] [PATH]", 0, cmd_repair},
};
const size_t commands_count = sizeof(commands_table) / sizeof(commands_table[0]);
