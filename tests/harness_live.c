/* harness_live: the live daemon under test: notify socket, journal reader, signals, sysctl. */
#include "harness_live.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

#define LIVE_MAX_PAIRS     16
#define LIVE_DGRAM_MAX     (64 * 1024)
#define LIVE_MAX_FDS       32
#define LIVE_STOP_DEFAULT  10000
#define LIVE_SYNC_TIMEOUT  5000
#define LIVE_READER_FILTER "SYSLOG_IDENTIFIER=permwatchd"

struct live {
    char *dir;
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int notify_fd;

    pid_t pid; /* the daemon; its process group has the same id */
    int pidfd; /* readable once it exits; -1 when reaped or unsupported */
    char pid_str[24];
    bool reaped;  /* waited for: status is valid, pid may be reused */
    int status;   /* exit code, or 128+signal */
    bool stopped; /* live_stop ran: stop_result is final */
    int stop_result;
    int stop_timeout_ms;

    pid_t reader_pid; /* journalctl -f, 0 once reaped */
    int reader_fd;    /* its stdout, -1 at EOF */
    char *line;       /* partial line from the reader */
    size_t line_len, line_cap;
    char token[64]; /* PERMWATCH_HARNESS_SYNC value of our markers */
    unsigned sync_sent, sync_seen;
    json_t *entries;         /* the daemon's entries */
    unsigned long foreign;   /* entries of other pids, dropped */
    unsigned long bad_lines; /* reader lines that were not JSON objects */

    struct live_notify *notes;
    size_t n_notes, cap_notes;
    char *status_text; /* last STATUS= of the daemon */

    struct live *next; /* in live_all */
};

/* Every live not freed yet: at exit, live_free cleans up after tests that failed halfway
 * (e.g. an assertion inside live_start, which never returned the struct to the test). */
static struct live *live_all;

/* ---- small tools ------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in microseconds. */
static uint64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Milliseconds left until DEADLINE (mono_usec), at least 0. */
static int ms_left(uint64_t deadline)
{
    uint64_t now = mono_usec();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Deadline TIMEOUT_MS (clamped at 0) from now. */
static uint64_t deadline_in(int timeout_ms)
{
    return mono_usec() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000u;
}

/* strdup that fails the test instead of returning NULL. */
static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    cr_assert(d, "out of memory");
    return d;
}

/* Async-signal-safe: write decimal V into BUF (at least 21 bytes), NUL-terminated. */
static void utoa_safe(unsigned long long v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
}

/* An absolute path to run for NAME: NAME itself when it has a '/', else its first executable
 * match in $PATH. Returns a malloc'd path or NULL. */
static char *resolve_exe(const char *name)
{
    if (strchr(name, '/'))
        return xstrdup(name);
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char *cand;
        if (asprintf(&cand, "%.*s/%s", (int)n, path, name) < 0)
            return NULL;
        if (n && access(cand, X_OK) == 0)
            return cand;
        free(cand);
        path += n + (path[n] == ':');
    }
    return NULL;
}

/* Reset what a forked child inherits but an exec'd program should not: signal mask,
 * ignored signals, open descriptors beyond 0-2. Async-signal-safe. */
static void child_reset(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL);
    close_range(3, ~0U, 0);
}

/* fork and exec ARGV[0] (absolute) with ENVP, stdin /dev/null, stdout OUT_FD, stderr ERR_FD,
 * SIGKILLed when this thread exits; PGID: its own process group. WDPID_SLOT, when not NULL,
 * is the "WATCHDOG_PID=" entry of ENVP (room for 24 more bytes) that gets the child's pid.
 * Returns the pid, or -1. */
static pid_t spawn(char *const argv[], char *const envp[], int out_fd, int err_fd, bool pgid,
                   char *wdpid_slot)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0 && pgid)
            setpgid(pid, pid); /* as the child does: whichever runs first */
        return pid;
    }
    if (pgid)
        setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(127);
    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    if (wdpid_slot)
        utoa_safe((unsigned long long)getpid(), wdpid_slot + strlen("WATCHDOG_PID="));
    child_reset();
    execve(argv[0], argv, envp);
    _exit(127);
}

/* Open DIR/NAME for writing (created 0644, truncated, close-on-exec); fails the test. */
static int open_out(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
    return fd;
}

/* Contents of DIR/NAME, malloc'd ("" when unreadable). */
static char *slurp(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return NULL;
    FILE *f = fopen(path, "r");
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            fwrite(chunk, 1, n, mem);
        fclose(f);
    }
    fclose(mem);
    return buf;
}

/* ---- notify socket ---------------------------------------------------------------------- */

