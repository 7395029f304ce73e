#!/bin/sh
# disk-durability's test on an AHCI disk (bhyve's "-s 4,ahci-hd,IMG", the
# guest's sda through libata): every 4 KiB block the guest wrote with fsync
# (FLUSH CACHE EXT) and reported done is in the image after the VMM is
# SIGKILLed mid-stream; DURABILITY_BOOTS (here 2 by default) kills.
# e2e-weight: 2 (guest boots)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../durability.sh"

DURABILITY_BOOTS=${DURABILITY_BOOTS:-2}
durability_test ahci-hd /dev/sda
pass
