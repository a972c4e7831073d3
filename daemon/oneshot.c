/* oneshot: --check-config and --scan. */
#include "oneshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "dispatch.h"
#include "esc.h"
#include "log.h"
#include "mounts.h"
#include "repair.h"
#include "root.h"

struct printer {
    const struct config *c;
    const struct scan_options *opts;
    FILE *out;
    int write_error;
};

static void print_finding(void *arg, const struct finding *f)
{
    struct printer *p = arg;
    if (p->opts->json) {
        if (finding_print_json(f, p->out) < 0)
            p->write_error = errno ? errno : EIO;
    } else {
        char *msg = finding_message_alloc(f); /* whole, however long the path */
        if (!msg)
            p->write_error = ENOMEM;
        else if (fprintf(p->out, "%s: %s\n", finding_kind_name(f->kind), msg) < 0)
            p->write_error = errno ? errno : EIO;
        free(msg);
    }
    if (p->opts->journal)
        log_finding(LOG_EVENT_FINDING, f);
}

/* "3 root_owned, 1 mode_mismatch" (kinds with findings only) into BUF. */
static const char *summarize_kinds(const struct audit_result *r, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < FINDING_KIND_COUNT && n < len; k++) {
        if (!r->by_kind[k])
            continue;
        int w = snprintf(buf + n, len - n, "%s%llu %s", n ? ", " : "",
                         (unsigned long long)r->by_kind[k], finding_kind_name(k));
        if (w < 0)
            break;
        n += (size_t)w;
    }
    return buf;
}

/* Resolve PATH (NULL: the whole site) to REL below the site root and open the root (see
 * root_open: no untrusted symlink followed; unsafe ancestors logged and counted in *UNSAFE).
 * Returns the root's fd, or -1 after logging why (outside the site, '..', unreadable root).
 * WHAT names the command in messages ("scan", "repair"). */
static int open_target(const struct config *c, const char *path, const char *what, char *rel,
                       size_t len, size_t *unsafe)
{
    if (audit_subpath(c->site_root, path ? path : c->site_root, rel, len) < 0) {
        if (errno == EXDEV)
            log_error("%s is outside the site root %s", path, c->site_root);
        else if (errno == EINVAL)
            log_error("%s: '..' is not allowed in a %s path", path, what);
        else
            log_warn_errno(errno, "cannot resolve %s", path);
        return -1;
    }
    char why[PATH_MAX + 256];
    struct root_chain chain;
    int root_fd = root_open(c->site_root, NULL, &chain, why, sizeof(why));
    if (root_fd < 0) {
        log_error("cannot open the site root %s: %s", c->site_root, why);
        return -1;
    }
    root_log_unsafe(&chain, c->site_root);
    *unsafe = chain.n;
    root_chain_free(&chain);
    return root_fd;
}

/* audit mount hook: one line (a mount_skipped entry) per mount point not crossed. */
static void print_mount(void *arg, const char *relpath, const struct stat *st)
{
    struct printer *p = arg;
    char abs[PATH_MAX + 256];
    const char *path = audit_abspath(p->c, relpath, abs, sizeof(abs));
    mounts_log(path ? path : relpath, st);
}

int oneshot_scan(const struct config *c, const struct scan_options *opts, FILE *out)
{
    char rel[PATH_MAX];
    size_t unsafe = 0;
    int root_fd = open_target(c, opts->path, "scan", rel, sizeof(rel), &unsafe);
    if (root_fd < 0)
        return SCAN_EXIT_ERROR;
    struct printer p = {c, opts, out, 0};
    struct audit_result res;
    int rc = audit_run(c, root_fd, rel, print_finding, print_mount, &p, &res);
    int e = errno;
    close(root_fd);
    if (res.scan.too_deep) { /* one line; the exit code says the audit is incomplete */
        char abs[PATH_MAX + 256];
        const char *deep = res.too_deep ? res.too_deep : "?";
        const char *path = audit_abspath(c, deep, abs, sizeof(abs));
        char more[64] = "";
        if (res.scan.too_deep > 1)
            snprintf(more, sizeof(more), " (nor %llu other directories that deep)",
                     (unsigned long long)res.scan.too_deep - 1);
        log_error("%s is %d directory levels below the site root (the depth cap of every walk): "
                  "a hostile or broken tree, not read%s; the audit is incomplete until it is "
                  "removed or flattened",
                  path ? path : deep, SCAN_DEPTH_MAX, more);
    }
    free(res.too_deep);
    if (fflush(out) != 0 && !p.write_error)
        p.write_error = errno;
    if (rc < 0) {
        log_error("cannot scan %s/%s: %s", c->site_root, rel, scan_strerror(e));
        return SCAN_EXIT_ERROR;
    }
    if (p.write_error) {
        log_warn_errno(p.write_error, "cannot write findings");
        return SCAN_EXIT_ERROR;
    }
    char kinds[512];
    log_info("scanned %llu directories and %llu files in %.2f s: %llu findings%s%s%s",
             (unsigned long long)res.scan.dirs, (unsigned long long)res.scan.files,
             (double)res.scan.usec / 1e6, (unsigned long long)res.findings,
             res.findings ? " (" : "", summarize_kinds(&res, kinds, sizeof(kinds)),
             res.findings ? ")" : "");
    /* the whole site: also the dispatch commands registered for the web user */
    size_t ndispatch = 0;
    if (!*rel) {
        struct dispatch_set ds;
        if (dispatch_collect(c, &ds) < 0) {
            log_warn_errno(errno, "cannot judge the dispatch commands");
            return SCAN_EXIT_ERROR;
        }
        ndispatch = dispatch_findings(c, &ds, print_finding, &p);
        log_info("%zu dispatch commands judged for %s: %zu findings", ds.n, c->web_user, ndispatch);
        dispatch_set_free(&ds);
        if (fflush(out) != 0 && !p.write_error)
            p.write_error = errno;
        if (p.write_error) {
            log_warn_errno(p.write_error, "cannot write findings");
            return SCAN_EXIT_ERROR;
        }
    }
    if (res.scan.errors) {
        log_error("%llu entries could not be read: the audit is incomplete",
                  (unsigned long long)res.scan.errors);
        return SCAN_EXIT_ERROR;
    }
    if (res.scan.too_deep) /* said above */
        return SCAN_EXIT_ERROR;
    return res.findings || ndispatch ? SCAN_EXIT_FINDINGS : SCAN_EXIT_CLEAN;
}

