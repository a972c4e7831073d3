/* libFuzzer target of channels_parse. Built by `make fuzz` (clang; runs FUZZ_SECONDS from
 * tests/corpus/fuzz_channels/) and, with tests/fuzz_replay.c, by gcc as
 * build/tests/fuzz_channels_replay that `make check` runs over that corpus.
 *
 * (clang and libclang-rt-14-dev on Debian 12.) Besides the sanitizers, it checks what holds
 * for any input: the output is well formed, lines are within the file, errors are sorted, and
 * a second parse of the same bytes gives the same result (no hidden state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct channels a, b;
    unsigned lines = 1;
    for (size_t i = 0; i < size; i++) /* LF, CRLF or a lone CR */
        lines += data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'));
    if (channels_parse((const char *)data, size, &a) != 0)
        return 0; /* ENOMEM: nothing to check */
    for (size_t i = 0; i < a.n; i++) {
        check(a.items[i].name && a.items[i].command);
        check(a.items[i].name[0] != '\0');
        check(a.items[i].line >= 1 && a.items[i].line <= lines);
        check(i == 0 || a.items[i - 1].line <= a.items[i].line);
    }
    check(a.nerrors <= 101);
    for (size_t i = 0; i < a.nerrors; i++) {
        check(memchr(a.errors[i].message, '\0', sizeof(a.errors[i].message)) != NULL);
        check(a.errors[i].line >= 1 && a.errors[i].line <= lines);
        check(i == 0 || a.errors[i - 1].line <= a.errors[i].line);
    }
    if (channels_parse((const char *)data, size, &b) == 0) {
        check(a.n == b.n && a.nerrors == b.nerrors);
        for (size_t i = 0; i < a.n; i++)
            check(!strcmp(a.items[i].name, b.items[i].name) &&
                  !strcmp(a.items[i].command, b.items[i].command) &&
                  a.items[i].line == b.items[i].line);
        for (size_t i = 0; i < a.nerrors; i++)
            check(a.errors[i].line == b.errors[i].line &&
                  !strcmp(a.errors[i].message, b.errors[i].message));
        channels_free(&b);
    }
    channels_free(&a);
    return 0;
}
