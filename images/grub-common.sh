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

# GRUB image, ESP, slot trees and file systems, disk; e2e-grub-guest.sh
# keeps its own (G_DIR), so the two tests do not rebuild each other's.
GDIR=${G_DIR:-$WORK/grub}
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

# env_list FILE: the variables of a grubenv block, one K=V a line, sorted.
env_list() { grub-editenv "$1" list | LC_ALL=C sort; }

# Where GRUB and slotctl's files live on the ESP. BOOTX64.EFI is the
# removable-media path every UEFI firmware tries without boot entries.
ESP_GRUB_DIR=/EFI/slotctl
ESP_LOADER=/EFI/BOOT/BOOTX64.EFI

# fetch_kernels: the two kernels of the GRUB tests (fetch-kernel.sh: apt-get
# download, nothing installed), two flavours of one Debian release, so that
# `uname -r` in the guest says whose kernel ran: KV, the standard one
# (linux-image-amd64, in $KDIR), and CKV, the cloud one
# (linux-image-cloud-amd64, or CLOUD_KVERSION; in $CLOUD_WORK/kernel).
fetch_kernels() {
	KERNEL_VMLINUX=0 "$IMAGES_DIR/fetch-kernel.sh"
	KV=$(cat "$KDIR/kernel-version")
	# Without apt lists, the cloud kernel fetched last time.
	CKV=${CLOUD_KVERSION:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }')}
	[ -n "$CKV" ] || CKV=$(cat "$CLOUD_WORK/kernel/kernel-version" 2>/dev/null) || die "cannot resolve linux-image-cloud-amd64 (apt-get update?)"
	SLOTCTL_E2E_DIR=$CLOUD_WORK KVERSION=$CKV KERNEL_VMLINUX=0 "$IMAGES_DIR/fetch-kernel.sh"
	[ "$KV" != "$CKV" ] || die "the two kernels have the same release $KV"
}
# kernel_dir generic|cloud: fetch-kernel.sh's directory of that kernel.
kernel_dir() {
	case "$1" in
	generic) echo "$KDIR" ;;
	cloud) echo "$CLOUD_WORK/kernel" ;;
	*) die "kernel_dir: no kernel '$1'" ;;
	esac
}
kernel_file() { # generic|cloud
	case "$1" in
	generic) echo "$KDIR/kroot/boot/vmlinuz-$KV" ;;
	cloud) echo "$CLOUD_WORK/kernel/kroot/boot/vmlinuz-$CKV" ;;
	esac
}
kernel_release() { case "$1" in generic) echo "$KV" ;; cloud) echo "$CKV" ;; *) echo - ;; esac; }

OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
# ovmf_boot LOG: boot $GDISK once under OVMF (a fresh copy of its variable
# store each time) in qemu-system-x86_64 -accel tcg, 1 vCPU. QEMU ends at
# the guest's power-off or reboot (-no-reboot) or after $BOOT_TIMEOUT s.
# LOG gets the console, ANSI codes stripped, each line prefixed by the
# seconds since QEMU started (for the timings); rc is QEMU's exit status
# (124: timed out).
ovmf_boot() {
	cp "$OVMF_VARS" "$RUN/ovmf-vars.fd"
	{
		rc=0
		timeout "$BOOT_TIMEOUT" qemu-system-x86_64 -accel tcg -m 512 -smp 1 \
			-nodefaults -display none -serial stdio \
			-drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" \
			-drive "if=pflash,format=raw,file=$RUN/ovmf-vars.fd" \
			-drive "file=$GDISK,format=raw,if=virtio" \
			-no-reboot < /dev/null 2>&1 || rc=$?
		echo "$rc" > "$RUN/rc"
	} | perl -MTime::HiRes=time -ne 'BEGIN { $| = 1; $t0 = time }
		s/\e\[[0-9;?=]*[A-Za-z]//g; s/\r//g; printf "%7.2f %s", time - $t0, $_' > "$1"
	rc=$(cat "$RUN/rc")
	rm -f "$RUN/rc" "$RUN/ovmf-vars.fd"
}

# text: the console of the last boot ($LOG, see ovmf_boot) without the seconds.
text() { sed 's/^ *[0-9.]* //' "$LOG"; }
# grub_choice: what grub.cfg announced in the last boot ("slotctl: slot X
# (why)") into grub_slot and grub_why.
grub_choice() {
	grub_slot=$(text | sed -n 's/^slotctl: slot \([ABR]\) (.*/\1/p' | head -1)
	grub_why=$(text | sed -n 's/^slotctl: slot [ABR] (\(.*\))$/\1/p' | head -1)
}
