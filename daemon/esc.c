/* esc: human text escaping and JSON strings (rules in esc.h). */
#include "esc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t esc_utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL terminator */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Code point of the valid N-byte UTF-8 sequence at S. */
static uint32_t utf8_decode(const unsigned char *s, size_t n)
{
    static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t cp = s[0] & lead_mask[n];
    for (size_t i = 1; i < n; i++)
        cp = (cp << 6) | (s[i] & 0x3f);
    return cp;
}

/* Whether code point CP is shown as "\u{...}": C1 controls, bidi controls, line and paragraph
 * separators. */
static bool cp_escaped(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The escape of the character at P into OUT (at least 12 bytes) and its length in bytes of
 * input in *IN; returns the output length. Plain characters are copied. */
static size_t esc_one(const unsigned char *p, unsigned flags, char *out, size_t *in)
{
    size_t n = esc_utf8_seq_len(p);
    if (n == 0 || *p < 0x20 || *p == 0x7f) {
        *in = 1;
        return (size_t)snprintf(out, 12, "\\x%02x", *p);
    }
    *in = n;
    if (*p == '\\' && !(flags & ESC_KEEP_BACKSLASH)) {
        memcpy(out, "\\\\", 2);
        return 2;
    }
    if (n > 1) {
        uint32_t cp = utf8_decode(p, n);
        if (cp_escaped(cp))
            return (size_t)snprintf(out, 12, "\\u{%x}", (unsigned)cp);
    }
    memcpy(out, p, n);
    return n;
}

void esc_append_flags(char *buf, size_t len, size_t *pos, const char *s, unsigned flags)
{
    if (!buf || len == 0 || *pos >= len)
        return;
    buf[*pos] = '\0';
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s;
    char tmp[12];
    while (*p && *pos < len - 1) {
        size_t in, n = esc_one(p, flags, tmp, &in);
        if (*pos + n >= len) {
            *pos = len - 1;
            return;
        }
        memcpy(buf + *pos, tmp, n);
        *pos += n;
        buf[*pos] = '\0';
        p += in;
    }
}

void esc_append(char *buf, size_t len, size_t *pos, const char *s)
{
    esc_append_flags(buf, len, pos, s, 0);
}

size_t esc_len(const char *s, unsigned flags)
{
    size_t total = 0;
    if (!s)
        return 0;
    char tmp[12];
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t in;
        total += esc_one(p, flags, tmp, &in);
        p += in;
    }
    return total;
}

char *esc_dup(const char *s, unsigned flags)
{
    size_t n = esc_len(s, flags) + 1, pos = 0;
    char *out = malloc(n);
    if (!out)
        return NULL;
    out[0] = '\0';
    esc_append_flags(out, n, &pos, s, flags);
    return out;
}

bool esc_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p == 0) { /* a NUL is valid UTF-8; esc_utf8_seq_len would see a terminator */
            p++;
            continue;
        }
        size_t k = esc_utf8_seq_len(p);
        if (k == 0 || k > (size_t)(end - p))
            return false;
        p += k;
    }
    return true;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *esc_b64_encode(const void *s, size_t n)
{
    const unsigned char *p = s;
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = b64_alphabet[(v >> 18) & 63];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64_alphabet[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Value of base64 digit C, or -1. */
static int b64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

char *esc_b64_decode(const char *s, size_t *n)
{
    size_t len = strlen(s);
    if (len % 4) {
        errno = EINVAL;
        return NULL;
    }
    char *out = malloc(len / 4 * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(s[i + k])) < 0) {
                free(out);
                errno = EINVAL;
                return NULL;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (char)(w >> 16);
        if (pad < 2)
            out[o++] = (char)(w >> 8);
        if (pad < 1)
            out[o++] = (char)w;
    }
    out[o] = '\0';
    *n = o;
    return out;
}

int esc_json_set(json_t *o, const char *key, const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (esc_utf8_valid(s, n)) {
        json_t *v = json_stringn(s, n);
        if (!v) {
            errno = ENOMEM;
            return -1;
        }
        return json_object_set_new(o, key, v);
    }
    char raw_key[256];
    if (snprintf(raw_key, sizeof(raw_key), "%s" ESC_RAW_SUFFIX, key) >= (int)sizeof(raw_key)) {
        errno = EINVAL;
        return -1;
    }
    char *text = esc_dup(s, 0), *b64 = esc_b64_encode(s, n);
    json_t *v = text ? json_string(text) : NULL, *r = b64 ? json_string(b64) : NULL;
    free(text);
    free(b64);
    if (!v || !r) {
        json_decref(v);
        json_decref(r);
        errno = ENOMEM;
        return -1;
    }
    if (json_object_set_new(o, key, v) < 0) {
        json_decref(r);
        errno = ENOMEM;
        return -1;
    }
    return json_object_set_new(o, raw_key, r);
}

void esc_copy_cut(char *buf, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (n < len) {
        memcpy(buf, s, n + 1);
        return;
    }
    memcpy(buf, s, len - 4);
    memcpy(buf + len - 4, "...", 4);
}
