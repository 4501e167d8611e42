#!/bin/sh
# Assemble the test disk $DDIR/disk.img (sparse), without mounts or loop
# devices: a GPT made by sfdisk with the partitions
#     1 rootfs_a   image 1.0 (the first system)
#     2 rootfs_b   empty (the update goes here)
#     3 recovery   the factory image
#     4 data       ext4: slotctl/ (the state, empty = never provisioned),
#                  app/ (application data), e2e/ (the test's update image
#                  and the per-boot plan the slot init reads)
# Re-running makes a fresh disk.
set -eu
. "$(dirname "$0")/common.sh"
need sfdisk mke2fs gzip dd

for v in 1.0 2.0 factory; do
	[ -f "$RDIR/image-$v.ext4" ] || die "$RDIR/image-$v.ext4 missing: run images/build-rootfs.sh"
done
t0=$(now_s)
mkdir -p "$DDIR"

# The update image as a device would download it: gzip (slotctl detects it
# by its magic). -n: no name or time stamp, so rebuilding gives the same bytes.
gzip -n -1 -c "$RDIR/image-2.0.ext4" > "$DDIR/image-2.0.img.gz.tmp"
mv "$DDIR/image-2.0.img.gz.tmp" "$DDIR/image-2.0.img.gz"
# The factory image, for provisioning R's record (install --slot R --provision).
gzip -n -1 -c "$RDIR/image-factory.ext4" > "$DDIR/image-factory.img.gz.tmp"
mv "$DDIR/image-factory.img.gz.tmp" "$DDIR/image-factory.img.gz"

dtree=$DDIR/data-tree
rm -rf "$dtree"
mkdir -p "$dtree/slotctl" "$dtree/app" "$dtree/e2e"
echo "application data written at the factory" > "$dtree/app/settings"
cp "$DDIR/image-2.0.img.gz" "$DDIR/image-factory.img.gz" "$dtree/e2e/"
printf 'A=status poweroff\nB=status poweroff\nR=status poweroff\n' > "$dtree/e2e/plan"
rm -f "$DDIR/data.ext4"
mke2fs -q -F -t ext4 -L data -E root_owner=0:0 -d "$dtree" "$DDIR/data.ext4" "${PART_D_MIB}M" > /dev/null ||
	die "mke2fs of the data partition failed (is PART_D_MIB=$PART_D_MIB big enough?)"

total_mib=$((1 + PART_A_MIB + PART_B_MIB + PART_R_MIB + PART_D_MIB + 1))
rm -f "$DISK.tmp"
truncate -s "${total_mib}M" "$DISK.tmp"
sfdisk -q "$DISK.tmp" > "$DDIR/sfdisk.log" 2>&1 <<EOF || die "sfdisk failed: $(cat "$DDIR/sfdisk.log")"
label: gpt
start=$(part_start a), size=$((PART_A_MIB * 2048)), type=linux, name=rootfs_a
start=$(part_start b), size=$((PART_B_MIB * 2048)), type=linux, name=rootfs_b
start=$(part_start r), size=$((PART_R_MIB * 2048)), type=linux, name=recovery
start=$(part_start d), size=$((PART_D_MIB * 2048)), type=linux, name=data
EOF
put() { # file partition
	dd if="$1" of="$DISK.tmp" bs=512 seek="$(part_start "$2")" conv=notrunc,sparse status=none
}
put "$RDIR/image-1.0.ext4" a
put "$RDIR/image-factory.ext4" r
put "$DDIR/data.ext4" d
mv "$DISK.tmp" "$DISK"
rm -f "$DDIR/data.ext4"
say "disk $DISK: ${total_mib} MiB, $(du -h "$DISK" | cut -f1) allocated ($(elapsed "$t0") s)"
