// Tokenized sentences -> packed sequences (the BERT recipe without next-sentence prediction):
// [CLS] s1 s2 ... [SEP], filled greedily with whole sentences up to maxLen; a sequence never
// spans two documents; a sentence longer than a whole sequence is cut into chunks. With
// `separator: 'sep'` every sentence ends with its own [SEP] ([CLS] s1 [SEP] s2 [SEP] ...).
// Per-token word-start flags travel with the ids for whole-word masking. Pure TS (no node:).
import { BiomegError } from '../../errors.js';

export interface TokenizedSentence {
  ids: Uint32Array;
  /** 1 where a token starts a word (the tokenizer's word ids change), 0 on continuations. */
  wordStart: Uint8Array;
}

/** One packed sequence: ids with [CLS] first and [SEP] last, unpadded. */
export interface PackedSequence {
  ids: Uint32Array;
  wordStart: Uint8Array;
}

export interface PackerOptions {
  maxLen: number;
  cls: number;
  sep: number;
  /** `none` (default): [CLS] s1 s2 ... [SEP]; `sep`: a [SEP] after every sentence. */
  separator?: 'none' | 'sep';
}

/** Word-start flags from a tokenizer's per-token word ids. */
export function wordStarts(wordIds: Uint32Array): Uint8Array {
  const out = new Uint8Array(wordIds.length);
  for (let i = 0; i < wordIds.length; i++) out[i] = i === 0 || wordIds[i] !== wordIds[i - 1] ? 1 : 0;
  return out;
}

/** Streaming packer: feed the sentences of one document, then `endDocument()`; finished sequences
 *  go to `emit`. Holds at most one sequence under construction (maxLen tokens). */
export class Packer {
  readonly maxLen: number;
  private readonly ids: Uint32Array;
  private readonly starts: Uint8Array;
  private len = 1; // [CLS] is always there
  private lastIsSep = false;
  private readonly sepEach: boolean;

  constructor(
    private readonly opts: PackerOptions,
    private readonly emit: (s: PackedSequence) => void,
  ) {
    if (!Number.isInteger(opts.maxLen) || opts.maxLen < 3)
      throw new BiomegError('BIOMEG_BAD_ARGUMENT', `maxLen must be an integer >= 3 (got ${opts.maxLen})`);
    this.maxLen = opts.maxLen;
    this.ids = new Uint32Array(opts.maxLen);
    this.starts = new Uint8Array(opts.maxLen);
    this.ids[0] = opts.cls;
    this.starts[0] = 1;
    this.sepEach = opts.separator === 'sep';
  }

  /** Room for content tokens in one sequence ([CLS] and the closing [SEP] excluded). */
  get capacity(): number {
    return this.maxLen - 2;
  }

  /** Bytes held by the sequence under construction. */
  get bufferBytes(): number {
    return this.ids.byteLength + this.starts.byteLength;
  }

  addSentence(s: TokenizedSentence): void {
    const n = s.ids.length;
    if (n === 0) return;
    const cost = n + (this.sepEach ? 1 : 0);
    // content room left: maxLen - len - 1 (the final [SEP]); with sepEach the sentence's own [SEP] is that slot
    const room = () => this.maxLen - this.len - (this.sepEach ? 0 : 1);
    if (cost > room() && this.len > 1) this.flush();
    if (cost <= room()) {
      this.append(s.ids, s.wordStart, 0, n);
      if (this.sepEach) this.pushSep();
      return;
    }
    // longer than a whole sequence: chunks of full capacity, the last one stays open for packing
    for (let off = 0; off < n; ) {
      const take = Math.min(n - off, this.capacity);
      if (this.len > 1 && take + (this.sepEach ? 1 : 0) > room()) this.flush();
      this.append(s.ids, s.wordStart, off, off + take);
      off += take;
      if (off < n) this.flush();
      else if (this.sepEach) this.pushSep();
    }
  }

  /** Close the current sequence (documents never share one). */
  endDocument(): void {
    if (this.len > 1) this.flush();
  }

  private append(ids: Uint32Array, starts: Uint8Array, from: number, to: number): void {
    this.ids.set(ids.subarray(from, to), this.len);
    this.starts.set(starts.subarray(from, to), this.len);
    this.len += to - from;
    this.lastIsSep = false;
  }

  private pushSep(): void {
    this.ids[this.len] = this.opts.sep;
    this.starts[this.len] = 1;
    this.len++;
    this.lastIsSep = true;
  }

  private flush(): void {
    if (!this.lastIsSep) this.pushSep();
    this.emit({ ids: this.ids.slice(0, this.len), wordStart: this.starts.slice(0, this.len) });
    this.len = 1;
    this.lastIsSep = false;
  }
}