/* Bind the notify socket in L->dir: SOCK_DGRAM, SO_PASSCRED, non-blocking. */
static void notify_open(struct live *l)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify.sock", l->dir);
    cr_assert(n > 0 && (size_t)n < sizeof(sa.sun_path), "notify socket path too long");
    memcpy(l->sock_path, sa.sun_path, sizeof(l->sock_path));
    l->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    cr_assert(l->notify_fd >= 0, "socket: %s", strerror(errno));
    int one = 1, rcvbuf = 1 << 20;
    cr_assert(setsockopt(l->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);
    setsockopt(l->notify_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    cr_assert(bind(l->notify_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s",
              sa.sun_path, strerror(errno));
    chmod(sa.sun_path, 0666); /* a daemon run as another user may send too */
}

/* True when TEXT has LINE as a whole line, or a line starting with LINE ending in '='. */
static bool has_line(const char *text, const char *line)
{
    size_t want = strlen(line);
    bool prefix = want && line[want - 1] == '=';
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if ((prefix ? n >= want : n == want) && strncmp(p, line, want) == 0)
            return true;
        p += n + (p[n] == '\n');
    }
    return false;
}

/* Remember the STATUS= line of TEXT (a datagram of the daemon), if any. */
static void note_status(struct live *l, const char *text)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n >= 7 && strncmp(p, "STATUS=", 7) == 0) {
            free(l->status_text);
            l->status_text = strndup(p + 7, n - 7);
        }
        p += n + (p[n] == '\n');
    }
}

/* Read every queued datagram. Returns how many arrived. */
static size_t notify_drain(struct live *l)
{
    size_t got = 0;
    static char buf[LIVE_DGRAM_MAX + 1];
    for (;;) {
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * LIVE_MAX_FDS)];
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = LIVE_DGRAM_MAX};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
        ssize_t n = recvmsg(l->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break; /* EAGAIN: nothing more */
        }
        size_t len = (size_t)n > LIVE_DGRAM_MAX ? LIVE_DGRAM_MAX : (size_t)n;
        buf[len] = '\0';
        struct live_notify note = {.pid = -1, .uid = (uid_t)-1, .mono_usec = mono_usec()};
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET)
                continue;
            if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                struct ucred uc;
                memcpy(&uc, CMSG_DATA(c), sizeof(uc));
                note.pid = uc.pid;
                note.uid = uc.uid;
            } else if (c->cmsg_type == SCM_RIGHTS) {
                /* e.g. systemd-notify's BARRIER=1: closing the fd is the answer */
                size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfd; i++) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
                    close(fd);
                }
                note.nfds += (unsigned)nfd;
            }
        }
        note.text = strndup(buf, len);
        cr_assert(note.text, "out of memory");
        if (l->n_notes == l->cap_notes) {
            size_t cap = l->cap_notes ? l->cap_notes * 2 : 64;
            struct live_notify *nn = realloc(l->notes, cap * sizeof(*nn));
            cr_assert(nn, "out of memory");
            l->notes = nn;
            l->cap_notes = cap;
        }
        l->notes[l->n_notes++] = note;
        if (note.pid == l->pid)
            note_status(l, note.text);
        got++;
    }
    return got;
}

/* ---- journal reader -------------------------------------------------------------------- */

/* Store one JSON line of the reader. */
static void reader_line(struct live *l, const char *line, size_t len)
{
    if (len == 0)
        return;
    json_error_t err;
    json_t *o = json_loadb(line, len, 0, &err);
    if (!json_is_object(o)) {
        l->bad_lines++;
        fprintf(stderr, "harness_live: reader line is not a JSON object (%s): %.*s\n", err.text,
                (int)(len > 200 ? 200 : len), line);
        json_decref(o);
        return;
    }
    const char *sync = live_field(o, "PERMWATCH_HARNESS_SYNC");
    if (sync) {
        const char *seq = live_field(o, "PERMWATCH_HARNESS_SEQ");
        if (strcmp(sync, l->token) == 0 && seq) {
            unsigned s = (unsigned)strtoul(seq, NULL, 10);
            if (s > l->sync_seen)
                l->sync_seen = s;
        }
        json_decref(o);
        return;
    }
    const char *pid = live_field(o, "_PID");
    if (pid && strcmp(pid, l->pid_str) == 0) {
        json_array_append_new(l->entries, o);
    } else {
        l->foreign++;
        json_decref(o);
    }
}

/* Read what the reader printed. Returns true when a whole line arrived. */
static bool reader_drain(struct live *l)
{
    bool lines = false;
    while (l->reader_fd >= 0) {
        if (l->line_cap - l->line_len < 65536) {
            size_t cap = l->line_cap ? l->line_cap * 2 : 262144;
            char *nb = realloc(l->line, cap);
            cr_assert(nb, "out of memory");
            l->line = nb;
            l->line_cap = cap;
        }
        ssize_t n = read(l->reader_fd, l->line + l->line_len, l->line_cap - l->line_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                close(l->reader_fd);
                l->reader_fd = -1;
            }
            break;
        }
        size_t start = 0, end = l->line_len + (size_t)n;
        for (size_t i = l->line_len; i < end; i++) {
            if (l->line[i] == '\n') {
                reader_line(l, l->line + start, i - start);
                start = i + 1;
                lines = true;
            }
        }
        memmove(l->line, l->line + start, end - start);
        l->line_len = end - start;
    }
    return lines;
}

/* Log marker SEQ of L (SYSLOG_IDENTIFIER=permwatch-harness, PERMWATCH_HARNESS_SYNC=token):
 * journald serves its native socket in order, so the marker lands after every entry sent
 * before it. Returns 0 or a negative errno. */
