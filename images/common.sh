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

