#!/usr/bin/env python3
"""The same fine-tuning recipe as `biomeg train ner|re` in PyTorch + transformers, for a side-by-side
comparison on one machine: base encoder + a fresh 1-FC head (normal(0, initializer_range), zero
bias) behind dropout, AdamW (decay off for biases/LayerNorm), linear warm-up then linear decay to 0,
global-norm clipping, batches padded to the longest row, the same windowing of long inputs
(windows of max_length with `stride` tokens shared), NER labels on the first sub-token (or all).

Scores use biomeg's own scorers (`biomeg eval`, the exact conlleval / ChemProt metrics) on the
word-level predictions this script writes, so both sides are scored by the same code.

  HF_HUB_OFFLINE=1 /opt/biomeg-py/bin/python bench/pytorch_finetune.py ner \
      --dataset bc5cdr-chem --model .cache/models/all-MiniLM-L6-v2 --max-steps 60 --out /tmp/pt-ner
Prints one JSON object: dev/test scores, training tokens/s (non-padding tokens per second of
training-step time), seconds of training.
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import time

import torch
from transformers import AutoModel, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NER_DIRS = {"bc5cdr-chem": "bc5cdr-chem/mtl-iob", "bc5cdr-disease": "bc5cdr-disease/mtl-iob", "ncbi-disease": "ncbi-disease/mtl-iob"}


def read_conll(path, limit=None):
    sents, words, labels = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if words:
                    sents.append((words, labels))
                    words, labels = [], []
                continue
            cols = line.split("\t") if "\t" in line else line.split()
            words.append(cols[0])
            labels.append(cols[-1])
    if words:
        sents.append((words, labels))
    return sents[:limit] if limit else sents


def read_chemprot(path, limit=None):
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            line = line.rstrip("\n")
            if not line or (i == 0 and line == "index\tsentence\tlabel"):
                continue
            idx, sent, lab = line.split("\t")
            rows.append((idx, sent, lab))
    return rows[:limit] if limit else rows


def plan_windows(n, size, overlap):
    step = max(1, size - max(0, min(overlap, size - 1)))
    out, start = [], 0
    while True:
        end = min(n, start + size)
        out.append((start, end))
        if end >= n:
            return out
        start += step


def best_window(windows, t):
    best, score = -1, -1
    for i, (s, e) in enumerate(windows):
        if s <= t < e:
            sc = min(t - s, e - 1 - t)
            if sc > score:
                best, score = i, sc
    return best


class Model(torch.nn.Module):
    def __init__(self, path, n_labels, head_dropout, task, seed):
        super().__init__()
        self.enc = AutoModel.from_pretrained(path, add_pooling_layer=False)
        self.drop = torch.nn.Dropout(head_dropout)
        self.head = torch.nn.Linear(self.enc.config.hidden_size, n_labels)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.head.weight.normal_(0.0, self.enc.config.initializer_range, generator=g)
            self.head.bias.zero_()
        self.task = task

    def forward(self, ids, mask):
        h = self.enc(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.task == "re":
            h = h[:, 0]
        return self.head(self.drop(h))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["ner", "re"])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data-dir", default=os.environ.get("BIOMEG_DATA", "/work/shared/data"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument("--scheme", choices=["all", "first"], default="first")
    ap.add_argument("--head-dropout", type=float, default=0.5)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(a.model)
    cls, sep = tok.cls_token_id, tok.sep_token_id
    room = a.max_length - 2

    if a.task == "ner":
        d = os.path.join(a.data_dir, NER_DIRS[a.dataset])
        splits = {s: read_conll(os.path.join(d, f"{s}.tsv"), a.limit or None) for s in ["train", "devel", "test"]}
        labels = sorted({l for _, ls in splits["train"] for l in ls}, key=lambda l: (l != "O", l))
    else:
        d = os.path.join(a.data_dir, "chemprot/blue-style-rebuilt")
        splits = {s: read_chemprot(os.path.join(d, f"{s}.tsv"), a.limit or None) for s in ["train", "dev", "test"]}
        labels = sorted({r[2] for r in splits["train"]})
    index = {l: i for i, l in enumerate(labels)}

    def features(rows):
        feats, layouts = [], []
        for ex, row in enumerate(rows):
            if a.task == "ner":
                words, wl = row
                enc = tok(words, is_split_into_words=True, add_special_tokens=False)
                ids, wids = enc["input_ids"], enc.word_ids()
                sub, prev = [], None
                for w in wids:
                    sub.append(index.get(wl[w], -100) if (a.scheme == "all" or w != prev) else -100)
                    prev = w
            else:
                ids = tok(row[1], add_special_tokens=False)["input_ids"]
                wids, sub = None, None
            wins = plan_windows(len(ids), room, a.stride)
            for wi, (s, e) in enumerate(wins):
                lab = [-100] + sub[s:e] + [-100] if sub is not None else [index.get(row[2], -100)]
                feats.append({"ids": [cls] + ids[s:e] + [sep], "labels": lab, "ex": ex, "win": wi})
            layouts.append((wids, wins, len(ids)))
        return feats, layouts

    def pad(rows):
        seq = max(len(r["ids"]) for r in rows)
        ids = torch.zeros(len(rows), seq, dtype=torch.long)
        mask = torch.zeros(len(rows), seq, dtype=torch.long)
        lab = torch.full((len(rows), seq), -100, dtype=torch.long) if a.task == "ner" else torch.zeros(len(rows), dtype=torch.long)
        for b, r in enumerate(rows):
            n = len(r["ids"])
            ids[b, :n] = torch.tensor(r["ids"])
            mask[b, :n] = 1
            if a.task == "ner":
                lab[b, :n] = torch.tensor(r["labels"])
            else:
                lab[b] = r["labels"][0]
        return ids, mask, lab

    dev_name = "devel" if a.task == "ner" else "dev"
    train_f, _ = features(splits["train"])
    train_f = [f for f in train_f if any(l != -100 for l in f["labels"])]
    bpe = math.ceil(len(train_f) / a.batch_size)
    total = min(a.max_steps, a.epochs * bpe) if a.max_steps else a.epochs * bpe
    warm = round(a.warmup_ratio * total)

    model = Model(a.model, len(labels), a.head_dropout, a.task, a.seed)
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    lossf = torch.nn.CrossEntropyLoss(ignore_index=-100)

    step, train_sec, train_tok, losses = 0, 0.0, 0, []
    epoch = 0
    while step < total:
        order = list(range(len(train_f)))
        random.Random(a.seed * 1000 + epoch).shuffle(order)
        model.train()
        for b in range(bpe):
            if step >= total:
                break
            rows = [train_f[i] for i in order[b * a.batch_size:(b + 1) * a.batch_size]]
            ids, mask, lab = pad(rows)
            t0 = time.perf_counter()
            logits = model(ids, mask)
            loss = lossf(logits.reshape(-1, len(labels)), lab.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm)
            opt.step()
            sched.step()
            train_sec += time.perf_counter() - t0
            train_tok += int(mask.sum())
            losses.append(float(loss))
            step += 1
            if step % 10 == 0:
                print(f"step {step}/{total} loss {float(loss):.4f} {train_tok / train_sec:.0f} tok/s", file=sys.stderr)
        epoch += 1

    @torch.no_grad()
    def evaluate(split):
        model.eval()
        rows = splits[split]
        feats, layouts = features(rows)
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]["ids"]))
        out = [None] * len(feats)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            ids, mask, _ = pad([feats[k] for k in idx])
            lg = model(ids, mask)
            for r, k in enumerate(idx):
                out[k] = lg[r, : len(feats[k]["ids"])] if a.task == "ner" else lg[r]
        groups = {}
        for k, f in enumerate(feats):
            groups.setdefault(f["ex"], {})[f["win"]] = k
        pred_file = os.path.join(a.out, f"pred-{split}.tsv")
        with open(pred_file, "w", encoding="utf-8") as fo:
            if a.task == "ner":
                for ex, (words, gold) in enumerate(rows):
                    wids, wins, n = layouts[ex]
                    wl = [None] * len(words)
                    prev = None
                    for t in range(n):
                        w = wids[t]
                        first = w != prev
                        prev = w
                        if not first or wl[w] is not None:
                            continue
                        wi = best_window(wins, t)
                        s = wins[wi][0]
                        wl[w] = labels[int(out[groups[ex][wi]][1 + t - s].argmax())]
                    for wd, g, p in zip(words, gold, wl):
                        fo.write(f"{wd}\t{g}\t{p or 'O'}\n")
                    fo.write("\n")
            else:
                for ex, row in enumerate(rows):
                    ks = list(groups[ex].values())
                    mean = sum(out[k] for k in ks) / len(ks)
                    fo.write(f"{row[0]}\t{labels[int(mean.argmax())]}\n")
        if a.task == "ner":
            cmd = ["node", os.path.join(ROOT, "dist/cli.js"), "eval", "--task", "ner", "--pred", pred_file, "--json"]
        else:
            gold = os.path.join(a.data_dir, "chemprot/blue-style-rebuilt", f"{split}.tsv")
            if a.limit:
                gold = os.path.join(a.out, f"gold-{split}.tsv")
                with open(gold, "w", encoding="utf-8") as fo:
                    fo.write("index\tsentence\tlabel\n" + "".join(f"{r[0]}\t{r[1]}\t{r[2]}\n" for r in rows))
            cmd = ["node", os.path.join(ROOT, "dist/cli.js"), "eval", "--task", "re", "--gold", gold, "--pred", pred_file, "--json"]
        r = json.loads(subprocess.check_output(cmd))
        return {k: r[k] for k in ["precision", "recall", "f1"]}

    t0 = time.perf_counter()
    dev = evaluate(dev_name)
    dev_sec = time.perf_counter() - t0
    t0 = time.perf_counter()
    test = evaluate("test")
    test_sec = time.perf_counter() - t0
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "task": a.task, "dataset": a.dataset,
        "steps": step, "train_features": len(train_f), "train_sec": train_sec, "train_tokens": train_tok,
        "tokens_per_sec": train_tok / train_sec, "first_losses": losses[:5], "last_loss": losses[-1],
        "dev": dev, "test": test, "dev_eval_sec": dev_sec, "test_eval_sec": test_sec,
    }))


if __name__ == "__main__":
    main()
