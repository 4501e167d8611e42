#!/bin/sh
# /init of the initramfs that every slot of the U-Boot test system carries in
# its /boot/initrd.img (busybox-static arm64, nothing else). Reports which
# slot the bootloader said it booted (slotctl.slot= on the kernel command
# line), which kernel runs, and whose initramfs this is (/slottest-initrd,
# written when the slot is built), then powers off: QEMU exits.
export PATH=/bin
mount -t devtmpfs devtmpfs /dev 2> /dev/null
# No /dev/console in the archive: the kernel started us without stdio.
exec < /dev/console > /dev/console 2>&1
mount -t proc proc /proc
slot=
for w in $(cat /proc/cmdline); do
	case "$w" in
	slotctl.slot=*) slot=${w#slotctl.slot=} ;;
	esac
done
echo "SLOTTEST cmdline: $(cat /proc/cmdline)"
echo "SLOTTEST slot=${slot:-none} kernel=$(uname -r) initrd=$(cat /slottest-initrd)"
poweroff -f
