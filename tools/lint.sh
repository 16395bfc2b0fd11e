#!/usr/bin/env bash
# Format check (clang-format-14) and static checks (clang-tidy-14); see docs/style.md.
#
#   tools/lint.sh                  clang-format on every C++ file, clang-tidy on the .cc files
#                                  changed since $LINT_BASE (default: the first parent, HEAD^)
#   tools/lint.sh --all            both on every file
#   tools/lint.sh --base <ref>     both on the files changed since <ref> (committed or not)
#   --format-only / --tidy-only    run one of the two
#
# clang-tidy reads ${BUILD_DIR:-build}/compile_commands.json and the generated protobuf headers:
# run tools/build.sh first. Runs $(nproc) clang-tidy processes (LINT_JOBS overrides). Prints every
# finding and a summary; exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-clang-format-14}
clang_tidy=${CLANG_TIDY:-clang-tidy-14}
build_dir=${BUILD_DIR:-build}
jobs=${LINT_JOBS:-$(nproc)}
dirs=(common services clients tests bench fuzz tools)

scope=default
base=${LINT_BASE:-}
run_format=1
run_tidy=1
while [ $# -gt 0 ]; do
  case $1 in
    --all) scope=all ;;
    --base) scope=base; base=${2:?--base needs a git ref}; shift ;;
    --format-only) run_tidy=0 ;;
    --tidy-only) run_format=0 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lint.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# The default base: LINT_BASE, else the first parent (a merge commit's parent 1, so the whole
# merged branch), else nothing to compare with (a shallow clone of depth 1): everything.
if [ "$scope" = default ]; then
  if [ -z "$base" ] && git rev-parse -q --verify HEAD^ >/dev/null; then base=HEAD^; fi
  if [ -z "$base" ]; then scope=all; fi
fi
if [ -n "$base" ] && [ "$scope" != all ]; then
  git rev-parse -q --verify "$base^{commit}" >/dev/null || { echo "lint.sh: unknown git ref $base" >&2; exit 2; }
fi

