#!/usr/bin/env bash
# Build the WebAssembly package (simd128) into bindings/wasm/pkg with wasm-pack.
# Prefers a rustup toolchain that has the wasm32 target (what most users have); otherwise uses
# Debian's rustc-web with -Z build-std (rustup here cannot download the wasm32 std).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target/wasm"
export RUSTFLAGS="-C target-feature=+simd128 --cfg getrandom_backend=\"wasm_js\""
args=(build bindings/wasm --release --target web --out-dir pkg --out-name biomeg_wasm)
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  wasm-pack "${args[@]}"
else
  # Debian's toolchain: its cargo/rustc must come first, and std is rebuilt from rust-web-src.
  PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    wasm-pack --quiet "${args[@]}" --mode force -- -Z build-std=std,panic_abort
fi
# No wasm-opt pass: Debian's binaryen 108 writes a module whose externref table init fails at
# load time (and exits 0), while rustc's own -O3 output is what the bench measures.
# wasm-pack writes pkg/.gitignore ('*'), which npm pack obeys: the package would ship without its
# wasm build (test/pack.test.mjs). The repository's .gitignore already ignores pkg/.
rm -f bindings/wasm/pkg/.gitignore
test -f bindings/wasm/pkg/biomeg_wasm_bg.wasm
