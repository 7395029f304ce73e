/*
 * khyvectl: bhyvectl's role for khyve VMs. The control socket and its
 * commands (--destroy, --force-reset, --force-poweroff, --get-stats, --list)
 * are the VM-management milestone; until then this tool says so instead of
 * pretending.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("usage: khyvectl --vm=NAME [--destroy | --force-reset | "
			       "--force-poweroff | --get-stats]\n");
			return 0;
		}
	}
	fprintf(stderr, "khyvectl: not implemented yet (VM management is a later milestone)\n");
	return 4;
}
