/* harness: shared helpers of the Criterion tests. */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *harness_build_path(const char *name, char *buf, size_t len)
{
    const char *b = getenv("PERMWATCH_BUILD");
    char cwd[PATH_MAX];
    if (!b || !*b) {
        if (!getcwd(cwd, sizeof(cwd)))
            cr_assert_fail("getcwd: %s", strerror(errno));
        snprintf(buf, len, "%s/build/%s", cwd, name);
    } else {
        snprintf(buf, len, "%s/%s", b, name);
    }
    return buf;
}

const char *harness_tests_path(const char *name, char *buf, size_t len)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        cr_assert_fail("getcwd: %s", strerror(errno));
    snprintf(buf, len, "%s/tests/%s", cwd, name);
    return buf;
}

/* Read both pipes to the end without deadlocking. Returns 0 or -1. */
static int drain(int out_fd, int err_fd, char **out, char **err)
{
    struct {
        int fd;
        char **dst;
        size_t len, cap;
    } s[2] = {{out_fd, out, 0, 0}, {err_fd, err, 0, 0}};
    for (int i = 0; i < 2; i++) {
        *s[i].dst = malloc(4096);
        if (!*s[i].dst)
            return -1;
        s[i].cap = 4096;
        (*s[i].dst)[0] = '\0';
    }
    int open_fds = 2;
    while (open_fds) {
        struct pollfd p[2];
        int n = 0, idx[2];
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0) {
                p[n] = (struct pollfd){.fd = s[i].fd, .events = POLLIN};
                idx[n++] = i;
            }
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (int k = 0; k < n; k++) {
            if (!p[k].revents)
                continue;
            int i = idx[k];
            if (s[i].cap - s[i].len < 4096) {
                char *nb = realloc(*s[i].dst, s[i].cap * 2);
                if (!nb)
                    return -1;
                *s[i].dst = nb;
                s[i].cap *= 2;
            }
            ssize_t r = read(s[i].fd, *s[i].dst + s[i].len, s[i].cap - s[i].len - 1);
            if (r > 0) {
                s[i].len += (size_t)r;
                (*s[i].dst)[s[i].len] = '\0';
            } else if (r == 0 || errno != EINTR) {
                close(s[i].fd);
                s[i].fd = -1;
                open_fds--;
            }
        }
    }
    return 0;
}

int harness_run(char *const argv[], struct run_result *res)
{
    int out[2], err[2];
    memset(res, 0, sizeof(*res));
    if (pipe2(out, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
        close(out[0]);
        close(err[0]);
        errno = rc;
        return -1;
    }
    drain(out[0], err[0], &res->out, &res->err);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 0;
}

int harness_sh(struct run_result *res, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int rc = harness_run(argv, res);
    free(cmd);
    return rc;
}

void run_result_free(struct run_result *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}

char *harness_tempdir(const char *tag)
{
    char *path;
    cr_assert(asprintf(&path, "/tmp/permwatch-test-%s-XXXXXX", tag) > 0);
    cr_assert(mkdtemp(path), "mkdtemp: %s", strerror(errno));
    chmod(path, 0755);
    return path;
}

void harness_rmtree(const char *path)
{
    if (!path || strncmp(path, "/tmp/", 5) != 0 || strstr(path, ".."))
        return;
    struct run_result r;
    if (harness_sh(&r, "rm -rf -- '%s'", path) == 0)
        run_result_free(&r);
}

void harness_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "fopen %s: %s", path, strerror(errno));
    cr_assert(fputs(text, f) >= 0);
    cr_assert(fclose(f) == 0);
}

uid_t harness_uid(const char *user)
{
    struct passwd *pw = getpwnam(user);
    cr_assert(pw, "user %s is missing (tests/ensure-users.sh creates it)", user);
    return pw->pw_uid;
}

gid_t harness_gid(const char *group)
{
    struct group *gr = getgrnam(group);
    cr_assert(gr, "group %s is missing", group);
    return gr->gr_gid;
}

unsigned long harness_proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long v = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, strlen(field)) == 0)
            v = strtoul(line + strlen(field), NULL, 10);
    if (f)
        fclose(f);
    return v;
}

char *harness_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cr_assert_not_null(m);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

/* Is there a line "ok NAME" (exactly, or followed by ':') in OUT? */
static bool harness_has_ok_line(const char *out, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, "ok ", 3) == 0 && strncmp(l + 3, name, n) == 0 &&
            (l[3 + n] == '\n' || l[3 + n] == '\0' || l[3 + n] == ':'))
            return true;
    return false;
}

void harness_expect_checks(const char *script, struct run_result *r, const char *const *want,
                           size_t n)
{
    if (r->status == 77) {
        const char *why = strstr(r->out, "SKIP: ");
        char reason[512];
        snprintf(reason, sizeof(reason), "%s", why ? why + 6 : r->out);
        reason[strcspn(reason, "\n")] = '\0';
        printf("%s skipped: %s\n%s", script, reason, r->out);
        fflush(stdout);
        run_result_free(r);
        cr_skip_test("cannot boot a systemd-nspawn container here: %s", reason);
    }
    printf("%s", r->out); /* the record of what the script proved, in the test log */
    fflush(stdout);
    cr_expect_eq(r->status, 0, "%s exited %d (its output is above)", script, r->status);
    for (const char *l = r->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, "not ok ", 7) == 0)
            cr_expect_fail("%.*s", (int)strcspn(l, "\n"), l);
    for (size_t i = 0; i < n; i++)
        cr_expect(harness_has_ok_line(r->out, want[i]), "check '%s' did not pass", want[i]);
    run_result_free(r);
}

void harness_deb(char *deb, size_t len)
{
    const char *env = getenv("PERMWATCH_DEB");
    if (env && *env) {
        snprintf(deb, len, "%s", env);
        cr_assert_eq(access(deb, R_OK), 0, "no package PERMWATCH_DEB=%s", deb);
        return;
    }
    char debdir[PATH_MAX];
    harness_build_path("deb", debdir, sizeof(debdir));
    size_t n = 0;
    DIR *d = opendir(debdir);
    cr_assert_not_null(d, "no %s: `make deb` builds the package (make check does first)", debdir);
    for (struct dirent *e; (e = readdir(d));)
        if (fnmatch("permwatch_*.deb", e->d_name, 0) == 0 && ++n == 1)
            snprintf(deb, len, "%s/%s", debdir, e->d_name);
    closedir(d);
    cr_assert_eq(n, 1, "%zu packages permwatch_*.deb in %s, want exactly 1 (`make deb`)", n,
                 debdir);
}

void harness_run_package_script(const char *name, const char *path, int timeout_s,
                                const char *const *want, size_t n)
{
    char deb[PATH_MAX];
    harness_deb(deb, sizeof(deb));
    struct run_result r;
    cr_assert(harness_sh(&r, "timeout -k 15 %d bash '%s' '%s' 2>&1", timeout_s, path, deb) == 0);
    harness_expect_checks(name, &r, want, n);
}
