#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test,
# then the sanitizer build (ASan + UBSan: unit, fuzz and property targets).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" --timeout 600
# The property tests' seeds (the fresh one differs every run) and outcomes:
# ctest keeps a passing test's output only in its log.
grep -h '^\[property\]' "${BUILD_DIR:-build}/Testing/Temporary/LastTest.log" || true
bash tools/sanitize.sh
