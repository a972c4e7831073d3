/* Unit tests of config: every key, its defaults, every error with its file, line, section and
 * key, files on disk, config_print round trips, and the shipped example policy. Needs the
 * users root and www-data (uid 33 on Debian); no group or user named "nosuch*". */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "parse.h"

#define SITE "[site]\nroot = /var/www/site\n"
#define HOUR (3600ULL * 1000000)

/* ---- helpers --------------------------------------------------------------------------- */

static uid_t www_uid(void)
{
    struct passwd *pw = getpwnam("www-data");
    cr_assert_not_null(pw, "user www-data is needed");
    return pw->pw_uid;
}

static gid_t www_gid(void)
{
    struct group *gr = getgrnam("www-data");
    cr_assert_not_null(gr, "group www-data is needed");
    return gr->gr_gid;
}

/* Load TEXT, failing the test with the formatted error when it does not load. */
static struct config *load_ok(const char *text)
{
    struct config *c = NULL;
    struct config_error err;
    char buf[512];
    int rc = config_load_string(text, "test.ini", &c, &err);
    cr_assert_eq(rc, 0, "unexpected error: %s\n--- config:\n%s",
                 config_error_format(&err, buf, sizeof(buf)), text);
    cr_assert_not_null(c);
    return c;
}

/* Load TEXT expecting an error at LINE in SECTION about KEY, with a message containing
 * MSG. Returns the formatted error in a static buffer. */
static const char *load_err(const char *text, unsigned line, const char *section, const char *key,
                            const char *msg)
{
    static char buf[512];
    struct config *c = (struct config *)0x1;
    struct config_error err;
    errno = 0;
    int rc = config_load_string(text, "test.ini", &c, &err);
    cr_assert_eq(rc, -1, "loaded although invalid:\n%s", text);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(c, (struct config *)0x1, "*out written on failure");
    config_error_format(&err, buf, sizeof(buf));
    cr_assert_str_eq(err.file, "test.ini");
    cr_assert_eq(err.line, line, "line %u, want %u: %s", err.line, line, buf);
    cr_assert_str_eq(err.section, section, "%s", buf);
    cr_assert_str_eq(err.key, key, "%s", buf);
    cr_assert(strstr(err.message, msg), "message lacks '%s': %s", msg, buf);
    return buf;
}

/* Write TEXT (LEN bytes) to DIR/NAME; returns the malloc'd path. */
static char *write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char *path;
    cr_assert_neq(asprintf(&path, "%s/%s", dir, name), -1);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return path;
}

