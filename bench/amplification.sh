#!/usr/bin/env bash
# What each edge takes in for what its own clients get: runs the whole system with
# `REPLICAS=3 deploy/local.sh up -d` (3 edges, 3 replicas of each service) on the bus that
# PARLEY_BUS names, puts DM load on 1, 2 and then 3 of the edges (one parley-bench per edge,
# the total rate split between them), and prints, per loaded edge, the chat events and bytes
# it followed (parley_edge_followed_events_total / _bytes_total, from its /metrics) divided by
# the DMs its clients received. An edge that receives only what its clients need stays near 1
# event per delivery however many edges there are; one that receives the whole system's
# events grows with the number of edges. Also the CPU the whole system (Parley, NATS, Postgres)
# spent per 1 000 deliveries over the same seconds. See docs/BENCHMARKS.md.
#
#   bench/amplification.sh            PARLEY_BUS=postgres (the default) or nats
#
# Each step runs on a database made anew, AMP_DATABASE (parley_amplification) on the server of
# AMP_ADMIN_DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres).
# Settings (environment): AMP_RATE (total DMs per second, 300), AMP_PAIRS (total pairs, 300),
# AMP_SECONDS (seconds the edges' intake is sampled, 8, inside the generators' 14 s window), AMP_EDGES ("1 2 3"). Needs the release binaries
# (deploy/local.sh builds them) and what deploy/local.sh needs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rate=${AMP_RATE:-300} pairs=${AMP_PAIRS:-300} seconds=${AMP_SECONDS:-8}
bus=${PARLEY_BUS:-postgres}
admin_url=${AMP_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database=${AMP_DATABASE:-parley_amplification}
export DATABASE_URL=${admin_url%/*}/$database
out=$(mktemp -d)
trap 'deploy/local.sh down >/dev/null 2>&1 || true; rm -rf "$out"' EXIT

# The load is far above a person's: no per-user limits, as in bench/run.sh.
export PARLEY_MESSAGE_RATE_PER_MINUTE=1000000 PARLEY_LIMIT_MESSAGES=0
export PARLEY_HANDSHAKES_PER_IP_PER_MINUTE=0 RUST_LOG=warn

# The edge at $1's counter $2 (summed over its series) for the chat service.
counter() {
  curl -fsS "http://$1/metrics" |
    awk -v name="$2" '$1 ~ "^"name"\\{" && $1 ~ /service="chat"/ { sum += $2 } END { print sum + 0 }'
}

# CPU time (clock ticks) used so far by the system: Parley's processes, the NATS nodes that
# deploy/local.sh started, and every PostgreSQL process on this machine (the Postgres bus
# works in the database, the NATS bus partly outside it).
cpu_ticks() {
  local pids
  pids=$(cat deploy/.run/pids/*.pid deploy/.run/nats/n*.pid 2>/dev/null; pgrep -x postgres || true)
  for pid in $pids; do cat "/proc/$pid/stat" 2>/dev/null; done |
    awk '{ sub(/^.*\) /, ""); sum += $12 + $13 } END { print sum + 0 }'
}

printf 'bus %s, %s DMs/s over %s pairs in all, %s s measured\n' "$bus" "$rate" "$pairs" "$seconds"
printf '%-6s %-16s %12s %10s %13s %12s\n' edges edge deliveries/s events/s events/deliv bytes/deliv
for edges in ${AMP_EDGES:-1 2 3}; do
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database" 2>/dev/null
  REPLICAS=3 PARLEY_BUS=$bus deploy/local.sh up -d >"$out/up.log" 2>&1 ||
    { cat "$out/up.log" >&2; exit 1; }
  secret=${PARLEY_JWT_SECRET:-$(<deploy/.run/dev-jwt-secret)}
  addrs=()
  for ((k = 0; k < edges; k++)); do addrs+=("127.0.0.1:$((3000 + 10 * k))"); done
  pids=()
  for k in "${!addrs[@]}"; do
    addr=${addrs[k]}
    target/release/parley-bench --server "$addr" --secret "$secret" --out "$out/$addr.jsonl" \
      --first-user $((k * 100000)) \
      dm --pairs $((pairs / edges)) --rates $((rate / edges)) --warmup 5 --measure 14 \
      >"$out/$addr.log" 2>&1 &
    pids+=($!)
  done
  # Inside the measured window (after the users connected and the warm-up): the edges' intake
  # per second, to divide by the deliveries per second the generators measured.
  sleep 10
  ticks_before=$(cpu_ticks)
  declare -A events_before bytes_before
  for addr in "${addrs[@]}"; do
    events_before[$addr]=$(counter "$addr" parley_edge_followed_events_total)
    bytes_before[$addr]=$(counter "$addr" parley_edge_followed_bytes_total)
  done
  sleep "$seconds"
  ticks=$(($(cpu_ticks) - ticks_before))
  for addr in "${addrs[@]}"; do
    events=$((($(counter "$addr" parley_edge_followed_events_total) - events_before[$addr]) / seconds))
    bytes=$((($(counter "$addr" parley_edge_followed_bytes_total) - bytes_before[$addr]) / seconds))
    echo "$addr $events $bytes" >>"$out/intake"
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  while read -r addr events bytes; do
    python3 - "$edges" "$addr" "$events" "$bytes" "$out/$addr.jsonl" <<'PY'
import json, sys
edges, addr, events, byts, results = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
steps = [r for r in map(json.loads, open(results)) if r.get("kind") == "step"]
deliveries = steps[-1]["deliveriesPerSec"] if steps else 0
per = lambda n: f"{n / deliveries:.2f}" if deliveries else "-"
print(f"{edges:<6} {addr:<16} {deliveries:>12} {events:>10} {per(events):>13} {per(byts):>12}")
PY
  done <"$out/intake"
  python3 - "$ticks" "$(getconf CLK_TCK)" "$seconds" "$out"/*.jsonl <<'PY'
import json, sys
ticks, hz, seconds, *results = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
per_sec = 0
for path in results:
    steps = [r for r in map(json.loads, open(path)) if r.get("kind") == "step"]
    per_sec += steps[-1]["deliveriesPerSec"] if steps else 0
cpu = ticks / hz
share = f"{cpu / (per_sec * seconds / 1000):.3f}" if per_sec else "-"
print(f"       system CPU {cpu / seconds:.2f} cores; CPU seconds per 1 000 deliveries: {share}")
PY
  rm -f "$out/intake" "$out"/*.jsonl
  unset events_before bytes_before
  deploy/local.sh down >/dev/null 2>&1
done
