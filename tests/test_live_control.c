/* test_live_control: permwatchctl against the real live daemon's control socket (this binary
 * runs inside tests/journald-ns.sh): every read-only command, scan and reload as root, paths
 * outside the site refused, `nobody` refused, and 200 concurrent clients while 10,000 root
 * files are created, with every finding still logged. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

static void env_start(struct site *e)
{
    site_init(e, "live-control");
    snprintf(e->sock, sizeof(e->sock), "%s/run/control.sock", e->dir);
    site_sh("set -e; umask 002; mkdir -p '%s/wp-content/uploads/many'; "
            "chown -R www-data:www-data '%s'; touch '%s/root-file'",
            e->root, e->root, e->root);
    site_policy(e,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 0\n[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n",
                e->root, e->sock);
    site_start(e, NULL, 20000);
}

static void env_stop(struct site *e)
{
    site_stop(e);
    struct stat st;
    cr_expect_neq(stat(e->sock, &st), 0, "the socket is removed at exit");
    site_free(e);
}

/* Run permwatchctl ARGS (a shell word list) as root; returns the result. */
static struct run_result ctl(const struct site *e, const char *args)
{
    return site_ctl(e, args);
}

Test(live_control, commands_as_root)
{
    struct site e;
    env_start(&e);
    struct run_result r = ctl(&e, "status");
    cr_expect_eq(r.status, 1, "findings are open: exit 1 (%s)", r.err);
    cr_expect(strstr(r.out, "open_findings:") && strstr(r.out, e.root), "%s", r.out);
    run_result_free(&r);

    r = ctl(&e, "--json findings --kind root_owned");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.out, "\"finding\": \"root_owned\"") ||
                  strstr(r.out, "\"finding\":\"root_owned\""),
              "%s", r.out);
    cr_expect(strstr(r.out, "root-file"), "%s", r.out);
    run_result_free(&r);

    r = ctl(&e, "findings /etc");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "outside the site"), "%s", r.err);
    run_result_free(&r);

    /* fixed behind the daemon's back, then an explicit scan closes it */
    struct run_result s;
    cr_assert_eq(harness_sh(&s, "chown www-data:www-data '%s/root-file'", e.root), 0);
    run_result_free(&s);
    cr_assert_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "resolved", NULL));
    char args[PATH_MAX + 16];
    snprintf(args, sizeof(args), "scan '%s'", e.root);
    r = ctl(&e, args);
    cr_expect_eq(r.status, 0, "clean after the fix: %s %s", r.out, r.err);
    run_result_free(&r);

    r = ctl(&e, "metrics");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "permwatch_watched_directories 4"), "%s", r.out);
    cr_expect(strstr(r.out, "permwatch_open_findings{kind=\"root_owned\"} 0"), "%s", r.out);
    run_result_free(&r);

    r = ctl(&e, "dispatch");
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    run_result_free(&r);

    r = ctl(&e, "reload");
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    run_result_free(&r);
    cr_expect_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "reloaded", NULL));

    /* nobody: refused (the socket is root's alone without control_group) */
    struct run_result n;
    cr_assert_eq(
        harness_sh(&n, "setpriv --reuid=nobody --regid=nogroup --clear-groups '%s' -s '%s' status",
                   e.ctl, e.sock),
        0);
    cr_expect_eq(n.status, 4, "%s", n.err);
    run_result_free(&n);
    env_stop(&e);
}

Test(live_control, clients_do_not_stall_detection)
{
    struct site e;
    env_start(&e);
    /* 200 clients at once, while 10,000 root-owned files appear */
    struct run_result r;
    cr_assert_eq(harness_sh(&r,
                            "cd '%s' && for i in $(seq 1 200); do ('%s' -s '%s' status >/dev/null "
                            "2>&1; echo $? >> clients.rc) & done; "
                            "i=0; while [ $i -lt 10000 ]; do : > wp-content/uploads/many/f$i; "
                            "i=$((i+1)); done; wait",
                            e.root, e.ctl, e.sock),
                 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/clients.rc", e.root);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    int rc, n = 0, answered = 0;
    while (fscanf(f, "%d", &rc) == 1) {
        n++;
        answered += rc == 0 || rc == 1;
    }
    fclose(f);
    cr_expect_eq(n, 200);
    cr_expect_eq(answered, 200, "%d of 200 clients answered", answered);
    char last[PATH_MAX];
    snprintf(last, sizeof(last), "%s/wp-content/uploads/many/f9999", e.root);
    cr_assert_not_null(live_wait_entry(e.d, 20000, "PERMWATCH_EVENT", "finding",
                                       "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH", last,
                                       NULL));
    live_settle(e.d, 500);
    size_t found = 0;
    json_t *all = live_entries(e.d), *it;
    size_t i;
    json_array_foreach(all, i, it)
    {
        const char *p = live_field(it, "PERMWATCH_PATH");
        const char *ev = live_field(it, "PERMWATCH_EVENT");
        const char *k = live_field(it, "PERMWATCH_FINDING");
        if (p && ev && k && strcmp(ev, "finding") == 0 && strcmp(k, "root_owned") == 0 &&
            strstr(p, "/uploads/many/f"))
            found++;
    }
    cr_expect_eq(found, 10000, "%zu of 10000 root-owned files logged", found);
    env_stop(&e);
}
