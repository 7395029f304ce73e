#!/bin/sh
# virtio-net on the slirp backend (user-mode networking, no privileges), as
# a user sees it:
#   - busybox udhcpc gets the lease slirp offers: 10.0.2.15/24, default
#     route via 10.0.2.2, DNS server 10.0.2.3; the guest pings 10.0.2.2;
#   - the guest fetches a 2 MiB file from an HTTP server on this host's
#     loopback through the gateway 10.0.2.2, intact (sha256);
#   - hostfwd: a client on this host reaches the guest's HTTP server on port
#     80 through 127.0.0.1:HOSTPORT and gets the guest's page.
. "$(dirname "$0")/../lib.sh"

# Ports on this host (direct runs share it with others: vary them).
port=$((20000 + $$ % 10000))
fwd=$((port + 1))
mkdir -p "$KT_TMP/www"
dd if=/dev/urandom of="$KT_TMP/www/blob" bs=1M count=2 2>/dev/null || fail "cannot make the file"
want=$(kt_sha "$KT_TMP/www/blob")
busybox httpd -f -p "127.0.0.1:$port" -h "$KT_TMP/www" &
httpd_pid=$!
_kt_all_pids="$_kt_all_pids $httpd_pid"
sleep 1
timeout 20 busybox wget -q -O /dev/null "http://127.0.0.1:$port/blob" ||
	fail "the host's own HTTP server on 127.0.0.1:$port does not answer (is lo up?)"
page=kt-guest-page-$$

script="ip link set eth0 up; timeout 60 udhcpc -i eth0 -n -q -t 5 -T 3 >/tmp/dhcp.log 2>&1; echo KT: udhcpc=\$?;
echo KT: addr=\$(ip -4 -o addr show dev eth0 | awk '{ print \$4 }');
echo KT: gw=\$(ip route | awk '/^default/ { print \$3 }');
echo KT: dns=\$(awk '/^nameserver/ { print \$2 }' /etc/resolv.conf);
ping -c 2 -W 5 10.0.2.2 >/dev/null; echo KT: ping=\$?;
timeout 60 wget -q -O /tmp/blob http://10.0.2.2:$port/blob; echo KT: wget=\$?;
echo KT: sha=\$(sha256sum </tmp/blob | cut -c1-64);
mkdir -p /tmp/www; echo $page >/tmp/www/index.html; httpd -p 80 -h /tmp/www; echo KT: serving; sleep 600"
start_script_guest 100 "$KT_TMP/console" "$script" -s 3,virtio-net,slirp,hostfwd="tcp::$fwd-:80"
if ! wait_log '^KT: (serving|script-status)' 80; then
	wait_khyve
	fail "the guest never reported KT: serving"
fi
# (busybox wget -T crashes: timeout(1) instead.)
got=$(timeout 30 busybox wget -q -O - "http://127.0.0.1:$fwd/" 2>"$KT_TMP/wget.err")
wrc=$?
power_button
wait_khyve
expect_exit 1
expect_guest_sane
expect_value udhcpc 0
expect_value addr 10.0.2.15/24
expect_value gw 10.0.2.2
expect_value dns 10.0.2.3
expect_value ping 0
expect_value wget 0
expect_value sha "$want"
expect_log '^KT: serving'
[ $wrc = 0 ] || fail "wget http://127.0.0.1:$fwd/ (hostfwd to the guest's port 80) failed: $(cat "$KT_TMP/wget.err")"
[ "$got" = "$page" ] || fail "hostfwd: got '$got' from the guest's server, expected '$page'"
pass
