// Scoring a fine-tuned model with the exact metrics of ts/eval: NER word-level conlleval
// (first-sub-token predictions mapped back to words), ChemProt micro P/R/F1 over the CPR classes,
// SQuAD EM/F1 and BioASQ strict/lenient accuracy and MRR over per-question aggregated n-best lists.
import type { ConllSentence } from '../data/conll.js';
import type { ChemprotRow } from '../data/chemprot.js';
import type { SquadExample } from '../data/squad.js';
import type { BioasqGoldQuestion } from '../data/bioasq.js';
import { conllEval } from '../eval/conlleval.js';
import { chemprotEval } from '../eval/chemprot.js';
import { squadEval } from '../eval/squad.js';
import { bioasqFactoidEval } from '../eval/bioasq.js';
import { aggregateNbest, type AnswerCandidate } from '../eval/nbest.js';
import { bestSpans } from '../spans.js';
import { subtokensToWordLabels, type LabelScheme } from '../eval/decode.js';
import { bestWindowFor } from '../windows.js';
import { padBatch, type Feature, type NerLayout, type QaLayout } from './features.js';

/** Anything that gives head logits for a padded batch (a TrainSession). */
export interface LogitSource {
  evalLogits(b: { ids: Uint32Array; typeIds: Uint32Array; mask: Uint8Array; batch: number; seq: number }): Promise<Float32Array>;
}

export type HeadTaskName = 'token' | 'sequence' | 'qa';

/** Logits of every feature (row-major [len, outputs] token/QA, [outputs] sequence). */
export async function featureLogits(src: LogitSource, features: Feature[], task: HeadTaskName, outputs: number, batchSize: number): Promise<Float32Array[]> {
  const order = features.map((_, i) => i).sort((a, b) => features[a].ids.length - features[b].ids.length);
  const out: Float32Array[] = new Array(features.length);
  for (let i = 0; i < order.length; i += batchSize) {
    const idx = order.slice(i, i + batchSize);
    const b = padBatch(idx.map((k) => features[k]), task);
    const logits = await src.evalLogits(b);
    idx.forEach((k, r) => {
      if (task === 'sequence') out[k] = logits.slice(r * outputs, (r + 1) * outputs);
      else out[k] = logits.slice(r * b.seq * outputs, (r * b.seq + features[k].ids.length) * outputs);
    });
  }
  return out;
}

function argmax(x: Float32Array, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (x[from + j] > x[from + best]) best = j;
  return best;
}

/** Group feature indices by example. */
function byExample(features: Feature[], nExamples: number): number[][] {
  const g: number[][] = Array.from({ length: nExamples }, () => []);
  features.forEach((f, i) => (g[f.example][f.window] = i));
  return g;
}

export interface EvalResult {
  /** The score that selects the best checkpoint (F1 in [0, 1], or strict accuracy for BioASQ). */
  main: number;
  mainName: string;
  metrics: Record<string, unknown>;
}

export async function evalNer(
  src: LogitSource,
  sentences: ConllSentence[],
  set: { features: Feature[]; layouts: NerLayout[] },
  labels: string[],
  scheme: LabelScheme,
  batchSize: number,
): Promise<EvalResult & { predictions: string[][] }> {
  const n = labels.length;
  const logits = await featureLogits(src, set.features, 'token', n, batchSize);
  const groups = byExample(set.features, sentences.length);
  const predictions = sentences.map((s, i) => {
    const lay = set.layouts[i];
    const sub: (string | null)[] = new Array(lay.wordIds.length).fill(null);
    for (let t = 0; t < sub.length; t++) {
      const wi = bestWindowFor(lay.windows, t);
      const w = lay.windows[wi];
      const row = logits[groups[i][wi]];
      sub[t] = labels[argmax(row, (1 + t - w.start) * n, n)];
    }
    return subtokensToWordLabels(sub, Array.from(lay.wordIds), s.tokens.length, scheme);
  });
  const r = conllEval(
    sentences.map((s) => s.labels),
    predictions,
  );
  return { main: r.f1, mainName: 'f1', metrics: { precision: r.precision, recall: r.recall, f1: r.f1, accuracy: r.accuracy, support: r.support, per_type: r.per_type }, predictions };
}

