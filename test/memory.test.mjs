// Loading keeps one copy of the weights (native reads each tensor straight into its buffer).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { needOrSkip } from './helpers/backends.mjs';

const MINILM = process.env.BIOMEG_MINILM_DIR ?? path.resolve('.cache/models/all-MiniLM-L6-v2');

test('native load of a 91 MB checkpoint grows peak RSS by about one copy of the weights', (t) => {
  const weights = path.join(MINILM, 'model.safetensors');
  if (!needOrSkip(t, existsSync(weights), `${weights} missing (scripts/fetch-minilm.sh)`)) return;
  const script = `
    const { BiomegModel, loadBackend } = await import(${JSON.stringify(path.resolve('dist/index.js'))});
    await loadBackend('native');
    const before = process.resourceUsage().maxRSS;
    const m = await BiomegModel.load(${JSON.stringify(MINILM)}, { backend: 'native' });
    console.log(JSON.stringify({ before, after: process.resourceUsage().maxRSS, params: m.numParams }));`;
  const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  const grownMb = (r.after - r.before) / 1024;
  const fileMb = statSync(weights).size / 2 ** 20;
  t.log(`weights ${fileMb.toFixed(1)} MiB, peak RSS grew ${grownMb.toFixed(1)} MiB, ${r.params} params`);
  t.true(grownMb < fileMb * 1.35, `grew ${grownMb} MiB for ${fileMb} MiB of weights`);
  t.true(grownMb > fileMb * 0.8, 'the weights are really resident');
});

// An int8 model frees the f32 weights of its quantized layers once loaded (Encoder::
// ready_for_inference): MiniLM's six layers are 10.6M of its 22.7M parameters, so the resident
// model shrinks by about 3/4 of 42 MiB. Measured as resident memory after the load (the peak
// still holds the f32 values while they are quantized).
test('an int8 model holds less memory than the fp32 one, with the same parameter count', (t) => {
  const weights = path.join(MINILM, 'model.safetensors');
  if (!needOrSkip(t, existsSync(weights), `${weights} missing (scripts/fetch-minilm.sh)`)) return;
  const resident = (quantize) => {
    const script = `
      const { BiomegModel, loadBackend } = await import(${JSON.stringify(path.resolve('dist/index.js'))});
      await loadBackend('native');
      globalThis.gc?.();
      const before = process.memoryUsage().rss;
      const m = await BiomegModel.load(${JSON.stringify(MINILM)}, { backend: 'native', quantize: ${quantize ? JSON.stringify(quantize) : 'undefined'} });
      const ids = new Uint32Array(64).fill(1000);
      await m.forward({ ids, batch: 1, seq: 64 });
      console.log(JSON.stringify({ grown: process.memoryUsage().rss - before, params: m.numParams }));`;
    return JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' }));
  };
  const fp32 = resident(undefined);
  const int8 = resident('int8');
  const mb = (b) => (b / 2 ** 20).toFixed(1);
  t.log(`resident after load + one forward: fp32 ${mb(fp32.grown)} MiB, int8 ${mb(int8.grown)} MiB`);
  t.is(int8.params, fp32.params);
  // 10.6M f32 -> int8 saves about 30 MiB of about 87 MiB
  t.true(fp32.grown - int8.grown > 20 * 2 ** 20, `int8 saved only ${mb(fp32.grown - int8.grown)} MiB`);
});
