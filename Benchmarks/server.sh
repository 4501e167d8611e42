#!/usr/bin/env bash
# slot-server POST /v1/check against nginx serving a static JSON answer, side by
# side on this machine in one run.
#
#   Benchmarks/server.sh                    # 3 rounds of 5 s each, medians: signed checks
#   AUTH=off Benchmarks/server.sh           # --allow-anonymous-devices, 100 000 devices, 10 s rounds
#   ROUNDS=5 DURATION=10s Benchmarks/server.sh
#   SLOT_SERVER=/path/to/slot-server Benchmarks/server.sh   # no build: that binary
#   FORGED=1 Benchmarks/server.sh           # every MAC altered: refusals (401) per second
#
# AUTH=on (the default, as devices run): AUTH_DEVICES (5000) devices enrol and open a
# session (Benchmarks/device_load.py), then every check wrk sends carries its MAC. wrk
# cannot compute one, so each round's requests are made beforehand (times must grow
# per device: a request can be used once) and replayed from files; nginx gets the
# same bytes.
#
# Prints requests/s and p99 latency of both, and slot-server's share of nginx's
# requests/s. Target: >= 0.5 with p99 < 10 ms. Needs root for apt-get when wrk
# or nginx are missing. Every process it starts is stopped by PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
AUTH=${AUTH:-on}
if [ "$AUTH" = on ]; then DURATION=${DURATION:-5s}; else DURATION=${DURATION:-10s}; fi
AUTH_DEVICES=${AUTH_DEVICES:-5000}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DEVICES=${DEVICES:-100000}
SCRATCH=${SCRATCH:-.build-server}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || ! python3 -c 'import cryptography' 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq wrk nginx-light python3-cryptography >/dev/null
fi

cd "$ROOT"
if [ -n "${SLOT_SERVER:-}" ]; then
    BIN=$SLOT_SERVER  # a binary built elsewhere (an older tree, for a before/after)
else
    if [ -z "${SKIP_BUILD:-}" ]; then
        echo "building slot-server (release)..." >&2
        swift build -c release --scratch-path "$SCRATCH" --product slot-server >/dev/null
    fi
    BIN="$ROOT/$SCRATCH/release/slot-server"
fi

WORK=$(mktemp -d /tmp/slot-bench.XXXXXX)
SERVER_PID=""
NGINX_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
SERVER_PORT=$(free_port)
NGINX_PORT=$(free_port)
SERVER="http://127.0.0.1:$SERVER_PORT"

# --- the update server with two releases: 1.0 to everyone, 1.1 to 50 % ---
"$BIN" keygen --out "$WORK/keys" >/dev/null
# wrk checks the same 100 000 devices many times a second from one address: the
# rate limits stay on (their cost is part of the figure) with rates nothing reaches.
# RATE_LIMITS=off measures without them (their cost, by difference).
LIMITS=()
if "$BIN" serve --help 2>&1 | grep -q -- --device-rate; then
    if [ "${RATE_LIMITS:-on}" = off ]; then LIMITS=(--device-rate 0 --address-rate 0); else LIMITS=(--device-rate 1e9 --address-rate 1e9); fi
fi
if [ "$AUTH" != on ] && "$BIN" serve --help 2>&1 | grep -q -- --allow-anonymous-devices; then LIMITS+=(--allow-anonymous-devices); fi
"$BIN" serve --listen "127.0.0.1:$SERVER_PORT" --data "$WORK/data" --release-key "$WORK/keys/release.pub" \
    "${LIMITS[@]}" --log-level warning >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fs "$SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
ADMIN=(--server "$SERVER" --token-file "$WORK/data/admin-token")
head -c 1048576 /dev/urandom >"$WORK/image.bin"
# The load is about answering, not pacing: no health gate (binaries from before it have none).
GATE=()
if "$BIN" deploy --help 2>&1 | grep -q -- --max-in-trial; then GATE=(--max-in-trial 0); fi
"$BIN" deploy "${ADMIN[@]}" --key "$WORK/keys/release.key" --compatible bench-board --channel stable --version 1.0 "${GATE[@]}" "$WORK/image.bin" >/dev/null 2>&1
CANARY=$("$BIN" deploy "${ADMIN[@]}" --key "$WORK/keys/release.key" --compatible bench-board --channel stable --version 1.1 --rollout 50 "${GATE[@]}" "$WORK/image.bin" 2>/dev/null)
if [ "$AUTH" = on ]; then
    "$BIN" enroll-token "${ADMIN[@]}" --product bench-board --out "$WORK/enroll-token" 2>/dev/null
    echo "enrolling $AUTH_DEVICES devices (key, token, session, a first signed check)..." >&2
    python3 "$ROOT/Benchmarks/device_load.py" enroll "$SERVER" "$(cat "$WORK/enroll-token")" "$AUTH_DEVICES" "$WORK/devices.json"
    ANSWER=$(cat "$WORK/devices.json.answer")  # a release as a first check was offered it
