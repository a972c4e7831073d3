/* phplint_run against the real PHP 8.2 (php-cli), as www-data: a valid channels file, the
 * version-skew file of issue 11 (a ParseError at its line), code that would do harm if it ran
 * (it is only compiled), and a "php" that never answers (killed at the deadline). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "harness.h"
#include "phplint.h"

static char php[4096];
static struct principal www;

static void setup(void)
{
    cr_assert(phplint_find("/usr/local/bin:/usr/bin:/bin", php, sizeof(php)),
              "php-cli is not installed");
    cr_assert_eq(account_principal_load("www-data", &www), 0);
}

static void teardown(void)
{
    account_principal_free(&www);
}

/* The bytes of tests/fixtures/channels-php/NAME, malloc'd. */
static char *fixture(const char *name, size_t *len)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof(rel), "fixtures/channels-php/%s", name);
    harness_tests_path(rel, path, sizeof(path));
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

Test(phplint, valid_file_is_ok, .init = setup, .fini = teardown)
{
    size_t len;
    char *buf = fixture("gen-four.php", &len);
    struct phplint_result r;
    cr_assert_eq(phplint_run(php, &www, buf, len, &r), 0);
    cr_assert_eq(r.verdict, PHPLINT_OK, "%s", r.message);
    free(buf);
}

Test(phplint, version_skew_is_a_parse_error_at_its_line, .init = setup, .fini = teardown)
{
    size_t len;
    char *buf = fixture("edit-version-skew.php", &len);
    struct phplint_result r;
    cr_assert_eq(phplint_run(php, &www, buf, len, &r), 0);
    cr_assert_eq(r.verdict, PHPLINT_ERROR, "%s", r.message);
    cr_assert_eq(r.line, 15);
    cr_assert(strstr(r.message, "syntax error"), "%s", r.message);
    free(buf);
}

/* -l compiles, never runs: the file below would create MARK as www-data if it ran. */
Test(phplint, code_is_never_run, .init = setup, .fini = teardown)
{
    char mark[] = "/tmp/phplint-mark-XXXXXX", src[256];
    int fd = mkstemp(mark);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(mark);
    snprintf(src, sizeof(src), "<?php file_put_contents('%s', 'ran'); exit(3);\n", mark);
    struct phplint_result r;
    cr_assert_eq(phplint_run(php, &www, src, strlen(src), &r), 0);
    cr_assert_eq(r.verdict, PHPLINT_OK, "%s", r.message);
    cr_assert_neq(access(mark, F_OK), 0, "the code ran");
}

/* A "php" that never answers is killed at the deadline: the verdict is UNKNOWN. */
Test(phplint, hung_php_is_killed_in_time, .init = setup, .fini = teardown)
{
    char dir[] = "/tmp/phplint-hang-XXXXXX", fake[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(fake, sizeof(fake), "%s/php", dir);
    FILE *f = fopen(fake, "w");
    cr_assert_not_null(f);
    fputs("#!/bin/sh\nexec sleep 60\n", f);
    fclose(f);
    cr_assert_eq(chmod(fake, 0755), 0);
    cr_assert_eq(chmod(dir, 0755), 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct phplint_result r;
    cr_assert_eq(phplint_run(fake, &www, "<?php\n", 6, &r), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    cr_log_info("hung php answered in %.2f s", s);
    cr_assert_eq(r.verdict, PHPLINT_UNKNOWN);
    cr_assert(strstr(r.message, "no answer"), "%s", r.message);
    cr_assert_lt(s, PHPLINT_SECONDS + 2.0);
    unlink(fake);
    rmdir(dir);
}
