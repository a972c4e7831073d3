/* channels: the dispatch commands registered in the channels mu-plugin
 * (wp-content/mu-plugins/wp-coding-agents-channels.php). A pure parser over a buffer: no I/O,
 * never trusts the input, fuzzable. */
#ifndef PERMWATCH_CHANNELS_H
#define PERMWATCH_CHANNELS_H

#include <stdbool.h>
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
    bool fatal;        /* PHP cannot parse the file (a syntax error): every request fails */
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
 *   A buffer holding an open tag starts in inline HTML, as PHP reads a file; one without any
 *   is read as code from its first byte, so a bare fragment parses.
 * - A bridge: `$channels[STR] = [ ELEMENTS ]` or `= array( ELEMENTS )`, then `;` or `?>`,
 *   anywhere in the file (inside `// BEGIN bridge:NAME` ... `// END bridge:NAME` or not).
 *   ELEMENTS: `KEY => VALUE` or `VALUE`, comma separated, trailing comma allowed, any order.
 *   The value of the key 'command' must be one plain string literal; every other value is
 *   skipped whole (nested brackets, closures, strings), never decoded nor stored.
 * - Lines end with LF, CRLF or a lone CR (as PHP counts them). Marker names run to the end
 *   of the comment (spaces included) and are unescaped like a single-quoted string (\\ and
 *   \'), as upstream writes them.
 * A bridge with an error of its own is dropped; marker errors and a missing `;` keep it. A
 * name assigned again replaces the earlier assignment, as PHP does (no error). A 'command'
 * key given twice keeps the last value, as PHP does, with an error.
 *
 * Then a second pass over the whole file (skipped when the first found a syntax error) says
 * what PHP would do with it (issue 11): either the map above is exactly PHP's, or an error:
 * - a syntax error (brackets that do not match or stay open, a `;` inside `[...]` or
 *   `(...)` but for `for`, two values in a row as in a missing `;`, `=`/`=>` without a
 *   value, `{` where a value is expected) is fatal: "PHP cannot parse it: unexpected X";
 *   unterminated strings, comments, heredocs and arrays, NUL bytes in code are fatal too;
 * - anything that is not a plain literal registration inside the callback of
 *   add_filter('datamachine_code_cli_channels' (or 'datamachine_channels'), function
 *   ($channels) {...}) is "cannot be judged statically: WHAT": another use of $channels
 *   (sub-key assignment, `.=`, `+=`, `=`, unset, array_merge, foreach, reads), a `return`
 *   other than the last `return $channels;` before the callback's `}`, a bridge outside that
 *   callback, `exit` but after `||`, and the words if else elseif switch case for foreach
 *   while do match goto unset eval include(_once) require(_once) global static yield throw
 *   array_merge remove_filter remove_all_filters anywhere outside a bridge's array. A buffer
 *   without any `<?php` tag is read as the body of that callback (the unit tests' fragments).
 * Only the first syntax error is reported (PHP stops there); a judgement is not repeated on
 * a line that already has an error.
 *
 * Each error names a line: where a string, comment or marker starts; the `$channels` line
 * for a bridge's name, structure, missing command, duplicate and marker mismatch; the value's
 * line for a 'command' error; the bracket's line for a bracket error. Messages (NAME and X
 * are names shown at most 48 bytes cut on a UTF-8 boundary, control bytes as '?', bytes
 * from 0x80 kept: the caller escapes them with esc_*):
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
 *   bridge NAME is inside BEGIN bridge:X (line N)
 *   PHP cannot parse it: unexpected X | cannot be judged statically: WHAT
 *   BEGIN bridge:X without END | END bridge:X without BEGIN
 *   END bridge:X does not match BEGIN bridge:Y (line N) | BEGIN (or END) marker without a bridge
 * name too many errors, the rest are not reported */
int channels_parse(const char *buf, size_t len, struct channels *out);

/* Free everything C holds and zero it. Safe on a zeroed struct, twice, and on NULL. */
void channels_free(struct channels *c);

#endif
