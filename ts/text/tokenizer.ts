// Tokenizers over the Rust text module (crates/biomeg-text) on either backend (vocab.txt with a
// cased/uncased basic tokenizer, a SentencePiece spiece.model, or tokenizer.json), the sub-token
// break-out analysis and word-label -> sub-token-label alignment. ts/text/index.ts re-exports this module.
import { existsSync, readFileSync, statSync } from '../core/fs.js';
import { host } from '../core/host.js';
import path from '../core/path.js';
import { BiomegError } from '../errors.js';
import { loadBackend, type Backend, type BackendChoice, type BackendName } from '../core/backend.js';
import type { TokenizerHandle } from '../binding.js';
import { readConll } from '../data/conll.js';
import type { LabelScheme } from '../eval/decode.js';

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
    private readonly be: Backend,
    private readonly handle: TokenizerHandle,
    readonly name: string,
    readonly source: string,
  ) {}

  get backend(): BackendName {
    return this.be.name;
  }

  encode(text: string): Encoding {
    return this.be.call(() => this.handle.encode(text));
  }
  /** Pre-tokenized words; offsets are relative to each word. */
  encodeWords(words: string[]): Encoding {
    return this.be.call(() => this.handle.encodeWords(words));
  }
  tokenToId(token: string): number | undefined {
    return this.be.call(() => this.handle.tokenToId(token)) ?? undefined;
  }
  idToToken(id: number): string | undefined {
    return this.be.call(() => this.handle.idToToken(id)) ?? undefined;
  }
  get vocabSize(): number {
    return this.be.call(() => this.handle.vocabSize());
  }
  get lowercase(): boolean {
    return this.be.call(() => this.handle.lowercase());
  }
  get specialIds(): SpecialIds {
    return this.be.call(() => this.handle.specialIds());
  }
  /** Break-out analysis of NER data (see PAPERS.md). */
  breakout(data: NerData, opts: { topK?: number } = {}): BreakoutReport {
    const p = packNerData(data);
    const json = this.be.call(() =>
      this.handle.breakout(p.text, p.wordLengths, data.sentenceLengths, p.labelNames, p.labelIds, opts.topK ?? 20, data.source),
    );
    return JSON.parse(json) as BreakoutReport;
  }
  /** Figure-1-style examples: sub-tokens and both labellings of each word. */
  labelExamples(words: string[], labels: string[] = []): LabelExample[] {
    return JSON.parse(this.be.call(() => this.handle.labelExamples(words, labels))) as LabelExample[];
  }
  /** Sub-token labels from word labels (same backend as this tokenizer). */
  alignLabels(wordIds: Uint32Array, labels: Int32Array | number[], scheme: LabelScheme, ignoreIndex = -100): Int32Array {
    return alignWith(this.be, wordIds, labels, scheme, ignoreIndex);
  }
}

function alignWith(be: Backend, wordIds: Uint32Array, labels: Int32Array | number[], scheme: LabelScheme, ignoreIndex: number): Int32Array {
  const l = labels instanceof Int32Array ? labels : Int32Array.from(labels);
  return be.call((api) => api.alignLabels(wordIds, l, scheme, ignoreIndex));
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
  return alignWith(b, wordIds, labels, scheme, opts.ignoreIndex ?? -100);
}

interface VocabFiles {
  kind: 'vocab.txt' | 'tokenizer.json' | 'spiece.model';
  file: string;
  name: string;
  lowercase?: boolean;
}

/** Vocabulary files a folder may hold, in the order they are looked for. */
export const VOCAB_FILE_NAMES = ['vocab.txt', 'tokenizer.json', 'spiece.model'] as const;

/** Resolve a vocabulary path: a vocab.txt, a tokenizer.json, a SentencePiece `*.model`, or a
 *  folder holding one of them (and, for learned vocabularies, a meta.json with the casing). */