static int marker_send(const struct live *l, unsigned seq)
{
    return sd_journal_send(
        "MESSAGE=permwatch test harness: marker %u", seq, "SYSLOG_IDENTIFIER=permwatch-harness",
        "PRIORITY=7", "PERMWATCH_HARNESS_SYNC=%s", l->token, "PERMWATCH_HARNESS_SEQ=%u", seq, NULL);
}

/* Log marker 0 and return its cursor (malloc'd) once journald stored it. */
static char *marker_cursor(const struct live *l)
{
    int r = marker_send(l, 0);
    cr_assert(r >= 0, "sd_journal_send: %s", strerror(-r));
    sd_journal *j;
    r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
    cr_assert(r >= 0, "sd_journal_open: %s", strerror(-r));
    char match[128];
    snprintf(match, sizeof(match), "PERMWATCH_HARNESS_SYNC=%s", l->token);
    cr_assert(sd_journal_add_match(j, match, 0) >= 0);
    char *cursor = NULL;
    uint64_t deadline = deadline_in(LIVE_SYNC_TIMEOUT);
    while (!cursor && ms_left(deadline) > 0) {
        if (sd_journal_seek_tail(j) >= 0 && sd_journal_previous(j) > 0 &&
            sd_journal_get_cursor(j, &cursor) >= 0)
            break;
        sd_journal_wait(j, (uint64_t)ms_left(deadline) * 1000u);
    }
    sd_journal_close(j);
    cr_assert(cursor, "the journal did not store the harness's marker within %d ms",
              LIVE_SYNC_TIMEOUT);
    return cursor;
}

/* Start `journalctl -f` for the daemon's entries and our markers, right after marker 0.
 *
 * The follow race: `journalctl -f -n 0` starts at whatever the tail is once it has opened the
 * journal, which may be after the daemon's first entries; `--since now` has the same problem
 * with clocks. A cursor fixes the position before the daemon exists. It must be the cursor of
 * an entry the reader's filter matches: --after-cursor seeks there and skips one *matching*
 * entry (systemd 252), so a cursor on anyone else's entry would swallow the daemon's first.
 * Hence our own marker 0, which the filter matches through PERMWATCH_HARNESS_SYNC. */
static void reader_start(struct live *l)
{
    static unsigned counter;
    snprintf(l->token, sizeof(l->token), "%d-%u-%llx", (int)getpid(), ++counter,
             (unsigned long long)mono_usec());
    char *cursor = marker_cursor(l);
    char *after = NULL, *marker = NULL;
    cr_assert(asprintf(&after, "--after-cursor=%s", cursor) > 0);
    cr_assert(asprintf(&marker, "PERMWATCH_HARNESS_SYNC=%s", l->token) > 0);
    char *exe = resolve_exe("journalctl");
    cr_assert(exe, "journalctl is not installed");
    /* --lines=all: -f alone means -n 10, which must not limit what follows the cursor */
    char *argv[12];
    size_t k = 0;
    static const char *const fixed[] = {"--follow",   "--output=json", "--all",
                                        "--no-pager", "--quiet",       "--lines=all"};
    argv[k++] = exe;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[k++] = (char *)fixed[i];
    argv[k++] = after;
    argv[k++] = LIVE_READER_FILTER;
    argv[k++] = "+";
    argv[k++] = marker;
    argv[k] = NULL;
    int p[2];
    cr_assert(pipe2(p, O_CLOEXEC) == 0);
    int err_fd = open_out(l->dir, "journalctl.err");
    l->reader_pid = spawn(argv, environ, p[1], err_fd, false, NULL);
    int fork_err = errno;
    close(p[1]);
    close(err_fd);
    free(exe);
    free(after);
    free(marker);
    free(cursor);
    cr_assert(l->reader_pid > 0, "fork: %s", strerror(fork_err));
    l->reader_fd = p[0];
    fcntl(l->reader_fd, F_SETFL, O_NONBLOCK);
}

/* SIGTERM the reader (SIGKILL after 2 s), read the rest of its output, reap it. */
static void reader_stop(struct live *l)
{
    if (l->reader_pid > 0) {
        kill(l->reader_pid, SIGTERM);
        uint64_t deadline = deadline_in(2000);
        int st;
        while (waitpid(l->reader_pid, &st, WNOHANG) == 0) {
            if (ms_left(deadline) == 0) {
                kill(l->reader_pid, SIGKILL);
                waitpid(l->reader_pid, &st, 0);
                break;
            }
            reader_drain(l);
            usleep(5000);
        }
        l->reader_pid = 0;
    }
    if (l->reader_fd >= 0) {
        fcntl(l->reader_fd, F_SETFL, 0); /* writer gone: read to EOF */
        reader_drain(l);
    }
}

/* ---- the daemon ------------------------------------------------------------------------- */

