/* control: the control socket's server (see control.h).
 *
 * A client's life: accepted (non-blocking) -> credentials read and its role decided at once
 * (a refused peer gets its end line without our reading a byte of it) -> READING one line
 * into a buffer that grows up to PROTO_MAX_REQUEST + 1 -> the line parsed, authorized and
 * handled synchronously; rows and the end line go to the output buffer -> WRITING until
 * the buffer is empty -> closed. A timer, restarted on every byte of progress either way,
 * drops a client idle for CONTROL_IDLE_TIMEOUT.
 *
 * A handler that set a generator leaves the client GENERATING: each time its socket is
 * writable and everything buffered went out, one slice of the generator runs (bounded by
 * control_reply_room), its rows are sent, and so on until the generator returns an exit code;
 * then the end line is queued and the client is WRITING as above. A client that stops reading
 * leaves its socket unwritable: no slice runs and the idle timer drops it.
 *
 * Memory: whole replies count in ctl->whole_pending (bytes queued and not yet sent), capped at
 * CONTROL_MAX_BUFFERED; a generating client's buffer is capped by its slices instead.
 *
 * Group membership comes from SO_PEERGROUPS (Linux >= 4.13): the supplementary groups the
 * kernel recorded for the peer at connect(), like SO_PEERCRED. Not getgrouplist(): that asks
 * NSS (may block on LDAP, inside the loop) and reflects the group database, not the peer
 * process (which may have dropped or gained groups). Not /proc/PID/status: the pid may
 * have exited and been reused since connect(). Errors refuse. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "account.h"
#include "log.h"
#include "proto.h"

/* Room kept in the output buffer for the end line, whatever the rows took. */
#define END_RESERVE 1024
/* First size of a client's input buffer; it doubles up to PROTO_MAX_REQUEST + 1. */
#define IN_INITIAL 1024
/* After accept fails for lack of descriptors, wait this long before accepting again. */
#define ACCEPT_RETRY 1.0

enum client_role { ROLE_NONE, ROLE_READ_ONLY, ROLE_ROOT };

struct control_reply {
    struct client *c;
    const char *cmd; /* the command's name */
    size_t rows;
    bool full;
    char error[512];
    control_gen_fn gen; /* set: the reply is generated in slices */
    void (*gen_free)(void *);
    void *gen_state;
    bool slicing; /* a slice runs: control_reply_room applies its budget */
    size_t slice_rows;
    struct timespec slice_start;
};

struct client {
    struct control *ctl;
    struct client *prev, *next;
    int fd;
    ev_io io;
    ev_timer timer;
    struct ucred cred;
    enum client_role role;
    char *in; /* request bytes received so far */
    size_t inlen, incap;
    char *out; /* reply bytes not yet sent: out[outoff..outlen) */
    size_t outlen, outoff, outcap;
    bool counted; /* out's pending bytes count in ctl->whole_pending (not a generator) */
    bool replied; /* the end line is queued: no more reading */
    struct control_reply rep;
};

struct control {
    struct ev_loop *ev;
    int fd;
    ev_io accept_io;
    ev_timer accept_retry;
    char *path; /* socket file we created (removed by control_free), else NULL */
    dev_t dev;  /* identity of that file */
    ino_t ino;
    bool use_group;
    gid_t gid;
    const struct control_command *table;
    size_t n;
    void *ctx;
    struct client *clients;
    size_t nclients;
    size_t whole_pending; /* bytes of whole replies queued, all clients */
    ev_tstamp iter_now;   /* ev_now of the loop iteration that iter_usec counts */
    long long iter_usec;  /* spent in generator slices in that iteration */
};

/* ---- clients --------------------------------------------------------------------------- */

