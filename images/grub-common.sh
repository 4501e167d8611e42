# shellcheck shell=sh disable=SC2034
# Shared settings of the GRUB scripts (build-grub-initrd.sh,
# build-grub-disk.sh, e2e-grub.sh). Sourced, never run. On top of common.sh,
# with a work dir of their own, $SLOTCTL_GRUB_DIR (default
# /var/tmp/slotctl-grub): kernels, initramfs images, slot file systems, the
# disk and the logs, never in the repository.

SLOTCTL_GRUB_DIR=${SLOTCTL_GRUB_DIR:-/var/tmp/slotctl-grub}
# common.sh (and fetch-kernel.sh) take their work dir from SLOTCTL_E2E_DIR:
# the default kernel lands in $SLOTCTL_GRUB_DIR/kernel.
SLOTCTL_E2E_DIR=$SLOTCTL_GRUB_DIR
export SLOTCTL_GRUB_DIR SLOTCTL_E2E_DIR
. "$(dirname "$0")/common.sh"
need() {
	for _n in "$@"; do
		command -v "$_n" >/dev/null 2>&1 || die "'$_n' not found (run images/e2e-grub.sh once, it installs the Debian packages)"
	done
}

GDIR=$WORK/grub            # GRUB image, ESP, slot trees and file systems, disk
CLOUD_WORK=$WORK/cloud     # fetch-kernel.sh's work dir for the second kernel
GDISK=$GDIR/disk.img

# GPT layout (MiB): ESP (FAT32, the smallest size mkfs.vfat makes FAT32 of),
# slots A, B and R (ext4: only /boot with a kernel and an initramfs here) and
# a data partition. The first partition starts at 1 MiB.
G_ESP_MIB=${G_ESP_MIB:-40}
G_SLOT_MIB=${G_SLOT_MIB:-40}
G_DATA_MIB=${G_DATA_MIB:-8}

# gpart_start esp|a|b|r|data: start in 512-byte sectors.
gpart_start() {
	case "$1" in
	esp) echo 2048 ;;
	a) echo $((2048 + G_ESP_MIB * 2048)) ;;
	b) echo $((2048 + (G_ESP_MIB + G_SLOT_MIB) * 2048)) ;;
	r) echo $((2048 + (G_ESP_MIB + 2 * G_SLOT_MIB) * 2048)) ;;
	data) echo $((2048 + (G_ESP_MIB + 3 * G_SLOT_MIB) * 2048)) ;;
	*) die "gpart_start: unknown partition $1" ;;
	esac
}
# The ESP inside the disk, as mtools names it (-i IMAGE@@BYTE-OFFSET).
esp_img() { echo "$GDISK@@$(($(gpart_start esp) * 512))"; }
# mtools checks the geometry against the BPB; a plain image has none.
MTOOLS_SKIP_CHECK=1
export MTOOLS_SKIP_CHECK

# Where GRUB and slotctl's files live on the ESP. BOOTX64.EFI is the
# removable-media path every UEFI firmware tries without boot entries.
ESP_GRUB_DIR=/EFI/slotctl
ESP_LOADER=/EFI/BOOT/BOOTX64.EFI
