// Label-bias statistic of the BioMegatron paper.
//  NER / RE: (sum of the minority labels' counts) / (count of the majority label)
//  QA:       (fewest repeats of one answer) / (most repeats of one answer)

/** (total - majority) / majority over a label histogram; 0 for an empty histogram. */
export function labelBias(counts: Record<string, number> | Map<string, number>): number {
  const values = counts instanceof Map ? [...counts.values()] : Object.values(counts);
  if (!values.length) return 0;
  const max = Math.max(...values);
  const total = values.reduce((a, b) => a + b, 0);
  return max > 0 ? (total - max) / max : 0;
}

/** Answer-repeat bias: min / max of how often each distinct answer text occurs. */
export function answerBias(
  answers: Iterable<string>,
  normalize: (s: string) => string = (s) => s.trim().toLowerCase(),
): {
  bias: number;
  minRepeats: number;
  maxRepeats: number;
  distinct: number;
} {
  const counts = new Map<string, number>();
  for (const a of answers) {
    const k = normalize(a);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  if (!counts.size) return { bias: 0, minRepeats: 0, maxRepeats: 0, distinct: 0 };
  let min = Infinity;
  let max = 0;
  for (const c of counts.values()) {
    if (c < min) min = c;
    if (c > max) max = c;
  }
  return { bias: min / max, minRepeats: min, maxRepeats: max, distinct: counts.size };
}
