// Token classification (NER): sub-token windows of a sentence or text, each sub-token's logits
// from the window where it is most central, word labels from those logits, entities with
// character offsets, and dev/test scores with conlleval. Fine-tuning rows, their evaluation and
// BiomegModel.ner / encode all window and read back through the same code here.
//
// Stride (sub-tokens shared by consecutive windows) when none is given: a quarter of the
// window's body, floor((maxLength - 2) / 4). Fine-tuning recipes always give theirs.
import { readConll, type ConllSentence } from '../data/conll.js';
import { conllEval } from '../eval/conlleval.js';
import { subtokensToWordLabels, type LabelScheme } from '../eval/decode.js';
import type { EncodedText, Entity } from '../model.js';
import type { Encoding, Tokenizer } from '../text/index.js';
import { bestWindowFor, planWindows, type Window } from '../windows.js';
import type { EvalResult, InferenceOptions, TaskSpec } from './index.js';
import {
  IGNORE,
  addExample,
  NO_LABELS,
  argmax,
  byExample,
  featureLogits,
  headLabels,
  labelIndex,
  softmax,
  specialsOf,
  type FeatureSet,
  type LogitSource,
} from './batch.js';

export interface TokenLayout {
  /** Word index of each sub-token. */
  wordIds: Uint32Array;
  windows: Window[];
}

export const tokenStride = (room: number): number => Math.floor(room / 4);

/** Rows over each encoding's windows; `subLabels(i)` gives example i's per-sub-token labels. */
function tokenSet(
  tok: Tokenizer,
  encs: Encoding[],
  maxLength: number,
  stride?: number,
  subLabels?: (i: number) => Int32Array,
): FeatureSet<TokenLayout> {
  const sp = specialsOf(tok);
  const room = maxLength - 2;
  const set: FeatureSet<TokenLayout> = { features: [], layouts: [], windowed: 0 };
  encs.forEach((enc, i) => {
    const windows = planWindows(enc.ids.length, room, stride ?? tokenStride(room));
    const sub = subLabels?.(i);
    const labelsFor = (w: Window, at: number) => {
      if (!sub) return NO_LABELS;
      const lab = new Int32Array(w.end - w.start + 2).fill(IGNORE);
      lab.set(sub.subarray(w.start, w.end), at);
      return lab;
    };
    addExample(set, { wordIds: enc.wordIds, windows }, sp, null, enc.ids, windows, labelsFor);
  });
  return set;
}

/** NER: words -> sub-tokens with the labelling scheme ('all' or 'first'); labels not in
 *  `labelIndex` (dev/test labels unseen in training) are ignored in the loss. */
export function nerFeatures(
  tok: Tokenizer,
  sentences: ConllSentence[],
  labelIndex: Map<string, number>,
  scheme: LabelScheme,
  maxLength: number,
  overlap?: number,
): FeatureSet<TokenLayout> {
  const encs = sentences.map((s) => tok.encodeWords(s.tokens));
  const wordLabels = (i: number) => Int32Array.from(sentences[i].labels, (l) => labelIndex.get(l) ?? IGNORE);
  return tokenSet(tok, encs, maxLength, overlap, (i) => tok.alignLabels(encs[i].wordIds, wordLabels(i), scheme, IGNORE));
}

/** Per example, per sub-token: its output row from the window where it is most central. */
async function tokenOutputs(src: LogitSource, set: FeatureSet<TokenLayout>, width: number, batchSize: number): Promise<Float32Array[][]> {
  const outs = byExample(set.features, await featureLogits(src, set.features, 'token', width, batchSize), set.layouts.length);
  return set.layouts.map(({ wordIds, windows }, i) =>
    Array.from(wordIds, (_, t) => {
      const wi = bestWindowFor(windows, t);
      const row = 1 + t - windows[wi].start; // +1 for [CLS]
      return outs[i][wi].subarray(row * width, (row + 1) * width);
    }),
  );
}

