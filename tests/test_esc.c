/* test_esc: the one escaping of text for humans and the one JSON string function (esc.h). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"

struct esc_case {
    const char *in, *out;
};

/* Every class of character: what a terminal would act on must come out escaped. */
static const struct esc_case cases[] = {
    {"", ""},
    {"plain/a.php", "plain/a.php"},
    {"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
     "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"},
    {"back\\slash", "back\\\\slash"},
    {"\\x1b", "\\\\x1b"}, /* a literal backslash-x stays distinguishable from an escape */
    {"esc\x1b[31mred", "esc\\x1b[31mred"},
    {"nl\nret\rtab\tbel\a", "nl\\x0aret\\x0dtab\\x09bel\\x07"},
    {"del\x7f", "del\\x7f"},
    {"\x01\x1f", "\\x01\\x1f"},
    {"csi\xc2\x9b"
     "31m",
     "csi\\u{9b}31m"}, /* U+009B CSI */
    {"osc\xc2\x9d"
     "0;x\xc2\x9c",
     "osc\\u{9d}0;x\\u{9c}"},
    {"c1\xc2\x80\xc2\x9f", "c1\\u{80}\\u{9f}"},
    {"\xc2\xa0nbsp", "\xc2\xa0nbsp"},                    /* U+00A0 is printable */
    {"evil\xe2\x80\xaegnp.php", "evil\\u{202e}gnp.php"}, /* U+202E RLO */
    {"\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "\\u{202a}\\u{202b}\\u{202c}\\u{202d}"},
    {"\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", "\\u{2066}\\u{2067}\\u{2068}\\u{2069}"},
    {"\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u{200e}\\u{200f}\\u{61c}"},
    {"\xe2\x80\xa8\xe2\x80\xa9", "\\u{2028}\\u{2029}"},
    {"\xe2\x80\x8d\xe2\x80\xaf", "\xe2\x80\x8d\xe2\x80\xaf"}, /* ZWJ, U+202F: not controls */
    {"bad\xff", "bad\\xff"},
    {"lone\xc3", "lone\\xc3"},
    {"lone\xc3x", "lone\\xc3x"},
    {"over\xc0\xaf", "over\\xc0\\xaf"},                 /* overlong '/' */
    {"sur\xed\xa0\x80", "sur\\xed\\xa0\\x80"},          /* UTF-16 surrogate */
    {"big\xf4\x90\x80\x80", "big\\xf4\\x90\\x80\\x80"}, /* above U+10FFFF */
    {"cut\xe2\x80", "cut\\xe2\\x80"},
    {"c1raw\x9b", "c1raw\\x9b"}, /* a bare C1 byte is not UTF-8 */
};

Test(esc, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[256];
        size_t pos = 0;
        esc_append(buf, sizeof(buf), &pos, cases[i].in);
        cr_expect_str_eq(buf, cases[i].out, "case %zu", i);
        cr_expect_eq(pos, strlen(cases[i].out), "case %zu: pos", i);
        cr_expect_eq(esc_len(cases[i].in, 0), strlen(cases[i].out), "case %zu: esc_len", i);
        char *d = esc_dup(cases[i].in, 0);
        cr_assert(d);
        cr_expect_str_eq(d, cases[i].out, "case %zu: esc_dup", i);
        free(d);
        /* nothing a terminal acts on is left: no C0, DEL, and only valid UTF-8 */
        for (const unsigned char *p = (const unsigned char *)buf; *p; p++)
            cr_expect(*p >= 0x20 && *p != 0x7f, "case %zu: raw byte %#x", i, *p);
        cr_expect(esc_utf8_valid(buf, strlen(buf)), "case %zu: output not UTF-8", i);
    }
}

Test(esc, keep_backslash_for_escaped_text)
{
    char buf[64];
    size_t pos = 0;
    esc_append_flags(buf, sizeof(buf), &pos, "a\\x1b \\\\ \x1b\xe2\x80\xae", ESC_KEEP_BACKSLASH);
    cr_assert_str_eq(buf, "a\\x1b \\\\ \\x1b\\u{202e}");
    cr_assert_eq(esc_len("a\\b", ESC_KEEP_BACKSLASH), 3);
}

