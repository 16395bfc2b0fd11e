# Sourced (after common.sh) by the bench scripts that run services on
# PostgreSQL: a private, durable PostgreSQL cluster and a redis-server on a
# free port, both stopped on exit (after `stop_extra`, when the script
# defines one). Gives url, pwfile, psql_do SQL, new_db NAME (its URL),
# redis_port and $work/tier_key.
# The cluster's folder must be reachable by the postgres user when run as root.
pgdir=$(mktemp -d /tmp/care-bench-pg.XXXXXX)
chmod 711 "$pgdir"
redis_pid=""
stop_all() {
  if declare -F stop_extra >/dev/null; then stop_extra; fi
  cleanup
  [[ -n $redis_pid ]] && { kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; }
  bash "$repo/tests/harness/postgres.sh" stop "$pgdir/cluster" >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

PG_DURABLE=1 bash "$repo/tests/harness/postgres.sh" start "$pgdir/cluster" >&2
url=$(cat "$pgdir/cluster/url")
pwfile=$pgdir/cluster/password
psql_do() { PGPASSWORD=$(cat "$pwfile") psql -X -q -t -A -v ON_ERROR_STOP=1 "$url/postgres" -c "$1"; }
new_db() { psql_do "CREATE DATABASE $1" >/dev/null; echo "$url/$1"; }

# Loyalty keeps tiers in Redis: a private redis-server on a free port.
for _ in $(seq 20); do
  redis_port=$((20000 + RANDOM % 30000))
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
  redis_pid=$!
  sleep 0.3
  if kill -0 "$redis_pid" 2>/dev/null && redis-cli -p "$redis_port" ping >/dev/null 2>&1; then break; fi
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=""
done
[[ -n $redis_pid ]] || { echo "no redis-server" >&2; exit 1; }
(umask 077; echo "k1 $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$work/tier_key")
