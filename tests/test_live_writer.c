/* test_live_writer: writer attribution in the live daemon on the fanotify backend (issue 14;
 * this binary runs inside tests/journald-ns.sh): a root-owned file written by root names its
 * writer (PERMWATCH_WRITER_PID, _COMM, _UID=0), a www-data writer's mode_mismatch names uid 33,
 * an auto-repair's `repaired` entry names the writer, and 100 root files from one process give
 * exactly one root_writer finding, listed by `findings --kind root_writer`, ranked in `status`
 * and counted in `metrics`. Unit names need a real systemd (PID 1): here the writer has none
 * and is ranked by its command; the nspawn tests check PERMWATCH_WRITER_UNIT. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

/* A site of www-data (uploads), the standard rule with REPAIR on the fanotify backend. */
static void start(struct site *s, const char *repair)
{
    site_init(s, "live-writer");
    site_make_uploads(s);
    site_policy(s,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 0\nbackend = fanotify\n[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
                "file_require = 0660\ndir_require = 0770\nrepair = %s\n",
                s->root, s->sock, repair);
    site_start(s, NULL, 20000);
}

/* Run "sh -c SCRIPT" (prefixed by setpriv as www-data when AS_WWW) in the background; it
 * stays alive (the script ends in a sleep) so that its pidfd resolves. Returns its pid. */
static pid_t writer(bool as_www, const char *script)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (as_www)
            execlp("setpriv", "setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups",
                   "sh", "-c", script, (char *)NULL);
        else
            execlp("sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Lines of S (each ending in a newline). */
static size_t lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

Test(live_writer, root_file_names_its_writer)
{
    struct site s;
    start(&s, "manual");
    char path[PATH_MAX], script[PATH_MAX + 64], pid_s[16];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/by-root.php", s.root);
    snprintf(script, sizeof(script), "umask 002; echo x > '%s'; sleep 5", path);
    pid_t pid = writer(false, script);
    snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
    json_t *e = site_expect_entry(&s, 5000, "no root_owned finding", "PERMWATCH_EVENT", "finding",
                                  "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH", path, NULL);
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_PID"), pid_s);
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_COMM"), "sh");
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_UID"), "0");
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_USER"), "root");
    cr_expect(strstr(live_field(e, "MESSAGE"), "(written by pid "), "%s", live_field(e, "MESSAGE"));
    reap(pid);
    site_stop(&s);
    site_free(&s);
}

Test(live_writer, www_data_writer_is_uid_33)
{
    struct site s;
    start(&s, "manual");
    char path[PATH_MAX], script[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/by-www.php", s.root);
    snprintf(script, sizeof(script), "umask 022; echo x > '%s'; sleep 5", path);
    pid_t pid = writer(true, script);
    json_t *e =
        site_expect_entry(&s, 5000, "no mode_mismatch finding", "PERMWATCH_EVENT", "finding",
                          "PERMWATCH_FINDING", "mode_mismatch", "PERMWATCH_PATH", path, NULL);
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_UID"), "33");
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_USER"), "www-data");
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_COMM"), "sh");
    reap(pid);
    site_stop(&s);
    site_free(&s);
}

Test(live_writer, auto_repair_names_the_writer)
{
    struct site s;
    start(&s, "auto");
    char path[PATH_MAX], script[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/fixed.php", s.root);
    snprintf(script, sizeof(script), "umask 002; echo x > '%s'; sleep 5", path);
    pid_t pid = writer(false, script);
    json_t *e = site_expect_entry(&s, 5000, "no repaired entry", "PERMWATCH_EVENT", "repaired",
                                  "PERMWATCH_PATH", path, NULL);
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_COMM"), "sh");
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_UID"), "0");
    cr_expect(strstr(live_field(e, "MESSAGE"), "(written by pid "), "%s", live_field(e, "MESSAGE"));
    reap(pid);
    site_stop(&s);
    site_free(&s);
}

Test(live_writer, hundred_root_files_from_one_process_one_root_writer)
{
    struct site s;
    start(&s, "manual");
    char script[PATH_MAX + 128];
    snprintf(script, sizeof(script),
             "umask 002; i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo x > '%s/r'$i.php; done; "
             "sleep 10",
             s.root);
    pid_t pid = writer(false, script);
    json_t *e = site_expect_entry(&s, 10000, "no root_writer finding", "PERMWATCH_EVENT", "finding",
                                  "PERMWATCH_FINDING", "root_writer", NULL);
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_COMM"), "sh");
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_UID"), "0");
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITES"), "10");
    cr_expect(strstr(live_field(e, "MESSAGE"), "command sh (user root, uid 0) keeps writing "
                                               "root-owned files: 10 within 10m"),
              "%s", live_field(e, "MESSAGE"));
    /* all 100 seen, still one root_writer */
    for (int i = 0; i < 100; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/r%d.php", s.root, i + 1);
        site_expect_entry(&s, 5000, "a root file without its finding", "PERMWATCH_FINDING",
                          "root_owned", "PERMWATCH_PATH", path, NULL);
    }
    live_settle(s.d, 300);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_FINDING", "root_writer", NULL), 1);

    json_t *st = site_status_json(&s);
    json_t *top = json_array_get(json_object_get(st, "root_writers"), 0);
    cr_assert(top, "status has no root_writers");
    cr_expect_str_eq(json_string_value(json_object_get(top, "unit")), "sh");
    cr_expect_eq(json_integer_value(json_object_get(top, "count")), 100);
    cr_expect(json_is_true(json_object_get(top, "root_writer")));
    cr_expect_eq(json_integer_value(json_object_get(st, "root_writer")), 1);
    json_decref(st);

    struct run_result r = site_ctl(&s, "--json findings --kind root_writer");
    cr_expect_eq(r.status, 1, "findings present: %s", r.err);
    cr_expect_eq(lines(r.out), 1, "%s", r.out);
    cr_expect(strstr(r.out, "\"writer_comm\":\"sh\""), "%s", r.out);
    run_result_free(&r);
    r = site_ctl(&s, "metrics");
    cr_expect(strstr(r.out, "permwatch_root_writes_total{unit=\"sh\",kind=\"none\",uid=\"0\"} 100"),
              "%s", r.out);
    cr_expect(strstr(r.out, "permwatch_open_findings{kind=\"root_writer\"} 1"), "%s", r.out);
    run_result_free(&r);
    r = site_ctl(&s, "status");
    cr_expect(strstr(r.out, "  sh (no unit, uid 0 root): 100 root-owned writes"), "%s", r.out);
    run_result_free(&r);
    reap(pid);
    site_stop(&s);
    site_free(&s);
}

Test(live_writer, a_command_name_with_quotes_is_escaped_in_metrics)
{
    struct site s;
    start(&s, "manual");
    char link[PATH_MAX], script[PATH_MAX + 128];
    snprintf(link, sizeof(link), "%s/a\"b\\c", s.dir); /* comm a"b\c */
    cr_assert_eq(symlink("/bin/sh", link), 0);
    snprintf(script, sizeof(script),
             "umask 002; i=0; while [ $i -lt 10 ]; do i=$((i+1)); echo x > '%s/q'$i.php; done; "
             "sleep 10",
             s.root);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        execl(link, "a\"b\\c", "-c", script, (char *)NULL);
        _exit(127);
    }
    json_t *e = site_expect_entry(&s, 10000, "no root_writer finding", "PERMWATCH_EVENT", "finding",
                                  "PERMWATCH_FINDING", "root_writer", NULL);
    cr_expect_str_eq(live_field(e, "PERMWATCH_WRITER_COMM"), "a\"b\\c");
    struct run_result r = site_ctl(&s, "metrics");
    cr_expect(strstr(r.out, "permwatch_root_writes_total{unit=\"a\\\"b\\\\c\",kind=\"none\","
                            "uid=\"0\"} 10\n"),
              "%s", r.out);
    run_result_free(&r);
    json_t *st = site_status_json(&s);
    json_t *top = json_array_get(json_object_get(st, "root_writers"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(top, "unit")), "a\"b\\c");
    json_decref(st);
    reap(pid);
    site_stop(&s);
    site_free(&s);
}
