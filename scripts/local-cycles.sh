#!/usr/bin/env bash
# Starts and stops deploy/local.sh again and again while every core is kept busy, and checks
# each cycle: `up -d` succeeds, the edge's /readyz answers 200, and `down` leaves neither a
# process it started nor a listening port behind. Exit 0 only when every cycle passes.
# scripts/test.sh runs it after the cargo tests. With PARLEY_BUS=nats, local.sh also starts
# its NATS cluster in every cycle, whose nodes `down` must stop too, removing their folder.
#
# Every second cycle starts the binaries through shims that wait a second before they exec
# the real one: what a loaded machine can make of an exec (busy loops alone rarely do). A
# runner that judges its processes by the program they run reads such a process as stopped.
#
# It uses ports, a run folder and a database of its own (created on the tests' PostgreSQL,
# see scripts/lib/postgres.sh, and dropped at the end), so a running `deploy/local.sh up` is
# left alone.
#
# Settings (environment): BIN_DIR (the six binaries; default target/debug, not built here),
# CYCLES (5), BUSY (busy loops, default: one per core), CYCLES_PORT (3700: the edge on it,
# friends-svc, presence-svc, chat-svc, media-svc on the next four, media-svc's data plane on
# +5, calls-svc on +6, the local coturn (when `turnserver` is installed, as local.sh starts
# it) on +7, the metrics on +11 to +15; all below Linux's ephemeral range, where a client
# connection's local port can hold one).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/postgres.sh
. scripts/lib/postgres.sh
# shellcheck source=lib/cargo.sh
. scripts/lib/cargo.sh
target_dir=$(parley_target_dir "$root")
bin_dir=${BIN_DIR:-$target_dir/debug}
cycles=${CYCLES:-5}
busy_loops=${BUSY:-$(nproc)}
base=${CYCLES_PORT:-3700}

say() { printf '%s\n' "$*" >&2; }

for name in friends-svc presence-svc chat-svc media-svc calls-svc edge; do
  [[ -x $bin_dir/$name ]] || { say "no $bin_dir/$name: build first (cargo build --bins)"; exit 1; }
done

export PARLEY_EDGE_ADDR=127.0.0.1:$base
export PARLEY_FRIENDS_ADDR=127.0.0.1:$((base + 1))
export PARLEY_PRESENCE_ADDR=127.0.0.1:$((base + 2))
export PARLEY_CHAT_ADDR=127.0.0.1:$((base + 3))
export PARLEY_FRIENDS_METRICS_ADDR=127.0.0.1:$((base + 11))
export PARLEY_PRESENCE_METRICS_ADDR=127.0.0.1:$((base + 12))
export PARLEY_MEDIA_ADDR=127.0.0.1:$((base + 4))
export PARLEY_MEDIA_HTTP_ADDR=127.0.0.1:$((base + 5))
export PARLEY_CHAT_METRICS_ADDR=127.0.0.1:$((base + 13))
export PARLEY_MEDIA_METRICS_ADDR=127.0.0.1:$((base + 14))
export PARLEY_CALLS_ADDR=127.0.0.1:$((base + 6))
export PARLEY_CALLS_METRICS_ADDR=127.0.0.1:$((base + 15))
export PARLEY_LOCAL_TURN_ADDR=127.0.0.1:$((base + 7))
export PARLEY_JWT_SECRET=parley-cycles-secret-of-at-least-32-bytes
ports=()
for var in PARLEY_EDGE_ADDR PARLEY_FRIENDS_ADDR PARLEY_PRESENCE_ADDR PARLEY_CHAT_ADDR \
  PARLEY_MEDIA_ADDR PARLEY_MEDIA_HTTP_ADDR PARLEY_FRIENDS_METRICS_ADDR \
  PARLEY_PRESENCE_METRICS_ADDR PARLEY_CHAT_METRICS_ADDR PARLEY_MEDIA_METRICS_ADDR \
  PARLEY_CALLS_ADDR PARLEY_CALLS_METRICS_ADDR PARLEY_LOCAL_TURN_ADDR; do
  ports+=("${!var##*:}")
