/* test_catalog: packaging/permwatch.catalog against the code (issue 12): every MESSAGE_ID of
 * log.c's tables has an entry and every entry is one of them; every PERMWATCH_* field the
 * catalog names is one the daemon can write (a string literal in daemon/ .c files). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "log.h"

/* Every id the code logs: events (but none and finding) and finding kinds. Returns the count. */
static size_t code_ids(const char **ids, size_t cap)
{
    size_t n = 0;
    for (int ev = 0; ev < LOG_EVENT_COUNT; ev++)
        if (log_event_message_id((enum log_event)ev) && n < cap)
            ids[n++] = log_event_message_id((enum log_event)ev);
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        if (n < cap)
            ids[n++] = log_finding_message_id((enum finding_kind)k);
    return n;
}

Test(catalog, ids_match_the_code_both_ways)
{
    char path[PATH_MAX];
    char *cat =
        harness_slurp(harness_tests_path("../packaging/permwatch.catalog", path, sizeof(path)));
    const char *ids[LOG_EVENT_COUNT + FINDING_KIND_COUNT];
    size_t n = code_ids(ids, sizeof(ids) / sizeof(ids[0]));
    cr_assert_gt(n, (size_t)LOG_EVENT_COUNT);
    for (size_t i = 0; i < n; i++) {
        char want[48];
        snprintf(want, sizeof(want), "\n-- %s\n", ids[i]);
        cr_expect(strstr(cat, want) || strncmp(cat, want + 1, strlen(want) - 1) == 0,
                  "no catalog entry for %s", ids[i]);
    }
    size_t entries = 0;
    for (char *line = cat; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "-- ", 3) != 0)
            continue;
        entries++;
        char id[33];
        cr_assert_eq(sscanf(line + 3, "%32[0-9a-f]", id), 1, "bad entry line %.40s", line);
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known = known || strcmp(ids[i], id) == 0;
        cr_expect(known, "catalog entry %s is no id of log.c", id);
    }
    cr_expect_eq(entries, n, "catalog entries %zu, ids in the code %zu", entries, n);
    free(cat);
}

/* All daemon/ .c files sources concatenated (malloc'd). */
static char *daemon_sources(void)
{
    char dir[PATH_MAX], path[PATH_MAX * 2];
    harness_tests_path("../daemon", dir, sizeof(dir));
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    char *all = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&all, &len);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 3 || strcmp(de->d_name + l - 2, ".c") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        char *s = harness_slurp(path);
        fputs(s, m);
        free(s);
    }
    closedir(d);
    fclose(m);
    return all;
}

Test(catalog, names_only_fields_the_daemon_writes)
{
    char path[PATH_MAX];
    char *cat =
        harness_slurp(harness_tests_path("../packaging/permwatch.catalog", path, sizeof(path)));
    char *src = daemon_sources();
    size_t fields = 0;
    for (const char *p = cat; (p = strstr(p, "PERMWATCH_"));) {
        const char *name = p + strlen("PERMWATCH_");
        size_t l = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
        p = name + l;
        if (!l)
            continue;
        char lit[96], full[112];
        snprintf(lit, sizeof(lit), "\"%.*s\"", (int)l, name);
        snprintf(full, sizeof(full), "\"PERMWATCH_%.*s\"", (int)l, name);
        fields++;
        cr_expect(strstr(src, lit) || strstr(src, full),
                  "the catalog names PERMWATCH_%.*s, which no daemon source writes", (int)l, name);
    }
    cr_expect_gt(fields, 10);
    free(src);
    free(cat);
}
