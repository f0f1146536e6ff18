#!/usr/bin/env bash
# Installs the Debian 12 packages cityhub needs to build, test and benchmark, if any is missing,
# then configures and builds the given CMake presets (default: release).
#   scripts/setup.sh [preset…]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config python3 curl openssl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  librocksdb-dev libre2-dev libs2-dev libssl-dev libjemalloc-dev libfmt-dev libspdlog-dev prometheus-cpp-dev libcli11-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev mosquitto mosquitto-clients libzip-dev libabsl-dev tzdata
  libprotobuf-dev protobuf-compiler
  libpq-dev postgresql-15 liblz4-dev libzstd-dev haproxy
  libgtest-dev libgmock-dev libbenchmark-dev wrk
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Clones at other paths (CI) reuse the compiler cache: paths are hashed relative to the checkout.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

presets=("$@")
((${#presets[@]})) || presets=(release)
for preset in "${presets[@]}"; do
  cmake --preset "$preset" >/dev/null
  # Two cores: keep parallelism at the core count; ccache makes rebuilds cheap.
  cmake --build --preset "$preset" -j "$(nproc)"
done
