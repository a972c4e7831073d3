/* client: permwatchctl's logic (ctl.c only calls client_main). Speaks proto.h over the
 * control socket: one request, then rows until the end line. */
#ifndef PERMWATCH_CLIENT_H
#define PERMWATCH_CLIENT_H

#include <stdbool.h>
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

/* Where the instances' sockets live: NAME.sock for the template unit permwatchd@NAME
 * (permwatchd@.socket), control.sock for the single-site unit. */
#define CLIENT_RUN_DIR "/run/permwatch"

/* Whether NAME may name an instance (--site NAME): [A-Za-z0-9_.@-]+, not starting with '.',
 * at most 64 bytes. */
bool client_site_valid(const char *name);

/* DIR/NAME.sock into BUF. Returns 0, or -1 with errno EINVAL (NAME not valid) or
 * ENAMETOOLONG (does not fit LEN or a sockaddr_un). */
int client_site_socket(const char *dir, const char *name, char *buf, size_t len);

/* The instances of DIR: the names NAME of its unix sockets NAME.sock with a valid NAME
 * ("control" for control.sock), sorted, in a NULL-terminated malloc'd array (free with
 * client_names_free) and *N. A missing DIR is an empty list. NULL on ENOMEM or an unreadable
 * DIR (errno). */
char **client_instances(const char *dir, size_t *n);
void client_names_free(char **names);

/* The socket to use without -s/--site: DEFAULT_SOCKET when it exists, or when DIR holds no
 * instance socket other than control.sock (the connect then says the daemon is not
 * reachable); the only instance's socket when there is one; with several, MSG says which
 * ("several permwatch instances run here: a, b; pick one with --site NAME") and the return
 * is 2 (usage). Returns 0 with the path in BUF (LEN bytes), or the exit code. */
int client_choose_socket(const char *dir, const char *default_socket, char *buf, size_t len,
                         char *msg, size_t msglen);

/* Print ROWS (an array of objects) to OUT as a table: one column per key in order of first
 * appearance ("message" last), uppercase headers, control characters shown as '?'. */
void client_print_table(const json_t *rows, FILE *out);

/* Print the single object ROW as "key: value" lines. */
void client_print_record(const json_t *row, FILE *out);

/* Where the policies live: permwatch.ini (the single-site unit), NAME.ini (permwatchd@NAME). */
#define CLIENT_CONF_DIR "/etc/permwatch"

/* permwatchctl metrics --textfile FILE: the metrics of every site of the host (the sockets of
 * RUN_DIR and the policies of CONF_DIR: NAME.sock / NAME.ini; "default" for control.sock or
 * permwatch.ini) in one Prometheus text file for the node exporter's textfile collector:
 * each family's HELP/TYPE once, every sample labelled site="NAME", permwatch_up{site} 1 or 0
 * (no answer within 10 s: 0, the others still written). Written to FILE.tmp (0644), renamed
 * to FILE. Returns 0, or 1 when FILE could not be written (reason on stderr). */
int client_textfile(const char *run_dir, const char *conf_dir, const char *file);

#endif