/* Unlink C from its server, stop its watchers, close and free it. */
static void client_close(struct client *c)
{
    struct control *ctl = c->ctl;
    ev_io_stop(ctl->ev, &c->io);
    ev_timer_stop(ctl->ev, &c->timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        ctl->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ctl->nclients--;
    if (c->counted)
        ctl->whole_pending -= c->outlen - c->outoff;
    if (c->rep.gen_free)
        c->rep.gen_free(c->rep.gen_state);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Append LEN bytes to C's output; LIMIT caps C's pending bytes, and a counted (whole) reply
 * also the server's total unless END (an end line, which has its reserve). Returns 0, or -1
 * (ENOBUFS over a limit, ENOMEM). */
static int client_append(struct client *c, const char *data, size_t len, size_t limit, bool end)
{
    size_t pending = c->outlen - c->outoff;
    if (pending + len > limit)
        return errno = ENOBUFS, -1;
    if (c->counted && !end && c->ctl->whole_pending + len > CONTROL_MAX_BUFFERED)
        return errno = ENOBUFS, -1;
    if (c->outoff && (pending == 0 || c->outlen + len > c->outcap)) {
        memmove(c->out, c->out + c->outoff, pending);
        c->outoff = 0;
        c->outlen = pending;
    }
    if (c->outlen + len > c->outcap) {
        size_t need = c->outlen + len, cap = c->outcap ? c->outcap : 4096;
        while (cap < need)
            cap *= 2;
        if (!c->counted && cap > CONTROL_CLIENT_BUFFER && need <= CONTROL_CLIENT_BUFFER)
            cap = CONTROL_CLIENT_BUFFER;
        char *p = realloc(c->out, cap);
        if (!p)
            return errno = ENOMEM, -1;
        c->out = p;
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
    if (c->counted)
        c->ctl->whole_pending += len;
    return 0;
}

/* The most C may have pending before a row is refused: a whole reply's cap, or for a
 * generator its buffer plus one row of any size (its slices keep it to the buffer). */
static size_t client_limit(const struct client *c)
{
    return c->counted ? CONTROL_MAX_REPLY : CONTROL_CLIENT_BUFFER + PROTO_MAX_REPLY_LINE + 1;
}

/* Queue the end line (EXIT, ERROR) for C, stop reading and start writing. When even that
 * cannot be queued (no memory), close C. Returns false when C was closed. */
static bool client_finish(struct client *c, int exit_code, const char *error)
{
    size_t len;
    char *line = proto_build_end(exit_code, error, &len);
    int rc = line ? client_append(c, line, len, client_limit(c) + END_RESERVE, true) : -1;
    free(line);
    if (rc < 0) {
        client_close(c);
        return false;
    }
    if (c->rep.gen_free)
        c->rep.gen_free(c->rep.gen_state);
    c->rep.gen = NULL;
    c->rep.gen_free = NULL;
    c->rep.gen_state = NULL;
    c->replied = true;
    ev_io_stop(c->ctl->ev, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(c->ctl->ev, &c->io);
    return true;
}

int control_reply_row(struct control_reply *rep, json_t *row)
{
    if (rep->full) {
        json_decref(row);
        return errno = ENOBUFS, -1;
    }
    size_t len;
    char *line = proto_build_row(row, &len);
    json_decref(row);
    if (!line)
        return -1;
    int rc = client_append(rep->c, line, len, client_limit(rep->c), false);
    free(line);
    if (rc < 0) {
        rep->full = true;
        return errno = ENOBUFS, -1;
    }
    rep->rows++;
    rep->slice_rows += rep->slicing;
    return 0;
}

bool control_reply_room(struct control_reply *rep)
{
    if (rep->full)
        return false;
    if (!rep->slicing)
        return true;
    const struct client *c = rep->c;
    if (c->outlen - c->outoff >= CONTROL_CLIENT_BUFFER - CONTROL_CLIENT_BUFFER / 8 ||
        rep->slice_rows >= CONTROL_SLICE_ROWS)
        return false;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long us = (now.tv_sec - rep->slice_start.tv_sec) * 1000000LL +
                   (now.tv_nsec - rep->slice_start.tv_nsec) / 1000;
    return us < CONTROL_SLICE_USEC;
}

int control_reply_generate(struct control_reply *rep, control_gen_fn gen, void (*free_fn)(void *),
                           void *state)
{
    if (!gen || rep->gen) {
        if (free_fn)
            free_fn(state);
        return errno = EINVAL, -1;
    }
    rep->gen = gen;
    rep->gen_free = free_fn;
    rep->gen_state = state;
    return 0;
}

void control_reply_error(struct control_reply *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->error, sizeof(rep->error), fmt, ap);
    va_end(ap);
}

size_t control_reply_rows(const struct control_reply *rep)
{
    return rep->rows;
}

/* The table entry named NAME, or NULL. */
static const struct control_command *control_find(const struct control *ctl, const char *name)
{
    for (size_t i = 0; i < ctl->n; i++)
        if (strcmp(ctl->table[i].name, name) == 0)
            return &ctl->table[i];
    return NULL;
}

/* Queue the end line of C's reply for the handler's or generator's return RC (of command
 * NAME): a full reply and a bad RC become exit 1 with a message. Returns false when C was
 * closed. */
static bool client_end(struct client *c, int rc, const char *name)
{
    struct control_reply *rep = &c->rep;
    if (rep->full) {
        snprintf(rep->error, sizeof(rep->error),
                 "reply truncated after %zu rows (more than %u bytes): narrow the request",
                 rep->rows, CONTROL_MAX_REPLY);
        if (rc == 0)
            rc = PROTO_EXIT_FINDINGS;
    }
    if (rc < 0 || rc > 255) {
        if (!rep->error[0])
            snprintf(rep->error, sizeof(rep->error), "internal error in '%s'", name);
        rc = PROTO_EXIT_FINDINGS;
    }
    return client_finish(c, rc, rep->error);
}

/* Run one slice of C's generator; queue the end line when it is done. Returns false when C
 * was closed. */
static bool client_slice(struct client *c)
{
    struct control *ctl = c->ctl;
    struct control_reply *rep = &c->rep;
    if (ev_now(ctl->ev) != ctl->iter_now) { /* a new loop iteration */
        ctl->iter_now = ev_now(ctl->ev);
        ctl->iter_usec = 0;
    }
    if (ctl->iter_usec >= CONTROL_ITER_USEC)
        return true; /* the socket stays writable: this client's turn is the next iteration */
    rep->slicing = true;
    rep->slice_rows = 0;
    clock_gettime(CLOCK_MONOTONIC, &rep->slice_start);
    int rc = rep->gen(ctl->ctx, rep->gen_state, rep);
    rep->slicing = false;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    ctl->iter_usec += (end.tv_sec - rep->slice_start.tv_sec) * 1000000LL +
                      (end.tv_nsec - rep->slice_start.tv_nsec) / 1000;
    if (rc == CONTROL_MORE && !rep->full)
        return true;
    return client_end(c, rc == CONTROL_MORE ? PROTO_EXIT_FINDINGS : rc, rep->cmd);
}

/* Parse, authorize and run the request LINE (LEN bytes, no newline) of C; queue the reply.
 * Returns false when C was closed. */
static bool client_handle(struct client *c, const char *line, size_t len)
{
    struct control *ctl = c->ctl;
    struct proto_request preq;
    char err[300], msg[400];
    if (proto_parse_request(line, len, &preq, err, sizeof(err)) < 0) {
        snprintf(msg, sizeof(msg), "bad request: %s", err);
        return client_finish(c, PROTO_EXIT_USAGE, msg);
    }
    const struct control_command *cmd = control_find(ctl, preq.cmd);
    if (!cmd) {
        snprintf(msg, sizeof(msg), "unknown command '%s'", preq.cmd);
        proto_request_clear(&preq);
        return client_finish(c, PROTO_EXIT_USAGE, msg);
    }
    if (c->role != ROLE_ROOT && !(cmd->flags & CONTROL_READ_ONLY)) {
        snprintf(msg, sizeof(msg), "permission denied: '%s' needs root", cmd->name);
        proto_request_clear(&preq);
        return client_finish(c, PROTO_EXIT_DENIED, msg);
    }
    struct control_request req = {
        .cmd = cmd->name,
        .args = preq.args,
        .uid = c->cred.uid,
        .gid = c->cred.gid,
        .pid = c->cred.pid,
        .root = c->role == ROLE_ROOT,
    };
    struct control_reply *rep = &c->rep;
    memset(rep, 0, sizeof(*rep));
    rep->c = c;
    rep->cmd = cmd->name;
    int rc = cmd->handler(ctl->ctx, &req, rep);
    proto_request_clear(&preq);
    if (rep->gen && !rep->full) { /* from now on the generator's buffer bounds C */
        ctl->whole_pending -= c->outlen - c->outoff;
        c->counted = false;
        ev_io_stop(ctl->ev, &c->io);
        ev_io_set(&c->io, c->fd, EV_WRITE);
        ev_io_start(ctl->ev, &c->io);
        return true;
    }
    return client_end(c, rc, cmd->name);
}

/* Read what C sent; handle the request once its newline arrived. Returns false when C was
 * closed. */
static bool client_read(struct client *c)
{
    for (;;) {
        if (c->inlen == c->incap) {
            if (c->incap > PROTO_MAX_REQUEST) {
                char msg[128];
                snprintf(msg, sizeof(msg), "bad request: line too long (max %d bytes)",
                         PROTO_MAX_REQUEST);
                return client_finish(c, PROTO_EXIT_USAGE, msg);
            }
            size_t cap = c->incap ? c->incap * 2 : IN_INITIAL;
            if (cap > PROTO_MAX_REQUEST + 1)
                cap = PROTO_MAX_REQUEST + 1;
            char *p = realloc(c->in, cap);
            if (!p) {
                client_close(c);
                return false;
            }
            c->in = p;
            c->incap = cap;
        }
        ssize_t r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            client_close(c);
            return false;
        }
        if (r == 0) { /* EOF before a whole line */
            if (c->inlen == 0) {
                client_close(c);
                return false;
            }
            return client_finish(c, PROTO_EXIT_USAGE,
                                 "bad request: no newline before end of input");
        }
        ev_timer_again(c->ctl->ev, &c->timer);
        char *nl = memchr(c->in + c->inlen, '\n', (size_t)r);
        c->inlen += (size_t)r;
        if (nl)
            return client_handle(c, c->in, (size_t)(nl - c->in));
    }
}

/* Send what C has queued; once it is all out, run one slice of C's generator (if any) and
 * send that; close C once everything, end line included, is out. Returns false when C was
 * closed. */
static bool client_write(struct client *c)
{
    bool sliced = false;
    for (;;) {
        while (c->outoff < c->outlen) {
            ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return true;
                client_close(c);
                return false;
            }
            c->outoff += (size_t)w;
            if (c->counted)
                c->ctl->whole_pending -= (size_t)w;
            ev_timer_again(c->ctl->ev, &c->timer);
        }
        if (!c->rep.gen || c->replied || sliced)
            break;
        sliced = true; /* one slice per writable event: other clients and the loop come first */
        if (!client_slice(c))
            return false;
    }
    if (c->replied) {
        client_close(c);
        return false;
    }
    return true;
}

/* libev: C's socket is readable or writable. */
static void client_io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    struct client *c = w->data;
    if ((revents & EV_READ) && !c->replied && !c->rep.gen && !client_read(c))
        return;
    if (c->replied || c->rep.gen)
        client_write(c);
}

