#!/bin/sh
# Build the U-Boot test system under $SLOTCTL_UBOOT_DIR, without mounts or
# loop devices:
#   slots/initrd-S.img   busybox initramfs of slot S (images/uboot-initramfs-init.sh
#                        as /init, "S" in /slottest-initrd)
#   slots/slot-S.ext4    slot S: /boot/vmlinuz (its own kernel flavour) and
#                        /boot/initrd.img
#   disk.img             GPT (sparse): 1 boot (ext4, /boot.scr, where the
#                        qemu_arm64 default bootcmd, distro boot, looks first),
#                        2 slot_a, 3 slot_b, 4 recovery
#   flash0.img           u-boot.bin padded to the 64 MiB of QEMU's pflash 0
#   env-base.img         pflash 1 holding U-Boot's own default environment
#                        (taken out of u-boot.bin) plus the board settings
#                        below, made with mkenvimage: what a factory writes
#   fw_env.config        "<file> 0x0 0x40000" for fw_printenv/fw_setenv -c
# boot.scr is boot/uboot/boot.cmd made with mkimage. Re-running rebuilds.
set -eu
. "$(dirname "$0")/uboot-common.sh"
need mke2fs sfdisk cpio gzip mkimage mkenvimage dd truncate

[ -f "$UBOOT_BIN" ] || die "$UBOOT_BIN missing (Debian package u-boot-qemu)"
t0=$(now_s)
mkdir -p "$USDIR"

# ---------------------------------------------------------------- slots
for s in A B R; do
	kv=$(ukver "$(uflavour "$s")")
	[ -s "$UKDIR/vmlinuz-$kv" ] || die "$UKDIR/vmlinuz-$kv missing: run images/fetch-arm64.sh"
	lc=$(echo "$s" | tr ABR abr)

	itree=$USDIR/initrd-$lc
	rm -rf "$itree"
	mkdir -p "$itree/bin" "$itree/dev" "$itree/proc"
	cp "$UKDIR/busybox" "$itree/bin/busybox"
	for a in sh mount cat uname poweroff; do ln -s busybox "$itree/bin/$a"; done
	install -m 0755 "$IMAGES_DIR/uboot-initramfs-init.sh" "$itree/init"
	echo "$s" > "$itree/slottest-initrd"
	(cd "$itree" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -n -9 > "$USDIR/initrd-$lc.img"

	stree=$USDIR/slot-$lc
	rm -rf "$stree"
	mkdir -p "$stree/boot"
	if [ "$(ugzip "$s")" = 1 ]; then
		gzip -n -c "$UKDIR/vmlinuz-$kv" > "$stree/boot/vmlinuz"
	else
		cp "$UKDIR/vmlinuz-$kv" "$stree/boot/vmlinuz"
	fi
	cp "$USDIR/initrd-$lc.img" "$stree/boot/initrd.img"
	echo "slot $s, kernel $kv" > "$stree/slot"
	rm -f "$USDIR/slot-$lc.ext4"
	mke2fs -q -F -t ext4 -L "slot_$lc" -E root_owner=0:0 -d "$stree" "$USDIR/slot-$lc.ext4" "${UPART_SLOT_MIB}M" > /dev/null ||
		die "mke2fs of slot $s failed (UPART_SLOT_MIB=$UPART_SLOT_MIB big enough?)"
	rm -rf "$stree" "$itree"
done

# ---------------------------------------------------------------- boot partition
btree=$USDIR/boot
rm -rf "$btree"
mkdir -p "$btree"
mkimage -A arm64 -T script -C none -n "slotctl A/B/R" -d "$REPO_DIR/boot/uboot/boot.cmd" "$btree/boot.scr" > "$USDIR/mkimage.log" ||
	die "mkimage failed: $(cat "$USDIR/mkimage.log")"
rm -f "$USDIR/boot.ext4"
mke2fs -q -F -t ext4 -L boot -E root_owner=0:0 -d "$btree" "$USDIR/boot.ext4" "${UPART_BOOT_MIB}M" > /dev/null || die "mke2fs of the boot partition failed"
rm -rf "$btree"

# ---------------------------------------------------------------- disk
total_mib=$((1 + UPART_BOOT_MIB + 3 * UPART_SLOT_MIB + 1))
rm -f "$UDISK.tmp"
truncate -s "${total_mib}M" "$UDISK.tmp"
sfdisk -q "$UDISK.tmp" > "$USDIR/sfdisk.log" 2>&1 <<EOT || die "sfdisk failed: $(cat "$USDIR/sfdisk.log")"
label: gpt
start=$(upart_start boot), size=$((UPART_BOOT_MIB * 2048)), type=linux, name=boot
start=$(upart_start a), size=$((UPART_SLOT_MIB * 2048)), type=linux, name=slot_a
start=$(upart_start b), size=$((UPART_SLOT_MIB * 2048)), type=linux, name=slot_b
start=$(upart_start r), size=$((UPART_SLOT_MIB * 2048)), type=linux, name=recovery
EOT
for p in boot a b r; do
	case $p in boot) f=$USDIR/boot.ext4 ;; *) f=$USDIR/slot-$p.ext4 ;; esac
	dd if="$f" of="$UDISK.tmp" bs=512 seek="$(upart_start $p)" conv=notrunc,sparse status=none
