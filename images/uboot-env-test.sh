#!/bin/sh
# Host-side checks of the U-Boot environment with Debian's tools
# (libubootenv-tool: fw_printenv/fw_setenv; u-boot-tools: mkenvimage), on
# plain files, for what slotctl will have to match when it writes the
# environment itself. No QEMU. Fails loudly on any deviation.
#
# Single copy (the layout of the qemu_arm64 U-Boot: one line in fw_env.config):
#   - the factory image (mkenvimage) reads back; fw_setenv -s sets several
#     variables in one write, in place (same inode), and keeps the others;
#   - hex tries ("a") survive; a variable is deleted by fw_setenv NAME;
#   - one flipped byte makes the only copy unreadable (no fallback).
# Redundant (two lines in fw_env.config: copies at 0 and ENV_SIZE of one file;
# each copy = CRC32, a flag byte, data):
#   - fw_setenv always writes the copy it did not read, with flag + 1
#     (libubootenv's "incremental" flags for files and block devices), and
#     leaves the other copy byte for byte as it was (no "obsolete" mark:
#     that is for NOR flash, boolean flags);
#   - the reader takes the valid copy with the higher flag, 0 after 255,
#     copy 0 when equal, and the older copy when the newer is torn.
#
# Needs build-uboot-disk.sh's env-base.txt (U-Boot's default environment).
set -eu
. "$(dirname "$0")/uboot-common.sh"
need fw_printenv fw_setenv mkenvimage od dd cmp stat

[ -f "$UWORK/env-base.txt" ] || die "$UWORK/env-base.txt missing: run images/build-uboot-disk.sh"
T=$UWORK/env-test
rm -rf "$T"
mkdir -p "$T"
SIZE=$((UENV_SIZE))
checks=0

