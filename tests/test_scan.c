/* Integration: the real `permwatchd --scan` against a WordPress-like tree on the real kernel
 * (owners, modes, symlinks, a tmpfs mount and a bind mount inside the site), and against a
 * private real journald. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "scan.h"

static char *tmp, site[512], ini[512], daemon_bin[512];

/* The fixture's planted problems, as "relpath kind", sorted. */
static const char *const expected_all[] = {
    "wp-content/mu-plugins/wp-coding-agents-cli-transport.php mode_mismatch",
    "wp-content/mu-plugins/wp-coding-agents-cli-transport.php web_unreadable",
    "wp-content/plugins/agent-plugin/agent-plugin.php mode_mismatch",
    "wp-content/uploads/2026/11/agent-export group_mismatch",
    "wp-content/uploads/2026/11/agent-export mode_mismatch",
    "wp-content/uploads/2026/11/agent-export root_owned",
    "wp-content/uploads/2026/11/agent-export/report.pdf group_mismatch",
    "wp-content/uploads/2026/11/agent-export/report.pdf mode_mismatch",
    "wp-content/uploads/2026/11/agent-export/report.pdf root_owned",
    "wp-content/uploads/2026/11/agent-upload.png group_mismatch",
    "wp-content/uploads/2026/11/agent-upload.png mode_mismatch",
    "wp-content/uploads/2026/11/agent-upload.png root_owned",
};
#define NEXPECTED (sizeof(expected_all) / sizeof(expected_all[0]))

static void setup_site(void)
{
    tmp = harness_tempdir("scan");
    snprintf(site, sizeof(site), "%s/site", tmp);
    snprintf(ini, sizeof(ini), "%s/site.ini", tmp);
    harness_build_path("permwatchd", daemon_bin, sizeof(daemon_bin));
    char fixture[512];
    struct run_result r;
    cr_assert(harness_sh(&r, "sh '%s' '%s' '%s'",
                         harness_tests_path("wp-fixture.sh", fixture, sizeof(fixture)), site,
                         ini) == 0);
    cr_assert_eq(r.status, 0, "fixture failed: %s", r.err);
    run_result_free(&r);
}

/* Mounts a test made (in its private namespace): detached before the tree is removed. */
static char mounted[4][600];
static int nmounted;

static void remember_mount(const char *path)
{
    if (nmounted < 4)
        snprintf(mounted[nmounted++], sizeof(mounted[0]), "%s", path);
}

static void teardown_site(void)
{
    while (nmounted > 0)
        umount2(mounted[--nmounted], MNT_DETACH);
    harness_rmtree(tmp);
    free(tmp);
}

/* Mounts made by a test live in its own mount namespace (Criterion forks a process per
 * test), so they vanish with it whatever happens. */
