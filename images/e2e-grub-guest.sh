#!/bin/sh
# End-to-end: slotctl inside the guest drives real GRUB. The device is the
# one a user would build: Debian's GRUB 2.06 (BOOTX64.EFI, boot/grub/grub.cfg
# as shipped) under OVMF in qemu-system-x86_64 -accel tcg, a GPT disk with an
# ESP (FAT32, mounted at /boot/efi in the running system), slots A, B and R
# that are whole root file systems (busybox, slotctl, images/slot-init.sh as
# /sbin/init), each with its own /boot/vmlinuz and /boot/initrd.img, the
# initramfs made by Debian's mkinitramfs with slotctl's hook for that slot's
# kernel, and a data partition with the state and the update images.
# The config says `[boot] bootloader = grub`, `grubenv =
# /boot/efi/EFI/slotctl/grubenv`: GRUB chooses and counts, slot-boot in the
# initramfs records the slot GRUB passed (slotctl.slot=), and every slotctl
# operation in the guest rewrites grubenv on the ESP.
#
# The story (the host only writes each boot's plan on the data partition
# and reads the console and, after each boot, grubenv):
#    1 factory-fresh grubenv (no ORDER): GRUB boots A uncounted; A's
#      initramfs provisions the state; A: mark-good (grubenv provisioned),
#      provisions R with the factory image
#    2 A installs 2.0 into B: a broken update (its kernel panics before any
#      initramfs runs; only GRUB can count that)
#  3-5 GRUB tries B three times (B_LEFT 3 -> 0), each a panic
#    6 GRUB boots A; its initramfs marks B bad (boot attempts exhausted) with
#      a fell-back event; A installs 3.0 into B: another kernel than A's
#    7 B boots its own kernel (uname -r in the guest proves it), mark-good
#    8 the data partition hidden (GPT name): slot-boot cannot run, and the
#      initramfs falls back to the slot GRUB booted, whose kernel runs
#    9 B installs a broken 4.0 into A and marks itself bad
# 10-12 GRUB tries A three times, each a panic
#   13 no slot left: GRUB boots R; its initramfs marks A bad; R runs
#      factory-reset (R's image, CRC-checked, into A or B)
#   14 the factory image boots in that slot and is marked good
# After each boot: the slot GRUB announced, the slot, image and kernel that
# ran, how the boot ended, every slotctl command's exit status, `slotctl
# status --json` in the guest (state, GRUB's view, disagreements), and
# grubenv as grub-editenv reads it.
#
# Environment: SLOTCTL_GRUB_DIR (work dir, default /var/tmp/slotctl-grub;
# this test keeps its files in guest/ there), E2E_BOOT_TIMEOUT (one boot,
# default 240 s), E2E_SKIP_BUILD=1 (reuse the binaries of the last run),
# E2E_KEEP=1 (keep the disk).
set -eu
G_DIR=${SLOTCTL_GRUB_DIR:-/var/tmp/slotctl-grub}/guest
export G_DIR
. "$(dirname "$0")/grub-common.sh"

BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-240}
T_START=$(now_s)

# ---------------------------------------------------------------- packages
# What e2e-grub.sh needs, and what e2e-qemu.sh needs for a slotctl root
# file system and a mkinitramfs initramfs.
PKGS="grub-efi-amd64-bin grub-common ovmf mtools dosfstools qemu-system-x86 busybox-static initramfs-tools e2fsprogs fdisk zstd xz-utils file kmod binutils jq"
install_packages $PKGS
need qemu-system-x86_64 timeout flock grub-editenv mcopy perl debugfs jq gzip
[ -f "$OVMF_CODE" ] && [ -f "$OVMF_VARS" ] || die "no $OVMF_CODE / $OVMF_VARS (package ovmf)"

mkdir -p "$WORK" "$GDIR" "$LOGDIR"
exec 9> "$WORK/.lock"
flock -n 9 || die "another run holds $WORK/.lock (QEMU locks the disk image: one run at a time)"

# ---------------------------------------------------------------- system
release_binaries
t=$(now_s)
fetch_kernels

# The slots' root file system tree and config (build-rootfs.sh), with the
# bootloader backend in [boot].
ESP_MOUNT=/boot/efi
E2E_BOOT_CONFIG="bootloader = grub
grubenv = $ESP_MOUNT$ESP_GRUB_DIR/grubenv"
export E2E_BOOT_CONFIG
"$IMAGES_DIR/build-rootfs.sh" tree
grep -q '^bootloader = grub$' "$RDIR/system.conf" || die "the config has no bootloader = grub"

