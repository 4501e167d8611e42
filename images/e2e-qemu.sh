#!/bin/sh
# End-to-end test of the boot path: a real Debian kernel, an initramfs made
# by mkinitramfs with slotctl's hook, and an A/B/R disk, booted under QEMU
# again and again. Reads the guest's serial console and walks this story,
# failing loudly on any deviation:
#
#   1 first boot (no state yet)     -> A (1.0); A runs `slotctl mark-good`
#   2 A installs 2.0 into B         -> A; `slotctl install`, then reboot
#   3 B on trial, powers off        -> B (2.0), not confirmed
#   4 B on trial, panics            -> B, kernel panic (pvpanic: QEMU exits 1)
#   5 B on trial, hangs             -> B, the watchdog ends it
#   6 tries exhausted               -> A; `slotctl status` shows B bad and a
#                                      fell-back event; A marks itself bad
#   7 no candidate left             -> R (factory); `slotctl factory-reset`
#   8 the factory image             -> A or B (factory), confirmed
#   9 kernel command line slotctl=recovery (what a bootloader backstop
#     passes)                       -> R by the hook's own fallback path
#
# Each boot's slot comes from the guest console: the hook's "slotctl:
# booting slot X" line and the slot init's "SLOTTEST booted slot=X".
#
# It installs the Debian packages it needs when missing, builds slot-boot
# (static) and slotctl (release) with its own scratch paths, the kernel,
# initramfs, slot images and disk (images/*.sh), then boots.
#
# Environment:
#   SLOTCTL_E2E_DIR     work dir for kernel, images, logs (/var/tmp/slotctl-e2e)
#   E2E_SKIP_BUILD=1    reuse $SLOTCTL_E2E_DIR/bin (no swift build)
#   E2E_BOOT_TIMEOUT    upper bound of one boot in seconds (default 180)
#   E2E_KEEP=1          keep the disk image of the last run
set -eu
. "$(dirname "$0")/common.sh"

BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-180}
WATCHDOG_S=8
T_START=$(now_s)

# ---------------------------------------------------------------- packages
# qemu-system-x86, busybox-static, initramfs-tools (note: it pulls udev,
# whose exact-version dependency upgrades the host's libudev1/systemd),
# e2fsprogs (mke2fs -d, debugfs), fdisk (sfdisk), and small tools.
PKGS="qemu-system-x86 busybox-static initramfs-tools e2fsprogs fdisk zstd xz-utils binutils file jq kmod"
install_packages $PKGS
need qemu-system-x86_64 timeout debugfs jq flock

mkdir -p "$WORK" "$BDIR" "$LOGDIR"
exec 9> "$WORK/.lock"
flock -n 9 || die "another run holds $WORK/.lock (QEMU locks the disk image: one run at a time)"

# ---------------------------------------------------------------- binaries
release_binaries

# ---------------------------------------------------------------- images
t=$(now_s)
"$IMAGES_DIR/fetch-kernel.sh"
"$IMAGES_DIR/build-rootfs.sh"
"$IMAGES_DIR/build-initrd.sh"
"$IMAGES_DIR/build-disk.sh"
T_BUILT=$(now_s)
say "test system ready ($(elapsed "$t") s)"

# ---------------------------------------------------------------- helpers
RUN=$LOGDIR/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
ln -sfn "$RUN" "$LOGDIR/last"
DATA=$(data_fs)
KV=$(cat "$KDIR/kernel-version")
nboot=0
LOG=

E2E_TEST="E2E"

