#!/usr/bin/env python3
"""The same fine-tuning recipe as `biomeg train ner|re|qa` in PyTorch + transformers, for a
side-by-side comparison on one machine: base encoder + a fresh head (1 FC, or 2 FC with ReLU for
QA; normal(0, initializer_range), zero bias) behind dropout, AdamW (decay off for biases/LayerNorm),
linear warm-up then linear decay to 0, global-norm clipping, batches padded to the longest row in
biomeg's seeded batch order, the same windowing of long inputs (windows of max_length with `stride`
tokens shared; QA: [CLS] question [SEP] context-window [SEP]), NER labels on the first sub-token
(or all). Defaults are the biomegatron-ner/-re/-qa preset values, except one epoch.

Scores use biomeg's own scorers (`biomeg eval`: conlleval, ChemProt, BioASQ factoid) on the
predictions this script writes (word labels, relation labels, BioASQ answer JSON), so both sides
are scored by the same code. OUT/log.jsonl has biomeg-style `step` records: loss, lr (the rate
of that update), gradNorm (global norm before clipping), tokens, positions, idCheck/labelCheck
(batch checksums, see batch_checks).

Lockstep mode (test/fixtures/lockstep, scripts/fixtures/make_lockstep_fixture.mjs):
`--init-from DIR` trains from a biomeg checkpoint (encoder AND head, e.g. written by
TrainSession.saveCheckpoint before any step) instead of a fresh head, `--no-dropout` turns every
dropout off, `--f64-grad-norm` takes the clipping norm in float64 as biomeg does.

  HF_HUB_OFFLINE=1 /opt/biomeg-py/bin/python bench/pytorch_finetune.py ner \
      --dataset bc5cdr-chem --model .cache/models/all-MiniLM-L6-v2 --max-steps 60 --out /tmp/pt-ner
  HF_HUB_OFFLINE=1 /opt/biomeg-py/bin/python bench/pytorch_finetune.py qa \
      --dataset bioasq-7b --model .cache/models/all-MiniLM-L6-v2 --out /tmp/pt-qa
  # the transfer recipe: SQuAD-format data first, then BioASQ (head kept, fresh optimizer)
  HF_HUB_OFFLINE=1 /opt/biomeg-py/bin/python bench/pytorch_finetune.py qa --dataset bioasq-7b \
      --model .cache/models/all-MiniLM-L6-v2 --transfer-from $BIOMEG_DATA/squad-v1.1/dev-v1.1.json --out /tmp/pt-tr
Prints one JSON object: dev/test scores (QA: no dev split; test = BioASQ strict/lenient accuracy
and MRR against 7B_golden.json), training tokens/s (non-padding tokens per second of
training-step time), seconds of training.
"""
import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NER_DIRS = {"bc5cdr-chem": "bc5cdr-chem/mtl-iob", "bc5cdr-disease": "bc5cdr-disease/mtl-iob", "ncbi-disease": "ncbi-disease/mtl-iob"}
# Registry files of `biomeg train qa --dataset` (ts/data/registry.ts; no dev split) and the golden
# file its test scores use (ts/finetune/index.ts splitFiles).
QA_DATA = {"bioasq-7b": {"train": "bioasq-7b/biobert/BioASQ-train-factoid-7b.json", "test": "bioasq-7b/biobert/BioASQ-test-factoid-7b.json", "gold": "bioasq-7b/biobert/7B_golden.json"}}
# Preset values (ts/finetune/presets.ts: biomegatron-ner, biomegatron-re, biomegatron-qa).
PRESETS = {
    "ner": dict(batch_size=32, lr=5e-5, max_length=128, stride=32, head_dropout=0.5, head_layers=1, head_hidden=0),
    "re": dict(batch_size=32, lr=5e-5, max_length=128, stride=32, head_dropout=0.5, head_layers=1, head_hidden=0),
    "qa": dict(batch_size=64, lr=3e-5, max_length=512, stride=128, head_dropout=0.1, head_layers=2, head_hidden=2048),
}
# QA constants of biomeg: question sub-tokens kept (qaFeatures), n-best starts/ends and spans,
# longest answer in sub-tokens (qaCandidates), answers kept per question (evalBioasq).
MAX_QUERY, N_BEST, MAX_ANSWER_TOKENS, TOP_K = 64, 20, 30, 5