Test(esc, appends_and_truncates_whole_escapes)
{
    char buf[8];
    size_t pos = 0;
    esc_append(buf, sizeof(buf), &pos, "ab");
    esc_append(buf, sizeof(buf), &pos, "\x1b"); /* "\x1b" fits: 2 + 4 < 8 */
    cr_assert_str_eq(buf, "ab\\x1b");
    esc_append(buf, sizeof(buf), &pos, "\xe2\x80\xae"); /* "\u{202e}" does not: left out */
    cr_assert_str_eq(buf, "ab\\x1b");
    cr_assert_eq(pos, sizeof(buf) - 1);
    esc_append(buf, sizeof(buf), &pos, "z"); /* nothing after a gap */
    cr_assert_str_eq(buf, "ab\\x1b");

    char one[1] = {'x'};
    pos = 0;
    esc_append(one, 1, &pos, "abc");
    cr_assert_eq(one[0], '\0');
    pos = 0;
    esc_append(NULL, 0, &pos, "abc"); /* no buffer: nothing */
    char buf2[4] = "zz";
    pos = 0;
    esc_append(buf2, sizeof(buf2), &pos, NULL);
    cr_assert_str_eq(buf2, "");
}

Test(esc, base64_round_trip)
{
    const char *v[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\x00\xc3"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", "/wDD"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t len = i == 7 ? 3 : strlen(v[i]), n;
        char *e = esc_b64_encode(v[i], len);
        cr_assert(e);
        cr_expect_str_eq(e, want[i]);
        char *d = esc_b64_decode(e, &n);
        cr_assert(d);
        cr_expect_eq(n, len);
        cr_expect(memcmp(d, v[i], len) == 0, "case %zu", i);
        free(d);
        free(e);
    }
    size_t n;
    cr_expect_null(esc_b64_decode("Zm9", &n));
    cr_expect_null(esc_b64_decode("Zm=v", &n));
    cr_expect_null(esc_b64_decode("Z!9v", &n));
}

/* The JSON rule: valid UTF-8 exactly (even controls and bidi: JSON escapes what it must);
 * anything else as escaped text plus KEY_raw_b64 with the exact bytes. The key is never
 * dropped. */
Test(esc, json_keeps_every_key_and_every_byte)
{
    const char *names[] = {
        "/s/a\xe2\x80\xae.php", "/s/esc\x1b]0;x\a",      "/s/back\\slash", "/s/bad\xff",
        "/s/lone\xc3",          "/s/c1\xc2\x9b\xc2\x9d", "/s/\x7f"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *o = json_object();
        cr_assert_eq(esc_json_set(o, "path", names[i]), 0, "case %zu", i);
        char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        cr_assert(text);
        o = json_loads(text, 0, NULL);
        cr_assert(o, "case %zu: %s", i, text);
        const json_t *p = json_object_get(o, "path"), *raw = json_object_get(o, "path_raw_b64");
        cr_assert(json_is_string(p), "case %zu: no path in %s", i, text);
        bool valid = esc_utf8_valid(names[i], strlen(names[i]));
        if (valid) {
            cr_expect_null(raw, "case %zu", i);
            cr_expect_str_eq(json_string_value(p), names[i], "case %zu", i);
        } else {
            cr_assert(json_is_string(raw), "case %zu: %s", i, text);
            size_t n;
            char *bytes = esc_b64_decode(json_string_value(raw), &n);
            cr_assert(bytes);
            cr_expect_eq(n, strlen(names[i]));
            cr_expect_str_eq(bytes, names[i], "case %zu", i);
            free(bytes);
            char *shown = esc_dup(names[i], 0);
            cr_expect_str_eq(json_string_value(p), shown, "case %zu", i);
            free(shown);
        }
        json_decref(o);
        free(text);
    }
    json_t *o = json_object();
    cr_assert_eq(esc_json_set(o, "path", NULL), 0);
    cr_assert_eq(json_object_size(o), 0);
    json_decref(o);
}
