#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for tests and prints its URL on stdout.
# Usage: eval "$(scripts/pg-temp.sh start)"  → exports RENKEI_TEST_POSTGRES_URL, RENKEI_PG_DIR
#        scripts/pg-temp.sh stop "$RENKEI_PG_DIR"
set -euo pipefail
cmd=${1:-start}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bindir" ]; then
  echo "pg-temp: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
fi
# PostgreSQL refuses to run as root; use the postgres system user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    dir=$(mktemp -d /tmp/renkei-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$bindir/initdb" -D "$dir/data" -U renkei --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    echo "export RENKEI_TEST_POSTGRES_URL=postgres://renkei@127.0.0.1:$port/postgres RENKEI_PG_DIR=$dir"
    ;;
  stop)
    dir=${2:?directory}
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
