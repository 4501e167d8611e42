#!/usr/bin/env bash
# Delta updates end to end: slot-server (SQLite) and nginx on loopback, a
# device with file-backed slots (48 MiB ext4 images built here by mke2fs -d
# from real files of this machine), and `slotctl update` with SLOTCTL_TRACE=1.
# The device runs v1 in B (installed by a first update); then:
#   a. slot-server hosts v2 (deploy --gzip, index served at /v1/indexes/ID):
#      mostly reused from the booted slot; A = v2, B still v1, state/blocks-A kept;
#   b. nginx hosts v3 (--url, --index-url, --write-payload): bytes on the wire
#      (nginx $bytes_sent) far below the payload; the booted slot's chunks from
#      its stored block digests, not hashed;
#   c. a tampered payload (bytes flipped on nginx after deploy): the update
#      fails naming the chunk index or the inflate; the target is not ready;
#   d. a chunk index that is not the one signed: "delta update not possible",
#      a full download, the image lands;
#   e. the booted slot changed behind slotctl's back (a few chunks the new
#      image shares with it): those chunks are fetched, the image lands;
#   f. a server that ignores Range (nginx max_ranges 0): a full download;
#   g. an update killed (SIGKILL) mid-way from a slow server (limit_rate 300k),
#      then run again: the chunks it had written are reused from the target;
#   h. file systems of 1 KiB blocks: deploy reads the block size from the
#      superblock (4 KiB chunks of 1 KiB blocks); the first such update hashes
#      the booted slot (its stored digests are of 4 KiB blocks), the next one
#      uses the stored 1 KiB digests and fetches a small part of the payload.
# After every case: the booted slot's bytes are unchanged, and every ready or
# good slot holds the bytes its state records (SHA-256) and the image expected.
#
#   Tests/delta/delta-e2e.sh                     # builds slotctl, slotctl-update, slot-server (debug)
#   BIN=.build/debug KEEP=1 Tests/delta/delta-e2e.sh
#
# Prints PASS/FAIL lines; exits non-zero when any assertion fails. Needs
# nginx, curl, mke2fs (e2fsprogs), python3; root (apt-get when missing, and
# nginx's workers read the work dir). Everything stays on loopback; every
# process it starts is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/Benchmarks/common.sh"  # free_port, write_sandbox_config
STARTED=$(date +%s)

need=()
command -v nginx > /dev/null || need+=(nginx-light)
command -v curl > /dev/null || need+=(curl)
command -v mke2fs > /dev/null || need+=(e2fsprogs)
command -v python3 > /dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq > /dev/null
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" > /dev/null
fi
if [ -z "${BIN:-}" ]; then
    (cd "$ROOT" && for p in slotctl slotctl-update slot-server; do swift build --product "$p" > /dev/null; done)
    BIN=$(cd "$ROOT" && swift build --show-bin-path)
fi
BIN=$(cd "$BIN" && pwd)
for p in slotctl slotctl-update slot-server; do
    [ -x "$BIN/$p" ] || { echo "delta-e2e: no $BIN/$p" >&2; exit 2; }
done

