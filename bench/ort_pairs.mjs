// fp32 forward, biomeg native vs onnxruntime-node, and biomeg wasm vs onnxruntime-web's wasm
// backend (both in Node, 1 thread), paired in one process (issue 12):
//   node bench/ort_pairs.mjs [--presets bert-base,biomegatron-345m] [--threads 1,2] [--pairs 5]
//                            [--wasm-presets bert-base|none] [--wasm-pairs 3]
//                            [--batch 8] [--seq 128] [--ort-version 1.30.0] [--json]
// Both engines run the same shapes with random weights; the ONNX model is exported from
// transformers with torch.onnx.export (scripts/export_onnx.py, opset 17) into .cache/onnx.
// Forward passes alternate (biomeg, ort, biomeg, ...) after one warm-up each; reported: the
// median of each side and the median of the per-pair ratios, so load from other processes on
// the machine hits both sides alike. The floor is the forward's matmul FLOPs (the linear layers
// and the two attention products) divided by the FMA peak measured now (`biomeg bench`'s).
// Skips (exit 0, message) when python/torch/transformers/onnx or onnxruntime-node/-web are missing.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BiomegModel, loadBackend, presetConfig, setThreads } from '../dist/index.js';
import { loadOrtNode, loadOrtPackage, ortSession, pythonLacks, ROOT as root } from './ort_node.mjs';

const { values: o } = parseArgs({
  options: {
    presets: { type: 'string', default: 'bert-base,biomegatron-345m' },
    threads: { type: 'string', default: '1,2' },
    pairs: { type: 'string', default: '5' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '128' },
    'wasm-presets': { type: 'string', default: 'bert-base' },
    'wasm-pairs': { type: 'string', default: '3' },
    'ort-version': { type: 'string', default: '1.30.0' },
    python: { type: 'string', default: process.env.BIOMEG_PYTHON ?? '/opt/biomeg-py/bin/python' },
    json: { type: 'boolean' },
  },
});
const [batch, seq, pairs] = [Number(o.batch), Number(o.seq), Number(o.pairs)];
const presets = o.presets.split(',');
const threadList = o.threads.split(',').map(Number);
const skip = (why) => {
  console.log(`SKIPPED: ${why}`);
  process.exit(0);
};

// ---- ONNX export ---------------------------------------------------------------------------
function exportOnnx(preset, cfg) {
  const dir = path.join(root, '.cache/onnx');
  const file = path.join(dir, `${preset}.onnx`);
  if (existsSync(file)) return file;
  const lacks = pythonLacks(o.python, ['torch', 'transformers', 'onnx']);
  if (lacks) skip(lacks);
  execFileSync('mkdir', ['-p', dir]);
  const cfgFile = path.join(dir, `${preset}.config.json`);
  writeFileSync(cfgFile, JSON.stringify(cfg));
  console.log(`exporting ${preset} to ${file}`);
  execFileSync(o.python, [path.join(root, 'scripts/export_onnx.py'), '--config', cfgFile, '--out', file], {
    stdio: ['ignore', 'inherit', 'ignore'],
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  return file;
}

/** Multiply-add FLOPs of one forward: Q/K/V/output and the two FFN linears, plus QK^T and PV. */
function matmulFlops(c) {
  const tokens = batch * seq;
  const linear = 2 * tokens * (4 * c.hidden_size * c.hidden_size + 2 * c.hidden_size * c.intermediate_size);
  const attention = 2 * 2 * batch * seq * seq * c.hidden_size;
  return c.num_hidden_layers * (linear + attention);
}

const median = (x) => {
  const s = [...x].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

let ort;
try {
  ort = loadOrtNode(o['ort-version']);
} catch (e) {
  skip(e.message);
}
const wasmPresets = o['wasm-presets'] === 'none' ? [] : o['wasm-presets'].split(',');
const allPresets = [...new Set([...presets, ...wasmPresets])];
const configs = Object.fromEntries(await Promise.all(allPresets.map(async (p) => [p, await presetConfig(p)])));
const files = Object.fromEntries(allPresets.map((p) => [p, exportOnnx(p, configs[p])]));
const native = await loadBackend('native');
// The peak is the hardware's; load from other processes only lowers a reading. So it is read
// again before every pair (200 ms) and the best reading of the whole run is the floor's peak.
const peak = Object.fromEntries(threadList.map((t) => [t, 0]));
const readPeak = (t) => {
  peak[t] = Math.max(
    peak[t],
    native.call((api) => api.fmaPeak(t, 200)),
  );
};
for (const t of threadList) readPeak(t);

const ids = new Uint32Array(batch * seq).map((_, i) => 1000 + ((i * 7919) % 20000));
const feeds = {
  input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [batch, seq]),
  attention_mask: new ort.Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]),
  token_type_ids: new ort.Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]),
};
const rows = [];

