#!/bin/sh
# Assemble the GRUB test disk $GDIR/disk.img (sparse), without mounts or
# loop devices (mtools for FAT, mke2fs -d for ext4, sfdisk for the GPT):
#     1 esp       FAT32: EFI/BOOT/BOOTX64.EFI (grub-mkimage), and in
#                 EFI/slotctl: grub.cfg (boot/grub/grub.cfg as shipped),
#                 board.cfg (this test board's settings), grubenv (empty)
#     2 rootfs_a  ext4 made from the tree $GDIR/slots/A (its /boot/vmlinuz
#     3 rootfs_b  and /boot/initrd.img; a full root file system may be there
#     4 recovery  too), likewise B and R
#     5 data      ext4 with an empty slotctl/ (and e2e/ with the files of
#                 $G_DATA_E2E, when set: images/e2e-grub-guest.sh's plan
#                 and update images)
#
#   build-grub-disk.sh               the whole disk (a fresh one)
#   build-grub-disk.sh slot S DIR    only replace slot S's file system by
#                                    one made from the tree DIR
#   build-grub-disk.sh image DIR OUT [MIB]
#                                    an update image from the tree DIR, as
#                                    a slot's file system is made (no disk)
#
# Environment: G_KERNEL_ARGS (board.cfg's kernel_args, default
# "console=ttyS0 panic=-1 no_timer_check"; no_timer_check: under TCG on a
# loaded host the kernel's IO-APIC timer check can fail and panic a good
# slot), G_MKE2FS_OPTS (extra mke2fs options for the
# slots, e.g. "-O ^orphan_file"), GRUB_MODULES (what grub-mkimage puts in).
set -eu
. "$(dirname "$0")/grub-common.sh"
need grub-mkimage grub-editenv grub-fstest grub-script-check mkfs.vfat mmd mcopy mke2fs sfdisk fallocate dd

# What boot/grub/grub.cfg needs, by command (command.lst of x86_64-efi):
# part_gpt fat ext2 (the GPT, the ESP, the slots), normal (the script
# language, menuentry, export), configfile (source), loadenv (load_env,
# save_env), linux (linux, initrd, boot), echo, test ([ ]), regexp (the disk
# from $cmdpath), reboot. grub-mkimage adds their dependencies.
GRUB_MODULES=${GRUB_MODULES:-part_gpt fat ext2 normal configfile loadenv linux echo test regexp reboot}
G_KERNEL_ARGS=${G_KERNEL_ARGS:-console=ttyS0 panic=-1 no_timer_check}
SLOT_NAMES="A B R"

# slot_fs S DIR OUT [MIB]: the ext4 image (MIB, default the slot's size) of
# slot S from DIR, checked with
# grub-fstest (GRUB's own ext2 driver, built for the host): GRUB must read
# the kernel in it back byte for byte.
slot_fs() {
	[ -d "$2" ] || die "slot $1: no tree $2"
	label=$(case "$1" in A) echo rootfs_a ;; B) echo rootfs_b ;; R) echo recovery ;; esac)
	rm -f "$3"
	# shellcheck disable=SC2086
	mke2fs -q -F -t ext4 -L "$label" -E root_owner=0:0 ${G_MKE2FS_OPTS:-} -d "$2" "$3" "${4:-$G_SLOT_MIB}M" > "$3.log" 2>&1 ||
		die "mke2fs of slot $1 failed: $(cat "$3.log")"
	for f in boot/vmlinuz boot/initrd.img; do
		[ -f "$2/$f" ] || continue
		grub-fstest "$3" cmp "/$f" "$2/$f" > "$3.log" 2>&1 ||
			die "GRUB cannot read /$f of slot $1 ($(tr '\n' ' ' < "$3.log")); features: $(dumpe2fs -h "$3" 2>/dev/null | sed -n 's/^Filesystem features: *//p')"
	done
	rm -f "$3.log"
}

# put FILE PART: write FILE at PART's start; the range is emptied first,
# so that a smaller or sparser file leaves nothing of the old one behind.
put() {
	off=$(($(gpart_start "$2") * 512))
	len=$(case "$2" in esp) echo $((G_ESP_MIB * 1048576)) ;; data) echo $((G_DATA_MIB * 1048576)) ;; *) echo $((G_SLOT_MIB * 1048576)) ;; esac)
	[ "$(stat -c %s "$1")" -le "$len" ] || die "$1 is larger than partition $2"
	fallocate -p -o "$off" -l "$len" "$GDISK.tmp"
	dd if="$1" of="$GDISK.tmp" bs=1M seek="$off" oflag=seek_bytes conv=notrunc,sparse status=none
}

