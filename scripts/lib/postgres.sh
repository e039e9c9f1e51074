# shellcheck shell=bash
# Sourced by deploy/local.sh, scripts/test.sh and the scripts they run: finds the PostgreSQL
# to use, or starts one of the project's own.
#
# The order, the same everywhere:
#   1. a URL the caller was given (DATABASE_URL, PARLEY_TEST_ADMIN_DATABASE_URL): used as is;
#      it must answer, nothing else is tried;
#   2. the machine's server at 127.0.0.1:5432, when it lets user postgres in without a password
#      (skipped with PARLEY_PRIVATE_POSTGRES=1);
#   3. a private cluster: initdb'd from the installed server binaries into a git-ignored
#      folder of the checkout, trust auth, listening on 127.0.0.1 only, on port 25432 or the
#      next free one (PARLEY_PG_PORT sets the first port tried), no Unix socket. As root it
#      belongs to and runs as the `postgres` user (initdb refuses root). The port is below
#      Linux's ephemeral range (32768-60999): there, the local port of some client connection
#      (after thousands of test connections to one server, many) can hold it.
# When step 3 needs server binaries that are missing, parley_pg_packages names the Debian
# package to install first.

# shellcheck source=packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

parley_pg_system_url=postgres://postgres@127.0.0.1:5432/postgres

# The URL answers a query (server up, login accepted, database there).
parley_pg_answers() {
  PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-3} psql -w -X -q -tA -d "$1" -c 'SELECT 1' >/dev/null 2>&1
}

# A server accepts connections at the URL (whether or not its database exists yet).
parley_pg_listening() { pg_isready -q -t 3 -d "$1" >/dev/null 2>&1; }