# One initramfs per kernel (mkinitramfs with slotctl's hook, as on Debian),
# with vfat so that the running system can mount the ESP.
initrd_for() { # generic|cloud OUT
	w=$GDIR/initrd-work-$1
	rm -rf "$w"
	mkdir -p "$w"
	ln -s "$(kernel_dir "$1")" "$w/kernel"
	ln -s "$BDIR" "$w/bin"
	ln -s "$RDIR" "$w/rootfs"
	SLOTCTL_E2E_DIR=$w E2E_INITRAMFS_MODULES="vfat nls_cp437 nls_ascii" "$IMAGES_DIR/build-initrd.sh"
	cp "$w/initrd/initrd.img" "$2"
}
initrd_for cloud "$GDIR/initrd-cloud.img"
initrd_for generic "$GDIR/initrd-generic.img"
"$IMAGES_DIR/build-grub-initrd.sh" --junk "$GDIR/initrd-junk.img"

# variant NAME IMAGE KERNEL INITRD: the tree $GDIR/slots/NAME, the root file
# system with /etc/slotctl-e2e/image = IMAGE and that kernel and initramfs.
variant() {
	d=$GDIR/slots/$1
	rm -rf "$d"
	mkdir -p "$GDIR/slots"
	cp -a "$RDIR/tree" "$d"
	echo "$2" > "$d/etc/slotctl-e2e/image"
	mkdir -p "$d$ESP_MOUNT"
	cp "$(kernel_file "$3")" "$d/boot/vmlinuz"
	cp "$4" "$d/boot/initrd.img"
}
variant A 1.0 cloud "$GDIR/initrd-cloud.img"
variant factory factory cloud "$GDIR/initrd-cloud.img"
# Broken updates: a good kernel whose initramfs is junk, so it panics
# before anything of the slot runs.
variant broken-2.0 2.0 cloud "$GDIR/initrd-junk.img"
variant good-3.0 3.0 generic "$GDIR/initrd-generic.img"
variant broken-4.0 4.0 cloud "$GDIR/initrd-junk.img"
# B and R start empty: B is installed by A, R provisioned by A.
for s in B R; do rm -rf "$GDIR/slots/$s" && mkdir -p "$GDIR/slots/$s"; done

# Images sized from the largest tree (+25 %, +16 MiB for ext4), slots a
# little larger; the update images go gzipped onto the data partition.
kib=$(du -sk "$GDIR/slots/good-3.0" "$GDIR/slots/A" | awk '$1 > m { m = $1 } END { print m }')
IMG_MIB=$(((kib * 5 / 4 / 1024 + 16 + 7) / 8 * 8))
G_SLOT_MIB=$((IMG_MIB + 16))
export G_SLOT_MIB
files=$GDIR/data-e2e
rm -rf "$files"
mkdir -p "$files"
for v in factory broken-2.0 good-3.0 broken-4.0; do
	"$IMAGES_DIR/build-grub-disk.sh" image "$GDIR/slots/$v" "$GDIR/image.ext4" "$IMG_MIB"
	gzip -n -c "$GDIR/image.ext4" > "$files/image-${v#*-}.img.gz"
done
rm -f "$GDIR/image.ext4"
echo "A=status poweroff" > "$files/plan"
G_DATA_MIB=$(( ($(du -sk "$files" | cut -f1) / 1024 + 32 + 7) / 8 * 8 ))
export G_DATA_MIB
KERNEL_ARGS="console=ttyS0 panic=-1 no_timer_check quiet"
G_KERNEL_ARGS=$KERNEL_ARGS G_DATA_E2E=$files "$IMAGES_DIR/build-grub-disk.sh"
T_BUILT=$(now_s)
say "test system ready ($(elapsed "$t") s): slots of $G_SLOT_MIB MiB, images of $IMG_MIB MiB ($(du -ch "$files"/*.gz | tail -1 | cut -f1) gzipped); kernels $CKV (A, R) and $KV (B's good update)"

# ---------------------------------------------------------------- helpers
RUN=$LOGDIR/grub-guest-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
ln -sfn "$RUN" "$LOGDIR/grub-guest-last"
ESP=$(esp_img)
DATA="$GDISK?offset=$(($(gpart_start data) * 512))"
nboot=0
name=setup
LOG=