def permutation(n, seed, epoch):
    """biomeg's seeded batch order (mulberry32 + Fisher-Yates, ts/finetune), so both sides see
    the same batches and the same padding."""
    M = 0xFFFFFFFF
    imul = lambda x, y: (x * y) & M
    st = [(seed * 0x9E3779B1 + epoch * 0x85EBCA6B + 0x27D4EB2F) & M]

    def rand():
        st[0] = (st[0] + 0x6D2B79F5) & M
        t = st[0]
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & M
        return ((t ^ (t >> 14)) & M) / 4294967296

    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(rand() * (i + 1))
        p[i], p[j] = p[j], p[i]
    return p


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


def read_squad(path, limit=None):
    """SQuAD-format examples in file order: (id, question, context, answers)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    rows = [(qa["id"], qa["question"], p["context"], qa["answers"]) for art in data for p in art["paragraphs"] for qa in p["qas"]]
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


def answer_tokens(offsets, answer):
    """Sub-token span [ts, te] covering the answer's characters, or (-1, -1)."""
    cs = answer["answer_start"]
    ce = cs + len(answer["text"])
    ts = te = -1
    for k, (s, e) in enumerate(offsets):
        if ts < 0 and e > cs:
            ts = k
        if s < ce:
            te = k
    return (ts, te) if 0 <= ts <= te else (-1, -1)


def qa_features(tok, rows, max_length, stride, cls, sep):
    """qaFeatures (ts/finetune/features.ts): [CLS] question [SEP] context-window [SEP], type ids 1
    from the context on; labels = the first answer's (start, end) row positions when the window
    holds it whole, else (0, 0) = [CLS]. Layout per example: context offsets, windows, context start."""
    feats, layouts = [], []
    for ex, (qid, question, context, answers) in enumerate(rows):
        q = tok(question, add_special_tokens=False)["input_ids"][:MAX_QUERY]
        enc = tok(context, add_special_tokens=False, return_offsets_mapping=True)
        c, offsets = enc["input_ids"], enc["offset_mapping"]
        room = max_length - len(q) - 3
        if room < 8:
            sys.exit(f"question {qid} has {len(q)} tokens, too long for max length {max_length}")
        wins = plan_windows(len(c), room, min(stride, room - 1))
        ts, te = answer_tokens(offsets, answers[0]) if answers else (-1, -1)
        c0 = len(q) + 2
        for wi, (s, e) in enumerate(wins):
            ids = [cls] + q + [sep] + c[s:e] + [sep]
            lab = [c0 + ts - s, c0 + te - s] if ts >= s and te < e and ts >= 0 else [0, 0]
            feats.append({"ids": ids, "types": [0] * c0 + [1] * (len(ids) - c0), "labels": lab, "ex": ex, "win": wi})
        layouts.append((offsets, wins, c0))
    return feats, layouts


def pad(rows, task):
    """Batch padded to the longest row: ids, type ids, mask, labels ([B, seq] NER, [B] RE, [B, 2] QA)."""
    seq = max(len(r["ids"]) for r in rows)
    ids, types, mask = (torch.zeros(len(rows), seq, dtype=torch.long) for _ in range(3))
    lab = torch.full((len(rows), seq), -100, dtype=torch.long) if task == "ner" else torch.tensor([r["labels"] for r in rows])
    for b, r in enumerate(rows):
        n = len(r["ids"])
        ids[b, :n] = torch.tensor(r["ids"])
        mask[b, :n] = 1
        if "types" in r:
            types[b, :n] = torch.tensor(r["types"])
        if task == "ner":
            lab[b, :n] = torch.tensor(r["labels"])
    return ids, types, mask, lab[:, 0] if task == "re" else lab


