#!/usr/bin/env bash
# Measures the empty-RPC baseline (Diagnostics.Ping) through each gRPC server
# API with bench_server and care_load, and prints each mode's figures as a
# ratio to the first mode, callback_pool (the suite's stack), measured in the
# same round: the machines here are shared and noisy, so only same-run ratios
# compare.
#
#   bash bench/run_baseline.sh            # after building bench_server and care_load
#
# Settings (environment): CONNECTIONS=16 INFLIGHT=8 DURATION=10s WARMUP=2s
# ROUNDS=2 MODES="callback_pool callback_inline sync" LOG_LEVELS="warn info"
# BUILD_DIR=<repo>/build SERVER_ARGS="" (extra bench_server flags for all modes).
# A mode is a bench_server --api value, optionally with its own flags after a
# colon, comma-separated: MODES="callback_pool callback_pool:--threads=2 sync:--sync_cqs=2".
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
server_bin=$build/bench/bench_server
load_bin=$build/bench/care_load
CONNECTIONS=${CONNECTIONS:-16}
INFLIGHT=${INFLIGHT:-8}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-2}
MODES=${MODES:-callback_pool callback_inline sync}
LOG_LEVELS=${LOG_LEVELS:-warn info}
SERVER_ARGS=${SERVER_ARGS:-}

for bin in "$server_bin" "$load_bin"; do
  [[ -x $bin ]] || { echo "missing $bin: run ninja -C $build bench_server care_load" >&2; exit 1; }
done

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

token=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
echo "$token bench service" >"$work/tokens"
clk_tck=$(getconf CLK_TCK)

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# A number from care_load's flat JSON line.
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }

# Appends one line to $work/results:
# round mode level calls/s p50 p99 p99.9 errors server-cpu-us-per-call
run_one() {
  local round=$1 mode=$2 level=$3
  local api=${mode%%:*} mode_args=""
  if [[ $mode == *:* ]]; then mode_args=${mode#*:}; mode_args=${mode_args//,/ }; fi
  rm -f "$work/port"
  # Server logs go to a file, as a container runtime would collect them.
  # shellcheck disable=SC2086  # SERVER_ARGS and mode_args are lists of flags
  "$server_bin" --api="$api" --log_level="$level" --listen_host=127.0.0.1 --port=0 \
    --port_file="$work/port" --tokens_file="$work/tokens" --data_dir="$work/data" $SERVER_ARGS \
    $mode_args 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 100); do
    [[ -s $work/port ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
  done
  [[ -s $work/port ]] || { echo "bench_server --api=$mode did not start" >&2; exit 1; }

  local before after json
  before=$(cpu_ticks "$server_pid")
  # care_load exits 1 when calls failed: keep going, the errors column shows it.
  json=$("$load_bin" --target="127.0.0.1:$(cat "$work/port")" --token="$token" --scenario=ping \
    --connections="$CONNECTIONS" --inflight="$INFLIGHT" --duration="$DURATION" --warmup="$WARMUP" \
    --json 2>/dev/null) || true
  after=$(cpu_ticks "$server_pid")
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  rm -f "$work/server.log"
  [[ -n $json ]] || { echo "care_load failed against --api=$mode" >&2; exit 1; }

  # Server CPU per call over everything care_load sent (warm-up included):
  # steadier than throughput when the client shares the machine.
  local total cpu_us
  total=$(field calls_total "$json")
  cpu_us=$(awk -v t="$((after - before))" -v hz="$clk_tck" -v n="$total" \
    'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')
  echo "$round $mode $level $(field calls_per_s "$json") $(field p50_ms "$json") $(field p99_ms "$json")" \
    "$(field p999_ms "$json") $(field errors "$json") $cpu_us" >>"$work/results"
  printf 'round %s  %-16s log=%-4s  %8.0f calls/s  p99 %s ms\n' "$round" "$mode" "$level" \
    "$(field calls_per_s "$json")" "$(field p99_ms "$json")" >&2
}

echo "ping: $CONNECTIONS connections x $INFLIGHT in flight, $DURATION after $WARMUP warm-up," \
  "$ROUNDS rounds, $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: >"$work/results"
for round in $(seq "$ROUNDS"); do
  # Even rounds run the modes in reverse, so a drift in the machine's load
  # does not always favour the same mode.
  modes=$MODES
  ((round % 2 == 0)) && modes=$(tr ' ' '\n' <<<"$MODES" | tac | tr '\n' ' ')
  for level in $LOG_LEVELS; do
    for mode in $modes; do run_one "$round" "$mode" "$level"; done
  done
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# Medians over rounds (robust to one disturbed round). The ratio is the median
# of each round's own ratio to the first mode at the same log level, with its
# range across rounds.
awk -v modes="$MODES" -v levels="$LOG_LEVELS" '
  function median(key, col,    n, i, j, v, t) {
    n = 0
    for (i = 1; (i, key) in val; i++) v[++n] = val[i, key, col]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  {
    key = $2 " " $3; val[$1, key] = 1
    for (c = 4; c <= 9; c++) val[$1, key, c] = $c
  }
  END {
    nm = split(modes, m, " "); nl = split(levels, l, " ")
    printf "| mode | server log | calls/s | p50 ms | p99 ms | p99.9 ms | server CPU µs/call | errors | × %s (range) |\n", m[1]
    print "|---|---|--:|--:|--:|--:|--:|--:|--:|"
    for (j = 1; j <= nl; j++) for (i = 1; i <= nm; i++) {
      key = m[i] " " l[j]; base = m[1] " " l[j]
      if (!((1, key) in val)) continue
      lo = 1e9; hi = 0; errors = 0
      for (rd = 1; (rd, key) in val; rd++) {
        errors += val[rd, key, 8]
        x = val[rd, base, 4] > 0 ? val[rd, key, 4] / val[rd, base, 4] : 0
        val[rd, key, 10] = x
        if (x < lo) lo = x; if (x > hi) hi = x
      }
      printf "| %s | %s | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %.2f (%.2f–%.2f) |\n", m[i], l[j],
             median(key, 4), median(key, 5), median(key, 6), median(key, 7), median(key, 9), errors,
             median(key, 10), lo, hi
    }
    # What logging every call at info costs, per mode, same round.
    if (nl > 1) {
      printf "\ncalls/s with the server logging at %s ÷ at %s (median of rounds):", l[2], l[1]
      for (i = 1; i <= nm; i++) {
        a = m[i] " " l[1]; b = m[i] " " l[2]
        for (rd = 1; (rd, a) in val && (rd, b) in val && val[rd, a, 4] > 0; rd++) {
          val[rd, "cost " m[i]] = 1
          val[rd, "cost " m[i], 4] = val[rd, b, 4] / val[rd, a, 4]
        }
        printf "  %s %.2f", m[i], median("cost " m[i], 4)
      }
      print ""
    }
  }' "$work/results"
