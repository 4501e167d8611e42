#!/usr/bin/env bash
# A simulated fleet against two slot-server replicas on one PostgreSQL, on
# loopback (Benchmarks/fleet_sim.py: 100 000 devices, one asyncio process).
#
#   Benchmarks/fleet.sh                       # 100 000 devices, a check a minute each
#   DEVICES=20000 POLL=30 Benchmarks/fleet.sh
#   SLOT_SERVER=/path/to/slot-server Benchmarks/fleet.sh   # no build
#
# Measures: how many devices a release that makes 30 % of its takers fall back
# reached before it paused itself (target: under 1 % of the fleet) and how
# long that took; how long a healthy release at 50 % takes to reach every
# device inside the 50 %; the check load the replicas held (requests/s, p50,
# p99, as the simulated devices saw them); the database size per 100 000
# devices. Both releases carry the server's default health gate (100 devices
# in trial, plus those that confirmed).
#
# The replicas serve unsigned checks (--allow-anonymous-devices): enrolling
# 100 000 Ed25519 keys would measure enrolment, not rollouts. Rate limits off
# (every device shares one address here). Runs itself under
# scripts/postgres-test.sh (a throwaway cluster, fsync on). Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${SLOT_TEST_POSTGRES_URL:-}" ]; then
    exec env PG_FSYNC=on "$ROOT/scripts/postgres-test.sh" -- "$ROOT/Benchmarks/fleet.sh" "$@"
fi
. "$ROOT/Benchmarks/common.sh"
cd "$ROOT"
BIN=$(slot_server_binary)
bench_workdir slot-fleet

"$BIN" keygen --out "$WORK/keys" >/dev/null
head -c 65536 /dev/urandom >"$WORK/image.bin"

python3 -c "import secrets; print(secrets.token_hex(32))" >"$WORK/admin-token"
SERVERS=()
for n in 1 2; do
    port=$(free_port)
    "$BIN" serve --listen "127.0.0.1:$port" --data "$WORK/replica-$n" --database "$SLOT_TEST_POSTGRES_URL" \
        --admin-token-file "$WORK/admin-token" --release-key "$WORK/keys/release.pub" --allow-anonymous-devices \
        --device-rate 0 --address-rate 0 --log-level warning >"$WORK/replica-$n.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$WORK/replica-$n.log" >&2; exit 1; }
    SERVERS+=("127.0.0.1:$port")
done
ADMIN=(--server "http://${SERVERS[0]}" --token-file "$WORK/admin-token" --key "$WORK/keys/release.key" --compatible sim-board --channel stable)
# What every device runs at the start, no gate.
"$BIN" deploy "${ADMIN[@]}" --version 1.0 --max-in-trial 0 "$WORK/image.bin" >/dev/null 2>&1
cat >"$WORK/deploy" <<SH
#!/bin/sh
exec "$BIN" deploy ${ADMIN[*]} --version "\$1" --rollout "\$2" "$WORK/image.bin" 2>/dev/null
SH
chmod +x "$WORK/deploy"

echo "simulating ${DEVICES:-100000} devices against ${SERVERS[*]} (one check every ${POLL:-60} s each, with jitter)..." >&2
RESULT=$(python3 "$ROOT/Benchmarks/fleet_sim.py" "$(IFS=,; echo "${SERVERS[*]}")" "$(cat "$WORK/admin-token")" "$WORK/deploy")
DB_BYTES=$(psql -qtA "$SLOT_TEST_POSTGRES_URL" -c "SELECT sum(pg_total_relation_size(relid)) FROM pg_stat_user_tables")
TABLES=$(psql -qtA "$SLOT_TEST_POSTGRES_URL" -c "SELECT string_agg(relname || ' ' || pg_size_pretty(pg_total_relation_size(relid)), ', ' ORDER BY pg_total_relation_size(relid) DESC) FROM pg_stat_user_tables")

python3 - "$RESULT" "$DB_BYTES" "$TABLES" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); db = int(sys.argv[2]); tables = sys.argv[3]
bad, good, load = r["bad"], r["good"], r["load"]
print(f"fleet: {r['devices']} devices, {r['replicas']} replicas on one PostgreSQL, a check every {r['poll_seconds']:.0f} s (+-50 %), "
      f"install {r['install_seconds']} s + reboot {r['reboot_seconds']} s; warm-up {r['warm_up_seconds']} s")
share = bad["share_of_fleet"] * 100
print(f"bad release at 50 % ({bad['ceiling']} devices inside), {r['fail_share'] * 100:.0f} % of takers fall back:")
print(f"  paused itself after {bad['paused_after_seconds']} s: {bad['pause_reason']}")
print(f"  devices offered it: {bad['devices_offered_at_pause']} when it paused, {bad['devices_offered_total']} in all "
      f"= {share:.2f} % of the fleet (target < 1 %): {'met' if share < 1 else 'NOT met'}")
print(f"  trial at the end: {bad['trial']}")
print(f"healthy release at 50 % ({good['ceiling']} devices inside):")
print(f"  10 / 50 / 90 % of them running it after {good['seconds_to_10_50_90_percent']} s; all of them after {good['seconds_to_whole_ceiling']} s "
      f"({good['running']} running); trial at the end: {good['trial']}")
print(f"check load held by the replicas (as the devices saw it): {load['requests_per_second']} req/s, "
      f"p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, {load['errors']} errors")
print(f"database: {db / 1048576:.1f} MiB in slot-server's tables (indexes included) for {r['devices']} devices "
      f"= {db / 1048576 * 100000 / r['devices']:.1f} MiB per 100 000 ({tables})")
PY
echo "machine: $(machine); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