fail() { die "env test: $*"; }
ok() { checks=$((checks + 1)); }
# byte FILE OFFSET: the unsigned byte at OFFSET.
byte() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
# setbyte FILE OFFSET VALUE
setbyte() { printf '%b' "\\0$(printf '%03o' "$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
# get CONFIG NAME: the value, "<unset>", or "<unreadable>" (no valid copy).
# Not fw_printenv -n NAME: libubootenv 0.3.2 prints an empty line and exits 0
# for a variable that does not exist, as for an empty one.
get() {
	fw_printenv -c "$1" > "$T/all" 2> /dev/null || { echo "<unreadable>"; return; }
	grep -q "^$2=" "$T/all" || { echo "<unset>"; return; }
	sed -n "s/^$2=//p" "$T/all"
}
# part FILE OFFSET: one copy (ENV_SIZE bytes at OFFSET)
part() { dd if="$1" bs=4096 skip=$(($2 / 4096)) count=$((SIZE / 4096)) status=none; }

# ---------------------------------------------------------------- single copy
S=$T/single.img
C=$T/single.config
mkenvimage -s "$SIZE" -o "$S" "$UWORK/env-base.txt"
echo "$S 0x0 $UENV_SIZE" > "$C"
[ "$(get "$C" bootcmd)" = "run distro_bootcmd" ] || fail "fw_printenv does not read the mkenvimage image"
ok
ino=$(stat -c %i "$S")
printf 'BOOT_ORDER=B A\nBOOT_A_LEFT=a\nBOOT_B_LEFT=3\n' > "$T/set.txt"
fw_setenv -c "$C" -s "$T/set.txt" || fail "fw_setenv -s failed"
[ "$(get "$C" BOOT_ORDER)/$(get "$C" BOOT_A_LEFT)/$(get "$C" BOOT_B_LEFT)" = "B A/a/3" ] ||
	fail "fw_setenv -s did not set BOOT_ORDER/BOOT_A_LEFT/BOOT_B_LEFT"
[ "$(get "$C" bootcmd)" = "run distro_bootcmd" ] || fail "fw_setenv -s lost bootcmd"
if [ "$(stat -c %i "$S")" != "$ino" ] || [ "$(stat -c %s "$S")" != "$SIZE" ]; then
	fail "fw_setenv did not write the file in place"
fi
ok
# libubootenv 0.3.2 reads -s files as name=value; a "name value" line (the
# format of U-Boot's own tools/env fw_setenv) is skipped without an error.
printf 'BOOT_R_ONCE 1\n' > "$T/set2.txt"
fw_setenv -c "$C" -s "$T/set2.txt" || fail "fw_setenv -s failed"
if [ "$(get "$C" BOOT_R_ONCE)" = "<unset>" ]; then
	say "note: libubootenv's fw_setenv -s skipped the line 'BOOT_R_ONCE 1' (it wants name=value)"
fi
fw_setenv -c "$C" BOOT_B_LEFT || fail "fw_setenv NAME (delete) failed"
[ "$(get "$C" BOOT_B_LEFT)" = "<unset>" ] || fail "fw_setenv NAME did not delete BOOT_B_LEFT"
ok
setbyte "$S" 100 $(($(byte "$S" 100) ^ 1))
if fw_printenv -c "$C" > /dev/null 2>&1; then fail "a single copy with a flipped byte still reads"; fi
ok

# ---------------------------------------------------------------- redundant
R=$T/redundant.img
RC=$T/redundant.config
O1=$SIZE
printf '%s 0x0 %s\n%s 0x%x %s\n' "$R" "$UENV_SIZE" "$R" "$O1" "$UENV_SIZE" > "$RC"
# Factory: copy 0 from mkenvimage -r (flag 1), copy 1 erased flash (0xFF).
mkenvimage -r -s "$SIZE" -o "$R" "$UWORK/env-base.txt"
part "$R" 0 | tr '\0' '\377' > "$T/erased"
cat "$T/erased" >> "$R"
[ "$(byte "$R" 4)" = 1 ] || fail "mkenvimage -r did not write flag 1"
[ "$(get "$RC" bootcmd)" = "run distro_bootcmd" ] || fail "fw_printenv does not read copy 0 beside an erased copy 1"
ok
ino=$(stat -c %i "$R")

# write N EXPECT_COPY EXPECT_FLAG: fw_setenv BOOT_B_LEFT=N must land in
# EXPECT_COPY with EXPECT_FLAG, the other copy untouched.
write() {
	_o=$((($2) * SIZE))
	_other=$((($2 ^ 1) * SIZE))
	part "$R" "$_other" > "$T/other.before"
	fw_setenv -c "$RC" BOOT_B_LEFT "$1" || fail "fw_setenv on the redundant layout failed"
	[ "$(byte "$R" $((_o + 4)))" = "$3" ] || fail "fw_setenv wrote flag $(byte "$R" $((_o + 4))) into copy $2, expected $3"
	part "$R" "$_other" | cmp -s - "$T/other.before" || fail "fw_setenv changed copy $(($2 ^ 1)) as well"
	[ "$(get "$RC" BOOT_B_LEFT)" = "$1" ] || fail "BOOT_B_LEFT does not read back as $1"
	[ "$(stat -c %i "$R")" = "$ino" ] || fail "fw_setenv replaced the file (rename) instead of writing in place"
	ok
}
write 3 1 2
write 2 0 3
write 1 1 4

# The newest copy (1, flag 4, BOOT_B_LEFT=1) torn: the reader falls back.
cp "$R" "$T/good.img"
setbyte "$R" $((O1 + 200)) $(($(byte "$R" $((O1 + 200))) ^ 1))
[ "$(get "$RC" BOOT_B_LEFT)" = 2 ] || fail "with copy 1 torn, BOOT_B_LEFT reads '$(get "$RC" BOOT_B_LEFT)', expected copy 0's 2"
ok
# ... and the next write goes to the torn copy's place, flag 3 + 1.
write 7 1 4
cp "$T/good.img" "$R"

# Flags are outside the CRC: set them directly.
setbyte "$R" 4 255
setbyte "$R" $((O1 + 4)) 0
[ "$(get "$RC" BOOT_B_LEFT)" = 1 ] || fail "flags 255/0: the copy with 0 (newer, wrapped) must win"
ok
write 5 0 1
setbyte "$R" 4 9
setbyte "$R" $((O1 + 4)) 9
[ "$(get "$RC" BOOT_B_LEFT)" = 5 ] || fail "equal flags: copy 0 must win (as in U-Boot)"
ok

rm -rf "$T"
say "U-Boot environment with fw_setenv/fw_printenv: $checks checks passed (single copy; redundant: other copy, flag + 1, in place, torn copy, wrap, equal flags)"
