/* Unit tests of channels_parse: the field variants of the channels mu-plugin, escapes in both
 * quote styles, every error with its line, and hostile input (truncation at every byte,
 * corruption, pathological nesting, NUL bytes, memory exhaustion). Pure: no daemon, no NSS.
 * The fixtures under tests/fixtures/channels/ load in PHP 8.2 (`php -l`) and PHP registers
 * exactly the bridges asserted here. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "channels.h"
#include "harness.h"

/* --- helpers ------------------------------------------------------------------------------ */

/* Parse the N bytes at S, checking the structural invariants that hold for any input. */
static void parse_n(const char *s, size_t n, struct channels *c)
{
    unsigned lines = 1;
    for (size_t i = 0; i < n; i++) /* LF, CRLF or a lone CR */
        lines += s[i] == '\n' || (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'));
    memset(c, 0x5a, sizeof(*c)); /* the parser must zero it */
    cr_assert_eq(channels_parse(s, n, c), 0, "channels_parse: %s", strerror(errno));
    cr_assert(c->n == 0 || c->items);
    cr_assert(c->nerrors == 0 || c->errors);
    for (size_t i = 0; i < c->n; i++) {
        cr_assert_not_null(c->items[i].name);
        cr_assert_not_null(c->items[i].command);
        cr_assert_neq(c->items[i].name[0], '\0');
        cr_assert(c->items[i].line >= 1 && c->items[i].line <= lines, "line %u of %u",
                  c->items[i].line, lines);
    }
    for (size_t i = 0; i < c->nerrors; i++) {
        cr_assert(memchr(c->errors[i].message, '\0', sizeof(c->errors[i].message)));
        cr_assert_neq(c->errors[i].message[0], '\0');
        cr_assert(c->errors[i].line >= 1 && c->errors[i].line <= lines, "line %u of %u: %s",
                  c->errors[i].line, lines, c->errors[i].message);
        if (i)
            cr_assert(c->errors[i - 1].line <= c->errors[i].line, "errors sorted by line");
    }
}

static void parse(const char *s, struct channels *c)
{
    parse_n(s, strlen(s), c);
}

static void expect_item(const struct channels *c, size_t i, const char *name, const char *cmd,
                        unsigned line)
{
    cr_assert_lt(i, c->n, "only %zu bridges", c->n);
    cr_assert_str_eq(c->items[i].name, name);
    cr_assert_str_eq(c->items[i].command, cmd, "bridge %s", name);
    cr_assert_eq(c->items[i].line, line, "bridge %s at line %u, want %u", name, c->items[i].line,
                 line);
}

/* The one error of C is MESSAGE at LINE. */
static void expect_only_error(const struct channels *c, unsigned line, const char *message)
{
    for (size_t i = 0; i < c->nerrors; i++)
        cr_log_info("error %zu: line %u: %s", i, c->errors[i].line, c->errors[i].message);
    cr_assert_eq(c->nerrors, 1, "%zu errors", c->nerrors);
    cr_assert_str_eq(c->errors[0].message, message);
    cr_assert_eq(c->errors[0].line, line, "line %u, want %u", c->errors[0].line, line);
}

/* C has an error MESSAGE at LINE (among others). */
static void expect_error(const struct channels *c, unsigned line, const char *message)
{
    for (size_t i = 0; i < c->nerrors; i++)
        if (c->errors[i].line == line && !strcmp(c->errors[i].message, message))
            return;
    for (size_t i = 0; i < c->nerrors; i++)
        cr_log_error("error %zu: line %u: %s", i, c->errors[i].line, c->errors[i].message);
    cr_assert_fail("no error '%s' at line %u", message, line);
}

static void expect_no_errors(const struct channels *c)
{
    for (size_t i = 0; i < c->nerrors; i++)
        cr_log_error("error: line %u: %s", c->errors[i].line, c->errors[i].message);
    cr_assert_eq(c->nerrors, 0);
}

/* Does NEEDLE occur anywhere in what C holds (names, commands, messages)? */
static bool output_contains(const struct channels *c, const char *needle)
{
    for (size_t i = 0; i < c->n; i++)
        if (strstr(c->items[i].name, needle) || strstr(c->items[i].command, needle))
            return true;
    for (size_t i = 0; i < c->nerrors; i++)
        if (strstr(c->errors[i].message, needle))
            return true;
    return false;
}

/* A fixture of tests/fixtures/channels, malloc'd; its length in *LEN. */
static char *fixture(const char *name, size_t *len)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof(rel), "fixtures/channels/%s", name);
    harness_tests_path(rel, path, sizeof(path));
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    char *buf = malloc(1 << 20);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* HEAD then N copies of UNIT, malloc'd and NUL-terminated; the length in *LEN. */
static char *repeat(const char *head, const char *unit, size_t n, size_t *len)
{
    size_t h = strlen(head), u = unit[0] ? strlen(unit) : 1; /* "" stands for one NUL */
    char *buf = malloc(h + u * n + 1);
    cr_assert_not_null(buf);
    memcpy(buf, head, h);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + h + i * u, unit, u);
    *len = h + u * n;
    buf[*len] = '\0';
    return buf;
}

/* The kimaki block of field-notes.md, verbatim. */
#define KIMAKI_BLOCK                                                                               \
    "    // BEGIN bridge:kimaki\n"                                                                 \
    "    $channels['kimaki'] = [\n"                                                                \
    "        'command' => '/root/.kimaki/bin/kimaki',\n"                                           \
    "        'args'    => [ 'send', '--channel', '{recipient}', '--prompt', '{message}' ],\n"      \
    "        'detach'  => true,\n"                                                                 \
    "        'timeout' => 600,\n"                                                                  \
    "    ];\n"                                                                                     \
    "    // END bridge:kimaki\n"

#define TOKEN "7012345678:AAEhBP0av28fWzKX3rZq9TnUqV0xYjQc1dE"

/* --- the field variants ------------------------------------------------------------------- */

Test(channels, kimaki_block_verbatim)
{
    struct channels c;
    parse(KIMAKI_BLOCK, &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "kimaki", "/root/.kimaki/bin/kimaki", 2);
    channels_free(&c);
}

