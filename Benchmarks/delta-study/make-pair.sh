#!/bin/bash
# Build two "rebuilt" ext4 root images v1.img / v2.img (256 MiB each) from real
# binaries on this machine. Deterministic file selection; each image made by
# its own mke2fs -d run (random UUID / hash seed each time, as two builds).
#
# v2 = v1 with: 12 files replaced by other real binaries (same path),
#               one 4 KiB in-place edit inside the largest file,
#               8 files added, 8 files removed.
set -euo pipefail
cd "$(dirname "$0")"
# Variant "many" (./make-pair.sh many): same recipe but candidates are files of
# any size below 1 MiB, also from /usr/share and /usr/lib -> thousands of
# files, so inode tables and directories are realistic for a root fs.
# Output then goes to ./many/.
VARIANT=${1:-default}
if [ "$VARIANT" = many ]; then
  mkdir -p many; cd many
  SRCS="/usr/bin /usr/sbin /usr/lib /usr/share"; SIZEARGS="-size -1024k"
else
  SRCS="/usr/bin /usr/sbin /usr/lib/x86_64-linux-gnu"; SIZEARGS="-size +64k -size -8M"
fi
TARGET=$((60 * 1024 * 1024))

rm -rf v1 v2 v1.img v2.img filelist.txt pool.txt

# Deterministic selection: regular files (default 64 KiB..8 MiB), ordered by
# the md5 of their path (mixes /usr/bin and /usr/lib while staying
# reproducible); first ~60 MiB -> v1, next 40 files -> pool for replace/add.
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
done <filelist.txt
echo "v1: $(wc -l <filelist.txt) files, $(du -sb v1 | cut -f1) bytes"

cp -a v1 v2
mapfile -t SEL <filelist.txt
mapfile -t POOL <pool.txt
N=${#SEL[@]}

# 12 replaced: the files at positions 10, 10+s, ... get a pool binary's content
s=$((N / 30))
for i in $(seq 0 11); do
  tgt=${SEL[$((10 + i * s))]}
  cp "${POOL[$i]}" "v2$tgt"
  echo "replace $tgt <- ${POOL[$i]}"
done
# 8 removed
for i in $(seq 0 7); do
  tgt=${SEL[$((15 + i * s))]}
  rm -f "v2$tgt"
  echo "remove $tgt"
done
# 8 added (new names)
mkdir -p v2/opt/new
for i in $(seq 0 7); do
  src=${POOL[$((12 + i))]}
  cp "$src" "v2/opt/new/$(basename "$src").added"
  echo "add /opt/new/$(basename "$src").added <- $src"
done
# one 4 KiB edit inside the largest file (at offset 1 MiB + 1234, unaligned)
big=$(cd v2 && find . -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
head -c 4096 /dev/urandom >edit.bin   # content of the edit is irrelevant
dd if=edit.bin of="v2/$big" bs=1 seek=$((1048576 + 1234)) conv=notrunc status=none
echo "edit 4 KiB in $big ($(stat -c %s "v2/$big") bytes)"
echo "v2: $(find v2 -type f | wc -l) files, $(du -sb v2 | cut -f1) bytes"

# Two separate builds
nice -n 19 mke2fs -q -t ext4 -d v1 -F v1.img 256M
nice -n 19 mke2fs -q -t ext4 -d v2 -F v2.img 256M
for i in v1 v2; do echo "$i.img: $(stat -c %s $i.img) bytes, UUID $(dumpe2fs -h $i.img 2>/dev/null | awk '/UUID/{print $3}')"; done

# Variant with 4 KiB file-system blocks. For a 256 MiB image mke2fs picks the
# "small" usage type from /etc/mke2fs.conf => 1 KiB blocks by default, which
# makes file data land on 1 KiB (not 4 KiB) boundaries. Same trees, two more
# independent builds:
nice -n 19 mke2fs -q -t ext4 -b 4096 -d v1 -F v1-b4k.img 256M
nice -n 19 mke2fs -q -t ext4 -b 4096 -d v2 -F v2-b4k.img 256M
for i in v1 v2; do echo "$i-b4k.img: $(stat -c %s $i-b4k.img) bytes, UUID $(dumpe2fs -h $i-b4k.img 2>/dev/null | awk '/UUID/{print $3}')"; done
