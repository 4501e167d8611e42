#!/bin/sh
# Build the slot root file systems of the test system, without mounting
# anything: a busybox-static tree carrying slotctl, every shared library it
# needs (found with ldd: the Swift runtime, Foundation, libcurl and friends,
# and the dynamic loader), the slotctl config and the test init
# (images/slot-init.sh as /sbin/init), turned into ext4 images by `mke2fs -d`.
#
# Three images differ only in /etc/slotctl-e2e/image:
#   image-1.0.ext4      what slot A holds when the disk is made
#   image-2.0.ext4      the update that A installs into B (gzipped on data)
#   image-factory.ext4  the factory image in the recovery slot R
#
#   build-rootfs.sh config   only write $RDIR/system.conf (the initramfs needs it)
#   build-rootfs.sh tree     config and tree ($RDIR/tree), no images
#   build-rootfs.sh          config, tree and images
# E2E_BOOT_CONFIG: more lines for the config's [boot] section (e.g. a
# bootloader backend: images/e2e-grub-guest.sh).
# Needs $BDIR/slotctl. Re-running rebuilds from scratch.
set -eu
. "$(dirname "$0")/common.sh"
need mke2fs ldd busybox

write_config() {
	mkdir -p "$RDIR"
	cat > "$RDIR/system.conf.tmp" <<EOF
# slotctl configuration of the QEMU end-to-end test system (images/)
[system]
compatible = $COMPATIBLE
state = /data/slotctl          # the data partition, mounted by the slot init
run-dir = /run/slotctl
max-tries = $MAX_TRIES
data = /data/app

[slot.A]
device = PARTLABEL=rootfs_a
[slot.B]
device = PARTLABEL=rootfs_b
[slot.R]
device = PARTLABEL=recovery
readonly = true

[boot]
state-device = PARTLABEL=data  # what slot-boot mounts in the initramfs
state-path = slotctl
EOF
	[ -z "${E2E_BOOT_CONFIG:-}" ] || printf '%s\n' "$E2E_BOOT_CONFIG" >> "$RDIR/system.conf.tmp"
	mv "$RDIR/system.conf.tmp" "$RDIR/system.conf"
}

write_config
[ "${1:-}" = config ] && exit 0

[ -x "$BDIR/slotctl" ] || die "$BDIR/slotctl missing"
t0=$(now_s)
tree=$RDIR/tree
rm -rf "$tree"
mkdir -p "$tree"
cd "$tree"
mkdir -p bin sbin usr/bin usr/sbin usr/lib etc/slotctl etc/slotctl-e2e proc sys dev run tmp data root
# usr-merged like the host, so ldd's paths land where the loader looks.
ln -s usr/lib lib
ln -s usr/lib64 lib64
mkdir -p usr/lib64

# busybox-static: one binary, a symlink per applet.
bb=$(command -v busybox)
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || die "$bb is not static (install busybox-static)"
cp "$bb" bin/busybox
for a in $(bin/busybox --list); do
	[ "$a" = busybox ] || [ -e "bin/$a" ] || ln -s busybox "bin/$a"
done

install -m 0755 "$IMAGES_DIR/slot-init.sh" sbin/init
install -m 0755 "$BDIR/slotctl" usr/bin/slotctl
cp "$RDIR/system.conf" etc/slotctl/system.conf
printf 'root:x:0:0:root:/root:/bin/sh\n' > etc/passwd
printf 'root:x:0:\n' > etc/group
echo slotctl-e2e > etc/hostname

# Shared libraries of slotctl (a stand-in script has none), copied to the
# paths ldd resolved them to (the RUNPATH of a Swift binary points into the
# toolchain, /opt/swift/usr/lib/swift/linux, so that path is kept).
nlib=0
if ldd "$BDIR/slotctl" > "$RDIR/slotctl.ldd" 2>&1; then
	grep -q 'not found' "$RDIR/slotctl.ldd" && die "slotctl has unresolved libraries: $(grep 'not found' "$RDIR/slotctl.ldd")"
	for lib in $(awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }' "$RDIR/slotctl.ldd"); do
		mkdir -p "$tree${lib%/*}"
		cp -L "$lib" "$tree$lib"
		nlib=$((nlib + 1))
	done
	# Proof that the tree is complete: run slotctl inside it.
	chroot "$tree" /usr/bin/slotctl --help > "$RDIR/slotctl-help.txt" 2>&1 ||
		die "slotctl does not run in the slot tree: $(tail -3 "$RDIR/slotctl-help.txt")"
fi

[ "${1:-}" = tree ] && { say "slot tree $tree ($nlib libraries)"; exit 0; }

# Size the images from the content: +25 % and 16 MiB for ext4's metadata.
kib=$(du -sk "$tree" | cut -f1)
mib=$(( (kib * 5 / 4 / 1024 + 16 + 7) / 8 * 8 ))
[ "$mib" -le "$PART_A_MIB" ] || die "slot content needs ${mib} MiB, slots are $PART_A_MIB MiB (raise PART_*_MIB in images/common.sh)"
for v in 1.0 2.0 factory; do
	echo "$v" > etc/slotctl-e2e/image
	rm -f "$RDIR/image-$v.ext4"
	mke2fs -q -F -t ext4 -L "e2e-$v" -E root_owner=0:0 -d "$tree" "$RDIR/image-$v.ext4" "${mib}M" > /dev/null ||
		die "mke2fs of image $v failed"
done
echo "$mib" > "$RDIR/image-size-mib"
say "slot images: $((kib / 1024)) MiB of files ($nlib libraries), ${mib} MiB ext4 each ($(elapsed "$t0") s)"
