/* test_live_startup: what the admin sees from the live daemon (this binary runs inside
 * tests/journald-ns.sh), issue 12: enabled before the site exists, the daemon starts and
 * waits for the root (item 1); every entry carries MESSAGE_ID and PERMWATCH_EVENT (item 2);
 * permwatch_events_total equals the journal's entries per event (item 3). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

/* Item 1: the site root does not exist at start: READY=1, one root_waiting entry, STATUS=
 * says it waits; once the root and a root-owned file appear, a finding within seconds. */
Test(live_startup, waits_for_a_missing_root)
{
    struct site s;
    site_init(&s, "live-startup-wait");
    site_policy_standard(&s, "never");
    site_start(&s, NULL, 20000);
    site_expect_entry(&s, 5000, "no root_waiting entry", "PERMWATCH_EVENT", "root_waiting", NULL);
    const char *st = live_notify_status(s.d);
    cr_expect(st && strstr(st, "waiting for the site root"), "STATUS= is \"%s\"", st ? st : "");
    live_settle(s.d, 1500); /* a few polls: still one entry, still running */
    cr_expect_eq(live_count_entries(s.d, "PERMWATCH_EVENT", "root_waiting", NULL), 1);
    cr_assert(live_running(s.d), "the daemon exited while waiting");

    /* the root appears whole (a rename), then a file is created inside it while watched */
    site_sh(
        "set -e; umask 022; mkdir '%s.new'; echo x > '%s.new/evil.php'; chown www-data:www-data "
        "'%s.new'; mv '%s.new' '%s'",
        s.root, s.root, s.root, s.root, s.root);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/evil.php", s.root);
    site_expect_entry(&s, 5000, "no finding from the crawl once the root appeared",
                      "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING", "root_owned",
                      "PERMWATCH_PATH", path, NULL);
    site_sh("echo y > '%s/late.php'", s.root);
    snprintf(path, sizeof(path), "%s/late.php", s.root);
    site_expect_entry(&s, 5000, "no finding from the watch of the root", "PERMWATCH_EVENT",
                      "finding", "PERMWATCH_FINDING", "root_owned", "PERMWATCH_PATH", path, NULL);
    site_stop(&s);
    site_free(&s);
}

