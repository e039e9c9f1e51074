#!/usr/bin/env bash
# Runs one benchmark scenario against Parley and then against the Node.js baseline, on this
# machine, in one run, and prints both with their ratio. See docs/BENCHMARKS.md.
#
#   bench/run.sh SCENARIO [--smoke]
#
# SCENARIO: idle | dm | group | big-room | presence | history | quiet | media | calls | all;
#           or `chart`, which draws docs/benchmarks.png from the results. `quiet` (one
#           sender, one other member, one message at a time) always uses the official client;
#           `media` (200 photo uploads and a 100 MiB file next to a quiet chat, media-svc's
#           memory sampled) too, on Parley only; `calls` (call signaling at 5 and 20 call
#           setups/s, each step timed, with calls-svc) too, on Parley only.
# --smoke   a few users for a few seconds, on the debug build: checks that the scenario
#           works (CI runs this); its figures mean nothing.
#
# Settings (environment): BENCH_DATABASE (parley_bench: dropped and made anew per server),
# BENCH_RESULTS (bench/results/results.jsonl; appended), BENCH_SERVERS ("parley baseline"),
# BENCH_GENERATOR (lean: bench/loadgen; official: bench/official-client, real
# socket.io-client sockets; for dm and group), BENCH_BIN (Parley's binaries from elsewhere,
# e.g. an older build to compare with; nothing is built then).
# PostgreSQL as for the tests (scripts/lib/postgres.sh): PARLEY_TEST_ADMIN_DATABASE_URL or
# DATABASE_URL when set, else the machine's at 127.0.0.1:5432, else the private cluster of
# scripts/.run/postgres for the run. PARLEY_BUS=nats carries Parley's events over NATS
# JetStream: at PARLEY_NATS_URL when set, else on a cluster of three nodes of the run's own
# (scripts/lib/nats.sh), with streams of three replicas; each Parley start gets streams of its
# own. Needs Node.js 20 and npm, cargo; as root it installs the missing Debian packages,
# otherwise it prints the apt-get line.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=../scripts/lib/postgres.sh
. scripts/lib/postgres.sh
scenario=${1:?usage: bench/run.sh SCENARIO [--smoke]}
if [[ $scenario == chart ]]; then
  python3 -c "import matplotlib" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check matplotlib
  exec python3 bench/report.py "${BENCH_RESULTS:-bench/results/results.jsonl}" --chart docs/benchmarks.png
fi
smoke=0
[[ "${2:-}" == "--smoke" ]] && smoke=1

database=${BENCH_DATABASE:-parley_bench}
results=${BENCH_RESULTS:-$root/bench/results/results.jsonl}
[[ $smoke == 1 ]] && results=${BENCH_RESULTS:-$root/bench/results/logs/smoke.jsonl}
servers=${BENCH_SERVERS:-parley baseline}
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# The media scenario is Parley's alone, and uploads a real photo: a 1600x1200 fractal JPEG of
# about 1 MiB made by ImageMagick.
[[ $scenario == media ]] && ! command -v convert >/dev/null && missing+=(imagemagick)
mapfile -t -O "${#missing[@]}" missing < \
  <(parley_pg_packages "${PARLEY_TEST_ADMIN_DATABASE_URL:-${DATABASE_URL:-}}")
parley_install "${missing[@]+"${missing[@]}"}"
if [[ $scenario == media || $scenario == calls ]]; then
  servers=parley
fi
trap parley_pg_release EXIT
parley_test_postgres "$root"
admin_url=$PARLEY_TEST_ADMIN_DATABASE_URL
DATABASE_URL=$(parley_pg_with_db "$admin_url" "$database")
export DATABASE_URL
export PARLEY_JWT_SECRET=parley-bench-secret-of-at-least-32-bytes
# Ports of their own, so a running `deploy/local.sh up` (with replicas too) is left alone, all
# below Linux's ephemeral range (32768-60999), where a client connection's local port can hold
# one (seen right after the tests' thousands of connections to Postgres).
edge_addr=127.0.0.1:3400
baseline_addr=127.0.0.1:3401
logs=$root/bench/results/logs
mkdir -p "$logs" "$(dirname "$results")"
photo=$logs/bench-photo.jpg
if [[ $scenario == media && ! -s $photo ]]; then
  convert -size 1600x1200 plasma:fractal -quality 95 "$photo"
