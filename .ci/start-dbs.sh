#!/usr/bin/env bash
# Start throwaway PostgreSQL and MariaDB servers on 127.0.0.1 for the test suite.
# Idempotent: a server already answering on its port is left alone.
# Prints the environment the tests read (TABLETALK_TEST_POSTGRES_URL, TABLETALK_TEST_MYSQL_URL).
set -euo pipefail
PGPORT=${TABLETALK_TEST_PGPORT:-55432}
MYPORT=${TABLETALK_TEST_MYPORT:-53306}
BASE=${TABLETALK_TEST_DBDIR:-/tmp/tabletalk-dbs}
mkdir -p "$BASE"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$pgbin" ]; then
  if ! "$pgbin/pg_isready" -h 127.0.0.1 -p "$PGPORT" -q; then
    rm -rf "$BASE/pg"; mkdir -p "$BASE/pg"; chown postgres "$BASE/pg"
    # Passwords are checked over TCP (tests prove a wrong one is refused); the admin steps use the socket.
    su postgres -c "$pgbin/initdb -D $BASE/pg/data -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8" >"$BASE/pg-init.log" 2>&1
    su postgres -c "$pgbin/pg_ctl -D $BASE/pg/data -l $BASE/pg/log -o '-h 127.0.0.1 -p $PGPORT -k $BASE/pg -c fsync=off -c max_connections=200' -w start" >/dev/null
  fi
  psql_admin() { su postgres -c "psql -h $BASE/pg -p $PGPORT -U postgres $*"; }
  psql_admin "-tAc \"SELECT 1 FROM pg_roles WHERE rolname='tt'\"" | grep -q 1 || \
    psql_admin "-c \"CREATE ROLE tt LOGIN SUPERUSER PASSWORD 'ttpass'\"" >/dev/null
  psql_admin "-tAc \"SELECT 1 FROM pg_database WHERE datname='tt'\"" | grep -q 1 || \
    psql_admin "-c 'CREATE DATABASE tt OWNER tt'" >/dev/null
  echo "export TABLETALK_TEST_POSTGRES_URL=postgresql://tt:ttpass@127.0.0.1:$PGPORT/tt"
else
  echo "# PostgreSQL is not installed" >&2
fi

if command -v mariadbd >/dev/null 2>&1; then
  if ! mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MYPORT" -u root ping >/dev/null 2>&1; then
    rm -rf "$BASE/my"; mkdir -p "$BASE/my"; chown mysql "$BASE/my" 2>/dev/null || true
    mariadb-install-db --user=mysql --datadir="$BASE/my/data" --auth-root-authentication-method=normal >"$BASE/my-init.log" 2>&1
    (mariadbd --user=mysql --datadir="$BASE/my/data" --bind-address=127.0.0.1 --port="$MYPORT" \
       --socket="$BASE/my/mysqld.sock" --pid-file="$BASE/my/mysqld.pid" --skip-name-resolve \
       --innodb-flush-log-at-trx-commit=0 --max-connections=300 >"$BASE/my/log" 2>&1 &)
    for _ in $(seq 1 60); do
      mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MYPORT" -u root ping >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  mariadb --protocol=tcp -h 127.0.0.1 -P "$MYPORT" -u root -e \
    "CREATE DATABASE IF NOT EXISTS tt; CREATE USER IF NOT EXISTS 'tt'@'%' IDENTIFIED BY 'ttpass'; GRANT ALL ON *.* TO 'tt'@'%' WITH GRANT OPTION; FLUSH PRIVILEGES;"
  echo "export TABLETALK_TEST_MYSQL_URL=mysql://tt:ttpass@127.0.0.1:$MYPORT/tt"
else
  echo "# MariaDB is not installed" >&2
fi
