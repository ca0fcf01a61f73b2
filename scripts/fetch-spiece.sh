#!/usr/bin/env bash
# Fetch a real SentencePiece model for biomeg's tokenizer parity tests: the unigram model that
# the seqio wheel (Apache-2.0) ships as seqio/test_data/sentencepiece/sentencepiece.model
# (26 pieces, T5's special tokens, Google's full nmt_nfkc precompiled charsmap, 238 KB).
#
#   .cache/wheels/seqio-<ver>-py2.py3-none-any.whl   (pip download --no-deps; nothing installed)
#   .cache/models/seqio-spiece/spiece.model
#
# Both are checked against pinned sha256s; re-running is a no-op once the model is in place.
# The model is never committed (test/fixtures/spiece/hf-seqio-spiece.json holds only Hugging
# Face's references for it). Env: PYTHON (default python3) runs pip and unzips.
set -euo pipefail

VERSION="0.0.20"
WHEEL="seqio-${VERSION}-py2.py3-none-any.whl"
WHEEL_SHA256="0b57ca3048a707d14504842b151edafc2b1c684df52aeb06672cfe166db9000d"
MEMBER="seqio/test_data/sentencepiece/sentencepiece.model"
MODEL_SHA256="338e16e8d003229e0ccbb9db45b7daab1abe5236a81a1e533305b7a747d895ec"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEEL_DIR="$ROOT/.cache/wheels"
DEST="$ROOT/.cache/models/seqio-spiece"
PY="${PYTHON:-python3}"

sha256() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$DEST/spiece.model" && "$(sha256 "$DEST/spiece.model")" == "$MODEL_SHA256" ]]; then
  echo "$DEST"
  exit 0
fi

mkdir -p "$WHEEL_DIR" "$DEST"
if [[ ! -f "$WHEEL_DIR/$WHEEL" || "$(sha256 "$WHEEL_DIR/$WHEEL")" != "$WHEEL_SHA256" ]]; then
  rm -f "$WHEEL_DIR/$WHEEL"
  echo "fetch-spiece: downloading $WHEEL (~360 KB) from PyPI" >&2
  "$PY" -m pip download --no-deps --only-binary=:all: --no-cache-dir "seqio==${VERSION}" -d "$WHEEL_DIR" >&2
fi
got="$(sha256 "$WHEEL_DIR/$WHEEL")"
[[ "$got" == "$WHEEL_SHA256" ]] || { echo "fetch-spiece: wheel sha256 mismatch: got $got, want $WHEEL_SHA256" >&2; exit 1; }

tmp="$(mktemp "$DEST/.spiece.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
"$PY" - "$WHEEL_DIR/$WHEEL" "$MEMBER" "$tmp" <<'PYEOF'
import shutil, sys, zipfile
whl, member, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PYEOF
got="$(sha256 "$tmp")"
[[ "$got" == "$MODEL_SHA256" ]] || { echo "fetch-spiece: model sha256 mismatch: got $got, want $MODEL_SHA256" >&2; exit 1; }
chmod a+r "$tmp"
mv "$tmp" "$DEST/spiece.model"
trap - EXIT
echo "fetch-spiece: ready in $DEST" >&2
echo "$DEST"
