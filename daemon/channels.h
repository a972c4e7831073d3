/* channels: the dispatch commands registered in the channels mu-plugin
 * (wp-content/mu-plugins/wp-coding-agents-channels.php). A pure parser over a buffer: no I/O,
 * never trusts the input, fuzzable. */
#ifndef PERMWATCH_CHANNELS_H
#define PERMWATCH_CHANNELS_H

#include <stddef.h>

/* One registered bridge: `$channels['NAME'] = [ 'command' => 'CMD', ... ];`. Only the name
 * and the command are kept: args, env and cwd can hold tokens and are never stored. */
struct channel {
    char *name;    /* unescaped PHP string */
    char *command; /* unescaped PHP string, as written (absolute path or bare name) */
    unsigned line; /* line of the `$channels[...]` assignment, 1-based */
};

/* Something the parser could not make sense of; the file is then a dispatch_invalid
 * finding naming LINE. */
struct channels_error {
    unsigned line;
    char message[160]; /* e.g. "unterminated string", "bridge kimaki has no 'command'" */
};

struct channels {
    struct channel *items;
    size_t n;
    struct channels_error *errors;
    size_t nerrors;
};

/* Parse the LEN bytes at BUF (need not be NUL-terminated, may hold NULs or invalid UTF-8).
 * Fills *OUT (zeroed first) with every bridge found, in file order, and every problem (sorted
 * by line; at most 100, then one "too many errors"). Returns 0, or -1 with errno ENOMEM
 * (*OUT then holds nothing; EINVAL when OUT is NULL). Caller frees with channels_free.
 *
 * What is read, in one linear pass without recursion:
 * - PHP tokens: `//`, `#` and block comments, single-quoted strings (only \\ and \'
 *   escape), double-quoted strings (\n \t \r \v \e \f \\ \$ \" \0-\777 \xHH
 *   \u{H...}; `$name`, `{$...}`, `${...}` are interpolations), backticks, heredocs and
 *   nowdocs, `?>` inline HTML up to the next `<?php`/`<?=`, nothing after __halt_compiler.
 *   The text before the first `<?php` is read as code, so a bare fragment parses.
 * - A bridge: `$channels[STR] = [ ELEMENTS ]` or `= array( ELEMENTS )`, then `;` or `?>`,
 *   anywhere in the file (inside `// BEGIN bridge:NAME` ... `// END bridge:NAME` or not).
 *   ELEMENTS: `KEY => VALUE` or `VALUE`, comma separated, trailing comma allowed, any order.
 *   The value of the key 'command' must be one plain string literal; every other value is
 *   skipped whole (nested brackets, closures, strings), never decoded nor stored.
 * - Other uses of $channels (reads, `.=`, `[$k] = $v`, `->channels`) are not registrations.
 * A bridge with an error of its own is dropped; marker errors and a missing `;` keep it. A
 * name assigned twice keeps the first assignment (PHP would keep the last: an error either
 * way). A 'command' key given twice keeps the last value, as PHP does, with an error.
 *
 * Each error names a line: where a string, comment or marker starts; the `$channels` line
 * for a bridge's name, structure, missing command, duplicate and marker mismatch; the value's
 * line for a 'command' error; the bracket's line for a bracket error. Messages (NAME and X
 * are names shown at most 48 bytes, non-printable bytes as '?'):
 *   unterminated string | unterminated comment | unterminated heredoc
 *   string nesting deeper than 64 | NUL byte outside a string
 *   bridge name is not a string literal | bridge name is empty | bridge name holds a NUL byte
 *   bridge name has an invalid \u{} escape
 *   bridge NAME: value is not an array literal | bridge NAME: unterminated array
 *   bridge NAME: mismatched ')' | bridge NAME: nesting deeper than 64
 *   bridge NAME: expected ';' after the array | bridge NAME has no 'command'
 *   bridge NAME: 'command' is not a plain string literal
 *   bridge NAME: 'command' interpolates a variable | bridge NAME: 'command' given twice
 *   bridge NAME: 'command' holds a NUL byte | bridge NAME: invalid \u{} escape in 'command'
 *   duplicate bridge NAME (first at line N) | bridge NAME is inside BEGIN bridge:X (line N)
 *   BEGIN bridge:X without END | END bridge:X without BEGIN
 *   END bridge:X does not match BEGIN bridge:Y (line N) | BEGIN (or END) marker without a bridge
 * name too many errors, the rest are not reported */
int channels_parse(const char *buf, size_t len, struct channels *out);

/* Free everything C holds and zero it. Safe on a zeroed struct, twice, and on NULL. */
void channels_free(struct channels *c);

#endif
