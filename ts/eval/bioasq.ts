// BioASQ factoid measures as defined by the official BioASQ Evaluation-Measures (Task B,
// version 5+): strings compared case-insensitively (lower-cased, otherwise exact); each
// submitted answer counts by its first synonym; gold answers are synonym lists.
//  strict accuracy  = top-1 answer matches a gold synonym
//  lenient accuracy = one of the top 5 matches
//  MRR              = 1/rank of the first match within the top 5, else 0
// Averages run over every factoid question of the gold file; an unanswered question scores 0.
import type { BioasqGoldQuestion } from '../data/bioasq.js';

export interface QaResult {
  strict_acc: number;
  lenient_acc: number;
  mrr: number;
  /** Factoid questions in the gold file. */
  questions: number;
  /** Of those, questions with a submitted answer list. */
  answered: number;
}

export const BIOASQ_TOP_K = 5;

/** Rank (1-based) of the first answer matching a gold synonym within the top k, else 0. */
export function firstMatchRank(gold: string[][], answers: string[][], k = BIOASQ_TOP_K): number {
  const syn = new Set<string>();
  for (const g of gold) for (const s of g) syn.add(s.toLowerCase());
  const n = Math.min(k, answers.length);
  for (let i = 0; i < n; i++) {
    const first = answers[i][0];
    if (first !== undefined && syn.has(first.toLowerCase())) return i + 1;
  }
  return 0;
}

export function bioasqFactoidEval(
  gold: BioasqGoldQuestion[],
  answers: Map<string, string[][]> | Record<string, string[][]>,
  k = BIOASQ_TOP_K,
): QaResult {
  const pred = answers instanceof Map ? answers : new Map(Object.entries(answers));
  let strict = 0;
  let lenient = 0;
  let mrr = 0;
  let questions = 0;
  let answered = 0;
  for (const q of gold) {
    if (q.type !== 'factoid') continue;
    questions++;
    const a = pred.get(q.id);
    if (!a) continue;
    answered++;
    const r = firstMatchRank(q.exactAnswer, a, k);
    if (r === 1) strict++;
    if (r > 0) {
      lenient++;
      mrr += 1 / r;
    }
  }
  const d = questions || 1;
  return { strict_acc: strict / d, lenient_acc: lenient / d, mrr: mrr / d, questions, answered };
}
