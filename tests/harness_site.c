/* harness_site: see harness_site.h. */
#include "harness_site.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void site_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "%s", cmd), 0);
    cr_assert_eq(r.status, 0, "%s: %s", cmd, r.err);
    run_result_free(&r);
}

void site_init(struct site *s, const char *tag)
{
    memset(s, 0, sizeof(*s));
    s->dir = harness_tempdir(tag);
    cr_assert_lt((size_t)snprintf(s->root, sizeof(s->root), "%s/site", s->dir), sizeof(s->root));
    cr_assert_lt((size_t)snprintf(s->sock, sizeof(s->sock), "%s/control.sock", s->dir),
                 sizeof(s->sock));
    cr_assert_lt((size_t)snprintf(s->ini, sizeof(s->ini), "%s/policy.ini", s->dir), sizeof(s->ini));
    harness_build_path("permwatchctl", s->ctl, sizeof(s->ctl));
}

void site_make_uploads(const struct site *s)
{
    site_sh("set -e; umask 002; mkdir -p '%s/wp-content/uploads'; chown -R www-data:www-data '%s'",
            s->root, s->root);
}

void site_policy(const struct site *s, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof(text), "policy text too long");
    harness_write_file(s->ini, text);
}

void site_policy_standard(const struct site *s, const char *repair)
{
    site_policy(s,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 0\n[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
                "file_require = 0660\ndir_require = 0770\nrepair = %s\n",
                s->root, s->sock, repair);
}

void site_start(struct site *s, const struct live_opts *opts, int ready_ms)
{
    s->d = live_start(s->ini, opts);
    if (!live_wait_notify(s->d, "READY=1", ready_ms)) {
        live_dump(s->d);
        cr_assert_fail("no READY=1");
    }
}

int site_stop(struct site *s)
{
    int rc = live_stop(s->d);
    if (rc)
        live_dump(s->d);
    cr_expect_eq(rc, 0, "the daemon's exit status");
    return rc;
}

void site_free(struct site *s)
{
    live_free(s->d);
    s->d = NULL;
    harness_rmtree(s->dir);
    free(s->dir);
    s->dir = NULL;
}

struct run_result site_ctl(const struct site *s, const char *args)
{
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "'%s' -s '%s' %s", s->ctl, s->sock, args), 0);
    return r;
}

json_t *site_status_json(const struct site *s)
{
    struct run_result r = site_ctl(s, "--json status");
    json_error_t je;
    json_t *row = json_loads(r.out, JSON_DISABLE_EOF_CHECK, &je);
    cr_assert_not_null(row, "status: %s %s (%s)", r.out, r.err, je.text);
    run_result_free(&r);
    return row;
}

json_t *site_entry_or_fail(const struct site *s, json_t *entry, const char *what)
{
    if (!entry) {
        live_dump(s->d);
        cr_assert_fail("%s", what);
    }
    return entry;
}
