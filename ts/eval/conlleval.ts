// Entity-level scoring exactly as the CoNLL `conlleval` script counts chunks (and as seqeval
// does in its default, conlleval-compatible mode). Works token by token with O(1) state, so a
// file of any size streams through it.
//
// Chunk rules (IOB1 and IOB2 alike): a chunk starts at B-x, at I-x after O, or at I-x after a
// token of another type; it ends before B, before O, or before a token of another type. So
// "O I-x" opens a chunk and "B-x I-y" is two chunks. Sentence boundaries close every chunk.
import { malformedTagMessage, parseTag } from '../data/conll.js';
import { BiomegError } from '../data/errors.js';
import { prf, type Prf, type PrfCounts } from './prf.js';

export interface NerResult extends Prf {
  correct: number;
  predicted: number;
  support: number;
  /** Tokens scored (sentence boundaries excluded). */
  tokens: number;
  /** Token-level accuracy (conlleval's "accuracy"). */
  accuracy: number;
  /** Per entity type; untyped labels (B/I) are reported under '_' as seqeval does. */
  per_type: Record<string, PrfCounts>;
}

const O = 0;
const B = 1;
const I = 2;

/** Untyped chunks are listed under this name (seqeval's convention). */
export const UNTYPED = '_';

export class ConllEvaluator {
  private codes = new Map<string, number>();
  private types: string[] = [''];
  private typeIds = new Map<string, number>([['', 0]]);
  private correctByType: number[] = [0];
  private goldByType: number[] = [0];
  private predByType: number[] = [0];
  private correctChunks = 0;
  private goldChunks = 0;
  private predChunks = 0;
  private tokenCount = 0;
  private correctTags = 0;
  private inCorrect = false;
  private lastG = 0; // previous gold code (type << 2 | prefix); boundaries reset it to O
  private lastP = 0;

  /** Numeric code of a tag (cached), or -1 when the tag is malformed. */
  code(tag: string): number {
    let c = this.codes.get(tag);
    if (c !== undefined) return c;
    const t = parseTag(tag);
    if (!t) return -1;
    let id = this.typeIds.get(t.type);
    if (id === undefined) {
      id = this.types.length;
      this.types.push(t.type);
      this.typeIds.set(t.type, id);
      this.correctByType.push(0);
      this.goldByType.push(0);
      this.predByType.push(0);
    }
    c = (id << 2) | (t.prefix === 'O' ? O : t.prefix === 'B' ? B : I);
    this.codes.set(tag, c);
    return c;
  }

  /** Score one token given its gold and predicted tags. */
  add(gold: string, pred: string): void {
    const g = this.code(gold);
    const p = this.code(pred);
    if (g < 0) throw new BiomegError('BIOMEG_BAD_DATA', malformedTagMessage(gold));
    if (p < 0) throw new BiomegError('BIOMEG_BAD_DATA', malformedTagMessage(pred));
    this.addCodes(g, p);
  }

  /** Score one token given codes from code(). */
  addCodes(g: number, p: number): void {
    this.step(g, p);
    this.tokenCount++;
    if (g === p) this.correctTags++;
  }

  /** Sentence boundary: conlleval reads it as an O/O token that is not counted. */
  boundary(): void {
    this.step(O, O);
  }

  private step(g: number, p: number): void {
    const lg = this.lastG;
    const lp = this.lastP;
    const gType = g >> 2;
    const pType = p >> 2;
    const endG = chunkEnds(lg, g);
    const endP = chunkEnds(lp, p);
    if (this.inCorrect) {
      if (endG && endP && lg >> 2 === lp >> 2) {
        this.inCorrect = false;
        this.correctChunks++;
        this.correctByType[lg >> 2]++;
      } else if (endG !== endP || gType !== pType) {
        this.inCorrect = false;
      }
    }
    const startG = chunkStarts(lg, g);
    const startP = chunkStarts(lp, p);
    if (startG && startP && gType === pType) this.inCorrect = true;
    if (startG) {
      this.goldChunks++;
      this.goldByType[gType]++;
    }
    if (startP) {
      this.predChunks++;
      this.predByType[pType]++;
    }
    this.lastG = g;
    this.lastP = p;
  }

  result(): NerResult {
    // conlleval closes a chunk still open at end of input.
    let correct = this.correctChunks;
    const byType = this.correctByType.slice();
    if (this.inCorrect) {
      correct++;
      byType[this.lastG >> 2]++;
    }
    const per_type: Record<string, PrfCounts> = {};
    const names = this.types
      .map((t, i) => ({ name: t === '' ? UNTYPED : t, i }))
      .filter(({ i }) => this.goldByType[i] > 0 || this.predByType[i] > 0)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, i } of names) per_type[name] = prf(byType[i], this.predByType[i], this.goldByType[i]);
    const overall = prf(correct, this.predChunks, this.goldChunks);
    return {
      ...overall,
      tokens: this.tokenCount,
      accuracy: this.tokenCount > 0 ? this.correctTags / this.tokenCount : 0,
      per_type,
    };
  }
}

function chunkEnds(prev: number, cur: number): boolean {
  const pp = prev & 3;
  if (pp === O) return false;
  const cp = cur & 3;
  return cp === B || cp === O || prev >> 2 !== cur >> 2;
}

function chunkStarts(prev: number, cur: number): boolean {
  const cp = cur & 3;
  if (cp === O) return false;
  return cp === B || (prev & 3) === O || prev >> 2 !== cur >> 2;
}

/** Score whole sentences of gold and predicted tags (each inner array is one sentence). */
export function conllEval(gold: string[][], pred: string[][]): NerResult {
  if (gold.length !== pred.length) {
    throw new BiomegError('BIOMEG_MISMATCH', `gold has ${gold.length} sentences, prediction ${pred.length}`);
  }
  const ev = new ConllEvaluator();
  for (let s = 0; s < gold.length; s++) {
    const g = gold[s];
    const p = pred[s];
    if (g.length !== p.length) {
      throw new BiomegError('BIOMEG_MISMATCH', `sentence ${s + 1}: gold has ${g.length} tokens, prediction ${p.length}`);
    }
    for (let i = 0; i < g.length; i++) ev.add(g[i], p[i]);
    ev.boundary();
  }
  return ev.result();
}