static char *make_tempdir(void)
{
    char *dir = strdup("/tmp/permwatch-test-config-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

/* Remove DIR and the regular files in it (no subdirectories are made). */
static void remove_tempdir(char *dir)
{
    char *cmd;
    cr_assert_neq(asprintf(&cmd, "rm -rf -- '%s'", dir), -1);
    cr_assert(strncmp(dir, "/tmp/permwatch-test-config-", 27) == 0);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
    free(dir);
}

/* config_print into a malloc'd string. */
static char *print_to_string(const struct config *c)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    cr_assert_not_null(f);
    config_print(c, f);
    cr_assert_eq(fclose(f), 0);
    return s;
}

static void assert_strv_eq(char **a, size_t na, char **b, size_t nb, const char *what)
{
    cr_assert_eq(na, nb, "%s: %zu vs %zu", what, na, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert_str_eq(a[i], b[i], "%s[%zu]", what, i);
}

/* Everything but `path` and rule line numbers is equal. */
static void assert_config_eq(const struct config *a, const struct config *b)
{
    cr_assert_str_eq(a->site_root, b->site_root);
    cr_assert_str_eq(a->web_user, b->web_user);
    cr_assert_eq(a->web.uid, b->web.uid);
    cr_assert_eq(a->web.gid, b->web.gid);
    cr_assert_eq(a->web.ngroups, b->web.ngroups);
    cr_assert_eq(a->nwriters, b->nwriters);
    for (size_t i = 0; i < a->nwriters; i++) {
        cr_assert_str_eq(a->writers[i].name, b->writers[i].name);
        cr_assert_eq(a->writers[i].uid, b->writers[i].uid);
        cr_assert_eq(a->writers[i].ngroups, b->writers[i].ngroups);
    }
    cr_assert_str_eq(a->control_socket, b->control_socket);
    cr_assert_eq(!a->control_group, !b->control_group);
    if (a->control_group) {
        cr_assert_str_eq(a->control_group, b->control_group);
        cr_assert_eq(a->control_gid, b->control_gid);
    }
    cr_assert_eq(a->rescan_interval_usec, b->rescan_interval_usec);
    cr_assert_str_eq(a->channels_file, b->channels_file);
    assert_strv_eq(a->commands, a->ncommands, b->commands, b->ncommands, "commands");
    cr_assert_str_eq(a->dispatch_path, b->dispatch_path);
    cr_assert_eq(a->nrules, b->nrules);
    for (size_t i = 0; i < a->nrules; i++) {
        const struct rule *x = &a->rules[i], *y = &b->rules[i];
        cr_assert_str_eq(x->name, y->name);
        assert_strv_eq(x->match, x->nmatch, y->match, y->nmatch, "match");
        assert_strv_eq(x->owner_names, x->nowners, y->owner_names, y->nowners, "owner");
        assert_strv_eq(x->group_names, x->ngroups, y->group_names, y->ngroups, "group");
        for (size_t j = 0; j < x->nowners; j++)
            cr_assert_eq(x->owners[j], y->owners[j]);
        for (size_t j = 0; j < x->ngroups; j++)
            cr_assert_eq(x->groups[j], y->groups[j]);
        cr_assert_eq(x->file_require, y->file_require, "%s", x->name);
        cr_assert_eq(x->file_forbid, y->file_forbid, "%s", x->name);
        cr_assert_eq(x->dir_require, y->dir_require, "%s", x->name);
        cr_assert_eq(x->dir_forbid, y->dir_forbid, "%s", x->name);
        cr_assert_eq(x->web_readable, y->web_readable, "%s", x->name);
        cr_assert_eq(x->writable, y->writable, "%s", x->name);
        cr_assert_eq(x->ignore, y->ignore, "%s", x->name);
        cr_assert_eq(x->repair, y->repair, "%s", x->name);
    }
}

/* Text after the first two lines (the header comment naming the source). */
static const char *after_header(const char *s)
{
    const char *nl = strchr(s, '\n');
    cr_assert_not_null(nl);
    nl = strchr(nl + 1, '\n');
    cr_assert_not_null(nl);
    return nl + 1;
}

/* print(C) loads back into an equal config that prints the same. */
static void assert_round_trip(const struct config *c)
{
    char *text = print_to_string(c);
    struct config *back = load_ok(text);
    assert_config_eq(c, back);
    char *again = print_to_string(back);
    cr_assert_str_eq(after_header(text), after_header(again));
    free(again);
    config_free(back);
    free(text);
}

/* ---- values and defaults --------------------------------------------------------------- */

Test(config, minimal_config_gets_every_default)
{
    struct config *c = load_ok(SITE);
    cr_assert_str_eq(c->path, "<string>");
    cr_assert_str_eq(c->site_root, "/var/www/site");
    cr_assert_str_eq(c->web_user, CONFIG_DEFAULT_WEB_USER);
    cr_assert_str_eq(c->web.name, "www-data");
    cr_assert_eq(c->web.uid, www_uid());
    cr_assert_geq(c->web.ngroups, 1);
    cr_assert_str_eq(c->control_socket, CONFIG_DEFAULT_SOCKET);
    cr_assert_null(c->control_group);
    cr_assert_eq(c->rescan_interval_usec, CONFIG_DEFAULT_RESCAN_USEC);
    cr_assert_eq(c->rescan_interval_usec, 6 * HOUR);
    cr_assert_str_eq(c->channels_file, CONFIG_DEFAULT_CHANNELS_FILE);
    cr_assert_str_eq(c->dispatch_path, CONFIG_DEFAULT_DISPATCH_PATH);
    cr_assert_eq(c->ncommands, 0);
    cr_assert_eq(c->nrules, 0);
    config_free(c);
}

Test(config, every_key)
{
    struct config *c = load_ok("[site]\n"
                               "root = /srv/www/example.org/\n"
                               "web_user = root\n"
                               "[daemon]\n"
                               "control_socket = /run/pw/ctl.sock\n"
                               "control_group = www-data\n"
                               "rescan_interval = 1h30m\n"
                               "[dispatch]\n"
                               "channels_file = /etc/channels.php\n"
                               "command = /usr/local/bin/one\n"
                               "command = kimaki\n"
                               "path = /opt/bin:/usr/bin\n"
                               "[rule content]\n"
                               "match = wp-content/uploads/**\n"
                               "match = wp-content/plugins/**\n"
                               "owner = www-data, root\n"
                               "group = www-data,root\n"
                               "file_require = 0660\n"
                               "file_forbid = 0002\n"
                               "dir_require = 2775\n"
                               "dir_forbid = 0002\n"
                               "web_readable = yes\n"
                               "ignore = no\n"
                               "repair = auto\n"
                               "[rule cache]\n"
                               "match = wp-content/cache/**\n"
                               "ignore = yes\n");
    cr_assert_str_eq(c->site_root, "/srv/www/example.org");
    cr_assert_str_eq(c->web_user, "root");
    cr_assert_eq(c->web.uid, 0);
    cr_assert_eq(c->web.gid, 0);
    cr_assert_str_eq(c->control_socket, "/run/pw/ctl.sock");
    cr_assert_str_eq(c->control_group, "www-data");
    cr_assert_eq(c->control_gid, www_gid());
    cr_assert_eq(c->rescan_interval_usec, 5400ULL * 1000000);
    cr_assert_str_eq(c->channels_file, "/etc/channels.php");
    cr_assert_eq(c->ncommands, 2);
    cr_assert_str_eq(c->commands[0], "/usr/local/bin/one");
    cr_assert_str_eq(c->commands[1], "kimaki");
    cr_assert_str_eq(c->dispatch_path, "/opt/bin:/usr/bin");
    cr_assert_eq(c->nrules, 2);

    const struct rule *r = &c->rules[0];
    cr_assert_str_eq(r->name, "content");
    cr_assert_eq(r->line, 13);
    cr_assert_eq(r->nmatch, 2);
    cr_assert_str_eq(r->match[0], "wp-content/uploads/**");
    cr_assert_str_eq(r->match[1], "wp-content/plugins/**");
    cr_assert_eq(r->nowners, 2);
    cr_assert_str_eq(r->owner_names[0], "www-data");
    cr_assert_str_eq(r->owner_names[1], "root");
    cr_assert_eq(r->owners[0], www_uid());
    cr_assert_eq(r->owners[1], 0);
    cr_assert_eq(r->ngroups, 2);
    cr_assert_str_eq(r->group_names[1], "root");
    cr_assert_eq(r->groups[0], www_gid());
    cr_assert_eq(r->groups[1], 0);
    cr_assert_eq(r->file_require, 0660);
    cr_assert_eq(r->file_forbid, 02);
    cr_assert_eq(r->dir_require, 02775);
    cr_assert_eq(r->dir_forbid, 02);
    cr_assert(r->web_readable);
    cr_assert(!r->ignore);
    cr_assert_eq(r->repair, REPAIR_AUTO);

    r = &c->rules[1];
    cr_assert_str_eq(r->name, "cache");
    cr_assert_eq(r->line, 25);
    cr_assert(r->ignore);
    cr_assert_eq(r->nowners, 0);
    cr_assert_eq(r->ngroups, 0);
    config_free(c);
}

Test(config, rule_defaults)
{
    struct config *c = load_ok(SITE "[rule a]\nmatch = **\n");
    const struct rule *r = &c->rules[0];
    cr_assert_eq(r->nowners, 0);
    cr_assert_eq(r->ngroups, 0);
    cr_assert_eq(r->file_require | r->file_forbid | r->dir_require | r->dir_forbid, 0);
    cr_assert(!r->web_readable);
    cr_assert(!r->ignore);
    cr_assert_eq(r->repair, REPAIR_MANUAL);
    config_free(c);
}

Test(config, repair_modes_and_names)
{
    static const char *const names[] = {"auto", "manual", "never"};
    static const enum repair_mode modes[] = {REPAIR_AUTO, REPAIR_MANUAL, REPAIR_NEVER};
    for (size_t i = 0; i < 3; i++) {
        char text[128];
        snprintf(text, sizeof(text), SITE "[rule r]\nmatch = **\nrepair = %s\n", names[i]);
        struct config *c = load_ok(text);
        cr_assert_eq(c->rules[0].repair, modes[i]);
        cr_assert_str_eq(config_repair_mode_name(modes[i]), names[i]);
        config_free(c);
    }
}

Test(config, booleans_take_every_spelling)
{
    struct config *c = load_ok(SITE "[rule a]\nmatch = a\nweb_readable = On\n"
                                    "[rule b]\nmatch = b\nweb_readable = false\n"
                                    "[rule c]\nmatch = c\nignore = TRUE\n");
    cr_assert(c->rules[0].web_readable);
    cr_assert(!c->rules[1].web_readable);
    cr_assert(c->rules[2].ignore);
    config_free(c);
}

Test(config, numeric_ids_are_accepted_as_is)
{
    struct config *c = load_ok(SITE "[daemon]\ncontrol_group = 4242420\n"
                                    "[rule a]\nmatch = **\nowner = 4242421, 0\ngroup = 4242422\n");
    cr_assert_eq(c->control_gid, 4242420);
    cr_assert_eq(c->rules[0].owners[0], 4242421);
    cr_assert_eq(c->rules[0].owners[1], 0);
    cr_assert_str_eq(c->rules[0].owner_names[0], "4242421");
    cr_assert_eq(c->rules[0].groups[0], 4242422);
    config_free(c);
}

Test(config, web_user_by_uid)
{
    char text[128];
    snprintf(text, sizeof(text), SITE "web_user = %u\n", (unsigned)www_uid());
    struct config *c = load_ok(text);
    cr_assert_eq(c->web.uid, www_uid());
    cr_assert_str_eq(c->web.name, "www-data");
    config_free(c);
}

Test(config, rescan_off_and_units)
{
    struct config *c = load_ok(SITE "[daemon]\nrescan_interval = 0\n");
    cr_assert_eq(c->rescan_interval_usec, 0);
    config_free(c);
    c = load_ok(SITE "[daemon]\nrescan_interval = 90\n");
    cr_assert_eq(c->rescan_interval_usec, 90ULL * 1000000);
    config_free(c);
    c = load_ok(SITE "[daemon]\nrescan_interval = 2d\n");
    cr_assert_eq(c->rescan_interval_usec, 48 * HOUR);
    config_free(c);
}

Test(config, relative_channels_file_and_bare_commands)
{
    struct config *c = load_ok(SITE "[dispatch]\nchannels_file = mu/channels.php\n"
                                    "command = cc-connect\n");
    cr_assert_str_eq(c->channels_file, "mu/channels.php");
    cr_assert_str_eq(c->commands[0], "cc-connect");
    config_free(c);
}

Test(config, config_without_rules_or_optional_sections)
{
    struct config *c = load_ok("; only a comment\n# another\n\n" SITE);
    cr_assert_eq(c->nrules, 0);
    config_free(c);
}

/* ---- syntax ---------------------------------------------------------------------------- */

Test(syntax, indented_keys_are_keys_not_continuations)
{
    struct config *c = load_ok("[site]\n"
                               "root = /var/www/site\n"
                               "[rule a]\n"
                               "  match = a/**\n"
                               "    match = b/**\n"
                               "\towner = www-data\n"
                               "   [rule b]\n"
                               "\t  match = **\n");
    cr_assert_eq(c->nrules, 2);
    cr_assert_eq(c->rules[0].nmatch, 2);
    cr_assert_str_eq(c->rules[0].match[0], "a/**");
    cr_assert_str_eq(c->rules[0].match[1], "b/**");
    cr_assert_eq(c->rules[0].nowners, 1);
    cr_assert_eq(c->rules[1].line, 7);
    config_free(c);
}

Test(syntax, indented_line_without_equals_is_an_error_not_a_continuation)
{
    const char *msg = load_err(SITE "[rule a]\nmatch = a\n   b/**\n", 5, "", "",
                               "expected 'key = value' or '[section]'");
    cr_assert_str_eq(msg, "test.ini:5: expected 'key = value' or '[section]'");
}

Test(syntax, comments_crlf_bom_and_colons)
{
    struct config *c = load_ok("\xEF\xBB\xBF; comment\r\n"
                               "# hash comment\r\n"
                               "[site] ; inline after a section\r\n"
                               "root = /var/www/site   ; inline comment\r\n"
                               "web_user: www-data\r\n"
                               "[rule ab]\r\n"
                               "match = x;y\r\n"); /* ';' not after a blank: a character */
    cr_assert_str_eq(c->site_root, "/var/www/site");
    cr_assert_str_eq(c->web_user, "www-data");
    cr_assert_str_eq(c->rules[0].match[0], "x;y");
    config_free(c);
}

Test(syntax, section_names_are_trimmed)
{
    struct config *c = load_ok("[ site ]\nroot = /var/www/site\n[rule   x ]\nmatch = **\n");
    cr_assert_str_eq(c->rules[0].name, "x");
    config_free(c);
}

Test(syntax, line_of_199_characters_is_fine_200_is_too_long)
{
    char text[512], glob[256];
    /* "match = " (8) + 191 = 199 characters. */
    memset(glob, 'a', 191);
    glob[191] = '\0';
    snprintf(text, sizeof(text), SITE "[rule a]\nmatch = %s\n", glob);
    struct config *c = load_ok(text);
    cr_assert_eq(strlen(c->rules[0].match[0]), 191);
    config_free(c);

    glob[191] = 'a';
    glob[192] = '\0';
    snprintf(text, sizeof(text), SITE "[rule a]\nmatch = %s\nowner = www-data\n", glob);
    const char *msg = load_err(text, 4, "", "", "line too long (max 199 characters)");
    cr_assert_str_eq(msg, "test.ini:4: line too long (max 199 characters)");
}

Test(syntax, long_indented_line_counts_its_indentation)
{
    char text[512], glob[256];
    memset(glob, 'a', 191);
    glob[191] = '\0';
    snprintf(text, sizeof(text), SITE " match = %s\n", glob);
    load_err(text, 3, "", "", "line too long");
}

Test(syntax, missing_equals)
{
    load_err(SITE "[rule a]\nmatch = **\nowner www-data\n", 5, "", "",
             "expected 'key = value' or '[section]'");
}

Test(syntax, earlier_syntax_error_wins_over_later_error)
{
    load_err(SITE "garbage\n[rule a]\nmatch = **\nowner = nosuch-user-xyz\n", 3, "", "",
             "expected 'key = value' or '[section]'");
}

Test(syntax, later_syntax_error_loses_to_earlier_error)
{
    load_err(SITE "bogus = 1\ngarbage\n", 3, "site", "bogus", "unknown key");
}

Test(syntax, unterminated_section)
{
    const char *msg = load_err(SITE "[rule a\nmatch = **\n", 3, "", "", "expected ']'");
    cr_assert_str_eq(msg, "test.ini:3: expected ']' to close the section name");
}

Test(syntax, text_after_section)
{
    load_err("[site] root = /x\n", 1, "", "", "unexpected text after ']'");
}

Test(syntax, key_outside_section)
{
    const char *msg = load_err("root = /var/www/site\n" SITE, 1, "", "root", "outside any section");
    cr_assert_str_eq(msg, "test.ini:1: root: key outside any section: put it under [site], "
                          "[daemon], [dispatch] or [rule NAME]");
}

Test(syntax, unknown_section_even_when_empty)
{
    const char *msg = load_err(SITE "[rul foo]\n", 3, "rul foo", "", "unknown section");
    cr_assert_str_eq(msg, "test.ini:3: [rul foo]: unknown section; expected [site], [daemon], "
                          "[dispatch] or [rule NAME]");
    load_err(SITE "[Site]\n", 3, "Site", "", "unknown section");
    load_err(SITE "[]\n", 3, "", "", "unknown section");
    load_err(SITE "[rules x]\nmatch = **\n", 3, "rules x", "", "unknown section");
}

Test(syntax, unknown_keys_name_the_valid_ones)
{
    const char *msg = load_err(SITE "webuser = www-data\n", 3, "site", "webuser", "unknown key");
    cr_assert_str_eq(msg, "test.ini:3: [site] webuser: unknown key; [site] takes root, web_user, "
                          "writers");
    load_err(SITE "[daemon]\nsocket = /x\n", 4, "daemon", "socket",
             "[daemon] takes control_socket, control_group, rescan_interval");
    load_err(SITE "[dispatch]\ncommands = x\n", 4, "dispatch", "commands",
             "[dispatch] takes channels_file, command, path");
    load_err(SITE "[rule a]\nmatch = **\nmode = 0644\n", 5, "rule a", "mode",
             "[rule] takes match, owner, group, file_require, file_forbid, dir_require, "
             "dir_forbid, web_readable, ignore, repair, writable");
    load_err(SITE "[rule a]\nMatch = **\n", 4, "rule a", "Match", "unknown key");
}

Test(syntax, duplicate_single_valued_keys)
{
    static const char *const cases[][3] = {
        {"[site]\nroot = /a\nroot = /b\n", "site", "root"},
        {SITE "web_user = root\nweb_user = root\n", "site", "web_user"},
        {SITE "[daemon]\n\ncontrol_socket = /a\ncontrol_socket = /a\n", "daemon", "control_socket"},
        {SITE "[daemon]\n\ncontrol_group = root\ncontrol_group = root\n", "daemon",
         "control_group"},
        {SITE "[daemon]\n\nrescan_interval = 1h\nrescan_interval = 1h\n", "daemon",
         "rescan_interval"},
        {SITE "[dispatch]\n\nchannels_file = a\nchannels_file = a\n", "dispatch", "channels_file"},
        {SITE "[dispatch]\n\npath = /bin\npath = /bin\n", "dispatch", "path"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned line = i == 0 ? 3 : i == 1 ? 4 : 6;
        load_err(cases[i][0], line, cases[i][1], cases[i][2], "duplicate key (first given at line");
    }
    static const char *const rule_keys[][2] = {
        {"owner", "root"},       {"group", "root"},       {"file_require", "0600"},
        {"file_forbid", "0002"}, {"dir_require", "0700"}, {"dir_forbid", "0002"},
        {"web_readable", "no"},  {"ignore", "no"},        {"repair", "never"},
    };
    for (size_t i = 0; i < sizeof(rule_keys) / sizeof(rule_keys[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), SITE "[rule a]\nmatch = **\n%s = %s\n%s = %s\n",
                 rule_keys[i][0], rule_keys[i][1], rule_keys[i][0], rule_keys[i][1]);
        const char *msg = load_err(text, 6, "rule a", rule_keys[i][0], "duplicate key");
        cr_assert(strstr(msg, "(first given at line 5)"), "%s", msg);
    }
}

Test(syntax, repeatable_keys_repeat)
{
    struct config *c = load_ok(SITE "[dispatch]\ncommand = a\ncommand = b\ncommand = a\n"
                                    "[rule r]\nmatch = a\nmatch = b,c\n");
    cr_assert_eq(c->ncommands, 3);
    cr_assert_eq(c->rules[0].nmatch, 2);
    cr_assert_str_eq(c->rules[0].match[1], "b,c"); /* commas are literal in globs */
    config_free(c);
}

Test(syntax, sections_at_most_once)
{
    const char *msg = load_err(SITE "[daemon]\n[site]\n", 4, "site", "", "given twice");
    cr_assert_str_eq(msg, "test.ini:4: [site]: section given twice (first at line 1)");
    load_err(SITE "[daemon]\n[daemon]\n", 4, "daemon", "", "first at line 3");
    load_err(SITE "[dispatch]\n[rule a]\nmatch = **\n[dispatch]\n", 6, "dispatch", "",
             "first at line 3");
}

Test(syntax, rule_names)
{
    const char *msg = load_err(SITE "[rule a]\nmatch = **\n[rule a]\nmatch = x\n", 5, "rule a", "",
                               "duplicate rule name");
    cr_assert_str_eq(msg, "test.ini:5: [rule a]: duplicate rule name (first at line 3)");
    load_err(SITE "[rule]\nmatch = **\n", 3, "rule", "", "expected a rule name: [rule NAME]");
    load_err(SITE "[rule  ]\n", 3, "rule", "", "expected a rule name");
    load_err(SITE "[rule a b]\nmatch = **\n", 3, "rule a b", "", "invalid rule name 'a b'");
    load_err(SITE "[rule caf\xc3\xa9]\n", 3, "rule caf\xc3\xa9", "", "invalid rule name");
    struct config *c = load_ok(SITE "[rule Wp-Config_2.x]\nmatch = **\n");
    cr_assert_str_eq(c->rules[0].name, "Wp-Config_2.x");
    config_free(c);
}

/* ---- [site] ---------------------------------------------------------------------------- */

Test(site, root_is_required)
{
    const char *msg = load_err("[daemon]\nrescan_interval = 1h\n", 0, "site", "root", "required");
    cr_assert_str_eq(msg, "test.ini: [site] root: required: the site's directory, such as "
                          "/var/www/example.com");
    load_err("\n\n[site]\nweb_user = www-data\n", 3, "site", "root", "required");
    load_err("", 0, "site", "root", "required");
}

Test(site, root_must_be_absolute_and_normalized)
{
    static const char *const bad[][2] = {
        {"var/www", "expected an absolute path"},
        {"/", "must not be '/'"},
        {"/var/../etc", "'.' and '..' components"},
        {"/var/./www", "'.' and '..' components"},
        {"/var/www/..", "'.' and '..' components"},
        {"/var//www", "empty component ('//')"},
        {"//", "empty component"},
        {"/var/www//", "empty component"},
        {"~/www", "expected an absolute path"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "[site]\nroot = %s\n", bad[i][0]);
        load_err(text, 2, "site", "root", bad[i][1]);
    }
    load_err("[site]\nroot =\n", 2, "site", "root", "expected an absolute path");
    struct config *c = load_ok("[site]\nroot = /var/www/a.b/\n");
    cr_assert_str_eq(c->site_root, "/var/www/a.b");
    config_free(c);
}

Test(site, unknown_web_user)
{
    const char *msg =
        load_err(SITE "web_user = nosuch-user-xyz\n", 3, "site", "web_user", "does not exist");
    cr_assert_str_eq(msg, "test.ini:3: [site] web_user: user 'nosuch-user-xyz' does not exist "
                          "on this host");
    load_err(SITE "web_user = 4242423\n", 3, "site", "web_user", "user '4242423' does not exist");
    load_err(SITE "web_user =\n", 3, "site", "web_user", "expected a user name or numeric uid");
}

/* [site] writers: names or uids resolved with their groups; default the web user. */
Test(site, writers)
{
    struct config *c = load_ok(SITE);
    cr_assert_eq(c->nwriters, 1, "the default is the web user");
    cr_assert_str_eq(c->writers[0].name, "www-data");
    cr_assert_eq(c->writers[0].uid, www_uid());
    config_free(c);

    c = load_ok(SITE "web_user = root\n");
    cr_assert_eq(c->nwriters, 1);
    cr_assert_str_eq(c->writers[0].name, "root");
    cr_assert_eq(c->writers[0].uid, 0);
    config_free(c);

    c = load_ok(SITE "writers = www-data, 0\n");
    cr_assert_eq(c->nwriters, 2);
    cr_assert_str_eq(c->writers[0].name, "www-data");
    cr_assert_eq(c->writers[0].gid, www_gid());
    cr_assert_geq(c->writers[0].ngroups, 1);
    cr_assert_str_eq(c->writers[1].name, "0");
    cr_assert_eq(c->writers[1].uid, 0);
    assert_round_trip(c);
    char *text = print_to_string(c);
    cr_assert(strstr(text, "\nwriters = www-data, 0\n"), "%s", text);
    free(text);
    config_free(c);
}

Test(site, writers_errors)
{
    const char *msg = load_err(SITE "writers = www-data, nosuch-user-xyz\n", 3, "site", "writers",
                               "does not exist");
    cr_assert_str_eq(msg, "test.ini:3: [site] writers: user 'nosuch-user-xyz' does not exist on "
                          "this host");
    load_err(SITE "writers =\n", 3, "site", "writers", "expected a comma-separated list");
    load_err(SITE "writers = www-data,,root\n", 3, "site", "writers",
             "expected a comma-separated list");
    load_err(SITE "writers = www-data, root, www-data\n", 3, "site", "writers",
             "'www-data' and 'www-data' are the same user");
    load_err(SITE "writers = root\nwriters = root\n", 4, "site", "writers", "duplicate key");
}

Test(rule, writable)
{
    struct config *c = load_ok(SITE "[rule a]\nmatch = **\nwritable = yes\n[rule b]\nmatch = x\n");
    cr_assert(c->rules[0].writable);
    cr_assert_not(c->rules[1].writable, "default no");
    assert_round_trip(c);
    char *text = print_to_string(c);
    cr_assert(strstr(text, "\nwritable = yes\n"), "%s", text);
    cr_assert(strstr(text, "\nwritable = no\n"), "%s", text);
    free(text);
    config_free(c);
    load_err(SITE "[rule a]\nmatch = **\nwritable = maybe\n", 5, "rule a", "writable",
             "expected yes or no");
    load_err(SITE "[rule a]\nmatch = **\nignore = yes\nwritable = yes\n", 6, "rule a", "writable",
             "contradicts ignore = yes");
}

/* ---- [daemon] -------------------------------------------------------------------------- */

Test(daemon, control_socket)
{
    load_err(SITE "[daemon]\ncontrol_socket = run/x.sock\n", 4, "daemon", "control_socket",
             "expected a normalized absolute path");
    load_err(SITE "[daemon]\ncontrol_socket = /run/\n", 4, "daemon", "control_socket",
             "trailing '/'");
    char text[300], path[200];
    memset(path, 'x', 120);
    path[0] = '/';
    path[120] = '\0';
    snprintf(text, sizeof(text), SITE "[daemon]\ncontrol_socket = %s\n", path);
    load_err(text, 4, "daemon", "control_socket", "too long for a unix socket (max 107 bytes)");
    path[107] = '\0';
    snprintf(text, sizeof(text), SITE "[daemon]\ncontrol_socket = %s\n", path);
    struct config *c = load_ok(text);
    cr_assert_eq(strlen(c->control_socket), 107);
    config_free(c);
}

Test(daemon, control_group)
{
    const char *msg = load_err(SITE "[daemon]\ncontrol_group = nosuch-group-xyz\n", 4, "daemon",
                               "control_group", "does not exist");
    cr_assert_str_eq(msg, "test.ini:4: [daemon] control_group: group 'nosuch-group-xyz' does not "
                          "exist on this host");
    load_err(SITE "[daemon]\ncontrol_group =\n", 4, "daemon", "control_group",
             "expected a group name or numeric gid");
    load_err(SITE "[daemon]\ncontrol_group = 99999999999\n", 4, "daemon", "control_group",
             "expected a group name or numeric gid, got '99999999999'");
}

Test(daemon, rescan_interval)
{
    const char *msg = load_err(SITE "[daemon]\nrescan_interval = 6 hours\n", 4, "daemon",
                               "rescan_interval", "expected a duration");
    cr_assert_str_eq(msg, "test.ini:4: [daemon] rescan_interval: expected a duration such as 6h, "
                          "30m, 1h30m or 0 (off), got '6 hours'");
    load_err(SITE "[daemon]\nrescan_interval = 99999999999999999d\n", 4, "daemon",
             "rescan_interval", "duration too large");
    load_err(SITE "[daemon]\nrescan_interval =\n", 4, "daemon", "rescan_interval",
             "expected a duration");
}

Test(daemon, max_findings_memory)
{
    struct config *c = load_ok(SITE);
    cr_assert_eq(c->max_findings_memory, 256u << 20, "the default is 256 MiB");
    config_free(c);
    static const struct {
        const char *v;
        size_t bytes;
    } ok[] = {{"64M", 64u << 20},
              {"0", 0},
              {"2g", 2ULL << 30},
              {"1048576", 1u << 20},
              {"4096K", 4u << 20}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), SITE "[daemon]\nmax_findings_memory = %s\n", ok[i].v);
        c = load_ok(text);
        cr_assert_eq(c->max_findings_memory, ok[i].bytes, "%s", ok[i].v);
        config_free(c);
    }
    static const char *const bad[] = {"512K", "1", "-1", "64MB", "2048G", "", "lots"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), SITE "[daemon]\nmax_findings_memory = %s\n", bad[i]);
        load_err(text, 4, "daemon", "max_findings_memory",
                 "expected a size from 1M to 1024G such as 256M, or 0 (no limit)");
    }
}

