// Model rows and batches shared by inference (BiomegModel) and fine-tuning (fineTune): one row
// builder over windows, one padBatch (to the longest row), the logits of many rows in
// length-sorted batches, and the reductions over an input's windows.
import { BiomegError } from '../errors.js';
import type { Tokenizer } from '../text/index.js';
import type { Window } from '../windows.js';

/** Label of positions the loss skips. */
export const IGNORE = -100;
/** The labels of an inference row. */
export const NO_LABELS = new Int32Array(0);

export type HeadTaskName = 'token' | 'sequence' | 'qa';

/** One model input row. `labels`: per token (token task), [label] (sequence), [start, end] (QA);
 *  empty at inference. */
export interface Feature {
  ids: Uint32Array;
  typeIds: Uint32Array;
  labels: Int32Array;
  /** Index of the example (sentence, row, question-context pair) it came from. */
  example: number;
  /** Window index within the example. */
  window: number;
}

export interface FeatureSet<L> {
  features: Feature[];
  /** Per example: what decoding needs to map logits back to the input. */
  layouts: L[];
  /** Examples that needed more than one window. */
  windowed: number;
}

/** A padded batch (to the longest row), for TrainSession or BiomegModel.forward. */
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

/** Anything that gives head logits (or hidden states) for a padded batch: a TrainSession, or a
 *  BiomegModel through `BiomegModel.forward`. */
export interface LogitSource {
  evalLogits(b: { ids: Uint32Array; typeIds: Uint32Array; mask: Uint8Array; batch: number; seq: number }): Promise<Float32Array>;
}

export type Specials = { cls: number; sep: number };

export function specialsOf(tok: Tokenizer): Specials {
  const s = tok.specialIds;
  if (s.cls == null || s.sep == null) throw new BiomegError('BIOMEG_BAD_VOCAB', `${tok.source}: the vocabulary has no [CLS]/[SEP] tokens`);
  return { cls: s.cls, sep: s.sep };
}

/** Append the next example to `set`: its decoding `layout` and one row per window,
 *  `[CLS] body-window [SEP]`, or `[CLS] first [SEP] body-window [SEP]` with type ids 1 from the
 *  body on; `labelsFor` gets each window and the row position of its first body token. */
export function addExample<L>(
  set: FeatureSet<L>,
  layout: L,
  sp: Specials,
  first: Uint32Array | null,
  body: Uint32Array,
  windows: Window[],
  labelsFor: (w: Window, at: number) => Int32Array,
): void {
  const example = set.layouts.length;
  set.layouts.push(layout);
  if (windows.length > 1) set.windowed++;
  const at = first ? first.length + 2 : 1;
  windows.forEach((w, window) => {
    const ids = new Uint32Array(at + (w.end - w.start) + 1);
    ids[0] = sp.cls;
    if (first) {
      ids.set(first, 1);
      ids[at - 1] = sp.sep;
    }
    ids.set(body.subarray(w.start, w.end), at);
    ids[ids.length - 1] = sp.sep;
    const typeIds = new Uint32Array(ids.length);
    if (first) typeIds.fill(1, at);
    set.features.push({ ids, typeIds, labels: labelsFor(w, at), example, window });
  });
}

export function padBatch(rows: Feature[], task: HeadTaskName): PaddedBatch {
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
    labels.set(r.labels, task === 'token' ? b * seq : b * r.labels.length);
  });
  return { ids, typeIds, mask, labels, batch: rows.length, seq, tokens, rows };
}

/** Rows that carry at least one counted label (training skips the rest). */
export function hasLabel(f: Feature): boolean {
  return f.labels.some((l) => l !== IGNORE);
}

/** Outputs of every feature ([len, width] row-major per token, [width] for a sequence head), run
 *  in batches of similar length so little is padding. */
export async function featureLogits(
  src: LogitSource,
  features: Feature[],
  task: HeadTaskName,
  width: number,
  batchSize: number,
): Promise<Float32Array[]> {
  const order = features.map((_, i) => i).sort((a, b) => features[a].ids.length - features[b].ids.length);
  const out: Float32Array[] = new Array(features.length);
  for (let i = 0; i < order.length; i += batchSize) {
    const idx = order.slice(i, i + batchSize);
    const b = padBatch(
      idx.map((k) => features[k]),
      task,
    );
    const logits = await src.evalLogits(b);
    idx.forEach((k, r) => {
      const from = task === 'sequence' ? r * width : r * b.seq * width;
      out[k] = logits.slice(from, from + (task === 'sequence' ? 1 : features[k].ids.length) * width);
    });
  }
  return out;
}

/** Per example, its features' outputs in window order. */
export function byExample(features: Feature[], outputs: Float32Array[], nExamples: number): Float32Array[][] {
  const g: Float32Array[][] = Array.from({ length: nExamples }, () => []);
  features.forEach((f, i) => {
    g[f.example][f.window] = outputs[i];
  });
  return g;
}

/** Mean of the windows' logits (a long input's sequence prediction). */
export function meanLogits(windows: Float32Array[]): Float32Array {
  const mean = new Float32Array(windows[0].length);
  for (const w of windows) for (let j = 0; j < mean.length; j++) mean[j] += w[j] / windows.length;
  return mean;
}

/** Label names of a head from the labels seen in training: 'O' first, the rest sorted. */
export function headLabels(seen: Iterable<string>): string[] {
  return [...new Set(seen)].sort((a, b) => (a === 'O' ? -1 : b === 'O' ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

export function labelIndex(labels: string[]): Map<string, number> {
  return new Map(labels.map((l, i) => [l, i]));
}

export function softmax(x: Float32Array | number[]): number[] {
  const m = Math.max(...x);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}
