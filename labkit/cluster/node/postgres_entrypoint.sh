#!/bin/bash
# The local node's "postgres" image: initialise PGDATA from POSTGRES_* like the official image, then run
# the machine's PostgreSQL server as the postgres user, listening on the pod's own loopback address.
set -euo pipefail
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
export PGDATA
as_postgres() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups "$@"; else "$@"; fi; }
if [ "${1:-postgres}" != "postgres" ]; then exec "$@"; fi
shift || true
mkdir -p "$PGDATA"
if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$PGDATA"; chmod 700 "$PGDATA"; fi
# The socket directory is the pod's own (bind-mounted over /var/run/postgresql, so `pg_isready` and
# `psql` inside the pod find this server, not the machine's); without namespaces: no unix socket.
socket_dir=""
if [ -z "${LABKIT_NO_PRIVATE_DIRS:-}" ]; then
  socket_dir=/var/run/postgresql; mkdir -p "$socket_dir"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$socket_dir"; fi
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
    echo "Error: Database is uninitialized and superuser password is not specified." >&2
    echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
    exit 1
  fi
  pwfile="$(mktemp)"; printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"; chmod 644 "$pwfile"
  as_postgres initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\";" | as_postgres postgres --single -j -D "$PGDATA" postgres >/dev/null
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi
drop=(); if [ "$(id -u)" = 0 ]; then drop=(setpriv --reuid=postgres --regid=postgres --init-groups); fi
exec "${drop[@]}" postgres -D "$PGDATA" -c "listen_addresses=${LABKIT_POD_IP:-127.0.0.1}" -c "unix_socket_directories=$socket_dir" "$@"
