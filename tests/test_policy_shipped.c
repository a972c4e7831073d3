/* Integration: the shipped conf/permwatch.ini (its root replaced; for the shared shape with
 * the documented edits: opencode added to writers and owners) run by the real `permwatchd
 * --scan --json` against WordPress sites built by tests/wp-site.sh in both healthy shapes,
 * against Debian's wordpress package laid out as a site, and against both shapes with the
 * seed host's problems planted; and `permwatchd --init-policy` on the same sites. Needs root
 * and the users www-data and opencode (tests/ensure-users.sh). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char *tmp, daemon_bin[512];

static void setup(void)
{
    tmp = harness_tempdir("shipped");
    harness_build_path("permwatchd", daemon_bin, sizeof(daemon_bin));
}

static void teardown(void)
{
    harness_rmtree(tmp);
    free(tmp);
}

TestSuite(shipped, .init = setup, .fini = teardown);

/* Build the site TAG under tmp with tests/wp-site.sh ARGS; returns its path (static). */
static const char *make_site(const char *tag, const char *args)
{
    static char site[600];
    char gen[512];
    snprintf(site, sizeof(site), "%s/%s", tmp, tag);
    struct run_result r;
    cr_assert(harness_sh(&r, "sh '%s' %s '%s'", harness_tests_path("wp-site.sh", gen, sizeof(gen)),
                         args, site) == 0);
    cr_assert_eq(r.status, 0, "wp-site.sh %s failed: %s", args, r.err);
    run_result_free(&r);
    return site;
}

/* Extract Debian's wordpress package under tmp; skips the test when it cannot be had. */
static const char *debian_extract(void)
{
    static char dir[600];
    char script[512];
    snprintf(dir, sizeof(dir), "%s/deb", tmp);
    struct run_result r;
    cr_assert(harness_sh(&r, "sh '%s' '%s'",
                         harness_tests_path("debian-wordpress.sh", script, sizeof(script)),
                         dir) == 0);
    if (r.status == 77) {
        char why[256];
        snprintf(why, sizeof(why), "%s", r.out);
        run_result_free(&r);
        cr_skip_test("Debian's wordpress package: %s", why);
    }
    cr_assert_eq(r.status, 0, "debian-wordpress.sh failed: %s%s", r.out, r.err);
    run_result_free(&r);
    return dir;
}

/* The shipped policy for SITE, written next to it; SHARED applies the documented edits for
 * a shared host (opencode added to `writers` and to every `owner = www-data`). Returns the
 * path (static). */
static const char *shipped_policy(const char *site, bool shared)
{
    static char ini[700];
    snprintf(ini, sizeof(ini), "%s.ini", site);
    struct run_result r;
    cr_assert(harness_sh(&r,
                         "sed -e 's|^root *=.*|root = %s|' %s conf/permwatch.ini >'%s' && "
                         "grep -q '^root = %s$' '%s'",
                         site,
                         shared ? "-e 's/^writers = www-data$/writers = www-data, opencode/' "
                                  "-e 's/^owner = www-data$/owner = www-data, opencode/'"
                                : "",
                         ini, site, ini) == 0);
    cr_assert_eq(r.status, 0, "cannot write %s (tests run from the repository root): %s", ini,
                 r.err);
    run_result_free(&r);
    return ini;
}

/* `permwatchd --init-policy SITE` written to SITE.init; returns the path (static). */
static const char *init_policy(const char *site)
{
    static char ini[700];
    snprintf(ini, sizeof(ini), "%s.init", site);
    struct run_result r;
    cr_assert(harness_sh(&r, "'%s' --init-policy '%s' >'%s'", daemon_bin, site, ini) == 0);
    cr_assert_eq(r.status, 0, "--init-policy failed: %s", r.err);
    run_result_free(&r);
    return ini;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run --scan --json with INI over SITE; fill ITEMS with sorted "relpath kind" strings (paths
 * outside the site, such as dispatch commands, stay absolute). Returns the count; *STATUS
 * gets the exit code. */
static size_t scan(const char *ini, const char *site, char **items, size_t max, int *status)
{
    struct run_result r;
    char *argv[] = {daemon_bin, "-c",           (char *)ini, "--scan",
                    "--json",   "--log-target", "stderr",    NULL};
    cr_assert(harness_run(argv, &r) == 0, "cannot run %s", daemon_bin);
    *status = r.status;
    size_t n = 0, rootlen = strlen(site);
    const char *line = r.out;
    while (*line) {
        const char *nl = strchr(line, '\n');
        cr_assert(nl, "unterminated output line");
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &je);
        cr_assert(o, "bad JSON line: %.*s (%s)", (int)(nl - line), line, je.text);
        const char *path = json_string_value(json_object_get(o, "path"));
        const char *kind = json_string_value(json_object_get(o, "finding"));
        cr_assert(path && kind);
        if (strncmp(path, site, rootlen) == 0 && path[rootlen] == '/')
            path += rootlen + 1;
        cr_assert(n < max, "too many findings:\n%s", r.out);
        cr_assert(asprintf(&items[n++], "%s %s", path, kind) > 0);
        json_decref(o);
        line = nl + 1;
    }
    cr_assert(*status == 0 || *status == 1, "exit %d: %s", *status, r.err);
    run_result_free(&r);
    qsort(items, n, sizeof(*items), cmp_str);
    return n;
}