W=$(mktemp -d /tmp/slot-delta.XXXXXX)
chmod 755 "$W"  # nginx's workers (nobody) read $W/www
WWW=$W/www
DEV=$W/device
mkdir -p "$WWW" "$DEV" "$W/img" "$W/pay" "$W/logs"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# expect DESCRIPTION COMMAND...: PASS when the command succeeds.
expect() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# A broken precondition: nothing after it means anything.
die() {
    echo "FAIL (fatal): $*"
    for log in "$W"/logs/*.log; do echo "--- $log" >&2; tail -n 30 "$log" >&2; done
    exit 1
}
case_start() { echo; echo "== $* ($(($(date +%s) - STARTED)) s)"; }
gt() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$1" "$2"; }
lt() { gt "$2" "$1"; }

# --- images --------------------------------------------------------------------
# Real files, 16 KiB..2 MiB, from /usr/bin and /usr/lib/x86_64-linux-gnu,
# ordered by the md5 of their path (deterministic on one machine, mixes the
# directories): the first ~20 MB are v1, the next ones the pool v2/v3 draw from.
IMG_MIB=48
IMG_SIZE=$((IMG_MIB << 20))
cd "$W/img"
find /usr/bin /usr/lib/x86_64-linux-gnu -xdev -type f -size +16k -size -2048k 2> /dev/null | python3 -c '
import sys, hashlib, os
c = sorted((hashlib.md5(l.rstrip("\n").encode()).hexdigest(), l.rstrip("\n")) for l in sys.stdin)
tot = 0; sel = []; pool = []
for _, f in c:
    if tot < 20_000_000: sel.append(f); tot += os.path.getsize(f)
    elif len(pool) < 20: pool.append(f)
    else: break
open("sel.txt", "w").write("".join(x + "\n" for x in sel))
open("pool.txt", "w").write("".join(x + "\n" for x in pool))
'
mapfile -t SEL < sel.txt
mapfile -t POOL < pool.txt
[ ${#SEL[@]} -ge 40 ] && [ ${#POOL[@]} -eq 20 ] || die "too few files under /usr for the images (${#SEL[@]} + ${#POOL[@]})"
mkdir v1
for f in "${SEL[@]}"; do mkdir -p "v1$(dirname "$f")"; cp --preserve=mode,timestamps "$f" "v1$f"; done
N=${#SEL[@]}
S=$((N / 12))
cp -a v1 v2  # v2: 6 files replaced by other binaries, 4 removed, 4 added
for i in 0 1 2 3 4 5; do cp "${POOL[$i]}" "v2${SEL[$((1 + i * S))]}"; done
for i in 0 1 2 3; do rm -f "v2${SEL[$((3 + i * S))]}"; done
mkdir -p v2/opt/new
for i in 6 7 8 9; do cp "${POOL[$i]}" "v2/opt/new/$(basename "${POOL[$i]}").added"; done
cp -a v2 v3  # v3: v2 with 4 more replaced and 2 added
for i in 0 1 2 3; do cp "${POOL[$((10 + i))]}" "v3${SEL[$((5 + i * S))]}"; done
for i in 14 15; do cp "${POOL[$i]}" "v3/opt/new/$(basename "${POOL[$i]}").added"; done
cp -a v2 v4  # v4: v2 and 1 MiB of random bytes (no device holds them)
mkdir -p v4/zz-late && head -c 1M /dev/urandom > v4/zz-late/rand.bin
# v8 (case g): v2, 256 KiB of random bytes placed first (mke2fs -d places
# files in name order: /00-early before /opt and /usr) and 4.5 MiB placed
# last (/zz-late). A delta fetches at most 4 MiB of payload per request, so
# the early bytes arrive (and are written) in a request before the big ones:
# from the slow location that request takes ~14 s, time to kill the update.
cp -a v2 v8
mkdir -p v8/00-early v8/zz-late
head -c 256K /dev/urandom > v8/00-early/r.bin
head -c 4608K /dev/urandom > v8/zz-late/big.bin
for v in v1 v2 v3 v4 v8; do  # each image its own mke2fs run
    mke2fs -q -t ext4 -b 4096 -d "$v" -F "$v.img" "${IMG_MIB}M" > /dev/null 2>&1 || die "mke2fs -d $v failed"
done
for v in v2 v3; do  # case h: 1 KiB blocks, as mke2fs makes for small file systems
    mke2fs -q -t ext4 -b 1024 -d "$v" -F "$v-1k.img" "${IMG_MIB}M" > /dev/null 2>&1 || die "mke2fs -b 1024 -d $v failed"
done
head -c 1M /dev/urandom > v0.img
echo "images: v1 $N files $(du -sb v1 | cut -f1) B; ${IMG_MIB} MiB ext4 (4 KiB blocks) each"

# Non-zero 4 KiB chunks of an image, in bytes.
nonzero_bytes() {
    python3 -c '
import sys
z = bytes(4096); n = 0
with open(sys.argv[1], "rb") as f:
    while (c := f.read(4096)):
        n += len(c) if c != z[:len(c)] else 0
print(n)' "$1"
}
sha() { head -c "${2:-$IMG_SIZE}" "$1" | sha256sum | cut -d' ' -f1; }

# --- nginx: /p/ plain, /full/ ignores Range (max_ranges 0), /slow/ limit_rate 300k; one $WWW ---
NGINX_PORT=$(free_port)
NGINX=http://127.0.0.1:$NGINX_PORT
ACCESS_LOG=$W/logs/access.log
cat > "$W/nginx.conf" << CONF
daemon off;
worker_processes 1;
pid $W/logs/nginx.pid;
error_log $W/logs/nginx-error.log;
events { worker_connections 64; }
http {
    log_format bytes '\$request \$status \$bytes_sent';
    access_log $ACCESS_LOG bytes;
    sendfile on;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location /p/ { alias $WWW/; }
        location /full/ { alias $WWW/; max_ranges 0; }
        location /slow/ { alias $WWW/; limit_rate 300k; }
    }
}
CONF
nginx -e "$W/logs/nginx-error.log" -c "$W/nginx.conf" & PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "$NGINX/p/" && break; sleep 0.1; done
curl -s -o /dev/null "$NGINX/p/" || die "nginx did not start"

log_mark() { stat -c %s "$ACCESS_LOG"; }
# "BYTES REQUESTS" of the requests under PREFIX logged after MARK (nginx logs
# a request when it ends, maybe just after the client has it: wait until the
# log stops growing).
wire_bytes() {  # MARK PREFIX
    local a b
    b=$(log_mark)
    while sleep 0.3; a=$b; b=$(log_mark); [ "$a" != "$b" ]; do :; done
    tail -c +$(($1 + 1)) "$ACCESS_LOG" | awk -v p="$2" 'index($2, p) == 1 { s += $NF; n++ } END { print s + 0, n + 0 }'
}

# --- slot-server ---------------------------------------------------------------
SERVER_PORT=$(free_port)
SERVER=http://127.0.0.1:$SERVER_PORT
export SLOT_SERVER_ADMIN_TOKEN=delta-e2e-admin
cd "$W"
"$BIN/slot-server" keygen --out keys > /dev/null
"$BIN/slot-server" serve --listen "127.0.0.1:$SERVER_PORT" --data "$W/server-data" --release-key keys/release.pub \
    --allow-anonymous-devices --device-rate 0 --log-level warning > "$W/logs/server.log" 2>&1 & PIDS+=($!)
for _ in $(seq 150); do curl -fs "$SERVER/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$SERVER/healthz" > /dev/null 2>&1 || die "slot-server did not start"

# deploy VERSION IMAGE PAYLOAD-FILE [OPTION...]: a --gzip release; the exact
# payload is written to PAYLOAD-FILE, its index to PAYLOAD-FILE.index.
deploy() {
    local version=$1 image=$2 out=$3
    shift 3
    "$BIN/slot-server" deploy --server "$SERVER" --key "$W/keys/release.key" --compatible bench --channel stable \
        --version "$version" --gzip --write-payload "$out" "$@" "$image" >> "$W/logs/deploy.log" 2>&1 \
        || die "deploy $version failed"
    chmod a+r "$out" "$out.index" 2> /dev/null || true
    [ -s "$out" ] && [ -s "$out.index" ] || die "deploy $version --write-payload wrote no payload or index"
}

# --- the device ----------------------------------------------------------------
cd "$DEV"
truncate -s "${IMG_MIB}M" a.img b.img
truncate -s 1M r.img
write_sandbox_config "[update]
server = $SERVER
channel = stable
public-key = $W/keys/release.pub"
slotctl() { "$BIN/slotctl" --config "$DEV/system.conf" "$@"; }
status_json() { slotctl status --json; }
# slot_field SLOT KEY (status --json), "null" for none
slot_field() { status_json | python3 -c 'import json, sys; v = json.load(sys.stdin)["slots"][sys.argv[1]].get(sys.argv[2]); print("null" if v is None else v)' "$1" "$2"; }
booted() { status_json | python3 -c 'import json, sys; print(json.load(sys.stdin)["booted"])'; }
# Simulated boot: the boot hook's decision (no bootloader backend), then mark-good.
boot_into() {
    echo "console=ttyS0 slotctl.slot=$1" > cmdline
    slotctl boot --cmdline cmdline > "$W/logs/boot.log" 2>&1 || die "slotctl boot failed"
    [ "$(booted)" = "$1" ] || die "the device booted $(booted), not $1: $(cat "$W/logs/boot.log")"
    slotctl mark-good > /dev/null || die "mark-good failed"
}
# When a case did not leave SLOT holding IMAGE (ready or good), installs it by
# hand (with a manifest, so the state records its SHA-256) so that the later
# cases still run; what they then show that depended on the case is reported.
ensure_holds() {  # CASE SLOT IMAGE VERSION
    case $(slot_field "$2" status) in ready | good) holds "$2" "$3" && return 0 ;; esac
    echo "    $1 did not leave $(basename "$3") in slot $2: installing it by hand so the later cases can run"
    printf '{"compatible":"bench","version":"%s","size":%s,"sha256":"%s"}\n' "$4" "$(stat -c %s "$3")" "$(sha "$3")" > "$W/manifest.json"
    slotctl install "$3" --slot "$2" --version "$4" --manifest "$W/manifest.json" > /dev/null || die "slotctl install $3 --slot $2 failed"
    EXPECT[$2]=$3
}

declare -A EXPECT  # slot -> the image file it must hold when ready or good
# After every case: the booted slot's bytes are what they were (BOOTED_SHA);
# every ready or good slot holds the image its state records and EXPECT names.
BOOTED_SLOT='' BOOTED_SHA=''
remember_booted() { BOOTED_SLOT=$(booted); BOOTED_SHA=$(sha "$DEV/${BOOTED_SLOT,,}.img"); }
check_invariants() {  # CASE
    local s st size rec ok=1
    [ "$(booted)" = "$BOOTED_SLOT" ] || { fail "$1: the booted slot changed from $BOOTED_SLOT to $(booted)"; ok=0; }
    [ "$(sha "$DEV/${BOOTED_SLOT,,}.img")" = "$BOOTED_SHA" ] || { fail "$1: the booted slot $BOOTED_SLOT's bytes changed"; ok=0; }
    for s in A B; do
        st=$(slot_field "$s" status)
        case $st in ready | good) ;; *) continue ;; esac
        size=$(slot_field "$s" size) rec=$(slot_field "$s" sha256)
        if [ "$rec" != null ] && [ "$(sha "$DEV/${s,,}.img" "$size")" != "$rec" ]; then
            fail "$1: slot $s is $st but its bytes do not match its recorded SHA-256"; ok=0
        fi
        if [ -z "${EXPECT[$s]:-}" ] || ! cmp -s -n "$(stat -c %s "${EXPECT[$s]}")" "$DEV/${s,,}.img" "${EXPECT[$s]}"; then
            fail "$1: slot $s is $st but does not hold ${EXPECT[$s]:-the image expected}"; ok=0
        fi
    done
    [ "$ok" = 0 ] || pass "$1: booted slot $BOOTED_SLOT untouched; every ready/good slot holds its image"
}

# Runs `SLOTCTL_TRACE=1 slotctl update`: $W/logs/NAME.out / .err, rc in UPD_RC.
update() {  # NAME
    UPD_RC=0
    SLOTCTL_TRACE=1 "$BIN/slotctl" --config "$DEV/system.conf" update > "$W/logs/$1.out" 2> "$W/logs/$1.err" || UPD_RC=$?
}
show_update() { sed 's/^/    | /' "$W/logs/$1.out" "$W/logs/$1.err" | grep -v '^    | *$' | tail -n 12 || true; }
# Parses the delta trace line of NAME.err into T_* (returns 1 without one).
# Each figure by its own words, so that added remarks (e.g. how many ranges
# a request carried) do not break it.
parse_trace() {
    local line re
    line=$(grep -m1 'slotctl: trace: delta:' "$W/logs/$1.err") || return 1
    re='reused ([0-9]+) bytes \(booted slot ([0-9]+), target ([0-9]+), zeros ([0-9]+)\)'
    [[ $line =~ $re ]] || { echo "    unparsed trace (reused): $line"; return 1; }
    T_REUSED=${BASH_REMATCH[1]} T_BOOTED=${BASH_REMATCH[2]} T_TARGET=${BASH_REMATCH[3]} T_ZEROS=${BASH_REMATCH[4]}
    re='fetched ([0-9]+) payload bytes for ([0-9]+) image bytes in ([0-9]+) requests'
    [[ $line =~ $re ]] || { echo "    unparsed trace (fetched): $line"; return 1; }
    T_FETCHED=${BASH_REMATCH[1]} T_IMAGE=${BASH_REMATCH[2]} T_REQS=${BASH_REMATCH[3]}
    T_CHANGED=0
    re='([0-9]+) local chunks had changed'
    [[ $line =~ $re ]] && T_CHANGED=${BASH_REMATCH[1]}
    re='stored block digests of slot ([ABR])'
    if [[ $line =~ $re ]]; then T_FROM="stored block digests of slot ${BASH_REMATCH[1]}"; else
        re='hash(ed|ing) slot ([ABR])'
        if [[ $line =~ $re ]]; then T_FROM="hashed slot ${BASH_REMATCH[2]}"; else
            re='no booted image'
            if [[ $line =~ $re ]]; then T_FROM="no booted image"; else T_FROM="unknown: ${line##*;}"; fi
        fi
    fi
    echo "    trace: reused $T_REUSED (booted $T_BOOTED, target $T_TARGET, zeros $T_ZEROS), fetched $T_FETCHED for $T_IMAGE in $T_REQS requests, changed $T_CHANGED; from $T_FROM"
}
slot_is() { [ "$(slot_field "$1" status)" = "$2" ]; }
slot_not_ready() { case $(slot_field "$1" status) in ready | good) return 1 ;; *) return 0 ;; esac; }
holds() { cmp -s -n "$(stat -c %s "$2")" "$DEV/${1,,}.img" "$2"; }  # SLOT IMAGE
has_digests() { [ -f "$DEV/state/blocks-$1" ]; }

slotctl init > /dev/null || die "slotctl init failed"
slotctl install "$W/img/v0.img" --slot A --version 0.9 > /dev/null || die "slotctl install v0 --slot A failed"
EXPECT[A]=$W/img/v0.img
slotctl boot > /dev/null || die "slotctl boot failed"
[ "$(booted)" = A ] || die "the device did not boot A after install"
slotctl mark-good > /dev/null

case_start "setup: 1.0 (v1) into B by update, boot B"
remember_booted
deploy 1.0 "$W/img/v1.img" "$W/pay/v1.img.gz"
update v1
[ "$UPD_RC" = 0 ] || { show_update v1; die "the 1.0 update failed (exit $UPD_RC)"; }
holds B "$W/img/v1.img" || die "B does not hold v1 after the 1.0 update"
EXPECT[B]=$W/img/v1.img
check_invariants setup
boot_into B
echo "    device: A 0.9 (v0), B 1.0 (v1) booted and good"

# --- a ---------------------------------------------------------------------------
case_start "a. delta from slot-server: 2.0 (v2)"
remember_booted
deploy 2.0 "$W/img/v2.img" "$W/pay/v2.img.gz"
PAY2=$(stat -c %s "$W/pay/v2.img.gz")
NZ2=$(nonzero_bytes "$W/img/v2.img")
update a
show_update a
expect "a: slotctl update exits 0" [ "$UPD_RC" = 0 ]
if parse_trace a; then
    expect "a: reused $T_REUSED > 50 % of the image ($IMG_SIZE)" gt "$T_REUSED" $((IMG_SIZE / 2))
    expect "a: booted-slot reuse $T_BOOTED > 50 % of v2's non-zero bytes ($NZ2)" gt "$T_BOOTED" $((NZ2 / 2))
    expect "a: fetched $T_FETCHED payload bytes < 1/3 of the payload ($PAY2)" lt "$T_FETCHED" $((PAY2 / 3))
    expect "a: the trace accounts for the whole image" [ $((T_REUSED + T_IMAGE)) = "$IMG_SIZE" ]
else
    fail "a: no delta trace line on stderr"
fi
expect "a: output says 'installed 2.0 into slot A: ready to reboot (delta: ...)'" \
    grep -q 'installed 2.0 into slot A: ready to reboot (delta: .* reused, .* downloaded)' "$W/logs/a.out"
expect "a: A's first $IMG_SIZE bytes equal v2" holds A "$W/img/v2.img"
EXPECT[A]=$W/img/v2.img
expect "a: B still equals v1" holds B "$W/img/v1.img"
expect "a: state/blocks-A kept" has_digests A
expect "a: A is ready" slot_is A ready
check_invariants a

# --- b ---------------------------------------------------------------------------
case_start "b. delta from nginx (--url, --index-url): 3.0 (v3), booted A"
ensure_holds a A "$W/img/v2.img" 2.0
boot_into A
remember_booted
deploy 3.0 "$W/img/v3.img" "$WWW/v3.img.gz" --url "$NGINX/p/v3.img.gz" --index-url "$NGINX/p/v3.img.gz.index"
PAY3=$(stat -c %s "$WWW/v3.img.gz")
MARK=$(log_mark)
update b
show_update b
read -r WIRE REQS < <(wire_bytes "$MARK" /p/v3.img.gz)
echo "    nginx: $WIRE bytes in $REQS requests (payload $PAY3)"
expect "b: slotctl update exits 0" [ "$UPD_RC" = 0 ]
expect "b: bytes on the wire $WIRE < 1/3 of the payload $PAY3" lt "$WIRE" $((PAY3 / 3))
expect "b: the index was fetched from nginx" grep -q "GET /p/v3.img.gz.index " "$ACCESS_LOG"
expect "b: the payload was fetched with Range (206)" grep -q "GET /p/v3.img.gz HTTP/1.1 206 " "$ACCESS_LOG"
if parse_trace b; then
    expect "b: the booted slot's chunks from its stored digests ('$T_FROM')" [ "$T_FROM" = "stored block digests of slot A" ]
else
    fail "b: no delta trace line on stderr"
fi
expect "b: no hashing of the booted slot was announced" bash -c "! grep -q 'hashing slot' '$W/logs/b.err'"
expect "b: B equals v3" holds B "$W/img/v3.img"
EXPECT[B]=$W/img/v3.img
expect "b: B is ready" slot_is B ready
expect "b: state/blocks-B kept" has_digests B
check_invariants b

# --- c ---------------------------------------------------------------------------
case_start "c. tampered payload on nginx: 4.0 (v4)"
remember_booted
deploy 4.0 "$W/img/v4.img" "$WWW/v4.img.gz" --url "$NGINX/p/v4.img.gz" --index-url "$NGINX/p/v4.img.gz.index"
# One byte flipped every 64 KiB from 64 KiB on: v4's 1 MiB of random bytes (no
# device holds them, so they are fetched) alone takes ~16 of them.
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    data = bytearray(f.read())
    for at in range(65536, len(data) - 64, 65536): data[at] ^= 0x5a
    f.seek(0); f.write(data)' "$WWW/v4.img.gz"
update c
show_update c
expect "c: slotctl update fails (exit $UPD_RC)" [ "$UPD_RC" != 0 ]
expect "c: the error names the signed chunk index or the inflate" \
    grep -Eq 'does not match the signed chunk index|do not inflate' "$W/logs/c.err" "$W/logs/c.out"
# The chunk (or run) the error names must hold one of the flipped bytes: the
# failure is the tampering found, not some other fault of the delta path.
flipped_in_named() {
    python3 -c '
import re, struct, sys, zlib
idx = open(sys.argv[1], "rb").read()
err = open(sys.argv[2]).read()
m = re.search(r"chunks (\d+)\.\.<(\d+) of the payload", err) or re.search(r"chunk (\d+) of the payload", err)
if not m: sys.exit("no chunk named")
first = int(m.group(1)); end = int(m.group(2)) if m.lastindex == 2 else first + 1
_, hl, _, _, _, _, _, start, count = struct.unpack("<BBHIIQQQI", idx[8:48])
rest = zlib.decompress(idx[48:], 47)[count * hl:]
offsets = [start]; value = shift = 0
for b in rest:
    value |= (b & 0x7f) << shift; shift += 7
    if b < 0x80: offsets.append(offsets[-1] + value); value = shift = 0
lo, hi = offsets[first], offsets[end]
hit = [a for a in range(65536, hi, 65536) if lo <= a < hi]
print(f"    named chunks {first}..<{end}: payload bytes {lo}..<{hi}, flipped bytes there: {len(hit)}")
sys.exit(0 if hit else 1)' "$WWW/v4.img.gz.index" "$W/logs/c.err"
}
expect "c: the chunk(s) the error names hold a flipped byte" flipped_in_named
expect "c: the target B is not ready ($(slot_field B status))" slot_not_ready B
expect "c: no stale state/blocks-B" bash -c "! test -f '$DEV/state/blocks-B'"
unset 'EXPECT[B]'
check_invariants c

# --- d ---------------------------------------------------------------------------
case_start "d. a chunk index that is not the one signed: 5.0 (v4 again), full download"
remember_booted
deploy 5.0 "$W/img/v4.img" "$WWW/v5.img.gz" --url "$NGINX/p/v5.img.gz" --index-url "$NGINX/p/v5.img.gz.index"
PAY5=$(stat -c %s "$WWW/v5.img.gz")
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    data = bytearray(f.read()); data[len(data) // 2] ^= 0x01
    f.seek(0); f.write(data)' "$WWW/v5.img.gz.index"
MARK=$(log_mark)
update d
show_update d
read -r WIRE REQS < <(wire_bytes "$MARK" /p/v5.img.gz)
echo "    nginx: $WIRE bytes in $REQS requests (payload $PAY5)"
expect "d: slotctl update exits 0" [ "$UPD_RC" = 0 ]
expect "d: 'delta update not possible' on stderr" grep -q 'slotctl: delta update not possible, downloading in full' "$W/logs/d.err"
expect "d: no delta trace (a full download)" bash -c "! grep -q 'trace: delta:' '$W/logs/d.err'"
expect "d: the whole payload crossed the wire ($WIRE >= $PAY5)" [ "$WIRE" -ge "$PAY5" ]
expect "d: B equals v4" holds B "$W/img/v4.img"
EXPECT[B]=$W/img/v4.img
expect "d: B is ready" slot_is B ready
expect "d: no state/blocks-B after a full install" bash -c "! test -f '$DEV/state/blocks-B'"
check_invariants d

# --- e ---------------------------------------------------------------------------
case_start "e. the booted slot changed behind slotctl's back: 6.0 (v3) from slot-server"
deploy 6.0 "$W/img/v3.img" "$W/pay/v6.img.gz"
cp --sparse=always a.img "$W/a-before-e.img"
# 8 chunks of A that v3 also holds (non-zero; the first place A holds each,
# which is where A's stored digests point), spread over A: overwritten with
# random bytes.
CORRUPTED=$(python3 -c '
import sys, os, hashlib
def chunks(path):
    with open(path, "rb") as f:
        data = f.read(48 << 20)
    return [data[i:i + 4096] for i in range(0, len(data), 4096)]
a, v3 = chunks(sys.argv[1]), chunks(sys.argv[2])
z = bytes(4096)
want = {hashlib.sha256(c).digest() for c in v3 if c != z}
first = {}
for i, c in enumerate(a):
    if c != z: first.setdefault(hashlib.sha256(c).digest(), i)
cand = sorted(i for h, i in first.items() if h in want)
pick = [cand[k * len(cand) // 8] for k in range(8)] if len(cand) >= 8 else []
with open(sys.argv[1], "r+b") as f:
    for i in pick:
        f.seek(i * 4096); f.write(os.urandom(4096))
print(len(pick))' a.img "$W/img/v3.img")
[ "$CORRUPTED" = 8 ] || die "e: found no 8 chunks of A that v3 shares"
remember_booted  # the changed bytes are now the booted slot's
update e
show_update e
expect "e: slotctl update exits 0" [ "$UPD_RC" = 0 ]
if parse_trace e; then
    expect "e: the trace reports local chunks that had changed ($T_CHANGED, 8 overwritten)" [ "${T_CHANGED:-0}" -ge 1 ]
    expect "e: the booted slot's chunks from its stored digests ('$T_FROM')" [ "$T_FROM" = "stored block digests of slot A" ]
else
    fail "e: no delta trace line on stderr"
fi
expect "e: B equals v3" holds B "$W/img/v3.img"
EXPECT[B]=$W/img/v3.img
expect "e: B is ready" slot_is B ready
expect "e: the booted slot A is as the update found it" [ "$(sha a.img)" = "$BOOTED_SHA" ]
# A back as it was, then the invariants (A is good: its bytes must match its record).
cp --sparse=always "$W/a-before-e.img" a.img
rm -f "$W/a-before-e.img"
expect "e: A restored to v2" holds A "$W/img/v2.img"
BOOTED_SHA=$(sha a.img)
check_invariants e

# --- f ---------------------------------------------------------------------------
case_start "f. a payload server that ignores Range (nginx max_ranges 0): 7.0 (v1)"
remember_booted
deploy 7.0 "$W/img/v1.img" "$WWW/v7.img.gz" --url "$NGINX/full/v7.img.gz" --index-url "$NGINX/full/v7.img.gz.index"
PAY7=$(stat -c %s "$WWW/v7.img.gz")
MARK=$(log_mark)
update f
show_update f
read -r WIRE REQS < <(wire_bytes "$MARK" /full/v7.img.gz)
echo "    nginx: $WIRE bytes in $REQS requests (payload $PAY7)"
expect "f: slotctl update exits 0" [ "$UPD_RC" = 0 ]
expect "f: 'delta update not possible' on stderr" grep -q 'slotctl: delta update not possible, downloading in full' "$W/logs/f.err"
expect "f: no delta trace (a full download)" bash -c "! grep -q 'trace: delta:' '$W/logs/f.err'"
expect "f: about the whole payload crossed the wire ($PAY7 <= $WIRE <= 2x)" \
    bash -c "[ $WIRE -ge $PAY7 ] && [ $WIRE -le $((2 * PAY7 + 65536)) ]"
expect "f: B equals v1" holds B "$W/img/v1.img"
EXPECT[B]=$W/img/v1.img
expect "f: B is ready" slot_is B ready
expect "f: no state/blocks-B after a full install" bash -c "! test -f '$DEV/state/blocks-B'"
check_invariants f

# --- g ---------------------------------------------------------------------------
case_start "g. killed mid-way on a slow server (limit_rate 300k), then resumed: 8.0 (v8)"
remember_booted
deploy 8.0 "$W/img/v8.img" "$WWW/v8.img.gz" --url "$NGINX/slow/v8.img.gz" --index-url "$NGINX/slow/v8.img.gz.index"
# The chunks the device must fetch: not in A, not zero, not in B at their offset.
python3 -c '
import sys, hashlib
def chunks(path):
    with open(path, "rb") as f:
        data = f.read(48 << 20)
    return [data[i:i + 4096] for i in range(0, len(data), 4096)]
a, b, v = chunks(sys.argv[1]), chunks(sys.argv[2]), chunks(sys.argv[3])
have = {hashlib.sha256(c).digest() for c in a}
z = bytes(4096)
must = [i for i, c in enumerate(v) if c != z and hashlib.sha256(c).digest() not in have and (i >= len(b) or b[i] != c)]
open(sys.argv[4], "w").write(" ".join(map(str, must)))' a.img b.img "$W/img/v8.img" "$W/g-fetch.txt"
echo "    v8: $(wc -w < "$W/g-fetch.txt") chunks to fetch"
# How many of them B holds now.
written() {
    python3 -c '
import sys
must = [int(x) for x in open(sys.argv[1]).read().split()]
n = 0
with open(sys.argv[2], "rb") as b, open(sys.argv[3], "rb") as v:
    for i in must:
        b.seek(i * 4096); v.seek(i * 4096)
        n += b.read(4096) == v.read(4096)
print(n)' "$W/g-fetch.txt" "$DEV/b.img" "$W/img/v8.img"
}
MUST=$(wc -w < "$W/g-fetch.txt")
SLOTCTL_TRACE=1 "$BIN/slotctl" --config "$DEV/system.conf" update > "$W/logs/g1.out" 2> "$W/logs/g1.err" &
UPD_PID=$!
PIDS+=("$UPD_PID")
GOT=0
for _ in $(seq 200); do  # up to 40 s: kill once some fetched chunks are in B
    sleep 0.2
    kill -0 "$UPD_PID" 2> /dev/null || break
    GOT=$(written)
    [ "$GOT" -gt 0 ] && break
done
if kill -9 "$UPD_PID" 2> /dev/null; then
    KILLED=1
else
    KILLED=0
fi
wait "$UPD_PID" 2> /dev/null || true
GOT=$(written)
echo "    killed: $KILLED; $GOT of $MUST fetched chunks were in B"
show_update g1
expect "g: the update was killed while running" [ "$KILLED" = 1 ]
expect "g: some fetched chunks reached B before the kill ($GOT)" [ "$GOT" -gt 0 ]
expect "g: not all of them ($GOT < $MUST)" [ "$GOT" -lt "$MUST" ]
expect "g: after the kill B is not ready ($(slot_field B status))" slot_not_ready B
unset 'EXPECT[B]'
check_invariants g-killed
update g2
show_update g2
expect "g: the update run again exits 0" [ "$UPD_RC" = 0 ]
if parse_trace g2; then
    expect "g: the resumed run reused $T_TARGET bytes of the target" [ "$T_TARGET" -gt 0 ]
else
    fail "g: no delta trace line on stderr of the resumed run"
fi
expect "g: B equals v8" holds B "$W/img/v8.img"
EXPECT[B]=$W/img/v8.img
expect "g: B is ready" slot_is B ready
check_invariants g

# --- h ---------------------------------------------------------------------------
case_start "h. 1 KiB blocks: 9.0 (v2, -b 1024) hashes the booted slot, then 9.1 (v3, -b 1024) uses stored digests"
index_sizes() {  # INDEX: "CHUNK BLOCK"
    python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(48)
assert d[:8] == b"SLOTIDX2", d[:8]
print(*struct.unpack("<II", d[12:20]))' "$1"
}
remember_booted
deploy 9.0 "$W/img/v2-1k.img" "$W/pay/k2.img.gz"
expect "h: the index of a 1 KiB-block image has 4096-byte chunks of 1024-byte blocks ($(index_sizes "$W/pay/k2.img.gz.index"))" \
    [ "$(index_sizes "$W/pay/k2.img.gz.index")" = "4096 1024" ]
expect "h: the index of a 4 KiB-block image has 4096-byte blocks" [ "$(index_sizes "$W/pay/v2.img.gz.index")" = "4096 4096" ]
update h1
show_update h1
expect "h: slotctl update 9.0 exits 0" [ "$UPD_RC" = 0 ]
if parse_trace h1; then
    expect "h: 9.0 hashed the booted slot ('$T_FROM': its stored digests are of 4 KiB blocks)" [ "$T_FROM" = "hashed slot A" ]
else
    fail "h: no delta trace line on stderr of 9.0"
fi
expect "h: 9.0 said it hashes slot A" grep -q 'hashing slot A' "$W/logs/h1.out" "$W/logs/h1.err"
expect "h: B equals v2 -b 1024" holds B "$W/img/v2-1k.img"
EXPECT[B]=$W/img/v2-1k.img
check_invariants h1
boot_into B
remember_booted
deploy 9.1 "$W/img/v3-1k.img" "$W/pay/k3.img.gz"
PAYK3=$(stat -c %s "$W/pay/k3.img.gz")
update h2
show_update h2
expect "h: slotctl update 9.1 exits 0" [ "$UPD_RC" = 0 ]
if parse_trace h2; then
    expect "h: 9.1 found the booted slot's chunks from its stored digests ('$T_FROM')" [ "$T_FROM" = "stored block digests of slot B" ]
    expect "h: 9.1 fetched $T_FETCHED payload bytes < 1/3 of the payload ($PAYK3)" lt "$T_FETCHED" $((PAYK3 / 3))
else
    fail "h: no delta trace line on stderr of 9.1"
fi
expect "h: A equals v3 -b 1024" holds A "$W/img/v3-1k.img"
EXPECT[A]=$W/img/v3-1k.img
expect "h: A is ready" slot_is A ready
check_invariants h

echo
ELAPSED=$(($(date +%s) - STARTED))
if [ "$FAILS" -gt 0 ]; then
    echo "delta-e2e: $FAILS assertion(s) FAILED in $ELAPSED s (logs: KEEP=1 keeps $W)"
    exit 1
fi
echo "delta-e2e: all cases passed in $ELAPSED s"
