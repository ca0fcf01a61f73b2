// Lockstep fidelity against PyTorch (issue 10), on native AND wasm: the same initial model
// (all-MiniLM-L6-v2 + a seeded newHead NER token head), dropout off, 30 optimizer steps of NER on
// the first 240 sentences of NCBI-disease train in fineTune's batch order and padding, with the NER
// preset's schedule (warm-up 10 %, linear decay to 0 at step 30), AdamW (no decay on biases and
// LayerNorm) and clipping at 1.0. At every step the loss, the gradient norm before clipping and
// the lr must be within 1e-4 relative of test/fixtures/lockstep/ner-ncbi-30.json, written by
// PyTorch + transformers (scripts/fixtures/make_lockstep_fixture.mjs; no Python needed here).
// The batches are checked too (non-padding tokens, padded positions, id and label checksums).
// Needs BIOMEG_DATA and the MiniLM checkpoint (npm run setup): skips with a message when absent,
// fails under CI=true.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { nativeAvailable, wasmAvailable } from '../dist/index.js';
import { DEFAULT_MODEL, FIXTURE, relDiffs, runLockstep } from '../scripts/fixtures/make_lockstep_fixture.mjs';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';

const TOL = 1e-4;
const fx = JSON.parse(readFileSync(FIXTURE, 'utf8'));
const MODEL = process.env.BIOMEG_MINILM ? path.resolve(process.env.BIOMEG_MINILM) : DEFAULT_MODEL;
const DATA = process.env.BIOMEG_DATA;
const built = (b) => (b === 'native' ? nativeAvailable() : wasmAvailable());

function missing(backend) {
  if (!built(backend)) return `${backend} backend not built`;
  if (!DATA) return 'BIOMEG_DATA is not set (benchmark data, see README "Data")';
  if (!existsSync(path.join(DATA, fx.settings.trainFile))) return `${path.join(DATA, fx.settings.trainFile)} not found`;
  if (!existsSync(path.join(MODEL, 'model.safetensors')))
    return `${MODEL}: all-MiniLM-L6-v2 not found (npm run setup fetches it; BIOMEG_MINILM names another copy)`;
  return null;
}

test('the fixture holds 30 steps with the settings the test replays', (t) => {
  const s = fx.settings;
  t.is(fx.steps.length, s.steps);
  t.is(s.totalSteps, 30);
  t.is(s.warmupSteps, Math.round(s.warmupRatio * s.totalSteps));
  t.is(s.dropout, 0);
  t.true(fx.steps.every((x) => [x.loss, x.gradNorm, x.lr].every(Number.isFinite)));
  // the schedule the reference used: 0 at step 1, peak after warm-up, linear decay to 0 at step 30
  t.is(fx.steps[0].lr, 0);
  t.true(Math.abs(fx.steps[s.warmupSteps].lr - s.lr) <= TOL * s.lr);
});

for (const backend of BACKENDS) {
  test.serial(`30 NER steps on MiniLM match PyTorch within 1e-4 relative: loss, grad norm, lr (${backend})`, async (t) => {
    const why = missing(backend);
    if (!needOrSkip(t, !why, why)) return;
    const t0 = performance.now();
    const run = await runLockstep({ model: MODEL, dataDir: DATA, backend, settings: fx.settings });
    const sec = (performance.now() - t0) / 1000;
    t.deepEqual(run.labels, fx.settings.labels, 'label set of the data slice');
    t.is(run.trainFeatures, fx.settings.trainFeatures);
    t.is(run.warmupSteps, fx.settings.warmupSteps);
    const table = [];
    const bad = [];
    run.steps.forEach((m, i) => {
      const p = fx.steps[i];
      for (const k of ['tokens', 'positions', 'idCheck', 'labelCheck'])
        if (m[k] !== p[k]) bad.push(`step ${i + 1}: batch ${k} ${m[k]} != ${p[k]} (not the same batch)`);
      for (const k of ['loss', 'gradNorm', 'lr'])
        if (!(Math.abs(m[k] - p[k]) <= TOL * Math.abs(p[k])))
          bad.push(`step ${i + 1}: ${k} ${m[k]} vs PyTorch ${p[k]} (rel ${(Math.abs(m[k] - p[k]) / Math.abs(p[k])).toExponential(2)})`);
      table.push(
        `${i + 1}\tloss ${m.loss.toFixed(6)} / ${p.loss.toFixed(6)}\tgradNorm ${m.gradNorm.toFixed(5)} / ${p.gradNorm.toFixed(5)}\tlr ${m.lr.toExponential(4)} / ${p.lr.toExponential(4)}`,
      );
    });
    const worst = relDiffs(run.steps, fx.steps);
    t.log(`${backend}: ${run.steps.length} steps in ${sec.toFixed(1)} s; max relative difference ${JSON.stringify(worst)}`);
    if (bad.length) t.log(`biomeg / PyTorch per step:\n${table.join('\n')}`);
    t.deepEqual(bad.slice(0, 12), [], `${bad.length} mismatches`);
  });
}
