/* test_live_output: hostile file names, made by www-data, through every output a human reads
 * or a program parses: `permwatchd --scan` (plain and --json), the live daemon's stderr and
 * journal MESSAGE, `permwatchctl findings` (table and --json). No raw control byte (C0, DEL,
 * C1), bidi control or invalid UTF-8 may reach a human; every JSON row keeps its "path", which
 * decodes back to the exact bytes (esc.h). Also: plain --scan lines are whole for a path of
 * about 3,800 bytes. This binary runs inside tests/journald-ns.sh. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "esc.h"
#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

/* The names www-data creates in wp-content/uploads. */
static const char *const names[] = {
    "csi\xc2\x9b"
    "31mred.php", /* U+009B CSI */
    "osc\xc2\x9d"
    "0;pwned\x07.php",                /* U+009D OSC ... BEL */
    "esc\x1b[2J\x1b]0;title\x07.php", /* ESC: clear screen, set title */
    "invoice\xe2\x80\xaegpj.php",     /* U+202E: shows as "invoicephp.jpg" */
    "iso\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\x8f.php",
    "del\x7f.php",
    "back\\slash\\x1b.php", /* a literal "\x1b": must stay distinguishable from ESC */
    "bad\xff.php",          /* not UTF-8 */
    "lone\xc3.php",         /* a truncated sequence */
    "new\nline.php",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

struct env {
    struct site s; /* its control socket in DIR/run */
    char uploads[PATH_MAX / 2], daemon[PATH_MAX];
    char paths[NNAMES][PATH_MAX];
};

static void env_init(struct env *e, const char *tag)
{
    memset(e, 0, sizeof(*e));
    site_init(&e->s, tag);
    snprintf(e->uploads, sizeof(e->uploads), "%s/wp-content/uploads", e->s.root);
    snprintf(e->s.sock, sizeof(e->s.sock), "%s/run/control.sock", e->s.dir);
    harness_build_path("permwatchd", e->daemon, sizeof(e->daemon));
    for (size_t i = 0; i < NNAMES; i++)
        snprintf(e->paths[i], sizeof(e->paths[i]), "%s/%s", e->uploads, names[i]);
    site_sh("set -e; umask 022; mkdir -p '%s'; chown -R www-data:www-data '%s'; chmod -R 2775 '%s'",
            e->uploads, e->s.root, e->s.root);
    site_policy(&e->s,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 0\n[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\nfile_forbid = 0002\n",
                e->s.root, e->s.sock);
}

static void env_free(struct env *e)
{
    site_free(&e->s);
}

/* www-data creates every name in uploads, mode 0666 (world writable: a mode_mismatch). */
static void make_names(const struct env *e)
{
    char cmd[8192];
    size_t n = (size_t)snprintf(cmd, sizeof(cmd),
                                "setpriv --reuid=www-data --regid=www-data --init-groups "
                                "/usr/bin/python3 -c 'import os,sys\nos.umask(0)\n"
                                "for h in sys.argv[2:]:\n"
                                "    p = os.path.join(sys.argv[1].encode(), bytes.fromhex(h))\n"
                                "    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o666))' '%s'",
                                e->uploads);
    for (size_t i = 0; i < NNAMES; i++) {
        n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " ");
        for (const unsigned char *p = (const unsigned char *)names[i]; *p; p++)
            n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "%02x", *p);
    }
    cr_assert_lt(n, sizeof(cmd));
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "%s", cmd), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
}

/* Every line of TEXT is one a terminal shows as it is: no byte or character that esc.h
 * escapes, except the backslashes of escapes. */
static void expect_clean(const char *what, const char *text)
{
    char *copy = strdup(text);
    cr_assert(copy);
    size_t lineno = 0;
    for (char *line = copy, *nl; line; line = nl ? nl + 1 : NULL, lineno++) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *shown = esc_dup(line, ESC_KEEP_BACKSLASH);
        cr_assert(shown);
        cr_expect_str_eq(shown, line, "%s, line %zu carries raw control or invalid bytes", what,
                         lineno);
        free(shown);
    }
    free(copy);
}

