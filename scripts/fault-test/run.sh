#!/usr/bin/env bash
# Fault test: chat and calls while processes die. Starts 2 edges and FAULT_REPLICAS replicas
# of friends-svc, presence-svc, chat-svc and calls-svc on a fresh database, connects 24 chat
# users (client.mjs) and pairs of callers in ACTIVE calls (calls-client.mjs; both the official
# socket.io-client with its auto-reconnect), and, under load:
#   1. kill -9 an edge, restart it after 2 s (its clients reconnect to the same URL);
#   2. kill -9 a chat-svc replica, restart it after 2 s;
#   3. kill -9 a calls-svc replica, restart it after 2 s;
#   4. restart Postgres (pg_ctlcluster ... restart; needs root).
# Then it checks that every acknowledged message reached every member of its room, was stored
# once, and that each room's seqs run 1..N without a gap; that every call is still ACTIVE,
# every resume went through, and each call left one CALL message. Exit 0 only when all pass.
#
#   scripts/fault-test/run.sh            one run
#   scripts/fault-test/run.sh --runs 3   three in a row, stopping at the first failure
#
# Settings (environment): BIN_DIR (the binaries; default target/release, not built here),
# FAULT_REPLICAS (2; 1 = one replica of each service behind both edges), FAULT_USERS (24),
# FAULT_RATE (3 messages/s per user), FAULT_PORT_OFFSET (1000: edges on 4000/4010, services on
# 51051-51055/51061-51065, metrics on 10101-10105/10111-10115), FAULT_ADMIN_DATABASE_URL
# (postgres://postgres@127.0.0.1:5432/postgres), FAULT_DATABASE (parley_fault, dropped and
# created again by every run), FAULT_PG_RESTART (the command that restarts Postgres),
# FAULT_FAULTS (which faults, in order; default "edge chat calls postgres"), FAULT_CALL_PAIRS
# (3 kept calls), FAULT_KEEP_GOING=1 (with --runs: do not stop at the first failure). See
# README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin_dir=${BIN_DIR:-$root/target/release}
runs=1
while (($#)); do
  case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --runs=*) runs=${1#--runs=}; shift ;;
    -h | --help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "--runs needs a number of 1 or more" >&2; exit 2; }

replicas=${FAULT_REPLICAS:-2}
edges=2
offset=${FAULT_PORT_OFFSET:-1000}
admin_url=${FAULT_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database=${FAULT_DATABASE:-parley_fault}
pg_restart=${FAULT_PG_RESTART:-"pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql 2>/dev/null | head -n 1) main restart"}
faults=${FAULT_FAULTS:-edge chat calls postgres}
# Steady load before the first fault, between faults and after the last one (seconds).
warmup=8 between=12 tail=10 down_for=2

log_root=$(mktemp -d "${TMPDIR:-/tmp}/parley-fault.XXXXXX")
say() { printf '[run.sh %s] %s\n' "$(date +%T)" "$*"; }

for name in edge friends-svc presence-svc chat-svc media-svc calls-svc; do
  [[ -x "$bin_dir/$name" ]] || { echo "no $bin_dir/$name: build first (cargo build --release) or set BIN_DIR" >&2; exit 2; }
done
# One fault test at a time on a machine: they share the database, the ports and Postgres.
# A pid file, not flock: a lock descriptor would be inherited by the restarted Postgres.
lock=/tmp/parley-fault-test.pid
take_lock() { (set -o noclobber; echo $$ >"$lock") 2>/dev/null; }
if ! take_lock; then
  other=$(cat "$lock" 2>/dev/null || true)
  if [[ -n "$other" ]] && kill -0 "$other" 2>/dev/null; then
    echo "another fault test is running (pid $other, $lock); try again later" >&2
    exit 2
  fi
  rm -f "$lock" # left by a run that is gone
  take_lock || { echo "cannot take $lock" >&2; exit 2; }
fi
release_lock() { [[ "$(cat "$lock" 2>/dev/null)" == "$$" ]] && rm -f "$lock"; return 0; }
trap release_lock EXIT
command -v psql >/dev/null || { echo "psql is needed to create the test database" >&2; exit 2; }
command -v node >/dev/null || { echo "node (18+) is needed for the clients" >&2; exit 2; }
if [[ ! -d "$here/node_modules/socket.io-client" ]] ||
   [[ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi

# Ports of instance k: the default port + offset + 10*k.
declare -A base_port=([edge]=3000 [friends-svc]=50051 [presence-svc]=50052 [chat-svc]=50053
  [media-svc]=50054 [calls-svc]=50055)
declare -A base_metrics=([friends-svc]=9101 [presence-svc]=9102 [chat-svc]=9103 [media-svc]=9104
  [calls-svc]=9105)
declare -A addr_var=([edge]=PARLEY_EDGE_ADDR [friends-svc]=PARLEY_FRIENDS_ADDR
  [presence-svc]=PARLEY_PRESENCE_ADDR [chat-svc]=PARLEY_CHAT_ADDR [media-svc]=PARLEY_MEDIA_ADDR
  [calls-svc]=PARLEY_CALLS_ADDR)
declare -A metrics_var=([friends-svc]=PARLEY_FRIENDS_METRICS_ADDR
  [presence-svc]=PARLEY_PRESENCE_METRICS_ADDR [chat-svc]=PARLEY_CHAT_METRICS_ADDR
  [media-svc]=PARLEY_MEDIA_METRICS_ADDR [calls-svc]=PARLEY_CALLS_METRICS_ADDR)
addr() { echo "127.0.0.1:$((base_port[$1] + offset + 10 * $2))"; }
urls() {
  local list=() k
  for ((k = 0; k < replicas; k++)); do list+=("http://$(addr "$1" "$k")"); done
  (IFS=,; echo "${list[*]}")
}

export DATABASE_URL=${admin_url%/*}/$database
export PARLEY_JWT_SECRET=parley-fault-test-secret-of-32-bytes-or-more
export PARLEY_FRIENDS_URL PARLEY_PRESENCE_URL PARLEY_CHAT_URL
PARLEY_FRIENDS_URL=$(urls friends-svc)
PARLEY_PRESENCE_URL=$(urls presence-svc)
PARLEY_CHAT_URL=$(urls chat-svc)
# media-svc takes no load here; it runs because every edge's /readyz asks for it. Its
# replicas share one folder.
export PARLEY_MEDIA_URL PARLEY_MEDIA_DIR=$log_root/media
PARLEY_MEDIA_URL=$(urls media-svc)
PARLEY_MEDIA_URL_KEYS=fault:$(head -c 32 /dev/urandom | base64 | tr -d '\n')
export PARLEY_MEDIA_URL_KEYS
# calls-svc: every edge gets all replicas. No TURN: the call clients send no media. The calls
# lease and the resume grace are shorter than their defaults (30 s each) so that a device
# wrongly counted gone loses its call within the run; the call clients wait that long after
# the last disconnect before their final check.
export PARLEY_CALLS_URL
PARLEY_CALLS_URL=$(urls calls-svc)
calls_lease_s=${FAULT_CALLS_LEASE_TTL_S:-12} resume_grace_s=${FAULT_CALL_RESUME_GRACE_S:-15}
export PARLEY_CALLS_LEASE_TTL=${calls_lease_s}s PARLEY_CALL_RESUME_GRACE=${resume_grace_s}s
# Every user sends several messages a second: the default 60 a minute would refuse most.
export PARLEY_MESSAGE_RATE_PER_MINUTE=0 PARLEY_LIMIT_MESSAGES=0
# 4 services x 2 replicas share Postgres' connections with whatever else runs on it.
export PARLEY_DB_MAX_CONNECTIONS=${PARLEY_DB_MAX_CONNECTIONS:-8}
export RUST_LOG=${RUST_LOG:-info}

# Instances are COMPONENT.k; their pids, and where this run's logs go.
declare -A pids=()
instances=()
for name in friends-svc presence-svc chat-svc media-svc calls-svc; do
  for ((k = 0; k < replicas; k++)); do instances+=("$name.$k"); done
done
for ((k = 0; k < edges; k++)); do instances+=("edge.$k"); done
log_dir=
client_pid=
calls_pid=

start() {
  local instance=$1 component=${1%.*} k=${1##*.} settings
  settings=("${addr_var[$component]}=$(addr "$component" "$k")")
  if [[ -n "${metrics_var[$component]:-}" ]]; then
    settings+=("${metrics_var[$component]}=127.0.0.1:$((base_metrics[$component] + offset + 10 * k))")
  fi
  if [[ $component == media-svc ]]; then
    settings+=("PARLEY_MEDIA_HTTP_ADDR=127.0.0.1:$((3100 + offset + 10 * k))")
  fi
  env "${settings[@]}" setsid "$bin_dir/$component" >>"$log_dir/$instance.log" 2>&1 </dev/null &
  pids[$instance]=$!
  disown "$!" # no "Killed" notice from bash when the test kills it
}

alive() { [[ -n "${pids[$1]:-}" ]] && kill -0 "${pids[$1]}" 2>/dev/null; }

stop_everything() {
  local instance pid
  if [[ -n "$client_pid" ]] && kill -0 "$client_pid" 2>/dev/null; then kill -TERM "$client_pid" 2>/dev/null || true; fi
  if [[ -n "$calls_pid" ]] && kill -0 "$calls_pid" 2>/dev/null; then kill -TERM "$calls_pid" 2>/dev/null || true; fi
  client_pid= calls_pid=
  for instance in "${!pids[@]}"; do
    pid=${pids[$instance]}
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  done
  for instance in "${!pids[@]}"; do
    pid=${pids[$instance]}
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_everything; release_lock' EXIT
trap 'exit 130' INT TERM

edge_ready() { curl -fsS -o /dev/null "http://$(addr edge "$1")/readyz" 2>/dev/null; }

wait_ready() {
  local k all instance
  for _ in $(seq 1 120); do
    for instance in "${instances[@]}"; do
      alive "$instance" || { say "$instance exited while starting; see $log_dir/$instance.log"; tail -n 5 "$log_dir/$instance.log"; return 1; }
    done
    all=1
    for ((k = 0; k < edges; k++)); do edge_ready "$k" || all=0; done
    ((all)) && return 0
    sleep 0.5
  done
  say "not ready after 60 s"
  return 1
}

# kill -9, then a restart after down_for seconds, as a supervisor would.
crash_and_restart() {
  local instance=$1
  say "FAULT kill -9 $instance (pid ${pids[$instance]})"
  kill -KILL "${pids[$instance]}"
  sleep "$down_for"
  start "$instance"
  say "restarted $instance (pid ${pids[$instance]})"
}

# The client must still run while the faults happen; a sleep that notices when it ends.
steady() {
  local until=$((SECONDS + $1))
  while ((SECONDS < until)); do
    kill -0 "$client_pid" 2>/dev/null || { say "the clients stopped early"; return 1; }
    kill -0 "$calls_pid" 2>/dev/null || { say "the call clients stopped early"; return 1; }
    sleep 0.5
  done
}

# Fails when something already listens on a port this test is about to use.
ports_free() {
  local instance component k port busy=()
  for instance in "${instances[@]}"; do
    component=${instance%.*} k=${instance##*.}
    for port in "$((base_port[$component] + offset + 10 * k))" \
      ${base_metrics[$component]:+"$((base_metrics[$component] + offset + 10 * k))"}; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy+=("$port"); fi
    done
  done
  ((${#busy[@]} == 0)) && return 0
  say "ports in use: ${busy[*]} (another stack on them? set FAULT_PORT_OFFSET)"
  return 1
}

one_run() {
  local run=$1 status=0 instance crashed=()
  log_dir="$log_root/run$run"
  mkdir -p "$log_dir"
  ports_free || return 2
  say "run $run: database $database, $edges edges, $replicas replica(s) of each service, logs in $log_dir"
  psql "$admin_url" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
    -c "CREATE DATABASE $database" >/dev/null || { say "cannot create database $database"; return 2; }
  # friends-svc first: the others ask it for users; all replicas of one service together.
  for instance in "${instances[@]}"; do start "$instance"; done
  wait_ready || return 2
  say "up: edges $(addr edge 0) $(addr edge 1); chat $PARLEY_CHAT_URL"

  rm -f "$log_dir/ready"
  FAULT_EDGE_URLS="http://$(addr edge 0),http://$(addr edge 1)" READY_FILE="$log_dir/ready" \
    RESULT_FILE="$log_dir/result.json" node "$here/client.mjs" > >(tee "$log_dir/client.log") 2>&1 &
  client_pid=$!
  for _ in $(seq 1 120); do
    [[ -f "$log_dir/ready" ]] && break
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.5
  done
  [[ -f "$log_dir/ready" ]] || { say "the clients did not get ready"; return 2; }

  # The call clients: kept calls through every fault, a ring call just before each one.
  rm -f "$log_dir/calls-ready"
  FAULT_EDGE_URLS="http://$(addr edge 0),http://$(addr edge 1)" READY_FILE="$log_dir/calls-ready" \
    FAULT_FILE="$log_dir/fault" RESULT_FILE="$log_dir/calls-result.json" \
    FAULT_CALLS_LEASE_MS=$((calls_lease_s * 1000)) FAULT_CALL_RESUME_GRACE_MS=$((resume_grace_s * 1000)) \
    node "$here/calls-client.mjs" > >(tee "$log_dir/calls-client.log") 2>&1 &
  calls_pid=$!
  for _ in $(seq 1 120); do
    [[ -f "$log_dir/calls-ready" ]] && break
    kill -0 "$calls_pid" 2>/dev/null || break
    sleep 0.5
  done
  [[ -f "$log_dir/calls-ready" ]] || { say "the call clients did not get ready"; return 2; }

  steady "$warmup" || return 2
  local fault first=1
  for fault in $faults; do
    ((first)) || steady "$between" || return 2
    first=0
    # A fresh call rings just before the fault: it must ring through or end with a reason.
    echo "$fault" >"$log_dir/fault"
    kill -USR1 "$calls_pid"
    sleep 0.5
    case "$fault" in
      edge) crash_and_restart edge.0 ;;
      chat) crash_and_restart chat-svc.0 ;;
      calls) crash_and_restart calls-svc.0 ;;
      postgres)
        say "FAULT restart Postgres: $pg_restart"
        if ! $pg_restart </dev/null; then say "could not restart Postgres"; return 2; fi
        say "Postgres is back" ;;
      *) say "unknown fault '$fault' (FAULT_FAULTS: edge, chat, calls, postgres)"; return 2 ;;
    esac
  done
  steady "$tail" || return 2

  say "stopping the load; the clients verify"
  kill -USR2 "$client_pid"
  kill -USR2 "$calls_pid"
  wait "$client_pid" || status=$?
  client_pid=
  local calls_status=0
  wait "$calls_pid" || calls_status=$?
  calls_pid=
  ((calls_status == 0)) || status=$calls_status

  # A process that died by itself (not one we killed) is a crash.
  for instance in "${instances[@]}"; do
    alive "$instance" || crashed+=("$instance")
  done
  if ((${#crashed[@]})); then
    say "CRASHED: ${crashed[*]} (see their logs)"
    status=1
  fi
  if grep -l "panicked" "$log_dir"/*.log >/dev/null 2>&1; then
    say "panics in: $(grep -l "panicked" "$log_dir"/*.log | xargs -n1 basename | tr '\n' ' ')"
    status=1
  fi
  stop_everything
  return "$status"
}

failed=0
summaries=()
for ((run = 1; run <= runs; run++)); do
  status=0
  one_run "$run" || status=$?
  stop_everything
  line=$(sed -n 's/^RESULT [A-Z]*: //p' "$log_root/run$run/client.log" 2>/dev/null || true)
  calls_line=$(sed -n 's/^\(CALLS [A-Z]*\): /\1 /p' "$log_root/run$run/calls-client.log" 2>/dev/null || true)
  line="$line${calls_line:+ | $calls_line}"
  if ((status == 0)); then
    summaries+=("run $run: PASS  $line")
  else
    summaries+=("run $run: FAIL  ${line:-(no verification: status $status)}")
    failed=1
    [[ "${FAULT_KEEP_GOING:-}" == 1 ]] || break
  fi
done

echo
for summary in "${summaries[@]}"; do echo "$summary"; done
echo "logs: $log_root"
exit "$failed"
