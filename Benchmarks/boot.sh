#!/bin/sh
# slot-boot against a C floor, in one hyperfine run.
#
# Measures exec-to-exit of `slot-boot --config X`, with the state on a real
# file system (not tmpfs) and every fsync included, next to
# Benchmarks/boot-baseline.c, a minimal static C program doing the same file
# I/O (flock, read both state copies, rewrite one via temp + fsync + rename +
# directory fsync, read back, write run-dir/booted). The config names a state
# directory that is already there and no [boot] section, so nothing is
# mounted. Before every run both programs get the same state back
# (--prepare: copy + sync), so every run makes the same decision: slot A,
# one try consumed.
#
# run-dir (where both write `booted`) is on tmpfs, as /run is on a device.
# hyperfine runs one command's runs, then the other's. fsync latency moves
# with other I/O on the machine, in bursts of seconds, so hyperfine is run
# ROUNDS times with a few RUNS each (both commands in every round, ~0.1 s
# apart) and all the times are pooled: both programs then see the same
# conditions, and the median is the fair figure.
#
# Prints the mean and median times, their ratios (target: slot-boot <= 1.5x
# the baseline), slot-boot's stripped size (target <= 16 MB) and proof that
# it is static (file, ldd).
#
#   Benchmarks/boot.sh                 build slot-boot, then measure
#   SLOT_BOOT=/path/slot-boot Benchmarks/boot.sh   measure that binary
# Environment: RUNS per round (default 20), ROUNDS (default 15),
# SLOTCTL_BENCH_DIR (default /var/tmp/slotctl-bench-boot; must not be tmpfs),
# BENCH_RUN_DIR (default /dev/shm/slotctl-bench-run; tmpfs),
# SLOTCTL_E2E_SCRATCH (the swift scratch path, shared with
# images/e2e-qemu.sh; default .build-images).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${SLOTCTL_BENCH_DIR:-/var/tmp/slotctl-bench-boot}
RUNS=${RUNS:-20}
ROUNDS=${ROUNDS:-15}
RUN=${BENCH_RUN_DIR:-/dev/shm/slotctl-bench-run}
SCRATCH=${SLOTCTL_E2E_SCRATCH:-$REPO/.build-images}

die() { echo "boot.sh: error: $*" >&2; exit 1; }
for c in hyperfine cc strip file jq mke2fs; do
	command -v "$c" >/dev/null 2>&1 || die "'$c' not found (apt-get install hyperfine gcc binutils file jq e2fsprogs)"
done

mkdir -p "$W"
fs=$(stat -f -c %T "$W")
[ "$fs" != tmpfs ] || die "$W is on tmpfs; fsync would cost nothing there (set SLOTCTL_BENCH_DIR)"

# ---- the two programs
if [ -z "${SLOT_BOOT:-}" ]; then
	command -v swift >/dev/null 2>&1 || die "swift not found"
	(cd "$REPO" && swift build --scratch-path "$SCRATCH-static" -c release --product slot-boot \
		-Xswiftc -static-executable > "$W/build.log" 2>&1) || {
		tail -20 "$W/build.log" >&2
		die "swift build of slot-boot failed (log: $W/build.log)"
	}
	SLOT_BOOT=$SCRATCH-static/release/slot-boot
fi
[ -x "$SLOT_BOOT" ] || die "$SLOT_BOOT is not an executable"
strip -o "$W/slot-boot" "$SLOT_BOOT"
cc -O2 -Wall -static -o "$W/boot-baseline" "$REPO/Benchmarks/boot-baseline.c" -lz ||
	die "cannot build the C baseline (needs gcc and zlib1g-dev)"

# ---- the system it decides for: three small ext4 "slots" (files, so that
# libblkid finds a file system type) and a state directory on disk.
rm -rf "$W/state" "$W/pristine" "$RUN"
mkdir -p "$W/state" "$W/pristine" "$RUN"
for s in a b r; do
	[ -f "$W/slot-$s.img" ] || mke2fs -q -F -t ext4 -L "bench-$s" "$W/slot-$s.img" 8M > /dev/null
done
cat > "$W/system.conf" <<EOF
[system]
compatible = bench
state = $W/state
run-dir = $RUN
max-tries = 3

[slot.A]
device = $W/slot-a.img
[slot.B]
device = $W/slot-b.img
[slot.R]
device = $W/slot-r.img
readonly = true
EOF

