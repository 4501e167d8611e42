#!/bin/bash
# Every test, as CI runs them (as root: loop devices, mounts, QEMU, a
# PostgreSQL cluster). Two builds, each once: debug for `swift test`, and
# the release build of `make install`, shared by the QEMU boots and the C
# API test. Then two lanes side by side, each mostly on one core: the Swift
# tests followed by the fuzzers (their own sanitizer build), and the boots
# under QEMU followed by the C API. Each lane writes
# its own log; both are printed whole at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
stage() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
started=$(date +%s)
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/slotctl-test.XXXXXX")

stage "build (debug): slotctl, slot-boot, slot-server, libraries"
swift build

stage "build (release, shared by the QEMU and C API stages): make install-build"
make --no-print-directory install-build-static install-build > "$LOGS/release-build.log" 2>&1 || {
    tail -40 "$LOGS/release-build.log"
    exit 1
}

# The server suites run in a test process of their own: the CLI, crash and
# loop-device tests block their process's few cooperative threads while a
# slotctl child runs, and an in-process slot-server's timers (the catalog
# refresher's sleep) resume through that pool; beside the QEMU lane they
# then missed their deadlines.
lane_swift() {
    stage "swift test: unit, CLI, loop devices, crashes, update client, end to end; then the server (SQLite and PostgreSQL)"
    scripts/postgres-test.sh -- sh -c 'swift test --skip SlotServerTests && swift test --skip-build --filter SlotServerTests'
    stage "hawkBit DDI: Debian's stock swupdate against slot-server (install and success, a wrong hash, a cancel)"
    SLOT_SERVER="$ROOT/.build/debug/slot-server" Tests/ddi/swupdate-interop.sh
    stage "delta updates: pairs of ext4 images through slot-server and nginx (reuse, tampering, a bad index, a changed slot, no Range, kill and resume)"
    BIN="$ROOT/.build/debug" Tests/delta/delta-e2e.sh
    stage "fuzzing: every parser of untrusted bytes, ${FUZZ_SECONDS:-20} s each (libFuzzer + AddressSanitizer; Fuzz/README.md)"
    Fuzz/run.sh
}

lane_boot() {
    stage "QEMU: a real kernel boots the A/B/R disk through B -> A -> R"
    images/e2e-qemu.sh
    stage "QEMU: real GRUB (OVMF) chooses and counts slots that each boot their own kernel"
    images/e2e-grub.sh
    stage "QEMU: slotctl in the guest drives real GRUB: each slot a root file system with its own kernel and initramfs"
    images/e2e-grub-guest.sh
    stage "QEMU: real U-Boot (arm64) chooses and counts slots that each boot their own kernel"
    images/e2e-uboot.sh
    stage "C API: make install, a C program and a Python ctypes script"
    Tests/capi/run.sh
}

stage "two lanes side by side: swift test, then fuzzing | QEMU boots, then the C API (logs printed when both end)"
lane_swift > "$LOGS/swift.log" 2>&1 &
swift_pid=$!
lane_boot > "$LOGS/boot.log" 2>&1 &
boot_pid=$!
swift_status=0; wait "$swift_pid" || swift_status=$?
boot_status=0; wait "$boot_pid" || boot_status=$?

cat "$LOGS/boot.log"
cat "$LOGS/swift.log"
stage "lanes: swift test exit $swift_status, QEMU and C API exit $boot_status"
if [ "$swift_status" != 0 ] || [ "$boot_status" != 0 ]; then
    echo "FAILED (logs in $LOGS)"
    exit 1
fi
rm -rf "$LOGS"
stage "all tests passed in $(( $(date +%s) - started )) s"
