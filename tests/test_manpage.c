/* test_manpage: packaging/permwatch.ini.5 against the config parser (issue 12), both ways:
 * every key the parser accepts (config_key_at) has a key entry in the page's section, and
 * every key entry is one the parser takes in that section (by the table and by loading a
 * file that uses it, where an unknown key is refused); every documented literal default is
 * the parser's default (a file setting it prints the same effective policy as one leaving it
 * out); every entry says what a reload does, and a key said to need a restart is one the
 * daemon names in a reload_partial entry; conf/permwatch.ini uses only documented keys; the
 * page's example policies load; permwatchd(8) lists exactly the finding kinds. Needs the users
 * www-data and opencode and the group permwatch (tests/ensure-users.sh). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "finding.h"
#include "harness.h"

#define MAX_ENTRIES 64
#define SITE_ROOT   "/var/www/site"

/* One key entry of the page: `.TP` then `.B... "KEY = ...` under `.SS [SECTION...]` of
 * `.SH KEYS`. */
struct entry {
    char section[16]; /* site, daemon, dispatch, rule */
    char key[48];
    char *body;         /* the entry's source lines after the key line (malloc'd) */
    char dflt[128];     /* the literal default (`Default:` then `.B VALUE`), "" when none */
    char reload[32];    /* "applied", "restart" or "" */
    bool seen_by_table; /* matched a parser key */
};

/* A source file of the tree (relative to tests/), slurped. */
static char *manpage_source(const char *rel)
{
    char path[PATH_MAX];
    return harness_slurp(harness_tests_path(rel, path, sizeof(path)));
}

/* Roff text S with the escapes the page uses (\-, \e, \(aq, \&, \fX) turned into plain text,
 * into BUF. Returns BUF. */
static char *manpage_plain(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s && o + 1 < len; s++) {
        if (s[0] == '\\' && s[1] == '-')
            buf[o++] = '-', s++;
        else if (s[0] == '\\' && s[1] == 'e')
            buf[o++] = '\\', s++;
        else if (s[0] == '\\' && s[1] == '&')
            s++;
        else if (s[0] == '\\' && s[1] == 'f' && s[2])
            s += 2;
        else if (strncmp(s, "\\(aq", 4) == 0)
            buf[o++] = '\'', s += 3;
        else
            buf[o++] = *s;
    }
    buf[o] = '\0';
    return buf;
}

/* The first argument of the macro line LINE (".BR www\-data ." -> "www-data"), plain, into
 * BUF; "" when there is none. */
static void manpage_macro_arg(const char *line, char *buf, size_t len)
{
    const char *p = strchr(line, ' ');
    char raw[256];
    buf[0] = '\0';
    if (!p)
        return;
    while (*p == ' ')
        p++;
    size_t n;
    if (*p == '"') {
        p++;
        n = strcspn(p, "\"");
    } else {
        n = strcspn(p, " \n");
    }
    snprintf(raw, sizeof(raw), "%.*s", (int)n, p);
    manpage_plain(raw, buf, len);
}

/* Fill E's default and reload note from its body. */
static void manpage_entry_notes(struct entry *e)
{
    for (char *l = e->body; l && *l;) {
        char *nl = strchr(l, '\n');
        char *next = nl ? nl + 1 : NULL;
        if (strncmp(l, "Default:\n", 9) == 0 && next && strncmp(next, ".B", 2) == 0) {
            char line[256];
            snprintf(line, sizeof(line), "%.*s", (int)strcspn(next, "\n"), next);
            manpage_macro_arg(line, e->dflt, sizeof(e->dflt));
        }
        char *r = strstr(l, "Reload: ");
        if (r && (!nl || r < nl) && !e->reload[0]) {
            r += strlen("Reload: ");
            if (strncmp(r, "applied", 7) == 0)
                snprintf(e->reload, sizeof(e->reload), "applied");
            else if (strncmp(r, "needs a restart", 15) == 0)
                snprintf(e->reload, sizeof(e->reload), "restart");
        }
        l = next;
    }
}

