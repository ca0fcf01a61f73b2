// Data -> model features for fine-tuning. Every input longer than the maximum length is split
// into overlapping windows ([CLS] window [SEP], or [CLS] question [SEP] window [SEP] for QA);
// training uses every window, evaluation takes each sub-token's prediction from the window where
// it has the most context (token tasks), the mean of the windows' logits (sequence tasks) or the
// best span over all windows (QA). Nothing is truncated silently.
import type { ConllSentence } from '../data/conll.js';
import type { ChemprotRow } from '../data/chemprot.js';
import type { SquadExample } from '../data/squad.js';
import type { LabelScheme } from '../eval/decode.js';
import { BiomegError } from '../errors.js';
import type { Tokenizer } from '../text/index.js';
import { planWindows, type Window } from '../windows.js';

export const IGNORE = -100;

/** One model input row. `labels`: per token (token task), [label] (sequence), [start, end] (QA). */
export interface Feature {
  ids: Uint32Array;
  typeIds: Uint32Array;
  labels: Int32Array;
  /** Index of the example (sentence, row, question-context pair) it came from. */
  example: number;
  /** Window index within the example. */
  window: number;
}

export interface Specials {
  cls: number;
  sep: number;
}

export function specialsOf(tok: Tokenizer): Specials {
  const s = tok.specialIds;
  if (s.cls == null || s.sep == null) throw new BiomegError('BIOMEG_BAD_VOCAB', `${tok.source}: the vocabulary has no [CLS]/[SEP] tokens`);
  return { cls: s.cls, sep: s.sep };
}

function row(sp: Specials, body: ArrayLike<number>, labels: Int32Array, example: number, window: number): Feature {
  const ids = new Uint32Array(body.length + 2);
  ids[0] = sp.cls;
  ids.set(body, 1);
  ids[ids.length - 1] = sp.sep;
  return { ids, typeIds: new Uint32Array(ids.length), labels, example, window };
}

/** Per-sentence sub-token layout kept for decoding predictions back to words. */
export interface NerLayout {
  wordIds: Uint32Array;
  windows: Window[];
  nWords: number;
}

export interface FeatureSet<L> {
  features: Feature[];
  layouts: L[];
  /** Examples that needed more than one window. */
  windowed: number;
}

/** NER: words -> sub-tokens with the labelling scheme ('all' or 'first'); labels not in
 *  `labelIndex` (dev/test labels unseen in training) are ignored in the loss. */
export function nerFeatures(
  tok: Tokenizer,
  sentences: ConllSentence[],
  labelIndex: Map<string, number>,
  scheme: LabelScheme,
  maxLength: number,
  overlap: number,
): FeatureSet<NerLayout> {
  const sp = specialsOf(tok);
  const room = maxLength - 2;
  const features: Feature[] = [];
  const layouts: NerLayout[] = [];
  let windowed = 0;
  sentences.forEach((s, i) => {
    const enc = tok.encodeWords(s.tokens);
    const wordLabels = Int32Array.from(s.labels, (l) => labelIndex.get(l) ?? IGNORE);
    const sub = tok.alignLabels(enc.wordIds, wordLabels, scheme, IGNORE);
    const windows = planWindows(enc.ids.length, room, overlap);
    if (windows.length > 1) windowed++;
    windows.forEach((w, wi) => {
      const lab = new Int32Array(w.end - w.start + 2).fill(IGNORE);
      lab.set(sub.subarray(w.start, w.end), 1);
      features.push(row(sp, enc.ids.subarray(w.start, w.end), lab, i, wi));
    });
    layouts.push({ wordIds: enc.wordIds, windows, nWords: s.tokens.length });
  });
  return { features, layouts, windowed };
}

/** Sentence classification (ChemProt's masked pair): one label per window of the sentence. */
export function sequenceFeatures(
  tok: Tokenizer,
  rows: ChemprotRow[],
  labelIndex: Map<string, number>,
  maxLength: number,
  overlap: number,
): FeatureSet<{ windows: number }> {
  const sp = specialsOf(tok);
  const features: Feature[] = [];
  const layouts: { windows: number }[] = [];
  let windowed = 0;
  rows.forEach((r, i) => {
    const enc = tok.encode(r.sentence);
    const windows = planWindows(enc.ids.length, maxLength - 2, overlap);
    if (windows.length > 1) windowed++;
    const label = Int32Array.of(labelIndex.get(r.label) ?? IGNORE);
    windows.forEach((w, wi) => features.push(row(sp, enc.ids.subarray(w.start, w.end), label, i, wi)));
    layouts.push({ windows: windows.length });
  });
  return { features, layouts, windowed };
}

