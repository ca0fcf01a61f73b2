// Extractive QA (SQuAD-format data, BioASQ factoid): rows [CLS] question [SEP] context-window
// [SEP] with type ids 1 from the context on, the n-best character spans over all windows, and
// dev/test scores as SQuAD EM/F1 or BioASQ strict/lenient accuracy and MRR. Fine-tuning rows,
// their evaluation and BiomegModel.answer all go through the same code here, so:
//  - a question longer than `maxQueryLength` (default 64) sub-tokens keeps its first 64 (Hugging
//    Face's max_query_length), for training and for inference alike;
//  - stride (context sub-tokens shared by consecutive windows) when none is given: min(128, half
//    the room the question leaves); fine-tuning recipes always give theirs (biomegatron-qa: 128);
//  - SQuAD v2.0 (as BERT and Hugging Face's run_qa): an unanswerable question, and every window
//    that does not hold the answer whole, trains start = end = [CLS] (row position 0); the
//    no-answer ("null") score is start + end logit at [CLS], its minimum over the windows, and
//    "no answer" wins when null minus the best span's logit exceeds a threshold (default 0). That
//    difference is the na_prob of the v2.0 scorer. Dev files with unanswerable questions are
//    scored with the v2.0 metric (ts/eval/squad2.ts).
import { readBioasqGolden } from '../data/bioasq.js';
import { readSquad, type SquadAnswer, type SquadExample } from '../data/squad.js';
import { BiomegError } from '../errors.js';
import { bioasqFactoidEval } from '../eval/bioasq.js';
import { aggregateNbest, type AnswerCandidate } from '../eval/nbest.js';
import { squadEval } from '../eval/squad.js';
import { squad2Eval } from '../eval/squad2.js';
import type { Answer, AnswerOptions } from '../model.js';
import { bestSpans, type Span } from '../spans.js';
import type { Tokenizer } from '../text/index.js';
import { planWindows, type Window } from '../windows.js';
import type { EvalResult, InferenceOptions, TaskSpec } from './index.js';
import { byExample, featureLogits, specialsOf, addExample, type FeatureSet, type LogitSource } from './batch.js';

export const MAX_QUERY_LENGTH = 64;

export const qaStride = (room: number): number => Math.min(128, Math.floor(room / 2));

/** Per example: the context's sub-token offsets, its windows and the row position of the first
 *  context token. */
export interface QaLayout {
  /** Character offsets [start, end) of every context sub-token, flattened. */
  offsets: Uint32Array;
  windows: Window[];
  contextStart: number;
}

type QaInput = Pick<SquadExample, 'question' | 'context'> & Partial<Pick<SquadExample, 'id' | 'answers'>>;

/** Token span [first, last] of an answer from the context's character offsets, or [-1, -1]. */
function answerTokens(offsets: Uint32Array, a: SquadAnswer): [number, number] {
  const cs = a.answer_start;
  const ce = cs + a.text.length;
  let ts = -1;
  let te = -1;
  for (let k = 0; k < offsets.length / 2; k++) {
    if (ts < 0 && offsets[2 * k + 1] > cs) ts = k;
    if (offsets[2 * k] < ce) te = k;
  }
  return ts < 0 || te < ts ? [-1, -1] : [ts, te];
}

