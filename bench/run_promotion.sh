#!/usr/bin/env bash
# Quote cost as live campaigns grow: for each N, a fresh care_promotion, then
# ROUNDS rounds of the Ping baseline followed by promotion_quote_N (20-line
# cart, 22 applicable campaigns), both against the same process; "typical" is
# 100 live campaigns of which 4 apply. Prints per round N, Ping calls/s,
# Quote calls/s, ratio, Ping p99, Quote p99, then the median ratio (this
# machine is shared: one round's ratio moves by +-0.05).
#
#   bash bench/run_promotion.sh     # after ninja -C build care_promotion care_load
#
# Settings (environment): COUNTS="10 100 typical 1000 10000" CONNECTIONS=4 INFLIGHT=2
# DURATION=10s WARMUP=2s ROUNDS=3 BUILD_DIR=<repo>/build
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
COUNTS=${COUNTS:-10 100 typical 1000 10000}
CONNECTIONS=${CONNECTIONS:-4}
INFLIGHT=${INFLIGHT:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}

source "$(dirname "$0")/common.sh" "admin,service"

echo "campaigns round ping/s quote/s ratio ping_p99_ms quote_p99_ms quote_errors"
for n in $COUNTS; do
  rm -rf "$work/data" && mkdir -p "$work/data"
  rm -f "$work/port"
  "$build/services/promotion/care_promotion" --port=0 --port_file="$work/port" --listen_host=127.0.0.1 \
      --data_dir="$work/data" --tokens_file="$work/tokens" --log_level=warn >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
  target=127.0.0.1:$(cat "$work/port")
  scenario=promotion_quote_$n
  [[ $n == 100 ]] && scenario=promotion_quote
  # One run id per count: later rounds replay the setup instead of adding
  # campaigns, so every round measures the same N.
  common=(--target="$target" --token="$token" --connections="$CONNECTIONS" --inflight="$INFLIGHT"
          --duration="$DURATION" --warmup="$WARMUP" --json --run_id="r$n-$$")
  ratios=()
  for round in $(seq "$ROUNDS"); do
    ping=$("$build/bench/care_load" "${common[@]}" --scenario=ping 2>/dev/null)
    quote=$("$build/bench/care_load" "${common[@]}" --scenario="$scenario" 2>/dev/null)
    p=$(field calls_per_s "$ping"); q=$(field calls_per_s "$quote")
    r=$(awk -v a="$q" -v b="$p" 'BEGIN{printf "%.2f", a/b}')
    ratios+=("$r")
    echo "$n $round $p $q $r $(field p99_ms "$ping") $(field p99_ms "$quote") $(field errors "$quote")"
  done
  echo "$n median ratio $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