/* libev: C made no progress for CONTROL_IDLE_TIMEOUT. */
static void client_timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    client_close(w->data);
}

/* Decide C's role from its credentials: root, member of the control group, or nobody.
 * Any failure gives ROLE_NONE. */
static enum client_role client_role(const struct control *ctl, int fd, const struct ucred *cred)
{
    if (cred->uid == 0)
        return ROLE_ROOT;
    if (!ctl->use_group)
        return ROLE_NONE;
    if (cred->gid == ctl->gid)
        return ROLE_READ_ONLY;
    gid_t small[64], *groups = small;
    socklen_t len = sizeof(small);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
        if (errno != ERANGE || len == 0)
            return ROLE_NONE;
        groups = malloc(len);
        if (!groups || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
            free(groups);
            return ROLE_NONE;
        }
    }
    enum client_role role = ROLE_NONE;
    for (size_t i = 0; i < len / sizeof(gid_t); i++)
        if (groups[i] == ctl->gid)
            role = ROLE_READ_ONLY;
    if (groups != small)
        free(groups);
    return role;
}

/* Send one end line on FD without waiting (best effort) and close FD. */
static void control_reject(int fd, int exit_code, const char *error)
{
    size_t len;
    char *line = proto_build_end(exit_code, error, &len);
    if (line && send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* nothing more to do: the peer just sees the connection closed */
    }
    free(line);
    close(fd);
}

