/* Repair engine: unit tests of repair_plan and the fight guard; integration tests of the real
 * `permwatchd --scan --repair [--dry-run]` on the fixture site, and attacks on the engine on
 * the real kernel: a directory and a file swapped for symlinks to the outside in a tight loop
 * while repairs run, a hardlink to a root-owned file outside (fs.protected_hardlinks=0, set
 * in a trap that restores it), set-id bits, FIFOs, sockets and devices. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "repair.h"

/* --- helpers ------------------------------------------------------------------------------ */

static struct config *load(const char *text)
{
    struct config *c;
    struct config_error err;
    char buf[1024];
    cr_assert(config_load_string(text, "test.ini", &c, &err) == 0, "%s",
              config_error_format(&err, buf, sizeof(buf)));
    return c;
}

static struct stat mkstat(mode_t mode, uid_t uid, gid_t gid)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_mode = mode;
    st.st_uid = uid;
    st.st_gid = gid;
    return st;
}

static const char policy_text[] = "[site]\nroot = /srv/site\n"
                                  "[rule frozen]\nmatch = frozen/**\nowner = www-data\n"
                                  "file_require = 0660\nrepair = never\n"
                                  "[rule skip]\nmatch = cache/**\nignore = yes\n"
                                  "[rule site]\nmatch = **\nowner = www-data, root\n"
                                  "group = www-data\nfile_require = 0660\nfile_forbid = 0002\n"
                                  "dir_require = 0770\ndir_forbid = 0002\nrepair = auto\n";

/* --- repair_plan -------------------------------------------------------------------------- */

Test(repair_plan, owner_group_mode_targets)
{
    struct config *c = load(policy_text);
    const struct rule *site = &c->rules[2];
    /* config refuses set-id bits in file_require; a hand-made rule checks the engine anyway */
    struct rule suid = *site;
    suid.file_require = 06660;
    uid_t www = site->owners[0];
    gid_t wwwg = site->groups[0];
    uid_t u;
    gid_t g;
    mode_t m;

    /* root is an allowed owner here: the owner stays, the group and mode change */
    struct stat st = mkstat(S_IFREG | 0644, 0, 0);
    cr_expect(repair_plan(site, &st, &u, &g, &m));
    cr_expect_eq(u, 0);
    cr_expect_eq(g, wwwg);
    cr_expect_eq(m, 0664);

    /* a stranger owner goes to owners[0] */
    st = mkstat(S_IFREG | 0666, 1234, wwwg);
    cr_expect(repair_plan(site, &st, &u, &g, &m));
    cr_expect_eq(u, www);
    cr_expect_eq(g, wwwg);
    cr_expect_eq(m, 0664, "world write dropped: %o", m);

    /* nothing to do */
    st = mkstat(S_IFREG | 0660, www, wwwg);
    cr_expect_not(repair_plan(site, &st, &u, &g, &m));
    cr_expect(u == www && g == wwwg && m == 0660);

    /* a setgid directory keeps its bit */
    st = mkstat(S_IFDIR | 02755, 0, 0);
    cr_expect(repair_plan(site, &st, &u, &g, &m));
    cr_expect_eq(m, 02775, "%o", m);

    /* setuid/setgid never added to a file, even when required */
    st = mkstat(S_IFREG | 0644, 1234, 0);
    cr_expect(repair_plan(&suid, &st, &u, &g, &m));
    cr_expect_eq(m, 0664, "%o", m);
    cr_expect_eq(u, www);

    /* special files are never planned */
    const mode_t specials[] = {S_IFIFO | 0644, S_IFSOCK | 0644, S_IFCHR | 0644, S_IFBLK | 0644,
                               S_IFLNK | 0777};
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
        st = mkstat(specials[i], 1234, 0);
        cr_expect_not(repair_plan(site, &st, &u, &g, &m), "type %o", specials[i]);
        cr_expect(u == 1234 && g == 0 && m == (specials[i] & 07777));
    }
    config_free(c);
}

/* Issue 9: a root 4755 binary was planned to www-data:www-data 4775 (set-id kept, group
 * writable). Now every set-id bit of a file goes, and the report says so. */