export function resolveVocab(p: string): VocabFiles {
  if (!existsSync(p)) throw new BiomegError('BIOMEG_IO', `${p}: no such vocabulary file or folder`);
  let file = p;
  if (statSync(p).isDirectory()) {
    const cand = VOCAB_FILE_NAMES.map((f) => path.join(p, f)).find((f) => existsSync(f));
    if (!cand) throw new BiomegError('BIOMEG_IO', `${p}: folder has none of ${VOCAB_FILE_NAMES.join(', ')}`);
    file = cand;
  }
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  const generic = (VOCAB_FILE_NAMES as readonly string[]).includes(base);
  const name = generic ? path.basename(dir) : base.replace(/\.(txt|json|model)$/, '');
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
  const kind = base.endsWith('.json') ? 'tokenizer.json' : base.endsWith('.model') ? 'spiece.model' : 'vocab.txt';
  return { kind, file, name, lowercase };
}

/** A SentencePiece model with the tokenizer_config.json beside it (when there is one). */
function spieceHandle(b: Backend, file: string): TokenizerHandle {
  const bytes = readFileSync(file);
  const configFile = path.join(path.dirname(file), 'tokenizer_config.json');
  const config = existsSync(configFile) ? readFileSync(configFile, 'utf8') : null;
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return b.call((api) => api.Tokenizer.fromSpiece(view, file, config, configFile));
}

/** Load a tokenizer from a vocab.txt / tokenizer.json / spiece.model (with the tokenizer_config.json
 *  beside it) / vocabulary folder, or from the text of a vocab.txt (any string with a newline that
 *  is not an existing path). */
export async function loadTokenizer(pathOrText: string, opts: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  const b = await loadBackend(opts.backend);
  if (pathOrText.includes('\n') && (!host().fs || !existsSync(pathOrText))) {
    const handle = b.call((api) => api.Tokenizer.fromVocab(pathOrText, opts.lowercase ?? null, opts.name ?? '<vocab text>'));
    return new Tokenizer(b, handle, opts.name ?? 'vocab', '<vocab text>');
  }
  const v = resolveVocab(pathOrText);
  const handle =
    v.kind === 'spiece.model'
      ? spieceHandle(b, v.file)
      : v.kind === 'tokenizer.json'
        ? b.call((api) => api.Tokenizer.fromTokenizerJson(readFileSync(v.file, 'utf8'), v.file))
        : b.call((api) => api.Tokenizer.fromVocab(readFileSync(v.file, 'utf8'), opts.lowercase ?? v.lowercase ?? null, v.file));
  return new Tokenizer(b, handle, opts.name ?? v.name, v.file);
}

/** A vocabulary given as data rather than a path (browsers, downloads): the text of a vocab.txt
 *  or tokenizer.json, or the bytes of a spiece.model (with its tokenizer_config.json text). */
export interface TokenizerData {
  kind: 'vocab.txt' | 'tokenizer.json' | 'spiece.model';
  data: string | Uint8Array;
  /** Names the vocabulary in errors and reports (a URL or file name). */
  name?: string;
  /** tokenizer_config.json text (spiece.model only). */
  config?: string;
}

/** A tokenizer from vocabulary data (the browser's counterpart of `loadTokenizer(path)`). */
export async function tokenizerFromData(v: TokenizerData, opts: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  const b = await loadBackend(opts.backend);
  const source = v.name ?? v.kind;
  const text = () => (typeof v.data === 'string' ? v.data : new TextDecoder().decode(v.data));
  const handle =
    v.kind === 'spiece.model'
      ? b.call((api) =>
          api.Tokenizer.fromSpiece(
            typeof v.data === 'string' ? new TextEncoder().encode(v.data) : v.data,
            source,
            v.config ?? null,
            'tokenizer_config.json',
          ),
        )
      : v.kind === 'tokenizer.json'
        ? b.call((api) => api.Tokenizer.fromTokenizerJson(text(), source))
        : b.call((api) => api.Tokenizer.fromVocab(text(), opts.lowercase ?? null, source));
  return new Tokenizer(b, handle, opts.name ?? v.kind, source);
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