/* ---- [dispatch] ------------------------------------------------------------------------ */

Test(dispatch, channels_file)
{
    load_err(SITE "[dispatch]\nchannels_file = ../x.php\n", 4, "dispatch", "channels_file",
             "'.' and '..' components");
    load_err(SITE "[dispatch]\nchannels_file = a//b.php\n", 4, "dispatch", "channels_file", "'//'");
    load_err(SITE "[dispatch]\nchannels_file =\n", 4, "dispatch", "channels_file", "empty path");
    load_err(SITE "[dispatch]\nchannels_file = mu/\n", 4, "dispatch", "channels_file",
             "trailing '/'");
}

Test(dispatch, command)
{
    static const char *const bad[] = {"bin/kimaki", "./kimaki", "/usr/bin/", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), SITE "[dispatch]\ncommand = /bin/true\ncommand = %s\n",
                 bad[i]);
        load_err(text, 5, "dispatch", "command",
                 "expected an absolute path or a bare command name");
    }
}

Test(dispatch, path)
{
    static const char *const bad[] = {"usr/bin", "/usr/bin::/bin", "/usr/bin:", ":/bin", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), SITE "[dispatch]\npath = %s\n", bad[i]);
        load_err(text, 4, "dispatch", "path", "expected absolute directories separated by ':'");
    }
}

