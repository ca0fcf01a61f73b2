// Typed API over the Rust text module (crates/biomeg-text) on either backend: tokenizers
// (vocab.txt with a cased/uncased basic tokenizer, or tokenizer.json), the sub-token break-out
// analysis, word-label -> sub-token-label alignment and vocabulary training.
// Tokenizers live in ./tokenizer.ts and the break-out table in ./table.ts (which imports
// ./tokenizer.ts, not this file: no import cycle).
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { BiomegError } from '../errors.js';
import { writeFileAtomic } from '../report.js';
import { loadBackend, type BackendChoice } from '../backend.js';

export * from './tokenizer.js';

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
  if (!Number.isInteger(opts.size) || opts.size < 6)
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `vocabulary size must be an integer >= 6, got ${opts.size}`);
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
  const res = JSON.parse(b.call((api) => api.trainVocab(corpus, JSON.stringify(options)))) as {
    fileName: string;
    contents: string;
    meta: VocabMeta;
  };
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, res.fileName);
  writeFileAtomic(file, res.contents);
  writeFileAtomic(path.join(outDir, 'meta.json'), JSON.stringify(res.meta, null, 2) + '\n');
  return { meta: res.meta, file };
}

export { breakoutTable, breakoutMarkdown, type BreakoutRow, type BreakoutTableOptions, type VocabSpec, parseVocabSpec } from './table.js';
