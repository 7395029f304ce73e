#!/bin/sh
# virtio-rnd: the guest's hardware RNG is virtio_rng.0, /dev/hwrng gives
# 4 KiB that look random (many distinct byte values), and a second read
# gives other bytes.
. "$(dirname "$0")/../lib.sh"

script='echo KT: rng=$(cat /sys/class/misc/hw_random/rng_current);
timeout 30 head -c 4096 /dev/hwrng >/tmp/r1; timeout 30 head -c 4096 /dev/hwrng >/tmp/r2;
echo KT: size=$(stat -c %s /tmp/r1) $(stat -c %s /tmp/r2);
echo KT: sha1=$(sha256sum </tmp/r1 | cut -c1-64);
echo KT: sha2=$(sha256sum </tmp/r2 | cut -c1-64);
echo KT: distinct=$(xxd -p -c 1 /tmp/r1 | wc -l) $(xxd -p -c 1 /tmp/r1 | sort -u | wc -l)'
run_script_guest 60 "$KT_TMP/console" "$script" -s 5,virtio-rnd
expect_script_ok
expect_value rng virtio_rng.0
expect_value size "4096 4096"
s1=$(kt_value sha1)
s2=$(kt_value sha2)
[ -n "$s1" ] && [ "$s1" != "$s2" ] || fail "two reads of /dev/hwrng gave the same bytes"
set -- $(kt_value distinct)
[ "${1:-0}" = 4096 ] || fail "the guest counted ${1:-no} bytes in its first read"
# 4096 random bytes take all 256 values but for a chance of 256 * (255/256)^4096 ~ 3e-5.
[ "${2:-0}" -ge 240 ] || fail "4 KiB from /dev/hwrng have only ${2:-0} distinct byte values"
_kt_info "4 KiB from /dev/hwrng: ${2} distinct byte values"
pass
