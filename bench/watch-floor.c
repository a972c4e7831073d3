/* watch-floor ROOT: how fast can inotify watches be added, with one thread and with two, on
 * one inotify instance and on one instance per thread? The floor under the live daemon's
 * startup (which adds one watch per directory): if two threads on one instance take as long
 * as one thread, watch adds serialize in the kernel and more walker threads cannot make
 * startup faster; one instance per thread tells what would.
 *
 * The directories of ROOT are listed first (not timed); then each configuration adds a watch
 * to every directory (by path, as inotifywait does; the daemon adds them through
 * /proc/self/fd/N), timed from the first add to the last, and the instances are closed
 * (removing the watches) before the next. Prints one line per configuration. Needs
 * fs.inotify.max_user_watches above twice the number of directories. Not a test. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static char **dirs;
static size_t ndirs, capdirs;

static void add_dir(const char *path)
{
    if (ndirs == capdirs) {
        capdirs = capdirs ? capdirs * 2 : 1024;
        dirs = realloc(dirs, capdirs * sizeof(*dirs));
        if (!dirs) {
            perror("realloc");
            exit(1);
        }
    }
    if (!(dirs[ndirs++] = strdup(path))) {
        perror("strdup");
        exit(1);
    }
}

/* Append every directory below PATH (PATH included) to dirs, depth first. */
static void list_dirs(const char *path)
{
    add_dir(path);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    char sub[4096];
    while ((de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) < (int)sizeof(sub))
            list_dirs(sub);
    }
    closedir(d);
}

struct job {
    int fd;
    size_t from, to;
    size_t failed;
};

static void *add_watches(void *arg)
{
    struct job *j = arg;
    for (size_t i = j->from; i < j->to; i++)
        if (inotify_add_watch(j->fd, dirs[i],
                              IN_CREATE | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) <
            0)
            j->failed++;
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Add every watch with THREADS threads on INSTANCES inotify instances (1 or THREADS). */
static void run(int threads, int instances)
{
    int fds[2];
    for (int i = 0; i < instances; i++)
        if ((fds[i] = inotify_init1(IN_CLOEXEC)) < 0) {
            perror("inotify_init1");
            exit(1);
        }
    struct job jobs[2];
    pthread_t tids[2];
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        /* interleaved halves would share directories' parents; contiguous ranges do not */
        jobs[t] = (struct job){fds[instances == 1 ? 0 : t], ndirs * (size_t)t / (size_t)threads,
                               ndirs * (size_t)(t + 1) / (size_t)threads, 0};
        pthread_create(&tids[t], NULL, add_watches, &jobs[t]);
    }
    size_t failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        failed += jobs[t].failed;
    }
    double t1 = now_s();
    printf("%d thread%s, %d inotify instance%s: %zu watches in %.3f s (%.0f/s)%s\n", threads,
           threads > 1 ? "s" : "", instances, instances > 1 ? "s" : "", ndirs - failed, t1 - t0,
           (double)(ndirs - failed) / (t1 - t0), failed ? " (some failed: raise the limit)" : "");
    for (int i = 0; i < instances; i++)
        close(fds[i]);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: watch-floor ROOT\n");
        return 2;
    }
    list_dirs(argv[1]);
    printf("%zu directories under %s\n", ndirs, argv[1]);
    for (int round = 0; round < 3; round++) {
        run(1, 1);
        run(2, 1);
        run(2, 2);
    }
    return 0;
}
