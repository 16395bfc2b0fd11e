#!/usr/bin/env bash
# The services' durable writes on PostgreSQL against their baselines, same
# run, same machine: a private PostgreSQL 15 cluster with its durable
# defaults (tests/harness/postgres.sh with PG_DURABLE=1: fsync,
# synchronous_commit and full_page_writes on), and per round
#   - raw_insert on each engine: one connection, one row per transaction
#     (PostgreSQL through libpq; SQLite in WAL mode, synchronous=FULL);
#   - RecordPurchase (care_loyalty, loyalty_record_purchase), Quote +
#     RedeemQuote (care_promotion, promotion_redeem: guest carts, no loyalty
#     needed) and CreateComplaint (care_complaint, complaint_create), each
#     against a fresh service on SQLite (--data_dir) and on PostgreSQL (a
#     fresh database, --database_url + --database_password_file).
# Then, once: the alert fan-out (notification_fanout, FANOUT_MEMBERS
# members) and GetComplaintMetrics over TICKETS tickets (complaint_seed, then
# care_complaint), each on both engines with its own raw baseline.
# Prints each figure and its ratios: PG service / PG raw, PG service /
# SQLite service, SQLite service / SQLite raw (per round, and the median).
# The machine is shared: compare ratios, not rows/s or calls/s across runs.
#
#   ninja -C build care_load care_loyalty care_promotion care_complaint raw_insert \
#       notification_fanout complaint_seed
#   bash bench/run_postgres.sh
#   FANOUT_MEMBERS=1000000 TICKETS=1000000 SERVICES= bash bench/run_postgres.sh   # the issue's sizes only
#
# Settings (environment): ROUNDS=2 DURATION=5s WARMUP=1s CONNECTIONS=4
# INFLIGHT=4 RAW_DURATION=5s SERVICES="loyalty promotion complaint"
# FANOUT_MEMBERS=20000 TICKETS=100000 METRICS_DURATION=10s (0 skips the
# fan-out or the metrics) BUILD_DIR=<repo>/build PG_BIN=/usr/lib/postgresql/15/bin
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-4}
INFLIGHT=${INFLIGHT:-4}
RAW_DURATION=${RAW_DURATION:-5s}
SERVICES=${SERVICES-loyalty promotion complaint}
FANOUT_MEMBERS=${FANOUT_MEMBERS:-20000}
TICKETS=${TICKETS:-100000}
METRICS_DURATION=${METRICS_DURATION:-10s}

# Only the binaries the chosen figures need.
bins=()
[[ -n $SERVICES ]] && bins+=(bench/care_load bench/raw_insert)
for svc in $SERVICES; do bins+=("services/$svc/care_$svc"); done
((FANOUT_MEMBERS > 0)) && bins+=(bench/notification_fanout)
((TICKETS > 0)) && bins+=(bench/care_load bench/complaint_seed services/complaint/care_complaint)
for bin in "${bins[@]}"; do
  [[ -x $build/$bin ]] || { echo "missing $build/$bin: see the ninja line at the top of $0" >&2; exit 1; }
done

# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh" "admin,service,agent,supervisor"

# shellcheck source=bench/postgres_env.sh
source "$(dirname "$0")/postgres_env.sh"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# PostgreSQL $(psql_do 'SHOW server_version'): fsync=$(psql_do 'SHOW fsync')" \
  "synchronous_commit=$(psql_do 'SHOW synchronous_commit') full_page_writes=$(psql_do 'SHOW full_page_writes')" \
  "shared_buffers=$(psql_do 'SHOW shared_buffers'); SQLite: WAL, synchronous=FULL"
echo "# services: $CONNECTIONS connections x $INFLIGHT in flight, $DURATION after $WARMUP warm-up; raw: $RAW_DURATION"

scenario_of() {
  case $1 in
    loyalty) echo loyalty_record_purchase ;;
    promotion) echo promotion_redeem ;;
    complaint) echo complaint_create ;;
  esac
}

