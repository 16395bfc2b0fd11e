#!/usr/bin/env bash
# The whole test suite, integration tests included, under ASan + UBSan: the
# service binaries, the harness and every test built by clang-14 into
# ./build-sanitize (the directory tools/sanitize.sh uses). Not part of CI:
# it needs a full instrumented build and runs 2-3 times slower than the
# normal suite; run it before a release or after a risky change to memory
# handling (docs/fuzzing.md, "Sanitizers"). Extra arguments go to ctest,
# e.g. `-R Promotion` or `-LE fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SANITIZE_BUILD_DIR:-build-sanitize}
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER="${SANITIZE_CXX:-clang++-14}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCARE_SANITIZE=ON -DCARE_FUZZ=ON "${launcher[@]}" >/dev/null
ninja -C "$build_dir" -j "${JOBS:-$(( $(nproc) + 1 ))}"
# Instrumented binaries start and answer slower: a longer per-test timeout.
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 1800 "$@"
