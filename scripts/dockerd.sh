#!/usr/bin/env bash
# Starts (or stops) Slipway's own Docker engine for tests and CI.
#
#   scripts/dockerd.sh up     start it if it does not answer yet; prints `export DOCKER_HOST=...`
#   scripts/dockerd.sh down   stop it (only the dockerd this script started)
#   scripts/dockerd.sh env    print `export DOCKER_HOST=...` without starting anything
#
# Use: eval "$(scripts/dockerd.sh up)"
#
# The engine has its own socket, data root, exec root and bridge, so it never
# touches a system engine running on the same machine. Diagnostics go to
# stderr; stdout carries only the export line. Needs root.
#
# Environment overrides:
#   SLIPWAY_DOCKER_SOCK            socket path      (/run/slipway-docker.sock; internal/testenv uses the same default)
#   SLIPWAY_DOCKER_ROOT            data root        (/var/lib/slipway-docker)
#   SLIPWAY_DOCKER_EXEC_ROOT       exec root        (/run/slipway-docker; keep it short: containerd's socket lives there)
#   SLIPWAY_DOCKER_STORAGE_DRIVER  storage driver   (unset: dockerd picks overlay2 when the backing fs allows it; vfs as a fallback)
#   SLIPWAY_DOCKER_BRIDGE, SLIPWAY_DOCKER_BRIDGE_CIDR, SLIPWAY_DOCKER_ADDRESS_POOL
#                                  default bridge (slipway0, 10.213.0.1/24) and the pool of per-job
#                                  networks (base=10.214.0.0/16,size=24): change all three for a second engine
set -euo pipefail

sock=${SLIPWAY_DOCKER_SOCK:-/run/slipway-docker.sock}
data_root=${SLIPWAY_DOCKER_ROOT:-/var/lib/slipway-docker}
exec_root=${SLIPWAY_DOCKER_EXEC_ROOT:-/run/slipway-docker}
pidfile=$exec_root/dockerd.pid
logfile=$data_root/dockerd.log
bridge=${SLIPWAY_DOCKER_BRIDGE:-slipway0}
bridge_cidr=${SLIPWAY_DOCKER_BRIDGE_CIDR:-10.213.0.1/24}
address_pool=${SLIPWAY_DOCKER_ADDRESS_POOL:-base=10.214.0.0/16,size=24} # per-job networks

log() { echo "dockerd.sh: $*" >&2; }

answers() {
  if command -v curl >/dev/null; then
    curl -fsS --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1
  else
    timeout 5 docker --host "unix://$sock" version >/dev/null 2>&1
  fi
}

print_env() { echo "export DOCKER_HOST=unix://$sock"; }

install_engine() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v ip >/dev/null || missing+=(iproute2) # for our bridge
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Our own bridge instead of docker0, so a system engine's docker0 is left alone.
# Without permission to create one, containers get no default network (user
# networks still work if the kernel lets dockerd create them).
bridge_args() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    if ! { ip link add "$bridge" type bridge && ip addr add "$bridge_cidr" dev "$bridge"; } >/dev/null 2>&1; then
      log "cannot create bridge $bridge; default network disabled"
      echo "--bridge=none"
      return
    fi
  fi
  ip link set "$bridge" up >/dev/null 2>&1 || true
  echo "--bridge=$bridge"
}

start() {
  local driver=$1
  local args=(
    --host "unix://$sock"
    --data-root "$data_root"
    --exec-root "$exec_root"
    --pidfile "$pidfile"
    # No NAT or firewall rules: tests only talk between containers and to
    # loopback (published ports go through docker-proxy), and iptables may be
    # missing or forbidden in a sandbox.
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
    "$(bridge_args)"
    --default-address-pool "$address_pool"
    # No systemd in sandboxes and CI containers: cgroupfs works on v1 and v2.
    --exec-opt native.cgroupdriver=cgroupfs
    --log-level warn
  )
  [ -n "$driver" ] && args+=(--storage-driver "$driver")
  mkdir -p "$data_root" "$exec_root"
  log "starting dockerd on $sock${driver:+ (storage driver $driver)}; log in $logfile"
  # fd 9 (the lock) is closed so the daemon does not hold it forever.
  setsid nohup dockerd "${args[@]}" >>"$logfile" 2>&1 </dev/null 9>&- &
  local pid=$!
  for _ in $(seq 1 120); do
    answers && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  log "dockerd did not answer on $sock; last lines of $logfile:"
  tail -n 20 "$logfile" >&2
  return 1
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = dockerd ] && echo "$pid"
}

up() {
  install_engine
  mkdir -p "$(dirname "$sock")" "$exec_root"
  # Several engineers, scripts or test binaries may call `up` at once.
  exec 9>"$sock.lock"
  flock 9
  if answers; then
    print_env
    return
  fi
  if pid=$(running_pid); then
    # Started but not answering (yet, or stuck): give it a moment, then restart.
    for _ in $(seq 1 20); do answers && { print_env; return; }; sleep 0.5; done
    log "dockerd $pid does not answer; restarting it"
    stop_pid "$pid"
  fi
  # A stale pidfile naming a live process that is not ours stops dockerd.
  rm -f "$sock" "$pidfile"
  local driver=${SLIPWAY_DOCKER_STORAGE_DRIVER:-}
  if ! start "$driver"; then
    [ -n "$driver" ] && exit 1
    log "retrying with the vfs storage driver"
    start vfs || exit 1
  fi
  print_env
}

stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  log "dockerd $pid did not stop in 30s; killing it"
  kill -9 "$pid" 2>/dev/null || true
}

down() {
  if pid=$(running_pid); then
    log "stopping dockerd $pid"
    stop_pid "$pid"
  fi
  rm -f "$sock"
  ip link del "$bridge" 2>/dev/null || true
}

case "${1:-}" in
up) up ;;
down) down ;;
env) print_env ;;
*)
  echo "usage: $0 up|down|env" >&2
  exit 2
  ;;
esac