/** Per-window QA layout: where the context starts in the row and which context tokens it holds. */
export interface QaLayout {
  /** Character offsets [start, end) of every context sub-token. */
  offsets: Uint32Array;
  windows: Window[];
  /** Row position of the first context token. */
  contextStart: number;
}

/** SQuAD-style QA: [CLS] question [SEP] context window [SEP]; the answer's token span when the
 *  window holds it whole, else both positions on [CLS] (index 0). Questions longer than
 *  `maxQuery` sub-tokens keep their first `maxQuery` (as Hugging Face's max_query_length). */
export function qaFeatures(tok: Tokenizer, examples: SquadExample[], maxLength: number, overlap: number, maxQuery = 64): FeatureSet<QaLayout> {
  const sp = specialsOf(tok);
  const features: Feature[] = [];
  const layouts: QaLayout[] = [];
  let windowed = 0;
  examples.forEach((ex, i) => {
    const q = tok.encode(ex.question).ids.subarray(0, maxQuery);
    const c = tok.encode(ex.context);
    const room = maxLength - q.length - 3;
    if (room < 8) throw new BiomegError('BIOMEG_BAD_INPUT', `question ${ex.id} has ${q.length} tokens, too long for max length ${maxLength}`);
    const windows = planWindows(c.ids.length, room, Math.min(overlap, room - 1));
    if (windows.length > 1) windowed++;
    const contextStart = q.length + 2;
    // Answer token span (first answer), from character offsets.
    let ts = -1;
    let te = -1;
    const a = ex.answers[0];
    if (a) {
      const cs = a.answer_start;
      const ce = cs + a.text.length;
      for (let k = 0; k < c.ids.length; k++) {
        const s = c.offsets[2 * k];
        const e = c.offsets[2 * k + 1];
        if (ts < 0 && e > cs) ts = k;
        if (s < ce) te = k;
      }
      if (ts < 0 || te < ts) ts = te = -1;
    }
    windows.forEach((w, wi) => {
      const ids = new Uint32Array(contextStart + (w.end - w.start) + 1);
      ids[0] = sp.cls;
      ids.set(q, 1);
      ids[q.length + 1] = sp.sep;
      ids.set(c.ids.subarray(w.start, w.end), contextStart);
      ids[ids.length - 1] = sp.sep;
      const typeIds = new Uint32Array(ids.length);
      typeIds.fill(1, contextStart);
      const inside = ts >= w.start && te < w.end && ts >= 0;
      const labels = inside ? Int32Array.of(contextStart + ts - w.start, contextStart + te - w.start) : Int32Array.of(0, 0);
      features.push({ ids, typeIds, labels, example: i, window: wi });
    });
    layouts.push({ offsets: c.offsets, windows, contextStart });
  });
  return { features, layouts, windowed };
}

/** A padded batch (to the longest row) ready for TrainSession. */
export interface PaddedBatch {
  ids: Uint32Array;
  typeIds: Uint32Array;
  mask: Uint8Array;
  labels: Int32Array;
  batch: number;
  seq: number;
  /** Non-padding tokens. */
  tokens: number;
  rows: Feature[];
}

export function padBatch(rows: Feature[], task: 'token' | 'sequence' | 'qa'): PaddedBatch {
  const seq = Math.max(...rows.map((r) => r.ids.length));
  const n = rows.length * seq;
  const ids = new Uint32Array(n);
  const typeIds = new Uint32Array(n);
  const mask = new Uint8Array(n);
  const labels = task === 'token' ? new Int32Array(n).fill(IGNORE) : new Int32Array(task === 'qa' ? 2 * rows.length : rows.length);
  let tokens = 0;
  rows.forEach((r, b) => {
    ids.set(r.ids, b * seq);
    typeIds.set(r.typeIds, b * seq);
    mask.fill(1, b * seq, b * seq + r.ids.length);
    tokens += r.ids.length;
    if (task === 'token') labels.set(r.labels, b * seq);
    else labels.set(r.labels, b * r.labels.length);
  });
  return { ids, typeIds, mask, labels, batch: rows.length, seq, tokens, rows };
}

/** Rows that carry at least one counted label (training skips the rest). */
export function hasLabel(f: Feature): boolean {
  return f.labels.some((l) => l !== IGNORE);
}
