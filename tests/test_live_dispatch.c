/* test_live_dispatch: the real permwatchd judging the dispatch commands of the channels file
 * live, read back from a private real journald (this binary runs inside tests/journald-ns.sh).
 * The field incident is mirrored under a temp dir: FAKE/root (0700 root:root) holds
 * .kimaki/bin/kimaki; FAKE/usr/bin/kimaki is a symlink into FAKE/usr/lib/node_modules to a
 * script, as the npm-global install is. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"
#include "harness_site.h"

#define WAIT_MS 5000

struct world {
    struct site s;           /* s.root is DIR/site */
    char fake[PATH_MAX / 2]; /* the mirrored / */
    char channels[PATH_MAX];
};

/* The channels file with one kimaki bridge running COMMAND, replaced atomically (temp file
 * and rename, as the installer does). */
static void write_channels(const struct world *w, const char *command)
{
    char tmp[PATH_MAX + 8], text[4096];
    snprintf(text, sizeof(text),
             "<?php\n"
             "/**\n * Plugin Name: WP Coding Agents Channels\n */\n"
             "add_filter( 'datamachine_channels', function ( $channels ) {\n"
             "    // BEGIN bridges\n"
             "    // BEGIN bridge:kimaki\n"
             "    $channels['kimaki'] = [\n"
             "        'command' => '%s',\n"
             "        'args'    => [ 'send', '--channel', '{recipient}', '--prompt', "
             "'{message}', '--token', 'SECRET-TOKEN-123' ],\n"
             "        'detach'  => true,\n"
             "        'timeout' => 600,\n"
             "    ];\n"
             "    // END bridge:kimaki\n"
             "    // END bridges\n"
             "    return $channels;\n"
             "} );\n",
             command);
    snprintf(tmp, sizeof(tmp), "%s.tmp", w->channels);
    harness_write_file(tmp, text);
    site_sh("chown www-data:www-data '%s' && chmod 0664 '%s' && mv '%s' '%s'", tmp, tmp, tmp,
            w->channels);
}

static void world_init_opts(struct world *w, const char *command_rel, const struct live_opts *opts)
{
    memset(w, 0, sizeof(*w));
    site_init(&w->s, "live-dispatch");
    snprintf(w->fake, sizeof(w->fake), "%s/fake", w->s.dir);
    snprintf(w->channels, sizeof(w->channels),
             "%s/wp-content/mu-plugins/wp-coding-agents-channels.php", w->s.root);
    /* the two installs of kimaki: under a 0700 root home, and npm-global */
    site_sh("set -e; f='%s'; mkdir -p $f/root/.kimaki/bin $f/usr/bin "
            "$f/usr/lib/node_modules/kimaki/bin; chmod 0700 $f/root; "
            "printf '#!/bin/sh\\necho kimaki\\n' > $f/root/.kimaki/bin/kimaki; "
            "cp $f/root/.kimaki/bin/kimaki $f/usr/lib/node_modules/kimaki/bin/kimaki; "
            "chmod 0755 $f/root/.kimaki/bin/kimaki $f/usr/lib/node_modules/kimaki/bin/kimaki; "
            "ln -s ../lib/node_modules/kimaki/bin/kimaki $f/usr/bin/kimaki",
            w->fake);
    site_sh(
        "set -e; umask 002; mkdir -p '%s/wp-content/mu-plugins'; chown -R www-data:www-data '%s'",
        w->s.root, w->s.root);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "%s/%s", w->fake, command_rel);
    write_channels(w, cmd);
    site_policy(&w->s,
                "[site]\nroot = %s\nweb_user = www-data\n[daemon]\n"
                "control_socket = %s\nrescan_interval = 0\n"
                "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n",
                w->s.root, w->s.sock);
    site_start(&w->s, opts, 20000);
}

static void world_init(struct world *w, const char *command_rel)
{
    world_init_opts(w, command_rel, NULL);
}

static void world_free(struct world *w)
{
    site_stop(&w->s);
    site_free(&w->s);
}

