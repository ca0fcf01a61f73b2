// Typed API over the Rust text module (crates/biomeg-text) on either backend: tokenizers
// (vocab.txt with a cased/uncased basic tokenizer, or tokenizer.json), the sub-token break-out
// analysis, word-label -> sub-token-label alignment and vocabulary training.
import { existsSync, readFileSync, statSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { BiomegError, callBinding } from '../errors.js';
import { writeFileAtomic } from '../report.js';
import { loadBackend, type BackendChoice, type BackendName } from '../backend.js';
import { readConll } from '../data/conll.js';

/** Error codes of the text module (the Rust `TextError` codes plus file-level ones). */
export type TextErrorCode =
  | 'BIOMEG_BAD_VOCAB'
  | 'BIOMEG_BAD_TOKENIZER'
  | 'BIOMEG_BAD_DATA'
  | 'BIOMEG_BAD_ARGUMENT'
  | 'BIOMEG_TOKENIZE'
  | 'BIOMEG_TRAIN'
  | 'BIOMEG_UNSUPPORTED'
  | 'BIOMEG_IO';

export { BiomegError as TextError };

const call = callBinding;

export interface Encoding {
  ids: Uint32Array;
  /** Flattened [start, end) pairs in UTF-16 code units (JS string indices). */
  offsets: Uint32Array;
  /** Word index of each sub-token. */
  wordIds: Uint32Array;
  tokens: string[];
}

export interface SpecialIds {
  cls: number | null;
  sep: number | null;
  pad: number | null;
  unk: number | null;
  mask: number | null;
}

import type { LabelScheme } from '../eval/decode.js';
export type { LabelScheme };

export interface LabelExample {
  word: string;
  label: string;
  tokens: string[];
  /** scheme (a): every sub-token carries the word's label */
  all: string[];
  /** scheme (b): first sub-token only, 'X' = masked */
  first: string[];
}

export interface BreakoutCounts {
  words: number;
  subtokens: number;
  rate: number;
  unkSubtokens: number;
  unkRate: number;
  emptyWords: number;
}

export interface BreakoutReport {
  sentences: number;
  /** words inside entity mentions; `entity.rate` is the paper's break-out rate */
  entity: BreakoutCounts;
  all: BreakoutCounts;
  mentions: {
    mentions: number;
    wordsPerMention: number;
    subtokensPerMention: number;
    meanMentionRate: number;
    fragmentedMentions: number;
  };
  byType: Record<string, BreakoutCounts & { mentions: number }>;
  /** entity words by sub-token count (last bucket: 16 or more) */
  histogram: number[];
  histogramAll: number[];
  mostFragmented: { word: string; subtokens: number; count: number; tokens: string[] }[];
  distinctWords: number;
  lowercase: boolean;
  vocabSize: number;
}

/** NER data flattened for one binding call. */
export interface NerData {
  words: string[];
  sentenceLengths: Uint32Array;
  labels: string[];
  source: string;
}

/** NER data packed for the binding: one string + lengths, label ids (a few arrays instead of
 *  two JS strings per word; wasm cannot take millions of separate strings). */
export function packNerData(data: NerData): { text: string; wordLengths: Uint32Array; labelNames: string[]; labelIds: Uint32Array } {
  const n = data.words.length;
  const wordLengths = new Uint32Array(n);
  const labelIds = new Uint32Array(data.labels.length);
  const names = new Map<string, number>();
  for (let i = 0; i < n; i++) wordLengths[i] = data.words[i].length;
  for (let i = 0; i < data.labels.length; i++) {
    const l = data.labels[i];
    let id = names.get(l);
    if (id === undefined) names.set(l, (id = names.size));
    labelIds[i] = id;
  }
  return { text: data.words.join(''), wordLengths, labelNames: [...names.keys()], labelIds };
}

export interface LoadTokenizerOptions {
  /** Force the casing of a vocab.txt (default: meta.json of a learned vocabulary, else detected). */
  lowercase?: boolean;
  backend?: BackendChoice;
  /** Display name (default: the vocabulary's folder name). */
  name?: string;
}

/** A tokenizer on one backend. */
export class Tokenizer {
  constructor(
    private readonly raw: any,
    private readonly mod: any,
    readonly name: string,
    readonly source: string,
    readonly backend: BackendName,
  ) {}

  encode(text: string): Encoding {
    return call(() => this.raw.encode(text));
  }
  /** Pre-tokenized words; offsets are relative to each word. */
  encodeWords(words: string[]): Encoding {
    return call(() => this.raw.encodeWords(words));
  }
  tokenToId(token: string): number | undefined {
    return call(() => this.raw.tokenToId(token)) ?? undefined;
  }
  idToToken(id: number): string | undefined {
    return call(() => this.raw.idToToken(id)) ?? undefined;
  }
  get vocabSize(): number {
    return call(() => this.raw.vocabSize());
  }
  get lowercase(): boolean {
    return call(() => this.raw.lowercase());
  }
  get specialIds(): SpecialIds {
    return call(() => this.raw.specialIds());
  }
  /** Break-out analysis of NER data (see PAPERS.md). */
  breakout(data: NerData, opts: { topK?: number } = {}): BreakoutReport {
    const p = packNerData(data);
    const json = call(() =>
      this.raw.breakout(p.text, p.wordLengths, data.sentenceLengths, p.labelNames, p.labelIds, opts.topK ?? 20, data.source),
    );
    return JSON.parse(json) as BreakoutReport;
  }
  /** Figure-1-style examples: sub-tokens and both labellings of each word. */
  labelExamples(words: string[], labels: string[] = []): LabelExample[] {
    return JSON.parse(call(() => this.raw.labelExamples(words, labels))) as LabelExample[];
  }
  /** Sub-token labels from word labels (same backend as this tokenizer). */
  alignLabels(wordIds: Uint32Array, labels: Int32Array | number[], scheme: LabelScheme, ignoreIndex = -100): Int32Array {
    return alignWith(this.mod, wordIds, labels, scheme, ignoreIndex);
  }
}

function alignWith(mod: any, wordIds: Uint32Array, labels: Int32Array | number[], scheme: LabelScheme, ignoreIndex: number): Int32Array {
  const l = labels instanceof Int32Array ? labels : Int32Array.from(labels);
  const out = call(() => mod.alignLabels(wordIds, l, scheme, ignoreIndex));
  return out instanceof Int32Array ? out : Int32Array.from(out);
}

/** Sub-token labels from word labels: 'all' = every sub-token carries its word's label,
 *  'first' = only the first, the rest get `ignoreIndex` (default -100). */
export async function alignLabels(
  wordIds: Uint32Array,
  labels: Int32Array | number[],
  scheme: LabelScheme,
  opts: { ignoreIndex?: number; backend?: BackendChoice } = {},
): Promise<Int32Array> {
  const b = await loadBackend(opts.backend);
  return alignWith(b.raw, wordIds, labels, scheme, opts.ignoreIndex ?? -100);
}

interface VocabFiles {
  kind: 'vocab.txt' | 'tokenizer.json';
  file: string;
  name: string;
  lowercase?: boolean;
}

/** Resolve a vocabulary path: a vocab.txt, a tokenizer.json, or a folder holding one of them
 *  (and, for learned vocabularies, a meta.json with the casing). */
export function resolveVocab(p: string): VocabFiles {
  if (!existsSync(p)) throw new BiomegError('BIOMEG_IO', `${p}: no such vocabulary file or folder`);
  let file = p;
  if (statSync(p).isDirectory()) {
    const cand = ['vocab.txt', 'tokenizer.json'].map((f) => path.join(p, f)).find((f) => existsSync(f));
    if (!cand) throw new BiomegError('BIOMEG_IO', `${p}: folder has neither vocab.txt nor tokenizer.json`);
    file = cand;
  }
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  const generic = base === 'vocab.txt' || base === 'tokenizer.json';
  const name = generic ? path.basename(dir) : base.replace(/\.(txt|json)$/, '');
  let lowercase: boolean | undefined;
  const meta = path.join(dir, 'meta.json');
  if (existsSync(meta)) {
    try {
      const m = JSON.parse(readFileSync(meta, 'utf8'));
      if (typeof m.lowercase === 'boolean' && m.file === base) lowercase = m.lowercase;
    } catch (e) {
      throw new BiomegError('BIOMEG_BAD_VOCAB', `${meta}: not valid JSON (${(e as Error).message})`);
    }
  }
  return { kind: base.endsWith('.json') ? 'tokenizer.json' : 'vocab.txt', file, name, lowercase };
}

/** Load a tokenizer from a vocab.txt / tokenizer.json / vocabulary folder, or from the text of
 *  a vocab.txt (any string with a newline that is not an existing path). */
export async function loadTokenizer(pathOrText: string, opts: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  const b = await loadBackend(opts.backend);
  const T = b.raw.Tokenizer;
  if (pathOrText.includes('\n') && !existsSync(pathOrText)) {
    const raw = call(() => T.fromVocab(pathOrText, opts.lowercase ?? null, opts.name ?? '<vocab text>'));
    return new Tokenizer(raw, b.raw, opts.name ?? 'vocab', '<vocab text>', b.name);
  }
  const v = resolveVocab(pathOrText);
  const text = readFileSync(v.file, 'utf8');
  const raw =
    v.kind === 'tokenizer.json'
      ? call(() => T.fromTokenizerJson(text, v.file))
      : call(() => T.fromVocab(text, opts.lowercase ?? v.lowercase ?? null, v.file));
  return new Tokenizer(raw, b.raw, opts.name ?? v.name, v.file, b.name);
}

/** Read a CoNLL `token<TAB>label` file (errors name the file and line) into one flat batch. */
export function readNerData(file: string): NerData {
  if (!existsSync(file)) throw new BiomegError('BIOMEG_IO', `${file}: no such file`);
  const sentences = readConll(file);
  const words: string[] = [];
  const labels: string[] = [];
  const sentenceLengths = new Uint32Array(sentences.length);
  sentences.forEach((s, i) => {
    sentenceLengths[i] = s.tokens.length;
    for (const t of s.tokens) words.push(t);
    for (const l of s.labels) labels.push(l);
  });
  return { words, sentenceLengths, labels, source: file };
}

export interface TrainVocabOptions {
  size: number;
  lowercase?: boolean;
  model?: 'wordpiece' | 'unigram';
  minFrequency?: number;
  limitAlphabet?: number;
  backend?: BackendChoice;
}

export interface VocabMeta {
  model: 'wordpiece' | 'unigram';
  size: number;
  vocabSize: number;
  lowercase: boolean;
  corpus: string;
  corpusLines: number;
  file: string;
  createdBy: string;
}

/** Write a file atomically: a temp file in the same folder, then rename. */
export { writeFileAtomic };

/** Learn a vocabulary from a corpus file (one document per line) and write it to `outDir`
 *  (vocab.txt or tokenizer.json, plus meta.json). */
export async function trainVocab(corpusFile: string, outDir: string, opts: TrainVocabOptions): Promise<{ meta: VocabMeta; file: string }> {
  if (!existsSync(corpusFile)) throw new BiomegError('BIOMEG_IO', `${corpusFile}: no such corpus file`);
  if (!Number.isInteger(opts.size) || opts.size < 6) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `vocabulary size must be an integer >= 6, got ${opts.size}`);
  const b = await loadBackend(opts.backend);
  const corpus = readFileSync(corpusFile, 'utf8');
  const options = {
    size: opts.size,
    lowercase: opts.lowercase ?? false,
    model: opts.model ?? 'wordpiece',
    minFrequency: opts.minFrequency ?? 2,
    limitAlphabet: opts.limitAlphabet ?? 1000,
    corpusName: corpusFile,
  };
  const res = JSON.parse(call(() => b.raw.trainVocab(corpus, JSON.stringify(options)))) as { fileName: string; contents: string; meta: VocabMeta };
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, res.fileName);
  writeFileAtomic(file, res.contents);
  writeFileAtomic(path.join(outDir, 'meta.json'), JSON.stringify(res.meta, null, 2) + '\n');
  return { meta: res.meta, file };
}

export { breakoutTable, breakoutMarkdown, type BreakoutRow, type BreakoutTableOptions, type VocabSpec, parseVocabSpec } from './table.js';