/* The value of permwatch_events_total{event="EV"} in the metrics text M; -1 if missing. */
static long long metric_events(const char *m, const char *ev)
{
    char key[128];
    snprintf(key, sizeof(key), "permwatch_events_total{event=\"%s\"} ", ev);
    const char *p = strstr(m, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* Items 2 and 3: a scenario with findings, repairs, resolutions, a bad and a good reload:
 * every metric counter equals the entries of its event; after the stop, every entry has
 * MESSAGE_ID and PERMWATCH_EVENT. */
Test(live_startup, every_entry_identified_and_counted)
{
    struct site s;
    site_init(&s, "live-startup-count");
    site_make_uploads(&s);
    site_policy(&s,
                "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\nrescan_interval = 0\n"
                "log_burst = 2\nlog_interval = 1s\n[dispatch]\nchannels_file = none.php\n"
                "[rule up]\nmatch = wp-content/uploads/**\nowner = www-data\ngroup = www-data\n"
                "file_require = 0660\ndir_require = 0770\nrepair = auto\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
                "file_require = 0660\ndir_require = 0770\nrepair = never\n",
                s.root, s.sock);
    site_sh("set -e; echo old > '%s/old.php'", s.root); /* root-owned before start */
    site_start(&s, NULL, 20000);
    site_expect_entry(&s, 5000, "no started entry", "PERMWATCH_EVENT", "started", NULL);
    /* three findings, repaired (repaired + resolved), and a burst that gets suppressed */
    site_sh("set -e; for i in 1 2 3; do echo x > '%s/wp-content/uploads/f'$i; done", s.root);
    site_sh("set -e; for i in 1 2 3 4 5 6; do echo x > '%s/n'$i.php; done", s.root);
    site_expect_entry(&s, 10000, "no repaired entry", "PERMWATCH_EVENT", "repaired", NULL);
    live_settle(s.d, 1500);
    site_sh("rm -f '%s/old.php'", s.root); /* resolved */
    site_expect_entry(&s, 10000, "no resolved entry", "PERMWATCH_EVENT", "resolved", NULL);
    site_expect_entry(&s, 10000, "no suppressed entry", "PERMWATCH_EVENT", "suppressed", NULL);
    /* reload: a broken policy, then the good one again */
    struct run_result r;
    site_sh("set -e; cp '%s' '%s.good'; echo '[rule broken' >> '%s'", s.ini, s.ini, s.ini);
    r = site_ctl(&s, "reload");
    run_result_free(&r);
    site_expect_entry(&s, 10000, "no config_error", "PERMWATCH_EVENT", "config_error", NULL);
    site_sh("cp '%s.good' '%s'", s.ini, s.ini);
    r = site_ctl(&s, "reload");
    run_result_free(&r);
    site_expect_entry(&s, 10000, "no reloaded", "PERMWATCH_EVENT", "reloaded", NULL);
    live_settle(s.d, 1000);

    struct run_result m = site_ctl(&s, "metrics");
    cr_assert_eq(m.status, 0, "metrics: %s", m.err ? m.err : "");
    live_sync(s.d, 10000);
    const char *kinds[] = {"finding",    "resolved", "repaired",     "repair_refused",
                           "suppressed", "started",  "reloaded",     "config_error",
                           "notice",     "error",    "root_waiting", "repair_pending"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t n = live_count_entries(s.d, "PERMWATCH_EVENT", kinds[i], NULL);
        long long v = metric_events(m.out, kinds[i]);
        cr_expect_eq(v, (long long)n, "event %s: metric %lld, journal %zu", kinds[i], v, n);
    }
    cr_expect_geq(live_count_entries(s.d, "PERMWATCH_EVENT", "finding", NULL), 3);
    cr_expect_geq(live_count_entries(s.d, "PERMWATCH_EVENT", "suppressed", NULL), 1);
    cr_expect_geq(live_count_entries(s.d, "PERMWATCH_EVENT", "repaired", NULL), 1);
    cr_expect_geq(live_count_entries(s.d, "PERMWATCH_EVENT", "resolved", NULL), 1);
    run_result_free(&m);

    site_stop(&s);
    live_sync(s.d, 10000);
    json_t *all = live_entries(s.d), *e;
    size_t i;
    cr_expect_gt(json_array_size(all), 5);
    json_array_foreach(all, i, e)
    {
        const char *msg = live_field(e, "MESSAGE");
        cr_expect(live_field(e, "MESSAGE_ID"), "no MESSAGE_ID: %s", msg ? msg : "?");
        cr_expect(live_field(e, "PERMWATCH_EVENT"), "no PERMWATCH_EVENT: %s", msg ? msg : "?");
    }
    site_free(&s);
}

/* Item 2, at start: a broken policy and a site root that cannot be opened (not a directory)
 * stop the daemon with exit code 2 after entries that carry MESSAGE_ID and PERMWATCH_EVENT. */
static void expect_identified_exit(const char *tag, const char *tail, const char *event)
{
    struct site s;
    site_init(&s, tag);
    site_sh("echo file > '%s'", s.root); /* a file where the root should be */
    site_policy(&s, "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\n%s", s.root, s.sock, tail);
    s.d = live_start(s.ini, NULL);
    for (int t = 0; t < 200 && live_running(s.d); t++) /* it exits by itself */
        live_pump(s.d, 50);
    int rc = live_stop(s.d);
    cr_expect_eq(rc, 2, "%s: exit code %d", tag, rc);
    live_sync(s.d, 10000);
    json_t *all = live_entries(s.d), *e;
    size_t i;
    cr_expect_gt(json_array_size(all), 0, "%s: no entry", tag);
    json_array_foreach(all, i, e)
    {
        const char *msg = live_field(e, "MESSAGE");
        cr_expect(live_field(e, "MESSAGE_ID"), "%s: no MESSAGE_ID: %s", tag, msg ? msg : "?");
        cr_expect(live_field(e, "PERMWATCH_EVENT"), "%s: no PERMWATCH_EVENT: %s", tag,
                  msg ? msg : "?");
    }
    cr_expect_geq(live_count_entries(s.d, "PERMWATCH_EVENT", event, NULL), 1, "%s: no %s", tag,
                  event);
    site_free(&s);
}

Test(live_startup, start_errors_identified)
{
    expect_identified_exit("live-startup-badconf", "[rule broken\n", "config_error");
    expect_identified_exit("live-startup-badroot",
                           "[dispatch]\nchannels_file = none.php\n"
                           "[rule site]\nmatch = **\nowner = www-data\n",
                           "error");
}