# start_service SVC ENGINE DB_NAME_OR_DIR [extra flags]: a fresh service in $pid.
start_service() {
  local svc=$1 engine=$2 where=$3
  shift 3
  local args=(--port=0 --port_file="$work/port" --listen_host=127.0.0.1 --tokens_file="$work/tokens"
              --log_level=warn "$@")
  if [[ $engine == postgres ]]; then
    args+=(--database_url="$where" --database_password_file="$pwfile")
  else
    args+=(--data_dir="$where")
  fi
  [[ $svc == loyalty ]] && args+=(--redis_port="$redis_port" --tier_cache_key_file="$work/tier_key")
  rm -f "$work/port"
  "$build/services/$svc/care_$svc" "${args[@]}" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    [[ -s $work/port ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "care_$svc on $engine did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
}

stop_service() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

# Appends "round figure per_s p99_ms errors" to $work/results.
record() { echo "$*" >>"$work/results"; }

run_raw() {
  local round=$1 engine=$2 json
  if [[ $engine == postgres ]]; then
    json=$("$build/bench/raw_insert" --database_url="$(new_db "raw_r$round")" --database_password_file="$pwfile" \
           --duration="$RAW_DURATION")
  else
    json=$("$build/bench/raw_insert" --data_dir="$work/raw-r$round" --duration="$RAW_DURATION")
  fi
  echo "round $round raw_insert $engine: $json" >&2
  record "$round raw_$engine $(field rows_per_s "$json") 0 0"
}

run_service() {
  local round=$1 svc=$2 engine=$3 where json
  if [[ $engine == postgres ]]; then where=$(new_db "${svc}_r$round"); else where=$work/$svc-r$round; fi
  start_service "$svc" "$engine" "$where"
  json=$("$build/bench/care_load" --target="127.0.0.1:$(cat "$work/port")" --token="$token" \
         --scenario="$(scenario_of "$svc")" --connections="$CONNECTIONS" --inflight="$INFLIGHT" \
         --duration="$DURATION" --warmup="$WARMUP" --run_id="r$round-$engine-$$" --json 2>"$work/load.err") || true
  stop_service
  [[ -n $json ]] || { echo "care_load failed against care_$svc on $engine:" >&2; cat "$work/load.err" >&2; exit 1; }
  echo "round $round $svc $engine: $json" >&2
  record "$round ${svc}_$engine $(field calls_per_s "$json") $(field p99_ms "$json") $(field errors "$json")"
}

: >"$work/results"
for round in $(seq "$ROUNDS"); do
  # Even rounds run the engines in the other order, so a drift in the
  # machine's load does not always favour the same one.
  engines="sqlite postgres"
  ((round % 2 == 0)) && engines="postgres sqlite"
  [[ -n $SERVICES ]] && for engine in $engines; do run_raw "$round" "$engine"; done
  for svc in $SERVICES; do
    for engine in $engines; do run_service "$round" "$svc" "$engine"; done
  done
done

if [[ -n $SERVICES ]]; then
  echo
  echo "| figure | round | per s (rows or calls) | p99 ms | errors | × PG raw | × SQLite service | SQLite service × SQLite raw |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|"
  awk -v services="$SERVICES" '
    { v[$1, $2] = $3; p99[$1, $2] = $4; err[$1, $2] = $5; if ($1 > rounds) rounds = $1 }
    function median(a, n,    i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
      for (r = 1; r <= rounds; r++) {
        printf "| raw insert, PostgreSQL | %d | %.0f | | | 1 | | |\n", r, v[r, "raw_postgres"]
        printf "| raw insert, SQLite | %d | %.0f | | | | | 1 |\n", r, v[r, "raw_sqlite"]
      }
      ns = split(services, s, " ")
      for (i = 1; i <= ns; i++) {
        pg = s[i] "_postgres"; lite = s[i] "_sqlite"
        for (r = 1; r <= rounds; r++) {
          a[r] = v[r, pg] / v[r, "raw_postgres"]; b[r] = v[r, pg] / v[r, lite]; c[r] = v[r, lite] / v[r, "raw_sqlite"]
          printf "| %s, PostgreSQL | %d | %.0f | %.1f | %d | %.2f | %.2f | |\n", s[i], r, v[r, pg], p99[r, pg], err[r, pg], a[r], b[r]
          printf "| %s, SQLite | %d | %.0f | %.1f | %d | | | %.2f |\n", s[i], r, v[r, lite], p99[r, lite], err[r, lite], c[r]
        }
        printf "| **%s, median of rounds** | | | | | **%.2f** | **%.2f** | **%.2f** |\n", s[i], median(a, rounds),
               median(b, rounds), median(c, rounds)
      }
    }' "$work/results"
fi

if ((FANOUT_MEMBERS > 0)); then
  echo
  echo "| fan-out of one alert to $FANOUT_MEMBERS in-app inboxes | end to end s | raw insert of the same rows s | ratio | three-table COPY s | ratio |"
  echo "|---|--:|--:|--:|--:|--:|"
  lite=$("$build/bench/notification_fanout" --members="$FANOUT_MEMBERS" --data_dir="$work/fanout")
  echo "fan-out sqlite: $lite" >&2
  pg=$("$build/bench/notification_fanout" --members="$FANOUT_MEMBERS" --data_dir="$work/fanout-pg" \
       --database_url="$(new_db fanout)" --database_password_file="$pwfile")
  echo "fan-out postgres: $pg" >&2
  echo "| SQLite (raw: synthetic rows of three tables through the same Database class) | $(field fan_out_s "$lite") | $(field baseline_s "$lite") | $(field ratio "$lite") | | |"
  echo "| PostgreSQL (raw: COPY of the rows the fan-out stored into clones of its six tables, one transaction per batch) | $(field fan_out_s "$pg") | $(field baseline_s "$pg") | $(field ratio "$pg") | $(field three_tables_s "$pg") | $(field ratio_three_tables "$pg") |"
  awk -v a="$(field fan_out_s "$pg")" -v b="$(field fan_out_s "$lite")" \
    'BEGIN { printf "\nfan-out, PostgreSQL ÷ SQLite end to end: %.2f\n", a / b }'
fi

if ((TICKETS > 0)); then
  echo
  echo "| GetComplaintMetrics over $TICKETS tickets | seed s | raw scan ms | metrics p50 ms | p99 ms | errors | p50 × raw scan |"
  echo "|---|--:|--:|--:|--:|--:|--:|"
  for engine in sqlite postgres; do
    if [[ $engine == postgres ]]; then
      where=$(new_db metrics)
      seed=$("$build/bench/complaint_seed" --database_url="$where" --database_password_file="$pwfile" --tickets="$TICKETS")
    else
      where=$work/metrics
      seed=$("$build/bench/complaint_seed" --data_dir="$where" --tickets="$TICKETS")
    fi
    echo "seed $engine: $seed" >&2
    start_service complaint "$engine" "$where"
    metrics=$("$build/bench/care_load" --target="127.0.0.1:$(cat "$work/port")" --token="$token" \
              --scenario=complaint_metrics --connections=1 --inflight=1 --duration="$METRICS_DURATION" --warmup=2s \
              --timeout=60s --json 2>/dev/null) || true
    stop_service
    echo "metrics $engine: $metrics" >&2
    echo "| $engine | $(field seed_s "$seed") | $(field raw_scan_ms "$seed") | $(field p50_ms "$metrics") |" \
      "$(field p99_ms "$metrics") | $(field errors "$metrics") |" \
      "$(awk -v a="$(field p50_ms "$metrics")" -v b="$(field raw_scan_ms "$seed")" 'BEGIN { printf "%.2f", a / b }') |"
  done
fi

echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%H:%M UTC')"
