/* channels: parser of the channels mu-plugin (see channels.h). One forward pass over the
 * buffer: a PHP lexer (strings with their escapes and interpolations, heredocs, comments, open
 * and close tags) feeding a recognizer of `$channels[KEY] = [ ... ];` assignments. No
 * recursion and no backtracking: every byte is looked at a bounded number of times, so the
 * time is linear in the length of the input whatever it holds. */
#include "channels.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH  64  /* brackets nested in a bridge array; interpolations nested in a string */
#define MAX_ERRORS 100 /* errors kept; one more says that the rest were dropped */
#define SHOWN      48  /* bytes of a name quoted in an error message */

enum tok_kind { T_EOF, T_VAR, T_IDENT, T_NUM, T_STR, T_OP, T_CLOSE_TAG };

struct token {
    enum tok_kind kind;
    const char *s; /* T_VAR: the name after '$'; T_STR: opening quote to closing quote */
    size_t n;
    unsigned line; /* line of the first byte */
    char quote;    /* T_STR: '\'', '"', '`', or '<' for a heredoc or nowdoc */
    bool interp;   /* T_STR: holds a variable interpolation */
    bool bad;      /* T_STR: unterminated or cut short (an error is recorded) */
};

/* Every `$channels['NAME'] = [...]` whose name decoded, in file order, to find duplicates. */
struct assignment {
    char *name; /* owned here when ITEM is SIZE_MAX, else by out->items[item] */
    size_t len;
    unsigned line;
    size_t seq;
    size_t item; /* index in out->items, or SIZE_MAX when the bridge was dropped */
};

struct parser {
    const char *p, *end;
    unsigned line;
    bool html;   /* after `?>`: inline HTML until the next open tag */
    bool halted; /* after __halt_compiler: the rest is data */
    bool have_peek;
    struct token peek;
    bool oom;
    bool tagged; /* an open tag was seen */
    bool quiet;  /* the second pass (judge): the lexer's errors are already recorded */
    bool nul_reported;
    struct channels *out;
    size_t items_cap, errors_cap;
    /* the open `// BEGIN bridge:NAME` marker, NAME pointing into the buffer */
    bool in_block;
    const char *block_name;
    size_t block_len;
    unsigned block_line;
    struct assignment *asg;
    size_t nasg, asg_cap;
};

/* The bridge being parsed. */
struct bridge {
    const char *shown; /* its name for messages */
    unsigned line;     /* of the assignment */
    char *cmd;         /* decoded command, owned */
    bool seen_cmd;     /* a 'command' key was seen (valid or not) */
    bool bad;          /* an error made the bridge unusable */
    bool deep_reported;
};

enum value_end { END_COMMA, END_CLOSE, END_ABANDON };

/* --- characters ------------------------------------------------------------------------- */

