#!/bin/sh
# Which ext4 features the installed GRUB reads, checked with grub-fstest
# (GRUB's own file system drivers, built for the host from the same source
# as the EFI modules): for each feature, mke2fs -t ext4 -O FEATURE -d TREE
# with a 3 MB file at /boot/vmlinuz, then `grub-fstest IMG cmp` against it.
# Prints one line per feature, OK or the error GRUB gives; exits non-zero
# when the host's default ext4 (mke2fs.conf) is not readable.
#
#   grub-ext4-features.sh [FEATURE...]   default: a list of the usual ones
set -eu
. "$(dirname "$0")/grub-common.sh"
need mke2fs dumpe2fs grub-fstest

dir=$GDIR/ext4-features
rm -rf "$dir"
mkdir -p "$dir/tree/boot"
head -c 3000000 /dev/urandom > "$dir/tree/boot/vmlinuz"
img=$dir/fs.img

# check NAME [mke2fs options]: prints "NAME: OK|error [features]".
check() {
	_name=$1
	shift
	rm -f "$img"
	if ! mke2fs -q -F -t ext4 "$@" -d "$dir/tree" "$img" 32M > "$dir/mke2fs.log" 2>&1; then
		printf '%-20s mke2fs refused: %s\n' "$_name" "$(tr '\n' ' ' < "$dir/mke2fs.log")"
		return 0
	fi
	if grub-fstest "$img" cmp /boot/vmlinuz "$dir/tree/boot/vmlinuz" > "$dir/grub.log" 2>&1; then
		_r=OK
	else
		_r="NOT READ: $(sed 's/^grub-fstest: //' "$dir/grub.log" | tr '\n' ' ')"
	fi
	printf '%-20s %s\n' "$_name" "$_r"
	[ "$_r" = OK ]
}

echo "GRUB $(grub-fstest --version | awk '{ print $NF }'), mke2fs $(mke2fs -V 2>&1 | awk 'NR == 1 { print $2 }')"
default_ok=0
check "(host default)" || default_ok=1
echo "   default ext4 features here: $(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Filesystem features: *//p')"
features=${*:-orphan_file metadata_csum_seed large_dir ^metadata_csum ^64bit mmp encrypt verity stable_inodes project inline_data casefold ea_inode bigalloc}
for f in $features; do
	case "$f" in
	bigalloc) check "$f" -O "$f" -C 16384 || true ;;
	project) check "$f" -O "quota,$f" || true ;;
	*) check "$f" -O "$f" || true ;;
	esac
done
rm -rf "$dir"
exit $default_ok
