/* control: the daemon side of the control socket, on the daemon's libev loop. Protocol in
 * proto.h. One request per connection: the server reads one line, answers it (rows, then an
 * end line) and closes; bytes after the first newline are ignored.
 *
 * Nothing here ever blocks the loop: sockets are non-blocking, input is bounded by
 * PROTO_MAX_REQUEST, and a client that makes no progress (silent, half-sent request, not
 * reading its reply) for CONTROL_IDLE_TIMEOUT seconds is dropped. Handlers run synchronously
 * on the loop and must be quick.
 *
 * Replies come in two ways. A small one is built whole by its handler (status, metrics,
 * dispatch, reload, repair): at most CONTROL_MAX_REPLY bytes for one client, and at most
 * CONTROL_MAX_BUFFERED bytes for all such replies together (beyond either: truncated, exit 1).
 * A reply that may be large (findings, scan) is a generator (control_reply_generate): it is
 * produced in slices as the client drains it. A slice runs only once everything buffered for
 * that client went into its socket, and stops once the buffer holds 7/8 of
 * CONTROL_CLIENT_BUFFER, or after CONTROL_SLICE_ROWS rows or CONTROL_SLICE_USEC, whichever
 * comes first. One slice per client per loop iteration, and none once this iteration's slices
 * took CONTROL_ITER_USEC (the others wait for the next iteration): the loop spends at most
 * CONTROL_ITER_USEC + one slice per iteration on replies, whatever the clients. A client that
 * does not read holds at most CONTROL_CLIENT_BUFFER plus one row (rows are at most
 * PROTO_MAX_REPLY_LINE; a finding's row is a few KiB) and costs no loop time until its socket
 * is writable again. Reply memory in all is therefore at most CONTROL_MAX_BUFFERED +
 * CONTROL_MAX_CLIENTS * (CONTROL_CLIENT_BUFFER + longest row + an end line): 16 MiB + 256 *
 * ~80 KiB, ~36 MiB, for finding rows.
 *
 * Authorization by the peer's credentials as the kernel recorded them at connect time
 * (SO_PEERCRED, SO_PEERGROUPS): root runs every command; a peer whose primary or
 * supplementary groups include control_gid runs CONTROL_READ_ONLY commands only; everyone
 * else gets {"exit":4,"error":"permission denied"} before its request is read. Any lookup
 * failure refuses (fail closed). */
#ifndef PERMWATCH_CONTROL_H
#define PERMWATCH_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ev.h>
#include <jansson.h>

#include "config.h"

#define CONTROL_MAX_CLIENTS   256                 /* beyond: one error line, then closed */
#define CONTROL_MAX_REPLY     (4u * 1024 * 1024)  /* bytes of a whole reply, per client */
#define CONTROL_IDLE_TIMEOUT  10.0                /* seconds without progress before a drop */
#define CONTROL_MAX_BUFFERED  (16u * 1024 * 1024) /* bytes of whole replies, all clients */
#define CONTROL_CLIENT_BUFFER (64u * 1024)        /* a generator's buffer, per client */
#define CONTROL_SLICE_ROWS    64                  /* rows per slice of a generator */
#define CONTROL_SLICE_USEC    1000                /* microseconds per slice of a generator */
#define CONTROL_ITER_USEC     20000               /* slices of all clients per loop iteration */

/* A command may be run by members of control_group (otherwise: root only). */
#define CONTROL_READ_ONLY 1u

/* What a handler gets: the command, its arguments (an object, never NULL, borrowed for the
 * call) and who asks. */
struct control_request {
    const char *cmd;
    const json_t *args;
    uid_t uid; /* SO_PEERCRED, at connect time */
    gid_t gid;
    pid_t pid;
    bool root; /* uid 0: may run everything */
};

/* The reply being built; rows are serialized as they are added. */
struct control_reply;

/* Add ROW (an object; the reference is stolen, also on failure). Returns 0, or -1 when the
 * reply is full (errno ENOBUFS: the reply ends with exit 1 and a "reply truncated" error;
 * the handler should stop adding) or ROW is not an object or too big (EINVAL, E2BIG). */
int control_reply_row(struct control_reply *rep, json_t *row);

/* Set the end line's error message (printf-style; the last call wins). */
void control_reply_error(struct control_reply *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Rows added so far (in a generator: since the reply began). */
size_t control_reply_rows(const struct control_reply *rep);

/* Whether the caller may add another row now: in a handler, until the reply is full; in a
 * generator's slice, until the slice's budget (buffer, rows, time; see above) is spent. A
 * generator stops adding when this says false and resumes at its next call. */
bool control_reply_room(struct control_reply *rep);

/* A generator: adds the next rows of the reply while control_reply_room says so, and returns
 * CONTROL_MORE to be called again once the client drained its buffer, or the end line's exit
 * code (0..255; negative: exit 1 "internal error" unless an error was set) when done. CTX is
 * the server's, STATE the generator's own. */
#define CONTROL_MORE 256
typedef int (*control_gen_fn)(void *ctx, void *state, struct control_reply *rep);

/* Called by a handler: the rest of the reply comes from GEN(ctx, STATE, rep), first called
 * once the handler returned (whose return value is then ignored) and the socket is writable.
 * FREE(STATE) runs when the reply ends or the client goes (FREE may be NULL). Rows the handler
 * added before come first. Returns 0, or -1 (EINVAL: NULL GEN or already set; STATE is
 * freed with FREE then). */
int control_reply_generate(struct control_reply *rep, control_gen_fn gen, void (*free_fn)(void *),
                           void *state);

/* A command of the table. The handler adds rows and returns the end line's exit code
 * (0..255, see enum proto_exit; a negative return is reported as exit 1 "internal error"
 * unless an error message was set), or hands the reply to a generator. */
struct control_command {
    const char *name;
    const char *usage; /* e.g. "findings [--kind KIND] [PATH]", returned with usage errors */
    unsigned flags;    /* CONTROL_READ_ONLY */
    int (*handler)(void *ctx, const struct control_request *req, struct control_reply *rep);
};

struct control;

/* The number of sockets systemd passed (socket activation), asked once: sd_listen_fds(1)
 * unsets LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES (children never see them) and marks the
 * descriptors close-on-exec. main() calls it before any thread starts (unsetenv). */
int control_listen_fds(void);

/* Listen on C->control_socket (or on the unix stream socket systemd passed, see control.c)
 * and serve TABLE[0..N) (borrowed, must outlive the server) on EV, calling handlers with
 * CTX. C is only read during the call (path, control_gid). Returns NULL with errno (and an
 * error logged) when the socket cannot be set up; EADDRINUSE: another server is listening. */
struct control *control_new(struct ev_loop *ev, const struct config *c,
                            const struct control_command *table, size_t n, void *ctx);

/* Reload: apply C's control_group to CTL (the daemon's own check at once; the socket file's
 * group and mode, 0660 or 0600, when this server bound it). Returns 0 (applied or unchanged),
 * or -1 with WHY (LEN bytes) saying what stays as it was (a socket from systemd, a file not
 * ours any more, a failed chown/chmod); the daemon's check is applied in every case. */
int control_reconfigure(struct control *ctl, const struct config *c, char *why, size_t len);

/* Connected clients right now. */
size_t control_clients(const struct control *ctl);

/* Close every client and the listening socket, remove the socket file if this server created
 * it (and it is still the same file), free CTL. NULL is fine. */
void control_free(struct control *ctl);

#endif
