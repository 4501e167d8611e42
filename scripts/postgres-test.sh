#!/usr/bin/env bash
# Runs the SlotServer tests with a real PostgreSQL: a throwaway cluster in a
# temp directory on a free loopback port, stopped and deleted afterwards.
#
#   scripts/postgres-test.sh                 # swift test --filter SlotServerTests
#   scripts/postgres-test.sh -- CMD ARGS...  # any command, with SLOT_TEST_POSTGRES_URL set
#
# Needs root on Debian 12 (installs the postgresql package when missing; the
# cluster runs as the postgres user, since initdb refuses root).
# SCRATCH selects the build folder (default .build-server), FILTER the tests.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${SCRATCH:-.build-server}
FILTER=${FILTER:-SlotServerTests}

find_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

PGBIN=$(find_pg_bin || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    echo "postgres-test: installing postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
    PGBIN=$(find_pg_bin)
fi
command -v psql >/dev/null || { echo "postgres-test: psql missing" >&2; exit 1; }

WORK=$(mktemp -d /tmp/slot-pg.XXXXXX)
chown postgres:postgres "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

as_postgres() { runuser -u postgres -- "$@"; }

stop_cluster() {
    as_postgres "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap stop_cluster EXIT

as_postgres "$PGBIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
# fsync off: a throwaway cluster for tests only (PG_FSYNC=on for benchmarks).
as_postgres "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w \
    -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=200" start >/dev/null
psql -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE slot_test" >/dev/null

export SLOT_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/slot_test"
echo "postgres-test: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2

cd "$ROOT"
if [ "${1:-}" = "--" ]; then
    shift
    "$@"
else
    swift test --scratch-path "$SCRATCH" --filter "$FILTER"
fi
