#!/bin/sh
# Build the test initramfs with Debian's own mkinitramfs and the project's
# hook and local-top script (boot/initramfs-tools), for the kernel fetched by
# fetch-kernel.sh, from a private config dir (-d), inside a private mount
# namespace: mkinitramfs insists on /lib/modules/$KV and /boot/config-$KV,
# so the extracted kernel tree is overlaid there for this process only. The
# host's /etc/initramfs-tools, /lib/modules and /boot stay as they are.
#
# Needs: $BDIR/slot-boot and $RDIR/system.conf (build-rootfs.sh writes the
# config, e2e-qemu.sh puts slot-boot there).
# E2E_INITRAMFS_MODULES: more modules to load at boot (e2e-grub-guest.sh:
# vfat and its code pages, to mount the EFI system partition).
set -eu
. "$(dirname "$0")/common.sh"
need mkinitramfs unshare mount

KV=$(cat "$KDIR/kernel-version" 2>/dev/null) || die "no kernel yet: run images/fetch-kernel.sh"
[ -x "$BDIR/slot-boot" ] || die "$BDIR/slot-boot missing"
[ -f "$RDIR/system.conf" ] || die "$RDIR/system.conf missing: run images/build-rootfs.sh config"

t0=$(now_s)
conf=$IDIR/confdir
rm -rf "$conf"
mkdir -p "$conf/hooks" "$conf/scripts/local-top" "$conf/conf.d" "$IDIR/tmp"

# A minimal, deterministic initramfs: only the modules listed (MODULES=dep
# would look at the *build host's* disks), busybox, zstd, fsck for ext4.
cat > "$conf/initramfs.conf" <<'EOF'
MODULES=list
BUSYBOX=y
KEYMAP=n
COMPRESS=zstd
DEVICE=
NFSROOT=auto
RUNSIZE=10%
FSTYPE=ext4
EOF
# Test-only: the i6300esb watchdog, which the slot init arms so that a hung
# slot ends in a watchdog reset (QEMU: -device i6300esb). udev loads it from
# its modalias before /conf/modules is read, so its timeout is set on the
# kernel command line (i6300esb.heartbeat=N, see e2e-qemu.sh).
echo i6300esb > "$conf/modules"

# The product files, exactly as shipped (mkinitramfs silently skips
# non-executable hooks and scripts: install them 0755).
install -m 0755 "$REPO_DIR/boot/initramfs-tools/hooks/slotctl" "$conf/hooks/slotctl"
install -m 0755 "$REPO_DIR/boot/initramfs-tools/scripts/local-top/slotctl" "$conf/scripts/local-top/slotctl"

out=$IDIR/initrd.img
export SLOTCTL_CONFIG="$RDIR/system.conf"
export SLOTCTL_SLOT_BOOT="$BDIR/slot-boot"
export SLOTCTL_INITRAMFS_MODULES="virtio_pci virtio_blk ext4 pvpanic_mmio${E2E_INITRAMFS_MODULES:+ $E2E_INITRAMFS_MODULES}"
export TMPDIR="$IDIR/tmp"
# /lib is a symlink to usr/lib on bookworm: overlay the kernel's lib/ on
# /usr/lib (read-only is fine: fetch-kernel.sh already ran depmod).
unshare -m sh -eu -c '
	mount -t overlay overlay -o "lowerdir=$1/kroot/lib:/usr/lib" /usr/lib
	mount --bind "$1/kroot/boot" /boot
	mkinitramfs -d "$2" -o "$3.tmp" "$4"
' sh "$KDIR" "$conf" "$out" "$KV" > "$IDIR/mkinitramfs.log" 2>&1 || {
	tail -20 "$IDIR/mkinitramfs.log" >&2
	die "mkinitramfs failed (log: $IDIR/mkinitramfs.log)"
}
mv "$out.tmp" "$out"
# Show the warnings (W:/E:) mkinitramfs printed, if any.
grep -E '^(W|E):' "$IDIR/mkinitramfs.log" >&2 || true

# Check that what we rely on is inside.
lsinitramfs "$out" > "$IDIR/initrd.list"
for f in sbin/slot-boot etc/slotctl/system.conf etc/slotctl/initramfs.env scripts/local-top/slotctl; do
	grep -qx "usr/$f\|$f" "$IDIR/initrd.list" || die "$f missing from the initramfs"
done
# (or built into this kernel: the cloud flavour has ext4 built in)
for m in virtio_blk ext4 pvpanic-mmio ${E2E_INITRAMFS_MODULES:-}; do
	m=$(echo "$m" | tr _ -)
	tr _ - < "$IDIR/initrd.list" | grep -q "/$m.ko" || tr _ - < "$KDIR/kroot/lib/modules/$KV/modules.builtin" | grep -q "/$m.ko" ||
		die "module $m missing from the initramfs"
done
say "initramfs $out: $(du -h "$out" | cut -f1) ($(elapsed "$t0") s)"