/* PHP white space (the lexer's, not isspace: no \v, no \f). */
static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ASCII decimal digit, independent of the locale. */
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* PHP's [a-zA-Z_\x80-\xff]. */
static bool is_name_start(unsigned char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* PHP's [a-zA-Z0-9_\x80-\xff]. */
static bool is_name_char(unsigned char c)
{
    return is_name_start(c) || is_digit(c);
}

/* The value of the hex digit C, or -1. */
static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Case-insensitive ASCII comparison of the N bytes at S with the NUL-terminated WORD. */
static bool word_ieq(const char *s, size_t n, const char *word)
{
    size_t i;
    for (i = 0; i < n && word[i]; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)word[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (a != b)
            return false;
    }
    return i == n && !word[i];
}

/* A name for a message: at most SHOWN bytes of S, non-printable bytes as '?'. Returns DST
 * (SHOWN + 4 bytes). */
static const char *show(char *dst, const char *s, size_t n)
{
    size_t k = n > SHOWN ? SHOWN : n;
    while (k < n && k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--; /* not inside a UTF-8 sequence */
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = c >= 0x20 && c != 0x7f ? (char)c : '?'; /* bytes >= 0x80 kept: esc_* shows them */
    }
    if (k < n)
        memcpy(dst + k, "...", 4);
    else
        dst[k] = '\0';
    return dst;
}

/* --- output ----------------------------------------------------------------------------- */

static void vadd_error(struct parser *P, unsigned line, bool fatal, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Record an error at LINE. Sets P->oom when memory runs out. */
static void add_error(struct parser *P, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct parser *P, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd_error(P, line, false, fmt, ap);
    va_end(ap);
}

/* Record an error at LINE that makes PHP refuse the file (fatal), or not. Ignored while
 * P->quiet, unless FORCE. */
static void vadd_error(struct parser *P, unsigned line, bool fatal, const char *fmt, va_list ap)
{
    struct channels *out = P->out;
    if (P->oom || out->nerrors > MAX_ERRORS || P->quiet)
        return;
    if (out->nerrors == P->errors_cap) {
        size_t cap = P->errors_cap ? P->errors_cap * 2 : 8;
        struct channels_error *e = realloc(out->errors, cap * sizeof(*e));
        if (!e) {
            P->oom = true;
            return;
        }
        out->errors = e;
        P->errors_cap = cap;
    }
    struct channels_error *e = &out->errors[out->nerrors++];
    e->line = line;
    e->fatal = fatal;
    if (out->nerrors == MAX_ERRORS + 1) {
        snprintf(e->message, sizeof(e->message), "too many errors, the rest are not reported");
        return;
    }
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
}

/* An error that makes PHP refuse the whole file (a syntax error: the site fatals). */
static void add_fatal(struct parser *P, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_fatal(struct parser *P, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd_error(P, line, true, fmt, ap);
    va_end(ap);
}

/* Append a bridge (taking NAME and CMD). Returns its index, or SIZE_MAX with P->oom set
 * (NAME and CMD are then still the caller's). */
static size_t add_item(struct parser *P, char *name, char *cmd, unsigned line)
{
    struct channels *out = P->out;
    if (out->n == P->items_cap) {
        size_t cap = P->items_cap ? P->items_cap * 2 : 8;
        struct channel *it = realloc(out->items, cap * sizeof(*it));
        if (!it) {
            P->oom = true;
            return SIZE_MAX;
        }
        out->items = it;
        P->items_cap = cap;
    }
    out->items[out->n] = (struct channel){.name = name, .command = cmd, .line = line};
    return out->n++;
}

/* Remember an assignment for the duplicate check; takes NAME when ITEM is SIZE_MAX. Returns
 * false with P->oom set (NAME is then still the caller's). */
static bool add_assignment(struct parser *P, char *name, size_t len, unsigned line, size_t item)
{
    if (P->nasg == P->asg_cap) {
        size_t cap = P->asg_cap ? P->asg_cap * 2 : 8;
        struct assignment *a = realloc(P->asg, cap * sizeof(*a));
        if (!a) {
            P->oom = true;
            return false;
        }
        P->asg = a;
        P->asg_cap = cap;
    }
    P->asg[P->nasg] =
        (struct assignment){.name = name, .len = len, .line = line, .seq = P->nasg, .item = item};
    P->nasg++;
    return true;
}

/* --- lexer ------------------------------------------------------------------------------ */

/* Move P to Q (not before P->p), counting the newlines passed. */
static void advance(struct parser *P, const char *q)
{
    for (const char *s = P->p; s < q; s++)
        if (*s == '\n' || (*s == '\r' && (s + 1 >= P->end || s[1] != '\n')))
            P->line++; /* LF, CRLF and a lone CR each end a line, as in PHP */
    P->p = q;
}

/* Length of the PHP open tag at Q (`<?php` followed by white space or the end, or `<?=`),
 * or 0. */
static size_t open_tag_len(const char *q, const char *end)
{
    size_t left = (size_t)(end - q);
    if (left >= 3 && q[0] == '<' && q[1] == '?' && q[2] == '=')
        return 3;
    if (left >= 5 && q[0] == '<' && q[1] == '?' && word_ieq(q + 2, 3, "php") &&
        (left == 5 || is_ws((unsigned char)q[5])))
        return 5;
    return 0;
}

/* Skip inline HTML up to and past the next open tag (or to the end). */
static void skip_html(struct parser *P)
{
    const char *q = P->p;
    while (q < P->end && (q = memchr(q, '<', (size_t)(P->end - q))) != NULL) {
        size_t k = open_tag_len(q, P->end);
        if (k) {
            advance(P, q + k);
            P->html = false;
            return;
        }
        q++;
    }
    advance(P, P->end);
}

/* A `// BEGIN bridge:NAME` or `// END bridge:NAME` comment whose text (after the comment
 * opener) is the N bytes at S, on LINE: track the open block. */
static void marker(struct parser *P, const char *s, size_t n, unsigned line)
{
    static const char begin[] = "BEGIN bridge:", endm[] = "END bridge:";
    char a[SHOWN + 4], b[SHOWN + 4];
    bool is_begin;
    if (P->quiet)
        return;
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    if (n >= sizeof(begin) - 1 && !memcmp(s, begin, sizeof(begin) - 1)) {
        is_begin = true;
        s += sizeof(begin) - 1;
        n -= sizeof(begin) - 1;
    } else if (n >= sizeof(endm) - 1 && !memcmp(s, endm, sizeof(endm) - 1)) {
        is_begin = false;
        s += sizeof(endm) - 1;
        n -= sizeof(endm) - 1;
    } else {
        return;
    }
    size_t len = n; /* the name runs to the end of the comment: it may hold spaces */
    while (len && is_ws((unsigned char)s[len - 1]))
        len--;
    if (len == 0) {
        add_error(P, line, "%s marker without a bridge name", is_begin ? "BEGIN" : "END");
        return;
    }
    if (is_begin) {
        if (P->in_block)
            add_error(P, P->block_line, "BEGIN bridge:%s without END",
                      show(a, P->block_name, P->block_len));
        P->in_block = true;
        P->block_name = s;
        P->block_len = len;
        P->block_line = line;
        return;
    }
    if (!P->in_block)
        add_error(P, line, "END bridge:%s without BEGIN", show(a, s, len));
    else if (len != P->block_len || memcmp(s, P->block_name, len))
        add_error(P, line, "END bridge:%s does not match BEGIN bridge:%s (line %u)",
                  show(a, s, len), show(b, P->block_name, P->block_len), P->block_line);
    P->in_block = false;
}

/* Is the open marker's name (escaped as in a single-quoted string, as upstream writes it:
 * `// BEGIN bridge:o\'neil`) the N bytes at NAME? */
static bool marker_is(const struct parser *P, const char *name, size_t n)
{
    const char *m = P->block_name, *mend = m + P->block_len;
    size_t i = 0;
    while (m < mend) {
        char c = *m++;
        if (c == '\\' && m < mend && (*m == '\\' || *m == '\''))
            c = *m++;
        if (i >= n || name[i++] != c)
            return false;
    }
    return i == n;
}

/* A `//` or `#` comment whose text starts at TEXT: skip to the end of the line or to `?>`. */
static void line_comment(struct parser *P, const char *text)
{
    const char *q = text;
    while (q < P->end && *q != '\n' && *q != '\r' && !(*q == '?' && q + 1 < P->end && q[1] == '>'))
        q++;
    marker(P, text, (size_t)(q - text), P->line);
    P->p = q;
}

/* A block comment at P->p (`/` then `*`): skip past its end, or to the end of the buffer
 * with an error. */
static void block_comment(struct parser *P)
{
    unsigned line = P->line;
    const char *q = memmem(P->p + 2, (size_t)(P->end - P->p - 2), "*/", 2);
    if (!q) {
        add_fatal(P, line, "unterminated comment");
        advance(P, P->end);
        return;
    }
    advance(P, q + 2);
}

/* Past the closing quote of the single-quoted string whose body starts at Q, or NULL when
 * there is none before END. */
static const char *skip_single(const char *q, const char *end)
{
    while (q < end) {
        if (*q == '\\')
            q += end - q >= 2 ? 2 : 1;
        else if (*q++ == '\'')
            return q;
    }
    return NULL;
}

/* A single-quoted string at P->p into T; an unterminated one runs to the end (error). */
static void lex_single(struct parser *P, struct token *t)
{
    const char *q = skip_single(P->p + 1, P->end);
    t->kind = T_STR;
    t->quote = '\'';
    if (!q) {
        t->bad = true;
        add_fatal(P, t->line, "unterminated string");
        q = P->end;
    }
    t->n = (size_t)(q - P->p);
    advance(P, q);
}

/* A double-quoted (or backtick) string. Interpolations `{$...}` and `${...}` hold code that
 * may itself hold strings: a small stack, capped at MAX_DEPTH, keeps track. */
static void lex_double(struct parser *P, struct token *t)
{
    const char *start = P->p, *end = P->end, *q = start + 1;
    char stack[MAX_DEPTH];
    size_t sp = 0;
    stack[0] = *start;
    t->kind = T_STR;
    t->quote = *start;
    for (;;) {
        if (q >= end) {
            t->bad = true;
            add_fatal(P, t->line, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*q;
        if (stack[sp] != '{') { /* string text */
            if (c == '\\') {
                q += end - q >= 2 ? 2 : 1;
                continue;
            }
            if (c == (unsigned char)stack[sp]) {
                q++;
                if (sp == 0)
                    break;
                sp--;
                continue;
            }
            if (c == '$' && q + 1 < end && is_name_start((unsigned char)q[1])) {
                t->interp = true; /* "$name", "$a[0]", "$a->b": no nested strings */
                q++;
                continue;
            }
            if (c == '$' && q + 1 < end && q[1] == '{')
                q += 2; /* "${expr}" */
            else if (c == '{' && q + 1 < end && q[1] == '$')
                q += 1; /* "{$expr}": the '$' is part of the code */
            else {
                q++;
                continue;
            }
            t->interp = true;
            if (sp + 1 >= MAX_DEPTH) {
                t->bad = true;
                add_error(P, t->line, "string nesting deeper than %d", MAX_DEPTH);
                break;
            }
            stack[++sp] = '{';
            continue;
        }
        /* code inside an interpolation */
        if (c == '\'') {
            q = skip_single(q + 1, end);
            if (!q)
                q = end; /* reported as the outer string's end */
        } else if (c == '"' || c == '`' || c == '{') {
            if (sp + 1 >= MAX_DEPTH) {
                t->bad = true;
                add_error(P, t->line, "string nesting deeper than %d", MAX_DEPTH);
                break;
            }
            stack[++sp] = (char)c;
            q++;
        } else if (c == '}') {
            sp--;
            q++;
        } else {
            q++;
        }
    }
    t->n = (size_t)(q - start);
    advance(P, q);
}

/* A heredoc or nowdoc at `<<<`. Returns false (nothing consumed) when it is not one. */
static bool lex_heredoc(struct parser *P, struct token *t)
{
    const char *end = P->end, *q = P->p + 3;
    char quote = 0;
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    if (q < end && (*q == '"' || *q == '\''))
        quote = *q++;
    const char *id = q;
    if (q >= end || !is_name_start((unsigned char)*q))
        return false;
    while (q < end && is_name_char((unsigned char)*q))
        q++;
    size_t idlen = (size_t)(q - id);
    if (quote) {
        if (q >= end || *q != quote)
            return false;
        q++;
    }
    if (q < end && *q == '\r')
        q++;
    if (q >= end || *q != '\n')
        return false;
    q++;
    t->kind = T_STR;
    t->quote = '<';
    /* the closing identifier starts a line, after optional indentation (PHP >= 7.3) */
    for (;;) {
        const char *r = q;
        while (r < end && (*r == ' ' || *r == '\t'))
            r++;
        if ((size_t)(end - r) >= idlen && !memcmp(r, id, idlen) &&
            (r + idlen == end || !is_name_char((unsigned char)r[idlen]))) {
            q = r + idlen;
            break;
        }
        const char *nl = memchr(r, '\n', (size_t)(end - r));
        if (!nl) {
            t->bad = true;
            add_fatal(P, t->line, "unterminated heredoc");
            q = end;
            break;
        }
        q = nl + 1;
    }
    t->n = (size_t)(q - P->p);
    advance(P, q);
    return true;
}

/* Operators the recognizer must tell apart from `=`, `[`, `,`, ... (longest first). */
static const char *const ops[] = {
    "<=>", "===", "!==", "**=", "...", "<<=", ">>=", "?\?=", "?->", "=>", "==", "!=",
    "<>",  "<=",  ">=",  "->",  "::",  "++",  "--",  "+=",   "-=",  "*=", "/=", ".=",
    "%=",  "&=",  "|=",  "^=",  "&&",  "||",  "??",  "<<",   ">>",  "**",
};

/* The next token, skipping white space, comments and inline HTML. */
static void lex(struct parser *P, struct token *t)
{
    const char *end = P->end;
    for (;;) {
        memset(t, 0, sizeof(*t));
        if (P->halted) {
            t->kind = T_EOF;
            t->line = P->line;
            return;
        }
        if (P->html)
            skip_html(P);
        const char *w = P->p;
        while (w < end && is_ws((unsigned char)*w))
            w++;
        advance(P, w);
        const char *q = P->p;
        size_t left = (size_t)(end - q);
        t->line = P->line;
        t->s = q;
        if (!left) {
            t->kind = T_EOF;
            return;
        }
        unsigned char c = (unsigned char)*q;
        if (c == '#' && !(left > 1 && q[1] == '[')) {
            line_comment(P, q + 1);
            continue;
        }
        if (c == '/' && left > 1 && q[1] == '/') {
            line_comment(P, q + 2);
            continue;
        }
        if (c == '/' && left > 1 && q[1] == '*') {
            block_comment(P);
            continue;
        }
        if (c == '?' && left > 1 && q[1] == '>') {
            P->p += 2;
            P->html = true;
            t->kind = T_CLOSE_TAG;
            t->n = 2;
            return;
        }
        if (c == '<') {
            size_t k = open_tag_len(q, end);
            if (k) { /* the file's own `<?php`: the lexer starts in PHP mode */
                P->p += k;
                P->tagged = true;
                continue;
            }
            if (left > 2 && q[1] == '<' && q[2] == '<' && lex_heredoc(P, t))
                return;
        }
        if (c == '\'') {
            lex_single(P, t);
            return;
        }
        if (c == '"' || c == '`') {
            lex_double(P, t);
            return;
        }
        if (c == '$' && left > 1 && is_name_start((unsigned char)q[1])) {
            const char *r = q + 1;
            while (r < end && is_name_char((unsigned char)*r))
                r++;
            t->kind = T_VAR;
            t->s = q + 1;
            t->n = (size_t)(r - q - 1);
            P->p = r;
            return;
        }
        if (is_digit(c) || is_name_start(c)) {
            const char *r = q + 1;
            while (r < end && (is_name_char((unsigned char)*r) || (is_digit(c) && *r == '.')))
                r++;
            t->kind = is_digit(c) ? T_NUM : T_IDENT;
            t->n = (size_t)(r - q);
            P->p = r;
            if (t->kind == T_IDENT && word_ieq(q, t->n, "__halt_compiler")) {
                P->halted = true; /* what follows is data, not code */
                t->kind = T_EOF;
            }
            return;
        }
        if (c == '\0') {
            if (!P->nul_reported)
                add_fatal(P, P->line, "NUL byte outside a string");
            P->nul_reported = true;
            P->p++;
            continue;
        }
        t->kind = T_OP;
        t->n = 1;
        for (size_t i = 0; strchr("<=!*.>?-:+/%&|^", c) && i < sizeof(ops) / sizeof(ops[0]); i++) {
            size_t k = strlen(ops[i]);
            if (k <= left && !memcmp(q, ops[i], k)) {
                t->n = k;
                break;
            }
        }
        P->p += t->n;
        return;
    }
}

/* The next token into T: the pushed-back one if any, else a new one from the lexer. */
static void next(struct parser *P, struct token *t)
{
    if (P->have_peek) {
        *t = P->peek;
        P->have_peek = false;
        return;
    }
    lex(P, t);
}

/* Push T back: the next call to next() returns it. One slot. */
static void unget(struct parser *P, const struct token *t)
{
    P->peek = *t;
    P->have_peek = true;
}

/* Is T the operator OP (exactly)? */
static bool is_op(const struct token *t, const char *op)
{
    return t->kind == T_OP && t->n == strlen(op) && !memcmp(t->s, op, t->n);
}

/* Is T the one-character operator C? */
static bool is_op_c(const struct token *t, char c)
{
    return t->kind == T_OP && t->n == 1 && t->s[0] == c;
}

/* A plain single- or double-quoted string without interpolation, complete. */
static bool is_literal(const struct token *t)
{
    return t->kind == T_STR && (t->quote == '\'' || t->quote == '"') && !t->interp && !t->bad;
}

/* --- string values ---------------------------------------------------------------------- */

/* The byte a one-letter double-quoted escape `\C` stands for, or 0 when it is not one. */
static char simple_escape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case 'v':
        return '\v';
    case 'e':
        return '\033';
    case 'f':
        return '\f';
    case '\\':
    case '$':
    case '"':
        return c;
    default:
        return 0;
    }
}

/* Append the UTF-8 encoding of CP to D (at most 4 bytes). Returns the new end. */
static char *put_utf8(char *d, unsigned long cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xc0 | (cp >> 6));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xe0 | (cp >> 12));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *d++ = (char)(0xf0 | (cp >> 18));
        *d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    }
    return d;
}

