#!/usr/bin/env bash
# GetComplaintMetrics over 1,000,000 tickets on each engine, same run:
# complaint_seed fills a fresh database through the service's store and times
# the baselines (the metric rows of every ticket read straight from the
# database into the store's row type, no aggregation, no RPC: through the
# store, raw_scan_ms, and as the store read them before it packed the small
# columns on PostgreSQL, one value per column, wide_scan_ms), after rolling
# the year up with the service's complaint.metrics_rollup job (rollup_s;
# ROLLUP=false leaves every day dirty: the metrics then read every ticket, as
# before the rollups); then a care_complaint on that database answers
# GetComplaintMetrics (a year, grouped by channel and tier) one call at a
# time. On PostgreSQL (a private
# PostgreSQL 15 cluster with its durable defaults, tests/harness/postgres.sh
# PG_DURABLE=1) the scans and the calls are timed twice: as seeded, and after
# VACUUM ANALYZE (what autovacuum does to a table within its naptime; it sets
# the visibility map that lets the metrics read the covering index alone).
# Prints one line per engine and state: the RPC's p50/p99 latency, the
# baselines, and the p50's ratio to each.
#
#   ninja -C build care_complaint care_load complaint_seed
#   bash bench/run_complaint_metrics.sh
#
# Settings (environment): TICKETS=1000000 DURATION=10s ENGINES="sqlite postgres" ROLLUP=true
# BUILD_DIR=<repo>/build PG_BIN=/usr/lib/postgresql/15/bin
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
TICKETS=${TICKETS:-1000000}
DURATION=${DURATION:-10s}
ENGINES=${ENGINES:-sqlite postgres}
ROLLUP=${ROLLUP:-true}
# Without rollups the service's job stays off too (it would roll up while timed).
rollup_args=()
[[ $ROLLUP == true ]] || rollup_args=(--metrics_rollup_interval=0)

for bin in bench/care_load bench/complaint_seed services/complaint/care_complaint; do
  [[ -x $build/$bin ]] || { echo "missing $build/$bin: see the ninja line at the top of $0" >&2; exit 1; }
done

# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh" "admin,service,supervisor"

pgdir=$(mktemp -d /tmp/care-bench-pg.XXXXXX)
chmod 711 "$pgdir"
stop_all() {
  cleanup
  bash "$repo/tests/harness/postgres.sh" stop "$pgdir/cluster" >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

pwfile=$pgdir/cluster/password
if [[ $ENGINES == *postgres* ]]; then
  PG_DURABLE=1 bash "$repo/tests/harness/postgres.sh" start "$pgdir/cluster" >&2
  url=$(cat "$pgdir/cluster/url")
fi
psql_do() { PGPASSWORD=$(cat "$pwfile") psql -X -q -t -A -v ON_ERROR_STOP=1 "$1" -c "$2"; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# where ARGS for complaint_seed and care_complaint on the engine's database.
db_args=()
metrics() {
  rm -f "$work/port"
  "$build/services/complaint/care_complaint" --port=0 --port_file="$work/port" --listen_host=127.0.0.1 \
    --tokens_file="$work/tokens" --log_level=warn "${db_args[@]}" "${rollup_args[@]}" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do [[ -s $work/port ]] && break; sleep 0.1; done
  [[ -s $work/port ]] || { echo "care_complaint did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
  "$build/bench/care_load" --target="127.0.0.1:$(cat "$work/port")" --token="$token" --scenario=complaint_metrics \
    --connections=1 --inflight=1 --duration="$DURATION" --warmup=2s --timeout=60s --json 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

report() {
  local label=$1 scans=$2 calls=$3
  local p50 raw wide
  p50=$(field p50_ms "$calls") raw=$(field raw_scan_ms "$scans") wide=$(field wide_scan_ms "$scans")
  echo "| $label | $(field rows_scanned "$scans") | $wide | $raw | $p50 | $(field p99_ms "$calls") | $(field errors "$calls") |" \
    "$(awk -v a="$p50" -v b="$wide" 'BEGIN { printf "%.2f", a / b }') |" \
    "$(awk -v a="$p50" -v b="$raw" 'BEGIN { printf "%.2f", a / b }') |"
}

lines=()
for engine in $ENGINES; do
  if [[ $engine == postgres ]]; then
    psql_do "$url/postgres" "CREATE DATABASE metrics" >/dev/null
    db_args=(--database_url="$url/metrics" --database_password_file="$pwfile")
  else
    db_args=(--data_dir="$work/sqlite")
  fi
  seed=$("$build/bench/complaint_seed" "${db_args[@]}" --tickets="$TICKETS" --rollup="$ROLLUP")
  echo "seed $engine: $seed" >&2
  calls=$(metrics)
  echo "metrics $engine: $calls" >&2
  lines+=("$(report "$engine, as seeded ($(field seed_s "$seed") s, rolled up in $(field rollup_s "$seed") s)" "$seed" "$calls")")
  if [[ $engine == postgres ]]; then
    psql_do "$url/metrics" "VACUUM (ANALYZE)"
    scans=$("$build/bench/complaint_seed" "${db_args[@]}" --seed=false --rollup="$ROLLUP")
    echo "scans $engine vacuumed: $scans" >&2
    calls=$(metrics)
    echo "metrics $engine vacuumed: $calls" >&2
    lines+=("$(report "$engine, after VACUUM ANALYZE" "$scans" "$calls")")
  fi
done

echo
echo "| GetComplaintMetrics over $TICKETS tickets | rows | wide scan ms | store scan ms | metrics p50 ms | p99 ms | errors | p50 × wide scan | p50 × store scan |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
printf '%s\n' "${lines[@]}"
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%H:%M UTC')"