/** SQuAD-style QA rows; questions longer than `maxQuery` sub-tokens keep their first `maxQuery`. */
export function qaFeatures(
  tok: Tokenizer,
  examples: QaInput[],
  maxLength: number,
  overlap?: number,
  maxQuery = MAX_QUERY_LENGTH,
): FeatureSet<QaLayout> {
  const sp = specialsOf(tok);
  const set: FeatureSet<QaLayout> = { features: [], layouts: [], windowed: 0 };
  for (const ex of examples) {
    const q = tok.encode(ex.question).ids.subarray(0, maxQuery);
    const c = tok.encode(ex.context);
    const room = maxLength - q.length - 3;
    if (room < 8)
      throw new BiomegError(
        'BIOMEG_BAD_INPUT',
        `question${ex.id ? ` ${ex.id}` : ''} has ${q.length} tokens, too long for max length ${maxLength}`,
      );
    const windows = planWindows(c.ids.length, room, overlap ?? qaStride(room));
    const [ts, te] = ex.answers?.[0] ? answerTokens(c.offsets, ex.answers[0]) : [-1, -1];
    // The answer's token span when the window holds it whole, else both positions on [CLS].
    const labelsFor = (w: Window, at: number) =>
      ts >= 0 && ts >= w.start && te < w.end ? Int32Array.of(at + ts - w.start, at + te - w.start) : Int32Array.of(0, 0);
    addExample(set, { offsets: c.offsets, windows, contextStart: q.length + 2 }, sp, q, c.ids, windows, labelsFor);
  }
  return set;
}

/** Per example: its best `limit` character spans over all windows (start + end logit, at most
 *  `maxAnswerTokens` sub-tokens) and its null score (the windows' least [CLS] start + end logit). */
async function qaSpans(
  src: LogitSource,
  set: FeatureSet<QaLayout>,
  o: { batchSize: number; limit: number; candidates?: number; maxAnswerTokens?: number },
): Promise<Array<{ top: Span[]; nullLogit: number }>> {
  const outs = byExample(set.features, await featureLogits(src, set.features, 'qa', 2, o.batchSize), set.layouts.length);
  return set.layouts.map((lay, i) => {
    const windows = outs[i].map((l, wi) => ({
      ...lay.windows[wi],
      startLogit: (t: number) => l[2 * (lay.contextStart + t)],
      endLogit: (t: number) => l[2 * (lay.contextStart + t) + 1],
    }));
    const top = bestSpans(windows, lay.offsets, { candidates: o.candidates, maxAnswerTokens: o.maxAnswerTokens ?? 30, limit: o.limit });
    return { top, nullLogit: Math.min(...outs[i].map((l) => l[0] + l[1])) };
  });
}

/** `score` = softmax over the list's logits. */
function withScores<T extends { logit: number }>(list: T[]): Array<T & { score: number }> {
  const m = Math.max(...list.map((t) => t.logit));
  const z = list.reduce((acc, t) => acc + Math.exp(t.logit - m), 0);
  return list.map((t) => ({ ...t, score: Math.exp(t.logit - m) / z }));
}

/** Null score minus the best span's logit (+Infinity without a span): the v2.0 na_prob; "no
 *  answer" when it exceeds the threshold. */
export function nullScoreDiff(top: Span[], nullLogit: number): number {
  return top.length ? nullLogit - top[0].logit : Number.POSITIVE_INFINITY;
}

type AnswerSpanOptions = InferenceOptions & Omit<AnswerOptions, 'maxLength' | 'stride' | 'batchSize'>;

/** The n-best answer spans of `context` for `question` from a QA head; with `allowNoAnswer`, plus
 *  the no-answer entry, ranked first exactly when null - best span logit > `nullThreshold`. */
export async function answerSpans(
  src: LogitSource,
  tok: Tokenizer,
  question: string,
  context: string,
  o: AnswerSpanOptions,
): Promise<Answer[]> {
  const set = qaFeatures(tok, [{ question, context }], o.maxLength, o.stride, o.maxQueryLength);
  const [{ top, nullLogit }] = await qaSpans(src, set, { batchSize: o.batchSize, limit: o.topK ?? 5, maxAnswerTokens: o.maxAnswerTokens });
  const spans: Array<Omit<Answer, 'score'>> = top.map((t) => ({
    text: context.slice(t.start, t.end),
    start: t.start,
    end: t.end,
    logit: t.logit,
  }));
  if (o.allowNoAnswer) {
    const none = { text: '', start: 0, end: 0, logit: nullLogit, noAnswer: true, scoreDiff: nullScoreDiff(top, nullLogit) };
    const at = spans.findIndex((sp) => nullLogit - (o.nullThreshold ?? 0) > sp.logit);
    spans.splice(at < 0 ? spans.length : at, 0, none);
  }
  return withScores(spans);
}