static json_t *wait_dispatch(struct world *w, const char *event, const char *command)
{
    json_t *e = live_wait_entry(w->s.d, WAIT_MS, "PERMWATCH_EVENT", event, "PERMWATCH_FINDING",
                                "dispatch_unreachable", "PERMWATCH_COMMAND", command, NULL);
    if (!e) {
        live_dump(w->s.d);
        cr_assert_fail("no %s dispatch_unreachable entry for %s", event, command);
    }
    return e;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The field incident: unreachable under a 0700 home, resolved within a second of the
 * channels file pointing at the npm-global symlink, unreachable again when an ancestor of
 * the symlink's target is chmod'ed 0750, resolved when it is put back. */
Test(live_dispatch, seed_scenario)
{
    struct world w;
    world_init(&w, "root/.kimaki/bin/kimaki");
    char root_cmd[PATH_MAX], npm_cmd[PATH_MAX], home[PATH_MAX], modules[PATH_MAX];
    snprintf(root_cmd, sizeof(root_cmd), "%s/root/.kimaki/bin/kimaki", w.fake);
    snprintf(npm_cmd, sizeof(npm_cmd), "%s/usr/bin/kimaki", w.fake);
    snprintf(home, sizeof(home), "%s/root", w.fake);
    snprintf(modules, sizeof(modules), "%s/usr/lib/node_modules", w.fake);

    json_t *e = wait_dispatch(&w, "finding", root_cmd);
    cr_expect_str_eq(live_field(e, "PRIORITY"), "3");
    cr_expect_str_eq(live_field(e, "PERMWATCH_CHANNEL"), "kimaki");
    cr_expect_str_eq(live_field(e, "PERMWATCH_BLOCKED_AT"), home);
    cr_expect_str_eq(live_field(e, "PERMWATCH_WEB_USER"), "www-data");
    const char *reason = live_field(e, "PERMWATCH_REASON");
    cr_assert_not_null(reason);
    cr_expect(strstr(reason, "0700") && strstr(reason, "www-data"), "reason: %s", reason);
    /* never the args: they hold tokens */
    json_t *all = live_entries(w.s.d);
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        char *dump = json_dumps(it, 0);
        cr_expect_null(strstr(dump, "SECRET-TOKEN-123"), "a token leaked: %s", dump);
        free(dump);
    }

    uint64_t t0 = now_ms();
    write_channels(&w, npm_cmd);
    wait_dispatch(&w, "resolved", root_cmd);
    uint64_t took = now_ms() - t0;
    cr_expect_lt(took, 1000, "resolved after %llu ms", (unsigned long long)took);
    live_settle(w.s.d, 300);
    cr_expect_eq(
        live_count_entries(w.s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_COMMAND", npm_cmd, NULL),
        0, "the npm-global symlink is reachable");

    site_sh("chmod 0750 '%s'", modules);
    e = wait_dispatch(&w, "finding", npm_cmd);
    cr_expect_str_eq(live_field(e, "PERMWATCH_BLOCKED_AT"), modules);
    site_sh("chmod 0755 '%s'", modules);
    wait_dispatch(&w, "resolved", npm_cmd);
    live_settle(w.s.d, 300);
    cr_expect_eq(
        live_count_entries(w.s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_COMMAND", npm_cmd, NULL),
        1, "logged once per change, not per event");
    world_free(&w);
}

/* npm reinstall: the target deleted (missing), then put back. */
Test(live_dispatch, binary_deleted_and_reinstalled)
{
    struct world w;
    world_init(&w, "usr/bin/kimaki");
    char npm_cmd[PATH_MAX], target[PATH_MAX];
    snprintf(npm_cmd, sizeof(npm_cmd), "%s/usr/bin/kimaki", w.fake);
    snprintf(target, sizeof(target), "%s/usr/lib/node_modules/kimaki", w.fake);
    live_settle(w.s.d, 200);
    cr_expect_eq(live_count_entries(w.s.d, "PERMWATCH_FINDING", "dispatch_unreachable", NULL), 0);
    site_sh("mv '%s' '%s.old'", target, target);
    wait_dispatch(&w, "finding", npm_cmd);
    site_sh("mv '%s.old' '%s'", target, target);
    wait_dispatch(&w, "resolved", npm_cmd);
    /* a script the web user may execute but not read: the kernel refuses to run it */
    site_sh("chmod 0711 '%s/bin/kimaki'", target);
    wait_dispatch(&w, "finding", npm_cmd);
    world_free(&w);
}

/* A channels file that cannot be parsed is a finding naming the line, and the daemon goes on.
 * Here PHP itself cannot parse it (issue 11: an installer version skew passes an env JSON as
 * the timeout): the site fatals on every request, so the finding is of priority err and says
 * so. (On the old code the two commands were listed and nothing was reported.) */
Test(live_dispatch, invalid_channels_file)
{
    struct world w;
    world_init(&w, "usr/bin/kimaki");
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", w.channels);
    harness_write_file(tmp, "<?php\n"
                            "add_filter( 'datamachine_channels', function ( $channels ) {\n"
                            "    $channels['kimaki'] = [\n"
                            "        'command' => '/usr/bin/kimaki',\n"
                            "        'detach' => 600,\n"
                            "        'timeout' => {\"HOME\":\"/home/opencode\"},\n"
                            "    ];\n"
                            "    return $channels;\n"
                            "} );\n");
    site_sh("mv '%s' '%s'", tmp, w.channels);
    json_t *e = site_expect_entry(&w.s, WAIT_MS, "no dispatch_invalid finding", "PERMWATCH_EVENT",
                                  "finding", "PERMWATCH_FINDING", "dispatch_invalid", NULL);
    cr_expect_str_eq(live_field(e, "PERMWATCH_PATH"), w.channels);
    cr_expect(strstr(live_field(e, "PERMWATCH_REASON"), "line 6: PHP cannot parse it"), "%s",
              live_field(e, "PERMWATCH_REASON"));
    cr_expect_str_eq(live_field(e, "PRIORITY"), "3");
    cr_expect(strstr(live_field(e, "MESSAGE"), "PHP cannot parse the channels file "), "%s",
              live_field(e, "MESSAGE"));
    cr_expect(strstr(live_field(e, "MESSAGE"), "every request of the site fails"), "%s",
              live_field(e, "MESSAGE"));
    /* PHP itself was asked (php-cli is a test dependency), as the status says */
    cr_expect(strstr(live_field(e, "PERMWATCH_REASON"), "(php -l): syntax error"), "%s",
              live_field(e, "PERMWATCH_REASON"));
    struct run_result st;
    cr_assert_eq(harness_sh(&st, "'%s' -s '%s' --json status", w.s.ctl, w.s.sock), 0);
    cr_expect(strstr(st.out, "\"dispatch_syntax_check\": \"php -l (/usr/bin/php)\"") ||
                  strstr(st.out, "\"dispatch_syntax_check\":\"php -l (/usr/bin/php)\""),
              "%s", st.out);
    run_result_free(&st);
    char good[PATH_MAX];
    snprintf(good, sizeof(good), "%s/usr/bin/kimaki", w.fake);
    write_channels(&w, good);
    cr_assert_not_null(live_wait_entry(w.s.d, WAIT_MS, "PERMWATCH_EVENT", "resolved",
                                       "PERMWATCH_FINDING", "dispatch_invalid", NULL));
    world_free(&w);
}

/* The largest gap between FROM_USEC, the WATCHDOG=1 pings of the daemon read after it, and
 * TO_USEC (CLOCK_MONOTONIC, as the harness stamps datagrams), in microseconds; *N gets the
 * count of those pings. */
static uint64_t watchdog_gap(const struct live *l, uint64_t from_usec, uint64_t to_usec, size_t *n)
{
    uint64_t prev = from_usec, gap = 0;
    *n = 0;
    for (size_t i = 0; i < live_notify_total(l); i++) {
        const struct live_notify *m = live_notify_at(l, i);
        if (m->pid != live_pid(l) || !strstr(m->text, "WATCHDOG=1") || m->mono_usec < from_usec)
            continue;
        if (m->mono_usec - prev > gap)
            gap = m->mono_usec - prev;
        prev = m->mono_usec;
        (*n)++;
    }
    return to_usec - prev > gap ? to_usec - prev : gap;
}

static uint64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* www-data writes CHANNELS.new: 20,000 bridges, each a symlink of its own (under
 * SITE/wp-content/links) to /bin/true, generated by a script, not copied. */
static void hostile_channels(const struct world *wp)
{
    const struct world w = *wp;
    char script[PATH_MAX], gen[PATH_MAX * 3];
    snprintf(script, sizeof(script), "%s/wp-content/gen.pl", w.s.root);
    harness_write_file(
        script, "my ($dir, $out) = @ARGV;\n"
                "mkdir $dir or die;\n"
                "open(my $f, '>', $out) or die;\n"
                "print $f \"<?php\\n/**\\n * Plugin Name: WP Coding Agents Channels\\n */\\n\";\n"
                "print $f \"add_filter( 'datamachine_channels', function ( \\$channels ) {\\n"
                "    // BEGIN bridges\\n\";\n"
                "for my $i (0 .. 19999) {\n"
                "    symlink('/bin/true', \"$dir/l$i\") or die;\n"
                "    print $f \"\\$channels['b$i'] = [ 'command' => '$dir/l$i' ];\\n\";\n"
                "}\n"
                "print $f \"    // END bridges\\n    return \\$channels;\\n} );\\n\";\n"
                "close($f) or die;\n");
    snprintf(gen, sizeof(gen), "chown www-data:www-data '%s'", script);
    site_sh("%s", gen);
    snprintf(gen, sizeof(gen), "perl '%s' '%s/wp-content/links' '%s.new'", script, w.s.root,
             w.channels);
    cr_assert_eq(live_as_user("www-data", gen), 0);
}

/* Issue 9 item 2: www-data registers 20,000 bridges, each a symlink of its own to /bin/true, in
 * its channels mu-plugin. Judging is bounded and off the event loop: the watchdog keeps its
 * 0.5 s pings (no gap of 1 s), a root file created meanwhile is reported within 1 s, the cap
 * is a dispatch_invalid finding naming it, and SIGTERM is answered at once. (On the old
 * main every command was judged and forked for on the loop: it stalled for 20 s and more.) */
Test(live_dispatch, hostile_channels_file_does_not_stall_the_loop)
{
    struct world w;
    struct live_opts o = {.watchdog_usec = 1000000, .stop_timeout_ms = 30000};
    world_init_opts(&w, "usr/bin/kimaki", &o);
    hostile_channels(&w);
    live_settle(w.s.d, 1500); /* the 20,000 new symlinks in the site are seen, then quiet */

    uint64_t t0 = mono_usec();
    char mv[PATH_MAX * 2 + 16];
    snprintf(mv, sizeof(mv), "mv '%s.new' '%s'", w.channels, w.channels);
    cr_assert_eq(live_as_user("www-data", mv), 0);
    /* while it is judged (after the 50 ms debounce): root writes a file into the site */
    live_pump(w.s.d, 150);
    char rootfile[PATH_MAX];
    snprintf(rootfile, sizeof(rootfile), "%s/wp-content/root-during-judging.php", w.s.root);
    harness_write_file(rootfile, "<?php\n");
    uint64_t created = mono_usec();
    json_t *e = live_wait_entry(w.s.d, 60000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                "root_owned", "PERMWATCH_PATH", rootfile, NULL);
    uint64_t seen = mono_usec();
    cr_expect_not_null(e, "the root file was never reported");
    cr_expect_lt(seen - created, 1000000, "root file reported %.1f ms after it was created",
                 (double)(seen - created) / 1e3);
    json_t *cap = live_wait_entry(w.s.d, 60000, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                  "dispatch_invalid", NULL);
    const char *reason = cap ? live_field(cap, "PERMWATCH_REASON") : NULL;
    cr_expect(reason && strstr(reason, "20000 bridges") && strstr(reason, "256") &&
                  strstr(reason, "19744"),
              "no dispatch_invalid naming the cap: %s", reason ? reason : "(none)");
    /* keep reading pings for a while after the judging */
    uint64_t until = mono_usec() + 2000000;
    while (mono_usec() < until)
        live_pump(w.s.d, 100);
    size_t pings;
    uint64_t gap = watchdog_gap(w.s.d, t0, mono_usec(), &pings);
    json_t *all = live_entries(w.s.d);
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        const char *m = live_field(it, "MESSAGE");
        if (m && strstr(m, "bridges judged"))
            fprintf(stderr, "# %s\n", m);
        /* the directories the 256 verdicts share (/, /usr/bin, ...) are watched once */
        cr_expect(!m || !strstr(m, "only 1024 are watched"), "%s", m);
    }
    fprintf(stderr,
            "# 20,000 bridges: root file reported after %.1f ms, largest watchdog gap %.1f ms "
            "(%zu pings over %.1f s)\n",
            (double)(seen - created) / 1e3, (double)gap / 1e3, pings,
            (double)(mono_usec() - t0) / 1e6);
    char status[64], line[256];
    snprintf(status, sizeof(status), "/proc/%d/status", (int)live_pid(w.s.d));
    FILE *f = fopen(status, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0 || strncmp(line, "VmRSS:", 6) == 0)
            fprintf(stderr, "# daemon %s", line);
    if (f)
        fclose(f);
    cr_expect_geq(pings, 4, "%zu pings", pings);
    cr_expect_lt(gap, 1000000, "watchdog gap %.1f ms", (double)gap / 1e3);
    cr_expect_eq(live_count_entries(w.s.d, "PERMWATCH_FINDING", "dispatch_unreachable", NULL), 0);

    /* SIGTERM while a judgement runs (the file rewritten just before): answered at once */
    snprintf(mv, sizeof(mv), "cp '%s' '%s.new' && mv '%s.new' '%s'", w.channels, w.channels,
             w.channels, w.channels);
    cr_assert_eq(live_as_user("www-data", mv), 0);
    live_pump(w.s.d, 60);
    uint64_t s0 = mono_usec();
    int rc = live_stop(w.s.d);
    uint64_t took = mono_usec() - s0;
    fprintf(stderr, "# SIGTERM answered in %.1f ms\n", (double)took / 1e3);
    cr_expect_eq(rc, 0);
    cr_expect_lt(took, 1000000, "stopped after %.1f ms", (double)took / 1e3);
    world_free(&w);
}

/* Run SHELL_CMD as root; stdout and stderr concatenated into a malloc'd string, exit in *RC. */
static char *run_both(int *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *run_both(int *rc, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "%s", cmd), 0);
    *rc = r.status;
    char *both = NULL;
    cr_assert(asprintf(&both, "%s\n%s", r.out ? r.out : "", r.err ? r.err : "") >= 0);
    run_result_free(&r);
    return both;
}

