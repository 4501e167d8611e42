#!/usr/bin/env bash
# Benchmark: bytes on the wire and wall time of a v1 -> v2 update of a 256 MiB
# ext4 root image, for slotctl's delta update against a full download and two
# delta tools, all fetching from one nginx on loopback. Per image pair:
#
#   full      curl -o of `gzip -6` v2 + gunzip into an image file
#   casync    casync extract --seed=v1.img of v2's blob index + chunk store over HTTP
#   zchunk    zckdl --source=v1.zck of v2.zck (HTTP ranges) + unzck;
#             and zck_delta_size's "Would download N" (a local estimate, no time)
#   slotctl   slotctl update 1.0 -> 2.0 (SLOTCTL_TRACE=1), delta and `delta = false`
#
# Bytes on the wire = the sum of nginx's $bytes_sent (headers included) over the
# requests the tool made (their number is printed too: casync fetches one chunk
# per request, zckdl and slotctl use ranges); slotctl's check answer from slot-server is not counted
# (it does not go through nginx, and is the same small JSON with or without delta).
# Every result is compared with v2.img (cmp). Times are medians of RUNS runs,
# each after `settle` (page cache dropped, the served files warm, the device's
# files cold); bytes are the same in every run.
#
#   Benchmarks/delta.sh [RUNS]                 (default 3)
#   PAIRS="big many 1k" Benchmarks/delta.sh    pairs to run (default "big many"):
#       big      127-ish files of 64 KiB..8 MiB   mke2fs -t ext4 -b 4096 -d DIR -F img 256M
#       many     ~4000 files < 1 MiB              mke2fs -t ext4 -b 4096 -d DIR -F img 256M
#       1k       big's trees, the issue's exact   mke2fs -t ext4 -d DIR -F img 256M (1 KiB blocks)
#       many-1k  many's trees, 1 KiB blocks
#   WORK=/var/tmp/slotctl-bench-delta          work dir (pairs, stores, device files; kept)
#   BIN=DIR      slotctl, slotctl-update and slot-server from DIR (else a release build here)
#   SLOTCTL=0    baselines only, no Swift build
#
# The pairs come from Benchmarks/delta-pair.sh (two separate mke2fs runs each).
# The slotctl part needs `slot-server deploy --write-payload FILE` (the signed
# payload to FILE, its chunk index to FILE.index) and `[update] delta = false`;
# with a slot-server without --write-payload it is skipped and the baselines
# still run. Needs root for apt-get and for dropping the page cache. On a shared
# machine: `nice -n 19 Benchmarks/delta.sh`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/Benchmarks/common.sh"
RUNS=${1:-${RUNS:-3}}
PAIRS=${PAIRS:-big many}
WORK=${WORK:-/var/tmp/slotctl-bench-delta}
SLOTCTL=${SLOTCTL:-1}
SLOT_MIB=256

need() { command -v "$1" > /dev/null 2>&1; }
if ! need nginx || ! need curl || ! need bc || ! need casync || ! need zck || ! need zckdl || ! need mke2fs; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq > /dev/null && apt-get -o DPkg::Lock::Timeout=600 install -y -qq nginx-light curl bc casync zchunk e2fsprogs > /dev/null
fi
for pair in $PAIRS; do
    case $pair in big | many | 1k | big-1k | many-1k) ;; *) echo "delta.sh: unknown pair '$pair' (big, many, 1k, many-1k)" >&2; exit 2 ;; esac
done

load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"; }
echo "machine: $(machine); $(load)"
echo "tools: $(casync --version 2>&1 | head -1), zchunk $(zck --version 2>&1 | head -1 | awk '{print $NF}'), $(nginx -v 2>&1 | sed 's/.*: //'), $(mke2fs -V 2>&1 | head -1 | awk '{print $1, $2}')"
echo "pairs: $PAIRS; $RUNS timing runs each; WORK=$WORK"

