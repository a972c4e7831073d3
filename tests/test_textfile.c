/* test_textfile: permwatchctl metrics --textfile FILE (client_textfile in client.c): every site
 * of a host in one file for the node exporter's textfile collector. Real control servers
 * (helper_control_server, the real control.c) on real unix sockets in a temporary directory
 * stand in for /run/permwatch, a temporary directory with NAME.ini files for /etc/permwatch:
 * HELP/TYPE once per family, every sample labelled site="NAME", a site that does not answer
 * (stale socket, configured but no socket, stuck past the 10 s bound) permwatch_up 0 while the
 * others are written, the file replaced by rename (never half-written, no FILE.tmp left, a
 * planted FILE.tmp link not followed), promtool check metrics accepting it, an unwritable
 * directory exit 1 with the old file intact, usage errors exit 2. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

/* Start helper_control_server on SOCK with metrics text TEXT (NULL: its default) and wait
 * for "ready". Returns its pid. */
static pid_t server_start(const char *sock, const char *text)
{
    char helper[4096];
    harness_build_path("tests/helper_control_server", helper, sizeof(helper));
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(p[1], 1);
        if (text)
            setenv("HELPER_METRICS_TEXT", text, 1);
        execl(helper, helper, sock, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char buf[64] = "";
    size_t n = 0;
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    while (n + 1 < sizeof(buf) && poll(&pfd, 1, 10000) > 0) {
        ssize_t r = read(p[0], buf + n, sizeof(buf) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (strchr(buf, '\n'))
            break;
    }
    close(p[0]);
    cr_assert(strncmp(buf, "ready", 5) == 0, "helper on %s said '%s'", sock, buf);
    return pid;
}

static void server_stop(pid_t pid)
{
    int st;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
}

/* A socket file at PATH nobody listens on (bound, then closed): connect is refused. */
static void stale_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path,
                 strerror(errno));
    close(fd);
}

