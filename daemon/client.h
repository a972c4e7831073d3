/* client: permwatchctl's logic (ctl.c only calls client_main). Speaks proto.h over the
 * control socket: one request, then rows until the end line. */
#ifndef PERMWATCH_CLIENT_H
#define PERMWATCH_CLIENT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Run permwatchctl with ARGV; returns its exit code (enum proto_exit). */
int client_main(int argc, char **argv);

/* PATH made absolute lexically against CWD (no realpath, no file system access): "." and
 * empty components dropped, ".." kept (the daemon refuses it). Returns 0, or -1 with errno
 * ENAMETOOLONG when it does not fit LEN, EINVAL for an empty PATH or a relative CWD. */
int client_abspath(const char *path, const char *cwd, char *buf, size_t len);

/* control_socket of [daemon] in the INI file INI, into BUF. Returns 0, or -1 when the file
 * is unreadable or does not set it (a line scan only: the file is not validated). */
int client_config_socket(const char *ini, char *buf, size_t len);

/* Print ROWS (an array of objects) to OUT as a table: one column per key in order of first
 * appearance ("message" last), uppercase headers, control characters shown as '?'. */
void client_print_table(const json_t *rows, FILE *out);

/* Print the single object ROW as "key: value" lines. */
void client_print_record(const json_t *row, FILE *out);

#endif
