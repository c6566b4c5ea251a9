#!/bin/sh
# A throwaway PostgreSQL with pg_stat_statements preloaded, for `bench/*.py --explain` (the embedded pgserver
# wheel does not ship the extension). Uses the system's PostgreSQL (Debian: apt-get install postgresql
# postgresql-contrib). Data and socket under var/stats-pg/ (git-ignored with var/).
#
#   sh bench/stats-postgres.sh start     # prints the DATABASE_URL to use
#   DATABASE_URL='postgresql://postgres@/postgres?host=…&port=5499' .venv/bin/python bench/callbacks.py --explain
#   sh bench/stats-postgres.sh stop
set -eu
cd "$(dirname "$0")/.."
DIR="$PWD/var/stats-pg"
PORT="${STATS_PG_PORT:-5499}"
BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[ -x "$BIN/pg_ctl" ] || { echo "no system PostgreSQL found (set PG_BIN)" >&2; exit 1; }
[ -f "$BIN/../lib/pg_stat_statements.so" ] || { echo "no pg_stat_statements in $BIN/../lib" >&2; exit 1; }
# initdb and postgres refuse to run as root: run them as the system's postgres user then.
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
start)
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        mkdir -p "$DIR/data" "$DIR/socket"
        [ "$(id -u)" = 0 ] && chown postgres "$DIR/data" "$DIR/socket"
        as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust >/dev/null
        cat >>"$DIR/data/postgresql.conf" <<EOF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$DIR/socket'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
track_functions = all
max_connections = 200
EOF
    fi
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/data/server.log" -w start >/dev/null
    echo "DATABASE_URL='postgresql://postgres@/postgres?host=$DIR/socket&port=$PORT'"
    ;;
stop)
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null && echo stopped
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