Test(repair_plan, setid_bits_of_files_always_removed)
{
    struct config *c = load(policy_text);
    const struct rule *site = &c->rules[2];
    uid_t www = harness_uid("www-data"), u;
    gid_t wwwg = harness_gid("www-data"), g;
    mode_t m;
    struct stat st = mkstat(S_IFREG | 04755, 0, 0);
    cr_expect(repair_plan(site, &st, &u, &g, &m));
    cr_expect_eq(u, 0); /* root is an allowed owner in this policy */
    cr_expect_eq(g, wwwg);
    cr_expect_eq(m, 0775, "%o", m);
    /* owned by an allowed user, only the set-id bits wrong: still planned */
    st = mkstat(S_IFREG | 06664, www, wwwg);
    cr_expect(repair_plan(site, &st, &u, &g, &m));
    cr_expect(u == www && g == wwwg && m == 0664, "%o", m);
    /* a setgid directory is fine */
    st = mkstat(S_IFDIR | 02775, www, wwwg);
    cr_expect_not(repair_plan(site, &st, &u, &g, &m));

    struct repair_report rep = {.outcome = REPAIR_CHANGED,
                                .path = "/srv/site/x",
                                .rule = "site",
                                .old_uid = 0,
                                .new_uid = www,
                                .old_gid = 0,
                                .new_gid = wwwg,
                                .old_mode = 04755,
                                .new_mode = 0775};
    char buf[512], want[512];
    snprintf(want, sizeof(want),
             "repaired /srv/site/x: owner 0 -> %u, group 0 -> %u, mode 4755 -> 0775, setuid bit "
             "removed (rule site)",
             (unsigned)www, (unsigned)wwwg);
    cr_expect_str_eq(repair_format(&rep, buf, sizeof(buf)), want);
    cr_expect_str_eq(repair_setid_note(&rep), "setuid bit removed");
    rep.old_mode = 02775;
    cr_expect_str_eq(repair_setid_note(&rep), "setgid bit removed");
    rep.old_mode = 06775;
    cr_expect_str_eq(repair_setid_note(&rep), "setuid and setgid bits removed");
    rep.old_mode = 0755;
    cr_expect_null(repair_setid_note(&rep));
    rep.old_mode = 02755;
    rep.new_mode = 02775; /* a directory keeping its setgid */
    cr_expect_null(repair_setid_note(&rep));
    rep.old_mode = 04755;
    rep.new_mode = 0775;
    rep.outcome = REPAIR_REFUSED;
    rep.reason = "chown failed";
    cr_expect_null(repair_setid_note(&rep));
    config_free(c);
}

Test(repair_plan, never_ignore_and_null_rules_plan_nothing)
{
    struct config *c = load(policy_text);
    struct stat st = mkstat(S_IFREG | 0600, 1234, 1234);
    uid_t u;
    gid_t g;
    mode_t m;
    cr_expect_not(repair_plan(&c->rules[0], &st, &u, &g, &m)); /* repair = never */
    cr_expect(u == 1234 && g == 1234 && m == 0600);
    cr_expect_not(repair_plan(&c->rules[1], &st, &u, &g, &m)); /* ignore */
    cr_expect_not(repair_plan(NULL, &st, &u, &g, &m));
    config_free(c);
}

Test(repair_plan, kinds_fixed_name_what_the_change_clears_most_important_first)
{
    /* owner www-data only (root not allowed), group www-data, files 0660 */
    struct config *c = load("[site]\nroot = /srv/site\n[rule site]\nmatch = **\n"
                            "owner = www-data\ngroup = www-data\nfile_require = 0660\n"
                            "repair = auto\n");
    const struct rule *r = &c->rules[0];
    uid_t www = r->owners[0];
    gid_t wwwg = r->groups[0];
    enum finding_kind k[FINDING_KIND_COUNT];
    struct stat st = mkstat(S_IFREG | 04644, 0, 0);
    uid_t u;
    gid_t g;
    mode_t m;
    cr_assert(repair_plan(r, &st, &u, &g, &m));
    size_t n = repair_kinds_fixed(c, r, -1, "", &st, u, g, m, k);
    cr_assert_eq(n, 4);
    cr_expect_eq(k[0], FINDING_ROOT_OWNED);
    cr_expect_eq(k[1], FINDING_GROUP_MISMATCH);
    cr_expect_eq(k[2], FINDING_MODE_MISMATCH);
    cr_expect_eq(k[3], FINDING_SETID);
    struct repair_report rep = {.kinds = k, .nkinds = n};
    char buf[128];
    cr_expect_str_eq(repair_kinds_join(&rep, ",", buf, sizeof(buf)),
                     "root_owned,group_mismatch,mode_mismatch,setid");
    cr_expect_str_eq(repair_kinds_join(&rep, ",", buf, 12), "root_owned,");
    /* only the owner wrong: one kind; a change that clears nothing: none */
    st = mkstat(S_IFREG | 0660, 0, wwwg);
    cr_assert(repair_plan(r, &st, &u, &g, &m));
    cr_expect_eq(repair_kinds_fixed(c, r, -1, "", &st, u, g, m, k), 1);
    cr_expect_eq(k[0], FINDING_ROOT_OWNED);
    st = mkstat(S_IFREG | 0660, www, wwwg);
    cr_expect_eq(repair_kinds_fixed(c, r, -1, "", &st, www, wwwg, 0660, k), 0);
    rep.nkinds = 0;
    cr_expect_str_eq(repair_kinds_join(&rep, ",", buf, sizeof(buf)), "");
    config_free(c);
}