/* TEXT shows every hostile path escaped, as esc_append writes it. */
static void expect_every_name(const struct env *e, const char *what, const char *text)
{
    for (size_t i = 0; i < NNAMES; i++) {
        char *want = esc_dup(e->paths[i], 0);
        cr_assert(want);
        cr_expect(strstr(text, want), "%s lacks %s", what, want);
        free(want);
    }
}

/* The exact bytes of KEY in JSON row O by the rule of esc.h (malloc'd), or NULL when the key
 * is missing. */
static char *json_bytes(const json_t *o, const char *key)
{
    char raw_key[128];
    snprintf(raw_key, sizeof(raw_key), "%s%s", key, ESC_RAW_SUFFIX);
    const json_t *raw = json_object_get(o, raw_key);
    if (raw) {
        size_t n;
        cr_assert(json_is_string(raw));
        char *b = esc_b64_decode(json_string_value(raw), &n);
        cr_assert(b, "bad base64 in %s", raw_key);
        return b;
    }
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* Every line of OUT is a JSON row with a "path"; each hostile path is among them, and the
 * human fields are clean. */
static void expect_json_rows(const struct env *e, const char *what, const char *out)
{
    bool seen[NNAMES] = {false};
    char *copy = strdup(out);
    cr_assert(copy);
    size_t rows = 0;
    for (char *line = copy, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        cr_assert(o, "%s: not JSON: %s: %s", what, jerr.text, line);
        rows++;
        char *path = json_bytes(o, "path");
        cr_expect(path, "%s: a row without path: %s", what, line);
        for (size_t i = 0; path && i < NNAMES; i++)
            if (strcmp(path, e->paths[i]) == 0)
                seen[i] = true;
        free(path);
        const char *msg = json_string_value(json_object_get(o, "message"));
        cr_expect(msg, "%s: a row without message: %s", what, line);
        if (msg)
            expect_clean(what, msg);
        json_decref(o);
    }
    free(copy);
    cr_expect_geq(rows, NNAMES, "%s: %zu rows", what, rows);
    for (size_t i = 0; i < NNAMES; i++) {
        char *shown = esc_dup(e->paths[i], 0);
        cr_expect(seen[i], "%s: no row decodes to %s", what, shown);
        free(shown);
    }
}

/* permwatchd --scan, plain and --json: stdout and stderr. */
Test(live_output, scan_escapes_hostile_names)
{
    struct env e;
    env_init(&e, "out-scan");
    make_names(&e);
    char *plain[] = {e.daemon, "-c", e.s.ini, "--scan", NULL};
    struct run_result r;
    cr_assert_eq(harness_run(plain, &r), 0);
    cr_expect_eq(r.status, 1, "findings: exit 1, got %d: %s", r.status, r.err);
    expect_clean("--scan stdout", r.out);
    expect_clean("--scan stderr", r.err);
    expect_every_name(&e, "--scan stdout", r.out);
    run_result_free(&r);

    char *json[] = {e.daemon, "-c", e.s.ini, "--scan", "--json", NULL};
    cr_assert_eq(harness_run(json, &r), 0);
    cr_expect_eq(r.status, 1, "%s", r.err);
    expect_json_rows(&e, "--scan --json", r.out);
    expect_clean("--scan --json stderr", r.err);
    run_result_free(&r);
    env_free(&e);
}

/* The live daemon (stderr and journal) and permwatchctl findings (table and --json). */
Test(live_output, daemon_and_ctl_escape_hostile_names)
{
    struct env e;
    env_init(&e, "out-live");
    /* auto: stderr (a file here) and the journal */
    const char *const extra[] = {"--log-target", "auto", NULL};
    struct live_opts opts = {.extra_argv = extra};
    site_start(&e.s, &opts, 20000);
    struct live *d = e.s.d;
    make_names(&e); /* live: through the event path */
    for (size_t i = 0; i < NNAMES; i++) {
        json_t *entry = live_wait_entry(d, 10000, "PERMWATCH_FINDING", "mode_mismatch",
                                        "PERMWATCH_PATH", e.paths[i], NULL);
        char *shown = esc_dup(e.paths[i], 0);
        if (!entry)
            live_dump(d);
        cr_assert(entry, "no finding logged for %s", shown);
        const char *msg = live_field(entry, "MESSAGE");
        cr_expect(msg, "MESSAGE of %s is not printable text (journalctl shows bytes)", shown);
        if (msg) {
            expect_clean("journal MESSAGE", msg);
            cr_expect(strstr(msg, shown), "MESSAGE '%s' lacks %s", msg, shown);
        }
        free(shown);
    }

    struct run_result r;
    char *table[] = {e.s.ctl, "-s", e.s.sock, "findings", NULL};
    cr_assert_eq(harness_run(table, &r), 0);
    cr_expect_eq(r.status, 1, "%s", r.err);
    expect_clean("permwatchctl findings", r.out);
    expect_every_name(&e, "permwatchctl findings", r.out);
    run_result_free(&r);

    char *json[] = {e.s.ctl, "-s", e.s.sock, "--json", "findings", NULL};
    cr_assert_eq(harness_run(json, &r), 0);
    cr_expect_eq(r.status, 1, "%s", r.err);
    expect_json_rows(&e, "permwatchctl --json findings", r.out);
    run_result_free(&r);

    site_stop(&e.s);
    char *err = live_stderr(d);
    cr_assert(err);
    expect_clean("daemon stderr", err);
    expect_every_name(&e, "daemon stderr", err);
    free(err);
    env_free(&e);
}

/* A path of about 3,800 bytes: the plain --scan line is whole (it was cut at about 1,000
 * bytes), as is the JSON. */
Test(live_output, scan_lines_are_whole_for_long_paths)
{
    struct env e;
    env_init(&e, "out-long");
    char path[PATH_MAX], comp[251];
    memset(comp, 'd', sizeof(comp) - 1);
    comp[sizeof(comp) - 1] = '\0';
    size_t n = (size_t)snprintf(path, sizeof(path), "%s", e.uploads);
    while (n < 3700) {
        n += (size_t)snprintf(path + n, sizeof(path) - n, "/%s", comp);
        cr_assert_eq(mkdir(path, 0775), 0, "%s", strerror(errno));
        cr_assert_eq(chown(path, harness_uid("www-data"), harness_gid("www-data")), 0);
    }
    n += (size_t)snprintf(path + n, sizeof(path) - n, "/root-owned-at-the-end.php");
    cr_assert_lt(n, sizeof(path));
    cr_assert_geq(n, 3800);
    harness_write_file(path, "<?php\n"); /* root's */
    char *plain[] = {e.daemon, "-c", e.s.ini, "--scan", NULL};
    struct run_result r;
    cr_assert_eq(harness_run(plain, &r), 0);
    cr_expect_eq(r.status, 1, "%s", r.err);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "root_owned: root-owned file %s (root:", path);
    cr_expect(strstr(r.out, want), "no whole line for the %zu-byte path in:\n%s", n,
              r.out + (strlen(r.out) > 300 ? strlen(r.out) - 300 : 0));
    run_result_free(&r);

    char *json[] = {e.daemon, "-c", e.s.ini, "--scan", "--json", NULL};
    cr_assert_eq(harness_run(json, &r), 0);
    snprintf(want, sizeof(want), "\"path\":\"%s\"", path);
    cr_expect(strstr(r.out, want), "no whole JSON path in:\n%.300s", r.out);
    run_result_free(&r);
    env_free(&e);
}
