#!/usr/bin/env bash
# Retort set-up: installs the Debian packages Retort needs when any is missing (apt-get update
# once, then install), then configures and builds into build/. Idempotent; quiet when all is present.
# Usage: launch/setup.sh [--no-build] [--cuda auto|on|off] [--build-dir DIR] [--also PACKAGE]...
#        (--also: one more Debian package to install the same way, e.g. a test suite's compiler)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$root/build"
cuda=AUTO
do_build=1
also=()
value() { [ -n "${2:-}" ] || { echo "setup.sh: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) do_build=0 ;;
    --cuda) value "$@"; cuda=$(echo "$2" | tr a-z A-Z); shift ;;
    --build-dir) value "$@"; build_dir=$2; shift ;;
    --also) value "$@"; also+=("$2"); shift ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# The toolchain, the libraries of DESIGN.md, and the example data.
packages=(g++ make cmake pkg-config git ca-certificates
          libopenmpi-dev openmpi-bin libeigen3-dev libyaml-cpp-dev catch2 zlib1g-dev
          libcli11-dev nlohmann-json3-dev libxxhash-dev libzstd-dev libfmt-dev
          libopenblas-openmp-dev
          dataset-fashion-mnist
          libpcre2-dev libsentencepiece-dev sentencepiece python3-venv fortunes jargon-text)
missing=()
for p in "${packages[@]}" "${also[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "retort setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "$do_build" -eq 1 ] || exit 0

mkdir -p "$build_dir"
log="$build_dir/build.log"
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  echo "retort setup: configuring $build_dir (RETORT_CUDA=$cuda)" >&2
  cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DRETORT_CUDA="$cuda" >"$log" 2>&1 ||
    { tail -n 40 "$log" >&2; echo "setup.sh: configure failed (full log: $log)" >&2; exit 1; }
fi
jobs=$(nproc 2>/dev/null || echo 2)
if ! cmake --build "$build_dir" -j "$jobs" >"$log" 2>&1; then
  grep -E "error|Error" -A3 "$log" | head -n 60 >&2
  echo "setup.sh: build failed (full log: $log)" >&2
  exit 1
fi
