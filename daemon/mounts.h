/* mounts: the mount points inside the site that walks do not cross, remembered so that each
 * is reported once (a `mount_skipped` entry) and listed by `permwatchctl status`. */
#ifndef PERMWATCH_MOUNTS_H
#define PERMWATCH_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct mounts;

/* A set remembering at most MAX mount points (relative paths). NULL with errno ENOMEM. */
struct mounts *mounts_new(size_t max);
void mounts_free(struct mounts *m);

/* RELPATH was skipped by a walk now. Returns true when it was not known yet (the caller
 * logs it); false when known, or when the set is full (counted in mounts_unlisted). */
bool mounts_note(struct mounts *m, const char *relpath);

/* A sweep: mounts_sweep_end forgets the mount points at or below PREFIX ("" for all) not
 * noted since mounts_sweep_begin (unmounted since: logged again if they come back). */
void mounts_sweep_begin(struct mounts *m);
void mounts_sweep_end(struct mounts *m, const char *prefix);

/* How many are remembered, the I-th of them (relative path), and how many did not fit. */
size_t mounts_count(const struct mounts *m);
const char *mounts_at(const struct mounts *m, size_t i);
size_t mounts_unlisted(const struct mounts *m);

/* Log the `mount_skipped` entry (notice) for the mount point ABSPATH with stat ST. */
void mounts_log(const char *abspath, const struct stat *st);

#endif
