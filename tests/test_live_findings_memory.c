/* test_live_findings_memory: the findings table against long paths (issue 9, item 4). 20,000
 * root-owned files under a 3,800-byte directory chain: with the default caps every finding is
 * kept and the daemon stays small (the chain is stored once, not per finding); with
 * max_findings_memory = 1M the table stops at the cap and a table_full entry counts what was
 * left out. (This binary runs inside tests/journald-ns.sh.) */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

#define NFILES      20000
#define MAX_RSS_KIB (64 * 1024)

struct env {
    struct site s;
    char deep[PATH_MAX]; /* the directory at the end of the chain */
};

/* The site with NFILES root-owned files under a ~3,800-byte chain of www-data directories,
 * and the daemon started with EXTRA in [daemon]. */
static void env_start(struct env *e, const char *extra)
{
    memset(e, 0, sizeof(*e));
    site_init(&e->s, "live-fmem");
    size_t len = (size_t)snprintf(e->deep, sizeof(e->deep), "%s", e->s.root);
    cr_assert_eq(mkdir(e->deep, 0755), 0);
    cr_assert_eq(chown(e->deep, harness_uid("www-data"), harness_gid("www-data")), 0);
    for (int i = 0; i < 38; i++) {
        len += (size_t)snprintf(e->deep + len, sizeof(e->deep) - len, "/d%02d-", i);
        for (int x = 0; x < 95; x++) /* 100 bytes a level with the slash */
            e->deep[len++] = 'x';
        e->deep[len] = '\0';
        cr_assert_eq(mkdir(e->deep, 0755), 0, "%s", strerror(errno));
        cr_assert_eq(chown(e->deep, harness_uid("www-data"), harness_gid("www-data")), 0);
    }
    cr_assert_geq(len - strlen(e->s.root), 3790);
    for (int i = 0; i < NFILES; i++) {
        char p[PATH_MAX];
        cr_assert_lt((size_t)snprintf(p, sizeof(p), "%s/f%05d.php", e->deep, i), sizeof(p));
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        cr_assert_geq(fd, 0, "%s", strerror(errno));
        close(fd);
    }
    site_policy(&e->s,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_interval = 1s\n%s[dispatch]\nchannels_file = none.php\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\nrepair = never\n",
                e->s.root, e->s.sock, extra);
    site_start(&e->s, NULL, 60000);
}

static void env_stop(struct env *e)
{
    site_stop(&e->s);
    site_free(&e->s);
}

/* The daemon's open findings from `permwatchctl status`. */
static long open_findings(const struct env *e)
{
    struct run_result r = site_ctl(&e->s, "status");
    const char *at = strstr(r.out, "open_findings:");
    cr_assert_not_null(at, "%s %s", r.out, r.err);
    long n = strtol(at + strlen("open_findings:"), NULL, 10);
    run_result_free(&r);
    return n;
}

Test(live_findings_memory, long_paths_are_stored_once)
{
    struct env e;
    env_start(&e, "");
    long open = open_findings(&e);
    unsigned long hwm = harness_proc_kib(live_pid(e.s.d), "VmHWM:");
    fprintf(stderr,
            "findings memory: %ld open findings under a %zu-byte chain: daemon peak RSS %lu KiB\n",
            open, strlen(e.deep) - strlen(e.s.root), hwm);
    cr_expect_geq(open, NFILES, "%ld open", open);
#if !defined(__SANITIZE_ADDRESS__) /* ASan's shadow and quarantine dwarf the bound */
    cr_expect_lt(hwm, MAX_RSS_KIB, "peak RSS %lu KiB", hwm);
#endif
    live_settle(e.s.d, 500);
    cr_expect_eq(live_count_entries(e.s.d, "PERMWATCH_EVENT", "table_full", NULL), 0);
    env_stop(&e);
}

Test(live_findings_memory, a_byte_cap_is_an_event_not_growth)
{
    struct env e;
    env_start(&e, "max_findings_memory = 1M\n");
    json_t *full = live_wait_entry(e.s.d, 20000, "PERMWATCH_EVENT", "table_full", NULL);
    if (!full)
        live_dump(e.s.d);
    cr_assert_not_null(full, "no table_full entry");
    const char *count = live_field(full, "PERMWATCH_COUNT");
    cr_assert_not_null(count);
    long left_out = strtol(count, NULL, 10), open = open_findings(&e);
    const char *msg = live_field(full, "MESSAGE");
    cr_expect(msg && strstr(msg, "max_findings_memory = 1048576"), "%s", msg);
    fprintf(stderr, "findings memory: cap 1 MiB: %ld open, %ld left out; %s\n", open, left_out,
            msg);
    cr_expect_gt(open, 1000, "%ld open", open);
    cr_expect_lt(open, NFILES, "%ld open", open);
    cr_expect_gt(left_out, NFILES / 2, "%ld left out", left_out);
    env_stop(&e);
}
