/* Integration tests of the control socket: the real server (control.c, run by
 * helper_control_server on its own loop with a stand-in command table) driven by the real
 * permwatchctl and by raw hostile sockets. Authorization as root, as a member of the control
 * group and as nobody (setpriv); malformed, oversized, half-sent requests; a client that
 * never reads; 200 concurrent clients and the client cap; stale and live sockets; the
 * socket's mode and group; permwatchctl's exit codes. Also unit tests of client.c helpers.
 * Needs root (groupadd, setpriv). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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
#include "proto.h"

#define TEST_GROUP "permwatch-test"

extern char **environ;

/* --- fixtures ----------------------------------------------------------------------------- */

/* A running helper_control_server. */
struct server {
    pid_t pid;
    int out_fd;      /* its stdout */
    char first[128]; /* its first stdout line ("ready" or "errno=NAME") */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start the helper on SOCK (control group GROUP or none) and wait for its first line.
 * Returns 0 when it said "ready", -1 otherwise (S->first tells why; the process is reaped). */
static int server_start(struct server *s, const char *sock, const char *group)
{
    char helper[4096];
    harness_build_path("tests/helper_control_server", helper, sizeof(helper));
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    s->pid = fork();
    cr_assert_geq(s->pid, 0);
    if (s->pid == 0) {
        dup2(p[1], 1);
        execl(helper, helper, sock, group, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    s->out_fd = p[0];
    size_t n = 0;
    s->first[0] = '\0';
    double deadline = now() + 10;
    while (n + 1 < sizeof(s->first) && now() < deadline) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t r = read(p[0], s->first + n, 1);
        if (r <= 0 || s->first[n] == '\n') {
            s->first[n] = '\0';
            break;
        }
        s->first[++n] = '\0';
    }
    if (strcmp(s->first, "ready") == 0)
        return 0;
    int st;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    close(s->out_fd);
    s->pid = 0;
    return -1;
}

/* SIGTERM the helper and reap it; returns its exit status (128+signal when killed). */
static int server_stop(struct server *s)
{
    if (s->pid <= 0)
        return -1;
    int st = 0;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
    close(s->out_fd);
    s->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run the shell command line and return its exit status, stdout in *OUT (malloc'd, may be
 * NULL) and stderr in *ERR. */
static int sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char **out, char **err, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "%s", cmd), 0);
    int st = r.status;
    if (out)
        *out = strdup(r.out ? r.out : "");
    if (err)
        *err = strdup(r.err ? r.err : "");
    run_result_free(&r);
    return st;
}

/* Path of permwatchctl (copied into DIR so that any user can run it). */
static const char *ctl_path(const char *dir, char *buf, size_t len)
{
    char src[4096];
    harness_build_path("permwatchctl", src, sizeof(src));
    snprintf(buf, len, "%s/permwatchctl", dir);
    if (access(buf, X_OK) != 0)
        cr_assert_eq(sh(NULL, NULL, "cp '%s' '%s' && chmod 0755 '%s'", src, buf, buf), 0);
    return buf;
}

/* Connect a raw client to SOCK; fails the test when it cannot. */
static int raw_connect(const char *sock)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect %s: %s", sock,
                 strerror(errno));
    return fd;
}

