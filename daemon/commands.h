/* commands: the control socket's command table of the live daemon (status, findings, scan,
 * dispatch, reload, metrics). Handlers get the struct loop as their context. */
#ifndef PERMWATCH_COMMANDS_H
#define PERMWATCH_COMMANDS_H

#include <stddef.h>

#include "control.h"

extern const struct control_command commands_table[];
extern const size_t commands_count;

#endif
