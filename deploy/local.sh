#!/usr/bin/env bash
# Runs the whole Parley system on one machine: friends-svc, presence-svc, chat-svc and the edge.
#
#   deploy/local.sh up       build (release), start everything, wait until healthy, stay in the
#                            foreground; Ctrl-C stops it all
#   deploy/local.sh up -d    the same, but return once healthy and leave it running
#   deploy/local.sh down     stop exactly the processes that `up` started
#   deploy/local.sh status   show what runs
#   deploy/local.sh token U  print a development token for user U
#
# Settings (environment): DATABASE_URL (default postgres://postgres@127.0.0.1:5432/parley),
# PARLEY_EDGE_ADDR (127.0.0.1:3000), PARLEY_FRIENDS_ADDR (127.0.0.1:50051),
# PARLEY_PRESENCE_ADDR (127.0.0.1:50052), PARLEY_CHAT_ADDR (127.0.0.1:50053),
# PARLEY_JWT_SECRET (a development secret when unset), RUST_LOG (info).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir="$root/deploy/.run"
log_dir="$run_dir/logs"
pid_dir="$run_dir/pids"
bin_dir="$root/target/release"

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/parley}
export PARLEY_EDGE_ADDR=${PARLEY_EDGE_ADDR:-127.0.0.1:3000}
export PARLEY_FRIENDS_ADDR=${PARLEY_FRIENDS_ADDR:-127.0.0.1:50051}
export PARLEY_PRESENCE_ADDR=${PARLEY_PRESENCE_ADDR:-127.0.0.1:50052}
export PARLEY_CHAT_ADDR=${PARLEY_CHAT_ADDR:-127.0.0.1:50053}
export PARLEY_FRIENDS_URL=${PARLEY_FRIENDS_URL:-http://$PARLEY_FRIENDS_ADDR}
export PARLEY_PRESENCE_URL=${PARLEY_PRESENCE_URL:-http://$PARLEY_PRESENCE_ADDR}
export PARLEY_CHAT_URL=${PARLEY_CHAT_URL:-http://$PARLEY_CHAT_ADDR}
export RUST_LOG=${RUST_LOG:-info}
dev_secret=parley-dev-secret-change-me
if [[ -z "${PARLEY_JWT_SECRET:-}" ]]; then
  using_dev_secret=1
  export PARLEY_JWT_SECRET=$dev_secret
fi

# Start order matters only for readability of the logs: every process retries its peers.
components=(friends-svc presence-svc chat-svc edge)

say() { printf '%s\n' "$*" >&2; }

# The pid recorded for a component, if that process still runs our binary.
live_pid() {
  local name=$1 pid
  [[ -f "$pid_dir/$name" ]] || return 1
  pid=$(cat "$pid_dir/$name")
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$bin_dir/$name" || return 1
  echo "$pid"
}

ensure_database() {
  # Create the default database when psql can; a given DATABASE_URL must already exist.
  [[ "$DATABASE_URL" == */parley ]] || return 0
  command -v psql >/dev/null || return 0
  local admin=${DATABASE_URL%/parley}/postgres
  if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'parley'" 2>/dev/null | grep -q 1; then
    psql "$admin" -qc "CREATE DATABASE parley" >/dev/null && say "created database parley"
  fi
}

wait_healthy() {
  local url="http://$PARLEY_EDGE_ADDR/readyz"
  for _ in $(seq 1 120); do
    for name in "${components[@]}"; do
      if ! live_pid "$name" >/dev/null; then
        say "$name stopped; the end of its log ($log_dir/$name.log):"
        tail -n 20 "$log_dir/$name.log" >&2 || true
        stop_all
        exit 1
      fi
    done
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  say "not healthy after 60 s: see the logs in $log_dir"
  curl -sS "$url" >&2 || true
  stop_all
  exit 1
}

stop_all() {
  local pid stopped=0
  # Reverse order: the edge first, so clients are not answered UNAVAILABLE meanwhile.
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    name=${components[i]}
    if pid=$(live_pid "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      say "stopped $name ($pid)"
      stopped=1
    fi
    rm -f "$pid_dir/$name"
  done
  [[ $stopped == 1 ]] || say "nothing was running"
}

up() {
  local detach=0
  [[ "${1:-}" == "-d" ]] && detach=1
  for name in "${components[@]}"; do
    if pid=$(live_pid "$name"); then
      say "$name already runs ($pid): run 'deploy/local.sh down' first"
      exit 1
    fi
  done
  say "building (release)..."
  (cd "$root" && cargo build --release --locked --bins)
  mkdir -p "$log_dir" "$pid_dir"
  ensure_database
  for name in "${components[@]}"; do
    # setsid: the processes outlive this shell with `up -d` and ignore its Ctrl-C.
    setsid "$bin_dir/$name" >"$log_dir/$name.log" 2>&1 </dev/null &
    echo $! >"$pid_dir/$name"
  done
  wait_healthy

  say ""
  say "Parley is up: http://$PARLEY_EDGE_ADDR (Socket.IO namespaces /chat, /status, /friends)"
  say "  logs:   $log_dir"
  say "  token:  deploy/local.sh token alice"
  if [[ -n "${using_dev_secret:-}" ]]; then
    say "  tokens are signed with the development secret '$dev_secret' (PARLEY_JWT_SECRET was not set)"
  fi
  if [[ $detach == 1 ]]; then
    say "  stop:   deploy/local.sh down"
    return 0
  fi
  say "  Ctrl-C stops everything."
  trap 'say ""; stop_all; exit 0' INT TERM
  while true; do
    for name in "${components[@]}"; do
      if ! live_pid "$name" >/dev/null; then
        say "$name stopped unexpectedly; see $log_dir/$name.log"
        stop_all
        exit 1
      fi
    done
    sleep 1
  done
}

status() {
  for name in "${components[@]}"; do
    if pid=$(live_pid "$name"); then say "$name: running ($pid)"; else say "$name: stopped"; fi
  done
}

token() {
  local user=${1:?usage: deploy/local.sh token USERNAME}
  if [[ -x "$bin_dir/edge" ]]; then
    "$bin_dir/edge" token --user "$user"
  else
    (cd "$root" && cargo run --quiet --release --bin edge -- token --user "$user")
  fi
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) stop_all ;;
  status) status ;;
  token) shift; token "$@" ;;
  *) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
