# shellcheck shell=sh disable=SC2034
# Shared settings for the images/ scripts. Sourced, never run.
#
# Everything big (kernel, initramfs, disk image, logs) lives under
# $SLOTCTL_E2E_DIR (default /var/tmp/slotctl-e2e), never in the repository.

IMAGES_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(cd "$IMAGES_DIR/.." && pwd)
WORK=${SLOTCTL_E2E_DIR:-/var/tmp/slotctl-e2e}

KDIR=$WORK/kernel          # downloaded .deb, extracted tree, vmlinux
IDIR=$WORK/initrd          # private initramfs-tools confdir, initrd.img
RDIR=$WORK/rootfs          # slot trees and their ext4 images
DDIR=$WORK/disk            # disk.img and the files put on the data partition
BDIR=$WORK/bin             # slot-boot and slotctl used for the images
LOGDIR=$WORK/logs

# GPT layout (MiB). The first partition starts at 1 MiB. A slot holds
# slotctl with its shared libraries (the Swift runtime and Foundation with
# ICU are ~90 MB), so slots are 192 MiB; the data partition also holds the
# compressed update images.
PART_A_MIB=${PART_A_MIB:-192}
PART_B_MIB=${PART_B_MIB:-192}
PART_R_MIB=${PART_R_MIB:-192}
PART_D_MIB=${PART_D_MIB:-256}
# The slot file system images are smaller than the slots: an update image
# does not have to fill its slot, and a smaller image installs faster.
ROOTFS_MIB=${ROOTFS_MIB:-160}

# Config every image and the initramfs carry.
COMPATIBLE=slotctl-e2e
MAX_TRIES=3

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }
need() {
	for _n in "$@"; do
		command -v "$_n" >/dev/null 2>&1 || die "'$_n' not found (run images/e2e-qemu.sh once, it installs the Debian packages)"
	done
}
# now_s: seconds since the epoch with centiseconds, for timings.
now_s() { date +%s.%N | cut -c1-13; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# Partition offsets in 512-byte sectors, derived from the sizes above.
part_start() { # $1 = a|b|r|d
	_s=2048
	case "$1" in
	a) ;;
	b) _s=$((_s + PART_A_MIB * 2048)) ;;
	r) _s=$((_s + (PART_A_MIB + PART_B_MIB) * 2048)) ;;
	d) _s=$((_s + (PART_A_MIB + PART_B_MIB + PART_R_MIB) * 2048)) ;;
	*) die "part_start: unknown partition $1" ;;
	esac
	echo "$_s"
}
DISK=$DDIR/disk.img
data_fs() { echo "$DISK?offset=$(($(part_start d) * 512))"; }

# Installs the Debian packages named that are missing (apt-get, as root);
# the log goes to $TMPDIR/slotctl-<script>-apt.log.
install_packages() {
	missing=
	for p in "$@"; do
		dpkg-query -W -f '${Status}' "$p" 2> /dev/null | grep -q 'ok installed' || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	say "installing Debian packages:$missing"
	t=$(now_s)
	apt_log="${TMPDIR:-/tmp}/slotctl-${0##*/}-apt.log"
	apt-get update -q > /dev/null || die "apt-get update failed"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing > "$apt_log" 2>&1 ||
		die "apt-get install$missing failed (log: $apt_log)"
	say "packages installed ($(elapsed "$t") s)"
}

# release_binaries: slot-boot (static) and slotctl into $BDIR, stripped, from
# the release build of `make install` (its scratch paths and flags: slotctl
# with the Swift runtime linked in, slot-boot fully static), so that CI
# builds release once for every guest and the C API test. E2E_SKIP_BUILD=1
# reuses what $BDIR holds.
release_binaries() {
	mkdir -p "$BDIR" "$LOGDIR"
	if [ "${E2E_SKIP_BUILD:-0}" = 1 ]; then
		[ -x "$BDIR/slot-boot" ] && [ -x "$BDIR/slotctl" ] || die "E2E_SKIP_BUILD=1 but $BDIR has no binaries"
		say "reusing $BDIR/slot-boot and $BDIR/slotctl"
		return 0
	fi
	need swift strip make
	t=$(now_s)
	(cd "$REPO_DIR" && make --no-print-directory install-build-static install-build) > "$LOGDIR/build-release.log" 2>&1 || {
		tail -30 "$LOGDIR/build-release.log" >&2
		die "release build failed (log: $LOGDIR/build-release.log)"
	}
	say "release binaries built ($(elapsed "$t") s)"
	strip -o "$BDIR/slot-boot" "$REPO_DIR/${INSTALL_SCRATCH_STATIC:-.build-install-static}/release/slot-boot"
	strip -o "$BDIR/slotctl" "$REPO_DIR/${INSTALL_SCRATCH:-.build-install}/release/slotctl"
	if ldd "$BDIR/slot-boot" > /dev/null 2>&1; then
		die "slot-boot is dynamically linked: $(ldd "$BDIR/slot-boot" | tr '\n' ' ')"
	fi
	say "slot-boot: $(du -h "$BDIR/slot-boot" | cut -f1) static; slotctl: $(du -h "$BDIR/slotctl" | cut -f1)"
}

