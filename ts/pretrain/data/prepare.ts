// Raw text -> shard directory: read the corpus (streaming), split sentences, tokenize, pack,
// write shards within a byte budget, then manifest.json (atomically, last: a directory without
// it is incomplete). The same corpus, vocabulary and options give byte-identical files.
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../../backend.js';
import { BiomegError } from '../../errors.js';
import { writeFileAtomic } from '../../report.js';
import { loadTokenizer, type Tokenizer } from '../../text/tokenizer.js';
import { type CorpusDocument, type CorpusFormat, corpusFiles, readCorpus } from './corpus.js';
import { mixSeed, type SpecialTokenIds } from './masking.js';
import { Packer, wordStarts } from './pack.js';
import { splitSentences } from './sentences.js';
import { idBytesFor, recordBytes, type ShardInfo, ShardWriter } from './shards.js';
import { type PretrainVocab, pretrainVocab } from './vocab.js';

export interface PrepareCorpusOptions {
  /** A text file (.gz read streaming), several, or a directory of them. */
  corpus: string | string[];
  /** A loaded tokenizer, or `vocab`: a vocab.txt / tokenizer.json / spiece.model / vocabulary folder. */
  tokenizer?: Tokenizer;
  vocab?: string;
  backend?: BackendChoice;
  outDir: string;
  /** Tokens per sequence, [CLS] and [SEP] included (default 128). */
  maxLen?: number;
  /** Default seed recorded for the reader's shuffling and masking (default 0). */
  seed?: number;
  /** Most bytes the shard writers buffer, split evenly when `heldOut` > 0; also bounds the
   *  size of a shard (default 64 MiB). */
  maxBufferBytes?: number;
  format?: CorpusFormat;
  maxDocumentChars?: number;
  /** `none` (default): [CLS] s1 s2 ... [SEP]; `sep`: [SEP] after every sentence. */
  separator?: 'none' | 'sep';
  /** Share of the documents (chosen by seed, in [0, 0.5]) written to `outDir/heldout/` as a
   *  separate shard directory, e.g. for held-out masked-token accuracy (default 0). */
  heldOut?: number;
  /** Keep only the documents for which this returns true (0-based index in corpus order), e.g.
   *  to write a custom split into two directories with two calls. Applied before `heldOut`. */
  selectDocument?: (index: number, doc: CorpusDocument) => boolean;
  onProgress?: (p: PrepareProgress) => void;
  onWarning?: (message: string) => void;
}

export interface PrepareCounts {
  documents: number;
  sentences: number;
  /** Sub-tokens of the text ([CLS]/[SEP] not counted). */
  tokens: number;
  sequences: number;
  /** Documents that gave no token, documents cut at maxDocumentChars, sentences cut into chunks. */
  emptyDocuments: number;
  truncatedDocuments: number;
  chunkedSentences: number;
}

export interface PrepareProgress extends PrepareCounts {
  shards: number;
  file: string;
  line: number;
}

export interface ShardManifest {
  format: 'biomeg-pretrain-shards';
  version: 1;
  maxLen: number;
  vocabSize: number;
  idBytes: 2 | 4;
  recordBytes: number;
  separator: 'none' | 'sep';
  seed: number;
  maxBufferBytes: number;
  vocab: { source: string; sha256: string; lowercase: boolean; special: SpecialTokenIds };
  sources: { file: string; bytes: number }[];
  counts: PrepareCounts;
  shards: ShardInfo[];
  /** In a training directory: where the held-out documents went (null when none). */
  heldOut: { fraction: number; dir: string; counts: PrepareCounts } | null;
}

export interface PrepareResult {
  manifest: ShardManifest;
  manifestFile: string;
  /** The held-out directory's manifest (outDir/heldout/manifest.json) when `heldOut` > 0. */
  heldOut: ShardManifest | null;
  seconds: number;
  /** Most bytes the pipeline's own buffers held (shard buffers + sequences under construction). */
  peakBufferBytes: number;
}

/** Subdirectory of the held-out documents' shards. */
export const HELD_OUT_DIR = 'heldout';
const SHARD_FILE = /^shard-\d{5}\.bin$/;
const HELD_OUT_SALT = 0x484f;

/** One output directory: its packer, shard writer and counts. */
class Split {
  readonly counts: PrepareCounts = {
    documents: 0,
    sentences: 0,
    tokens: 0,
    sequences: 0,
    emptyDocuments: 0,
    truncatedDocuments: 0,
    chunkedSentences: 0,
  };
  readonly packer: Packer;
  readonly writer: ShardWriter;

  constructor(
    readonly dir: string,
    vocab: PretrainVocab,
    maxLen: number,
    separator: 'none' | 'sep',
    budget: number,
  ) {
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) if (SHARD_FILE.test(f) || f === 'manifest.json') unlinkSync(path.join(dir, f));
    this.packer = new Packer({ maxLen, cls: vocab.special.cls, sep: vocab.special.sep, separator }, (s) => {
      this.writer.add(s);
      this.counts.sequences++;
    });
    // the budget covers the sequence under construction and the shard buffer together
    this.writer = new ShardWriter({
      dir,
      maxLen,
      vocabSize: vocab.vocabSize,
      idBytes: idBytesFor(vocab.vocabSize),
      pad: vocab.special.pad,
      maxBufferBytes: budget - this.packer.bufferBytes,
    });
  }

  get bufferBytes(): number {
    return this.writer.bufferBytes + this.packer.bufferBytes;
  }
}

