# Helpers shared by the benchmark scripts (sourced, not run).

now() { date +%s.%N; }

# The median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# Puts both sides of a comparison in the same cache state before each
# measurement: the target cold (page cache dropped; needs root), the source
# file given as $1 warm. Without it, whichever side runs second finds the
# other's pages and the ratio follows the order.
settle() {
    sync
    if [ -w /proc/sys/vm/drop_caches ]; then echo 1 > /proc/sys/vm/drop_caches; fi
    cat "$1" > /dev/null
}

# One line about the machine, for the results.
machine() { echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"; }

# A system.conf for file-backed slots a.img, b.img, r.img in the current
# directory; extra lines (an [update] section) are appended as given.
write_sandbox_config() {
    cat > system.conf <<CONF
[system]
compatible = bench
state = state
run-dir = run
[slot.A]
device = a.img
[slot.B]
device = b.img
[slot.R]
device = r.img
readonly = true
${1:-}
CONF
}

# Runs the caller's `ours` and `baseline` functions (each prints its seconds)
# RUNS times, alternating which goes first, prints each pair and runs the
# optional hook after it; leaves the medians in $mo, $mb and of the per-run
# ratios in $mr. ALT_UNIT names the unit the functions print in (default s).
#   alternate RUNS "slotctl install" "dd+cksum" [HOOK]
alternate() {
    local runs=$1 ours_label=$2 base_label=$3 hook=${4:-}
    local ours_times=() base_times=() ratios=() o b r run
    for run in $(seq 1 "$runs"); do
        if [ $((run % 2)) -eq 1 ]; then o=$(ours); b=$(baseline); else b=$(baseline); o=$(ours); fi
        r=$(echo "scale=3; $o / $b" | bc)
        ours_times+=("$o"); base_times+=("$b"); ratios+=("$r")
        printf 'run %d: %s %.3f %s   %s %.3f %s   ratio %.2f\n' "$run" "$ours_label" "$o" "${ALT_UNIT:-s}" "$base_label" "$b" "${ALT_UNIT:-s}" "$r"
        [ -z "$hook" ] || "$hook"
    done
    mo=$(median "${ours_times[@]}"); mb=$(median "${base_times[@]}"); mr=$(median "${ratios[@]}")
}

# The slot-server to measure: $SLOT_SERVER, else a release build in $SCRATCH
# (default .build-server) of the tree in the current directory.
slot_server_binary() {
    if [ -n "${SLOT_SERVER:-}" ]; then echo "$SLOT_SERVER"; return; fi
    echo "building slot-server (release)..." >&2
    swift build -c release --scratch-path "${SCRATCH:-.build-server}" --product slot-server >/dev/null
    echo "$PWD/${SCRATCH:-.build-server}/release/slot-server"
}

# Makes $WORK (/tmp/NAME.XXXXXX) and, on exit, stops every PID the script
# added to PIDS, then removes $WORK.
bench_workdir() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    PIDS=()
    trap 'for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
}