/* Take on the accepted connection FD. */
static void control_add_client(struct control *ctl, int fd)
{
    if (ctl->nclients >= CONTROL_MAX_CLIENTS) {
        control_reject(fd, PROTO_EXIT_UNREACHABLE, "too many clients, try again");
        return;
    }
    struct client *c = calloc(1, sizeof(*c));
    if (!c) {
        control_reject(fd, PROTO_EXIT_UNREACHABLE, "out of memory");
        return;
    }
    socklen_t len = sizeof(c->cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0 || len != sizeof(c->cred)) {
        free(c);
        control_reject(fd, PROTO_EXIT_DENIED, "permission denied");
        return;
    }
    c->ctl = ctl;
    c->fd = fd;
    c->counted = true;
    c->role = client_role(ctl, fd, &c->cred);
    c->next = ctl->clients;
    if (c->next)
        c->next->prev = c;
    ctl->clients = c;
    ctl->nclients++;
    ev_io_init(&c->io, client_io_cb, fd, EV_READ);
    c->io.data = c;
    ev_init(&c->timer, client_timer_cb);
    c->timer.repeat = CONTROL_IDLE_TIMEOUT;
    c->timer.data = c;
    ev_timer_again(ctl->ev, &c->timer);
    if (c->role == ROLE_NONE) {
        client_finish(c, PROTO_EXIT_DENIED, "permission denied");
        return;
    }
    ev_io_start(ctl->ev, &c->io);
}