/** Tokenize and pack a corpus into shards (see docs/pretraining-data.md). */
export async function prepareCorpus(o: PrepareCorpusOptions): Promise<PrepareResult> {
  const t0 = performance.now();
  const maxLen = o.maxLen ?? 128;
  const seed = o.seed ?? 0;
  const maxBufferBytes = o.maxBufferBytes ?? 64 * 1024 * 1024;
  const separator = o.separator ?? 'none';
  const heldOut = o.heldOut ?? 0;
  const bad = (m: string) => new BiomegError('BIOMEG_BAD_ARGUMENT', m);
  if (!Number.isInteger(seed)) throw bad(`seed must be an integer (got ${seed})`);
  if (!(heldOut >= 0 && heldOut <= 0.5)) throw bad(`heldOut must be a fraction in [0, 0.5] (got ${heldOut})`);
  if (!o.tokenizer && !o.vocab) throw bad('prepareCorpus needs a tokenizer or a vocab path');
  const files = corpusFiles(o.corpus);
  const out = path.resolve(o.outDir) + path.sep;
  const inside = files.find((f) => path.resolve(f).startsWith(out));
  if (inside) throw bad(`outDir ${o.outDir} holds corpus file ${inside}; write the shards outside the corpus`);
  const tokenizer = o.tokenizer ?? (await loadTokenizer(o.vocab as string, { backend: o.backend }));
  const vocab = pretrainVocab(tokenizer);

  const budget = heldOut > 0 ? Math.floor(maxBufferBytes / 2) : maxBufferBytes;
  const train = new Split(o.outDir, vocab, maxLen, separator, budget);
  const held = heldOut > 0 ? new Split(path.join(o.outDir, HELD_OUT_DIR), vocab, maxLen, separator, budget) : null;
  const progress = (file: string, line: number) => o.onProgress?.({ ...train.counts, shards: train.writer.shards.length, file, line });
  let index = 0;
  for await (const doc of readCorpus(files, { format: o.format, maxDocumentChars: o.maxDocumentChars, onWarning: o.onWarning })) {
    const i = index++;
    if (o.selectDocument && !o.selectDocument(i, doc)) continue;
    const split = held && mixSeed(seed, i, HELD_OUT_SALT) / 4294967296 < heldOut ? held : train;
    const counts = split.counts;
    counts.documents++;
    if (doc.truncated) counts.truncatedDocuments++;
    let docTokens = 0;
    for (const sentence of splitSentences(doc.text)) {
      const enc = tokenizer.encode(sentence);
      if (enc.ids.length === 0) continue;
      counts.sentences++;
      docTokens += enc.ids.length;
      if (enc.ids.length > split.packer.capacity) counts.chunkedSentences++;
      split.packer.addSentence({ ids: enc.ids, wordStart: wordStarts(enc.wordIds) });
    }
    split.packer.endDocument();
    counts.tokens += docTokens;
    if (docTokens === 0) counts.emptyDocuments++;
    if (index % 256 === 0) progress(doc.file, doc.line);
  }
  if (train.counts.sequences === 0) throw new BiomegError('BIOMEG_BAD_DATA', `empty corpus: no tokens in ${files.join(', ')}`);
  if (held && held.counts.sequences === 0) o.onWarning?.(`heldOut=${heldOut} chose no document of ${index}; the held-out set is empty`);
  progress(files[files.length - 1], 0);
  const sources = files.map((file) => ({ file, bytes: statSync(file).size }));
  const write = (split: Split, heldOutInfo: ShardManifest['heldOut']): ShardManifest => {
    const manifest: ShardManifest = {
      format: 'biomeg-pretrain-shards',
      version: 1,
      maxLen,
      vocabSize: vocab.vocabSize,
      idBytes: idBytesFor(vocab.vocabSize),
      recordBytes: recordBytes({ maxLen, vocabSize: vocab.vocabSize, idBytes: idBytesFor(vocab.vocabSize) }),
      separator,
      seed,
      maxBufferBytes,
      vocab: { source: tokenizer.source, sha256: vocab.sha256, lowercase: tokenizer.lowercase, special: vocab.special },
      sources,
      counts: split.counts,
      shards: split.writer.finish(),
      heldOut: heldOutInfo,
    };
    writeFileAtomic(path.join(split.dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  };
  const heldManifest = held ? write(held, null) : null;
  const manifest = write(train, held ? { fraction: heldOut, dir: HELD_OUT_DIR, counts: held.counts } : null);
  return {
    manifest,
    manifestFile: path.join(o.outDir, 'manifest.json'),
    heldOut: heldManifest,
    seconds: (performance.now() - t0) / 1000,
    peakBufferBytes: train.bufferBytes + (held?.bufferBytes ?? 0),
  };
}
