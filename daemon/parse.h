/* parse: pure parsers for configuration values. No I/O, no allocation. */
#ifndef PERMWATCH_PARSE_H
#define PERMWATCH_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Octal permission bits "0640", "640", "2775" (at most 07777). Returns 0 or -1 (EINVAL). */
int parse_mode(const char *s, mode_t *out);

/* Duration: "0", "90" (seconds), "30s", "5m", "6h", "2d", or a sequence such as "1h30m".
 * Result in microseconds. Returns 0 or -1 (EINVAL, ERANGE). */
int parse_duration(const char *s, uint64_t *usec);

/* Boolean: yes/no, true/false, on/off, 1/0 (case-insensitive). Returns 0 or -1 (EINVAL). */
int parse_bool(const char *s, bool *out);

/* Split a comma-separated list in place: trims blanks around items, stores up to MAX item
 * pointers into ITEMS (pointing into S). Returns the count, or -1 with errno EINVAL on an
 * empty item or E2BIG when there are more than MAX. */
int parse_list(char *s, char **items, int max);

/* Room for any parse_format_duration result ("213503982d8h1m49s" at most) with its NUL. */
#define PARSE_DURATION_BUFSZ 32

/* Format duration USEC as the shortest "6h", "1h30m", "0" into BUF. Returns BUF. */
const char *parse_format_duration(uint64_t usec, char *buf, size_t len);

#endif