if [ "${1:-}" = image ]; then
	[ $# -ge 3 ] || die "usage: ${0##*/} image DIR OUT [MIB]"
	slot_fs A "$2" "$3" "${4:-}"
	exit 0
fi

if [ "${1:-}" = slot ]; then
	[ $# = 3 ] || die "usage: ${0##*/} slot A|B|R DIR"
	case "$2" in A | B | R) ;; *) die "no slot $2" ;; esac
	[ -f "$GDISK" ] || die "no disk yet: run ${0##*/} first"
	slot_fs "$2" "$3" "$GDIR/slot-$2.ext4"
	mv "$GDISK" "$GDISK.tmp"
	put "$GDIR/slot-$2.ext4" "$(echo "$2" | tr ABR abr)"
	mv "$GDISK.tmp" "$GDISK"
	rm -f "$GDIR/slot-$2.ext4"
	exit 0
fi

t0=$(now_s)
mkdir -p "$GDIR"
grub-script-check "$REPO_DIR/boot/grub/grub.cfg" || die "boot/grub/grub.cfg does not parse (grub-script-check)"

# GRUB: one EFI executable with the modules inside, looking for its config
# in /EFI/slotctl of the partition it was loaded from.
# shellcheck disable=SC2086
grub-mkimage -O x86_64-efi -p "$ESP_GRUB_DIR" -o "$GDIR/BOOTX64.EFI" $GRUB_MODULES ||
	die "grub-mkimage failed (modules: $GRUB_MODULES)"

# The test board's settings (what boot/grub/grub.cfg reads from board.cfg).
cat > "$GDIR/board.cfg" <<BOARD
# board.cfg of the slotctl GRUB test (images/build-grub-disk.sh): QEMU's
# serial console; panic=-1 reboots at once, and QEMU runs with -no-reboot,
# so every boot ends QEMU.
set kernel_args="$G_KERNEL_ARGS"
BOARD
rm -f "$GDIR/grubenv"
grub-editenv "$GDIR/grubenv" create

esp=$GDIR/esp.img
rm -f "$esp"
truncate -s "${G_ESP_MIB}M" "$esp"
mkfs.vfat -F 32 -s 1 -n ESP "$esp" > "$GDIR/mkfs.vfat.log" 2>&1 || die "mkfs.vfat failed: $(cat "$GDIR/mkfs.vfat.log")"
mmd -i "$esp" ::/EFI ::/EFI/BOOT "::$ESP_GRUB_DIR"
mcopy -i "$esp" "$GDIR/BOOTX64.EFI" "::$ESP_LOADER"
mcopy -i "$esp" "$REPO_DIR/boot/grub/grub.cfg" "::$ESP_GRUB_DIR/grub.cfg"
mcopy -i "$esp" "$GDIR/board.cfg" "::$ESP_GRUB_DIR/board.cfg"
mcopy -i "$esp" "$GDIR/grubenv" "::$ESP_GRUB_DIR/grubenv"

for s in $SLOT_NAMES; do
	slot_fs "$s" "$GDIR/slots/$s" "$GDIR/slot-$s.ext4"
done
dtree=$GDIR/data-tree
rm -rf "$dtree"
mkdir -p "$dtree/slotctl"
if [ -n "${G_DATA_E2E:-}" ]; then
	mkdir -p "$dtree/e2e"
	cp -a "$G_DATA_E2E/." "$dtree/e2e/"
fi
mke2fs -q -F -t ext4 -L data -E root_owner=0:0 -d "$dtree" "$GDIR/data.ext4" "${G_DATA_MIB}M" > /dev/null ||
	die "mke2fs of the data partition failed"
rm -rf "$dtree"

total_mib=$((1 + G_ESP_MIB + 3 * G_SLOT_MIB + G_DATA_MIB + 1))
rm -f "$GDISK.tmp"
truncate -s "${total_mib}M" "$GDISK.tmp"
sfdisk -q "$GDISK.tmp" > "$GDIR/sfdisk.log" 2>&1 <<GPT || die "sfdisk failed: $(cat "$GDIR/sfdisk.log")"
label: gpt
start=$(gpart_start esp), size=$((G_ESP_MIB * 2048)), type=uefi, name=esp
start=$(gpart_start a), size=$((G_SLOT_MIB * 2048)), type=linux, name=rootfs_a
start=$(gpart_start b), size=$((G_SLOT_MIB * 2048)), type=linux, name=rootfs_b
start=$(gpart_start r), size=$((G_SLOT_MIB * 2048)), type=linux, name=recovery
start=$(gpart_start data), size=$((G_DATA_MIB * 2048)), type=linux, name=data
GPT
put "$esp" esp
put "$GDIR/slot-A.ext4" a
put "$GDIR/slot-B.ext4" b
put "$GDIR/slot-R.ext4" r
put "$GDIR/data.ext4" data
mv "$GDISK.tmp" "$GDISK"
rm -f "$esp" "$GDIR/slot-A.ext4" "$GDIR/slot-B.ext4" "$GDIR/slot-R.ext4" "$GDIR/data.ext4"
say "disk $GDISK: ${total_mib} MiB, $(du -h "$GDISK" | cut -f1) allocated, GRUB $(du -h "$GDIR/BOOTX64.EFI" | cut -f1) ($(elapsed "$t0") s)"
