#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for the test run, the way the harness starts
# redis-server: a temporary folder, a free loopback port, a password (SCRAM),
# torn down afterwards. CTest runs `start` and `stop` as the "postgres"
# fixture of the pg.* tests (tests/CMakeLists.txt).
#
#   postgres.sh start <dir>   initdb + pg_ctl start; writes <dir>/url ("postgresql://care@127.0.0.1:<port>")
#                             and <dir>/password (the password file services read)
#   postgres.sh stop <dir>    pg_ctl stop (fast) and removes the cluster
#   postgres.sh restart <dir> pg_ctl restart on the same port (a database server restart)
#
# As root, the server runs as the `postgres` user (initdb refuses root).
#
# Tests run without durability (fsync, synchronous_commit and full_page_writes
# off): a test cluster is thrown away. PG_DURABLE=1 keeps PostgreSQL's durable
# defaults, for benchmarks that compare with SQLite at synchronous=FULL.
set -euo pipefail

cmd=${1:?start, stop or restart}
dir=${2:?the fixture folder}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
data="$dir/cluster"

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
  start)
    [ -x "$bin/initdb" ] || { echo "postgres.sh: $bin/initdb not found (apt-get install postgresql-15)" >&2; exit 1; }
    rm -rf "$dir" && mkdir -p "$dir"
    head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$dir/password"
    chmod 600 "$dir/password"
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi
    # C collation: text sorts by bytes, as in SQLite, so pages come in the same order.
    as_owner "$bin/initdb" -D "$data" -U care --pwfile="$dir/password" --auth=scram-sha-256 \
      --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if [ "${PG_DURABLE:-0}" = 1 ]; then durability=""; fi
    for _ in $(seq 1 20); do
      port=$((20000 + RANDOM % 30000))
      if as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
          -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$dir' $durability \
              -c max_connections=400 -c shared_buffers=64MB" start >"$dir/pg_ctl.log" 2>&1; then
        echo "postgresql://care@127.0.0.1:$port" >"$dir/url"
        echo "$port" >"$dir/port"
        chmod 644 "$dir/url" "$dir/port"
        # The tests read the password file; services get it as --database_password_file.
        if [ "$(id -u)" = 0 ]; then chown root: "$dir/password"; fi
        echo "postgres.sh: cluster on 127.0.0.1:$port ($dir)"
        exit 0
      fi
      # The port was taken: a failed start left no server behind.
      grep -q "already in use\|could not bind\|could not create any TCP/IP sockets" "$dir/server.log" 2>/dev/null \
        || { cat "$dir/pg_ctl.log" "$dir/server.log" >&2; exit 1; }
      : >"$dir/server.log"
    done
    echo "postgres.sh: no free port found" >&2
    exit 1
    ;;
  stop)
    if [ -f "$data/postmaster.pid" ]; then as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
    ;;
  *)
    echo "postgres.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
