/* Differential test of channels_parse against PHP 8.2 itself (issue 11): every file of
 * tests/fixtures/channels-php/ (written by its gen.sh: files as the installer writes them and
 * the hand edits of the issue) is included by PHP with WordPress's filter functions stubbed
 * (tests/php-channels-dump.php) and the resulting channel => command map is compared with
 * permwatch's parse. For each file either the maps are equal or permwatch reports an error
 * with a line (dispatch_invalid); anything else is a silent disagreement. The files still
 * disagreeing silently are listed in tests/fixtures/channels-php/KNOWN (the test fails on
 * any other, and on a listed file that now agrees, so the list only shrinks). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "harness.h"

#define MAXF 256

/* The bytes of PATH, malloc'd; length in *LEN. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    char *buf = malloc(1 << 20);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* "hexname hexcmd" of one channel into OUT (malloc'd). */
static char *pair_hex(const char *name, const char *cmd)
{
    size_t a = strlen(name), b = strlen(cmd);
    char *s = malloc(2 * (a + b) + 2), *p = s;
    cr_assert_not_null(s);
    for (size_t i = 0; i < a; i++)
        p += sprintf(p, "%02x", (unsigned char)name[i]);
    *p++ = ' ';
    for (size_t i = 0; i < b; i++)
        p += sprintf(p, "%02x", (unsigned char)cmd[i]);
    *p = '\0';
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* PHP's answer for PATH: the lines after "OK" sorted in LINES (*N), returns 0; or 1 when PHP
 * cannot compile or run the file (first line in HEAD). */
static int php_map(const char *dump, const char *path, char **lines, size_t *n, char *head,
                   size_t headlen)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "php -n -d display_errors=stderr '%s' '%s' 2>/dev/null", dump, path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char *line = NULL;
    size_t cap = 0;
    ssize_t r;
    *n = 0;
    head[0] = '\0';
    bool first = true;
    while ((r = getline(&line, &cap, p)) > 0) {
        if (line[r - 1] == '\n')
            line[r - 1] = '\0';
        if (first) {
            snprintf(head, headlen, "%s", line);
            first = false;
            continue;
        }
        cr_assert_lt(*n, MAXF);
        lines[(*n)++] = strdup(line);
    }
    free(line);
    cr_assert_eq(pclose(p), 0, "php failed on %s", path);
    qsort(lines, *n, sizeof(*lines), cmp_str);
    return strcmp(head, "OK") != 0;
}

/* Whether NAME is listed in the KNOWN text. */
static bool known(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = list; (s = strstr(s, name)) != NULL; s += n)
        if ((s == list || s[-1] == '\n') && (s[n] == '\n' || s[n] == ' ' || s[n] == '\0'))
            return true;
    return false;
}

Test(channels_php, every_file_agrees_with_php_or_is_invalid)
{
    char dir[4096], dump[4096], kpath[4096];
    harness_tests_path("fixtures/channels-php", dir, sizeof(dir));
    harness_tests_path("php-channels-dump.php", dump, sizeof(dump));
    harness_tests_path("fixtures/channels-php/KNOWN", kpath, sizeof(kpath));
    cr_assert_eq(system("php -v >/dev/null 2>&1"), 0, "php-cli is not installed");
    size_t klen;
    char *klist = slurp(kpath, &klen);
    klist[klen] = '\0';

    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    unsigned total = 0, agree = 0, invalid = 0, silent = 0, fixed = 0;
    char report[32768] = "";
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".php") != 0)
            continue;
        char path[8192], head[256];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len;
        char *buf = slurp(path, &len);
        struct channels c;
        cr_assert_eq(channels_parse(buf, len, &c), 0);
        char *php[MAXF], *pw[MAXF];
        size_t nphp, npw = 0;
        int php_fails = php_map(dump, path, php, &nphp, head, sizeof(head));
        total++;
        const char *verdict;
        bool fatal = false;
        for (size_t i = 0; i < c.nerrors; i++)
            fatal |= c.errors[i].fatal;
        /* a file PHP cannot compile must be called fatal (the site is down), and only then */
        bool php_parse_error = strncmp(head, "PARSE_ERROR", 11) == 0;
        cr_expect_eq(fatal, php_parse_error, "%s: PHP says %s, permwatch %s", e->d_name, head,
                     fatal ? "cannot parse it" : "can parse it");
        if (c.nerrors > 0) {
            cr_assert_gt(c.errors[0].line, 0);
            invalid++;
            verdict = "invalid";
        } else {
            bool same = !php_fails && c.n == nphp;
            for (size_t i = 0; i < c.n; i++)
                pw[npw++] = pair_hex(c.items[i].name, c.items[i].command);
            qsort(pw, npw, sizeof(*pw), cmp_str);
            for (size_t i = 0; same && i < npw; i++)
                same = strcmp(pw[i], php[i]) == 0;
            if (same) {
                agree++;
                verdict = "agree";
            } else {
                silent++;
                verdict = "SILENT";
            }
            for (size_t i = 0; i < npw; i++)
                free(pw[i]);
        }
        bool listed = known(klist, e->d_name);
        if (strcmp(verdict, "SILENT") == 0 && !listed)
            cr_expect_fail("%s: PHP says %s with %zu channels, permwatch %zu channels and no error",
                           e->d_name, head, nphp, c.n);
        if (strcmp(verdict, "SILENT") != 0 && listed) {
            fixed++;
            cr_log_error("%s is listed in KNOWN but is now %s: take it out", e->d_name, verdict);
        }
        size_t rl = strlen(report);
        snprintf(report + rl, sizeof(report) - rl, "  %-36s php %-16s %-7s %u %.60s\n", e->d_name,
                 head, verdict, c.nerrors ? c.errors[0].line : 0,
                 c.nerrors ? c.errors[0].message : "");
        for (size_t i = 0; i < nphp; i++)
            free(php[i]);
        channels_free(&c);
        free(buf);
    }
    closedir(d);
    free(klist);
    fprintf(stderr, "channels vs PHP: %u files, %u agree, %u invalid (honest), %u silent\n%s",
            total, agree, invalid, silent, report);
    cr_assert_geq(total, 40);
    cr_assert_eq(fixed, 0);
}
