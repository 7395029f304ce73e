#!/bin/sh
# net-tap's transfers (KT_NET_MIB MiB each way over a tap on a bridge,
# checksummed, with the guest's offloads on and off; UDP both ways) through
# khyve's own virtio-net data path (vhost=off): frames the host sends are
# read from the tap and copied into the guest's receive buffers, the guest's
# go out from its memory by writev; no vhost worker runs.
# e2e-weight: 4
KT_NET_VHOST=off
. "$(dirname "$0")/net-tap.sh"