/* Decode the literal T (is_literal) into *OUT (malloc'd, NUL-terminated; *LEN the decoded
 * length, NULs inside included). Returns 0; 1 on a malformed `\u{...}` (*OUT NULL); -1 on
 * ENOMEM. The decoded text is never longer than the source. */
static int decode(const struct token *t, char **out, size_t *len)
{
    const char *s = t->s + 1, *e = t->s + t->n - 1;
    char *buf = malloc((size_t)(e - s) + 1), *d = buf;
    *out = NULL;
    if (!buf)
        return -1;
    if (t->quote == '\'') {
        while (s < e) {
            if (*s == '\\' && s + 1 < e && (s[1] == '\\' || s[1] == '\''))
                s++;
            *d++ = *s++;
        }
    } else {
        while (s < e) {
            if (*s != '\\' || s + 1 >= e) {
                *d++ = *s++;
                continue;
            }
            char c = s[1], simple = simple_escape(c);
            if (simple) {
                *d++ = simple;
                s += 2;
            } else if (c >= '0' && c <= '7') {
                unsigned v = 0;
                int k = 0;
                for (s++; k < 3 && s < e && *s >= '0' && *s <= '7'; k++, s++)
                    v = v * 8 + (unsigned)(*s - '0');
                *d++ = (char)(v & 0xff);
            } else if (c == 'x' && s + 2 < e && hex_value((unsigned char)s[2]) >= 0) {
                unsigned v = (unsigned)hex_value((unsigned char)s[2]);
                s += 3;
                if (s < e && hex_value((unsigned char)*s) >= 0)
                    v = v * 16 + (unsigned)hex_value((unsigned char)*s++);
                *d++ = (char)v;
            } else if (c == 'u' && s + 2 < e && s[2] == '{') {
                unsigned long cp = 0;
                const char *h = s + 3;
                while (h < e && hex_value((unsigned char)*h) >= 0) {
                    cp = cp * 16 + (unsigned long)hex_value((unsigned char)*h++);
                    if (cp > 0x10ffff)
                        break;
                }
                if (h == s + 3 || h >= e || *h != '}' || cp > 0x10ffff) {
                    free(buf);
                    return 1;
                }
                d = put_utf8(d, cp);
                s = h + 1;
            } else { /* not an escape: the backslash stays */
                *d++ = *s++;
            }
        }
    }
    *d = '\0';
    *len = (size_t)(d - buf);
    *out = buf;
    return 0;
}