fi

say() { printf '%s\n' "$*" >&2; }

generator=${BENCH_GENERATOR:-lean}
[[ $scenario == quiet || $scenario == media || $scenario == calls ]] && generator=official
[[ $generator == official && $smoke == 0 ]] && results=${BENCH_RESULTS:-$root/bench/results/official.jsonl}
if [[ -n ${BENCH_BIN:-} ]]; then
  bin=$BENCH_BIN
elif [[ $smoke == 1 ]]; then
  cargo build --locked --bins
  bin=$root/target/debug
else
  cargo build --release --locked --bins
  bin=$root/target/release
fi
if [[ $generator == official ]] && { [[ ! -d bench/official-client/node_modules ]] ||
   [[ bench/official-client/package-lock.json -nt bench/official-client/node_modules/.package-lock.json ]]; }; then
  npm ci --prefix bench/official-client --no-audit --no-fund --loglevel=error
fi
if [[ " $servers " == *" baseline "* ]] && { [[ ! -d bench/baseline-node/node_modules ]] ||
   [[ bench/baseline-node/package-lock.json -nt bench/baseline-node/node_modules/.package-lock.json ]]; }; then
  npm ci --prefix bench/baseline-node --no-audit --no-fund --loglevel=error
fi
bench_nats=0
if [[ ${PARLEY_BUS:-postgres} == nats && -z ${PARLEY_NATS_URL:-} ]]; then
  # shellcheck source=../scripts/lib/nats.sh
  . scripts/lib/nats.sh
  parley_nats_python "$root/scripts/.run/venv" || exit 2
  bench_nats=1
fi
# Thousands of sockets: as many descriptors as this shell may have.
ulimit -n "$(ulimit -Hn)"

pids=()
stop_servers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_servers; parley_pg_release; ((bench_nats == 0)) || parley_nats_stop' EXIT
if ((bench_nats)); then
  parley_nats_start "$parley_nats_python" 3 || exit 2
  export PARLEY_NATS_URL=$parley_nats_urls PARLEY_NATS_REPLICAS=3
  say "Parley's events go over NATS at $PARLEY_NATS_URL"
fi

fresh_database() {
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database" 2>/dev/null
  # Making a database dirties many buffers; flushed by a timed checkpoint in the middle of a
  # run, they stall every commit for hundreds of ms (seen as p99s of 300 ms at 1 000 msg/s
  # for both servers). Flushed now, the next timed checkpoint comes after the run.
  psql "$admin_url" -qc "CHECKPOINT"
}

wait_for() {
  local url=$1
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.5
  done
  say "not ready: $url (logs in $logs)"
  exit 1
}

