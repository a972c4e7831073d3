/* test_live_kinds: the live daemon (this binary runs inside tests/journald-ns.sh) on what is
 * not an ordinary file (issue 9, item 6): a root device node (`mknod c 1 3`, 0666), a FIFO and
 * a unix socket in uploads are `special_file` findings, at start and when created, never
 * repaired; a root 4755 binary is a `setid` finding, and with `repair = auto` it becomes a
 * www-data file without any set-id bit, the `repaired` entry saying "setuid bit removed". */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"

struct env {
    char *dir;
    char site[PATH_MAX / 2], sock[PATH_MAX / 2], ini[PATH_MAX];
    struct live *d;
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
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

/* Bind a unix socket at PATH (as the caller, root) and close it: the file stays. */
static void make_socket(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert(s >= 0 && strlen(path) < sizeof(sa.sun_path), "socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    cr_assert(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", path,
              strerror(errno));
    close(s);
}

/* A site with uploads, a policy with one rule (repair = REPAIR), and, before the daemon
 * starts, PRE_SH run in the site (NULL: nothing). */
static void env_start(struct env *e, const char *repair, const char *pre_sh)
{
    memset(e, 0, sizeof(*e));
    e->dir = harness_tempdir("live-kinds");
    snprintf(e->site, sizeof(e->site), "%s/site", e->dir);
    snprintf(e->sock, sizeof(e->sock), "%s/control.sock", e->dir);
    snprintf(e->ini, sizeof(e->ini), "%s/policy.ini", e->dir);
    sh("set -e; umask 002; mkdir -p '%s/wp-content/uploads'; chown -R www-data:www-data '%s'",
       e->site, e->site);
    if (pre_sh)
        sh("cd '%s' && %s", e->site, pre_sh);
    char text[4096];
    snprintf(text, sizeof(text),
             "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
             "log_burst = 0\n[dispatch]\nchannels_file = none.php\n"
             "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
             "file_require = 0660\ndir_require = 0770\nrepair = %s\n",
             e->site, e->sock, repair);
    harness_write_file(e->ini, text);
    e->d = live_start(e->ini, NULL);
    if (!live_wait_notify(e->d, "READY=1", 20000)) {
        live_dump(e->d);
        cr_assert_fail("no READY=1");
    }
}

static void env_stop(struct env *e)
{
    int rc = live_stop(e->d);
    if (rc)
        live_dump(e->d);
    cr_expect_eq(rc, 0);
    live_free(e->d);
    harness_rmtree(e->dir);
    free(e->dir);
}

/* Wait for the special_file finding of PATH and check its fields; REASON_HEAD starts its
 * reason ("a FIFO", ...). */
static void expect_special(struct env *e, const char *path, const char *uid, const char *mode,
                           const char *reason_head)
{
    json_t *f = live_wait_entry(e->d, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                "special_file", "PERMWATCH_PATH", path, NULL);
    if (!f)
        live_dump(e->d);
    cr_assert_not_null(f, "no special_file finding for %s", path);
    cr_expect_str_eq(live_field(f, "MESSAGE_ID"), "902065edd8f2441c8d2949d308b0e3d2");
    cr_expect_str_eq(live_field(f, "PRIORITY"), "4");
    cr_expect_str_eq(live_field(f, "PERMWATCH_UID"), uid);
    if (mode)
        cr_expect_str_eq(live_field(f, "PERMWATCH_MODE"), mode);
    const char *reason = live_field(f, "PERMWATCH_REASON");
    cr_expect(reason && !strncmp(reason, reason_head, strlen(reason_head)), "%s: reason %s", path,
              reason ? reason : "(none)");
}

Test(live_kinds, device_fifo_and_socket_are_special_file_findings_never_repaired)
{
    struct env e;
    /* one FIFO before the start: found by the first crawl */
    env_start(&e, "auto", "mkfifo -m 0644 wp-content/uploads/early.fifo");
    char early[PATH_MAX], dev[PATH_MAX], fifo[PATH_MAX], sock[PATH_MAX], wfifo[PATH_MAX];
    snprintf(early, sizeof(early), "%s/wp-content/uploads/early.fifo", e.site);
    snprintf(dev, sizeof(dev), "%s/wp-content/uploads/null", e.site);
    snprintf(fifo, sizeof(fifo), "%s/wp-content/uploads/fifo", e.site);
    snprintf(sock, sizeof(sock), "%s/wp-content/uploads/sock", e.site);
    snprintf(wfifo, sizeof(wfifo), "%s/wp-content/uploads/web.fifo", e.site);
    expect_special(&e, early, "0", "0644", "a FIFO;");

    /* while it runs: a root device node like /dev/null, a FIFO, a socket, and a FIFO of the
     * web user (a site needs none, whoever made it) */
    /* (made outside and moved in: one event, no chmod after the create) */
    sh("cd '%s' && mknod -m 0666 null c 1 3 && mkfifo -m 0600 fifo && mv null '%s' && "
       "mv fifo '%s'",
       e.dir, dev, fifo);
    make_socket(sock);
    sh("setpriv --reuid=www-data --regid=www-data --init-groups sh -c \"umask 002; "
       "mkfifo -m 0660 '%s'\"",
       wfifo);
    expect_special(&e, dev, "0", "0666", "a character device (device 1:3);");
    expect_special(&e, fifo, "0", "0600", "a FIFO;");
    expect_special(&e, sock, "0", NULL, "a socket;");
    expect_special(&e, wfifo, "33", "0660", "a FIFO;");

    /* never repaired, no repair attempted (nor refused), and no other kind of finding */
    live_settle(e.d, 500);
    const char *paths[] = {early, dev, fifo, sock, wfifo};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        cr_expect_eq(live_count_entries(e.d, "PERMWATCH_PATH", paths[i], NULL),
                     live_count_entries(e.d, "PERMWATCH_PATH", paths[i], "PERMWATCH_FINDING",
                                        "special_file", NULL),
                     "%s: an entry other than its special_file finding", paths[i]);
        cr_expect_eq(live_count_entries(e.d, "PERMWATCH_PATH", paths[i], NULL), 1, "%s", paths[i]);
    }
    struct stat st;
    cr_assert_eq(lstat(dev, &st), 0);
    cr_expect(S_ISCHR(st.st_mode) && st.st_uid == 0 && (st.st_mode & 07777) == 0666);
    cr_assert_eq(lstat(fifo, &st), 0);
    cr_expect(S_ISFIFO(st.st_mode) && st.st_uid == 0 && (st.st_mode & 07777) == 0600);

