#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test,
# then the sanitizer build (ASan + UBSan: unit, fuzz and property targets).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" --timeout 600
bash tools/sanitize.sh