/* Issue 9 item 11: the channels file hard-linked to a root-only file (the link made by root
 * here: with fs.protected_hardlinks = 0 www-data could make it). It is refused unread: a
 * dispatch_invalid says why, and the secret-looking line of the root file appears nowhere
 * (journal, stderr, permwatchctl dispatch, --scan, --scan --json). A normal file then works. */
Test(live_dispatch, hard_linked_channels_file_is_refused_unread)
{
    struct world w;
    world_init(&w, "usr/bin/kimaki");
    live_settle(w.s.d, 300);
    char secret[PATH_MAX];
    snprintf(secret, sizeof(secret), "%s/root-only.php", w.s.dir);
    harness_write_file(secret,
                       "<?php\n$channels['leak'] = [ 'command' => '/root/SECRET-TOKEN-xyz' ];\n");
    site_sh("chown root:root '%s' && chmod 0600 '%s' && ln -f '%s' '%s'", secret, secret, secret,
            w.channels);
    json_t *e = site_expect_entry(
        &w.s, WAIT_MS, "no dispatch_invalid for a hard-linked channels file", "PERMWATCH_EVENT",
        "finding", "PERMWATCH_FINDING", "dispatch_invalid", NULL);
    cr_expect_str_eq(live_field(e, "PERMWATCH_PATH"), w.channels);
    const char *reason = live_field(e, "PERMWATCH_REASON");
    cr_expect(reason && strstr(reason, "2 hard links"), "reason: %s", reason ? reason : "");
    live_settle(w.s.d, 500);

    const char *needle = "SECRET-TOKEN-xyz";
    json_t *all = live_entries(w.s.d);
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        char *dump = json_dumps(it, 0);
        cr_expect_null(strstr(dump, needle), "the root file's content leaked: %s", dump);
        free(dump);
    }
    char *err = live_stderr(w.s.d);
    cr_expect_null(strstr(err, needle), "stderr: %s", err);
    free(err);
    char ctl[PATH_MAX], daemon[PATH_MAX];
    harness_build_path("permwatchctl", ctl, sizeof(ctl));
    harness_build_path("permwatchd", daemon, sizeof(daemon));
    int rc;
    char *out = run_both(&rc, "'%s' -s '%s/control.sock' dispatch", ctl, w.s.dir);
    cr_expect_null(strstr(out, needle), "permwatchctl dispatch: %s", out);
    free(out);
    out = run_both(&rc, "'%s' -s '%s/control.sock' findings", ctl, w.s.dir);
    cr_expect_null(strstr(out, needle), "permwatchctl findings: %s", out);
    cr_expect(strstr(out, "dispatch_invalid"), "permwatchctl findings: %s", out);
    free(out);
    out = run_both(&rc, "'%s' -c '%s' --scan --log-target stderr", daemon, w.s.ini);
    cr_expect_null(strstr(out, needle), "--scan: %s", out);
    cr_expect(strstr(out, "hard links"), "--scan: %s", out);
    free(out);
    out = run_both(&rc, "'%s' -c '%s' --scan --json --log-target stderr", daemon, w.s.ini);
    cr_expect_null(strstr(out, needle), "--scan --json: %s", out);
    cr_expect(strstr(out, "dispatch_invalid"), "--scan --json: %s", out);
    free(out);

    /* the installer's normal file (temp file and rename): read and judged again */
    char good[PATH_MAX];
    snprintf(good, sizeof(good), "%s/usr/bin/kimaki", w.fake);
    write_channels(&w, good);
    cr_assert_not_null(live_wait_entry(w.s.d, WAIT_MS, "PERMWATCH_EVENT", "resolved",
                                       "PERMWATCH_FINDING", "dispatch_invalid", NULL));
    live_settle(w.s.d, 300);
    out = run_both(&rc, "'%s' -s '%s/control.sock' dispatch", ctl, w.s.dir);
    cr_expect(strstr(out, good) && strstr(out, "kimaki"), "permwatchctl dispatch: %s", out);
    free(out);
    world_free(&w);
}

