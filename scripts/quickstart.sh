#!/usr/bin/env bash
# Sets up, builds, and converts the bundled example messages to FHIR R4.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target dxnorm
mkdir -p out
./build/dxnorm convert --out out/ config/examples/
echo "FHIR Bundles written to out/:"
ls -1 out/
