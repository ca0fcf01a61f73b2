#!/usr/bin/env python3
"""Masked-LM pre-training speed of PyTorch + transformers, the peer of `biomeg pretrain`.

Trains BertForMaskedLM (from a model directory, or a fresh one from a config.json) for a few
steps on seeded random batches of the given shape with the BERT masking recipe (15 % of the
positions carry a label), AdamW, global-norm clipping at 1.0, and prints one JSON line per step
({"step", "sec", "tokens", "loss"}). The caller (bench/pretrain_pairs.mjs) feeds biomeg the
same shapes and mask rate and compares tokens per second.

  python bench/pytorch_pretrain.py --model .cache/models/all-MiniLM-L6-v2 --batch 16 --seq 128 --steps 6
"""

import argparse
import json
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="model directory (config.json + weights); the MLM head is added when missing")
    ap.add_argument("--config", help="config.json for a randomly initialised model (instead of --model)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--mask-prob", type=float, default=0.15)
    args = ap.parse_args()
    if not args.model and not args.config:
        ap.error("give --model DIR or --config FILE")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import BertConfig, BertForMaskedLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.model:
        model = BertForMaskedLM.from_pretrained(args.model)
    else:
        with open(args.config) as f:
            model = BertForMaskedLM(BertConfig(**json.load(f)))
    model.train()
    vocab = model.config.vocab_size
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    g = torch.Generator().manual_seed(args.seed)
    for step in range(args.steps):
        ids = torch.randint(1000, vocab, (args.batch, args.seq), generator=g)
        chosen = torch.rand(args.batch, args.seq, generator=g) < args.mask_prob
        labels = torch.where(chosen, ids, torch.full_like(ids, -100))
        inputs = torch.where(chosen, torch.full_like(ids, 103), ids)
        t0 = time.perf_counter()
        out = model(input_ids=inputs, attention_mask=torch.ones_like(ids), labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sec = time.perf_counter() - t0
        print(json.dumps({"step": step, "sec": sec, "tokens": args.batch * args.seq, "loss": out.loss.item()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