/* --- the fight guard ---------------------------------------------------------------------- */

#define SEC 1000000ULL

Test(repair_guard, trips_once_after_n_repairs_in_the_window_then_resumes)
{
    struct repair_guard *g = repair_guard_new(3, 60 * SEC, 600 * SEC);
    cr_assert(g);
    char reason[256];
    const char *p = "/srv/site/wp-content/x.php";
    for (int i = 0; i < 3; i++)
        cr_expect_eq(repair_guard_note(g, p, 100 * SEC + i * SEC, "re-created as root", reason,
                                       sizeof(reason)),
                     REPAIR_GUARD_ALLOW);
    /* another path is independent */
    cr_expect_eq(repair_guard_note(g, "/srv/site/other", 103 * SEC, NULL, reason, sizeof(reason)),
                 REPAIR_GUARD_ALLOW);
    cr_expect_eq(repair_guard_note(g, p, 110 * SEC, "re-created as root", reason, sizeof(reason)),
                 REPAIR_GUARD_TRIPPED);
    cr_expect_str_eq(reason, "re-created as root 4 times in 60s: another process keeps undoing "
                             "the repair; auto-repair paused for 10m");
    /* paused: refused, already said */
    cr_expect_eq(repair_guard_note(g, p, 300 * SEC, "re-created as root", reason, sizeof(reason)),
                 REPAIR_GUARD_PAUSED);
    cr_expect(strstr(reason, "paused for 10m"));
    /* the pause is over: repaired again, counting afresh */
    for (int i = 0; i < 3; i++)
        cr_expect_eq(repair_guard_note(g, p, 711 * SEC + i * SEC, NULL, NULL, 0),
                     REPAIR_GUARD_ALLOW);
    cr_expect_eq(repair_guard_note(g, p, 714 * SEC, NULL, reason, sizeof(reason)),
                 REPAIR_GUARD_TRIPPED);
    cr_expect(strncmp(reason, "needed repair 4 times in 60s", 28) == 0, "%s", reason);
    repair_guard_free(g);
}

Test(repair_guard, sliding_window_and_prune)
{
    struct repair_guard *g = repair_guard_new(3, 60 * SEC, 600 * SEC);
    cr_assert(g);
    /* every 25 s: never 4 within 60 s */
    for (int i = 0; i < 20; i++)
        cr_expect_eq(repair_guard_note(g, "/a", (uint64_t)i * 25 * SEC, NULL, NULL, 0),
                     REPAIR_GUARD_ALLOW, "note %d", i);
    /* 4 within 60 s straddling any fixed window boundary: trips */
    uint64_t t = 1000 * SEC;
    cr_expect_eq(repair_guard_note(g, "/b", t + 50 * SEC, NULL, NULL, 0), REPAIR_GUARD_ALLOW);
    cr_expect_eq(repair_guard_note(g, "/b", t + 59 * SEC, NULL, NULL, 0), REPAIR_GUARD_ALLOW);
    cr_expect_eq(repair_guard_note(g, "/b", t + 61 * SEC, NULL, NULL, 0), REPAIR_GUARD_ALLOW);
    cr_expect_eq(repair_guard_note(g, "/b", t + 70 * SEC, NULL, NULL, 0), REPAIR_GUARD_TRIPPED);
    cr_expect_eq(repair_guard_prune(g, t + 71 * SEC), 1, "/a expired, /b paused");
    cr_expect_eq(repair_guard_prune(g, t + 2000 * SEC), 0);
    cr_expect_eq(repair_guard_note(g, "/b", t + 2001 * SEC, NULL, NULL, 0), REPAIR_GUARD_ALLOW);
    repair_guard_free(g);
}

/* --- integration: the fixture site ------------------------------------------------------- */

static char *tmp, site[512], ini[512], outside[512], daemon_bin[512];

static void setup_site(void)
{
    tmp = harness_tempdir("repair");
    snprintf(site, sizeof(site), "%s/site", tmp);
    snprintf(ini, sizeof(ini), "%s/site.ini", tmp);
    snprintf(outside, sizeof(outside), "%s/outside", tmp);
    harness_build_path("permwatchd", daemon_bin, sizeof(daemon_bin));
    char fixture[512];
    struct run_result r;
    cr_assert(harness_sh(&r, "sh '%s' '%s' '%s'",
                         harness_tests_path("wp-fixture.sh", fixture, sizeof(fixture)), site,
                         ini) == 0);
    cr_assert_eq(r.status, 0, "fixture failed: %s", r.err);
    run_result_free(&r);
    /* a sibling of the site, root-owned, that nothing may touch */
    cr_assert(harness_sh(&r,
                         "mkdir -p '%s/sub' && echo s >'%s/secret' && echo t >'%s/sub/t' && "
                         "chmod 0644 '%s/secret' && chmod 0600 '%s/sub/t' && chmod 0755 '%s'",
                         outside, outside, outside, outside, outside, outside) == 0 &&
              r.status == 0);
    run_result_free(&r);
}

