/* The depth cap of every walk against the real kernel: a chain of 1-byte directories twice
 * SCAN_DEPTH_MAX deep (what a web user's mkdir loop makes). The serial, parallel and
 * pipelined walks end, visit everything down to the cap (a file just above it included),
 * report the directory at the cap once and read nothing below it (a file there is not seen),
 * whatever the start; the pipelined walk's memory stays within the cap's bound. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "scan.h"

/* levels of "d" below the root: twice the cap (a deeper chain is the same to a capped walk;
 * mkdirat gets slower with depth: 2 s for this one, 4 s for 3x) */
#define CHAIN (2 * SCAN_DEPTH_MAX)

static char *tmp;
static int root_fd = -1;

/* "d/d/.../d": the relpath of the chain's directory LEVELS below the root (malloc'd). */
static char *chain_path(int levels)
{
    char *p = malloc(2 * (size_t)levels + 1);
    cr_assert_not_null(p);
    for (int i = 0; i < levels; i++) {
        p[2 * i] = 'd';
        p[2 * i + 1] = '/';
    }
    p[levels ? 2 * levels - 1 : 0] = '\0';
    return p;
}

/* A file NAME in the open directory DIRFD. */
static void plant(int dirfd, const char *name)
{
    int f = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    cr_assert_geq(f, 0, "%s: %s", name, strerror(errno));
    close(f);
}

/* site/top.php, site/d/d/... CHAIN levels, "above.php" in the directory one level above the
 * cap (the file itself is at the cap: visited) and "below.php" in the directory at the cap
 * (not read). Built with mkdirat/openat: no path to the bottom fits in PATH_MAX. */
static void make_chain(void)
{
    tmp = harness_tempdir("scandeep");
    char p[1024];
    snprintf(p, sizeof(p), "%s/site", tmp);
    cr_assert(mkdir(p, 0755) == 0);
    root_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(root_fd, 0);
    plant(root_fd, "top.php");
    int fd = dup(root_fd);
    for (int level = 1; level <= CHAIN; level++) {
        cr_assert_eq(mkdirat(fd, "d", 0755), 0, "level %d: %s", level, strerror(errno));
        int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        cr_assert_geq(sub, 0, "level %d: %s", level, strerror(errno));
        close(fd);
        fd = sub;
        if (level == SCAN_DEPTH_MAX - 1)
            plant(fd, "above.php");
        if (level == SCAN_DEPTH_MAX)
            plant(fd, "below.php");
    }
    close(fd);
}

static void remove_chain(void)
{
    if (root_fd >= 0)
        close(root_fd);
    harness_rmtree(tmp);
    free(tmp);
}

TestSuite(scan_deep, .init = make_chain, .fini = remove_chain);

/* What a walk saw, from any of its threads. */
struct seen {
    pthread_mutex_t lock;
    size_t visits;
    int max_level;       /* deepest entry visited (components of its relpath) */
    bool top, above;     /* top.php, above.php */
    size_t below;        /* entries deeper than the cap */
    size_t deep;         /* too_deep calls */
    char *deep_path;     /* the first too_deep relpath */
    char *above_want;    /* above.php's relpath */
    bool deep_is_dir_st; /* the too_deep hook's stat is a directory */
};

static int levels_of(const char *relpath)
{
    if (!*relpath)
        return 0;
    int n = 1;
    for (const char *c = relpath; *c; c++)
        n += *c == '/';
    return n;
}

static enum scan_verdict deep_visit(void *arg, const struct scan_entry *e)
{
    struct seen *s = arg;
    cr_assert_eq(strlen(e->relpath), e->relpath_len, "relpath_len of %.40s...", e->relpath);
    int lv = levels_of(e->relpath);
    pthread_mutex_lock(&s->lock);
    s->visits++;
    if (lv > s->max_level)
        s->max_level = lv;
    if (lv > SCAN_DEPTH_MAX)
        s->below++;
    if (!strcmp(e->relpath, "top.php"))
        s->top = true;
    if (!strcmp(e->relpath, s->above_want))
        s->above = true;
    pthread_mutex_unlock(&s->lock);
    return SCAN_CONTINUE;
}

