#!/bin/sh
# UEFI variables persist: Debian's split OVMF (-l bootrom,OVMF_CODE_4M.fd,
# VARS) gets its variable store as khyve's CFI flash over a copy of
# OVMF_VARS_4M.fd, and boots a GPT disk with an EFI system partition and
# GRUB (build-grub.sh's uefi-disk.img), first from virtio-blk, then from
# ahci-hd. Each disk has bootindex=0: fw_cfg's bootorder puts it first
# (without it OVMF would keep the first boot's entries first and start its
# shell ahead of a disk it had not seen). The first guest finds no
# KhyveTest variable and writes one
# through efivarfs (a random token); khyve exits, and the VARS file on the
# host now holds the token. The second VM, a new khyve process on the same
# VARS file, boots a guest that reads the token back.
#
# One vCPU, as fw-ovmf-cd explains.
. "$(dirname "$0")/../lib.sh"

[ "$VMM" = qemu ] && skip "QEMU is compared on this in make bench"
fw_media OVMF_CODE_4M.fd
code=$FW_PATH
fw_media OVMF_VARS_4M.fd
vars=$KT_TMP/VARS.fd
cp "$FW_PATH" "$vars" || fail "cannot copy the variable store template"
fw_media uefi-disk.img
disk=$FW_PATH
before=$(kt_sha "$vars")

run_khyve 150 "$KT_TMP/first" -m 512M -c 1 -s 0,hostbridge -s 4,virtio-blk,"$disk",bootindex=0 -s 31,lpc \
	-l com1,stdio -l bootrom,"$code","$vars" "$(vm_name)"
expect_exit 1
expect_grub_boot
expect_value efi yes
expect_value efivar none
token=$(kt_value efivar_written)
[ -n "$token" ] || fail "the first guest could not write its EFI variable"
[ "$(kt_sha "$vars")" != "$before" ] || fail "the VARS file did not change"
grep -q "$token" "$vars" || fail "the VARS file does not hold the token $token"
_kt_info "the first guest wrote $token; the VARS file holds it"

run_khyve 150 "$KT_TMP/second" -m 512M -c 1 -s 0,hostbridge -s 3,ahci-hd,"$disk",bootindex=0 -s 31,lpc \
	-l com1,stdio -l bootrom,"$code","$vars" "$(vm_name)"
expect_exit 1
expect_grub_boot
expect_value efivar "$token"
pass
