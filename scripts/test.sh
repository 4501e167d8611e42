#!/bin/bash
# Every test, in the order CI runs them (as root: loop devices, mounts, QEMU,
# a PostgreSQL cluster). Each stage prints a banner and the time it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
stage() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
started=$(date +%s)

stage "build (debug): slotctl, slot-boot, slot-server, libraries"
swift build

stage "swift test: unit, CLI, loop devices, crashes, update client, server (SQLite and PostgreSQL), end to end"
scripts/postgres-test.sh -- swift test

stage "QEMU: a real kernel boots the A/B/R disk through B -> A -> R"
images/e2e-qemu.sh

if [ -x Tests/capi/run.sh ]; then
    stage "C API: make install, a C program and a Python ctypes script"
    Tests/capi/run.sh
fi

stage "all tests passed in $(( $(date +%s) - started )) s"
