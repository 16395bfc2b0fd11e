#!/usr/bin/env bash
# The sanitizer part of the README's test command (tools/test.sh): builds the
# unit tests of common/, the fuzz targets and (when present) the property
# tests with clang-14, AddressSanitizer and UndefinedBehaviorSanitizer (any
# undefined behaviour aborts) into ./build-sanitize, then runs
#   1. the unit tests of common/,
#   2. every fuzz target over its checked-in corpus, then fuzzing each for
#      FUZZ_SECONDS (default 20) from that corpus,
#   3. the property tests (ctest -L property), if the tree has them.
# Prints how long the build and each step took. docs/fuzzing.md has longer
# campaigns; tools/sanitize_integration.sh runs the integration suite too.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SANITIZE_BUILD_DIR:-build-sanitize}
fuzz_seconds=${FUZZ_SECONDS:-20}
jobs=${JOBS:-$(( $(nproc) + 1 ))}
cxx=${SANITIZE_CXX:-clang++-14}
fuzzers=(errors requests pricing quote_token business_time templates egress)

launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi

step_start=$SECONDS
step() {  # step <what>: prints the time the previous step took
  echo "sanitize.sh: $1 ($(( SECONDS - step_start )) s since start)"
}

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCARE_SANITIZE=ON -DCARE_FUZZ=ON "${launcher[@]}" >/dev/null

targets=(common_test)
for f in "${fuzzers[@]}"; do targets+=("${f}_fuzzer"); done
# Property tests (the executables of tests/property, label "property") start
# the real service binaries: build those too, but only when such tests exist.
property_targets=()
if [ -d tests/property ]; then
  mapfile -t property_targets < <(ninja -C "$build_dir" -t targets all |
    sed -n 's#^tests/property/\([A-Za-z0-9_]*\): CXX_EXECUTABLE_LINKER.*#\1#p')
  if [ ${#property_targets[@]} -gt 0 ]; then
    property_targets+=(care_loyalty care_promotion care_complaint care_notification care_test_server)
  fi
fi
ninja -C "$build_dir" -j "$jobs" "${targets[@]}" "${property_targets[@]}"
step "built"

# 1. Unit tests of common/ (one process; the harness starts its own redis).
"$build_dir/tests/unit/common_test" --gtest_brief=1
step "unit tests passed"

# 2. Fuzz targets: the checked-in corpus (CTest, label fuzz), then a short
# campaign each. New inputs go to $build_dir/fuzz-corpus, never the source
# tree; a crash is saved under $build_dir/fuzz-artifacts and fails the run.
ctest --test-dir "$build_dir" -L fuzz --output-on-failure
mkdir -p "$build_dir/fuzz-artifacts"
failed=()
for f in "${fuzzers[@]}"; do
  mkdir -p "$build_dir/fuzz-corpus/$f"
  if ! "$build_dir/fuzz/${f}_fuzzer" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build_dir/fuzz-artifacts/$f-" \
      "$build_dir/fuzz-corpus/$f" "fuzz/corpus/$f" > "$build_dir/fuzz-artifacts/$f.log" 2>&1; then
    failed+=("$f")
    tail -n 60 "$build_dir/fuzz-artifacts/$f.log"
  else
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$build_dir/fuzz-artifacts/$f.log" |
      sed "s/^/  $f: /"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitize.sh: fuzz targets failed: ${failed[*]}; inputs in $build_dir/fuzz-artifacts/" >&2
  echo "  replay one with: $build_dir/fuzz/<target>_fuzzer <input>" >&2
  exit 1
fi
step "fuzz targets passed (${fuzz_seconds} s each)"

# 3. Property tests, when the tree has them.
if [ ${#property_targets[@]} -gt 0 ] &&
    ctest --test-dir "$build_dir" -N -L property | grep -q 'Total Tests: [1-9]'; then
  # Instrumented binaries are slower: fewer steps per seed than the normal
  # build's run (SANITIZE_PROPERTY_STEPS; the tests' own defaults are 3000+).
  CARE_PROPERTY_STEPS=${SANITIZE_PROPERTY_STEPS:-1000} \
    ctest --test-dir "$build_dir" -L property --output-on-failure -j "$(nproc)" --timeout 900
  step "property tests passed"
else
  echo "sanitize.sh: no property tests in this tree"
fi
step "done"