static void deep_hook(void *arg, const char *relpath, const struct stat *st)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->lock);
    if (!s->deep++)
        s->deep_path = strdup(relpath);
    s->deep_is_dir_st = S_ISDIR(st->st_mode);
    pthread_mutex_unlock(&s->lock);
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

enum walk_kind { WALK_SERIAL, WALK_PARALLEL, WALK_PIPELINED };

static const char *kind_name(enum walk_kind k)
{
    return k == WALK_SERIAL ? "serial" : k == WALK_PARALLEL ? "parallel" : "pipelined";
}

/* Walk from START with walk KIND on THREADS threads, the results in S. Returns the walk's. */
static int walk(enum walk_kind k, unsigned threads, const char *start, struct seen *s,
                struct scan_stats *st)
{
    char *above = chain_path(SCAN_DEPTH_MAX - 1);
    *s = (struct seen){.lock = PTHREAD_MUTEX_INITIALIZER};
    cr_assert(asprintf(&s->above_want, "%s/above.php", above) > 0);
    free(above);
    if (k == WALK_PIPELINED) {
        struct scan_pipe_hooks h = {.visit = deep_visit, .ctx = s, .too_deep = deep_hook};
        return scan_run_pipelined(root_fd, start, &h, threads, st);
    }
    struct scan_hooks h[4];
    for (unsigned i = 0; i < threads; i++)
        h[i] = (struct scan_hooks){.visit = deep_visit, .ctx = s, .too_deep = deep_hook};
    if (k == WALK_SERIAL)
        return scan_run(root_fd, start, h, st);
    return scan_run_parallel(root_fd, start, h, threads, st);
}

static void seen_free(struct seen *s)
{
    free(s->deep_path);
    free(s->above_want);
}

/* Every walk: ends, visits down to the cap, reports the cap once, reads nothing below. */
static void every_walk_stops_at_the_cap(void)
{
    const struct {
        enum walk_kind kind;
        unsigned threads;
    } walks[] = {{WALK_SERIAL, 1},
                 {WALK_PARALLEL, 3},
                 {WALK_PARALLEL, 2},
                 {WALK_PIPELINED, 1},
                 {WALK_PIPELINED, 3}};
    char *cap = chain_path(SCAN_DEPTH_MAX);
    for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++) {
        const char *name = kind_name(walks[i].kind);
        unsigned threads = walks[i].threads;
        int fds = count_fds();
        struct seen s;
        struct scan_stats st;
        cr_assert_eq(walk(walks[i].kind, threads, "", &s, &st), 0, "%s/%u: %s", name, threads,
                     strerror(errno));
        cr_expect_eq(count_fds(), fds, "%s/%u: descriptors left open", name, threads);
        cr_expect(s.top, "%s/%u: top.php not visited", name, threads);
        cr_expect(s.above, "%s/%u: above.php (at the cap) not visited", name, threads);
        cr_expect_eq(s.below, 0, "%s/%u: %zu entries below the cap visited", name, threads,
                     s.below);
        cr_expect_eq(s.max_level, SCAN_DEPTH_MAX, "%s/%u", name, threads);
        /* the root, top.php, the chain down to the cap, above.php */
        cr_expect_eq(s.visits, (size_t)SCAN_DEPTH_MAX + 3, "%s/%u: %zu visits", name, threads,
                     s.visits);
        cr_expect_eq(s.deep, 1, "%s/%u: too_deep called %zu times", name, threads, s.deep);
        cr_expect(s.deep_path && !strcmp(s.deep_path, cap),
                  "%s/%u: too_deep named %.20s... (%zu bytes)", name, threads,
                  s.deep_path ? s.deep_path : "nothing", s.deep_path ? strlen(s.deep_path) : 0);
        cr_expect(s.deep_is_dir_st, "%s/%u: too_deep's stat", name, threads);
        cr_expect_eq(st.too_deep, 1, "%s/%u", name, threads);
        cr_expect_eq(st.errors, 0, "%s/%u", name, threads);
        cr_expect_eq(st.dirs, (uint64_t)SCAN_DEPTH_MAX + 1, "%s/%u", name, threads);
        seen_free(&s);
    }
    free(cap);
}

