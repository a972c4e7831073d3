/* phplint: `php -n -l` on a buffer as an unprivileged user (see phplint.h). */
#include "phplint.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_MAX 4096 /* bytes of PHP's answer kept */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: limits, identity, pipes, exec. Never returns. Async-signal-safe calls only. */
static void child(const char *php, const struct principal *who, int in, int out)
{
    static char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    char *const argv[] = {(char *)php, "-n", "-d", "display_errors=stdout", "-l", NULL};
    struct rlimit as = {PHPLINT_MAX_BYTES, PHPLINT_MAX_BYTES},
                  cpu = {PHPLINT_SECONDS, PHPLINT_SECONDS}, zero = {0, 0};
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || devnull < 0 || dup2(devnull, 2) < 0)
        _exit(126);
    setsid();
    if (setrlimit(RLIMIT_AS, &as) || setrlimit(RLIMIT_CPU, &cpu) || setrlimit(RLIMIT_CORE, &zero) ||
        setrlimit(RLIMIT_FSIZE, &zero))
        _exit(126);
    if (who && geteuid() == 0) {
        if (setgroups(who->ngroups, who->groups) || setresgid(who->gid, who->gid, who->gid) ||
            setresuid(who->uid, who->uid, who->uid))
            _exit(126);
    }
    execve(php, argv, envp);
    _exit(127);
}

/* Read PHP's answer in OUTBUF into *R. */
static void judge_output(const char *outbuf, int status, struct phplint_result *r)
{
    const char *p;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(outbuf, "No syntax errors")) {
        r->verdict = PHPLINT_OK;
        return;
    }
    if ((p = strstr(outbuf, "Parse error: ")) != NULL ||
        (p = strstr(outbuf, "Fatal error: ")) != NULL) {
        p = strchr(p, ':') + 2;
        const char *in = strstr(p, " in Standard input code");
        size_t n = in ? (size_t)(in - p) : strcspn(p, "\n");
        if (n >= sizeof(r->message))
            n = sizeof(r->message) - 1;
        for (size_t i = 0; i < n; i++) /* PHP quotes the source: keep it printable */
            r->message[i] = (unsigned char)p[i] >= 0x20 && p[i] != 0x7f ? p[i] : '?';
        r->message[n] = '\0';
        const char *l = in ? strstr(in, " on line ") : NULL;
        r->line = l ? (unsigned)strtoul(l + 9, NULL, 10) : 0;
        r->verdict = PHPLINT_ERROR;
        return;
    }
    r->verdict = PHPLINT_UNKNOWN;
    if (WIFSIGNALED(status))
        snprintf(r->message, sizeof(r->message), "php was killed by signal %d", WTERMSIG(status));
    else if (WIFEXITED(status) && WEXITSTATUS(status) >= 126)
        snprintf(r->message, sizeof(r->message), "php could not be started (exit %d)",
                 WEXITSTATUS(status));
    else
        snprintf(r->message, sizeof(r->message), "php gave no verdict");
}

int phplint_run(const char *php, const struct principal *who, const char *buf, size_t len,
                struct phplint_result *out)
{
    memset(out, 0, sizeof(*out));
    out->verdict = PHPLINT_UNKNOWN;
    snprintf(out->message, sizeof(out->message), "php could not be started");
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(from, O_CLOEXEC) < 0) {
        int e = errno;
        close(to[0]);
        close(to[1]);
        errno = e;
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0)
        child(php, who, to[0], from[1]);
    int e = errno;
    close(to[0]);
    close(from[1]);
    if (pid < 0) {
        close(to[1]);
        close(from[0]);
        errno = e;
        return -1;
    }
    fcntl(to[1], F_SETFL, O_NONBLOCK);
    /* PHP may stop reading early: a SIGPIPE for this thread is kept pending, then dropped */
    sigset_t pipe_set, old_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    char *outbuf = malloc(OUT_MAX + 1);
    size_t got = 0, sent = 0;
    long long deadline = now_ms() + PHPLINT_SECONDS * 1000LL;
    bool timed_out = false;
    int wfd = to[1];
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pf[2] = {{.fd = from[0], .events = POLLIN}, {.fd = wfd, .events = POLLOUT}};
        int n = poll(pf, wfd >= 0 ? 2 : 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (wfd >= 0 && pf[1].revents) {
            ssize_t w = sent < len ? write(wfd, buf + sent, len - sent) : 0;
            if (w > 0)
                sent += (size_t)w;
            if (sent >= len || (w < 0 && errno != EAGAIN)) {
                close(wfd);
                wfd = -1;
            }
        }
        if (pf[0].revents) {
            char tmp[4096];
            ssize_t r = read(from[0], tmp, sizeof(tmp));
            if (r <= 0)
                break; /* end of output */
            if (outbuf && got < OUT_MAX) {
                size_t k = (size_t)r < OUT_MAX - got ? (size_t)r : OUT_MAX - got;
                memcpy(outbuf + got, tmp, k);
                got += k;
            }
        }
    }
    if (wfd >= 0)
        close(wfd);
    close(from[0]);
    struct timespec no_wait = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &no_wait) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    long long wait_until = now_ms() + 1000;
    while (waitpid(pid, &status, timed_out ? 0 : WNOHANG) == 0) {
        if (now_ms() > wait_until) { /* closed its output but goes on: stop it */
            kill(pid, SIGKILL);
            timed_out = true;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    if (!outbuf) {
        errno = ENOMEM;
        return -1;
    }
    outbuf[got] = '\0';
    if (timed_out) {
        out->verdict = PHPLINT_UNKNOWN;
        snprintf(out->message, sizeof(out->message), "php gave no answer within %d s",
                 PHPLINT_SECONDS);
    } else {
        judge_output(outbuf, status, out);
    }
    free(outbuf);
    return 0;
}

bool phplint_find(const char *paths, char *dst, size_t len)
{
    const char *p = paths ? paths : "";
    while (*p) {
        size_t n = strcspn(p, ":");
        if (n && p[0] == '/' && n + 5 < len) {
            memcpy(dst, p, n);
            memcpy(dst + n, "/php", 5);
            if (access(dst, X_OK) == 0)
                return true;
        }
        p += n + (p[n] == ':');
    }
    return false;
}
