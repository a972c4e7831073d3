/* scan_run_parallel against the real kernel: every entry of a generated tree is visited exactly
 * once whatever the number of threads, each parent before its children, the work really is
 * shared, a visitor's SCAN_STOP ends every thread, SCAN_SKIP keeps a subtree unread, and no
 * file descriptor is left open. The serial walk (one thread) is the oracle. */
#include <criterion/criterion.h>
#include <stdbool.h>
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

/* ---- the pipelined walk ------------------------------------------------------------------ */

struct pctx {
    pthread_t caller;
    char **seq; /* "E relpath" for entries, "O relpath token" for opened, in call order */
    size_t n, cap;
    atomic_long prewatches;
    size_t stop_at; /* 0: never */
    bool off_thread;
};

static void pseq_add(struct pctx *p, char *s)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 1024;
        p->seq = realloc(p->seq, p->cap * sizeof(*p->seq));
        cr_assert(p->seq);
    }
    p->seq[p->n++] = s;
}

static enum scan_verdict pvisit(void *arg, const struct scan_entry *e)
{
    struct pctx *p = arg;
    if (!pthread_equal(pthread_self(), p->caller))
        p->off_thread = true;
    char *s;
    cr_assert(asprintf(&s, "E %s", e->relpath) > 0);
    pseq_add(p, s);
    /* dirfd + name reach the entry while the caller visits it */
    struct stat st;
    cr_assert_eq(fstatat(e->dirfd, *e->name ? e->name : ".", &st, AT_SYMLINK_NOFOLLOW), 0, "%s: %s",
                 e->relpath, strerror(errno));
    cr_assert_eq(st.st_ino, e->st->st_ino, "%s", e->relpath);
    if (p->stop_at && p->n >= p->stop_at)
        return SCAN_STOP;
    return SCAN_CONTINUE;
}

static enum scan_verdict popened(void *arg, const char *relpath, int fd, long token)
{
    struct pctx *p = arg;
    if (!pthread_equal(pthread_self(), p->caller))
        p->off_thread = true;
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    cr_assert_eq(token, (long)st.st_ino, "%s: token %ld is not its prewatch", relpath, token);
    char *s;
    cr_assert(asprintf(&s, "O %s", relpath) > 0);
    pseq_add(p, s);
    return SCAN_CONTINUE;
}

static bool pdescend(void *arg, const char *relpath, const struct stat *st)
{
    return strcmp(relpath, "skipme") != 0;
}

static long pprewatch(void *arg, int fd)
{
    struct pctx *p = arg;
    atomic_fetch_add(&p->prewatches, 1);
    struct stat st;
    return fstat(fd, &st) == 0 ? (long)st.st_ino : -1;
}

/* Index of S in P's sequence, or -1. */
static long pindex(const struct pctx *p, const char *s)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->seq[i], s))
            return (long)i;
    return -1;
}

Test(scan_parallel, pipelined_walk_keeps_order_on_the_callers_thread)
{
    struct shared serial = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct tctx t1[1];
    struct scan_stats s1;
    cr_assert_eq(walk(1, &serial, t1, &s1), 0);
    for (unsigned threads = 1; threads <= 4; threads++) {
        int fds = count_fds();
        struct pctx p = {.caller = pthread_self()};
        struct scan_pipe_hooks h = {.visit = pvisit,
                                    .opened = popened,
                                    .descend = pdescend,
                                    .prewatch = pprewatch,
                                    .ctx = &p};
        struct scan_stats st;
        cr_assert_eq(scan_run_pipelined(root_fd, "", &h, threads, &st), 0);
        cr_assert_eq(count_fds(), fds, "%u threads: descriptors left open", threads);
        cr_assert_not(p.off_thread, "%u threads: a hook ran on a walker thread", threads);
        cr_assert_eq(st.dirs, s1.dirs);
        cr_assert_eq(st.files, s1.files);
        /* every entry once, as the serial walk; every directory read opened once */
        size_t entries = 0, opened = 0;
        for (size_t i = 0; i < p.n; i++)
            *(p.seq[i][0] == 'E' ? &entries : &opened) += 1;
        cr_assert_eq(entries, serial.n, "%u threads: %zu entries, want %zu", threads, entries,
                     serial.n);
        cr_assert_eq(opened, (size_t)atomic_load(&p.prewatches));
        cr_assert_eq(opened, 1 + NTOP + NTOP * NSUB, "%u threads: %zu opened", threads, opened);
        for (size_t i = 0; i < serial.n; i++) {
            char e[600], o[600];
            snprintf(e, sizeof(e), "E %s", serial.paths[i]);
            long ie = pindex(&p, e);
            cr_assert_geq(ie, 0, "%s not visited", e);
            /* its directory was opened before, and after that directory's own entry */
            char *slash = strrchr(serial.paths[i], '/');
            int plen = slash ? (int)(slash - serial.paths[i]) : 0;
            if (!*serial.paths[i])
                continue;
            snprintf(o, sizeof(o), "O %.*s", plen, serial.paths[i]);
            long io = pindex(&p, o);
            cr_assert(io >= 0 && io < ie, "%u threads: %s before %s", threads, e, o);
            snprintf(e, sizeof(e), "E %.*s", plen, serial.paths[i]);
            cr_assert_lt(pindex(&p, e), io, "%u threads: %s after %s", threads, e, o);
        }
        cr_assert_lt(pindex(&p, "O skipme"), 0, "skipme was read");
        for (size_t i = 0; i < p.n; i++)
            free(p.seq[i]);
        free(p.seq);
    }
    shared_free(&serial);
}

Test(scan_parallel, pipelined_stop_closes_everything)
{
    int fds = count_fds();
    struct pctx p = {.caller = pthread_self(), .stop_at = 200};
    struct scan_pipe_hooks h = {.visit = pvisit, .descend = pdescend, .ctx = &p};
    struct scan_stats st;
    errno = 0;
    cr_assert_eq(scan_run_pipelined(root_fd, "", &h, 3, &st), -1);
    cr_assert_eq(errno, ECANCELED);
    cr_assert_eq(p.n, 200, "visits after the stop: %zu", p.n);
    cr_assert_eq(count_fds(), fds, "descriptors left open after a stop");
    for (size_t i = 0; i < p.n; i++)
        free(p.seq[i]);
    free(p.seq);
}