/* Parse the key entries of the page TEXT into E (capacity MAX_ENTRIES). Returns the count. */
static size_t manpage_entries(const char *text, struct entry *e)
{
    size_t n = 0;
    bool in_keys = false;
    char section[16] = "";
    const char *l = text;
    while (l && *l) {
        const char *nl = strchr(l, '\n');
        const char *next = nl ? nl + 1 : NULL;
        if (strncmp(l, ".SH ", 4) == 0) {
            in_keys = strncmp(l, ".SH KEYS\n", 9) == 0;
            section[0] = '\0';
        } else if (in_keys && strncmp(l, ".SS [", 5) == 0) {
            snprintf(section, sizeof(section), "%.*s", (int)strcspn(l + 5, "] \n"), l + 5);
        } else if (in_keys && section[0] && strncmp(l, ".TP\n", 4) == 0 && next &&
                   strncmp(next, ".B", 2) == 0) {
            const char *q = strchr(next, '"');
            const char *kn = q ? q + 1 : "";
            size_t kl = strspn(kn, "abcdefghijklmnopqrstuvwxyz_");
            if (kl && strncmp(kn + kl, " = ", 3) == 0) {
                cr_assert_lt(n, (size_t)MAX_ENTRIES, "too many key entries");
                struct entry *x = &e[n++];
                memset(x, 0, sizeof(*x));
                snprintf(x->section, sizeof(x->section), "%s", section);
                snprintf(x->key, sizeof(x->key), "%.*s", (int)kl, kn);
                /* the body: up to the next .TP, .SS or .SH */
                const char *b = strchr(next, '\n');
                b = b ? b + 1 : next + strlen(next);
                const char *end = b;
                while (*end && strncmp(end, ".TP\n", 4) != 0 && strncmp(end, ".SS ", 4) != 0 &&
                       strncmp(end, ".SH ", 4) != 0) {
                    const char *z = strchr(end, '\n');
                    end = z ? z + 1 : end + strlen(end);
                }
                x->body = strndup(b, (size_t)(end - b));
                cr_assert_not_null(x->body);
                manpage_entry_notes(x);
                l = end;
                continue;
            }
        }
        l = next;
    }
    return n;
}

static char *page;
static struct entry entries[MAX_ENTRIES];
static size_t nentries;

static void manpage_setup(void)
{
    page = manpage_source("../packaging/permwatch.ini.5");
    nentries = manpage_entries(page, entries);
}

static void manpage_teardown(void)
{
    for (size_t i = 0; i < nentries; i++)
        free(entries[i].body);
    free(page);
}

/* The page's entry for KEY in SECTION, or NULL. */
static struct entry *manpage_find(const char *section, const char *key)
{
    for (size_t i = 0; i < nentries; i++)
        if (strcmp(entries[i].section, section) == 0 && strcmp(entries[i].key, key) == 0)
            return &entries[i];
    return NULL;
}

/* A file setting KEY = VALUE in SECTION (nothing else set when KEY is NULL), into BUF. */
static const char *manpage_config(const char *section, const char *key, const char *value,
                                  char *buf, size_t len)
{
    bool site = strcmp(section, "site") == 0, rule = strcmp(section, "rule") == 0;
    const char *sep = key ? " = " : "";
    if (!key)
        key = value = "";
    if (site)
        snprintf(buf, len, "[site]\n%s%s%s\n%s\n", key, sep, value,
                 strcmp(key, "root") == 0 ? "" : "root = " SITE_ROOT);
    else if (rule)
        snprintf(buf, len, "[site]\nroot = " SITE_ROOT "\n[rule r]\n%s%s%s\n%s\n", key, sep, value,
                 strcmp(key, "match") == 0 ? "" : "match = **");
    else
        snprintf(buf, len, "[site]\nroot = " SITE_ROOT "\n[%s]\n%s%s%s\n", section, key, sep,
                 value);
    return buf;
}

