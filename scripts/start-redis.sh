#!/usr/bin/env bash
# Start a throw-away Redis server for the campaign queue tests and benchmark (BullMQ) and print its URL.
# Uses Debian's `redis-server` package (apt-get install redis-server); the server keeps its files in
# $REDISDIR (default /tmp/medshield-redis), listens on 127.0.0.1:$REDISPORT (default 63799) only, with
# no persistence (a test queue needs none) and `maxmemory-policy noeviction` (BullMQ requires that Redis
# never evicts its keys). Idempotent: a running server is reused.
#   eval "$(scripts/start-redis.sh)"   # exports MEDSHIELD_REDIS_URL
#   scripts/start-redis.sh stop
set -euo pipefail
REDISDIR="${REDISDIR:-/tmp/medshield-redis}"
REDISPORT="${REDISPORT:-63799}"
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "start-redis: redis-server/redis-cli not found (apt-get install redis-server)" >&2
  exit 3
fi
ping() { redis-cli -h 127.0.0.1 -p "$REDISPORT" ping 2>/dev/null | grep -q PONG; }
if [ "${1:-}" = stop ]; then
  if ping; then redis-cli -h 127.0.0.1 -p "$REDISPORT" shutdown nosave >/dev/null 2>&1 || true; fi
  exit 0
fi
mkdir -p "$REDISDIR"
if ! ping; then
  redis-server --bind 127.0.0.1 --port "$REDISPORT" --dir "$REDISDIR" --daemonize yes \
    --pidfile "$REDISDIR/redis.pid" --logfile "$REDISDIR/redis.log" \
    --save '' --appendonly no --maxmemory-policy noeviction --protected-mode yes >/dev/null
  for _ in $(seq 1 100); do ping && break; sleep 0.1; done
  if ! ping; then
    echo "start-redis: redis-server did not answer on 127.0.0.1:$REDISPORT (see $REDISDIR/redis.log)" >&2
    exit 1
  fi
fi
echo "export MEDSHIELD_REDIS_URL=redis://127.0.0.1:$REDISPORT"
