// Public API of the evaluation module: metrics, file scorers and decoding helpers.
export { prf, type Prf, type PrfCounts } from './prf.js';
export { ConllEvaluator, conllEval, UNTYPED, type NerResult } from './conlleval.js';
export { scoreConllFiles, type NerFiles } from './ner-files.js';
export { chemprotEval, CPR_CLASSES, CHEMPROT_LABELS, type ReResult, type ReOptions } from './chemprot.js';
export { scoreChemprotFiles } from './re-files.js';
export { bioasqFactoidEval, firstMatchRank, BIOASQ_TOP_K, type QaResult } from './bioasq.js';
export { squadEval, normalizeAnswer, exactMatchScore, f1Score, type SquadResult } from './squad.js';
export { squad2Eval, computeExact, computeF1, SQUAD2_NA_PROB_THRESH, type Squad2Result, type Squad2Options } from './squad2.js';
export { labelBias, answerBias } from './bias.js';
export { wordLabelsToSubtokens, subtokensToWordLabels, type LabelScheme, type DecodeOptions } from './decode.js';
export {
  aggregateNbest,
  toBioasqAnswerJson,
  normalizeCandidate,
  type AnswerCandidate,
  type RankedAnswer,
  type AggregateOptions,
} from './nbest.js';
