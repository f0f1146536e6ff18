#!/usr/bin/env bash
# A highly available cityhub cluster on this machine's loopback, for tests, benchmarks and trying
# it out: a PostgreSQL primary and a synchronous standby made from it (streaming replication: a
# write is acknowledged once it is on both), three `cityhub serve` processes on a multi-host URI
# that follows a promotion, and HAProxy spreading requests over the hubs that are ready.
#
#   scripts/cluster.sh start DIR          # everything under DIR (made afresh); DIR/cluster.env says where
#   scripts/cluster.sh status DIR         # what runs, which server is the primary, replication state
#   scripts/cluster.sh kill-primary DIR   # kill -9 the primary's postmaster (a machine lost)
#   scripts/cluster.sh promote DIR        # make the standby the primary (pg_ctl promote)
#   scripts/cluster.sh stop DIR           # stop everything (DIR and its logs stay)
#
# This script is the orchestrator here: it promotes only when told to. A real deployment runs one
# that watches the primary and promotes on its own (Patroni, pg_auto_failover; docs/OPERATIONS.md).
# The standby, once promoted, runs without a synchronous standby of its own (its settings come
# from the command line, not the copied configuration), so writes go on; a new standby is made
# from it with a fresh base backup or pg_rewind of the old primary.
#
# Environment: CITYHUB_BIN (default build/release/cityhub), CLUSTER_HUB_ARGS (more `cityhub
# serve` options, e.g. --outbound-allow 127.0.0.0/8), PG_BINDIR (default PostgreSQL 15's),
# CLUSTER_HUBS (how many hubs, default 3), CLUSTER_STANDBY=0 (no standby: the primary alone,
# for benchmarks that compare the hubs and not replication; no failover then).
# As root, PostgreSQL runs as the `postgres` user (initdb refuses root); DIR is given to it, so
# its parents must let that user through (/tmp/x does; a folder only root may enter does not).
set -euo pipefail
cmd=${1:?start, status, kill-primary, promote or stop}
dir=${2:?directory}
repo=$(cd "$(dirname "$0")/.." && pwd)
BIN=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
CITYHUB=${CITYHUB_BIN:-$repo/build/release/cityhub}
HUBS=${CLUSTER_HUBS:-3}
STANDBY=${CLUSTER_STANDBY:-1}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
sql() { as_owner "$BIN/psql" -h 127.0.0.1 -p "$1" -U cityhub -d postgres -tAc "$2"; }
standby_is_synchronous() {
  [ "$(sql "$1" "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")" = sync ]
}
pid_alive() { [ -f "$1" ] && kill -0 "$(head -1 "$1")" 2>/dev/null; }

start_server() {  # name port extra-options…
  local name=$1 port=$2
  shift 2
  as_owner "$BIN/pg_ctl" -D "$dir/$name" -l "$dir/$name.log" -w -t 60 \
    -o "-p $port -k $dir $*" start >/dev/null
}