struct repair_printer {
    FILE *out;
    bool journal;
    int write_error;
};

static void print_repair(void *arg, const struct repair_report *rep)
{
    struct repair_printer *o = arg;
    char line[PATH_MAX + 512];
    char *text = esc_dup(repair_format(rep, line, sizeof(line)), 0);
    if (!text)
        o->write_error = ENOMEM;
    else if (fprintf(o->out, "%s\n", text) < 0)
        o->write_error = errno ? errno : EIO;
    free(text);
    if (o->journal)
        repair_log(rep, NULL);
}

int oneshot_repair(const struct config *c, const char *path, bool dry_run, bool journal, FILE *out)
{
    char rel[PATH_MAX];
    size_t unsafe = 0;
    int root_fd = open_target(c, path, "repair", rel, sizeof(rel), &unsafe);
    if (root_fd < 0)
        return REPAIR_EXIT_ERROR;
    if (unsafe && !dry_run) {
        close(root_fd);
        log_error("repair refused: %zu ancestors of the site root %s can be written by a "
                  "non-root user (see above), who could swap the site root; fix their owner "
                  "and mode first (a --dry-run still shows what would change)",
                  unsafe, c->site_root);
        return REPAIR_EXIT_REFUSED;
    }
    struct repair_printer o = {out, journal, 0};
    struct repair_options opts = {.dry_run = dry_run,
                                  .include_manual = true,
                                  .recursive = true,
                                  .report = print_repair,
                                  .ctx = &o,
                                  .threads = config_scan_threads(c)};
    struct repair_stats st;
    int rc = repair_run(c, root_fd, rel, &opts, &st);
    int e = errno;
    close(root_fd);
    if (fflush(out) != 0 && !o.write_error)
        o.write_error = errno;
    if (rc < 0) {
        log_error("cannot repair %s/%s: %s", c->site_root, rel, scan_strerror(e));
        return REPAIR_EXIT_ERROR;
    }
    if (o.write_error) {
        log_warn_errno(o.write_error, "cannot write the repair report");
        return REPAIR_EXIT_ERROR;
    }
    log_info("%s %llu directories and %llu files in %.2f s: %llu %s, %llu refused, "
             "%llu skipped",
             dry_run ? "checked" : "repaired", (unsigned long long)st.scan.dirs,
             (unsigned long long)st.scan.files, (double)st.scan.usec / 1e6,
             (unsigned long long)st.changed, dry_run ? "would change" : "changed",
             (unsigned long long)st.refused, (unsigned long long)st.skipped);
    if (st.scan.errors) {
        log_error("%llu entries could not be read: the repair is incomplete",
                  (unsigned long long)st.scan.errors);
        return REPAIR_EXIT_ERROR;
    }
    if (st.scan.too_deep) {
        log_error("%llu directories %d levels below the site root (the depth cap of every walk) "
                  "were not read: a hostile or broken tree; the repair is incomplete (--scan "
                  "names the first)",
                  (unsigned long long)st.scan.too_deep, SCAN_DEPTH_MAX);
        return REPAIR_EXIT_ERROR;
    }
    return st.refused ? REPAIR_EXIT_REFUSED : REPAIR_EXIT_DONE;
}

int oneshot_check_config(const char *path, FILE *out)
{
    struct config *c;
    struct config_error err;
    if (config_load_file(path, &c, &err) < 0) {
        char buf[1024];
        fprintf(stderr, "permwatchd: %s\n", config_error_format(&err, buf, sizeof(buf)));
        return 1;
    }
    struct stat st;
    if (stat(c->site_root, &st) < 0)
        fprintf(stderr, "permwatchd: warning: site root %s: %s\n", c->site_root, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        fprintf(stderr, "permwatchd: warning: site root %s is not a directory\n", c->site_root);
    config_print(c, out);
    config_free(c);
    return 0;
}
