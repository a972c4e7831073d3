/* test_live_deep: the live daemon and a web user's directory chain deeper than the walks' depth
 * cap (scan.h SCAN_DEPTH_MAX levels below the site root; this binary runs inside
 * tests/journald-ns.sh). Each crawl logs one warning naming the directory at the cap; the
 * root file just above the cap is found, the one below is not read; status counts it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"
#include "scan.h"

#define WAIT_MS   10000
#define DEEP_TEXT "directory levels below the site root"

/* Entries whose MESSAGE contains DEEP_TEXT logged so far. */
static size_t deep_warnings(const struct site *s, json_t **first)
{
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(live_entries(s->d), i, e)
    {
        const char *m = live_field(e, "MESSAGE");
        if (m && strstr(m, DEEP_TEXT) && n++ == 0 && first)
            *first = e;
    }
    return n;
}

/* Pump the daemon's output until COUNT deep warnings were logged or TIMEOUT_MS passed; then
 * half a second more, so that an extra one would show. Returns the count. */
static size_t wait_deep_warnings(struct site *s, size_t count, int timeout_ms)
{
    for (int waited = 0; deep_warnings(s, NULL) < count && waited < timeout_ms; waited += 100)
        live_pump(s->d, 100);
    live_pump(s->d, 500);
    return deep_warnings(s, NULL);
}

/* A root-owned file NAME (group www-data, mode 0664) in DIRFD: a root_owned finding. */
static void root_file(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0664);
    cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
    cr_assert_eq(fchown(fd, 0, harness_gid("www-data")), 0);
    close(fd);
}

/* `permwatchctl --json status`'s too_deep_dirs. */
static long long status_too_deep(const struct site *s)
{
    json_t *j = site_status_json(s);
    json_t *v = json_object_get(j, "too_deep_dirs");
    cr_assert(json_is_integer(v), "no too_deep_dirs in status");
    long long n = json_integer_value(v);
    json_decref(j);
    return n;
}