/* Is the array key T the string 'command'? Sets P->oom when memory runs out. */
static bool key_is_command(struct parser *P, const struct token *t)
{
    char *s;
    size_t len;
    if (!is_literal(t))
        return false;
    int rc = decode(t, &s, &len);
    if (rc < 0)
        P->oom = true;
    bool yes = rc == 0 && len == 7 && !memcmp(s, "command", 7);
    free(s);
    return yes;
}

/* --- bridge arrays ---------------------------------------------------------------------- */

/* Skip one array value whose first token is FIRST, up to the `,` or CLOSER that ends it,
 * tracking nested brackets without recursion. Returns how it ended; END_ABANDON (an error
 * recorded) when the array cannot be finished: the end of the code, a `;` outside braces, a
 * mismatched bracket. */
static enum value_end skip_value(struct parser *P, struct bridge *b, const struct token *first,
                                 char closer)
{
    char want[MAX_DEPTH]; /* the closer expected at each level, for the first levels */
    size_t depth = 0, braces = 0;
    struct token t = *first;
    for (;; next(P, &t)) {
        if (P->oom)
            return END_ABANDON;
        if (t.kind == T_EOF || t.kind == T_CLOSE_TAG || (is_op_c(&t, ';') && braces == 0)) {
            add_fatal(P, b->line, "bridge %s: unterminated array", b->shown);
            return END_ABANDON;
        }
        if (t.kind != T_OP || t.n != 1)
            continue;
        char c = t.s[0];
        if (depth == 0 && c == ',')
            return END_COMMA;
        if (depth == 0 && c == closer)
            return END_CLOSE;
        if (c == '[' || c == '(' || c == '{') {
            if (depth < MAX_DEPTH)
                want[depth] = c == '[' ? ']' : c == '(' ? ')' : '}';
            else if (!b->deep_reported) {
                add_error(P, t.line, "bridge %s: nesting deeper than %d", b->shown, MAX_DEPTH);
                b->deep_reported = true;
                b->bad = true;
            }
            depth++;
            braces += c == '{';
        } else if (c == ']' || c == ')' || c == '}') {
            if (depth == 0 || (depth <= MAX_DEPTH && want[depth - 1] != c)) {
                add_fatal(P, t.line, "bridge %s: mismatched '%c'", b->shown, c);
                return END_ABANDON;
            }
            depth--;
            if (c == '}' && braces)
                braces--;
        }
    }
}

