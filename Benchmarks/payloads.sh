#!/usr/bin/env bash
# Payload storage side by side, in one run: one payload uploaded (`slot-server
# deploy`) and downloaded (`curl`, whole) through slot-server with the payload
# in PostgreSQL (`--payloads database`, what stateless replicas use) and in a
# directory (`--payloads directory`), and downloaded from nginx serving the
# same file.
#
#   Benchmarks/payloads.sh                   # 256 MiB, 3 rounds, medians
#   SIZE_MB=1024 ROUNDS=5 Benchmarks/payloads.sh
#   SLOT_SERVER=/path/to/slot-server Benchmarks/payloads.sh   # no build
#
# Runs itself under scripts/postgres-test.sh (a throwaway cluster, with fsync
# on here, as a real one has it). Needs root for apt-get (postgresql, nginx)
# and to run the cluster. Prints seconds and MiB/s of each, and the ratios.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${SLOT_TEST_POSTGRES_URL:-}" ]; then
    exec env PG_FSYNC=on "$ROOT/scripts/postgres-test.sh" -- "$ROOT/Benchmarks/payloads.sh" "$@"
fi
. "$ROOT/Benchmarks/common.sh"
SIZE_MB=${SIZE_MB:-256}
ROUNDS=${ROUNDS:-3}

command -v nginx >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
cd "$ROOT"
BIN=$(slot_server_binary)
bench_workdir slot-payloads

"$BIN" keygen --out "$WORK/keys" >/dev/null
head -c $((SIZE_MB << 20)) /dev/urandom >"$WORK/image.bin"

start_server() {  # NAME PORT ARGS... (a data directory of its own)
    local name=$1 port=$2
    shift 2
    "$BIN" serve --listen "127.0.0.1:$port" --data "$WORK/$name" --release-key "$WORK/keys/release.pub" \
        --log-level warning "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
    echo "slot-server $name did not start:" >&2
    cat "$WORK/$name.log" >&2
    exit 1
}
DB_PORT=$(free_port)
DIR_PORT=$(free_port)
NGINX_PORT=$(free_port)
start_server database "$DB_PORT" --database "$SLOT_TEST_POSTGRES_URL" --payloads database
start_server directory "$DIR_PORT" --payloads directory

mkdir -p "$WORK/nginx/root"
chmod 755 "$WORK" "$WORK/nginx" "$WORK/nginx/root"  # nginx workers run as nobody
ln "$WORK/image.bin" "$WORK/nginx/root/image.bin"
cat >"$WORK/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server { listen 127.0.0.1:$NGINX_PORT; root $WORK/nginx/root; }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$NGINX_PORT/image.bin" && break; sleep 0.1; done

deploy() {  # NAME PORT VERSION -> seconds, release id
    local start id
    start=$(now)
    id=$("$BIN" deploy --server "http://127.0.0.1:$2" --token-file "$WORK/$1/admin-token" --key "$WORK/keys/release.key" \
        --compatible bench --channel stable --version "$3" "$WORK/image.bin" 2>/dev/null)
    echo "$(echo "$(now) - $start" | bc -l) $id"
}
download() {  # URL -> seconds (the whole payload, checked for length)
    local out
    out=$(curl -fsS -o /dev/null -w '%{time_total} %{size_download}' "$1")
    [ "${out#* }" = $((SIZE_MB << 20)) ] || { echo "short download from $1: ${out#* } bytes" >&2; exit 1; }
    echo "${out% *}"
}
mibs() { echo "$SIZE_MB / $1" | bc -l; }

UP_DB=()
UP_DIR=()
DOWN_DB=()
DOWN_DIR=()
DOWN_NGINX=()
echo "round  upload: database  directory  | download: database  directory  nginx   (seconds, $SIZE_MB MiB)"
for round in $(seq "$ROUNDS"); do
    # Alternate the order, so that outside load does not always hit the same side.
    if [ $((round % 2)) -eq 1 ]; then order="database directory"; else order="directory database"; fi
    for side in $order; do
        port=$DB_PORT
        [ "$side" = directory ] && port=$DIR_PORT
        read -r seconds id < <(deploy "$side" "$port" "1.$round")
        [ -n "$id" ] || { echo "deploy to the $side server failed" >&2; cat "$WORK/$side.log" >&2; exit 1; }
        if [ "$side" = database ]; then UP_DB+=("$seconds"); DB_ID=$id; else UP_DIR+=("$seconds"); DIR_ID=$id; fi
    done
    DOWN_DB+=("$(download "http://127.0.0.1:$DB_PORT/v1/payloads/$DB_ID")")
    DOWN_DIR+=("$(download "http://127.0.0.1:$DIR_PORT/v1/payloads/$DIR_ID")")
    DOWN_NGINX+=("$(download "http://127.0.0.1:$NGINX_PORT/image.bin")")
    printf "%5s  %16.2f  %9.2f  | %18.2f  %9.2f  %5.2f\n" "$round" "${UP_DB[-1]}" "${UP_DIR[-1]}" "${DOWN_DB[-1]}" "${DOWN_DIR[-1]}" "${DOWN_NGINX[-1]}"
done

up_db=$(median "${UP_DB[@]}")
up_dir=$(median "${UP_DIR[@]}")
down_db=$(median "${DOWN_DB[@]}")
down_dir=$(median "${DOWN_DIR[@]}")
down_nginx=$(median "${DOWN_NGINX[@]}")
table_bytes=$(psql -qtA "$SLOT_TEST_POSTGRES_URL" -c "SELECT pg_total_relation_size('payload_chunks')")
echo
echo "machine: $(machine); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "upload (deploy, hashing the image included):  database %.2f s (%.0f MiB/s), directory %.2f s (%.0f MiB/s): %.2fx\n" \
    "$up_db" "$(mibs "$up_db")" "$up_dir" "$(mibs "$up_dir")" "$(echo "$up_db / $up_dir" | bc -l)"
printf "download: database %.2f s (%.0f MiB/s), directory %.2f s (%.0f MiB/s), nginx %.2f s (%.0f MiB/s)\n" \
    "$down_db" "$(mibs "$down_db")" "$down_dir" "$(mibs "$down_dir")" "$down_nginx" "$(mibs "$down_nginx")"
printf "download ratios: database/directory %.2fx, database/nginx %.2fx\n" \
    "$(echo "$down_db / $down_dir" | bc -l)" "$(echo "$down_db / $down_nginx" | bc -l)"
printf "payload_chunks on disk: %.1f MiB for %d payloads of %d MiB (%.3f of the payload bytes)\n" \
    "$(echo "$table_bytes / 1048576" | bc -l)" "$ROUNDS" "$SIZE_MB" "$(echo "$table_bytes / ($ROUNDS * $SIZE_MB * 1048576)" | bc -l)"
