/* Unit tests of glob_match and glob_valid. */
#include <criterion/criterion.h>
#include <string.h>
#include <stdio.h>

#include "glob.h"

struct gcase {
    const char *pattern;
    const char *path;
    bool match;
};

static const struct gcase cases[] = {
    /* literal components */
    {"wp-config.php", "wp-config.php", true},
    {"wp-config.php", "wp-config.phpx", false},
    {"wp-config.php", "sub/wp-config.php", false},
    {"a/b", "a/b", true},
    {"a/b", "a", false},
    {"a", "a/b", false},
    /* * stays in one component */
    {"*", "index.php", true},
    {"*", "a/b", false},
    {"*", "", false},
    {"*.php", "index.php", true},
    {"*.php", ".php", true},
    {"*.php", "x/index.php", false},
    {"wp-content/*/index.php", "wp-content/plugins/index.php", true},
    {"wp-content/*/index.php", "wp-content/a/b/index.php", false},
    {"a*b*c", "abc", true},
    {"a*b*c", "axxbyyc", true},
    {"a*b*c", "axxbyy", false},
    {"a*b*c", "acb", false},
    {"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    {"wp-coding-agents-*.php", "wp-coding-agents-channels.php", true},
    /* ? and classes */
    {"?", "a", true},
    {"?", "", false},
    {"a?c", "abc", true},
    {"a?c", "a/c", false},
    {"[abc]x", "bx", true},
    {"[abc]x", "dx", false},
    {"[a-c]x", "cx", true},
    {"[!a-c]x", "cx", false},
    {"[^a-c]x", "dx", true},
    {"[]]x", "]x", true},
    {"[!]]x", "ax", true},
    {"a[/]b", "a/b", false},
    {"\\*", "*", true},
    {"\\*", "a", false},
    {"a\\?", "a?", true},
    /* ** spans components */
    {"**", "", true},
    {"**", "a", true},
    {"**", "a/b/c", true},
    {"a/**", "a", true},
    {"a/**", "a/b", true},
    {"a/**", "a/b/c", true},
    {"a/**", "ab", false},
    {"a/**", "b/a", false},
    {"**/b", "b", true},
    {"**/b", "a/b", true},
    {"**/b", "a/x/b", true},
    {"**/b", "a/bb", false},
    {"**/b", "b/a", false},
    {"a/**/b", "a/b", true},
    {"a/**/b", "a/x/b", true},
    {"a/**/b", "a/x/y/b", true},
    {"a/**/b", "a/x/y/c", false},
    {"a/**/b", "a/b/c", false},
    {"a/**/b/**", "a/x/b/y/z", true},
    {"**/*.php", "index.php", true},
    {"**/*.php", "wp-content/plugins/x/y.php", true},
    {"**/*.php", "wp-content/plugins/x/y.js", false},
    {"**/**", "a/b", true},
    {"**/**/c", "c", true},
    {"**/x/**/y", "a/x/b/x/c/y", true},
    {"**/x/**/y", "a/x/b/x/c/z", false},
    {"wp-content/uploads/**", "wp-content/uploads/2026/11/a.jpg", true},
    {"wp-content/uploads/**", "wp-content/uploadsx/a.jpg", false},
    {".opencode/**", ".opencode/state.json", true},
};

Test(glob, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct gcase *g = &cases[i];
        cr_expect_eq(glob_match(g->pattern, g->path), g->match, "glob_match(\"%s\", \"%s\") != %d",
                     g->pattern, g->path, g->match);
    }
}

Test(glob, deep_path_is_linear_enough)
{
    /* 2,000 components against a pattern with several ** must not blow up. */
    static char path[8192];
    size_t n = 0;
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(path + n, sizeof(path) - n, "%sd", i ? "/" : "");
    cr_assert(glob_match("**/d/**/d/**/d", path));
    cr_assert_not(glob_match("**/d/**/e/**/d", path));
}

Test(glob, valid_patterns)
{
    const char *why = NULL;
    cr_assert(glob_valid("**", &why));
    cr_assert(glob_valid("a/**/b", &why));
    cr_assert(glob_valid("[a-z]*.php", &why));
    cr_assert(glob_valid("[]]", &why));
    cr_assert(glob_valid("a\\*", &why));
}

struct vcase {
    const char *pattern;
    const char *why_part;
};

Test(glob, invalid_patterns_say_why)
{
    static const struct vcase bad[] = {
        {"", "empty"},          {"/var/www", "leading"}, {"a//b", "empty path component"},
        {"a/", "trailing '/'"}, {"a/../b", "'..'"},      {"./a", "'.'"},
        {"a**", "whole path"},  {"**b/c", "whole path"}, {"[abc", "unterminated"},
        {"a\\", "trailing"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        cr_expect_not(glob_valid(bad[i].pattern, &why), "'%s' accepted", bad[i].pattern);
        cr_expect(why && strstr(why, bad[i].why_part), "'%s': why '%s' lacks '%s'", bad[i].pattern,
                  why ? why : "(null)", bad[i].why_part);
    }
}