export async function evalSequence(
  src: LogitSource,
  rows: ChemprotRow[],
  set: { features: Feature[] },
  labels: string[],
  batchSize: number,
  negative = 'false',
): Promise<EvalResult & { predictions: string[] }> {
  const n = labels.length;
  const logits = await featureLogits(src, set.features, 'sequence', n, batchSize);
  const groups = byExample(set.features, rows.length);
  const predictions = rows.map((_, i) => {
    const mean = new Float32Array(n);
    for (const k of groups[i]) for (let j = 0; j < n; j++) mean[j] += logits[k][j] / groups[i].length;
    return labels[argmax(mean, 0, n)];
  });
  const all = [...new Set([...labels, ...rows.map((r) => r.label)])];
  const r = chemprotEval(
    rows.map((r) => r.label),
    predictions,
    { labels: all, positive: all.filter((l) => l !== negative) },
  );
  return { main: r.f1, mainName: 'f1', metrics: { precision: r.precision, recall: r.recall, f1: r.f1, per_class: r.per_class }, predictions };
}

/** n-best answer spans of every example (scores: softmax over each example's n-best). */
export async function qaCandidates(
  src: LogitSource,
  examples: SquadExample[],
  set: { features: Feature[]; layouts: QaLayout[] },
  batchSize: number,
  nBest = 20,
  maxAnswerTokens = 30,
): Promise<AnswerCandidate[][]> {
  const logits = await featureLogits(src, set.features, 'qa', 2, batchSize);
  const groups = byExample(set.features, examples.length);
  return examples.map((ex, i) => {
    const lay = set.layouts[i];
    const top = bestSpans(
      groups[i].map((k, wi) => ({
        start: lay.windows[wi].start,
        end: lay.windows[wi].end,
        startLogit: (t: number) => logits[k][2 * (lay.contextStart + t)],
        endLogit: (t: number) => logits[k][2 * (lay.contextStart + t) + 1],
      })),
      lay.offsets,
      { candidates: nBest, maxAnswerTokens, limit: nBest },
    ).map((sp) => ({ text: ex.context.slice(sp.start, sp.end), logit: sp.logit }));
    const m = top.length ? top[0].logit : 0;
    const z = top.reduce((acc, t) => acc + Math.exp(t.logit - m), 0);
    return top.map((t) => ({ id: ex.id, text: t.text, score: Math.exp(t.logit - m) / z }));
  });
}

export async function evalSquad(src: LogitSource, examples: SquadExample[], set: { features: Feature[]; layouts: QaLayout[] }, batchSize: number): Promise<EvalResult> {
  const cands = await qaCandidates(src, examples, set, batchSize);
  const pred = new Map(examples.map((ex, i) => [ex.id, cands[i][0]?.text ?? '']));
  const r = squadEval(examples, pred);
  return { main: r.f1, mainName: 'f1', metrics: { ...r } };
}

export async function evalBioasq(
  src: LogitSource,
  examples: SquadExample[],
  set: { features: Feature[]; layouts: QaLayout[] },
  gold: BioasqGoldQuestion[],
  batchSize: number,
): Promise<EvalResult & { answers: Map<string, string[][]> }> {
  const cands = await qaCandidates(src, examples, set, batchSize);
  const ranked = aggregateNbest(cands.flat(), { topK: 5 });
  const answers = new Map([...ranked].map(([q, list]) => [q, list.map((a) => [a.text])]));
  const r = bioasqFactoidEval(gold, answers);
  return { main: r.strict_acc, mainName: 'strict_acc', metrics: { ...r }, answers };
}
