#!/usr/bin/env bash
# Sets everything up (Debian packages, release build) and runs the hub on 127.0.0.1:1026 with
# its data in ./data. Extra arguments go to `cityhub serve` (see `build/release/cityhub --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
context_args=()
[ -d ../shared/data/jsonld-contexts ] && context_args=(--context-dir ../shared/data/jsonld-contexts)
exec build/release/cityhub serve --listen 127.0.0.1:1026 --data-dir ./data "${context_args[@]}" "$@"
