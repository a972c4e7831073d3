/* `make` on a machine without the build dependencies: the Makefile's build-deps-check runs
 * before any compiler and names the Debian packages to install (and `make deps`) instead of
 * failing with "fatal error: jansson.h". Runs the real Makefile of the source tree with a fake
 * PKG_CONFIG (one module missing, or no pkg-config at all) or a CC that cannot find <ev.h>,
 * into a throwaway BUILD directory. Needs make and the build dependencies themselves. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char *tmp;

static void setup(void)
{
    tmp = harness_tempdir("builddeps");
}

static void teardown(void)
{
    harness_rmtree(tmp);
    free(tmp);
}

TestSuite(builddeps, .init = setup, .fini = teardown);

/* Run `make -s ARGS` in the source tree (the working directory) with BUILD=tmp/b, outside any
 * calling make's jobserver; fills *r. */
static void builddeps_make(struct run_result *r, const char *args)
{
    cr_assert(harness_sh(r,
                         "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory "
                         "BUILD='%s/b' %s",
                         tmp, args) == 0);
}

/* An executable script at tmp/NAME with TEXT; returns its path (static buffer). */
static const char *builddeps_script(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    harness_write_file(path, text);
    cr_assert_eq(chmod(path, 0755), 0);
    return path;
}

/* Asserts the failed make named exactly the packages WANT (as the message prints them) and
 * compiled nothing. */
static void builddeps_assert_refused(struct run_result *r, const char *want)
{
    char line[256], apt[256], obj[512];
    snprintf(line, sizeof(line), "missing build dependencies: %s\n", want);
    snprintf(apt, sizeof(apt), "run `make deps` (as root) or: apt-get install %s\n", want);
    cr_assert_neq(r->status, 0, "make succeeded:\n%s%s", r->out, r->err);
    cr_assert(strstr(r->err, line), "no '%s' in:\n%s", line, r->err);
    cr_assert(strstr(r->err, apt), "no '%s' in:\n%s", apt, r->err);
    cr_assert(!strstr(r->err, "fatal error") && !strstr(r->out, "fatal error"), "%s%s", r->out,
              r->err);
    snprintf(obj, sizeof(obj), "%s/b/obj", tmp);
    cr_assert_neq(access(obj, F_OK), 0, "%s was created: the build went on", obj);
}

Test(builddeps, one_library_missing)
{
    const char *pc = builddeps_script("pkg-config", "#!/bin/sh\n"
                                                    "for a in \"$@\"; do\n"
                                                    "    [ \"$a\" = jansson ] && exit 1\n"
                                                    "done\n"
                                                    "exec pkg-config \"$@\"\n");
    char args[600];
    snprintf(args, sizeof(args), "PKG_CONFIG='%s' all", pc);
    struct run_result r;
    builddeps_make(&r, args);
    builddeps_assert_refused(&r, "libjansson-dev");
    run_result_free(&r);
}

Test(builddeps, libev_header_missing)
{
    /* a compiler that finds nothing: <ev.h> is the one dependency without a .pc file */
    const char *cc = builddeps_script("cc", "#!/bin/sh\nexit 1\n");
    char args[600];
    snprintf(args, sizeof(args), "CC='%s' all", cc);
    struct run_result r;
    builddeps_make(&r, args);
    builddeps_assert_refused(&r, "libev-dev");
    run_result_free(&r);
}

Test(builddeps, no_pkg_config)
{
    struct run_result r;
    builddeps_make(&r, "PKG_CONFIG=/nonexistent/pkg-config all");
    builddeps_assert_refused(&r, "pkg-config libsystemd-dev libinih-dev libjansson-dev "
                                 "libacl1-dev libbsd-dev");
    run_result_free(&r);
}

Test(builddeps, all_present_says_nothing)
{
    struct run_result r;
    builddeps_make(&r, "build-deps-check");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_str_empty(r.out);
    cr_assert_str_empty(r.err);
    run_result_free(&r);
}
