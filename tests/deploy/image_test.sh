#!/usr/bin/env bash
# The container image without a Docker engine: every shared library the
# shipped binaries load must come from a package the image has.
#
#   tests/deploy/image_test.sh [--without PKG]... DOCKERFILE BASE_PACKAGES BINARY...
#
# For each BINARY (built on this Debian 12 machine, the build stage's distro),
# `ldd` lists the libraries it loads; `dpkg -S` names the package of each. That
# package must be one the Dockerfile's runtime stage installs (its `apt-get
# install` list and, as apt would, their Depends: the closure is taken from
# this machine's dpkg database) or one the runtime base image has
# (BASE_PACKAGES, deploy/image/bookworm-slim.packages, taken from the same
# digest the runtime stage is pinned to). Also checks that every FROM is
# pinned by digest and that BASE_PACKAGES was taken from the runtime stage's.
#
# --without PKG drops PKG from the parsed install list: CTest runs it with
# libicu72 to show the check catches a missing package.
set -euo pipefail

without=()
while [ $# -gt 0 ] && [ "$1" = --without ]; do
  without+=("$2")
  shift 2
done
if [ $# -lt 3 ]; then
  sed -n '5p' "$0" | sed 's/^# *//' >&2
  exit 2
fi
dockerfile=$1
base_list=$2
shift 2
binaries=("$@")
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# --- Base images pinned by digest -------------------------------------------
# The Dockerfile with continuation lines joined.
joined=$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$dockerfile")
mapfile -t froms < <(awk 'toupper($1) == "FROM" {print $2}' <<<"$joined")
[ ${#froms[@]} -ge 2 ] || fail "$dockerfile: expected a build and a runtime stage, found ${#froms[@]} FROM"
for image in "${froms[@]}"; do
  if [[ ! $image =~ ^[a-z0-9./_-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$ ]]; then
    fail "FROM $image is not pinned by digest (<image>:<tag>@sha256:<64 hex digits>)"
  fi
done
runtime_image=${froms[${#froms[@]} - 1]}
# The list names the image it was taken from on its `# image:` line.
list_image=$(sed -n 's/^# image: *//p' "$base_list" | head -1)
if [ "$list_image" != "$runtime_image" ]; then
  fail "$base_list was taken from '$list_image', the runtime stage runs FROM $runtime_image: regenerate it (its header says how)"
fi

# --- What the runtime stage installs -----------------------------------------
# The runtime stage: everything after the last FROM.
runtime_stage=$(awk 'toupper($1) == "FROM" {stage = ""} {stage = stage $0 "\n"} END {printf "%s", stage}' <<<"$joined")
declare -A installed=()
while read -r pkg; do
  [ -n "$pkg" ] && installed[$pkg]=1
done < <(grep -oE 'apt-get install[^&;]*' <<<"$runtime_stage" | sed 's/^apt-get install//' | tr ' ' '\n' |
  grep -vE '^(-.*)?$' || true)
for pkg in "${without[@]}"; do unset "installed[$pkg]"; done
[ ${#installed[@]} -gt 0 ] || fail "the runtime stage installs no package (no apt-get install)"

# apt installs each package's Depends and Pre-Depends too: their closure, read
# from this machine's dpkg database (an alternative counts when installed here).
declare -A closure=()
queue=("${!installed[@]}")
while [ ${#queue[@]} -gt 0 ]; do
  pkg=${queue[0]}
  queue=("${queue[@]:1}")
  [ -n "${closure[$pkg]:-}" ] && continue
  closure[$pkg]=1
  deps=$(dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$pkg" 2>/dev/null) || continue
  while read -r dep; do
    dep=${dep%%:*}
    [ -n "$dep" ] && [ -z "${closure[$dep]:-}" ] && queue+=("$dep")
  done < <(tr ',|' '\n' <<<"$deps" | sed -e 's/([^)]*)//g' -e 's/^ *//' -e 's/ *$//')
done

declare -A base=()
while read -r pkg _; do
  [ -n "$pkg" ] && base[${pkg%%:*}]=1
done < <(grep -vE '^[[:space:]]*(#|$)' "$base_list")
[ ${#base[@]} -gt 20 ] || fail "$base_list lists ${#base[@]} packages: not a Debian base image"

# --- Every library each binary loads -------------------------------------------
declare -A loaded_by=()  # library path -> the first binary that loads it
for bin in "${binaries[@]}"; do
  if [ ! -x "$bin" ]; then
    fail "$bin: no such binary (build it first)"
    continue
  fi
  out=$(ldd "$bin" 2>&1) || {
    fail "$bin: ldd failed: $out"
    continue
  }
  if grep -q 'not found' <<<"$out"; then
    fail "$(basename "$bin") needs libraries this machine does not have: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')"
  fi
  while read -r lib; do
    [ -z "${loaded_by[$lib]:-}" ] && loaded_by[$lib]=$(basename "$bin")
  done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out")
done

# dpkg's database names a file by the path its package shipped: /lib or
# /usr/lib (merged /usr), or a symlink's target. One query for every candidate.
declare -A candidates=()  # library path -> its candidate paths
for lib in "${!loaded_by[@]}"; do
  real=$(realpath -e "$lib" 2>/dev/null || echo "$lib")
  list=""
  for c in "$lib" "$real"; do
    case $c in
      /usr/*) list+=" $c ${c#/usr}" ;;
      *) list+=" $c /usr$c" ;;
    esac
  done
  candidates[$lib]=$list
done
declare -A owner=()  # path -> package
while IFS= read -r line; do
  # "libc6:amd64, libc6-dev:amd64: /path"
  pkg=${line%%: /*}
  owner[${line#*: }]=${pkg%%:*}
done < <(printf '%s\n' ${candidates[@]+"${candidates[@]}"} | tr ' ' '\n' | grep . | sort -u | xargs -r dpkg -S 2>/dev/null |
  grep -v '^diversion' || true)

mapfile -t libs < <(printf '%s\n' "${!loaded_by[@]}" | sort)
for lib in "${libs[@]}"; do
  pkg=""
  for c in ${candidates[$lib]}; do
    if [ -n "${owner[$c]:-}" ]; then
      pkg=${owner[$c]}
      break
    fi
  done
  if [ -z "$pkg" ]; then
    fail "${loaded_by[$lib]} loads $lib, which no Debian package owns (built by hand? the image cannot have it)"
  elif [ -z "${closure[$pkg]:-}" ] && [ -z "${base[$pkg]:-}" ]; then
    fail "${loaded_by[$lib]} loads $lib from package $pkg, which the runtime stage does not install (add it to the apt-get install list of $dockerfile)"
  fi
done

echo "image_test: ${#binaries[@]} binaries, ${#loaded_by[@]} libraries, ${#installed[@]} packages installed (${#closure[@]} with their dependencies), ${#base[@]} in $runtime_image"
if [ "$failures" -gt 0 ]; then
  echo "image_test: $failures problem(s)"
  exit 1
fi
echo "image_test: every library the image's binaries load is in the image"
