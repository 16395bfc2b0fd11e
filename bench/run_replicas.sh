#!/usr/bin/env bash
# Throughput with 1, 2 and 3 replicas of a service on one PostgreSQL, same
# run: RecordPurchase (care_loyalty, loyalty_record_purchase) and Quote
# (care_promotion, promotion_quote_typical: a 20-line guest cart, 100 live
# campaigns of which 2 apply). Per round and replica count, a fresh database
# on a private PostgreSQL 15 cluster with its durable defaults
# (tests/harness/postgres.sh, PG_DURABLE=1), N processes of the service on
# it (loyalty's share one redis-server), and care_load spreading its calls
# round-robin over them (target ipv4:127.0.0.1:p1,127.0.0.1:p2,...). Prints
# calls/s, p99 and errors per replica count, and the ratio to the 1-replica
# figure of the same round; the median ratio over rounds.
#
# The scenario's setup (program and members, or campaigns) runs against the
# first replica before the others start, so every replica starts with the
# same configuration whatever its caches do; the measured run replays that
# setup (--setup=false, same --run_id).
#
#   ninja -C build care_load care_loyalty care_promotion
#   bash bench/run_replicas.sh
#
# Settings (environment): ROUNDS=2 REPLICAS="1 2 3" DURATION=5s WARMUP=1s
# CONNECTIONS=6 INFLIGHT=4 SERVICES="loyalty promotion" SERVER_ARGS= (more flags
# for every replica, e.g. "--threads=24 --database_pool=24") BUILD_DIR=<repo>/build
# PG_BIN=/usr/lib/postgresql/15/bin. The machine is shared: compare ratios
# within one run, not calls/s across runs.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
ROUNDS=${ROUNDS:-2}
REPLICAS=${REPLICAS:-1 2 3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-6}
INFLIGHT=${INFLIGHT:-4}
SERVICES=${SERVICES-loyalty promotion}
SERVER_ARGS=${SERVER_ARGS:-}

for bin in bench/care_load services/loyalty/care_loyalty services/promotion/care_promotion; do
  [[ -x $build/$bin ]] || { echo "missing $build/$bin: see the ninja line at the top of $0" >&2; exit 1; }
done

# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh" "admin,service"

pids=()
stop_replicas() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
stop_extra() { stop_replicas; }
# shellcheck source=bench/postgres_env.sh
source "$(dirname "$0")/postgres_env.sh"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# PostgreSQL $(psql_do 'SHOW server_version'): fsync=$(psql_do 'SHOW fsync')" \
  "synchronous_commit=$(psql_do 'SHOW synchronous_commit') shared_buffers=$(psql_do 'SHOW shared_buffers')" \
  "max_connections=$(psql_do 'SHOW max_connections')"
echo "# load: $CONNECTIONS connections x $INFLIGHT in flight, round-robin over the replicas; $DURATION after $WARMUP warm-up"
echo "# replica flags: ${SERVER_ARGS:-(defaults)}"

scenario_of() {
  case $1 in
    loyalty) echo loyalty_record_purchase ;;
    promotion) echo promotion_quote_typical ;;
  esac
}

# start_replica SVC I DB_URL: replica I of SVC on the database; appends its pid
# to pids and its port to ports.
start_replica() {
  local svc=$1 i=$2 db=$3
  local args=(--port=0 --port_file="$work/port-$i" --listen_host=127.0.0.1 --tokens_file="$work/tokens"
              --log_level=warn --database_url="$db" --database_password_file="$pwfile")
  [[ $svc == loyalty ]] && args+=(--redis_port="$redis_port" --tier_cache_key_file="$work/tier_key")
  # shellcheck disable=SC2206 # SERVER_ARGS is a list of flags
  args+=($SERVER_ARGS)
  rm -f "$work/port-$i"
  "$build/services/$svc/care_$svc" "${args[@]}" >"$work/$svc-$i.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    if [[ -s $work/port-$i ]]; then
      ports+=("$(cat "$work/port-$i")")
      return 0
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "care_$svc replica $i did not start:" >&2
  cat "$work/$svc-$i.log" >&2
  exit 1
}

# Appends "round service replicas calls_per_s p99_ms errors" to $work/results.
run_one() {
  local round=$1 svc=$2 n=$3 db run_id target json
  db=$(new_db "${svc}_r${round}_n${n}")
  run_id=r$round-n$n-$$
  ports=()
  start_replica "$svc" 1 "$db"
  "$build/bench/care_load" --target="127.0.0.1:${ports[0]}" --token="$token" --scenario="$(scenario_of "$svc")" \
    --connections=1 --inflight=1 --duration=100ms --warmup=0s --run_id="$run_id" --json >/dev/null 2>"$work/setup.err" \
    || { echo "setup against care_$svc failed:" >&2; cat "$work/setup.err" >&2; exit 1; }
  for i in $(seq 2 "$n"); do start_replica "$svc" "$i" "$db"; done
  target="ipv4:$(printf '127.0.0.1:%s,' "${ports[@]}")"
  target=${target%,}
  json=$("$build/bench/care_load" --target="$target" --token="$token" --scenario="$(scenario_of "$svc")" \
         --connections="$CONNECTIONS" --inflight="$INFLIGHT" --duration="$DURATION" --warmup="$WARMUP" \
         --run_id="$run_id" --setup=false --json 2>"$work/load.err") || true
  stop_replicas
  [[ -n $json ]] || { echo "care_load failed against $n x care_$svc:" >&2; cat "$work/load.err" >&2; exit 1; }
  echo "round $round $svc x$n: $json" >&2
  echo "$round $svc $n $(field calls_per_s "$json") $(field p99_ms "$json") $(field errors "$json")" >>"$work/results"
}

: >"$work/results"
for round in $(seq "$ROUNDS"); do
  # Even rounds run the replica counts in the other order, so a drift in the
  # machine's load does not always favour the same count.
  counts=$REPLICAS
  ((round % 2 == 0)) && counts=$(tr ' ' '\n' <<<"$REPLICAS" | tac | tr '\n' ' ')
  for svc in $SERVICES; do
    for n in $counts; do run_one "$round" "$svc" "$n"; done
  done
done

echo
echo "| service | replicas | round | calls/s | p99 ms | errors | × 1 replica |"
echo "|---|--:|--:|--:|--:|--:|--:|"
awk -v services="$SERVICES" -v counts="$REPLICAS" '
  { v[$1, $2, $3] = $4; p99[$1, $2, $3] = $5; err[$1, $2, $3] = $6; if ($1 > rounds) rounds = $1 }
  function median(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    ns = split(services, s, " "); nc = split(counts, c, " ")
    for (i = 1; i <= ns; i++) {
      for (k = 1; k <= nc; k++) {
        for (r = 1; r <= rounds; r++) {
          x[r] = v[r, s[i], c[k]] / v[r, s[i], c[1]]
          printf "| %s | %d | %d | %.0f | %.1f | %d | %.2f |\n", s[i], c[k], r, v[r, s[i], c[k]], p99[r, s[i], c[k]],
                 err[r, s[i], c[k]], x[r]
        }
        printf "| **%s, median of rounds** | **%d** | | | | | **%.2f** |\n", s[i], c[k], median(x, rounds)
      }
    }
  }' "$work/results"

echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%H:%M UTC')"
