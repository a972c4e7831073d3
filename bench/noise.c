/* noise: the busy filesystem of the backend comparison (bench/run --rows backends).
 *
 *   noise write DIR SECONDS   creates, writes one byte to, closes and removes files in DIR
 *                             (1,000 names in turn) as fast as it can for SECONDS; prints
 *                             "noise files=N seconds=S rate=R cpu_s=C" (its own CPU) and, when
 *                             NOTIFY_WAIT_PID is set (bench/notify-wait.c's workload), the CPU
 *                             that process used meanwhile: "daemon_cpu_s=D".
 *   noise count PATH SECONDS  a fanotify group like permwatchd's (FAN_REPORT_DFID_NAME, a
 *                             filesystem mark on PATH's filesystem, create/attrib/close_write/
 *                             moves/rename/delete, FAN_ONDIR) reading for SECONDS: prints
 *                             "count events=N seconds=S rate=R overflows=O", the events such a
 *                             group receives (after the kernel's merging), all of which the
 *                             daemon's reader thread must read and drop.
 *
 * cc -O2 -o noise bench/noise.c. Needs root for count. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <time.h>
#include <unistd.h>

/* Seconds since an arbitrary start (CLOCK_MONOTONIC). */
static double noise_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system CPU seconds of PID (0: this process) so far, or -1. */
static double noise_cpu(pid_t pid)
{
    char path[64], buf[1024];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    else
        snprintf(path, sizeof(path), "/proc/self/stat");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    /* fields after the comm: state(3) ... utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The write mode: churn files in DIR for SECS seconds. Returns 0 or 1. */
static int noise_write(const char *dir, double secs)
{
    const char *env = getenv("NOTIFY_WAIT_PID");
    pid_t daemon = env ? (pid_t)atoi(env) : 0;
    double d0 = daemon > 0 ? noise_cpu(daemon) : 0, c0 = noise_cpu(0);
    double t0 = noise_now(), end = t0 + secs, t = t0;
    long n = 0;
    char path[4096];
    while (t < end) {
        for (int k = 0; k < 100; k++, n++) {
            snprintf(path, sizeof(path), "%s/n%ld", dir, n % 1000);
            int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0 || unlink(path) != 0) {
                fprintf(stderr, "noise: %s: %s\n", path, strerror(errno));
                return 1;
            }
        }
        t = noise_now();
    }
    double c1 = noise_cpu(0), d1 = daemon > 0 ? noise_cpu(daemon) : 0;
    printf("noise files=%ld seconds=%.2f rate=%.0f cpu_s=%.2f", n, t - t0, (double)n / (t - t0),
           c1 - c0);
    if (daemon > 0)
        printf(" daemon_cpu_s=%.3f", d1 - d0);
    printf("\n");
    return 0;
}

/* The count mode: count what a permwatchd-like fanotify group receives for SECS seconds.
 * Returns 0 or 1. */
static int noise_count(const char *path, double secs)
{
    int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC | FAN_NONBLOCK,
                           O_RDONLY | O_LARGEFILE);
    if (fd < 0) {
        fprintf(stderr, "noise: fanotify_init: %s\n", strerror(errno));
        return 1;
    }
    unsigned long long mask = FAN_CREATE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_MOVED_FROM |
                              FAN_MOVED_TO | FAN_DELETE | FAN_ONDIR;
#ifdef FAN_RENAME
    if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask | FAN_RENAME, AT_FDCWD, path) !=
        0)
#endif
        if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, path) != 0) {
            fprintf(stderr, "noise: fanotify_mark %s: %s\n", path, strerror(errno));
            return 1;
        }
    static char buf[1 << 16] __attribute__((aligned(8)));
    long events = 0, overflows = 0;
    double t0 = noise_now(), end = t0 + secs, t = t0;
    printf("count ready\n");
    fflush(stdout);
    while (t < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 50);
        for (;;) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0)
                break;
            struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
            for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
                if (m->mask & FAN_Q_OVERFLOW)
                    overflows++;
                else
                    events++;
            }
        }
        t = noise_now();
    }
    printf("count events=%ld seconds=%.2f rate=%.0f overflows=%ld\n", events, t - t0,
           (double)events / (t - t0), overflows);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || atof(argv[3]) <= 0) {
        fprintf(stderr, "usage: noise write DIR SECONDS | noise count PATH SECONDS\n");
        return 2;
    }
    if (strcmp(argv[1], "write") == 0)
        return noise_write(argv[2], atof(argv[3]));
    if (strcmp(argv[1], "count") == 0)
        return noise_count(argv[2], atof(argv[3]));
    fprintf(stderr, "noise: unknown mode %s\n", argv[1]);
    return 2;
}
