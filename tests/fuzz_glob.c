/* libFuzzer target of glob_match and glob_valid. Input: PATTERN, a NUL byte, PATH (without
 * a NUL, or PATH not normalized: the pattern is matched against a few fixed paths only). Built by
 * `make fuzz` (clang) and, with tests/fuzz_replay.c, by gcc as build/tests/fuzz_glob_replay
 * that `make check` runs over tests/corpus/fuzz_glob/. Besides the sanitizers it checks:
 * glob_valid gives a reason exactly when it refuses; a pattern without special characters
 * matches exactly itself; `**` matches everything; a match is deterministic; and the work
 * stays polynomial (a time limit in the fuzzer catches exponential backtracking). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (a crash the fuzzer reports) naming the check when COND is false. */
#define check(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Whether PATH is as glob_match expects: "" or components without leading, trailing or
 * doubled '/'. */
static bool normalized(const char *path)
{
    size_t n = strlen(path);
    return n == 0 || (path[0] != '/' && path[n - 1] != '/' && !strstr(path, "//"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    const char *pattern = buf;
    size_t plen = strlen(pattern);
    const char *fixed[] = {"", "a", "wp-content/uploads/x.php", "a/b/c/d/e/f/g/h/i/j"};
    const char *paths[5];
    size_t npaths = 0;
    const char *given = pattern + plen + 1;
    if (plen < size && normalized(given)) /* PATTERN\0PATH */
        paths[npaths++] = given;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        paths[npaths++] = fixed[i];

    const char *why = NULL;
    bool valid = glob_valid(pattern, &why);
    check(valid || (why && why[0]));
    bool plain = strpbrk(pattern, "*?[\\") == NULL;
    for (size_t i = 0; i < npaths; i++) {
        bool m = glob_match(pattern, paths[i]);
        check(m == glob_match(pattern, paths[i]));
        check(glob_match("**", paths[i]));
        if (valid && plain)
            check(m == !strcmp(pattern, paths[i]));
        if (!strpbrk(paths[i], "*?[\\") && glob_valid(paths[i], &why))
            check(glob_match(paths[i], paths[i]));
    }
    free(buf);
    return 0;
}
