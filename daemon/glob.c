/* glob: `match` patterns. Component-level matching with one backtrack point for `**`, and
 * within a component the classic one-backtrack-point algorithm for `*`: no recursion, no
 * allocation, O(len(pattern) * len(path)) at worst. */
#include "glob.h"

#include <stddef.h>
#include <string.h>

/* Match one character C against the class starting at *pp (just past '['), ending before
 * PEND. Advances *pp past the closing ']'. Returns whether C is in the class. */
static bool class_match(const char **pp, const char *pend, char c)
{
    const char *p = *pp;
    bool negate = false, found = false;
    if (p < pend && (*p == '!' || *p == '^')) {
        negate = true;
        p++;
    }
    bool first = true;
    while (p < pend && (first || *p != ']')) {
        first = false;
        char lo = *p++;
        if (lo == '\\' && p < pend)
            lo = *p++;
        char hi = lo;
        if (p + 1 < pend && *p == '-' && p[1] != ']') {
            p++;
            hi = *p++;
            if (hi == '\\' && p < pend)
                hi = *p++;
        }
        if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
            found = true;
    }
    if (p < pend)
        p++; /* the ']' */
    *pp = p;
    return found != negate;
}

/* Match the single-character token at *pp against C; advances *pp past the token. */
static bool token_match(const char **pp, const char *pend, char c)
{
    const char *p = *pp;
    bool ok;
    if (*p == '?') {
        ok = true;
        p++;
    } else if (*p == '[') {
        p++;
        ok = class_match(&p, pend, c);
    } else {
        if (*p == '\\' && p + 1 < pend)
            p++;
        ok = *p++ == c;
    }
    *pp = p;
    return ok;
}

/* Match one pattern component [p, pend) against one path component [s, send). */
static bool segment_match(const char *p, const char *pend, const char *s, const char *send)
{
    const char *star_p = NULL, *star_s = NULL;
    while (s < send) {
        if (p < pend && *p == '*') {
            while (p < pend && *p == '*')
                p++;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < pend) {
            const char *q = p;
            if (token_match(&q, pend, *s)) {
                p = q;
                s++;
                continue;
            }
        }
        if (!star_p)
            return false;
        p = star_p;
        s = ++star_s;
    }
    while (p < pend && *p == '*')
        p++;
    return p == pend;
}

/* End of the component starting at S (the next '/' or the terminating NUL). */
static const char *component_end(const char *s)
{
    const char *e = strchr(s, '/');
    return e ? e : s + strlen(s);
}

/* Start of the component after the one ending at E ("" when E is the end). */
static const char *next_component(const char *e)
{
    return *e == '/' ? e + 1 : e;
}

static bool is_globstar(const char *p, const char *pend)
{
    return pend - p == 2 && p[0] == '*' && p[1] == '*';
}

bool glob_match(const char *pattern, const char *path)
{
    /* Valid patterns and normalized paths have no empty components, so "at the end" is
     * simply *p == 0 (resp. *s == 0); the root path "" has zero components. */
    const char *p = pattern, *s = path;
    const char *star_p = NULL, *star_s = NULL;

    while (*s) {
        const char *pe = *p ? component_end(p) : p;
        if (*p && is_globstar(p, pe)) {
            p = next_component(pe);
            star_p = p;
            star_s = s;
            continue;
        }
        const char *se = component_end(s);
        if (*p && segment_match(p, pe, s, se)) {
            p = next_component(pe);
            s = next_component(se);
            continue;
        }
        if (!star_p)
            return false;
        /* let the last `**` swallow one more path component */
        star_s = next_component(component_end(star_s));
        s = star_s;
        p = star_p;
    }
    while (*p) {
        const char *pe = component_end(p);
        if (!is_globstar(p, pe))
            return false;
        p = next_component(pe);
    }
    return true;
}

bool glob_valid(const char *pattern, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!pattern || !*pattern) {
        *why = "empty pattern";
        return false;
    }
    if (*pattern == '/') {
        *why = "patterns are relative to the site root: remove the leading '/'";
        return false;
    }
    const char *c = pattern;
    for (;;) {
        const char *e = component_end(c);
        size_t n = (size_t)(e - c);
        if (n == 0) {
            *why = *e ? "empty path component ('//')" : "trailing '/'";
            return false;
        }
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
            *why = "'.' and '..' components never match";
            return false;
        }
        for (const char *q = c; q < e; q++) {
            if (*q == '\\') {
                if (q + 1 >= e) {
                    *why = "trailing '\\'";
                    return false;
                }
                q++;
            } else if (*q == '*' && q + 1 < e && q[1] == '*' && n != 2) {
                *why = "'**' must be a whole path component, as in 'a/**/b'";
                return false;
            } else if (*q == '[') {
                const char *r = q + 1;
                if (r < e && (*r == '!' || *r == '^'))
                    r++;
                if (r < e && *r == ']')
                    r++;
                while (r < e && *r != ']') {
                    if (*r == '\\')
                        r++;
                    r++;
                }
                if (r >= e) {
                    *why = "unterminated '[' (a character class ends with ']')";
                    return false;
                }
                q = r;
            }
        }
        if (!*e)
            return true;
        c = e + 1;
    }
}
