/* scan_run_parallel against the real kernel: every entry of a generated tree is visited exactly
 * once whatever the number of threads, each parent before its children, the work really is
 * shared, a visitor's SCAN_STOP ends every thread, SCAN_SKIP keeps a subtree unread, and no
 * file descriptor is left open. The serial walk (one thread) is the oracle. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "scan.h"

#define NTOP   40 /* top directories, each with NSUB subdirectories of NFILES files */
#define NSUB   25
#define NFILES 4

static char *tmp;
static int root_fd = -1;
static size_t tree_entries; /* everything below the root, the root included */

static void make_tree(void)
{
    tmp = harness_tempdir("scanpar");
    char p[1024];
    snprintf(p, sizeof(p), "%s/site", tmp);
    cr_assert(mkdir(p, 0755) == 0);
    tree_entries = 1;
    for (int t = 0; t < NTOP; t++) {
        snprintf(p, sizeof(p), "%s/site/t%02d", tmp, t);
        cr_assert(mkdir(p, 0755) == 0);
        tree_entries++;
        for (int s = 0; s < NSUB; s++) {
            snprintf(p, sizeof(p), "%s/site/t%02d/s%02d", tmp, t, s);
            cr_assert(mkdir(p, 0755) == 0);
            tree_entries++;
            for (int f = 0; f < NFILES; f++) {
                snprintf(p, sizeof(p), "%s/site/t%02d/s%02d/f%d", tmp, t, s, f);
                harness_write_file(p, "x");
                tree_entries++;
            }
        }
    }
    snprintf(p, sizeof(p), "%s/site/skipme", tmp); /* a subtree the visitor skips */
    cr_assert(mkdir(p, 0755) == 0);
    snprintf(p, sizeof(p), "%s/site/skipme/hidden", tmp);
    harness_write_file(p, "x");
    tree_entries += 2;
    snprintf(p, sizeof(p), "%s/site", tmp);
    root_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert(root_fd >= 0);
}

static void remove_tree(void)
{
    if (root_fd >= 0)
        close(root_fd);
    harness_rmtree(tmp);
    free(tmp);
}

TestSuite(scan_parallel, .init = make_tree, .fini = remove_tree);

/* What all threads share: the visit order, under a lock. */
struct shared {
    pthread_mutex_t lock;
    char **paths; /* in visit order */
    size_t n, cap;
    atomic_size_t stop_after; /* 0: never stop */
    atomic_size_t visits;
};

struct tctx {
    struct shared *sh;
    size_t visited; /* by this thread */
};

static void spin_usec(long usec)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < usec);
}

static enum scan_verdict record(void *arg, const struct scan_entry *e)
{
    struct tctx *t = arg;
    struct shared *sh = t->sh;
    cr_assert_eq(strlen(e->relpath), e->relpath_len);
    pthread_mutex_lock(&sh->lock);
    if (sh->n == sh->cap) {
        sh->cap = sh->cap ? sh->cap * 2 : 1024;
        sh->paths = realloc(sh->paths, sh->cap * sizeof(*sh->paths));
        cr_assert(sh->paths);
    }
    sh->paths[sh->n++] = strdup(e->relpath);
    pthread_mutex_unlock(&sh->lock);
    t->visited++;
    size_t v = atomic_fetch_add(&sh->visits, 1) + 1;
    size_t stop = atomic_load(&sh->stop_after);
    if (stop && v >= stop)
        return SCAN_STOP;
    if (!strcmp(e->relpath, "skipme"))
        return SCAN_SKIP;
    if (S_ISDIR(e->st->st_mode))
        spin_usec(50); /* a visitor with some work: threads must share to finish early */
    return SCAN_CONTINUE;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Open descriptors of this process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Walk with THREADS threads; returns scan_run_parallel's result, the visits in SH. */
static int walk(unsigned threads, struct shared *sh, struct tctx *t, struct scan_stats *st)
{
    struct scan_hooks h[16];
    for (unsigned i = 0; i < threads; i++) {
        t[i] = (struct tctx){.sh = sh};
        h[i] = (struct scan_hooks){.visit = record, .ctx = &t[i]};
    }
    return scan_run_parallel(root_fd, "", h, threads, st);
}

static void shared_free(struct shared *sh)
{
    for (size_t i = 0; i < sh->n; i++)
        free(sh->paths[i]);
    free(sh->paths);
}

Test(scan_parallel, every_entry_once_parents_first_work_shared)
{
    struct shared serial = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct tctx t1[1];
    struct scan_stats s1;
    cr_assert_eq(walk(1, &serial, t1, &s1), 0);
    /* everything but skipme/hidden */
    cr_assert_eq(serial.n, tree_entries - 1, "serial walk visited %zu, want %zu", serial.n,
                 tree_entries - 1);
    qsort(serial.paths, serial.n, sizeof(char *), cmp_str);

    for (unsigned threads = 2; threads <= 8; threads *= 2) {
        int fds = count_fds();
        struct shared par = {.lock = PTHREAD_MUTEX_INITIALIZER};
        struct tctx t[16];
        struct scan_stats sp;
        cr_assert_eq(walk(threads, &par, t, &sp), 0);
        cr_assert_eq(count_fds(), fds, "%u threads: descriptors left open", threads);
        cr_assert_eq(par.n, serial.n, "%u threads visited %zu entries, want %zu", threads, par.n,
                     serial.n);
        cr_assert_eq(sp.dirs, s1.dirs);
        cr_assert_eq(sp.files, s1.files);
        cr_assert_eq(sp.errors, 0);
        /* parents before children: each path's parent appears earlier in the visit order */
        cr_assert_str_eq(par.paths[0], "", "%u threads: the start first", threads);
        for (size_t i = 1; i < par.n; i++) {
            char *slash = strrchr(par.paths[i], '/');
            size_t plen = slash ? (size_t)(slash - par.paths[i]) : 0;
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = strlen(par.paths[j]) == plen && !strncmp(par.paths[j], par.paths[i], plen);
            cr_assert(seen, "%u threads: %s visited before its parent", threads, par.paths[i]);
        }
        qsort(par.paths, par.n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < par.n; i++)
            cr_assert_str_eq(par.paths[i], serial.paths[i], "%u threads", threads);
        unsigned working = 0;
        for (unsigned i = 0; i < threads; i++)
            working += t[i].visited > 0;
        cr_assert_geq(working, 2, "%u threads: only %u did any work", threads, working);
        shared_free(&par);
    }
    shared_free(&serial);
}

Test(scan_parallel, stop_ends_every_thread_and_closes_everything)
{
    int fds = count_fds();
    struct shared sh = {.lock = PTHREAD_MUTEX_INITIALIZER};
    atomic_store(&sh.stop_after, 300);
    struct tctx t[4];
    struct scan_stats st;
    errno = 0;
    cr_assert_eq(walk(4, &sh, t, &st), -1);
    cr_assert_eq(errno, ECANCELED);
    /* each thread stops at its next entry: at most one more visit per other thread */
    cr_assert_leq(sh.n, 300 + 3, "%zu visits after a stop at 300", sh.n);
    cr_assert_eq(count_fds(), fds, "descriptors left open after a stop");
    shared_free(&sh);
}
