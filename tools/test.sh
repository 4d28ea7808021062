#!/usr/bin/env bash
# Build and test (interim: the full script comes with the foundation issue).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)"
cd build && ctest --output-on-failure