def clip_f64(params, max_norm):
    """clip_grad_norm_ with the global norm summed in float64 (as biomeg does). torch's float32
    norm of a 590k-element MiniLM gradient is up to 4e-5 low, 7e-6 on the global norm."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = math.sqrt(sum(float(g.double().square().sum()) for g in grads))
    coef = max_norm / (norm + 1e-6)
    if max_norm > 0 and coef < 1:
        with torch.no_grad():
            for g in grads:
                g.mul_(coef)
    return norm


def batch_checks(ids, lab):
    """Checksums of a padded batch (row-major flat index i from 0): idCheck = sum ids[i] * (i + 1),
    labelCheck = sum (labels[i] + 101) * (i + 1), so a lockstep comparison can tell that both sides
    trained on the same ids, labels and padding."""
    w = torch.arange(1, ids.numel() + 1, dtype=torch.float64)
    wl = torch.arange(1, lab.numel() + 1, dtype=torch.float64)
    return {"idCheck": int((ids.reshape(-1).double() * w).sum()), "labelCheck": int(((lab.reshape(-1) + 101).double() * wl).sum())}


def loss_of(logits, lab, task):
    """Cross-entropy as biomeg's trainer: QA = mean of the start and end losses over every position
    of the padded row (as Hugging Face); NER/RE ignore label -100."""
    if task == "qa":
        return (F.cross_entropy(logits[..., 0], lab[:, 0]) + F.cross_entropy(logits[..., 1], lab[:, 1])) / 2
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), lab.reshape(-1), ignore_index=-100)


class Model(torch.nn.Module):
    """Encoder + a fresh head as biomeg's newHead (crates/biomeg-core/src/train/head_init.rs and
    backprop.rs): dropout -> Linear, or dropout -> Linear(hidden, head_hidden) -> ReLU (-> dropout,
    sequence heads only) -> Linear; weights normal(0, initializer_range), zero biases."""

    def __init__(self, path, n_out, task, head_dropout, head_layers, head_hidden, seed, no_dropout=False):
        super().__init__()
        # --no-dropout: every dropout probability 0 (embeddings, sub-layer outputs, attention
        # probabilities, head input), as biomeg's hiddenDropout/attnDropout/headDropout 0.
        extra = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0) if no_dropout else {}
        self.enc, self.load_info = AutoModel.from_pretrained(path, add_pooling_layer=False, output_loading_info=True, **extra)
        self.drop = torch.nn.Dropout(head_dropout)
        h = self.enc.config.hidden_size
        dims = [h, n_out] if head_layers == 1 else [h, head_hidden or h, n_out]
        self.head = torch.nn.ModuleList(torch.nn.Linear(i, o) for i, o in zip(dims, dims[1:]))
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for lin in self.head:
                lin.weight.normal_(0.0, self.enc.config.initializer_range, generator=g)
                lin.bias.zero_()
        self.task = task

    def forward(self, ids, types, mask):
        h = self.enc(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        if self.task == "re":
            h = h[:, 0]
        h = self.head[0](self.drop(h))
        if len(self.head) == 2:
            h = torch.relu(h)
            h = self.head[1](self.drop(h) if self.task == "re" else h)
        return h


def load_biomeg_head(model, ckpt, labels):
    """Copy a biomeg checkpoint's head (`classifier` / `qa_outputs`; 2 FC: `.dense`, `.out_proj`)
    into the model; the encoder was loaded from the same directory. Labels must match."""
    from safetensors.torch import load_file
    cfg = json.load(open(os.path.join(ckpt, "config.json"), encoding="utf-8"))
    names = [cfg["id2label"][str(i)] for i in range(len(cfg.get("id2label", {})))]
    if labels and names != labels:
        raise SystemExit(f"{ckpt}: labels {names} differ from this data's {labels}")
    w = load_file(os.path.join(ckpt, "model.safetensors"))
    prefix = "qa_outputs" if model.task == "qa" else "classifier"
    parts = [prefix + "."] if len(model.head) == 1 else [prefix + ".dense.", prefix + ".out_proj."]
    with torch.no_grad():
        for lin, p in zip(model.head, parts):
            if p + "weight" not in w:
                raise SystemExit(f"{ckpt}: no tensor {p}weight (head tensors: {[k for k in w if not k.startswith('bert.')]})")
            lin.weight.copy_(w[p + "weight"])
            lin.bias.copy_(w[p + "bias"])


@torch.no_grad()
def feature_logits(model, feats, task, batch_size=64):
    """Logits of every feature (rows of its own length; RE: one vector), evaluated in batches of
    similar length as biomeg's featureLogits."""
    model.eval()
    order = sorted(range(len(feats)), key=lambda i: len(feats[i]["ids"]))
    out = [None] * len(feats)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        ids, types, mask, _ = pad([feats[k] for k in idx], task)
        lg = model(ids, types, mask)
        for r, k in enumerate(idx):
            out[k] = lg[r] if task == "re" else lg[r, : len(feats[k]["ids"])]
    return out