/* How many times NEEDLE occurs in HAY. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static const char site_a[] = "# HELP permwatch_open_findings Open findings by kind.\n"
                             "# TYPE permwatch_open_findings gauge\n"
                             "permwatch_open_findings{kind=\"root_owned\"} 2\n"
                             "permwatch_open_findings{kind=\"dispatch_unreachable\"} 1\n"
                             "# a comment the file does not need\n"
                             "# HELP permwatch_degraded 1 while out of inotify watches.\n"
                             "# TYPE permwatch_degraded gauge\n"
                             "permwatch_degraded 0\n"
                             "# HELP permwatch_empty_labels x\n"
                             "# TYPE permwatch_empty_labels gauge\n"
                             "permwatch_empty_labels{} 7\n"
                             "# HELP permwatch_build_info The daemon's version.\n"
                             "# TYPE permwatch_build_info gauge\n"
                             "permwatch_build_info{version=\"0.1.0\"} 1\n";

Test(textfile, sites_labels_up)
{
    char *d = harness_tempdir("textfile");
    char run[4096], etc[4096], sock[4096], file[4096], tmp[4096], ini[4096];
    snprintf(run, sizeof(run), "%s/run", d);
    snprintf(etc, sizeof(etc), "%s/etc", d);
    cr_assert_eq(mkdir(run, 0755), 0);
    cr_assert_eq(mkdir(etc, 0755), 0);
    snprintf(sock, sizeof(sock), "%s/a.sock", run);
    pid_t a = server_start(sock, site_a);
    snprintf(sock, sizeof(sock), "%s/b@x.sock", run);
    pid_t b = server_start(sock, NULL); /* "# HELP permwatch_open_findings Open findings." */
    snprintf(sock, sizeof(sock), "%s/c.sock", run);
    stale_socket(sock);
    /* configured, no socket (stopped with its socket unit): still listed, down */
    snprintf(ini, sizeof(ini), "%s/d.ini", etc);
    harness_write_file(ini, "[site]\n");
    /* the single-site policy with instances configured: not a site of its own */
    snprintf(ini, sizeof(ini), "%s/permwatch.ini", etc);
    harness_write_file(ini, "[site]\n");
    snprintf(file, sizeof(file), "%s/permwatch.prom", d);
    snprintf(tmp, sizeof(tmp), "%s/permwatch.prom.tmp", d);
    harness_write_file(file, "old\n");
    struct stat before, after;
    cr_assert_eq(stat(file, &before), 0);
    /* a planted FILE.tmp link to a file that must stay untouched */
    char victim[4096];
    snprintf(victim, sizeof(victim), "%s/victim", d);
    harness_write_file(victim, "keep\n");
    cr_assert_eq(symlink(victim, tmp), 0);

    cr_expect_eq(client_textfile(run, etc, file), 0);
    char *t = harness_slurp(file);
    cr_assert(t);
    cr_expect_eq(count(t, "# HELP permwatch_up "), 1, "%s", t);
    cr_expect_eq(count(t, "# TYPE permwatch_up gauge\n"), 1, "%s", t);
    cr_expect(strstr(t, "permwatch_up{site=\"a\"} 1\n"), "%s", t);
    cr_expect(strstr(t, "permwatch_up{site=\"b@x\"} 1\n"), "%s", t);
    cr_expect(strstr(t, "permwatch_up{site=\"c\"} 0\n"), "%s", t);
    cr_expect(strstr(t, "permwatch_up{site=\"d\"} 0\n"), "%s", t);
    cr_expect_eq(count(t, "permwatch_up{"), 4, "%s", t);
    cr_expect(!strstr(t, "site=\"default\""), "%s", t);
    /* one HELP/TYPE per family (a's, the first site's), both sites' samples under it */
    cr_expect_eq(count(t, "# HELP permwatch_open_findings "), 1, "%s", t);
    cr_expect_eq(count(t, "# TYPE permwatch_open_findings "), 1, "%s", t);
    cr_expect(strstr(t, "# HELP permwatch_open_findings Open findings by kind.\n"
                        "# TYPE permwatch_open_findings gauge\n"
                        "permwatch_open_findings{site=\"a\",kind=\"root_owned\"} 2\n"
                        "permwatch_open_findings{site=\"a\",kind=\"dispatch_unreachable\"} 1\n"
                        "permwatch_open_findings{site=\"b@x\",kind=\"root_owned\"} 3\n"),
              "%s", t);
    cr_expect(strstr(t, "permwatch_degraded{site=\"a\"} 0\n"), "%s", t);
    cr_expect(strstr(t, "permwatch_empty_labels{site=\"a\"} 7\n"), "%s", t);
    cr_expect(strstr(t, "permwatch_build_info{site=\"a\",version=\"0.1.0\"} 1\n"), "%s", t);
    cr_expect(!strstr(t, "a comment"), "%s", t);
    free(t);
    /* what Prometheus' own parser and linter say of it (promtool: DEPS_TEST's prometheus) */
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "promtool check metrics <'%s'", file), 0);
    cr_expect_eq(r.status, 0, "promtool check metrics exited %d:\n%s%s", r.status, r.out, r.err);
    run_result_free(&r);
    /* replaced by rename: a new inode, mode 0644, no FILE.tmp, the link's target untouched */
    cr_assert_eq(stat(file, &after), 0);
    cr_expect_neq(before.st_ino, after.st_ino);
    cr_expect_eq(after.st_mode & 07777, 0644);
    cr_expect_eq(access(tmp, F_OK), -1);
    t = harness_slurp(victim);
    cr_expect_str_eq(t, "keep\n");
    free(t);

    /* all sites down: the file still says so (a and b removed their sockets and have no
     * policy here: no longer sites of this host) */
    server_stop(a);
    server_stop(b);
    cr_expect_eq(client_textfile(run, etc, file), 0);
    t = harness_slurp(file);
    cr_expect(strstr(t, "permwatch_up{site=\"c\"} 0\npermwatch_up{site=\"d\"} 0\n"), "%s", t);
    cr_expect(!strstr(t, "site=\"a\""), "%s", t);
    cr_expect(!strstr(t, "permwatch_open_findings"), "%s", t);
    free(t);

    /* an unwritable place: exit 1, the file as it was */
    char sub[4096];
    snprintf(sub, sizeof(sub), "%s/missing/permwatch.prom", d);
    cr_expect_eq(client_textfile(run, etc, sub), 1);
    cr_expect_eq(access(sub, F_OK), -1);
    harness_rmtree(d);
    free(d);
}

