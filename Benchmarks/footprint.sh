#!/bin/bash
# Device footprint and the cost of `mark-good` (issue 12, point 5).
#
# 1. Builds the device pieces (release) and installs them, stripped, into a
#    staging tree: `make install-device DESTDIR=$W/dest PREFIX=/usr`
#    (libslotctl.so, which holds the core and the Swift runtime; slotctl, a
#    launcher of a few KB that runs it; the static slot-boot;
#    libexec/slotctl/slotctl-update; not slot-server, which runs on the update
#    server, not on a device).
# 2. Prints the installed size of each piece, whether it carries Foundation
#    (nm on the unstripped build output: Foundation, FoundationNetworking, the
#    ICU data; ldd for shared libraries), and the totals against the targets:
#    with the update module <= 75 MB, without it <= 25 MB.
# 3. Measures `slotctl mark-good` exec-to-exit (the booted slot, the state on
#    disk, every fsync included) side by side with Benchmarks/boot-baseline.c,
#    a static C program doing the same state I/O (flock, read both copies,
#    rewrite one through temp + fsync + rename + directory fsync, read back;
#    its run-dir write goes to tmpfs). ROUNDS rounds, alternating which side
#    goes first (common.sh `alternate`); in each round hyperfine runs one side
#    RUNS times with the same state restored before every run, and the round's
#    figure is hyperfine's median. Target: mark-good <= 3x the C floor.
#
#   Benchmarks/footprint.sh               build, install, measure
#   DEST=/prefix Benchmarks/footprint.sh   measure a tree installed before (DEST/bin, DEST/lib, ...)
# Environment: ROUNDS (default 9), RUNS per round (default 20),
# SLOTCTL_BENCH_DIR (default /var/tmp/slotctl-bench-footprint; not tmpfs),
# INSTALL_SCRATCH / INSTALL_SCRATCH_STATIC (passed to make).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/Benchmarks/common.sh"
export PATH=/opt/swift/usr/bin:$PATH
W=${SLOTCTL_BENCH_DIR:-/var/tmp/slotctl-bench-footprint}
ROUNDS=${ROUNDS:-9}
RUNS=${RUNS:-20}
RUN=/dev/shm/slotctl-bench-footprint-run
die() { echo "footprint.sh: error: $*" >&2; exit 1; }
for c in hyperfine jq bc cc nm ldd; do command -v "$c" > /dev/null || die "'$c' not found"; done
mkdir -p "$W"
[ "$(stat -f -c %T "$W")" != tmpfs ] || die "$W is on tmpfs; fsync would cost nothing there"

# ---------------------------------------------------------------- 1. install
SCRATCH=${INSTALL_SCRATCH:-.build-install}
SCRATCH_STATIC=${INSTALL_SCRATCH_STATIC:-.build-install-static}
if [ -z "${DEST:-}" ]; then
	DEST=$W/dest
	rm -rf "$DEST"
	echo "== make install-device DESTDIR=$DEST PREFIX=/usr (release builds; log $W/install.log)" >&2
	make -C "$REPO" --no-print-directory install-device DESTDIR="$DEST" PREFIX=/usr \
		INSTALL_SCRATCH="$SCRATCH" INSTALL_SCRATCH_STATIC="$SCRATCH_STATIC" > "$W/install.log" 2>&1 ||
		{ tail -30 "$W/install.log" >&2; die "make install-device failed"; }
	DEST=$DEST/usr
fi
cd "$REPO"