/* The value of the 'command' key, first token V: a plain string literal, alone. */
static enum value_end command_value(struct parser *P, struct bridge *b, const struct token *v,
                                    char closer)
{
    if (b->seen_cmd)
        add_error(P, v->line, "bridge %s: 'command' given twice", b->shown);
    b->seen_cmd = true;
    if (is_literal(v)) {
        struct token n;
        next(P, &n);
        if (is_op_c(&n, ',') || is_op_c(&n, closer)) {
            char *s;
            size_t len;
            int rc = decode(v, &s, &len);
            if (rc < 0) {
                P->oom = true;
                return END_ABANDON;
            }
            if (rc > 0) {
                add_error(P, v->line, "bridge %s: invalid \\u{} escape in 'command'", b->shown);
                b->bad = true;
            } else if (memchr(s, '\0', len)) {
                add_error(P, v->line, "bridge %s: 'command' holds a NUL byte", b->shown);
                b->bad = true;
                free(s);
            } else { /* PHP keeps the last value of a key */
                free(b->cmd);
                b->cmd = s;
            }
            return is_op_c(&n, ',') ? END_COMMA : END_CLOSE;
        }
        /* the array cut short (truncated file, `;`, wrong closer) is reported as such */
        if (!(n.kind == T_EOF || n.kind == T_CLOSE_TAG || is_op_c(&n, ';') || is_op_c(&n, ']') ||
              is_op_c(&n, ')') || is_op_c(&n, '}')))
            add_error(P, v->line, "bridge %s: 'command' is not a plain string literal", b->shown);
        b->bad = true;
        return skip_value(P, b, &n, closer);
    }
    if (v->kind == T_STR && v->interp && !v->bad)
        add_error(P, v->line, "bridge %s: 'command' interpolates a variable", b->shown);
    else if (!(v->kind == T_STR && v->bad)) /* an unterminated string is already reported */
        add_error(P, v->line, "bridge %s: 'command' is not a plain string literal", b->shown);
    b->bad = true;
    return skip_value(P, b, v, closer);
}

/* The elements of a bridge array after its opener, up to CLOSER. Returns true when the array
 * closed, false when it was abandoned (an error recorded). */
static bool parse_array(struct parser *P, struct bridge *b, char closer)
{
    for (;;) {
        struct token t, v;
        next(P, &t);
        if (is_op_c(&t, closer)) /* empty array, or after a trailing comma */
            return true;
        bool is_cmd = false;
        v = t;
        if (t.kind == T_STR) {
            struct token arrow;
            next(P, &arrow);
            if (is_op(&arrow, "=>")) {
                is_cmd = key_is_command(P, &t);
                next(P, &v);
            } else {
                unget(P, &arrow);
            }
        }
        enum value_end e = is_cmd ? command_value(P, b, &v, closer) : skip_value(P, b, &v, closer);
        if (P->oom || e == END_ABANDON)
            return false;
        if (e == END_CLOSE)
            return true;
    }
}