start_parley() {
  # The per-user send limit (60/min by default) is raised: the scenarios let each user send
  # up to several messages a second so that a few thousand users make the load.
  export PARLEY_MESSAGE_RATE_PER_MINUTE=1000000
  # ... and so are the edge's per-user limits of the classes the scenarios load (120 events a
  # minute each by default): a benchmark user is far busier than a person.
  export PARLEY_LIMIT_MESSAGES=0 PARLEY_LIMIT_TYPING=0 PARLEY_LIMIT_READS=0 PARLEY_LIMIT_HISTORY=0
  # ... and the uploads of the media scenario (30 a minute per user by default, twice over).
  export PARLEY_LIMIT_UPLOADS=0 PARLEY_MEDIA_UPLOADS_PER_MINUTE=0
  # The big room adds 999 members at once (100 per call): no per-minute limit on additions.
  export PARLEY_MEMBERS_ADDED_PER_MINUTE=0
  # Every simulated user connects from 127.0.0.1: no per-IP handshake limit.
  export PARLEY_HANDSHAKES_PER_IP_PER_MINUTE=0
  export RUST_LOG=warn
  # A fresh database gets fresh streams: a stream's last message names the outbox row a relay
  # resumes after, which must be of this database.
  export PARLEY_NATS_PREFIX=bench_$$_$RANDOM
  export PARLEY_FRIENDS_ADDR=127.0.0.1:3411 PARLEY_PRESENCE_ADDR=127.0.0.1:3412
  export PARLEY_CHAT_ADDR=127.0.0.1:3413 PARLEY_EDGE_ADDR=$edge_addr
  export PARLEY_FRIENDS_URL=http://$PARLEY_FRIENDS_ADDR PARLEY_PRESENCE_URL=http://$PARLEY_PRESENCE_ADDR
  export PARLEY_CHAT_URL=http://$PARLEY_CHAT_ADDR
  export PARLEY_FRIENDS_METRICS_ADDR=127.0.0.1:9161 PARLEY_PRESENCE_METRICS_ADDR=127.0.0.1:9162
  export PARLEY_CHAT_METRICS_ADDR=127.0.0.1:9163
  export PARLEY_MEDIA_ADDR=127.0.0.1:3414 PARLEY_MEDIA_HTTP_ADDR=127.0.0.1:3415
  export PARLEY_MEDIA_URL=http://$PARLEY_MEDIA_ADDR PARLEY_MEDIA_PUBLIC_URL=http://$PARLEY_MEDIA_HTTP_ADDR
  export PARLEY_MEDIA_METRICS_ADDR=127.0.0.1:9164 PARLEY_MEDIA_DIR=$logs/media
  PARLEY_MEDIA_URL_KEYS=bench:$(head -c 32 /dev/urandom | base64 | tr -d '\n')
  export PARLEY_MEDIA_URL_KEYS
  local names=(friends-svc presence-svc chat-svc media-svc)
  if [[ $scenario == calls ]]; then
    # Only the calls scenario starts calls-svc and gives the edge its address.
    export PARLEY_CALLS_ADDR=127.0.0.1:3416 PARLEY_CALLS_METRICS_ADDR=127.0.0.1:9165
    export PARLEY_CALLS_URL=http://$PARLEY_CALLS_ADDR
    # A benchmark caller places a call every few seconds, far more than a person: the edge's
    # per-user call limits (6 invites, 60 other call events, 180 call-ice a minute) and
    # calls-svc's unanswered calls per pair are off, as the message limits above.
    export PARLEY_LIMIT_CALL_INVITES=0 PARLEY_LIMIT_CALL_SIGNALING=0 PARLEY_LIMIT_CALL_ICE=0
    export PARLEY_CALL_UNANSWERED_PER_PAIR=0
    names+=(calls-svc)
  else
    # The other scenarios place no calls: without calls-svc the edge's /readyz does not ask
    # for it.
    export PARLEY_CALLS_URL=
  fi
  for name in "${names[@]}" edge; do
    "$bin/$name" >"$logs/$name.log" 2>&1 &
    pids+=($!)
  done
  server_pid=${pids[-1]}
  # Every process of Parley's, for the memory the idle scenario sums.
  all_pids=$(IFS=,; echo "${pids[*]}")
  media_pid=${pids[3]}
  wait_for "http://$edge_addr/readyz"
  server_addr=$edge_addr
}

