#!/usr/bin/env bash
# Installs everything CareSuite needs to build, test and run on Debian 12.
# Safe to run again: apt-get skips what is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libhiredis-dev libsqlite3-dev libgtest-dev libgmock-dev
  libcurl4-openssl-dev libssl-dev openssl nlohmann-json3-dev libicu-dev
  redis-server redis-sentinel sqlite3
  libpq-dev postgresql-15
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: run as root (or install sudo)" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${packages[@]}"

# --- operate (issue 7): manifest checks ---
# yaml-cpp parses `kubectl kustomize` output in tests/deploy. kubectl is on the
# machine image; where it is missing, Debian's kubernetes-client provides one
# (kubectl 1.20 with kustomize v2, which the overlays are written for).
$sudo apt-get install -y -q --no-install-recommends libyaml-cpp-dev
if ! command -v kubectl >/dev/null; then
  $sudo apt-get install -y -q --no-install-recommends kubernetes-client
fi

# --- issue 15: sanitizers and fuzzing (tools/sanitize.sh, docs/fuzzing.md) ---
# clang-14 with its runtime libraries (ASan, UBSan, libFuzzer) and
# llvm-symbolizer for readable stacks.
$sudo apt-get install -y -q --no-install-recommends clang-14 libclang-rt-14-dev llvm-14

# --- issue 18: carectl parses its command line with CLI11 (header-only) ---
$sudo apt-get install -y -q --no-install-recommends libcli11-dev

# --- issue 17: format and lint (tools/lint.sh, docs/style.md) ---
$sudo apt-get install -y -q --no-install-recommends clang-format-14 clang-tidy-14
