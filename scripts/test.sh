#!/usr/bin/env bash
# Sets everything up and runs every test: unit tests (GoogleTest) and integration tests (a real
# cityhub process over loopback HTTP), first on the release build, then on the debug-asan build
# (AddressSanitizer + UndefinedBehaviorSanitizer).
#   scripts/test.sh            both presets
#   scripts/test.sh release    one preset
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
((${#presets[@]})) || presets=(release debug-asan)
scripts/setup.sh "${presets[@]}"
for preset in "${presets[@]}"; do
  echo "== tests: $preset"
  # ASan: fail on the first error, report leaks; UBSan: fail on any undefined behaviour.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --preset "$preset" -j 2
done
