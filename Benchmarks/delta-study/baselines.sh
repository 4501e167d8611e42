#!/bin/bash
# Baseline measurements; run from the scratch directory after make-pair.sh
set -eu
cd "$(dirname "$0")"
A=${1:-v1.img}; B=${2:-v2.img}; T=${3:-}   # e.g. ./baselines.sh v1-b4k.img v2-b4k.img -b4k
t() { local s=$(date +%s.%N); "$@"; echo "  [$(echo "$(date +%s.%N) - $s" | bc) s] $*" >&2; }
echo "gzip -6 $B: $(gzip -6 -c $B | wc -c) bytes"
echo "gzip -6 $A: $(gzip -6 -c $A | wc -c) bytes"
# casync: one store per image, default chunking (16K:64K:256K)
for comp in zstd gzip; do
  rm -rf castr$T-v1-$comp castr$T-v2-$comp
  t casync make --compression=$comp --store=castr$T-v1-$comp v1$T-$comp.caibx $A
  t casync make --compression=$comp --store=castr$T-v2-$comp v2$T-$comp.caibx $B
  (cd castr$T-v1-$comp && find . -name '*.cacnk' -printf '%f\n' | sort) >v1$T-$comp.chunks
  (cd castr$T-v2-$comp && find . -name '*.cacnk' -printf '%f\n' | sort) >v2$T-$comp.chunks
  comm -13 v1$T-$comp.chunks v2$T-$comp.chunks >new$T-$comp.chunks
  tot=0; for c in $(cat new$T-$comp.chunks); do s=$(stat -c %s castr$T-v2-$comp/${c:0:4}/$c); tot=$((tot+s)); done
  echo "casync ($comp): v2 chunks $(wc -l <v2$T-$comp.chunks), new vs v1 $(wc -l <new$T-$comp.chunks), new compressed bytes $tot, v2 store bytes $(find castr$T-v2-$comp -name '*.cacnk' -printf '%s\n' | awk '{s+=$1}END{print s}')"
done
# zchunk
t zck -o v1$T.zck $A
t zck -o v2$T.zck $B
ls -l v1$T.zck v2$T.zck
zck_delta_size v1$T.zck v2$T.zck
