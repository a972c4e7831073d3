/* test_live_reload: what a reload does with the [daemon] keys (issue 12: control_group was
 * ignored until a restart; a key a reload cannot apply is named in a reload_partial entry),
 * against the real live daemon (this binary runs inside tests/journald-ns.sh). */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

/* The standard policy plus EXTRA lines at the end of [daemon] and control socket SOCK. */
static void policy_with(const struct site *s, const char *sock, const char *extra)
{
    site_policy(s,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 0\n%s[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
                "file_require = 0660\ndir_require = 0770\nrepair = auto\n",
                s->root, sock, extra);
}

/* Issue 12: a reload with a new control_group changes the socket's group and mode at once, and
 * a member of that group can run `permwatchctl status`; a changed control_socket is named in a
 * reload_partial entry (it needs a restart). The old code kept root:root 0600 until a restart
 * and said nothing of control_socket. */
Test(live_reload, control_group_applied_and_control_socket_named)
{
    struct site s;
    site_init(&s, "live-reload");
    site_make_uploads(&s);
    policy_with(&s, s.sock, "");
    site_start(&s, NULL, 15000);
    struct stat st;
    cr_assert(stat(s.sock, &st) == 0, "%s: %s", s.sock, strerror(errno));
    cr_expect_eq(st.st_mode & 07777, 0600);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "'%s' -s '%s' status >/dev/null", s.ctl, s.sock);
    cr_expect_neq(live_as_user("www-data", cmd), 0, "www-data served without control_group");

    policy_with(&s, s.sock, "control_group = www-data\n");
    live_signal(s.d, SIGHUP);
    site_expect_entry(&s, 10000, "no reloaded entry", "PERMWATCH_EVENT", "reloaded", NULL);
    cr_assert(stat(s.sock, &st) == 0);
    cr_expect_eq(st.st_gid, harness_gid("www-data"), "socket group %u", st.st_gid);
    cr_expect_eq(st.st_mode & 07777, 0660, "socket mode %04o", st.st_mode & 07777);
    cr_expect_eq(live_as_user("www-data", cmd), 0, "a member of the new control_group");
    live_settle(s.d, 200);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "reload_partial", NULL), 0);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "site_read_only", NULL), 0,
                 "a writable site is not read-only");

    /* control_group removed again: root's alone */
    policy_with(&s, s.sock, "");
    live_signal(s.d, SIGHUP);
    cr_assert_not_null(live_wait_nth_entry(s.d, 1, 10000, "PERMWATCH_EVENT", "reloaded", NULL));
    cr_assert(stat(s.sock, &st) == 0);
    cr_expect_eq(st.st_gid, 0, "socket group %u", st.st_gid);
    cr_expect_eq(st.st_mode & 07777, 0600, "socket mode %04o", st.st_mode & 07777);
    cr_expect_neq(live_as_user("www-data", cmd), 0, "www-data served after control_group went");

    /* another control_socket: needs a restart, and the reload says so */
    char other[PATH_MAX];
    snprintf(other, sizeof(other), "%s/other.sock", s.dir);
    policy_with(&s, other, "");
    live_signal(s.d, SIGHUP);
    json_t *e = site_expect_entry(&s, 10000, "no reload_partial entry", "PERMWATCH_EVENT",
                                  "reload_partial", "PERMWATCH_KEY", "control_socket", NULL);
    const char *msg = live_field(e, "MESSAGE");
    cr_expect(msg && strstr(msg, "control_socket") && strstr(msg, "restart"), "%s", msg);
    cr_expect(live_field(e, "MESSAGE_ID"), "no MESSAGE_ID");
    cr_expect_eq(live_as_user("root", cmd), 0, "still served on the old socket");
    site_stop(&s);
    site_free(&s);
}

/* Issue 12: a site the daemon cannot change (here a read-only bind mount, as systemd's
 * ProtectSystem=strict makes a site outside ReadWritePaths=) is said at start, once, in a
 * site_read_only entry naming the drop-in, and in status; again at reload. The old code said
 * nothing until every repair failed with "Read-only file system". */
