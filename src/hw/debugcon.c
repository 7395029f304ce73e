/*
 * QEMU's debug console: firmware built for QEMU (OVMF, SeaBIOS debug builds)
 * writes its log one byte at a time to port 0x402. With the config key
 * lpc.debugcon=PATH those bytes are appended to PATH; without it the port
 * stays unclaimed (writes dropped, reads all ones), as on a machine without
 * the device. Reads return 0xe9, the value QEMU's device answers, by which
 * firmware may tell it is there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/inout.h"
#include "hw/platform.h"

#define DEBUGCON_PORT 0x402
#define DEBUGCON_READBACK 0xe9

static int debugcon_fd = -1;

static int debugcon_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			    void *arg)
{
	uint8_t c = (uint8_t)*val;

	if (in) {
		*val = DEBUGCON_READBACK;
		return 0;
	}
	/* A log: losing a byte to a full disk is better than stalling the vCPU. */
	if (write(debugcon_fd, &c, 1) < 0)
		return 0;
	return 0;
}

static int debugcon_init(struct vmctx *ctx)
{
	const char *path = get_config_value("lpc.debugcon");
	struct inout_port iop = { "debugcon", DEBUGCON_PORT, 1, IOPORT_F_INOUT, debugcon_handler,
				  NULL };

	if (path == NULL)
		return 0;
	debugcon_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (debugcon_fd < 0) {
		fprintf(stderr, "khyve: lpc.debugcon: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return register_inout(&iop);
}

static void debugcon_cleanup(void)
{
	if (debugcon_fd >= 0)
		close(debugcon_fd);
	debugcon_fd = -1;
}

static struct lpc_dev debugcon_dev = { .name = "debugcon", .init = debugcon_init,
				       .cleanup = debugcon_cleanup };
LPC_DEV_SET(debugcon_dev);
