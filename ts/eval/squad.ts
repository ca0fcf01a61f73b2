// SQuAD v1.1 exact match and F1, re-implemented from the official v1.1 evaluation logic:
// normalize = lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse
// whitespace; EM and token-bag F1 take the max over the gold answers; unanswered questions
// score 0. Results are fractions (the official script prints percentages).
import type { SquadExample } from '../data/squad.js';

const PUNCT = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
// Python's `\b` in a str pattern is Unicode-aware (word = alphanumeric or '_'); JS `\b` is not,
// hence explicit look-arounds.
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;
// Characters Python's str.split() treats as whitespace.
// biome-ignore lint/suspicious/noControlCharactersInRegex: \x0b \x0c \x1c-\x1f are whitespace to Python; matching them is the point.
const PY_WS = /[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

function pySplit(s: string): string[] {
  return s.split(PY_WS).filter((t) => t.length > 0);
}

export function normalizeAnswer(s: string): string {
  const lower = s.toLowerCase();
  const noPunct = lower.replace(PUNCT, '');
  const noArticles = noPunct.replace(ARTICLES, ' ');
  return pySplit(noArticles).join(' ');
}

export function exactMatchScore(prediction: string, truth: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(truth) ? 1 : 0;
}

export function f1Score(prediction: string, truth: string): number {
  const p = pySplit(normalizeAnswer(prediction));
  const g = pySplit(normalizeAnswer(truth));
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

export interface SquadResult {
  exact_match: number;
  f1: number;
  /** Questions in the gold file. */
  total: number;
  /** Questions that had a prediction. */
  answered: number;
}

export function squadEval(examples: SquadExample[], predictions: Map<string, string> | Record<string, string>): SquadResult {
  const pred = predictions instanceof Map ? predictions : new Map(Object.entries(predictions));
  let em = 0;
  let f1 = 0;
  let answered = 0;
  for (const ex of examples) {
    const p = pred.get(ex.id);
    if (p === undefined) continue;
    answered++;
    let bestEm = 0;
    let bestF1 = 0;
    for (const a of ex.answers) {
      bestEm = Math.max(bestEm, exactMatchScore(p, a.text));
      bestF1 = Math.max(bestF1, f1Score(p, a.text));
    }
    em += bestEm;
    f1 += bestF1;
  }
  const total = examples.length;
  return { exact_match: total ? em / total : 0, f1: total ? f1 / total : 0, total, answered };
}
