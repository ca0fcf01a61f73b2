// ChemProt relation scoring as in BLUE / BioBERT / NeMo: micro-averaged P/R/F1 over the five
// evaluated CPR groups with `false` excluded (sklearn's precision_recall_fscore_support with
// labels=CPR groups, average='micro'), per-class scores and the confusion matrix.
import { BiomegError } from '../data/errors.js';
import { prf, type Prf, type PrfCounts } from './prf.js';

export const CPR_CLASSES = ['CPR:3', 'CPR:4', 'CPR:5', 'CPR:6', 'CPR:9'] as const;
export const CHEMPROT_LABELS = [...CPR_CLASSES, 'false'] as const;

export interface ReResult extends Prf {
  correct: number;
  predicted: number;
  support: number;
  per_class: Record<string, PrfCounts>;
  /** matrix[i][j] = rows with gold labels[i] predicted as labels[j]. */
  confusion: { labels: string[]; matrix: number[][] };
}

export interface ReOptions {
  /** All labels that may occur. Default: the CPR groups and 'false'. */
  labels?: readonly string[];
  /** Labels averaged over. Default: the CPR groups. */
  positive?: readonly string[];
}

export function chemprotEval(gold: readonly string[], pred: readonly string[], opts: ReOptions = {}): ReResult {
  const labels = [...(opts.labels ?? CHEMPROT_LABELS)];
  const positive = [...(opts.positive ?? CPR_CLASSES)];
  if (gold.length !== pred.length) throw new BiomegError('BIOMEG_MISMATCH', `gold has ${gold.length} rows, prediction ${pred.length}`);
  const index = new Map(labels.map((l, i) => [l, i]));
  const matrix = labels.map(() => labels.map(() => 0));
  for (let r = 0; r < gold.length; r++) {
    const gi = index.get(gold[r]);
    const pi = index.get(pred[r]);
    if (gi === undefined)
      throw new BiomegError('BIOMEG_BAD_DATA', `row ${r + 1}: unknown gold label '${gold[r]}' (expected one of ${labels.join(', ')})`);
    if (pi === undefined)
      throw new BiomegError('BIOMEG_BAD_DATA', `row ${r + 1}: unknown predicted label '${pred[r]}' (expected one of ${labels.join(', ')})`);
    matrix[gi][pi]++;
  }
  const per_class: Record<string, PrfCounts> = {};
  let correct = 0;
  let predicted = 0;
  let support = 0;
  for (const l of positive) {
    const i = index.get(l);
    if (i === undefined) throw new BiomegError('BIOMEG_USAGE', `positive label '${l}' is not among the labels`);
    const tp = matrix[i][i];
    const col = matrix.reduce((s, row) => s + row[i], 0);
    const row = matrix[i].reduce((s, v) => s + v, 0);
    per_class[l] = prf(tp, col, row);
    correct += tp;
    predicted += col;
    support += row;
  }
  return { ...prf(correct, predicted, support), per_class, confusion: { labels, matrix } };
}
