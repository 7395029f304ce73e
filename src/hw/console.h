/*
 * Console endpoints a user attaches to and detaches from while the VM runs:
 * the host side of a COM port given as
 *
 *   /dev/nmdmNA      a pty pair in the manner of FreeBSD's nmdm(4): khyve
 *                    keeps the pty master; /dev/nmdmNB links to the slave
 *                    that cu(1), screen or minicom open (the A name links to
 *                    khyve's master, for show). When /dev is not writable
 *                    the names go to RUNDIR/NAME/ instead (said once on
 *                    stderr). Either name may be given; the other is the
 *                    peer.
 *   socket,PATH      a unix stream socket server, one client at a time
 *   tcp=IP:PORT      the same on TCP (bhyve's syntax)
 *
 * The guest never waits for the user: output goes straight to an attached
 * client while it keeps up; otherwise (nobody attached, or a client that
 * stopped reading) it waits in a ring of CONSOLE_RING_SIZE bytes, the
 * oldest dropped beyond that, and is delivered when a client (re)attaches.
 * A pty client that stops reading also holds what the kernel's pty buffer
 * took before khyve noticed (tens of KiB on Linux).
 *
 * Threads: console_write and console_input_ready come from vCPU threads
 * (with the UART glue's lock held); everything else runs on the event loop's
 * thread. The console's own lock is always taken after the glue's, and the
 * ops below are called without it.
 */
#ifndef KHYVE_CONSOLE_H
#define KHYVE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

#define CONSOLE_RING_SIZE (64 * 1024)

struct console_ops {
	/* Room for host input right now; the console reads no more than that. */
	size_t (*input_room)(void *arg);
	/* Bytes the user typed; len is at most the last input_room(). */
	void (*input)(void *arg, const uint8_t *buf, size_t len);
};

struct console;

/* Does this lpc.comN.path name a console endpoint (rather than stdio or a tty)? */
bool console_spec_matches(const char *spec);
/*
 * Create the endpoint named by spec for port (e.g. "com1"). Needs a running
 * mevent loop later to serve it. Prints one line and returns NULL on error.
 */
struct console *console_open(const char *port, const char *spec, const struct console_ops *ops,
			     void *arg);
/* Remove its names and close it (on the event loop's thread, or after it stopped). */
void console_close(struct console *c);

/* Guest output; never blocks. */
void console_write(struct console *c, const uint8_t *buf, size_t len);
/* The consumer has room again: resume reading the client. */
void console_input_ready(struct console *c);

/* Members for the control socket's "info": type, path, attached, buffered... */
void console_describe(struct console *c, struct json_out *o);

/* For tests: is a client attached, and how many bytes wait in the ring / were dropped. */
bool console_attached(struct console *c);
size_t console_buffered(struct console *c);
uint64_t console_dropped(struct console *c);
/* The user's name of the endpoint (the B link, the socket path, IP:PORT). */
const char *console_user_path(const struct console *c);

#endif
