/*
 * The VM's control socket, RUNDIR/NAME/control.sock: the server side of
 * khyvectl(8) and of any orchestrator. One JSON object per line in each
 * direction over a unix stream socket; the protocol is documented in
 * khyvectl(8), section PROTOCOL. Served on the main thread by mevent, so a
 * request runs between two device events and never races with them.
 */
#ifndef KHYVE_CONTROL_H
#define KHYVE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#define CONTROL_PROTOCOL_VERSION 1
/* Longest request line, newline included; a longer one gets an error and the connection is closed. */
#define CONTROL_LINE_MAX 4096
/* Clients connected at once; more are told so and disconnected. */
#define CONTROL_MAX_CLIENTS 32
/* How long a register read waits for its vCPU. */
#define CONTROL_REGS_TIMEOUT_MS 1000

struct control_params {
	const char *name;
	uint64_t memory;           /* guest RAM, bytes */
	void (*power_button)(void); /* the "shutdown" command (as SIGTERM) */
};

/* What a request asks of the VM beyond its reply. */
enum control_action {
	CONTROL_NONE,
	CONTROL_DESTROY,        /* stop now, exit 4 (bhyvectl --destroy) */
	CONTROL_FORCE_RESET,    /* stop now, exit 0 */
	CONTROL_FORCE_POWEROFF, /* stop now, exit 1 */
	CONTROL_POWER_BUTTON,   /* press the ACPI power button */
};

/*
 * Create and listen on the socket (the registry claim must be held) and
 * serve it from the event loop. Prints one line and returns -1 on failure.
 */
int control_start(const struct control_params *params);
/*
 * Close the socket and every connection (on the dispatch thread, or after
 * it returned). khyve leaves this to its exit, so that a client waiting for
 * the connection to close learns when the process is gone.
 */
void control_stop(void);
/* Record the VM's identity without a socket (control_start does it; for tests). */
void control_configure(const struct control_params *params);
/* The guest was asked to power off (SIGTERM): "state" becomes "stopping". */
void control_note_stopping(void);

struct json_out;
/*
 * Who lists the COM ports for "info" (its "consoles" array): the UART glue,
 * which emits one object per port ({"port":"com1","type":"nmdm",...}).
 * NULL: none. Called on the event loop's thread.
 */
void control_set_consoles(void (*describe)(struct json_out *o));

/*
 * One request line (without its newline) to its reply line (with the
 * newline; caller frees) and the action to take once the reply is sent.
 * Never fails on bad input: that gets an {"ok":false,...} reply.
 */
char *control_handle_request(const char *line, size_t len, enum control_action *action);

#endif
