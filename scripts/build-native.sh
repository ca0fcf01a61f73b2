#!/usr/bin/env bash
# Build the native addon (napi-rs) into bindings/node/biomeg.node and its generated index.d.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install napi build --release --manifest-path bindings/node/Cargo.toml --package-json-path package.json \
  --output-dir bindings/node --dts index.d.ts --no-dts-header 2>&1 | grep -v '^npm warn' || { echo "native build failed" >&2; exit 1; }
test -f bindings/node/biomeg.node
