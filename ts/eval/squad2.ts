// SQuAD v2.0 scores, re-implemented from the official v2.0 evaluation logic (evaluate-v2.0.py):
// the v1.1 normalisation; gold answers that normalise to nothing are dropped and a question left
// with none (an unanswerable one) has the gold answer ''; token F1 is 1 when prediction and gold
// are both empty, else 0 if either is; a question counts as predicted unanswerable when its
// na_prob is above the threshold (default 1.0), and then scores 1 exactly when it has no answer;
// HasAns / NoAns splits; with na_probs, the best threshold (best_exact / best_f1). Scores are
// fractions (the official script prints percentages); the thresholds are na_prob values.
// One extension: the official script fails on a gold question without a prediction; here it
// scores 0 on every key at every threshold, and every total counts it.
import type { SquadExample } from '../data/squad.js';
import { BiomegError } from '../errors.js';
import { exactMatchScore, f1Score, normalizeAnswer } from './squad.js';

/** The official script's default na_prob threshold. */
export const SQUAD2_NA_PROB_THRESH = 1.0;

/** Keys as the official script names them. */
export interface Squad2Result {
  exact: number;
  f1: number;
  total: number;
  HasAns_exact?: number;
  HasAns_f1?: number;
  HasAns_total?: number;
  NoAns_exact?: number;
  NoAns_f1?: number;
  NoAns_total?: number;
  /** With na_probs: the best scores over all thresholds, and the na_prob value that gives them. */
  best_exact?: number;
  best_exact_thresh?: number;
  best_f1?: number;
  best_f1_thresh?: number;
  /** Questions with a prediction (not an official key). */
  answered: number;
}

export interface Squad2Options {
  /** Per question id: the probability (or score, e.g. null minus best span logit) that it has no
   *  answer. Ties in the best-threshold search are taken in this order (a Map keeps its insertion
   *  order; readSquadNaProbs keeps the file's). Must cover every predicted question. */
  naProbs?: Map<string, number> | Array<[string, number]>;
  /** A question is predicted unanswerable when its na_prob is above this [1.0]. */
  naProbThresh?: number;
  /** The files behind the inputs, named in error messages. */
  files?: { gold?: string; pred?: string; naProb?: string };
}

/** 1 when gold and prediction normalise to the same string. */
export function computeExact(gold: string, pred: string): number {
  return exactMatchScore(pred, gold);
}

/** Token-bag F1 of the normalised strings; 1 when both are empty, 0 when only one is. */
export function computeF1(gold: string, pred: string): number {
  const g = normalizeAnswer(gold) === '';
  const p = normalizeAnswer(pred) === '';
  return g || p ? Number(g && p) : f1Score(pred, gold);
}

function mismatch(file: string | undefined, message: string): BiomegError {
  return new BiomegError('BIOMEG_MISMATCH', message, { file });
}

const sumOver = (ids: string[], scores: Map<string, number>): number => ids.reduce((s, id) => s + (scores.get(id) ?? 0), 0);

/**
 * The official script's find_best_thresh: questions sorted by na_prob (stable), answered one by
 * one from the one most likely answerable; a prediction on an unanswerable question costs 1 when
 * its raw text is non-empty (not its normalisation, as in the official script).
 */
function bestThreshold(
  naProbs: Map<string, number>,
  raw: Map<string, number>,
  pred: Map<string, string>,
  hasAns: Map<string, boolean>,
): [number, number] {
  let cur = 0;
  for (const [id, has] of hasAns) if (!has && raw.has(id)) cur++;
  let best = cur;
  let thresh = 0.0;
  const order = [...naProbs].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  for (const [id, p] of order) {
    const s = raw.get(id);
    if (s === undefined) continue;
    cur += hasAns.get(id) ? s : pred.get(id) ? -1 : 0;
    if (cur > best) {
      best = cur;
      thresh = p;
    }
  }
  return [best / hasAns.size, thresh];
}

/** SQuAD v2.0 EM/F1 with no-answer questions; see the module comment. */
export function squad2Eval(
  examples: SquadExample[],
  predictions: Map<string, string> | Record<string, string>,
  opts: Squad2Options = {},
): Squad2Result {
  const files = opts.files ?? {};
  const pred = predictions instanceof Map ? predictions : new Map(Object.entries(predictions));
  const hasAns = new Map<string, boolean>();
  for (const ex of examples) {
    if (hasAns.has(ex.id)) throw new BiomegError('BIOMEG_BAD_DATA', `question id '${ex.id}' occurs twice`, { file: files.gold });
    hasAns.set(ex.id, ex.answers.length > 0);
  }
  if (!hasAns.size) throw new BiomegError('BIOMEG_BAD_DATA', 'no questions to score', { file: files.gold });
  for (const id of pred.keys())
    if (!hasAns.has(id)) throw mismatch(files.pred, `prediction for '${id}', which is not a question of the gold file`);
  const naProbs = opts.naProbs && new Map(opts.naProbs);
  if (naProbs) {
    for (const id of naProbs.keys())
      if (!hasAns.has(id)) throw mismatch(files.naProb, `na_prob for '${id}', which is not a question of the gold file`);
    const missing = [...pred.keys()].filter((id) => !naProbs.has(id));
    if (missing.length)
      throw mismatch(files.naProb, `no na_prob for ${missing.length} predicted question(s): ${missing.slice(0, 5).join(', ')}`);
  }
  const exactRaw = new Map<string, number>();
  const f1Raw = new Map<string, number>();
  for (const ex of examples) {
    const p = pred.get(ex.id);
    if (p === undefined) continue;
    const kept = ex.answers.map((a) => a.text).filter((t) => normalizeAnswer(t) !== '');
    const golds = kept.length ? kept : [''];
    exactRaw.set(ex.id, Math.max(...golds.map((g) => computeExact(g, p))));
    f1Raw.set(ex.id, Math.max(...golds.map((g) => computeF1(g, p))));
  }
  const thresh = opts.naProbThresh ?? SQUAD2_NA_PROB_THRESH;
  const applied = (raw: Map<string, number>) =>
    new Map([...raw].map(([id, s]) => [id, (naProbs?.get(id) ?? 0) > thresh ? Number(!hasAns.get(id)) : s]));
  const exact = applied(exactRaw);
  const f1 = applied(f1Raw);
  const ids = [...hasAns.keys()];
  const out: Squad2Result = {
    exact: sumOver(ids, exact) / ids.length,
    f1: sumOver(ids, f1) / ids.length,
    total: ids.length,
    answered: exactRaw.size,
  };
  for (const [name, keep] of [
    ['HasAns', true],
    ['NoAns', false],
  ] as const) {
    const sub = ids.filter((id) => hasAns.get(id) === keep);
    if (!sub.length) continue;
    Object.assign(out, {
      [`${name}_exact`]: sumOver(sub, exact) / sub.length,
      [`${name}_f1`]: sumOver(sub, f1) / sub.length,
      [`${name}_total`]: sub.length,
    });
  }
  if (naProbs) {
    [out.best_exact, out.best_exact_thresh] = bestThreshold(naProbs, exactRaw, pred, hasAns);
    [out.best_f1, out.best_f1_thresh] = bestThreshold(naProbs, f1Raw, pred, hasAns);
  }
  return out;
}