static void private_mounts(void)
{
    cr_assert(unshare(CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
    cr_assert(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parse --json output into sorted "relpath kind" strings; returns the count. */
static size_t parse_findings(const char *out, char **items, size_t max)
{
    size_t n = 0, rootlen = strlen(site);
    const char *line = out;
    while (*line) {
        const char *nl = strchr(line, '\n');
        cr_assert(nl, "unterminated output line");
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &je);
        cr_assert(o, "bad JSON line: %.*s (%s)", (int)(nl - line), line, je.text);
        const char *path = json_string_value(json_object_get(o, "path"));
        const char *kind = json_string_value(json_object_get(o, "finding"));
        cr_assert(path && kind);
        cr_assert(strncmp(path, site, rootlen) == 0 && path[rootlen] == '/',
                  "finding outside the site: %s", path);
        cr_assert(n < max, "too many findings");
        cr_assert(asprintf(&items[n++], "%s %s", path + rootlen + 1, kind) > 0);
        json_decref(o);
        line = nl + 1;
    }
    qsort(items, n, sizeof(*items), cmp_str);
    return n;
}

static void assert_findings(const char *out, const char *const *want, size_t nwant)
{
    char *got[256];
    size_t n = parse_findings(out, got, 256);
    for (size_t i = 0; i < n || i < nwant; i++) {
        const char *g = i < n ? got[i] : "(none)", *w = i < nwant ? want[i] : "(none)";
        cr_expect_str_eq(g, w, "finding %zu: got '%s', want '%s'", i, g, w);
    }
    cr_assert_eq(n, nwant, "got %zu findings, want %zu:\n%s", n, nwant, out);
    for (size_t i = 0; i < n; i++)
        free(got[i]);
}

static struct run_result scan(const char *path, const char *format)
{
    struct run_result r;
    char *argv[] = {daemon_bin, "-c",           ini,          "--scan", "--log-target",
                    "stderr",   (char *)format, (char *)path, NULL};
    if (!format) {
        argv[6] = (char *)path;
        argv[7] = NULL;
    }
    cr_assert(harness_run(argv, &r) == 0, "cannot run %s", daemon_bin);
    return r;
}

TestSuite(scan, .init = setup_site, .fini = teardown_site);

Test(scan, fixture_exact_findings_skipping_mounts_and_symlinks)
{
    private_mounts();
    /* a tmpfs inside the site, root-owned inside: another filesystem, never entered */
    char mnt[600], bind_src[600], bind_dst[600];
    snprintf(mnt, sizeof(mnt), "%s/wp-content/mnt", site);
    cr_assert(mount("tmpfs", mnt, "tmpfs", 0, "mode=0755") == 0, "%s", strerror(errno));
    remember_mount(mnt);
    struct run_result r;
    cr_assert(harness_sh(&r, "touch '%s/root-file' && mkdir '%s/d'", mnt, mnt) == 0);
    run_result_free(&r);
    /* a bind mount of the same filesystem: same st_dev, still a mount, never entered */
    snprintf(bind_src, sizeof(bind_src), "%s/outside", tmp);
    snprintf(bind_dst, sizeof(bind_dst), "%s/wp-content/bound", site);
    cr_assert(mkdir(bind_src, 0700) == 0 && mkdir(bind_dst, 0775) == 0);
    cr_assert(chown(bind_dst, harness_uid("www-data"), harness_gid("www-data")) == 0);
    harness_write_file(strcat(bind_src, "/secret"), "x");
    bind_src[strlen(bind_src) - strlen("/secret")] = '\0';
    cr_assert(mount(bind_src, bind_dst, NULL, MS_BIND, NULL) == 0, "%s", strerror(errno));
    remember_mount(bind_dst);

    r = scan(NULL, "--json");
    cr_assert_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    assert_findings(r.out, expected_all, NEXPECTED);
    cr_expect(strstr(r.err, "12 findings"), "summary: %s", r.err);
    run_result_free(&r);
}

Test(scan, readable_output_and_json_fields)
{
    struct run_result r = scan(NULL, NULL);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    char line[1024];
    snprintf(line, sizeof(line),
             "root_owned: root-owned file %s/wp-content/uploads/2026/11/agent-upload.png", site);
    cr_expect(strstr(r.out, line), "no '%s' in:\n%s", line, r.out);
    run_result_free(&r);

    /* a relative PATH is relative to the current directory (the source tree): outside */
    r = scan("wp-content/uploads/2026/11/agent-upload.png", "--json");
    cr_expect_eq(r.status, 2, "exit %d: %s", r.status, r.err);
    run_result_free(&r);
    char path[700];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/2026/11/agent-upload.png", site);
    r = scan(path, "--json");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    json_error_t je;
    json_t *o = json_loadb(r.out, strcspn(r.out, "\n"), 0, &je);
    cr_assert(o, "%s", je.text);
    cr_expect_str_eq(json_string_value(json_object_get(o, "finding")), "root_owned");
    cr_expect_str_eq(json_string_value(json_object_get(o, "path")), path);
    cr_expect_str_eq(json_string_value(json_object_get(o, "rule")), "site");
    cr_expect_eq(json_integer_value(json_object_get(o, "uid")), 0);
    cr_expect_eq(json_integer_value(json_object_get(o, "gid")), 0);
    cr_expect_str_eq(json_string_value(json_object_get(o, "owner")), "root");
    cr_expect_str_eq(json_string_value(json_object_get(o, "group")), "root");
    cr_expect_str_eq(json_string_value(json_object_get(o, "mode")), "0644");
    cr_expect(json_string_value(json_object_get(o, "expected")));
    json_decref(o);
    run_result_free(&r);
}

Test(scan, subtree_only)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/wp-content/uploads", site);
    struct run_result r = scan(path, "--json");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    assert_findings(r.out, expected_all + 3, 9);
    run_result_free(&r);

    /* inside an ignored subtree: nothing to check */
    snprintf(path, sizeof(path), "%s/wp-content/cache", site);
    r = scan(path, "--json");
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_str_eq(r.out, "");
    run_result_free(&r);
}

Test(scan, clean_tree_exits_zero)
{
    struct run_result r;
    cr_assert(harness_sh(&r,
                         "cd '%s' && chown -R www-data:www-data wp-content/uploads && "
                         "chmod 0664 wp-content/uploads/2026/11/agent-upload.png "
                         "wp-content/uploads/2026/11/agent-export/report.pdf "
                         "wp-content/plugins/agent-plugin/agent-plugin.php "
                         "wp-content/mu-plugins/wp-coding-agents-cli-transport.php && "
                         "chmod 0775 wp-content/uploads/2026/11/agent-export",
                         site) == 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    r = scan(NULL, "--json");
    cr_expect_eq(r.status, 0, "exit %d: %s\n%s", r.status, r.err, r.out);
    cr_expect_str_eq(r.out, "");
    run_result_free(&r);
}

Test(scan, paths_outside_or_through_symlinks_are_refused)
{
    struct run_result r = scan("/etc", "--json");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "outside the site root"), "%s", r.err);
    run_result_free(&r);

    char path[700];
    snprintf(path, sizeof(path), "%s/wp-content/../../etc", site);
    r = scan(path, "--json");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "'..'"), "%s", r.err);
    run_result_free(&r);

    /* wp-content/uploads/escape -> /etc: walking through it is refused, never followed */
    snprintf(path, sizeof(path), "%s/wp-content/uploads/escape/passwd", site);
    r = scan(path, "--json");
    cr_expect_eq(r.status, 2, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.err, "symbolic link"), "%s", r.err);
    cr_expect_str_eq(r.out, "");
    run_result_free(&r);
}

