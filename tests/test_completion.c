/* test_completion: packaging/permwatchctl.bash-completion in a real bash (issue 12): the
 * completion function is called with COMP_WORDS/COMP_CWORD set, as bash's programmable
 * completion would, and COMPREPLY is compared. The finding kinds it offers are exactly
 * finding_kind_name's (a kind added to daemon/finding.c and not to the completion fails
 * here); every command the client accepts is offered; --site offers the instance sockets;
 * PATH completes inside the site root of the policy of the daemon asked. Plain bash: the
 * bash-completion package is not needed. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "finding.h"
#include "harness.h"

static char *tmp; /* policies in tmp/etc, sockets in tmp/run, sites tmp/site, tmp/blog */

static void completion_setup(void)
{
    char path[PATH_MAX + 64], text[PATH_MAX + 128];
    tmp = harness_tempdir("completion");
    static const char *const dirs[] = {"etc",           "run",  "site",           "site/wp-content",
                                       "site/wp-admin", "blog", "blog/wp-content"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, dirs[i]);
        cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
    }
    static const char *const files[] = {"site/wp-config.php", "blog/wp-config.php",
                                        "run/control.sock", "run/blog.sock", "run/shop.sock"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, files[i]);
        harness_write_file(path, "");
    }
    /* inih syntax the completion must read: [site] not first, blanks, ':' and a comment */
    snprintf(path, sizeof(path), "%s/etc/permwatch.ini", tmp);
    snprintf(text, sizeof(text),
             "; the single site\n[daemon]\nrescan_interval = 6h\n[ site ]\n  root : %s/site/ "
             "; trailing slash and comment\nweb_user = www-data\n",
             tmp);
    harness_write_file(path, text);
    snprintf(path, sizeof(path), "%s/etc/blog.ini", tmp);
    snprintf(text, sizeof(text), "[site]\nroot = %s/blog\n", tmp);
    harness_write_file(path, text);
}

static void completion_teardown(void)
{
    harness_rmtree(tmp);
    free(tmp);
}

/* Call _permwatchctl in bash from the directory CWD (NULL: "/") with the words given (NULL
 * terminated; the last is the word completed). Returns COMPREPLY one per line, sorted,
 * malloc'd. */
static char *complete_in(const char *cwd, ...)
{
    char comp[PATH_MAX];
    harness_tests_path("../packaging/permwatchctl.bash-completion", comp, sizeof(comp));
    const char *script = "_permwatchctl_etc=$1/etc; _permwatchctl_run=$1/run\n"
                         "source \"$2\" || exit 9\n"
                         "cd \"$3\" || exit 8\n"
                         "shift 3\n"
                         "COMP_WORDS=(\"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
                         "_permwatchctl || exit 7\n"
                         "((${#COMPREPLY[@]})) && printf '%s\\n' \"${COMPREPLY[@]}\" | sort\n"
                         "exit 0\n";
    char *argv[32] = {"/bin/bash", "-c", (char *)script,           "bash",
                      tmp,         comp, (char *)(cwd ? cwd : "/")};
    size_t n = 7;
    va_list ap;
    va_start(ap, cwd);
    for (const char *w; (w = va_arg(ap, const char *));) {
        cr_assert_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
        argv[n++] = (char *)w;
    }
    va_end(ap);
    argv[n] = NULL;
    struct run_result r;
    cr_assert_eq(harness_run(argv, &r), 0, "cannot run bash");
    cr_assert_eq(r.status, 0, "bash exit %d: %s", r.status, r.err);
    cr_expect_str_empty(r.err, "bash said: %s", r.err);
    char *out = r.out;
    r.out = NULL;
    run_result_free(&r);
    return out;
}

#define complete(...) complete_in(NULL, __VA_ARGS__, (const char *)NULL)