start() {
  [ -x "$BIN/initdb" ] || { echo "cluster: no PostgreSQL server binaries (install postgresql-15, or set PG_BINDIR)" >&2; exit 1; }
  command -v haproxy >/dev/null || { echo "cluster: no haproxy (apt-get install haproxy)" >&2; exit 1; }
  [ -x "$CITYHUB" ] || { echo "cluster: no cityhub binary at $CITYHUB (build it, or set CITYHUB_BIN)" >&2; exit 1; }
  rm -rf "$dir"
  mkdir -p "$dir/wal-archive"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
  local primary_port standby_port lb_port
  primary_port=$(free_port)
  standby_port=$(free_port)
  lb_port=$(free_port)

  as_owner "$BIN/initdb" -D "$dir/primary" -A trust -U cityhub -E UTF8 --no-instructions >"$dir/initdb.log"
  # Settings both servers share (the standby's copy comes with the base backup). fsync stays on.
  cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
max_connections = 200
wal_level = replica
max_wal_senders = 10
hot_standby = on
synchronous_commit = on
archive_mode = on
archive_command = 'test ! -f $dir/wal-archive/%f && cp %p $dir/wal-archive/%f'
EOF
  local uri
  if ((STANDBY)); then
    # The primary's own: a commit waits for the standby named "standby" (its cluster_name).
    start_server primary "$primary_port" -c synchronous_standby_names=standby
    as_owner "$BIN/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U cityhub -D "$dir/standby" -R -X stream -c fast
    start_server standby "$standby_port" -c cluster_name=standby
    if ! wait_for 30 standby_is_synchronous "$primary_port"; then
      echo "cluster: the standby did not become synchronous (see $dir/standby.log)" >&2
      exit 1
    fi
    uri="postgresql://cityhub@127.0.0.1:$primary_port,127.0.0.1:$standby_port/city?target_session_attrs=read-write"
  else
    start_server primary "$primary_port"
    uri="postgresql://cityhub@127.0.0.1:$primary_port/city"
  fi
  sql "$primary_port" "CREATE DATABASE city" >/dev/null

  local hub_ports=()
  for i in $(seq 1 $HUBS); do
    local port
    port=$(free_port)
    hub_ports+=("$port")
    mkdir -p "$dir/hub$i"
    # shellcheck disable=SC2086  # CLUSTER_HUB_ARGS is a list of options
    nohup "$CITYHUB" serve --listen "127.0.0.1:$port" --data-dir "$dir/hub$i" --store "$uri" \
      ${CLUSTER_HUB_ARGS:-} >"$dir/hub$i.log" 2>&1 &
    echo $! >"$dir/hub$i.pid"
  done
  for i in $(seq 1 $HUBS); do
    if ! wait_for 30 curl -sf "http://127.0.0.1:${hub_ports[$((i - 1))]}/health/ready"; then
      echo "cluster: hub$i did not become ready (see $dir/hub$i.log)" >&2
      exit 1
    fi
  done

  {
    cat <<EOF
global
  maxconn 4096
  pidfile $dir/haproxy.pid
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 2
  option redispatch
frontend hubs
  bind 127.0.0.1:$lb_port
  default_backend hubs
backend hubs
  balance roundrobin
  option httpchk GET /health/ready
  http-check expect status 200
  default-server inter 500ms fall 1 rise 1
EOF
    for i in $(seq 1 $HUBS); do echo "  server hub$i 127.0.0.1:${hub_ports[$((i - 1))]} check"; done
  } >"$dir/haproxy.cfg"
  haproxy -D -f "$dir/haproxy.cfg" -p "$dir/haproxy.pid" 2>"$dir/haproxy.log"
  wait_for 10 curl -sf "http://127.0.0.1:$lb_port/health/ready" || { echo "cluster: HAProxy does not answer" >&2; exit 1; }

  cat >"$dir/cluster.env" <<EOF
HUBS=$HUBS
PRIMARY_PORT=$primary_port
STANDBY_PORT=$standby_port
STORE_URI=$uri
HUB_PORTS=$(IFS=,; echo "${hub_ports[*]}")
LB_PORT=$lb_port
LB_URL=http://127.0.0.1:$lb_port
EOF
  echo "cityhub cluster: http://127.0.0.1:$lb_port (HAProxy over hubs on ${hub_ports[*]});" \
    "PostgreSQL primary on $primary_port$( ((STANDBY)) && echo ", synchronous standby on $standby_port"); state in $dir"
}

load_env() {
  [ -f "$dir/cluster.env" ] || { echo "cluster: no cluster in $dir" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$dir/cluster.env"
}

status() {
  load_env
  for name in primary standby; do
    local port=$PRIMARY_PORT
    [ $name = standby ] && port=$STANDBY_PORT
    if pid_alive "$dir/$name/postmaster.pid"; then
      local role
      role=$(sql "$port" "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END" 2>/dev/null || echo "not answering")
      echo "$name (127.0.0.1:$port): running, $role"
      [ "$role" = primary ] && sql "$port" "SELECT '  replicates to ' || application_name || ' (' || sync_state || ', ' || state || ')' FROM pg_stat_replication" 2>/dev/null || true
    else
      echo "$name (127.0.0.1:$port): down"
    fi
  done
  local i=1
  for port in ${HUB_PORTS//,/ }; do
    local state="down"
    if pid_alive "$dir/hub$i.pid"; then
      state="running, $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready" | sed 's/200/ready/;s/503/not ready/')"
    fi
    echo "hub$i (127.0.0.1:$port): $state"
    i=$((i + 1))
  done
  if pid_alive "$dir/haproxy.pid"; then echo "haproxy ($LB_URL): running"; else echo "haproxy ($LB_URL): down"; fi
}

kill_primary() {
  load_env
  pid_alive "$dir/primary/postmaster.pid" || { echo "cluster: the primary is not running" >&2; exit 1; }
  kill -9 "$(head -1 "$dir/primary/postmaster.pid")"
}

promote() {
  load_env
  as_owner "$BIN/pg_ctl" -D "$dir/standby" -w -t 60 promote >/dev/null
}

stop() {
  [ -d "$dir" ] || return 0
  # shellcheck disable=SC1091
  [ -f "$dir/cluster.env" ] && source "$dir/cluster.env"  # HUBS as started
  if pid_alive "$dir/haproxy.pid"; then kill "$(head -1 "$dir/haproxy.pid")"; fi
  for i in $(seq 1 $HUBS); do
    if pid_alive "$dir/hub$i.pid"; then
      kill "$(cat "$dir/hub$i.pid")"
      wait_for 15 bash -c "! kill -0 $(cat "$dir/hub$i.pid")" || kill -9 "$(cat "$dir/hub$i.pid")" 2>/dev/null || true
    fi
  done
  for name in primary standby; do
    if [ -f "$dir/$name/postmaster.pid" ]; then
      as_owner "$BIN/pg_ctl" -D "$dir/$name" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  done
}

case $cmd in
  start) start ;;
  status) status ;;
  kill-primary) kill_primary ;;
  promote) promote ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|status|kill-primary|promote|stop DIR" >&2
    exit 2
    ;;
esac
