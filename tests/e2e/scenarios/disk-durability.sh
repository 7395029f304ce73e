#!/bin/sh
# A write the guest saw completed and flushed is in the image even if the
# VMM is killed (SIGKILL) right after. In each of DURABILITY_BOOTS boots
# (default 4; `make soak` does 25) the guest writes 4 KiB blocks "kt-dur B
# I" one after the other, each with fsync (virtio-blk FLUSH), and prints
# "KT: done B I" after each; once DURABILITY_ROUNDS (default 5) to 3 more
# are reported, varying with the boot, the scenario kills the VMM while the
# guest is still writing. Then every block the guest reported done in that
# boot must be in the image, and at the end every block of every boot. At
# least DURABILITY_BOOTS x DURABILITY_ROUNDS checked writes (20 by default),
# DURABILITY_BOOTS kills mid-stream.
# Why not 20 kills in make check: in the testbed L0 reset L1 about once in
# 25 kills (2 resets in ~50, 2026-12-02), so 20 kills would often cost the
# scenario both its runs; 20 kills pass there (206 writes checked).
# e2e-weight: 4 (guest boots)
. "$(dirname "$0")/../lib.sh"

. "$(dirname "$0")/../durability.sh"
durability_test virtio-blk /dev/vda
pass