    /* removed: the finding is resolved */
    sh("rm '%s'", dev);
    cr_expect_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "resolved",
                                       "PERMWATCH_FINDING", "special_file", "PERMWATCH_PATH", dev,
                                       NULL));
    env_stop(&e);
}

Test(live_kinds, root_setuid_binary_is_a_setid_finding_and_auto_repair_strips_it)
{
    struct env e;
    env_start(&e, "auto", NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/rootshell", e.site);
    /* made whole outside the site and moved in: one event, no chmod racing the repair */
    sh("cp /bin/true '%s/rootshell.tmp' && chmod 4755 '%s/rootshell.tmp' && "
       "mv '%s/rootshell.tmp' '%s'",
       e.dir, e.dir, e.dir, path);
    json_t *r =
        live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "repaired", "PERMWATCH_PATH", path, NULL);
    if (!r)
        live_dump(e.d);
    cr_assert_not_null(r);
    cr_expect_str_eq(live_field(r, "PERMWATCH_OLD_MODE"), "4755");
    cr_expect_str_eq(live_field(r, "PERMWATCH_MODE"), "0775"); /* was 4775: set-id kept */
    cr_expect_str_eq(live_field(r, "PERMWATCH_UID"), "33");
    cr_expect_str_eq(live_field(r, "PERMWATCH_REASON"), "setuid bit removed");
    const char *msg = live_field(r, "MESSAGE");
    cr_expect(msg && strstr(msg, "mode 4755 -> 0775, setuid bit removed"), "%s",
              msg ? msg : "(none)");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_uid, 33);
    cr_expect_eq(st.st_gid, 33);
    cr_expect_eq(st.st_mode & 07777, 0775, "mode %04o", (unsigned)(st.st_mode & 07777));
    env_stop(&e);
}

Test(live_kinds, setid_finding_without_auto_repair)
{
    struct env e;
    env_start(&e, "manual", NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/wp-content/uploads/rootshell", e.site);
    sh("cp /bin/true '%s/rootshell.tmp' && chmod 4755 '%s/rootshell.tmp' && "
       "mv '%s/rootshell.tmp' '%s'",
       e.dir, e.dir, e.dir, path);
    json_t *f = live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                "setid", "PERMWATCH_PATH", path, NULL);
    if (!f)
        live_dump(e.d);
    cr_assert_not_null(f);
    cr_expect_str_eq(live_field(f, "MESSAGE_ID"), "7690c02abebb4d2e98d7fb6b769d6eb1");
    cr_expect_str_eq(live_field(f, "PERMWATCH_MODE"), "4755");
    cr_expect_str_eq(live_field(f, "PERMWATCH_UID"), "0");
    /* a setgid directory of the web user is normal: no setid finding */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/wp-content/uploads/2026", e.site);
    sh("mkdir '%s/2026' && chown www-data:www-data '%s/2026' && chmod 2775 '%s/2026' && "
       "mv '%s/2026' '%s'",
       e.dir, e.dir, e.dir, e.dir, dir);
    live_settle(e.d, 500);
    if (live_count_entries(e.d, "PERMWATCH_PATH", dir, NULL))
        live_dump(e.d);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_PATH", dir, NULL), 0);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_FINDING", "setid", NULL), 1);
    env_stop(&e);
}
