// CoNLL-style IOB readers: one token per line, columns separated by a tab (or by spaces when
// the line has no tab), blank line (or a -DOCSTART- line) between sentences. The label is the
// last column. Typed (B-Chemical) and untyped (B) IOB2 labels; IOB1 input can be converted.
import { badData } from './errors.js';
import { LineReader } from './lines.js';

export type TagPrefix = 'O' | 'B' | 'I';
export interface ParsedTag {
  prefix: TagPrefix;
  /** Entity type; '' for untyped labels (B, I) and for O. */
  type: string;
}

const TAG_RE = /^(?:O|([BI])(?:-(.+))?)$/;

/** Parse an IOB tag; null when malformed (IOBES E-/S-, lower case, empty type, stray text). */
export function parseTag(tag: string): ParsedTag | null {
  const m = TAG_RE.exec(tag);
  if (!m) return null;
  if (!m[1]) return { prefix: 'O', type: '' };
  return { prefix: m[1] as TagPrefix, type: m[2] ?? '' };
}

export function malformedTagMessage(tag: string): string {
  const hint = /^[ES](-|$)/.test(tag) ? ' (IOBES tags are not supported: convert to IOB2)' : '';
  return `malformed tag '${tag}': expected O, B, I, B-TYPE or I-TYPE${hint}`;
}

/** Split a CoNLL line into columns: tab-separated if it contains a tab, else whitespace. */
export function splitColumns(line: string): string[] {
  return line.indexOf('\t') >= 0 ? line.split('\t') : line.trim().split(/\s+/);
}

/** True for lines that separate sentences: empty/whitespace lines and -DOCSTART- lines. */
export function isBoundary(line: string): boolean {
  if (line.length === 0) return true;
  const c = line.charCodeAt(0);
  if ((c === 32 || c === 9) && line.trim().length === 0) return true;
  return c === 45 /* - */ && line.startsWith('-DOCSTART-');
}

export interface ConllSentence {
  tokens: string[];
  labels: string[];
  /** 1-based line number of the sentence's first token. */
  line: number;
}

export interface ConllReadOptions {
  /** Convert labels to IOB2 (IOB1 chunks that start with I- get a B-). Default false. */
  toIob2?: boolean;
  /** Check every label is a valid IOB tag. Default true. */
  validate?: boolean;
}

/** Stream the sentences of a CoNLL file. */
export function* iterConllSentences(file: string, opts: ConllReadOptions = {}): Generator<ConllSentence> {
  const validate = opts.validate ?? true;
  const r = new LineReader(file);
  let tokens: string[] = [];
  let labels: string[] = [];
  let start = 0;
  const flush = (): ConllSentence => {
    const s = { tokens, labels: opts.toIob2 ? iob1ToIob2(labels) : labels, line: start };
    tokens = [];
    labels = [];
    return s;
  };
  try {
    for (let line = r.next(); line !== null; line = r.next()) {
      if (isBoundary(line)) {
        if (tokens.length) yield flush();
        continue;
      }
      const cols = splitColumns(line);
      if (cols.length < 2) throw badData(file, r.lineNo, `expected 'token<TAB>label', found ${cols.length} column`);
      const label = cols[cols.length - 1];
      if (validate && !parseTag(label)) throw badData(file, r.lineNo, malformedTagMessage(label));
      if (!tokens.length) start = r.lineNo;
      tokens.push(cols[0]);
      labels.push(label);
    }
    if (tokens.length) yield flush();
  } finally {
    r.close();
  }
}

export function readConll(file: string, opts: ConllReadOptions = {}): ConllSentence[] {
  return [...iterConllSentences(file, opts)];
}

/**
 * IOB1 (I- opens a chunk, B- only between two adjacent chunks of one type) to IOB2 (every chunk
 * opens with B-). IOB2 input comes back unchanged. Chunk boundaries follow conlleval's rules, so
 * the converted labels score exactly as the originals do.
 */
export function iob1ToIob2(labels: string[]): string[] {
  const out = labels.slice();
  let prev: ParsedTag = { prefix: 'O', type: '' };
  for (let i = 0; i < labels.length; i++) {
    const t = parseTag(labels[i]);
    if (!t) continue;
    if (t.prefix === 'I' && (prev.prefix === 'O' || prev.type !== t.type)) out[i] = t.type ? `B-${t.type}` : 'B';
    prev = t;
  }
  return out;
}

/** 'iob1' if some chunk opens with I- (I after O, after another type, or at sentence start). */
export function detectScheme(sentences: Iterable<string[]>): 'iob1' | 'iob2' {
  for (const labels of sentences) {
    let prev: ParsedTag = { prefix: 'O', type: '' };
    for (const l of labels) {
      const t = parseTag(l);
      if (!t) continue;
      if (t.prefix === 'I' && (prev.prefix === 'O' || prev.type !== t.type)) return 'iob1';
      prev = t;
    }
  }
  return 'iob2';
}
