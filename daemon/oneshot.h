/* oneshot: the one-shot commands of permwatchd (--check-config, --scan). */
#ifndef PERMWATCH_ONESHOT_H
#define PERMWATCH_ONESHOT_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

/* Exit codes of --scan (PRODUCT.md). */
enum { SCAN_EXIT_CLEAN = 0, SCAN_EXIT_FINDINGS = 1, SCAN_EXIT_ERROR = 2 };

struct scan_options {
    const char *path; /* NULL: the whole site */
    bool json;        /* one JSON object per line instead of readable lines */
    bool journal;     /* also log each finding to the journal */
};

/* Audit the site of C as OPTS says, printing findings to OUT and a summary to stderr.
 * Returns SCAN_EXIT_CLEAN, SCAN_EXIT_FINDINGS, or SCAN_EXIT_ERROR when the site or PATH
 * cannot be read or part of the tree could not be read. */
int oneshot_scan(const struct config *c, const struct scan_options *opts, FILE *out);

/* --scan --repair [--dry-run] [PATH]: repair the site (or PATH below it) by the policy (auto
 * and manual rules), one line per change and refusal on OUT, a summary on stderr; each
 * change and refusal also to the journal when JOURNAL. Returns a REPAIR_EXIT_* code. */
int oneshot_repair(const struct config *c, const char *path, bool dry_run, bool journal, FILE *out);

/* Validate the file PATH and print its effective policy to OUT. Returns 0 when valid, 1
 * otherwise (the error goes to stderr, naming file, line and key). */
int oneshot_check_config(const char *path, FILE *out);

#endif
