#!/bin/sh
# A NIC's MAC address and MTU, and the network backends khyve cannot use:
#   - mac= is what the guest sees (bhyve's syntax: a group may be one digit,
#     either case), and so is mtu=;
#   - without mac=, bhyve's rule: 00:a0:98 + the first 3 bytes of
#     MD5("slot-func-vmname"), so the same VM always gets the same address;
#   - a bad mac= (multicast, not hex), a FreeBSD-only backend (netgraph0)
#     and a tap that khyve may neither create nor attach to (no
#     CAP_NET_ADMIN: khyve in a user namespace of its own) stop khyve before
#     the guest runs, with exit status 4 and one line on stderr.
# e2e-weight: 2
. "$(dirname "$0")/../lib.sh"

if [ "$VMM" = qemu ]; then
	mac=02:12:34:56:78:9a # QEMU wants two digits a group
else
	mac=2:12:34:56:78:9A
fi
script='for d in /sys/class/net/eth*; do
echo KT: nic $(basename $(readlink -f $d/device/..)) $(cat $d/address) $(cat $d/mtu); done'
run_script_guest 100 "$KT_TMP/console" "$script" \
	-s 3,virtio-net,slirp,mac=$mac,mtu=1400 -s 4,virtio-net,slirp
expect_script_ok
nic() { tr -d '\r' <"$VM_LOG" | sed -n "s/^KT: nic 0000:00:$1 //p"; }
[ "$(nic 03.0)" = "02:12:34:56:78:9a 1400" ] ||
	fail "NIC in slot 3 (mac=$mac,mtu=1400): guest sees '$(nic 03.0)'"
# bhyve's net_genmac() for slot 4, function 0 of this VM's name.
want=00:a0:98:$(printf '%s' "4-0-$(vm_name)" | md5sum | sed 's/^\(..\)\(..\)\(..\).*/\1:\2:\3/')
# (Under VMM=qemu lib.sh gives QEMU that MAC: this checks the scenario.)
[ "$(nic 04.0)" = "$want 1500" ] ||
	fail "NIC in slot 4 without mac=: guest sees '$(nic 04.0)', expected '$want 1500' (00:a0:98 + MD5(4-0-$(vm_name)))"
_kt_info "default MAC for $(vm_name), slot 4: $want"
if [ "$VMM" = qemu ]; then
	_kt_info "VMM=qemu: khyve's error lines not checked"
	pass
fi

# bad ARGS...: khyve stops at once with status 4 and one line on stderr
# matching the last argument (grep -E).
bad() {
	_re=$1; shift
	VM_LOG=$KT_TMP/bad
	echo "$*" >"$VM_LOG.cmd"
	timeout 60 "$@" >"$VM_LOG" 2>"$VM_LOG.err" </dev/null
	KHYVE_RC=$?
	KHYVE_TIMEDOUT=0
	_n=$(grep -c . "$VM_LOG.err")
	[ "$KHYVE_RC" = 4 ] && [ "$_n" = 1 ] && grep -Eq -- "$_re" "$VM_LOG.err" ||
		fail "khyve exited $KHYVE_RC with $_n lines on stderr; expected 4 and one line matching /$_re/"
	_kt_info "$(cat "$VM_LOG.err")"
}
boot="-o boot.kernel=$GUEST_KERNEL -o boot.initrd=$GUEST_INITRD -o boot.cmdline=console=ttyS0 -l com1,stdio"
bad "invalid MAC address '01:00:5e:00:00:01'" \
	"$KHYVE" -m 256M -s 0,hostbridge -s 31,lpc -s 3,virtio-net,slirp,mac=01:00:5e:00:00:01 $boot "$(vm_name bad)"
bad "invalid MAC address '00:a0:98:zz:00:01'" \
	"$KHYVE" -m 256M -s 0,hostbridge -s 31,lpc -s 3,virtio-net,slirp,mac=00:a0:98:zz:00:01 $boot "$(vm_name bad)"
bad "netgraph0: .*FreeBSD-only" \
	"$KHYVE" -m 256M -s 0,hostbridge -s 31,lpc -s 3,virtio-net,netgraph0 $boot "$(vm_name bad)"
# Without CAP_NET_ADMIN (a user namespace of its own, in which khyve still
# owns /dev/kvm and its run directory): a tap that does not exist cannot be
# made, a tap owned by another user cannot be attached.
if busybox unshare -U true 2>/dev/null; then
	tap=tap$$
	kt_ip link show "$tap" >/dev/null 2>&1 && fail "$tap exists already"
	bad "$tap: cannot create the tap interface \(needs CAP_NET_ADMIN" \
		busybox unshare -U "$KHYVE" -m 256M -s 0,hostbridge -s 31,lpc -s 3,virtio-net,"$tap" $boot "$(vm_name bad)"
	kt_ip tuntap add "$tap" mode tap user 4242 || fail "cannot create tap $tap"
	kt_on_exit "kt_ip link del $tap 2>/dev/null"
	bad "$tap: not allowed to attach" \
		busybox unshare -U "$KHYVE" -m 256M -s 0,hostbridge -s 31,lpc -s 3,virtio-net,"$tap" $boot "$(vm_name bad)"
else
	_kt_info "no user namespaces here: the no-CAP_NET_ADMIN cases not checked"
fi
pass
