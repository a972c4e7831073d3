/* notify-wait [-l TEXT] [-t SECONDS] [-w ARG]... -- CMD [ARGS...]: start CMD and time how long
 * it takes to become ready, for the live-daemon benchmarks.
 *
 * Ready means: without -l, a datagram holding the line READY=1 on a private notify socket
 * (SOCK_DGRAM, bound in a fresh directory under /tmp, its path exported to CMD as
 * NOTIFY_SOCKET, as systemd does for Type=notify); with -l, a line of CMD's stderr containing
 * TEXT (e.g. inotifywait's "Watches established."). The clock (CLOCK_MONOTONIC) starts just
 * before fork().
 *
 * Once CMD is ready it prints "ready ms=M pid=P status=S" (S: the last STATUS= text, or the
 * matched line). With -w, it then runs the workload WARGS (the -w arguments in order, argv[0]
 * first) with NOTIFY_WAIT_PID=CMD's pid in its environment and waits for it. Then it counts CMD's
 * inotify watches (the "inotify wd:" lines of the files in /proc/PID/fdinfo), reads VmHWM and VmRSS
 * from /proc/PID/status, sends SIGTERM, waits (SIGKILL after 30 s) and prints "stop watches=N
 * vmhwm_kb=H vmrss_kb=R exit=E" (E: the exit code, or "signal-N").
 *
 * Exits 0 when CMD became ready and the workload (if any) exited 0; 1 otherwise (CMD exited,
 * timed out, the workload failed); 2 on usage errors. SIGINT/SIGTERM stop CMD and the
 * workload and remove the socket. CMD's stdout goes to /dev/null in -l mode. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_TIMEOUT_MS 30000
#define DGRAM_MAX       4096

static char sock_dir[64], sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static volatile pid_t child = -1, workload = -1;

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void cleanup_socket(void)
{
    if (sock_path[0])
        unlink(sock_path);
    if (sock_dir[0])
        rmdir(sock_dir);
}

/* SIGINT/SIGTERM: stop what we started, remove the socket, exit. Async-signal-safe only. */
static void on_signal(int sig)
{
    if (workload > 0)
        kill(workload, SIGTERM);
    if (child > 0)
        kill(child, SIGTERM);
    cleanup_socket();
    _exit(128 + sig);
}

static void die(const char *what)
{
    fprintf(stderr, "notify-wait: %s: %s\n", what, strerror(errno));
    if (workload > 0)
        kill(workload, SIGTERM);
    if (child > 0)
        kill(child, SIGKILL);
    cleanup_socket();
    exit(1);
}

/* True when TEXT holds LINE as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t want = strlen(line);
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n == want && strncmp(p, line, want) == 0)
            return true;
        p += n + (p[n] == '\n');
    }
    return false;
}

/* Copy the STATUS= value of TEXT, if any, into OUT. */
static void take_status(const char *text, char *out, size_t len)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n >= 7 && strncmp(p, "STATUS=", 7) == 0)
            snprintf(out, len, "%.*s", (int)(n - 7), p + 7);
        p += n + (p[n] == '\n');
    }
}

/* The inotify watches of PID: "inotify wd:" lines in its fdinfo files. */
static long count_watches(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    char *line = NULL;
    size_t cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char fp[384];
        snprintf(fp, sizeof(fp), "%s/%s", path, e->d_name);
        FILE *f = fopen(fp, "r");
        if (!f)
            continue;
        while (getline(&line, &cap, f) > 0)
            if (strncmp(line, "inotify wd:", 11) == 0)
                n++;
        fclose(f);
    }
    free(line);
    closedir(d);
    return n;
}

