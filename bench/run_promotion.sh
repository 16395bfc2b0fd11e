#!/usr/bin/env bash
# Quote cost as live campaigns grow: for each N, a fresh care_promotion, the
# Ping baseline, then promotion_quote_N (20-line cart, 22 applicable
# campaigns), both against the same process in the same run; "typical" is
# 100 live campaigns of which 4 apply. Prints N, Ping calls/s, Quote calls/s,
# ratio, Ping p99, Quote p99.
#
#   bash bench/run_promotion.sh     # after ninja -C build care_promotion care_load
#
# Settings (environment): COUNTS="10 100 typical 1000 10000" CONNECTIONS=4 INFLIGHT=2
# DURATION=10s WARMUP=2s BUILD_DIR=<repo>/build
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
COUNTS=${COUNTS:-10 100 typical 1000 10000}
CONNECTIONS=${CONNECTIONS:-4}
INFLIGHT=${INFLIGHT:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}

source "$(dirname "$0")/common.sh" "admin,service"

echo "campaigns ping/s quote/s ratio ping_p99_ms quote_p99_ms quote_errors"
for n in $COUNTS; do
  rm -rf "$work/data" && mkdir -p "$work/data"
  rm -f "$work/port"
  "$build/services/promotion/care_promotion" --port=0 --port_file="$work/port" --listen_host=127.0.0.1 \
      --data_dir="$work/data" --tokens_file="$work/tokens" --log_level=warn >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
  target=127.0.0.1:$(cat "$work/port")
  common=(--target="$target" --token="$token" --connections="$CONNECTIONS" --inflight="$INFLIGHT"
          --duration="$DURATION" --warmup="$WARMUP" --json)
  ping=$("$build/bench/care_load" "${common[@]}" --scenario=ping 2>/dev/null)
  quote=$("$build/bench/care_load" "${common[@]}" --scenario=promotion_quote_$n 2>/dev/null || true)
  [[ $n == 100 ]] && quote=$("$build/bench/care_load" "${common[@]}" --scenario=promotion_quote 2>/dev/null)
  p=$(field calls_per_s "$ping"); q=$(field calls_per_s "$quote")
  echo "$n $p $q $(awk -v a="$q" -v b="$p" 'BEGIN{printf "%.2f", a/b}') $(field p99_ms "$ping") $(field p99_ms "$quote") $(field errors "$quote")"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