Test(scan, missing_site_and_bad_config_exit_two)
{
    struct run_result r;
    cr_assert(harness_sh(&r, "rm -rf '%s'", site) == 0);
    run_result_free(&r);
    r = scan(NULL, "--json");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "site root"), "%s", r.err);
    run_result_free(&r);

    harness_write_file(ini, "[site]\nroot = /tmp\n\n[rule a]\nmatch = **\nowner = nosuchuser\n");
    r = scan(NULL, "--json");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, ":6:") && strstr(r.err, "owner") && strstr(r.err, "nosuchuser"),
              "error must name file, line and key: %s", r.err);
    run_result_free(&r);
}

Test(scan, deep_tree_beyond_path_max)
{
    /* 400 levels of 20-character names: 8,400 characters, twice PATH_MAX; built with
     * mkdirat/openat since no path to it fits in PATH_MAX */
    char top[600];
    snprintf(top, sizeof(top), "%s/wp-content/plugins", site);
    int fd = open(top, O_RDONLY | O_DIRECTORY);
    cr_assert(fd >= 0);
    for (int i = 0; i < 400; i++) {
        const char *d = "dddddddddddddddddddd";
        cr_assert(mkdirat(fd, d, 0775) == 0, "level %d: %s", i, strerror(errno));
        int sub = openat(fd, d, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        cr_assert(sub >= 0);
        cr_assert(fchown(sub, harness_uid("www-data"), harness_gid("www-data")) == 0);
        cr_assert(fchmod(sub, 0775) == 0);
        close(fd);
        fd = sub;
    }
    int f = openat(fd, "deep.php", O_WRONLY | O_CREAT | O_EXCL, 0644);
    cr_assert(f >= 0);
    close(f);
    close(fd);
    struct run_result r;
    r = scan(NULL, "--json");
    cr_assert_eq(r.status, 1, "%s", r.err);
    char *got[256];
    size_t n = parse_findings(r.out, got, 256);
    size_t deep = 0;
    for (size_t i = 0; i < n; i++) {
        if (strstr(got[i], "/deep.php root_owned") && strlen(got[i]) > 8000)
            deep++;
        free(got[i]);
    }
    cr_expect_eq(deep, 1, "deep root-owned file not found");
    cr_expect_eq(n, NEXPECTED + 3, "got %zu findings", n); /* root_owned, group, mode */
    run_result_free(&r);
}

/* A www-data chain past the depth cap (scan.h): the scan ends, finds the root file just above
 * the cap, not the one below it, says so in one line and exits 2 (the audit is incomplete). */
Test(scan, chain_past_the_depth_cap)
{
    char top[600];
    snprintf(top, sizeof(top), "%s/wp-content/plugins", site);
    int fd = open(top, O_RDONLY | O_DIRECTORY);
    cr_assert(fd >= 0);
    /* plugins is 2 levels below the site root: chain level i is site level i + 2 */
    for (int i = 1; i <= SCAN_DEPTH_MAX; i++) {
        cr_assert(mkdirat(fd, "d", 0775) == 0, "level %d: %s", i, strerror(errno));
        int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        cr_assert(sub >= 0);
        cr_assert(fchown(sub, harness_uid("www-data"), harness_gid("www-data")) == 0);
        cr_assert(fchmod(sub, 0775) == 0);
        close(fd);
        fd = sub;
        const char *plant = i == SCAN_DEPTH_MAX - 3   ? "above.php"
                            : i == SCAN_DEPTH_MAX - 2 ? "below.php"
                                                      : NULL;
        if (plant) {
            int f = openat(fd, plant, O_WRONLY | O_CREAT | O_EXCL, 0644);
            cr_assert(f >= 0);
            close(f);
        }
    }
    close(fd);
    struct run_result r;
    r = scan(NULL, "--json");
    cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
    char *got[256];
    size_t n = parse_findings(r.out, got, 256), above = 0, below = 0;
    for (size_t i = 0; i < n; i++) {
        above += strstr(got[i], "/above.php root_owned") != NULL;
        below += strstr(got[i], "/below.php") != NULL;
        free(got[i]);
    }
    cr_expect_eq(above, 1, "the root file above the cap not found");
    cr_expect_eq(below, 0, "a file below the cap was read");
    cr_expect_eq(n, NEXPECTED + 3, "got %zu findings", n); /* root_owned, group, mode */
    /* one line naming the directory at the cap (site level 2048) and the cap */
    size_t lines = 0;
    for (const char *p = r.err; (p = strstr(p, "directory levels below the site root")); p++)
        lines++;
    cr_expect_eq(lines, 1, "%zu lines about the depth cap:\n%.2000s", lines, r.err);
    char want[700];
    snprintf(want, sizeof(want), "%s/wp-content/plugins/d/d/", site);
    const char *line = strstr(r.err, want);
    cr_expect_not_null(line, "the line names the path: %.2000s", r.err);
    if (line) {
        size_t len = strcspn(line, " ");
        cr_expect_eq(len, strlen(site) + strlen("/wp-content/plugins") + 2 * (SCAN_DEPTH_MAX - 2),
                     "the path named is %zu bytes", len);
        cr_expect(strstr(line, " is 2048 directory levels below the site root"), "%.200s",
                  line + len);
    }
    run_result_free(&r);
    /* --scan --repair: the same walk, incomplete the same way */
    char *argv[] = {daemon_bin,  "-c",           ini,      "--scan", "--repair",
                    "--dry-run", "--log-target", "stderr", NULL};
    cr_assert(harness_run(argv, &r) == 0);
    cr_expect_eq(r.status, 2, "--scan --repair exit %d: %.2000s", r.status, r.err);
    cr_expect(strstr(r.err, "1 directories 2048 levels below the site root"), "%.2000s", r.err);
    cr_expect(strstr(r.out, "/above.php"), "the file above the cap not repaired: %.2000s", r.out);
    cr_expect_not(strstr(r.out, "/below.php"), "a file below the cap repaired");
    run_result_free(&r);
}

Test(scan, check_config_prints_policy)
{
    struct run_result r;
    char *argv[] = {daemon_bin, "-t", "-c", ini, NULL};
    cr_assert(harness_run(argv, &r) == 0);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "[rule mu-plugins]") && strstr(r.out, "file_require = 0664"), "%s",
              r.out);
    run_result_free(&r);
    harness_write_file(ini, "[site]\nroot = /tmp\n[rule a]\nmatch = **\nfile_require = 9x\n");
    cr_assert(harness_run(argv, &r) == 0);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, ":5:") && strstr(r.err, "file_require"), "%s", r.err);
    run_result_free(&r);
}

