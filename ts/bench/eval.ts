// Bench: scoring a 1M-token CoNLL prediction file (gold file + prediction file read in
// lockstep, conlleval-exact entity scoring). Generates the files in a temp dir, then times
// scoreConllFiles; reports the median of several runs.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scoreConllFiles } from '../eval/ner-files.js';

export interface BenchEvalOptions {
  tokens?: number;
  runs?: number;
  seed?: number;
  /** Keep the generated files (default: removed). */
  keep?: boolean;
}

export interface BenchEvalResult {
  name: 'eval-conll-1m';
  tokens: number;
  sentences: number;
  bytes: number;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  tokensPerSecond: number;
  f1: number;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Write gold and prediction files of about `tokens` tokens; returns sentence count. */
export function writeConllPair(dir: string, tokens: number, seed = 1): { gold: string; pred: string; sentences: number } {
  const rand = lcg(seed);
  const types = ['Chemical', 'Disease', 'Gene'];
  const words = [
    'the',
    'of',
    'induced',
    'hypotension',
    'Selegiline',
    'in',
    'patients',
    'with',
    'L-dopa',
    'methyl',
    'ester',
    'cells',
    '.',
    ',',
  ];
  const gold: string[] = [];
  const pred: string[] = [];
  let n = 0;
  let sentences = 0;
  while (n < tokens) {
    const len = Math.min(tokens - n, 10 + Math.floor(rand() * 30));
    let open = '';
    for (let i = 0; i < len; i++) {
      const w = words[Math.floor(rand() * words.length)];
      let g = 'O';
      const r = rand();
      if (open && r < 0.5) g = `I-${open}`;
      else if (r < 0.12) g = `B-${(open = types[Math.floor(rand() * types.length)])}`;
      else open = '';
      const q = rand();
      const p = q < 0.05 ? 'O' : q < 0.08 ? `I-${types[Math.floor(rand() * 3)]}` : q < 0.1 ? `B-${types[Math.floor(rand() * 3)]}` : g;
      gold.push(`${w}\t${g}`);
      pred.push(`${w}\t${p}`);
    }
    gold.push('');
    pred.push('');
    n += len;
    sentences++;
  }
  const g = path.join(dir, 'gold.tsv');
  const p = path.join(dir, 'pred.tsv');
  writeFileSync(g, gold.join('\n') + '\n');
  writeFileSync(p, pred.join('\n') + '\n');
  return { gold: g, pred: p, sentences };
}

export async function benchEval(opts: BenchEvalOptions = {}): Promise<BenchEvalResult> {
  const tokens = opts.tokens ?? 1_000_000;
  const runs = opts.runs ?? 5;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-bench-eval-'));
  try {
    const { gold, pred, sentences } = writeConllPair(dir, tokens, opts.seed ?? 1);
    const times: number[] = [];
    let f1 = 0;
    scoreConllFiles({ gold, pred }); // warm-up (JIT, page cache)
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = scoreConllFiles({ gold, pred });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      f1 = r.f1;
      if (r.tokens !== tokens) throw new Error(`scored ${r.tokens} tokens, expected ${tokens}`);
    }
    times.sort((a, b) => a - b);
    const medianMs = times.length % 2 ? times[(times.length - 1) / 2] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
    return {
      name: 'eval-conll-1m',
      tokens,
      sentences,
      bytes: statSync(gold).size + statSync(pred).size,
      runs,
      medianMs,
      minMs: times[0],
      maxMs: times[times.length - 1],
      tokensPerSecond: tokens / (medianMs / 1000),
      f1,
    };
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}
