#!/usr/bin/env bash
# Regenerates the `## Roles` table of docs/security.md from the .proto access
# options (through the compiled descriptors), then checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
ninja -C "$build" roles_table_test >/dev/null
CARE_UPDATE_ROLES_TABLE=1 "$build/tests/roles_table_test" >/dev/null || true
"$build/tests/roles_table_test" --gtest_brief=1
