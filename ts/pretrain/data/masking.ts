// Masked-LM inputs (the BERT recipe), pure TypeScript with no node: import so it also runs in a
// browser. Per sequence: round(15 %) of the non-special tokens (at least 1) are chosen, as in
// BERT's create_pretraining_data; of those 80 % become [MASK], 10 % a random non-special id,
// 10 % stay. Whole-word masking chooses whole words (a word = a run of tokens from one word-start
// flag to the next) and skips a word that would exceed the count, as BERT does. Dynamic masking:
// each (seed, epoch, record) gets its own generator, so every epoch masks differently and the same
// seed always masks the same way.
import { BiomegError } from '../../errors.js';
import { mulberry32 } from '../../rng.js';

export interface SpecialTokenIds {
  cls: number;
  sep: number;
  pad: number;
  mask: number;
  unk: number | null;
}

export interface MaskingOptions {
  vocabSize: number;
  special: SpecialTokenIds;
  /** Share of the non-special tokens to predict (default 0.15). */
  maskProb?: number;
  /** Of the chosen tokens: share replaced by [MASK] (default 0.8) and by a random id (default 0.1); the rest stay. */
  maskTokenProb?: number;
  randomTokenProb?: number;
  wholeWord?: boolean;
  /** Cap on chosen tokens per sequence (BERT's max_predictions_per_seq; default none). */
  maxPredictions?: number;
}

/** A batch in the shapes TrainSession.step takes: [batch, seq] row-major. */
export interface MaskedBatch {
  ids: Uint32Array;
  /** Attention mask: 1 on real tokens, 0 on padding. */
  mask: Uint8Array;
  /** Original id at the chosen positions, -100 elsewhere. */
  labels: Int32Array;
  batch: number;
  seq: number;
}

/** One unpadded sequence with its word-start flags. */
export interface SequenceRecord {
  ids: Uint32Array;
  wordStart: Uint8Array;
}

export const IGNORE_INDEX = -100;

/** A 32-bit seed from several integers (murmur3-style mixing; order matters). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    let k = Math.imul(p >>> 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
    h ^= Math.floor(p / 4294967296); // the high bits of record indices beyond 2^32
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Checked options with defaults filled in. */
export class Masker {
  readonly maskProb: number;
  readonly maskTokenProb: number;
  readonly randomTokenProb: number;
  readonly wholeWord: boolean;
  readonly maxPredictions: number;
  private readonly noPredict: Set<number>;
  private readonly noRandom: Set<number>;

  constructor(readonly opts: MaskingOptions) {
    this.maskProb = opts.maskProb ?? 0.15;
    this.maskTokenProb = opts.maskTokenProb ?? 0.8;
    this.randomTokenProb = opts.randomTokenProb ?? 0.1;
    this.wholeWord = opts.wholeWord ?? false;
    this.maxPredictions = opts.maxPredictions ?? Infinity;
    const bad = (m: string) => new BiomegError('BIOMEG_BAD_ARGUMENT', m);
    if (!(this.maskProb > 0 && this.maskProb <= 1)) throw bad(`maskProb must be in (0, 1] (got ${this.maskProb})`);
    if (!(this.maskTokenProb >= 0 && this.randomTokenProb >= 0 && this.maskTokenProb + this.randomTokenProb <= 1))
      throw bad(`maskTokenProb + randomTokenProb must be within [0, 1] (got ${this.maskTokenProb} + ${this.randomTokenProb})`);
    if (!(this.maxPredictions >= 1)) throw bad(`maxPredictions must be >= 1 (got ${this.maxPredictions})`);
    const s = opts.special;
    this.noPredict = new Set([s.cls, s.sep, s.pad, s.mask]);
    this.noRandom = new Set([...this.noPredict, ...(s.unk === null ? [] : [s.unk])]);
    if (!(Number.isInteger(opts.vocabSize) && opts.vocabSize > this.noRandom.size))
      throw bad(`vocabSize ${opts.vocabSize} leaves no non-special token to draw random replacements from`);
  }

  /** Mask one sequence into `ids`/`labels` rows (the caller pads beyond `rec.ids.length`); returns
   *  the number of chosen positions. */
  maskInto(rec: SequenceRecord, seed: number, outIds: Uint32Array, outLabels: Int32Array, at: number): number {
    const n = rec.ids.length;
    const rand = mulberry32(seed);
    const cand: number[] = [];
    for (let i = 0; i < n; i++) {
      outIds[at + i] = rec.ids[i];
      outLabels[at + i] = IGNORE_INDEX;
      if (!this.noPredict.has(rec.ids[i])) cand.push(i);
    }
    if (cand.length === 0) return 0;
    const want = Math.min(this.maxPredictions, Math.max(1, Math.round(cand.length * this.maskProb)));
    // groups of positions: single tokens, or whole words
    const groups: number[][] = [];
    for (let c = 0; c < cand.length; c++) {
      const i = cand[c];
      const joins = this.wholeWord && c > 0 && cand[c - 1] === i - 1 && rec.wordStart[i] === 0;
      if (joins) groups[groups.length - 1].push(i);
      else groups.push([i]);
    }
    for (let g = groups.length - 1; g > 0; g--) {
      const j = Math.floor(rand() * (g + 1));
      const t = groups[g];
      groups[g] = groups[j];
      groups[j] = t;
    }
    let chosen = 0;
    for (const group of groups) {
      if (chosen >= want) break;
      if (chosen + group.length > want) continue;
      for (const i of group) {
        const orig = rec.ids[i];
        outLabels[at + i] = orig;
        const r = rand();
        if (r < this.maskTokenProb) outIds[at + i] = this.opts.special.mask;
        else if (r < this.maskTokenProb + this.randomTokenProb) outIds[at + i] = this.randomId(rand);
        chosen++;
      }
    }
    return chosen;
  }

  private randomId(rand: () => number): number {
    for (;;) {
      const id = Math.floor(rand() * this.opts.vocabSize);
      if (!this.noRandom.has(id)) return id;
    }
  }

  /** Mask and pad records into one batch of `seq` columns (default: the longest record).
   *  `seeds[r]` seeds row r (use mixSeed(seed, epoch, recordIndex) for dynamic masking). */
  maskBatch(records: SequenceRecord[], seeds: ArrayLike<number>, seq?: number): MaskedBatch {
    const width = seq ?? records.reduce((m, r) => Math.max(m, r.ids.length), 0);
    const batch = records.length;
    const ids = new Uint32Array(batch * width).fill(this.opts.special.pad);
    const labels = new Int32Array(batch * width).fill(IGNORE_INDEX);
    const mask = new Uint8Array(batch * width);
    records.forEach((rec, r) => {
      if (rec.ids.length > width)
        throw new BiomegError('BIOMEG_BAD_INPUT', `record ${r} has ${rec.ids.length} tokens, more than seq=${width}`);
      this.maskInto(rec, seeds[r], ids, labels, r * width);
      mask.fill(1, r * width, r * width + rec.ids.length);
    });
    return { ids, mask, labels, batch, seq: width };
  }
}

/** Mask a batch of records in one call (see Masker). */
export function maskBatch(records: SequenceRecord[], seeds: ArrayLike<number>, opts: MaskingOptions & { seq?: number }): MaskedBatch {
  return new Masker(opts).maskBatch(records, seeds, opts.seq);
}
