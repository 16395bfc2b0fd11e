# Sourced by the bench/run_*.sh scripts: a scratch directory removed on exit
# (with the server in $pid stopped first), a fresh bearer token with `roles`
# in $work/tokens, a tombstone key every service reads (CARE_PRIVACY_KEY_FILE),
# field NAME JSON to read one number from care_load --json,
# and cpu_ticks PID (utime + stime, in units of $clk_tck per second).
#   source "$(dirname "$0")/common.sh" "admin,service"
work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
token=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
echo "$token bench $1" >"$work/tokens"
(umask 077; echo "bench $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$work/privacy_key")
export CARE_PRIVACY_KEY_FILE=$work/privacy_key
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
