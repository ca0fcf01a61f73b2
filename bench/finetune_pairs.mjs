#!/usr/bin/env node
// Paired training-speed comparison with PyTorch on real data: alternates short runs of
// `biomeg train` and bench/pytorch_finetune.py on the same examples, the same seeded batch order
// (hence the same padding) and the same recipe, then prints each side's median tokens/s and the
// ratio of medians. Alternating pairs keep slow drifts of a noisy machine from favouring a side;
// the first step of each run (allocator and cache warm-up on both sides) is left out.
//
//   BIOMEG_DATA=../shared/data node bench/finetune_pairs.mjs [--pairs 3] [--limit 960]
//     [--task ner] [--dataset bc5cdr-chem] [--model .cache/models/all-MiniLM-L6-v2]
//     [--backend native] [--python /opt/biomeg-py/bin/python]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({
  options: {
    pairs: { type: 'string', default: '3' },
    limit: { type: 'string', default: '960' },
    task: { type: 'string', default: 'ner' },
    dataset: { type: 'string', default: 'bc5cdr-chem' },
    model: { type: 'string', default: path.join(root, '.cache/models/all-MiniLM-L6-v2') },
    backend: { type: 'string', default: 'native' },
    python: { type: 'string', default: process.env.BIOMEG_PYTHON ?? '/opt/biomeg-py/bin/python' },
  },
});
if (!process.env.BIOMEG_DATA) {
  console.error('finetune_pairs: set BIOMEG_DATA to the shared data directory');
  process.exit(2);
}
const common = ['--dataset', o.dataset, '--model', o.model, '--epochs', '1', '--limit', o.limit];
const env = { ...process.env, HF_HUB_OFFLINE: '1' };

/** Sum of tokens, padded positions and step seconds over the `step` records of a run log, from
 * the second step on. */
function stepTotals(logFile) {
  const steps = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'step');
  if (steps.length < 2) throw new Error(`${logFile}: fewer than 2 steps; raise --limit`);
  return steps.slice(1).reduce((a, s) => ({ tokens: a.tokens + s.tokens, positions: a.positions + s.positions, sec: a.sec + s.sec }), {
    tokens: 0,
    positions: 0,
    sec: 0,
  });
}

function runSide(side) {
  const out = mkdtempSync(path.join(tmpdir(), `biomeg-pair-${side}-`));
  try {
    const [cmd, args] =
      side === 'biomeg'
        ? ['node', [path.join(root, 'dist/cli.js'), 'train', o.task, ...common, '--out', out, '--backend', o.backend, '--quiet', '--json']]
        : [o.python, [path.join(root, 'bench/pytorch_finetune.py'), o.task, ...common, '--out', out]];
    try {
      execFileSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      console.error(`${side} run failed: ${cmd} ${args.join(' ')}\n${err.stderr ?? err.message}`);
      process.exit(1);
    }
    return stepTotals(path.join(out, 'log.jsonl'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rates = { biomeg: [], pytorch: [] };
for (let i = 0; i < Number(o.pairs); i++) {
  for (const side of ['biomeg', 'pytorch']) {
    const t = runSide(side);
    rates[side].push(t.tokens / t.sec);
    console.log(
      `pair ${i + 1} ${side.padEnd(7)} ${t.tokens} tokens, ${t.positions} positions, ${t.sec.toFixed(2)} s of steps 2..: ${(t.tokens / t.sec).toFixed(0)} tokens/s`,
    );
  }
}
const [b, p] = [median(rates.biomeg), median(rates.pytorch)];
console.log(`median tokens/s: biomeg ${b.toFixed(0)}, PyTorch ${p.toFixed(0)}, ratio ${(b / p).toFixed(3)}`);