/* libev: connections are waiting on the listening socket. */
static void control_accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    struct control *ctl = w->data;
    for (;;) {
        int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn_errno(errno, "control socket: cannot accept, pausing %.0f s",
                               ACCEPT_RETRY);
                ev_io_stop(ev, &ctl->accept_io);
                ev_timer_set(&ctl->accept_retry, ACCEPT_RETRY, 0);
                ev_timer_start(ev, &ctl->accept_retry);
            }
            return;
        }
        control_add_client(ctl, fd);
    }
}

/* libev: resume accepting after a shortage of descriptors. */
static void control_retry_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct control *ctl = w->data;
    ev_io_start(ev, &ctl->accept_io);
}

/* ---- the listening socket -------------------------------------------------------------- */

/* What systemd passed, taken once (control_listen_fds). */
static int control_sd_n = -1;
static char **control_sd_names;

int control_listen_fds(void)
{
    if (control_sd_n < 0) {
        control_sd_n = sd_listen_fds_with_names(1, &control_sd_names);
        if (control_sd_n < 0)
            control_sd_n = 0;
    }
    return control_sd_n;
}

/* The listening unix stream socket systemd passed (socket activation), preferring one bound
 * to PATH; -1 when none. *NAME: its LISTEN_FDNAMES name (the socket unit's by default), or
 * NULL. */
static int control_systemd_fd(const char *path, const char **name)
{
    int n = control_listen_fds();
    *name = NULL;
    for (int pass = 0; pass < 2; pass++)
        for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++)
            if (sd_is_socket_unix(fd, SOCK_STREAM, 1, pass ? NULL : path, 0) > 0) {
                if (control_sd_names)
                    *name = control_sd_names[fd - SD_LISTEN_FDS_START];
                return fd;
            }
    return -1;
}

