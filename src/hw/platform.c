#include "hw/platform.h"

#include <stddef.h>

SET_DECLARE(lpc_dev_set, struct lpc_dev);

int lpc_init(struct vmctx *ctx)
{
	struct lpc_dev **ldpp;

	SET_FOREACH(ldpp, lpc_dev_set)
		if ((*ldpp)->init != NULL && (*ldpp)->init(ctx) < 0)
			return -1;
	return 0;
}

void lpc_acpi(struct acpi_config *cfg)
{
	struct lpc_dev **ldpp;

	SET_FOREACH(ldpp, lpc_dev_set)
		if ((*ldpp)->acpi != NULL)
			(*ldpp)->acpi(cfg);
}

void lpc_cleanup(void)
{
	struct lpc_dev **ldpp;

	SET_FOREACH(ldpp, lpc_dev_set)
		if ((*ldpp)->cleanup != NULL)
			(*ldpp)->cleanup();
}