/* ---- [rule NAME] ----------------------------------------------------------------------- */

Test(rule, match_is_required)
{
    const char *msg = load_err(SITE "[rule a]\nowner = root\n[rule b]\nmatch = **\n", 3, "rule a",
                               "match", "required");
    cr_assert_str_eq(msg, "test.ini:3: [rule a] match: required: at least one glob such as "
                          "'wp-content/uploads/**'");
    load_err(SITE "[rule a]\nmatch = **\n\n[rule last]\n", 6, "rule last", "match", "required");
    load_err(SITE "[rule a]\n[daemon]\n", 3, "rule a", "match", "required");
}

Test(rule, invalid_globs_say_why)
{
    const char *msg = load_err(SITE "[rule a]\nmatch = a\nmatch = /var/www/**\n", 5, "rule a",
                               "match", "invalid glob '/var/www/**': ");
    cr_assert(strstr(msg, "leading '/'"), "%s", msg);
    load_err(SITE "[rule a]\nmatch = a**\n", 4, "rule a", "match", "'**' must be a whole");
    load_err(SITE "[rule a]\nmatch = [abc\n", 4, "rule a", "match", "invalid glob '[abc'");
    load_err(SITE "[rule a]\nmatch =\n", 4, "rule a", "match", "empty pattern");
}