all_cxx() { git ls-files -- "${dirs[@]/%//*.cc}" "${dirs[@]/%//*.h}"; }
# Tracked or modified files changed since the merge base with $base that still exist.
changed_cxx() {
  git diff --name-only --diff-filter=d "$(git merge-base "$base" HEAD)" -- "${dirs[@]/%//*.cc}" "${dirs[@]/%//*.h}"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

if [ "$scope" = all ]; then all_cxx >"$tmp/changed"; else changed_cxx >"$tmp/changed"; fi

# --- clang-format: cheap, so every file unless --base names a range ---
if [ "$run_format" = 1 ]; then
  if [ "$scope" = base ]; then cp "$tmp/changed" "$tmp/format"; else all_cxx >"$tmp/format"; fi
  mkdir "$tmp/format.out"
  # One output file per checked file: parallel writers must not interleave.
  tr '\n' '\0' <"$tmp/format" | xargs -0 -r -n 25 -P "$jobs" sh -c '
    clang_format=$1 out=$2; shift 2
    for f; do
      "$clang_format" --style=file --dry-run -Werror "$f" >"$out/$(printf %s "$f" | tr / _)" 2>&1 || true
    done' sh "$clang_format" "$tmp/format.out"
  bad=$(cat "$tmp/format.out"/* 2>/dev/null \
    | sed -n 's/^\([^: ]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
  # Anything else clang-format says (a bad .clang-format, an unreadable file) is an error of its own.
  other=$(cat "$tmp/format.out"/* 2>/dev/null | grep -E '^[^ ]+:[0-9]+:[0-9]+: error: |^(Error|error|YAML|Invalid|Configuration)' \
    | grep -v 'code should be clang-formatted' || true)
  checked=$(grep -c . "$tmp/format" || true)
  if [ -n "$other" ]; then
    echo "clang-format failed:" >&2; echo "$other" | head -20 >&2
    status=1
  elif [ -n "$bad" ]; then
    echo "clang-format: $(grep -c . <<<"$bad") of $checked files are not formatted (run tools/format.sh):"
    sed 's/^/  /' <<<"$bad"
    status=1
  else
    echo "clang-format: $checked files formatted"
  fi
fi

# --- clang-tidy: the .cc files in scope, plus those that include a changed header ---
if [ "$run_tidy" = 1 ]; then
  db="$build_dir/compile_commands.json"
  [ -f "$db" ] || { echo "lint.sh: $db is missing: run tools/build.sh first" >&2; exit 2; }
  # A changed .clang-tidy changes the verdict on every file.
  if [ "$scope" != all ] && git diff --name-only "$(git merge-base "$base" HEAD)" -- .clang-tidy | grep -q .; then
    echo "lint.sh: .clang-tidy changed since $base: clang-tidy checks every file"
    all_cxx >"$tmp/changed"
  fi
  { grep '\.cc$' "$tmp/changed" || true
    { grep '\.h$' "$tmp/changed" || true; } | while read -r header; do
      git grep -l -F "#include \"$header\"" -- "${dirs[@]/%//*.cc}" || true
    done
  } | sort -u >"$tmp/tidy.candidates"
  # Only what the build compiles (compile_commands.json has absolute paths).
  sed -n 's/^ *"file": "\(.*\)",\{0,1\}$/\1/p' "$db" | sed "s|^$PWD/||" | sort -u >"$tmp/compiled"
  comm -12 "$tmp/tidy.candidates" "$tmp/compiled" >"$tmp/tidy"
  comm -23 "$tmp/tidy.candidates" "$tmp/compiled" | sed 's/^/lint.sh: not in the build, not checked: /' >&2
  n=$(grep -c . "$tmp/tidy" || true)
  if [ "$n" = 0 ]; then
    echo "clang-tidy: no changed .cc file${base:+ since $base}"
  else
    echo "clang-tidy: $n files${base:+ (changed since $base)}, $jobs in parallel ..."
    started=$(date +%s)
    mkdir "$tmp/tidy.out"
    # One log per file; a file's non-zero exit (a finding or a compile error) is counted below.
    tr '\n' '\0' <"$tmp/tidy" | xargs -0 -n 1 -P "$jobs" sh -c '
      log="$3/$(printf %s "$4" | tr / _).log"
      "$1" -p "$2" --quiet "$4" >"$log" 2>&1 || echo "$4" >>"$3/failed"' sh "$clang_tidy" "$build_dir" "$tmp/tidy.out" \
      || true
    # A header's finding shows once per file that includes it: print each once.
    cat "$tmp/tidy.out"/*.log | sed "s|$PWD/||" >"$tmp/tidy.all"
    grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error): ' "$tmp/tidy.all" | sort -u >"$tmp/findings" || true
    awk '/^[^ ].*:[0-9]+:[0-9]+: (warning|error): /{keep = !seen[$0]++} keep' "$tmp/tidy.all" \
      | grep -v -E '^(Suppressed|Use -header-filter|[0-9]+ (warning|error)s? (generated|treated))' || true
    echo "clang-tidy: $n files in $(( $(date +%s) - started )) s"
    if [ -s "$tmp/findings" ]; then
      echo "clang-tidy: $(grep -c . "$tmp/findings") findings by check:"
      grep -o '\[[a-z0-9.,_-]*\]$' "$tmp/findings" | tr -d '[]' | sed 's/,-warnings-as-errors//' \
        | sort | uniq -c | sort -rn | sed 's/^/  /'
      echo "clang-tidy: findings by file:"
      cut -d: -f1 "$tmp/findings" | sort | uniq -c | sort -rn | sed 's/^/  /'
      status=1
    elif [ -s "$tmp/tidy.out/failed" ]; then
      echo "clang-tidy failed on:"; sed 's/^/  /' "$tmp/tidy.out/failed"
      status=1
    else
      echo "clang-tidy: no findings"
    fi
  fi
fi
exit $status