/* A socket from systemd (FD, from the unit NAME or NULL): say once when it is not the
 * control_socket C set explicitly (info), and when its file's group is not C's control_group
 * (warning naming both: systemd's SocketGroup= lets that group connect, the daemon's own
 * check of control_group decides who is served). Only looks; the file is the socket unit's. */
static void control_systemd_check(int fd, const char *name, const struct config *c, bool use_group)
{
    struct sockaddr_un sa = {0};
    socklen_t sl = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sun_family != AF_UNIX ||
        sl <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] != '/')
        return; /* abstract or unnamed: no file to compare */
    sa.sun_path[sizeof(sa.sun_path) - 1] = '\0';
    const char *unit = name && *name ? name : "the socket unit";
    if (c->control_socket_set && strcmp(c->control_socket, sa.sun_path) != 0)
        log_info("control socket: listening on %s from %s; control_socket = %s of %s is not used "
                 "(a socket passed by systemd wins)",
                 sa.sun_path, unit, c->control_socket, c->path ? c->path : "the policy");
    struct stat st;
    if (stat(sa.sun_path, &st) < 0)
        return;
    if (use_group ? st.st_gid != c->control_gid : st.st_gid != 0 && (st.st_mode & 0060))
        log_warn("control socket %s: its group is %s (SocketGroup= of %s) but the policy's "
                 "control_group is %s: members of %s may connect, and the daemon serves "
                 "%s; make them equal (systemctl edit %s, or control_group in %s)",
                 sa.sun_path, account_group_name(st.st_gid), unit,
                 use_group ? c->control_group : "unset", account_group_name(st.st_gid),
                 use_group ? "root and control_group only" : "root only", unit,
                 c->path ? c->path : "the policy");
}