/** n-best answer spans of every example (scores: softmax over each example's n-best). */
export async function qaCandidates(
  src: LogitSource,
  examples: SquadExample[],
  set: FeatureSet<QaLayout>,
  batchSize: number,
  nBest = 20,
  maxAnswerTokens = 30,
): Promise<AnswerCandidate[][]> {
  const spans = await qaSpans(src, set, { batchSize, limit: nBest, candidates: nBest, maxAnswerTokens });
  return examples.map((ex, i) =>
    withScores(spans[i].top).map((t) => ({ id: ex.id, text: ex.context.slice(t.start, t.end), score: t.score })),
  );
}

export async function evalSquad(
  src: LogitSource,
  examples: SquadExample[],
  set: FeatureSet<QaLayout>,
  batchSize: number,
): Promise<EvalResult> {
  const cands = await qaCandidates(src, examples, set, batchSize);
  const r = squadEval(examples, new Map(examples.map((ex, i) => [ex.id, cands[i][0]?.text ?? ''])));
  return { main: r.f1, mainName: 'f1', metrics: { ...r } };
}

/** SQuAD v2.0: the best span, or '' when null - best span logit > 0 (Hugging Face's default
 *  null_score_diff_threshold); that difference is the na_prob (best_f1_thresh tunes it). */
export async function evalSquad2(
  src: LogitSource,
  examples: SquadExample[],
  set: FeatureSet<QaLayout>,
  batchSize: number,
): Promise<EvalResult> {
  const spans = await qaSpans(src, set, { batchSize, limit: 1, candidates: 20, maxAnswerTokens: 30 });
  const preds = new Map<string, string>();
  const naProbs = new Map<string, number>();
  examples.forEach((ex, i) => {
    const { top, nullLogit } = spans[i];
    const diff = nullScoreDiff(top, nullLogit);
    preds.set(ex.id, diff > 0 ? '' : ex.context.slice(top[0].start, top[0].end));
    naProbs.set(ex.id, diff);
  });
  const r = squad2Eval(examples, preds, { naProbs });
  return { main: r.f1, mainName: 'f1', metrics: { ...r } };
}

/** BioASQ factoid: every snippet's n-best merged per question id, top 5, against the golden file. */
export async function evalBioasq(
  src: LogitSource,
  examples: SquadExample[],
  set: FeatureSet<QaLayout>,
  goldFile: string,
  batchSize: number,
): Promise<EvalResult> {
  const ranked = aggregateNbest((await qaCandidates(src, examples, set, batchSize)).flat(), { topK: 5 });
  const r = bioasqFactoidEval(readBioasqGolden(goldFile), new Map([...ranked].map(([q, list]) => [q, list.map((a) => [a.text])])));
  return { main: r.strict_acc, mainName: 'strict_acc', metrics: { ...r } };
}

export const qaTask: TaskSpec<SquadExample, QaLayout> = {
  name: 'qa',
  head: 'qa',
  dataKinds: ['qa', 'squad'],
  read: (file) => readSquad(file).examples,
  labelsOf: () => [],
  features: (tok, rows, _labels, o) => qaFeatures(tok, rows, o.maxLength, o.stride, o.maxQueryLength),
  async evaluate(src, rows, set, c) {
    if (c.split === 'test' && c.testGold) return evalBioasq(src, rows, set, c.testGold, c.batchSize);
    if (rows.some((e) => e.isImpossible)) return evalSquad2(src, rows, set, c.batchSize);
    if (!rows.some((e) => e.answers.length)) return undefined;
    return evalSquad(src, rows, set, c.batchSize);
  },
};