/* config_print of TEXT (which must load) in a malloc'd string. */
static char *manpage_effective(const char *text)
{
    struct config *c = NULL;
    struct config_error err;
    char msg[512];
    cr_assert_eq(config_load_string(text, "man.ini", &c, &err), 0, "does not load: %s\n%s",
                 config_error_format(&err, msg, sizeof(msg)), text);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    cr_assert_not_null(m);
    config_print(c, m);
    fclose(m);
    config_free(c);
    return out;
}

Test(manpage, every_parser_key_has_an_entry, .init = manpage_setup, .fini = manpage_teardown)
{
    size_t keys = 0;
    const char *section, *name;
    bool repeatable;
    for (size_t i = 0; (name = config_key_at(i, &section, &repeatable)); i++) {
        keys++;
        struct entry *e = manpage_find(section, name);
        cr_expect_not_null(e, "the parser takes [%s] %s, permwatch.ini(5) has no entry for it",
                           section, name);
        if (e)
            e->seen_by_table = true;
        if (e && repeatable)
            cr_expect(strstr(e->body, "epeatable"), "[%s] %s is repeatable: the entry must say so",
                      section, name);
    }
    cr_expect_geq(keys, 27, "the parser's table lists %zu keys", keys);
    cr_expect_eq(nentries, keys, "permwatch.ini(5) has %zu key entries, the parser %zu keys",
                 nentries, keys);
}

Test(manpage, every_entry_is_a_parser_key, .init = manpage_setup, .fini = manpage_teardown)
{
    cr_assert_geq(nentries, 27, "only %zu key entries parsed from permwatch.ini(5)", nentries);
    for (size_t i = 0; i < nentries; i++) {
        const struct entry *e = &entries[i];
        const char *section, *name;
        bool in_table = false;
        for (size_t k = 0; (name = config_key_at(k, &section, NULL)); k++)
            in_table = in_table || (!strcmp(name, e->key) && !strcmp(section, e->section));
        cr_expect(in_table, "permwatch.ini(5) documents [%s] %s, which the parser's table lacks",
                  e->section, e->key);

        /* loading a file with the key: anything but "unknown key" (the value may be wrong) */
        char text[512], unknown[64], msg[512];
        struct config *c = NULL;
        struct config_error err;
        manpage_config(e->section, e->key, e->dflt[0] ? e->dflt : "x", text, sizeof(text));
        if (config_load_string(text, "man.ini", &c, &err) == 0)
            config_free(c);
        else
            cr_expect(!strstr(err.message, "unknown key"), "[%s] %s refused as a key: %s",
                      e->section, e->key, config_error_format(&err, msg, sizeof(msg)));
        /* and the same file with a key that is not one is refused as such */
        snprintf(unknown, sizeof(unknown), "%s_x", e->key);
        manpage_config(e->section, unknown, "x", text, sizeof(text));
        cr_expect_eq(config_load_string(text, "man.ini", &c, &err), -1, "%s loaded", unknown);
        cr_expect(strstr(err.message, "unknown key"), "%s: %s", unknown, err.message);
    }
}

Test(manpage, documented_defaults_are_the_defaults, .init = manpage_setup, .fini = manpage_teardown)
{
    size_t checked = 0;
    for (size_t i = 0; i < nentries; i++) {
        const struct entry *e = &entries[i];
        if (!e->dflt[0])
            continue;
        char with[512], without[512];
        manpage_config(e->section, e->key, e->dflt, with, sizeof(with));
        manpage_config(e->section, NULL, NULL, without, sizeof(without));
        char *a = manpage_effective(with), *b = manpage_effective(without);
        cr_expect_str_eq(a, b, "[%s] %s = %s (the documented default) changes the policy",
                         e->section, e->key, e->dflt);
        free(a);
        free(b);
        checked++;
    }
    /* every [daemon] key, web_user, channels_file, path, the rule's modes and booleans */
    cr_expect_geq(checked, 19, "only %zu literal defaults found in permwatch.ini(5)", checked);
}

