// Sub-token <-> word label mapping for the two labelling schemes of the BioMegatron paper:
//  'all'   (a) every sub-token of a word carries the word's label       (B B B B B)
//  'first' (b) only the first sub-token carries it, the rest are masked (B X X X X)
// `wordIds[k]` is the index of the word that sub-token k came from, or null for special
// tokens ([CLS], [SEP], padding), as tokenizers' word_ids() return.

export type LabelScheme = 'all' | 'first';

/** Word labels -> per-sub-token training labels; masked positions get `ignore`. */
export function wordLabelsToSubtokens<T>(
  wordLabels: readonly T[],
  wordIds: readonly (number | null)[],
  scheme: LabelScheme,
  ignore: T | null = null,
): (T | null)[] {
  const out: (T | null)[] = [];
  let prev: number | null = null;
  for (const w of wordIds) {
    if (w === null) out.push(ignore);
    else if (scheme === 'all' || w !== prev) out.push(wordLabels[w]);
    else out.push(ignore);
    prev = w;
  }
  return out;
}

export interface DecodeOptions {
  /** Label for words with no predicted sub-token (cut off by the maximum sequence length). */
  fallback?: string;
  /**
   * Scheme 'all' only: how a word's sub-token predictions become one label. 'first' (default)
   * takes the first sub-token's, as scheme 'first' does; 'majority' takes the most frequent,
   * ties going to the earliest.
   */
  combine?: 'first' | 'majority';
}

/** Per-sub-token predicted labels -> one label per word (nWords of them). */
export function subtokensToWordLabels(
  subLabels: readonly (string | null)[],
  wordIds: readonly (number | null)[],
  nWords: number,
  scheme: LabelScheme,
  opts: DecodeOptions = {},
): string[] {
  if (subLabels.length !== wordIds.length) throw new RangeError(`${subLabels.length} sub-token labels but ${wordIds.length} word ids`);
  const fallback = opts.fallback ?? 'O';
  const majority = scheme === 'all' && opts.combine === 'majority';
  const out: (string | null)[] = new Array(nWords).fill(null);
  const votes: Map<string, number>[] | null = majority ? Array.from({ length: nWords }, () => new Map()) : null;
  let prev: number | null = null;
  for (let k = 0; k < wordIds.length; k++) {
    const w = wordIds[k];
    const l = subLabels[k];
    const first = w !== prev;
    prev = w;
    if (w === null || w >= nWords || l === null) continue;
    if (votes) votes[w].set(l, (votes[w].get(l) ?? 0) + 1);
    else if (first && out[w] === null) out[w] = l;
  }
  if (votes) {
    votes.forEach((v, w) => {
      let best: string | null = null;
      let n = 0;
      for (const [l, c] of v) {
        if (c > n) {
          best = l;
          n = c;
        }
      }
      out[w] = best;
    });
  }
  return out.map((l) => l ?? fallback);
}