E2E_TEST="E2E GRUB GUEST"

# vboot NAME SLOT IMAGE KERNEL END PLAN: one boot with PLAN on the data
# partition (images/slot-init.sh's words).
#   SLOT    the slot GRUB must choose and the initramfs must boot: A, B or R
#   IMAGE   the image that must run in it (- for none: a panic)
#   KERNEL  generic or cloud: the kernel that must run (uname -r)
#   END     poweroff, reboot (the slot's init ended the boot), panic (a
#           broken slot: no initramfs, no root), or fallback (no state
#           partition: the initramfs booted the slot GRUB chose without
#           slot-boot, the init found no /data and powered off)
# Leaves GRUB's reason in $grub_why and grubenv after the boot, as
# grub-editenv lists it, in $ENVLIST.
vboot() {
	name=$1 want_slot=$2 want_image=$3 want_kernel=$4 want_end=$5
	fallback=n
	if [ "$want_end" = fallback ]; then fallback=y want_end=poweroff; fi
	nboot=$((nboot + 1))
	set_plan "$DATA" "$6"
	LOG=$RUN/boot-$nboot-$name.log
	t=$(now_s)
	ovmf_boot "$LOG"
	wall=$(elapsed "$t")
	ENVLIST=$RUN/boot-$nboot-$name.grubenv
	mcopy -n -i "$ESP" "::$ESP_GRUB_DIR/grubenv" "$RUN/grubenv" || fail "mcopy could not read grubenv from the ESP"
	[ "$(stat -c %s "$RUN/grubenv")" = 1024 ] || fail "grubenv is $(stat -c %s "$RUN/grubenv") bytes after the boot"
	env_list "$RUN/grubenv" > "$ENVLIST" || fail "grub-editenv cannot read grubenv after the boot"

	grub_choice
	hook=$(text | grep -a '^slotctl: booting slot ' | head -1)
	line=$(text | grep -a '^SLOTTEST booted ' | head -1)
	slot=$(echo "$line" | sed -n 's/.* slot=\([^ ]*\).*/\1/p')
	image=$(echo "$line" | sed -n 's/.* image=\([^ ]*\).*/\1/p')
	kernel=$(echo "$line" | sed -n 's/.* kernel=\([^ ]*\).*/\1/p')
	if [ "$rc" = 124 ]; then end=timeout
	elif text | grep -aq 'Kernel panic - not syncing: VFS: Unable to mount root fs'; then end=panic
	elif text | grep -aq 'Kernel panic - not syncing'; then
		end="other-panic: $(text | sed -n 's/.*Kernel panic - not syncing: //p' | head -1)"
	elif text | grep -aq '^SLOTTEST end .*action=reboot' && text | grep -aq 'reboot: Restarting system'; then end=reboot
	elif text | grep -aq '^SLOTTEST end .*action=poweroff' && text | grep -aq 'reboot: Power down'; then end=poweroff
	else end=unknown
	fi
	printf '== boot %2d %-18s grub=%s (%s) slot=%-2s image=%-8s kernel=%-22s end=%-8s %5ss\n' \
		"$nboot" "$name" "${grub_slot:-?}" "$grub_why" "${slot:--}" "${image:--}" "${kernel:--}" "$end" "$wall"
	echo "   grubenv after: $(grep -E '^(ORDER|[AB]_(OK|TRY|LEFT)|R_ONCE)=' "$ENVLIST" | tr '\n' ' ')"
	echo "$nboot $name $end $wall" >> "$RUN/boots.txt"

	[ "$rc" != 124 ] || fail "no end within $BOOT_TIMEOUT s"
	[ "$rc" = 0 ] || fail "QEMU exit status $rc"
	[ "$grub_slot" = "$want_slot" ] || fail "GRUB chose slot '${grub_slot:-none}' ($grub_why), expected $want_slot"
	[ "$end" = "$want_end" ] || fail "the boot ended by '$end', expected $want_end"
	case "$end" in
	panic)
		[ -z "$line" ] || fail "the slot's init ran before the panic: $line"
		;;
	*)
		[ "$slot" = "$want_slot" ] || fail "the system booted slot '$slot', expected $want_slot"
		[ "$image" = "$want_image" ] || fail "expected image $want_image in slot $slot, found '$image'"
		[ "$kernel" = "$(kernel_release "$want_kernel")" ] || fail "kernel $kernel ran, expected $(kernel_release "$want_kernel") ($want_kernel)"
		if [ $fallback = y ]; then
			text | grep -aq "^slotctl: .*; booting slot $want_slot as the bootloader chose it" ||
				fail "the initramfs did not fall back to GRUB's slot $want_slot: $(text | grep -a '^slotctl: ' | tr '\n' ' ')"
			text | grep -aq '^SLOTTEST FAILED: cannot mount .* on /data' || fail "the slot's init found the data partition"
			return 0
		fi
		# The initramfs recorded the slot GRUB booted.
		echo "$hook" | grep -q "^slotctl: booting slot $want_slot: .*the bootloader booted $want_slot" ||
			fail "the initramfs did not record GRUB's choice of $want_slot (said: $hook)"
		bad=$(text | grep -a '^SLOTTEST rc=' | grep -v '^SLOTTEST rc=0:' || true)
		[ -z "$bad" ] || fail "a slotctl command failed in the guest: $bad"
		! text | grep -aq '^SLOTTEST FAILED' || fail "$(text | grep -a '^SLOTTEST FAILED' | head -1)"
		;;
	esac
}