/* Walks starting deep: the cap counts from the site root. */
static void the_cap_counts_from_the_site_root(void)
{
    char *cap = chain_path(SCAN_DEPTH_MAX);
    char *mid = chain_path(SCAN_DEPTH_MAX - 10);
    for (enum walk_kind k = WALK_SERIAL; k <= WALK_PIPELINED; k++) {
        /* a start 10 levels above the cap: 10 levels and above.php, then the cap */
        struct seen s;
        struct scan_stats st;
        cr_assert_eq(walk(k, 2, mid, &s, &st), 0, "%s: %s", kind_name(k), strerror(errno));
        cr_expect(s.above, "%s", kind_name(k));
        cr_expect_eq(s.below, 0, "%s", kind_name(k));
        cr_expect_eq(s.visits, 12, "%s: %zu visits", kind_name(k), s.visits);
        cr_expect_eq(s.deep, 1, "%s", kind_name(k));
        cr_expect(s.deep_path && !strcmp(s.deep_path, cap), "%s", kind_name(k));
        seen_free(&s);
        /* the start is the cap: visited, reported, not read */
        cr_assert_eq(walk(k, 2, cap, &s, &st), 0, "%s: %s", kind_name(k), strerror(errno));
        cr_expect_eq(s.visits, 1, "%s: %zu visits", kind_name(k), s.visits);
        cr_expect_eq(s.deep, 1, "%s", kind_name(k));
        cr_expect(s.deep_path && !strcmp(s.deep_path, cap), "%s", kind_name(k));
        cr_expect_eq(st.too_deep, 1, "%s", kind_name(k));
        seen_free(&s);
    }
    free(mid);
    free(cap);
}

#if !defined(__SANITIZE_ADDRESS__)
/* This process's peak resident size in KiB (VmHWM). */
static long hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    long v = -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmHWM:", 6))
            v = atol(line + 6);
    fclose(f);
    return v;
}

/* The pipelined walk's peak memory (first in the process: VmHWM only grows). */
static void pipelined_walk_memory_is_bounded(void)
{
    /* a walker holds at most SCAN_DEPTH_MAX directories (8 KiB getdents64 buffer, a pdir with
     * a 1-byte name) and a path of 2 bytes per level; the caller's path cache as much. Without
     * the cap (and with the old pdir holding whole relpaths) this chain took ~60 MB. */
    long before = hwm_kib();
    struct seen s;
    struct scan_stats st;
    cr_assert_eq(walk(WALK_PIPELINED, 3, "", &s, &st), 0);
    long grew = hwm_kib() - before;
    long bound = SCAN_DEPTH_MAX * 9 + 6 * 1024; /* KiB: 9 KiB a level, 6 MiB for the rest */
    fprintf(stderr, "pipelined walk of a %d-level chain: VmHWM +%ld KiB (bound %ld KiB)\n", CHAIN,
            grew, bound);
    cr_expect_eq(s.deep, 1);
    cr_expect_leq(grew, bound, "VmHWM grew by %ld KiB", grew);
    seen_free(&s);
}
#endif

/* One test: the chain takes seconds to build (and each test would build its own). */
Test(scan_deep, chain_past_the_cap)
{
#if !defined(__SANITIZE_ADDRESS__)
    pipelined_walk_memory_is_bounded();
#endif
    every_walk_stops_at_the_cap();
    the_cap_counts_from_the_site_root();
}
