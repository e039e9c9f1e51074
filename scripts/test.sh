#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests that start the services and the edge
# in-process against a real PostgreSQL (127.0.0.1:5432, user postgres; override with
# PARLEY_TEST_ADMIN_DATABASE_URL) and drive the edge with real Socket.IO clients, among them
# the official socket.io-client from npm.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# The official JS client the conformance test drives; npm ci installs exactly the locked one.
if [[ ! -d edge/tests/js/node_modules/socket.io-client ]] ||
   [[ edge/tests/js/package-lock.json -nt edge/tests/js/node_modules/.package-lock.json ]]; then
  npm ci --prefix edge/tests/js --no-audit --no-fund --loglevel=error
fi

# rotel, a real OTLP collector, receives the spans of the cross-process trace test.
if ! python3 -c "import rotel" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check rotel
fi

# The cross-process trace test runs the four binaries: build them all first (cargo test
# builds a package's binaries only when that package has integration tests).
cargo build --workspace --bins --locked

# cargo prints one result line per test binary, the last often an empty doc-test run: add a
# total so the end of the log says what ran.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
