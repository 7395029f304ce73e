#!/bin/sh
# The `make demo` guest: run inside L1 (or directly on a host with a usable
# /dev/kvm), attached to the terminal. The guest drops to a shell on its
# serial console; `poweroff` there ends it, and khyve exits with status 1.
[ -n "${KT_MODE:-}" ] && [ "$KT_MODE" = testbed ] && exec </dev/console >/dev/console 2>&1
cat <<MSG

  khyve demo: booting a Debian kernel with 2 vCPUs and 512 MiB under khyve.
  At the guest's shell prompt, try: cat /proc/cpuinfo | grep processor; ls /sys/firmware/acpi/tables
  Leave with: poweroff

MSG
"$KHYVE" -c 2 -m 512M -l com1,stdio \
	-o boot.kernel="$GUEST_KERNEL" -o boot.initrd="$GUEST_INITRD" \
	-o "boot.cmdline=console=ttyS0 quiet kt.action=shell" demo
rc=$?
case $rc in
0) what="the guest rebooted" ;;
1) what="the guest powered off" ;;
3) what="the guest triple-faulted" ;;
*) what="error" ;;
esac
echo
echo "  khyve exited with status $rc ($what)."