start_baseline() {
  PORT=${baseline_addr#*:} HOST=${baseline_addr%:*} JWT_SECRET=$PARLEY_JWT_SECRET \
    node bench/baseline-node/server.mjs >"$logs/baseline.log" 2>&1 &
  pids+=($!)
  server_pid=$!
  all_pids=$server_pid
  for _ in $(seq 1 60); do
    grep -q "listening" "$logs/baseline.log" 2>/dev/null && break
    sleep 0.5
  done
  server_addr=$baseline_addr
}

# Friendships for the calls scenario: user 2i calls user 2i+1.
seed_call_pairs() {
  local pairs=$1
  psql "$DATABASE_URL" -q <<SQL
INSERT INTO friends.users (id, username, username_key, requested_username)
SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'u' || i, 'u' || i, 'u' || i
FROM generate_series(0, 2 * $pairs - 1) i;
INSERT INTO friends.friendships (user_low, user_high)
SELECT ('00000000-0000-4000-8000-' || lpad((2 * i)::text, 12, '0'))::uuid,
       ('00000000-0000-4000-8000-' || lpad((2 * i + 1)::text, 12, '0'))::uuid
FROM generate_series(0, $pairs - 1) i;
SQL
}

# Friendships for the presence storm: user i and users i+1..i+10 (mod n), so everyone has 20.
seed_friends() {
  local server=$1 users=$2
  if [[ $server == parley ]]; then
    psql "$DATABASE_URL" -q <<SQL
INSERT INTO friends.users (id, username, username_key, requested_username)
SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'u' || i, 'u' || i, 'u' || i
FROM generate_series(0, $users - 1) i;
INSERT INTO friends.friendships (user_low, user_high)
SELECT least(a, b), greatest(a, b) FROM (
  SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid AS a,
         ('00000000-0000-4000-8000-' || lpad(((i + d) % $users)::text, 12, '0'))::uuid AS b
  FROM generate_series(0, $users - 1) i, generate_series(1, 10) d) p
ON CONFLICT DO NOTHING;
SQL
  else
    psql "$DATABASE_URL" -q <<SQL
INSERT INTO baseline.users (id, username)
SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'u' || i
FROM generate_series(0, $users - 1) i;
INSERT INTO baseline.friendships (user_id, friend_id)
SELECT w.user_id, w.friend_id FROM (
  SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid AS a,
         ('00000000-0000-4000-8000-' || lpad(((i + d) % $users)::text, 12, '0'))::uuid AS b
  FROM generate_series(0, $users - 1) i, generate_series(1, 10) d) p
CROSS JOIN LATERAL (VALUES (a, b), (b, a)) AS w(user_id, friend_id)
ON CONFLICT DO NOTHING;
SQL
  fi
}

# Rows the server's presence handling wrote so far (Postgres' own counters).
writes_command() {
  local schema=$1
  echo "psql '$DATABASE_URL' -tAc \"SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)
    FROM pg_stat_user_tables WHERE schemaname = '$schema' AND relname <> '_sqlx_migrations'\""
}

# The generator's arguments for a scenario, into the array `args` (smoke runs shrink
# everything).
scenario_args() {
  local server=$1
  if [[ $smoke == 1 ]]; then
    case $scenario in
      idle) args=(idle --users 50 --pids "$all_pids" --settle 1) ;;
      dm) args=(dm --pairs 20 --rates 20 --warmup 1 --measure 2) ;;
      group) args=(group --rooms 4 --members 5 --rates 20 --warmup 1 --measure 2) ;;
      big-room) args=(group --rooms 1 --members 50 --rates 5 --warmup 1 --measure 2) ;;
      presence) args=(presence --users 100 --waves 1 --wave-size 20 --gap 2) ;;
      history) args=(history --rooms 4 --members 4 --preload 5 --background-rate 10 --rates 20 --warmup 1 --measure 2) ;;
    esac
    return
  fi
  case $scenario in
    idle) args=(idle --users "$idle_users" --pids "$all_pids") ;;
    dm) args=(dm --pairs 2500 --rates 1000,2000,3000,4000,5000,6000,7000,8000,9000,10000,12000) ;;
    group) args=(group --rooms 100 --members 10 --rates 250,500,1000,1500,2000,2500,3000,3500,4000,5000,6000) ;;
    # 60 s windows: at a few messages a second, a 20 s window held too few sends for a p99.
    big-room) args=(group --rooms 1 --members 1000 --rates "${BENCH_RATES:-5,10,20,40,80,120}" --measure 60) ;;
    presence)
      local schema=baseline
      [[ $server == parley ]] && schema=presence
      args=(presence --users 5000 --waves 4 --wave-size 1000 --gap 10 --writes-command "$(writes_command "$schema")") ;;
    history) args=(history --rooms 100 --members 10 --preload 60 --background-rate 500 --rates 500,1000,2000,3000,4000,5000,6000,8000,10000) ;;
  esac
}

