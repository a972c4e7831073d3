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
 * Fills *OUT (zeroed first) with every bridge found, in file order, and every problem.
 * Returns 0, or -1 with errno ENOMEM (*OUT then holds nothing). Caller frees with
 * channels_free. */
int channels_parse(const char *buf, size_t len, struct channels *out);

void channels_free(struct channels *c);

#endif
