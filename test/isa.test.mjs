// Every instruction set this CPU has runs the same models to the same outputs (issue 12: the
// AVX-512 path pinned where the CPU has it, AVX2 elsewhere, both tested). Each set runs in its own
// process with BIOMEG_SIMD pinning it (the choice is made once per process): the fp32 outputs
// must match transformers' reference as in model.test.mjs, and every set must agree with the
// best one; the int8 GEMM's integer sums are exact on every set, so int8 outputs agree too.
// The weights packed once at load (BIOMEG_PREPACK=1) are checked the same way.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runtimeInfo } from '../dist/index.js';
import { maxAbsDiff, maxRelDiff, readSafetensors } from './helpers/safetensors.mjs';

const FIX = path.resolve('test/fixtures/models');
const TOL = 1e-4;

function runPinned(isa, env = {}) {
  const stdout = execFileSync(process.execPath, ['test/helpers/isa-forward.mjs'], {
    env: { ...process.env, BIOMEG_SIMD: isa, ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop());
}

test('each instruction set runs the fixtures within 1e-4 of transformers and agrees with the best set', async (t) => {
  const { simdAvailable } = await runtimeInfo('native');
  t.log(`instruction sets here: ${simdAvailable.join(', ')}`);
  t.true(simdAvailable.includes('portable'), 'the portable kernels are always available');
  const runs = Object.fromEntries(simdAvailable.map((isa) => [isa, runPinned(isa)]));
  const best = runs[simdAvailable[0]];
  for (const [isa, run] of Object.entries(runs)) {
    t.is(run.simd, isa, `BIOMEG_SIMD=${isa} is the set in use`);
    for (const [name, row] of Object.entries(run.models)) {
      const ref = readSafetensors(path.join(FIX, name, 'reference.safetensors'));
      const d = maxAbsDiff(Float32Array.from(row.fp32.hidden), ref.last_hidden_state.data);
      t.true(d < TOL, `${isa} ${name}: fp32 hidden differs from transformers by ${d}`);
      for (const q of ['fp32', 'int8']) {
        const a = Float32Array.from(row[q].hidden);
        const b = Float32Array.from(best.models[name][q].hidden);
        t.true(maxRelDiff(a, b) < 1e-4, `${isa} vs ${best.simd} ${name} ${q} hidden: ${maxRelDiff(a, b)}`);
        if (row[q].logits) {
          const dl = maxRelDiff(Float32Array.from(row[q].logits), Float32Array.from(best.models[name][q].logits));
          t.true(dl < 1e-4, `${isa} vs ${best.simd} ${name} ${q} logits: ${dl}`);
        }
      }
    }
  }
  const index = JSON.parse(readFileSync(path.join(FIX, 'index.json'), 'utf8'));
  t.is(Object.keys(best.models).length, Object.keys(index).length, 'every fixture model ran');
});

test('weights packed once at load (BIOMEG_PREPACK=1) give the outputs of per-call packing', async (t) => {
  const { simd } = await runtimeInfo('native');
  const plain = runPinned(simd, { BIOMEG_PREPACK: '0' });
  const packed = runPinned(simd, { BIOMEG_PREPACK: '1' });
  for (const [name, row] of Object.entries(packed.models)) {
    const ref = readSafetensors(path.join(FIX, name, 'reference.safetensors'));
    const d = maxAbsDiff(Float32Array.from(row.fp32.hidden), ref.last_hidden_state.data);
    t.true(d < TOL, `${name}: packed fp32 hidden differs from transformers by ${d}`);
    const dp = maxRelDiff(Float32Array.from(row.fp32.hidden), Float32Array.from(plain.models[name].fp32.hidden));
    t.true(dp < 1e-5, `${name}: packed vs per-call packing ${dp}`);
    if (row.fp32.logits) {
      const dl = maxRelDiff(Float32Array.from(row.fp32.logits), Float32Array.from(plain.models[name].fp32.logits));
      t.true(dl < 1e-5, `${name}: logits packed vs per-call packing ${dl}`);
    }
  }
});