/* Whether the daemon's sources log a reload_partial entry naming KEY. */
static bool manpage_reload_partial(const char *src, const char *key)
{
    char want[96];
    snprintf(want, sizeof(want), "reload_partial(l, \"%s\"", key);
    return strstr(src, want) != NULL;
}

Test(manpage, reload_notes_match_the_code, .init = manpage_setup, .fini = manpage_teardown)
{
    char *src = manpage_source("../daemon/loop.c");
    size_t restart = 0;
    for (size_t i = 0; i < nentries; i++) {
        const struct entry *e = &entries[i];
        cr_expect(e->reload[0], "[%s] %s: no 'Reload: applied' or 'Reload: needs a restart'",
                  e->section, e->key);
        bool partial = manpage_reload_partial(src, e->key);
        if (strcmp(e->reload, "restart") == 0) {
            restart++;
            cr_expect(partial, "[%s] %s needs a restart, but no reload_partial entry names it",
                      e->section, e->key);
        }
        if (partial)
            cr_expect(strstr(e->body, "reload_partial"),
                      "the daemon logs reload_partial for %s: its entry must say when", e->key);
    }
    cr_expect_geq(restart, 1);
    /* and no key the daemon names is missing from the page */
    for (const char *p = src; (p = strstr(p, "reload_partial(l, \""));) {
        p += strlen("reload_partial(l, \"");
        char key[48];
        snprintf(key, sizeof(key), "%.*s", (int)strcspn(p, "\""), p);
        cr_expect_not_null(manpage_find("daemon", key), "reload_partial names %s", key);
    }
    free(src);
}

Test(manpage, shipped_policy_uses_documented_keys, .init = manpage_setup, .fini = manpage_teardown)
{
    char *conf = manpage_source("../conf/permwatch.ini");
    char section[16] = "";
    size_t keys = 0;
    for (char *l = conf; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        if (l[0] == '[') {
            snprintf(section, sizeof(section), "%.*s", (int)strcspn(l + 1, "] "), l + 1);
        } else {
            /* `key = value`, or a commented-out `;key = value` (no blank after ';') */
            const char *k = l[0] == ';' ? l + 1 : l;
            size_t kl = strspn(k, "abcdefghijklmnopqrstuvwxyz_");
            if (kl && strncmp(k + kl, " = ", 3) == 0) {
                char key[48];
                snprintf(key, sizeof(key), "%.*s", (int)kl, k);
                keys++;
                cr_expect_not_null(manpage_find(section, key),
                                   "conf/permwatch.ini sets [%s] %s, not in permwatch.ini(5)",
                                   section, key);
            }
        }
        l = nl ? nl + 1 : NULL;
    }
    cr_expect_geq(keys, 20, "only %zu keys read from conf/permwatch.ini", keys);
    free(conf);
}

Test(manpage, example_policies_load, .init = manpage_setup, .fini = manpage_teardown)
{
    cr_assert_not_null(getgrnam("permwatch"), "group permwatch is needed (ensure-users.sh)");
    size_t loaded = 0;
    for (const char *p = page; (p = strstr(p, "\n.nf\n"));) {
        const char *end = strstr(p, "\n.fi\n");
        cr_assert_not_null(end);
        /* the block's lines, macros dropped, escapes resolved */
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        for (const char *l = p + 5; l < end;) {
            const char *nl = strchr(l, '\n');
            char raw[512], plain[512];
            snprintf(raw, sizeof(raw), "%.*s", (int)(nl - l), l);
            if (raw[0] != '.')
                fprintf(m, "%s\n", manpage_plain(raw, plain, sizeof(plain)));
            l = nl + 1;
        }
        fclose(m);
        if (strncmp(text, "[site]\n", 7) == 0) {
            free(manpage_effective(text));
            loaded++;
        }
        free(text);
        p = end;
    }
    cr_expect_eq(loaded, 3, "%zu example policies loaded, the page has three", loaded);
}

