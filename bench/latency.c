/* latency -r RATE -s SECONDS -d SITE -o WORKDIR [-i IDLE_SECONDS]: detection latency of the
 * live daemon, from a file created as root to its root_owned journal entry.
 *
 * Run by notify-wait once permwatchd (pid in $NOTIFY_WAIT_PID) is ready, inside
 * tests/journald-ns.sh (a private journald); see live-latency.sh.
 *
 *   1. Starts `journalctl -f -n all -o json _PID=PID` writing into WORKDIR/follow-RATE.json.
 *      The private journald keeps only RuntimeMaxUse=32M (about 30,000 of these entries), so
 *      the entries are read as they are stored rather than after the run, when the oldest
 *      would have been vacuumed already.
 *   2. Creates RATE x SECONDS empty files SITE/DIR/lat-RATE-I.php (open O_CREAT|O_EXCL, mode
 *      0664, then close) spread evenly over the directories two levels below SITE (mktree's),
 *      filling one directory after the other as an unpacked archive or an rsync does,
 *      paced by clock_nanosleep on absolute CLOCK_MONOTONIC deadlines (timer slack 1 ns).
 *      The directories are setgid www-data, so root_owned is the files' only finding. The
 *      CLOCK_REALTIME right after open() returned is the file's creation time.
 *   3. Waits until every file has its entry (running `journalctl --sync` every second), or
 *      until no new one came for IDLE_SECONDS (default 60: an overflow rescan may be due
 *      late). Latency = the entry's __REALTIME_TIMESTAMP (journald's receipt) - creation time.
 *
 * Prints the achieved rate, found/created, latency p50/p90/p99/max, overflow, suppressed and
 * dropped-entry counts, and a machine-readable "result ..." line. Exits 0 when every finding
 * was found, 3 when some are missing, 1 on errors. The created files are left in place. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL

struct state {
    long rate, n, found, dups, other_kinds, resolved, overflows, suppressed, dropped_msgs;
    long dropped, lines;
    int64_t *created_ns; /* CLOCK_REALTIME per file */
    int64_t *latency_ns; /* -1: not found yet */
    int64_t first_overflow_ns;
    const char *site;
    size_t site_len;
};

static pid_t follower = -1;

static void die(const char *what)
{
    fprintf(stderr, "latency: %s: %s\n", what, strerror(errno));
    if (follower > 0)
        kill(follower, SIGTERM);
    exit(1);
}