Test(rule, owners_and_groups)
{
    const char *msg = load_err(SITE "[rule a]\nmatch = **\nowner = www-data, nosuch-user-xyz\n", 5,
                               "rule a", "owner", "does not exist");
    cr_assert_str_eq(msg, "test.ini:5: [rule a] owner: user 'nosuch-user-xyz' does not exist on "
                          "this host");
    msg = load_err(SITE "[rule a]\nmatch = **\ngroup = nosuch-group-xyz\n", 5, "rule a", "group",
                   "does not exist");
    cr_assert_str_eq(msg, "test.ini:5: [rule a] group: group 'nosuch-group-xyz' does not exist "
                          "on this host");
    load_err(SITE "[rule a]\nmatch = **\nowner = www-data,\n", 5, "rule a", "owner",
             "expected a comma-separated list of user names or numeric uids, got 'www-data,'");
    load_err(SITE "[rule a]\nmatch = **\ngroup =\n", 5, "rule a", "group",
             "expected a comma-separated list of group names or numeric gids, got ''");
    load_err(SITE "[rule a]\nmatch = **\nowner = root, 0\n", 5, "rule a", "owner",
             "'root' and '0' are the same user (0)");
    load_err(SITE "[rule a]\nmatch = **\ngroup = 7, 7\n", 5, "rule a", "group",
             "are the same group");
    load_err(SITE "[rule a]\nmatch = **\nowner = -1\n", 5, "rule a", "owner",
             "user '-1' does not exist");
    load_err(SITE "[rule a]\nmatch = **\nowner = 4294967295\n", 5, "rule a", "owner",
             "expected a user name or numeric uid, got '4294967295'");
}