# The host-side slotctl config of the bootloader stories (e2e-grub.sh,
# e2e-uboot.sh): file slots a.img, b.img, r.img (readonly) and the state
# beside it; the [boot] lines (bootloader and its environment) are given.
# usage: write_story_config FILE COMPATIBLE BOOT-LINE...
write_story_config() {
	file=$1 compatible=$2
	shift 2
	{
		printf '[system]\ncompatible = %s\nstate = state\nrun-dir = run\nmax-tries = 3\ndata = data\n\n' "$compatible"
		printf '[slot.A]\ndevice = a.img\n[slot.B]\ndevice = b.img\n[slot.R]\ndevice = r.img\nreadonly = true\n\n[boot]\n'
		printf '%s\n' "$@"
	} > "$file"
}


# ---- the boot tests' shared parts

# fail MESSAGE: end the test: what failed, at which boot ($nboot, $name),
# the end of that boot's console ($LOG; without the kernel's own lines when
# E2E_HIDE_KERNEL_LOG=1), where the logs are ($RUN). $E2E_TEST names the test.
fail() {
	echo "" >&2
	echo "${E2E_TEST:-E2E} FAILED at boot ${nboot:-0}${name:+ ($name)}: $*" >&2
	if [ -n "${LOG:-}" ] && [ -f "$LOG" ]; then
		if [ "${E2E_HIDE_KERNEL_LOG:-0}" = 1 ]; then
			echo "---- console, without the kernel's log ($LOG) ----" >&2
			grep -av '^ *[0-9.]* \[ *[0-9]*\.[0-9]*\] ' "$LOG" | tail -30 >&2
		else
			echo "---- last 40 console lines ($LOG) ----" >&2
			tail -40 "$LOG" >&2
		fi
		echo "----" >&2
	fi
	echo "logs: ${RUN:-$LOGDIR}" >&2
	exit 1
}

# The guest's plan and its status lines (e2e-qemu.sh, e2e-grub-guest.sh).
# Both expect the caller's `fail MESSAGE` and its $RUN (the run's log dir);
# json and check read the console of the last boot, $LOG.

# set_plan FS TEXT: write /e2e/plan on the data file system FS (a debugfs
# name, e.g. disk.img?offset=BYTES) without mounting it; images/slot-init.sh
# reads it at the next boot.
set_plan() {
	# debugfs does not replay a journal: if a guest died with /data mounted,
	# let e2fsck replay it first (the slot init unmounts /data normally).
	if dumpe2fs -h "$1" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; then
		say "data partition needs journal recovery (a guest died with /data mounted): e2fsck"
		e2fsck -fy "$1" > "$RUN/e2fsck.log" 2>&1 || [ $? -le 1 ] || fail "e2fsck of the data partition failed: $(tail -5 "$RUN/e2fsck.log")"
	fi
	printf '%s\n' "$2" > "$RUN/plan"
	printf 'cd /e2e\nrm plan\nwrite %s plan\n' "$RUN/plan" |
		debugfs -w -f - "$1" > "$RUN/debugfs.log" 2>&1 || fail "debugfs could not write the plan: $(cat "$RUN/debugfs.log")"
	debugfs -R 'cat /e2e/plan' "$1" 2>/dev/null | cmp -s - "$RUN/plan" || fail "the plan on the data partition does not read back"
}

# json N: set J to the N-th (1 = first, -1 = last) status --json line of this boot.
json() {
	# (a console line may start with the seconds since QEMU started)
	sed -n 's/^[ 0-9.]*SLOTTEST status-json: //p' "$LOG" > "$RUN/json.tmp"
	if [ "$1" = -1 ]; then J=$(tail -1 "$RUN/json.tmp"); else J=$(sed -n "${1}p" "$RUN/json.tmp"); fi
	[ -n "$J" ] || fail "no status --json line $1 on the console"
	echo "$J" | jq -e . > /dev/null 2>&1 || fail "status --json printed no valid JSON: $J"
}
# check N JQ-EXPR MESSAGE: assert on a status --json line.
check() {
	json "$1"
	echo "$J" | jq -e "$2" > /dev/null 2>&1 || fail "$3 (jq: $2) in: $J"
}