Test(live_deep, chain_past_the_cap_warns_once_per_crawl)
{
    struct site s;
    site_init(&s, "live-deep");
    site_make_uploads(&s);
    site_policy(&s,
                "[site]\nroot = %s\nweb_user = www-data\n\n"
                "[daemon]\ncontrol_socket = %s\nrescan_interval = 0\nlog_burst = 0\n"
                "scan_threads = 2\n\n"
                "[dispatch]\nchannels_file = none.php\n\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n",
                s.root, s.sock);
    /* www-data's chain below wp-content/uploads (site level 2): chain level i is site level
     * i + 2; a root file in the directory above the cap (the file is at the cap: seen) and
     * one in the directory at the cap (not read) */
    int fd = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    int up = openat(fd, "wp-content/uploads", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(up, 0);
    close(fd);
    fd = up;
    uid_t www = harness_uid("www-data");
    gid_t wwwg = harness_gid("www-data");
    for (int i = 1; i <= SCAN_DEPTH_MAX; i++) {
        cr_assert_eq(mkdirat(fd, "d", 0775), 0, "level %d: %s", i, strerror(errno));
        int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        cr_assert_geq(sub, 0);
        cr_assert_eq(fchown(sub, www, wwwg), 0);
        close(fd);
        fd = sub;
        if (i == SCAN_DEPTH_MAX - 3)
            root_file(fd, "above.php");
        if (i == SCAN_DEPTH_MAX - 2)
            root_file(fd, "below.php");
    }
    close(fd);

    site_start(&s, NULL, 30000);
    /* the startup crawl (pipelined: 2 threads): one warning naming the directory at the cap */
    size_t n = wait_deep_warnings(&s, 1, WAIT_MS);
    if (n != 1)
        live_dump(s.d);
    cr_assert_eq(n, 1, "%zu warnings after the startup crawl, want 1", n);
    json_t *w = NULL;
    deep_warnings(&s, &w);
    const char *msg = live_field(w, "MESSAGE");
    cr_expect_str_eq(live_field(w, "PRIORITY"), "4", "a warning");
    size_t plen = strlen(s.root) + strlen("/wp-content/uploads") + 2 * (SCAN_DEPTH_MAX - 2);
    char want[700];
    snprintf(want, sizeof(want), "%s/wp-content/uploads/d/d/", s.root);
    cr_expect(!strncmp(msg, want, strlen(want)), "%.300s", msg);
    cr_expect(!strncmp(msg + plen, " is 2048 " DEEP_TEXT, strlen(" is 2048 " DEEP_TEXT)),
              "the path named is not the directory at the cap: ...%.300s",
              msg + (strlen(msg) > plen ? plen : 0) - 20);
    fprintf(stderr, "warning: ...%s\n", msg + plen - 10);

    /* above.php found, below.php not */
    size_t i;
    json_t *e;
    size_t above = 0, below = 0;
    json_array_foreach(live_entries(s.d), i, e)
    {
        const char *ev = live_field(e, "PERMWATCH_EVENT");
        const char *path = live_field(e, "PERMWATCH_PATH");
        if (!ev || strcmp(ev, "finding") || !path)
            continue;
        above += strstr(path, "/above.php") != NULL;
        below += strstr(path, "/below.php") != NULL;
    }
    cr_expect_geq(above, 1, "no finding for the root file above the cap");
    cr_expect_eq(below, 0, "a finding below the cap");
    cr_expect_eq(status_too_deep(&s), 1);

    /* a full rescan (pipelined) and a rescan of the chain's top (serial): one more each */
    struct run_result r = site_ctl(&s, "scan");
    cr_expect(r.status == 0 || r.status == 1, "scan exit %d: %.300s", r.status,
              r.err); /* 1: findings */
    run_result_free(&r);
    n = wait_deep_warnings(&s, 2, WAIT_MS);
    cr_expect_eq(n, 2, "%zu warnings after a full rescan, want 2", n);
    char args[700];
    snprintf(args, sizeof(args), "scan '%s/wp-content/uploads/d'", s.root);
    r = site_ctl(&s, args);
    cr_expect(r.status == 0 || r.status == 1, "scan exit %d: %.300s", r.status,
              r.err); /* 1: findings */
    run_result_free(&r);
    n = wait_deep_warnings(&s, 3, WAIT_MS);
    cr_expect_eq(n, 3, "%zu warnings after a rescan of the chain, want 3", n);
    cr_expect_eq(status_too_deep(&s), 2, "the full crawl's one and the subtree crawl's");

    /* the web user makes directories at the cap as fast as it likes: each event's crawl sees
     * one (counted), but their warnings are rate limited (one a minute, the last just now) */
    fd = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    up = openat(fd, "wp-content/uploads", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(fd);
    fd = up;
    for (int lvl = 1; lvl <= SCAN_DEPTH_MAX - 3; lvl++) { /* to site level SCAN_DEPTH_MAX - 1 */
        int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        cr_assert_geq(sub, 0, "level %d: %s", lvl, strerror(errno));
        close(fd);
        fd = sub;
    }
    for (int k = 0; k < 30; k++) {
        char name[16];
        snprintf(name, sizeof(name), "e%d", k);
        cr_assert_eq(mkdirat(fd, name, 0775), 0, "%s: %s", name, strerror(errno));
    }
    close(fd);
    long long seen = 0;
    for (int waited = 0; (seen = status_too_deep(&s)) < 32 && waited < WAIT_MS; waited += 200)
        live_pump(s.d, 200);
    cr_expect_eq(seen, 32, "the 30 directories made at the cap were not all seen: %lld", seen);
    n = wait_deep_warnings(&s, 4, 1000);
    cr_expect_eq(n, 3, "%zu warnings after 30 directories made at the cap: not rate limited", n);
    site_stop(&s);
    site_free(&s);
}