# The slotctl part: binaries (BIN, else a release build as update.sh makes)
# and the contract check. Anything missing => baselines only.
HAVE_SLOTCTL=0
cd "$ROOT"
if [ "$SLOTCTL" != 0 ]; then
    if [ -z "${BIN:-}" ]; then
        [ -d /opt/swift/usr/bin ] && ! need swift && PATH=/opt/swift/usr/bin:$PATH
        if need swift; then
            echo "building slotctl, its update module and slot-server (release)..." >&2
            if swift build -c release --product slotctl >&2 && swift build -c release --product slotctl-update >&2 \
                && swift build -c release --product slot-server >&2; then
                BIN=$(swift build -c release --show-bin-path)
            else
                echo "slotctl part skipped: the release build failed" >&2
            fi
        else
            echo "slotctl part skipped: no BIN and no swift" >&2
        fi
    fi
    if [ -n "${BIN:-}" ]; then
        if "$BIN/slot-server" deploy --help 2>&1 | grep -q -- --write-payload; then
            HAVE_SLOTCTL=1
        else
            echo "slotctl part skipped: $BIN/slot-server deploy has no --write-payload yet (delta contract not met)"
        fi
    fi
else
    echo "slotctl part skipped: SLOTCTL=0"
fi

mkdir -p "$WORK"
chmod 755 "$WORK"  # nginx workers run as nobody
cd "$WORK"
rm -rf www logs keys
mkdir -p www logs
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done; wait 2> /dev/null || true; }
trap cleanup EXIT

# nginx is the CDN for every tool. One access log in the `bytes` format; a
# measurement is the log's lines after a mark (its size before the run) whose
# path starts with the tool's prefix (/PAIR/full/, /PAIR/casync/, ...).
NGINX_PORT=$(free_port)
URL=http://127.0.0.1:$NGINX_PORT
ACCESS_LOG=$WORK/logs/access.log
cat > nginx.conf << CONF
daemon off;
worker_processes 1;
pid $WORK/logs/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 256; }
http {
    log_format bytes '\$request \$status \$bytes_sent';
    access_log $ACCESS_LOG bytes;
    sendfile on;
    keepalive_requests 100000;
    server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
CONF
nginx -c "$WORK/nginx.conf" & PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "$URL/" && break; sleep 0.1; done
curl -s -o /dev/null "$URL/" || { echo "nginx did not start:" >&2; cat "$WORK/logs/error.log" >&2; exit 1; }

log_mark() { stat -c %s "$ACCESS_LOG"; }
# "BYTES REQUESTS": the sum of $bytes_sent of the requests under PREFIX logged
# after MARK, and their number. nginx logs a request when it finishes, which
# can be just after the client has its last byte: wait until the log stops growing.
wire_bytes() {  # MARK PREFIX
    local a b
    b=$(log_mark)
    while sleep 0.2; a=$b; b=$(log_mark); [ "$a" != "$b" ]; do :; done
    tail -c +$(($1 + 1)) "$ACCESS_LOG" | awk -v p="$2" 'index($2, p) == 1 { s += $NF; n++ } END { print s + 0, n + 0 }'
}
# settle (common.sh) with more served files warm: FILE [DIR...]
warm() { settle "$1"; shift; local d; for d in "$@"; do find "$d" -type f -exec cat {} + > /dev/null; done; }
secs_since() { echo "$(now) - $1" | bc; }
timed() {  # LABEL COMMAND... : runs it niced, prints LABEL and its seconds (also in $LAST_SECS)
    local label=$1 t0; shift
    t0=$(now)
    nice -n 19 "$@"
    LAST_SECS=$(secs_since "$t0")
    printf '  %s: %.1f s\n' "$label" "$LAST_SECS" >&2
}
mb() { echo "scale=2; $1 / 1000000" | bc | sed 's/^\./0./'; }

# PAIR -> DIR/v1.img, DIR/v2.img (each its own mke2fs run), via delta-pair.sh.
build_pair() {  # PAIR DIR
    local set opts=()
    case $1 in
        big) set=big; opts=(-b 4096) ;;
        many) set=many; opts=(-b 4096) ;;
        1k | big-1k) set=big ;;
        many-1k) set=many ;;
    esac
    "$ROOT/Benchmarks/delta-pair.sh" "$set" "$2" "${opts[@]}"
}

