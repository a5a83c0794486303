#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the gateway's PostgreSQL audit-store tests and print its URL.
# Uses Debian's `postgresql` package (apt-get install postgresql); the cluster lives in $PGDIR
# (default /tmp/medshield-pg), listens on 127.0.0.1:$PGPORT (default 54329) with trust auth for local
# connections only, and has a database `medshield`. Idempotent: a running server is reused.
#   eval "$(scripts/start-postgres.sh)"   # exports MEDSHIELD_PG_URL
#   scripts/start-postgres.sh stop
set -euo pipefail
PGDIR="${PGDIR:-/tmp/medshield-pg}"
PGPORT="${PGPORT:-54329}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "start-postgres: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 3
fi
# initdb refuses to run as root: run the server as the unprivileged `postgres` user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-}" = stop ]; then
  [ -d "$PGDIR/data" ] && as_pg "$bin/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi
mkdir -p "$PGDIR"
[ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
  as_pg "$bin/initdb" -D "$PGDIR/data" -U postgres -A trust --no-sync >/dev/null
fi
if ! as_pg "$bin/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
  as_pg "$bin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR -c fsync=on -c synchronous_commit=on" start >/dev/null
fi
as_pg "$bin/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='medshield'" | grep -q 1 \
  || as_pg "$bin/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres medshield
echo "export MEDSHIELD_PG_URL=postgres://postgres@127.0.0.1:$PGPORT/medshield"
