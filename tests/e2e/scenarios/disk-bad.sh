#!/bin/sh
# Disk images that cannot be used stop the VMM before the guest runs, with
# exit status 4 and one line on stderr naming the image:
#   - an image that does not exist;
#   - a directory given as the image;
#   - an image another VM has open for writing (locked): the second VM
#     fails, the first runs on, and the image is unchanged (the second
#     guest, were it to boot, would overwrite its start).
# e2e-weight: 2 (guest boots)
. "$(dirname "$0")/../lib.sh"

# one_line_error WHAT PATH [LINES]: the last VM failed as described above
# (with LINES lines on stderr; default 1).
one_line_error() {
	expect_exit 4
	_n=$(grep -c . "$VM_LOG.err")
	[ "$_n" = "${3:-1}" ] || fail "$1: $_n lines on stderr, expected ${3:-1}"
	grep -qF -- "$2" "$VM_LOG.err" || fail "$1: stderr does not name $2"
	_kt_info "$1: $(tr '\n' ' ' <"$VM_LOG.err")"
	expect_no_log '^KT: init-start'
}

clobber='dd if=/dev/zero of=/dev/vda bs=4096 count=16 conv=notrunc,fsync; echo KT: clobbered'

missing=$KT_TMP/no-such-dir/disk.img
run_script_guest 30 "$KT_TMP/missing" "$clobber" -s 4,virtio-blk,"$missing"
one_line_error "missing image" "$missing"

mkdir -p "$KT_TMP/dir.img"
run_script_guest 30 "$KT_TMP/dir" "$clobber" -s 4,virtio-blk,"$KT_TMP/dir.img"
one_line_error "directory as image" "$KT_TMP/dir.img"

img=$KT_TMP/disk.img
kt_image "$img" 16
dd if=/dev/urandom of="$img" bs=4096 count=16 conv=notrunc 2>/dev/null || fail "cannot fill the image"
before=$(kt_sha "$img")
KT_VM=first start_script_guest 120 "$KT_TMP/first" 'echo KT: holding; sleep 3600' -s 4,virtio-blk,"$img"
first_pid=$VM_PID first_wd=$VM_WD first_log=$VM_LOG
wait_log '^KT: holding' 90 || { wait_khyve; fail "the first VM's guest never reported KT: holding"; }
KT_VM=second run_script_guest 30 "$KT_TMP/second" "$clobber" -s 4,virtio-blk,"$img"
# QEMU says it in two lines.
one_line_error "image locked by another VM" "$img" "$([ "$VMM" = qemu ] && echo 2 || echo 1)"
_kt_alive "$first_pid" || fail "the first VM died when the second tried its image"
VM_LOG=$first_log
power_button "$first_pid"
wait_khyve "$first_pid" "$first_wd" "$first_log"
expect_exit 1
[ "$(kt_sha "$img")" = "$before" ] || fail "the locked image changed"
pass
