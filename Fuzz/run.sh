#!/bin/bash
# Builds slot-fuzz with libFuzzer and AddressSanitizer and fuzzes every target
# (or those named) for SECONDS each, starting from Fuzz/corpus/TARGET. What the
# fuzzer adds to a corpus stays in the work directory, not in the repository.
#
#   Fuzz/run.sh                     every target, FUZZ_SECONDS (default 20) each: what CI runs
#   FUZZ_SECONDS=3600 Fuzz/run.sh state gzip     a long run of two targets
#
# A crash stops the run with the input's path (libFuzzer's crash-*/leak-*/
# timeout-* file) and exit 1. Reproduce it with `slot-fuzz FILE` (fuzzing build)
# or `SLOT_FUZZ_TARGET=T .build/debug/slot-fuzz FILE` (ordinary build), fix it,
# and keep the input as Fuzz/regressions/TARGET/NAME: `swift test` replays those.
#
# Environment: FUZZ_SECONDS, FUZZ_WORK (default /tmp/slot-fuzz), FUZZ_SCRATCH
# (the build directory, default .build-fuzz).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH=/opt/swift/usr/bin:$PATH
SECONDS_EACH=${FUZZ_SECONDS:-20}
WORK=${FUZZ_WORK:-/tmp/slot-fuzz}
SCRATCH=${FUZZ_SCRATCH:-.build-fuzz}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
	mapfile -t TARGETS < <(ls Fuzz/corpus)
fi

echo "== build slot-fuzz (libFuzzer + AddressSanitizer, $SCRATCH)"
t=$SECONDS
swift build --scratch-path "$SCRATCH" --product slot-fuzz \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DSLOT_FUZZING -Xswiftc -use-ld=lld > "$WORK.build.log" 2>&1 || {
	tail -40 "$WORK.build.log"
	echo "Fuzz/run.sh: error: the fuzzing build failed (log $WORK.build.log)" >&2
	exit 1
}
FUZZER=$ROOT/$SCRATCH/debug/slot-fuzz
echo "   built in $((SECONDS - t)) s"

rm -rf "$WORK"
mkdir -p "$WORK"
failed=0
for target in "${TARGETS[@]}"; do
	[ -d "Fuzz/corpus/$target" ] || { echo "Fuzz/run.sh: error: no target '$target' (Fuzz/corpus has: $(ls Fuzz/corpus | tr '\n' ' '))" >&2; exit 2; }
	mkdir -p "$WORK/$target/corpus" "$WORK/$target/artifacts"
	log=$WORK/$target/fuzz.log
	status=0
	# -rss_limit_mb and -timeout: a leak or a hang is a finding too.
	SLOT_FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=1 "$FUZZER" "$WORK/$target/corpus" "Fuzz/corpus/$target" \
		-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$WORK/$target/artifacts/" > "$log" 2>&1 || status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ "$status" != 0 ]; then
		failed=1
		echo "FAIL $target: exit $status after ${runs:-?} runs; input: $(ls "$WORK/$target/artifacts/"* 2> /dev/null | tr '\n' ' ')"
		grep -m1 -A12 'ERROR: \|fuzz property broken\|Fatal error' "$log" || tail -20 "$log"
	else
		printf 'ok   %-16s %8s runs in %s s, %s, corpus %s inputs\n' "$target" "${runs:-?}" "$SECONDS_EACH" "${cov:-cov: ?}" \
			"$(ls "$WORK/$target/corpus" | wc -l)"
	fi
done
exit $failed