/* A channels file the web user cannot read (PHP could not include it) or owned by a user the
 * policy does not expect is refused unread, too. */
Test(live_dispatch, unreadable_or_foreign_channels_file_is_refused_unread)
{
    struct world w;
    world_init(&w, "usr/bin/kimaki");
    live_settle(w.s.d, 300);
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", w.channels);
    harness_write_file(tmp, "<?php\n$channels['x'] = [ 'command' => '/opt/HIDDEN-CMD' ];\n");
    site_sh("chown root:root '%s' && chmod 0600 '%s' && mv '%s' '%s'", tmp, tmp, tmp, w.channels);
    json_t *e = site_expect_entry(&w.s, WAIT_MS, "no dispatch_invalid finding", "PERMWATCH_EVENT",
                                  "finding", "PERMWATCH_FINDING", "dispatch_invalid", NULL);
    const char *reason = live_field(e, "PERMWATCH_REASON");
    cr_expect(reason && strstr(reason, "www-data cannot read it"), "reason: %s",
              reason ? reason : "");
    harness_write_file(tmp, "<?php\n$channels['x'] = [ 'command' => '/opt/HIDDEN-CMD' ];\n");
    site_sh("chown nobody:www-data '%s' && chmod 0664 '%s' && mv '%s' '%s'", tmp, tmp, tmp,
            w.channels);
    live_settle(w.s.d, 500);
    /* the finding's key is the path: it stays open, its reason now names the owner */
    char ctl[PATH_MAX];
    harness_build_path("permwatchctl", ctl, sizeof(ctl));
    int rc;
    char *out = run_both(&rc, "'%s' -s '%s/control.sock' findings", ctl, w.s.dir);
    cr_expect(strstr(out, "owned by nobody"), "permwatchctl findings: %s", out);
    cr_expect_null(strstr(out, "HIDDEN-CMD"), "permwatchctl findings: %s", out);
    free(out);
    cr_expect_eq(live_count_entries(w.s.d, "PERMWATCH_COMMAND", "/opt/HIDDEN-CMD", NULL), 0);
    json_t *all = live_entries(w.s.d);
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        char *dump = json_dumps(it, 0);
        cr_expect_null(strstr(dump, "HIDDEN-CMD"), "content leaked: %s", dump);
        free(dump);
    }
    world_free(&w);
}