done
for port in "${ports[@]}"; do
  if parley_port_open "$port"; then
    say "port $port is taken: set CYCLES_PORT to other ports"
    exit 1
  fi
done

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-cycles.XXXXXX")
export PARLEY_RUN_DIR=$run_dir
mkdir -p "$run_dir/slow-bin"
for name in friends-svc presence-svc chat-svc media-svc calls-svc edge; do
  printf '#!/bin/sh\nsleep 1\nexec "%s" "$@"\n' "$bin_dir/$name" >"$run_dir/slow-bin/$name"
  chmod +x "$run_dir/slow-bin/$name"
done
busy=()
database=
cleanup() {
  local pid
  for pid in "${busy[@]+"${busy[@]}"}"; do kill "$pid" 2>/dev/null || true; done
  # Gone before parley_pg_release looks whether any other run shares the cluster.
  wait "${busy[@]+"${busy[@]}"}" 2>/dev/null || true
  deploy/local.sh down >/dev/null 2>&1 || true
  if [[ -n $database ]]; then
    psql -w -X -q -d "$PARLEY_TEST_ADMIN_DATABASE_URL" \
      -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$run_dir"
  parley_pg_release
}
trap cleanup EXIT

parley_test_postgres "$root"
database=parley_cycles_$$
psql -w -X -q -d "$PARLEY_TEST_ADMIN_DATABASE_URL" -c "CREATE DATABASE $database" >/dev/null
DATABASE_URL=$(parley_pg_with_db "$PARLEY_TEST_ADMIN_DATABASE_URL" "$database")
export DATABASE_URL

for ((i = 0; i < busy_loops; i++)); do
  (while :; do :; done) &
  busy+=($!)
done
say "$cycles cycles of deploy/local.sh up -d / down, with $busy_loops busy loops (binaries: $bin_dir)"

fail() {
  local name
  say "cycle $cycle FAILED: $*"
  say "--- the output of deploy/local.sh:"
  cat "$run_dir/out" >&2 || true
  for name in friends-svc presence-svc chat-svc media-svc calls-svc edge coturn; do
    say "--- the end of $name.log:"
    tail -n 10 "$run_dir/logs/$name.log" >&2 2>/dev/null || true
  done
  exit 1
}

started_at=$SECONDS
for ((cycle = 1; cycle <= cycles; cycle++)); do
  t0=$SECONDS
  export BIN_DIR=$bin_dir how=""
  if ((cycle % 2 == 0)); then BIN_DIR=$run_dir/slow-bin how=" (slow exec)"; fi
  deploy/local.sh up -d >"$run_dir/out" 2>&1 || fail "up -d$how exited with $?"
  t_up=$((SECONDS - t0))
  compgen -G "$run_dir/pids/*" >/dev/null || fail "up -d recorded no pid in $run_dir/pids"
  pids=$({ awk '{ print $1 }' "$run_dir"/pids/*; cat "$run_dir"/nats/n*.pid 2>/dev/null || true; } | tr '\n' ' ')
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://$PARLEY_EDGE_ADDR/readyz" 2>&1) || true
  [[ $code == 200 ]] || fail "/readyz answered '$code', not 200"
  t0=$SECONDS
  deploy/local.sh down >"$run_dir/out" 2>&1 || fail "down exited with $?"
  t_down=$((SECONDS - t0))
  for pid in $pids; do
    if kill -0 "$pid" 2>/dev/null; then fail "process $pid still runs after down"; fi
  done
  for port in "${ports[@]}"; do
    if parley_port_open "$port"; then fail "port $port still listens after down"; fi
  done
  if compgen -G "$run_dir/pids/*" >/dev/null; then fail "pid files left: $(ls "$run_dir/pids")"; fi
  if [[ -e $run_dir/nats ]]; then fail "NATS's folder left: $(ls "$run_dir/nats")"; fi
  say "cycle $cycle: up -d$how ${t_up}s, /readyz 200, down ${t_down}s, nothing left (pids $pids)"
done
say "all $cycles cycles passed in $((SECONDS - started_at))s"