# Provision (a missing state means "provision with A"), then one more
# decision so that both copies exist; that state is restored before each run.
for i in 1 2; do
	"$W/slot-boot" --config "$W/system.conf" > "$W/first-$i.out" 2> "$W/first-$i.err" ||
		die "slot-boot --config $W/system.conf failed: $(cat "$W/first-$i.err")"
done
grep -qx 'SLOT=A' "$W/first-2.out" || die "slot-boot did not choose A: $(cat "$W/first-2.out")"
[ -f "$W/state/state.0" ] && [ -f "$W/state/state.1" ] ||
	die "slot-boot did not leave state.0 and state.1 in $W/state: $(ls "$W/state")"
cp -p "$W/state/state.0" "$W/state/state.1" "$W/pristine/"
"$W/boot-baseline" "$W/state" "$RUN" > /dev/null || die "the baseline failed"

# ---- measure, both in each hyperfine run
restore="sh -c 'cp -p $W/pristine/state.0 $W/pristine/state.1 $W/state/ && sync'"
rm -f "$W"/hyperfine-*.json
r=1
while [ "$r" -le "$ROUNDS" ]; do
	hyperfine -N --style none --warmup 3 --runs "$RUNS" --prepare "$restore" \
		--export-json "$W/hyperfine-$r.json" \
		-n slot-boot "$W/slot-boot --config $W/system.conf" \
		-n c-baseline "$W/boot-baseline $W/state $RUN"
	r=$((r + 1))
done
# Same decision after all those runs?
sh -c "$restore"
"$W/slot-boot" --config "$W/system.conf" > "$W/last.out" 2>&1 || die "slot-boot failed after the benchmark: $(cat "$W/last.out")"
grep -qx 'SLOT=A' "$W/last.out" || die "slot-boot no longer chooses A: $(cat "$W/last.out")"

# pooled NAME mean|median|min|sd: over the times of all rounds, in ms.
pooled() {
	jq -s --arg c "$1" --arg f "$2" '
		[.[].results[] | select(.command == $c) | .times[]] | sort as $t | ($t | length) as $n
		| ($t | add / $n) as $mean
		| if $f == "mean" then $mean
		  elif $f == "median" then (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end)
		  elif $f == "min" then $t[0]
		  else ([$t[] | (. - $mean) * (. - $mean)] | add / $n | sqrt) end
		| . * 1000 * 1000 | round / 1000' "$W"/hyperfine-*.json
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
sbm=$(pooled slot-boot mean) cbm=$(pooled c-baseline mean)
sbd=$(pooled slot-boot median) cbd=$(pooled c-baseline median)
sbs=$(pooled slot-boot sd) cbs=$(pooled c-baseline sd)
sbn=$(pooled slot-boot min) cbn=$(pooled c-baseline min)
ratio_mean=$(ratio "$sbm" "$cbm") ratio_median=$(ratio "$sbd" "$cbd")
size=$(stat -c %s "$W/slot-boot")
size_mb=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1000000 }')
ftype=$(file -b "$W/slot-boot" | cut -d, -f1-4)
lddout=$(ldd "$W/slot-boot" 2>&1 | head -1 | sed 's/^[ \t]*//') || true
static=no
file -b "$W/slot-boot" | grep -q 'statically linked' && static=yes

ok() { awk -v v="$1" -v lim="$2" 'BEGIN { exit !(v <= lim) }' && echo "ok" || echo "OVER TARGET"; }
cat <<EOF

| measure ($((RUNS * ROUNDS)) runs each, $ROUNDS rounds) | slot-boot | C baseline | ratio | target |
|---|---|---|---|---|
| mean ± sd exec-to-exit | $sbm ± $sbs ms | $cbm ± $cbs ms | ${ratio_mean}x | <= 1.5x: $(ok "$ratio_mean" 1.5) |
| median | $sbd ms | $cbd ms | ${ratio_median}x | <= 1.5x: $(ok "$ratio_median" 1.5) |
| min | $sbn ms | $cbn ms | $(ratio "$sbn" "$cbn")x | |

| slot-boot binary | value | target |
|---|---|---|
| stripped size | $size bytes ($size_mb MB) | <= 16 MB: $(ok "$size_mb" 16) |
| static | $static (\`file\`: $ftype; \`ldd\`: $lddout) | static |

state on $fs ($(findmnt -n -o SOURCE -T "$W" 2>/dev/null || echo ?)) in $W, run-dir on $(stat -f -c %T "$RUN"), hyperfine $(hyperfine --version | cut -d' ' -f2)
EOF
