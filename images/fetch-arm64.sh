#!/bin/sh
# Fetch what the U-Boot test system boots, without installing anything for
# arm64 on the host: `apt-get download` three flavours of Debian's arm64
# kernel (one per slot) and busybox-static:arm64, and take out of each .deb
# only the file needed (/boot/vmlinuz-*, /bin/busybox) with dpkg-deb + tar.
# Adds the arm64 architecture to dpkg (and runs apt-get update) when missing:
# that only lets apt see arm64 package lists. Idempotent.
#
#   UKABI=6.1.0-57   pin the kernel ABI; default: what linux-image-arm64 points at
set -eu
. "$(dirname "$0")/uboot-common.sh"
need apt-get apt-cache dpkg dpkg-deb tar

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	say "adding the arm64 architecture to dpkg (package lists only; nothing arm64 is installed)"
	dpkg --add-architecture arm64
	apt-get update -q > /dev/null || die "apt-get update failed"
fi
if ! apt-cache policy busybox-static:arm64 2> /dev/null | sed -n 's/^ *Candidate: //p' | grep -qv none; then
	apt-get update -q > /dev/null || die "apt-get update failed"
fi

if [ -z "${UKABI:-}" ]; then
	pkg=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	pkg=${pkg%:arm64}
	[ -n "$pkg" ] || die "cannot resolve linux-image-arm64:arm64 (apt-get update?)"
	UKABI=${pkg#linux-image-}
	UKABI=${UKABI%-arm64}
fi

mkdir -p "$UKDIR"
cd "$UKDIR"
have=1
for f in "$UFLAVOUR_A" "$UFLAVOUR_B" "$UFLAVOUR_R"; do
	[ -s "vmlinuz-$UKABI-$f" ] || have=0
done
if [ "$have" = 1 ] && [ -x busybox ] && [ "$(cat kernel-abi 2>/dev/null)" = "$UKABI" ]; then
	say "arm64 kernels $UKABI ($UFLAVOUR_A $UFLAVOUR_B $UFLAVOUR_R) and busybox already in $UKDIR"
	exit 0
fi

t0=$(now_s)
rm -rf dl
mkdir dl
pkgs=busybox-static:arm64
for f in "$UFLAVOUR_A" "$UFLAVOUR_B" "$UFLAVOUR_R"; do
	pkgs="$pkgs linux-image-$UKABI-$f:arm64"
done
# apt-get download as root warns that the _apt sandbox cannot be used; harmless.
# shellcheck disable=SC2086
(cd dl && apt-get download -q $pkgs 2>&1 | grep -v sandbox >&2) || true
for f in "$UFLAVOUR_A" "$UFLAVOUR_B" "$UFLAVOUR_R"; do
	deb=$(find dl -name "linux-image-$UKABI-${f}_*_arm64.deb" | head -1)
	[ -n "$deb" ] || die "apt-get download linux-image-$UKABI-$f:arm64 failed"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./boot/vmlinuz-$UKABI-$f" > "vmlinuz-$UKABI-$f.tmp" ||
		die "no /boot/vmlinuz-$UKABI-$f in $deb"
	mv "vmlinuz-$UKABI-$f.tmp" "vmlinuz-$UKABI-$f"
done
deb=$(find dl -name 'busybox-static_*_arm64.deb' | head -1)
[ -n "$deb" ] || die "apt-get download busybox-static:arm64 failed"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./bin/busybox > busybox.tmp || die "no /bin/busybox in $deb"
chmod 0755 busybox.tmp
mv busybox.tmp busybox
echo "$UKABI" > kernel-abi
rm -rf dl
say "arm64 kernels $UKABI-{$UFLAVOUR_A,$UFLAVOUR_B,$UFLAVOUR_R} and busybox in $UKDIR ($(elapsed "$t0") s)"