/* FIELD ("VmHWM:") of /proc/PID/status in kB, or -1. */
static long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0) {
            v = strtol(line + fl, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* Wait for PID up to TIMEOUT_MS (< 0: forever). Returns true and *STATUS once reaped. */
static bool wait_for(pid_t pid, int timeout_ms, int *status)
{
    double end = mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, timeout_ms < 0 ? 0 : WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            die("waitpid");
        if (timeout_ms >= 0 && mono_ms() > end)
            return false;
        if (timeout_ms >= 0)
            usleep(2000);
    }
}

/* Read what is readable on FD (non-blocking): datagrams update STATUS (the last STATUS=),
 * pipe data is discarded. True at end of file (a pipe). */
static bool drain(int fd, bool is_pipe, char *status, size_t len)
{
    char buf[DGRAM_MAX + 1];
    for (;;) {
        ssize_t n = is_pipe ? read(fd, buf, DGRAM_MAX) : recv(fd, buf, DGRAM_MAX, MSG_DONTWAIT);
        if (n == 0 && is_pipe)
            return true;
        if (n < 0)
            return false;
        if (!is_pipe) {
            buf[n] = '\0';
            take_status(buf, status, len);
        }
    }
}

static void describe_exit(int status, char *out, size_t len)
{
    if (WIFEXITED(status))
        snprintf(out, len, "%d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, len, "signal-%d", WTERMSIG(status));
    else
        snprintf(out, len, "?");
}

static void usage(void)
{
    fprintf(stderr, "usage: notify-wait [-l TEXT] [-t SECONDS] [-w ARG]... -- CMD [ARGS...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *line_text = NULL;
    double timeout_s = 600;
    char **wargv = calloc((size_t)argc + 1, sizeof(char *));
    int nw = 0, opt;
    if (!wargv)
        die("calloc");
    while ((opt = getopt(argc, argv, "+l:t:w:")) != -1) {
        switch (opt) {
        case 'l':
            line_text = optarg;
            break;
        case 't':
            timeout_s = atof(optarg);
            break;
        case 'w':
            wargv[nw++] = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    char **cmd = argv + optind;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    int fd = -1, errpipe[2] = {-1, -1};
    if (!line_text) {
        snprintf(sock_dir, sizeof(sock_dir), "/tmp/permwatch-notify-XXXXXX");
        if (!mkdtemp(sock_dir)) {
            sock_dir[0] = '\0';
            die("mkdtemp");
        }
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify.sock", sock_dir);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            die("socket");
        int rcvbuf = 1 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            die("bind");
        memcpy(sock_path, sun.sun_path, sizeof(sock_path));
        if (setenv("NOTIFY_SOCKET", sock_path, 1) < 0)
            die("setenv");
    } else {
        if (pipe2(errpipe, O_CLOEXEC) < 0)
            die("pipe");
        fd = errpipe[0];
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
            die("fcntl");
        unsetenv("NOTIFY_SOCKET");
    }

    fflush(NULL);
    double t0 = mono_ms();
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (line_text) {
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
                dup2(errpipe[1], STDERR_FILENO) < 0)
                _exit(127);
        }
        execvp(cmd[0], cmd);
        fprintf(stderr, "notify-wait: exec %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    child = pid;
    if (line_text)
        close(errpipe[1]);
    if (!line_text)
        unsetenv("NOTIFY_SOCKET");

    /* Wait for readiness. */
    char status_text[512] = "", buf[DGRAM_MAX + 1], acc[DGRAM_MAX + 1];
    size_t acc_len = 0;
    bool ready = false, eof = false;
    double t_ready = 0, end = t0 + timeout_s * 1e3;
    while (!ready) {
        double left = end - mono_ms();
        if (left <= 0) {
            fprintf(stderr, "notify-wait: %s not ready after %.0f s\n", cmd[0], timeout_s);
            break;
        }
        struct pollfd p = {.fd = eof ? -1 : fd, .events = POLLIN};
        int r = poll(&p, 1, left > 100 ? 100 : (int)left + 1);
        if (r < 0 && errno != EINTR)
            die("poll");
        if (r > 0 && !line_text) {
            ssize_t n;
            while ((n = recv(fd, buf, DGRAM_MAX, MSG_DONTWAIT)) >= 0) {
                buf[n] = '\0';
                take_status(buf, status_text, sizeof(status_text));
                if (!ready && has_line(buf, "READY=1")) {
                    t_ready = mono_ms();
                    ready = true;
                }
            }
        } else if (r > 0) {
            ssize_t n = read(fd, acc + acc_len, DGRAM_MAX - acc_len);
            if (n == 0) {
                eof = true;
            } else if (n > 0) {
                acc_len += (size_t)n;
                acc[acc_len] = '\0';
                char *nl;
                while (!ready && (nl = strchr(acc, '\n'))) {
                    *nl = '\0';
                    if (strstr(acc, line_text)) {
                        t_ready = mono_ms();
                        ready = true;
                        snprintf(status_text, sizeof(status_text), "%.500s", acc);
                    }
                    acc_len -= (size_t)(nl + 1 - acc);
                    memmove(acc, nl + 1, acc_len + 1);
                }
                if (acc_len == DGRAM_MAX) /* a very long line: drop it */
                    acc_len = 0;
            }
        }
        int st;
        if (!ready && waitpid(pid, &st, WNOHANG) == pid) {
            char e[32];
            describe_exit(st, e, sizeof(e));
            fprintf(stderr, "notify-wait: %s exited (%s) before it was ready%s%s\n", cmd[0], e,
                    acc_len ? ": " : "", acc_len ? acc : "");
            child = -1;
            cleanup_socket();
            return 1;
        }
    }
    int rc = ready ? 0 : 1;
    if (ready) {
        printf("ready ms=%.1f pid=%d status=%s\n", t_ready - t0, (int)pid, status_text);
        fflush(stdout);
    }

    if (ready && nw > 0) {
        char env[32];
        snprintf(env, sizeof(env), "%d", (int)pid);
        setenv("NOTIFY_WAIT_PID", env, 1);
        pid_t w = fork();
        if (w < 0)
            die("fork");
        if (w == 0) {
            execvp(wargv[0], wargv);
            fprintf(stderr, "notify-wait: exec %s: %s\n", wargv[0], strerror(errno));
            _exit(127);
        }
        workload = w;
        /* Keep reading CMD's stderr (-l mode) so it never blocks on a full pipe. */
        int st;
        for (;;) {
            pid_t r = waitpid(w, &st, WNOHANG);
            if (r == w)
                break;
            if (r < 0 && errno != EINTR)
                die("waitpid");
            struct pollfd p = {.fd = eof ? -1 : fd, .events = POLLIN};
            if (poll(&p, 1, 20) > 0 &&
                drain(fd, line_text != NULL, status_text, sizeof(status_text)))
                eof = true;
        }
        workload = -1;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char e[32];
            describe_exit(st, e, sizeof(e));
            fprintf(stderr, "notify-wait: workload %s failed (%s)\n", wargv[0], e);
            rc = 1;
        }
    }

    long watches = count_watches(pid);
    long hwm = proc_status_kb(pid, "VmHWM:"), rss = proc_status_kb(pid, "VmRSS:");
    kill(pid, SIGTERM);
    int st = 0;
    double stop0 = mono_ms();
    bool reaped = false;
    while (!(reaped = wait_for(pid, 50, &st)) && mono_ms() - stop0 < STOP_TIMEOUT_MS) {
        if (!eof && drain(fd, line_text != NULL, status_text, sizeof(status_text)))
            eof = true;
    }
    if (!reaped) {
        fprintf(stderr, "notify-wait: %s still running %d ms after SIGTERM: SIGKILL\n", cmd[0],
                STOP_TIMEOUT_MS);
        kill(pid, SIGKILL);
        wait_for(pid, -1, &st);
        rc = 1;
    }
    child = -1;
    if (!line_text)
        drain(fd, false, status_text, sizeof(status_text)); /* STOPPING=1 and its STATUS= */
    char e[32];
    describe_exit(st, e, sizeof(e));
    if (ready)
        printf("stop watches=%ld vmhwm_kb=%ld vmrss_kb=%ld exit=%s stop_ms=%.0f status=%s\n",
               watches, hwm, rss, e, mono_ms() - stop0, status_text);
    close(fd);
    cleanup_socket();
    free(wargv);
    return rc;
}