/* A valid value other than the default for each [daemon] key, for the reload test; a key
 * missing here fails that test (add one). */
static const struct {
    const char *key;
    const char *value; /* a leading "%s" stands for the temp directory */
} manpage_daemon_changes[] = {
    {"control_socket", "%s/other.sock"},
    {"control_group", "permwatch"},
    {"rescan_interval", "5h"},
    {"degraded_rescan_interval", "2m"},
    {"max_findings", "999"},
    {"max_findings_memory", "128M"},
    {"log_burst", "100"},
    {"log_interval", "20s"},
    {"repair_existing", "yes"},
    {"scan_threads", "1"},
    {"backend", "inotify"}, /* started with auto: fanotify as root here */
    {"max_watched_dirs", "5000"},
};

static pid_t manpage_daemon = -1;
static char *manpage_dir;

/* After the reload test, passed or not: no daemon left behind. */
static void manpage_reload_fini(void)
{
    if (manpage_daemon > 0) {
        kill(manpage_daemon, SIGKILL);
        waitpid(manpage_daemon, NULL, 0);
    }
    if (manpage_dir)
        harness_rmtree(manpage_dir);
    free(manpage_dir);
    manpage_teardown();
}

/* Wait up to 10 s for NEEDLE in the file PATH. Returns its content (malloc'd) once there. */
static char *manpage_wait_for(const char *path, const char *needle)
{
    for (int i = 0; i < 1000; i++) {
        char *s = access(path, R_OK) == 0 ? harness_slurp(path) : NULL;
        if (s && strstr(s, needle))
            return s;
        free(s);
        usleep(10000);
    }
    cr_assert_fail("no '%s' in %s within 10 s", needle, path);
    return NULL;
}

/* The real daemon (stderr target, its own socket) is reloaded with every [daemon] key
 * changed: the keys it says it did not apply (reload_partial) are exactly those the page
 * says need a restart, and control_group reaches the socket file at once. */
