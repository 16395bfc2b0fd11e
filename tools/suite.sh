#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, starts a private
# redis-server and the four services on embedded defaults (SQLite files under
# ./data), shows them working, then stops everything it started.
#   bash tools/suite.sh              run, demo, stop
#   bash tools/suite.sh --keep       keep serving until Ctrl-C
#   bash tools/suite.sh --postgres   the same on a local PostgreSQL 15 (a private cluster under
#                                    data/postgres, one database per service) instead of SQLite
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
postgres=false
for arg in "$@"; do
  case $arg in
    --keep) keep=true ;;
    --postgres) postgres=true ;;
    *) echo "suite.sh: unknown argument $arg (--keep, --postgres)" >&2; exit 2 ;;
  esac
done

if [ "${SKIP_DEPS:-}" != 1 ]; then bash tools/deps.sh; fi
bash tools/build.sh
build=${BUILD_DIR:-build}

data=$PWD/data
mkdir -p "$data/logs"
# One local operator token with every human/backend role, and one peer token
# per service (its own principal, role `peer`: only the suite's services may
# ingest events, issue goodwill or export members). Generated once, never
# committed; a tokens file from before the peer role is regenerated.
if [ ! -s "$data/tokens" ] || ! grep -q ' peer$' "$data/tokens"; then
  new_token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  (umask 077
   echo "$(new_token) local-admin admin,service,agent,supervisor" > "$data/tokens"
   for service in loyalty promotion complaint notification; do
     echo "$(new_token) svc:$service peer" >> "$data/tokens"
   done)
fi
token=$(head -n 1 "$data/tokens" | cut -d' ' -f1)
# What each service presents when it calls another: its own bare peer token.
for service in loyalty promotion complaint notification; do
  (umask 077; grep " svc:$service peer$" "$data/tokens" | cut -d' ' -f1 > "$data/${service}_token")
done
rm -f "$data/service_token"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if $postgres; then bash tests/harness/postgres.sh stop "$data/postgres"; fi
  echo "suite: stopped everything it started"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Redis wants a password (in a config file, not on the command line where
# ps shows it), tier snapshots in it are signed with a key the services
# share, and erased people's tombstones are keyed (docs/privacy.md); all
# generated once, never committed.
if [ ! -s "$data/redis_password" ]; then
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$data/redis_password")
fi
if [ ! -s "$data/tier_cache_key" ]; then
  (umask 077; echo "k1 $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$data/tier_cache_key")
fi
if [ ! -s "$data/privacy_key" ]; then
  (umask 077; echo "p1 $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$data/privacy_key")
fi
(umask 077; echo "requirepass $(cat "$data/redis_password")" > "$data/redis.conf")
redis_port=${REDIS_PORT:-6390}
redis-server "$data/redis.conf" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$data" >"$data/logs/redis.log" 2>&1 &
pids+=($!)

# --postgres: a private cluster (the one the tests use, tests/harness/postgres.sh)
# and one database per service; each service gets its URL and the password file.
declare -A database_flags=()
if $postgres; then
  bash tests/harness/postgres.sh start "$data/postgres"
  pg_url=$(cat "$data/postgres/url")
  for service in loyalty promotion complaint notification; do
    PGPASSWORD=$(cat "$data/postgres/password") psql -q "$pg_url/postgres" -c "CREATE DATABASE $service" >/dev/null
    database_flags[$service]="--database_url=$pg_url/$service --database_password_file=$data/postgres/password"
  done
  echo "suite: PostgreSQL on $pg_url (one database per service)"
fi

# Shared settings as environment variables: a service reads the ones it
# declares and ignores the rest (unknown flags, by contrast, stop it).
export CARE_TOKENS_FILE=$data/tokens
export CARE_REDIS_PORT=$redis_port CARE_LISTEN_HOST=127.0.0.1
export CARE_REDIS_PASSWORD_FILE=$data/redis_password CARE_TIER_CACHE_KEY_FILE=$data/tier_cache_key
export CARE_PRIVACY_KEY_FILE=$data/privacy_key
export CARE_LOYALTY_TARGET=127.0.0.1:50051 CARE_PROMOTION_TARGET=127.0.0.1:50052
export CARE_COMPLAINT_TARGET=127.0.0.1:50053 CARE_NOTIFICATION_TARGET=127.0.0.1:50054
# A member who enrols takes over the care desk's contact with the same e-mail or phone.
export CARE_LINK_CONTACTS=true
# Notification may reach webhook / SMTP receivers on this machine (a local
# suite only; production lists its gateways, see services/notification/README.md).
export CARE_EGRESS_ALLOWLIST=127.0.0.1/32
declare -A ports=([loyalty]=50051 [promotion]=50052 [complaint]=50053 [notification]=50054)
declare -A metrics=([loyalty]=9091 [promotion]=9092 [complaint]=9093 [notification]=9094)
# --fake_clock: the demo moves the services' clocks (ClockControl) instead of
# waiting three days for a campaign or a weekend for an SLA breach.
for service in loyalty promotion complaint notification; do
  "$build/services/$service/care_$service" --port="${ports[$service]}" --data_dir="$data/$service" \
    --service_token_file="$data/${service}_token" --fake_clock --metrics_port="${metrics[$service]}" \
    ${database_flags[$service]:-} \
    >"$data/logs/$service.log" 2>&1 &
  pids+=($!)
done

carectl="$build/tools/carectl/carectl"
for service in loyalty promotion complaint notification; do
  for _ in $(seq 1 100); do
    CARE_TOKEN="$token" "$carectl" --target="127.0.0.1:${ports[$service]}" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "suite: $service answering on 127.0.0.1:${ports[$service]}, metrics on :${metrics[$service]}/metrics (log: data/logs/$service.log)"
done

if [ -x "$build/tools/demo/care_demo" ]; then
  "$build/tools/demo/care_demo" --token="$token" --loyalty=127.0.0.1:50051 \
    --promotion=127.0.0.1:50052 --complaint=127.0.0.1:50053 --notification=127.0.0.1:50054
else
  for service in loyalty promotion complaint notification; do
    CARE_TOKEN="$token" "$carectl" --target="127.0.0.1:${ports[$service]}" ping "hello from $service"
  done
fi

if $keep; then
  echo "suite: serving; token in data/tokens; Ctrl-C stops everything"
  wait
fi