/* A reload while a hostile channels file is judged: the round for the old policy is dropped,
 * one for the new policy follows; the loop answers throughout and the cap is logged once. */
Test(live_dispatch, reload_during_judging)
{
    struct world w;
    struct live_opts o = {.watchdog_usec = 1000000};
    world_init_opts(&w, "usr/bin/kimaki", &o);
    hostile_channels(&w);
    live_settle(w.s.d, 1500);
    uint64_t t0 = mono_usec();
    char mv[PATH_MAX * 2 + 16];
    snprintf(mv, sizeof(mv), "mv '%s.new' '%s'", w.channels, w.channels);
    cr_assert_eq(live_as_user("www-data", mv), 0);
    live_pump(w.s.d, 100);
    live_signal(w.s.d, SIGHUP);
    cr_assert_not_null(live_wait_entry(w.s.d, WAIT_MS, "PERMWATCH_EVENT", "reloaded", NULL));
    site_expect_entry(&w.s, 20000, "no dispatch_invalid finding", "PERMWATCH_EVENT", "finding",
                      "PERMWATCH_FINDING", "dispatch_invalid", NULL);
    live_settle(w.s.d, 1500);
    cr_expect_eq(live_count_entries(w.s.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                    "dispatch_invalid", NULL),
                 1);
    size_t pings;
    uint64_t gap = watchdog_gap(w.s.d, t0, mono_usec(), &pings);
    cr_expect_lt(gap, 1000000, "watchdog gap %.1f ms", (double)gap / 1e3);
    world_free(&w);
}
