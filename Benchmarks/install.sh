#!/bin/bash
# Benchmark: `slotctl install` of a 1 GiB raw image into a file-backed slot,
# read-back verification included, against `dd bs=4M conv=fsync` followed by
# `cksum` of the same slot file. Runs alternate (A/B, B/A) in one process so
# both see the same machine state; prints per-run times, medians and the
# median of the per-pair ratios.
#
# usage: Benchmarks/install.sh [RUNS]        (default 7)
# env:   WORK=/var/tmp/slotctl-bench-install  SIZE_MIB=1024  SLOTCTL=path/to/slotctl
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/Benchmarks/common.sh"
RUNS=${1:-7}
SIZE_MIB=${SIZE_MIB:-1024}
WORK=${WORK:-/var/tmp/slotctl-bench-install}

if [ -z "${SLOTCTL:-}" ]; then
    echo "building slotctl (release)..." >&2
    (cd "$ROOT" && swift build -c release --product slotctl >&2)
    SLOTCTL=$(cd "$ROOT" && swift build -c release --show-bin-path)/slotctl
fi

mkdir -p "$WORK"
cd "$WORK"
IMAGE=$WORK/image-${SIZE_MIB}m.bin
if [ ! -f "$IMAGE" ] || [ "$(stat -c %s "$IMAGE")" != $((SIZE_MIB << 20)) ]; then
    echo "making a ${SIZE_MIB} MiB random image..." >&2
    head -c $((SIZE_MIB << 20)) /dev/urandom > "$IMAGE.tmp" && mv "$IMAGE.tmp" "$IMAGE"
fi
for slot in a b r; do
    [ -f "$slot.img" ] && [ "$(stat -c %s "$slot.img")" = $((SIZE_MIB << 20)) ] || { rm -f "$slot.img"; truncate -s $((SIZE_MIB << 20)) "$slot.img"; }
done
rm -rf state run
write_sandbox_config
"$SLOTCTL" --config system.conf init > /dev/null

ours() {
    settle "$IMAGE"
    local t0; t0=$(now)
    "$SLOTCTL" --config system.conf install "$IMAGE" --slot B > /dev/null
    echo "$(now) - $t0" | bc
}
baseline() {
    settle "$IMAGE"
    local t0; t0=$(now)
    dd if="$IMAGE" of=b.img bs=4M conv=fsync,notrunc status=none
    cksum b.img > /dev/null
    echo "$(now) - $t0" | bc
}

alternate "$RUNS" "slotctl install" "dd+cksum"
mbps=$(echo "scale=0; $SIZE_MIB / $mo" | bc)
echo
echo "image ${SIZE_MIB} MiB, $RUNS runs, machine: $(machine), $(df -T "$WORK" | awk 'NR==2 {print $2}') on $(df "$WORK" | awk 'NR==2 {print $1}')"
echo "median slotctl install: ${mo} s (${mbps} MiB/s, read-back included)"
echo "median dd bs=4M conv=fsync + cksum: ${mb} s"
echo "median ratio slotctl/baseline: ${mr} (target <= 1.5)"