/* The same scan with --log-target journal inside a private real journald: every finding is
 * one entry with the PERMWATCH_* fields, read back with journalctl -o json. */
Test(scan, journal_entries_in_private_journald)
{
    char ns[512], cmd[4096];
    harness_tests_path("journald-ns.sh", ns, sizeof(ns));
    snprintf(cmd, sizeof(cmd),
             "'%s' sh -c \"'%s' -c '%s' --scan --log-target journal >/dev/null; "
             "journalctl --sync 2>/dev/null; journalctl -o json SYSLOG_IDENTIFIER=permwatchd\"",
             ns, daemon_bin, ini);
    struct run_result r;
    cr_assert(harness_sh(&r, "%s", cmd) == 0);
    cr_assert_eq(r.status, 0, "journald run failed (%d): %s", r.status, r.err);
    size_t findings = 0, root_owned_seen = 0;
    char upload[700];
    snprintf(upload, sizeof(upload), "%s/wp-content/uploads/2026/11/agent-upload.png", site);
    for (char *line = r.out; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        json_t *o = json_loadb(line, len, 0, NULL);
        cr_assert(o, "bad journal JSON: %.*s", (int)len, line);
        const char *ev = json_string_value(json_object_get(o, "PERMWATCH_EVENT"));
        if (ev && !strcmp(ev, "finding")) {
            findings++;
            cr_expect_str_eq(json_string_value(json_object_get(o, "SYSLOG_IDENTIFIER")),
                             "permwatchd");
            cr_expect(json_string_value(json_object_get(o, "MESSAGE")));
            cr_expect(json_string_value(json_object_get(o, "MESSAGE_ID")));
            cr_expect(json_string_value(json_object_get(o, "PERMWATCH_RULE")));
            const char *kind = json_string_value(json_object_get(o, "PERMWATCH_FINDING"));
            const char *path = json_string_value(json_object_get(o, "PERMWATCH_PATH"));
            if (kind && path && !strcmp(kind, "root_owned") && !strcmp(path, upload)) {
                root_owned_seen++;
                cr_expect_str_eq(json_string_value(json_object_get(o, "PRIORITY")), "4");
                cr_expect_str_eq(json_string_value(json_object_get(o, "MESSAGE_ID")),
                                 "2cea1fd3b1d84c1fa4e5e752bf984b24");
                cr_expect_str_eq(json_string_value(json_object_get(o, "PERMWATCH_UID")), "0");
                cr_expect_str_eq(json_string_value(json_object_get(o, "PERMWATCH_GID")), "0");
                cr_expect_str_eq(json_string_value(json_object_get(o, "PERMWATCH_OWNER")), "root");
                cr_expect_str_eq(json_string_value(json_object_get(o, "PERMWATCH_GROUP")), "root");
                cr_expect_str_eq(json_string_value(json_object_get(o, "PERMWATCH_MODE")), "0644");
                cr_expect_str_eq(json_string_value(json_object_get(o, "PERMWATCH_RULE")), "site");
                cr_expect_str_eq(json_string_value(json_object_get(o, "PERMWATCH_EXPECTED")),
                                 "www-data, opencode");
            }
        }
        json_decref(o);
        line = nl ? nl + 1 : line + len;
    }
    cr_expect_eq(findings, NEXPECTED, "journal has %zu finding entries:\n%s", findings, r.out);
    cr_expect_eq(root_owned_seen, 1);
    run_result_free(&r);
}

