#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the tests that need one (tests/search/test_distributed.py).
#
#   eval "$(.ci/start_postgres.sh)"    # prints: export NASCOMP_TEST_POSTGRES_URL=postgresql+psycopg://...
#   .ci/start_postgres.sh --no-install  # the same, but exits 3 (one line on stderr) when PostgreSQL is not installed
#                                       # (`make test` uses this: it starts the server where it can, installs nothing)
#
# Installs Debian's `postgresql` package when no server binaries are found (needs root and apt), creates a cluster
# in a fresh folder (PGDATA, default /tmp/nascomp-pg), owned by the `postgres` user when run as root (the server
# refuses to run as root), listening on 127.0.0.1:PGPORT (default 55432) only, with a role and database `nascomp`
# (password `nascomp`; CREATEDB, so that a test can make a fresh database). Idempotent: a server already running
# there is reused. Stop it with
#   pg_ctl -D /tmp/nascomp-pg stop      (as the postgres user when started as root)
set -euo pipefail

PGDATA=${PGDATA:-/tmp/nascomp-pg}
PGPORT=${PGPORT:-55432}

find_bin() {
  local d  # Debian's versioned folder first (it has every client too), then PATH
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/psql" ] && { echo "$d"; return; }
  done
  if command -v initdb >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return
  fi
}

BIN=$(find_bin || true)
if [ -z "$BIN" ] && [ "${1:-}" = --no-install ]; then
  echo "start_postgres: PostgreSQL is not installed (no initdb and psql found); apt-get install postgresql" >&2
  exit 3
fi
if [ -z "$BIN" ]; then
  echo "start_postgres: installing postgresql (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >/dev/null
  BIN=$(find_bin)
fi

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then  # binaries without Debian's package: add its user
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

as_owner() {  # run a command as the server's owner (postgres when we are root)
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if ! as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    rm -rf "$PGDATA"
    mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA"
    as_owner "$BIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 >/dev/null
  fi
  as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDATA -c max_connections=200" >/dev/null
fi

PSQL=$BIN/psql; [ -x "$PSQL" ] || PSQL=$(command -v psql)
psql_() { as_owner "$PSQL" -h "$PGDATA" -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_ -c "SELECT 1 FROM pg_roles WHERE rolname = 'nascomp'")" != 1 ]; then
  psql_ -c "CREATE ROLE nascomp LOGIN CREATEDB PASSWORD 'nascomp'" >/dev/null
fi
psql_ -c "ALTER ROLE nascomp CREATEDB" >/dev/null
if [ "$(psql_ -c "SELECT 1 FROM pg_database WHERE datname = 'nascomp'")" != 1 ]; then
  psql_ -c "CREATE DATABASE nascomp OWNER nascomp" >/dev/null
fi
echo "export NASCOMP_TEST_POSTGRES_URL=postgresql+psycopg://nascomp:nascomp@127.0.0.1:$PGPORT/nascomp"