/* After `$channels` (VAR): recognize `[KEY] = [ ... ];` or `[KEY] = array( ... );` and record
 * the bridge. Anything else is left to the main loop. */
static void assignment(struct parser *P, const struct token *var)
{
    struct token t, key, rhs;
    char shown[SHOWN + 4];
    next(P, &t);
    if (!is_op_c(&t, '[')) {
        unget(P, &t);
        return;
    }
    next(P, &key);
    bool keyless = is_op_c(&key, ']');
    if (!keyless) {
        next(P, &t);
        if (!is_op_c(&t, ']')) {
            unget(P, &t);
            return;
        }
    }
    next(P, &t);
    if (!is_op_c(&t, '=')) {
        unget(P, &t);
        return;
    }
    next(P, &rhs);
    char closer = 0;
    if (is_op_c(&rhs, '[')) {
        closer = ']';
    } else if (rhs.kind == T_IDENT && word_ieq(rhs.s, rhs.n, "array")) {
        next(P, &t);
        if (is_op_c(&t, '('))
            closer = ')';
        else
            unget(P, &t);
    } else {
        unget(P, &rhs);
    }

    char *name = NULL;
    size_t nlen = 0;
    bool name_ok = false;
    if (!keyless && is_literal(&key)) {
        int rc = decode(&key, &name, &nlen);
        if (rc < 0) {
            P->oom = true;
            return;
        }
        if (rc > 0)
            add_error(P, var->line, "bridge name has an invalid \\u{} escape");
        else if (memchr(name, '\0', nlen))
            add_error(P, var->line, "bridge name holds a NUL byte");
        else if (nlen == 0)
            add_error(P, var->line, "bridge name is empty");
        else
            name_ok = true;
        if (!name_ok) {
            free(name);
            name = NULL;
        }
    } else if (closer && !(key.kind == T_STR && key.bad)) {
        add_error(P, var->line, "bridge name is not a string literal");
    }
    if (!closer) {
        if (name_ok)
            add_error(P, var->line, "bridge %s: value is not an array literal",
                      show(shown, name, nlen));
        free(name);
        return;
    }

    struct bridge b = {.shown = name_ok ? show(shown, name, nlen) : "?", .line = var->line};
    if (name_ok && P->in_block && !marker_is(P, name, nlen)) {
        char blk[SHOWN + 4];
        add_error(P, var->line, "bridge %s is inside BEGIN bridge:%s (line %u)", shown,
                  show(blk, P->block_name, P->block_len), P->block_line);
    }
    bool closed = parse_array(P, &b, closer);
    if (closed && !P->oom) {
        next(P, &t);
        if (!is_op_c(&t, ';') && t.kind != T_CLOSE_TAG) {
            add_fatal(P, t.line, "bridge %s: expected ';' after the array", b.shown);
            unget(P, &t);
        }
        if (!b.seen_cmd)
            add_error(P, var->line, "bridge %s has no 'command'", b.shown);
    }
    size_t item = SIZE_MAX;
    if (name_ok && closed && !b.bad && b.cmd && !P->oom) {
        item = add_item(P, name, b.cmd, var->line);
        if (item != SIZE_MAX)
            b.cmd = NULL;
    }
    free(b.cmd);
    if (name_ok && !P->oom && add_assignment(P, name, nlen, var->line, item))
        return;
    if (item == SIZE_MAX) /* not handed to an item nor to the assignments */
        free(name);
}

/* --- second pass: what PHP would do with the whole file -------------------------------- */

#define JUDGE_DEPTH 1024
#define FILTER      "datamachine_code_cli_channels" /* the filter the channels are given to */
#define FILTER_OLD  "datamachine_channels"          /* its older name */

struct judge {
    char open[JUDGE_DEPTH];
    unsigned line[JUDGE_DEPTH];
    bool is_for[JUDGE_DEPTH];
    size_t depth;
    size_t reg_depth; /* inside a registration's array (depth of its opener), or 0 */
    size_t cb_depth;  /* inside the '(' of add_filter('..._channels', ...), or 0 */
    bool stop;        /* a fatal error was recorded: PHP stops at the first */
    bool fragment;    /* no open tag in the buffer: read as the callback's body */
};

/* Is T the variable $channels? */
static bool is_channels(const struct token *t)
{
    return t->kind == T_VAR && t->n == 8 && !memcmp(t->s, "channels", 8);
}

/* A value token: PHP never accepts two of them in a row. */
static bool is_operand(const struct token *t)
{
    return t->kind == T_VAR || t->kind == T_NUM || t->kind == T_STR;
}

/* How T is named in a syntax error, into BUF (SHOWN + 4 bytes). */
static const char *tok_word(const struct token *t, char *buf)
{
    switch (t->kind) {
    case T_EOF:
        return "end of file";
    case T_VAR:
        return "variable";
    case T_NUM:
        return "number";
    case T_STR:
        return "string";
    case T_CLOSE_TAG:
        return "'?>'";
    default:
        break;
    }
    char w[SHOWN + 4];
    snprintf(buf, SHOWN + 4, "'%s'", show(w, t->s, t->n < 8 ? t->n : 8));
    return buf;
}

/* Record a syntax error: the file is dead for PHP. */
static void judge_fatal(struct parser *P, struct judge *J, const struct token *t)
{
    char w[SHOWN + 4];
    P->quiet = false;
    add_fatal(P, t->line, "PHP cannot parse it: unexpected %s", tok_word(t, w));
    P->quiet = true;
    J->stop = true;
}

/* Record something that cannot be judged without running PHP (unless the first pass already
 * reported that line). */
static void judge_static(struct parser *P, unsigned line, const char *what)
{
    for (size_t i = 0; i < P->out->nerrors; i++)
        if (P->out->errors[i].line == line)
            return;
    P->quiet = false;
    add_error(P, line, "cannot be judged statically: %s", what);
    P->quiet = true;
}

