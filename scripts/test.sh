#!/usr/bin/env bash
# Sets everything up and runs every test: unit tests (GoogleTest) and integration tests (a real
# cityhub process over loopback HTTP), first on the release build, then on the debug-asan build
# (AddressSanitizer + UndefinedBehaviorSanitizer), then a short smoke of every fuzz target
# (CITYHUB_FUZZ_SMOKE_S seconds each, default 15; scripts/fuzz.sh runs them longer).
#   scripts/test.sh            both presets and the fuzz smoke
#   scripts/test.sh release    one preset
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
full=0
((${#presets[@]})) || { presets=(release debug-asan); full=1; }
scripts/setup.sh "${presets[@]}"
for preset in "${presets[@]}"; do
  echo "== tests: $preset"
  # ASan: fail on the first error, report leaks; UBSan: fail on any undefined behaviour.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --preset "$preset" -j 2
done
if ((full)); then
  echo "== fuzz smoke"
  scripts/fuzz.sh "${CITYHUB_FUZZ_SMOKE_S:-15}"
fi
