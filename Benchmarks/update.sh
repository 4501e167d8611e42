#!/usr/bin/env bash
# Benchmark: `slotctl update` of a 1 GiB payload served by nginx on loopback
# into a file-backed slot (download, SHA-256 + CRC-32, write, read-back
# verification, state commit), against `curl -o` of the same payload into
# the same file followed by `cksum`. Alternating, in one run; prints per-run
# times, medians, the median ratio, and slotctl's own account of where the
# time went (SLOTCTL_TRACE).
#
#   Benchmarks/update.sh [RUNS]          (default 5; SIZE_MIB=1024)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/Benchmarks/common.sh"
RUNS=${1:-5}
SIZE_MIB=${SIZE_MIB:-1024}
WORK=${WORK:-/var/tmp/slotctl-bench-update}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need curl || ! need bc; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq nginx-light curl bc >/dev/null
fi
cd "$ROOT"
if [ -z "${BIN:-}" ]; then
    echo "building slotctl, its update module and slot-server (release)..." >&2
    swift build -c release --product slotctl >&2
    swift build -c release --product slotctl-update >&2
    swift build -c release --product slot-server >&2
    BIN=$(swift build -c release --show-bin-path)
fi

mkdir -p "$WORK"
cd "$WORK"
rm -rf device server-data nginx keys
PAYLOAD=$WORK/payload-${SIZE_MIB}m.bin
[ -f "$PAYLOAD" ] && [ "$(stat -c %s "$PAYLOAD")" = $((SIZE_MIB << 20)) ] || head -c $((SIZE_MIB << 20)) /dev/urandom > "$PAYLOAD"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# nginx serves the payload (the CDN); slot-server answers checks and points there.
NGINX_PORT=$(free_port)
mkdir -p nginx/www
ln -sf "$PAYLOAD" nginx/www/payload.bin
cat > nginx/nginx.conf <<CONF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http { access_log off; sendfile on; server { listen 127.0.0.1:$NGINX_PORT; root $WORK/nginx/www; } }
CONF
nginx -c "$WORK/nginx/nginx.conf" & PIDS+=($!)
SERVER_PORT=$(free_port)
"$BIN/slot-server" keygen --out keys > /dev/null
SLOT_SERVER_ADMIN_TOKEN=bench "$BIN/slot-server" serve --listen "127.0.0.1:$SERVER_PORT" --data server-data \
    --release-key keys/release.pub --allow-anonymous-devices --log-level warning > server.log 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$SERVER_PORT/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
SLOT_SERVER_ADMIN_TOKEN=bench "$BIN/slot-server" deploy --server "http://127.0.0.1:$SERVER_PORT" --key keys/release.key \
    --compatible bench --channel stable --version 2.0 --no-index --url "http://127.0.0.1:$NGINX_PORT/payload.bin" "$PAYLOAD" > /dev/null

# The device: A runs 1.0; every run installs 2.0 into B again.
mkdir -p device && cd device
truncate -s 16M a.img r.img
truncate -s $((SIZE_MIB << 20)) b.img
write_sandbox_config "[update]
server = http://127.0.0.1:$SERVER_PORT
channel = stable
public-key = $WORK/keys/release.pub"
head -c 1M /dev/urandom > v1.img
"$BIN/slotctl" --config system.conf init > /dev/null
"$BIN/slotctl" --config system.conf install v1.img --slot A --version 1.0 > /dev/null
"$BIN/slotctl" --config system.conf boot > /dev/null

ours() {
    # B must not already hold 2.0, or update rightly has nothing to do.
    "$BIN/slotctl" --config system.conf mark-bad B > /dev/null
    settle "$PAYLOAD"
    local t0; t0=$(now)
    SLOTCTL_TRACE=1 "$BIN/slotctl" --config system.conf update > /dev/null 2> trace.txt
    echo "$(now) - $t0" | bc
}
baseline() {
    settle "$PAYLOAD"
    local t0; t0=$(now)
    curl -s -o b.img "http://127.0.0.1:$NGINX_PORT/payload.bin"
    cksum b.img > /dev/null
    echo "$(now) - $t0" | bc
}
show_trace() { sed 's/^/    /' trace.txt; }
alternate "$RUNS" "slotctl update" "curl -o + cksum" show_trace
echo
echo "payload ${SIZE_MIB} MiB from nginx on loopback, $RUNS runs, $(machine)"
echo "median slotctl update: ${mo} s ($(echo "scale=0; $SIZE_MIB / $mo" | bc) MiB/s)"
echo "median curl -o + cksum: ${mb} s"
echo "median ratio slotctl/baseline: ${mr} (target <= 3)"