/* Send LEN bytes of DATA, ignoring errors (the server may have closed already). */
static void raw_send(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* Read until EOF or TIMEOUT seconds; returns the bytes (malloc'd, NUL-terminated), their
 * count in *LEN, and whether EOF was seen in *EOF_SEEN. */
static char *raw_read_all(int fd, double timeout, size_t *len, bool *eof_seen)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    double deadline = now() + timeout;
    *eof_seen = false;
    while (now() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0) {
            *eof_seen = true;
            break;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The end line of a complete reply BUF: its exit code, and its error into ERR. -1 when BUF
 * does not end with an end line. */
static int reply_end(const char *buf, size_t len, char *err, size_t errlen)
{
    if (len == 0 || buf[len - 1] != '\n')
        return -1;
    const char *start = buf + len - 1;
    while (start > buf && start[-1] != '\n')
        start--;
    struct proto_reply rep;
    char perr[256];
    if (proto_parse_reply(start, (size_t)(buf + len - 1 - start), &rep, perr, sizeof(perr)) < 0 ||
        !rep.end)
        return -1;
    snprintf(err, errlen, "%s", rep.error ? rep.error : "");
    int code = rep.exit;
    proto_reply_clear(&rep);
    return code;
}

/* Run permwatchctl -s SOCK status and expect exit 0 within MAX_SECONDS. */
static void expect_status_ok(const char *ctl, const char *sock, double max_seconds)
{
    double t0 = now();
    char *out;
    int st = sh(&out, NULL, "'%s' -s '%s' status", ctl, sock);
    double dt = now() - t0;
    cr_expect_eq(st, 0, "status exit %d", st);
    cr_expect(strstr(out, "site:") != NULL, "%s", out);
    cr_expect_lt(dt, max_seconds, "status took %.2f s", dt);
    free(out);
}

/* The temp dir of the current test, and its socket path. */
struct env {
    char *dir;
    char sock[256];
    char ctl[4096];
    struct server srv;
};

static void env_setup(struct env *e, const char *tag, const char *group)
{
    e->dir = harness_tempdir(tag);
    snprintf(e->sock, sizeof(e->sock), "%s/run/permwatch/control.sock", e->dir);
    ctl_path(e->dir, e->ctl, sizeof(e->ctl));
    cr_assert_eq(server_start(&e->srv, e->sock, group), 0, "server: %s", e->srv.first);
}

static void env_teardown(struct env *e)
{
    if (e->srv.pid > 0)
        cr_expect_eq(server_stop(&e->srv), 0);
    harness_rmtree(e->dir);
    free(e->dir);
}

/* --- the control group: created for the test that needs it, removed after --------------- */

static bool group_created;

static void group_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    group_created = false;
    if (getgrnam(TEST_GROUP))
        return;
    cr_assert_eq(sh(NULL, NULL, "getent group " TEST_GROUP " >/dev/null || groupadd " TEST_GROUP),
                 0);
    group_created = true;
}

static void group_fini(void)
{
    if (group_created)
        sh(NULL, NULL, "groupdel " TEST_GROUP);
}

static void plain_init(void)
{
    signal(SIGPIPE, SIG_IGN);
}

TestSuite(control, .init = plain_init);

/* --- authorization ------------------------------------------------------------------------ */

Test(control, root_runs_everything)
{
    struct env e;
    env_setup(&e, "ctl-root", NULL);
    char *out, *err;
    cr_expect_eq(sh(&out, NULL, "'%s' -s '%s' status", e.ctl, e.sock), 0);
    cr_expect(strstr(out, "site:      /srv/test") != NULL, "%s", out);
    free(out);
    cr_expect_eq(sh(&out, NULL, "'%s' -s '%s' findings --kind mode_mismatch", e.ctl, e.sock), 1);
    cr_expect(strstr(out, "FINDING        PATH          UID  MODE\n"
                          "mode_mismatch  /srv/test/f0  0    0644\n") != NULL,
              "%s", out);
    free(out);
    cr_expect_eq(sh(&out, NULL, "'%s' --json -s '%s' findings", e.ctl, e.sock), 1);
    cr_expect_str_eq(out, "{\"finding\":\"root_owned\",\"path\":\"/srv/test/f0\",\"uid\":0,"
                          "\"mode\":\"0644\"}\n"
                          "{\"finding\":\"root_owned\",\"path\":\"/srv/test/f1\",\"uid\":0,"
                          "\"mode\":\"0644\"}\n"
                          "{\"finding\":\"root_owned\",\"path\":\"/srv/test/f2\",\"uid\":0,"
                          "\"mode\":\"0644\"}\n");
    free(out);
    cr_expect_eq(sh(&out, NULL, "'%s' -s '%s' metrics", e.ctl, e.sock), 0);
    cr_expect_str_eq(out, "# HELP permwatch_open_findings Open findings.\n"
                          "# TYPE permwatch_open_findings gauge\n"
                          "permwatch_open_findings{kind=\"root_owned\"} 3\n");
    free(out);
    cr_expect_eq(sh(&out, NULL, "'%s' -s '%s' repair --dry-run /srv/test/x", e.ctl, e.sock), 0);
    cr_expect(strstr(out, "/srv/test/x  yes") != NULL, "%s", out);
    free(out);
    cr_expect_eq(sh(&out, NULL, "'%s' -s '%s' reload --json", e.ctl, e.sock), 0);
    cr_expect(strstr(out, "\"peer_uid\":0") && strstr(out, "\"peer_root\":true"), "%s", out);
    free(out);
    env_teardown(&e);
    (void)err;
}

Test(control, paths_made_absolute_lexically)
{
    struct env e;
    env_setup(&e, "ctl-path", NULL);
    char *out;
    cr_expect_eq(
        sh(&out, NULL, "cd '%s' && '%s' -s '%s' --json scan a/./b//../c/", e.dir, e.ctl, e.sock),
        0);
    char want[512];
    snprintf(want, sizeof(want), "{\"path\":\"%s/a/b/../c\",", e.dir);
    cr_expect(strncmp(out, want, strlen(want)) == 0, "%s", out);
    free(out);
    env_teardown(&e);
}

Test(control, group_member_read_only, .init = group_init, .fini = group_fini)
{
    struct env e;
    env_setup(&e, "ctl-group", TEST_GROUP);
    struct stat st;
    cr_assert_eq(stat(e.sock, &st), 0);
    cr_expect(S_ISSOCK(st.st_mode));
    cr_expect_eq(st.st_mode & 07777, 0660, "mode %o", st.st_mode & 07777);
    cr_expect_eq(st.st_uid, 0);
    cr_expect_eq(st.st_gid, getgrnam(TEST_GROUP)->gr_gid);
    char sockdir[300];
    snprintf(sockdir, sizeof(sockdir), "%s/run/permwatch", e.dir);
    cr_assert_eq(stat(sockdir, &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0755, "created parent mode %o", st.st_mode & 07777);

    const char *as_member = "setpriv --reuid=www-data --regid=www-data --groups=" TEST_GROUP;
    char *out, *err;
    cr_expect_eq(sh(&out, NULL, "%s '%s' -s '%s' --json dispatch", as_member, e.ctl, e.sock), 0);
    char want[64];
    snprintf(want, sizeof(want), "\"peer_uid\":%u", (unsigned)harness_uid("www-data"));
    cr_expect(strstr(out, want) && strstr(out, "\"peer_root\":false"), "%s", out);
    free(out);
    cr_expect_eq(sh(NULL, NULL, "%s '%s' -s '%s' status", as_member, e.ctl, e.sock), 0);
    cr_expect_eq(sh(NULL, NULL, "%s '%s' -s '%s' findings", as_member, e.ctl, e.sock), 1);
    cr_expect_eq(sh(NULL, NULL, "%s '%s' -s '%s' metrics", as_member, e.ctl, e.sock), 0);
    cr_expect_eq(sh(&out, &err, "%s '%s' -s '%s' repair", as_member, e.ctl, e.sock), 4);
    cr_expect(strstr(err, "permission denied: 'repair' needs root"), "%s", err);
    cr_expect_str_eq(out, "");
    free(out);
    free(err);
    cr_expect_eq(sh(NULL, NULL, "%s '%s' -s '%s' scan", as_member, e.ctl, e.sock), 4);
    cr_expect_eq(sh(NULL, NULL, "%s '%s' -s '%s' reload", as_member, e.ctl, e.sock), 4);
    /* the control group as primary group counts too */
    cr_expect_eq(sh(NULL, NULL,
                    "setpriv --reuid=www-data --regid=" TEST_GROUP
                    " --clear-groups '%s' -s '%s' status",
                    e.ctl, e.sock),
                 0);
    /* not a member: the socket's mode refuses (EACCES on connect) */
    cr_expect_eq(sh(NULL, &err,
                    "setpriv --reuid=www-data --regid=www-data --clear-groups '%s' -s '%s' status",
                    e.ctl, e.sock),
                 4);
    cr_expect(strstr(err, "Permission denied"), "%s", err);
    free(err);
    /* and with the mode opened up, the server refuses it by its credentials */
    cr_assert_eq(chmod(e.sock, 0666), 0);
    cr_expect_eq(sh(&out, &err,
                    "setpriv --reuid=www-data --regid=www-data --clear-groups '%s' -s '%s' status",
                    e.ctl, e.sock),
                 4);
    cr_expect(strstr(err, "permwatchctl: permission denied\n"), "%s", err);
    cr_expect_str_eq(out, "");
    free(out);
    free(err);
    expect_status_ok(e.ctl, e.sock, 2);
    env_teardown(&e);
}

Test(control, nobody_refused)
{
    struct env e;
    env_setup(&e, "ctl-nobody", NULL);
    struct stat st;
    cr_assert_eq(stat(e.sock, &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
    cr_expect_eq(st.st_uid, 0);
    cr_expect_eq(st.st_gid, 0);
    const char *as_nobody = "setpriv --reuid=nobody --regid=nogroup --clear-groups";
    char *err;
    cr_expect_eq(sh(NULL, &err, "%s '%s' -s '%s' status", as_nobody, e.ctl, e.sock), 4);
    cr_expect(strstr(err, "Permission denied"), "%s", err);
    free(err);
    cr_assert_eq(chmod(e.sock, 0666), 0);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(sh(NULL, &err, "%s '%s' -s '%s' status", as_nobody, e.ctl, e.sock), 4);
        cr_expect(strstr(err, "permwatchctl: permission denied\n"), "%s", err);
        free(err);
        cr_expect_eq(sh(NULL, NULL, "%s '%s' -s '%s' repair", as_nobody, e.ctl, e.sock), 4);
    }
    /* a refused peer gets its end line without sending anything */
    int fd = -1;
    pid_t pid = fork();
    if (pid == 0) {
        setgroups(0, NULL);
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(10);
        fd = raw_connect(e.sock);
        size_t len;
        bool eof;
        char *buf = raw_read_all(fd, 5, &len, &eof);
        char msg[256];
        _exit(eof && reply_end(buf, len, msg, sizeof(msg)) == 4 &&
                      strcmp(msg, "permission denied") == 0
                  ? 0
                  : 11);
    }
    int wst;
    waitpid(pid, &wst, 0);
    cr_expect(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "raw nobody: %d", wst);
    expect_status_ok(e.ctl, e.sock, 2);
    env_teardown(&e);
}

/* --- hostile clients ---------------------------------------------------------------------- */

/* Send REQ on a fresh connection, read the whole reply; returns the end line's exit code
 * (-1 without one) and its error in ERR. */
static int raw_request(const char *sock, const char *req, size_t len, char *err, size_t errlen)
{
    int fd = raw_connect(sock);
    raw_send(fd, req, len);
    size_t n;
    bool eof;
    char *buf = raw_read_all(fd, 5, &n, &eof);
    close(fd);
    int code = eof ? reply_end(buf, n, err, errlen) : -2;
    free(buf);
    return code;
}

Test(control, malformed_requests)
{
    struct env e;
    env_setup(&e, "ctl-malformed", NULL);
    static const char *const bad[] = {
        "garbage\n",
        "{\"v\":1,\"cmd\":\"status\"} trailing\n",
        "{\"v\":2,\"cmd\":\"status\"}\n",
        "[1]\n",
        "{\"v\":1}\n",
        "{\"v\":1,\"cmd\":\"status\",\"args\":{\"p\":\"\xff\"}}\n",
        "\n",
        "{\"v\":1,\"cmd\":\"status\"", /* then EOF (shutdown below) */
    };
    char err[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = raw_connect(e.sock);
        raw_send(fd, bad[i], strlen(bad[i]));
        shutdown(fd, SHUT_WR);
        size_t n;
        bool eof;
        char *buf = raw_read_all(fd, 5, &n, &eof);
        close(fd);
        cr_expect(eof, "no EOF for %s", bad[i]);
        cr_expect_eq(reply_end(buf, n, err, sizeof(err)), 2, "%s -> %s", bad[i], buf);
        cr_expect(strncmp(err, "bad request: ", 13) == 0, "%s", err);
        free(buf);
    }
    static const char nul[] = "{\"v\":1,\"cmd\":\"status\"}\0x\n";
    cr_expect_eq(raw_request(e.sock, nul, sizeof(nul) - 1, err, sizeof(err)), 2);
    cr_expect(strstr(err, "NUL"), "%s", err);
    cr_expect_eq(raw_request(e.sock, "{\"v\":1,\"cmd\":\"nope\"}\n", 21, err, sizeof(err)), 2);
    cr_expect_str_eq(err, "unknown command 'nope'");
    cr_expect_eq(raw_request(e.sock, "{\"v\":1,\"cmd\":\"fail\"}\n", 21, err, sizeof(err)), 1);
    cr_expect_str_eq(err, "internal error in 'fail'");
    /* an empty connection: closed, nothing said */
    int fd = raw_connect(e.sock);
    shutdown(fd, SHUT_WR);
    size_t n;
    bool eof;
    char *buf = raw_read_all(fd, 5, &n, &eof);
    cr_expect(eof && n == 0);
    free(buf);
    close(fd);
    /* several requests on one connection: the first is answered, the rest ignored */
    const char two[] = "{\"v\":1,\"cmd\":\"status\"}\n{\"v\":1,\"cmd\":\"repair\"}\n";
    fd = raw_connect(e.sock);
    raw_send(fd, two, sizeof(two) - 1);
    buf = raw_read_all(fd, 5, &n, &eof);
    cr_expect(eof);
    cr_expect_eq(reply_end(buf, n, err, sizeof(err)), 0, "%s", buf);
    cr_expect_null(strstr(buf, "chown"));
    free(buf);
    close(fd);
    expect_status_ok(e.ctl, e.sock, 2);
    env_teardown(&e);
}

Test(control, oversized_requests)
{
    struct env e;
    env_setup(&e, "ctl-oversized", NULL);
    size_t big = 1024 * 1024;
    char *line = malloc(big + 1);
    memset(line, 'a', big);
    line[big] = '\n';
    char err[512];
    int fd = raw_connect(e.sock);
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK); /* the server stops reading: never block on it */
    size_t off = 0;
    double deadline = now() + 5;
    while (off < big + 1 && now() < deadline) {
        ssize_t w = send(fd, line + off, big + 1 - off, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else if (errno != EAGAIN)
            break;
        else
            usleep(1000);
    }
    fcntl(fd, F_SETFL, fl);
    size_t n;
    bool eof;
    char *buf = raw_read_all(fd, 5, &n, &eof);
    close(fd);
    cr_expect(eof);
    cr_expect_eq(reply_end(buf, n, err, sizeof(err)), 2, "%s", buf);
    cr_expect_str_eq(err, "bad request: line too long (max 65536 bytes)");
    free(buf);
    cr_expect_lt(off, big + 1, "the server read all of 1 MiB");
    /* exactly at the limit: parsed (an unknown key: refused by the parser, not the size) */
    size_t at = PROTO_MAX_REQUEST;
    const char head[] = "{\"v\":1,\"cmd\":\"status\",\"x\":\"";
    memcpy(line, head, strlen(head));
    memset(line + strlen(head), 'b', at - strlen(head) - 2);
    memcpy(line + at - 2, "\"}\n", 3);
    cr_expect_eq(raw_request(e.sock, line, at + 1, err, sizeof(err)), 2);
    cr_expect_str_eq(err, "bad request: unknown key \"x\"");
    line[at - 2] = 'b';
    memcpy(line + at - 1, "\"}\n", 3); /* one byte over */
    cr_expect_eq(raw_request(e.sock, line, at + 2, err, sizeof(err)), 2);
    cr_expect_str_eq(err, "bad request: line too long (max 65536 bytes)");
    free(line);
    /* a reply beyond the bound is truncated with an error, not grown without limit */
    const char req[] = "{\"v\":1,\"cmd\":\"big\",\"args\":{\"rows\":6000}}\n";
    fd = raw_connect(e.sock);
    raw_send(fd, req, sizeof(req) - 1);
    buf = raw_read_all(fd, 10, &n, &eof);
    close(fd);
    cr_expect(eof);
    cr_expect_eq(reply_end(buf, n, err, sizeof(err)), 1);
    cr_expect(strstr(err, "reply truncated after"), "%s", err);
    cr_expect_leq(n, 4u * 1024 * 1024 + 1024);
    free(buf);
    expect_status_ok(e.ctl, e.sock, 2);
    env_teardown(&e);
}

Test(control, silent_and_non_reading_clients)
{
    struct env e;
    env_setup(&e, "ctl-silent", NULL);
    int silent = raw_connect(e.sock);
    int half = raw_connect(e.sock);
    raw_send(half, "{\"v\":1,\"cmd\":", 13);
    int slow = raw_connect(e.sock);
    const char req[] = "{\"v\":1,\"cmd\":\"big\",\"args\":{\"rows\":3500}}\n";
    raw_send(slow, req, sizeof(req) - 1);
    double t0 = now();
    /* the server keeps serving others meanwhile */
    for (int i = 0; i < 10; i++)
        expect_status_ok(e.ctl, e.sock, 1.5);
    char *out;
    cr_expect_eq(sh(&out, NULL, "'%s' -s '%s' --json findings", e.ctl, e.sock), 1);
    cr_expect_eq(strlen(out) > 100, true);
    free(out);
    /* after the idle timeout the silent and half-sent clients are closed without a word */
    size_t n;
    bool eof;
    char *buf = raw_read_all(half, 14 - (now() - t0), &n, &eof);
    double dt = now() - t0;
    cr_expect(eof, "half-sent client not closed after %.1f s", dt);
    cr_expect_eq(n, 0);
    cr_expect_geq(dt, 9.0, "closed after %.1f s", dt);
    free(buf);
    buf = raw_read_all(silent, 2, &n, &eof);
    cr_expect(eof && n == 0);
    free(buf);
    /* the client that never read was dropped too: what it finds is a cut reply, no end */
    buf = raw_read_all(slow, 5, &n, &eof);
    cr_expect(eof);
    cr_expect_lt(n, 3500u * 1000);
    char err[256];
    cr_expect_eq(reply_end(buf, n, err, sizeof(err)), -1);
    free(buf);
    close(silent);
    close(half);
    close(slow);
    expect_status_ok(e.ctl, e.sock, 1.5);
    env_teardown(&e);
}

/* A generated reply (issue 9, item 3): 200 clients that ask for 100 MB each and never read
 * cost the server a small buffer each, others are served meanwhile, and a client that reads
 * gets every row, in order, with its end line. */
Test(control, generated_replies_stay_bounded)
{
    struct env e;
    env_setup(&e, "ctl-stream", NULL);
    enum { NCLIENTS = 200 };
    int fds[NCLIENTS];
    const char req[] = "{\"v\":1,\"cmd\":\"stream\",\"args\":{\"rows\":100000}}\n";
    for (int i = 0; i < NCLIENTS; i++) {
        fds[i] = raw_connect(e.sock);
        raw_send(fds[i], req, sizeof(req) - 1);
    }
    for (int i = 0; i < 5; i++)
        expect_status_ok(e.ctl, e.sock, 1.5);
    unsigned long hwm = harness_proc_kib(e.srv.pid, "VmHWM:");
    fprintf(stderr, "control: %d clients not reading 100 MB replies: server peak RSS %lu KiB\n",
            NCLIENTS, hwm);
#if !defined(__SANITIZE_ADDRESS__) /* ASan's shadow and quarantine dwarf the bound */
    cr_expect_lt(hwm, 48 * 1024, "peak RSS %lu KiB", hwm);
#endif
    for (int i = 0; i < NCLIENTS; i++)
        close(fds[i]);

    int fd = raw_connect(e.sock);
    const char one[] = "{\"v\":1,\"cmd\":\"stream\",\"args\":{\"rows\":20000}}\n";
    raw_send(fd, one, sizeof(one) - 1);
    size_t n;
    bool eof;
    char *buf = raw_read_all(fd, 60, &n, &eof);
    close(fd);
    cr_assert(eof);
    char err[256];
    cr_expect_eq(reply_end(buf, n, err, sizeof(err)), 0, "%s", err);
    size_t rows = 0, disorder = 0;
    for (char *p = buf, *nl; (nl = memchr(p, '\n', n - (size_t)(p - buf))); p = nl + 1) {
        long long k;
        if (sscanf(p, "{\"v\":1,\"row\":{\"n\":%lld", &k) == 1 ||
            sscanf(p, "{\"v\":1,\"row\":{\"pad\":\"%*[x]\",\"n\":%lld", &k) == 1)
            disorder += k != (long long)rows++;
    }
    cr_expect_eq(rows, 20000);
    cr_expect_eq(disorder, 0);
    free(buf);
    env_teardown(&e);
}

Test(control, many_clients)
{
    struct env e;
    env_setup(&e, "ctl-many", NULL);
    /* 200 permwatchctl processes at once: all answered */
    enum { N = 200 };
    pid_t pids[N];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char *argv[] = {e.ctl, "-s", e.sock, "findings", NULL};
    for (int i = 0; i < N; i++)
        cr_assert_eq(posix_spawn(&pids[i], e.ctl, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 1;
    }
    cr_expect_eq(ok, N, "%d of %d answered", ok, N);
    /* the cap: 256 idle connections are kept, the next is told to go away */
    enum { CAP = 256, EXTRA = 5 };
    int fds[CAP + EXTRA];
    for (int i = 0; i < CAP; i++)
        fds[i] = raw_connect(e.sock);
    char err[256];
    for (int i = CAP; i < CAP + EXTRA; i++) {
        fds[i] = raw_connect(e.sock);
        size_t n;
        bool eof;
        char *buf = raw_read_all(fds[i], 5, &n, &eof);
        cr_expect(eof);
        cr_expect_eq(reply_end(buf, n, err, sizeof(err)), 3, "%s", buf);
        cr_expect_str_eq(err, "too many clients, try again");
        free(buf);
    }
    char *out;
    cr_expect_eq(sh(NULL, &out, "'%s' -s '%s' status", e.ctl, e.sock), 3);
    cr_expect(strstr(out, "too many clients"), "%s", out);
    free(out);
    for (int i = 0; i < CAP + EXTRA; i++)
        close(fds[i]);
    /* the server notices the closes and serves again */
    double deadline = now() + 5;
    int st;
    while ((st = sh(NULL, NULL, "'%s' -s '%s' status", e.ctl, e.sock)) != 0 && now() < deadline)
        usleep(50000);
    cr_expect_eq(st, 0);
    env_teardown(&e);
}

/* --- the socket file ---------------------------------------------------------------------- */

Test(control, stale_socket_replaced)
{
    char *dir = harness_tempdir("ctl-stale");
    char sock[256], ctl[4096];
    snprintf(sock, sizeof(sock), "%s/control.sock", dir);
    ctl_path(dir, ctl, sizeof(ctl));
    /* a socket file nobody listens on, as a crashed daemon leaves it */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    char *err;
    cr_expect_eq(sh(NULL, &err, "'%s' -s '%s' status", ctl, sock), 3, "stale socket refused");
    cr_expect(strstr(err, "Connection refused"), "%s", err);
    free(err);
    struct server s;
    cr_assert_eq(server_start(&s, sock, NULL), 0, "%s", s.first);
    expect_status_ok(ctl, sock, 2);
    cr_expect_eq(server_stop(&s), 0);
    cr_expect_neq(access(sock, F_OK), 0, "socket file left behind");
    /* a regular file in its place is never removed */
    harness_write_file(sock, "precious\n");
    cr_expect_eq(server_start(&s, sock, NULL), -1);
    cr_expect_str_eq(s.first, "errno=EEXIST");
    char *text;
    cr_expect_eq(sh(&text, NULL, "cat '%s'", sock), 0);
    cr_expect_str_eq(text, "precious\n");
    free(text);
    harness_rmtree(dir);
    free(dir);
}

Test(control, live_socket_refused)
{
    struct env e;
    env_setup(&e, "ctl-live", NULL);
    struct server second;
    char helper[4096], *err;
    harness_build_path("tests/helper_control_server", helper, sizeof(helper));
    cr_expect_eq(sh(NULL, &err, "'%s' '%s'", helper, e.sock), 1);
    cr_expect(strstr(err, "another server is listening on"), "%s", err);
    free(err);
    cr_expect_eq(server_start(&second, e.sock, NULL), -1);
    cr_expect_str_eq(second.first, "errno=EADDRINUSE");
    expect_status_ok(e.ctl, e.sock, 2);
    env_teardown(&e);
}

/* --- permwatchctl on its own ------------------------------------------------------------- */

Test(control, ctl_exit_codes)
{
    char *dir = harness_tempdir("ctl-exit");
    char ctl[4096], sock[256], *err;
    ctl_path(dir, ctl, sizeof(ctl));
    snprintf(sock, sizeof(sock), "%s/none.sock", dir);
    cr_expect_eq(sh(NULL, &err, "'%s' -s '%s' status", ctl, sock), 3);
    cr_expect(strstr(err, "cannot reach permwatchd at"), "%s", err);
    free(err);
    cr_expect_eq(sh(NULL, NULL, "'%s'", ctl), 2);
    cr_expect_eq(sh(NULL, NULL, "'%s' -s '%s' frobnicate", ctl, sock), 2);
    cr_expect_eq(sh(NULL, NULL, "'%s' --bogus status", ctl), 2);
    cr_expect_eq(sh(NULL, NULL, "'%s' -s '%s' status extra", ctl, sock), 2);
    cr_expect_eq(sh(NULL, NULL, "'%s' -s '%s' findings a b", ctl, sock), 2);
    cr_expect_eq(sh(NULL, NULL, "'%s' -s '%s' findings --kind", ctl, sock), 2);
    cr_expect_eq(sh(NULL, NULL, "'%s' -s '%s' scan --dry-run", ctl, sock), 2);
    cr_expect_eq(sh(NULL, NULL, "'%s' --help", ctl), 0);
    /* a server that accepts and closes without an end line */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(lfd, 4), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(ctl, ctl, "-s", sock, "status", (char *)NULL);
        _exit(127);
    }
    int cfd = accept(lfd, NULL, NULL);
    const char partial[] = "{\"v\":1,\"row\":{\"a\":1}}\n";
    raw_send(cfd, partial, sizeof(partial) - 1);
    close(cfd);
    int st;
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %d", st);
    /* and one that answers garbage */
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(ctl, ctl, "-s", sock, "status", (char *)NULL);
        _exit(127);
    }
    cfd = accept(lfd, NULL, NULL);
    raw_send(cfd, "HTTP/1.0 200 OK\n", 16);
    close(cfd);
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %d", st);
    close(lfd);
    harness_rmtree(dir);
    free(dir);
}

Test(client, abspath)
{
    static const char *const cases[][3] = {
        {"a/b", "/srv/www", "/srv/www/a/b"},
        {"./a/./b/", "/srv/www", "/srv/www/a/b"},
        {"a/../b", "/srv/www", "/srv/www/a/../b"},
        {"../x", "/srv/www", "/srv/www/../x"},
        {".", "/srv/www", "/srv/www"},
        {".", "/", "/"},
        {"/abs//p/./q", "/ignored", "/abs/p/q"},
        {"/", "/x", "/"},
        {"x", "/srv/www/", "/srv/www/x"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(client_abspath(cases[i][0], cases[i][1], buf, sizeof(buf)), 0);
        cr_expect_str_eq(buf, cases[i][2], "%s in %s", cases[i][0], cases[i][1]);
    }
    cr_expect_eq(client_abspath("", "/x", buf, sizeof(buf)), -1);
    cr_expect_eq(client_abspath("a", "rel", buf, sizeof(buf)), -1);
    cr_expect_eq(errno, EINVAL);
    char small[8];
    cr_expect_eq(client_abspath("abcdefgh", "/", small, sizeof(small)), -1);
    cr_expect_eq(errno, ENAMETOOLONG);
    cr_expect_eq(client_abspath("abcdef", "/", small, sizeof(small)), 0);
    cr_expect_str_eq(small, "/abcdef");
}

Test(client, config_socket)
{
    char *dir = harness_tempdir("ctl-ini");
    char ini[256], buf[108];
    snprintf(ini, sizeof(ini), "%s/p.ini", dir);
    harness_write_file(ini, "[site]\ncontrol_socket = /wrong\n[daemon]\n"
                            "  control_socket = /run/x/c.sock   ; comment\nrescan_interval = 0\n");
    cr_expect_eq(client_config_socket(ini, buf, sizeof(buf)), 0);
    cr_expect_str_eq(buf, "/run/x/c.sock");
    harness_write_file(ini, "[daemon]\nrescan_interval = 0\n");
    cr_expect_eq(client_config_socket(ini, buf, sizeof(buf)), -1);
    cr_expect_eq(client_config_socket("/nonexistent/p.ini", buf, sizeof(buf)), -1);
    harness_rmtree(dir);
    free(dir);
}
