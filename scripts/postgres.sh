#!/usr/bin/env bash
# Starts (or stops) a private PostgreSQL for Slipway's tests and CI.
#
#   scripts/postgres.sh up     start it if it does not answer yet; prints `export SLIPWAY_TEST_POSTGRES=...`
#   scripts/postgres.sh down   stop it (only the server this script started)
#   scripts/postgres.sh env    print the export line without starting anything
#
# Use: eval "$(scripts/postgres.sh up)"
#
# The server is Debian's PostgreSQL 15 (installed by scripts/setup.sh), with
# its own data folder, listening on 127.0.0.1 only, on a free port chosen once
# and remembered in the data folder. It is a throwaway test instance: trust
# authentication on loopback and fsync off. initdb refuses root, so the server
# runs as the `postgres` user. Diagnostics go to stderr; stdout carries only
# the export line. Tests create one database per test from the `slipway`
# database named in the URL (see internal/store/storetest).
#
# Environment overrides:
#   SLIPWAY_POSTGRES_DIR   data and socket folder (/var/tmp/slipway-postgres)
#   SLIPWAY_POSTGRES_BIN   PostgreSQL binaries    (/usr/lib/postgresql/15/bin)
#   SLIPWAY_POSTGRES_PORT  first port tried       (55432)
set -euo pipefail

dir=${SLIPWAY_POSTGRES_DIR:-/var/tmp/slipway-postgres}
bin=${SLIPWAY_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}
first_port=${SLIPWAY_POSTGRES_PORT:-55432}
data=$dir/data
run=$dir/run # unix socket folder (kept out of /run/postgresql, which a system server owns)
logfile=$dir/postgres.log
portfile=$dir/port
user=postgres
database=slipway

log() { echo "postgres.sh: $*" >&2; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

port() { cat "$portfile"; }

url() { echo "postgres://$user@127.0.0.1:$(port)/$database?sslmode=disable"; }

print_env() { echo "export SLIPWAY_TEST_POSTGRES='$(url)'"; }

answers() {
  [ -f "$portfile" ] && as_pg "$bin/pg_isready" -q -h 127.0.0.1 -p "$(port)" -t 2 >/dev/null 2>&1
}

install_server() {
  [ -x "$bin/initdb" ] && return
  log "installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends postgresql >&2
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
  [ -f "$portfile" ] && return
  local p=$first_port
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p" >"$portfile"
}

init() {
  [ -f "$data/PG_VERSION" ] && return
  log "initdb in $data"
  mkdir -p "$data"
  chown "$user" "$data"
  chmod 700 "$data"
  as_pg "$bin/initdb" -D "$data" -U "$user" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2
}

start() {
  mkdir -p "$run"
  chown "$user" "$dir" "$run"
  touch "$logfile" && chown "$user" "$logfile"
  log "starting PostgreSQL on 127.0.0.1:$(port); log in $logfile"
  # Test instance: durability traded for speed (every test creates a database).
  # fd 9 (the lock) is closed so the server does not hold it forever.
  as_pg "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start 9>&- \
    -o "-c listen_addresses=127.0.0.1 -p $(port) -k $run -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2 || {
    log "PostgreSQL did not start; last lines of $logfile:"
    tail -n 20 "$logfile" >&2
    return 1
  }
}

create_database() {
  local exists
  exists=$(as_pg "$bin/psql" -h 127.0.0.1 -p "$(port)" -U "$user" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$database'")
  [ "$exists" = 1 ] || as_pg "$bin/psql" -h 127.0.0.1 -p "$(port)" -U "$user" -d postgres -qc "CREATE DATABASE $database" >&2
}

up() {
  install_server
  mkdir -p "$dir"
  # Several engineers, scripts or test binaries may call `up` at once.
  exec 9>"$dir.lock"
  flock 9
  if ! answers; then
    if [ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      # Running but not answering (yet): give it a moment, then restart it.
      for _ in $(seq 1 20); do answers && break; sleep 0.5; done
      answers || { log "PostgreSQL does not answer; restarting it"; as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true; }
    fi
    if ! answers; then
      pick_port
      port_free "$(port)" || { rm -f "$portfile"; pick_port; }
      init
      start
    fi
  fi
  create_database
  print_env
}

down() {
  if [ -f "$data/postmaster.pid" ]; then
    log "stopping PostgreSQL in $data"
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
}

case "${1:-}" in
up) up ;;
down) down ;;
env) [ -f "$portfile" ] && print_env ;;
*)
  echo "usage: $0 up|down|env" >&2
  exit 2
  ;;
esac
