// QA n-best aggregation: candidates from every snippet (and every window of a long snippet)
// of a question are pooled, duplicates merged, and the best k kept, ranked by score.
//
// Duplicates: two candidates are the same answer when their texts are equal after
// lower-casing, trimming and collapsing whitespace (the comparison BioASQ's measures make,
// plus whitespace). A merged answer keeps the text of its best-scoring occurrence and,
// by default, the maximum score ('max'); 'sum' adds the scores instead (use it with
// probabilities to reward answers found in several snippets). Ties keep first-seen order.
import { questionIdOf } from '../data/squad.js';

export interface AnswerCandidate {
  /** Example id: a snippet/window example such as `<qid>_<nnn>`, or the question id. */
  id: string;
  text: string;
  /** Higher is better: a probability or a start+end logit sum. */
  score: number;
}

export interface RankedAnswer {
  text: string;
  score: number;
  /** Number of candidates merged into this answer. */
  count: number;
}

export interface AggregateOptions {
  topK?: number;
  merge?: 'max' | 'sum';
  /** Maps an example id to its question id. Default: strip a trailing `_<digits>`. */
  questionId?: (exampleId: string) => string;
  /** Key under which answers merge. */
  normalize?: (text: string) => string;
  /** Drop candidates whose text is empty after normalization. Default true. */
  dropEmpty?: boolean;
}

export const normalizeCandidate = (s: string): string => s.toLowerCase().trim().replace(/\s+/g, ' ');

export function aggregateNbest(candidates: Iterable<AnswerCandidate>, opts: AggregateOptions = {}): Map<string, RankedAnswer[]> {
  const topK = opts.topK ?? 5;
  const merge = opts.merge ?? 'max';
  const qidOf = opts.questionId ?? questionIdOf;
  const norm = opts.normalize ?? normalizeCandidate;
  const dropEmpty = opts.dropEmpty ?? true;
  const byQuestion = new Map<string, Map<string, RankedAnswer & { best: number; order: number }>>();
  let order = 0;
  for (const c of candidates) {
    const key = norm(c.text);
    if (dropEmpty && key === '') continue;
    const qid = qidOf(c.id);
    let answers = byQuestion.get(qid);
    if (!answers) byQuestion.set(qid, (answers = new Map()));
    const a = answers.get(key);
    if (!a) {
      answers.set(key, { text: c.text.trim(), score: c.score, count: 1, best: c.score, order: order++ });
      continue;
    }
    a.count++;
    a.score = merge === 'sum' ? a.score + c.score : Math.max(a.score, c.score);
    if (c.score > a.best) {
      a.best = c.score;
      a.text = c.text.trim();
    }
  }
  const out = new Map<string, RankedAnswer[]>();
  for (const [qid, answers] of byQuestion) {
    const ranked = [...answers.values()].sort((x, y) => y.score - x.score || x.order - y.order);
    out.set(
      qid,
      ranked.slice(0, topK).map(({ text, score, count }) => ({ text, score, count })),
    );
  }
  return out;
}

/** Ranked answers -> BioASQ submission JSON (`exact_answer` = one-synonym lists). */
export function toBioasqAnswerJson(ranked: Map<string, RankedAnswer[]>): { questions: { id: string; exact_answer: string[][] }[] } {
  return { questions: [...ranked].map(([id, answers]) => ({ id, exact_answer: answers.map((a) => [a.text]) })) };
}