# board_args ARGS: board.cfg on the ESP passes ARGS to every kernel.
board_args() {
	printf '# board.cfg of images/e2e-grub-guest.sh\nset kernel_args="%s"\n' "$1" > "$RUN/board.cfg"
	mcopy -o -i "$ESP" "$RUN/board.cfg" "::$ESP_GRUB_DIR/board.cfg" || fail "mcopy could not write board.cfg"
}

# envhas SPEC: grubenv after the last boot has these variables ("K=V;K=V").
envhas() {
	_ifs=$IFS
	IFS=';'
	for kv in $1; do
		grep -qxF "$kv" "$ENVLIST" || { IFS=$_ifs; fail "grubenv has no $kv: $(tr '\n' ' ' < "$ENVLIST")"; }
	done
	IFS=$_ifs
}
# why TEXT: GRUB's reason for its choice contains TEXT.
why() { case "$grub_why" in *"$1"*) ;; *) fail "GRUB's reason '$grub_why' does not say '$1'" ;; esac; }
# agree N: in status line N the state and GRUB's environment agree.
agree() {
	check "$1" '.bootloader.kind == "grub" and .bootloader.error == null and (.bootloader.disagreements | length) == 0 and (.bootloader.projectionPending | not)' \
		"slotctl status reports the state and grubenv disagreeing"
}
fellback() { # N SLOT: status line N shows SLOT bad after its tries ran out, with a fell-back event
	check "$1" ".slots.$2.status == \"bad\" and .slots.$2.badReason == \"boot attempts exhausted\"" "$2 is not bad (boot attempts exhausted)"
	check "$1" "[.events[] | select(.type == \"fell-back\" and .slot == \"$2\")] | length > 0" "no fell-back event for $2"
}

# ---------------------------------------------------------------- the story
echo "GRUB $(dpkg-query -W -f '${Version}' grub-efi-amd64-bin), OVMF $(dpkg-query -W -f '${Version}' ovmf); slotctl runs in the guest; logs $RUN"

vboot first-boot A 1.0 cloud poweroff \
	"A=status good provision-r:image-factory.img.gz:factory status poweroff"
why "not provisioned"
check 1 '.booted == "A" and .bootloader.provisioned == false' "before any operation grubenv should still be factory-fresh"
check -1 '.slots.A.status == "good" and .slots.R.version == "factory" and .bootloader.provisioned and .bootloader.next == "A"' \
	"A is not good, R not provisioned, or grubenv not provisioned"
agree -1
envhas "ORDER=A B;A_OK=1;A_TRY=0;A_LEFT=3;B_OK=0"

vboot install-broken-B A 1.0 cloud reboot \
	"A=good install:image-2.0.img.gz:2.0 status reboot"
why "A_LEFT 3 -> 2"
check -1 '.slots.B.status == "ready" and .slots.B.version == "2.0" and .bootloader.next == "B" and .bootloader.slots.B.tries == 3' \
	"B does not hold the ready 2.0 with 3 tries in GRUB's view"
agree -1
envhas "ORDER=B A;B_OK=1;B_TRY=0;B_LEFT=3;A_OK=1;A_LEFT=3"

for n in 1 2 3; do
	vboot "broken-B-$n" B - cloud panic "B=status poweroff"
	envhas "B_LEFT=$((3 - n));B_TRY=1"
