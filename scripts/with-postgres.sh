#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL 15 on a free local port, its URL exported as
# RENTREE_TEST_POSTGRES_URL; the server is stopped afterwards and the command's status kept.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/initdb" ] || { echo "with-postgres: no PostgreSQL 15 at $PGBIN; install postgresql-15 or set PGBIN." >&2; exit 2; }

as_pg() {
  if [ "$(id -u)" = "0" ]; then
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

datadir=$(mktemp -d -t rentree-pg.XXXXXX)
[ "$(id -u)" = "0" ] && chown postgres "$datadir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb -D $datadir/data -U rentree --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null"
as_pg "$PGBIN/pg_ctl -D $datadir/data -o '-p $port -k $datadir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off' -l $datadir/log -w start >/dev/null"
stop() { as_pg "$PGBIN/pg_ctl -D $datadir/data -m fast -w stop >/dev/null" || true; rm -rf "$datadir"; }
trap stop EXIT
as_pg "$PGBIN/createdb -h 127.0.0.1 -p $port -U rentree rentree_test"
export RENTREE_TEST_POSTGRES_URL="postgresql+psycopg://rentree@127.0.0.1:$port/rentree_test"
echo "with-postgres: PostgreSQL 15 on 127.0.0.1:$port"
set +e
"$@"
rc=$?
set -e
exit $rc
