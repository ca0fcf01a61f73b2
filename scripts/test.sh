#!/usr/bin/env bash
# The test command (README): formatting and lint (rustfmt, rustfmt.toml; Biome, biome.jsonc; fix
# with `cargo fmt --all` and `npx biome check --write`), Rust unit/integration tests, the binding
# API check (tsc: both bindings implement BindingApi, ts/binding.ts), then ava (every
# backend-facing test runs on native AND wasm). Data-dependent tests read BIOMEG_DATA and
# BIOMEG_VOCABS; under CI=true they fail instead of skipping when those are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all --check
npx --no-install biome ci .
cargo test --release -p biomeg-core -p biomeg-text
node scripts/check-api.mjs
npx --no-install ava
