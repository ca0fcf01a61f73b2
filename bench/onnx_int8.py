"""onnxruntime side of the int8 comparison: export an encoder to ONNX with torch.onnx.export,
quantize it with onnxruntime's quantize_dynamic (int8 weights, dynamic u8 activations; both
through scripts/export_onnx.py), then measure, for fp32 and int8, the forward time at batch 8 x 128
(median of alternating runs, 1 and 2 threads) and the last-hidden-state cosine similarity of int8
vs fp32 on real PubMed abstracts.

    /opt/biomeg-py/bin/python bench/onnx_int8.py --model .cache/models/all-MiniLM-L6-v2 \
        [--data $BIOMEG_DATA] [--reps 5] [--out reports/onnx_int8.json]
    /opt/biomeg-py/bin/python bench/onnx_int8.py --preset bert-base   # random weights, speed only

Prints a message and exits 0 when torch, transformers or onnxruntime is missing.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

try:
    import numpy as np
    import onnx  # noqa: F401  (torch.onnx.export needs it)
    import onnxruntime as ort
    import torch
    import transformers
except ImportError as e:  # pragma: no cover
    print(f"SKIPPED: {e} (pip install onnxruntime onnx into the Python env with torch + transformers)")
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from export_onnx import export, quantize_int8  # noqa: E402


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def feeds(ids, mask):
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--preset", choices=["bert-base"])
    ap.add_argument("--data", default=os.environ.get("BIOMEG_DATA"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--texts", type=int, default=24)
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.model:
        model = transformers.AutoModel.from_pretrained(a.model)
        tok = transformers.AutoTokenizer.from_pretrained(a.model)
    else:
        model, tok = transformers.BertModel(transformers.BertConfig()), None
    model.eval()
    d = tempfile.mkdtemp(prefix="onnx-int8-")
    f32, i8 = os.path.join(d, "fp32.onnx"), os.path.join(d, "int8.onnx")
    export(model, f32)
    quantize_int8(f32, i8)
    out = {
        "model": a.model or a.preset,
        "onnxruntime": ort.__version__,
        "quantize_dynamic": "QInt8 weights, per_channel=True, dynamic uint8 activations",
        "bytes": {"fp32": os.path.getsize(f32), "int8": os.path.getsize(i8)},
        "speed": [],
    }
    rng = np.random.default_rng(1)
    ids = rng.integers(1000, 20000, size=(8, 128)).astype(np.int64)
    mask = np.ones_like(ids)
    for threads in [2, 1]:
        s32, s8 = session(f32, threads), session(i8, threads)
        for s in (s32, s8):
            s.run(None, feeds(ids, mask))
        t32, t8 = [], []
        for _ in range(a.reps):
            for s, t in ((s32, t32), (s8, t8)):
                t0 = time.perf_counter()
                s.run(None, feeds(ids, mask))
                t.append((time.perf_counter() - t0) * 1e3)
        out["speed"].append(
            {
                "threads": threads,
                "batch": 8,
                "seq": 128,
                "fp32_ms": statistics.median(t32),
                "int8_ms": statistics.median(t8),
                "speedup_paired": statistics.median([x / y for x, y in zip(t32, t8)]),
            }
        )
        print(f"onnxruntime {threads}t: fp32 {statistics.median(t32):.1f} ms, int8 {statistics.median(t8):.1f} ms", file=sys.stderr)
    abstracts = a.data and os.path.join(a.data, "pubmed-abstracts-mini", "pubmed_abstracts_mini.txt")
    if tok is not None and abstracts and os.path.exists(abstracts):
        texts = [l for l in open(abstracts, encoding="utf8").read().split("\n") if l][: a.texts]
        s32, s8 = session(f32, 2), session(i8, 2)
        cos = []
        for t in texts:
            enc = tok(t, truncation=True, max_length=256, return_tensors="np")
            x = feeds(enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64))
            h32, h8 = s32.run(None, x)[0][0][1:-1], s8.run(None, x)[0][0][1:-1]
            num = (h32 * h8).sum(-1)
            cos.extend((num / (np.linalg.norm(h32, axis=-1) * np.linalg.norm(h8, axis=-1))).tolist())
        out["cosine"] = {"texts": len(texts), "tokens": len(cos), "mean": float(np.mean(cos)), "min": float(np.min(cos))}
        print(f"onnxruntime int8 vs fp32 token cosine: mean {np.mean(cos):.5f}, min {np.min(cos):.5f} over {len(cos)} tokens", file=sys.stderr)
    text = json.dumps(out, indent=2)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, a.out)
    print(text)


if __name__ == "__main__":
    main()