# Something listens on this port of 127.0.0.1.
parley_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The same server URL with another database name (query options kept).
parley_pg_with_db() {
  local url=$1 database=$2 query=
  if [[ $url == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
  echo "${url%/*}/$database$query"
}

# The machine's server is usable: answers at 127.0.0.1:5432 as postgres, without a password.
parley_pg_system_answers() {
  [[ ${PARLEY_PRIVATE_POSTGRES:-} != 1 ]] && command -v psql >/dev/null &&
    parley_pg_answers "$parley_pg_system_url"
}

# The folder of the newest installed server's binaries (initdb, pg_ctl).
parley_pg_bindir() {
  local dir
  while read -r dir; do
    [[ -x $dir/initdb && -x $dir/pg_ctl ]] && { echo "$dir"; return 0; }
  done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r)
  dir=$(command -v initdb 2>/dev/null) || return 1
  dir=$(dirname "$(readlink -f "$dir")")
  [[ -x $dir/pg_ctl ]] && echo "$dir"
}

# The Debian packages missing for what follows, given the URL the caller was given (if any).
parley_pg_packages() {
  local given=${1:-}
  if [[ -n $given ]]; then
    command -v psql >/dev/null && command -v pg_isready >/dev/null || echo postgresql-client
    return 0
  fi
  if ! command -v psql >/dev/null; then
    # A server that answers on 5432 needs only the client; anything else a server of our own.
    if [[ ${PARLEY_PRIVATE_POSTGRES:-} != 1 ]] && parley_port_open 5432; then
      echo postgresql-client
    else
      echo postgresql
    fi
    return 0
  fi
  parley_pg_system_answers && return 0
  parley_pg_bindir >/dev/null || echo postgresql
  return 0
}

# Runs a command as the owner of the private clusters: `postgres` when we are root.
parley_pg_owner() {
  if ((EUID == 0)); then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# The folder for a private cluster meant to live in $1, created. As root it belongs to
# postgres; when postgres cannot reach $1 (a checkout under /root, say), a folder of
# /var/tmp named after $1 stands in, and this says so.
parley_pg_home() {
  local dir=$1 other
  mkdir -p "$dir"
  ((EUID == 0)) || { echo "$dir"; return 0; }
  if ! id postgres >/dev/null 2>&1; then
    parley_say "no 'postgres' user to run a private PostgreSQL as (initdb refuses root):"
    parley_say "  apt-get install postgresql creates it; or give DATABASE_URL"
    exit 1
  fi
  chown postgres: "$dir"
  if ! parley_pg_owner test -w "$dir"; then
    other=/var/tmp/parley-postgres-$(printf '%s' "$dir" | md5sum | cut -c1-12)
    mkdir -p "$other"
    chown postgres: "$other"
    chmod 700 "$other"
    parley_say "user postgres cannot reach $dir: the private cluster lives in $other"
    dir=$other
  fi
  echo "$dir"
}

# The private cluster in the folder $1 runs (then its port is in postmaster.pid, line 4).
parley_pg_running() {
  local bindir
  [[ -f $1/data/postmaster.pid ]] || return 1
  bindir=$(parley_pg_bindir) || return 1
  parley_pg_owner "$bindir/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

# Starts the private cluster of folder $1 (a parley_pg_home), creating it first if needed;
# one that already runs is used as it is. Sets parley_pg_url, the URL of its postgres database.
parley_pg_start() {
  local home=$1 bindir port
  if ! bindir=$(parley_pg_bindir); then
    parley_say "no PostgreSQL server binaries (initdb, pg_ctl) found; install postgresql"
    exit 1
  fi
  if [[ ! -f $home/data/PG_VERSION ]]; then
    parley_say "creating a private PostgreSQL cluster in $home/data"
    rm -rf "$home/data"
    if ! parley_pg_owner "$bindir/initdb" -D "$home/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 >"$home/initdb.log" 2>&1 &&
      ! parley_pg_owner "$bindir/initdb" -D "$home/data" -U postgres -A trust -E UTF8 \
        --no-locale >"$home/initdb.log" 2>&1; then
      parley_say "initdb failed:"
      cat "$home/initdb.log" >&2
      exit 1
    fi
    cat >>"$home/data/postgresql.conf" <<'EOF'

# Set by scripts/lib/postgres.sh: TCP on loopback only (the port is given at start), no Unix
# socket, and room for the tests' parallel connections.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
EOF
  fi
  if parley_pg_running "$home"; then
    port=$(sed -n 4p "$home/data/postmaster.pid")
  else
    port=$(parley_pg_free_port "${PARLEY_PG_PORT:-25432}")
    until parley_pg_start_on "$bindir" "$home" "$port"; do
      # Taken between the look and the bind: the next one.
      port=$(parley_pg_free_port $((port + 1)))
    done
    parley_say "started the private PostgreSQL on 127.0.0.1:$port ($home/data)"
  fi
  parley_pg_url=postgres://postgres@127.0.0.1:$port/postgres
  parley_pg_answers "$parley_pg_url" || parley_pg_failed "$home"
}

# The first port from $1 on that nothing listens on (within 100).
parley_pg_free_port() {
  local port=$1
  while parley_port_open "$port"; do
    port=$((port + 1))
    if ((port > $1 + 100)); then
      parley_say "no free port for the private PostgreSQL from $1 on"
      exit 1
    fi
  done
  echo "$port"
}

# Starts the server of folder $2 on port $3; fails (1) when the port turned out taken, exits
# on any other failure.
parley_pg_start_on() {
  local bindir=$1 home=$2 port=$3 size=0 status=0
  [[ -f $home/postgres.log ]] && size=$(stat -c %s "$home/postgres.log")
  # The server must not inherit the lock that tells which runs use it (parley_test_postgres).
  if [[ -n ${parley_pg_lock_fd:-} ]]; then
    parley_pg_owner "$bindir/pg_ctl" -D "$home/data" -l "$home/postgres.log" -w -t 60 \
      -o "-p $port" start >/dev/null 2>&1 {parley_pg_lock_fd}>&- || status=$?
  else
    parley_pg_owner "$bindir/pg_ctl" -D "$home/data" -l "$home/postgres.log" -w -t 60 \
      -o "-p $port" start >/dev/null 2>&1 || status=$?
  fi
  ((status == 0)) && return 0
  tail -c +$((size + 1)) "$home/postgres.log" | grep -q 'Address already in use' && return 1
  parley_pg_failed "$home"
}

parley_pg_failed() {
  parley_say "the private PostgreSQL in $1/data did not start; the end of $1/postgres.log:"
  tail -n 20 "$1/postgres.log" >&2 || true
  exit 1
}

# Stops the private cluster of folder $1 if it runs.
parley_pg_stop() {
  local bindir
  parley_pg_running "$1" || return 0
  bindir=$(parley_pg_bindir)
  parley_pg_owner "$bindir/pg_ctl" -D "$1/data" -m fast -w -t 60 stop >/dev/null
  parley_say "stopped the private PostgreSQL ($1/data)"
}

# The tests' PostgreSQL, exported as PARLEY_TEST_ADMIN_DATABASE_URL (a database the tests may
# create and drop databases from): PARLEY_TEST_ADMIN_DATABASE_URL or else DATABASE_URL when
# set, else the machine's, else the private cluster of the checkout $1 in scripts/.run/postgres.
# That one is shared by the runs of the checkout that use it at the same time (a shared
# flock); call parley_pg_release at exit: the last run out stops it.
parley_test_postgres() {
  local root=$1 given=${PARLEY_TEST_ADMIN_DATABASE_URL:-${DATABASE_URL:-}} home
  if [[ -n $given ]]; then
    if ! parley_pg_answers "$given"; then
      parley_say "PostgreSQL does not answer at $given (PARLEY_TEST_ADMIN_DATABASE_URL or DATABASE_URL)"
      exit 1
    fi
    export PARLEY_TEST_ADMIN_DATABASE_URL=$given
    parley_pg_source="the given $given"
  elif parley_pg_system_answers; then
    export PARLEY_TEST_ADMIN_DATABASE_URL=$parley_pg_system_url
    parley_pg_source="the machine's, $parley_pg_system_url"
  else
    home=$(parley_pg_home "$root/scripts/.run/postgres")
    exec {parley_pg_lock_fd}>>"$home/users.lock"
    flock -s "$parley_pg_lock_fd"
    parley_pg_shared_home=$home
    parley_pg_start "$home"
    export PARLEY_TEST_ADMIN_DATABASE_URL=$parley_pg_url
    parley_pg_source="a private cluster, $parley_pg_url, stopped at the end"
  fi
}

# Stops the private cluster parley_test_postgres started unless another run still uses it.
parley_pg_release() {
  [[ -n ${parley_pg_lock_fd:-} ]] || return 0
  if flock -xn "$parley_pg_lock_fd"; then parley_pg_stop "$parley_pg_shared_home"; fi
  exec {parley_pg_lock_fd}>&-
  parley_pg_lock_fd=
}
