/* Unit tests of the value parsers: parse_mode, parse_duration, parse_bool, parse_list and
 * parse_format_duration. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

#define SEC 1000000ULL

/* ---- parse_mode ------------------------------------------------------------------------ */

Test(parse_mode, accepts_octal_up_to_07777)
{
    static const struct {
        const char *s;
        mode_t m;
    } ok[] = {{"0640", 0640},   {"640", 0640}, {"2775", 02775}, {"0", 0},       {"7", 7},
              {"07777", 07777}, {"0000", 0},   {"00664", 0664}, {"4755", 04755}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        mode_t m = 01;
        cr_assert_eq(parse_mode(ok[i].s, &m), 0, "%s", ok[i].s);
        cr_assert_eq(m, ok[i].m, "%s: %o", ok[i].s, (unsigned)m);
    }
}

Test(parse_mode, rejects_everything_else)
{
    static const char *const bad[] = {
        "",      "9x",    "8",     "0o640",  "10000",
        "17777", " 0640", "0640 ", "+640",   "-1",
        "0x1ff", "06 40", "rwx",   "077777", "0000000000000000000000010000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mode_t m = 0123;
        errno = 0;
        cr_assert_eq(parse_mode(bad[i], &m), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(errno, EINVAL, "'%s'", bad[i]);
        cr_assert_eq(m, 0123, "'%s' wrote the output", bad[i]);
    }
    cr_assert_eq(parse_mode(NULL, &(mode_t){0}), -1);
}

Test(parse_mode, many_leading_zeros_are_fine)
{
    mode_t m;
    cr_assert_eq(parse_mode("0000000000000000000000000000000000644", &m), 0);
    cr_assert_eq(m, 0644);
}

/* ---- parse_duration -------------------------------------------------------------------- */

Test(parse_duration, units_and_sequences)
{
    static const struct {
        const char *s;
        uint64_t usec;
    } ok[] = {
        {"0", 0},
        {"90", 90 * SEC},
        {"30s", 30 * SEC},
        {"5m", 300 * SEC},
        {"6h", 6 * 3600 * SEC},
        {"2d", 2 * 86400 * SEC},
        {"1h30m", 5400 * SEC},
        {"1d2h3m4s", (86400 + 7200 + 180 + 4) * SEC},
        {"1h 30m", 5400 * SEC},
        {"0s", 0},
        {"0h0m", 0},
        {"90m", 5400 * SEC},
        {"007s", 7 * SEC},
        {"30m1h", 5400 * SEC}, /* units add up in any order */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t u = 1;
        cr_assert_eq(parse_duration(ok[i].s, &u), 0, "%s", ok[i].s);
        cr_assert_eq(u, ok[i].usec, "%s: %llu", ok[i].s, (unsigned long long)u);
    }
}

Test(parse_duration, rejects_malformed)
{
    static const char *const bad[] = {"",    "h",    "1x", "1h30", "-5m", "+5m", " 5m",
                                      "5 m", "1.5h", "5M", "5ms",  "6hh", "abc", "1h,30m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t u = 42;
        errno = 0;
        cr_assert_eq(parse_duration(bad[i], &u), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(errno, EINVAL, "'%s': errno %d", bad[i], errno);
        cr_assert_eq(u, 42, "'%s' wrote the output", bad[i]);
    }
}

Test(parse_duration, overflow_is_erange)
{
    static const char *const big[] = {
        "18446744073709551616",       /* does not fit in 64 bits at all */
        "18446744073710",             /* seconds that overflow as microseconds */
        "213503982335d",              /* days that overflow */
        "213503982334d213503982334d", /* the sum overflows */
        "99999999999999999999999999h",
    };
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        uint64_t u = 42;
        errno = 0;
        cr_assert_eq(parse_duration(big[i], &u), -1, "'%s' accepted", big[i]);
        cr_assert_eq(errno, ERANGE, "'%s': errno %d", big[i], errno);
    }
    /* The largest whole number of seconds that fits. */
    uint64_t u;
    cr_assert_eq(parse_duration("18446744073709", &u), 0);
    cr_assert_eq(u, 18446744073709ULL * SEC);
}

/* ---- parse_bool ------------------------------------------------------------------------ */

Test(parse_bool, all_spellings)
{
    static const char *const yes[] = {"yes", "YES", "Yes", "true", "TRUE", "on", "On", "1"};
    static const char *const no[] = {"no", "NO", "false", "False", "off", "OFF", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        bool b = false;
        cr_assert_eq(parse_bool(yes[i], &b), 0, "%s", yes[i]);
        cr_assert(b, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        bool b = true;
        cr_assert_eq(parse_bool(no[i], &b), 0, "%s", no[i]);
        cr_assert(!b, "%s", no[i]);
    }
}

Test(parse_bool, rejects_others)
{
    static const char *const bad[] = {"", "y", "n", "2", "yess", "enable", " yes", "nope", "o"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool b = true;
        errno = 0;
        cr_assert_eq(parse_bool(bad[i], &b), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(errno, EINVAL);
        cr_assert(b);
    }
    cr_assert_eq(parse_bool(NULL, &(bool){false}), -1);
}

/* ---- parse_list ------------------------------------------------------------------------ */

Test(parse_list, splits_and_trims)
{
    char s[] = " www-data ,opencode,\t33 ";
    char *items[4];
    cr_assert_eq(parse_list(s, items, 4), 3);
    cr_assert_str_eq(items[0], "www-data");
    cr_assert_str_eq(items[1], "opencode");
    cr_assert_str_eq(items[2], "33");
}

Test(parse_list, single_item_and_inner_blanks)
{
    char s[] = "a b";
    char *items[1];
    cr_assert_eq(parse_list(s, items, 1), 1);
    cr_assert_str_eq(items[0], "a b");
}

Test(parse_list, exact_max)
{
    char s[] = "a,b";
    char *items[2];
    cr_assert_eq(parse_list(s, items, 2), 2);
    cr_assert_str_eq(items[1], "b");
}

Test(parse_list, empty_items_are_einval_and_leave_input_alone)
{
    static const char *const bad[] = {"", " ", "a,", ",a", "a,,b", "a, ,b", " , "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[16];
        char *items[8];
        snprintf(s, sizeof(s), "%s", bad[i]);
        errno = 0;
        cr_assert_eq(parse_list(s, items, 8), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(errno, EINVAL, "'%s'", bad[i]);
        cr_assert_str_eq(s, bad[i]);
    }
}

Test(parse_list, too_many_is_e2big)
{
    char s[] = "a,b,c";
    char *items[2] = {NULL, NULL};
    errno = 0;
    cr_assert_eq(parse_list(s, items, 2), -1);
    cr_assert_eq(errno, E2BIG);
    cr_assert_str_eq(s, "a,b,c");
    cr_assert_null(items[0]);
}

/* ---- parse_format_duration ------------------------------------------------------------- */

Test(parse_format_duration, shortest_forms)
{
    static const struct {
        uint64_t usec;
        const char *s;
    } cases[] = {
        {0, "0"},
        {SEC, "1s"},
        {90 * SEC, "1m30s"},
        {6 * 3600 * SEC, "6h"},
        {5400 * SEC, "1h30m"},
        {86400 * SEC, "1d"},
        {(86400 + 3600) * SEC, "1d1h"},
        {(2 * 86400 + 4) * SEC, "2d4s"},
        {SEC + 999999, "1s"}, /* sub-second remainder dropped */
        {500000, "0"},
        {UINT64_MAX, "213503982d8h1m49s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[PARSE_DURATION_BUFSZ];
        cr_assert_eq(parse_format_duration(cases[i].usec, buf, sizeof(buf)), buf);
        cr_assert_str_eq(buf, cases[i].s, "%llu", (unsigned long long)cases[i].usec);
    }
}

Test(parse_format_duration, round_trips_through_parse_duration)
{
    static const uint64_t secs[] = {0, 1, 59, 60, 61, 3599, 3600, 5400, 86399, 86400, 987654321};
    for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
        char buf[PARSE_DURATION_BUFSZ];
        uint64_t u;
        parse_format_duration(secs[i] * SEC, buf, sizeof(buf));
        cr_assert_eq(parse_duration(buf, &u), 0, "%s", buf);
        cr_assert_eq(u, secs[i] * SEC, "%s", buf);
    }
}

Test(parse_format_duration, truncates_to_the_buffer)
{
    char buf[4];
    parse_format_duration((86400 + 3600 + 60) * SEC, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1d"); /* whole units only */
    char one[1] = {'x'};
    parse_format_duration(SEC, one, sizeof(one));
    cr_assert_eq(one[0], '\0');
}
