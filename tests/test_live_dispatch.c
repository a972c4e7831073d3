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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_live.h"

#define WAIT_MS 5000

struct world {
    char *dir;
    char fake[PATH_MAX / 2]; /* the mirrored / */
    char site[PATH_MAX / 2];
    char ini[PATH_MAX];
    char channels[PATH_MAX];
    struct live *d;
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    struct run_result r;
    cr_assert_eq(harness_sh(&r, "%s", cmd), 0);
    cr_assert_eq(r.status, 0, "%s: %s", cmd, r.err);
    run_result_free(&r);
}

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
    sh("chown www-data:www-data '%s' && chmod 0664 '%s' && mv '%s' '%s'", tmp, tmp, tmp,
       w->channels);
}

static void world_init(struct world *w, const char *command_rel)
{
    memset(w, 0, sizeof(*w));
    w->dir = harness_tempdir("live-dispatch");
    snprintf(w->fake, sizeof(w->fake), "%s/fake", w->dir);
    snprintf(w->site, sizeof(w->site), "%s/site", w->dir);
    snprintf(w->ini, sizeof(w->ini), "%s/policy.ini", w->dir);
    snprintf(w->channels, sizeof(w->channels),
             "%s/wp-content/mu-plugins/wp-coding-agents-channels.php", w->site);
    /* the two installs of kimaki: under a 0700 root home, and npm-global */
    sh("set -e; f='%s'; mkdir -p $f/root/.kimaki/bin $f/usr/bin "
       "$f/usr/lib/node_modules/kimaki/bin; chmod 0700 $f/root; "
       "printf '#!/bin/sh\\necho kimaki\\n' > $f/root/.kimaki/bin/kimaki; "
       "cp $f/root/.kimaki/bin/kimaki $f/usr/lib/node_modules/kimaki/bin/kimaki; "
       "chmod 0755 $f/root/.kimaki/bin/kimaki $f/usr/lib/node_modules/kimaki/bin/kimaki; "
       "ln -s ../lib/node_modules/kimaki/bin/kimaki $f/usr/bin/kimaki",
       w->fake);
    sh("set -e; umask 002; mkdir -p '%s/wp-content/mu-plugins'; chown -R www-data:www-data '%s'",
       w->site, w->site);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "%s/%s", w->fake, command_rel);
    write_channels(w, cmd);
    char text[4096];
    snprintf(text, sizeof(text),
             "[site]\nroot = %s\nweb_user = www-data\n[daemon]\n"
             "control_socket = %s/control.sock\nrescan_interval = 0\n"
             "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n",
             w->site, w->dir);
    harness_write_file(w->ini, text);
    w->d = live_start(w->ini, NULL);
    if (!live_wait_notify(w->d, "READY=1", 20000)) {
        live_dump(w->d);
        cr_assert_fail("no READY=1");
    }
}

static void world_free(struct world *w)
{
    int rc = live_stop(w->d);
    if (rc != 0)
        live_dump(w->d);
    cr_expect_eq(rc, 0);
    live_free(w->d);
    harness_rmtree(w->dir);
    free(w->dir);
}

static json_t *wait_dispatch(struct world *w, const char *event, const char *command)
{
    json_t *e = live_wait_entry(w->d, WAIT_MS, "PERMWATCH_EVENT", event, "PERMWATCH_FINDING",
                                "dispatch_unreachable", "PERMWATCH_COMMAND", command, NULL);
    if (!e) {
        live_dump(w->d);
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
    json_t *all = live_entries(w.d);
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
    live_settle(w.d, 300);
    cr_expect_eq(
        live_count_entries(w.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_COMMAND", npm_cmd, NULL),
        0, "the npm-global symlink is reachable");

    sh("chmod 0750 '%s'", modules);
    e = wait_dispatch(&w, "finding", npm_cmd);
    cr_expect_str_eq(live_field(e, "PERMWATCH_BLOCKED_AT"), modules);
    sh("chmod 0755 '%s'", modules);
    wait_dispatch(&w, "resolved", npm_cmd);
    live_settle(w.d, 300);
    cr_expect_eq(
        live_count_entries(w.d, "PERMWATCH_EVENT", "finding", "PERMWATCH_COMMAND", npm_cmd, NULL),
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
    live_settle(w.d, 200);
    cr_expect_eq(live_count_entries(w.d, "PERMWATCH_FINDING", "dispatch_unreachable", NULL), 0);
    sh("mv '%s' '%s.old'", target, target);
    wait_dispatch(&w, "finding", npm_cmd);
    sh("mv '%s.old' '%s'", target, target);
    wait_dispatch(&w, "resolved", npm_cmd);
    /* a script the web user may execute but not read: the kernel refuses to run it */
    sh("chmod 0711 '%s/bin/kimaki'", target);
    wait_dispatch(&w, "finding", npm_cmd);
    world_free(&w);
}

/* A channels file that cannot be parsed is a finding naming the line, and the daemon goes on. */
Test(live_dispatch, invalid_channels_file)
{
    struct world w;
    world_init(&w, "usr/bin/kimaki");
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", w.channels);
    harness_write_file(tmp, "<?php\n$channels['broken'] = [\n    'command' => '/usr/bin/x\n");
    sh("mv '%s' '%s'", tmp, w.channels);
    json_t *e = live_wait_entry(w.d, WAIT_MS, "PERMWATCH_EVENT", "finding", "PERMWATCH_FINDING",
                                "dispatch_invalid", NULL);
    if (!e)
        live_dump(w.d);
    cr_assert_not_null(e);
    cr_expect_str_eq(live_field(e, "PERMWATCH_PATH"), w.channels);
    cr_expect(strstr(live_field(e, "PERMWATCH_REASON"), "line "), "%s",
              live_field(e, "PERMWATCH_REASON"));
    char good[PATH_MAX];
    snprintf(good, sizeof(good), "%s/usr/bin/kimaki", w.fake);
    write_channels(&w, good);
    cr_assert_not_null(live_wait_entry(w.d, WAIT_MS, "PERMWATCH_EVENT", "resolved",
                                       "PERMWATCH_FINDING", "dispatch_invalid", NULL));
    world_free(&w);
}
