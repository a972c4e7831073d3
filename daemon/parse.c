/* parse: pure parsers for configuration values. No I/O, no allocation, no locale. */
#include "parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define USEC_PER_SEC 1000000ULL

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ASCII lower case, independent of the locale. */
static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive ASCII string equality. */
static bool ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (ascii_lower(*a) != ascii_lower(*b))
            return false;
    return *a == *b;
}

int parse_mode(const char *s, mode_t *out)
{
    unsigned v = 0;
    if (!s || !*s) {
        errno = EINVAL;
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '7') {
            errno = EINVAL;
            return -1;
        }
        v = v * 8 + (unsigned)(*p - '0');
        if (v > 07777) { /* checked per digit: no overflow however many digits */
            errno = EINVAL;
            return -1;
        }
    }
    *out = (mode_t)v;
    return 0;
}

/* Seconds per unit letter, or 0 for an unknown unit. */
static uint64_t unit_seconds(char u)
{
    switch (u) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    default:
        return 0;
    }
}

/* Parse a run of decimal digits at *pp into *v (advancing *pp). Returns 0, -1 with errno
 * EINVAL when there is no digit, ERANGE when the number does not fit. */
static int parse_digits(const char **pp, uint64_t *v)
{
    const char *p = *pp;
    uint64_t n = 0;
    if (!is_digit(*p)) {
        errno = EINVAL;
        return -1;
    }
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10) {
            errno = ERANGE;
            return -1;
        }
        n = n * 10 + d;
    }
    *pp = p;
    *v = n;
    return 0;
}

/* Items are NUMBER UNIT, optionally separated by blanks ("1h 30m"); a plain number is
 * seconds but only as the whole string. Units may repeat and come in any order: they add. */
int parse_duration(const char *s, uint64_t *usec)
{
    const char *p = s;
    uint64_t total = 0, n;
    if (!s || !*s) {
        errno = EINVAL;
        return -1;
    }
    if (parse_digits(&p, &n) < 0)
        return -1;
    if (!*p) { /* plain seconds */
        if (n > UINT64_MAX / USEC_PER_SEC) {
            errno = ERANGE;
            return -1;
        }
        *usec = n * USEC_PER_SEC;
        return 0;
    }
    p = s;
    while (*p) {
        if (parse_digits(&p, &n) < 0)
            return -1;
        uint64_t unit = unit_seconds(*p);
        if (!unit) {
            errno = EINVAL;
            return -1;
        }
        p++;
        if (n > UINT64_MAX / USEC_PER_SEC / unit) {
            errno = ERANGE;
            return -1;
        }
        n *= unit * USEC_PER_SEC;
        if (total > UINT64_MAX - n) {
            errno = ERANGE;
            return -1;
        }
        total += n;
        while (is_blank(*p))
            p++;
    }
    *usec = total;
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    if (!s) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (ascii_ieq(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (ascii_ieq(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    errno = EINVAL;
    return -1;
}

/* Validates the whole list first, so S is left untouched when the call fails. */
int parse_list(char *s, char **items, int max)
{
    int count = 0;
    if (!s) {
        errno = EINVAL;
        return -1;
    }
    /* Pass 1: count items and reject empty ones. */
    for (const char *p = s;;) {
        while (is_blank(*p))
            p++;
        if (*p == ',' || !*p) {
            errno = EINVAL;
            return -1;
        }
        count++;
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    if (count > max) {
        errno = E2BIG;
        return -1;
    }
    /* Pass 2: cut and trim. */
    int n = 0;
    for (char *p = s;;) {
        while (is_blank(*p))
            p++;
        char *comma = strchr(p, ',');
        char *end = comma ? comma : p + strlen(p);
        while (end > p && is_blank(end[-1]))
            end--;
        items[n++] = p;
        *end = '\0';
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

/* Whole days, hours, minutes and seconds, largest first, zero units left out; a sub-second
 * remainder is dropped (durations are configured in whole seconds). When LEN is too small,
 * only the units that fit whole are written. */
const char *parse_format_duration(uint64_t usec, char *buf, size_t len)
{
    static const struct {
        uint64_t sec;
        char unit;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    uint64_t sec = usec / USEC_PER_SEC;
    size_t off = 0;

    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (sec == 0) {
        snprintf(buf, len, "0");
        return buf;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t n = sec / units[i].sec;
        sec %= units[i].sec;
        if (!n)
            continue;
        int w = snprintf(buf + off, len - off, "%llu%c", (unsigned long long)n, units[i].unit);
        if (w < 0 || (size_t)w >= len - off) {
            buf[off] = '\0'; /* too small: keep whole units only */
            break;
        }
        off += (size_t)w;
    }
    return buf;
}
