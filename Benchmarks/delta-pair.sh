#!/usr/bin/env bash
# Builds two "rebuilt" ext4 root images DIR/v1.img and DIR/v2.img (256 MiB
# each) from real files on this machine, for Benchmarks/delta.sh. The recipe
# of the delta study (Benchmarks/delta-study/REPORT.md), with the output directory and the
# mke2fs options as arguments. Each image is made by its own `mke2fs -d` run
# (random UUID / hash seed each time, as two separate builds are).
#
#   Benchmarks/delta-pair.sh SET DIR [MKE2FS_OPTION...]
#     SET  big:  regular files 64 KiB..8 MiB from /usr/bin, /usr/sbin,
#                /usr/lib/x86_64-linux-gnu (~127 files, ~60 MiB)
#          many: regular files < 1 MiB, also from /usr/lib and /usr/share
#                (~4000 files, ~60 MiB; inode tables and directories as in a rootfs)
#     e.g. Benchmarks/delta-pair.sh many /var/tmp/pair -b 4096
#   without options: `mke2fs -t ext4 -d DIR -F img 256M`, which gives 1 KiB
#   blocks for 256 MiB (the "small" type in /etc/mke2fs.conf).
#
# v2 = v1 with: 12 files replaced by other real files (same path), one 4 KiB
# in-place edit inside the largest file, 8 files added, 8 files removed.
# File selection is deterministic on one machine (ordered by md5 of the path).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
SET=$1 DIR=$2
shift 2
case $SET in
    big)  SRCS="/usr/bin /usr/sbin /usr/lib/x86_64-linux-gnu"; SIZEARGS="-size +64k -size -8M" ;;
    many) SRCS="/usr/bin /usr/sbin /usr/lib /usr/share"; SIZEARGS="-size -1024k" ;;
    *) echo "delta-pair.sh: unknown set '$SET' (big or many)" >&2; exit 2 ;;
esac
TARGET=$((60 * 1024 * 1024))

mkdir -p "$DIR"
cd "$DIR"
rm -rf v1 v2 v1.img v2.img filelist.txt pool.txt edit.bin

# Candidates ordered by the md5 of their path (mixes the source directories
# while staying reproducible); the first ~60 MiB -> v1, the next 40 -> pool.
# shellcheck disable=SC2086
find $SRCS -xdev -type f $SIZEARGS 2>/dev/null | python3 -c '
import sys, hashlib, os
T = int(sys.argv[1])
c = sorted((hashlib.md5(l.rstrip("\n").encode()).hexdigest()[:12], l.rstrip("\n")) for l in sys.stdin)
tot = 0; sel = []; pool = []
for _, f in c:
    if tot < T: sel.append(f); tot += os.path.getsize(f)
    elif len(pool) < 40: pool.append(f)
    else: break
open("filelist.txt", "w").write("".join(x + "\n" for x in sel))
open("pool.txt", "w").write("".join(x + "\n" for x in pool))
' $TARGET

mkdir v1
while read -r f; do
    mkdir -p "v1$(dirname "$f")"
    cp --preserve=mode,timestamps "$f" "v1$f"
done < filelist.txt
cp -a v1 v2
mapfile -t SEL < filelist.txt
mapfile -t POOL < pool.txt
N=${#SEL[@]}
s=$((N / 30))
for i in $(seq 0 11); do cp "${POOL[$i]}" "v2${SEL[$((10 + i * s))]}"; done       # 12 replaced
for i in $(seq 0 7); do rm -f "v2${SEL[$((15 + i * s))]}"; done                   # 8 removed
mkdir -p v2/opt/new
for i in $(seq 0 7); do                                                           # 8 added
    src=${POOL[$((12 + i))]}
    cp "$src" "v2/opt/new/$(basename "$src").added"
done
# one 4 KiB edit inside the largest file, at offset 1 MiB + 1234 (unaligned)
big=$(cd v2 && find . -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
head -c 4096 /dev/urandom > edit.bin
dd if=edit.bin of="v2/$big" bs=1 seek=$((1048576 + 1234)) conv=notrunc status=none

# Two separate builds.
nice -n 19 mke2fs -q -t ext4 "$@" -d v1 -F v1.img 256M > /dev/null  # "Creating regular file"
nice -n 19 mke2fs -q -t ext4 "$@" -d v2 -F v2.img 256M > /dev/null
echo "$SET: v1 $(find v1 -type f | wc -l) files $(du -sb v1 | cut -f1) B, v2 $(find v2 -type f | wc -l) files $(du -sb v2 | cut -f1) B;" \
    "mke2fs -t ext4 $* : block size $(dumpe2fs -h v1.img 2>/dev/null | awk -F: '/^Block size/ {gsub(/ /, "", $2); print $2}')"