done

vboot fell-back A 1.0 cloud reboot \
	"A=status good install:image-3.0.img.gz:3.0 status reboot"
why "A_LEFT"
fellback 1 B
check 1 '.booted == "A"' "status does not say A is booted"
agree 1
check -1 '.slots.B.status == "ready" and .slots.B.version == "3.0" and .bootloader.next == "B"' "B does not hold the ready 3.0"
agree -1
envhas "ORDER=B A;B_OK=1;B_LEFT=3;B_TRY=0"
awk '/^ *[0-9.]* SLOTTEST run: slotctl status$/ { on = 1; next } / SLOTTEST rc=/ { if (on) exit } on' "$LOG" |
	sed 's/^ *[0-9.]* //; s/^/   | /'

vboot good-B B 3.0 generic poweroff "B=good status poweroff"
[ "$kernel" = "$KV" ] && [ "$kernel" != "$CKV" ] || fail "B ran kernel $kernel, expected its own $KV (A's is $CKV)"
echo "   B's own kernel ran: uname -r = $kernel (A's is $CKV)"
check -1 '.booted == "B" and .slots.B.status == "good"' "B is not good after mark-good"
agree -1
envhas "ORDER=B A;B_OK=1;B_TRY=0;B_LEFT=3"

# The state partition gone (its GPT name hidden): slot-boot cannot run and
# the initramfs falls back to the slot GRUB booted, whose kernel is
# running, never to R's root under B's kernel. GRUB counted the boot.
sfdisk -q --part-label "$GDISK" 5 hidden > /dev/null || fail "sfdisk could not rename the data partition"
board_args "$KERNEL_ARGS slotctl.wait=3"
vboot no-state-partition B 3.0 generic fallback "B=status poweroff"
sfdisk -q --part-label "$GDISK" 5 data > /dev/null || fail "sfdisk could not rename the data partition back"
board_args "$KERNEL_ARGS"
envhas "B_LEFT=2;B_TRY=1"

vboot B-breaks-A B 3.0 generic reboot \
	"B=install:image-4.0.img.gz:4.0 mark-bad:B status reboot"
check -1 '.slots.A.status == "ready" and .slots.A.version == "4.0" and .slots.B.status == "bad" and .bootloader.next == "A"' \
	"A does not hold the ready 4.0, or B is not bad"
agree -1
envhas "A_OK=1;A_LEFT=3;A_TRY=0;B_OK=0"

for n in 1 2 3; do
	vboot "broken-A-$n" A - cloud panic "A=status poweroff"
	envhas "A_LEFT=$((3 - n));A_TRY=1"
done

vboot recovery R factory cloud reboot "R=status factory-reset status reboot"
why "no slot in ORDER"
check 1 '.booted == "R" and .slots.B.status == "bad"' "R does not know it runs, or B is not bad"
fellback 1 A
agree 1
json -1
target=$(echo "$J" | jq -r '.next // empty')
case "$target" in A | B) ;; *) fail "after factory-reset, status names no next slot A or B: $J" ;; esac
check -1 ".slots.$target.status == \"ready\" and .slots.$target.version == \"factory\" and .bootloader.next == \"$target\"" \
	"the factory-reset target $target is not ready with the factory image"
agree -1

vboot factory "$target" factory cloud poweroff "A=good status poweroff
B=good status poweroff"
check -1 ".booted == \"$target\" and .slots.$target.status == \"good\"" "the factory image in $target is not good after mark-good"
agree -1
envhas "${target}_OK=1;${target}_TRY=0;${target}_LEFT=3"

# ---------------------------------------------------------------- timings
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo ""
printf 'boot times (median seconds, QEMU start to exit, TCG, 1 vCPU): %s (all %d)  %s (slotctl ran)  %s (panics)\n' \
	"$(awk '{ print $4 }' "$RUN/boots.txt" | median)" "$nboot" \
	"$(awk '$3 != "panic" { print $4 }' "$RUN/boots.txt" | median)" \
	"$(awk '$3 == "panic" { print $4 }' "$RUN/boots.txt" | median)"
echo "E2E GRUB GUEST PASSED: $nboot boots in $(awk -v a="$T_BUILT" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }') s, whole run $(elapsed "$T_START") s (logs: $RUN)"
rm -f "$RUN/grubenv"
[ "${E2E_KEEP:-0}" = 1 ] || rm -f "$GDISK"