Test(rule, modes)
{
    static const char *const keys[] = {"file_require", "file_forbid", "dir_require", "dir_forbid"};
    for (size_t i = 0; i < 4; i++) {
        char text[128];
        snprintf(text, sizeof(text), SITE "[rule site]\nmatch = **\n%s = 9x\n", keys[i]);
        const char *msg = load_err(text, 5, "rule site", keys[i], "expected octal");
        cr_assert(strstr(msg, "got '9x'"), "%s", msg);
        snprintf(text, sizeof(text), SITE "[rule site]\nmatch = **\n%s = 10000\n", keys[i]);
        load_err(text, 5, "rule site", keys[i], "expected octal permission bits");
    }
    const char *msg = load_err(SITE "\n\n\n\n\n\n\n[rule site]\nmatch = **\nfile_require = 9x\n",
                               12, "rule site", "file_require", "expected octal");
    cr_assert_str_eq(msg, "test.ini:12: [rule site] file_require: expected octal permission bits "
                          "such as 0664, got '9x'");
}

Test(rule, require_and_forbid_must_not_overlap)
{
    const char *msg = load_err(SITE "[rule a]\nmatch = **\nfile_require = 0664\nfile_forbid = "
                                    "0006\n",
                               6, "rule a", "file_forbid", "");
    cr_assert_str_eq(msg, "test.ini:6: [rule a] file_forbid: bits 0004 are both forbidden here "
                          "and required by file_require (line 5)");
    msg = load_err(SITE "[rule a]\nmatch = **\ndir_forbid = 0007\ndir_require = 2775\n", 6,
                   "rule a", "dir_require", "");
    cr_assert_str_eq(msg, "test.ini:6: [rule a] dir_require: bits 0005 are both required here "
                          "and forbidden by dir_forbid (line 5)");
    /* File and directory bits are independent. */
    struct config *c = load_ok(SITE "[rule a]\nmatch = **\nfile_require = 0660\n"
                                    "dir_forbid = 0060\n");
    config_free(c);
}

Test(rule, ignore_takes_only_match)
{
    static const char *const others[][2] = {
        {"owner", "www-data"},   {"group", "www-data"},   {"file_require", "0640"},
        {"file_forbid", "0002"}, {"dir_require", "0750"}, {"dir_forbid", "0002"},
        {"web_readable", "no"},  {"repair", "never"},
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        char text[256];
        /* ignore first: the later key is the contradiction. */
        snprintf(text, sizeof(text), SITE "[rule c]\nmatch = **\nignore = yes\n%s = %s\n",
                 others[i][0], others[i][1]);
        const char *msg = load_err(text, 6, "rule c", others[i][0], "contradicts ignore = yes");
        cr_assert(strstr(msg, "(line 5): an ignored rule takes only match and ignore"), "%s", msg);
        /* ignore last: ignore is the contradiction. */
        snprintf(text, sizeof(text), SITE "[rule c]\nmatch = **\n%s = %s\nignore = yes\n",
                 others[i][0], others[i][1]);
        msg = load_err(text, 6, "rule c", "ignore", "an ignored rule takes only match and ignore");
        cr_assert(strstr(msg, others[i][0]), "%s", msg);
    }
    struct config *c = load_ok(SITE "[rule c]\nmatch = **\nowner = root\nignore = no\n");
    config_free(c);
}

Test(rule, bad_bool_and_repair)
{
    const char *msg = load_err(SITE "[rule a]\nmatch = **\nweb_readable = maybe\n", 5, "rule a",
                               "web_readable", "");
    cr_assert_str_eq(msg, "test.ini:5: [rule a] web_readable: expected yes or no, got 'maybe'");
    load_err(SITE "[rule a]\nmatch = **\nignore = 2\n", 5, "rule a", "ignore", "expected yes");
    msg = load_err(SITE "[rule a]\nmatch = **\nrepair = Auto\n", 5, "rule a", "repair", "");
    cr_assert_str_eq(msg, "test.ini:5: [rule a] repair: expected auto, manual or never, got "
                          "'Auto'");
}

/* ---- errors and files ------------------------------------------------------------------ */

Test(errors, format_omits_empty_parts)
{
    struct config_error e = {
        .file = "f.ini", .line = 7, .section = "rule x", .key = "owner", .message = "m"};
    char buf[512];
    cr_assert_str_eq(config_error_format(&e, buf, sizeof(buf)), "f.ini:7: [rule x] owner: m");
    e.key[0] = '\0';
    cr_assert_str_eq(config_error_format(&e, buf, sizeof(buf)), "f.ini:7: [rule x]: m");
    e.section[0] = '\0';
    cr_assert_str_eq(config_error_format(&e, buf, sizeof(buf)), "f.ini:7: m");
    snprintf(e.key, sizeof(e.key), "k");
    cr_assert_str_eq(config_error_format(&e, buf, sizeof(buf)), "f.ini:7: k: m");
    e.line = 0;
    cr_assert_str_eq(config_error_format(&e, buf, sizeof(buf)), "f.ini: k: m");
    char small[6];
    cr_assert_str_eq(config_error_format(&e, small, sizeof(small)), "f.ini");
}