/** `n` alternating pairs (after a warm-up each; `hooks.refresh` runs before each pair): the row of
 * medians and the median of the per-pair ratios. */
async function pairUp(label, n, timeBiomeg, timeOrt, hooks) {
  await timeBiomeg();
  await timeOrt();
  const b = [];
  const r = [];
  for (let i = 0; i < n; i++) {
    hooks.refresh?.();
    // the pause lets onnxruntime's spinning pool threads go idle before biomeg runs
    await pause(100);
    b.push(await timeBiomeg());
    await pause(100);
    r.push(await timeOrt());
  }
  const row = {
    ...label,
    batch,
    seq,
    pairs: n,
    biomeg_ms: median(b),
    ort_ms: median(r),
    speed_vs_ort_paired: median(r.map((x, i) => x / b[i])),
    biomeg_runs_ms: b.map(Math.round),
    ort_runs_ms: r.map(Math.round),
  };
  rows.push(row);
  return row;
}

const timed = (f) => async () => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};

for (const preset of presets) {
  const model = await BiomegModel.random(preset, { backend: 'native', seed: 1 });
  for (const threads of threadList) {
    await setThreads(threads, 'native');
    const session = await ortSession(ort, files[preset], threads);
    const row = await pairUp(
      { preset, backend: 'native', peer: 'onnxruntime-node', threads },
      pairs,
      timed(() => model.forward({ ids, batch, seq })),
      timed(() => session.run(feeds)),
      { refresh: () => readPeak(threads) },
    );
    await session.release();
    const floorMs = (matmulFlops(configs[preset]) / (peak[threads] * 1e9)) * 1000;
    Object.assign(row, { floor_ms: floorMs, biomeg_vs_floor: row.biomeg_ms / floorMs, peak_gflops: peak[threads] });
    console.log(
      `${preset} ${threads}t: biomeg ${row.biomeg_ms.toFixed(0)} ms, onnxruntime-node ${row.ort_ms.toFixed(0)} ms, ` +
        `biomeg speed / ort ${row.speed_vs_ort_paired.toFixed(3)}x (paired median), floor ${floorMs.toFixed(0)} ms ` +
        `at ${peak[threads].toFixed(0)} GFLOP/s (biomeg ${row.biomeg_vs_floor.toFixed(2)}x the floor)`,
    );
  }
}

// wasm: biomeg's wasm build and onnxruntime-web's wasm backend (simd, 1 thread), both in Node.
if (wasmPresets.length) {
  let ortWeb;
  try {
    ortWeb = loadOrtPackage('onnxruntime-web', o['ort-version']);
  } catch (e) {
    skip(e.message);
  }
  ortWeb.env.wasm.numThreads = 1;
  const webFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ortWeb.Tensor('int64', v.data, v.dims)]));
  for (const preset of wasmPresets) {
    const model = await BiomegModel.random(preset, { backend: 'wasm', seed: 1 });
    const session = await ortWeb.InferenceSession.create(files[preset], { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const row = await pairUp(
      { preset, backend: 'wasm', peer: 'onnxruntime-web (wasm)', threads: 1 },
      Number(o['wasm-pairs']),
      timed(() => model.forward({ ids, batch, seq })),
      timed(() => session.run(webFeeds)),
      {},
    );
    await session.release();
    console.log(
      `${preset} wasm 1t: biomeg ${row.biomeg_ms.toFixed(0)} ms, onnxruntime-web ${row.ort_ms.toFixed(0)} ms, ` +
        `biomeg speed / ort-web ${row.speed_vs_ort_paired.toFixed(3)}x (paired median)`,
    );
  }
}
if (o.json) console.log(JSON.stringify({ ort: o['ort-version'], peak_gflops: peak, rows }, null, 2));
