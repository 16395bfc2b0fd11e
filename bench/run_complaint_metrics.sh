#!/usr/bin/env bash
# GetComplaintMetrics over 1,000,000 tickets: complaint_seed fills a fresh
# database through the service's store and times the raw SQLite read of the
# metric rows (the baseline); then a care_complaint on that database answers
# GetComplaintMetrics (a year, grouped by channel and tier) one call at a
# time. Prints the RPC's p50/p99 latency, the raw scan, and their ratio.
#
#   bash bench/run_complaint_metrics.sh   # after ninja -C build care_complaint care_load complaint_seed
#
# Settings (environment): TICKETS=1000000 DURATION=20s BUILD_DIR=<repo>/build
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
TICKETS=${TICKETS:-1000000}
DURATION=${DURATION:-20s}

source "$(dirname "$0")/common.sh" "admin,service,supervisor"

seed=$("$build/bench/complaint_seed" --data_dir="$work/data" --tickets="$TICKETS")
echo "seed: $seed" >&2
"$build/services/complaint/care_complaint" --port=0 --port_file="$work/port" --listen_host=127.0.0.1 \
    --data_dir="$work/data" --tokens_file="$work/tokens" --log_level=warn >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
common=(--target=127.0.0.1:$(cat "$work/port") --token="$token" --connections=1 --inflight=1 --json)
metrics=$("$build/bench/care_load" "${common[@]}" --scenario=complaint_metrics --duration="$DURATION" --warmup=2s \
          2>/dev/null)
scan=$(field raw_scan_ms "$seed")
echo "tickets raw_scan_ms metrics_p50_ms metrics_p99_ms ratio_p50_to_scan errors"
echo "$TICKETS $scan $(field p50_ms "$metrics") $(field p99_ms "$metrics")" \
     "$(awk -v a="$(field p50_ms "$metrics")" -v b="$scan" 'BEGIN{printf "%.2f", a/b}') $(field errors "$metrics")"
