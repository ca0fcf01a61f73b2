// Precision / recall / F1 from counts, with conlleval's and sklearn's zero conventions
// (0 when a denominator is 0).
export interface Prf {
  precision: number;
  recall: number;
  f1: number;
}

export interface PrfCounts extends Prf {
  /** true positives */
  correct: number;
  /** predicted positives */
  predicted: number;
  /** gold positives (support) */
  support: number;
}

export function prf(correct: number, predicted: number, support: number): PrfCounts {
  const precision = predicted > 0 ? correct / predicted : 0;
  const recall = support > 0 ? correct / support : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, correct, predicted, support };
}
