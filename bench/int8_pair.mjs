// fp32 vs int8 forward of one model folder (real weights), alternating runs in one process:
//   node bench/int8_pair.mjs --model DIR [--backend native|wasm] [--threads N] [--reps 5] [--batch 8] [--seq 128]
// (random-weight presets: `biomeg bench --int8-presets bert-base`)
import { parseArgs } from 'node:util';
import { BiomegModel, setThreads } from '../dist/index.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    reps: { type: 'string' },
    batch: { type: 'string' },
    seq: { type: 'string' },
  },
});
const backend = v.backend ?? 'native';
const [batch, seq, reps] = [Number(v.batch ?? 8), Number(v.seq ?? 128), Number(v.reps ?? 5)];
if (v.threads) await setThreads(Number(v.threads), backend);
const f = await BiomegModel.load(v.model, { backend });
const q = await BiomegModel.load(v.model, { backend, quantize: 'int8' });
const ids = new Uint32Array(batch * seq).map((_, i) => 1000 + ((i * 7919) % 20000));
const time = async (m) => {
  const t = performance.now();
  await m.forward({ ids, batch, seq });
  return performance.now() - t;
};
await time(f);
await time(q);
const tf = [];
const tq = [];
for (let i = 0; i < reps; i++) {
  tf.push(await time(f));
  tq.push(await time(q));
}
const med = (x) => [...x].sort((a, b) => a - b)[x.length >> 1];
console.log(
  JSON.stringify({
    model: v.model,
    backend,
    threads: v.threads ? Number(v.threads) : 'default',
    batch,
    seq,
    reps,
    fp32_ms: med(tf),
    int8_ms: med(tq),
    speedup_paired: med(tf.map((x, i) => x / tq[i])),
  }),
);