Test(errors, null_name_and_null_error_are_tolerated)
{
    struct config *c;
    struct config_error err;
    cr_assert_eq(config_load_string("[x]\n", NULL, &c, &err), -1);
    cr_assert_str_eq(err.file, "<string>");
    cr_assert_eq(config_load_string("[x]\n", "n", &c, NULL), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(config_load_string(NULL, "n", &c, &err), -1);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(config_load_file(NULL, &c, &err), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(files, load_a_file)
{
    char *dir = make_tempdir();
    const char *text = SITE "[rule a]\nmatch = **\n";
    char *path = write_file(dir, "p.ini", text, strlen(text));
    struct config *c = NULL;
    struct config_error err;
    cr_assert_eq(config_load_file(path, &c, &err), 0, "%s", err.message);
    cr_assert_str_eq(c->path, path);
    cr_assert_eq(c->nrules, 1);
    config_free(c);
    free(path);
    remove_tempdir(dir);
}

Test(files, errors_name_the_path_and_line)
{
    char *dir = make_tempdir();
    const char *text = "; policy\n" SITE "\n[rule site]\nmatch = **\nfile_require = 9x\n";
    char *path = write_file(dir, "permwatch.ini", text, strlen(text));
    struct config *c = NULL;
    struct config_error err;
    char buf[512], want[512];
    errno = 0;
    cr_assert_eq(config_load_file(path, &c, &err), -1);
    cr_assert_eq(errno, EINVAL);
    snprintf(want, sizeof(want),
             "%s:7: [rule site] file_require: expected octal permission bits such as 0664, got "
             "'9x'",
             path);
    cr_assert_str_eq(config_error_format(&err, buf, sizeof(buf)), want);
    free(path);
    remove_tempdir(dir);
}

Test(files, missing_file_is_enoent)
{
    struct config *c = NULL;
    struct config_error err;
    char buf[512];
    errno = 0;
    cr_assert_eq(config_load_file("/nonexistent/permwatch.ini", &c, &err), -1);
    cr_assert_eq(errno, ENOENT);
    cr_assert_null(c);
    cr_assert_eq(err.line, 0);
    cr_assert_str_eq(config_error_format(&err, buf, sizeof(buf)),
                     "/nonexistent/permwatch.ini: cannot read: No such file or directory");
}

Test(files, directory_is_eisdir)
{
    char *dir = make_tempdir();
    struct config *c = NULL;
    struct config_error err;
    errno = 0;
    cr_assert_eq(config_load_file(dir, &c, &err), -1);
    cr_assert_eq(errno, EISDIR);
    cr_assert(strstr(err.message, "cannot read: Is a directory"), "%s", err.message);
    remove_tempdir(dir);
}

Test(files, unreadable_file_is_eacces)
{
    char *dir = make_tempdir();
    const char *text = SITE;
    char *path = write_file(dir, "secret.ini", text, strlen(text));
    cr_assert_eq(chmod(dir, 0755), 0);
    cr_assert_eq(chmod(path, 0600), 0);
    bool dropped = false;
    if (geteuid() == 0) {
        /* Root reads anything: drop to nobody for this test process (Criterion forks one per
         * test) and come back for the cleanup. */
        cr_assert_eq(seteuid(65534), 0);
        dropped = true;
    } else {
        cr_assert_eq(chmod(path, 0), 0);
    }
    struct config *c = NULL;
    struct config_error err;
    errno = 0;
    int rc = config_load_file(path, &c, &err);
    int e = errno;
    if (dropped)
        cr_assert_eq(seteuid(0), 0);
    cr_assert_eq(rc, -1);
    cr_assert_eq(e, EACCES);
    cr_assert(strstr(err.message, "Permission denied"), "%s", err.message);
    free(path);
    remove_tempdir(dir);
}

Test(files, nul_byte_is_an_error_with_its_line)
{
    char *dir = make_tempdir();
    static const char text[] = "[site]\nroot = /var/www/site\nweb_user = www\0data\n";
    char *path = write_file(dir, "nul.ini", text, sizeof(text) - 1);
    struct config *c = NULL;
    struct config_error err;
    cr_assert_eq(config_load_file(path, &c, &err), -1);
    cr_assert_eq(err.line, 3);
    cr_assert_str_eq(err.message, "unexpected NUL byte");
    free(path);
    remove_tempdir(dir);
}

Test(files, huge_file_is_refused)
{
    char *dir = make_tempdir();
    size_t len = 1024 * 1024 + 1;
    char *text = malloc(len);
    cr_assert_not_null(text);
    memset(text, '\n', len);
    char *path = write_file(dir, "big.ini", text, len);
    struct config *c = NULL;
    struct config_error err;
    errno = 0;
    cr_assert_eq(config_load_file(path, &c, &err), -1);
    cr_assert_eq(errno, EFBIG);
    cr_assert(strstr(err.message, "file too large"), "%s", err.message);
    free(text);
    free(path);
    remove_tempdir(dir);
}

Test(files, file_of_exactly_the_limit_loads)
{
    char *dir = make_tempdir();
    size_t len = 1024 * 1024;
    char *text = malloc(len);
    cr_assert_not_null(text);
    memset(text, '\n', len);
    memcpy(text, SITE, strlen(SITE));
    char *path = write_file(dir, "max.ini", text, len);
    struct config *c = NULL;
    struct config_error err;
    cr_assert_eq(config_load_file(path, &c, &err), 0, "%s", err.message);
    config_free(c);
    free(text);
    free(path);
    remove_tempdir(dir);
}

/* ---- printing -------------------------------------------------------------------------- */

Test(print, round_trip_of_every_key)
{
    struct config *c = load_ok("[site]\n"
                               "root = /srv/www/example.org/\n"
                               "web_user = root\n"
                               "[daemon]\n"
                               "control_socket = /run/pw/ctl.sock\n"
                               "control_group = www-data\n"
                               "rescan_interval = 90m\n"
                               "[dispatch]\n"
                               "channels_file = mu/ch.php\n"
                               "command = /usr/local/bin/one\n"
                               "command = kimaki\n"
                               "command =;odd\n"
                               "path = /opt/bin:/usr/bin\n"
                               "[rule content]\n"
                               "match = wp-content/uploads/**\n"
                               "match = a,b/[!x]*.php\n"
                               "owner = www-data,root , 4242424\n"
                               "group = www-data\n"
                               "file_require = 660\n"
                               "dir_require = 2775\n"
                               "dir_forbid = 2\n"
                               "web_readable = on\n"
                               "repair = never\n"
                               "[rule cache]\n"
                               "match = wp-content/cache/**\n"
                               "ignore = yes\n"
                               "[rule rest]\n"
                               "match = **\n");
    cr_assert_str_eq(c->commands[2], ";odd");
    assert_round_trip(c);
    char *text = print_to_string(c);
    cr_assert(strstr(text, "\n[site]\nroot = /srv/www/example.org\n"), "%s", text);
    cr_assert(strstr(text, "\nrescan_interval = 1h30m\n"), "%s", text);
    cr_assert(strstr(text, "\nowner = www-data, root, 4242424\n"), "%s", text);
    cr_assert(strstr(text, "\nfile_require = 0660\nfile_forbid = 0000\n"), "%s", text);
    cr_assert(strstr(text, "\ndir_require = 2775\ndir_forbid = 0002\n"), "%s", text);
    cr_assert(strstr(text, "\nweb_readable = yes\n"), "%s", text);
    cr_assert(strstr(text, "\nrepair = never\n"), "%s", text);
    cr_assert(strstr(text, "[rule cache]\nmatch = wp-content/cache/**\nignore = yes\n"), "%s",
              text);
    cr_assert(strstr(text, "\ncommand =;odd\n"), "%s", text);
    free(text);
    config_free(c);
}

Test(print, defaults_are_printed)
{
    struct config *c = load_ok(SITE "[rule a]\nmatch = **\n");
    char *text = print_to_string(c);
    cr_assert(strstr(text, "\nweb_user = www-data\n"), "%s", text);
    cr_assert(strstr(text, "\ncontrol_socket = " CONFIG_DEFAULT_SOCKET "\n"), "%s", text);
    cr_assert(strstr(text, "\nrescan_interval = 6h\n"), "%s", text);
    cr_assert(strstr(text, "\nchannels_file = " CONFIG_DEFAULT_CHANNELS_FILE "\n"), "%s", text);
    cr_assert(strstr(text, "\npath = " CONFIG_DEFAULT_DISPATCH_PATH "\n"), "%s", text);
    cr_assert(strstr(text, "\nrepair = manual\n"), "%s", text);
    cr_assert(strstr(text, "\nweb_readable = no\n"), "%s", text);
    cr_assert(strstr(text, "\nfile_require = 0000\n"), "%s", text);
    cr_assert(!strstr(text, "\ncontrol_group ="), "%s", text);
    cr_assert(!strstr(text, "\nowner ="), "%s", text);
    assert_round_trip(c);
    free(text);
    config_free(c);
}

Test(print, long_values_still_fit_a_line)
{
    char text[1024], glob[256], names[256];
    memset(glob, 'g', 193); /* "match=" + 193 = 199: only the compact form fits */
    glob[193] = '\0';
    /* "owner=" + "0,0,..." of 193 characters: 97 ids. Not distinct: use ids 1000000+. */
    size_t off = 0;
    for (unsigned id = 1000000; off < 180; id++)
        off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%u", off ? "," : "", id);
    snprintf(text, sizeof(text), SITE "[rule a]\nmatch=%s\nowner=%s\n", glob, names);
    struct config *c = load_ok(text);
    char *out = print_to_string(c);
    for (char *l = out; *l;) {
        char *nl = strchr(l, '\n');
        cr_assert_not_null(nl);
        cr_assert_leq(nl - l, 199, "line too long: %.*s", (int)(nl - l), l);
        l = nl + 1;
    }
    assert_round_trip(c);
    free(out);
    config_free(c);
}

/* ---- the shipped example --------------------------------------------------------------- */

Test(example, shipped_policy_loads)
{
    struct config *c = NULL;
    struct config_error err;
    char buf[512];
    int rc = config_load_file("conf/permwatch.ini", &c, &err);
    cr_assert_eq(rc, 0, "%s (tests run from the repository root)",
                 config_error_format(&err, buf, sizeof(buf)));
    cr_assert_str_eq(c->site_root, "/var/www/example.com");
    cr_assert_str_eq(c->web_user, "www-data");
    /* no control_socket key (a copy for permwatchd@NAME gets its socket from systemd); the
     * control group the package creates (tests/ensure-users.sh here) */
    cr_assert_str_eq(c->control_socket, CONFIG_DEFAULT_SOCKET);
    cr_assert_str_eq(c->control_group, "permwatch");
    cr_assert_eq(c->rescan_interval_usec, 6 * HOUR);
    cr_assert_str_eq(c->channels_file, CONFIG_DEFAULT_CHANNELS_FILE);

    static const char *const order[] = {"agent-state", "caches",  "wp-config",
                                        "mu-plugins",  "content", "site"};
    cr_assert_eq(c->nrules, sizeof(order) / sizeof(order[0]));
    for (size_t i = 0; i < c->nrules; i++)
        cr_assert_str_eq(c->rules[i].name, order[i]);

    const struct rule *agent = &c->rules[0], *caches = &c->rules[1], *wpc = &c->rules[2];
    const struct rule *mu = &c->rules[3], *site = &c->rules[5];
    cr_assert_eq(agent->nmatch, 4);
    cr_assert_eq(agent->owners[0], www_uid());
    cr_assert_eq(agent->groups[0], www_gid());
    cr_assert(caches->ignore);
    /* wp-config.php: 0640, 0600 and 0440 pass the mode bits (readability is web_readable's),
     * world-readable or group-writable do not. */
    static const mode_t pass[] = {0640, 0440, 0600, 0400}, fail[] = {0644, 0660, 0642, 0604};
    cr_assert_eq(wpc->file_require, 0);
    for (size_t i = 0; i < 4; i++)
        cr_assert(!(pass[i] & wpc->file_forbid), "%o", (unsigned)pass[i]);
    for (size_t i = 0; i < 4; i++)
        cr_assert(fail[i] & wpc->file_forbid, "%o", (unsigned)fail[i]);
    cr_assert(wpc->web_readable && !wpc->writable);
    cr_assert_eq(wpc->repair, REPAIR_MANUAL);
    cr_assert_str_eq(mu->match[0], "wp-content/mu-plugins/wp-coding-agents-*.php");
    cr_assert_eq(mu->file_require, 0);
    cr_assert(mu->web_readable && mu->writable);
    cr_assert_eq(mu->repair, REPAIR_AUTO);
    /* who may write is judged (writers, writable), not mode arithmetic */
    cr_assert_eq(c->nwriters, 1);
    cr_assert_eq(c->writers[0].uid, www_uid());
    cr_assert_str_eq(site->match[0], "**");
    cr_assert_eq(site->file_require, 0);
    cr_assert_eq(site->dir_require, 0);
    cr_assert_eq(site->file_forbid, 02);
    cr_assert_eq(site->dir_forbid, 02);
    cr_assert(site->web_readable && site->writable);
    cr_assert_eq(site->repair, REPAIR_MANUAL);
    assert_round_trip(c);
    config_free(c);
}

Test(config, file_require_refuses_setuid_setgid)
{
    struct config *c = NULL;
    struct config_error err;
    cr_assert_eq(config_load_string("[site]\nroot = /srv/x\n[rule a]\nmatch = **\n"
                                    "file_require = 4664\n",
                                    "t.ini", &c, &err),
                 -1);
    cr_expect_eq(err.line, 5);
    cr_expect_str_eq(err.key, "file_require");
    cr_expect(strstr(err.message, "setuid"), "%s", err.message);
    /* directories may require setgid (2775 is common) */
    cr_assert_eq(config_load_string("[site]\nroot = /srv/x\n[rule a]\nmatch = **\n"
                                    "dir_require = 2775\n",
                                    "t.ini", &c, &err),
                 0, "%s", err.message);
    config_free(c);
}

Test(daemon, repair_existing)
{
    struct config *c = load_ok(SITE);
    cr_expect(!c->repair_existing, "default no: the first start rewrites nothing");
    config_free(c);
    c = load_ok(SITE "[daemon]\nrepair_existing = yes\n");
    cr_expect(c->repair_existing);
    assert_round_trip(c);
    config_free(c);
    c = load_ok(SITE "[daemon]\nrepair_existing = off\n");
    cr_expect(!c->repair_existing);
    assert_round_trip(c);
    config_free(c);
    load_err(SITE "[daemon]\nrepair_existing = maybe\n", 4, "daemon", "repair_existing",
             "expected yes or no, got 'maybe'");
    load_err(SITE "[daemon]\nrepair_existing = yes\nrepair_existing = yes\n", 5, "daemon",
             "repair_existing", "");
    load_err(SITE "[rule a]\nmatch = **\nrepair_existing = yes\n", 5, "rule a", "repair_existing",
             "unknown key");
}

/* [dispatch] php (issue 11): unset = php found on the default PATH; `no`; an absolute path. */
Test(config, dispatch_php)
{
    struct config *c = load_ok(SITE);
    cr_assert_null(c->dispatch_php);
    config_free(c);
    c = load_ok(SITE "[dispatch]\nphp = no\n");
    cr_assert_str_eq(c->dispatch_php, "");
    config_free(c);
    c = load_ok(SITE "[dispatch]\nphp = /opt/php8/bin/php\n");
    cr_assert_str_eq(c->dispatch_php, "/opt/php8/bin/php");
    config_free(c);
    load_err(SITE "[dispatch]\nphp = php\n", 4, "dispatch", "php",
             "expected an absolute path such as /usr/bin/php, or no, got 'php'");
}