/* Create the directories leading to PATH's last component, mode 0755. Returns 0 or -1. */
static int control_mkparents(const char *path)
{
    char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
            log_error("control socket: cannot create directory %s: %s", buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    return 0;
}

/* Remove a stale socket file at SA's path (nobody accepts on it); refuse a live one or a
 * file that is not a socket. Returns 0 (path free) or -1 with errno and an error logged. */
static int control_clear_stale(const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(sa->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(st.st_mode)) {
        log_error("control socket: %s exists and is not a socket; refusing to replace it",
                  sa->sun_path);
        return errno = EEXIST, -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    int err = errno;
    close(fd);
    if (rc == 0) {
        log_error("control socket: another server is listening on %s (is permwatchd already "
                  "running?)",
                  sa->sun_path);
        return errno = EADDRINUSE, -1;
    }
    if (err != ECONNREFUSED) {
        log_error("control socket: cannot probe %s: %s", sa->sun_path, strerror(err));
        return errno = err, -1;
    }
    if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
        log_error("control socket: cannot remove stale %s: %s", sa->sun_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Bind and listen on CTL->path: mode 0660 and group CTL->gid, or 0600 without a group.
 * Returns the socket or -1 with errno and an error logged. */
static int control_bind(struct control *ctl)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(ctl->path) >= sizeof(sa.sun_path) || ctl->path[0] != '/') {
        log_error("control socket: invalid path '%s'", ctl->path);
        return errno = EINVAL, -1;
    }
    strcpy(sa.sun_path, ctl->path);
    if (control_mkparents(ctl->path) < 0 || control_clear_stale(&sa) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("control socket: socket: %s", strerror(errno));
        return -1;
    }
    mode_t old = umask(0177); /* the file is born 0600: never wider than its final mode */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = errno;
    umask(old);
    if (rc < 0) {
        log_error("control socket: cannot bind %s: %s", ctl->path, strerror(err));
        close(fd);
        return errno = err, -1;
    }
    struct stat st;
    if (ctl->use_group &&
        (lchown(ctl->path, (uid_t)-1, ctl->gid) < 0 || chmod(ctl->path, 0660) < 0))
        goto fail;
    if (lstat(ctl->path, &st) < 0 || listen(fd, SOMAXCONN) < 0)
        goto fail;
    ctl->dev = st.st_dev;
    ctl->ino = st.st_ino;
    return fd;
fail:
    err = errno;
    log_error("control socket: cannot set up %s: %s", ctl->path, strerror(err));
    unlink(ctl->path);
    close(fd);
    return errno = err, -1;
}

struct control *control_new(struct ev_loop *ev, const struct config *c,
                            const struct control_command *table, size_t n, void *ctx)
{
    struct control *ctl = calloc(1, sizeof(*ctl));
    if (!ctl)
        return NULL;
    ctl->ev = ev;
    ctl->table = table;
    ctl->n = n;
    ctl->ctx = ctx;
    ctl->use_group = c->control_group != NULL && c->control_gid != (gid_t)-1;
    ctl->gid = c->control_gid;
    const char *path = c->control_socket ? c->control_socket : CONFIG_DEFAULT_SOCKET;
    const char *sd_name;
    ctl->fd = control_systemd_fd(path, &sd_name);
    if (ctl->fd >= 0) {
        /* the file is the socket unit's: never unlinked here (ctl->path stays NULL) */
        control_systemd_check(ctl->fd, sd_name, c, ctl->use_group);
        int fl = fcntl(ctl->fd, F_GETFL);
        if (fl < 0 || fcntl(ctl->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
            fcntl(ctl->fd, F_SETFD, FD_CLOEXEC) < 0) {
            int err = errno;
            log_error("control socket: cannot set up the socket from systemd: %s", strerror(err));
            free(ctl);
            return errno = err, NULL;
        }
    } else {
        if (!(ctl->path = strdup(path))) {
            free(ctl);
            return NULL;
        }
        ctl->fd = control_bind(ctl);
        if (ctl->fd < 0) {
            int err = errno;
            free(ctl->path);
            free(ctl);
            return errno = err, NULL;
        }
    }
    ev_io_init(&ctl->accept_io, control_accept_cb, ctl->fd, EV_READ);
    ctl->accept_io.data = ctl;
    ev_init(&ctl->accept_retry, control_retry_cb);
    ctl->accept_retry.data = ctl;
    ev_io_start(ev, &ctl->accept_io);
    return ctl;
}

int control_reconfigure(struct control *ctl, const struct config *c, char *why, size_t len)
{
    why[0] = '\0';
    bool use_group = c->control_group != NULL && c->control_gid != (gid_t)-1;
    gid_t gid = use_group ? c->control_gid : (gid_t)-1;
    if (use_group == ctl->use_group && (!use_group || gid == ctl->gid))
        return 0;
    /* the daemon's own check first: it alone decides who is served */
    ctl->use_group = use_group;
    ctl->gid = gid;
    if (!ctl->path) {
        snprintf(why, len,
                 "the socket came from systemd: its file keeps the socket unit's SocketGroup= and "
                 "SocketMode= (edit the unit to match control_group)");
        return -1;
    }
    struct stat st;
    if (lstat(ctl->path, &st) < 0 || st.st_dev != ctl->dev || st.st_ino != ctl->ino) {
        snprintf(why, len, "%s is not the socket this daemon bound any more", ctl->path);
        return -1;
    }
    /* narrow first: never a moment where the old group or a wider mode reaches the socket */
    if (chmod(ctl->path, 0600) < 0 || lchown(ctl->path, (uid_t)-1, use_group ? gid : 0) < 0 ||
        (use_group && chmod(ctl->path, 0660) < 0)) {
        snprintf(why, len, "cannot change %s: %s", ctl->path, strerror(errno));
        return -1;
    }
    return 0;
}

size_t control_clients(const struct control *ctl)
{
    return ctl ? ctl->nclients : 0;
}

void control_free(struct control *ctl)
{
    if (!ctl)
        return;
    while (ctl->clients)
        client_close(ctl->clients);
    ev_io_stop(ctl->ev, &ctl->accept_io);
    ev_timer_stop(ctl->ev, &ctl->accept_retry);
    close(ctl->fd);
    struct stat st;
    if (ctl->path && lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
        unlink(ctl->path);
    free(ctl->path);
    free(ctl);
}