/* The single-site unit: control.sock (or permwatch.ini alone) is site="default". */
Test(textfile, single_site_default)
{
    char *d = harness_tempdir("textfile1");
    char run[4096], etc[4096], sock[4096], file[4096], ini[4096];
    snprintf(run, sizeof(run), "%s/run", d);
    snprintf(etc, sizeof(etc), "%s/etc", d);
    cr_assert_eq(mkdir(run, 0755), 0);
    cr_assert_eq(mkdir(etc, 0755), 0);
    snprintf(ini, sizeof(ini), "%s/permwatch.ini", etc);
    harness_write_file(ini, "[site]\nroot = /srv/x\n");
    snprintf(file, sizeof(file), "%s/permwatch.prom", d);
    /* stopped: permwatch.ini alone names it */
    cr_expect_eq(client_textfile(run, etc, file), 0);
    char *t = harness_slurp(file);
    cr_expect(strstr(t, "permwatch_up{site=\"default\"} 0\n"), "%s", t);
    cr_expect_eq(count(t, "permwatch_up{"), 1, "%s", t);
    free(t);
    snprintf(sock, sizeof(sock), "%s/control.sock", run);
    pid_t s = server_start(sock, NULL);
    cr_expect_eq(client_textfile(run, etc, file), 0);
    t = harness_slurp(file);
    cr_expect(strstr(t, "permwatch_up{site=\"default\"} 1\n"), "%s", t);
    cr_expect(strstr(t, "permwatch_open_findings{site=\"default\",kind=\"root_owned\"} 3\n"), "%s",
              t);
    free(t);
    /* its policy names another socket: that one is asked */
    char other[4096];
    snprintf(other, sizeof(other), "%s/elsewhere.sock", d);
    char text[8192];
    snprintf(text, sizeof(text), "[site]\nroot = /srv/x\n[daemon]\ncontrol_socket = %s\n", other);
    harness_write_file(ini, text);
    cr_expect_eq(client_textfile(run, etc, file), 0);
    t = harness_slurp(file);
    cr_expect(strstr(t, "permwatch_up{site=\"default\"} 0\n"), "%s", t);
    free(t);
    server_stop(s);
    harness_rmtree(d);
    free(d);
}

/* The command line: --textfile with -s/--site/--json or without a file is a usage error. */
Test(textfile, usage)
{
    char ctl[4096];
    harness_build_path("permwatchctl", ctl, sizeof(ctl));
    static const char *const bad[] = {
        "metrics --textfile", "metrics --textfile=", "--site a metrics --textfile /tmp/x",
        "-s /tmp/s metrics --textfile /tmp/x", "metrics --textfile /tmp/x extra"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct run_result r;
        cr_assert_eq(harness_sh(&r, "'%s' %s", ctl, bad[i]), 0);
        cr_expect_eq(r.status, 2, "%s: exit %d (%s)", bad[i], r.status, r.err);
        run_result_free(&r);
    }
}

/* A daemon that accepts but never answers (stuck): permwatch_up 0 after the 10 s bound, the
 * site beside it still written. */
Test(textfile, stuck_site_is_down_after_the_bound)
{
    char *d = harness_tempdir("textfile2");
    char run[4096], etc[4096], sock[4096], file[4096];
    snprintf(run, sizeof(run), "%s/run", d);
    snprintf(etc, sizeof(etc), "%s/etc", d);
    cr_assert_eq(mkdir(run, 0755), 0);
    cr_assert_eq(mkdir(etc, 0755), 0);
    snprintf(sock, sizeof(sock), "%s/ok.sock", run);
    pid_t ok = server_start(sock, NULL);
    /* listening, never accepting: connect and send succeed, no reply comes */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stuck.sock", run);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    snprintf(file, sizeof(file), "%s/permwatch.prom", d);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_expect_eq(client_textfile(run, etc, file), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect(s >= 9.5 && s < 20, "took %.1f s, want the 10 s bound", s);
    char *t = harness_slurp(file);
    cr_expect(strstr(t, "permwatch_up{site=\"ok\"} 1\npermwatch_up{site=\"stuck\"} 0\n"), "%s", t);
    cr_expect(strstr(t, "permwatch_open_findings{site=\"ok\",kind=\"root_owned\"} 3\n"), "%s", t);
    free(t);
    close(fd);
    server_stop(ok);
    harness_rmtree(d);
    free(d);
}