/* Number of entries of a NULL-terminated array (NULL: 0). */
static size_t vlen(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* True when ENTRY ("NAME=value") names a variable the harness sets or OPTS->env overrides. */
static bool env_replaced(const char *entry, const struct live_opts *o)
{
    static const char *const ours[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                                       "JOURNAL_STREAM", NULL};
    size_t n = strcspn(entry, "=");
    for (size_t i = 0; ours[i]; i++)
        if (strlen(ours[i]) == n && strncmp(entry, ours[i], n) == 0)
            return true;
    for (size_t i = 0; o && o->env && o->env[i]; i++)
        if (strncmp(entry, o->env[i], n + 1) == 0)
            return true;
    return false;
}

/* The daemon's environment: ours without the variables it replaces, NOTIFY_SOCKET, the
 * watchdog, then OPTS->env. *WDPID_SLOT gets the WATCHDOG_PID entry to fill in, if any.
 * Every string is malloc'd; free with free_vec. */
static char **daemon_env(const struct live *l, const struct live_opts *o, char **wdpid_slot)
{
    size_t n = vlen((const char *const *)environ) + vlen(o ? o->env : NULL) + 4, k = 0;
    char **env = calloc(n, sizeof(*env));
    cr_assert(env, "out of memory");
    for (char **e = environ; *e; e++)
        if (!env_replaced(*e, o))
            env[k++] = xstrdup(*e);
    cr_assert(asprintf(&env[k++], "NOTIFY_SOCKET=%s", l->sock_path) > 0);
    *wdpid_slot = NULL;
    bool user_wdpid = false;
    for (size_t i = 0; o && o->env && o->env[i]; i++)
        user_wdpid |= strncmp(o->env[i], "WATCHDOG_PID=", 13) == 0;
    if (o && o->watchdog_usec) {
        cr_assert(asprintf(&env[k++], "WATCHDOG_USEC=%llu", (unsigned long long)o->watchdog_usec) >
                  0);
        if (!o->watchdog_no_pid && !user_wdpid) {
            env[k] = calloc(1, strlen("WATCHDOG_PID=") + 24);
            cr_assert(env[k], "out of memory");
            strcpy(env[k], "WATCHDOG_PID=");
            *wdpid_slot = env[k++];
        }
    }
    for (size_t i = 0; o && o->env && o->env[i]; i++)
        env[k++] = xstrdup(o->env[i]);
    env[k] = NULL;
    return env;
}

/* free each string of the NULL-terminated V, then V. */
static void free_vec(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* The daemon's argv: wrapper, then opts->argv or permwatchd -c CONFIG --log-target journal
 * and extra_argv. argv[0] resolved to an absolute path. free_vec frees it. */
static char **daemon_argv(const char *config_path, const struct live_opts *o)
{
    const char *const *wrap = o ? o->wrapper : NULL;
    const char *const *cmd = o ? o->argv : NULL;
    size_t n = vlen(wrap) + vlen(cmd) + vlen(o ? o->extra_argv : NULL) + 8, k = 0;
    char **argv = calloc(n, sizeof(*argv));
    cr_assert(argv, "out of memory");
    for (size_t i = 0; wrap && wrap[i]; i++)
        argv[k++] = xstrdup(wrap[i]);
    if (cmd) {
        for (size_t i = 0; cmd[i]; i++)
            argv[k++] = xstrdup(cmd[i]);
    } else {
        char bin[PATH_MAX];
        cr_assert(config_path, "live_start: no config and no opts->argv");
        argv[k++] = xstrdup(harness_build_path("permwatchd", bin, sizeof(bin)));
        argv[k++] = xstrdup("-c");
        argv[k++] = xstrdup(config_path);
        argv[k++] = xstrdup("--log-target");
        argv[k++] = xstrdup("journal");
        for (size_t i = 0; o && o->extra_argv && o->extra_argv[i]; i++)
            argv[k++] = xstrdup(o->extra_argv[i]);
    }
    cr_assert(k > 0, "live_start: empty command");
    char *exe = resolve_exe(argv[0]);
    cr_assert(exe, "live_start: %s not found", argv[0]);
    free(argv[0]);
    argv[0] = exe;
    return argv;
}

/* atexit: free the lives a test left behind. */
static void live_free_all(void)
{
    while (live_all)
        live_free(live_all);
}

/* PERMWATCH_TEST_BACKEND (fanotify, inotify): make CONFIG_PATH's daemon use that backend, in
 * place (so that reloads of the same file keep it): `backend = ...` after its [daemon] line, or
 * in a new [daemon] section. A file that names a backend already (a test pinning one) stays. */
static void inject_backend(const char *config_path)
{
    const char *b = getenv("PERMWATCH_TEST_BACKEND");
    if (!b || !*b || !config_path)
        return;
    if (access(config_path, R_OK) != 0)
        return; /* a test of a missing config */
    char *text = harness_slurp(config_path);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        line += strspn(line, " \t");
        if (strncmp(line, "backend", 7) == 0 && strchr(" \t=", line[7])) {
            free(text);
            return;
        }
    }
    char *out = NULL;
    char *d = strstr(text, "[daemon]");
    while (d && d != text && d[-1] != '\n')
        d = strstr(d + 1, "[daemon]");
    int rc;
    if (d) {
        char *eol = strchr(d, '\n');
        size_t at = eol ? (size_t)(eol + 1 - text) : strlen(text);
        rc = asprintf(&out, "%.*s%sbackend = %s\n%s", (int)at, text, eol ? "" : "\n", b, text + at);
    } else {
        rc = asprintf(&out, "%s\n[daemon]\nbackend = %s\n", text, b);
    }
    cr_assert_geq(rc, 0, "out of memory");
    harness_write_file(config_path, out);
    free(out);
    free(text);
}

struct live *live_start(const char *config_path, const struct live_opts *opts)
{
    static bool hooked;
    cr_assert(getenv("JOURNALD_PID"),
              "live tests run inside tests/journald-ns.sh (a private journald); name the "
              "test binary test_live* so that tests/run-tests.sh does so");
    struct live *l = calloc(1, sizeof(*l));
    cr_assert(l, "out of memory");
    if (!hooked) {
        atexit(live_free_all);
        hooked = true;
    }
    l->next = live_all;
    live_all = l;
    l->notify_fd = l->reader_fd = l->pidfd = -1;
    l->stop_timeout_ms =
        opts && opts->stop_timeout_ms > 0 ? opts->stop_timeout_ms : LIVE_STOP_DEFAULT;
    l->entries = json_array();
    cr_assert(l->entries, "out of memory");
    l->dir = harness_tempdir("live");
    notify_open(l);

    /* The reader first: it starts right after a marker stored before the daemon exists, so
     * it shows every entry the daemon writes however late journalctl itself gets going. */
    reader_start(l);

    char *wdpid_slot;
    if (!opts || !opts->argv)
        inject_backend(config_path);
    char **argv = daemon_argv(config_path, opts);
    char **env = daemon_env(l, opts, &wdpid_slot);
    int out_fd = open_out(l->dir, "daemon.out"), err_fd = open_out(l->dir, "daemon.err");
    l->pid = spawn(argv, env, out_fd, err_fd, true, wdpid_slot);
    int fork_err = errno;
    close(out_fd);
    close(err_fd);
    free_vec(argv);
    free_vec(env);
    cr_assert(l->pid > 0, "fork: %s", strerror(fork_err));
    snprintf(l->pid_str, sizeof(l->pid_str), "%d", (int)l->pid);
    l->pidfd = (int)syscall(SYS_pidfd_open, l->pid, 0);
    return l;
}

pid_t live_pid(const struct live *l)
{
    return l->pid;
}

const char *live_dir(const struct live *l)
{
    return l->dir;
}

/* Reap the daemon if it exited: first SIGKILL what is left of its process group (while the
 * zombie still holds the id), then record the status. Returns true once reaped. */
static bool daemon_reap(struct live *l, bool block)
{
    if (l->reaped)
        return true;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    int flags = WEXITED | WNOWAIT | (block ? 0 : WNOHANG);
    while (waitid(P_PID, (id_t)l->pid, &si, flags) < 0) {
        if (errno == ECHILD) { /* reaped behind our back: nothing left to wait for */
            l->reaped = true;
            l->status = -1;
            return true;
        }
        if (errno != EINTR)
            return false;
    }
    if (si.si_pid != l->pid)
        return false;
    kill(-l->pid, SIGKILL);
    int st;
    while (waitpid(l->pid, &st, 0) < 0 && errno == EINTR)
        ;
    l->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    l->reaped = true;
    if (l->pidfd >= 0) {
        close(l->pidfd);
        l->pidfd = -1;
    }
    return true;
}

bool live_running(struct live *l)
{
    return !daemon_reap(l, false);
}

bool live_pump(struct live *l, int timeout_ms)
{
    bool got = false;
    uint64_t deadline = deadline_in(timeout_ms);
    for (;;) {
        got |= notify_drain(l) > 0;
        got |= reader_drain(l);
        if (got || !live_running(l))
            break;
        int left = ms_left(deadline);
        if (left == 0)
            break;
        /* the pidfd wakes us when the daemon exits; without one, look every 50 ms */
        struct pollfd p[3] = {{.fd = l->notify_fd, .events = POLLIN},
                              {.fd = l->pidfd, .events = POLLIN},
                              {.fd = l->reader_fd, .events = POLLIN}};
        if (l->pidfd < 0 && left > 50)
            left = 50;
        if (poll(p, l->reader_fd >= 0 ? 3 : 2, left) < 0 && errno != EINTR)
            break;
    }
    return got;
}

/* ---- notify queries --------------------------------------------------------------------- */

ssize_t live_notify_index(const struct live *l, const char *line, size_t nth)
{
    for (size_t i = 0; i < l->n_notes; i++)
        if (l->notes[i].pid == l->pid && has_line(l->notes[i].text, line) && nth-- == 0)
            return (ssize_t)i;
    return -1;
}

size_t live_notify_count(const struct live *l, const char *line)
{
    size_t c = 0;
    for (size_t i = 0; i < l->n_notes; i++)
        c += l->notes[i].pid == l->pid && has_line(l->notes[i].text, line);
    return c;
}

bool live_wait_notify_count(struct live *l, const char *line, size_t count, int timeout_ms)
{
    uint64_t deadline = deadline_in(timeout_ms);
    for (;;) {
        if (live_notify_count(l, line) >= count)
            return true;
        if (ms_left(deadline) == 0)
            return false;
        if (l->reaped) { /* what it sent before exiting is queued: one last look */
            notify_drain(l);
            return live_notify_count(l, line) >= count;
        }
        live_pump(l, ms_left(deadline));
    }
}

bool live_wait_notify(struct live *l, const char *line, int timeout_ms)
{
    return live_wait_notify_count(l, line, 1, timeout_ms);
}

const struct live_notify *live_notify_at(const struct live *l, size_t i)
{
    return i < l->n_notes ? &l->notes[i] : NULL;
}

size_t live_notify_total(const struct live *l)
{
    return l->n_notes;
}

const char *live_notify_status(const struct live *l)
{
    return l->status_text;
}

/* ---- journal queries -------------------------------------------------------------------- */

const char *live_field(const json_t *entry, const char *name)
{
    return json_string_value(json_object_get(entry, name));
}

/* True when journal JSON value V equals WANT: a string, an array of bytes (a binary value),
 * or an array of either (a repeated field: any element). */
static bool value_is(const json_t *v, const char *want)
{
    if (json_is_string(v))
        return strcmp(json_string_value(v), want) == 0;
    if (!json_is_array(v))
        return false;
    size_t n = json_array_size(v), wl = strlen(want);
    if (n && json_is_integer(json_array_get(v, 0))) {
        if (n != wl)
            return false;
        for (size_t i = 0; i < n; i++)
            if (json_integer_value(json_array_get(v, i)) != (unsigned char)want[i])
                return false;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (value_is(json_array_get(v, i), want))
            return true;
    return false;
}

struct pairs {
    size_t n;
    const char *name[LIVE_MAX_PAIRS], *value[LIVE_MAX_PAIRS];
};

/* Collect FIELD, VALUE, ..., NULL from AP. */
static void pairs_collect(struct pairs *p, va_list ap)
{
    p->n = 0;
    for (const char *name; (name = va_arg(ap, const char *));) {
        cr_assert(p->n < LIVE_MAX_PAIRS, "harness_live: too many FIELD, VALUE pairs");
        const char *value = va_arg(ap, const char *);
        cr_assert(value, "harness_live: field %s has no value (pairs end with one NULL)", name);
        p->name[p->n] = name;
        p->value[p->n++] = value;
    }
}

/* Index of the NTH stored entry matching P, or -1. */
static ssize_t find_entry(const struct live *l, const struct pairs *p, size_t nth)
{
    for (size_t i = 0; i < json_array_size(l->entries); i++) {
        json_t *e = json_array_get(l->entries, i);
        size_t k = 0;
        while (k < p->n && value_is(json_object_get(e, p->name[k]), p->value[k]))
            k++;
        if (k == p->n && nth-- == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* live_wait_nth_entry with the pairs collected. */
static json_t *wait_entry(struct live *l, size_t nth, int timeout_ms, const struct pairs *p)
{
    uint64_t deadline = deadline_in(timeout_ms);
    for (;;) {
        ssize_t i = find_entry(l, p, nth);
        if (i >= 0)
            return json_array_get(l->entries, (size_t)i);
        int left = ms_left(deadline);
        if (left == 0)
            return NULL;
        if (l->reaped) { /* it may still be in journald's queue: one barrier, one look */
            if (l->reader_fd >= 0)
                live_sync(l, left);
            i = find_entry(l, p, nth);
            return i >= 0 ? json_array_get(l->entries, (size_t)i) : NULL;
        }
        live_pump(l, left);
    }
}

json_t *live_wait_entry(struct live *l, int timeout_ms, ...)
{
    struct pairs p;
    va_list ap;
    va_start(ap, timeout_ms);
    pairs_collect(&p, ap);
    va_end(ap);
    return wait_entry(l, 0, timeout_ms, &p);
}

json_t *live_wait_nth_entry(struct live *l, size_t nth, int timeout_ms, ...)
{
    struct pairs p;
    va_list ap;
    va_start(ap, timeout_ms);
    pairs_collect(&p, ap);
    va_end(ap);
    return wait_entry(l, nth, timeout_ms, &p);
}

size_t live_count_entries(const struct live *l, ...)
{
    struct pairs p;
    va_list ap;
    va_start(ap, l);
    pairs_collect(&p, ap);
    va_end(ap);
    size_t c = 0;
    while (find_entry(l, &p, c) >= 0)
        c++;
    return c;
}

json_t *live_entries(const struct live *l)
{
    return l->entries;
}

bool live_sync(struct live *l, int timeout_ms)
{
    if (l->reader_fd < 0)
        return false;
    unsigned seq = ++l->sync_sent;
    int r = marker_send(l, seq);
    if (r < 0) {
        fprintf(stderr, "harness_live: sd_journal_send: %s\n", strerror(-r));
        return false;
    }
    uint64_t deadline = deadline_in(timeout_ms);
    while (l->sync_seen < seq) {
        int left = ms_left(deadline);
        if (left == 0 || l->reader_fd < 0)
            return false;
        live_pump(l, left);
    }
    return true;
}

void live_settle(struct live *l, int ms)
{
    uint64_t deadline = deadline_in(ms);
    while (ms_left(deadline) > 0 && live_running(l))
        live_pump(l, ms_left(deadline));
    if (!live_sync(l, LIVE_SYNC_TIMEOUT))
        fprintf(stderr, "harness_live: live_settle: the journal barrier timed out\n");
}

/* ---- process ---------------------------------------------------------------------------- */

void live_signal(struct live *l, int sig)
{
    if (!daemon_reap(l, false))
        kill(l->pid, sig);
}

int live_stop(struct live *l)
{
    if (l->stopped)
        return l->stop_result;
    l->stopped = true;
    l->stop_result = -1;
    if (!daemon_reap(l, false)) {
        kill(l->pid, SIGTERM);
        uint64_t deadline = deadline_in(l->stop_timeout_ms);
        while (!daemon_reap(l, false) && ms_left(deadline) > 0)
            live_pump(l, ms_left(deadline));
        if (!l->reaped) {
            fprintf(stderr, "harness_live: daemon %d ignored SIGTERM for %d ms: killed\n",
                    (int)l->pid, l->stop_timeout_ms);
            kill(-l->pid, SIGKILL);
            kill(l->pid, SIGKILL);
            daemon_reap(l, true);
            l->stop_result = -1;
        } else {
            l->stop_result = l->status;
        }
    } else {
        l->stop_result = l->status;
    }
    notify_drain(l);
    if (!live_sync(l, LIVE_SYNC_TIMEOUT))
        fprintf(stderr, "harness_live: live_stop: the journal barrier timed out\n");
    reader_stop(l);
    return l->stop_result;
}

void live_free(struct live *l)
{
    if (!l)
        return;
    for (struct live **p = &live_all; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    if (l->pid > 0 && !l->reaped) {
        kill(-l->pid, SIGKILL);
        kill(l->pid, SIGKILL);
        daemon_reap(l, true);
    }
    if (l->reader_pid > 0) {
        kill(l->reader_pid, SIGKILL);
        waitpid(l->reader_pid, NULL, 0);
    }
    if (l->reader_fd >= 0)
        close(l->reader_fd);
    if (l->pidfd >= 0)
        close(l->pidfd);
    if (l->notify_fd >= 0)
        close(l->notify_fd);
    for (size_t i = 0; i < l->n_notes; i++)
        free(l->notes[i].text);
    free(l->notes);
    free(l->status_text);
    free(l->line);
    json_decref(l->entries);
    if (l->dir) {
        harness_rmtree(l->dir);
        free(l->dir);
    }
    free(l);
}

char *live_stderr(const struct live *l)
{
    return slurp(l->dir, "daemon.err");
}

void live_dump(const struct live *l)
{
    static const char *const files[] = {"daemon.err", "daemon.out", "journalctl.err"};
    fprintf(stderr, "---- live daemon pid %d (%s) in %s\n", (int)l->pid,
            l->reaped ? "exited" : "running", l->dir);
    if (l->reaped)
        fprintf(stderr, "exit status %d\n", l->status);
    for (size_t i = 0; i < 3; i++) {
        char *text = slurp(l->dir, files[i]);
        if (text && *text)
            fprintf(stderr, "---- %s:\n%s%s", files[i], text,
                    text[strlen(text) - 1] == '\n' ? "" : "\n");
        free(text);
    }
    fprintf(stderr, "---- %zu notify datagrams:\n", l->n_notes);
    for (size_t i = 0; i < l->n_notes; i++) {
        fprintf(stderr, "[%zu] pid %d%s +%llums: ", i, (int)l->notes[i].pid,
                l->notes[i].pid == l->pid ? "" : " (not the daemon)",
                (unsigned long long)(l->notes[i].mono_usec - l->notes[0].mono_usec) / 1000);
        for (const char *p = l->notes[i].text; *p; p++)
            fputc(*p == '\n' ? '|' : *p, stderr);
        fputc('\n', stderr);
    }
    fprintf(stderr, "---- %zu journal entries (%lu of other pids dropped, %lu bad lines):\n",
            json_array_size(l->entries), l->foreign, l->bad_lines);
    size_t i;
    json_t *e;
    json_array_foreach(l->entries, i, e)
    {
        const char *ev = live_field(e, "PERMWATCH_EVENT"), *msg = live_field(e, "MESSAGE");
        fprintf(stderr, "[%zu] %s %s: %s", i, ev ? ev : "-",
                live_field(e, "PERMWATCH_FINDING") ? live_field(e, "PERMWATCH_FINDING") : "",
                msg ? msg : "(binary)");
        const char *path = live_field(e, "PERMWATCH_PATH");
        fprintf(stderr, "%s%s\n", path ? " path=" : "", path ? path : "");
    }
    fprintf(stderr, "---- end\n");
}

/* ---- fs.inotify.max_queued_events ------------------------------------------------------- */

#define QE_PATH "/proc/sys/fs/inotify/max_queued_events"

static struct {
    int fd;            /* the sysctl, flock'ed while lowered; -1 when not */
    char old_text[24]; /* the value to put back, "N\n" */
    size_t old_len;
    pid_t guardian;
    int guardian_fd; /* write end: a byte means "restored", EOF means "restore it" */
    bool hooked;     /* atexit registered */
    struct sigaction prev[3];
} qe = {.fd = -1, .guardian_fd = -1};

static const int qe_signals[3] = {SIGTERM, SIGINT, SIGABRT};

/* Async-signal-safe: write the old value back. */
static void qe_put_back(void)
{
    if (qe.fd >= 0)
        (void)!pwrite(qe.fd, qe.old_text, qe.old_len, 0);
}

/* SIGTERM/SIGINT/SIGABRT while lowered: restore, then die of SIG as before. */
static void qe_on_signal(int sig)
{
    qe_put_back();
    for (size_t i = 0; i < 3; i++)
        if (qe_signals[i] == sig)
            sigaction(sig, &qe.prev[i], NULL);
    raise(sig);
}

/* atexit: restore when a test exits without doing so. */
static void qe_at_exit(void)
{
    if (qe.fd >= 0)
        live_queued_events_restore((unsigned)strtoul(qe.old_text, NULL, 10));
}

/* The guardian (forked): outlives the test process; when its pipe reaches EOF without the
 * "restored" byte, the test died: put the old value back. Holds the lock until done. */
__attribute__((noreturn)) static void qe_guardian(int rfd)
{
    setpgid(0, 0);
    struct sigaction ign;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &ign, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
    }
    int lo = rfd < qe.fd ? rfd : qe.fd, hi = rfd < qe.fd ? qe.fd : rfd;
    if (lo > 3)
        close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1)
        close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0U, 0);
    char c;
    ssize_t r;
    while ((r = read(rfd, &c, 1)) < 0 && errno == EINTR)
        ;
    if (r != 1)
        qe_put_back();
    _exit(0);
}

int live_queued_events_set(unsigned n, unsigned *old)
{
    if (qe.fd >= 0) {
        errno = EBUSY;
        return -1;
    }
    int fd = open(QE_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* another test (any process) has it lowered: wait for it, up to a minute */
    uint64_t deadline = deadline_in(60000);
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || ms_left(deadline) == 0) {
            int err = errno == EWOULDBLOCK ? EBUSY : errno;
            close(fd);
            errno = err;
            return -1;
        }
        usleep(10000);
    }
    char buf[32];
    ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);
    if (r <= 0) {
        int err = r < 0 ? errno : EIO;
        close(fd);
        errno = err;
        return -1;
    }
    buf[r] = '\0';
    unsigned long cur = strtoul(buf, NULL, 10);
    utoa_safe(cur, qe.old_text);
    qe.old_len = strlen(qe.old_text);
    qe.old_text[qe.old_len++] = '\n';
    qe.old_text[qe.old_len] = '\0';
    qe.fd = fd;

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        goto fail;
    qe.guardian = fork();
    if (qe.guardian == 0) {
        close(p[1]);
        qe_guardian(p[0]);
    }
    close(p[0]);
    if (qe.guardian < 0) {
        close(p[1]);
        goto fail;
    }
    qe.guardian_fd = p[1];
    if (!qe.hooked) {
        atexit(qe_at_exit);
        qe.hooked = true;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = qe_on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; i++)
        sigaction(qe_signals[i], &sa, &qe.prev[i]);

    char text[24];
    utoa_safe(n, text);
    size_t len = strlen(text);
    text[len++] = '\n';
    if (pwrite(fd, text, len, 0) != (ssize_t)len) {
        int err = errno;
        live_queued_events_restore((unsigned)cur);
        errno = err;
        return -1;
    }
    if (old)
        *old = (unsigned)cur;
    return 0;
fail:;
    int err = errno;
    close(fd);
    qe.fd = -1;
    errno = err;
    return -1;
}

int live_queued_events_restore(unsigned old)
{
    if (qe.fd < 0) {
        errno = EINVAL;
        return -1;
    }
    char text[24];
    utoa_safe(old, text);
    size_t len = strlen(text);
    text[len++] = '\n';
    int rc = pwrite(qe.fd, text, len, 0) == (ssize_t)len ? 0 : -1;
    int err = errno;
    for (size_t i = 0; i < 3; i++)
        sigaction(qe_signals[i], &qe.prev[i], NULL);
    if (qe.guardian_fd >= 0) {
        if (rc == 0)
            (void)!write(qe.guardian_fd, "k", 1);
        close(qe.guardian_fd);
        qe.guardian_fd = -1;
    }
    if (qe.guardian > 0) {
        while (waitpid(qe.guardian, NULL, 0) < 0 && errno == EINTR)
            ;
        qe.guardian = 0;
    }
    close(qe.fd);
    qe.fd = -1;
    errno = err;
    return rc;
}

/* ---- other users ------------------------------------------------------------------------ */

int live_as_user(const char *user, const char *shell_cmd)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        fprintf(stderr, "live_as_user: no user %s\n", user);
        return -1;
    }
    char ruid[32], rgid[32];
    snprintf(ruid, sizeof(ruid), "--reuid=%u", (unsigned)pw->pw_uid);
    snprintf(rgid, sizeof(rgid), "--regid=%u", (unsigned)pw->pw_gid);
    char *exe = resolve_exe("setpriv");
    if (!exe) {
        fprintf(stderr, "live_as_user: setpriv is missing (util-linux)\n");
        return -1;
    }
    char *argv[] = {exe, ruid, rgid, "--init-groups", "/bin/sh", "-c", (char *)shell_cmd, NULL};
    struct run_result r;
    int rc = harness_run(argv, &r);
    free(exe);
    if (rc < 0) {
        fprintf(stderr, "live_as_user: setpriv: %s\n", strerror(errno));
        return -1;
    }
    size_t el = strlen(r.err);
    if (r.status != 0 && el)
        fprintf(stderr, "live_as_user %s: `%s` exited %d: %s%s", user, shell_cmd, r.status, r.err,
                r.err[el - 1] == '\n' ? "" : "\n");
    rc = r.status;
    run_result_free(&r);
    return rc;
}
