// Training sessions on both backends: the tiny fixture trained a few steps gives the same loss
// sequence natively and in wasm (dropout on: the masks come from a stateless seeded hash), the
// loss goes down, a NaN loss stops with a clear error and untouched weights, state round-trips
// (resume gives the same losses), and exported weights load in the inference runtime.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BiomegModel, nativeAvailable, wasmAvailable } from '../dist/index.js';
import { TrainSession } from '../dist/train/index.js';
import { readSafetensors } from './helpers/safetensors.mjs';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';

const FIX = path.resolve('test/fixtures/models');
const built = (b) => (b === 'native' ? nativeAvailable() : wasmAvailable());
const ref = readSafetensors(path.join(FIX, 'tiny-bert-token', 'reference.safetensors'));
const [B, S] = ref.input_ids.shape;
const batch = {
  ids: Uint32Array.from(ref.input_ids.data),
  typeIds: Uint32Array.from(ref.token_type_ids.data),
  mask: Uint8Array.from(ref.attention_mask.data),
  batch: B,
  seq: S,
};
const labels = Int32Array.from({ length: B * S }, (_, i) => (batch.mask[i] && i % S !== 0 ? (i * 7 + 3) % 5 : -100));
const OPTS = { lr: 1e-3, warmupSteps: 2, totalSteps: 20, hiddenDropout: 0.1, attnDropout: 0.1, headDropout: 0.5, seed: 7 };

// ALBERT's own classifier dropout (classifier_dropout_prob) is 0.1; at 0.5 the tiny fixture's
// loss is dominated by mask noise over 8 steps.
const optsFor = (model) => (model.includes('albert') ? { ...OPTS, headDropout: 0.1 } : OPTS);

async function run(model, backend, steps, opts = optsFor(model)) {
  const s = await TrainSession.load(path.join(FIX, model), opts, backend);
  const losses = [];
  for (let i = 0; i < steps; i++) losses.push((await s.step(batch, labels)).loss);
  return { s, losses };
}

const seqs = {};
for (const model of ['tiny-bert-token', 'tiny-megatron-token', 'tiny-albert-token']) {
  for (const backend of BACKENDS) {
    test.serial(`${model}: loss falls over 8 steps (${backend})`, async (t) => {
      if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
      const { s, losses } = await run(model, backend, 8);
      t.is(s.backend, backend);
      t.is(s.optimizerSteps, 8);
      // Dropout makes single steps noisy: compare the means of the first and last three.
      const mean3 = (xs) => (xs[0] + xs[1] + xs[2]) / 3;
      t.true(mean3(losses.slice(5)) < mean3(losses), `losses ${losses}`);
      seqs[`${model}/${backend}`] = losses;
    });
  }
  test.serial(`${model}: native and wasm give the same loss sequence`, async (t) => {
    const a = seqs[`${model}/native`],
      b = seqs[`${model}/wasm`];
    if (!a || !b) return t.pass('one backend missing');
    const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    t.log(`native ${a.map((v) => v.toFixed(6)).join(' ')}`);
    t.log(`wasm   ${b.map((v) => v.toFixed(6)).join(' ')}  (max diff ${worst.toExponential(1)})`);
    t.true(worst < 1e-4, `max diff ${worst}`);
  });
}

test.serial('LAMB: the loss falls and native and wasm give the same loss sequence', async (t) => {
  const seq = {};
  for (const backend of BACKENDS) {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    seq[backend] = (await run('tiny-bert-token', backend, 6, { ...OPTS, optimizer: 'lamb', headDropout: 0.1 })).losses;
  }
  const [a, b] = [seq.native, seq.wasm];
  t.true(a[5] < a[0], `losses ${a}`);
  if (b) t.true(Math.max(...a.map((v, i) => Math.abs(v - b[i]))) < 1e-4, `native ${a} wasm ${b}`);
  const e = await t.throwsAsync(() => TrainSession.load(path.join(FIX, 'tiny-bert-token'), { optimizer: 'sgd' }, BACKENDS[0]));
  t.regex(e.message, /optimizer.*(adamw|lamb)/);
});

for (const backend of BACKENDS) {
  test(`resume from saved state repeats the same losses; export loads in the runtime (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const { s } = await run('tiny-bert-token', backend, 3);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-train-'));
    s.saveStateFile(path.join(dir, 'state.safetensors'));
    const cont = [];
    for (let i = 0; i < 3; i++) cont.push((await s.step(batch, labels)).loss);
    const r = await TrainSession.load(path.join(FIX, 'tiny-bert-token'), OPTS, backend);
    r.loadStateFile(path.join(dir, 'state.safetensors'));
    t.is(r.optimizerSteps, 3);
    const again = [];
    for (let i = 0; i < 3; i++) again.push((await r.step(batch, labels)).loss);
    t.deepEqual(again, cont);
    s.saveCheckpoint(path.join(dir, 'ckpt'), path.join(FIX, 'tiny-bert-token'));
    const m = await BiomegModel.load(path.join(dir, 'ckpt'), { backend });
    const out = await m.forward(batch, true);
    t.deepEqual(Array.from(out.logits), Array.from(await s.evalLogits(batch)));
  });

  test(`NaN loss stops with BIOMEG_NONFINITE_LOSS and keeps the weights (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const s = await TrainSession.load(
      path.join(FIX, 'tiny-bert-token'),
      { lr: 1e9, maxGradNorm: 0, hiddenDropout: 0, attnDropout: 0, headDropout: 0 },
      backend,
    );
    let err = null;
    let last = null;
    for (let i = 0; i < 20 && !err; i++) {
      try {
        await s.step(batch, labels);
        last = s.exportWeights();
      } catch (e) {
        err = e;
      }
    }
    t.truthy(err, 'lr 1e9 must blow up');
    t.is(err.code, 'BIOMEG_NONFINITE_LOSS');
    // Divergence surfaces as a non-finite loss or, one step earlier, a non-finite gradient norm.
    t.regex(err.message, /(loss|gradient norm) is (NaN|inf)/);
    t.deepEqual(s.exportWeights(), last);
  });

  test(`bad options and labels are coded errors (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const e1 = await t.throwsAsync(() => TrainSession.load(path.join(FIX, 'tiny-bert-token'), { learningRate: 1 }, backend));
    t.is(e1.code, 'BIOMEG_BAD_INPUT');
    t.regex(e1.message, /unknown training option 'learningRate'/);
    const s = await TrainSession.load(path.join(FIX, 'tiny-bert-token'), {}, backend);
    const e2 = await t.throwsAsync(() => s.step(batch, new Int32Array(3)));
    t.is(e2.code, 'BIOMEG_BAD_INPUT');
    const bad = Int32Array.from(labels, (v) => (v === -100 ? v : 9));
    const e3 = await t.throwsAsync(() => s.step(batch, bad));
    t.regex(e3.message, /label 9 .* outside 0\.\.5/);
  });
}
