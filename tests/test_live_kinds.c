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
#include "harness_site.h"

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
static void env_start(struct site *e, const char *repair, const char *pre_sh)
{
    site_init(e, "live-kinds");
    site_make_uploads(e);
    if (pre_sh)
        site_sh("cd '%s' && %s", e->root, pre_sh);
    site_policy_standard(e, repair);
    site_start(e, NULL, 20000);
}

static void env_stop(struct site *e)
{
    site_stop(e);
    site_free(e);
}

/* A root 4755 copy of /bin/true appears as uploads/rootshell (its path in PATH): made whole
 * outside the site and moved in, one event, no chmod racing a repair. */
static void make_rootshell(const struct site *e, char *path, size_t len)
{
    snprintf(path, len, "%s/wp-content/uploads/rootshell", e->root);
    site_sh("cp /bin/true '%s/rootshell.tmp' && chmod 4755 '%s/rootshell.tmp' && "
            "mv '%s/rootshell.tmp' '%s'",
            e->dir, e->dir, e->dir, path);
}

/* Wait for the special_file finding of PATH and check its fields; REASON_HEAD starts its
 * reason ("a FIFO", ...). */
static void expect_special(struct site *e, const char *path, const char *uid, const char *mode,
                           const char *reason_head)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof(what), "no special_file finding for %s", path);
    json_t *f = site_expect_entry(e, 5000, what, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                  "special_file", "PERMWATCH_PATH", path, NULL);
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
    struct site e;
    /* one FIFO before the start: found by the first crawl */
    env_start(&e, "auto", "mkfifo -m 0644 wp-content/uploads/early.fifo");
    char early[PATH_MAX], dev[PATH_MAX], fifo[PATH_MAX], sock[PATH_MAX], wfifo[PATH_MAX];
    snprintf(early, sizeof(early), "%s/wp-content/uploads/early.fifo", e.root);
    snprintf(dev, sizeof(dev), "%s/wp-content/uploads/null", e.root);
    snprintf(fifo, sizeof(fifo), "%s/wp-content/uploads/fifo", e.root);
    snprintf(sock, sizeof(sock), "%s/wp-content/uploads/sock", e.root);
    snprintf(wfifo, sizeof(wfifo), "%s/wp-content/uploads/web.fifo", e.root);
    expect_special(&e, early, "0", "0644", "a FIFO;");

    /* while it runs: a root device node like /dev/null, a FIFO, a socket, and a FIFO of the
     * web user (a site needs none, whoever made it) */
    /* (made outside and moved in: one event, no chmod after the create) */
    site_sh("cd '%s' && mknod -m 0666 null c 1 3 && mkfifo -m 0600 fifo && mv null '%s' && "
            "mv fifo '%s'",
            e.dir, dev, fifo);
    make_socket(sock);
    site_sh("setpriv --reuid=www-data --regid=www-data --init-groups sh -c \"umask 002; "
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
    site_sh("rm '%s'", dev);
    cr_expect_not_null(live_wait_entry(e.d, 5000, "PERMWATCH_EVENT", "resolved",
                                       "PERMWATCH_FINDING", "special_file", "PERMWATCH_PATH", dev,
                                       NULL));
    env_stop(&e);
}

Test(live_kinds, root_setuid_binary_is_a_setid_finding_and_auto_repair_strips_it)
{
    struct site e;
    env_start(&e, "auto", NULL);
    char path[PATH_MAX];
    make_rootshell(&e, path, sizeof(path));
    json_t *r = site_expect_entry(&e, 5000, "no repaired entry", "PERMWATCH_EVENT", "repaired",
                                  "PERMWATCH_PATH", path, NULL);
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
    struct site e;
    env_start(&e, "manual", NULL);
    char path[PATH_MAX];
    make_rootshell(&e, path, sizeof(path));
    json_t *f = site_expect_entry(&e, 5000, "no setid finding", "PERMWATCH_EVENT", "finding",
                                  "PERMWATCH_FINDING", "setid", "PERMWATCH_PATH", path, NULL);
    cr_expect_str_eq(live_field(f, "MESSAGE_ID"), "7690c02abebb4d2e98d7fb6b769d6eb1");
    cr_expect_str_eq(live_field(f, "PERMWATCH_MODE"), "4755");
    cr_expect_str_eq(live_field(f, "PERMWATCH_UID"), "0");
    /* a setgid directory of the web user is normal: no setid finding */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/wp-content/uploads/2026", e.root);
    site_sh("mkdir '%s/2026' && chown www-data:www-data '%s/2026' && chmod 2775 '%s/2026' && "
            "mv '%s/2026' '%s'",
            e.dir, e.dir, e.dir, e.dir, dir);
    live_settle(e.d, 500);
    if (live_count_entries(e.d, "PERMWATCH_PATH", dir, NULL))
        live_dump(e.d);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_PATH", dir, NULL), 0);
    cr_expect_eq(live_count_entries(e.d, "PERMWATCH_FINDING", "setid", NULL), 1);
    env_stop(&e);
}