/* Track the bracket T (opener or closer); a mismatch is fatal. PREV is the token before. */
static void judge_bracket(struct parser *P, struct judge *J, const struct token *t,
                          const struct token *prev)
{
    char c = t->s[0];
    if (c == '(' || c == '[' || c == '{') {
        if (J->depth < JUDGE_DEPTH) {
            J->open[J->depth] = c == '(' ? ')' : c == '[' ? ']' : '}';
            J->line[J->depth] = t->line;
            J->is_for[J->depth] = prev->kind == T_IDENT && word_ieq(prev->s, prev->n, "for");
        }
        J->depth++;
        return;
    }
    if (J->depth == 0 || (J->depth <= JUDGE_DEPTH && J->open[J->depth - 1] != c)) {
        judge_fatal(P, J, t);
        return;
    }
    J->depth--;
    if (J->reg_depth && J->depth < J->reg_depth)
        J->reg_depth = 0;
    if (J->cb_depth && J->depth < J->cb_depth)
        J->cb_depth = 0;
}

/* Words that make the map depend on running the code. */
static const char *const judge_words[] = {
    "if",
    "else",
    "elseif",
    "switch",
    "case",
    "for",
    "foreach",
    "while",
    "do",
    "match",
    "goto",
    "unset",
    "eval",
    "include",
    "include_once",
    "require",
    "global",
    "require_once",
    "static",
    "yield",
    "remove_filter",
    "remove_all_filters",
    "throw",
    "array_merge",
};

/* The second pass over the whole file: PHP's syntax at the level of brackets and adjacent
 * tokens (a violation is fatal), then everything that is not a plain literal registration in
 * the channels filter's callback (cannot be judged statically). Errors go to P->out. */
static void judge(struct parser *P)
{
    struct judge *j = calloc(1, sizeof(*j));
    if (!j) {
        P->oom = true;
        return;
    }
    struct token prev = {.kind = T_OP, .s = ";", .n = 1}, prev2 = prev, t;
    P->quiet = true;
    /* a fragment without any open tag is read as the body of the callback (see channels.h) */
    j->fragment = !P->tagged;
    for (; !j->stop && !P->oom; prev2 = prev, prev = t) {
        next(P, &t);
        /* syntax */
        if (is_operand(&prev) && is_operand(&t)) {
            judge_fatal(P, j, &t);
            break;
        }
        if ((is_op(&prev, "=") || is_op(&prev, "=>")) &&
            (t.kind == T_EOF || t.kind == T_CLOSE_TAG || is_op_c(&t, ';') || is_op_c(&t, ',') ||
             is_op_c(&t, ')') || is_op_c(&t, ']') || is_op_c(&t, '}'))) {
            judge_fatal(P, j, &t);
            break;
        }
        if (is_op_c(&t, '{') &&
            (is_op(&prev, "=>") || is_op(&prev, "=") || is_op_c(&prev, ',') ||
             is_op_c(&prev, '(') || is_op_c(&prev, '[') || is_op_c(&prev, '.'))) {
            judge_fatal(P, j, &t);
            break;
        }
        if (t.kind == T_EOF) {
            if (j->depth) {
                struct token e = t;
                judge_fatal(P, j, &e);
            }
            break;
        }
        if (is_op_c(&t, ';') && j->depth && j->depth <= JUDGE_DEPTH &&
            (j->open[j->depth - 1] == ']' ||
             (j->open[j->depth - 1] == ')' && !j->is_for[j->depth - 1]))) {
            judge_fatal(P, j, &t);
            break;
        }
        if (t.kind == T_OP && t.n == 1 && strchr("([{)]}", t.s[0])) {
            judge_bracket(P, j, &t, &prev);
            continue;
        }
        if (j->reg_depth) /* inside a registration's array: pass 1 judged its contents */
            continue;
        /* what running the code would change */
        if (t.kind == T_IDENT) {
            if (word_ieq(t.s, t.n, "add_filter")) {
                struct token a, name;
                next(P, &a);
                if (!is_op_c(&a, '(')) {
                    unget(P, &a);
                    continue;
                }
                judge_bracket(P, j, &a, &t);
                next(P, &name);
                unget(P, &name);
                prev = a;
                t = a;
                char *v = NULL;
                size_t vlen = 0;
                if (is_literal(&name) && decode(&name, &v, &vlen) == 0 && !j->cb_depth &&
                    ((vlen == strlen(FILTER) && !memcmp(v, FILTER, vlen)) ||
                     (vlen == strlen(FILTER_OLD) && !memcmp(v, FILTER_OLD, vlen))))
                    j->cb_depth = j->depth;
                free(v);
                continue;
            }
            if (word_ieq(t.s, t.n, "return")) {
                struct token a, b, c;
                next(P, &a);
                if (is_channels(&a)) {
                    next(P, &b);
                    if (is_op_c(&b, ';')) {
                        next(P, &c);
                        unget(P, &c);
                        if (is_op_c(&c, '}')) {
                            t = b;
                            continue;
                        }
                    } else {
                        unget(P, &b);
                    }
                } else {
                    unget(P, &a);
                }
                judge_static(P, t.line,
                             "a 'return' other than the callback's last 'return $channels;'");
                continue;
            }
            if (word_ieq(t.s, t.n, "exit") || word_ieq(t.s, t.n, "die")) {
                if (!is_op(&prev, "||") &&
                    !(prev.kind == T_IDENT && word_ieq(prev.s, prev.n, "or")))
                    judge_static(P, t.line, "'exit' (the code may stop before the channels)");
                continue;
            }
            for (size_t i = 0; i < sizeof(judge_words) / sizeof(judge_words[0]); i++)
                if (word_ieq(t.s, t.n, judge_words[i])) {
                    char msg[80];
                    snprintf(msg, sizeof(msg), "'%s'", judge_words[i]);
                    judge_static(P, t.line, msg);
                    break;
                }
            continue;
        }
        if (!is_channels(&t))
            continue;
        if (is_op_c(&prev, '(') && prev2.kind == T_IDENT && word_ieq(prev2.s, prev2.n, "function"))
            continue; /* the callback's parameter */
        /* `$channels [ 'NAME' ] = [` or `= array (` */
        struct token a, k, c, eq, o;
        unsigned line = t.line;
        next(P, &a);
        if (!is_op_c(&a, '[')) {
            unget(P, &a);
            judge_static(P, line, "$channels used other than in a literal registration");
            continue;
        }
        judge_bracket(P, j, &a, &t);
        t = a;
        next(P, &k);
        if (!is_literal(&k)) {
            unget(P, &k);
            judge_static(P, line, "$channels used other than in a literal registration");
            continue;
        }
        t = k;
        next(P, &c);
        if (!is_op_c(&c, ']')) {
            unget(P, &c);
            judge_static(P, line, "$channels used other than in a literal registration");
            continue;
        }
        judge_bracket(P, j, &c, &k);
        t = c;
        next(P, &eq);
        if (!is_op_c(&eq, '=')) {
            unget(P, &eq);
            judge_static(P, line, "$channels used other than in a literal registration");
            continue;
        }
        t = eq;
        next(P, &o);
        if (o.kind == T_IDENT && word_ieq(o.s, o.n, "array")) {
            t = o;
            next(P, &o);
        }
        if (!is_op_c(&o, '[') && !is_op_c(&o, '(')) {
            unget(P, &o);
            judge_static(P, line, "$channels used other than in a literal registration");
            continue;
        }
        judge_bracket(P, j, &o, &t);
        t = o;
        j->reg_depth = j->depth;
        if (!j->cb_depth && !j->fragment)
            judge_static(P, line, "a bridge outside the callback of the channels filter");
    }
    P->quiet = false;
    free(j);
}