Test(channels, env_and_cwd)
{
    struct channels c;
    parse("\n" /* a fragment: no open tag (see channels.h) */
          "    // BEGIN bridge:kimaki\n"
          "    $channels['kimaki'] = [\n"
          "        'command' => '/usr/bin/kimaki',\n"
          "        'args'    => [ 'send', '--channel', '{recipient}', '--prompt', '{message}' ],\n"
          "        'env'     => [ 'HOME' => '/home/opencode', 'KIMAKI_DATA_DIR' => "
          "'/home/opencode/.kimaki' ],\n"
          "        'cwd'     => '/var/www/site',\n"
          "        'detach'  => true,\n"
          "        'timeout' => 600,\n"
          "    ];\n"
          "    // END bridge:kimaki\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "kimaki", "/usr/bin/kimaki", 3);
    cr_assert(!output_contains(&c, "/home/opencode"), "env values are never kept");
    cr_assert(!output_contains(&c, "/var/www/site"), "cwd is never kept");
    channels_free(&c);
}

Test(channels, bare_name)
{
    struct channels c;
    parse("// BEGIN bridge:kimaki\n"
          "$channels['kimaki'] = [\n"
          "    'command' => 'kimaki',\n"
          "    'args'    => [ 'send', '{message}' ],\n"
          "];\n"
          "// END bridge:kimaki\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "kimaki", "kimaki", 2);
    channels_free(&c);
}

Test(channels, cc_connect)
{
    struct channels c;
    parse("    // BEGIN bridge:cc-connect\n"
          "    $channels['cc-connect'] = [\n"
          "        'command' => '/usr/bin/cc-connect',\n"
          "        'args'    => [ 'send', '--session', '{recipient}', '--message', '{message}' ],\n"
          "        'timeout' => 120,\n"
          "    ];\n"
          "    // END bridge:cc-connect\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "cc-connect", "/usr/bin/cc-connect", 2);
    channels_free(&c);
}

Test(channels, telegram_token_never_kept)
{
    struct channels c;
    parse("    // BEGIN bridge:telegram\n"
          "    $channels['telegram'] = [\n"
          "        'args'    => [ '-sS', 'https://api.telegram.org/bot" TOKEN "/sendMessage',\n"
          "                       '-d', 'chat_id={recipient}', '--data-urlencode', "
          "'text={message}' ],\n"
          "        'env'     => [ 'TELEGRAM_TOKEN' => '" TOKEN "' ],\n"
          "        'command' => '/usr/bin/curl',\n"
          "    ];\n"
          "    // END bridge:telegram\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "telegram", "/usr/bin/curl", 2);
    cr_assert(!output_contains(&c, "AAEhBP0av28f"));
    cr_assert(!output_contains(&c, "7012345678"));
    channels_free(&c);
}

/* A bridge whose args are broken still must not leak the token into the errors. */
Test(channels, telegram_token_not_in_errors)
{
    struct channels c;
    parse("$channels['telegram'] = [\n"
          "    'command' => '/usr/bin/' . '" TOKEN "',\n"
          "    'args' => [ '" TOKEN "', " TOKEN " ],\n"
          "    'env' => [ 'T' => \"" TOKEN "$x\" ],\n"
          "    'cwd' => '" TOKEN "\n",
          &c);
    cr_assert_eq(c.n, 0);
    cr_assert_gt(c.nerrors, 0);
    cr_assert(!output_contains(&c, "AAEhBP0av28f"));
    cr_assert(!output_contains(&c, "7012345678"));
    channels_free(&c);
}

Test(channels, roadie_and_wrapper)
{
    struct channels c;
    parse("    // BEGIN bridge:roadie\n"
          "    $channels['roadie'] = [\n"
          "        'command' => 'roadie',\n"
          "    ];\n"
          "    // END bridge:roadie\n"
          "    // BEGIN bridge:kimaki\n"
          "    $channels['kimaki'] = [\n"
          "        'command' => '/usr/local/bin/wp-coding-agents-kimaki-dispatch',\n"
          "        'timeout' => 600,\n"
          "    ];\n"
          "    // END bridge:kimaki\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 2);
    expect_item(&c, 0, "roadie", "roadie", 2);
    expect_item(&c, 1, "kimaki", "/usr/local/bin/wp-coding-agents-kimaki-dispatch", 7);
    channels_free(&c);
}

Test(channels, realistic_file)
{
    size_t len;
    char *buf = fixture("wp-coding-agents-channels.php", &len);
    struct channels c;
    parse_n(buf, len, &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 4);
    expect_item(&c, 0, "kimaki", "/usr/bin/kimaki", 17);
    expect_item(&c, 1, "cc-connect", "/usr/bin/cc-connect", 27);
    expect_item(&c, 2, "telegram", "/usr/bin/curl", 34);
    expect_item(&c, 3, "roadie", "/usr/local/bin/wp-coding-agents-roadie-dispatch", 42);
    cr_assert(!output_contains(&c, "AAEhBP0av28f"));
    channels_free(&c);
    free(buf);
}

Test(channels, root_install_with_hand_written_wrapper)
{
    size_t len;
    char *buf = fixture("root-install.php", &len);
    struct channels c;
    parse_n(buf, len, &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 2);
    expect_item(&c, 0, "kimaki", "/root/.kimaki/bin/kimaki", 13);
    expect_item(&c, 1, "kimaki-wrapper", "/usr/local/bin/wp-coding-agents-kimaki-dispatch", 23);
    cr_assert(!output_contains(&c, "/usr/local/bin:/usr/bin"));
    channels_free(&c);
    free(buf);
}

/* Comments, heredocs, closures, strings full of `]`, `;`, `=>`, quotes and `//`, inline HTML
 * after `?>` and data after __halt_compiler: only the four real bridges. */
Test(channels, hand_edited_file)
{
    size_t len;
    char *buf = fixture("hand-edited.php", &len);
    struct channels c;
    parse_n(buf, len, &c);
    expect_only_error(&c, 39,
                      "cannot be judged statically: a bridge outside the callback of the channels "
                      "filter");
    cr_assert_eq(c.n, 4);
    expect_item(&c, 0, "kimaki", "/usr/bin/kimaki", 11);
    expect_item(&c, 1, "cc-connect", "/usr/bin/cc-connect", 28);
    expect_item(&c, 2, "roadie", "roadie", 31);
    expect_item(&c, 3, "after-html", "/opt/it's a \\dir\\bin/dispatch", 39);
    cr_assert(!output_contains(&c, "/tmp/"));
    channels_free(&c);
    free(buf);
}

/* --- syntax ------------------------------------------------------------------------------- */

Test(channels, key_order_and_extra_keys)
{
    struct channels c;
    parse("$channels['a'] = [ 'command' => '/bin/a', 'args' => [], ];\n"
          "$channels['b'] = [ 'detach' => false, 'timeout' => 10, 'x' => null, 0 => 1.5,\n"
          "  'env' => [ 'K' => [ 1, [ 2, [ 3 ] ] ] ], 'command' => '/bin/b' ];\n"
          "$channels['c'] = [ 'args' => [ '--x' ], 'command' => '/bin/c', 'cwd' => '/' ,];\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 3);
    expect_item(&c, 0, "a", "/bin/a", 1);
    expect_item(&c, 1, "b", "/bin/b", 2);
    expect_item(&c, 2, "c", "/bin/c", 4);
    channels_free(&c);
}

Test(channels, array_syntax_and_double_quoted_name)
{
    struct channels c;
    parse("$channels[\"kimaki\"] = array(\n"
          "    'command' => \"/usr/bin/kimaki\",\n"
          "    'env' => array( 'A' => array( 'B' => ')' ) ),\n"
          ");\n"
          "$channels['x'] = ARRAY( 'command' => '/bin/x' );\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 2);
    expect_item(&c, 0, "kimaki", "/usr/bin/kimaki", 1);
    expect_item(&c, 1, "x", "/bin/x", 5);
    channels_free(&c);
}

Test(channels, comments_in_odd_places)
{
    struct channels c;
    parse("# header, a fragment\n"
          "$channels/*a*/[/*b*/'k' // c ]\n"
          "]#d\n"
          "=/*e*/[ /* ] ; */ 'command' # ]\n"
          "=> // '/tmp/no',\n"
          "'/bin/k' /* , */ , // ];\n"
          "] /* ; */ ;\n"
          "/* $channels['no'] = [ 'command' => '/tmp/no' ]; */\n"
          "// $channels['no'] = [ 'command' => '/tmp/no' ];\n"
          "# $channels['no'] = [ 'command' => '/tmp/no' ];\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "k", "/bin/k", 2);
    channels_free(&c);
}

Test(channels, skipped_values_hold_anything)
{
    struct channels c;
    parse("$channels['k'] = [\n"
          "  'a' => [ ']', ';', '=>', '\\'', \"\\\"\", '//', '/*', '#', '?>', \"]];\" ],\n"
          "  'b' => \"{$x[\"]\"]} ${y} $z[0] {$o->m(\"'\", '\"', \"{$p[']']}\")}\",\n"
          "  'c' => function () { return [ 1 ]; },\n"
          "  'd' => fn ($m) => [ $m, ')' ],\n"
          "  'e' => <<<EOT\n"
          "  ]; 'command' => '/tmp/no',\n"
          "  EOT,\n"
          "  'f' => <<<'EOT'\n"
          "  $channels['no'] = [ 'command' => '/tmp/no' ];\n"
          "  EOT,\n"
          "  'g' => `ls ']'`,\n"
          "  'command' => '/bin/k',\n"
          "];\n"
          "$channels['l'] = [ 'command' => '/bin/l' ];\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 2);
    expect_item(&c, 0, "k", "/bin/k", 1);
    expect_item(&c, 1, "l", "/bin/l", 15);
    channels_free(&c);
}

Test(channels, hand_written_outside_markers)
{
    struct channels c;
    parse("<?php\n"
          "$channels['top'] = [ 'command' => '/bin/top' ];\n"
          "add_filter( 'datamachine_code_cli_channels', function ( $channels ) {\n"
          "    // BEGIN bridges\n"
          "    // BEGIN bridge:kimaki\n"
          "    $channels['kimaki'] = [ 'command' => '/usr/bin/kimaki' ];\n"
          "    // END bridge:kimaki\n"
          "    $channels['between'] = [ 'command' => '/bin/between' ];\n"
          "    // END bridges\n"
          "    $channels['after'] = [ 'command' => '/bin/after' ];\n"
          "    return $channels;\n"
          "} );\n",
          &c);
    /* PHP never registers the one outside the callback */
    expect_only_error(&c, 2,
                      "cannot be judged statically: a bridge outside the callback of the channels "
                      "filter");
    cr_assert_eq(c.n, 4);
    expect_item(&c, 0, "top", "/bin/top", 2);
    expect_item(&c, 1, "kimaki", "/usr/bin/kimaki", 6);
    expect_item(&c, 2, "between", "/bin/between", 8);
    expect_item(&c, 3, "after", "/bin/after", 10);
    channels_free(&c);
}

/* Other uses of $channels change the map when PHP runs: each one makes the file invalid
 * ("cannot be judged statically"); look-alikes ($this->channels, $Channels, $channels2, text in
 * a string) do not. */
Test(channels, other_uses_cannot_be_judged)
{
    struct channels c;
    parse("$channels = apply_filters( 'x', [] );\n"
          "if ( isset( $channels['k'] ) && $channels['k'] == [] ) { unset( $channels['k'] ); }\n"
          "$channels['k'] .= 'x';\n"
          "$this->channels['k'] = [ 'command' => '/tmp/no' ];\n"
          "$Channels['k'] = [ 'command' => '/tmp/no' ];\n"
          "$channels2['k'] = [ 'command' => '/tmp/no' ];\n"
          "foreach ( $channels as $k => $v ) { $channels[$k] = $v; }\n"
          "echo \"{$channels['k']} = [ 'command' => '/tmp/no' ];\";\n"
          "return $channels;\n",
          &c);
    cr_assert_eq(c.n, 0);
    static const unsigned lines[] = {1, 2, 3, 7, 9};
    for (size_t i = 0; i < c.nerrors; i++) {
        cr_log_info("line %u: %s", c.errors[i].line, c.errors[i].message);
        cr_assert(!strncmp(c.errors[i].message, "cannot be judged statically: ", 29));
        cr_assert(!c.errors[i].fatal);
    }
    for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
        bool found = false;
        for (size_t i = 0; i < c.nerrors; i++)
            found |= c.errors[i].line == lines[k];
        cr_assert(found, "no error at line %u", lines[k]);
    }
    for (size_t i = 0; i < c.nerrors; i++)
        cr_assert(c.errors[i].line != 4 && c.errors[i].line != 5 && c.errors[i].line != 6 &&
                      c.errors[i].line != 8,
                  "line %u: %s", c.errors[i].line, c.errors[i].message);
    channels_free(&c);
}

Test(channels, crlf_line_endings)
{
    struct channels c;
    parse("\r\n"
          "    // BEGIN bridge:kimaki\r\n"
          "    $channels['kimaki'] = [\r\n"
          "        'command' => '/usr/bin/kimaki',\r\n"
          "    ];\r\n"
          "    // END bridge:kimaki\r\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "kimaki", "/usr/bin/kimaki", 3);
    channels_free(&c);
}

/* --- escapes ------------------------------------------------------------------------------ */

Test(channels, single_quoted_escapes)
{
    struct channels c;
    parse("$channels['it\\'s'] = [ 'command' => '/opt/it\\'s/bin' ];\n"
          "$channels['back'] = [ 'command' => 'C:\\\\dir\\bin\\x41\\n' ];\n"
          "$channels['trail'] = [ 'command' => '/a\\\\' ];\n"
          "$channels['dq'] = [ 'command' => '\"$HOME\" {$x}' ];\n",
          &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 4);
    expect_item(&c, 0, "it's", "/opt/it's/bin", 1);
    expect_item(&c, 1, "back", "C:\\dir\\bin\\x41\\n", 2);
    expect_item(&c, 2, "trail", "/a\\", 3);
    expect_item(&c, 3, "dq", "\"$HOME\" {$x}", 4);
    channels_free(&c);
}

Test(channels, double_quoted_escapes)
{
    struct channels c;
    parse(
        "$channels[\"a\"] = [ 'command' => \"\\x2fusr\\x2Fbin\\057\\153imaki\" ];\n"
        "$channels[\"b\"] = [ 'command' => \"\\\\ \\\" \\$HOME \\n\\t\\r\\v\\e\\f\" ];\n"
        "$channels[\"c\"] = [ 'command' => \"\\q \\x \\xZ \\8 \\u \\{ \\' $ 5$ {}\" ];\n"
        "$channels[\"d\"] = [ 'command' => \"\\101\\1011\\7\\777 \\x4 \\x414\" ];\n"
        "$channels[\"e\"] = [ 'command' => \"\\u{41}\\u{e9}\\u{20AC}\\u{1F600}\\u{00000063}\" ];\n"
        "$channels[\"\\x6b\"] = [ \"\\x63ommand\" => '/bin/k' ];\n",
        &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 6);
    expect_item(&c, 0, "a", "/usr/bin/kimaki", 1);
    expect_item(&c, 1, "b", "\\ \" $HOME \n\t\r\v\033\f", 2);
    expect_item(&c, 2, "c", "\\q \\x \\xZ \\8 \\u \\{ \\' $ 5$ {}", 3);
    expect_item(&c, 3, "d", "AA1\a\377 \004 A4", 4);
    expect_item(&c, 4, "e",
                "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                "c",
                5);
    expect_item(&c, 5, "k", "/bin/k", 6);
    channels_free(&c);
}

Test(channels, interpolation_is_an_error)
{
    static const char *const cases[] = {
        "\"$HOME/bin/kimaki\"", "\"{$dir}/kimaki\"", "\"${dir}/kimaki\"",
        "\"/a/$b[0]\"",         "\"/a/$o->b\"",      "\"/a/{$o->b(\"x\")}\"",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char src[256];
        struct channels c;
        snprintf(src, sizeof(src),
                 "$channels['ok'] = [ 'command' => '/bin/ok' ];\n"
                 "$channels['k'] = [\n"
                 "    'command' => %s,\n"
                 "];\n",
                 cases[i]);
        parse(src, &c);
        cr_assert_eq(c.n, 1, "%s", cases[i]);
        expect_item(&c, 0, "ok", "/bin/ok", 1);
        expect_only_error(&c, 3, "bridge k: 'command' interpolates a variable");
        channels_free(&c);
    }
}

/* --- errors, each with its line ----------------------------------------------------------- */

Test(channels, command_not_a_literal)
{
    static const char *const cases[] = {
        "KIMAKI_BIN",
        "'/usr/bin/' . 'kimaki'",
        "trim( '/usr/bin/kimaki' )",
        "$bin",
        "\\Foo::BIN",
        "( '/usr/bin/kimaki' )",
        "'/usr/bin/kimaki' ?: 'x'",
        "true",
        "600",
        "[ '/usr/bin/kimaki' ]",
        "",
        "`which kimaki`",
        "<<<EOT\n/usr/bin/kimaki\nEOT",
        "<<<'EOT'\n/usr/bin/kimaki\nEOT",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char src[256];
        struct channels c;
        snprintf(src, sizeof(src),
                 "\n"
                 "$channels['kimaki'] = [\n"
                 "    'args' => [ 'x' ],\n"
                 "    'command' =>\n"
                 "        %s,\n"
                 "    'timeout' => 5,\n"
                 "];\n"
                 "$channels['next'] = [ 'command' => '/bin/next' ];\n",
                 cases[i]);
        parse(src, &c);
        cr_log_info("case %s", cases[i]);
        if (!cases[i][0]) { /* `'command' => ,` is also a syntax error */
            cr_assert_eq(c.nerrors, 2);
            expect_error(&c, 5, "PHP cannot parse it: unexpected ','");
            cr_assert(c.errors[0].fatal || c.errors[1].fatal);
        } else {
            expect_only_error(&c, 5, "bridge kimaki: 'command' is not a plain string literal");
        }
        cr_assert_eq(c.n, 1, "%s", cases[i]);
        cr_assert_str_eq(c.items[0].name, "next");
        channels_free(&c);
    }
}

Test(channels, no_command)
{
    struct channels c;
    parse("\n"
          "// BEGIN bridge:kimaki\n"
          "$channels['kimaki'] = [\n"
          "    'cmd' => '/usr/bin/kimaki',\n"
          "    'args' => [ 'command' => '/tmp/no' ],\n"
          "];\n"
          "// END bridge:kimaki\n"
          "$channels['empty'] = [];\n",
          &c);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(c.nerrors, 2);
    expect_error(&c, 3, "bridge kimaki has no 'command'");
    expect_error(&c, 8, "bridge empty has no 'command'");
    channels_free(&c);
}

Test(channels, duplicate_bridge_keeps_last)
{
    struct channels c;
    parse("$channels['kimaki'] = [ 'command' => '/root/.kimaki/bin/kimaki' ];\n"
          "$channels['other'] = [ 'command' => '/bin/other' ];\n"
          "$channels[\"kimaki\"] = [ 'command' => '/usr/bin/kimaki' ];\n"
          "$channels['kimaki'] = [ 'command' => '/usr/bin/kimaki' ]; "
          "$channels['other'] = [ 'command' => '/bin/o2' ];\n",
          &c);
    expect_no_errors(&c); /* PHP replaces the element: the last assignment wins */
    cr_assert_eq(c.n, 2);
    expect_item(&c, 0, "kimaki", "/usr/bin/kimaki", 4);
    expect_item(&c, 1, "other", "/bin/o2", 4);
    channels_free(&c);
}

/* A bridge whose first assignment is invalid and whose second is valid: the second wins, the
 * first's error stays (the file is still invalid). */
Test(channels, duplicate_of_invalid_bridge)
{
    struct channels c;
    parse("$channels['k'] = [ 'command' => K ];\n"
          "$channels['k'] = [ 'command' => '/bin/k' ];\n",
          &c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "k", "/bin/k", 2);
    expect_only_error(&c, 1, "bridge k: 'command' is not a plain string literal");
    channels_free(&c);
}

Test(channels, marker_name_differs)
{
    struct channels c;
    parse("    // BEGIN bridge:kimaki\n"
          "    $channels['roadie'] = [\n"
          "        'command' => '/usr/bin/roadie',\n"
          "    ];\n"
          "    // END bridge:kimaki\n",
          &c);
    expect_only_error(&c, 2, "bridge roadie is inside BEGIN bridge:kimaki (line 1)");
    cr_assert_eq(c.n, 1, "the assignment itself is fine");
    expect_item(&c, 0, "roadie", "/usr/bin/roadie", 2);
    channels_free(&c);
}

Test(channels, begin_without_end)
{
    struct channels c;
    parse("\n"
          "    // BEGIN bridge:kimaki\n"
          "    $channels['kimaki'] = [ 'command' => '/usr/bin/kimaki' ];\n"
          "    // BEGIN bridge:roadie\n"
          "    $channels['roadie'] = [ 'command' => 'roadie' ];\n"
          "    // END bridge:roadie\n"
          "    // BEGIN bridge:cc-connect\n"
          "    $channels['cc-connect'] = [ 'command' => '/usr/bin/cc-connect' ];\n",
          &c);
    cr_assert_eq(c.n, 3, "the bridges are kept");
    expect_item(&c, 0, "kimaki", "/usr/bin/kimaki", 3);
    expect_item(&c, 1, "roadie", "roadie", 5);
    expect_item(&c, 2, "cc-connect", "/usr/bin/cc-connect", 8);
    cr_assert_eq(c.nerrors, 2);
    expect_error(&c, 2, "BEGIN bridge:kimaki without END");
    expect_error(&c, 7, "BEGIN bridge:cc-connect without END");
    cr_assert_eq(c.errors[0].line, 2, "sorted by line");
    channels_free(&c);
}

Test(channels, end_without_begin_and_mismatched_end)
{
    struct channels c;
    parse("$channels['a'] = [ 'command' => '/bin/a' ];\n"
          "// END bridge:a\n"
          "// BEGIN bridge:b\n"
          "$channels['b'] = [ 'command' => '/bin/b' ];\n"
          "// END bridge:c\n"
          "// BEGIN bridge:\n"
          "#END bridge:d\n",
          &c);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.nerrors, 4);
    expect_error(&c, 2, "END bridge:a without BEGIN");
    expect_error(&c, 5, "END bridge:c does not match BEGIN bridge:b (line 3)");
    expect_error(&c, 6, "BEGIN marker without a bridge name");
    expect_error(&c, 7, "END bridge:d without BEGIN");
    channels_free(&c);
}

Test(channels, unterminated_string)
{
    struct channels c;
    parse("$channels['a'] = [ 'command' => '/bin/a' ];\n"
          "$channels['b'] = [\n"
          "    'command' => \"/bin/b,\n"
          "];\n",
          &c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "a", "/bin/a", 1);
    cr_assert_eq(c.nerrors, 2);
    expect_error(&c, 3, "unterminated string");
    expect_error(&c, 2, "bridge b: unterminated array");
    channels_free(&c);
}

Test(channels, unterminated_double_quoted_and_name)
{
    struct channels c;
    parse("$channels['a'] = [ 'command' => '/bin/a' ];\n"
          "$channels[\"b] = [ 'command' => '/bin/b' ];\n",
          &c);
    cr_assert_eq(c.n, 1);
    expect_only_error(&c, 2, "unterminated string");
    channels_free(&c);
}

Test(channels, unterminated_comment_and_heredoc)
{
    struct channels c;
    parse("$channels['a'] = [ 'command' => '/bin/a' ];\n"
          "\n"
          "/* $channels['b'] = [ 'command' => '/bin/b' ];\n",
          &c);
    cr_assert_eq(c.n, 1);
    expect_only_error(&c, 3, "unterminated comment");
    channels_free(&c);

    parse("$channels['a'] = [ 'command' => '/bin/a' ];\n"
          "$x = <<<EOT\n"
          "$channels['b'] = [ 'command' => '/bin/b' ];\n"
          "EOTX;\n",
          &c);
    cr_assert_eq(c.n, 1);
    expect_only_error(&c, 2, "unterminated heredoc");
    channels_free(&c);
}

/* A `;` outside braces ends a statement: the array was not closed. The next bridge parses. */
Test(channels, unterminated_array)
{
    struct channels c;
    parse("<?php\n"
          "$channels['a'] = [\n"
          "    'command' => '/bin/a',\n"
          "    'args' => [ 'x',\n"
          "];\n"
          "$channels['b'] = [ 'command' => '/bin/b' ];\n"
          "$channels['c'] = array( 'command' => '/bin/c'\n",
          &c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "b", "/bin/b", 6);
    cr_assert_eq(c.nerrors, 2);
    expect_error(&c, 2, "bridge a: unterminated array");
    expect_error(&c, 7, "bridge c: unterminated array");
    channels_free(&c);

    parse("<?php $channels['a'] = [ 'command' => '/bin/a' ?>\n"
          "<?php $channels['b'] = [ 'command' => '/bin/b' ]?>\n",
          &c);
    cr_assert_eq(c.n, 1, "`?>` ends a statement");
    expect_item(&c, 0, "b", "/bin/b", 2);
    expect_only_error(&c, 1, "bridge a: unterminated array");
    channels_free(&c);
}

Test(channels, mismatched_bracket)
{
    struct channels c;
    parse("$channels['a'] = [\n"
          "    'command' => '/bin/a',\n"
          "    'args' => [ 'x' ),\n"
          "];\n"
          "$channels['b'] = array( 'command' => '/bin/b' ];\n"
          "$channels['c'] = [ 'command' => '/bin/c' ];\n",
          &c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "c", "/bin/c", 6);
    cr_assert_eq(c.nerrors, 2);
    expect_error(&c, 3, "bridge a: mismatched ')'");
    expect_error(&c, 5, "bridge b: mismatched ']'");
    channels_free(&c);
}

Test(channels, nesting_cap)
{
    size_t len;
    /* 100 levels in 'args', closed properly: one error, the bridge is dropped, parsing goes on */
    char *open = repeat("", "[", 100, &len), *close = repeat("", "]", 100, &len);
    char *src = malloc(1024);
    cr_assert_not_null(src);
    snprintf(src, 1024,
             "$channels['a'] = [\n"
             "    'command' => '/bin/a',\n"
             "    'args' => %s%s,\n"
             "];\n"
             "$channels['b'] = [ 'command' => '/bin/b', 'x' => %s1%s ];\n",
             open, close, open + 37, close + 37);
    struct channels c;
    parse(src, &c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "b", "/bin/b", 5);
    expect_only_error(&c, 3, "bridge a: nesting deeper than 64");
    channels_free(&c);
    free(open);
    free(close);
    free(src);
}

Test(channels, string_nesting_cap)
{
    size_t len;
    char *src = repeat("$channels['a'] = [ 'command' => '/bin/a' ];\n"
                       "$channels['b'] = [\n"
                       "    'x' => \"",
                       "{$\"", 80, &len);
    struct channels c;
    parse_n(src, len, &c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "a", "/bin/a", 1);
    expect_error(&c, 3, "string nesting deeper than 64");
    channels_free(&c);
    free(src);

    /* 30 levels are fine */
    src = repeat("$channels['b'] = [ 'command' => '/bin/b', 'x' => \"", "{$a[\"", 30, &len);
    char *tail = repeat("", "\"]}", 30, &len);
    char *full = malloc(strlen(src) + strlen(tail) + 8);
    cr_assert_not_null(full);
    strcpy(full, src);
    strcat(full, tail);
    strcat(full, "\" ];\n");
    parse(full, &c);
    expect_no_errors(&c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "b", "/bin/b", 1);
    channels_free(&c);
    free(src);
    free(tail);
    free(full);
}

Test(channels, missing_semicolon)
{
    struct channels c;
    parse("$channels['a'] = [ 'command' => '/bin/a' ]\n"
          "$channels['b'] = [ 'command' => '/bin/b' ];\n"
          "$channels['c'] = [ 'command' => '/bin/c' ] + $defaults;\n"
          "$channels['d'] = [ 'command' => '/bin/d' ]",
          &c);
    cr_assert_eq(c.n, 4, "the array itself is complete: kept");
    cr_assert_eq(c.nerrors, 3);
    expect_error(&c, 2, "bridge a: expected ';' after the array");
    expect_error(&c, 3, "bridge c: expected ';' after the array");
    expect_error(&c, 4, "bridge d: expected ';' after the array");
    channels_free(&c);
}

Test(channels, value_not_an_array)
{
    struct channels c;
    parse("$defaults = [ 'command' => '/bin/x' ];\n"
          "$channels['a'] = $defaults;\n"
          "$channels['b'] = null;\n"
          "$channels['c'] = array_merge( $defaults, [] );\n"
          "$channels['d'] = [ 'command' => '/bin/d' ];\n",
          &c);
    cr_assert_eq(c.n, 1);
    expect_item(&c, 0, "d", "/bin/d", 5);
    cr_assert_eq(c.nerrors, 3);
    expect_error(&c, 2, "bridge a: value is not an array literal");
    expect_error(&c, 3, "bridge b: value is not an array literal");
    expect_error(&c, 4, "bridge c: value is not an array literal");
    channels_free(&c);
}

Test(channels, bad_bridge_names)
{
    struct channels c;
    parse("$channels[$name] = [ 'command' => '/bin/a' ];\n"
          "$channels[] = [ 'command' => '/bin/b' ];\n"
          "$channels[KIMAKI] = [ 'command' => '/bin/c' ];\n"
          "$channels[\"k$x\"] = [ 'command' => '/bin/d' ];\n"
          "$channels[''] = [ 'command' => '/bin/e' ];\n"
          "$channels[\"k\\0\"] = [ 'command' => '/bin/f' ];\n"
          "$channels[\"\\u{zz}\"] = [ 'command' => '/bin/g' ];\n"
          "$channels[7] = array( 'command' => '/bin/h' );\n",
          &c);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(c.nerrors, 8);
    expect_error(&c, 1, "bridge name is not a string literal");
    expect_error(&c, 2, "bridge name is not a string literal");
    expect_error(&c, 3, "bridge name is not a string literal");
    expect_error(&c, 4, "bridge name is not a string literal");
    expect_error(&c, 5, "bridge name is empty");
    expect_error(&c, 6, "bridge name holds a NUL byte");
    expect_error(&c, 7, "bridge name has an invalid \\u{} escape");
    expect_error(&c, 8, "bridge name is not a string literal");
    channels_free(&c);
}

Test(channels, command_errors)
{
    struct channels c;
    parse("$channels['a'] = [\n"
          "    'command' => '/bin/a1',\n"
          "    'command' => '/bin/a2',\n"
          "];\n"
          "$channels['b'] = [ 'command' => \"/bin/\\0b\" ];\n"
          "$channels['c'] = [ 'command' => \"/bin/\\u{110000}\" ];\n"
          "$channels['d'] = [ 'command' => \"/bin/\\u{}\" ];\n",
          &c);
    cr_assert_eq(c.n, 1, "a repeated key: PHP keeps the last value");
    expect_item(&c, 0, "a", "/bin/a2", 1);
    cr_assert_eq(c.nerrors, 4);
    expect_error(&c, 3, "bridge a: 'command' given twice");
    expect_error(&c, 5, "bridge b: 'command' holds a NUL byte");
    expect_error(&c, 6, "bridge c: invalid \\u{} escape in 'command'");
    expect_error(&c, 7, "bridge d: invalid \\u{} escape in 'command'");
    channels_free(&c);
}

Test(channels, long_and_binary_names_in_messages)
{
    char src[512];
    struct channels c;
    snprintf(
        src, sizeof(src), "$channels['%s\\x'] = [ 'cmd' => 1 ];\n$channels[\"\\x01\\xff\"] = [];\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    parse(src, &c);
    cr_assert_eq(c.nerrors, 2);
    expect_error(&c, 1,
                 "bridge aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa... has no 'command'");
    expect_error(&c, 2, "bridge ?\xff has no 'command'"); /* bytes >= 0x80 kept for esc_* */
    channels_free(&c);
}

Test(channels, too_many_errors)
{
    size_t len;
    char *src = repeat("", "$channels['k'] = [ 'command' => K ];\n", 500, &len);
    struct channels c;
    parse_n(src, len, &c);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(c.nerrors, 101);
    cr_assert_str_eq(c.errors[100].message, "too many errors, the rest are not reported");
    channels_free(&c);
    free(src);
}

/* --- hostile input ------------------------------------------------------------------------ */

Test(channels, empty_and_null)
{
    struct channels c;
    cr_assert_eq(channels_parse(NULL, 0, &c), 0);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(c.nerrors, 0);
    channels_free(&c);
    channels_free(&c);
    parse("", &c);
    cr_assert_eq(c.n + c.nerrors, 0);
    channels_free(&c);
    struct channels zero = {0};
    channels_free(&zero);
    channels_free(NULL);
    errno = 0;
    cr_assert_eq(channels_parse("", 0, NULL), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(channels, nul_bytes)
{
    static const char src[] = "$channels['a'] = [ 'command' => '/bin/a' ];\n"
                              "// comment \0 with NUL\n"
                              "$x = 1;\0\0 $y = 2;\n"
                              "$channels['b'] = [ 'command' => '/bin/b', 'args' => [ 'x\0y' ] ];\n"
                              "$channels['c'] = [ 'command' => '/bin/\0c' ];\n"
                              "$channels['d'] = [ 'command' => '/bin/d' ];\n";
    struct channels c;
    parse_n(src, sizeof(src) - 1, &c);
    cr_assert_eq(c.n, 3);
    expect_item(&c, 0, "a", "/bin/a", 1);
    expect_item(&c, 1, "b", "/bin/b", 4);
    expect_item(&c, 2, "d", "/bin/d", 6);
    cr_assert_eq(c.nerrors, 2);
    expect_error(&c, 3, "NUL byte outside a string");
    expect_error(&c, 5, "bridge c: 'command' holds a NUL byte");
    channels_free(&c);
}

/* Under valgrind (its preload library is in the environment of the process it runs)? */
static bool under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre && strstr(pre, "vgpreload");
}

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* How many times slower than a native run this one may be. */
static double slowdown(void)
{
    return under_valgrind() ? 60 : SANITIZED ? 5 : 1;
}

/* The bridges of every prefix of a file are bridges of the whole file, and nothing crashes
 * or leaks (run it under ASan and valgrind). */
static void truncate_everywhere(const char *name)
{
    size_t len;
    char *buf = fixture(name, &len);
    struct channels full;
    parse_n(buf, len, &full);
    for (size_t cut = 0; cut <= len; cut++) {
        char *copy = malloc(cut ? cut : 1); /* exactly CUT bytes: ASan sees any over-read */
        cr_assert_not_null(copy);
        memcpy(copy, buf, cut);
        struct channels c;
        parse_n(copy, cut, &c);
        for (size_t i = 0; i < c.n; i++) {
            bool found = false;
            for (size_t j = 0; j < full.n && !found; j++)
                found = !strcmp(c.items[i].name, full.items[j].name) &&
                        !strcmp(c.items[i].command, full.items[j].command) &&
                        c.items[i].line == full.items[j].line;
            cr_assert(found, "cut at %zu: bridge %s -> %s not in the full file", cut,
                      c.items[i].name, c.items[i].command);
        }
        if (cut == len)
            cr_assert_eq(c.n, full.n);
        channels_free(&c);
        free(copy);
    }
    channels_free(&full);
    free(buf);
}

Test(channels, truncated_at_every_byte)
{
    truncate_everywhere("wp-coding-agents-channels.php");
    truncate_everywhere("hand-edited.php");
}

/* Each byte in turn replaced by a character that upsets a lexer. */
Test(channels, corrupted_at_every_byte)
{
    static const char evil[] = {'\'', '"', '[', ']', '(', ';', '\0', '/', '*', '$', '{', '<', '\\'};
    size_t len;
    char *buf = fixture("hand-edited.php", &len);
    char *copy = malloc(len);
    cr_assert_not_null(copy);
    for (size_t e = 0; e < sizeof(evil); e++) {
        for (size_t i = 0; i < len; i++) {
            memcpy(copy, buf, len);
            copy[i] = evil[e];
            struct channels c;
            parse_n(copy, len, &c);
            channels_free(&c);
        }
    }
    free(copy);
    free(buf);
}

/* Inputs built to make a naive parser recurse, backtrack or rescan: about a megabyte each
 * (the first ten), each well under a second natively, the bound scaled under ASan and
 * valgrind. */
Test(channels, pathological_inputs_are_linear)
{
    static const struct {
        const char *head, *unit;
        size_t n;
    } cases[] = {
        {"$channels['a'] = [", "[", 10u << 20},
        {"", "[", 1u << 20},
        {"$channels['a'] = ", "array(", 1u << 18},
        {"", "$channels['a'] = [", 1u << 16},
        {"", "$channels[", 1u << 17},
        {"", "$channels['a'] = [ 'command' => ", 1u << 15},
        {"$channels['a'] = [ 'x' => \"", "{$", 1u << 19},
        {"$channels['a'] = [ 'x' => \"", "{$\"", 1u << 18},
        {"$channels['a'] = [ 'x' => ", "'", 1u << 20},
        {"", "/*", 1u << 19},
        {"", "<<<A\n", 1u << 18},
        {"", "?>", 1u << 19},
        {"", "// BEGIN bridge:x\n", 1u << 16},
        {"", "$channels['x'] = [ 'command' => '/bin/x' ];\n", 1u << 15},
        {"", "$channels['x'] = [ 'command' => K ];\n", 1u << 15},
        {"", "\0", 1u << 20},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *src = repeat(cases[i].head, cases[i].unit, cases[i].n, &len);
        struct channels c;
        double t0 = now();
        parse_n(src, len, &c);
        double dt = now() - t0;
        size_t nerrors = c.nerrors;
        cr_log_info("%s%s x %zu: %.3f s, %zu bridges, %zu errors", cases[i].head, cases[i].unit,
                    cases[i].n, dt, c.n, c.nerrors);
        channels_free(&c);
        free(src);
        /* natively 0.2 s for the 10 MB case; a quadratic parse would take minutes */
        cr_assert_lt(dt, 2.0 * slowdown(), "case %zu took %.2f s", i, dt);
        cr_assert_leq(nerrors, 101);
    }
}

/* Many distinct bridges: every one kept, in order. */
Test(channels, many_bridges)
{
    size_t n = 20000, cap = n * 64, len = 0;
    char *src = malloc(cap);
    cr_assert_not_null(src);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(src + len, cap - len,
                                "$channels['b%zu'] = [ 'command' => '/bin/b%zu' ];\n", i, i);
    struct channels c;
    double t0 = now();
    parse_n(src, len, &c);
    cr_log_info("%zu bridges in %.3f s", n, now() - t0);
    expect_no_errors(&c);
    cr_assert_eq(c.n, n);
    char name[32], cmd[32];
    for (size_t i = 0; i < n; i += 997) {
        snprintf(name, sizeof(name), "b%zu", i);
        snprintf(cmd, sizeof(cmd), "/bin/b%zu", i);
        expect_item(&c, i, name, cmd, (unsigned)i + 1);
    }
    channels_free(&c);
    free(src);
}

/* Deterministic pseudo-random bytes, and random mixes of PHP fragments. */
Test(channels, random_garbage)
{
    static const char *const frag[] = {
        "$channels",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        "'",
        "\"",
        "`",
        "=",
        "=>",
        ",",
        ";",
        "array",
        " ",
        "\n",
        "'command'",
        "'k'",
        "\"k$x\"",
        "{$",
        "${",
        "\\",
        "//",
        "#",
        "/*",
        "*/",
        "?>",
        "<?php ",
        "<<<A\n",
        "\nA",
        "// BEGIN bridge:k\n",
        "// END bridge:k\n",
        "'/bin/x'",
        "\0",
        "__halt_compiler",
        "\xff",
    };
    uint64_t s = 0x9e3779b97f4a7c15u;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    for (int round = 0; round < 200; round++) {
        size_t len = 0, want = (size_t)(round % 2 ? 1 << 12 : 1 << 16);
        while (len < want) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if (round % 4 == 3) {
                buf[len++] = (char)(s >> 24);
                continue;
            }
            const char *f = frag[(s >> 16) % (sizeof(frag) / sizeof(frag[0]))];
            size_t k = f[0] ? strlen(f) : 1;
            if (len + k > cap)
                break;
            memcpy(buf + len, f, k);
            len += k;
        }
        struct channels c;
        parse_n(buf, len, &c);
        channels_free(&c);
    }
    free(buf);
}

/* --- memory exhaustion -------------------------------------------------------------------- */

/* ASan and valgrind reserve memory of their own: limiting the data segment under them tests
 * them, not the parser. Parse a big file under a shrinking RLIMIT_DATA: every run either succeeds
 * completely or fails with ENOMEM leaving nothing behind. (Each Criterion test is its own process.)
 */
Test(channels, enomem_leaves_nothing)
{
    if (SANITIZED || under_valgrind()) { /* cr_skip_test's exit path leaks under valgrind */
        cr_log_info("skipped: memory limits do not mix with ASan or valgrind");
        return;
    }
    size_t n = 100000, cap = n * 64, len = 0;
    char *src = malloc(cap);
    cr_assert_not_null(src);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(src + len, cap - len,
                                "$channels['b%zu'] = [ 'command' => '/b/%zu' ];\n", i % 90000, i);
    struct rlimit old;
    cr_assert_eq(getrlimit(RLIMIT_DATA, &old), 0);
    struct channels c;
    /* probe: how much does the process hold now? sbrk is not counted reliably, so step the
     * limit over a wide range above the current use */
    size_t failures = 0, successes = 0;
    for (rlim_t extra = 64 << 10; extra <= (rlim_t)64 << 20; extra *= 2) {
        FILE *f = fopen("/proc/self/statm", "r");
        cr_assert_not_null(f);
        unsigned long pages_total = 0, pages_res = 0, pages_shared = 0, pages_text = 0,
                      pages_lib = 0, pages_data = 0;
        cr_assert_eq(fscanf(f, "%lu %lu %lu %lu %lu %lu", &pages_total, &pages_res, &pages_shared,
                            &pages_text, &pages_lib, &pages_data),
                     6);
        fclose(f);
        struct rlimit lim = {(rlim_t)pages_data * 4096 + extra, old.rlim_max};
        cr_assert_eq(setrlimit(RLIMIT_DATA, &lim), 0);
        errno = 0;
        int rc = channels_parse(src, len, &c);
        int err = errno;
        cr_assert_eq(setrlimit(RLIMIT_DATA, &old), 0);
        if (rc == 0) {
            successes++;
            cr_assert_eq(c.n, 90000);
            cr_assert_eq(c.nerrors, 0, "names given twice: the last wins");
            channels_free(&c);
        } else {
            failures++;
            cr_assert_eq(rc, -1);
            cr_assert_eq(err, ENOMEM);
            cr_assert_eq(c.n, 0);
            cr_assert_null(c.items);
            cr_assert_eq(c.nerrors, 0);
            cr_assert_null(c.errors);
            channels_free(&c);
        }
    }
    cr_log_info("%zu runs failed with ENOMEM, %zu succeeded", failures, successes);
    cr_assert_gt(failures, 0, "the limit never bit");
    cr_assert_gt(successes, 0);
    free(src);
}