done
mv "$UDISK.tmp" "$UDISK"
rm -f "$USDIR/boot.ext4" "$USDIR"/slot-?.ext4

# ---------------------------------------------------------------- flash
cp "$UBOOT_BIN" "$UFLASH0.tmp"
truncate -s "${UFLASH_MIB}M" "$UFLASH0.tmp"
mv "$UFLASH0.tmp" "$UFLASH0"

# U-Boot's compiled-in default environment is one block of name=value
# strings, each ending in NUL, the block in an empty string; it starts with
# bootcmd=. When the flash holds a valid environment U-Boot uses that one
# alone, so the factory image must carry all of the defaults (bootcmd,
# boot_targets, the load addresses ...), not just slotctl's variables.
off=$(LC_ALL=C grep -obUaP '\x00bootcmd=' "$UBOOT_BIN" | head -1 | cut -d: -f1)
[ -n "$off" ] || die "no default environment (bootcmd=) found in $UBOOT_BIN"
tail -c +$((off + 2)) "$UBOOT_BIN" | head -c 65536 | tr '\0' '\n' | awk 'length($0) == 0 { exit } { print }' > "$UWORK/env-default.txt"
for v in bootcmd distro_bootcmd boot_targets kernel_addr_r ramdisk_addr_r scriptaddr; do
	grep -q "^$v=" "$UWORK/env-default.txt" || die "the default environment taken from $UBOOT_BIN has no $v="
done
if grep -v '^[A-Za-z0-9_.]*=' "$UWORK/env-default.txt" | grep -q .; then
	die "the default environment taken from $UBOOT_BIN has lines that are not name=value"
fi
# Board settings of the test machine: no autoboot delay (2 s per boot saved)
# and boot.cmd's kernel command line (quiet; panic=-1: a failing /init
# reboots at once, which -no-reboot turns into QEMU's exit).
{
	grep -v '^bootdelay=' "$UWORK/env-default.txt"
	echo "bootdelay=0"
	echo "slotctl_bootargs=console=ttyAMA0 quiet panic=-1"
} > "$UWORK/env-base.txt"
mkenvimage -s "$UENV_SIZE" -o "$UENV_BASE.tmp" "$UWORK/env-base.txt" || die "mkenvimage failed"
truncate -s "${UFLASH_MIB}M" "$UENV_BASE.tmp"
mv "$UENV_BASE.tmp" "$UENV_BASE"
# The flash QEMU boots with is a copy of env-base.img (e2e-uboot.sh makes one
# per boot); the host reads and writes its environment through this config.
echo "$UFLASH1 0x0 $UENV_SIZE" > "$UFWCONFIG"

say "U-Boot test system in $UWORK: disk ${total_mib} MiB ($(du -h "$UDISK" | cut -f1) allocated), $(wc -l < "$UWORK/env-base.txt") default variables ($(elapsed "$t0") s)"