/* --- after the pass --------------------------------------------------------------------- */

/* qsort order of assignments: by name bytes, then length, then file order. */
static int asg_cmp(const void *x, const void *y)
{
    const struct assignment *a = x, *b = y;
    int c = memcmp(a->name, b->name, a->len < b->len ? a->len : b->len);
    if (c)
        return c;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* A bridge named again later is replaced, as PHP replaces the array element: every
 * assignment but the last of a name is dropped (no error). Sorting (not hashing) keeps the
 * worst case at n log n. */
static void drop_duplicates(struct parser *P)
{
    struct channels *out = P->out;
    bool dropped = false;
    if (P->nasg < 2)
        return;
    qsort(P->asg, P->nasg, sizeof(*P->asg), asg_cmp);
    for (size_t i = 0; i + 1 < P->nasg; i++) {
        struct assignment *a = &P->asg[i], *later = &P->asg[i + 1];
        if (a->len != later->len || memcmp(a->name, later->name, a->len))
            continue;
        if (a->item != SIZE_MAX) {
            free(out->items[a->item].command);
            out->items[a->item].command = NULL; /* the name is freed below, with the item */
            dropped = true;
        }
    }
    if (!dropped)
        return;
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (!out->items[i].command) {
            free(out->items[i].name);
            continue;
        }
        out->items[k++] = out->items[i];
    }
    out->n = k;
}

/* Stable sort of the errors by line (they are few: MAX_ERRORS + 1 at most). */
static void sort_errors(struct channels *out)
{
    for (size_t i = 1; i < out->nerrors; i++) {
        struct channels_error e = out->errors[i];
        size_t j = i;
        for (; j > 0 && out->errors[j - 1].line > e.line; j--)
            out->errors[j] = out->errors[j - 1];
        out->errors[j] = e;
    }
}

/* Free the assignments and the names they own. */
static void free_assignments(struct parser *P)
{
    for (size_t i = 0; i < P->nasg; i++)
        if (P->asg[i].item == SIZE_MAX)
            free(P->asg[i].name);
    free(P->asg);
    P->asg = NULL;
    P->nasg = 0;
}

int channels_parse(const char *buf, size_t len, struct channels *out)
{
    if (!out) {
        errno = EINVAL;
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (!buf)
        len = 0;
    struct parser P = {.p = buf, .end = buf + len, .line = 1, .out = out};
    /* A file with an open tag starts in inline HTML, as in PHP; without one it is a fragment
     * of code (see channels.h). */
    for (const char *q = buf; q && q < P.end && (q = memchr(q, '<', (size_t)(P.end - q))); q++)
        if (open_tag_len(q, P.end)) {
            P.html = true;
            break;
        }
    bool starts_html = P.html;
    P.tagged = starts_html;
    for (;;) {
        struct token t;
        next(&P, &t);
        if (P.oom || t.kind == T_EOF)
            break;
        if (t.kind == T_VAR && t.n == 8 && !memcmp(t.s, "channels", 8))
            assignment(&P, &t);
    }
    if (P.in_block && !P.oom) {
        char a[SHOWN + 4];
        add_error(&P, P.block_line, "BEGIN bridge:%s without END",
                  show(a, P.block_name, P.block_len));
    }
    if (!P.oom)
        drop_duplicates(&P);
    bool fatal = false;
    for (size_t i = 0; i < out->nerrors; i++)
        fatal |= out->errors[i].fatal;
    if (!P.oom && !fatal) { /* the second pass, from the start (PHP stops at one error) */
        P.p = buf;
        P.line = 1;
        P.halted = P.have_peek = false;
        P.html = starts_html;
        judge(&P);
    }
    free_assignments(&P);
    if (P.oom) {
        channels_free(out);
        errno = ENOMEM;
        return -1;
    }
    sort_errors(out);
    return 0;
}

void channels_free(struct channels *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].name);
        free(c->items[i].command);
    }
    free(c->items);
    free(c->errors);
    memset(c, 0, sizeof(*c));
}