/* LINES (sorted, one per line) equals WANT (its words, any order, space-separated). */
static void expect_words(const char *lines, const char *want, const char *what)
{
    char *copy = strdup(want), *save = NULL;
    char *sorted[64];
    size_t n = 0;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        sorted[n++] = w;
    for (size_t i = 1; i < n; i++) /* insertion sort, like sort(1) in the C locale */
        for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
            char *t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    char *joined = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&joined, &len);
    for (size_t i = 0; i < n; i++)
        fprintf(m, "%s\n", sorted[i]);
    fclose(m);
    cr_expect_str_eq(lines, joined, "%s: got\n%s\nwant\n%s", what, lines, joined);
    free(joined);
    free(copy);
}

/* The finding kinds of the code, space-separated, into BUF. */
static const char *code_kinds(char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", k ? " " : "",
                                finding_kind_name((enum finding_kind)k));
    cr_assert_lt(off, len);
    return buf;
}

Test(completion, kinds_are_the_codes, .init = completion_setup, .fini = completion_teardown)
{
    char kinds[1024], *got;
    code_kinds(kinds, sizeof(kinds));
    got = complete("permwatchctl", "findings", "--kind", "");
    expect_words(got, kinds, "findings --kind ''");
    free(got);
    /* --kind=VALUE split by COMP_WORDBREAKS ('=' a word of its own), and as one word */
    got = complete("permwatchctl", "--json", "findings", "--kind", "=", "");
    expect_words(got, kinds, "findings --kind=''");
    free(got);
    got = complete("permwatchctl", "findings", "--kind", "=");
    expect_words(got, kinds, "findings --kind=");
    free(got);
    got = complete("permwatchctl", "findings", "--kind", "=", "dispatch_");
    expect_words(got, "dispatch_unreachable dispatch_invalid", "--kind=dispatch_");
    free(got);
    got = complete("permwatchctl", "findings", "--kind=root");
    expect_words(got, "--kind=root_owned --kind=root_writer", "--kind=root (one word)");
    free(got);
}

/* The commands the client accepts, read from its table in daemon/client.c, space-separated
 * into BUF. */
static const char *client_commands(char *buf, size_t len)
{
    char path[PATH_MAX];
    harness_tests_path("../daemon/client.c", path, sizeof(path));
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[512];
    size_t off = 0;
    bool in = false;
    buf[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "client_cmds[] = {"))
            in = true;
        else if (in && strncmp(line, "};", 2) == 0)
            break;
        for (const char *p = line; in && (p = strstr(p, "{\""));) {
            p += 2;
            off += (size_t)snprintf(buf + off, len - off, "%s%.*s", off ? " " : "",
                                    (int)strcspn(p, "\""), p);
        }
    }
    fclose(f);
    cr_assert_lt(off, len);
    return buf;
}

Test(completion, commands_and_options, .init = completion_setup, .fini = completion_teardown)
{
    char *got = complete("permwatchctl", "");
    expect_words(got, "status findings scan repair dispatch reload metrics instances", "commands");
    /* every command the client accepts is offered */
    char cmds[512], offered[1024], *save = NULL;
    client_commands(cmds, sizeof(cmds));
    snprintf(offered, sizeof(offered), "\n%s", got);
    size_t n = 0;
    for (char *w = strtok_r(cmds, " ", &save); w; w = strtok_r(NULL, " ", &save), n++) {
        char want[64];
        snprintf(want, sizeof(want), "\n%s\n", w);
        cr_expect(strstr(offered, want),
                  "permwatchctl takes '%s', the completion does not offer it", w);
    }
    cr_expect_geq(n, 7, "only %zu commands read from daemon/client.c", n);
    free(got);

    got = complete("permwatchctl", "re");
    expect_words(got, "repair reload", "re");
    free(got);
    got = complete("permwatchctl", "-");
    expect_words(got, "-s --socket --site --json -h --help -V --version", "global options");
    free(got);
    got = complete("permwatchctl", "repair", "-");
    expect_words(got, "--dry-run --json", "repair -");
    free(got);
    got = complete("permwatchctl", "-s", "/run/x.sock", "findings", "--");
    expect_words(got, "--kind --json", "findings --");
    free(got);
    got = complete("permwatchctl", "status", "-");
    expect_words(got, "--json", "status -");
    free(got);
    got = complete("permwatchctl", "status", "");
    expect_words(got, "", "status takes no PATH");
    free(got);
}

