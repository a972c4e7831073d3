/* writer: who made a change the detection source reported (a process, its command, user and
 * systemd unit). This header starts with the event's raw reference; the resolution lives in
 * writer.c. */
#ifndef PERMWATCH_WRITER_H
#define PERMWATCH_WRITER_H

#include <sys/types.h>

/* The process behind one event, as the kernel reported it: PID 0 when unknown (inotify says
 * nothing of it); PIDFD -1 when the kernel gave none (the process had exited, or no
 * FAN_REPORT_PIDFD). The pidfd is owned by whoever filled the struct. */
struct writer_ev {
    pid_t pid;
    int pidfd;
};

#endif
