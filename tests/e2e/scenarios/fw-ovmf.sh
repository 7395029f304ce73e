#!/bin/sh
# Debian's stock split OVMF (-l bootrom,OVMF_CODE_4M.fd,VARS) starts on
# khyve's i440FX platform (host bridge IDs, PIIX4 PM timer at 00:01.3,
# fw_cfg with the ACPI loader, COM1 behind the ISA bridge) and, with no boot
# medium, reaches the UEFI shell on COM1. On its first boot OVMF registers
# its boot options in the variable store, khyve's CFI flash over a copy of
# OVMF_VARS_4M.fd: khyve is then SIGKILLed, and the VARS file on the host
# holds them (UTF-16 "EFI Internal Shell", absent from the template), since
# the store is saved when each write sequence ends. A second VM on that file
# reaches the shell again.
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "QEMU brings its own firmware"
fw_media OVMF_CODE_4M.fd
code=$FW_PATH
fw_media OVMF_VARS_4M.fd
vars=$KT_TMP/VARS.fd
cp "$FW_PATH" "$vars" || fail "cannot copy the variable store template"
# "EFI Internal Shell" in UTF-16LE, as hex.
shell_utf16=$(printf 'EFI Internal Shell' | od -An -tx1 | tr -d ' \n' | sed 's/\(..\)/\100/g')
in_vars() { od -An -tx1 -v "$vars" | tr -d ' \n' | grep -q "$shell_utf16"; }
in_vars && fail "the template already holds a shell boot option"

boot_to_shell() { # LOG
	start_khyve 120 "$1" -m 256M -c 1 -s 0,hostbridge -s 31,lpc \
		-l com1,stdio -l bootrom,"$code","$vars" "$(vm_name)"
	_ok=0
	wait_log 'Shell> ' 100 && _ok=1
	kill -KILL "$VM_PID" 2>/dev/null
	wait_khyve
	[ $_ok = 1 ] || fail "no UEFI shell prompt on COM1"
	expect_log 'UEFI Interactive Shell'
}

boot_to_shell "$KT_TMP/first"
in_vars || fail "the VARS file does not hold OVMF's boot options after its first boot"
_kt_info "the VARS file holds OVMF's boot options after a SIGKILL"
size=$(wc -c <"$vars")
[ "$size" = "$(wc -c <"$FW_PATH")" ] || fail "the VARS file changed size ($size bytes)"
boot_to_shell "$KT_TMP/second"
pass