/* Exactly WANT (sorted "relpath kind"), nothing else. */
static void expect_findings(const char *ini, const char *site, const char *const *want,
                            size_t nwant)
{
    char *got[4096];
    int status;
    size_t n = scan(ini, site, got, 4096, &status);
    char all[8192] = "";
    for (size_t i = 0; i < n && strlen(all) < sizeof(all) - 300; i++)
        snprintf(all + strlen(all), sizeof(all) - strlen(all), "  %s\n", got[i]);
    cr_expect_eq(n, nwant, "%zu findings, want %zu:\n%s", n, nwant, all);
    for (size_t i = 0; i < n || i < nwant; i++) {
        const char *g = i < n ? got[i] : "(none)", *w = i < nwant ? want[i] : "(none)";
        cr_expect_str_eq(g, w, "finding %zu: got '%s', want '%s'", i, g, w);
    }
    cr_expect_eq(status, nwant ? 1 : 0);
    for (size_t i = 0; i < n; i++)
        free(got[i]);
}

/* --- healthy shapes: nothing ---------------------------------------------------------------- */

Test(shipped, stock_site_has_no_findings)
{
    const char *site = make_site("stock", "-s stock");
    expect_findings(shipped_policy(site, false), site, NULL, 0);
}

Test(shipped, shared_site_has_no_findings)
{
    const char *site = make_site("shared", "-s shared");
    expect_findings(shipped_policy(site, true), site, NULL, 0);
}

Test(shipped, debian_wordpress_in_both_shapes_has_no_findings)
{
    const char *deb = debian_extract();
    char args[700];
    snprintf(args, sizeof(args), "-s stock -d '%s'", deb);
    const char *site = make_site("deb-stock", args);
    expect_findings(shipped_policy(site, false), site, NULL, 0);
    snprintf(args, sizeof(args), "-s shared -d '%s'", deb);
    site = make_site("deb-shared", args);
    expect_findings(shipped_policy(site, true), site, NULL, 0);
}

/* --- the seed host's problems: exactly these -------------------------------------------- */

#define ROOT_FILE(p) p " group_mismatch", p " not_writable", p " root_owned"
#define KIMAKI       "/root/.kimaki/bin/kimaki dispatch_unreachable"
#define MKTEMP       "wp-content/mu-plugins/wp-coding-agents-mktemp.php"
#define PLUGIN       "wp-content/plugins/agent-plugin/agent-plugin.php"
#define UP           "wp-content/uploads/2026/11/"

/* Stock host (writers = www-data): the opencode files are also someone else's. */
static const char *const seeded_stock[] = {
    KIMAKI,
    ROOT_FILE("wp-admin/agent-patch.php"),
    MKTEMP " not_writable",
    MKTEMP " owner_mismatch",
    MKTEMP " web_unreadable",
    PLUGIN " not_writable",
    PLUGIN " owner_mismatch",
    ROOT_FILE(UP "agent-export"),
    ROOT_FILE(UP "agent-export/report.pdf"),
    ROOT_FILE(UP "agent-upload.png"),
    UP "world.txt mode_mismatch",
};

/* Shared host (writers = www-data, opencode): opencode may own files, but www-data must
 * write them: the 0644 plugin file is not_writable, the 0600 mu-plugin unreadable too. */
static const char *const seeded_shared[] = {
    KIMAKI,
    ROOT_FILE("wp-admin/agent-patch.php"),
    MKTEMP " not_writable",
    MKTEMP " web_unreadable",
    PLUGIN " not_writable",
    ROOT_FILE(UP "agent-export"),
    ROOT_FILE(UP "agent-export/report.pdf"),
    ROOT_FILE(UP "agent-upload.png"),
    UP "world.txt mode_mismatch",
};

Test(shipped, seeded_stock_site_gives_exactly_the_seed_findings)
{
    const char *site = make_site("stock", "-s stock -p");
    expect_findings(shipped_policy(site, false), site, seeded_stock,
                    sizeof(seeded_stock) / sizeof(seeded_stock[0]));
}

Test(shipped, seeded_shared_site_gives_exactly_the_seed_findings)
{
    const char *site = make_site("shared", "-s shared -p");
    expect_findings(shipped_policy(site, true), site, seeded_shared,
                    sizeof(seeded_shared) / sizeof(seeded_shared[0]));
}

/* --- --init-policy ----------------------------------------------------------------------- */

Test(shipped, init_policy_fits_both_healthy_shapes)
{
    const char *site = make_site("stock", "-s stock");
    const char *ini = init_policy(site);
    expect_findings(ini, site, NULL, 0);
    struct run_result r;
    cr_assert(harness_sh(&r, "grep -x 'writers = www-data' '%s'", ini) == 0);
    cr_expect_eq(r.status, 0, "no 'writers = www-data' line in %s", ini);
    run_result_free(&r);

    site = make_site("shared", "-s shared");
    ini = init_policy(site);
    expect_findings(ini, site, NULL, 0);
    cr_assert(harness_sh(&r, "grep -x 'writers = www-data, opencode' '%s'", ini) == 0);
    cr_expect_eq(r.status, 0, "no 'writers = www-data, opencode' line in %s", ini);
    run_result_free(&r);
}

Test(shipped, init_policy_fits_debian_wordpress)
{
    const char *deb = debian_extract();
    char args[700];
    snprintf(args, sizeof(args), "-s stock -d '%s'", deb);
    const char *site = make_site("deb-stock", args);
    expect_findings(init_policy(site), site, NULL, 0);
}

/* On seeded sites the policy it writes still reports every seed problem: root is never a
 * writer, and the opencode files of a stock site do not make opencode one. */
Test(shipped, init_policy_on_seeded_sites_keeps_the_seed_findings)
{
    const char *site = make_site("stock", "-s stock -p");
    expect_findings(init_policy(site), site, seeded_stock,
                    sizeof(seeded_stock) / sizeof(seeded_stock[0]));
    site = make_site("shared", "-s shared -p");
    expect_findings(init_policy(site), site, seeded_shared,
                    sizeof(seeded_shared) / sizeof(seeded_shared[0]));
}
