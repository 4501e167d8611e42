#!/bin/sh
# The test initramfs of the GRUB test (images/e2e-grub.sh): busybox-static
# and an /init that prints one line for the host,
#     SLOTTEST slot=<slotctl.slot= of the command line> initrd=<TAG> kernel=<uname -r>
# and powers off. TAG is baked in, so the line says whose initramfs GRUB
# loaded; slot= says what GRUB passed, kernel= which kernel ran.
#
#   build-grub-initrd.sh TAG OUT      the initramfs for slot TAG
#   build-grub-initrd.sh --junk OUT   "broken": bytes that are no initramfs
#                                     (no cpio, no compression magic): the
#                                     kernel cannot unpack it, finds no
#                                     /init and panics trying to mount root=
#
# Only what GRUB loads is tested here; the full slotctl initramfs
# (images/build-initrd.sh) can take this one's place in a slot's /boot.
set -eu
. "$(dirname "$0")/grub-common.sh"
need busybox gzip mknod file

[ $# = 2 ] || die "usage: ${0##*/} TAG|--junk OUT"
tag=$1 out=$2
mkdir -p "$(dirname "$out")"

if [ "$tag" = --junk ]; then
	i=0
	: > "$out.tmp"
	while [ $i -lt 2048 ]; do
		echo "slotctl GRUB test: deliberately not an initramfs" >> "$out.tmp"
		i=$((i + 1))
	done
	mv "$out.tmp" "$out"
	exit 0
fi
case "$tag" in *[!A-Za-z0-9_-]* | '') die "TAG must be a plain word: $tag" ;; esac

busybox=$(command -v busybox)
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	die "$busybox is not static (install busybox-static)"
tree=$GDIR/initrd-tree-$tag
rm -rf "$tree"
mkdir -p "$tree/bin" "$tree/proc" "$tree/dev"
cp "$busybox" "$tree/bin/busybox"
ln -s busybox "$tree/bin/sh"
# The kernel opens /dev/console for init before anything could mount devtmpfs.
mknod -m 600 "$tree/dev/console" c 5 1
cat > "$tree/init" <<INIT
#!/bin/sh
# Test init of slot $tag (images/build-grub-initrd.sh): report, power off.
bb=/bin/busybox
\$bb mount -t proc proc /proc
slot=\$(\$bb sed -n 's/.*slotctl\\.slot=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
echo "SLOTTEST cmdline: \$(\$bb cat /proc/cmdline)"
echo "SLOTTEST slot=\${slot:-none} initrd=$tag kernel=\$(\$bb uname -r)"
\$bb poweroff -f
INIT
chmod 0755 "$tree/init"
(cd "$tree" && find . | sort | busybox cpio -o -H newc 2>/dev/null) | gzip -9 -n > "$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$tree"
