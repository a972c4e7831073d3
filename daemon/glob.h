/* glob: path patterns of the policy's `match` key. Pure functions, no I/O. */
#ifndef PERMWATCH_GLOB_H
#define PERMWATCH_GLOB_H

#include <stdbool.h>

/* Match PATH (relative to the site root, components separated by single '/', no leading or
 * trailing '/', "" for the root itself) against PATTERN:
 *   `*` any run of characters within one component (also empty), `?` one character but '/',
 *   `[abc]`, `[a-z]`, `[!a-z]`/`[^a-z]` one character of a set (never '/'),
 *   `\x` the character x literally,
 *   `**` as a whole component: zero or more components, so a pattern ending in a `**`
 *   component also matches its parent directory itself, `**` alone matches everything
 *   including "", and a leading `**` component matches at any depth.
 * A leading '.' is not special. Runs in O(len(pattern) * len(path)) at worst. */
bool glob_match(const char *pattern, const char *path);

/* Check PATTERN's syntax. Returns true when valid; otherwise false with *why set to a static
 * message (unterminated `[`, trailing `\`, `**` not a whole component, leading '/', empty). */
bool glob_valid(const char *pattern, const char **why);

#endif