# boot NAME EXPECT_SLOT EXPECT_IMAGE EXPECT_END PLAN
#   EXPECT_SLOT: A, B, R or AB (either A or B); EXPECT_END: poweroff, reboot,
#   panic or watchdog. Sets SLOT and leaves the cleaned console in $LOG.
#   $EXTRA_APPEND is added to the kernel command line.
EXTRA_APPEND=
boot() {
	name=$1 want_slot=$2 want_image=$3 want_end=$4
	nboot=$((nboot + 1))
	set_plan "$DATA" "$5"
	raw=$RUN/boot-$nboot-$name.raw
	LOG=$RUN/boot-$nboot-$name.log
	tmo=$BOOT_TIMEOUT
	t=$(now_s)
	rc=0
	timeout "$tmo" qemu-system-x86_64 -accel tcg -m 512 -smp 1 \
		-nodefaults -display none -serial stdio \
		-kernel "$KDIR/vmlinux" -initrd "$IDIR/initrd.img" \
		-append "console=ttyS0 quiet panic=-1 i6300esb.heartbeat=$WATCHDOG_S${EXTRA_APPEND:+ $EXTRA_APPEND}" \
		-drive "file=$DISK,format=raw,if=virtio" \
		-device pvpanic -action panic=exit-failure \
		-device i6300esb -action watchdog=poweroff \
		-no-reboot < /dev/null > "$raw" 2>&1 || rc=$?
	wall=$(elapsed "$t")
	tr -d '\r' < "$raw" > "$LOG"

	hook=$(grep -a '^slotctl: ' "$LOG" | tr '\n' ' ')
	line=$(grep -a '^SLOTTEST booted ' "$LOG" | head -1)
	SLOT=$(echo "$line" | sed -n 's/.* slot=\([^ ]*\).*/\1/p')
	image=$(echo "$line" | sed -n 's/.* image=\([^ ]*\).*/\1/p')
	if grep -aq 'Kernel panic' "$LOG"; then end=panic
	elif [ "$rc" = 124 ]; then end=timeout
	elif grep -aq '^SLOTTEST hanging' "$LOG"; then end=watchdog
	elif grep -aq '^SLOTTEST end .*action=reboot' "$LOG" && grep -aq 'reboot: Restarting system' "$LOG"; then end=reboot
	elif grep -aq '^SLOTTEST end .*action=poweroff' "$LOG" && grep -aq 'reboot: Power down' "$LOG"; then end=poweroff
	else end=unknown
	fi
	printf '== boot %d %-16s slot=%-2s image=%-8s end=%-8s rc=%-3s %5ss | %s\n' \
		"$nboot" "$name" "${SLOT:-?}" "${image:-?}" "$end" "$rc" "$wall" "$hook"
	echo "$nboot $name $SLOT $image $end $rc $wall" >> "$RUN/boots.txt"

	[ -n "$line" ] || fail "no 'SLOTTEST booted' line: the slot's init never ran"
	case "$want_slot" in
	AB) [ "$SLOT" = A ] || [ "$SLOT" = B ] || fail "expected slot A or B, the guest booted '$SLOT'" ;;
	*) [ "$SLOT" = "$want_slot" ] || fail "expected slot $want_slot, the guest booted '$SLOT'" ;;
	esac
	[ "$image" = "$want_image" ] || fail "expected image $want_image in slot $SLOT, found '$image'"
	# The initramfs must have said what it chose, and it must agree.
	echo "$hook" | grep -q "slotctl: booting slot $SLOT: root=\|slotctl: .*falling back to recovery slot R" ||
		fail "the initramfs did not report choosing slot $SLOT (said: $hook)"
	[ "$end" = "$want_end" ] || fail "expected the boot to end by $want_end, it ended by $end (QEMU rc=$rc)"
	case "$end" in
	poweroff | reboot | watchdog) [ "$rc" = 0 ] || fail "QEMU exit status $rc after $end" ;;
	panic) [ "$rc" = 1 ] || fail "QEMU exit status $rc after a panic (pvpanic should make it 1)" ;;
	esac
	# Every command of the plan must have succeeded.
	bad=$(grep -a '^SLOTTEST rc=' "$LOG" | grep -v '^SLOTTEST rc=0:' || true)
	[ -z "$bad" ] || fail "a slotctl command failed in the guest: $bad"
	! grep -aq '^SLOTTEST FAILED' "$LOG" || fail "$(grep -a '^SLOTTEST FAILED' "$LOG" | head -1)"
}

# ---------------------------------------------------------------- the story
echo "kernel $KV, $(du -h "$IDIR/initrd.img" | cut -f1) initramfs, disk $DISK, logs $RUN"
PROVISION_R=${E2E_PROVISION_R:-provision-r:image-factory.img.gz:factory}

boot first-boot A 1.0 poweroff \
	"A=good $PROVISION_R status poweroff"
check -1 '.booted == "A" and .slots.A.status == "good"' "A is not good after mark-good"

boot install-B A 1.0 reboot \
	"A=good install:image-2.0.img.gz:2.0 status reboot"
check -1 '.slots.B.status == "ready" and .slots.B.version == "2.0"' "B does not hold the ready 2.0 after install"
check -1 '.next == "B"' "the next boot would not try B"

boot trial-poweroff B 2.0 poweroff "B=poweroff"
boot trial-panic B 2.0 panic "B=panic"
boot trial-hang B 2.0 watchdog "B=hang"

boot fell-back A 1.0 reboot \
	"A=status mark-bad:A status reboot"
check 1 '.booted == "A"' "status does not say A is booted"
check 1 '.slots.B.status == "bad"' "B is not bad after $MAX_TRIES unconfirmed boots"
check 1 '[.events[] | select(.type == "fell-back" and .slot == "B")] | length > 0' "no fell-back event for B"
check -1 '.slots.A.status == "bad"' "A is not bad after mark-bad A"
# Show that status, as a person would read it on the device.
awk '/^SLOTTEST run: slotctl status/ { on = 1; next } /^SLOTTEST rc=/ { if (on) exit } on' "$LOG" |
	sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/^/   | /'

boot recovery R factory reboot \
	"R=status factory-reset status reboot"
json -1
target=$(echo "$J" | jq -r '.next // empty')
case "$target" in A | B) ;; *) fail "after factory-reset, status names no next slot A or B: $J" ;; esac
check -1 ".slots.$target.status == \"ready\"" "the factory-reset target $target is not ready"

boot factory "$target" factory poweroff \
	"A=good status poweroff
B=good status poweroff"
check -1 ".booted == \"$target\" and .slots.$target.status == \"good\"" "the factory image in $target is not good after mark-good"

# The hook's own fallback (what it does when slot-boot fails), as a
# bootloader backstop would trigger it: slotctl=recovery boots R without
# counting, and slotctl in R learns that from run-dir/booted.
EXTRA_APPEND=slotctl=recovery
boot hook-fallback R factory poweroff "R=status poweroff"
EXTRA_APPEND=
grep -aq '^slotctl: recovery requested on the kernel command line (slotctl=recovery); falling back to recovery slot R' "$LOG" ||
	fail "the hook did not report its fallback to R"
check -1 '.booted == "R"' "slotctl in R does not know it is running from R"

T_END=$(now_s)
echo ""
echo "E2E PASSED: $nboot boots in $(awk -v a="$T_BUILT" -v b="$T_END" 'BEGIN { printf "%.1f", b - a }') s, whole run $(elapsed "$T_START") s (logs: $RUN)"
[ "${E2E_KEEP:-0}" = 1 ] || rm -f "$DISK"
