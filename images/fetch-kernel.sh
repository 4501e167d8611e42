#!/bin/sh
# Fetch the Debian kernel for the test system without installing it:
# `apt-get download` the image package that linux-image-amd64 depends on,
# `dpkg -x` it into $WORK/kernel/kroot, run depmod there, and extract the
# uncompressed vmlinux (the xz payload of vmlinuz) that QEMU boots through
# its PVH entry point (~3 s faster per TCG boot than the bzImage).
# KERNEL_VMLINUX=0 skips that step: a bootloader boots the package's own
# vmlinuz (images/e2e-grub.sh), and some flavours (cloud-amd64) are not xz.
# The host's /boot and /lib/modules are not touched. Idempotent.
set -eu
. "$(dirname "$0")/common.sh"
need apt-get apt-cache dpkg depmod xz readelf

mkdir -p "$KDIR"
cd "$KDIR"

# Which kernel: KVERSION=6.1.0-56-amd64 pins one, otherwise whatever the
# linux-image-amd64 meta-package points at.
if [ -z "${KVERSION:-}" ]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || die "cannot resolve linux-image-amd64 (run apt-get update?)"
	KVERSION=${pkg#linux-image-}
else
	pkg=linux-image-$KVERSION
fi

WANT_VMLINUX=${KERNEL_VMLINUX:-1}
if { [ "$WANT_VMLINUX" = 0 ] || [ -s vmlinux ]; } && [ "$(cat kernel-version 2>/dev/null)" = "$KVERSION" ] &&
	[ -f "kroot/boot/vmlinuz-$KVERSION" ] && [ -f "kroot/lib/modules/$KVERSION/modules.dep" ]; then
	say "kernel $KVERSION already present in $KDIR"
	exit 0
fi

t0=$(now_s)
rm -f "$pkg"_*.deb
# apt-get download as root warns that the _apt sandbox cannot be used; harmless.
apt-get download -q "$pkg" 2>&1 | grep -v 'sandbox' >&2 || true
deb=$(ls "$pkg"_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || die "apt-get download $pkg failed"
rm -rf kroot
dpkg -x "$deb" kroot
# The package carries no modules.dep (its postinst makes it).
depmod -b "$KDIR/kroot" "$KVERSION"
vmlinuz=kroot/boot/vmlinuz-$KVERSION
[ -f "$vmlinuz" ] || die "$vmlinuz missing in $deb"
if [ "$WANT_VMLINUX" = 0 ]; then
	echo "$KVERSION" > kernel-version
	rm -f "$deb"
	say "kernel $KVERSION: $vmlinuz, modules in $KDIR/kroot ($(elapsed "$t0") s)"
	exit 0
fi

# vmlinuz is a bzImage whose payload is an xz stream; find its magic
# (FD 37 7A 58 5A 00) and decompress from there. xz complains about the
# trailing data after the stream and exits non-zero: check the result instead.
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
[ -n "$off" ] || die "no xz payload in $vmlinuz (kernel compressed differently?)"
tail -c +$((off + 1)) "$vmlinuz" | xz -dc > vmlinux.tmp 2>/dev/null || true
# The PVH entry point is the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (type 0x12).
readelf -n vmlinux.tmp 2>/dev/null | grep -q '0x00000012' ||
	die "extracted vmlinux has no PVH entry note; boot $vmlinuz instead"
mv vmlinux.tmp vmlinux
echo "$KVERSION" > kernel-version
rm -f "$deb"
say "kernel $KVERSION: vmlinux $(du -h --apparent-size vmlinux | cut -f1), modules in $KDIR/kroot ($(elapsed "$t0") s)"