# Results of one pair, by tool: bytes on the wire, and the seconds of each run.
declare -A BYTES REQS SECS
record() {  # KEY RUN "BYTES REQUESTS" SECONDS: the bytes of run 1, checked in later runs
    local bytes=${3% *}
    if [ "$2" = 1 ]; then BYTES[$1]=$bytes; REQS[$1]=${3#* }; elif [ "${BYTES[$1]}" != "$bytes" ]; then
        echo "  note: $1 sent $bytes bytes in run $2, ${BYTES[$1]} in run 1" >&2
    fi
    SECS[$1]="${SECS[$1]:-} $4"
}

# --- the baselines ---------------------------------------------------------

prepare_baselines() {  # PAIR DIR
    local pair=$1 dir=$2 www=$WORK/www/$1
    mkdir -p "$www/full" "$www/casync" "$www/zck" "$www/slotctl" "$dir/dev/zck"
    timed "gzip -6 v2.img ($(mb "$(stat -c %s "$dir/v2.img")") MB)" sh -c "gzip -6 -c '$dir/v2.img' > '$www/full/v2.img.gz'"
    rm -rf "$dir/castore-v1" "$www/casync/store"
    timed "casync make v1 (local store)" casync make --store="$dir/castore-v1" "$dir/v1.caibx" "$dir/v1.img" > /dev/null
    timed "casync make v2 (served store)" casync make --store="$www/casync/store" "$www/casync/v2.caibx" "$dir/v2.img" > /dev/null
    timed "zck v1" zck -o "$dir/dev/zck/v1.zck" "$dir/v1.img"
    ZCK_V1_SECS=$LAST_SECS
    timed "zck v2" zck -o "$www/zck/v2.zck" "$dir/v2.img"
    local c1 c2 new newb
    c1=$(cd "$dir/castore-v1" && find . -name '*.cacnk' -printf '%f\n' | sort)
    c2=$(cd "$www/casync/store" && find . -name '*.cacnk' -printf '%f\n' | sort)
    new=$(comm -13 <(echo "$c1") <(echo "$c2"))
    newb=$(cd "$www/casync/store" && for c in $new; do echo "${c:0:4}/$c"; done | xargs -r stat -c %s | awk '{s += $1} END {print s + 0}')
    echo "  casync: v2 $(echo "$c2" | wc -l) chunks ($(find "$www/casync/store" -name '*.cacnk' -printf '%s\n' | awk '{s += $1} END {print s}') B), $(echo "$new" | grep -c .) not in v1's store ($newb B); caibx $(stat -c %s "$www/casync/v2.caibx") B" >&2
    ZCK_DELTA=$(zck_delta_size "$dir/dev/zck/v1.zck" "$www/zck/v2.zck" | tee "$dir/zck_delta_size.txt" | awk '/^Would download/ {print $3}')
    echo "  zck: v2.zck $(stat -c %s "$www/zck/v2.zck") B, $(grep -h 'chunks' "$dir/zck_delta_size.txt" | tr '\n' ' ')" >&2
}

run_full() {  # PAIR DIR RUN
    local url=$URL/$1/full dev=$2/dev t0 mark s
    rm -f "$dev/v2.img.gz" "$dev/full.img"
    warm "$WORK/www/$1/full/v2.img.gz"
    mark=$(log_mark); t0=$(now)
    curl -fsS -o "$dev/v2.img.gz" "$url/v2.img.gz"
    gunzip -c "$dev/v2.img.gz" > "$dev/full.img"
    s=$(secs_since "$t0")
    cmp "$dev/full.img" "$2/v2.img"
    record full "$3" "$(wire_bytes "$mark" "/$1/full/")" "$s"
    rm -f "$dev/v2.img.gz" "$dev/full.img"
}

run_casync() {  # PAIR DIR RUN
    local url=$URL/$1/casync dev=$2/dev t0 mark s
    rm -f "$dev/casync.img"
    warm "$WORK/www/$1/casync/v2.caibx" "$WORK/www/$1/casync/store"
    mark=$(log_mark); t0=$(now)
    casync extract --store="$url/store" --seed="$2/v1.img" "$url/v2.caibx" "$dev/casync.img" 2> "$dev/casync.err" \
        || { cat "$dev/casync.err" >&2; return 1; }
    s=$(secs_since "$t0")
    cmp "$dev/casync.img" "$2/v2.img"
    record casync "$3" "$(wire_bytes "$mark" "/$1/casync/")" "$s"
    rm -f "$dev/casync.img"
}

run_zck() {  # PAIR DIR RUN
    local url=$URL/$1/zck dev=$2/dev/zck t0 mark s
    rm -f "$dev/v2.zck" "$dev/v2"
    warm "$WORK/www/$1/zck/v2.zck"
    mark=$(log_mark); t0=$(now)
    (cd "$dev" && zckdl --source=v1.zck "$url/v2.zck" > zckdl.out && unzck v2.zck)
    s=$(secs_since "$t0")
    cmp "$dev/v2" "$2/v2.img"
    record zckdl "$3" "$(wire_bytes "$mark" "/$1/zck/")" "$s"
    rm -f "$dev/v2.zck" "$dev/v2"
}

# --- slotctl -----------------------------------------------------------------

SERVER_PORT='' SERVER_PID=''
# A slot-server of its own per pair (each deploys 1.0 and 2.0). Unsigned checks
# (--allow-anonymous-devices, as fleet.sh): device enrolment is not measured here.
start_server() {  # DIR
    SERVER_PORT=$(free_port)
    rm -rf "$1/server-data"
    SLOT_SERVER_ADMIN_TOKEN=bench "$BIN/slot-server" serve --listen "127.0.0.1:$SERVER_PORT" --data "$1/server-data" \
        --release-key "$WORK/keys/release.pub" --allow-anonymous-devices --log-level warning > "$1/server.log" 2>&1 & PIDS+=($!)
    SERVER_PID=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$SERVER_PORT/healthz" > /dev/null 2>&1 && return; sleep 0.1; done
    echo "slot-server did not start:" >&2
    cat "$1/server.log" >&2
    return 1
}
deploy() {  # PAIR DIR VERSION IMAGE-NAME (v1|v2)
    # 4 KiB chunks; deploy reads the block size from the ext4 superblock (1 KiB
    # for the issue's exact mke2fs command, so moved data is found at 1 KiB steps).
    local chunk=4096
    SLOT_SERVER_ADMIN_TOKEN=bench nice -n 19 "$BIN/slot-server" deploy --server "http://127.0.0.1:$SERVER_PORT" \
        --key "$WORK/keys/release.key" --compatible bench --channel stable --version "$3" --gzip --chunk-size "$chunk" \
        --url "$URL/$1/slotctl/$4.img.gz" --index-url "$URL/$1/slotctl/$4.img.gz.index" \
        --write-payload "$WORK/www/$1/slotctl/$4.img.gz" "$2/$4.img" > /dev/null
    echo "  deployed $3: payload $(stat -c %s "$WORK/www/$1/slotctl/$4.img.gz") B, index $(stat -c %s "$WORK/www/$1/slotctl/$4.img.gz.index") B" >&2
}
slotctl() { "$BIN/slotctl" "$@"; }
booted() { slotctl --config system.conf status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["booted"])'; }

# The device, in DIR/device: A runs 0.9; `slotctl update` brings 1.0 (v1)
# into B; a simulated boot of B (slotctl.slot=B on the command line) and
# mark-good make B the running v1. Leaves A's bytes of then in a0.img, so every
# timed run starts from the same A (a delta engine may read the target too).
prepare_device() {  # PAIR DIR
    local pair=$1 dir=$2
    rm -rf "$dir/device"
    mkdir -p "$dir/device"
    cd "$dir/device"
    truncate -s ${SLOT_MIB}M a.img b.img
    truncate -s 16M r.img
    local update="[update]
server = http://127.0.0.1:$SERVER_PORT
channel = stable
public-key = $WORK/keys/release.pub"
    write_sandbox_config "$update
delta = false"
    mv system.conf system-full.conf
    write_sandbox_config "$update"
    head -c 1M /dev/urandom > v0.img
    slotctl --config system.conf init > /dev/null
    slotctl --config system.conf install v0.img --slot A --version 0.9 > /dev/null
    slotctl --config system.conf boot > /dev/null
    deploy "$pair" "$dir" 1.0 v1
    SLOTCTL_TRACE=1 slotctl --config system.conf update > /dev/null 2> trace-v1.txt \
        || { cat trace-v1.txt >&2; return 1; }
    cmp -n $((SLOT_MIB << 20)) b.img "$dir/v1.img"
    echo "console=ttyS0 slotctl.slot=B" > cmdline
    slotctl --config system.conf boot --cmdline cmdline > /dev/null
    slotctl --config system.conf mark-good > /dev/null
    [ "$(booted)" = B ] || { echo "the device did not boot B after the 1.0 update" >&2; slotctl --config system.conf status >&2; return 1; }
    cp --sparse=always a.img a0.img
    deploy "$pair" "$dir" 2.0 v2
}

# Runs in a subshell (set -e holds there, see bench_pair); leaves
# "BYTES SECONDS" in DIR/device/result-KEY.
run_slotctl() {  # PAIR DIR RUN KEY CONFIG: 2.0 into A, from the running B (1.0)
    local pair=$1 dir=$2 key=$4 conf=$5 t0 mark s
    cd "$dir/device"
    rm -f "result-$key"
    # A must not already hold 2.0, or update rightly has nothing to do; and it
    # gets back the bytes it had before the first run.
    slotctl --config system.conf mark-bad A > /dev/null
    cp --sparse=always a0.img a.img
    warm "$WORK/www/$pair/slotctl/v2.img.gz" "$WORK/www/$pair/slotctl/v2.img.gz.index"
    mark=$(log_mark); t0=$(now)
    SLOTCTL_TRACE=1 slotctl --config "$conf" update > /dev/null 2> "trace-$key.txt" || { cat "trace-$key.txt" >&2; return 1; }
    s=$(secs_since "$t0")
    cmp -n $((SLOT_MIB << 20)) a.img "$dir/v2.img"
    echo "$(wire_bytes "$mark" "/$pair/slotctl/") $s" > "result-$key"
    grep -i delta "trace-$key.txt" | sed "s/^/    [$key run $3] /" >&2 || true
}

# The slotctl steps run as ( set -e; STEP ) outside any condition: inside `if`
# or `||` bash ignores set -e, and a failed step must stop at once. A failure
# of the (unfinished) slotctl part is reported and ends only that part.
in_subshell() { set +e; ( set -eE; trap 'echo "  failed: $BASH_COMMAND" >&2' ERR; "$@" ); SUB_RC=$?; set -e; }

# --- one pair ----------------------------------------------------------------

bench_pair() {  # PAIR
    local pair=$1 dir=$WORK/$1 run key slot=0 full_conf=0 b n t
    BYTES=(); REQS=(); SECS=(); ZCK_DELTA=
    echo
    echo "== pair $pair ($(load)) =="
    build_pair "$pair" "$dir"
    prepare_baselines "$pair" "$dir"
    if [ "$HAVE_SLOTCTL" = 1 ]; then
        if start_server "$dir"; then
            in_subshell prepare_device "$pair" "$dir"
            if [ "$SUB_RC" = 0 ]; then
                slot=1
                # `delta = false` is part of the contract; without it the config is refused.
                if (cd "$dir/device" && slotctl --config system-full.conf status > /dev/null 2>&1); then full_conf=1; else
                    echo "  slotctl full run skipped: system-full.conf ([update] delta = false) is refused" >&2
                fi
            else
                echo "  slotctl part failed for $pair (see above); baselines only" >&2
            fi
        fi
    fi
    for run in $(seq 1 "$RUNS"); do
        run_full "$pair" "$dir" "$run"
        run_casync "$pair" "$dir" "$run"
        run_zck "$pair" "$dir" "$run"
        for key in slotctl slotctl-full; do
            if [ "$slot" = 0 ] || { [ "$key" = slotctl-full ] && [ "$full_conf" = 0 ]; }; then continue; fi
            in_subshell run_slotctl "$pair" "$dir" "$run" "$key" "$([ "$key" = slotctl ] && echo system.conf || echo system-full.conf)"
            if [ "$SUB_RC" = 0 ]; then
                read -r b n t < "$dir/device/result-$key"
                record "$key" "$run" "$b $n" "$t"
            else
                echo "  $key run $run failed (see above); no more slotctl runs for $pair" >&2
                slot=0
            fi
        done
        echo "  run $run s:$(for key in full casync zckdl slotctl slotctl-full; do
            [ -z "${SECS[$key]:-}" ] || printf ' %s %.2f' "$key" "${SECS[$key]##* }"; done)" >&2
    done
    [ -z "$SERVER_PID" ] || { kill "$SERVER_PID" 2> /dev/null || true; wait "$SERVER_PID" 2> /dev/null || true; SERVER_PID=; }
    print_table "$pair" "$dir"
}

