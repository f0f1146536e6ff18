#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests: its own data directory, a free loopback port, the
# socket in that directory, trust authentication for the local user "cityhub" (nothing but this
# machine's loopback can reach it).
#   scripts/pg-test-cluster.sh start DIR   # initdb + start; writes DIR/conninfo (a libpq URI)
#   scripts/pg-test-cluster.sh stop DIR    # stop (immediate) and remove DIR
# initdb refuses to run as root, so as root the server runs as the `postgres` user (the Debian
# package creates it). The binaries are PostgreSQL 15's (Debian's postgresql-15), or those in
# $PG_BINDIR.
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?directory}
BIN=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$BIN/initdb" ] || { echo "pg-test-cluster: no PostgreSQL server binaries (install postgresql-15, or set PG_BINDIR)" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
  start)
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    as_owner "$BIN/initdb" -D "$dir/data" -A trust -U cityhub -E UTF8 --no-sync --no-instructions >"$dir/initdb.log"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # fsync stays on: the store's durability is part of what is tested.
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
    echo "postgresql://cityhub@127.0.0.1:$port/postgres" >"$dir/conninfo"
    echo "PostgreSQL for the tests on 127.0.0.1:$port (data in $dir/data)"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
