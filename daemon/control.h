/* control: the daemon side of the control socket, on the daemon's libev loop. Protocol in
 * proto.h. One request per connection: the server reads one line, answers it (rows, then an
 * end line) and closes; bytes after the first newline are ignored.
 *
 * Nothing here ever blocks the loop: sockets are non-blocking, input is bounded by
 * PROTO_MAX_REQUEST, a reply by CONTROL_MAX_REPLY, and a client that makes no progress
 * (silent, half-sent request, not reading its reply) for CONTROL_IDLE_TIMEOUT seconds is
 * dropped. Handlers run synchronously on the loop and must be quick.
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

#define CONTROL_MAX_CLIENTS  256                /* beyond: one error line, then closed */
#define CONTROL_MAX_REPLY    (4u * 1024 * 1024) /* bytes of reply buffered per client */
#define CONTROL_IDLE_TIMEOUT 10.0               /* seconds without progress before a drop */

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

/* Rows added so far. */
size_t control_reply_rows(const struct control_reply *rep);

/* A command of the table. The handler adds rows and returns the end line's exit code
 * (0..255, see enum proto_exit; a negative return is reported as exit 1 "internal error"
 * unless an error message was set). */
struct control_command {
    const char *name;
    const char *usage; /* e.g. "findings [--kind KIND] [PATH]", returned with usage errors */
    unsigned flags;    /* CONTROL_READ_ONLY */
    int (*handler)(void *ctx, const struct control_request *req, struct control_reply *rep);
};

struct control;

/* Listen on C->control_socket (or on the unix stream socket systemd passed, see control.c)
 * and serve TABLE[0..N) (borrowed, must outlive the server) on EV, calling handlers with
 * CTX. C is only read during the call (path, control_gid). Returns NULL with errno (and an
 * error logged) when the socket cannot be set up; EADDRINUSE: another server is listening. */
struct control *control_new(struct ev_loop *ev, const struct config *c,
                            const struct control_command *table, size_t n, void *ctx);

/* Connected clients right now. */
size_t control_clients(const struct control *ctl);

/* Close every client and the listening socket, remove the socket file if this server created
 * it (and it is still the same file), free CTL. NULL is fine. */
void control_free(struct control *ctl);

#endif
