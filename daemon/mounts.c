/* mounts: a small array of relative paths with a seen mark per sweep (mount points inside a
 * site are few; linear search is enough). */
#include "mounts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <syslog.h>

#include "log.h"

struct mount_item {
    char *relpath;
    bool seen;
};

struct mounts {
    struct mount_item *items;
    size_t n, cap, max, unlisted;
};

struct mounts *mounts_new(size_t max)
{
    struct mounts *m = calloc(1, sizeof(*m));
    if (m)
        m->max = max;
    return m;
}

void mounts_free(struct mounts *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->items[i].relpath);
    free(m->items);
    free(m);
}

bool mounts_note(struct mounts *m, const char *relpath)
{
    if (!m)
        return false;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->items[i].relpath, relpath) == 0) {
            m->items[i].seen = true;
            return false;
        }
    if (m->n == m->max) {
        m->unlisted++;
        return false;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct mount_item *p = realloc(m->items, cap * sizeof(*p));
        if (!p)
            return m->unlisted++, false;
        m->items = p;
        m->cap = cap;
    }
    char *s = strdup(relpath);
    if (!s)
        return m->unlisted++, false;
    m->items[m->n++] = (struct mount_item){s, true};
    return true;
}

void mounts_sweep_begin(struct mounts *m)
{
    for (size_t i = 0; m && i < m->n; i++)
        m->items[i].seen = false;
    if (m)
        m->unlisted = 0;
}

void mounts_sweep_end(struct mounts *m, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; m && i < m->n;) {
        const char *p = m->items[i].relpath;
        bool below = !n || (strncmp(p, prefix, n) == 0 && (p[n] == '\0' || p[n] == '/'));
        if (below && !m->items[i].seen) {
            free(m->items[i].relpath);
            m->items[i] = m->items[--m->n];
        } else {
            m->items[i++].seen = true;
        }
    }
}

size_t mounts_count(const struct mounts *m)
{
    return m ? m->n : 0;
}

const char *mounts_at(const struct mounts *m, size_t i)
{
    return m && i < m->n ? m->items[i].relpath : NULL;
}

size_t mounts_unlisted(const struct mounts *m)
{
    return m ? m->unlisted : 0;
}

void mounts_log(const char *abspath, const struct stat *st)
{
    char dev[32];
    snprintf(dev, sizeof(dev), "%u:%u", major(st->st_dev), minor(st->st_dev));
    struct log_field fields[] = {{"PATH", abspath}, {"DEVICE", dev}};
    log_event(LOG_EVENT_MOUNT_SKIPPED, LOG_NOTICE, fields, 2,
              "mount point %s (device %s) is not crossed: nothing below it is audited, watched "
              "or repaired",
              abspath, dev);
}
