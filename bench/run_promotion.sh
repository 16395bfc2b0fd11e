#!/usr/bin/env bash
# Quote cost as live campaigns grow: for each N, a fresh care_promotion, then
# ROUNDS rounds of the Ping baseline followed by promotion_quote_N (20-line
# cart, 22 applicable campaigns, the default BASIC view), both against the
# same process; "typical" is 100 live campaigns of which 4 apply, "full" the
# 100-campaign case asking for QUOTE_VIEW_FULL. Prints per round N, Ping calls/s,
# Quote calls/s, ratio, Ping p99, Quote p99, then the CPU each call took in
# the server and in the load generator (µs, warm-up included) and
# the CPU ratio (Ping's server+client CPU per call over Quote's), then the
# medians. The client shares the cores with the server, so throughput
# follows both; CPU per call is the steadier figure on a shared machine,
# where one round's throughput ratio moves by +-0.05.
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

echo "campaigns round ping/s quote/s ratio ping_p99_ms quote_p99_ms quote_errors ping_cpu_us(server+client) quote_cpu_us(server+client) cpu_ratio"
# µs of CPU per call: server ticks before and after, the run's JSON.
per_call() {
  awk -v a="$1" -v b="$2" -v t="$clk_tck" -v c="$(field calls_total "$3")" -v cl="$(field cpu_s "$3")" \
      'BEGIN{printf "%.0f+%.0f", (b - a) / t / c * 1e6, cl / c * 1e6}'
}
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
  common=(--target="$target" --token="$token" --connections="$CONNECTIONS" --inflight="$INFLIGHT"
          --duration="$DURATION" --warmup="$WARMUP" --json --run_id="r$n-$$")
  # The campaigns are created once, by a short unmeasured run; the rounds
  # then skip setup, so each measures only the calls.
  "$build/bench/care_load" "${common[@]}" --scenario="$scenario" --duration=1s --warmup=0s >/dev/null 2>&1
  ratios=() cpu_ratios=()
  for round in $(seq "$ROUNDS"); do
    c0=$(cpu_ticks "$pid")
    ping=$("$build/bench/care_load" "${common[@]}" --scenario=ping 2>/dev/null)
    c1=$(cpu_ticks "$pid")
    quote=$("$build/bench/care_load" "${common[@]}" --scenario="$scenario" --setup=false 2>/dev/null)
    c2=$(cpu_ticks "$pid")
    p=$(field calls_per_s "$ping"); q=$(field calls_per_s "$quote")
    r=$(awk -v a="$q" -v b="$p" 'BEGIN{printf "%.2f", a/b}')
    pc=$(per_call "$c0" "$c1" "$ping"); qc=$(per_call "$c1" "$c2" "$quote")
    cr=$(awk -v p="$pc" -v q="$qc" 'BEGIN{split(p, a, "+"); split(q, b, "+"); printf "%.2f", (a[1] + a[2]) / (b[1] + b[2])}')
    ratios+=("$r"); cpu_ratios+=("$cr")
    echo "$n $round $p $q $r $(field p99_ms "$ping") $(field p99_ms "$quote") $(field errors "$quote") $pc $qc $cr"
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
  echo "$n median ratio $(median "${ratios[@]}") cpu_ratio $(median "${cpu_ratios[@]}")"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