def best_spans(windows, offsets):
    """bestSpans (ts/spans.ts): the N_BEST best starts x ends of every window (end >= start, at
    most MAX_ANSWER_TOKENS) as character spans; a span found in several windows keeps its best
    logit. windows: (first context token, start logits, end logits). Best N_BEST, best first."""
    best = {}
    for w0, sl, el in windows:
        starts = sorted(range(len(sl)), key=lambda t: -sl[t])[:N_BEST]
        ends = sorted(range(len(el)), key=lambda t: -el[t])[:N_BEST]
        for s in starts:
            for e in ends:
                if s <= e < s + MAX_ANSWER_TOKENS:
                    span, logit = (offsets[w0 + s][0], offsets[w0 + e][1]), sl[s] + el[e]
                    if best.get(span, -math.inf) < logit:
                        best[span] = logit
    return sorted(best.items(), key=lambda kv: -kv[1])[:N_BEST]


def qa_candidates(rows, layouts, groups, logits):
    """qaCandidates (ts/finetune/evaluate.ts): every example's n-best answer texts, scored by a
    softmax over that example's n-best logits. Yields (example id, text, score)."""
    for ex, (qid, _, context, _) in enumerate(rows):
        offsets, wins, c0 = layouts[ex]
        per_window = []
        for wi, (s, e) in enumerate(wins):
            lg = logits[groups[ex][wi]][c0:c0 + e - s]
            per_window.append((s, lg[:, 0].tolist(), lg[:, 1].tolist()))
        top = best_spans(per_window, offsets)
        m = top[0][1] if top else 0.0
        z = sum(math.exp(l - m) for _, l in top)
        for (s, e), l in top:
            yield qid, context[s:e], math.exp(l - m) / z


def aggregate_nbest(cands):
    """aggregateNbest (ts/eval/nbest.ts): candidates pooled per question (`<qid>_<nnn>` -> `<qid>`),
    equal answers (lower-cased, whitespace collapsed; empty ones dropped) merged keeping the best
    score and its text, the TOP_K best texts per question (ties in first-seen order)."""
    by_q = {}
    for ex_id, text, score in cands:
        key = " ".join(text.lower().split())
        if not key:
            continue
        m = re.fullmatch(r"(.*)_[0-9]+", ex_id)
        answers = by_q.setdefault(m[1] if m else ex_id, {})
        if key not in answers or score > answers[key][0]:
            answers[key] = [score, text.strip()]
    return {q: [t for _, t in sorted(a.values(), key=lambda x: -x[0])[:TOP_K]] for q, a in by_q.items()}


