# shellcheck shell=sh disable=SC2034
# Shared settings of the U-Boot scripts (fetch-arm64.sh, build-uboot-disk.sh,
# uboot-env-test.sh, e2e-uboot.sh). Sourced, never run.
#
# Everything big (arm64 kernels, slot images, disk, flash images, logs) lives
# under $SLOTCTL_UBOOT_DIR (default /var/tmp/slotctl-uboot), never in the
# repository.
. "$(dirname "$0")/common.sh"

UWORK=${SLOTCTL_UBOOT_DIR:-/var/tmp/slotctl-uboot}
UKDIR=$UWORK/arm64         # arm64 kernels and busybox, extracted from Debian packages
USDIR=$UWORK/slots         # initramfs trees and slot file system images
UDISK=$UWORK/disk.img      # GPT: boot (boot.scr), slot_a, slot_b, recovery
UFLASH0=$UWORK/flash0.img  # QEMU pflash 0: u-boot.bin padded to 64 MiB
UENV_BASE=$UWORK/env-base.img  # pflash 1 as the factory writes it: U-Boot's
                               # default environment + board settings
UFLASH1=$UWORK/flash1.img # QEMU pflash 1 of one boot: a copy of env-base.img
                          # plus the environment under test (fw_setenv)
UFWCONFIG=$UWORK/fw_env.config
ULOGDIR=$UWORK/logs

# Debian's u-boot-qemu build for QEMU's arm64 virt machine. Its environment
# is in pflash 1 (CONFIG_ENV_ADDR 0x4000000 = offset 0 of pflash 1), one copy
# of CONFIG_ENV_SIZE 0x40000 bytes. QEMU's virt pflash devices are 64 MiB.
UBOOT_BIN=${UBOOT_BIN:-/usr/lib/u-boot/qemu_arm64/u-boot.bin}
UENV_SIZE=0x40000
UFLASH_MIB=64

# Each slot boots a kernel of its own: three flavours of one Debian kernel
# ABI, so that `uname -r` in the guest tells them apart. B's is gzipped at
# build time (as Ubuntu ships arm64 kernels) to exercise booti's
# kernel_comp_addr_r path; A's and R's are Debian's plain Image.
UFLAVOUR_A=arm64
UFLAVOUR_B=cloud-arm64
UFLAVOUR_R=rt-arm64
UGZIP_B=1

# GPT layout (MiB), the first partition at 1 MiB. Partition numbers are what
# boot.cmd's board settings default to: boot 1, A 2, B 3, R 4.
UPART_BOOT_MIB=8
UPART_SLOT_MIB=48

upart_start() { # $1 = boot|a|b|r, in 512-byte sectors
	case "$1" in
	boot) echo 2048 ;;
	a) echo $((2048 + UPART_BOOT_MIB * 2048)) ;;
	b) echo $((2048 + (UPART_BOOT_MIB + UPART_SLOT_MIB) * 2048)) ;;
	r) echo $((2048 + (UPART_BOOT_MIB + 2 * UPART_SLOT_MIB) * 2048)) ;;
	*) die "upart_start: unknown partition $1" ;;
	esac
}

# uflavour S: the kernel flavour of slot S; ugzip S: 1 if S's is gzipped.
uflavour() {
	case "$1" in
	A) echo "$UFLAVOUR_A" ;;
	B) echo "$UFLAVOUR_B" ;;
	R) echo "$UFLAVOUR_R" ;;
	*) die "uflavour: unknown slot $1" ;;
	esac
}
ugzip() { if [ "$1" = B ]; then echo "$UGZIP_B"; else echo 0; fi; }

# ukver FLAVOUR: the kernel release (uname -r) of that flavour, once fetched.
ukver() {
	_abi=$(cat "$UKDIR/kernel-abi" 2>/dev/null) || die "no arm64 kernels yet: run images/fetch-arm64.sh"
	echo "$_abi-$1"
}
