#!/usr/bin/env node
// Paired masked-LM pre-training speed against PyTorch + transformers: alternates short runs of
// biomeg (TrainSession with an MLM head) and bench/pytorch_pretrain.py (BertForMaskedLM) on the
// same model, batch shape and mask rate (15 % of positions predicted), AdamW with clipping, then
// prints each side's median tokens/s (steps 2.., the first step is warm-up) and the ratio.
//
//   node bench/pretrain_pairs.mjs [--pairs 3] [--model .cache/models/all-MiniLM-L6-v2]
//     [--batch 16] [--seq 128] [--steps 6] [--backend native] [--python /opt/biomeg-py/bin/python]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({
  options: {
    pairs: { type: 'string', default: '3' },
    model: { type: 'string', default: path.join(root, '.cache/models/all-MiniLM-L6-v2') },
    batch: { type: 'string', default: '16' },
    seq: { type: 'string', default: '128' },
    steps: { type: 'string', default: '6' },
    backend: { type: 'string', default: 'native' },
    python: { type: 'string', default: process.env.BIOMEG_PYTHON ?? '/opt/biomeg-py/bin/python' },
    side: { type: 'string' },
  },
});
const [batch, seq, steps] = [Number(o.batch), Number(o.seq), Number(o.steps)];

/** One biomeg run in this process: JSON lines like the Python side's. */
async function biomegSide() {
  const { TrainSession } = await import(path.join(root, 'dist/index.js'));
  const s = await TrainSession.load(o.model, { newHead: { task: 'mlm' }, lr: 5e-5, seed: 42 }, o.backend);
  const vocab = s.config.vocab_size;
  let x = 42 >>> 0;
  const rand = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let step = 0; step < steps; step++) {
    const n = batch * seq;
    const ids = new Uint32Array(n);
    const labels = new Int32Array(n).fill(-100);
    for (let i = 0; i < n; i++) {
      const id = 1000 + Math.floor(rand() * (vocab - 1000));
      if (rand() < 0.15) {
        labels[i] = id;
        ids[i] = 103;
      } else ids[i] = id;
    }
    const t0 = performance.now();
    const r = await s.step({ ids, batch, seq }, labels);
    const sec = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ step, sec, tokens: n, loss: r.loss }));
  }
}

function runSide(side) {
  const [cmd, args] =
    side === 'biomeg'
      ? [
          'node',
          [
            new URL(import.meta.url).pathname,
            '--side',
            'biomeg',
            '--model',
            o.model,
            '--batch',
            o.batch,
            '--seq',
            o.seq,
            '--steps',
            o.steps,
            '--backend',
            o.backend,
          ],
        ]
      : [
          o.python,
          [path.join(root, 'bench/pytorch_pretrain.py'), '--model', o.model, '--batch', o.batch, '--seq', o.seq, '--steps', o.steps],
        ];
  let out;
  try {
    out = execFileSync(cmd, args, { env: { ...process.env, HF_HUB_OFFLINE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (err) {
    console.error(`${side} run failed: ${cmd} ${args.join(' ')}\n${err.stderr ?? err.message}`);
    process.exit(1);
  }
  const rows = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .slice(1);
  const t = rows.reduce((a, r) => ({ tokens: a.tokens + r.tokens, sec: a.sec + r.sec }), { tokens: 0, sec: 0 });
  return { ...t, loss: rows.at(-1)?.loss };
}

if (o.side === 'biomeg') {
  await biomegSide();
} else {
  if (!existsSync(o.python)) {
    console.log(`pretrain_pairs: skipped, no Python at ${o.python} (set --python or BIOMEG_PYTHON)`);
    process.exit(0);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rates = { biomeg: [], pytorch: [] };
  for (let i = 0; i < Number(o.pairs); i++) {
    for (const side of ['biomeg', 'pytorch']) {
      const t = runSide(side);
      rates[side].push(t.tokens / t.sec);
      console.log(
        `pair ${i + 1} ${side.padEnd(7)} ${t.tokens} tokens in ${t.sec.toFixed(2)} s (steps 2..${steps}): ${(t.tokens / t.sec).toFixed(0)} tokens/s, last loss ${t.loss?.toFixed(3)}`,
      );
    }
  }
  const [b, p] = [median(rates.biomeg), median(rates.pytorch)];
  console.log(
    `median MLM pre-training tokens/s, ${path.basename(o.model)} ${batch}x${seq}: biomeg ${b.toFixed(0)}, PyTorch ${p.toFixed(0)}, ratio ${(b / p).toFixed(3)}`,
  );
}