/** Hidden states (`src` without a head, `width` = hidden size) of every sub-token of each text. */
export async function encodeTexts(
  src: LogitSource,
  tok: Tokenizer,
  texts: string[],
  width: number,
  o: InferenceOptions,
): Promise<EncodedText[]> {
  const encs = texts.map((t) => tok.encode(t));
  const rows = await tokenOutputs(src, tokenSet(tok, encs, o.maxLength, o.stride), width, o.batchSize);
  return encs.map((enc, i) => {
    const hidden = new Float32Array(enc.ids.length * width);
    rows[i].forEach((r, t) => {
      hidden.set(r, t * width);
    });
    const offsets = Array.from({ length: enc.ids.length }, (_, t): [number, number] => [enc.offsets[2 * t], enc.offsets[2 * t + 1]]);
    return { tokens: enc.tokens, offsets, hidden, hiddenSize: width };
  });
}

/** Named entities of each text from a token-classification head with these labels. */
export async function recognize(
  src: LogitSource,
  tok: Tokenizer,
  labels: string[],
  texts: string[],
  o: InferenceOptions,
): Promise<Entity[][]> {
  const encs = texts.map((t) => tok.encode(t));
  const rows = await tokenOutputs(src, tokenSet(tok, encs, o.maxLength, o.stride), labels.length, o.batchSize);
  return encs.map((enc, i) => {
    // One prediction per word: the first sub-token's (labelling scheme (b)).
    const words: Array<{ label: string; prob: number; start: number; end: number }> = [];
    rows[i].forEach((logits, t) => {
      const [start, end] = [enc.offsets[2 * t], enc.offsets[2 * t + 1]];
      if (t > 0 && enc.wordIds[t] === enc.wordIds[t - 1]) {
        words[words.length - 1].end = end;
        return;
      }
      const p = softmax(logits);
      const best = argmax(p);
      words.push({ label: labels[best], prob: p[best], start, end });
    });
    return entitiesFromWords(words, texts[i]);
  });
}

/** IOB word labels -> entity spans (conlleval's rules: I- after O or another type opens one). */
export function entitiesFromWords(words: Array<{ label: string; prob: number; start: number; end: number }>, text: string): Entity[] {
  type Open = { type: string; start: number; end: number; probs: number[] };
  const entity = (c: Open): Entity => ({
    label: c.type,
    score: c.probs.reduce((a, b) => a + b, 0) / c.probs.length,
    start: c.start,
    end: c.end,
    text: text.slice(c.start, c.end),
  });
  const out: Entity[] = [];
  let cur: Open | undefined;
  for (const w of words) {
    const m = /^([BI])(?:-(.+))?$/.exec(w.label);
    const type = m ? (m[2] ?? 'ENTITY') : null;
    if (cur && m?.[1] === 'I' && cur.type === type) {
      cur.end = w.end;
      cur.probs.push(w.prob);
      continue;
    }
    if (cur) out.push(entity(cur));
    cur = type === null ? undefined : { type, start: w.start, end: w.end, probs: [w.prob] };
  }
  if (cur) out.push(entity(cur));
  return out;
}

/** Word-level conlleval of first-sub-token predictions mapped back to the sentences' words. */
export async function evalNer(
  src: LogitSource,
  sentences: ConllSentence[],
  set: FeatureSet<TokenLayout>,
  labels: string[],
  scheme: LabelScheme,
  batchSize: number,
): Promise<EvalResult> {
  const rows = await tokenOutputs(src, set, labels.length, batchSize);
  const predicted = sentences.map((s, i) =>
    subtokensToWordLabels(
      rows[i].map((r) => labels[argmax(r)]),
      Array.from(set.layouts[i].wordIds),
      s.tokens.length,
      scheme,
    ),
  );
  const r = conllEval(
    sentences.map((s) => s.labels),
    predicted,
  );
  return {
    main: r.f1,
    mainName: 'f1',
    metrics: { precision: r.precision, recall: r.recall, f1: r.f1, accuracy: r.accuracy, support: r.support, per_type: r.per_type },
  };
}

export const tokenTask: TaskSpec<ConllSentence, TokenLayout> = {
  name: 'ner',
  head: 'token',
  dataKinds: ['ner'],
  read: (file) => readConll(file),
  labelsOf: (rows) => headLabels(rows.flatMap((s) => s.labels)),
  features: (tok, rows, labels, o) => nerFeatures(tok, rows, labelIndex(labels), o.scheme, o.maxLength, o.stride),
  evaluate: (src, rows, set, c) => evalNer(src, rows, set, c.labels, c.scheme, c.batchSize),
};