# ---------------------------------------------------------------- 2. sizes
# carries FILE UNSTRIPPED: which of Foundation, FoundationNetworking, the ICU
# data and FoundationEssentials it holds (nm of the unstripped build output;
# Swift mangles a module name with its length: 10Foundation, ...) or loads (ldd).
carries() {
	local what=() deps syms
	deps=$(ldd "$1" 2> /dev/null || true)
	syms=$(nm --defined-only "$2" 2> /dev/null | awk '{print $NF}' | grep -o 's10Foundation\|s20FoundationNetworking\|icudt[0-9a-z_]*\|s20FoundationEssentials' | sort -u || true)
	if grep -q 's10Foundation' <<< "$syms" || grep -q 'libFoundation\.so' <<< "$deps"; then what+=(Foundation); fi
	if grep -q 's20FoundationNetworking' <<< "$syms" || grep -q 'libFoundationNetworking' <<< "$deps"; then what+=(FoundationNetworking); fi
	if grep -q 'icudt' <<< "$syms" || grep -q 'ICU' <<< "$deps"; then what+=("ICU data"); fi
	if grep -q 's20FoundationEssentials' <<< "$syms" || grep -q 'libFoundationEssentials' <<< "$deps"; then what+=(FoundationEssentials); fi
	[ ${#what[@]} -gt 0 ] && (IFS=,; echo "${what[*]}" | sed 's/,/, /g') || echo "none"
}
mb() { awk -v s="$1" 'BEGIN { printf "%.1f", s / 1000000 }'; }
ok() { awk -v v="$1" -v lim="$2" 'BEGIN { exit !(v <= lim) }' && echo "ok" || echo "OVER"; }
piece() { # LABEL INSTALLED UNSTRIPPED
	local size
	size=$(stat -L -c %s "$1") || die "$1 is not installed (DEST=$DEST: give the install prefix)"
	printf '| `%s` | %s | %s MB | %s |\n' "${1#"$DEST"/}" "$size" "$(mb "$size")" "$(carries "$1" "$2")" >&2
	echo "$size"
}
echo >&2
echo "| installed (stripped) | bytes | MB | Foundation pieces it carries |" >&2
echo "|---|---|---|---|" >&2
s_ctl=$(piece "$DEST/bin/slotctl" "$SCRATCH/launcher/slotctl")
s_upd=$(piece "$DEST/libexec/slotctl/slotctl-update" "$SCRATCH/release/slotctl-update")
s_boot=$(piece "$DEST/bin/slot-boot" "$SCRATCH_STATIC/release/slot-boot")
s_lib=$(piece "$DEST/lib/libslotctl.so.1.0.0" "$SCRATCH/release/libSlotctlCAPI.so")
with=$((s_ctl + s_upd + s_boot + s_lib))
without=$((s_ctl + s_boot + s_lib))
cat >&2 << EOF

| device install | MB | target |
|---|---|---|
| with the update module (slotctl + slotctl-update + slot-boot + libslotctl) | $(mb $with) | <= 75: $(ok "$(mb $with)" 75) |
| without it (slotctl + slot-boot + libslotctl) | $(mb $without) | <= 25: $(ok "$(mb $without)" 25) |
EOF
echo "ldd bin/slotctl: $(ldd "$DEST/bin/slotctl" | awk '{print $1}' | tr '\n' ' ')" >&2

# ---------------------------------------------------------------- 3. mark-good
SLOTCTL=$DEST/bin/slotctl
cc -O2 -Wall -static -o "$W/boot-baseline" "$REPO/Benchmarks/boot-baseline.c" -lz || die "cannot build the C baseline (gcc, zlib1g-dev)"
B=$W/bench
rm -rf "$B" "$RUN"
mkdir -p "$B" "$RUN"
cd "$B"
truncate -s 4M a.img b.img r.img
head -c 1M /dev/urandom > image.bin
cat > system.conf << CONF
[system]
compatible = bench
state = $B/state
run-dir = $RUN
max-tries = 3
[slot.A]
device = $B/a.img
[slot.B]
device = $B/b.img
[slot.R]
device = $B/r.img
readonly = true
CONF
"$SLOTCTL" --config system.conf init > /dev/null
"$SLOTCTL" --config system.conf install image.bin --slot A --version 1.0 > /dev/null
"$SLOTCTL" --config system.conf boot > /dev/null # records run-dir/booted = A
"$SLOTCTL" --config system.conf mark-good > /dev/null
[ -f state/state.0 ] && [ -f state/state.1 ] || die "no two state copies in $B/state"
mkdir -p pristine
cp -p state/state.0 state/state.1 pristine/
"$W/boot-baseline" "$B/state" "$RUN" > /dev/null || die "the C baseline failed"
restore="sh -c 'cp -p $B/pristine/state.0 $B/pristine/state.1 $B/state/ && sync'"

# One hyperfine batch of RUNS; prints its median in milliseconds.
batch() { # NAME COMMAND
	hyperfine -N --style none --warmup 2 --runs "$RUNS" --prepare "$restore" --export-json "$W/$1.json" "$2" > /dev/null
	jq '.results[0].median' "$W/$1.json" | awk '{ printf "%.4f\n", $1 * 1000 }'
}
ours() { batch mark-good "$SLOTCTL --config $B/system.conf mark-good"; }
baseline() { batch c-floor "$W/boot-baseline $B/state $RUN"; }
echo >&2
echo "== mark-good vs the C floor: $ROUNDS rounds x $RUNS runs, state on $(stat -f -c %T "$B") ($(findmnt -n -o SOURCE -T "$B" 2> /dev/null || echo ?))" >&2
ALT_UNIT=ms alternate "$ROUNDS" "mark-good" "C floor" >&2
sh -c "$restore"
"$SLOTCTL" --config system.conf mark-good | grep -q 'slot A marked good' || die "mark-good no longer works on the benchmark state"
cat >&2 << EOF

| exec-to-exit, median of $ROUNDS round medians ($RUNS runs each) | slotctl mark-good | C floor | ratio (median of per-round ratios) | target |
|---|---|---|---|---|
| | $mo ms | $mb ms | ${mr}x | <= 3x: $(ok "$mr" 3) |

EOF

# What start-up costs: the same failing command (a config that does not exist:
# parse the arguments, fail to read it, exit 2) in slotctl (libslotctl.so) and
# in the update module (its own runtime, and libcurl with what it loads).
hyperfine -N -i --style none --warmup 3 --runs $((RUNS * 3)) --export-json "$W/startup.json" \
	-n slotctl "$SLOTCTL --config $W/none.conf status" \
	-n slotctl-update "$DEST/libexec/slotctl/slotctl-update --config $W/none.conf check" > /dev/null 2>&1
start_ms() { jq --arg c "$1" '.results[] | select(.command == $c) | .median * 1000' "$W/startup.json" | awk '{ printf "%.2f", $1 }'; }
cat >&2 << EOF

| start-up (a missing config, exit 2), median of $((RUNS * 3)) runs | slotctl | slotctl-update |
|---|---|---|
| exec-to-exit | $(start_ms slotctl) ms | $(start_ms slotctl-update) ms |

machine: $(machine), load average $(cut -d' ' -f1-3 /proc/loadavg), hyperfine $(hyperfine --version | cut -d' ' -f2)
EOF