/* SIGINT/SIGTERM (notify-wait stopping us): stop the follower too. */
static void on_signal(int sig)
{
    if (follower > 0)
        kill(follower, SIGTERM);
    _exit(128 + sig);
}

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* Run ARGV, wait for it; its exit status or -1. */
static int run(char *const argv[])
{
    pid_t p = fork();
    if (p < 0)
        die("fork");
    if (p == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmp_dirs(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directories two levels below SITE (mktree's SITE/dNNN/sNNNN), sorted. */
static char **leaf_dirs(const char *site, size_t *count)
{
    size_t n = 0, cap = 1024;
    char **v = malloc(cap * sizeof(*v));
    DIR *top = opendir(site);
    if (!v || !top)
        die(site);
    for (struct dirent *e; (e = readdir(top));) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR)
            continue;
        char *mid;
        if (asprintf(&mid, "%s/%s", site, e->d_name) < 0)
            die("asprintf");
        DIR *d = opendir(mid);
        if (!d)
            die(mid);
        for (struct dirent *s; (s = readdir(d));) {
            if (s->d_name[0] == '.' || s->d_type != DT_DIR)
                continue;
            if (n == cap && !(v = realloc(v, (cap *= 2) * sizeof(*v))))
                die("realloc");
            if (asprintf(&v[n++], "%s/%s", mid, s->d_name) < 0)
                die("asprintf");
        }
        closedir(d);
        free(mid);
    }
    closedir(top);
    if (n == 0) {
        fprintf(stderr, "latency: no directories two levels below %s (make it with mktree)\n",
                site);
        exit(1);
    }
    qsort(v, n, sizeof(*v), cmp_dirs);
    *count = n;
    return v;
}

static const char *str_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* One JSON entry of the follower. Returns true when it was a new finding of ours. */
static bool take_entry(struct state *s, const char *line, size_t len)
{
    json_error_t err;
    json_t *o = json_loadb(line, len, 0, &err);
    if (!o) {
        fprintf(stderr, "latency: bad journal JSON: %s\n", err.text);
        return false;
    }
    bool fresh = false;
    const char *ev = str_field(o, "PERMWATCH_EVENT"), *kind = str_field(o, "PERMWATCH_FINDING");
    const char *path = str_field(o, "PERMWATCH_PATH"), *rt = str_field(o, "__REALTIME_TIMESTAMP");
    const char *msg = str_field(o, "MESSAGE");
    int64_t t_ns = rt ? strtoll(rt, NULL, 10) * 1000 : 0;
    if (ev && strcmp(ev, "overflow") == 0) {
        if (s->overflows++ == 0)
            s->first_overflow_ns = t_ns;
    } else if (ev && strcmp(ev, "suppressed") == 0 && str_field(o, "PERMWATCH_DROPPED")) {
        s->dropped_msgs++;
        s->dropped += atol(str_field(o, "PERMWATCH_DROPPED"));
        fprintf(stderr, "latency: permwatchd: %s\n", msg ? msg : "?");
    } else if (ev && strcmp(ev, "suppressed") == 0) {
        s->suppressed++;
        fprintf(stderr, "latency: permwatchd: %s\n", msg ? msg : "?");
    }
    long rate, i;
    const char *base = path ? strrchr(path, '/') : NULL;
    if (ev && base && strncmp(path, s->site, s->site_len) == 0 && path[s->site_len] == '/' &&
        sscanf(base, "/lat-%ld-%ld.php", &rate, &i) == 2 && rate == s->rate && i >= 0 && i < s->n) {
        if (strcmp(ev, "resolved") == 0) {
            s->resolved++;
        } else if (strcmp(ev, "finding") == 0 && kind && strcmp(kind, "root_owned") != 0) {
            s->other_kinds++;
        } else if (strcmp(ev, "finding") == 0 && kind) {
            if (s->latency_ns[i] >= 0) {
                s->dups++;
            } else if (s->created_ns[i] > 0) {
                s->latency_ns[i] = t_ns - s->created_ns[i];
                s->found++;
                fresh = true;
            }
        }
    }
    json_decref(o);
    return fresh;
}

/* Parse the complete lines appended to the follower's file since the last call. Returns how
 * many new findings of ours they held. */
static long read_follow(struct state *s, int fd, char **buf, size_t *len, size_t *cap)
{
    long fresh = 0;
    for (;;) {
        if (*cap - *len < 65536 && !(*buf = realloc(*buf, *cap *= 2)))
            die("realloc");
        ssize_t n = read(fd, *buf + *len, *cap - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read follower output");
        if (n == 0)
            break;
        *len += (size_t)n;
    }
    size_t start = 0;
    for (size_t k = 0; k < *len; k++) {
        if ((*buf)[k] != '\n')
            continue;
        if (k > start) {
            fresh += take_entry(s, *buf + start, k - start);
            s->lines++;
        }
        start = k + 1;
    }
    memmove(*buf, *buf + start, *len - start);
    *len -= start;
    return fresh;
}

/* User + system CPU seconds of PID so far (/proc/PID/stat), or 0. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], line[1024];
    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    double v = 0;
    if (fgets(line, sizeof(line), f)) {
        char *p = strrchr(line, ')');
        unsigned long ut, st;
        /* after "pid (comm)": state and fields 4-13, then utime (14) and stime (15) */
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            v = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    fclose(f);
    return v;
}

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile P of the sorted V[N], in ms. */
static double pct_ms(const int64_t *v, long n, double p)
{
    long k = (long)ceil(p / 100.0 * (double)n) - 1;
    if (k < 0)
        k = 0;
    return (double)v[k] / 1e6;
}

static void usage(void)
{
    fprintf(stderr, "usage: latency -r RATE -s SECONDS -d SITE -o WORKDIR [-i IDLE_SECONDS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long rate = 0;
    double secs = 0, idle_s = 60;
    const char *site = NULL, *workdir = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "r:s:d:o:i:")) != -1) {
        switch (opt) {
        case 'r':
            rate = atol(optarg);
            break;
        case 's':
            secs = atof(optarg);
            break;
        case 'd':
            site = optarg;
            break;
        case 'o':
            workdir = optarg;
            break;
        case 'i':
            idle_s = atof(optarg);
            break;
        default:
            usage();
        }
    }
    const char *pid_env = getenv("NOTIFY_WAIT_PID");
    if (rate <= 0 || secs <= 0 || !site || !workdir || !pid_env || optind != argc)
        usage();
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct group *gr = getgrnam("www-data");
    if (!gr)
        die("www-data group");
    gid_t web_gid = gr->gr_gid;

    struct state s = {.rate = rate, .n = (long)((double)rate * secs), .site = site};
    s.site_len = strlen(site);
    s.created_ns = calloc((size_t)s.n, sizeof(int64_t));
    s.latency_ns = malloc((size_t)s.n * sizeof(int64_t));
    if (!s.created_ns || !s.latency_ns)
        die("calloc");
    for (long i = 0; i < s.n; i++)
        s.latency_ns[i] = -1;
    size_t ndirs;
    char **dirs = leaf_dirs(site, &ndirs);
    size_t per_dir = ((size_t)s.n + ndirs - 1) / ndirs;

    /* 1. the journal follower */
    char follow_path[4096], match[64];
    snprintf(follow_path, sizeof(follow_path), "%s/follow-%ld.json", workdir, rate);
    snprintf(match, sizeof(match), "_PID=%s", pid_env);
    int out = open(follow_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int in = open(follow_path, O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0)
        die(follow_path);
    follower = fork();
    if (follower < 0)
        die("fork");
    if (follower == 0) {
        if (dup2(out, STDOUT_FILENO) < 0)
            _exit(127);
        execlp("journalctl", "journalctl", "-f", "-n", "all", "-o", "json",
               "--output-fields=PERMWATCH_EVENT,PERMWATCH_FINDING,PERMWATCH_PATH,PERMWATCH_COUNT,"
               "PERMWATCH_DROPPED,MESSAGE",
               match, (char *)NULL);
        _exit(127);
    }
    close(out);
    char *buf = malloc(1 << 20);
    size_t blen = 0, bcap = 1 << 20;
    if (!buf)
        die("malloc");

    /* the follower is up once it has shown the daemon's first entry ("started") */
    for (int64_t end = now_ns(CLOCK_MONOTONIC) + 10 * NS; s.lines == 0;) {
        read_follow(&s, in, &buf, &blen, &bcap);
        if (now_ns(CLOCK_MONOTONIC) > end) {
            fprintf(stderr, "latency: no journal entry of pid %s after 10 s\n", pid_env);
            kill(follower, SIGTERM);
            return 1;
        }
        usleep(10000);
    }

    /* 2. the files, paced */
    pid_t daemon_pid = (pid_t)atol(pid_env);
    pid_t journald_pid = getenv("JOURNALD_PID") ? (pid_t)atol(getenv("JOURNALD_PID")) : -1;
    double cpu_daemon0 = proc_cpu_s(daemon_pid), cpu_journald0 = proc_cpu_s(journald_pid);
    double cpu_follower0 = proc_cpu_s(follower), cpu_self0 = self_cpu_s();
    int64_t wall0 = now_ns(CLOCK_MONOTONIC);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    umask(0);
    char path[4096];
    bool need_chown = false;
    long late = 0;
    int64_t max_lag = 0;
    int64_t start = now_ns(CLOCK_MONOTONIC) + 20 * 1000000LL, first = 0, last = 0;
    for (long i = 0; i < s.n; i++) {
        int64_t deadline = start + (int64_t)((__int128)i * NS / rate);
        int64_t t = now_ns(CLOCK_MONOTONIC);
        if (t < deadline) {
            struct timespec ts = {.tv_sec = deadline / NS, .tv_nsec = deadline % NS};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
        } else if (t - deadline > max_lag) {
            max_lag = t - deadline;
        }
        if (t - deadline > 1000000) /* more than 1 ms behind schedule */
            late++;
        snprintf(path, sizeof(path), "%s/lat-%ld-%ld.php", dirs[(size_t)i / per_dir], rate, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0664);
        if (fd < 0)
            die(path);
        s.created_ns[i] = now_ns(CLOCK_REALTIME);
        if (i == 0) {
            struct stat st;
            if (fstat(fd, &st) < 0)
                die(path);
            need_chown = st.st_gid != web_gid;
            first = now_ns(CLOCK_MONOTONIC);
        }
        if (need_chown && fchown(fd, (uid_t)-1, web_gid) < 0)
            die(path);
        close(fd);
    }
    last = now_ns(CLOCK_MONOTONIC);
    double span = (double)(last - first) / NS;
    double achieved = s.n > 1 && span > 0 ? (double)(s.n - 1) / span : 0;

    /* 3. wait for the entries */
    int64_t idle_end = now_ns(CLOCK_MONOTONIC) + (int64_t)(idle_s * NS), next_sync = 0;
    char *sync_argv[] = {"journalctl", "--sync", NULL};
    for (;;) {
        if (read_follow(&s, in, &buf, &blen, &bcap) > 0)
            idle_end = now_ns(CLOCK_MONOTONIC) + (int64_t)(idle_s * NS);
        if (s.found == s.n)
            break;
        int64_t t = now_ns(CLOCK_MONOTONIC);
        if (t > idle_end)
            break;
        if (t >= next_sync) {
            run(sync_argv);
            next_sync = t + NS;
        }
        usleep(20000);
    }
    double cpu_self = self_cpu_s() - cpu_self0, cpu_daemon = proc_cpu_s(daemon_pid) - cpu_daemon0;
    double cpu_journald = proc_cpu_s(journald_pid) - cpu_journald0;
    double cpu_follower = proc_cpu_s(follower) - cpu_follower0;
    double wall = (double)(now_ns(CLOCK_MONOTONIC) - wall0) / NS;
    /* late entries (overflow, dropped-entry summaries) */
    run(sync_argv);
    usleep(200000);
    read_follow(&s, in, &buf, &blen, &bcap);
    kill(follower, SIGTERM);
    waitpid(follower, NULL, 0);
    follower = -1;
    read_follow(&s, in, &buf, &blen, &bcap);
    close(in);

    /* report */
    int64_t *lat = malloc((size_t)(s.found ? s.found : 1) * sizeof(int64_t));
    if (!lat)
        die("malloc");
    long k = 0;
    for (long i = 0; i < s.n; i++)
        if (s.latency_ns[i] >= 0)
            lat[k++] = s.latency_ns[i];
    qsort(lat, (size_t)k, sizeof(*lat), cmp_i64);
    printf("rate %ld/s: %ld files in %.2f s, achieved %.0f/s (max lag behind schedule %.1f ms, "
           "%ld files > 1 ms late)%s\n",
           rate, s.n, span, achieved, (double)max_lag / 1e6, late,
           need_chown ? " [directories not setgid: chgrp after create]" : "");
    printf("  found %ld / %ld root_owned entries\n", s.found, s.n);
    if (k > 0)
        printf("  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", pct_ms(lat, k, 50),
               pct_ms(lat, k, 90), pct_ms(lat, k, 99), (double)lat[k - 1] / 1e6);
    if (s.overflows)
        printf("  inotify overflow: YES, %ld overflow entries, the first %.2f s after the first "
               "file\n",
               s.overflows, (double)(s.first_overflow_ns - s.created_ns[0]) / NS);
    else
        printf("  inotify overflow: no\n");
    if (s.dropped)
        printf("  journal entries dropped by permwatchd (queue full, journald not keeping up): "
               "%ld, in %ld summaries\n",
               s.dropped, s.dropped_msgs);
    if (s.suppressed || s.dups || s.other_kinds || s.resolved)
        printf("  unexpected: %ld suppressed entries, %ld duplicates, %ld other findings, %ld "
               "resolved\n",
               s.suppressed, s.dups, s.other_kinds, s.resolved);
    printf("  CPU s over %.1f s (first file to last entry): creator %.2f, permwatchd %.2f, "
           "journald %.2f, journalctl -f %.2f\n",
           wall, cpu_self, cpu_daemon, cpu_journald, cpu_follower);
    if (s.found < s.n) {
        printf("  !!! MISSING: %ld of %ld findings never reached the journal (waited %.0f s "
               "after the last new one) !!!\n",
               s.n - s.found, s.n, idle_s);
        for (long i = 0, shown = 0; i < s.n && shown < 5; i++)
            if (s.latency_ns[i] < 0) {
                printf("      e.g. %s/lat-%ld-%ld.php\n", dirs[(size_t)i / per_dir], rate, i);
                shown++;
            }
    }
    printf("result rate=%ld created=%ld achieved=%.0f found=%ld p50_ms=%.2f p90_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f overflows=%ld dropped=%ld\n",
           rate, s.n, achieved, s.found, k ? pct_ms(lat, k, 50) : -1.0,
           k ? pct_ms(lat, k, 90) : -1.0, k ? pct_ms(lat, k, 99) : -1.0,
           k ? (double)lat[k - 1] / 1e6 : -1.0, s.overflows, s.dropped);
    fflush(stdout);
    for (size_t i = 0; i < ndirs; i++)
        free(dirs[i]);
    free(dirs);
    free(lat);
    free(buf);
    free(s.created_ns);
    free(s.latency_ns);
    return s.found == s.n ? 0 : 3;
}