Test(live_reload, read_only_site_said_at_start_and_reload)
{
    cr_assert(unshare(CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
    cr_assert(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    struct site s;
    site_init(&s, "live-rosite");
    site_make_uploads(&s);
    site_policy_standard(&s, "auto");
    cr_assert(mount(s.root, s.root, NULL, MS_BIND, NULL) == 0, "%s", strerror(errno));
    cr_assert(mount(NULL, s.root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0, "%s",
              strerror(errno));
    site_start(&s, NULL, 15000);
    json_t *e = site_expect_entry(&s, 5000, "no site_read_only entry", "PERMWATCH_EVENT",
                                  "site_read_only", NULL);
    const char *msg = live_field(e, "MESSAGE");
    cr_expect(msg && strstr(msg, "ReadWritePaths=") && strstr(msg, "systemctl edit permwatchd") &&
                  strstr(msg, s.root),
              "%s", msg);
    cr_expect(live_field(e, "MESSAGE_ID"), "no MESSAGE_ID");
    live_settle(s.d, 300);
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "site_read_only", NULL), 1, "once");
    json_t *st = site_status_json(&s);
    json_t *row = json_is_array(st) ? json_array_get(st, 0) : st;
    cr_expect(json_is_true(json_object_get(row, "site_read_only")), "status: %s",
              json_dumps(st, 0));
    json_decref(st);
    live_signal(s.d, SIGHUP);
    cr_expect_not_null(
        live_wait_nth_entry(s.d, 1, 10000, "PERMWATCH_EVENT", "site_read_only", NULL),
        "said again at reload");
    site_stop(&s);
    umount2(s.root, MNT_DETACH);
    site_free(&s);
}

/* Issue 12: `permwatchctl reload` (systemd's ExecReload=) waits for the verdict: exit 0 when
 * the policy is applied, also with open findings; exit 1 when it is refused, with the reason
 * naming file:line: [section] key on stderr (systemctl reload then fails and the journal shows
 * it), and the running policy stays; 0 again once the file is fixed. The old client printed
 * a generic line and the reason was only in the daemon's own entry. */
Test(live_reload, ctl_reload_exit_code_and_reason)
{
    struct site s;
    site_init(&s, "live-ctlreload");
    site_make_uploads(&s);
    site_sh("echo x >'%s/wp-content/uploads/root-owned.php'", s.root); /* a finding */
    site_policy_standard(&s, "manual");
    site_start(&s, NULL, 15000);
    site_expect_entry(&s, 5000, "no root_owned finding", "PERMWATCH_FINDING", "root_owned", NULL);

    struct run_result r = site_ctl(&s, "reload");
    cr_expect_eq(r.status, 0, "good policy, open findings: exit %d\n%s%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "done"), "stdout: %s", r.out);
    cr_expect_str_empty(r.err, "stderr: %s", r.err);
    run_result_free(&r);
    site_expect_entry(&s, 5000, "no reloaded entry", "PERMWATCH_EVENT", "reloaded", NULL);

    /* line 13 of the standard policy: file_require */
    site_policy(&s,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 0\n[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
                "file_require = 9x\ndir_require = 0770\nrepair = manual\n",
                s.root, s.sock);
    r = site_ctl(&s, "reload");
    cr_expect_eq(r.status, 1, "refused policy: exit %d\n%s%s", r.status, r.out, r.err);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "permwatchctl: reload refused: %s:13: [rule site] file_require",
             s.ini);
    cr_expect(strstr(r.err, want), "stderr '%s' lacks '%s'", r.err, want);
    cr_expect(strstr(r.out, "refused"), "stdout: %s", r.out);
    run_result_free(&r);
    site_expect_entry(&s, 5000, "no config_error entry", "PERMWATCH_EVENT", "config_error", NULL);
    r = site_ctl(&s, "status");
    cr_expect_eq(r.status, 1, "still running the old policy, findings open: exit %d", r.status);
    run_result_free(&r);

    site_policy_standard(&s, "manual");
    r = site_ctl(&s, "reload");
    cr_expect_eq(r.status, 0, "fixed policy: exit %d\n%s%s", r.status, r.out, r.err);
    run_result_free(&r);
    cr_expect_not_null(live_wait_nth_entry(s.d, 1, 10000, "PERMWATCH_EVENT", "reloaded", NULL));
    site_stop(&s);
    site_free(&s);
}