static void teardown_site(void)
{
    harness_rmtree(tmp);
    free(tmp);
}

/* "path uid gid mode" of every object below DIR, sorted (malloc'd). */
static char *snapshot(const char *dir)
{
    struct run_result r;
    cr_assert(harness_sh(&r, "find '%s' -printf '%%p %%U %%G %%m %%y\\n' | LC_ALL=C sort", dir) ==
              0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    free(r.err);
    return r.out;
}

static struct run_result run_daemon(const char *a1, const char *a2, const char *a3)
{
    struct run_result r;
    char *argv[] = {daemon_bin, "-c",       ini, "--log-target", "stderr", (char *)a1,
                    (char *)a2, (char *)a3, NULL};
    cr_assert(harness_run(argv, &r) == 0, "cannot run %s", daemon_bin);
    return r;
}

static void expect_owner_mode(const char *rel, const char *owner, const char *group, mode_t mode)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", site, rel);
    struct stat st;
    cr_assert(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
    cr_expect_eq(st.st_uid, harness_uid(owner), "%s uid %u", rel, st.st_uid);
    cr_expect_eq(st.st_gid, harness_gid(group), "%s gid %u", rel, st.st_gid);
    cr_expect_eq(st.st_mode & 07777, mode, "%s mode %04o, want %04o", rel, st.st_mode & 07777,
                 mode);
}

TestSuite(oneshot, .init = setup_site, .fini = teardown_site);

Test(oneshot, repair_leaves_zero_findings_and_touches_nothing_outside)
{
    char *before_outside = snapshot(outside);
    char *before_cache = snapshot(strcat(strcpy((char[600]){0}, site), "/wp-content/cache"));
    struct run_result r = run_daemon("--scan", "--repair", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s\n%s", r.status, r.err, r.out);
    cr_expect(strstr(r.out, "agent-upload.png: owner 0 -> 33, group 0 -> 33, mode 0644 -> 0664 "
                            "(rule site)"),
              "%s", r.out);
    run_result_free(&r);

    r = run_daemon("--scan", NULL, NULL);
    cr_expect_eq(r.status, 0, "findings left: %s\n%s", r.out, r.err);
    cr_expect_str_eq(r.out, "");
    run_result_free(&r);

    expect_owner_mode("wp-content/uploads/2026/11/agent-upload.png", "www-data", "www-data", 0664);
    expect_owner_mode("wp-content/uploads/2026/11/agent-export", "www-data", "www-data", 02775);
    expect_owner_mode("wp-content/uploads/2026/11/agent-export/report.pdf", "www-data", "www-data",
                      0664);
    expect_owner_mode("wp-content/mu-plugins/wp-coding-agents-cli-transport.php", "opencode",
                      "www-data", 0664);
    expect_owner_mode("wp-content/plugins/agent-plugin/agent-plugin.php", "opencode", "www-data",
                      0664);
    expect_owner_mode("wp-content/uploads/2026", "www-data", "www-data", 02775);
    expect_owner_mode("wp-config.php", "www-data", "www-data", 0640);
    /* ignored subtree and symlinks untouched */
    expect_owner_mode("wp-content/cache/page-1.html", "root", "root", 0644);
    expect_owner_mode("wp-content/uploads/escape", "root", "root", 0777);

    char *after_outside = snapshot(outside);
    char *after_cache = snapshot(strcat(strcpy((char[600]){0}, site), "/wp-content/cache"));
    cr_expect_str_eq(after_outside, before_outside);
    cr_expect_str_eq(after_cache, before_cache);
    free(before_outside);
    free(after_outside);
    free(before_cache);
    free(after_cache);

    /* a second run has nothing to do */
    r = run_daemon("--scan", "--repair", NULL);
    cr_expect_eq(r.status, 0);
    cr_expect_str_eq(r.out, "");
    run_result_free(&r);
}

/* Replace each "would repair " at a line start by "repaired ". */
static char *undry(const char *s)
{
    char *o = malloc(strlen(s) + 1), *w = o;
    const char *p = s;
    while (*p) {
        if ((p == s || p[-1] == '\n') && !strncmp(p, "would repair ", 13)) {
            w += sprintf(w, "repaired ");
            p += 13;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return o;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of S in strcmp order, as one malloc'd string (a walk on several threads reports
 * in no fixed order). */
static char *sorted_lines(const char *s)
{
    char *copy = strdup(s), *save = NULL, *lines[256];
    size_t n = 0;
    for (char *l = strtok_r(copy, "\n", &save); l && n < 256; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    qsort(lines, n, sizeof(*lines), cmp_line);
    char *out = malloc(strlen(s) + 2), *w = out;
    *w = '\0';
    for (size_t i = 0; i < n; i++)
        w += sprintf(w, "%s\n", lines[i]);
    free(copy);
    return out;
}

Test(oneshot, dry_run_changes_nothing_and_prints_exactly_the_real_changes)
{
    char *before = snapshot(tmp);
    struct run_result dry = run_daemon("--scan", "--repair", "--dry-run");
    cr_assert_eq(dry.status, 0, "exit %d: %s", dry.status, dry.err);
    char *after = snapshot(tmp);
    cr_expect_str_eq(after, before, "a dry run changed the tree");
    cr_expect(strstr(dry.out, "would repair "), "%s", dry.out);
    struct run_result real = run_daemon("--scan", "--repair", NULL);
    cr_assert_eq(real.status, 0, "exit %d: %s", real.status, real.err);
    char *undried = undry(dry.out), *expected = sorted_lines(undried),
         *got = sorted_lines(real.out);
    free(undried);
    cr_expect_str_eq(got, expected);
    free(got);
    /* 5 objects need repair in the fixture */
    size_t lines = 0;
    for (const char *p = real.out; *p; p++)
        lines += *p == '\n';
    cr_expect_eq(lines, 5, "%s", real.out);
    free(expected);
    free(before);
    free(after);
    run_result_free(&dry);
    run_result_free(&real);
}

Test(oneshot, setid_bits_specials_and_paths)
{
    struct run_result r;
    /* a root file with setuid (policy keeps it only when the target is an allowed owner:
     * chown clears it, the final mode restores it for the new owner); a setgid root dir;
     * a FIFO, a socket and a device: never touched */
    cr_assert(harness_sh(&r,
                         "cd '%s/wp-content' && mkdir sg && chmod 2755 sg && "
                         "echo x >sg/tool && chmod 0755 sg/tool && "
                         "echo y >world && chmod 0666 world && "
                         "mkfifo fifo && chmod 0644 fifo && mknod dev c 1 3 && chmod 0600 dev",
                         site) == 0 &&
              r.status == 0);
    run_result_free(&r);
    char sock[700];
    snprintf(sock, sizeof(sock), "%s/wp-content/sock", site);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert(strlen(sock) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, sock);
    cr_assert(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "%s", strerror(errno));
    close(s);
    cr_assert(chmod(sock, 0644) == 0);

    r = run_daemon("--scan", "--repair", NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s\n%s", r.status, r.err, r.out);
    run_result_free(&r);
    expect_owner_mode("wp-content/sg", "www-data", "www-data", 02775);
    expect_owner_mode("wp-content/sg/tool", "www-data", "www-data", 0775);
    expect_owner_mode("wp-content/world", "www-data", "www-data", 0664);
    expect_owner_mode("wp-content/fifo", "root", "root", 0644);
    expect_owner_mode("wp-content/dev", "root", "root", 0600);
    expect_owner_mode("wp-content/sock", "root", "root", 0644);

    /* PATH through a symlink or outside: refused, exit 2 */
    char path[700];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/escape/passwd", site);
    r = run_daemon("--scan", "--repair", path);
    cr_expect_eq(r.status, 2, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.err, "symbolic link"), "%s", r.err);
    run_result_free(&r);
    r = run_daemon("--scan", "--repair", "/etc");
    cr_expect_eq(r.status, 2);
    run_result_free(&r);
}

/* Issue 9: a root 4755 binary, a setgid file and a device node, FIFO and socket in uploads.
 * --scan reports setid and special_file; --scan --repair leaves www-data:www-data 0775 with
 * no set-id bit (never group writable with one), says "setuid bit removed", and leaves the
 * special files alone (they stay findings). */
Test(oneshot, setid_files_lose_their_bits_special_files_stay_findings)
{
    struct run_result r;
    cr_assert(harness_sh(&r,
                         "cd '%s/wp-content/uploads' && cp /bin/true suid && chmod 4755 suid && "
                         "echo x >sgid && chown www-data:www-data sgid && chmod 2664 sgid && "
                         "mknod null c 1 3 && chmod 0666 null && mkfifo -m 0644 fifo",
                         site) == 0 &&
                  r.status == 0,
              "%s", r.err);
    run_result_free(&r);
    char sock[700];
    snprintf(sock, sizeof(sock), "%s/wp-content/uploads/sock", site);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert(s >= 0 && strlen(sock) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, sock);
    cr_assert(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "%s", strerror(errno));
    close(s);
    cr_assert(chmod(sock, 0755) == 0);

    r = run_daemon("--scan", NULL, NULL);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    /* "HEAD SITE/wp-content/uploads/TAIL" */
    const char *want[][2] = {
        {"setid: set-id file ", "suid (root:root 4755): setuid: runs with the rights of uid 0 "
                                "(root)"},
        {"setid: set-id file ", "sgid (www-data:www-data 2664): setgid: runs with the rights of "
                                "gid 33"},
        {"special_file: special file ", "null (root:root 0666): a character device (device "
                                        "1:3); a web site needs no device nodes, FIFOs or "
                                        "sockets"},
        {"special_file: special file ", "fifo (root:root 0644): a FIFO;"},
        {"special_file: special file ", "sock (root:root 0755): a socket;"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s%s/wp-content/uploads/%s", want[i][0], site, want[i][1]);
        cr_expect(strstr(r.out, line), "missing '%s' in:\n%s", line, r.out);
    }
    run_result_free(&r);

    r = run_daemon("--scan", "--repair", NULL);
    cr_expect_eq(r.status, 0, "exit %d: %s\n%s", r.status, r.err, r.out);
    char line[1024];
    snprintf(line, sizeof(line),
             "repaired %s/wp-content/uploads/suid: owner 0 -> 33, group 0 -> 33, mode 4755 -> "
             "0775, setuid bit removed (rule site)",
             site);
    cr_expect(strstr(r.out, line), "missing '%s' in:\n%s", line, r.out);
    snprintf(line, sizeof(line),
             "repaired %s/wp-content/uploads/sgid: mode 2664 -> 0664, setgid bit removed (rule "
             "site)",
             site);
    cr_expect(strstr(r.out, line), "missing '%s' in:\n%s", line, r.out);
    cr_expect_null(strstr(r.out, "uploads/null"), "%s", r.out);
    run_result_free(&r);
    expect_owner_mode("wp-content/uploads/suid", "www-data", "www-data", 0775);
    expect_owner_mode("wp-content/uploads/sgid", "www-data", "www-data", 0664);
    expect_owner_mode("wp-content/uploads/null", "root", "root", 0666);
    expect_owner_mode("wp-content/uploads/fifo", "root", "root", 0644);

    /* what is left: the three special files, nothing else */
    r = run_daemon("--scan", NULL, NULL);
    cr_expect_eq(r.status, 1);
    size_t lines = 0;
    for (const char *p = r.out; *p; p++)
        lines += *p == '\n';
    cr_expect_eq(lines, 3, "%s", r.out);
    cr_expect_null(strstr(r.out, "setid"), "%s", r.out);
    run_result_free(&r);
}

/* --- attacks ------------------------------------------------------------------------------ */

/* A site SITE with: swap/ (a real dir with root files) exchanged in a tight loop with swaplink
 * (a symlink to OUTSIDE), and swapf (a real root file) exchanged with swapflink (a symlink to
 * OUTSIDE/secret). */
Test(oneshot, symlink_swap_race_never_touches_the_outside)
{
    struct run_result r;
    cr_assert(harness_sh(&r,
                         "cd '%s' && mkdir swap && echo a >swap/secret && mkdir swap/sub && "
                         "echo b >swap/sub/t && chmod 0644 swap/secret && chmod 0600 swap/sub/t && "
                         "echo c >swapf && chmod 0644 swapf && ln -s '%s' swaplink && "
                         "ln -s '%s/secret' swapflink && chown -R root:root swap swapf",
                         site, outside, outside) == 0 &&
              r.status == 0);
    run_result_free(&r);
    char *before = snapshot(outside);
    char p1[700], p2[700], p3[700], p4[700];
    snprintf(p1, sizeof(p1), "%s/swap", site);
    snprintf(p2, sizeof(p2), "%s/swaplink", site);
    snprintf(p3, sizeof(p3), "%s/swapf", site);
    snprintf(p4, sizeof(p4), "%s/swapflink", site);
    int dfd = open(p1, O_RDONLY | O_DIRECTORY);
    int subfd = openat(dfd, "sub", O_RDONLY | O_DIRECTORY);
    int ffd = open(p3, O_RDONLY);
    cr_assert(dfd >= 0 && subfd >= 0 && ffd >= 0);

    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        for (;;) {
            renameat2(AT_FDCWD, p1, AT_FDCWD, p2, RENAME_EXCHANGE);
            renameat2(AT_FDCWD, p3, AT_FDCWD, p4, RENAME_EXCHANGE);
        }
    }
    struct config *c;
    struct config_error err;
    cr_assert(config_load_file(ini, &c, &err) == 0);
    int root_fd = open(site, O_RDONLY | O_DIRECTORY);
    cr_assert(root_fd >= 0);
    struct repair_options o = {.include_manual = true, .recursive = true};
    uint64_t changed = 0, refused = 0, vanished = 0;
    const int runs = 1000;
    for (int i = 0; i < runs; i++) {
        /* make the real objects root-owned again, wherever the swapper has put them */
        cr_assert(fchown(dfd, 0, 0) == 0 && fchmod(dfd, 0755) == 0 &&
                  fchownat(dfd, "secret", 0, 0, 0) == 0 && fchmodat(dfd, "secret", 0644, 0) == 0 &&
                  fchown(subfd, 0, 0) == 0 && fchownat(subfd, "t", 0, 0, 0) == 0 &&
                  fchown(ffd, 0, 0) == 0 && fchmod(ffd, 0644) == 0);
        struct repair_stats st;
        repair_run(c, root_fd, "", &o, &st);
        changed += st.changed;
        refused += st.refused;
        vanished += st.scan.vanished;
    }
    /* and runs of the real binary against the same race */
    for (int i = 0; i < 20; i++) {
        r = run_daemon("--scan", "--repair", NULL);
        cr_expect(r.status == 0 || r.status == 1, "exit %d: %s", r.status, r.err);
        run_result_free(&r);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char *after = snapshot(outside);
    cr_expect_str_eq(after, before, "the outside changed:\n%s\nwas:\n%s", after, before);
    cr_expect_gt(changed, (uint64_t)runs, "the race left nothing to repair: %llu changes",
                 (unsigned long long)changed);
    cr_log_info("%d runs: %llu changes, %llu refusals, %llu vanished mid-walk", runs,
                (unsigned long long)changed, (unsigned long long)refused,
                (unsigned long long)vanished);
    free(before);
    free(after);
    close(root_fd);
    close(dfd);
    close(subfd);
    close(ffd);
    config_free(c);
}

/* --- hardlink attack: fs.protected_hardlinks=0 for one test, always restored ------------- */

static char saved_hardlinks[16];
static int guardian_pipe = -1;
static pid_t guardian_pid = -1;

static void restore_hardlinks(void)
{
    if (!saved_hardlinks[0])
        return;
    int fd = open("/proc/sys/fs/protected_hardlinks", O_WRONLY);
    if (fd >= 0) {
        ssize_t n = write(fd, saved_hardlinks, strlen(saved_hardlinks));
        (void)n;
        close(fd);
    }
}

static void on_signal(int sig)
{
    restore_hardlinks();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void set_hardlinks(const char *v)
{
    int fd = open("/proc/sys/fs/protected_hardlinks", O_WRONLY);
    cr_assert(fd >= 0, "%s", strerror(errno));
    cr_assert(write(fd, v, strlen(v)) == (ssize_t)strlen(v));
    close(fd);
}

static void hardlink_init(void)
{
    setup_site();
    FILE *f = fopen("/proc/sys/fs/protected_hardlinks", "r");
    cr_assert(f && fgets(saved_hardlinks, sizeof(saved_hardlinks), f));
    fclose(f);
    /* a guardian restores the value when this process dies, however it dies */
    int p[2];
    cr_assert(pipe(p) == 0);
    guardian_pid = fork();
    cr_assert(guardian_pid >= 0);
    if (guardian_pid == 0) {
        close(p[1]);
        char b;
        while (read(p[0], &b, 1) != 0 && errno == EINTR)
            ;
        restore_hardlinks();
        _exit(0);
    }
    close(p[0]);
    guardian_pipe = p[1];
    const int sigs[] = {SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGHUP};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], on_signal);
    set_hardlinks("0\n");
}

static void hardlink_fini(void)
{
    restore_hardlinks();
    if (guardian_pipe >= 0)
        close(guardian_pipe);
    if (guardian_pid > 0)
        waitpid(guardian_pid, NULL, 0);
    teardown_site();
}

struct refusals {
    int n;
    char reason[512];
    char path[512];
};

static void collect(void *ctx, const struct repair_report *rep)
{
    struct refusals *rf = ctx;
    if (rep->outcome != REPAIR_REFUSED)
        return;
    rf->n++;
    snprintf(rf->reason, sizeof(rf->reason), "%s", rep->reason);
    snprintf(rf->path, sizeof(rf->path), "%s", rep->path);
}

TestSuite(hardlink, .init = hardlink_init, .fini = hardlink_fini);

Test(hardlink, link_to_a_root_file_outside_is_refused)
{
    /* www-data plants a hard link to a root-owned file outside (allowed with
     * protected_hardlinks=0): a naive chown -R would hand the file to www-data */
    struct run_result r;
    cr_assert(harness_sh(&r,
                         "setpriv --reuid=www-data --regid=www-data --clear-groups "
                         "ln '%s/secret' '%s/wp-content/uploads/innocent.png'",
                         outside, site) == 0);
    cr_assert_eq(r.status, 0, "www-data could not link: %s", r.err);
    run_result_free(&r);
    char *before = snapshot(outside);

    r = run_daemon("--scan", "--repair", NULL);
    cr_expect_eq(r.status, 1, "exit %d: %s\n%s", r.status, r.err, r.out);
    cr_expect(strstr(r.out, "refused "), "%s", r.out);
    cr_expect(strstr(r.out, "innocent.png: 2 hard links"), "%s", r.out);
    run_result_free(&r);

    /* even with hard links allowed, protected_hardlinks=0 keeps the refusal */
    struct config *c;
    struct config_error err;
    cr_assert(config_load_file(ini, &c, &err) == 0);
    int root_fd = open(site, O_RDONLY | O_DIRECTORY);
    struct refusals rf = {0};
    struct repair_options o = {.include_manual = true,
                               .recursive = true,
                               .allow_hardlinks = true,
                               .report = collect,
                               .ctx = &rf};
    struct repair_stats st;
    cr_assert(repair_run(c, root_fd, "wp-content/uploads", &o, &st) == 0);
    cr_expect_eq(rf.n, 1);
    cr_expect(strstr(rf.reason, "fs.protected_hardlinks=0"), "%s", rf.reason);
    cr_expect(strstr(rf.path, "innocent.png"), "%s", rf.path);
    /* the refusal as a journal-style entry (stderr here) does not crash and carries the path */
    struct repair_report rep = {.outcome = REPAIR_REFUSED,
                                .path = rf.path,
                                .relpath = "x",
                                .rule = "site",
                                .reason = rf.reason};
    struct repair_caller caller = {0, getpid()};
    repair_log(&rep, &caller);
    close(root_fd);
    config_free(c);

    char *after = snapshot(outside);
    cr_expect_str_eq(after, before);
    free(before);
    free(after);
    restore_hardlinks(); /* keep the window short */
}

/* `writable = yes`: a repair gives each writer the write bits of the class it falls in (and
 * the web user read), so a root file repaired on a shared host is writable by the agent. */
Test(repair_plan, writable_rules_give_writers_their_class_bits)
{
    struct config *c =
        load("[site]\nroot = /srv/site\nweb_user = www-data\n"
             "writers = www-data, opencode\n[rule site]\nmatch = **\n"
             "owner = www-data, opencode\ngroup = www-data\nfile_forbid = 0002\n"
             "dir_forbid = 0002\nwritable = yes\nweb_readable = yes\nrepair = auto\n");
    const struct rule *r = &c->rules[0];
    uid_t www = r->owners[0];
    gid_t wwwg = r->groups[0];
    uid_t u;
    gid_t g;
    mode_t m;
    /* root:root 0644 file: www-data owner (w), opencode in group www-data (g+w) */
    struct stat st = mkstat(S_IFREG | 0644, 0, 0);
    cr_assert(repair_plan_access(c, r, &st, &u, &g, &m));
    cr_expect(u == www && g == wwwg, "%u:%u", (unsigned)u, (unsigned)g);
    cr_expect_eq(m, 0664, "%04o", (unsigned)m);
    /* the rule-only plan would have left the group without write */
    cr_assert(repair_plan(r, &st, &u, &g, &m));
    cr_expect_eq(m, 0644, "%04o", (unsigned)m);
    /* a root directory 0700: the owner class keeps rwx (www-data writes and reads), the group
     * class gets w+x for opencode (write and search: what `writable` asks, nothing more) */
    st = mkstat(S_IFDIR | 0700, 0, 0);
    cr_assert(repair_plan_access(c, r, &st, &u, &g, &m));
    cr_expect_eq(m, 0730, "%04o", (unsigned)m);
    /* already right: nothing to change */
    st = mkstat(S_IFREG | 0664, www, wwwg);
    cr_expect_not(repair_plan_access(c, r, &st, &u, &g, &m));
    config_free(c);
    /* a writer outside the group would need world write, which the rule forbids: not added */
    c = load("[site]\nroot = /srv/site\nweb_user = www-data\nwriters = www-data, nobody\n"
             "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\nfile_forbid = 0002\n"
             "writable = yes\nrepair = auto\n");
    r = &c->rules[0];
    st = mkstat(S_IFREG | 0644, 0, 0);
    cr_assert(repair_plan_access(c, r, &st, &u, &g, &m));
    cr_expect_eq(m, 0644, "%04o", (unsigned)m);
    config_free(c);
}