Test(completion, site_names_are_the_instance_sockets, .init = completion_setup,
     .fini = completion_teardown)
{
    char *got = complete("permwatchctl", "--site", "");
    expect_words(got, "blog shop", "--site ''");
    free(got);
    got = complete("permwatchctl", "--site", "=", "s");
    expect_words(got, "shop", "--site=s");
    free(got);
    got = complete("permwatchctl", "--site=b");
    expect_words(got, "--site=blog", "--site=b (one word)");
    free(got);
}

Test(completion, paths_inside_the_site, .init = completion_setup, .fini = completion_teardown)
{
    char want[4 * PATH_MAX], cur[PATH_MAX], sock[PATH_MAX], site[PATH_MAX], *got;

    /* from elsewhere: a site-relative word completes to the absolute path in the site */
    got = complete("permwatchctl", "scan", "wp-c");
    snprintf(want, sizeof(want), "%s/site/wp-config.php %s/site/wp-content", tmp, tmp);
    expect_words(got, want, "scan wp-c from /");
    free(got);

    /* from inside the site: relative to the current directory, as permwatchctl resolves it */
    snprintf(site, sizeof(site), "%s/site", tmp);
    got = complete_in(site, "permwatchctl", "repair", "--dry-run", "wp-", (const char *)NULL);
    expect_words(got, "wp-admin wp-config.php wp-content", "repair wp- from the site");
    free(got);

    /* absolute: a prefix of the root completes to the root; inside it, below it; outside,
     * nothing */
    snprintf(cur, sizeof(cur), "%s/si", tmp);
    got = complete("permwatchctl", "findings", cur);
    snprintf(want, sizeof(want), "%s/site", tmp);
    expect_words(got, want, "findings ROOT-prefix");
    free(got);
    snprintf(cur, sizeof(cur), "%s/site/wp-co", tmp);
    got = complete("permwatchctl", "findings", "--kind", "root_owned", cur);
    snprintf(want, sizeof(want), "%s/site/wp-config.php %s/site/wp-content", tmp, tmp);
    expect_words(got, want, "findings --kind root_owned ROOT/wp-co");
    free(got);
    snprintf(cur, sizeof(cur), "%s/blog/wp-co", tmp);
    got = complete("permwatchctl", "scan", cur);
    expect_words(got, "", "a path in another site");
    free(got);

    /* the instance's site: --site NAME, --site=NAME, -s RUN/NAME.sock */
    snprintf(want, sizeof(want), "%s/blog/wp-config.php %s/blog/wp-content", tmp, tmp);
    got = complete("permwatchctl", "--site", "blog", "scan", "wp-");
    expect_words(got, want, "--site blog scan wp-");
    free(got);
    got = complete("permwatchctl", "--site", "=", "blog", "scan", "wp-");
    expect_words(got, want, "--site=blog (split) scan wp-");
    free(got);
    got = complete("permwatchctl", "--site=blog", "scan", "wp-");
    expect_words(got, want, "--site=blog scan wp-");
    free(got);
    snprintf(sock, sizeof(sock), "%s/run/blog.sock", tmp);
    got = complete("permwatchctl", "-s", sock, "scan", "wp-");
    expect_words(got, want, "-s RUN/blog.sock scan wp-");
    free(got);

    /* no choice, no single-site socket, one instance: permwatchctl asks it, and so do we */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/run/control.sock", tmp);
    cr_assert_eq(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/run/shop.sock", tmp);
    cr_assert_eq(unlink(path), 0);
    got = complete("permwatchctl", "scan", "wp-");
    expect_words(got, want, "the only instance");
    free(got);
}