/* Issue 9 item 7: a site root that is itself a mount point is audited (only mounts below it
 * are not crossed); on the old code the walk refused its own start and exited 0. */
Test(scan, site_root_that_is_a_mount_point_is_audited)
{
    private_mounts();
    cr_assert(mount("tmpfs", site, "tmpfs", 0, "mode=0775,uid=33,gid=33") == 0, "%s",
              strerror(errno));
    remember_mount(site);
    char path[700];
    snprintf(path, sizeof(path), "%s/by-root.php", site);
    harness_write_file(path, "<?php\n");
    struct run_result r = scan(NULL, "--json");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "by-root.php") && strstr(r.out, "root_owned"), "%s\n%s", r.out, r.err);
    run_result_free(&r);
    /* a bind mount of a directory of the same filesystem as the site root, too */
    umount2(site, MNT_DETACH);
    nmounted--;
    char src[700];
    snprintf(src, sizeof(src), "%s/bound-site", tmp);
    struct run_result s;
    cr_assert(harness_sh(&s, "mkdir '%s' && chown www-data:www-data '%s' && touch '%s/root.txt'",
                         src, src, src) == 0);
    run_result_free(&s);
    cr_assert(mount(src, site, NULL, MS_BIND, NULL) == 0, "%s", strerror(errno));
    remember_mount(site);
    r = scan(NULL, "--json");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "root.txt"), "%s\n%s", r.out, r.err);
    run_result_free(&r);
}