else
    ANSWER=$(curl -fs -X POST "$SERVER/v1/check" -d '{"clientId":"sample","compatible":"bench-board","channel":"stable","version":"0.9","slot":"A"}')
fi

# --- wrk scripts: one to register every device once, one mixed load ---
cat >"$WORK/register.lua" <<LUA
local counter = 0
local step = 1
function setup(thread)
    thread:set("first", #threads_started + 0)
    table.insert(threads_started, thread)
end
threads_started = {}
function init(args)
    counter = first
    step = $THREADS
end
function request()
    local id = counter % $DEVICES
    counter = counter + step
    return wrk.format("POST", "/v1/check", {["Content-Type"] = "application/json"},
        '{"clientId":"device-' .. id .. '","compatible":"bench-board","channel":"stable","version":"1.0","slot":"A"}')
end
LUA
cat >"$WORK/check.lua" <<LUA
-- 20 000 pre-built requests over the $DEVICES registered ids: 80 % on 1.0 (half of
-- them get 1.1), 10 % already on 1.1 (204), 10 % on 0.9 (get 1.0 or 1.1).
local requests = {}
local index = 0
function init(args)
    math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
    for i = 1, 20000 do
        local r = math.random(100)
        local version = r <= 80 and "1.0" or (r <= 90 and "1.1" or "0.9")
        local id = math.random(0, $DEVICES - 1)
        requests[i] = wrk.format("POST", "/v1/check", {["Content-Type"] = "application/json"},
            '{"clientId":"device-' .. id .. '","compatible":"bench-board","channel":"stable","version":"' .. version .. '","slot":"' .. (r % 2 == 0 and "A" or "B") .. '"}')
    end
end
function request()
    index = index % #requests + 1
    return requests[index]
end
LUA

# AUTH=on: each thread replays the signed requests made for it this round.
cat >"$WORK/signed.lua" <<LUA
local requests = {}
local index = 0
local started = 0
function setup(thread)
    started = started + 1
    thread:set("file_number", started)
end
function init(args)
    local f = assert(io.open("$WORK/requests." .. file_number, "rb"))
    local data = f:read("*a")
    f:close()
    for r in data:gmatch("[^%z]+") do requests[#requests + 1] = r end
end
function request()
    index = index + 1
    if index > #requests then index = 1 end  -- a replay: the server answers 401, counted as non-2xx
    return requests[index]
end
LUA
SECONDS_PER_ROUND=${DURATION%s}
# Enough for 150 000 req/s: requests cannot be reused, and a shortfall shows as non-2xx.
PER_THREAD=$((75000 * SECONDS_PER_ROUND * 2 / THREADS))
make_requests() {
    python3 "$ROOT/Benchmarks/device_load.py" requests "$WORK/devices.json" "$THREADS" "$PER_THREAD" "$WORK/requests" "127.0.0.1:$SERVER_PORT" ${FORGED:+forged}
}

if [ "$AUTH" = on ]; then
    TOTAL=$AUTH_DEVICES
else
echo "registering $DEVICES devices through POST /v1/check..." >&2
TOTAL=0
for _ in 1 2 3 4 5 6; do
    wrk -t "$THREADS" -c "$CONNECTIONS" -d 6s -s "$WORK/register.lua" "$SERVER" >/dev/null
    sleep 1.5  # one check-in flush interval
    TOTAL=$(curl -fs -H "Authorization: Bearer $(cat "$WORK/data/admin-token")" "$SERVER/v1/devices?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
    [ "$TOTAL" -ge "$DEVICES" ] && break
done
echo "registered devices: $TOTAL" >&2
[ "$TOTAL" -ge "$DEVICES" ] || { echo "could not register $DEVICES devices" >&2; exit 1; }
fi

# --- nginx serving the same answer, statically ---
mkdir -p "$WORK/nginx"
ESCAPED=$(printf '%s' "$ANSWER" | sed "s/'/\\\\'/g")
cat >"$WORK/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /v1/check {
            default_type application/json;
            return 200 '$ESCAPED';
        }
    }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGINX_PID=$!
for _ in $(seq 50); do curl -fs -X POST "http://127.0.0.1:$NGINX_PORT/v1/check" -d '{}' >/dev/null 2>&1 && break; sleep 0.1; done

# --- rounds: slot-server then nginx, same load, same machine ---
to_ms() {  # wrk prints 812.00us / 1.20ms / 1.01s
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
run_wrk() {  # URL -> "rps p99ms non2xx"
    local out
    local script=$WORK/check.lua
    [ "$AUTH" = on ] && script=$WORK/signed.lua
    out=$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency -s "$script" "$1")
    local rps p99 bad
    rps=$(echo "$out" | awk '/Requests\/sec:/ { print $2 }')
    p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    bad=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $5 }')
    echo "$rps $p99 ${bad:-0}"
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "round  slot-server req/s  p99 ms  | nginx req/s  p99 ms  | ratio"
: >"$WORK/server.txt"
: >"$WORK/nginx.txt"
: >"$WORK/ratio.txt"
for round in $(seq "$ROUNDS"); do
    [ "$AUTH" = on ] && make_requests
    # Alternate who goes first, so a burst of outside load does not always hit the same side.
    if [ $((round % 2)) -eq 1 ]; then
        read -r s_rps s_p99 s_bad < <(run_wrk "$SERVER")
        read -r n_rps n_p99 n_bad < <(run_wrk "http://127.0.0.1:$NGINX_PORT")
    else
        read -r n_rps n_p99 n_bad < <(run_wrk "http://127.0.0.1:$NGINX_PORT")
        read -r s_rps s_p99 s_bad < <(run_wrk "$SERVER")
    fi
    if [ -n "${FORGED:-}" ]; then
        [ "$s_bad" != "0" ] || echo "warning: slot-server refused none of the forged checks" >&2
    else
        [ "$s_bad" = "0" ] || echo "warning: slot-server answered $s_bad non-2xx" >&2
    fi
    ratio=$(echo "$s_rps / $n_rps" | bc -l)
    echo "$s_rps $s_p99" >>"$WORK/server.txt"
    echo "$n_rps $n_p99" >>"$WORK/nginx.txt"
    echo "$ratio" >>"$WORK/ratio.txt"
    printf "%5s  %17s  %6s  | %11s  %6s  | %.2f\n" "$round" "$s_rps" "$s_p99" "$n_rps" "$n_p99" "$ratio"
done

S_RPS=$(cut -d' ' -f1 "$WORK/server.txt" | median)
S_P99=$(cut -d' ' -f2 "$WORK/server.txt" | median)
N_RPS=$(cut -d' ' -f1 "$WORK/nginx.txt" | median)
N_P99=$(cut -d' ' -f2 "$WORK/nginx.txt" | median)
RATIO=$(median <"$WORK/ratio.txt")
echo
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
if [ "$AUTH" = on ]; then
    echo "load: wrk -t $THREADS -c $CONNECTIONS -d $DURATION, signed checks (HMAC per request${FORGED:+, every MAC altered: slot-server refuses each with 401}) from $AUTH_DEVICES enrolled devices, $ROUNDS rounds (medians)"
else
    echo "load: wrk -t $THREADS -c $CONNECTIONS -d $DURATION, unsigned checks (--allow-anonymous-devices), $DEVICES registered devices, $ROUNDS rounds (medians)"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews both sides)"
printf "slot-server: %.0f req/s, p99 %.2f ms\n" "$S_RPS" "$S_P99"
printf "nginx:       %.0f req/s, p99 %.2f ms\n" "$N_RPS" "$N_P99"
printf "ratio:       %.2f of nginx, median of the per-round ratios (target >= 0.5, p99 < 10 ms): %s\n" "$RATIO" \
    "$(awk -v r="$RATIO" -v p="$S_P99" 'BEGIN { print (r >= 0.5 && p < 10) ? "met" : "NOT met" }')"
echo "canary release $CANARY; sample answer: ${ANSWER:0:80}..."
