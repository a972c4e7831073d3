/* libFuzzer target of config_load_string (the policy loader over inih's ini_parse_string).
 * Built by `make fuzz` (clang) and, with tests/fuzz_replay.c, by gcc as
 * build/tests/fuzz_config_replay that `make check` runs over tests/corpus/fuzz_config/.
 * Besides the sanitizers it checks what holds for any input: a load either succeeds with a
 * config whose invariants hold, or fails with an error whose message is set; a config that
 * loaded prints (config_print) as INI that loads back to the same rules. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (a crash the fuzzer reports) naming the check when COND is false. */
#define check(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Check the loaded config C's invariants (config.h's comments). */
static void check_config(const struct config *c)
{
    check(c->site_root && c->site_root[0] == '/');
    check(c->web_user && c->control_socket && c->channels_file && c->dispatch_path);
    for (size_t i = 0; i < c->nrules; i++) {
        const struct rule *r = &c->rules[i];
        check(r->name && r->nmatch >= 1);
        check(!(r->file_require & r->file_forbid) && !(r->dir_require & r->dir_forbid));
        check((r->file_require | r->file_forbid | r->dir_require | r->dir_forbid) <= 07777);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct config *c = NULL;
    struct config_error err;
    memset(&err, 0x5a, sizeof(err));
    if (config_load_string(text, "<fuzz>", &c, &err) < 0) {
        check(c == NULL);
        check(memchr(err.message, '\0', sizeof(err.message)) && err.message[0] != '\0');
        char buf[1024];
        check(config_error_format(&err, buf, sizeof(buf)) == buf);
        free(text);
        return 0;
    }
    check(c != NULL);
    check_config(c);
    /* the effective policy printed back must load again to the same rules */
    char *printed = NULL;
    size_t plen = 0;
    FILE *f = open_memstream(&printed, &plen);
    if (f) {
        config_print(c, f);
        if (fclose(f) == 0) {
            struct config *d = NULL;
            check(config_load_string(printed, "<printed>", &d, &err) == 0);
            check(d->nrules == c->nrules && !strcmp(d->site_root, c->site_root));
            for (size_t i = 0; i < c->nrules; i++) {
                check(!strcmp(d->rules[i].name, c->rules[i].name));
                check(d->rules[i].nmatch == c->rules[i].nmatch);
                check(d->rules[i].file_require == c->rules[i].file_require);
                check(d->rules[i].file_forbid == c->rules[i].file_forbid);
                check(d->rules[i].ignore == c->rules[i].ignore);
            }
            config_free(d);
        }
        free(printed);
    }
    config_free(c);
    free(text);
    return 0;
}