/* Issue 9 item 10: each mount point inside the site that is not crossed gets one line (a
 * mount_skipped entry); not a finding: the exit code and the findings stay the same. */
Test(scan, skipped_mount_points_are_reported)
{
    private_mounts();
    char mnt[600], bind_src[600], bind_dst[600];
    snprintf(mnt, sizeof(mnt), "%s/wp-content/mnt", site);
    cr_assert(mount("tmpfs", mnt, "tmpfs", 0, "mode=0755") == 0, "%s", strerror(errno));
    remember_mount(mnt);
    snprintf(bind_src, sizeof(bind_src), "%s/outside", tmp);
    snprintf(bind_dst, sizeof(bind_dst), "%s/wp-content/bound", site);
    cr_assert(mkdir(bind_src, 0700) == 0 && mkdir(bind_dst, 0775) == 0);
    cr_assert(chown(bind_dst, harness_uid("www-data"), harness_gid("www-data")) == 0);
    cr_assert(mount(bind_src, bind_dst, NULL, MS_BIND, NULL) == 0, "%s", strerror(errno));
    remember_mount(bind_dst);
    struct run_result r = scan(NULL, "--json");
    cr_assert_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    assert_findings(r.out, expected_all, NEXPECTED);
    char want[700];
    snprintf(want, sizeof(want), "mount point %s ", mnt);
    cr_expect(strstr(r.err, want), "no line for %s: %s", mnt, r.err);
    snprintf(want, sizeof(want), "mount point %s ", bind_dst);
    cr_expect(strstr(r.err, want), "no line for %s: %s", bind_dst, r.err);
    run_result_free(&r);
}

/* Issue 9 item 1: `--scan --repair` refuses while a non-root user can write an ancestor of
 * the site root (it could swap the root for a symlink to elsewhere between checks). */
Test(scan, repair_refused_when_an_ancestor_is_writable_by_the_web_user)
{
    struct run_result r;
    cr_assert(harness_sh(&r, "chown www-data '%s'", tmp) == 0);
    run_result_free(&r);
    char *argv[] = {daemon_bin, "-c", ini, "--scan", "--repair", "--log-target", "stderr", NULL};
    cr_assert(harness_run(argv, &r) == 0);
    cr_expect_eq(r.status, 1, "refused: exit 1, got %d: %s", r.status, r.err);
    cr_expect(strstr(r.err, "unsafe ancestor") && strstr(r.err, tmp), "%s", r.err);
    cr_expect(strstr(r.err, "repair refused"), "%s", r.err);
    run_result_free(&r);
    char path[700];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/2026/11/agent-upload.png", site);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 0, "nothing was repaired");
    /* detection goes on */
    r = scan(NULL, "--json");
    cr_expect_eq(r.status, 1, "%s", r.err);
    assert_findings(r.out, expected_all, NEXPECTED);
    run_result_free(&r);
}

