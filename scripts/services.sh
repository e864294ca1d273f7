#!/usr/bin/env bash
# Starts (or stops) the services of the team deployment for the tests: a throw-away PostgreSQL
# cluster and a Redis server, both listening on loopback only, both with a random password.
#
#   scripts/services.sh start   # prints `export ANTIDOTE_TEST_PG_URL=… ANTIDOTE_TEST_REDIS_URL=…`
#   scripts/services.sh stop
#   eval "$(scripts/services.sh start)" && npm run test:services
#
# Needs Debian's `postgresql` and `redis-server` (.ci/run installs them). State lives under
# $ANTIDOTE_SERVICES_DIR (default /tmp/antidote-services-$UID); `stop` removes it. Ports:
# $ANTIDOTE_TEST_PG_PORT (55432) and $ANTIDOTE_TEST_REDIS_PORT (56379). Nothing listens beyond
# 127.0.0.1, and no data outlives `stop`.
set -euo pipefail

DIR="${ANTIDOTE_SERVICES_DIR:-/tmp/antidote-services-$(id -u)}"
PG_PORT="${ANTIDOTE_TEST_PG_PORT:-55432}"
REDIS_PORT="${ANTIDOTE_TEST_REDIS_PORT:-56379}"

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$d" ] || { echo "services: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  echo "$d"
}

# PostgreSQL refuses to run as root: run its tools as the `postgres` user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  command -v redis-server >/dev/null || { echo "services: redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
  local bin
  bin="$(pg_bin)"
  if [ -f "$DIR/env" ]; then cat "$DIR/env"; return; fi
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  local pg_pass redis_pass
  pg_pass="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  redis_pass="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"

  mkdir -p "$DIR/pg"
  printf '%s\n' "$pg_pass" > "$DIR/pg/pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$DIR/pg"; chmod 755 "$DIR"; fi
  as_pg "$bin/initdb" -D "$DIR/pg/data" -U antidote --pwfile="$DIR/pg/pwfile" \
    --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$DIR/pg/pwfile"
  as_pg "$bin/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $DIR/pg -c fsync=off -c max_connections=200" >/dev/null

  mkdir -p "$DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$redis_pass" \
    --dir "$DIR/redis" --save '' --appendonly no --maxmemory-policy noeviction \
    --daemonize yes --pidfile "$DIR/redis/pid" --logfile "$DIR/redis/log" >/dev/null
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" --no-auth-warning -a "$redis_pass" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done

  {
    echo "export ANTIDOTE_TEST_PG_URL=postgres://antidote:$pg_pass@127.0.0.1:$PG_PORT/postgres"
    echo "export ANTIDOTE_TEST_REDIS_URL=redis://default:$redis_pass@127.0.0.1:$REDIS_PORT"
  } > "$DIR/env"
  chmod 600 "$DIR/env"
  cat "$DIR/env"
}

stop() {
  [ -d "$DIR" ] || return 0
  if [ -f "$DIR/redis/pid" ]; then kill "$(cat "$DIR/redis/pid")" 2>/dev/null || true; fi
  if [ -d "$DIR/pg/data" ]; then as_pg "$(pg_bin)/pg_ctl" -D "$DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/services.sh start|stop" >&2; exit 2 ;;
esac
