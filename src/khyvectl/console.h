/*
 * khyvectl --console: attach this terminal to a VM's COM port, as cu(1)
 * would to /dev/nmdm0B. The VM's "info" reply names the port's pty or
 * socket; khyvectl relays between it and the terminal (raw mode) until "~."
 * at the start of a line, or the VM exits.
 */
#ifndef KHYVECTL_CONSOLE_H
#define KHYVECTL_CONSOLE_H

/* port: "com1".."com4", or NULL for the first attachable one. Returns the exit status. */
int ctl_console(const char *vm, const char *port);

#endif