Test(manpage, reload_restart_keys_are_what_the_daemon_says, .init = manpage_setup,
     .fini = manpage_reload_fini)
{
    cr_assert_not_null(getgrnam("permwatch"), "group permwatch is needed (ensure-users.sh)");
    char *dir = manpage_dir = harness_tempdir("manpage");
    char site[PATH_MAX], conf[PATH_MAX], tmp[PATH_MAX], sock[PATH_MAX], err[PATH_MAX], text[4096],
        daemon[PATH_MAX];
    snprintf(site, sizeof(site), "%s/site", dir);
    snprintf(conf, sizeof(conf), "%s/p.ini", dir);
    snprintf(tmp, sizeof(tmp), "%s/p.ini.new", dir);
    snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
    snprintf(err, sizeof(err), "%s/stderr", dir);
    cr_assert_eq(mkdir(site, 0755), 0);
    snprintf(text, sizeof(text), "[site]\nroot = %s\n[daemon]\ncontrol_socket = %s\n", site, sock);
    harness_write_file(conf, text);

    /* the new policy: every [daemon] key of the parser set to another value */
    size_t off = (size_t)snprintf(text, sizeof(text), "[site]\nroot = %s\n[daemon]\n", site);
    const char *section, *name;
    size_t changed = 0;
    for (size_t i = 0; (name = config_key_at(i, &section, NULL)); i++) {
        if (strcmp(section, "daemon") != 0)
            continue;
        const char *value = NULL;
        for (size_t k = 0; k < sizeof(manpage_daemon_changes) / sizeof(manpage_daemon_changes[0]);
             k++)
            if (strcmp(manpage_daemon_changes[k].key, name) == 0)
                value = manpage_daemon_changes[k].value;
        cr_expect_not_null(value, "no other value of [daemon] %s to reload with: add one", name);
        if (!value)
            continue;
        off += (size_t)snprintf(text + off, sizeof(text) - off, "%s = ", name);
        bool in_dir = strncmp(value, "%s", 2) == 0; /* "%s/x": x in the temp directory */
        off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s", in_dir ? dir : "",
                                in_dir ? value + 2 : value);
        off += (size_t)snprintf(text + off, sizeof(text) - off, "\n");
        changed++;
    }
    cr_assert_lt(off, sizeof(text));
    harness_write_file(tmp, text);

    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    manpage_daemon = pid;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGHUP, SIG_DFL);
        close_range(3, ~0U, 0); /* nothing of the test's: its pipes, Criterion's arena */
        int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(127);
        harness_build_path("permwatchd", daemon, sizeof(daemon));
        execl(daemon, daemon, "-c", conf, "--log-target", "stderr", (char *)NULL);
        _exit(127);
    }
    free(manpage_wait_for(err, "]: info: watching "));
    cr_assert_eq(rename(tmp, conf), 0);
    cr_assert_eq(kill(pid, SIGHUP), 0);
    char *log = manpage_wait_for(err, "]: info: reloaded ");
    struct stat st;
    cr_expect_eq(stat(sock, &st), 0, "the socket %s is gone", sock);
    cr_expect_eq(st.st_gid, getgrnam("permwatch")->gr_gid, "control_group not applied: gid %u",
                 (unsigned)st.st_gid);
    cr_expect_eq(st.st_mode & 07777, 0660, "control_group: mode %04o", st.st_mode & 07777);
    kill(pid, SIGTERM);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    manpage_daemon = -1;
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon status %d", status);

    size_t restart = 0;
    for (size_t i = 0; i < nentries; i++) {
        const struct entry *e = &entries[i];
        if (strcmp(e->section, "daemon") != 0)
            continue;
        char line[96];
        snprintf(line, sizeof(line), "reload: [daemon] %s not applied", e->key);
        bool partial = strstr(log, line) != NULL;
        bool needs_restart = strcmp(e->reload, "restart") == 0;
        restart += needs_restart;
        cr_expect_eq(partial, needs_restart,
                     "[daemon] %s: the page says '%s', the daemon %s it at a reload", e->key,
                     e->reload, partial ? "did not apply" : "applied");
    }
    cr_expect_geq(changed, 9);
    cr_expect_geq(restart, 1);
    free(log);
}

Test(manpage, permwatchd_8_lists_the_finding_kinds)
{
    char *p8 = manpage_source("../packaging/permwatchd.8");
    char *sec = strstr(p8, "\n.SH FINDINGS\n");
    cr_assert_not_null(sec, "permwatchd(8) has no FINDINGS section");
    sec += strlen("\n.SH FINDINGS\n");
    char *end = strstr(sec, "\nJournal entries");
    cr_assert_not_null(end);
    *end = '\0';
    size_t words = 0;
    for (char *p = sec; *p;) {
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
        if (!n) {
            p++;
            continue;
        }
        char w[48];
        snprintf(w, sizeof(w), "%.*s", (int)n, p);
        p += n;
        if (!strchr(w, '_') && strcmp(w, "setid") != 0)
            continue; /* macro names and the like */
        words++;
        cr_expect_geq(finding_kind_from_name(w), 0, "permwatchd(8) lists '%s', not a kind", w);
    }
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        char want[48];
        snprintf(want, sizeof(want), "%s", finding_kind_name((enum finding_kind)k));
        cr_expect(strstr(sec, want), "permwatchd(8) FINDINGS lacks %s", want);
    }
    cr_expect_eq(words, (size_t)FINDING_KIND_COUNT);
    free(p8);
}
