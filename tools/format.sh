#!/usr/bin/env bash
# Formats C++ files in place with clang-format-14 and the top-level .clang-format.
#   tools/format.sh            every tracked .cc/.h under common services clients tests bench fuzz tools
#   tools/format.sh FILE...    only these
# tools/lint.sh checks the same files in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=${CLANG_FORMAT:-clang-format-14}
if [ $# -gt 0 ]; then
  printf '%s\0' "$@"
else
  git ls-files -z -- {common,services,clients,tests,bench,fuzz,tools}/'*.cc' {common,services,clients,tests,bench,fuzz,tools}/'*.h'
fi | xargs -0 -r -n 25 -P "$(nproc)" "$clang_format" --style=file -i
