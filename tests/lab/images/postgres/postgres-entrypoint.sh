#!/bin/sh
# First start: initdb $PGDATA as the postgres user, in the spirit of the official image's docker-entrypoint.sh.
#   POSTGRES_USER      the superuser (default postgres)
#   POSTGRES_PASSWORD  its password; set: TCP clients authenticate with scram-sha-256; unset: trust (a lab image)
#   POSTGRES_DB        a database created for it (default: the user's name)
#   POSTGRES_HOST_AUTH_METHOD  overrides the TCP method (trust, md5, scram-sha-256, ...)
# Local (unix socket) connections are trusted. The server runs in the foreground as PID 1 (exec), so that the
# engine's stop signal (SIGINT: a fast shutdown) reaches it.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}" "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}; else
    auth=${POSTGRES_HOST_AUTH_METHOD:-trust}; echo "postgres-entrypoint: no POSTGRES_PASSWORD: TCP clients are trusted"
  fi
  # --no-sync: a test database need not survive a host crash during its first seconds; it starts sooner.
  # The password goes in on stdin: no temporary file, so a read-only root with only $PGDATA writable works.
  printf '%s\n' "${POSTGRES_PASSWORD:-}" | initdb --username="$POSTGRES_USER" \
    ${POSTGRES_PASSWORD:+--pwfile=/dev/stdin} --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host="$auth" \
    --no-sync >/dev/null
  echo "host all all all $auth" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DB" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "postgres-entrypoint: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB, TCP auth $auth)"
fi
exec "$@"