# The official client's arguments for a scenario, into the array `args`.
official_args() {
  if [[ $smoke == 1 ]]; then
    case $scenario in
      dm) args=(--scenario dm --pairs 20 --rates 20 --warmup 1 --measure 2) ;;
      group) args=(--scenario group --rooms 4 --members 5 --rates 20 --warmup 1 --measure 2) ;;
      quiet) args=(--scenario quiet --spacing 0,5 --count 20) ;;
      media) args=(--photos 4 --big-mib 2 --concurrency 2 --quiet 1) ;;
      calls) args=(--pairs 4 --rates 5 --warmup 1 --measure 2) ;;
    esac
    return
  fi
  case $scenario in
    dm) args=(--scenario dm --pairs 2500 --rates "${BENCH_RATES:-1000,2000,3000,4000,5000,6000}") ;;
    group) args=(--scenario group --rooms 100 --members 10 --rates "${BENCH_RATES:-1000,2000,3000,4000}") ;;
    quiet) args=(--scenario quiet --spacing 0,5,100 --count 300) ;;
    media) args=(--photos 200 --big-mib "${BENCH_MEDIA_BIG_MIB:-100}" --concurrency 4 --quiet 10) ;;
    calls) args=(--pairs "$call_pairs" --rates "${BENCH_RATES:-5,20}" --ice "${BENCH_CALL_ICE:-3}" --warmup 5 --measure 30) ;;
    *) say "the official client drives dm, group, quiet, media and calls only"; exit 2 ;;
  esac
}

run_one() {
  local server=$1
  fresh_database
  if [[ $server == parley ]]; then start_parley; else start_baseline; fi
  [[ $scenario == presence ]] && seed_friends "$server" "$([[ $smoke == 1 ]] && echo 100 || echo 5000)"
  # Enough pairs that each one has a call at most every 5 s at 20 setups/s.
  call_pairs=$([[ $smoke == 1 ]] && echo 4 || echo "${BENCH_CALL_PAIRS:-100}")
  [[ $scenario == calls ]] && seed_call_pairs "$call_pairs"
  say "== $scenario on $server ($server_addr), $generator generator"
  if [[ $scenario == calls ]]; then
    official_args
    node bench/official-client/calls.mjs --server "http://$server_addr" --secret "$PARLEY_JWT_SECRET" \
      --xid-command "psql '$admin_url' -tAc 'SELECT pg_snapshot_xmax(pg_current_snapshot())'" \
      --out "$results" "${args[@]}"
  elif [[ $scenario == media ]]; then
    official_args
    node bench/official-client/media.mjs --server "http://$server_addr" --secret "$PARLEY_JWT_SECRET" \
      --media-pid "$media_pid" --photo "$photo" --out "$results" "${args[@]}"
  elif [[ $generator == official ]]; then
    official_args
    node bench/official-client/load.mjs --server "http://$server_addr" --secret "$PARLEY_JWT_SECRET" \
      --label "$server" --out "$results" "${args[@]}"
  else
    scenario_args "$server"
    "$bin/parley-bench" --server "$server_addr" --secret "$PARLEY_JWT_SECRET" --label "$server" \
      --out "$results" "${args[@]}"
  fi
  stop_servers
}

run_scenario() {
  scenario=$1
  if [[ $scenario == idle && $smoke == 0 ]]; then
    # 20k users would need 20k descriptors in one process, the hard limit here (see
    # docs/BENCHMARKS.md): the larger step stops just below it.
    for idle_users in 10000 19500; do
      for server in $servers; do run_one "$server"; done
    done
  else
    for server in $servers; do run_one "$server"; done
  fi
  # The official client's records have their own shape and file; its lines are the report.
  [[ $generator == lean ]] && python3 bench/report.py "$results" "$scenario"
  return 0
}

case $scenario in
  all) for s in idle dm group big-room presence history; do run_scenario "$s"; done ;;
  idle|dm|group|big-room|presence|history|quiet|media|calls) run_scenario "$scenario" ;;
  *) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
