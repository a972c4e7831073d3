/* harness_site: the setup the live tests share — a temp dir holding a site tree, a policy
 * file and the control socket's path; the daemon started on that policy and waited for
 * (READY=1), stopped and cleaned up; shell commands and permwatchctl runs that fail the test
 * when they cannot run. Built on harness.h and harness_live.h; tests still call live_* on
 * site.d for everything else. */
#ifndef PERMWATCH_HARNESS_SITE_H
#define PERMWATCH_HARNESS_SITE_H

#include <jansson.h>
#include <limits.h>

#include "harness.h"
#include "harness_live.h"

/* One test's site. site_init fills the paths; the test may rewrite root (say, to a
 * directory on a tmpfs) before making the tree and writing the policy. */
struct site {
    char *dir;               /* harness_tempdir(tag), malloc'd */
    char root[PATH_MAX / 4]; /* DIR/site (not created) */
    char sock[PATH_MAX / 4]; /* DIR/control.sock */
    char ini[PATH_MAX / 4];  /* DIR/policy.ini (not written) */
    char ctl[PATH_MAX / 4];  /* the build's permwatchctl */
    struct live *d;          /* the daemon once site_start returned, else NULL */
};

/* Run the printf-formatted command line with /bin/sh -c as the caller; fails the test (with
 * the command and its stderr) unless it runs and exits 0. The line is cut at 8 KiB. Any test
 * may use it (harness*.c are linked into every test). */
void site_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Zero *S, make its temp dir (tag TAG) and fill the paths. Fails the test on error. */
void site_init(struct site *s, const char *tag);

/* Make ROOT/wp-content/uploads (umask 002) and chown the whole root to www-data. */
void site_make_uploads(const struct site *s);

/* Write the printf-formatted policy text to s->ini. Fails the test on error or when the
 * text is longer than 8 KiB. */
void site_policy(const struct site *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write the policy most live tests use: root, control socket, no rescans, no log burst, no
 * channels file, and one rule "site" (match **, owner and group www-data, file_require 0660,
 * dir_require 0770, repair = REPAIR). */
void site_policy_standard(const struct site *s, const char *repair);

/* live_start on s->ini with OPTS (may be NULL) into s->d, then wait up to READY_MS for
 * READY=1; without it, dump what the daemon said and fail the test. */
void site_start(struct site *s, const struct live_opts *opts, int ready_ms);

/* live_stop the daemon (dumping what it said when the exit code is not 0) and expect exit
 * code 0. Returns that code. s->d stays valid until site_free. */
int site_stop(struct site *s);

/* live_free the daemon (NULL is fine), remove the temp dir and free it. */
void site_free(struct site *s);

/* Run the build's permwatchctl -s s->sock ARGS (a shell word list) as root; fails the test
 * only when it cannot run. Caller run_result_frees. */
struct run_result site_ctl(const struct site *s, const char *args);

/* `permwatchctl --json status` as root, parsed; fails the test unless the output starts with
 * a JSON object or array (trailing text ignored). Caller decrefs. */
json_t *site_status_json(const struct site *s);

/* The entry live_wait_entry(s->d, TIMEOUT_MS, field/value pairs..., NULL) found; without it,
 * dump what the daemon said and fail the test with the message WHAT. */
#define site_expect_entry(s, timeout_ms, what, ...)                                                \
    site_entry_or_fail((s), live_wait_entry((s)->d, (timeout_ms), __VA_ARGS__), (what))

/* ENTRY when not NULL; else live_dump(s->d) and fail the test with WHAT. */
json_t *site_entry_or_fail(const struct site *s, json_t *entry, const char *what);

#endif
