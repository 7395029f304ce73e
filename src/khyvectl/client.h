/*
 * khyvectl's side of the control socket (khyvectl(8), PROTOCOL): connect to
 * a VM by name, send one request, read its one-line reply.
 */
#ifndef KHYVECTL_CLIENT_H
#define KHYVECTL_CLIENT_H

#include <stddef.h>

#include "core/json.h"

/* How long khyvectl waits for a reply, and for a stopped VM's process to end. */
#define CTL_REPLY_TIMEOUT_MS 5000
#define CTL_EXIT_TIMEOUT_MS 30000

/*
 * Connect to VM name's socket. On failure returns -1 with one sentence in
 * err; *stale is set when an entry exists but no VM answers (left by a
 * killed khyve).
 */
int ctl_connect(const char *name, char *err, size_t errlen, int *stale);
/*
 * Send {"version":1,"command":command[,"cpu":cpu]} (cpu < 0: none) and
 * return the parsed reply if it says "ok":true; else NULL and err says why
 * (the VM's own error message when it answered).
 */
struct json_value *ctl_request(int fd, const char *command, int cpu, char *err, size_t errlen);
/* Wait until the VM closes the connection (its process ended): 0, or -1 on timeout. */
int ctl_wait_closed(int fd, int timeout_ms);

/* Write all of buf (sockets and terminals), retrying on EINTR; 0 or -1. */
int client_write_all(int fd, const char *buf, size_t len);

#endif