def biomeg_eval(task, pred, gold=None):
    """Scores from `biomeg eval` (the same scorer biomeg's training uses)."""
    cmd = ["node", os.path.join(ROOT, "dist/cli.js"), "eval", "--task", task, "--pred", pred, "--json"] + (["--gold", gold] if gold else [])
    return json.loads(subprocess.check_output(cmd))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["ner", "re", "qa"])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data-dir", default=os.environ.get("BIOMEG_DATA", "/work/shared/data"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=1, help="default 1 (the presets: ner/re 30, qa 10)")
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--batch-size", type=int, help="default: the task's preset (ner/re 32, qa 64)")
    ap.add_argument("--lr", type=float, help="default: the task's preset (ner/re 5e-5, qa 3e-5)")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--max-length", type=int, help="default: the task's preset (ner/re 128, qa 512)")
    ap.add_argument("--stride", type=int, help="default: the task's preset (ner/re 32, qa 128)")
    ap.add_argument("--scheme", choices=["all", "first"], default="first")
    ap.add_argument("--head-layers", type=int, choices=[1, 2], help="default: the task's preset (ner/re 1, qa 2)")
    ap.add_argument("--head-hidden", type=int, help="2-FC head width, 0 = encoder width (qa preset 2048)")
    ap.add_argument("--head-dropout", type=float, help="default: the task's preset (ner/re 0.5, qa 0.1)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init-from", help="start training from this biomeg checkpoint (encoder AND head weights, e.g. TrainSession.saveCheckpoint before any step) instead of --model with a fresh head; the tokenizer still comes from --model")
    ap.add_argument("--no-dropout", action="store_true", help="every dropout off (encoder hidden/attention and head), for a deterministic lockstep comparison")
    ap.add_argument("--f64-grad-norm", action="store_true", help="sum the global gradient norm in float64 (biomeg's way) instead of clip_grad_norm_'s float32 norms; the logged gradNorm is that norm")
    ap.add_argument("--eval-checkpoint", help="no training: score this biomeg checkpoint (encoder and head) with this script's evaluation, to cross-check the two evaluation paths")
    ap.add_argument("--transfer-from", help="qa: first train on this SQuAD-format file (the SQuAD -> BioASQ recipe)")
    ap.add_argument("--transfer-epochs", type=int, default=1)
    ap.add_argument("--transfer-limit", type=int, default=0, help="first N questions of --transfer-from (default: --limit, as biomeg)")
    a = ap.parse_args()
    if a.init_from and a.eval_checkpoint:
        ap.error("--init-from and --eval-checkpoint exclude each other")
    if a.transfer_from and a.task != "qa":
        ap.error(f"--transfer-from is for qa (SQuAD-format data), not {a.task}")
    for k, v in PRESETS[a.task].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(a.model)
    cls, sep = tok.cls_token_id, tok.sep_token_id
    room = a.max_length - 2

    labels = []
    if a.task == "ner":
        d = os.path.join(a.data_dir, NER_DIRS[a.dataset])
        splits = {s: read_conll(os.path.join(d, f"{s}.tsv"), a.limit or None) for s in ["train", "devel", "test"]}
        labels = sorted({l for _, ls in splits["train"] for l in ls}, key=lambda l: (l != "O", l))
    elif a.task == "re":
        d = os.path.join(a.data_dir, "chemprot/blue-style-rebuilt")
        splits = {s: read_chemprot(os.path.join(d, f"{s}.tsv"), a.limit or None) for s in ["train", "dev", "test"]}
        labels = sorted({r[2] for r in splits["train"]})
    else:
        qa_files = QA_DATA[a.dataset]
        splits = {s: read_squad(os.path.join(a.data_dir, qa_files[s]), a.limit or None) for s in ["train", "test"]}
    index = {l: i for i, l in enumerate(labels)}

    def features(rows):
        if a.task == "qa":
            return qa_features(tok, rows, a.max_length, a.stride, cls, sep)
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

    dev_name = {"ner": "devel", "re": "dev", "qa": None}[a.task]

    def labelled(feats):
        return [f for f in feats if any(l != -100 for l in f["labels"])]

    def train(feats, epochs, max_steps, stage):
        """One `biomeg train` run's optimisation: a fresh AdamW and warm-up/decay schedule over this
        run's steps, biomeg's seeded batch order; returns the run's step statistics."""
        bpe = math.ceil(len(feats) / a.batch_size)
        total = min(max_steps, epochs * bpe) if max_steps else epochs * bpe
        warm = round(a.warmup_ratio * total)
        no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
        decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, eps=1e-8)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
        step, sec, tok, pos, losses = 0, 0.0, 0, 0, []
        epoch = 0
        while step < total:
            order = permutation(len(feats), a.seed, epoch)
            model.train()
            for b in range(bpe):
                if step >= total:
                    break
                rows = [feats[i] for i in order[b * a.batch_size:(b + 1) * a.batch_size]]
                ids, types, mask, lab = pad(rows, a.task)
                lr = sched.get_last_lr()[0]
                t0 = time.perf_counter()
                loss = loss_of(model(ids, types, mask), lab, a.task)
                opt.zero_grad()
                loss.backward()
                norm = clip_f64(model.parameters(), a.max_grad_norm) if a.f64_grad_norm else torch.nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm)
                opt.step()
                sched.step()
                dt = time.perf_counter() - t0
                sec += dt
                tok += int(mask.sum())
                pos += mask.numel()
                losses.append(loss.item())
                step += 1
                log.write(json.dumps({"type": "step", "stage": stage, "g": step, "epoch": epoch + 1, "loss": losses[-1], "lr": lr, "gradNorm": float(norm), "tokens": int(mask.sum()), "positions": mask.numel(), **batch_checks(ids, lab), "sec": round(dt, 4)}) + "\n")
                if step % 10 == 0:
                    print(f"{stage} step {step}/{total} loss {losses[-1]:.4f} {tok / sec:.0f} tok/s", file=sys.stderr)
            epoch += 1
        return {"steps": step, "train_features": len(feats), "train_sec": sec, "train_tokens": tok, "train_positions": pos, "tokens_per_sec": tok / max(sec, 1e-9), "first_losses": losses[:5], "last_loss": losses[-1] if losses else None}

    ckpt = a.eval_checkpoint or a.init_from
    if ckpt:
        head = json.load(open(os.path.join(ckpt, "config.json"), encoding="utf-8")).get("biomeg_head", {})
        a.head_layers, a.head_hidden = head.get("layers", 1), head.get("hidden", 0)
    if a.no_dropout:
        a.head_dropout = 0.0
    model = Model(ckpt or a.model, 2 if a.task == "qa" else len(labels), a.task, a.head_dropout, a.head_layers, a.head_hidden, a.seed, a.no_dropout)
    if a.init_from:
        if model.load_info["missing_keys"]:
            raise SystemExit(f"{a.init_from}: encoder tensors missing from the checkpoint: {model.load_info['missing_keys']}")
        load_biomeg_head(model, a.init_from, labels)
    log = open(os.path.join(a.out, "log.jsonl"), "w", encoding="utf-8")
    transfer = None
    if a.eval_checkpoint:
        load_biomeg_head(model, a.eval_checkpoint, labels)
        stats = {"steps": 0, "train_sec": 0.0, "tokens_per_sec": 0.0, "eval_checkpoint": a.eval_checkpoint}
    else:
        if a.transfer_from:
            # The transfer recipe: `biomeg train qa --train SQUAD.json` first, then a second run from
            # its best/ checkpoint (head kept, fresh optimizer and schedule) on the target dataset.
            rows = read_squad(a.transfer_from, a.transfer_limit or a.limit or None)
            transfer = {"file": a.transfer_from, "questions": len(rows), **train(labelled(features(rows)[0]), a.transfer_epochs, 0, "transfer")}
        stats = train(labelled(features(splits["train"])[0]), a.epochs, a.max_steps, "target")
    log.close()

    def evaluate(split):
        if split not in splits:
            return None
        rows = splits[split]
        feats, layouts = features(rows)
        out = feature_logits(model, feats, a.task)
        groups = {}
        for k, f in enumerate(feats):
            groups.setdefault(f["ex"], {})[f["win"]] = k
        if a.task == "qa":
            pred_file = os.path.join(a.out, f"pred-{split}.json")
            ranked = aggregate_nbest(qa_candidates(rows, layouts, groups, out))
            with open(pred_file, "w", encoding="utf-8") as fo:
                json.dump({"questions": [{"id": q, "exact_answer": [[t] for t in ts]} for q, ts in ranked.items()]}, fo)
            r = biomeg_eval("qa", pred_file, os.path.join(a.data_dir, QA_DATA[a.dataset]["gold"]))
            return {k: r[k] for k in ["strict_acc", "lenient_acc", "mrr", "questions", "answered"]}
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
            r = biomeg_eval("ner", pred_file)
        else:
            gold = os.path.join(a.data_dir, "chemprot/blue-style-rebuilt", f"{split}.tsv")
            if a.limit:
                gold = os.path.join(a.out, f"gold-{split}.tsv")
                with open(gold, "w", encoding="utf-8") as fo:
                    fo.write("index\tsentence\tlabel\n" + "".join(f"{r[0]}\t{r[1]}\t{r[2]}\n" for r in rows))
            r = biomeg_eval("re", pred_file, gold)
        return {k: r[k] for k in ["precision", "recall", "f1"]}

    t0 = time.perf_counter()
    dev = evaluate(dev_name)
    dev_sec = time.perf_counter() - t0
    t0 = time.perf_counter()
    test = evaluate("test")
    test_sec = time.perf_counter() - t0
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "task": a.task, "dataset": a.dataset,
        **stats, "transfer": transfer, "dev": dev, "test": test, "dev_eval_sec": dev_sec, "test_eval_sec": test_sec,
    }))


if __name__ == "__main__":
    main()
