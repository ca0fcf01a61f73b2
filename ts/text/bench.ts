// Break-out analysis speed (words/s) on either backend, and the break-out table for `biomeg bench`.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../backend.js';
import { loadTokenizer, readNerData, type NerData } from './tokenizer.js';
import { breakoutTable, DEFAULT_DATASETS, type BreakoutRow } from './table.js';

export interface SpeedResult {
  backend: string;
  vocab: string;
  /** words analysed per run */
  words: number;
  distinctWords: number;
  runs: number;
  /** seconds per run, sorted */
  seconds: number[];
  /** median words/s, whole call (JS -> binding conversion + analysis) */
  wordsPerSecond: number;
  /** first-touch speed: every distinct word tokenized once (the cache cold), words/s */
  coldWordsPerSecond: number;
}

/** NER training data of the three datasets, repeated until it holds `target` words (real labels,
 *  so mentions and types are exercised). */
export function repeatedNerCorpus(dataDir: string, target: number): NerData {
  const parts = DEFAULT_DATASETS.map((d) => readNerData(path.join(dataDir, d, 'mtl-iob', 'train.tsv')));
  const words: string[] = [];
  const labels: string[] = [];
  const lens: number[] = [];
  while (words.length < target) {
    for (const p of parts) {
      let pos = 0;
      for (const n of p.sentenceLengths) {
        if (words.length >= target) break;
        const k = Math.min(n, target - words.length);
        for (let i = 0; i < k; i++) {
          words.push(p.words[pos + i]);
          labels.push(p.labels[pos + i]);
        }
        lens.push(k);
        pos += n;
      }
    }
  }
  return {
    words,
    labels,
    sentenceLengths: Uint32Array.from(lens),
    source: `${DEFAULT_DATASETS.join('+')} x${(target / 1e6).toFixed(1)}M words`,
  };
}

/** The words of a plain-text corpus (whitespace split, all labelled O): a cold-cache workload. */
export function corpusWords(file: string): NerData {
  const words = readFileSync(file, 'utf8')
    .split(/\s+/)
    .filter((w) => w.length > 0);
  return { words, labels: words.map(() => 'O'), sentenceLengths: Uint32Array.from([words.length]), source: file };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function breakoutSpeed(opts: {
  vocab: string;
  backend: BackendChoice;
  data: NerData;
  /** a corpus never seen by the tokenizer, for the cold number */
  cold: NerData;
  runs?: number;
}): Promise<SpeedResult> {
  const runs = opts.runs ?? 5;
  const seconds: number[] = [];
  let distinct = 0;
  // cold: a fresh tokenizer each time, over a corpus of mostly distinct words
  const coldTimes: number[] = [];
  for (let r = 0; r < Math.max(1, Math.min(runs, 3)); r++) {
    const tok = await loadTokenizer(opts.vocab, { backend: opts.backend });
    const t0 = process.hrtime.bigint();
    tok.breakout(opts.cold, { topK: 0 });
    coldTimes.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const tok = await loadTokenizer(opts.vocab, { backend: opts.backend });
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    const rep = tok.breakout(opts.data, { topK: 10 });
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
    distinct = rep.distinctWords;
  }
  seconds.sort((a, b) => a - b);
  return {
    backend: tok.backend,
    vocab: tok.name,
    words: opts.data.words.length,
    distinctWords: distinct,
    runs,
    seconds,
    wordsPerSecond: opts.data.words.length / median(seconds),
    coldWordsPerSecond: opts.cold.words.length / median(coldTimes),
  };
}

/** The break-out table for the shared vocabularies found under `vocabDir` (and any extra
 *  vocabularies), or null when the data directory has no NER data. */
export async function benchBreakoutTable(
  dataDir: string,
  vocabDir: string,
  extra: string[] = [],
  backend: BackendChoice = 'auto',
): Promise<BreakoutRow[] | null> {
  if (!existsSync(path.join(dataDir, 'bc5cdr-chem', 'mtl-iob', 'train.tsv'))) return null;
  const names = ['bert-base-cased', 'bert-base-uncased', 'pubmedbert-base-uncased', 'scibert-scivocab-uncased'];
  const vocabs = names
    .map((n) => path.join(vocabDir, n))
    .filter((p) => existsSync(p))
    .concat(extra);
  return breakoutTable(
    vocabs.map((p) => ({ path: p })),
    { dataDir, backend },
  );
}