print_table() {  # PAIR DIR
    local ref=${BYTES[slotctl]:-} key label b t r row='%-34s %10s %10s %9s %8s\n'
    echo
    echo "pair $1: $(wc -l < "$2/filelist.txt") files in v1," \
        "block size $(dumpe2fs -h "$2/v1.img" 2> /dev/null | awk -F: '/^Block size/ {gsub(/ /, "", $2); print $2}');" \
        "MB = 10^6 B on the wire (nginx \$bytes_sent, headers included); s = median of $RUNS runs"
    # shellcheck disable=SC2059
    printf "$row" tool MB "x slotctl" requests s
    for key in full casync zckdl zck_delta_size slotctl slotctl-full; do
        case $key in
            full) label="full: curl gzip -6 + gunzip" ;;
            casync) label="casync extract --seed" ;;
            zckdl) label="zchunk: zckdl --source + unzck" ;;
            zck_delta_size) label="zchunk: zck_delta_size (estimate)"; BYTES[$key]=$ZCK_DELTA ;;
            slotctl) label="slotctl update (delta)" ;;
            slotctl-full) label="slotctl update (delta = false)" ;;
        esac
        b=${BYTES[$key]:-}
        if [ -z "$b" ]; then
            # shellcheck disable=SC2059
            case $key in slotctl | slotctl-full) printf "$row" "$label" - - - - ;; esac
            continue
        fi
        r=-
        [ -z "$ref" ] || r=$(echo "scale=2; $b / $ref" | bc | sed 's/^\./0./')
        t=-
        # shellcheck disable=SC2086
        [ -z "${SECS[$key]:-}" ] || t=$(printf '%.2f' "$(median ${SECS[$key]})")
        # shellcheck disable=SC2059
        printf "$row" "$label" "$(mb "$b")" "$r" "${REQS[$key]:--}" "$t"
    done
    printf '(zckdl reads v1.zck, made beforehand; making it from the old image took %.1f s here, not in its time.)\n' "$ZCK_V1_SECS"
    [ -z "$ref" ] || echo "(slotctl: nginx only; its check answer from slot-server is not counted.)"
}

if [ "$HAVE_SLOTCTL" = 1 ]; then "$BIN/slot-server" keygen --out keys > /dev/null; fi
for pair in $PAIRS; do bench_pair "$pair"; done
