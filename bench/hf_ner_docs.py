"""Hugging Face token-classification pipeline (PyTorch, CPU) over a JSON list of documents:
documents per second, for bench/ner_docs.mjs (which writes the documents and runs biomeg on them).

  python bench/hf_ner_docs.py --model DIR --docs FILE.json [--threads 2] [--batch-size 8] [--stride 128]

Windows of the tokenizer's model_max_length (512) overlapping by --stride sub-tokens, like
biomeg's ner() (512, a quarter of the window = 128); aggregation_strategy "simple" (entities, as
biomeg returns). Prints one JSON line.
"""

import argparse
import json
import time

import torch
import transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--docs", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--stride", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.docs) as f:
        docs = json.load(f)
    pipe = transformers.pipeline(
        "token-classification", model=args.model, aggregation_strategy="simple", device=-1, stride=args.stride
    )
    with torch.inference_mode():
        pipe(docs[:2], batch_size=args.batch_size)  # warm-up
        t = time.perf_counter()
        out = pipe(docs, batch_size=args.batch_size)
        s = time.perf_counter() - t
    print(
        json.dumps(
            {
                "engine": "hf-pipeline-pytorch",
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "threads": args.threads,
                "docs": len(docs),
                "seconds": s,
                "docs_per_s": len(docs) / s,
                "entities": sum(len(e) for e in out),
            }
        )
    )


if __name__ == "__main__":
    main()