/* Issue 12 item 8: a site on overlayfs (containers), lower layer on another filesystem and
 * xino off, so files report their layer's st_dev and directories the overlay's: the scan finds
 * the root-owned files and `--scan --repair` repairs them (the old code refused every repair
 * as "a mount point or another filesystem"); a bind mount inside the overlay is still not
 * crossed. */
Test(scan, overlay_site_is_scanned_and_repaired)
{
    private_mounts();
    char lower[600], upper[600], work[600], opts[2200];
    snprintf(lower, sizeof(lower), "%s/lower", tmp);
    snprintf(upper, sizeof(upper), "%s/upper", tmp);
    snprintf(work, sizeof(work), "%s/work", tmp);
    cr_assert(mkdir(lower, 0755) == 0 && mkdir(upper, 0775) == 0 && mkdir(work, 0755) == 0);
    /* the overlay's root shows the upper directory's owner and mode: the site's */
    cr_assert(chown(upper, harness_uid("www-data"), harness_gid("www-data")) == 0);
    cr_assert(chmod(upper, 0775) == 0);
    cr_assert(mount("tmpfs", lower, "tmpfs", 0, "mode=0755") == 0, "%s", strerror(errno));
    remember_mount(lower);
    struct run_result s;
    cr_assert(harness_sh(&s, "cp -a '%s'/. '%s'/ && rm -rf '%s' && mkdir '%s'", site, lower, site,
                         site) == 0);
    cr_assert_eq(s.status, 0, "%s", s.err);
    run_result_free(&s);
    snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s,xino=off", lower, upper, work);
    cr_assert(mount("overlay", site, "overlay", 0, opts) == 0, "overlay: %s", strerror(errno));
    remember_mount(site);
    char file[700], dir[700];
    snprintf(file, sizeof(file), "%s/wp-content/uploads/2026/11/agent-upload.png", site);
    snprintf(dir, sizeof(dir), "%s/wp-content/uploads/2026/11", site);
    struct stat fst, dst;
    cr_assert(stat(file, &fst) == 0 && stat(dir, &dst) == 0);
    cr_assert_neq(fst.st_dev, dst.st_dev,
                  "the overlay should show a file and its directory on "
                  "different st_dev (xino off, lower on tmpfs)");
    /* a bind mount inside the overlay site, root-owned inside: never crossed */
    char bind_src[600], bind_dst[700];
    snprintf(bind_src, sizeof(bind_src), "%s/outside", tmp);
    snprintf(bind_dst, sizeof(bind_dst), "%s/wp-content/mnt", site);
    cr_assert(harness_sh(&s, "mkdir '%s' && touch '%s/root-inside'", bind_src, bind_src) == 0);
    run_result_free(&s);
    cr_assert(mount(bind_src, bind_dst, NULL, MS_BIND, NULL) == 0, "%s", strerror(errno));
    remember_mount(bind_dst);

    struct run_result r = scan(NULL, "--json");
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    assert_findings(r.out, expected_all, NEXPECTED);
    run_result_free(&r);

    char *argv[] = {daemon_bin, "-c", ini, "--scan", "--repair", "--log-target", "stderr", NULL};
    cr_assert(harness_run(argv, &r) == 0);
    cr_expect_eq(r.status, 0, "exit %d: %s\n%s", r.status, r.err, r.out);
    cr_expect(!strstr(r.err, "another filesystem") && !strstr(r.out, "another filesystem"),
              "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "agent-upload.png: owner 0 -> 33"), "%s\n%s", r.out, r.err);
    cr_expect(!strstr(r.out, "root-inside") && !strstr(r.err, "root-inside"), "%s\n%s", r.out,
              r.err);
    run_result_free(&r);
    cr_assert(stat(file, &fst) == 0);
    cr_expect_eq(fst.st_uid, harness_uid("www-data"), "uid %u", fst.st_uid);
    snprintf(file, sizeof(file), "%s/root-inside", bind_dst);
    cr_assert(stat(file, &fst) == 0);
    cr_expect_eq(fst.st_uid, 0, "the bind mount was crossed");
    r = scan(NULL, "--json");
    cr_expect_eq(r.status, 0, "findings left: %s\n%s", r.out, r.err);
    run_result_free(&r);
}
