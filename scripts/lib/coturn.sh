# shellcheck shell=bash
# Sourced by scripts/test.sh (and whatever runs a local TURN server): coturn, the real TURN
# server that calls' relay-only tests run against, with TURN REST credentials (a shared
# secret, docs/API.md "/calls").
#
#   parley_coturn_wanted        `turnserver` is missing: prints the Debian package (coturn)
#   parley_coturn_install       installs coturn (root, apt-get) without letting the package
#                               start a system service: we run `turnserver` ourselves
#   parley_without_service_starts CMD...
#                               runs CMD (e.g. parley_install with coturn in the list) so
#                               that no package it installs starts a service
#   parley_coturn_start SECRET  starts turnserver on 127.0.0.1 only, on a free listening port
#                               and a free range of relay ports, with SECRET as its static
#                               auth secret; sets parley_coturn_pid, parley_coturn_port and
#                               parley_coturn_urls (what PARLEY_TURN_URLS takes)
#   parley_coturn_stop          stops it by its PID and removes its folder
#
# The flags: listening and relaying on loopback only (--allow-loopback-peers, since both peers
# are on 127.0.0.1), TURN REST auth (--use-auth-secret), no TLS/DTLS (no certificates
# here), no telnet CLI, its user database and log in a folder of its own. The Rust test of
# calls with real peers (edge/tests/it/calls_media.rs) starts its own turnserver with the same
# flags inside its network namespace, where a server started here could not be reached.

# shellcheck source=packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

parley_coturn_realm=parley.test
parley_coturn_dir=
parley_coturn_pid=
parley_coturn_port=
parley_coturn_urls=

parley_coturn_wanted() {
  command -v turnserver >/dev/null || echo coturn
}

# Debian starts the services of what it installs unless /usr/sbin/policy-rc.d says no (exit
# 101): runs the command (an install) with one there, put there for it when there is none.
parley_without_service_starts() {
  local policy=/usr/sbin/policy-rc.d placed=0 status=0
  if ((EUID == 0)) && [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    placed=1
  fi
  "$@" || status=$?
  ((placed)) && rm -f "$policy"
  return "$status"
}

parley_coturn_install() {
  [[ -z $(parley_coturn_wanted) ]] && return 0
  parley_without_service_starts parley_install coturn
}

# Nothing listens on UDP or TCP port $1 of 127.0.0.1.
parley_coturn_port_free() {
  ! ss -Hlnut "sport = :$1" 2>/dev/null | grep -q .
}

parley_coturn_start() {
  local secret=${1:?parley_coturn_start needs the secret} port relay waited
  command -v turnserver >/dev/null || { parley_say "no turnserver: install coturn"; return 1; }
  parley_coturn_dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-coturn.XXXXXX")
  # Below Linux's ephemeral range (32768-60999), from this shell's PID so that runs started
  # together try different ports; 40 relay ports right above the listening one.
  port=$((23000 + ($$ % 100) * 50))
  while ! parley_coturn_port_free "$port"; do
    port=$((port >= 27950 ? 23000 : port + 50))
  done
  relay=$((port + 1))
  turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port="$port" \
    --min-port="$relay" --max-port=$((relay + 40)) \
    --use-auth-secret --static-auth-secret="$secret" --realm="$parley_coturn_realm" \
    --allow-loopback-peers --no-cli --no-tls --no-dtls \
    --userdb="$parley_coturn_dir/turndb" --pidfile="$parley_coturn_dir/turnserver.pid" \
    --log-file=stdout --simple-log >"$parley_coturn_dir/turnserver.log" 2>&1 &
  parley_coturn_pid=$!
  for ((waited = 0; waited < 100; waited++)); do
    if ! parley_coturn_port_free "$port"; then
      parley_coturn_port=$port
      parley_coturn_urls="turn:127.0.0.1:$port?transport=udp,turn:127.0.0.1:$port?transport=tcp"
      return 0
    fi
    kill -0 "$parley_coturn_pid" 2>/dev/null || break
    sleep 0.1
  done
  parley_say "turnserver did not start on 127.0.0.1:$port; its log:"
  tail -n 20 "$parley_coturn_dir/turnserver.log" >&2
  parley_coturn_stop
  return 1
}

parley_coturn_stop() {
  if [[ -n $parley_coturn_pid ]]; then
    kill -TERM "$parley_coturn_pid" 2>/dev/null || true
    wait "$parley_coturn_pid" 2>/dev/null || true
    parley_coturn_pid=
  fi
  [[ -n $parley_coturn_dir ]] && rm -rf "$parley_coturn_dir"
  parley_coturn_dir=
  return 0
}
