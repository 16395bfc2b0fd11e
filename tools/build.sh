#!/usr/bin/env bash
# Configures and builds CareSuite into ./build (or $BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
launcher=()
# ccache, when present, lets several checkouts (worktrees) share object files.
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "${launcher[@]}" >/dev/null
# One job more than cores: compiling generated gRPC code is CPU-bound.
ninja -C "$build_dir" -j "${JOBS:-$(( $(nproc) + 1 ))}"
